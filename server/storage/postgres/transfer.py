"""``hearth migrate-to URL``: the one-way move of a SQLite database into an empty PostgreSQL one,
and ``hearth backup`` of a PostgreSQL database (``pg_dump``).

The move copies every table of the PostgreSQL schema from the SQLite file (brought to the latest
schema first), in one transaction, in an order that satisfies the foreign keys, and compares
each table's row count with the source's before it commits. It refuses a target that holds any
row already: nothing is merged, and a second run cannot double anything. Tables the SQLite file
holds outside the server's schema (the moderation backends' own) stay in the file and their names
are reported, except the reports of the built-in backend (``moderation_reports``): a server on
PostgreSQL keeps them there (moderation/backends/postgres.py), so they are copied in the same
transaction, open reports still open.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from moderation.backends import postgres as moderation_postgres
from server.storage.postgres.database import redacted
from server.storage.postgres.migrations import migrate


class TransferRefused(Exception):
    """The move or the backup cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Transferred:
    rows: dict[str, int]  # per table copied
    left_in_sqlite: tuple[str, ...]  # tables outside the server's schema


async def _tables_in_order(conn: asyncpg.Connection) -> list[str]:
    """The schema's tables, each after every table its foreign keys point to."""
    names = [
        r[0]
        for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename <> 'hearth_schema' ORDER BY tablename"
        )
    ]
    needs: dict[str, set[str]] = {name: set() for name in names}
    for child, parent in await conn.fetch(
        "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
        "WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"
    ):
        if child in needs and parent != child:
            needs[child].add(parent)
    ordered: list[str] = []
    while needs:
        ready = sorted(name for name, parents in needs.items() if parents <= set(ordered))
        if not ready:
            raise RuntimeError(f"circular foreign keys between {sorted(needs)}")
        ordered.extend(ready)
        for name in ready:
            del needs[name]
    return ordered


async def copy_sqlite_to_postgres(source: Path, url: str) -> Transferred:
    """Copy ``source`` (at the latest schema) into the empty database at ``url``."""
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        await conn.execute(moderation_postgres.SCHEMA)  # as the backend makes it at start
        tables = [t for t in await _tables_in_order(conn) if t != REPORTS]
        for table in [*tables, REPORTS]:
            if await conn.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}")'):
                raise TransferRefused(
                    f"{redacted(url)} is not empty (table {table} has rows): migrate-to only "
                    "moves into a new, empty database"
                )
        with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as lite:
            present = {
                r[0]
                for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not str(r[0]).startswith("sqlite_")
            }
            missing = [t for t in tables if t not in present]
            if missing:
                raise TransferRefused(f"{source} has no table {missing}: run `hearth migrate`")
            copied: dict[str, int] = {}
            async with conn.transaction():
                for table in tables:
                    columns = [
                        r[0]
                        for r in await conn.fetch(
                            "SELECT column_name FROM information_schema.columns "
                            "WHERE table_schema = current_schema() AND table_name = $1 "
                            "ORDER BY ordinal_position",
                            table,
                        )
                    ]
                    listed = ", ".join(f'"{c}"' for c in columns)
                    rows = lite.execute(f'SELECT {listed} FROM "{table}"').fetchall()
                    if rows:
                        await conn.copy_records_to_table(table, records=rows, columns=columns)
                    expected = lite.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
                    found = await conn.fetchval(f'SELECT COUNT(*) FROM "{table}"')
                    if found != expected:
                        raise TransferRefused(
                            f"table {table}: {found} rows copied but the file holds {expected}; "
                            "nothing was kept"
                        )
                    copied[table] = int(found)
                if REPORTS in present:
                    copied[REPORTS] = await _copy_reports(lite, conn)
        return Transferred(copied, tuple(sorted(present - set(copied))))
    finally:
        await conn.close()


REPORTS = "moderation_reports"


async def _copy_reports(lite: sqlite3.Connection, conn: asyncpg.Connection) -> int:
    """The built-in moderation backend's reports (its 0/1 mark as a PostgreSQL boolean)."""
    columns = [
        r[0]
        for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            REPORTS,
        )
    ]
    had = {r[1] for r in lite.execute(f"PRAGMA table_info({REPORTS})")}
    if not set(columns) <= had:
        raise TransferRefused(
            f"{REPORTS} in the file is from an older Hearth: start `hearth serve` on the file "
            "once (it brings the table up to date), stop it, and move again"
        )
    flag = columns.index("about_facilitator")
    listed = ", ".join(columns)
    rows = [
        tuple(bool(v) if i == flag else v for i, v in enumerate(row))
        for row in lite.execute(f"SELECT {listed} FROM {REPORTS}")
    ]
    if rows:
        await conn.copy_records_to_table(REPORTS, records=rows, columns=columns)
    expected = lite.execute(f"SELECT COUNT(*) FROM {REPORTS}").fetchone()[0]
    found = int(await conn.fetchval(f"SELECT COUNT(*) FROM {REPORTS}"))
    if found != expected:
        raise TransferRefused(
            f"table {REPORTS}: {found} rows copied but the file holds {expected}; nothing was kept"
        )
    return found


def dump(url: str, target: Path) -> str:
    """``pg_dump`` of the database at ``url`` into ``target`` (custom format, for pg_restore);
    returns the pg_dump that was used. The password travels in the environment, not in argv."""
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise TransferRefused(
            "pg_dump is not installed, so a PostgreSQL database cannot be backed up by Hearth: "
            "install it (Debian: apt-get install -y postgresql-client) or back the database up "
            "with your PostgreSQL provider's own tools"
        )
    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password is not None:
        env["PGPASSWORD"] = parts.password
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = parts.username
        url = urlunsplit(
            (parts.scheme, f"{user}@{netloc}" if user else netloc, parts.path, parts.query, "")
        )
    done = subprocess.run(
        [pg_dump, "--format=custom", "--no-owner", f"--file={target}", f"--dbname={url}"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise TransferRefused(f"pg_dump failed: {done.stderr.strip()[-500:]}")
    listed = subprocess.run(
        [shutil.which("pg_restore") or "pg_restore", "--list", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0 or "TABLE DATA" not in listed.stdout:
        raise TransferRefused(f"the dump does not read back: {listed.stderr.strip()[-500:]}")
    return pg_dump
