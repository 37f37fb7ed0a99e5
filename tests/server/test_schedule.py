"""Weekly sessions (server/schedule.py): what is accepted, and when the next session is, across
changes to and from summer time and across midnight."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.errors import Code, HearthError
from server.schedule import (
    DAYS,
    MAX_SESSIONS,
    Session,
    checked_schedule,
    decode,
    encode,
    next_session,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def ms(year: int, month: int, day: int, hour: int, minute: int = 0) -> int:
    """Unix ms of a UTC time."""
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def utc(ms_value: int) -> str:
    return datetime.fromtimestamp(ms_value / 1000, UTC).strftime("%a %Y-%m-%d %H:%M")


def slot(day: str, start: str, end: str) -> dict[str, str]:
    return {"day": day, "start": start, "end": end}


def test_a_schedule_round_trips_through_its_stored_form() -> None:
    sessions = checked_schedule([slot("thu", "22:00", "01:00"), slot("tue", "19:00", "20:30")])
    assert [s.view() for s in sessions] == [
        slot("tue", "19:00", "20:30"),
        slot("thu", "22:00", "01:00"),
    ]
    assert encode(sessions) == "tue 19:00-20:30,thu 22:00-01:00"
    assert decode(encode(sessions)) == sessions
    assert decode("") == ()
    assert sessions[1].length == 180  # crosses midnight


@pytest.mark.parametrize(
    ("slots", "message"),
    [
        ([slot("tuesday", "19:00", "20:30")], "day must be one of mon, tue"),
        ([slot("Tue", "19:00", "20:30")], "day must be one of"),
        ([slot("tue", "7pm", "20:30")], "start must be a time as HH:MM"),
        ([slot("tue", "24:00", "01:00")], "start must be a time"),
        ([slot("tue", "19:00", "20:60")], "end must be a time"),
        ([slot("tue", "9:00", "10:00")], "start must be a time"),
        ([slot("tue", "19:00", "19:00")], "start and end are the same time"),
        ([slot("tue", "19:00", "21:00"), slot("tue", "20:00", "22:00")], "sessions overlap"),
        ([slot("mon", "22:00", "02:00"), slot("tue", "01:00", "03:00")], "sessions overlap"),
        # across the end of the week: Sunday night into Monday morning
        ([slot("sun", "23:00", "01:00"), slot("mon", "00:30", "02:00")], "sessions overlap"),
        ([slot(DAYS[i % 7], f"{i:02d}:00", f"{i:02d}:30") for i in range(15)], "at most 14"),
    ],
)
def test_bad_schedules_are_refused_with_what_is_wrong(
    slots: list[dict[str, str]], message: str
) -> None:
    with pytest.raises(HearthError, match=message) as caught:
        checked_schedule(slots)
    assert caught.value.code is Code.BAD_SCHEDULE


def test_touching_sessions_and_a_full_week_are_fine() -> None:
    checked_schedule([slot("tue", "19:00", "20:00"), slot("tue", "20:00", "21:00")])
    checked_schedule([slot("sun", "23:00", "00:00"), slot("mon", "00:00", "01:00")])
    week = [slot(DAYS[i % 7], f"{i:02d}:00", f"{i:02d}:30") for i in range(MAX_SESSIONS)]
    assert len(checked_schedule(week)) == MAX_SESSIONS


def test_the_same_wall_clock_time_across_a_change_to_summer_time() -> None:
    tuesdays = checked_schedule([slot("tue", "19:00", "20:30")])
    # London: GMT until Sunday 29 March 2026, BST (UTC+1) after.
    before = next_session(tuesdays, LONDON, ms(2026, 3, 20, 12))
    after = next_session(tuesdays, LONDON, ms(2026, 3, 27, 12))
    assert before is not None
    assert after is not None
    assert (utc(before[0]), utc(before[1])) == ("Tue 2026-03-24 19:00", "Tue 2026-03-24 20:30")
    assert (utc(after[0]), utc(after[1])) == ("Tue 2026-03-31 18:00", "Tue 2026-03-31 19:30")


def test_a_session_across_midnight_is_on_until_it_ends_the_next_day() -> None:
    fridays = checked_schedule([slot("fri", "22:00", "01:00")])
    # Saturday 00:30 in London (BST): Friday's session is still on.
    on = next_session(fridays, LONDON, ms(2026, 6, 5, 23, 30))
    assert on is not None
    assert (utc(on[0]), utc(on[1])) == ("Fri 2026-06-05 21:00", "Sat 2026-06-06 00:00")
    later = next_session(fridays, LONDON, ms(2026, 6, 6, 0, 0))  # it has just ended
    assert later is not None
    assert utc(later[0]) == "Fri 2026-06-12 21:00"


def test_a_session_across_midnight_over_a_clock_change_keeps_its_wall_times() -> None:
    # Saturday 28 March 23:00 GMT to Sunday 02:00 BST: three wall-clock hours, two real ones.
    saturdays = checked_schedule([slot("sat", "23:00", "02:00")])
    found = next_session(saturdays, LONDON, ms(2026, 3, 27, 12))
    assert found is not None
    assert (utc(found[0]), utc(found[1])) == ("Sat 2026-03-28 23:00", "Sun 2026-03-29 01:00")


def test_repeated_and_skipped_local_times_take_the_offset_before_the_change() -> None:
    # New York falls back on Sunday 1 November 2026: 01:30 happens twice; the first counts
    # (RFC 5545 §3.3.5, PEP 495 fold=0).
    sundays = checked_schedule([slot("sun", "01:30", "03:00")])
    found = next_session(sundays, NEW_YORK, ms(2026, 10, 30, 12))
    assert found is not None
    assert (utc(found[0]), utc(found[1])) == ("Sun 2026-11-01 05:30", "Sun 2026-11-01 08:00")
    # New York springs forward on Sunday 8 March 2026: 02:30 does not exist; read with the
    # offset before (EST), it is 07:30 UTC, shown as 03:30 EDT.
    early = checked_schedule([slot("sun", "02:30", "04:00")])
    found = next_session(early, NEW_YORK, ms(2026, 3, 6, 12))
    assert found is not None
    assert (utc(found[0]), utc(found[1])) == ("Sun 2026-03-08 07:30", "Sun 2026-03-08 08:00")


def test_a_session_that_would_end_before_it_starts_is_not_held_that_week() -> None:
    # London skips 01:00-02:00 on Sunday 29 March 2026: 01:30 is read as 01:30 GMT (02:30
    # BST), after the end, 02:10 BST.
    sundays = checked_schedule([slot("sun", "01:30", "02:10")])
    found = next_session(sundays, LONDON, ms(2026, 3, 27, 12))
    assert found is not None
    assert utc(found[0]) == "Sun 2026-04-05 00:30"  # the week after, in BST
    # Wholly inside the skipped hour, both ends move alike: held 02:10-02:50 BST.
    inside = next_session(
        checked_schedule([slot("sun", "01:10", "01:50")]), LONDON, ms(2026, 3, 27, 12)
    )
    assert inside is not None
    assert (utc(inside[0]), utc(inside[1])) == ("Sun 2026-03-29 01:10", "Sun 2026-03-29 01:50")


def test_no_schedule_has_no_next_session() -> None:
    assert next_session((), LONDON, ms(2026, 1, 1, 0)) is None


@settings(max_examples=200, deadline=None)
@given(
    day=st.integers(0, 6),
    start=st.integers(0, 1439),
    length=st.integers(1, 1439),
    now=st.integers(ms(2025, 1, 1, 0), ms(2028, 1, 1, 0)),
    zone=st.sampled_from([LONDON, NEW_YORK, ZoneInfo("Australia/Sydney"), ZoneInfo("UTC")]),
)
def test_the_next_session_is_on_or_to_come_within_a_week(
    day: int, start: int, length: int, now: int, zone: ZoneInfo
) -> None:
    session = Session(day, start, (start + length) % 1440)
    found = next_session([session], zone, now)
    assert found is not None
    begins, ends = found
    assert ends > now
    assert begins <= now + 8 * 86_400_000
    local = datetime.fromtimestamp(begins / 1000, UTC).astimezone(zone)
    # It starts on its weekday (a skipped start time moves later by the change, same day).
    assert local.weekday() == day
