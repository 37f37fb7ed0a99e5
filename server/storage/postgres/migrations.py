"""PostgreSQL counterparts of the numbered SQLite migrations (``postgres/migrations/NNNN_*.sql``,
the same numbers and names), tracked in the one-row table ``hearth_schema``.

Every SQLite migration needs its counterpart here (``tests/server/test_postgres_migrations.py``
fails otherwise). Nodes that start together take an advisory lock, so one migrates and the
others find the work done.
"""

from __future__ import annotations

import re
from importlib import resources

import asyncpg

from server.storage.migrations import Migration, SchemaTooNew

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK = 0x6865617274  # "heart": the advisory lock's key for migrations


def available_migrations() -> tuple[Migration, ...]:
    folder = resources.files("server.storage.postgres") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return tuple(found)


async def schema_version(conn: asyncpg.Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('hearth_schema') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT version FROM hearth_schema"))


async def migrate(conn: asyncpg.Connection) -> tuple[int, int]:
    """Bring the schema up to date; returns (version before, version after). Each migration
    runs in one transaction with its version bump; a newer schema is refused untouched."""
    migrations = available_migrations()
    # A session lock, taken before the first look: each transaction after it sees the tables
    # (and version) another node committed while this one waited.
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK)
    try:
        before = await schema_version(conn)
        if before > len(migrations):
            raise SchemaTooNew(
                f"the database has schema version {before} but this Hearth knows only up to "
                f"{len(migrations)}; upgrade Hearth or restore a matching backup"
            )
        for migration in migrations[before:]:
            async with conn.transaction():
                if migration.version == 1:
                    await conn.execute(
                        "CREATE TABLE hearth_schema (version INTEGER NOT NULL);"
                        "INSERT INTO hearth_schema VALUES (0)"
                    )
                await conn.execute(migration.sql)
                await conn.execute("UPDATE hearth_schema SET version = $1", migration.version)
        return before, await schema_version(conn)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK)
