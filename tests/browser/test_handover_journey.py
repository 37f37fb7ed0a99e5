"""Companion groups in the browser (docs/protocol.md §6.10): two facilitators share a group; one
hands over with a note the other reads and a member cannot; a member asks privately from the
crisis check and only the facilitators read it, one of them taking it ("I'll take this") in
view of the other; removing a facilitator rotates both the group and the notes, and the
removed one holds the keys of neither afterwards. No frame a page sends and nothing in the
database holds what was written."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.axe import expect_accessible
from tests.browser.steps import (
    Pages,
    epoch_of,
    expect_message,
    keyed_member,
    open_room,
    unlabelled_controls,
    wait_until,
)
from tests.browser.test_cofacilitation_journey import log_in
from tests.browser.test_console_workspace import Frames

pytestmark = pytest.mark.browser

NOTE = "Quiet Fox disclosed self-harm on Tuesday, check in"
LATER_NOTE = "Written after bob stepped away from the group"
CRISIS = "I want to end my life tonight"
REPLY = "I am here with you, Loud Jay"


def record_of(page: Any, group_id: str) -> dict[str, Any]:
    """What this browser holds for a group: the epochs it can open, and its companion tie."""
    return dict(
        page.evaluate(
            """async (id) => {
                const store = await import('/js/keystore.js');
                const record = await store.group(id);
                return { latest: record?.latest ?? 0, epochs: Object.keys(record?.epochs || {}) };
            }""",
            group_id,
        )
    )


def companion_ids(page: Any, kind: str) -> list[str]:
    return list(
        page.evaluate(
            """async (kind) => {
                const store = await import('/js/keystore.js');
                const records = await store.groups();
                return records.filter((r) => r.companion?.kind === kind).map((r) => r.id);
            }""",
            kind,
        )
    )


def test_notes_and_private_requests_reach_the_facilitators_only(pages: Pages) -> None:
    frames = Frames()
    alice, invite = open_room(pages, "Tuesday circle")
    frames.watch(alice)
    group_id = alice.evaluate("document.querySelector('#groups button').dataset.group")
    pages.server.add_facilitator("bob")
    bob = log_in(pages, "bob")
    frames.watch(bob)
    alice.fill("#cofac-username", "bob")
    alice.click("#cofac-add-form button[type=submit]")
    bob.get_by_label("Your name in Tuesday circle").fill("Host Birch")
    bob.get_by_role("button", name="Join Tuesday circle as a facilitator").click()
    alice.locator("#requests li", has_text="Host Birch").get_by_role(
        "button", name="Approve Host Birch"
    ).click()
    alice.click("#confirm-yes")
    expect(alice.locator("#members li", has_text="Host Birch")).to_contain_text("Facilitator")
    ana = keyed_member(pages, invite, "Loud Jay")
    frames.watch(ana)
    ana.reload()  # from now on her frames are watched too
    ana.get_by_role("button", name="Tuesday circle").click()
    expect(ana.locator("#compose")).to_be_visible()

    # The notes: made by the first console that finds none, bob admitted by one, then rotated.
    expect(bob.locator("#groups")).to_contain_text("Tuesday circle")
    bob.locator("#groups button").click()
    alice.reload()
    expect(alice.locator("#connection")).to_have_text("Connected")
    alice.locator("#groups button").click()
    for console in (alice, bob):
        expect(console.locator("#notes-form")).to_be_visible()
    alice.fill("#notes-text", NOTE)
    alice.click("#notes-send")
    note = bob.locator("#notes-list li.message", has_text=NOTE)
    expect(note).to_be_visible()
    expect(note.locator(".who")).not_to_have_text("You")
    expect(note.locator("time")).not_to_have_text("")
    expect(alice.locator("#notes-list li.message", has_text=NOTE)).to_be_visible()
    expect_accessible(bob, "console group view with hand-over notes")
    assert unlabelled_controls(bob) == []
    [notes_id] = companion_ids(alice, "notes")

    # The member has no notes and no key to them; her page shows no notes.
    assert companion_ids(ana, "notes") == []
    assert record_of(ana, notes_id)["latest"] == 0
    expect(ana.locator("body")).not_to_contain_text(NOTE)

    # She writes crisis words in the group; the crisis check offers to ask privately.
    ana.fill("#compose-text", CRISIS)
    ana.press("#compose-text", "Enter")
    expect(ana.locator("#crisis-check")).to_be_visible()
    expect_accessible(ana, "crisis check with 'ask a facilitator privately'")
    ana.locator("#crisis-check").get_by_role("button", name="Ask a facilitator privately").click()
    expect(ana.locator("#chat-title")).to_have_text("Private request: Tuesday circle")
    expect(ana.locator("#compose-text")).to_have_value(CRISIS)
    expect(ana.locator("#compose")).to_be_visible(timeout=30_000)
    ana.press("#compose-text", "Enter")
    expect(ana.locator("#crisis-check")).to_be_visible()
    ana.locator("#crisis-check").get_by_role("button", name="Send my message").click()
    expect_message(ana, CRISIS)
    expect_accessible(ana, "a member's private request")

    # Both facilitators see it waiting; alice takes it, bob sees that she does.
    for console in (alice, bob):
        expect(console.locator("#attention-items")).to_contain_text("Loud Jay asks privately")
        expect(console.locator("#asks-list")).to_contain_text("Nobody is handling this yet")
    assert re.match(r"^\(\d", alice.title())
    alice.get_by_role(
        "button", name="I'll take this: Loud Jay's private request in Tuesday circle"
    ).click()
    expect(alice.locator("#asks-list")).to_contain_text("You are handling this")
    expect(bob.locator("#asks-list")).to_contain_text("alice is handling this")
    alice.get_by_role("button", name="Open Loud Jay's private request in Tuesday circle").click()
    expect(alice.locator("#ask-messages")).to_contain_text(CRISIS)
    bob.get_by_role("button", name="Open Loud Jay's private request in Tuesday circle").click()
    expect(bob.locator("#ask-messages")).to_contain_text(CRISIS)
    expect_accessible(alice, "console with a private request open")
    assert unlabelled_controls(alice) == []
    alice.fill("#ask-text", REPLY)
    alice.click("#ask-send")
    expect_message(ana, REPLY)

    # Removing bob rotates the group and the notes; bob keeps neither's new keys.
    group_before = epoch_of(alice)
    notes_before = record_of(alice, notes_id)["latest"]
    alice.locator("#members li", has_text="Host Birch").get_by_role(
        "button", name="Remove Host Birch"
    ).click()
    alice.click("#confirm-yes")
    expect(bob.locator("#status")).to_contain_text("no longer a facilitator of Tuesday circle")
    wait_until(alice, lambda: epoch_of(alice) > group_before, "the group rotated")
    wait_until(
        alice, lambda: record_of(alice, notes_id)["latest"] > notes_before, "the notes rotated"
    )
    alice.fill("#notes-text", LATER_NOTE)
    alice.click("#notes-send")
    expect(
        alice.locator("#notes-list li.message[data-status=sent]", has_text=LATER_NOTE)
    ).to_be_visible()
    bob.wait_for_timeout(500)
    for held, after in (
        (record_of(bob, group_id), epoch_of(alice)),
        (record_of(bob, notes_id), record_of(alice, notes_id)["latest"]),
    ):
        assert held["latest"] < after
        assert str(after) not in held["epochs"]
    expect(bob.locator("body")).not_to_contain_text(LATER_NOTE)

    # Nothing anyone wrote left a page in the clear, nor reached the database (the pages did
    # send it, sealed: alice's note and reply, ana's request).
    assert sum('"msg.send"' in frame for frame in frames.sent) >= 4
    for text in (NOTE, CRISIS, REPLY, LATER_NOTE):
        assert not any(text in frame for frame in frames.sent), text
        for path in pages.server.directory.glob("hearth.sqlite3*"):
            assert text.encode() not in path.read_bytes(), text
    assert pages.errors == []
    assert pages.foreign() == []
