"""``PostgresDatabase``: ``Database``'s interface on PostgreSQL, for several nodes on one store.

Writes are the same *jobs* as on SQLite (async functions given a connection inside a
transaction, ``connection.Connection`` giving them aiosqlite's face). Each node keeps one writer
task on one connection that runs the jobs waiting in one transaction and commits once, as on
SQLite: the commit's round trip and WAL flush are shared by the batch (docs/storage.md,
"PostgreSQL", measured there), and the jobs of one node never conflict with each other.

What SQLite gets from ``BEGIN IMMEDIATE`` (one writer at a time for the whole file), PostgreSQL
gets from per-group locks (locks.py): before each statement the transaction locks the groups it
names, so two nodes' transactions on one group take turns. The jobs whose every statement was
checked against those locks (a message, a tombstone, a commit, a held message:
``locks.ONE_GROUP``) run at ``READ COMMITTED``: each statement reads after its lock was granted,
so it sees the other node's commit, and a second commit for the same epoch is refused as
``epoch_conflict``, a message gets the next seq, without either transaction failing. Every
other job runs in a ``SERIALIZABLE`` transaction apart from them (still under the group locks),
as all did before: when two nodes' transactions would have interleaved, PostgreSQL refuses one
with a serialization failure (SQLSTATE 40001). A job is sent there the first time it runs a
statement outside ``ONE_GROUP`` (its batch is rolled back and run again) and from then on
directly. A batch refused with a serialization failure or a deadlock is rolled back and run
again after a short random pause, and sees the other node's commit. So the store modules' SQL
and checks are the same on both. A job is run again only as a whole and only before anything
was handed out, which SQLite's writer does already when a batch fails.

A result is handed back only after COMMIT returned, so an acknowledgement still means the message
is stored. If the connection is lost meanwhile, the write is refused with ``unavailable``: a
client sends again with the same ``msg_id``, which stays idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import aiosqlite
import asyncpg

from server.errors import Code, HearthError
from server.metrics import COMMIT_BUCKETS, Histogram
from server.storage.database import DatabaseClosed, ReadTooLong, Safeguards
from server.storage.postgres.connection import Connection, translate
from server.storage.postgres.locks import (
    FirstStatement,
    GroupLocks,
    NeedsSerializable,
    OutOfOrder,
    stop_at_first_statement,
)
from server.storage.postgres.migrations import migrate, schema_version
from server.storage.space import RETRY_AFTER_MS, StorageFull

T = TypeVar("T")
log = logging.getLogger("hearth.storage")

RETRIES = 20  # serialization failures in a row before a batch is split (or a job refused)
READ_POOL = 8  # connections for reads per node (docs/deployment.md, sizing)

_RETRYABLE = (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError)
_UNREACHABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
)


class DatabaseUnreachable(HearthError):
    """PostgreSQL cannot be reached (stopped, restarting, network): nothing was stored."""

    def __init__(self) -> None:
        super().__init__(
            Code.UNAVAILABLE,
            "the server cannot reach its database just now; send again in a moment",
            retry_after_ms=RETRY_AFTER_MS,
        )


def redacted(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


@dataclass(slots=True)
class _Pending:
    job: Callable[[aiosqlite.Connection], Awaitable[Any]]
    future: asyncio.Future[Any] = field(repr=False)

    @property
    def kind(self) -> object:
        """What tells the jobs of one store method from the others: the code they run."""
        return getattr(self.job, "__code__", type(self.job))


class PostgresDatabase:
    """A node's handle on the PostgreSQL database (see the module docstring)."""

    def __init__(
        self, url: str, writer: asyncpg.Connection, pool: asyncpg.Pool, batch_max: int
    ) -> None:
        self.url = url
        self.display_url = redacted(url)
        self._writer = writer
        self._pool = pool
        self._batch_max = batch_max
        self.safeguards = Safeguards()
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._closing = False
        self._task = asyncio.create_task(self._write_loop(), name="hearth-db-writer")
        self.batches_committed = 0
        self.retries = 0  # batches run again after a serialization failure or a deadlock
        self.relocks = 0  # batches run again to take their group locks in order (locks.py)
        self.escalations = 0  # batches run again because a job needs SERIALIZABLE
        self._serializable: set[object] = set()  # kinds of job that run SERIALIZABLE
        self.commit_seconds = Histogram(COMMIT_BUCKETS)

    @classmethod
    async def open(
        cls, url: str, *, batch_max: int = 512, safeguards: Safeguards | None = None
    ) -> PostgresDatabase:
        try:
            writer = await asyncpg.connect(url)
        except _UNREACHABLE as error:
            raise ConnectionError(f"cannot connect to {redacted(url)}: {error}") from None
        try:
            await migrate(writer)
            if await writer.fetchval("SHOW synchronous_commit") == "off":
                log.warning(
                    "PostgreSQL's synchronous_commit is not on: a message acknowledged just "
                    "before the database server crashes may be lost (docs/storage.md)"
                )
            pool = await asyncpg.create_pool(url, min_size=1, max_size=READ_POOL)
        except BaseException:
            await writer.close()
            raise
        db = cls(url, writer, pool, batch_max)
        if safeguards is not None:
            db.safeguards = safeguards
        return db

    # -- writes ------------------------------------------------------------------------

    async def write(self, job: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        """Run ``job`` in the next batch; returns its result once the batch has committed."""
        if self._closing:
            raise DatabaseClosed()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(job, future))
        return await future

    async def write_inline(
        self, job: Callable[[aiosqlite.Connection], Coroutine[Any, Any, T]]
    ) -> T:
        """On SQLite a job run without a trip to a thread; here an ordinary job."""
        return await self.write(job)

    @property
    def write_queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def closing(self) -> bool:
        return self._closing

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._run_parts(batch)
            except Exception:
                log.exception("the writer failed a batch")
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(DatabaseUnreachable())
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _run_parts(self, batch: list[_Pending]) -> None:
        """The jobs that run under group locks in one transaction, the others in another."""
        locked = [p for p in batch if p.kind not in self._serializable]
        serializable = [p for p in batch if p.kind in self._serializable]
        if locked:
            await self._run_batch(locked, serializable=False)
        if serializable:
            await self._run_batch(serializable, serializable=True)

    async def _first_statements(self, batch: list[_Pending]) -> frozenset[int]:
        """The groups the jobs' first statements name, found by running each job up to its first
        statement without running that (a job's work before it is building its parameters)."""
        conn = cast(aiosqlite.Connection, Connection(self._writer, stop_at_first_statement))
        keys: set[int] = set()
        for pending in batch:
            try:
                await pending.job(conn)
            except FirstStatement as first:
                keys |= first.keys
            except Exception:  # noqa: S110 - the real run meets it again and hands it back
                pass
        return frozenset(keys)

    async def _run_batch(self, batch: list[_Pending], *, serializable: bool) -> None:
        # Group locks to take, in order, before the first job. Not for SERIALIZABLE jobs: their
        # snapshot is taken at their first statement, and would be older than the lock.
        first = frozenset() if serializable else await self._first_statements(batch)
        failures = 0
        while failures < RETRIES:
            try:
                results = await self._transaction(batch, serializable, first)
            except OutOfOrder as out:
                # Bounded: each time, at least one more lock is taken in order at the start.
                self.relocks += 1
                first = first | out.keys
                continue
            except NeedsSerializable:
                self.escalations += 1
                await self._run_parts(batch)
                return
            except _RETRYABLE:
                # Another node's transaction overlapped: run again, it will see that one.
                self.retries += 1
                failures += 1
                await asyncio.sleep(random.uniform(0, 0.002 * failures))
                continue
            except _UNREACHABLE:
                await self._reconnect()
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(DatabaseUnreachable())
                return
            except asyncpg.exceptions.DiskFullError:
                # The database server's disk: every job would fail alike; clients resend later.
                log.error(
                    "storage full: the PostgreSQL server %s has no space left", self.display_url
                )
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(StorageFull())
                return
            except Exception as error:
                if len(batch) > 1:
                    for pending in batch:
                        await self._run_parts([pending])
                    return
                if not batch[0].future.done():
                    batch[0].future.set_exception(error)
                return
            for pending, result in zip(batch, results, strict=True):
                if not pending.future.done():
                    pending.future.set_result(result)
            return
        if len(batch) > 1:
            for pending in batch:
                await self._run_parts([pending])
            return
        if not batch[0].future.done():
            batch[0].future.set_exception(DatabaseUnreachable())

    async def _transaction(
        self, batch: list[_Pending], serializable: bool, first: frozenset[int]
    ) -> list[Any]:
        started = time.perf_counter()
        locks = GroupLocks(self._writer, read_committed=not serializable)
        conn = Connection(self._writer, locks.before)
        results: list[Any] = []
        running: _Pending | None = None
        await self._writer.execute(
            f"BEGIN ISOLATION LEVEL {'SERIALIZABLE' if serializable else 'READ COMMITTED'}"
        )
        conn.in_transaction = True
        try:
            await locks.take_first(first)
            for running in batch:
                results.append(await running.job(cast(aiosqlite.Connection, conn)))
            await self._writer.execute("COMMIT")
        except BaseException as error:
            if isinstance(error, NeedsSerializable) and running is not None:
                self._serializable.add(running.kind)
            if not self._writer.is_closed():
                with contextlib.suppress(*_UNREACHABLE, asyncpg.PostgresError):
                    await self._writer.execute("ROLLBACK")
            raise
        self.commit_seconds.observe(time.perf_counter() - started)
        self.batches_committed += 1
        return results

    async def _reconnect(self) -> None:
        with contextlib.suppress(Exception):
            await self._writer.close(timeout=1)
        try:
            self._writer = await asyncpg.connect(self.url, timeout=2)
        except Exception as error:
            log.warning(
                "the database %s is unreachable (%s)", self.display_url, type(error).__name__
            )

    # -- reads -------------------------------------------------------------------------

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[asyncpg.Record]:
        values = tuple(params)
        try:
            rows: list[asyncpg.Record] = await self._pool.fetch(
                translate(sql, values), *values, timeout=self.safeguards.max_read_ms / 1000
            )
        except TimeoutError:
            log.warning(
                "a read ran past %d ms and was stopped: %s",
                self.safeguards.max_read_ms,
                sql.split(" WHERE ")[0][:80],
            )
            raise ReadTooLong() from None
        except _UNREACHABLE:
            raise DatabaseUnreachable() from None
        return rows

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> asyncpg.Record | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def schema_version(self) -> int:
        async with self._pool.acquire() as conn:
            return await schema_version(conn)

    async def writable(self) -> bool:
        """The database answers and accepts writes (a primary, not a standby in recovery)."""
        try:
            row = await self._pool.fetchrow("SELECT pg_is_in_recovery()", timeout=2)
        except (*_UNREACHABLE, asyncpg.PostgresError):
            return False
        return row is not None and not row[0]

    async def integrity_check(self) -> str:
        return "ok" if await self.writable() else "unreachable"

    async def close(self, within_s: float | None = None) -> None:
        """Finish every write already submitted (for at most ``within_s`` seconds), then close
        the writer and the pool."""
        if self._closing:
            return
        self._closing = True
        try:
            await asyncio.wait_for(self._queue.join(), within_s)
        except TimeoutError:
            log.error("closing: writes still waiting after %.0f s are abandoned", within_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(Exception):
            await self._writer.close(timeout=5)
        try:
            await asyncio.wait_for(self._pool.close(), 5)
        except Exception:
            self._pool.terminate()
