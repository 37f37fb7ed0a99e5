"""The storage engine: group commit, isolation of a failing job, migrations."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from server.storage.database import Database
from server.storage.migrations import SchemaTooNew, available_migrations, latest_version
from tests.storage_backends import BACKENDS, open_backend


async def insert_account(conn: aiosqlite.Connection, key: bytes) -> bytes:
    await conn.execute("INSERT INTO accounts (account_pk, created_at) VALUES (?, 0)", (key,))
    return key


@pytest.mark.parametrize("backend", BACKENDS)
async def test_concurrent_writes_share_batches_and_all_commit(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    db = await open_backend(backend, tmp_path, request)
    try:
        keys = [bytes([i]) * 32 for i in range(200)]
        results = await asyncio.gather(
            *(db.write(lambda c, k=k: insert_account(c, k)) for k in keys)
        )
        assert results == keys
        assert db.batches_committed < len(keys)  # group commit actually grouped
        row = await db.fetch_one("SELECT COUNT(*) FROM accounts")
        assert row is not None
        assert row[0] == 200
    finally:
        await db.close()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_failing_job_does_not_take_its_batch_down(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    db = await open_backend(backend, tmp_path, request)
    try:
        await db.write(lambda c: insert_account(c, b"d" * 32))
        good = [db.write(lambda c, k=k: insert_account(c, k)) for k in (b"a" * 32, b"b" * 32)]
        duplicate = db.write(lambda c: insert_account(c, b"d" * 32))
        outcome = await asyncio.gather(*good, duplicate, return_exceptions=True)
        assert outcome[:2] == [b"a" * 32, b"b" * 32]
        assert isinstance(outcome[2], sqlite3.IntegrityError | asyncpg.UniqueViolationError)
        rows = await db.fetch_all("SELECT account_pk FROM accounts ORDER BY account_pk")
        assert [r[0] for r in rows] == [b"a" * 32, b"b" * 32, b"d" * 32]
    finally:
        await db.close()


async def insert_account_inline(conn: aiosqlite.Connection, key: bytes) -> tuple[bytes, int, bool]:
    await conn.execute_fetchall(
        "INSERT INTO accounts (account_pk, created_at) VALUES (?, 0)", (key,)
    )
    return key, threading.get_ident(), conn.in_transaction


@pytest.mark.parametrize("inline_writes", [True, False], ids=["on-the-loop", "on-the-thread"])
async def test_inline_jobs_run_inside_the_batch_and_commit_with_it(
    tmp_path: Path, inline_writes: bool
) -> None:
    db = await Database.open(tmp_path / "h.sqlite3", inline_writes=inline_writes)
    try:
        await db.write(lambda c: insert_account(c, b"d" * 32))
        mixed = [
            db.write_inline(lambda c: insert_account_inline(c, b"a" * 32)),
            db.write(lambda c: insert_account(c, b"b" * 32)),
            db.write_inline(lambda c: insert_account_inline(c, b"c" * 32)),
            db.write_inline(lambda c: insert_account_inline(c, b"d" * 32)),  # a duplicate
        ]
        batches = db.batches_committed
        outcome = await asyncio.gather(*mixed, return_exceptions=True)
        loop_thread = threading.get_ident()
        for (key, thread, in_transaction), expected in zip(outcome[::2], (b"a", b"c"), strict=True):
            assert (key, in_transaction) == (expected * 32, True)
            assert (thread == loop_thread) is inline_writes
        assert outcome[1] == b"b" * 32
        assert isinstance(outcome[3], sqlite3.IntegrityError)  # alone: the others still commit
        assert db.batches_committed > batches
        with sqlite3.connect(tmp_path / "h.sqlite3") as other:  # committed once gathered
            rows = other.execute("SELECT account_pk FROM accounts ORDER BY account_pk")
            assert [r[0] for r in rows] == [k * 32 for k in (b"a", b"b", b"c", b"d")]
    finally:
        await db.close()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_result_is_returned_only_after_commit(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    db = await open_backend(backend, tmp_path, request)
    try:
        await db.write(lambda c: insert_account(c, b"x" * 32))
        # a separate connection sees the row as soon as write() has returned
        if backend == "sqlite":
            with sqlite3.connect(tmp_path / "h.sqlite3") as other:
                assert other.execute("SELECT COUNT(*) FROM accounts").fetchone() == (1,)
        else:
            other = await asyncpg.connect(request.getfixturevalue("pg_url"))
            try:
                assert await other.fetchval("SELECT COUNT(*) FROM accounts") == 1
            finally:
                await other.close()
    finally:
        await db.close()


async def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "h.sqlite3")
    await db.close()
    with sqlite3.connect(tmp_path / "h.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA user_version").fetchone() == (latest_version(),)


async def test_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
    with pytest.raises(SchemaTooNew, match="upgrade Hearth"):
        await Database.open(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone() == (0,)


INSERT_MESSAGE = (
    "INSERT INTO messages (group_id, seq, msg_id, sender_id, epoch, server_ts, envelope, kid, "
    "rtag) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


async def test_migration_4_keeps_every_message_in_an_appended_rowid_table(tmp_path: Path) -> None:
    """Messages written under schema 3 (a WITHOUT ROWID table) survive the move to a rowid
    table, and both keys still refuse a duplicate."""
    path = tmp_path / "h.sqlite3"
    with sqlite3.connect(path, isolation_level=None) as conn:
        for migration in available_migrations()[:3]:
            conn.executescript(
                f"BEGIN;{migration.sql}PRAGMA user_version = {migration.version};COMMIT;"
            )
        conn.execute(
            "INSERT INTO groups (group_id, name, rules, retention_days, join_policy, "
            "posting_policy, current_epoch, epoch_started_at, created_at) "
            "VALUES (?, 'g', 'r', 30, 'open', 'always', 1, 0, 0)",
            (b"g" * 16,),
        )
        old = [
            (b"g" * 16, seq, bytes([seq]) * 16, b"s" * 16, 1, seq, b"e" * seq, 1, b"t" * 32)
            for seq in (3, 1, 2)
        ]
        conn.executemany(INSERT_MESSAGE, old)
    db = await Database.open(path)
    await db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (latest_version(),)
        table_sql = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'messages'"
        ).fetchone()[0]
        assert "WITHOUT ROWID" not in table_sql.upper()
        rows = conn.execute(
            "SELECT group_id, seq, msg_id, sender_id, epoch, server_ts, envelope, kid, rtag "
            "FROM messages ORDER BY seq"
        ).fetchall()
        assert rows == sorted(old, key=lambda row: row[1])
        same_seq = (b"g" * 16, 2, b"n" * 16, b"s" * 16, 1, 9, b"e", 1, b"t" * 32)
        same_msg_id = (b"g" * 16, 9, bytes([2]) * 16, b"s" * 16, 1, 9, b"e", 1, b"t" * 32)
        for duplicate in (same_seq, same_msg_id):
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute(
                    INSERT_MESSAGE,
                    duplicate,
                )
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(messages)")}
        assert {"messages_msg_id", "messages_time"} <= indexes


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_caller_that_goes_away_does_not_cancel_its_write_or_its_batch(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    db = await open_backend(backend, tmp_path, request)
    try:
        gate = asyncio.Event()

        async def held(conn: aiosqlite.Connection) -> bytes:  # keeps the writer in this batch
            await gate.wait()
            return await insert_account(conn, b"s" * 32)

        first = asyncio.create_task(db.write(held))
        await asyncio.sleep(0.05)
        queued = [
            asyncio.create_task(db.write(lambda c, k=k: insert_account(c, k)))
            for k in (b"a" * 32, b"b" * 32)
        ]
        await asyncio.sleep(0)
        queued[0].cancel()
        gate.set()
        assert await first == b"s" * 32
        assert await queued[1] == b"b" * 32
        with pytest.raises(asyncio.CancelledError):
            await queued[0]
        rows = await db.fetch_all("SELECT account_pk FROM accounts ORDER BY account_pk")
        assert [r[0] for r in rows] == [b"a" * 32, b"b" * 32, b"s" * 32]
    finally:
        await db.close()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_write_after_close_is_refused(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    db = await open_backend(backend, tmp_path, request)
    await db.close()
    with pytest.raises(Exception, match="closing"):
        await db.write(lambda c: insert_account(c, b"z" * 32))


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_read_after_a_write_sees_it_while_other_reads_overlap(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """Reads share one connection; overlapping reads must not pin an old snapshot (a statement
    left open across an await keeps the connection's read transaction, and its view, alive)."""
    db = await open_backend(backend, tmp_path, request)
    stop = asyncio.Event()

    async def keep_reading() -> None:
        while not stop.is_set():
            await db.fetch_one("SELECT COUNT(*) FROM accounts")

    readers = [asyncio.create_task(keep_reading()) for _ in range(16)]
    try:
        await asyncio.sleep(0.05)
        for n in range(1, 21):
            await db.write(lambda c, n=n: insert_account(c, bytes([n]) * 32))
            row = await db.fetch_one("SELECT COUNT(*) FROM accounts")
            assert row is not None
            assert row[0] == n, f"read {row[0]} accounts right after writing the {n}th"
    finally:
        stop.set()
        await asyncio.gather(*readers)
        await db.close()


async def test_an_inline_job_that_would_suspend_is_refused_and_rolled_back(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "h.sqlite3", inline_writes=True)
    try:

        async def suspends(conn: aiosqlite.Connection) -> None:
            await conn.execute_fetchall("INSERT INTO accounts VALUES (?, 0, 0)", (b"q" * 32,))
            await asyncio.sleep(0)  # would let other coroutines run inside the transaction

        with pytest.raises(RuntimeError, match="awaited something other"):
            await db.write_inline(suspends)
        assert await db.fetch_all("SELECT 1 FROM accounts") == []
    finally:
        await db.close()
