"""Content notes at phone size with the keyboard only: a member writes a message behind a note,
another sees the note with the text hidden and shows it with one key press; the per-member
setting (kept on the device, hiding by default) shows noted messages instead, across a reload.
axe finds nothing on the screens involved, in light and dark mode."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.axe import expect_accessible
from tests.browser.steps import (
    Pages,
    expect_message,
    focused,
    keyed_member,
    open_room,
    screenshot,
    tab_until,
    unlabelled_controls,
)

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
NOTE = "hospital stay"
TEXT = "Last week I was back in hospital after hurting myself."


def test_a_noted_message_is_hidden_then_shown_with_the_keyboard(
    pages: Pages, tmp_path: Path
) -> None:
    console, invite = open_room(pages, "Notes room")
    writer = keyed_member(pages, invite, "Careful Wren", **PHONE)
    reader = keyed_member(pages, invite, "Gentle Otter", **PHONE)

    # The writer adds a note of their own words, keyboard only.
    expect(writer.locator("#compose-note-panel")).to_be_hidden()
    tab_until(writer, "compose-note-toggle")
    writer.keyboard.press("Enter")
    expect(writer.locator("#compose-note-panel")).to_be_visible()
    assert focused(writer) == "compose-note"
    assert writer.get_attribute("#compose-note-toggle", "aria-expanded") == "true"
    expect_accessible(writer, "composer with a content note")
    writer.keyboard.type("x" * 41)  # over the limit: said at once, nothing is sent
    expect(writer.locator("#compose-note-error")).to_contain_text("at most 40 characters")
    writer.keyboard.press("Control+A")
    writer.keyboard.type(NOTE)
    expect(writer.locator("#compose-note-error")).to_have_text("")
    expect(writer.locator("#compose-note-toggle")).to_have_text(f"Content note: {NOTE}")
    tab_until(writer, "compose-text")
    writer.keyboard.type(TEXT)
    writer.keyboard.press("Enter")
    # The on-device crisis check speaks up first (support is its default); they choose to send.
    expect(writer.locator("#crisis-check")).to_be_visible()
    tab_until(writer, ":Send my message")
    writer.keyboard.press("Enter")
    mine = writer.locator("#messages li", has_text=TEXT)
    expect(mine).to_have_attribute("data-status", "sent")
    expect(mine.locator(".content-note")).to_have_text(f"Content note: {NOTE}")
    expect(mine.locator(".text")).to_be_visible()  # one's own text is never hidden
    # The next message starts without a note, and a plain message still reads as before.
    expect(writer.locator("#compose-note-panel")).to_be_hidden()
    expect(writer.locator("#compose-note-toggle")).to_have_text("Add a content note")
    writer.keyboard.type("and a plain message after it")
    writer.keyboard.press("Enter")
    expect(writer.locator("#messages li", has_text="and a plain message")).to_have_attribute(
        "data-status", "sent"
    )

    # The reader sees the note, not the text, and shows it with one key press.
    noted = reader.locator("#messages li.noted")
    expect(noted).to_have_count(1)
    expect(noted.locator(".content-note")).to_have_text(f"Content note: {NOTE}")
    expect(noted.locator(".text")).to_be_hidden()
    expect_message(reader, "and a plain message after it")
    expect(
        reader.locator("#messages li", has_text="and a plain message").locator(".content-note")
    ).to_have_count(0)
    toggle = noted.get_by_role("button", name="Show message")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect_accessible(reader, "chat with a hidden noted message")
    screenshot(reader, tmp_path / "content-note-hidden.png")
    assert reader.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    tab_until(reader, "content-note-toggle:Show message")
    reader.keyboard.press("Enter")
    expect(noted.locator(".text")).to_have_text(TEXT)
    expect(noted.locator(".text")).to_be_visible()
    assert focused(reader) == "content-note-toggle:Hide message"
    expect(noted.get_by_role("button", name="Hide message")).to_have_attribute(
        "aria-expanded", "true"
    )
    expect_accessible(reader, "chat with a shown noted message")
    reader.keyboard.press("Space")
    expect(noted.locator(".text")).to_be_hidden()

    # Reporting it: the note goes with the text, and the facilitator reads both.
    tab_until(reader, "report:Report")
    reader.keyboard.press("Enter")
    expect(reader.locator("#report-quote")).to_have_text(f"Content note: {NOTE}\n{TEXT}")
    tab_until(reader, "report-send")
    reader.keyboard.press("Enter")
    expect(reader.locator("#report-dialog")).to_be_hidden()
    shown = f"[Content note: {NOTE}] {TEXT}"
    console.click("#group-reports")  # the queue, filtered to this group
    expect(console.locator("#queue")).to_be_visible()
    row = console.locator("#reports li", has_text=f"[Content note: {NOTE}]")
    expect(row).to_have_count(1)
    row.get_by_role("button", name=re.compile("^Open")).click()
    expect(console.locator("#report-content")).to_have_text(shown)

    # The setting: noted messages shown under their note, remembered on this device.
    tab_until(reader, "open-settings")
    reader.keyboard.press("Enter")
    box = reader.locator("#hide-noted")
    expect(box).to_be_checked()  # the safe default
    expect_accessible(reader, "settings with the content-note setting")
    tab_until(reader, "hide-noted")
    reader.keyboard.press("Space")
    expect(box).not_to_be_checked()
    tab_until(reader, "settings-close")
    reader.keyboard.press("Enter")
    expect(noted.locator(".text")).to_be_visible()
    expect(noted.get_by_role("button", name="Hide message")).to_be_visible()
    assert unlabelled_controls(reader) == []

    reader.reload()
    reader.locator("#group-list button", has_text="Notes room").click()
    noted = reader.locator("#messages li.noted")
    expect(noted.locator(".text")).to_have_text(TEXT)
    expect(noted.locator(".text")).to_be_visible()
    reader.click("#open-settings")
    expect(reader.locator("#hide-noted")).not_to_be_checked()
    assert pages.foreign() == []
    assert pages.errors == []
