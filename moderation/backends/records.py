"""The ``moderation_reports`` table: SQL shared by the sqlite and webhook backends (the postgres
backend has its own SQL, and reads rows with ``report_from_row``).

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

# No reporter id: ``duplicate_key`` (an opaque keyed hash of message and reporter, computed by
# the server) is all a second report of one message by one person is refused by.
SCHEMA = """
CREATE TABLE IF NOT EXISTS moderation_reports (
    report_id         TEXT    PRIMARY KEY,
    group_id          BLOB    NOT NULL,
    msg_id            BLOB    NOT NULL,
    seq               INTEGER NOT NULL,
    content           TEXT    NOT NULL,
    content_type      INTEGER NOT NULL,
    sender_id         BLOB    NOT NULL,
    duplicate_key     BLOB    NOT NULL,
    message_ts        INTEGER NOT NULL,
    reported_at       INTEGER NOT NULL,
    reason            TEXT    NOT NULL,
    priority          TEXT    NOT NULL,
    priority_rank     INTEGER NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('open', 'resolved')),
    resolved_at       INTEGER,
    decision          TEXT,
    about_facilitator INTEGER NOT NULL DEFAULT 0 CHECK (about_facilitator IN (0, 1)),
    UNIQUE (group_id, msg_id, duplicate_key)
);
CREATE INDEX IF NOT EXISTS moderation_reports_order
    ON moderation_reports (priority_rank DESC, reported_at DESC, report_id DESC);
CREATE INDEX IF NOT EXISTS moderation_reports_resolved
    ON moderation_reports (resolved_at) WHERE state = 'resolved';
"""
# A table made before reports stopped naming their reporter is rebuilt without the column
# (upgrade below). Its reports get random duplicate keys: the reporter ids are gone, so a second
# report of such a message by the same member is accepted once, the price of forgetting them.
_SET_ASIDE = """
DROP INDEX IF EXISTS moderation_reports_order;
DROP INDEX IF EXISTS moderation_reports_resolved;
ALTER TABLE moderation_reports RENAME TO moderation_reports_named;
"""
_COPY_BACK = """
INSERT INTO moderation_reports (report_id, group_id, msg_id, seq, content, content_type,
    sender_id, duplicate_key, message_ts, reported_at, reason, priority, priority_rank, state,
    resolved_at, decision)
    SELECT report_id, group_id, msg_id, seq, content, content_type, sender_id, randomblob(32),
        message_ts, reported_at, reason, priority, priority_rank, state, resolved_at, decision
    FROM moderation_reports_named;
DROP TABLE moderation_reports_named;
"""

_SELECT = (
    "SELECT report_id, group_id, msg_id, seq, content, content_type, sender_id, duplicate_key,"
    " message_ts, reported_at, reason, priority, priority_rank, state, resolved_at, decision,"
    " about_facilitator FROM moderation_reports"
)
_INSERT = (
    "INSERT INTO moderation_reports (report_id, group_id, msg_id, seq, content, content_type,"
    " sender_id, duplicate_key, message_ts, reported_at, reason, priority, priority_rank, state,"
    " resolved_at, decision, about_facilitator)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


async def connect(path: Path) -> aiosqlite.Connection:
    # Autocommit mode, so the explicit BEGIN IMMEDIATE below is the only transaction control.
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    await conn.execute("PRAGMA busy_timeout = 10000")  # the server's writer shares the file
    await conn.execute("PRAGMA journal_mode = WAL")
    return conn


async def upgrade(conn: aiosqlite.Connection) -> None:
    """Bring a table made by an older Hearth up to ``SCHEMA`` (run before ``SCHEMA``)."""
    async with conn.execute("PRAGMA table_info(moderation_reports)") as cursor:
        columns = {row["name"] for row in await cursor.fetchall()}
    if "reporter_id" in columns:
        # One script, one transaction: a crash half-way leaves the old table as it was.
        await conn.executescript("BEGIN IMMEDIATE;" + _SET_ASIDE + SCHEMA + _COPY_BACK + "COMMIT;")


def report_from_row(row: Any) -> Report:
    """A report from a row of ``_SELECT``'s columns (sqlite3.Row or asyncpg Record)."""
    decision = row["decision"]
    return Report(
        report_id=row["report_id"],
        group_id=bytes(row["group_id"]),
        msg_id=bytes(row["msg_id"]),
        seq=row["seq"],
        content=row["content"],
        content_type=row["content_type"],
        sender_id=bytes(row["sender_id"]),
        message_ts=row["message_ts"],
        reported_at=row["reported_at"],
        reason=row["reason"],
        priority=Priority(row["priority"]),
        state=ReportState(row["state"]),
        resolved_at=row["resolved_at"],
        decision=None if decision is None else Decision.from_json(json.loads(decision)),
        about_facilitator=bool(row["about_facilitator"]),
        duplicate_key=bytes(row["duplicate_key"]),
    )


async def get(conn: aiosqlite.Connection, report_id: str) -> Report | None:
    async with conn.execute(_SELECT + " WHERE report_id = ?", (report_id,)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else report_from_row(row)


async def insert(conn: aiosqlite.Connection, report: Report) -> bool:
    """Insert ``report``; False when this report_id is already stored (a retried submit)."""
    if await get(conn, report.report_id) is not None:
        return False
    if len(report.duplicate_key) != 32:
        raise ValueError("a report needs the 32-byte duplicate_key the server computes")
    key = (report.group_id, report.msg_id, report.duplicate_key)
    async with conn.execute(
        "SELECT report_id FROM moderation_reports"
        " WHERE group_id = ? AND msg_id = ? AND duplicate_key = ?",
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
            report.duplicate_key,
            report.message_ts,
            report.reported_at,
            report.reason,
            report.priority.value,
            report.priority.rank,
            report.state.value,
            report.resolved_at,
            decision,
            int(report.about_facilitator),
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
    about_facilitator: bool | None = None,
    excluding_senders: Collection[bytes] = (),
) -> list[Report]:
    where: list[str] = []
    params: list[Any] = []
    if group_ids is not None:
        if not group_ids:
            return []
        where.append("group_id IN (" + ", ".join("?" * len(group_ids)) + ")")
        params.extend(group_ids)
    if excluding_senders:
        where.append("sender_id NOT IN (" + ", ".join("?" * len(excluding_senders)) + ")")
        params.extend(excluding_senders)
    if about_facilitator is not None:
        where.append("about_facilitator = ?")
        params.append(int(about_facilitator))
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
    return [report_from_row(row) for row in rows]


async def purge_resolved(conn: aiosqlite.Connection, resolved_before: int) -> int:
    """Delete whole rows: content, reason and ids go together; the audit log keeps the decision."""
    cursor = await conn.execute(
        "DELETE FROM moderation_reports WHERE state = 'resolved' AND resolved_at < ?",
        (resolved_before,),
    )
    return cursor.rowcount
