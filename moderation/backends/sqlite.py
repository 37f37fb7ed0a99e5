"""The default backend: reports in their own table of the server's SQLite file.

Content is sensitive: a report is kept while open, and ``purge_resolved`` (called by the server
on its purge timer) deletes resolved reports once their retention is over.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import AsyncIterator, Collection

import aiosqlite

from moderation.actions import Decision
from moderation.backends import records
from moderation.queue import BackendContext, check_limit
from moderation.reports import Report, ReportState
from moderation.settings import refuse_unknown


class SqliteQueue:
    """Settings: none. Subclasses add work to the same transactions through the two hooks."""

    known_settings: tuple[str, ...] = ()

    def __init__(self, context: BackendContext) -> None:
        refuse_unknown(context.settings, self.known_settings)
        self.context = context
        self._conn: aiosqlite.Connection | None = None
        # One connection, many coroutines: a transaction must not interleave with another's.
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        if self._conn is not None:
            return
        self._conn = await records.connect(self.context.database_path)
        # executescript commits on its own; every statement is IF NOT EXISTS, so a crash
        # half-way is repaired by the next start.
        async with self._lock:
            await records.upgrade(self._conn)
            await self._conn.executescript(self.schema())

    def schema(self) -> str:
        return records.SCHEMA

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            async with self._lock:
                await conn.close()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT under the lock; rolled back if the body raises."""
        async with self._lock:
            conn = self._connection()
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")

    def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("the moderation queue is not started")
        return self._conn

    async def submit(self, report: Report) -> None:
        async with self.transaction() as conn:
            if await records.insert(conn, report):
                await self.on_submitted(conn, report)

    async def list(
        self,
        *,
        group_ids: Collection[bytes] | None = None,
        state: ReportState | None = None,
        limit: int = 50,
        before: str | None = None,
        about_facilitator: bool | None = None,
        excluding_senders: Collection[bytes] = (),
    ) -> builtins.list[Report]:
        check_limit(limit)
        async with self._lock:
            return await records.select(
                self._connection(),
                group_ids=group_ids,
                state=state,
                limit=limit,
                before=before,
                about_facilitator=about_facilitator,
                excluding_senders=excluding_senders,
            )

    async def get(self, report_id: str) -> Report | None:
        async with self._lock:
            return await records.get(self._connection(), report_id)

    async def resolve(self, report_id: str, decision: Decision) -> Report:
        async with self.transaction() as conn:
            report = await records.resolve(conn, report_id, decision)
            await self.on_resolved(conn, report)
        return report

    async def purge_resolved(self, older_than_ms: int) -> int:
        async with self.transaction() as conn:
            return await records.purge_resolved(conn, self.context.clock() - older_than_ms)

    async def on_submitted(self, conn: aiosqlite.Connection, report: Report) -> None:
        """Runs inside the transaction that stored a new report."""

    async def on_resolved(self, conn: aiosqlite.Connection, report: Report) -> None:
        """Runs inside the transaction that resolved a report."""
