"""Slow mode from the console to a member's composer, at phone size and with the keyboard only:
the composer says slow mode is on before the member types, counts down after a message, keeps
a message typed too soon, and sends it once the wait is over."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.steps import (
    Pages,
    create_invite,
    expect_message,
    facilitator_logs_in,
    keyed_member,
    screenshot,
    tab_to,
    unlabelled_controls,
)

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def create_slow_group(console: Any, name: str, seconds: int) -> None:
    console.click("#create-panel summary")
    console.fill("#create-name", name)
    console.fill("#create-rules", f"Rules of {name}: be kind.")
    console.select_option("#create-join", "open")
    console.fill("#create-slow", str(seconds))
    console.click("#create-form button[type=submit]")
    expect(console.locator("#group-title")).to_have_text(name)
    expect(console.locator("#slow-seconds")).to_have_value(str(seconds))


def countdown(page: Any) -> int:
    text = page.text_content("#compose-wait") or ""
    match = re.search(r"in (\d+) second", text)
    assert match, text
    return int(match.group(1))


def test_slow_mode_countdown_at_phone_size_with_the_keyboard(pages: Pages, tmp_path: Path) -> None:
    console = facilitator_logs_in(pages)
    create_slow_group(console, "Slow room", 4)
    member = keyed_member(pages, create_invite(console), "Slow Snail", **PHONE)

    # Said before typing anything.
    hint = member.locator("#compose-hint")
    expect(hint).to_have_text("Slow mode is on: you can send one message every 4 seconds.")
    expect(member.locator("#compose-wait")).to_be_hidden()
    tab_to(member, "#compose-text")

    member.keyboard.type("first slow line")
    member.keyboard.press("Enter")
    expect_message(member, "first slow line")
    expect(member.locator("#messages li", has_text="first slow line")).to_have_attribute(
        "data-status", "sent"
    )
    wait = member.locator("#compose-wait")
    expect(wait).to_have_text(re.compile(r"^You can send again in [1-4] seconds?\.$"))
    first = countdown(member)

    # Too soon: refused on the page, the text stays in the box, nothing is sent.
    member.keyboard.type("second slow line")
    member.keyboard.press("Enter")
    expect(member.locator("#status")).to_contain_text("Slow mode: you can send again in")
    assert member.input_value("#compose-text") == "second slow line"
    expect_message(member, "second slow line", 0)
    screenshot(member, tmp_path / "slow-mode-countdown.png")
    assert member.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # The countdown is live: it goes down, then goes away and says so.
    member.wait_for_timeout(1100)
    if wait.is_visible():
        assert countdown(member) < first
    expect(wait).to_be_hidden(timeout=6000)
    expect(member.locator("#status")).to_have_text("Slow mode: you can send a message again.")
    assert member.evaluate("document.activeElement.id") == "compose-text"
    member.keyboard.press("Enter")
    expect_message(member, "second slow line")
    expect(member.locator("#messages li", has_text="second slow line")).to_have_attribute(
        "data-status", "sent"
    )
    expect(wait).to_be_visible()

    # The facilitator turns it off: the member's composer says so at once.
    console.fill("#slow-seconds", "0")
    console.press("#slow-seconds", "Enter")
    expect(console.locator("#status")).to_have_text("Slow mode off.")
    expect(hint).to_have_text("")
    assert unlabelled_controls(member) == []
    assert unlabelled_controls(console) == []


def test_the_console_refuses_a_slow_mode_past_the_server_maximum(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    create_slow_group(console, "Bounded room", 10)
    console.fill("#slow-seconds", "7200")  # past groups.max_slow_mode_seconds (3600)
    console.press("#slow-seconds", "Enter")
    expect(console.locator("#slow-error")).to_contain_text("at most 3600")
    console.reload()
    console.locator("#groups li", has_text="Bounded room").get_by_role("button").click()
    expect(console.locator("#slow-seconds")).to_have_value("10")
