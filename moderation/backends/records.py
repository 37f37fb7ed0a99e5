"""The ``moderation_reports`` table: SQL shared by the sqlite and webhook backends.

The backends create their own tables (``CREATE TABLE IF NOT EXISTS``) rather than rely on the
server's migrations, because a plugin must work without the server's internals. Each function
takes a connection on which the caller holds the transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from pathlib import Path
from typing import Any

import aiosqlite

from moderation.actions import Decision
from moderation.errors import AlreadyResolved, DuplicateReport, UnknownReport
from moderation.reports import Priority, Report, ReportState

SCHEMA = """
CREATE TABLE IF NOT EXISTS moderation_reports (
    report_id     TEXT    PRIMARY KEY,
    group_id      BLOB    NOT NULL,
    msg_id        BLOB    NOT NULL,
    seq           INTEGER NOT NULL,
    content       TEXT    NOT NULL,
    content_type  INTEGER NOT NULL,
    sender_id     BLOB    NOT NULL,
    reporter_id   BLOB    NOT NULL,
    message_ts    INTEGER NOT NULL,
    reported_at   INTEGER NOT NULL,
    reason        TEXT    NOT NULL,
    priority      TEXT    NOT NULL,
    priority_rank INTEGER NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('open', 'resolved')),
    resolved_at   INTEGER,
    decision      TEXT,
    UNIQUE (group_id, msg_id, reporter_id)
);
CREATE INDEX IF NOT EXISTS moderation_reports_order
    ON moderation_reports (priority_rank DESC, reported_at DESC, report_id DESC);
CREATE INDEX IF NOT EXISTS moderation_reports_resolved
    ON moderation_reports (resolved_at) WHERE state = 'resolved';
"""

_SELECT = (
    "SELECT report_id, group_id, msg_id, seq, content, content_type, sender_id, reporter_id,"
    " message_ts, reported_at, reason, priority, priority_rank, state, resolved_at, decision"
    " FROM moderation_reports"
)
_INSERT = (
    "INSERT INTO moderation_reports (report_id, group_id, msg_id, seq, content, content_type,"
    " sender_id, reporter_id, message_ts, reported_at, reason, priority, priority_rank, state,"
    " resolved_at, decision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


async def connect(path: Path) -> aiosqlite.Connection:
    # Autocommit mode, so the explicit BEGIN IMMEDIATE below is the only transaction control.
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    await conn.execute("PRAGMA busy_timeout = 10000")  # the server's writer shares the file
    await conn.execute("PRAGMA journal_mode = WAL")
    return conn


def _report(row: sqlite3.Row) -> Report:
    decision = row["decision"]
    return Report(
        report_id=row["report_id"],
        group_id=bytes(row["group_id"]),
        msg_id=bytes(row["msg_id"]),
        seq=row["seq"],
        content=row["content"],
        content_type=row["content_type"],
        sender_id=bytes(row["sender_id"]),
        reporter_id=bytes(row["reporter_id"]),
        message_ts=row["message_ts"],
        reported_at=row["reported_at"],
        reason=row["reason"],
        priority=Priority(row["priority"]),
        state=ReportState(row["state"]),
        resolved_at=row["resolved_at"],
        decision=None if decision is None else Decision.from_json(json.loads(decision)),
    )


async def get(conn: aiosqlite.Connection, report_id: str) -> Report | None:
    async with conn.execute(_SELECT + " WHERE report_id = ?", (report_id,)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _report(row)


async def insert(conn: aiosqlite.Connection, report: Report) -> bool:
    """Insert ``report``; False when this report_id is already stored (a retried submit)."""
    if await get(conn, report.report_id) is not None:
        return False
    key = (report.group_id, report.msg_id, report.reporter_id)
    async with conn.execute(
        "SELECT report_id FROM moderation_reports"
        " WHERE group_id = ? AND msg_id = ? AND reporter_id = ?",
        key,
    ) as cursor:
        row = await cursor.fetchone()
    if row is not None:
        raise DuplicateReport(row["report_id"])
    decision = None if report.decision is None else json.dumps(report.decision.to_json())
    await conn.execute(
        _INSERT,
        (
            report.report_id,
            report.group_id,
            report.msg_id,
            report.seq,
            report.content,
            report.content_type,
            report.sender_id,
            report.reporter_id,
            report.message_ts,
            report.reported_at,
            report.reason,
            report.priority.value,
            report.priority.rank,
            report.state.value,
            report.resolved_at,
            decision,
        ),
    )
    return True


async def resolve(conn: aiosqlite.Connection, report_id: str, decision: Decision) -> Report:
    report = await get(conn, report_id)
    if report is None:
        raise UnknownReport(report_id)
    if report.state is ReportState.RESOLVED:
        raise AlreadyResolved(report_id)
    await conn.execute(
        "UPDATE moderation_reports SET state = 'resolved', resolved_at = ?, decision = ?"
        " WHERE report_id = ?",
        (decision.decided_at, json.dumps(decision.to_json()), report_id),
    )
    resolved = await get(conn, report_id)
    assert resolved is not None
    return resolved


async def select(
    conn: aiosqlite.Connection,
    *,
    group_ids: Collection[bytes] | None,
    state: ReportState | None,
    limit: int,
    before: str | None,
) -> list[Report]:
    where: list[str] = []
    params: list[Any] = []
    if group_ids is not None:
        if not group_ids:
            return []
        where.append("group_id IN (" + ", ".join("?" * len(group_ids)) + ")")
        params.extend(group_ids)
    if state is not None:
        where.append("state = ?")
        params.append(state.value)
    if before is not None:
        cursor_report = await get(conn, before)
        if cursor_report is None:
            raise UnknownReport(before)
        # Row values: strictly after the cursor in (urgent first, newest first, id) order.
        where.append("(priority_rank, reported_at, report_id) < (?, ?, ?)")
        params.extend(
            (cursor_report.priority.rank, cursor_report.reported_at, cursor_report.report_id)
        )
    sql = _SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY priority_rank DESC, reported_at DESC, report_id DESC LIMIT ?"
    params.append(limit)
    async with conn.execute(sql, params) as cursor:
        rows = await cursor.fetchall()
    return [_report(row) for row in rows]


async def purge_resolved(conn: aiosqlite.Connection, resolved_before: int) -> int:
    """Delete whole rows: content, reason and ids go together; the audit log keeps the decision."""
    cursor = await conn.execute(
        "DELETE FROM moderation_reports WHERE state = 'resolved' AND resolved_at < ?",
        (resolved_before,),
    )
    return cursor.rowcount
