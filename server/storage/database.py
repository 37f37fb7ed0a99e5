"""One SQLite file in WAL mode: a single writer that commits in batches, and a reader.

Writes are *jobs*: async functions that receive the writer connection inside an open
transaction. The writer task gathers every job that is waiting, runs them in one transaction and
commits once (group commit), so the cost of the fsync is shared by the whole batch. A job's
result is handed back only after its transaction has committed: that is what lets the relay
acknowledge a message only once it is durable. If one job of a batch fails, the batch is rolled
back and every job is run again alone, so one bad job never takes others down with it.

An *inline* job (``write_inline``) is a plain function given the writer's ``sqlite3``
connection. With ``inline_writes`` it runs on the event loop between the batch's ``BEGIN
IMMEDIATE`` and ``COMMIT``: the relay's insert of a message takes ~40 µs, and a trip to
aiosqlite's thread and back costs about as much again. It may only run statements that need no
lock the transaction does not already hold (the write lock is taken by ``BEGIN IMMEDIATE``), so
it never waits on another process; the statements that can wait (``BEGIN``, ``COMMIT`` and its
fsync, ``ROLLBACK``) stay on the thread. The thread is idle whenever an inline job runs: the
writer task awaits each of its trips. Without ``inline_writes`` the job runs on aiosqlite's
thread in one trip: measured with two processes sharing the file, running it on the loop cost
more than it saved (docs/storage.md), so the server turns it on only when it is alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from server.metrics import COMMIT_BUCKETS, Histogram
from server.storage.migrations import migrate

T = TypeVar("T")
WriteJob = Callable[[aiosqlite.Connection], Awaitable[T]]
InlineJob = Callable[[sqlite3.Connection], T]
Synchronous = Literal["FULL", "NORMAL"]

log = logging.getLogger("hearth.storage")


class DatabaseClosed(Exception):
    """A write was submitted after the database started closing."""


@dataclass(slots=True)
class _Pending:
    job: WriteJob[Any]
    future: asyncio.Future[Any] = field(repr=False)


async def _connect(path: Path, synchronous: Synchronous) -> aiosqlite.Connection:
    # check_same_thread=False: the writer's inline jobs use its connection from the event loop's
    # thread (never while aiosqlite's thread does: see the module docstring).
    conn = await aiosqlite.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    await conn.execute("PRAGMA busy_timeout = 10000")
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute(f"PRAGMA synchronous = {synchronous}")
    return conn


class Database:
    """The process's handle on the SQLite file (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        checkpointer: aiosqlite.Connection,
        batch_max: int,
        inline_writes: bool,
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._checkpointer = checkpointer
        self._batch_max = batch_max
        self._inline_writes = inline_writes
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._closing = False
        self._task = asyncio.create_task(self._write_loop(), name="hearth-db-writer")
        self._checkpoints = asyncio.create_task(self._checkpoint_loop(), name="hearth-db-wal")
        self.batches_committed = 0
        self.commit_seconds = Histogram(COMMIT_BUCKETS)  # for the metrics (server/metrics.py)

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        synchronous: Synchronous = "FULL",
        batch_max: int = 512,
        inline_writes: bool = False,
    ) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path, synchronous)
        async with writer.execute("PRAGMA journal_mode = WAL") as cursor:
            row = await cursor.fetchone()
        if row is None or str(row[0]).lower() != "wal":
            raise RuntimeError(f"could not switch {path} to WAL mode")
        try:
            await migrate(writer)
        except BaseException:
            # An open connection's thread would keep the process alive after the refusal.
            await writer.close()
            raise
        # The writer never checkpoints: a checkpoint inside a commit would stall every message
        # of that batch (it copies the WAL into the database and syncs it). A third connection
        # checkpoints in the background instead; PASSIVE never blocks the writer.
        await writer.execute("PRAGMA wal_autocheckpoint = 0")
        reader = await _connect(path, synchronous)
        await reader.execute("PRAGMA query_only = ON")
        checkpointer = await _connect(path, synchronous)
        return cls(path, writer, reader, checkpointer, batch_max, inline_writes)

    async def write(self, job: WriteJob[T]) -> T:
        """Run ``job`` in the next batch; returns its result once the batch has committed."""
        if self._closing:
            raise DatabaseClosed("the database is closing")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(job, future))
        # A caller that goes away cancels only this future: the job still runs in its batch
        # (the writer never looks at the future before it has committed, and then hands a
        # result only to a future that is not done), so no other job's write is affected.
        return await future

    async def write_inline(self, job: InlineJob[T]) -> T:
        """Like ``write``, for a job run on the event loop (see the module docstring)."""

        async def run(conn: aiosqlite.Connection) -> T:
            if self._inline_writes:
                # Awaits nothing: the writer task runs it without a trip to aiosqlite's thread,
                # which is idle, as the writer task awaits each of its trips.
                return job(conn._conn)
            result: T = await conn._execute(job, conn._conn)  # type: ignore[no-untyped-call]
            return result

        return await self.write(run)

    @property
    def write_queue_depth(self) -> int:
        """Writes waiting for the writer's next batch."""
        return self._queue.qsize()

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        # One trip to the reader's thread that runs the statement to its end. A statement left
        # open across an await (execute, then fetch) would keep the connection's read
        # transaction alive while other handlers' reads overlap it, and every read would see
        # the database as it was when that began: a write acknowledged meanwhile stays unseen.
        return list(await self._reader.execute_fetchall(sql, tuple(params)))

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        """The first row (queries here select by key: at most one row comes back)."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def integrity_check(self) -> str:
        row = await self.fetch_one("PRAGMA integrity_check")
        return "missing" if row is None else str(row[0])

    async def close(self) -> None:
        """Finish every write already submitted, then close both connections."""
        if self._closing:
            return
        self._closing = True
        await self._queue.join()
        for task in (self._task, self._checkpoints):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        await self._checkpointer.close()
        await self._reader.close()
        await self._writer.close()

    async def _checkpoint_loop(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                log.exception("WAL checkpoint failed")

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._run_batch(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _run_batch(self, batch: list[_Pending]) -> None:
        results: list[Any] = []
        started = time.perf_counter()
        try:
            await self._writer.execute("BEGIN IMMEDIATE")
            for pending in batch:
                results.append(await pending.job(self._writer))
            await self._writer.execute("COMMIT")
        except Exception as error:
            await self._rollback()
            if len(batch) > 1:
                for pending in batch:
                    await self._run_batch([pending])
                return
            if not batch[0].future.done():
                batch[0].future.set_exception(error)
            return
        self.batches_committed += 1
        self.commit_seconds.observe(time.perf_counter() - started)
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)

    async def _rollback(self) -> None:
        if self._writer.in_transaction:
            try:
                await self._writer.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("rollback failed")
