"""Member-page safety at phone size: quick exit (button and Escape ×3) leaves no Hearth content
and Back does not return to the chat; every main screen passes axe-core in light and dark mode;
the console warns while no crisis resource is configured."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.axe import expect_accessible
from tests.browser.steps import (
    Pages,
    create_group,
    create_invite,
    expect_message,
    facilitator_logs_in,
    send,
    wait_keyed,
)
from tests.conftest import GENEROUS_LIMITS, RunningServer, free_port

PHONE = {"width": 390, "height": 844}
RECIPE = re.compile(r"/recipe\.html$")


def expect_no_hearth(page: Any, *secrets: str) -> None:
    """The tab shows the everyday page and nothing of Hearth's."""
    expect(page).to_have_url(RECIPE)
    expect(page).to_have_title("Red lentil soup")
    text = page.inner_text("body")
    for secret in ("Hearth", "Leave quickly", "Crisis support", *secrets):
        assert secret not in text
    assert page.locator("#chat, #messages, #compose").count() == 0


def test_quick_exit_by_keyboard_and_back_never_shows_the_chat(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Harbour group", join="open")
    invite = create_invite(console)
    member = pages.open("/#" + invite, **PHONE)  # the tab's first Hearth entry
    member.check("#join-accept")  # with an invite, the join form asks for the name (once)
    member.click("#join-submit")
    wait_keyed(member)
    send(member, "my private words")
    expect_message(member, "my private words")

    # A second Hearth entry in the same tab, opened afresh; the chat again.
    member.goto(pages.server.url + "/?again")
    member.get_by_role("button", name=re.compile("Harbour group")).click()
    expect_message(member, "my private words")

    # One Escape still just closes a dialog.
    member.focus("#open-crisis")
    member.keyboard.press("Enter")
    expect(member.locator("#crisis")).to_be_visible()
    member.keyboard.press("Escape")
    expect(member.locator("#crisis")).to_be_hidden()
    member.wait_for_timeout(2100)
    expect(member.locator("#chat")).to_be_visible()

    for _ in range(3):
        member.keyboard.press("Escape")
    expect_no_hearth(member, "Harbour group", "my private words")

    # Back reaches the earlier Hearth entry, which sends the tab on at once; before it there is
    # only the tab's blank start.
    member.go_back()
    expect_no_hearth(member, "Harbour group", "my private words")
    member.go_back()
    expect(member).to_have_url("about:blank")
    assert member.inner_text("body") == ""

    # Opened afresh, Hearth is there again for the member who chose to come back.
    member.goto(pages.server.url + "/")
    expect(member.locator("#home")).to_be_visible()
    expect(member.locator("#group-list")).to_contain_text("Harbour group")


def test_every_screen_passes_axe_in_light_and_dark_and_can_be_left(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    expect(console.locator("#crisis-setup")).to_be_hidden()  # this server has resources
    expect_accessible(console, "console desk")
    create_group(console, "Axe group", join="open")
    expect_accessible(console, "console group")
    invite = create_invite(console)
    login = pages.open("/console.html", **PHONE)
    expect(login.locator("#login")).to_be_visible()
    expect_accessible(login, "console login")

    welcome = pages.open("/", **PHONE)
    expect(welcome.locator("#welcome")).to_be_visible()
    expect(welcome.locator("#quick-exit")).to_be_visible()
    expect_accessible(welcome, "welcome")
    member = pages.open("/#" + invite, **PHONE)  # with an invite: straight to the join form
    expect(member.locator("#join-rules")).to_contain_text("be kind")
    expect(member.locator("#quick-exit")).to_be_visible()
    expect_accessible(member, "join")
    member.check("#join-accept")
    member.click("#join-submit")
    wait_keyed(member)
    send(member, "hello, axe")
    expect(member.locator("#messages li.mine[data-status=sent]")).to_have_count(1)
    expect(member.locator("#quick-exit")).to_be_visible()
    expect_accessible(member, "chat")

    send(member, "I want to die")
    expect(member.locator("#crisis-check")).to_be_visible()
    expect_accessible(member, "crisis check dialog")
    member.keyboard.press("Enter")  # "See support now"
    expect(member.locator("#crisis")).to_be_visible()
    expect_accessible(member, "crisis resources dialog")
    member.keyboard.press("Escape")

    member.click("#show-rules")
    expect_accessible(member, "rules dialog")
    member.keyboard.press("Escape")
    member.click("#back")
    expect(member.locator("#home")).to_be_visible()
    expect(member.locator("#quick-exit")).to_be_visible()
    expect_accessible(member, "home")
    member.click("#open-settings")
    expect(member.locator("#settings")).to_be_visible()
    expect(member.locator("#quick-exit")).to_be_visible()
    expect_accessible(member, "settings")

    member.get_by_role("button", name="Leave quickly").click()
    expect_no_hearth(member, "Axe group", "hello, axe")
    expect_accessible(member, "the everyday page", themed=False)
    member.go_back()  # Hearth's entry was replaced: only the tab's blank start is before it
    expect(member).to_have_url("about:blank")
    assert member.inner_text("body") == ""


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose operator has not set any crisis resource yet."""
    exit_elsewhere = '[safety]\nquick_exit_url = "/recipe.html?elsewhere"\n'
    server = RunningServer(
        tmp_path_factory.mktemp("bare"), free_port(), extra_config=exit_elsewhere + GENEROUS_LIMITS
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_console_warns_while_no_crisis_resource_is_set(browser: Any, bare_server: Any) -> None:
    opened = Pages(browser, bare_server)
    try:
        console = opened.open("/console.html", **PHONE)
        warning = console.locator("#crisis-setup")
        expect(warning).to_be_visible()
        expect(warning.get_by_role("heading")).to_have_text("Crisis resources are not set")
        expect(warning).to_contain_text("safety.crisis_resources")
        expect(console.locator("#login")).to_be_visible()
        expect_accessible(console, "console login with the set-up warning")

        # The configured quick exit is where "Leave quickly" goes.
        member = opened.open("/", **PHONE)
        expect(member.locator("#welcome")).to_be_visible()
        member.get_by_role("button", name="Leave quickly").click()
        expect(member).to_have_url(re.compile(r"/recipe\.html\?elsewhere$"))
        assert opened.errors == []
    finally:
        opened.close()


def test_a_passcode_hides_hearth_until_it_is_entered(pages: Pages) -> None:
    member = pages.open("/", **PHONE)
    member.click("#welcome-form button[type=submit]")
    expect(member.locator("#home")).to_be_visible()
    member.click("#open-settings")
    member.focus("#lock-code")
    member.keyboard.type("12")
    member.keyboard.press("Enter")
    expect(member.locator("#lock-state")).to_have_text("A passcode is 4 to 8 digits.")
    member.keyboard.press("Backspace")
    member.keyboard.press("Backspace")
    member.keyboard.type("2468")
    member.keyboard.press("Enter")
    expect(member.locator("#lock-state")).to_contain_text("A passcode is set")

    member.reload()
    expect(member.locator("#lock")).to_be_visible()
    expect(member.locator("#unlock-code")).to_be_focused()
    expect(member).to_have_title("Passcode")
    shown = member.inner_text("body")
    for hidden in ("Hearth", "Leave quickly", "Your groups", "My data"):
        assert hidden not in shown
    expect_accessible(member, "passcode lock")

    member.keyboard.type("1111")
    member.keyboard.press("Enter")
    expect(member.locator("#unlock-error")).to_have_text("That is not the passcode.")
    expect(member.locator("#home")).to_be_hidden()
    member.keyboard.type("2468")
    member.keyboard.press("Enter")
    expect(member.locator("#home")).to_be_visible()
    expect(member.locator("#lock")).to_be_hidden()
    expect(member).to_have_title("Hearth")
