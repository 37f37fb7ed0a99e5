"""Reports name no reporter: the model, the sqlite backend and its upgrade of an older table."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator

import pytest

from moderation.backends.sqlite import SqliteQueue
from moderation.errors import DuplicateReport
from moderation.reports import Report
from server.storage.database import Database
from tests.moderation.conftest import Contexts, make_report

# The moderation_reports table as Hearth made it while reports carried reporter_id.
NAMED_TABLE = """
CREATE TABLE moderation_reports (
    report_id TEXT PRIMARY KEY, group_id BLOB NOT NULL, msg_id BLOB NOT NULL,
    seq INTEGER NOT NULL, content TEXT NOT NULL, content_type INTEGER NOT NULL,
    sender_id BLOB NOT NULL, reporter_id BLOB NOT NULL, message_ts INTEGER NOT NULL,
    reported_at INTEGER NOT NULL, reason TEXT NOT NULL, priority TEXT NOT NULL,
    priority_rank INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'resolved')), resolved_at INTEGER,
    decision TEXT, UNIQUE (group_id, msg_id, reporter_id)
);
CREATE INDEX moderation_reports_order
    ON moderation_reports (priority_rank DESC, reported_at DESC, report_id DESC);
INSERT INTO moderation_reports VALUES ('r1', x'47474747474747474747474747474747',
    x'00000000000000000000000000000001', 1, 'old text', 1, x'53535353535353535353535353535353',
    x'52455052455052455052455052455052', 5, 6, 'why', 'normal', 0, 'open', NULL, NULL);
"""


@pytest.fixture
async def queue(context: Contexts) -> AsyncIterator[SqliteQueue]:
    database = await Database.open(context().database_path)
    q = SqliteQueue(context())
    await q.start()
    yield q
    await q.close()
    await database.close()


def test_the_json_shown_carries_no_reporter_and_no_duplicate_key() -> None:
    report = make_report(1, duplicate_key=b"\xab" * 32)
    shown = report.to_json()
    assert "reporter_id" not in shown
    assert "duplicate_key" not in shown
    assert "ab" * 32 not in repr(report)
    assert shown["about_facilitator"] is False
    assert Report.from_json(shown) == report  # the key is not part of a report's identity
    assert Report.from_json(shown).duplicate_key == b""
    with pytest.raises(ValueError, match="about_facilitator"):
        Report.from_json({**shown, "about_facilitator": "false"})


async def test_duplicates_are_refused_by_the_opaque_key(queue: SqliteQueue) -> None:
    await queue.submit(make_report(1, duplicate_key=b"A" * 32))
    with pytest.raises(DuplicateReport):
        await queue.submit(make_report(1, duplicate_key=b"A" * 32))
    await queue.submit(make_report(1, duplicate_key=b"B" * 32))
    with pytest.raises(ValueError, match="duplicate_key"):
        await queue.submit(make_report(2, duplicate_key=b""))


async def test_list_filters_the_facilitator_mark_and_excluded_senders(queue: SqliteQueue) -> None:
    plain = make_report(1)
    about = make_report(2, about_facilitator=True, sender_id=b"F" * 16)
    await queue.submit(plain)
    await queue.submit(about)
    assert await queue.list(about_facilitator=True) == [about]
    assert await queue.list(about_facilitator=False) == [plain]
    assert await queue.list(excluding_senders=[b"F" * 16]) == [plain]
    assert (await queue.get(about.report_id)) == about


async def test_an_older_table_is_rebuilt_without_reporter_ids(context: Contexts) -> None:
    path = context().database_path
    database = await Database.open(path)
    with sqlite3.connect(path) as conn:
        conn.executescript(NAMED_TABLE)
    q = SqliteQueue(context())
    await q.start()
    try:
        old = await q.get("r1")
        assert old is not None
        assert old.content == "old text"
        assert not old.about_facilitator
        await q.submit(make_report(3))
        assert len(await q.list()) == 2
    finally:
        await q.close()
        await database.close()
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(moderation_reports)")}
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(moderation_reports)")}
    assert "reporter_id" not in columns
    assert {"duplicate_key", "about_facilitator"} <= columns
    assert "moderation_reports_order" in indexes
    assert b"REPREPREPREPREPR" not in path.read_bytes()
