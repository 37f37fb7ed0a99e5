"""A member reports another's message from the page; the facilitator sees it arrive live, verified,
and decides (hide, mute, remove); the audit log lists the decisions and `hearth audit verify`
notices a tampered row."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.steps import (
    Pages,
    expect_message,
    keyed_member,
    open_room,
    screenshot,
    send,
    unlabelled_controls,
)
from tests.conftest import hearth_cli

pytestmark = pytest.mark.browser
AUTHOR = "Loud Jay"


def report_button(page: Any, text: str) -> Any:
    row = page.locator("#messages li.message", has_text=text)
    return row.get_by_role("button", name=f"Report message from {AUTHOR}")


def report(page: Any, text: str, reason: str) -> None:
    report_button(page, text).click()
    dialog = page.locator("#report-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#report-quote")).to_have_text(text)
    page.fill("#report-reason", reason)
    page.click("#report-send")
    expect(dialog).to_be_hidden()


def open_report(console: Any, text: str) -> None:
    console.locator("#reports li", has_text=text).get_by_role(
        "button", name=re.compile("^Open")
    ).click()
    expect(console.locator("#report-content")).to_have_text(text)


def back_to_queue(console: Any) -> None:
    console.click("#report-back")
    expect(console.locator("#queue")).to_be_visible()


def test_report_hide_mute_remove_and_the_audit_chain(pages: Pages, tmp_path: Path) -> None:
    console, invite = open_room(pages, "Report room")
    loud = keyed_member(pages, invite, AUTHOR)
    kind = keyed_member(pages, invite, "Kind Owl", width=390, height=844)
    expect(console.locator("#members li")).to_have_count(3)
    expect(console.locator("#epoch")).to_contain_text("Epoch 3")

    for n in (1, 2, 3, 4):
        send(loud, f"rude line {n}")
    for n in (1, 2, 3, 4):
        expect_message(kind, f"rude line {n}")
    expect(loud.locator("#messages li .report")).to_have_count(0)  # never one's own messages

    console.click("#group-reports")  # the queue, filtered to this group
    expect(console.locator("#queue")).to_be_visible()
    expect(console.locator("#queue-group option:checked")).to_have_text("Report room")
    expect(console.locator("#no-reports")).to_be_visible()

    # The report action is reachable by keyboard, labelled, with a visible focus ring.
    kind.focus("#messages")
    kind.keyboard.press("Tab")
    focused = kind.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == f"Report message from {AUTHOR}"
    assert kind.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    kind.keyboard.press("Enter")
    expect(kind.locator("#report-dialog")).to_be_visible()
    assert kind.evaluate("document.activeElement.id") == "report-reason"
    kind.keyboard.type("Rude to everyone")
    kind.keyboard.press("Tab")
    assert kind.evaluate("document.activeElement.id") == "report-send"
    kind.keyboard.press("Enter")
    expect(kind.locator("#status")).to_contain_text("Report sent")
    expect(kind.locator("#messages li.message", has_text="rude line 1")).to_contain_text(
        "You reported"
    )

    # It arrives live, verified, and is announced.
    expect(console.locator("#reports li")).to_have_count(1)
    expect(console.locator("#reports li").first).to_contain_text("Verified")
    expect(console.locator("#queue-live")).to_contain_text("New report in Report room")

    report(kind, "rude line 2", "this could push someone to an overdose")  # crisis words
    expect(console.locator("#queue-live")).to_contain_text("Urgent report in Report room")
    report(kind, "rude line 3", "Keeps going")
    report(kind, "rude line 4", "")
    expect(console.locator("#reports li")).to_have_count(4)
    first = console.locator("#reports li").first
    expect(first).to_have_attribute("data-priority", "urgent")  # urgent on top
    expect(first).to_contain_text("rude line 2")
    assert kind.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(console, tmp_path / "queue.png")

    # A second report of one message is refused as such (the page forgot it after a reload).
    kind.reload()
    kind.locator("#group-list button").first.click()
    expect_message(kind, "rude line 1")
    report(kind, "rude line 1", "again")
    expect(kind.locator("#status")).to_contain_text("already reported")
    assert unlabelled_controls(kind) == []

    # The detail: verified text, reason, and the messages around it decrypted with own keys.
    open_report(console, "rude line 1")
    expect(console.locator("#report-verified")).to_contain_text("Verified")
    expect(console.locator("#report-reason")).to_have_text("Rude to everyone")
    expect(console.locator("#report-sender")).to_have_text(AUTHOR)
    expect(console.locator("#context li.reported")).to_contain_text("rude line 1")
    expect(console.locator("#context")).to_contain_text("rude line 3")
    expect(console.locator("#context-note")).to_contain_text("this browser")
    assert unlabelled_controls(console) == []
    screenshot(console, tmp_path / "report.png")
    console.set_viewport_size({"width": 390, "height": 844})  # the detail fits a small screen
    assert console.evaluate("document.documentElement.scrollWidth") <= 390
    console.set_viewport_size({"width": 1000, "height": 800})

    console.click("#actions [data-action=hide_message]")
    expect(console.locator("#report-state")).to_contain_text("Message hidden")
    expect(console.locator("#actions")).to_be_hidden()
    for page in (kind, loud):
        expect_message(page, "rude line 1", 0)
    expect(kind.locator("#messages li .deleted")).to_have_text("(message removed)")
    expect(loud.locator("#messages li .deleted")).to_contain_text("removed by a facilitator")

    back_to_queue(console)
    expect(console.locator("#reports li")).to_have_count(3)
    open_report(console, "rude line 4")
    expect(console.locator("#report-reason")).to_have_text("(no reason given)")
    console.fill("#act-note", "Please keep it kind.")
    console.click("#actions [data-action=warn]")
    expect(console.locator("#report-state")).to_contain_text("Member warned")
    expect(loud.locator("#notice")).to_contain_text(
        "A facilitator warned you: Please keep it kind."
    )
    expect(kind.locator("#notice")).to_be_hidden()  # only the warned member sees it

    back_to_queue(console)
    open_report(console, "rude line 2")
    console.fill("#act-minutes", "30")
    console.click("#actions [data-action=mute]")
    expect(console.locator("#report-state")).to_contain_text("Member muted")
    expect(loud.locator("#notice")).to_contain_text(re.compile(r"muted in this group until \d"))
    # The composer is closed with the reason until the mute ends (test_mute_journey.py).
    expect(loud.locator("#compose-text")).to_be_disabled()
    expect(loud.locator("#compose-hint")).to_contain_text(
        re.compile(r"muted in this group until \d")
    )
    screenshot(loud, tmp_path / "muted.png")

    back_to_queue(console)
    open_report(console, "rude line 3")
    console.click("#actions [data-action=remove_member]")
    expect(console.locator("#confirm")).to_be_visible()
    console.click("#confirm-yes")
    expect(console.locator("#report-state")).to_contain_text("Member removed")
    expect(loud.locator("#chat-note")).to_contain_text("no longer in this group")

    # After the rotation the other member keeps chatting; the removed one receives nothing.
    console.click("#report-back")
    console.click("#queue-back")
    console.locator("#groups li", has_text="Report room").get_by_role("button").click()
    expect(console.locator("#epoch")).to_contain_text("Epoch 4")
    expect(console.locator("#members li")).to_have_count(2)
    send(kind, "still here after the removal")
    expect(kind.locator("#messages li.mine[data-status=sent]")).to_have_count(1)
    expect_message(loud, "still here after the removal", 0)

    audit = console.locator("#audit li")
    expect(audit).to_have_count(4)
    expect(audit.nth(0)).to_contain_text("Removed a member")
    expect(audit.nth(1)).to_contain_text("Muted a member")
    expect(audit.nth(2)).to_contain_text("Warned a member")
    expect(audit.nth(2)).to_contain_text("Please keep it kind.")
    expect(audit.nth(3)).to_contain_text("Hid a message")
    expect(console.locator("#audit")).to_contain_text(AUTHOR)
    screenshot(console, tmp_path / "audit.png")

    server = pages.server
    verified = hearth_cli("audit", "verify", config=server.config_path)
    assert verified.returncode == 0, verified.stderr
    with sqlite3.connect(server.database) as conn:
        conn.execute(
            "UPDATE audit_log SET actor = 'mallory' WHERE seq = (SELECT MIN(seq) FROM audit_log)"
        )
    tampered = hearth_cli("audit", "verify", config=server.config_path)
    assert tampered.returncode == 1
    assert "broken" in tampered.stderr
    # The new views (queue, report, audit log) fetched nothing from another host either.
    assert pages.foreign() == []


def test_dismiss_keeps_the_message_and_a_ban_ends_the_account(pages: Pages, tmp_path: Path) -> None:
    console, invite = open_room(pages, "Ban room")
    loud = keyed_member(pages, invite, AUTHOR)
    kind = keyed_member(pages, invite, "Gentle Moth")
    for text in ("a clumsy joke", "buy cheap pills here"):
        send(loud, text)
        expect_message(kind, text)
    report(kind, "a clumsy joke", "Not sure about this")
    report(kind, "buy cheap pills here", "Spam")

    console.click("#group-reports")
    expect(console.locator("#reports li")).to_have_count(2)
    open_report(console, "a clumsy joke")
    console.click("#actions [data-action=dismiss]")
    expect(console.locator("#report-state")).to_contain_text("Dismissed")
    expect(console.locator("#actions")).to_be_hidden()
    expect_message(kind, "a clumsy joke")  # dismissing changes nothing for the members
    expect_message(loud, "a clumsy joke")

    back_to_queue(console)
    expect(console.locator("#reports li")).to_have_count(1)
    console.select_option("#queue-state", "resolved")
    expect(console.locator("#reports li")).to_have_count(1)
    expect(console.locator("#reports li").first).to_contain_text("a clumsy joke")
    console.select_option("#queue-state", "open")
    expect(console.locator("#reports li")).to_have_count(1)

    open_report(console, "buy cheap pills here")
    console.click("#actions [data-action=ban_account]")
    expect(console.locator("#confirm")).to_contain_text("Ban")
    console.click("#confirm-yes")
    expect(console.locator("#report-state")).to_contain_text("Account banned")
    expect(loud.locator("#chat-note")).to_contain_text("no longer in this group")
    screenshot(console, tmp_path / "banned.png")

    # The server ended the connection; the page says why rather than "reconnecting" forever.
    expect(loud.locator("#connection")).to_contain_text("banned")
    loud.reload()  # and the banned account cannot come back
    expect(loud.locator("#connection")).to_contain_text("banned")
    send(kind, "after the ban")
    expect(kind.locator("#messages li.mine[data-status=sent]")).to_have_count(1)

    console.click("#report-back")
    console.click("#queue-back")
    console.locator("#groups li", has_text="Ban room").get_by_role("button").click()
    expect(console.locator("#members li")).to_have_count(2)
    audit = console.locator("#audit li")
    expect(audit.nth(0)).to_contain_text("Banned")
    expect(audit.nth(1)).to_contain_text("Dismissed")
