"""A newly admitted member's page ends up keyed whatever order the commit that keys it and the
page's own look at the chain arrive in, and also when the `epoch.new` that brought the commit
never reaches it (a frame lost under load, a reply refused): it looks again now and then until it
holds the keys. Both once left the page at "Approved. Waiting for the group's keys…" for good
(CI met the first)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.steps import (
    TIMEOUT,
    Pages,
    expect_message,
    keyed_member,
    member_joins,
    open_room,
    send,
    wait_until,
)

pytestmark = pytest.mark.browser


def event_of(frame: str | bytes) -> str | None:
    """The event name of a Socket.IO emit frame (``42[<id>]["name", …]``), else None."""
    if isinstance(frame, str) and (found := re.match(r"^42\d*(\[.*)$", frame, re.S)):
        return str(json.loads(found.group(1))[0])
    return None


class HoldEpochNew:
    """Between the server and a member page: every `epoch.new` to the page is held (and, with
    ``drop``, never delivered); with ``hold_lists``, the page's `epoch.list` requests wait until
    the commit has landed, and `epoch.new` reaches the page only after their replies did."""

    def __init__(self, *, drop: bool = False, hold_lists: bool = False) -> None:
        self.drop = drop
        self.hold_lists = hold_lists
        self.landed = False
        self.held_lists: list[str] = []
        self.waiting_acks: set[str] = set()
        self.held_news: list[str] = []
        self.dropped = 0
        self.sockets = 0

    def __call__(self, ws: Any) -> None:
        self.sockets += 1
        server = ws.connect_to_server()

        def to_server(frame: str | bytes) -> None:
            if self.hold_lists and event_of(frame) == "epoch.list" and isinstance(frame, str):
                ack = re.match(r"^42(\d+)", frame)
                if ack:
                    self.waiting_acks.add(ack.group(1))
                if not self.landed:
                    self.held_lists.append(frame)
                    return
            server.send(frame)

        def to_page(frame: str | bytes) -> None:
            if event_of(frame) == "epoch.new":
                self.landed = True
                if self.drop:
                    self.dropped += 1
                    return
                self.held_news.append(str(frame))
                for held in self.held_lists:
                    server.send(held)
                self.held_lists.clear()
                release()
                return
            ws.send(frame)
            if isinstance(frame, str) and (found := re.match(r"^43(\d+)", frame)):
                self.waiting_acks.discard(found.group(1))
                release()

        def release() -> None:
            # The commit reaches the page only once its own look at the chain has come back.
            if not self.waiting_acks:
                for held in self.held_news:
                    ws.send(held)
                self.held_news.clear()

        ws.on_message(to_server)
        server.on_message(to_page)


def test_a_page_that_found_its_keys_itself_says_so_and_opens_the_composer(pages: Pages) -> None:
    _console, invite = open_room(pages, "Race room")
    relay = HoldEpochNew(hold_lists=True)
    page = member_joins(pages, invite, "Patient Otter", socket=relay)
    # The page's own epoch.list keyed it; the epoch.new that follows brings nothing new.
    wait_until(page, lambda: relay.landed and not relay.held_news, "the commit reached the page")
    expect(page.locator("#compose")).to_be_visible()
    expect(page.locator("#status")).to_have_text("You are now in Race room.")


def test_a_lost_epoch_new_does_not_leave_the_member_waiting(pages: Pages) -> None:
    _console, invite = open_room(pages, "Lost room")
    relay = HoldEpochNew(drop=True)
    page = member_joins(pages, invite, "Hopeful Crane", socket=relay)
    wait_until(page, lambda: relay.dropped >= 1, "the commit was sent and lost")
    expect(page.locator("#compose")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#status")).to_have_text("You are now in Lost room.")
    assert relay.sockets == 1  # found without reconnecting


class CommitWithMessage:
    """Between the server and a member page: an `epoch.new` is held until the next message
    frame, and the two reach the page back to back, so the page takes in the commit while the
    message of its epoch is already being opened."""

    def __init__(self) -> None:
        self.held: list[str] = []
        self.paired = 0

    def __call__(self, ws: Any) -> None:
        server = ws.connect_to_server()

        def to_page(frame: str | bytes) -> None:
            event = event_of(frame)
            if event == "epoch.new":
                self.held.append(str(frame))
                return
            if event in ("msg", "msg.batch") and self.held:
                for held in self.held:
                    ws.send(held)
                self.held.clear()
                self.paired += 1
            ws.send(frame)

        ws.on_message(server.send)
        server.on_message(to_page)


# A slow device: storing an epoch's secret (sealed with AES-GCM under the device's vault key) takes
# a moment, during which the message of that epoch is opened.
SLOW_SEALING = """
const encrypt = crypto.subtle.encrypt.bind(crypto.subtle);
crypto.subtle.encrypt = async (...args) => {
  await new Promise((resolve) => setTimeout(resolve, 300));
  return encrypt(...args);
};
"""


def test_a_message_that_comes_with_the_commit_of_its_epoch_is_shown(pages: Pages) -> None:
    _console, invite = open_room(pages, "Busy room")
    relay = CommitWithMessage()
    reader = keyed_member(pages, invite, "Calm Reader", socket=relay, init_script=SLOW_SEALING)
    for n in range(3):  # each newcomer's commit comes with that newcomer's first message
        writer = keyed_member(pages, invite, f"New Writer{'s' * n}")
        send(writer, f"first words {n}")
        expect_message(reader, f"first words {n}")
    assert relay.paired >= 1
