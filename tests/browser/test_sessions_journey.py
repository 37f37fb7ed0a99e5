"""Sessions and opening hours: a facilitator gives a `facilitator_present` group a weekly
session in the console; a member at phone size, keyboard only, sees the next session in the chat
and on the group list, finds the composer closed with the time it opens as soon as the
facilitator leaves (before typing anything), open again when the facilitator is back, and
downloads the sessions as an .ics file made on the device. axe finds nothing, light and dark."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from server.schedule import DAYS, checked_schedule, next_session
from tests.browser.axe import expect_accessible
from tests.browser.conftest import SAFETY
from tests.browser.steps import (
    Pages,
    create_invite,
    facilitator_logs_in,
    keyed_member,
    screenshot,
    tab_until,
    unlabelled_controls,
)
from tests.conftest import RunningServer, free_port

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
ZONE = "Europe/London"


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = RunningServer(
        tmp_path_factory.mktemp("hearth"),
        free_port(),
        extra_config=SAFETY + f'[groups]\ntime_zone = "{ZONE}"\n',
    )
    server.add_facilitator()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def tomorrow_in_london() -> str:
    """The weekday after today in the organisation's zone: a session that is surely to come."""
    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE))
    return DAYS[(today.weekday() + 1) % 7]


def when(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(ZONE))
    return f"{moment:%a} {moment.day} {moment:%b}, {moment:%H:%M}"


def test_a_closed_session_is_said_before_typing_and_the_ics_is_made_here(
    pages: Pages, tmp_path: Path
) -> None:
    console = facilitator_logs_in(pages)
    console.click("#create-panel summary")
    console.fill("#create-name", "Evening circle")
    console.fill("#create-rules", "Rules of Evening circle: be kind.")
    console.select_option("#create-join", "open")
    console.select_option("#create-posting", "facilitator_present")
    console.click("#create-form button[type=submit]")
    expect(console.locator("#group-title")).to_have_text("Evening circle")

    # The facilitator adds a weekly session; the console says which time zone it is in.
    expect(console.locator("#schedule-zone")).to_contain_text(ZONE)
    expect(console.locator("#schedule-none")).to_be_visible()
    console.click("#schedule-add")
    day = tomorrow_in_london()
    console.get_by_label("Day of session 1").select_option(day)
    console.get_by_label("Start of session 1").fill("19:00")
    console.get_by_label("End of session 1").fill("20:30")
    # A second session overlapping the first: refused with what is wrong, nothing saved.
    console.click("#schedule-add")
    console.get_by_label("Day of session 2").select_option(day)
    console.get_by_label("Start of session 2").fill("20:00")
    console.get_by_label("End of session 2").fill("21:00")
    console.click("#schedule-form button[type=submit]")
    expect(console.locator("#schedule-error")).to_have_text(
        f"sessions overlap: {day} 19:00–20:30 and {day} 20:00–21:00"
    )
    expect_accessible(console, "console with the sessions editor and an error")
    console.get_by_role("button", name="Remove session 2").click()
    console.click("#schedule-form button[type=submit]")
    expect(console.locator("#status")).to_have_text("Sessions saved: 1 a week.")
    expect(console.locator("#schedule-error")).to_have_text("")
    assert unlabelled_controls(console) == []
    invite = create_invite(console)

    sessions = checked_schedule([{"day": day, "start": "19:00", "end": "20:30"}])
    found = next_session(sessions, ZoneInfo(ZONE), int(time.time() * 1000))
    assert found is not None
    opens = when(found[0])

    member = keyed_member(pages, invite, "Hopeful Lark", **PHONE)
    zone_name = datetime.fromtimestamp(found[0] / 1000, ZoneInfo(ZONE)).tzname()  # GMT or BST
    expect(member.locator("#chat-session")).to_have_text(
        f"Next session: {opens}–20:30 ({zone_name})"
    )
    # The facilitator is online: the member may write.
    expect(member.locator("#compose-text")).to_be_enabled()

    # The facilitator leaves: the composer closes at once, saying when it opens.
    console.context.close()
    hint = member.locator("#compose-hint")
    expect(hint).to_contain_text("Posting is closed")
    expect(hint).to_contain_text(f"It opens at the next session, {opens}")
    expect(member.locator("#compose-text")).to_be_disabled()
    expect(member.locator("#compose-send")).to_be_disabled()
    expect_accessible(member, "chat with posting closed")
    screenshot(member, tmp_path / "posting-closed.png")
    assert member.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # The sessions as a calendar file, keyboard only, made on the device.
    tab_until(member, "chat-ics")
    with member.expect_download() as download:
        member.keyboard.press("Enter")
    path = download.value.path()
    assert download.value.suggested_filename == "Evening-circle-sessions.ics"
    text = Path(path).read_bytes().decode()
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert f"TZID:{ZONE}\r\n" in text
    assert f"RRULE:FREQ=WEEKLY;BYDAY={day[:2].upper()}\r\n" in text
    assert "SUMMARY:Evening circle (session)\r\n" in text
    start_local = datetime.fromtimestamp(found[0] / 1000, UTC).astimezone(ZoneInfo(ZONE))
    assert f"DTSTART;TZID={ZONE}:{start_local:%Y%m%d}T190000\r\n" in text
    assert f"DTEND;TZID={ZONE}:{start_local:%Y%m%d}T203000\r\n" in text
    assert text.endswith("END:VCALENDAR\r\n")

    # The group list says when the next session is too.
    tab_until(member, "back")
    member.keyboard.press("Enter")
    expect(member.locator("#group-list .group-next")).to_contain_text(f"Next session: {opens}")
    expect_accessible(member, "group list with the next session")

    # The facilitator is back: the member's composer opens again.
    facilitator_logs_in(pages)
    for _ in range(40):  # keyboard only: Tab to the group's button, Enter
        if member.evaluate("document.activeElement.classList.contains('group-link')"):
            break
        member.keyboard.press("Tab")
    member.keyboard.press("Enter")
    expect(member.locator("#compose-text")).to_be_enabled()
    expect(hint).not_to_contain_text("Posting is closed")
    assert pages.foreign() == []
    assert pages.errors == []
