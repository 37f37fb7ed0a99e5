"""The page's sessions.js (Intl) against server/schedule.py (zoneinfo): the same next session
across changes to and from summer time and across midnight; and its .ics file checked against
RFC 5545 and against zoneinfo's offsets."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server.schedule import checked_schedule, next_session

pytestmark = pytest.mark.browser

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]
SCHEDULES = [
    [{"day": "tue", "start": "19:00", "end": "20:30"}],
    [
        {"day": "fri", "start": "22:00", "end": "01:00"},
        {"day": "sun", "start": "01:30", "end": "03:00"},
    ],
    [
        {"day": "sun", "start": "02:30", "end": "04:00"},
        {"day": "sat", "start": "23:00", "end": "02:00"},
    ],
    [{"day": "sun", "start": "01:30", "end": "02:10"}],
]


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


# Around each zone's changes in 2026 (London 29 Mar / 25 Oct, New York 8 Mar / 1 Nov, Sydney
# 5 Apr / 4 Oct), some inside a session that crosses midnight, and ordinary days.
NOWS = [
    ms(2026, 3, 6, 12),
    ms(2026, 3, 8, 6, 45),
    ms(2026, 3, 8, 7, 40),
    ms(2026, 3, 27, 12),
    ms(2026, 3, 28, 23, 30),
    ms(2026, 3, 29, 0, 30),
    ms(2026, 4, 4, 15),
    ms(2026, 10, 3, 15),
    ms(2026, 10, 24, 12),
    ms(2026, 10, 30, 12),
    ms(2026, 11, 1, 5, 45),
    ms(2026, 11, 1, 6, 15),
    ms(2026, 6, 5, 23, 30),
    ms(2026, 12, 7, 4),
]


@pytest.fixture(scope="module")
def page(crypto_page: Any) -> Any:
    crypto_page.evaluate(
        "async () => { window.sessions = await import('/js/sessions.js');"
        " window.calendar = await import('/js/calendarfile.js'); }"
    )
    return crypto_page


def test_the_page_finds_the_same_next_session_as_the_server(page: Any) -> None:
    cases = [(z, s, n) for z in ZONES for s in SCHEDULES for n in NOWS]
    found = page.evaluate(
        "(cases) => cases.map(([zone, schedule, now]) =>"
        " window.sessions.nextSession(schedule, zone, now))",
        cases,
    )
    for (zone, schedule, now), js in zip(cases, found, strict=True):
        py = next_session(checked_schedule(schedule), ZoneInfo(zone), now)
        assert (None if py is None else {"start": py[0], "end": py[1]}) == js, (zone, schedule, now)


def test_the_page_says_when_the_next_session_is(page: Any) -> None:
    said = page.evaluate(
        """([schedule, before, during]) => [
            window.sessions.describeNext(schedule, "Europe/London", before),
            window.sessions.describeNext(schedule, "Europe/London", during),
            window.sessions.describeNext([], "Europe/London", before),
        ]""",
        [SCHEDULES[0], ms(2026, 3, 27, 12), ms(2026, 3, 31, 18, 30)],
    )
    assert said == [
        "Next session: Tue 31 Mar, 19:00–20:30 (BST)",
        "Session on now, until 20:30 (BST)",
        "",
    ]


def unfold(text: str) -> list[str]:
    assert text.endswith("\r\n")
    physical = text[:-2].split("\r\n")
    for line in physical:
        assert "\n" not in line
        assert "\r" not in line
        assert len(line.encode()) <= 75, line
    logical: list[str] = []
    for line in physical:
        if line.startswith(" "):
            logical[-1] += line[1:]
        else:
            logical.append(line)
    return logical


def components(lines: list[str]) -> list[tuple[str, dict[str, list[str]]]]:
    """Each component as (name, properties) in order of BEGIN; nesting checked."""
    stack: list[tuple[str, dict[str, list[str]]]] = []
    done: list[tuple[str, dict[str, list[str]]]] = []
    for line in lines:
        name, _, value = line.partition(":")
        if name == "BEGIN":
            stack.append((value, {}))
            done.append(stack[-1])
        elif name == "END":
            assert stack, line
            assert stack.pop()[0] == value, line
        else:
            assert stack, line
            stack[-1][1].setdefault(name, []).append(value)
    assert not stack
    return done


def local(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S")


@pytest.mark.parametrize("zone", ["Europe/London", "America/New_York", "UTC"])
def test_the_ics_file_is_rfc_5545_and_agrees_with_zoneinfo(page: Any, zone: str) -> None:
    now = ms(2026, 12, 7, 4)
    schedule = [
        {"day": "tue", "start": "19:00", "end": "20:30"},
        {"day": "fri", "start": "22:00", "end": "01:00"},
    ]
    text = page.evaluate(
        """async ([zone, schedule, now]) => window.calendar.icsCalendar(
            { groupId: "AAAAAAAAAAAAAAAAAAAAAA", name: "Evening circle; Tuesdays, late\\nFridays",
              schedule, zone, now })""",
        [zone, schedule, now],
    )
    lines = unfold(text)
    parts = components(lines)
    assert [name for name, _ in parts][:2] == ["VCALENDAR", "VTIMEZONE"]
    calendar = parts[0][1]
    assert calendar["VERSION"] == ["2.0"]
    assert calendar["PRODID"] == ["-//Hearth//Group sessions//EN"]
    timezone = parts[1][1]
    assert timezone["TZID"] == [zone]
    # Each change of offset in the file is one zoneinfo makes, at that local time.
    zinfo = ZoneInfo(zone)
    changes = [p for name, p in parts if name in ("STANDARD", "DAYLIGHT")]
    assert changes
    for change in changes:
        before = int(change["TZOFFSETFROM"][0][:3]) * 60 + int(
            change["TZOFFSETFROM"][0][0] + change["TZOFFSETFROM"][0][3:]
        )
        after = int(change["TZOFFSETTO"][0][:3]) * 60 + int(
            change["TZOFFSETTO"][0][0] + change["TZOFFSETTO"][0][3:]
        )
        if before == after:
            assert zinfo.utcoffset(datetime(2026, 12, 7)) == timedelta(minutes=after)
            continue
        at = local(change["DTSTART"][0]).replace(tzinfo=UTC) - timedelta(minutes=before)
        assert datetime.fromtimestamp(at.timestamp() - 60, UTC).astimezone(
            zinfo
        ).utcoffset() == timedelta(minutes=before)
        assert at.astimezone(zinfo).utcoffset() == timedelta(minutes=after)
    events = [p for name, p in parts if name == "VEVENT"]
    assert len(events) == 2
    uids = {e["UID"][0] for e in events}
    assert len(uids) == 2
    assert all(re.fullmatch(r"[0-9a-f]{32}@hearth", u) for u in uids)
    for event, session, byday in zip(events, schedule, ["TU", "FR"], strict=True):
        assert event["DTSTAMP"] == ["20261207T040000Z"]
        assert event["RRULE"] == [f"FREQ=WEEKLY;BYDAY={byday}"]
        assert event["SUMMARY"] == ["Evening circle\\; Tuesdays\\, late\\nFridays (session)"]
        (start_key,) = [k for k in event if k.startswith("DTSTART")]
        (end_key,) = [k for k in event if k.startswith("DTEND")]
        assert start_key == end_key.replace("DTEND", "DTSTART") == f"DTSTART;TZID={zone}"
        start, end = local(event[start_key][0]), local(event[end_key][0])
        assert start.strftime("%H:%M") == session["start"]
        assert end.strftime("%H:%M") == session["end"]
        assert start.strftime("%a").lower() == session["day"]
        assert timedelta(0) < end - start < timedelta(days=1)  # Friday's ends on Saturday
        # The first occurrence is the next one on or after today in the zone.
        today = datetime.fromtimestamp(now / 1000, UTC).astimezone(zinfo).date()
        assert timedelta(0) <= start.date() - today < timedelta(days=7)
