"""A read held open while writes continue: the server stops the read at ``max_read_ms`` and
checkpoints with TRUNCATE past ``wal_max_bytes``, so the WAL stays near its bound instead of
growing with every write (it grew from 3 to 92 MB in 60 s and filled a disk)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import aiosqlite
import pytest

from server.storage.database import Database, ReadTooLong, Safeguards

MIB = 1024 * 1024
WAL_MAX = MIB // 2
MAX_READ_MS = 300
WRITTEN = 16 * MIB  # 32 times the bound
BLOB = 32 * 1024
# What is written while the read runs cannot be checkpointed until it stops, nor what is written
# while a checkpoint runs: the WAL may pass its bound by that much (this test writes ~10 MB/s,
# far above a chat server's rate), never by an amount that grows with what is written.
SLACK = 4 * MIB
# Counting to 10^12 would take hours: held open for all practical purposes. It reads a table,
# so it holds a read transaction (a snapshot the checkpoint may not overwrite) while it runs.
ENDLESS_READ = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000000000) "
    "SELECT COUNT(*) FROM n, (SELECT COUNT(*) FROM scratch)"
)


async def test_a_long_read_is_stopped_and_the_wal_stays_bounded(tmp_path: Path) -> None:
    db = await Database.open(
        tmp_path / "h.sqlite3",
        safeguards=Safeguards(
            wal_max_bytes=WAL_MAX, max_read_ms=MAX_READ_MS, checkpoint_interval_s=0.1
        ),
    )

    async def create(conn: aiosqlite.Connection) -> None:
        await conn.execute("CREATE TABLE scratch (b BLOB)")

    async def insert(conn: aiosqlite.Connection) -> None:
        await conn.execute("INSERT INTO scratch VALUES (?)", (os.urandom(BLOB),))

    try:
        await db.write(create)
        started = time.monotonic()
        read = asyncio.create_task(db.fetch_all(ENDLESS_READ))
        peak = 0
        for _ in range(WRITTEN // BLOB):
            await db.write(insert)
            peak = max(peak, db.wal_bytes())
        with pytest.raises(ReadTooLong):
            await asyncio.wait_for(read, 10)
        assert time.monotonic() - started < 30
        assert peak <= WAL_MAX + SLACK, peak
        # Past the read, the WAL comes back under its bound.
        for _ in range(50):
            if db.wal_bytes() <= WAL_MAX:
                break
            await asyncio.sleep(0.1)
        assert db.wal_bytes() <= WAL_MAX
        # Reads after the stopped one are answered as usual.
        assert (await db.fetch_one("SELECT COUNT(*) FROM scratch"))[0] == WRITTEN // BLOB  # type: ignore[index]
    finally:
        await db.close()
    assert db.wal_bytes() == 0  # checkpointed and removed at close


async def test_reads_within_their_time_are_not_stopped(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "h.sqlite3", safeguards=Safeguards(max_read_ms=2000))
    try:
        rows = await db.fetch_all(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000) "
            "SELECT COUNT(*) FROM n"
        )
        assert rows[0][0] == 100000
    finally:
        await db.close()
