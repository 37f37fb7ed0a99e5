"""The built-in backends on the server's own database: ``sqlite`` on a real database file that
also holds the server's schema, and ``postgres`` on a real PostgreSQL (tests/pg_cluster.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from moderation.actions import Action, Decision
from moderation.backends.postgres import PostgresQueue
from moderation.backends.sqlite import SqliteQueue
from moderation.errors import (
    AlreadyResolved,
    DuplicateReport,
    PluginError,
    SettingsError,
    UnknownReport,
)
from moderation.intake import file_report
from moderation.plugins import load_backend, load_classifiers
from moderation.queue import ModerationQueue
from moderation.reports import Priority, ReportState
from server.storage.database import Database
from tests.moderation.conftest import Clock, Contexts, dismiss, make_report, new_report


@pytest.fixture(params=["sqlite", "postgres"])
async def queue(
    context: Contexts, request: pytest.FixtureRequest
) -> AsyncIterator[SqliteQueue | PostgresQueue]:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        pq = PostgresQueue(replace(context(), database_url=url))
        await pq.start()
        yield pq
        await pq.close()
        return
    # The server's own database first, so the backend's tables live beside the real schema.
    database = await Database.open(context().database_path)
    q = SqliteQueue(context())
    await q.start()
    yield q
    await q.close()
    await database.close()


async def test_submit_is_idempotent_and_get_round_trips(queue: ModerationQueue) -> None:
    report = make_report(1)
    await queue.submit(report)
    await queue.submit(report)
    assert await queue.get(report.report_id) == report
    assert await queue.list() == [report]
    assert await queue.get("nope") is None


async def test_a_second_report_of_one_message_by_one_member_is_refused(
    queue: ModerationQueue,
) -> None:
    first = make_report(1)
    await queue.submit(first)
    with pytest.raises(DuplicateReport) as raised:
        await queue.submit(make_report(1))
    assert raised.value.existing_report_id == first.report_id
    await queue.submit(make_report(1, duplicate_key=b"Q" * 32))  # another member may


async def test_list_is_urgent_first_then_newest_and_pages(queue: ModerationQueue) -> None:
    reports = [make_report(n) for n in range(7)]
    reports[2] = replace(reports[2], priority=Priority.URGENT)
    reports[5] = replace(reports[5], priority=Priority.URGENT)
    for report in reports:
        await queue.submit(report)
    expected = [reports[i] for i in (5, 2, 6, 4, 3, 1, 0)]
    assert await queue.list() == expected
    page1 = await queue.list(limit=3)
    page2 = await queue.list(limit=3, before=page1[-1].report_id)
    page3 = await queue.list(limit=3, before=page2[-1].report_id)
    assert page1 + page2 + page3 == expected
    with pytest.raises(UnknownReport):
        await queue.list(before="gone")
    with pytest.raises(ValueError, match="limit"):
        await queue.list(limit=0)


async def test_list_filters_by_groups_and_state(queue: ModerationQueue) -> None:
    a, b = make_report(1), make_report(2, group_id=b"H" * 16)
    await queue.submit(a)
    await queue.submit(b)
    assert await queue.list(group_ids=[b"H" * 16]) == [b]
    assert await queue.list(group_ids=[]) == []
    resolved = await queue.resolve(a.report_id, dismiss())
    assert await queue.list(state=ReportState.OPEN) == [b]
    assert await queue.list(state=ReportState.RESOLVED) == [resolved]


async def test_resolve_records_the_decision_once(queue: ModerationQueue) -> None:
    report = make_report(1)
    await queue.submit(report)
    decision = Decision(Action.MUTE, "alice", "cool off", 60, 1_700_000_005_000)
    resolved = await queue.resolve(report.report_id, decision)
    assert resolved.state is ReportState.RESOLVED
    assert resolved.decision == decision
    assert resolved.resolved_at == decision.decided_at
    assert await queue.get(report.report_id) == resolved
    with pytest.raises(AlreadyResolved):
        await queue.resolve(report.report_id, dismiss())
    with pytest.raises(UnknownReport):
        await queue.resolve("missing", dismiss())


async def test_concurrent_resolutions_let_exactly_one_win(queue: ModerationQueue) -> None:
    report = make_report(1)
    await queue.submit(report)
    results = await asyncio.gather(
        *(queue.resolve(report.report_id, dismiss()) for _ in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, AlreadyResolved) for r in results) == 4


async def test_purge_deletes_resolved_reports_after_retention(
    queue: ModerationQueue, clock: Clock
) -> None:
    old, recent, still_open = make_report(1), make_report(2), make_report(3)
    for report in (old, recent, still_open):
        await queue.submit(report)
    await queue.resolve(old.report_id, dismiss(at=clock.now - 10_000))
    await queue.resolve(recent.report_id, dismiss(at=clock.now - 10))
    assert await queue.purge_resolved(older_than_ms=1000) == 1
    assert await queue.get(old.report_id) is None
    assert await queue.get(recent.report_id) is not None
    assert await queue.get(still_open.report_id) is not None


async def test_reports_survive_a_restart(context: Contexts) -> None:
    first = SqliteQueue(context())
    await first.start()
    report = make_report(1)
    await first.submit(report)
    await first.close()
    second = SqliteQueue(context())
    await second.start()
    try:
        assert await second.get(report.report_id) == report
    finally:
        await second.close()


async def test_intake_classifies_and_submits(queue: ModerationQueue, builtin_plugins: None) -> None:
    classifiers = load_classifiers(["crisis_language"], {})
    urgent = await file_report(queue, classifiers, new_report(1, content="I want to die"))
    calm = await file_report(queue, classifiers, new_report(2))
    assert urgent.priority is Priority.URGENT
    assert calm.priority is Priority.NORMAL
    assert [r.report_id for r in await queue.list()] == [urgent.report_id, calm.report_id]


def test_unknown_settings_are_refused(context: Contexts) -> None:
    with pytest.raises(SettingsError) as raised:
        SqliteQueue(context(colour="blue"))
    assert raised.value.key == "colour"


async def test_an_unstarted_queue_says_so(context: Contexts) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        await SqliteQueue(context()).get("x")


async def test_two_nodes_on_one_postgresql_share_reports_and_decide_each_once(
    context: Contexts, pg_url: str
) -> None:
    nodes = [PostgresQueue(replace(context(), database_url=pg_url)) for _ in range(2)]
    await asyncio.gather(*(node.start() for node in nodes))  # both make the table at once
    try:
        report = make_report(1)
        await nodes[0].submit(report)
        assert await nodes[1].list() == [report]
        # the same member's report of the same message, through the other node: refused
        with pytest.raises(DuplicateReport):
            await nodes[1].submit(make_report(1))
        outcomes = await asyncio.gather(
            *(node.resolve(report.report_id, dismiss()) for node in nodes), return_exceptions=True
        )
        assert sum(isinstance(o, AlreadyResolved) for o in outcomes) == 1
        stored = await nodes[0].get(report.report_id)
        assert stored is not None
        assert stored.state is ReportState.RESOLVED
    finally:
        for node in nodes:
            await node.close()


def test_the_postgres_backend_refuses_to_start_without_a_url(context: Contexts) -> None:
    with pytest.raises(PluginError, match="PostgreSQL URL"):
        PostgresQueue(context())


def test_the_postgres_backend_is_installed(context: Contexts, pg_url: str) -> None:
    assert type(load_backend("postgres", replace(context(), database_url=pg_url))) is PostgresQueue
