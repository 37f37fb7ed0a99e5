"""The conversation is rendered incrementally and windowed (timeline.js), and new messages from
others are said to screen readers (arrivals.js), in Chromium with a real server and members."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from bench.page import Member
from tests.browser.axe import expect_accessible
from tests.browser.conftest import SAFETY
from tests.browser.steps import (
    HoldingLink,
    Pages,
    expect_message,
    keyed_member,
    open_room,
    send,
    shown_message_ids,
)
from tests.conftest import RunningServer, free_port

pytestmark = pytest.mark.browser

LONG = 2_000


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """As the browser conftest's, with room for one member to send LONG messages at once."""
    limits = SAFETY.replace("message_burst = 500", f"message_burst = {LONG + 200}")
    limits += "[groups]\nepoch_max_messages = 10000\n"  # one epoch: no rotation meanwhile
    server = RunningServer(tmp_path_factory.mktemp("hearth"), free_port(), extra_config=limits)
    server.add_facilitator()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def python_member(pages: Pages, invite: str) -> Member:
    fragment = dict(part.split("=", 1) for part in invite.split("&"))
    member = Member(pages.server)
    member.join(f"{fragment['invite']}.{fragment['key']}.{fragment['anchor']}")
    return member


# Counts what changes in the list: nodes added and removed (a subtree counts once, as the page
# builds a row before putting it in), attributes and text changed anywhere below it.
OBSERVE = """(box) => {
  window.__touched = 0;
  new MutationObserver((records) => {
    for (const r of records) {
      window.__touched += r.type === 'childList' ? r.addedNodes.length + r.removedNodes.length : 1;
    }
  }).observe(box, { childList: true, subtree: true, attributes: true, characterData: true });
}"""


COUNT_CHANGES = """(box) => {
  window.__added = 0;
  window.__removed = 0;
  new MutationObserver((records) => {
    for (const r of records) {
      window.__added += r.addedNodes.length;
      window.__removed += r.removedNodes.length;
    }
  }).observe(box, { childList: true, subtree: true });
}"""
# Where a message's row is in the list's view (px from its top).
OFFSET = """(box, id) => {
  const row = box.querySelector(`li[data-msg="${id}"]`);
  return row.getBoundingClientRect().top - box.getBoundingClientRect().top;
}"""
# Scrolls the list to its top (which asks for the older page) and says where the message is then.
SCROLL_TO_TOP = """(box, id) => {
  box.scrollTop = 0;
  const row = box.querySelector(`li[data-msg="${id}"]`);
  return row.getBoundingClientRect().top - box.getBoundingClientRect().top;
}"""


def touched_by_arrivals(page: Any, member: Member, rounds: int) -> list[int]:
    """Nodes touched in the list by each of `rounds` messages from another member."""
    counts = []
    for n in range(rounds):
        page.evaluate("() => { window.__touched = 0; }")
        text = f"arrival probe {len(counts)} {n}"
        member.send(text)
        expect_message(page, text)
        page.wait_for_timeout(300)  # anything the page does after showing it
        counts.append(page.evaluate("() => window.__touched"))
    return counts


def touched_by_sending(page: Any, rounds: int) -> list[int]:
    """Nodes touched in the list by each of `rounds` messages sent from this page (Enter)."""
    counts = []
    for n in range(rounds):
        page.evaluate("() => { window.__touched = 0; }")
        send(page, f"own probe {n}")
        expect(page.locator("#messages li.mine[data-status=sent]", has_text=f"own probe {n}"))
        page.wait_for_timeout(300)
        counts.append(page.evaluate("() => window.__touched"))
    return counts


def test_a_new_message_touches_a_few_nodes_however_long_the_history(pages: Pages) -> None:
    _, invite = open_room(pages, "Long room")
    reader = keyed_member(pages, invite, "Steady Wren")
    member = python_member(pages, invite)
    try:
        member.send_many(50, "history")
        expect_message(reader, "history 49")
        reader.locator("#messages").evaluate(OBSERVE)
        few = touched_by_arrivals(reader, member, 3) + touched_by_sending(reader, 2)

        member.send_many(LONG - 55, "bulk")
        expect_message(reader, f"bulk {LONG - 56}", 1)
        many = touched_by_arrivals(reader, member, 3) + touched_by_sending(reader, 2)
        limit = reader.evaluate("async () => (await import('/js/timeline.js')).WINDOW")
        in_dom = reader.locator("#messages li.message").count()
        every = shown_message_ids(reader)
    finally:
        member.close()

    # A fresh visit shows the latest page; scrolled to its top, the list gets the next page above
    # it, adding rows only, and the message that was first stays where it was in the view.
    reader.reload()
    reader.locator("#group-list button").first.click()
    expect(reader.locator("#messages li.message")).to_have_count(50)
    box = reader.locator("#messages")
    oldest = box.locator("li.message").first.get_attribute("data-msg")
    box.evaluate(COUNT_CHANGES)
    before = box.evaluate(SCROLL_TO_TOP, oldest)
    expect(reader.locator("#messages li.message")).to_have_count(100)
    added, removed = box.evaluate("() => [window.__added, window.__removed]")
    changes = box.locator("li.membership-change").count()
    after = box.evaluate(OFFSET, oldest)

    # Each arrival: its row added, and with a full window the far end's row taken off. Each own
    # message: added, then built again when acknowledged (with its seq, it may move).
    assert max(few[:3] + many[:3]) <= 2, (few, many)
    assert max(few[3:] + many[3:]) <= 4, (few, many)
    # The DOM holds a window of the conversation; every message is still reached by scrolling.
    assert in_dom <= limit, in_dom
    assert len(every) == LONG + 5  # with the probes after it
    assert len(set(every)) == len(every)
    # Nothing is laid out again: the membership changes that stood above the oldest message move
    # above the older page (each taken out and put in once), and its 50 rows are added.
    assert removed <= changes
    assert added == 50 + removed
    assert after == pytest.approx(before, abs=1)
    assert box.evaluate("(box) => box.scrollTop") > 0
    print("nodes touched per message, 50 and 2,000 shown:", few, many)


def test_new_messages_from_others_are_said_politely_and_history_is_not(pages: Pages) -> None:
    _, invite = open_room(pages, "Spoken room")
    link = HoldingLink()
    reader = keyed_member(pages, invite, "Steady Wren", socket=link)
    region = reader.locator("#arrivals")
    assert region.get_attribute("aria-live") == "polite"
    assert reader.locator("#messages").get_attribute("aria-live") is None  # not the whole list
    member = python_member(pages, invite)
    try:
        member.send("hello from the bee")
        expect(region).to_have_text("Busy Bee: hello from the bee")

        send(reader, "my own words")
        expect(reader.locator("#messages li.mine[data-status=sent]")).to_have_count(1)
        reader.wait_for_timeout(500)
        expect(region).to_have_text("Busy Bee: hello from the bee")  # one's own are not said

        link.holding = True
        for n in range(6):
            member.send(f"burst line {n}")
        link.release()
        expect_message(reader, "burst line 5")
        expect(region).to_have_text("6 new messages from Busy Bee.")

        reader.reload()
        reader.locator("#group-list button").first.click()
        expect_message(reader, "burst line 5")
        reader.wait_for_timeout(700)
        expect(region).to_have_text("")  # history is not news
        member.send("after the reload")
        expect(region).to_have_text("Busy Bee: after the reload")
    finally:
        member.close()


def test_a_live_message_a_history_fetch_brought_first_is_still_said(pages: Pages) -> None:
    # The page fetches the newest history when it opens a conversation or is keyed; a message
    # sent meanwhile comes in both that reply and its broadcast, in either order. It was once
    # said only if the broadcast won (CI saw it lose).
    _, invite = open_room(pages, "Crossing room")
    link = HoldingLink()
    reader = keyed_member(pages, invite, "Modest Heron", socket=link)
    region = reader.locator("#arrivals")
    member = python_member(pages, invite)
    try:
        member.send("before the crossing")
        expect_message(reader, "before the crossing")

        link.holding = True  # the broadcast is late; the history reply is not
        member.send("crossed on the way")
        reader.locator("#back").click()
        reader.locator("#group-list button").first.click()
        expect_message(reader, "crossed on the way")  # from the history reply
        reader.wait_for_timeout(700)
        expect(region).to_have_text("")  # history is not said
        link.release()
        expect(region).to_have_text("Busy Bee: crossed on the way")

        send(reader, "and mine")  # said once: one's own are not, and nothing is said again
        expect(reader.locator("#messages li.mine[data-status=sent]")).to_have_count(1)
        reader.wait_for_timeout(700)
        expect(region).to_have_text("Busy Bee: crossed on the way")
    finally:
        member.close()


def test_new_messages_below_the_view_are_said_with_a_button_that_goes_to_them(
    pages: Pages,
) -> None:
    _, invite = open_room(pages, "Reading room")
    reader = keyed_member(pages, invite, "Careful Lynx", height=600)
    hint = reader.locator("#new-below")
    box = reader.locator("#messages")
    member = python_member(pages, invite)
    try:
        for n in range(40):
            member.send(f"earlier line {n}")
        expect_message(reader, "earlier line 39")
        expect(hint).to_be_hidden()  # following the conversation: nothing to say

        box.evaluate("(box) => { box.scrollTop = 0; }")
        member.send("while you read 1")
        member.send("while you read 2")
        expect(hint).to_have_text("2 new messages below ↓")
        assert box.evaluate("(box) => box.scrollTop") < 100  # the view was not moved
        expect_accessible(reader, "new messages below the view")

        hint.focus()
        reader.keyboard.press("Enter")
        expect(hint).to_be_hidden()
        expect(reader.locator("#messages li", has_text="while you read 2")).to_be_in_viewport()
        assert reader.evaluate("document.activeElement.id") == "messages"

        # Scrolling down oneself also clears it.
        box.evaluate("(box) => { box.scrollTop = 0; }")
        member.send("one more")
        expect(hint).to_have_text("1 new message below ↓")
        box.evaluate("(box) => { box.scrollTop = box.scrollHeight; }")
        expect(hint).to_be_hidden()
    finally:
        member.close()
