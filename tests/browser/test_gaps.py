"""The page keeps every message: however many broadcasts it missed, it fetches them all."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from crypto.encoding import b64encode
from server.client import HearthClient
from tests.browser.conftest import SAFETY
from tests.browser.steps import (
    Pages,
    expect_message,
    keyed_member,
    open_room,
    screenshot,
    shown_message_ids,
)
from tests.conftest import RunningServer, free_port

pytestmark = pytest.mark.browser

# More than the 20 pages of 50 that the page used to fetch at most to fill one gap.
MISSED = 1_100


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """As the browser conftest's, with room for one member to send MISSED messages at once."""
    limits = SAFETY.replace("message_burst = 500", f"message_burst = {MISSED + 50}")
    limits += "[groups]\nepoch_max_messages = 5000\n"  # one epoch, so the page never rotates
    server = RunningServer(tmp_path_factory.mktemp("hearth"), free_port(), extra_config=limits)
    server.add_facilitator()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class MutingLink:
    """A websocket route that, while ``muted``, drops every broadcast of messages to the page (as
    when a server process falls behind on its Redis channel, or a phone's tab sleeps)."""

    def __init__(self) -> None:
        self.muted = False
        self.dropped = 0

    def __call__(self, ws: Any) -> None:
        server = ws.connect_to_server()

        def to_page(message: str | bytes) -> None:
            if (
                self.muted
                and isinstance(message, str)
                and message.startswith(('42["msg.batch"', '42["msg"'))
            ):
                self.dropped += 1
                return
            ws.send(message)

        server.on_message(to_page)
        ws.on_message(server.send)


def _talk(server: RunningServer, token: str, steps: dict[str, threading.Event]) -> dict[str, Any]:
    """A Python member that says one line, then MISSED lines, then a last one, on cue."""
    result: dict[str, Any] = {}

    async def talk() -> None:
        client = HearthClient(server.url, hybrid=True)  # the page made a hybrid group
        await client.connect()
        try:
            group_id, _ = await client.join(token, pseudonym="Busy Bee")
            await client.wait_for(lambda: client.keys[group_id].current > 0)
            result["group_id"] = group_id
            await client.send(group_id, "before the gap")
            await asyncio.to_thread(steps["muted"].wait, 60)
            for n in range(1, MISSED + 1):
                await client.send(group_id, f"missed line {n}")
            steps["sent"].set()
            await asyncio.to_thread(steps["unmuted"].wait, 60)
            await client.send(group_id, "after the gap")
        except Exception as error:  # reported by the test's assertions
            result["error"] = repr(error)
        finally:
            steps["sent"].set()
            await client.disconnect()

    threading.Thread(target=lambda: asyncio.run(talk()), daemon=True).start()
    return result


def test_a_gap_of_any_length_is_fetched_whole(pages: Pages, tmp_path: Path) -> None:
    _, invite = open_room(pages, "Busy room")
    link = MutingLink()
    reader = keyed_member(pages, invite, "Steady Wren", socket=link)
    steps = {name: threading.Event() for name in ("muted", "sent", "unmuted")}
    fragment = dict(part.split("=", 1) for part in invite.split("&"))
    token = (
        f"{fragment['invite']}.{fragment['key']}.{fragment['anchor']}"  # the Python client's form
    )
    result = _talk(pages.server, token, steps)
    expect_message(reader, "before the gap")

    link.muted = True
    steps["muted"].set()
    deadline = time.monotonic() + 180  # a busy machine sends a thousand messages slowly
    while not steps["sent"].is_set():
        assert time.monotonic() < deadline, "the missed lines were not sent in time"
        reader.wait_for_timeout(50)
    assert "error" not in result, result["error"]
    expect_message(reader, "missed line", 0)
    link.muted = False
    steps["unmuted"].set()

    expect_message(reader, "after the gap")
    assert link.dropped > 0
    # What the page shows is exactly what the server stored, in order.
    with sqlite3.connect(pages.server.database) as db:
        stored = [
            b64encode(row[0])
            for row in db.execute(
                "SELECT msg_id FROM messages WHERE group_id = ? ORDER BY seq",
                (result["group_id"],),
            )
        ]
    assert len(stored) == MISSED + 2
    deadline = time.monotonic() + 60  # the last pages may still be on their way
    while settled_ids(reader) != stored and time.monotonic() < deadline:
        reader.wait_for_timeout(500)
    assert shown_message_ids(reader) == stored
    expect(reader.locator("#messages li.gap")).to_have_count(0)
    screenshot(reader, tmp_path / "gap-filled.png")


def settled_ids(page: Any) -> list[str] | None:
    """The shown ids, or None while pages of the gap are still being put in above the rows the
    read scrolls through (the window then keeps the rows in view and lets the far ones go)."""
    try:
        return shown_message_ids(page)
    except PlaywrightError as error:
        if "the window skipped rows" not in str(error):
            raise
        return None


# Drives gaps.js against a fake history of seqs 1..N (only the history is fake; Gaps is real).
GAPS_SCRIPT = """async ({ total, received, failAt }) => {
  const { Gaps } = await import('/js/gaps.js');
  const gaps = new Gaps();
  for (const seq of received) gaps.note('g', seq);
  const opened = gaps.list('g');
  let calls = 0;
  const fetchPage = async (before, limit) => {
    calls += 1;
    if (calls === failAt) throw new Error('offline');
    const seqs = [];
    for (let s = before - 1; s >= 1 && seqs.length < limit; s--) seqs.push(s);
    for (const seq of seqs) gaps.note('g', seq);
    return { messages: seqs.map((seq) => ({ seq })), more: seqs.length > 0 && seqs.at(-1) > 1 };
  };
  let failed = false;
  try { await gaps.fill('g', fetchPage); } catch { failed = true; }
  const afterFailure = gaps.list('g');
  await gaps.fill('g', fetchPage);
  return { opened, failed, afterFailure, left: gaps.list('g'), calls };
}"""


def test_gaps_stay_open_until_fetched_and_every_one_is_filled(crypto_page: Any) -> None:
    outcome = crypto_page.evaluate(
        GAPS_SCRIPT, {"total": 1000, "received": [1, 2, 3, 600, 601, 1000], "failAt": 2}
    )
    # Two gaps opened by the jumps in seq; history pages are never counted as jumps.
    assert outcome["opened"] == [{"after": 3, "before": 600}, {"after": 601, "before": 1000}]
    # A fetch failed: the gap it was filling stays open from where it had got to.
    assert outcome["failed"]
    assert outcome["afterFailure"] == [{"after": 3, "before": 600}, {"after": 601, "before": 800}]
    assert outcome["left"] == []
    # 398 + 596 missing seqs in pages of 200, one failed call and none wasted on held seqs.
    assert outcome["calls"] == 2 + 1 + 3
