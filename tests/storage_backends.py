"""The storage test suite's two backends: a SQLite file in ``tmp_path``, and a fresh database in
the session's throwaway PostgreSQL cluster (``tests/pg_cluster.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.storage.database import Database
from server.storage.postgres.database import PostgresDatabase
from tests.pg_cluster import PostgresCluster, remove_cluster, start_cluster, unavailable

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """One cluster for the whole session (started on first use, stopped by pid at the end)."""
    try:
        cluster = start_cluster()
    except (OSError, RuntimeError, KeyError) as error:
        unavailable(f"cannot start a PostgreSQL cluster: {error}")
        raise AssertionError("unreachable") from error
    try:
        yield cluster
    finally:
        remove_cluster(cluster)


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> str:
    """The URL of a new, empty database."""
    return pg_cluster.new_database()


async def open_backend(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, **options: Any
) -> Database:
    """A new database of ``backend`` (typed as ``Database``: ``PostgresDatabase`` has its
    interface, which is what the stores use)."""
    if backend == "sqlite":
        return await Database.open(tmp_path / "h.sqlite3", **options)
    url: str = request.getfixturevalue("pg_url")
    db: Any = await PostgresDatabase.open(url, batch_max=options.get("batch_max", 512))
    return db  # type: ignore[no-any-return]
