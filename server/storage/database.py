"""One SQLite file in WAL mode: a single writer that commits in batches, and a reader.

Writes are *jobs*: plain functions that receive the writer connection inside an open
transaction. The writer task gathers every job that is waiting and hands the whole batch to the
writer's own thread, which runs them in one transaction and commits once (group commit): the
cost of the fsync is shared by the batch, and the event loop pays one hop to that thread per
batch rather than one per statement. A job's result is handed back only after its transaction
has committed: that is what lets the relay acknowledge a message only once it is durable. If
one job of a batch fails, the batch is rolled back and every job is run again alone, so one bad
job never takes others down with it.

Jobs run on the writer thread, so they must only touch the connection they are given and
values they captured; they never await.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from server.storage.migrations import migrate

T = TypeVar("T")
WriteJob = Callable[[sqlite3.Connection], T]
Synchronous = Literal["FULL", "NORMAL"]

log = logging.getLogger("hearth.storage")


class DatabaseClosed(Exception):
    """A write was submitted after the database started closing."""


@dataclass(slots=True)
class _Pending:
    job: WriteJob[Any]
    future: asyncio.Future[Any] = field(repr=False)


# What a job came to on the writer thread: its result, or the exception it raised.
_Outcome = tuple[Any, Exception | None]


def _pragmas(synchronous: Synchronous) -> tuple[str, ...]:
    return (
        "PRAGMA busy_timeout = 10000",
        "PRAGMA foreign_keys = ON",
        f"PRAGMA synchronous = {synchronous}",
    )


async def _connect(path: Path, synchronous: Synchronous) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in _pragmas(synchronous):
        await conn.execute(pragma)
    return conn


def _open_writer(path: Path, synchronous: Synchronous) -> sqlite3.Connection:
    """The writer connection, made on the writer thread (the only thread that may use it)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        for pragma in _pragmas(synchronous):
            conn.execute(pragma)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode is None or str(mode[0]).lower() != "wal":
            raise RuntimeError(f"could not switch {path} to WAL mode")
        migrate(conn)
        # The writer never checkpoints: a checkpoint inside a commit would stall every message
        # of that batch (it copies the WAL into the database and syncs it). A third connection
        # checkpoints in the background instead; PASSIVE never blocks the writer.
        conn.execute("PRAGMA wal_autocheckpoint = 0")
    except BaseException:
        conn.close()
        raise
    return conn


class Database:
    """The process's handle on the SQLite file (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        thread: ThreadPoolExecutor,
        writer: sqlite3.Connection,
        reader: aiosqlite.Connection,
        checkpointer: aiosqlite.Connection,
        batch_max: int,
    ) -> None:
        self.path = path
        self._thread = thread
        self._writer = writer
        self._reader = reader
        self._checkpointer = checkpointer
        self._batch_max = batch_max
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._closing = False
        self._task = asyncio.create_task(self._write_loop(), name="hearth-db-writer")
        self._checkpoints = asyncio.create_task(self._checkpoint_loop(), name="hearth-db-wal")
        self.batches_run = 0

    @classmethod
    async def open(
        cls, path: Path, *, synchronous: Synchronous = "FULL", batch_max: int = 512
    ) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One thread, kept for the life of the database: the writer connection lives on it.
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hearth-db-writer")
        loop = asyncio.get_running_loop()
        try:
            writer = await loop.run_in_executor(thread, _open_writer, path, synchronous)
        except BaseException:
            thread.shutdown()
            raise
        reader = await _connect(path, synchronous)
        await reader.execute("PRAGMA query_only = ON")
        checkpointer = await _connect(path, synchronous)
        return cls(path, thread, writer, reader, checkpointer, batch_max)

    async def write(self, job: WriteJob[T]) -> T:
        """Run ``job`` in the next batch; returns its result once the batch has committed."""
        if self._closing:
            raise DatabaseClosed("the database is closing")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(job, future))
        # shield: a caller that goes away must not cancel a write other jobs share a batch with.
        return await asyncio.shield(future)

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
        """Finish every write already submitted, then close the connections."""
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
        await asyncio.get_running_loop().run_in_executor(self._thread, self._writer.close)
        self._thread.shutdown()

    async def _checkpoint_loop(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                log.exception("WAL checkpoint failed")

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                jobs = [pending.job for pending in batch]
                outcomes = await loop.run_in_executor(self._thread, self._run_batch, jobs)
                self.batches_run += 1
                for pending, (result, error) in zip(batch, outcomes, strict=True):
                    if pending.future.done():
                        continue
                    if error is None:
                        pending.future.set_result(result)
                    else:
                        pending.future.set_exception(error)
            finally:
                for _ in batch:
                    self._queue.task_done()

    # -- on the writer thread ------------------------------------------------------------

    def _run_batch(self, jobs: list[WriteJob[Any]]) -> list[_Outcome]:
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = [_run_job(job, conn) for job in jobs]
            conn.execute("COMMIT")
        except Exception as error:
            self._rollback()
            if len(jobs) > 1:
                return [outcome for job in jobs for outcome in self._run_batch([job])]
            return [(None, error)]
        return [(result, None) for result in results]

    def _rollback(self) -> None:
        if self._writer.in_transaction:
            try:
                self._writer.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("rollback failed")


def _run_job(job: WriteJob[T], conn: sqlite3.Connection) -> T:
    result = job(conn)
    if asyncio.iscoroutine(result):  # an async job would "succeed" without running
        result.close()
        raise TypeError("a write job must be a plain function, not a coroutine function")
    return result
