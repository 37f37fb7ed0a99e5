"""The member page's rough edges, in Chromium: the name is asked once when joining; an invite
link opened in a tab that already has Hearth open works without a reload; each dead link says
what to do next and offers no Join button; a long paste is kept and explained, with a live
counter near the limit."""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.steps import (
    Pages,
    create_group,
    create_invite,
    expect_message,
    facilitator_logs_in,
    keyed_member,
    open_room,
    wait_keyed,
)

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def token_of(invite: str) -> str:
    """The server's token from a link's fragment (``invite=…&key=…&anchor=…``)."""
    return dict(part.split("=", 1) for part in invite.split("&"))["invite"]


# What the server's own clock would make of an invite after a while (tests cannot wait days).
AGED = {
    "used_up": "UPDATE invites SET uses = max_uses WHERE token_hash = ?",
    "expired": "UPDATE invites SET expires_at = 1 WHERE token_hash = ?",
}


def age_invite(pages: Pages, invite: str, how: str) -> None:
    token_hash = hashlib.sha256(token_of(invite).encode("ascii")).digest()
    with sqlite3.connect(pages.server.database) as conn:
        conn.execute(AGED[how], (token_hash,))


def test_the_name_is_asked_once_when_joining(pages: Pages) -> None:
    _, invite = open_room(pages, "Once room")
    page = pages.open("/#" + invite, **PHONE)
    expect(page.locator("#join-rules")).to_contain_text("be kind")
    expect(page.locator("#welcome")).to_be_hidden()
    expect(page.locator("#join-intro")).to_contain_text("No e-mail")
    assert page.locator("input[name=pseudonym]:visible").count() == 1
    page.fill("#join-pseudonym", "Only Once")
    page.check("#join-accept")
    page.press("#join-pseudonym", "Enter")
    wait_keyed(page)
    # That name is kept as this device's default: nothing asks for it again.
    page.reload()
    expect(page.locator("#home")).to_be_visible()
    expect(page.locator("#welcome")).to_be_hidden()
    page.click("#open-settings")
    expect(page.locator("#settings-pseudonym")).to_have_value("Only Once")


def test_an_invite_link_opened_in_an_open_tab_works_without_a_reload(pages: Pages) -> None:
    console, first = open_room(pages, "First room")
    member = keyed_member(pages, first, "Tab Keeper", **PHONE)
    console.click("#back")
    console.evaluate("document.querySelector('#create-panel').open = false")
    create_group(console, "Second room", join="open")
    second = create_invite(console)
    member.evaluate("window.sameDocument = true")
    member.goto(pages.server.url + "/#" + second)  # the link pasted into the same tab
    expect(member.locator("#join-name")).to_have_text("Second room")
    assert member.evaluate("window.sameDocument === true")  # no reload happened
    expect(member.locator("#join-pseudonym")).to_have_value("Tab Keeper")
    member.check("#join-accept")
    member.click("#join-submit")
    expect(member.locator("#chat-title")).to_have_text("Second room")
    wait_keyed(member)
    assert member.evaluate("window.sameDocument === true")
    member.click("#back")
    expect(member.locator("#group-list button")).to_have_count(2)


DEAD = {
    "used_up": "used as many times as it allows. Ask the person who gave it to you for a new link",
    "revoked": "withdrawn by the group's facilitator",
    "expired": "has expired. Ask the person who gave it to you for a new link",
    "truncated": "incomplete or mistyped. Copy the whole link again",
    "garbled": "incomplete or mistyped. Copy the whole link again",
    "unknown": "incomplete or mistyped. Copy the whole link again",
}


def expect_dead(page: Any, words: str) -> None:
    expect(page.locator("#join-title")).to_have_text("This invite link does not work")
    expect(page.locator("#join-dead-text")).to_contain_text(words)
    expect(page.get_by_role("button", name="Join the group")).to_have_count(0)
    expect(page.locator("#join-submit")).to_be_hidden()
    expect(page.locator("#join-error")).to_be_hidden()


def fresh_invite(console: Any) -> str:
    """A new link (create_invite alone may read the previous one before the new one shows)."""
    console.evaluate("document.querySelector('#invite-link').value = ''")
    return create_invite(console)


def test_each_dead_link_says_what_to_do_next(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Door room")
    links = {name: fresh_invite(console) for name in ("used_up", "revoked", "expired")}
    age_invite(pages, links["used_up"], "used_up")
    age_invite(pages, links["expired"], "expired")
    revoked_id = hashlib.sha256(token_of(links["revoked"]).encode("ascii")).digest()[:8].hex()
    row = console.locator(f'#invites li[data-invite="{revoked_id}"]')
    row.get_by_role("button", name="Revoke").click()
    expect(row).to_contain_text("revoked")
    live = token_of(fresh_invite(console))
    links["truncated"] = "invite=" + live[:20]
    links["garbled"] = "invite=" + live[:10] + "%20*" + live[12:]
    links["unknown"] = "invite=" + "Q" * 32

    page = pages.open("/#" + links["used_up"], **PHONE)
    expect_dead(page, DEAD["used_up"])
    for name in ("revoked", "expired", "truncated", "garbled", "unknown"):
        page.goto(pages.server.url + "/#" + links[name])  # each opened in the same tab
        expect_dead(page, DEAD[name])
    # The way on: a button, by keyboard, to somewhere useful (a first visit picks a name).
    page.locator("#join-dead-home").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#welcome")).to_be_visible()
    # A working link after dead ones shows the group and its Join button again.
    page.goto(pages.server.url + "/#invite=" + live)
    expect(page.locator("#join-name")).to_have_text("Door room")
    expect(page.locator("#join-submit")).to_be_visible()


def test_a_long_paste_is_kept_and_explained(pages: Pages) -> None:
    _, invite = open_room(pages, "Paste room")
    page = keyed_member(pages, invite, "Long Writer", **PHONE)
    area = page.locator("#compose-text")
    counter = page.locator("#compose-count")
    expect(counter).to_be_hidden()
    area.focus()
    page.evaluate(
        "document.execCommand('insertText', false, 'a few words. '.repeat(461) + 'the end')"
    )
    assert page.evaluate("document.querySelector('#compose-text').value.length") == 6000
    expect(counter).to_have_text(
        "6,000 / 4,000 characters: 2,000 too many. Shorten it or send it in parts."
    )
    expect(area).to_have_attribute("aria-invalid", "true")
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("2,000 characters too long")
    assert page.evaluate("document.querySelector('#compose-text').value.length") == 6000
    expect(page.locator("#messages li.message")).to_have_count(0)

    # Near the limit the counter counts live; under the limit it sends.
    page.keyboard.press("Control+A")
    page.evaluate("document.execCommand('insertText', false, 'x'.repeat(3600))")
    expect(counter).to_have_text("3,600 / 4,000 characters")
    expect(area).to_have_attribute("aria-invalid", "false")
    page.keyboard.type("!")
    expect(counter).to_have_text("3,601 / 4,000 characters")
    page.keyboard.press("Enter")
    expect_message(page, "x" * 3600 + "!")
    expect(counter).to_be_hidden()
