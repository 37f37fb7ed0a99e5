"""A keyboard user keeps the focus they placed:

* the group list is drawn again whenever something about a group changes (a setting, a key, a
  reconnect); a focused group's button keeps the focus through it, and Enter still opens the
  group: a list rebuilt from scratch once dropped the focus to the page's body, so Enter did
  nothing;
* a page's first screen (member page and console), shown when its start finishes, does not take
  the focus from a button the person tabbed to while it was starting: it once moved it to the
  screen's heading, so Enter did nothing (a clean-clone CI run failed the ban journey on it);
* opening a group moves the focus into it at once, not when its history has come (by then the
  person may have moved it elsewhere)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.steps import HoldingLink, Pages, keyed_member, open_room, send, tab_to

pytestmark = pytest.mark.browser


def test_a_focused_group_keeps_its_focus_when_the_list_is_drawn_again(pages: Pages) -> None:
    console, invite = open_room(pages, "Focus room")
    member = keyed_member(pages, invite, "Steady Wren")
    member.get_by_role("button", name="Back to your groups").click()
    button = member.locator("#group-list .group-link", has_text="Focus room")
    button.focus()
    member.evaluate("window.chosen = document.activeElement")
    assert member.evaluate("window.chosen.dataset.group")  # the group's own button

    # The facilitator gives the group a weekly session: `group.updated` redraws the list, which
    # now names the next session beside the group.
    console.click("#schedule-add")
    console.get_by_label("Day of session 1").select_option(index=1)
    console.get_by_label("Start of session 1").fill("19:00")
    console.get_by_label("End of session 1").fill("20:30")
    console.click("#schedule-form button[type=submit]")
    expect(console.locator("#status")).to_have_text("Sessions saved: 1 a week.")
    expect(button.locator(".group-next")).to_contain_text("Next session")

    assert member.evaluate("document.activeElement === window.chosen")
    member.keyboard.press("Enter")
    expect(member.locator("#chat")).to_be_visible()
    expect(member.locator("#chat-title")).to_have_text("Focus room")


def reload_held_at(page: Any, url: str) -> Any:
    """Reload ``page`` and hold its start at the request for ``url``; returns that route."""
    held: list[Any] = []
    page.route(url, lambda route: held.append(route))
    page.reload()
    for _ in range(100):
        if held:
            return held[0]
        page.wait_for_timeout(50)
    raise AssertionError(f"the page never asked for {url}")


def test_a_button_tabbed_to_while_the_page_starts_keeps_the_focus_when_the_start_ends(
    pages: Pages,
) -> None:
    console, invite = open_room(pages, "Early room")
    member = keyed_member(pages, invite, "Early Lark")
    start = reload_held_at(member, "**/api/settings")  # the start waits for its settings here
    tab_to(member, "#open-settings")  # "My data", in the page's banner
    expect(member.locator("#home")).to_be_hidden()  # still starting
    start.continue_()
    expect(member.locator("#home")).to_be_visible()
    expect(member.locator("#group-list .group-link")).to_have_count(1)
    assert member.evaluate("document.activeElement.id") == "open-settings"
    member.keyboard.press("Enter")
    expect(member.locator("#settings")).to_be_visible()

    # The console, whose start asks whether its facilitator is still logged in.
    start = reload_held_at(console, "**/api/facilitator/me")
    tab_to(console, "#open-crisis")
    expect(console.locator("#desk")).to_be_hidden()
    start.continue_()
    expect(console.locator("#desk")).to_be_visible()
    assert console.evaluate("document.activeElement.id") == "open-crisis"
    console.keyboard.press("Enter")
    expect(console.locator("#crisis")).to_be_visible()


def test_opening_a_group_moves_the_focus_at_once_not_when_its_history_came(pages: Pages) -> None:
    _, invite = open_room(pages, "Slow room")
    replies = HoldingLink(("43",))  # acknowledgements: the server's replies to the page
    member = keyed_member(pages, invite, "Slow Heron", socket=replies)
    send(member, "an earlier line")
    member.get_by_role("button", name="Back to your groups").click()

    replies.holding = True  # the group's names and history are slow to come
    member.locator("#group-list .group-link", has_text="Slow room").click()
    expect(member.locator("#compose-text")).to_be_focused()
    member.focus("#open-crisis")  # the person moves on meanwhile
    asked = len(replies.sent)
    replies.release()
    # The refresh's last request (held.list) goes out once the history is in; once its reply
    # is back, the group is open. The focus once moved to the composer only then.
    for _ in range(100):
        if any('"held.list"' in frame for frame in replies.sent[asked:]):
            break
        member.wait_for_timeout(50)
    else:
        raise AssertionError("the page never asked for its held messages")
    member.wait_for_timeout(500)
    assert member.evaluate("document.activeElement.id") == "open-crisis"


def test_a_focused_remove_button_in_the_console_keeps_its_focus_when_members_change(
    pages: Pages,
) -> None:
    """The console draws its member list again when anyone joins or a key changes: the focused
    "Remove …" button is the same member's button afterwards, and Enter still asks to remove."""
    console, invite = open_room(pages, "Console focus room")
    keyed_member(pages, invite, "Quiet Fox")
    remove_fox = console.get_by_role("button", name="Remove Quiet Fox")
    expect(remove_fox).to_be_visible()
    remove_fox.focus()

    keyed_member(pages, invite, "Brave Lark")  # the list is drawn again with a new member
    expect(console.locator("#members")).to_contain_text("Brave Lark")
    assert console.evaluate("document.activeElement.textContent") == "Remove Quiet Fox"
    console.keyboard.press("Enter")
    expect(console.locator("#confirm")).to_be_visible()
