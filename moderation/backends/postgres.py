"""The server's own database when it is PostgreSQL: reports in a ``moderation_reports`` table
there, so that every node sharing that database lists, and decides, the same reports.

The server chooses it in place of ``sqlite`` when ``[storage] url`` is set, and hands it the URL
through ``BackendContext.database_url``; like ``sqlite`` it creates its own table rather than rely
on the server's migrations. Several nodes may start at once: the table is made under an advisory
lock, and a report two nodes resolve at the same moment is decided once (``SELECT … FOR UPDATE``).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Collection
from typing import Any

import asyncpg

from moderation.actions import Decision
from moderation.backends.records import report_from_row
from moderation.errors import AlreadyResolved, DuplicateReport, PluginError, UnknownReport
from moderation.queue import BackendContext, check_limit
from moderation.reports import Report, ReportState
from moderation.settings import refuse_unknown

SCHEMA = """
CREATE TABLE IF NOT EXISTS moderation_reports (
    report_id         TEXT    PRIMARY KEY,
    group_id          BYTEA   NOT NULL,
    msg_id            BYTEA   NOT NULL,
    seq               BIGINT  NOT NULL,
    content           TEXT    NOT NULL,
    content_type      INTEGER NOT NULL,
    sender_id         BYTEA   NOT NULL,
    duplicate_key     BYTEA   NOT NULL,
    message_ts        BIGINT  NOT NULL,
    reported_at       BIGINT  NOT NULL,
    reason            TEXT    NOT NULL,
    priority          TEXT    NOT NULL,
    priority_rank     INTEGER NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('open', 'resolved')),
    resolved_at       BIGINT,
    decision          TEXT,
    about_facilitator BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (group_id, msg_id, duplicate_key)
);
CREATE INDEX IF NOT EXISTS moderation_reports_order
    ON moderation_reports (priority_rank DESC, reported_at DESC, report_id DESC);
CREATE INDEX IF NOT EXISTS moderation_reports_resolved
    ON moderation_reports (resolved_at) WHERE state = 'resolved';
"""
# Any constant both nodes agree on: CREATE … IF NOT EXISTS is not safe against itself.
_SCHEMA_LOCK = 0x4865617274_6D6F64

_SELECT = (
    "SELECT report_id, group_id, msg_id, seq, content, content_type, sender_id, duplicate_key,"
    " message_ts, reported_at, reason, priority, priority_rank, state, resolved_at, decision,"
    " about_facilitator FROM moderation_reports"
)
_INSERT = (
    "INSERT INTO moderation_reports (report_id, group_id, msg_id, seq, content, content_type,"
    " sender_id, duplicate_key, message_ts, reported_at, reason, priority, priority_rank, state,"
    " resolved_at, decision, about_facilitator)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    " ON CONFLICT DO NOTHING"
)
POOL_SIZE = 4


class PostgresQueue:
    """Settings: none. Needs ``context.database_url`` (the server's PostgreSQL)."""

    known_settings: tuple[str, ...] = ()

    def __init__(self, context: BackendContext) -> None:
        refuse_unknown(context.settings, self.known_settings)
        if not context.database_url:
            raise PluginError(
                "the postgres moderation backend needs [storage] url to be a PostgreSQL URL"
            )
        self.context = context
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        if self._pool is not None:
            return
        pool = await asyncpg.create_pool(self.context.database_url, min_size=1, max_size=POOL_SIZE)
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                await conn.execute(SCHEMA)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def _connections(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the moderation queue is not started")
        return self._pool

    async def submit(self, report: Report) -> None:
        if len(report.duplicate_key) != 32:
            raise ValueError("a report needs the 32-byte duplicate_key the server computes")
        decision = None if report.decision is None else json.dumps(report.decision.to_json())
        row = (
            report.report_id,
            report.group_id,
            report.msg_id,
            report.seq,
            report.content,
            report.content_type,
            report.sender_id,
            report.duplicate_key,
            report.message_ts,
            report.reported_at,
            report.reason,
            report.priority.value,
            report.priority.rank,
            report.state.value,
            report.resolved_at,
            decision,
            report.about_facilitator,
        )
        async with self._connections().acquire() as conn:
            while True:
                if (await conn.execute(_INSERT, *row)).endswith(" 1"):
                    return
                # Not inserted: this very report again (a retried submit), or another report
                # of the same message by the same member, perhaps made on another node just now.
                if await conn.fetchval(
                    "SELECT 1 FROM moderation_reports WHERE report_id = $1", report.report_id
                ):
                    return
                existing = await conn.fetchval(
                    "SELECT report_id FROM moderation_reports"
                    " WHERE group_id = $1 AND msg_id = $2 AND duplicate_key = $3",
                    report.group_id,
                    report.msg_id,
                    report.duplicate_key,
                )
                if existing is not None:
                    raise DuplicateReport(existing)
                # that one was purged in between: try again

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
        where: builtins.list[str] = []
        params: builtins.list[Any] = []

        def param(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        if group_ids is not None:
            if not group_ids:
                return []
            where.append(f"group_id = ANY({param(builtins.list(group_ids))}::bytea[])")
        if excluding_senders:
            where.append(
                f"NOT (sender_id = ANY({param(builtins.list(excluding_senders))}::bytea[]))"
            )
        if about_facilitator is not None:
            where.append(f"about_facilitator = {param(about_facilitator)}")
        if state is not None:
            where.append(f"state = {param(state.value)}")
        async with self._connections().acquire() as conn:
            if before is not None:
                cursor = await _get(conn, before)
                if cursor is None:
                    raise UnknownReport(before)
                # Row values: strictly after the cursor in (urgent first, newest first, id) order.
                where.append(
                    f"(priority_rank, reported_at, report_id) < ({param(cursor.priority.rank)},"
                    f" {param(cursor.reported_at)}, {param(cursor.report_id)}::text)"
                )
            sql = _SELECT
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += " ORDER BY priority_rank DESC, reported_at DESC, report_id DESC"
            sql += f" LIMIT {param(limit)}"
            rows = await conn.fetch(sql, *params)
        return [report_from_row(row) for row in rows]

    async def get(self, report_id: str) -> Report | None:
        async with self._connections().acquire() as conn:
            return await _get(conn, report_id)

    async def resolve(self, report_id: str, decision: Decision) -> Report:
        async with self._connections().acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_SELECT + " WHERE report_id = $1 FOR UPDATE", report_id)
            if row is None:
                raise UnknownReport(report_id)
            if row["state"] == ReportState.RESOLVED.value:
                raise AlreadyResolved(report_id)
            await conn.execute(
                "UPDATE moderation_reports SET state = 'resolved', resolved_at = $1, decision = $2"
                " WHERE report_id = $3",
                decision.decided_at,
                json.dumps(decision.to_json()),
                report_id,
            )
            resolved = await _get(conn, report_id)
        assert resolved is not None
        return resolved

    async def purge_resolved(self, older_than_ms: int) -> int:
        """Delete whole rows: content, reason and ids go together; the audit log keeps decisions."""
        async with self._connections().acquire() as conn:
            status = await conn.execute(
                "DELETE FROM moderation_reports WHERE state = 'resolved' AND resolved_at < $1",
                self.context.clock() - older_than_ms,
            )
        return int(status.rsplit(" ", 1)[-1])


async def _get(conn: asyncpg.Connection, report_id: str) -> Report | None:
    row = await conn.fetchrow(_SELECT + " WHERE report_id = $1", report_id)
    return None if row is None else report_from_row(row)
