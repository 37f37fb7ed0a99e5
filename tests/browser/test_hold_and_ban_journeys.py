"""Newcomer hold and bans that stick, in Chromium at phone size and with the keyboard:

* a newcomer's message is seen by the facilitator only (on the member page, where facilitators
  read the group), released with the keyboard, then seen by the others with a "released" mark;
* a banned member who deletes all their data and opens the same invite link is refused with a
  clear message, and the facilitator approving someone else who used that link is warned.

axe-core finds nothing on each new screen, in light and dark mode."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.axe import expect_accessible
from tests.browser.steps import (
    Pages,
    approve,
    create_group,
    create_invite,
    expect_message,
    facilitator_logs_in,
    keyed_member,
    member_joins,
    screenshot,
    send,
    tab_to,
    wait_keyed,
)

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def facilitator_chat(console: Any, server_url: str, group: str) -> Any:
    """The facilitator's member page, in the console's browser (same keys, same session)."""
    chat = console.context.new_page()
    chat.set_viewport_size(PHONE)
    chat.goto(server_url + "/")
    chat.fill("#welcome-pseudonym", "Host Birch")
    chat.click("#welcome-form button[type=submit]")
    chat.locator(".group-link", has_text=group).click()
    wait_keyed(chat)
    return chat


def test_a_held_newcomer_message_is_seen_by_facilitators_then_released(
    pages: Pages, tmp_path: Path
) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Held room", join="open")
    old = keyed_member(pages, create_invite(console), "Old Oak", **PHONE)
    # The facilitator turns the hold on: members already here are not held back.
    console.fill("#hold-count", "1")
    console.press("#hold-count", "Enter")
    expect(console.locator("#status")).to_contain_text("Newcomer hold on")
    expect_accessible(console, "console with the newcomer hold setting")
    chat = facilitator_chat(console, pages.server.url, "Held room")
    new = keyed_member(pages, create_invite(console), "New Fern", **PHONE)

    # Said before the newcomer types (and not to the member who was already here).
    expect(new.locator("#held-note")).to_contain_text("a facilitator reads your first messages")
    expect(old.locator("#held-note")).to_be_hidden()
    # The newcomer writes with the keyboard; the page says it waits for a facilitator.
    tab_to(new, "#compose-text")
    new.keyboard.type("my first words here")
    new.keyboard.press("Enter")
    mine = new.locator("#messages li", has_text="my first words here")
    expect(mine).to_have_attribute("data-status", "held")
    expect(mine.locator(".state")).to_contain_text("Waiting for a facilitator")
    expect_accessible(new, "newcomer's held message")

    # The facilitator sees it, with Release and Decline; the other member does not.
    panel = chat.locator("#held")
    expect(panel).to_be_visible()
    expect(panel.locator(".held-item .text")).to_have_text("my first words here")
    expect(panel.locator(".held-item .who")).to_have_text("New Fern")
    expect_accessible(chat, "facilitator's waiting messages")
    screenshot(chat, tmp_path / "held-panel.png")
    send(old, "a line from the old hand")
    expect_message(new, "a line from the old hand")
    expect_message(old, "my first words here", 0)
    expect_message(chat, "my first words here", 0)
    # A reload of the newcomer's page still shows it waiting (and not to the others).
    new.reload()
    expect(new.locator("#connection")).to_have_text("Connected")
    new.locator(".group-link", has_text="Held room").click()
    expect(new.locator("#messages li", has_text="my first words here")).to_have_attribute(
        "data-status", "held"
    )
    old.reload()
    expect(old.locator("#connection")).to_have_text("Connected")
    old.locator(".group-link", has_text="Held room").click()
    expect_message(old, "a line from the old hand")
    expect_message(old, "my first words here", 0)

    # Released with the keyboard: everyone sees it, marked as released.
    chat.locator("#held-list button", has_text="Release").focus()
    chat.keyboard.press("Enter")
    expect(panel).to_be_hidden()
    for page in (old, chat, new):
        released = page.locator("#messages li", has_text="my first words here")
        expect(released).to_have_count(1)
        expect(released.locator(".released")).to_contain_text("Released by a facilitator")
    expect(new.locator("#messages li", has_text="my first words here")).to_have_attribute(
        "data-status", "sent"
    )
    expect_accessible(old, "a released message")
    assert old.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The hold was one message: the next goes to everyone at once.
    send(new, "and now straight through")
    expect_message(old, "and now straight through")


def test_a_banned_member_who_wipes_their_data_cannot_come_back_with_the_link(
    pages: Pages, tmp_path: Path
) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Safe room")  # approval: the default for a new group
    expect(console.locator("#create-join")).to_have_value("approval")
    link = create_invite(console)
    banned = member_joins(pages, link, "Sharp Thorn", **PHONE)
    approve(console, "Sharp Thorn")
    wait_keyed(banned)
    chat = facilitator_chat(console, pages.server.url, "Safe room")
    # Someone else asks to join with the same link before the ban.
    member_joins(pages, link, "Calm River")

    send(banned, "a cruel message")
    expect_message(chat, "a cruel message")
    chat.locator("#messages li", has_text="a cruel message").get_by_role(
        "button", name=re.compile("^Report")
    ).click()
    chat.click("#report-send")
    expect(chat.locator("#status")).to_contain_text("Report sent")
    console.click("#group-reports")
    console.locator("#reports li", has_text="a cruel message").get_by_role(
        "button", name=re.compile("^Open")
    ).click()
    console.click("#actions [data-action=ban_account]")
    console.click("#confirm-yes")
    expect(console.locator("#report-state")).to_contain_text("Account banned")

    # "Delete all my data", by keyboard, then the same link again in the same tab.
    banned.reload()
    tab_to(banned, "#open-settings")
    banned.keyboard.press("Enter")
    expect(banned.locator("#settings")).to_be_visible()
    tab_to(banned, "#wipe")
    banned.keyboard.press("Enter")
    expect(banned.locator("#confirm")).to_be_visible()
    tab_to(banned, "#confirm-yes")
    banned.keyboard.press("Enter")
    expect(banned.locator("#welcome")).to_be_visible()
    banned.goto(pages.server.url + "/#" + link)
    expect(banned.locator("#join-title")).to_have_text("This invite link does not work")
    expect(banned.locator("#join-dead-text")).to_contain_text("withdrawn")
    expect(banned.locator("#join-submit")).to_be_hidden()
    screenshot(banned, tmp_path / "banned-link-refused.png")
    expect_accessible(banned, "a withdrawn link after a ban")

    # The facilitator approving the other request sees that its link reached a banned account.
    console.click("#report-back")
    console.click("#queue-back")
    console.locator("#groups li", has_text="Safe room").get_by_role("button").first.click()
    request = console.locator("#requests li", has_text="Calm River")
    expect(request.locator(".warn")).to_contain_text("also used by an account that has since")
    expect(console.locator("#invites li").first).to_contain_text(
        "revoked · used by an account since banned"
    )
    expect_accessible(console, "a join request through a link a banned account used")


def test_a_declined_newcomer_message_reaches_no_one_and_its_writer_is_told_kindly(
    pages: Pages,
) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Careful room", join="open")
    old = keyed_member(pages, create_invite(console), "Old Oak", **PHONE)
    console.fill("#hold-count", "2")
    console.press("#hold-count", "Enter")
    expect(console.locator("#status")).to_contain_text("Newcomer hold on")
    chat = facilitator_chat(console, pages.server.url, "Careful room")
    new = keyed_member(pages, create_invite(console), "New Fern", **PHONE)
    tab_to(new, "#compose-text")
    new.keyboard.type("some unkind words")
    new.keyboard.press("Enter")
    expect(chat.locator("#held .held-item .text")).to_have_text("some unkind words")

    # Declined with the keyboard: the writer is told, kindly, and nobody else ever sees it.
    chat.locator("#held-list button", has_text="Decline").focus()
    chat.keyboard.press("Enter")
    expect(chat.locator("#held")).to_be_hidden()
    mine = new.locator("#messages li", has_text="some unkind words")
    expect(mine).to_have_attribute("data-status", "declined")
    expect(mine.locator(".state")).to_have_text(
        "A facilitator did not share this with the group. Nobody else saw it."
    )
    expect(new.locator("#status")).to_contain_text("nobody else saw it")
    expect_accessible(new, "a declined message, as its writer sees it")
    send(old, "still here")
    expect_message(new, "still here")
    for page in (old, chat):
        expect_message(page, "some unkind words", 0)
    old.reload()
    expect(old.locator("#connection")).to_have_text("Connected")
    old.locator(".group-link", has_text="Careful room").click()
    expect_message(old, "still here")
    expect_message(old, "some unkind words", 0)
