"""Numbered SQL migrations (``migrations/NNNN_name.sql``) tracked in ``PRAGMA user_version``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import aiosqlite

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaTooNew(Exception):
    """The database was written by a newer Hearth than this one."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> tuple[Migration, ...]:
    folder = resources.files("server.storage") / "migrations"
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


def latest_version() -> int:
    return len(available_migrations())


async def schema_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def migrate(conn: aiosqlite.Connection) -> tuple[int, int]:
    """Bring the schema up to date; returns (version before, version after).

    Each migration runs in one transaction together with its version bump, so a crash leaves
    the database at a whole version. A database newer than the code is refused, never touched.
    """
    before = await schema_version(conn)
    migrations = available_migrations()
    if before > len(migrations):
        raise SchemaTooNew(
            f"the database has schema version {before} but this Hearth knows only up to "
            f"{len(migrations)}; upgrade Hearth or restore a matching backup"
        )
    for migration in migrations[before:]:
        script = f"BEGIN IMMEDIATE;\n{migration.sql}\nPRAGMA user_version = {migration.version};"
        await conn.executescript(script + "\nCOMMIT;")
    return before, len(migrations)
