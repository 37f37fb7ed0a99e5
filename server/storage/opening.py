"""Which store a configuration asks for: the SQLite file, or PostgreSQL when ``[storage] url``
is set. Both have ``Database``'s interface, which is all the stores and the server use."""

from __future__ import annotations

from typing import cast

from server.config import Config
from server.storage.database import Database, Safeguards
from server.storage.postgres.database import PostgresDatabase


async def open_database(
    config: Config, *, inline_writes: bool = False, safeguards: Safeguards | None = None
) -> Database:
    storage = config.storage
    if storage.url:
        db = await PostgresDatabase.open(
            storage.url, batch_max=storage.batch_max, safeguards=safeguards
        )
        # The stores are typed with Database; PostgresDatabase has the part of its interface
        # the server uses (tests/server/test_postgres_store.py lists it).
        return cast(Database, db)
    return await Database.open(
        storage.database,
        synchronous=storage.synchronous,
        batch_max=storage.batch_max,
        inline_writes=inline_writes,
        safeguards=safeguards,
    )


def on_postgres(db: Database) -> PostgresDatabase | None:
    """``db`` as a PostgresDatabase, or None for the SQLite file."""
    found: object = db
    return found if isinstance(found, PostgresDatabase) else None
