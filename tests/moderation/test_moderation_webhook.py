"""The webhook backend against a real HTTP receiver that is down, then slow, then up, with the
queue closed and rebuilt from the same database file between phases (a server restart)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from moderation.backends.webhook import WebhookQueue, sign
from moderation.errors import SettingsError
from moderation.queue import BackendContext
from moderation.reports import Report
from tests.conftest import free_port
from tests.moderation.conftest import dismiss, make_report

SECRET = bytes(range(32))


@dataclass
class Receiver:
    """An organisation's endpoint that verifies signatures and dedupes on X-Hearth-Delivery."""

    port: int
    mode: str = "up"  # "up" or "slow"
    delay: float = 0.5
    requests: int = 0
    bad_signatures: int = 0
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/hearth"

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        timestamp = request.headers["X-Hearth-Timestamp"]
        expected = (
            "sha256="
            + hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        )
        if not hmac.compare_digest(expected, request.headers["X-Hearth-Signature"]):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.mode == "slow":
            await asyncio.sleep(self.delay)  # past the client's timeout; processed anyway
        delivery = request.headers["X-Hearth-Delivery"]
        if delivery not in self.accepted:  # the dedupe every receiver should do
            self.accepted[delivery] = json.loads(body)
            self.order.append(delivery)
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/hearth", self.handle)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(free_port())
    yield r
    await r.stop()


def webhook_context(path: Path, url: str) -> BackendContext:
    settings = {
        "url": url,
        "secret": SECRET.hex(),
        "timeout_seconds": 0.2,
        "backoff_base_seconds": 0.02,
        "backoff_max_seconds": 0.1,
        "jitter": 0.5,
    }
    return BackendContext(path, settings, lambda: int(time.time() * 1000), b"k" * 32)


async def until(condition: Any, within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def started(path: Path, url: str) -> WebhookQueue:
    queue = WebhookQueue(webhook_context(path, url))
    await queue.start()
    return queue


async def test_every_event_arrives_once_through_outage_slowness_and_restarts(
    tmp_path: Path, receiver: Receiver
) -> None:
    db = tmp_path / "hearth.sqlite3"
    reports: list[Report] = []

    # Down: nothing listens on the port; events wait in the outbox.
    queue = await started(db, receiver.url)
    for n in range(3):
        reports.append(make_report(n))
        await queue.submit(reports[-1])
    await queue.resolve(reports[0].report_id, dismiss())
    await asyncio.sleep(0.3)  # several failed attempts with backoff
    assert await queue.pending() == 4
    await queue.close()

    # Slow: the receiver answers after the client's timeout, so each try counts as failed.
    receiver.mode = "slow"
    await receiver.start()
    queue = await started(db, receiver.url)
    for n in range(3, 5):
        reports.append(make_report(n))
        await queue.submit(reports[-1])

    async def slow_requests_seen() -> bool:
        return receiver.requests >= 3

    await until(slow_requests_seen)
    await queue.close()
    assert receiver.accepted  # the receiver processed late requests the client gave up on

    # Up: everything is delivered, duplicates are only ever re-sends of one delivery id.
    receiver.mode = "up"
    queue = await started(db, receiver.url)
    reports.append(make_report(5, about_facilitator=True, duplicate_key=b"\x5a" * 32))
    await queue.submit(reports[-1])

    async def outbox_empty() -> bool:
        return await queue.pending() == 0

    await until(outbox_empty)
    await queue.close()

    expected = {r.report_id for r in reports} | {reports[0].report_id + ".resolved"}
    assert set(receiver.accepted) == expected
    assert len(receiver.order) == len(expected)
    assert receiver.requests > len(expected)  # there were re-sends, and the dedupe absorbed them
    assert receiver.bad_signatures == 0
    for report in reports:
        event = receiver.accepted[report.report_id]
        assert event["type"] == "report.created"
        assert Report.from_json(event["report"]) == report
        # the organisation is told a report is about a facilitator, never who reported
        assert event["report"]["about_facilitator"] is report.about_facilitator
        assert not {"reporter_id", "duplicate_key"} & set(event["report"])
        assert "5a" * 32 not in json.dumps(event)
        assert "Wlpa" not in json.dumps(event)  # base64 of the key's bytes
    resolved = receiver.accepted[reports[0].report_id + ".resolved"]
    assert resolved["type"] == "report.resolved"
    assert resolved["decision"]["action"] == "dismiss"
    assert "content" not in json.dumps(resolved)
    # FIFO: a resolution never overtakes the report it resolves.
    assert receiver.order.index(reports[0].report_id) < receiver.order.index(
        reports[0].report_id + ".resolved"
    )


async def test_reports_stay_listable_and_resolvable_locally(
    tmp_path: Path, receiver: Receiver
) -> None:
    await receiver.start()
    queue = await started(tmp_path / "h.sqlite3", receiver.url)
    try:
        report = make_report(1)
        await queue.submit(report)
        await queue.submit(report)  # idempotent: no second event either
        assert await queue.list() == [report]
        resolved = await queue.resolve(report.report_id, dismiss())
        assert await queue.get(report.report_id) == resolved

        async def delivered() -> bool:
            return len(receiver.accepted) == 2

        await until(delivered)
        assert receiver.requests == 2
    finally:
        await queue.close()


def test_signature_is_hmac_of_timestamp_dot_body() -> None:
    body = b'{"type":"report.created"}'
    expected = hmac.new(b"key", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(b"key", "1700000000", body) == "sha256=" + expected


def test_the_server_derived_secret_is_the_default_key(tmp_path: Path) -> None:
    context = BackendContext(tmp_path / "h", {"url": "https://x.example"}, int, b"d" * 32)
    assert WebhookQueue(context)._key == b"d" * 32


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({}, "url"),
        ({"url": "ftp://x.example"}, "url"),
        ({"url": "https://x.example", "secret": "abcd"}, "secret"),
        ({"url": "https://x.example", "timeout_seconds": -1}, "timeout_seconds"),
        ({"url": "https://x.example", "retries": 3}, "retries"),
    ],
)
def test_bad_settings_name_their_key(tmp_path: Path, settings: dict[str, Any], key: str) -> None:
    with pytest.raises(SettingsError) as raised:
        WebhookQueue(BackendContext(tmp_path / "h", settings, int, b"d" * 32))
    assert raised.value.key == key


def test_backoff_grows_and_is_capped(tmp_path: Path) -> None:
    settings = {"url": "https://x.example", "backoff_base_seconds": 1, "jitter": 0}
    queue = WebhookQueue(BackendContext(tmp_path / "h", settings, int, b"d" * 32))
    assert [queue.delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert queue.delay(100) == 300
