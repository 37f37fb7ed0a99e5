"""Roles are drawn as their own element beside a name, never as text inside it, in real
Chromium: the console's member list and the messages a member sees."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.steps import (
    Pages,
    create_invite,
    expect_message,
    facilitator_logs_in,
    keyed_member,
    send,
    wait_keyed,
)

pytestmark = pytest.mark.browser


def test_roles_are_badges_not_part_of_names(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    console.click("#create-panel summary")
    console.fill("#create-name", "Badge room")
    console.fill("#create-rules", "Rules of Badge room: be kind.")
    console.fill("#create-pseudonym", "Host Birch")
    console.select_option("#create-join", "open")
    console.click("#create-form button[type=submit]")
    expect(console.locator("#group-title")).to_have_text("Badge room")
    invite = create_invite(console)
    member = keyed_member(pages, invite, "Quiet Fox")

    own = console.locator("#members li", has_text="Host Birch")
    expect(own.locator(".who")).to_have_text("Host Birch")
    expect(own.locator('.role-badge[data-role="facilitator"]')).to_have_text("role: Facilitator")
    expect(own.locator('.role-badge[data-role="you"]')).to_have_count(1)
    other = console.locator("#members li", has_text="Quiet Fox")
    expect(other.locator(".who")).to_have_text("Quiet Fox")
    expect(other.locator(".role-badge")).to_have_count(0)

    # The facilitator takes part from the member page, in the same browser as the console.
    chat = console.context.new_page()
    chat.goto(pages.server.url + "/")
    chat.fill("#welcome-pseudonym", "Host Birch")
    chat.click("#welcome-form button[type=submit]")
    chat.locator(".group-link", has_text="Badge room").click()
    wait_keyed(chat)
    send(chat, "welcome, everyone")
    send(member, "thank you")
    expect_message(member, "welcome, everyone")
    expect_message(member, "thank you")

    from_host = member.locator("#messages li", has_text="welcome, everyone")
    expect(from_host.locator(".who")).to_have_text("Host Birch")
    badge = from_host.locator('.meta .role-badge[data-role="facilitator"]')
    expect(badge).to_have_text("role: Facilitator")
    assert badge.evaluate("(b) => !b.closest('.who')")  # beside the name, not inside it
    mine = member.locator("#messages li", has_text="thank you")
    expect(mine.locator(".who")).to_have_text("You")
    expect(mine.locator(".role-badge")).to_have_count(0)
    assert "(facilitator)" not in (member.text_content("#messages") or "")
    assert "(facilitator)" not in (console.text_content("#members") or "")
