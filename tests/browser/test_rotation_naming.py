"""At the epoch's cap the server asks one page to rotate, and that page commits (docs/protocol.md,
"Who rotates"): the others hear nothing and do no work."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SAFETY
from tests.browser.steps import Pages, epoch_of, expect_message, keyed_member, open_room, send
from tests.conftest import RunningServer, free_port

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """As the browser conftest's, with an epoch cap of 3 messages at any age, and nobody named
    a second time within the test."""
    caps = (
        "[groups]\nepoch_max_messages = 3\nepoch_messages_per_member = 1\n"
        "epoch_min_minutes = 0\nrotator_wait_seconds = 60\n"
    )
    server = RunningServer(tmp_path_factory.mktemp("hearth"), free_port(), SAFETY + caps)
    server.add_facilitator()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def asks_heard(page: Any) -> list[str]:
    """The rotation.needed frames this page's websocket will receive (from its next load on)."""
    heard: list[str] = []

    def watch(ws: Any) -> None:
        ws.on(
            "framereceived",
            lambda frame: heard.append(frame) if "rotation.needed" in str(frame) else None,
        )

    page.on("websocket", watch)
    return heard


def test_only_the_named_page_rotates_at_the_cap(pages: Pages) -> None:
    console, invite = open_room(pages, "Named rotator")
    one = keyed_member(pages, invite, "Calm Heron")
    two = keyed_member(pages, invite, "Bright Wren")
    expect(console.locator("#epoch")).to_contain_text("Epoch 3")  # both joins committed
    before = epoch_of(console)
    console.context.close()  # no facilitator online: one of the members is named
    heard = {"one": asks_heard(one), "two": asks_heard(two)}
    for page in (one, two):
        page.reload()
        page.get_by_role("button", name="Named rotator").click()
        expect(page.locator("#compose")).to_be_visible()
    for n in range(4):  # three fill the epoch; the fourth waits for the named page's commit
        send(one, f"message {n}")
    expect_message(two, "message 3")
    expect_message(one, "message 3")
    two.wait_for_timeout(1500)  # time for any further ask to arrive
    one.wait_for_timeout(100)
    assert len(heard["one"]) + len(heard["two"]) == 1, heard
    with sqlite3.connect(pages.server.database) as db:
        (epoch,) = db.execute("SELECT current_epoch FROM groups").fetchone()
    assert epoch == before + 1  # one commit, by the named page
