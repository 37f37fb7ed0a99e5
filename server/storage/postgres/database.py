"""``PostgresDatabase``: ``Database``'s interface on PostgreSQL, for several nodes on one store.

Writes are the same *jobs* as on SQLite (async functions given a connection inside a
transaction, ``connection.Connection`` giving them aiosqlite's face). Each node keeps one writer
task on one connection that runs the jobs waiting in one transaction and commits once, as on
SQLite: the commit's round trip and WAL flush are shared by the batch (docs/storage.md,
"PostgreSQL", measured there), and the jobs of one node never conflict with each other.

What SQLite gets from ``BEGIN IMMEDIATE`` (one writer at a time for the whole file), PostgreSQL
gets in one of two ways, chosen per job by its store:

- a job that declares the groups it touches (``write(job, groups=...)``: a message, its resend
  and tombstone, a commit, a held message) runs in a ``READ COMMITTED`` transaction that first
  locks those groups (locks.py). Two nodes' transactions on one group take turns, and each
  statement reads what the other committed: a second commit for the same epoch is refused as
  ``epoch_conflict``, a message gets the next seq, and neither transaction fails;
- every other job runs in a ``SERIALIZABLE`` transaction, taking no group lock: when two nodes'
  transactions would have interleaved, PostgreSQL refuses one with a serialization failure
  (SQLSTATE 40001, also raised instead of a unique violation that a concurrent transaction
  caused), and the batch is run again and sees the other node's commit.

A batch holding both kinds runs them in two transactions, the declared jobs first: a declared
job never runs ``SERIALIZABLE``, whose snapshot (taken at its first statement, before any lock
it waited for) could miss a ``READ COMMITTED`` writer's commit that PostgreSQL's conflict
detection does not watch. A batch refused with a serialization failure or a deadlock is rolled
back and run again after a short random pause. So the store modules' SQL and checks are the same
on both. A job is run again only as a whole and only before anything was handed out, which
SQLite's writer does already when a batch fails.

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
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import aiosqlite
import asyncpg

from server.errors import Code, HearthError
from server.metrics import COMMIT_BUCKETS, Histogram
from server.storage.database import DatabaseClosed, ReadTooLong, Safeguards
from server.storage.postgres.connection import Connection, translate
from server.storage.postgres.locks import lock_groups
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
    groups: tuple[bytes, ...] | None = None  # declared by the store: runs under group locks


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

    async def write(
        self,
        job: Callable[[aiosqlite.Connection], Awaitable[T]],
        *,
        groups: Sequence[bytes] | None = None,
    ) -> T:
        """Run ``job`` in the next batch; returns its result once the batch has committed.

        ``groups``: every group the job reads or writes, declared by a store whose job is safe
        under their locks at ``READ COMMITTED`` (the module docstring); None for any other job,
        which runs ``SERIALIZABLE``.
        """
        if self._closing:
            raise DatabaseClosed()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        declared = None if groups is None else tuple(groups)
        self._queue.put_nowait(_Pending(job, future, declared))
        return await future

    async def write_inline(
        self,
        job: Callable[[aiosqlite.Connection], Coroutine[Any, Any, T]],
        *,
        groups: Sequence[bytes] | None = None,
    ) -> T:
        """On SQLite a job run without a trip to a thread; here an ordinary job."""
        return await self.write(job, groups=groups)

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
        """The jobs that declared their groups in one transaction under their locks, the others
        in another, ``SERIALIZABLE`` (the module docstring)."""
        locked = [p for p in batch if p.groups is not None]
        serializable = [p for p in batch if p.groups is None]
        if locked:
            await self._run_batch(locked, serializable=False)
        if serializable:
            await self._run_batch(serializable, serializable=True)

    async def _run_batch(self, batch: list[_Pending], *, serializable: bool) -> None:
        for attempt in range(RETRIES):
            try:
                results = await self._transaction(batch, serializable)
            except _RETRYABLE:
                # Another node's transaction overlapped: run again, it will see that one.
                self.retries += 1
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
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

    async def _transaction(self, batch: list[_Pending], serializable: bool) -> list[Any]:
        started = time.perf_counter()
        conn = Connection(self._writer)
        results: list[Any] = []
        await self._writer.execute(
            f"BEGIN ISOLATION LEVEL {'SERIALIZABLE' if serializable else 'READ COMMITTED'}"
        )
        conn.in_transaction = True
        try:
            if not serializable:
                await lock_groups(self._writer, (g for p in batch for g in p.groups or ()))
            for pending in batch:
                results.append(await pending.job(cast(aiosqlite.Connection, conn)))
            await self._writer.execute("COMMIT")
        except BaseException:
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
