"""One SQLite file in WAL mode: a single writer that commits in batches, and a reader.

Writes are *jobs*: async functions that receive the writer connection inside an open
transaction. The writer task gathers every job that is waiting, runs them in one transaction and
commits once (group commit), so the cost of the fsync is shared by the whole batch. A job's
result is handed back only after its transaction has committed: that is what lets the relay
acknowledge a message only once it is durable. If one job of a batch fails, the batch is rolled
back and every job is run again alone, so one bad job never takes others down with it.

An *inline* job (``write_inline``) is a job whose only awaits are ``execute_fetchall``: here it
is given the writer's ``sqlite3`` connection behind that one method, so it runs to its end
without suspending (on PostgreSQL it is an ordinary job, server/storage/postgres/). With
``inline_writes`` it runs on the event loop between the batch's ``BEGIN IMMEDIATE`` and
``COMMIT``: the relay's insert of a message takes ~40 µs, and a trip to
aiosqlite's thread and back costs about as much again. It may only run statements that need no
lock the transaction does not already hold (the write lock is taken by ``BEGIN IMMEDIATE``), so
it never waits on another process; the statements that can wait (``BEGIN``, ``COMMIT`` and its
fsync, ``ROLLBACK``) stay on the thread. The thread is idle whenever an inline job runs: the
writer task awaits each of its trips. Without ``inline_writes`` the job runs on aiosqlite's
thread in one trip: measured with two processes sharing the file, running it on the loop cost
more than it saved (docs/storage.md), so the server turns it on only when it is alone.

What bounds the WAL (docs/storage.md, "What bounds the WAL"): a checkpoint can only move the
WAL back to its start once no reader still needs its frames, so every read here is stopped after
``max_read_ms`` (a progress handler interrupts it, which ends its read transaction); the
checkpointer runs ``PASSIVE`` every second and ``TRUNCATE`` as soon as the WAL passes
``wal_max_bytes`` (the writer wakes it after a batch); ``journal_size_limit`` truncates the WAL
to that size whenever it restarts. A full disk is handled by ``space.DiskSpace``: writes are
refused with ``storage_full`` and a reserve file is released so that the checkpoint has room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import aiosqlite

from server.errors import Code, HearthError
from server.metrics import COMMIT_BUCKETS, Histogram
from server.storage.migrations import migrate
from server.storage.space import MIB, RETRY_AFTER_MS, DiskSpace

T = TypeVar("T")
WriteJob = Callable[[aiosqlite.Connection], Awaitable[T]]
InlineJob = Callable[[aiosqlite.Connection], Coroutine[Any, Any, T]]
Synchronous = Literal["FULL", "NORMAL"]

log = logging.getLogger("hearth.storage")


class DatabaseClosed(HearthError):
    """A write was submitted after the database started closing."""

    def __init__(self) -> None:
        super().__init__(
            Code.UNAVAILABLE,
            "the server is closing its database to restart; send again in a moment",
            retry_after_ms=RETRY_AFTER_MS,
        )


class ReadTooLong(HearthError):
    """A read ran past ``max_read_ms`` and was stopped (its read transaction ended with it)."""

    def __init__(self) -> None:
        super().__init__(
            Code.UNAVAILABLE,
            "the server is too busy to answer this now; try again in a moment",
            retry_after_ms=RETRY_AFTER_MS,
        )


@dataclass(frozen=True, slots=True)
class Safeguards:
    """The bounds that keep the WAL and the disk in check (config: ``[storage]``)."""

    wal_max_bytes: int = 16 * MIB
    max_read_ms: int = 5000
    reserve_bytes: int = 0  # the server keeps one; the command-line tools need none
    min_free_bytes: int = 64 * MIB
    checkpoint_interval_s: float = 1.0


@dataclass(slots=True)
class _Pending:
    job: WriteJob[Any]
    future: asyncio.Future[Any] = field(repr=False)


async def _connect(
    path: Path, synchronous: Synchronous, busy_timeout_ms: int = 10000
) -> aiosqlite.Connection:
    # check_same_thread=False: the writer's inline jobs use its connection from the event loop's
    # thread (never while aiosqlite's thread does: see the module docstring).
    conn = await aiosqlite.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute(f"PRAGMA synchronous = {synchronous}")
    except BaseException:
        # Its thread would keep the process alive after the refusal (a damaged file fails here).
        await conn.close()
        raise
    return conn


class _Immediate:
    """aiosqlite's ``execute_fetchall`` on a ``sqlite3`` connection, done before it returns: a
    coroutine that awaits only this finishes at its first step (``_run_now``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    async def execute_fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, tuple(params)).fetchall()


def _run_now(job: InlineJob[T], conn: sqlite3.Connection) -> T:
    """Run an inline job to its end in one step, on whichever thread calls this."""
    coroutine = job(cast(aiosqlite.Connection, _Immediate(conn)))
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coroutine.close()
    raise RuntimeError("an inline job awaited something other than execute_fetchall")


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
        safeguards: Safeguards,
        space: DiskSpace,
    ) -> None:
        self.path = path
        self.wal_path = path.with_name(path.name + "-wal")
        self._writer = writer
        self._reader = reader
        self._checkpointer = checkpointer
        self._batch_max = batch_max
        self._inline_writes = inline_writes
        self.safeguards = safeguards
        self.space = space
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._closing = False
        self._checkpoint_now = asyncio.Event()
        self._checkpoint_failing = False
        self._task = asyncio.create_task(self._write_loop(), name="hearth-db-writer")
        self._checkpoints = asyncio.create_task(self._checkpoint_loop(), name="hearth-db-wal")
        self.batches_committed = 0
        self.retries = 0  # never more: BEGIN IMMEDIATE makes writers wait, not fail (metrics)
        self.commit_seconds = Histogram(COMMIT_BUCKETS)  # for the metrics (server/metrics.py)

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        synchronous: Synchronous = "FULL",
        batch_max: int = 512,
        inline_writes: bool = False,
        safeguards: Safeguards | None = None,
    ) -> Database:
        safeguards = safeguards or Safeguards()
        path.parent.mkdir(parents=True, exist_ok=True)
        space = DiskSpace(
            path,
            reserve_bytes=safeguards.reserve_bytes,
            min_free_bytes=safeguards.min_free_bytes,
        )
        opened: list[aiosqlite.Connection] = []
        try:
            writer = await _connect(path, synchronous)
            opened.append(writer)
            async with writer.execute("PRAGMA journal_mode = WAL") as cursor:
                row = await cursor.fetchone()
            if row is None or str(row[0]).lower() != "wal":
                raise RuntimeError(f"could not switch {path} to WAL mode")
            await migrate(writer)
            # The writer never checkpoints: a checkpoint inside a commit would stall every
            # message of that batch (it copies the WAL into the database and syncs it). A third
            # connection checkpoints in the background instead; PASSIVE never blocks the
            # writer. When the WAL restarts from its beginning, it is cut back to the bound.
            await writer.execute("PRAGMA wal_autocheckpoint = 0")
            await writer.execute(f"PRAGMA journal_size_limit = {safeguards.wal_max_bytes}")
            reader = await _connect(path, synchronous)
            opened.append(reader)
            await reader.execute("PRAGMA query_only = ON")
            # Short: a TRUNCATE checkpoint holds new writes back while it waits for readers.
            checkpointer = await _connect(path, synchronous, busy_timeout_ms=0)
            opened.append(checkpointer)
            if not await asyncio.to_thread(space.ensure_reserve):
                space.start_episode()  # started on a full disk: refuse writes, log it once
        except BaseException:
            # An open connection's thread would keep the process alive after the refusal.
            for conn in opened:
                with contextlib.suppress(Exception):
                    await conn.close()
            raise
        return cls(path, writer, reader, checkpointer, batch_max, inline_writes, safeguards, space)

    async def write(self, job: WriteJob[T], *, groups: Sequence[bytes] | None = None) -> T:
        """Run ``job`` in the next batch; returns its result once the batch has committed.

        ``groups``: the groups the job reads and writes, if it is one of those safe under
        per-group locks on PostgreSQL (postgres/database.py); ignored here, where ``BEGIN
        IMMEDIATE`` already lets one writer at a time into the whole file.
        """
        if self._closing:
            raise DatabaseClosed()
        if not self.space.writable():
            raise self.space.refuse()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(job, future))
        # A caller that goes away cancels only this future: the job still runs in its batch
        # (the writer never looks at the future before it has committed, and then hands a
        # result only to a future that is not done), so no other job's write is affected.
        return await future

    async def write_inline(self, job: InlineJob[T], *, groups: Sequence[bytes] | None = None) -> T:
        """Like ``write``, for a job run on the event loop (see the module docstring)."""

        async def run(conn: aiosqlite.Connection) -> T:
            if self._inline_writes:
                # Awaits nothing: the writer task runs it without a trip to aiosqlite's thread,
                # which is idle, as the writer task awaits each of its trips.
                return _run_now(job, conn._conn)
            result: T = await conn._execute(_run_now, job, conn._conn)  # type: ignore[no-untyped-call]
            return result

        return await self.write(run, groups=groups)

    @property
    def write_queue_depth(self) -> int:
        """Writes waiting for the writer's next batch."""
        return self._queue.qsize()

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        # One trip to the reader's thread that runs the statement to its end. A statement left
        # open across an await (execute, then fetch) would keep the connection's read
        # transaction alive while other handlers' reads overlap it, and every read would see
        # the database as it was when that began: a write acknowledged meanwhile stays unseen.
        # The trip is bounded too (Safeguards.max_read_ms): a reader that runs on keeps the
        # checkpoint from reaching the WAL's end, and the WAL grows with every write meanwhile.
        try:
            rows: list[sqlite3.Row] = await self._reader._execute(  # type: ignore[no-untyped-call]
                self._bounded_read, sql, tuple(params)
            )
        except sqlite3.OperationalError as error:
            if str(error) != "interrupted":
                raise
            log.warning(
                "a read ran past %d ms and was stopped: %s",
                self.safeguards.max_read_ms,
                sql.split(" WHERE ")[0][:80],
            )
            raise ReadTooLong() from None
        return rows

    def _bounded_read(self, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        """Runs on the reader's thread: the statement to its end, or until its deadline."""
        conn = self._reader._conn
        deadline = time.monotonic() + self.safeguards.max_read_ms / 1000

        def past_deadline() -> int:
            return 1 if time.monotonic() > deadline else 0

        conn.set_progress_handler(past_deadline, 1000)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.set_progress_handler(None, 0)

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        """The first row (queries here select by key: at most one row comes back)."""
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def integrity_check(self) -> str:
        row = await self.fetch_one("PRAGMA integrity_check")
        return "missing" if row is None else str(row[0])

    @property
    def closing(self) -> bool:
        return self._closing

    def wal_bytes(self) -> int:
        try:
            return os.stat(self.wal_path).st_size
        except FileNotFoundError:
            return 0

    async def close(self, within_s: float | None = None) -> None:
        """Finish every write already submitted (for at most ``within_s`` seconds), checkpoint
        the whole WAL into the database, then close every connection, whatever fails."""
        if self._closing:
            return
        self._closing = True
        try:
            await asyncio.wait_for(self._queue.join(), within_s)
        except TimeoutError:
            log.error("closing: writes still waiting after %.0f s are abandoned", within_s)
        for task in (self._task, self._checkpoints):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self._checkpointer.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as error:
            log.warning("closing: the final WAL checkpoint failed (%s)", error)
        finally:
            # Each closed even if another fails: an open connection's thread keeps the process.
            for conn in (self._checkpointer, self._reader, self._writer):
                try:
                    await conn.close()
                except sqlite3.Error as error:
                    log.warning("closing a database connection failed (%s)", error)

    async def _checkpoint_loop(self) -> None:
        interval = self.safeguards.checkpoint_interval_s
        while True:
            self._checkpoint_now.clear()  # before: a wake-up during the checkpoint counts
            await self.checkpoint()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._checkpoint_now.wait(), interval)

    async def checkpoint(self) -> None:
        """``PASSIVE``, or ``TRUNCATE`` once the WAL is past its bound or the disk is full."""
        truncate = self.space.full or self.wal_bytes() > self.safeguards.wal_max_bytes
        mode = "TRUNCATE" if truncate else "PASSIVE"
        try:
            await self._checkpointer.execute_fetchall(f"PRAGMA wal_checkpoint({mode})")
        except sqlite3.Error as error:
            if self.space.is_full_error(error):
                self.space.start_episode()  # releases the reserve: the next attempt has room
                return
            # Logged once per run of failures: a failing checkpoint is retried every second.
            if not self._checkpoint_failing:
                log.error("WAL checkpoint failed (%s); retrying every second", error)
            self._checkpoint_failing = True
            return
        if self._checkpoint_failing:
            log.warning("WAL checkpoint works again")
        self._checkpoint_failing = False

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
            if self.space.is_full_error(error):
                # Every job would fail alike: refuse them all, and let the checkpoint run.
                self.space.start_episode()
                self._checkpoint_now.set()
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(self.space.refuse())
                return
            if len(batch) > 1:
                for pending in batch:
                    await self._run_batch([pending])
                return
            if not batch[0].future.done():
                batch[0].future.set_exception(error)
            return
        self.commit_seconds.observe(time.perf_counter() - started)
        self.batches_committed += 1
        if self.wal_bytes() > self.safeguards.wal_max_bytes:
            self._checkpoint_now.set()
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)

    async def _rollback(self) -> None:
        if self._writer.in_transaction:
            try:
                await self._writer.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("rollback failed")
