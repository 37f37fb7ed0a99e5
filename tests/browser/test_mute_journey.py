"""A muted member understands the mute: the rule and note the facilitator gave and the end time
are shown, the composer is closed with that reason until then, and all of it comes back after a
reload (the server tells the page on connect). Phone size, keyboard only for the member."""

from __future__ import annotations

import re
import sqlite3
import time
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
)

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
RULE = "Rules of Mute room: be kind."
NOTE = "Please take a break and come back calmer."


def open_group_by_keyboard(page: Any) -> None:
    # After a reload the list is drawn before the page is ready to open a group: wait for that.
    expect(page.locator("#connection")).to_have_text("Connected")
    page.locator("#group-list button").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#chat")).to_be_visible()


def report_and_mute(console: Any, reporter: Any, text: str) -> None:
    reporter.locator("#messages li", has_text=text).get_by_role(
        "button", name=re.compile("^Report")
    ).click()
    expect(reporter.locator("#report-dialog")).to_be_visible()
    reporter.click("#report-send")
    expect(reporter.locator("#status")).to_contain_text("Report sent")
    console.click("#group-reports")
    console.locator("#reports li", has_text=text).get_by_role(
        "button", name=re.compile("^Open")
    ).click()
    expect(console.locator("#report-content")).to_have_text(text)
    console.select_option("#act-rule", RULE)
    console.fill("#act-note", NOTE)
    console.fill("#act-minutes", "30")
    console.click("#actions [data-action=mute]")
    expect(console.locator("#report-state")).to_contain_text("Member muted")


def expect_muted(page: Any, until: str) -> None:
    for where in ("#notice", "#compose-hint"):
        region = page.locator(where)
        expect(region).to_contain_text(f"You are muted in this group until {until}")
        expect(region).to_contain_text(f"Rule: “{RULE}”")
        expect(region).to_contain_text(f"Facilitator's note: “{NOTE}”")
    expect(page.locator("#compose-text")).to_be_disabled()
    expect(page.locator("#compose-send")).to_be_disabled()


def test_a_mute_shows_why_and_until_when_across_a_reload(pages: Pages, tmp_path: Path) -> None:
    console, invite = open_room(pages, "Mute room")
    loud = keyed_member(pages, invite, "Loud Jay", **PHONE)
    kind = keyed_member(pages, invite, "Kind Owl")
    send(loud, "rude line")
    expect_message(kind, "rude line")
    report_and_mute(console, kind, "rude line")

    expect(loud.locator("#notice")).to_contain_text(re.compile(r"until \d\d:\d\d"))
    until = re.search(r"until (\d\d:\d\d)", loud.text_content("#notice") or "")
    assert until
    expect_muted(loud, until.group(1))

    # A reload: no notice event is sent again, the server's groups.list brings it back.
    loud.reload()
    open_group_by_keyboard(loud)
    expect_muted(loud, until.group(1))
    # The reason is what a screen reader reads with the (disabled) box.
    described = loud.get_attribute("#compose-text", "aria-describedby") or ""
    assert "compose-hint" in described.split()
    assert loud.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(loud, tmp_path / "muted-after-reload.png")

    # Until then only: the composer opens by itself when the mute ends.
    soon = int(time.time() * 1000) + 10_000  # room for a reload on a loaded machine
    with sqlite3.connect(pages.server.database) as conn:
        conn.execute("UPDATE members SET muted_until = ? WHERE muted_until IS NOT NULL", (soon,))
    loud.reload()
    open_group_by_keyboard(loud)
    expect(loud.locator("#compose-text")).to_be_disabled()
    expect(loud.locator("#compose-text")).to_be_enabled(timeout=20_000)
    expect(loud.locator("#status")).to_have_text("Your mute has ended: you can write again.")
    expect(loud.locator("#notice")).to_be_hidden()
    expect(loud.locator("#compose-hint")).to_have_text("")
