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
from server.storage.groups import GroupStore
from server.storage.messages import MessageStore
from server.storage.retention import DAY_MS, purge_expired
from server.storage.rows import MessageRow
from tests.server.test_group_store import DAY0, make_group

MIB = 1024 * 1024
WAL_MAX = MIB // 2
MAX_READ_MS = 300
WRITTEN = 10 * MIB  # 20 times the bound
PACE_S = 0.008  # ~4 MB/s: far above a chat server's rate, and the same on a loaded machine
BLOB = 32 * 1024
# What is written while the read runs cannot be checkpointed until it stops, nor what is written
# while a checkpoint runs: the WAL may pass its bound by that much, never by an amount that
# grows with what is written.
SLACK = 5 * MIB
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
            await asyncio.sleep(PACE_S)
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


async def test_a_large_purge_commits_in_bounded_transactions(tmp_path: Path) -> None:
    """Retention deletes in transactions of at most ``chunk`` messages, so a large purge never
    holds the write lock (and grows the WAL) for all it deletes at once; messages sent while
    it runs are stored between its transactions."""
    db = await Database.open(tmp_path / "h.sqlite3")
    messages = MessageStore(db)
    try:
        await db.write(
            lambda c: c.execute(
                "INSERT INTO facilitators (id, username, password_hash, created_at) "
                "VALUES (1, 'alice', 'x', 0)"
            )
        )
        group_id = await make_group(GroupStore(db, departed_key=bytes(32)), retention_days=1)
        rows = [
            MessageRow(group_id, 0, os.urandom(16), b"s" * 16, 1, DAY0, b"e" * 200, 1, b"r" * 32)
            for _ in range(2500)
        ]
        assert None not in await asyncio.gather(*(messages.store(row) for row in rows))
        before = db.batches_committed
        purge = asyncio.create_task(purge_expired(db, DAY0 + 2 * DAY_MS, chunk=500))
        for _ in range(5000):  # until its first chunk has committed
            if db.batches_committed >= before + 2:
                break
            await asyncio.sleep(0.001)
        fresh = MessageRow(
            group_id, 0, os.urandom(16), b"s" * 16, 1, DAY0 + 2 * DAY_MS, b"e", 1, b"r" * 32
        )
        stored = await messages.store(fresh)
        assert not purge.done()  # stored between the purge's transactions
        result = await purge
        assert result.messages == 2500
        assert db.batches_committed - before >= 1 + 2500 // 500
        assert stored is not None
        assert stored.seq == 2501
        assert await messages.count_in_epoch(group_id, 1) == 1
    finally:
        await db.close()
