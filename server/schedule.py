"""A group's weekly sessions ("Tuesdays 19:00–20:30"), in the organisation's time zone.

A facilitator sets the sessions; the server checks them (``bad_schedule`` names what is wrong and
nothing is changed), stores them as one canonical line and hands them to members, whose page
shows the next session, keeps the composer of a ``facilitator_present`` group closed with the
time it opens, and writes an ``.ics`` file. The times are wall-clock times in
``[groups] time_zone``: a session at 19:00 stays at 19:00 across a change to or from summer time.

A session whose end is not after its start crosses midnight (22:00–01:00 ends the next day).
Local times a change to summer time skips, or a change back repeats, are read as RFC 5545 §3.3.5
and PEP 495 (``fold=0``) read them: with the offset in force before the change. Sessions may not
overlap, also across midnight and across the end of the week.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from server.errors import Code, HearthError

DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
MAX_SESSIONS: Final = 14  # a week's sessions of one group
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DAY_MINUTES: Final = 24 * 60
_WEEK_MINUTES: Final = 7 * _DAY_MINUTES


def _bad(message: str) -> HearthError:
    return HearthError(Code.BAD_SCHEDULE, message)


def _minutes(text: object, what: str) -> int:
    if not isinstance(text, str) or (match := _TIME.match(text)) is None:
        raise _bad(f"{what} must be a time as HH:MM from 00:00 to 23:59, got {text!r}")
    return int(match[1]) * 60 + int(match[2])


@dataclass(frozen=True, slots=True, order=True)
class Session:
    """One weekly session: a weekday (0 = Monday) and wall-clock minutes since midnight."""

    day: int
    start: int
    end: int  # not after start: the session ends the next day

    @property
    def length(self) -> int:
        """Minutes the session lasts (1 to 24 hours less a minute)."""
        return (self.end - self.start) % _DAY_MINUTES

    @property
    def week_start(self) -> int:
        return self.day * _DAY_MINUTES + self.start

    def view(self) -> dict[str, str]:
        return {"day": DAYS[self.day], "start": _hhmm(self.start), "end": _hhmm(self.end)}

    def occurrence(self, day: date, zone: ZoneInfo) -> tuple[int, int]:
        """(start, end) in Unix milliseconds of this session held on ``day``."""
        start = datetime.combine(day, time(*divmod(self.start, 60)), zone)  # fold=0
        end_day = day + timedelta(days=1) if self.end <= self.start else day
        end = datetime.combine(end_day, time(*divmod(self.end, 60)), zone)
        return _ms(start), _ms(end)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def checked_schedule(slots: Iterable[Mapping[str, Any]]) -> tuple[Session, ...]:
    """The sessions ``slots`` describe (``{"day": "tue", "start": "19:00", "end": "20:30"}``),
    sorted; ``bad_schedule`` for a wrong day or time, an empty session, too many, or overlaps."""
    sessions = []
    for index, slot in enumerate(slots, start=1):
        where = f"session {index}"
        day = slot.get("day")
        if day not in DAYS:
            raise _bad(f"{where}: day must be one of {', '.join(DAYS)}, got {day!r}")
        start = _minutes(slot.get("start"), f"{where}: start")
        end = _minutes(slot.get("end"), f"{where}: end")
        if start == end:
            raise _bad(f"{where}: start and end are the same time; a session needs a length")
        sessions.append(Session(DAYS.index(day), start, end))
    if len(sessions) > MAX_SESSIONS:
        raise _bad(f"a group may have at most {MAX_SESSIONS} sessions a week")
    sessions.sort()
    _refuse_overlaps(sessions)
    return tuple(sessions)


def _refuse_overlaps(sessions: list[Session]) -> None:
    # On the week's circle of minutes, each session must end before the next one starts (the
    # last one of the week against the first one of the next week).
    for index, session in enumerate(sessions):
        following = sessions[(index + 1) % len(sessions)]
        gap = (following.week_start - session.week_start) % _WEEK_MINUTES
        if len(sessions) > 1 and gap < session.length:
            a, b = session.view(), following.view()
            raise _bad(
                f"sessions overlap: {a['day']} {a['start']}–{a['end']} and "
                f"{b['day']} {b['start']}–{b['end']}"
            )


def encode(sessions: Iterable[Session]) -> str:
    """The stored form: ``tue 19:00-20:30,thu 22:00-01:00`` ('' for none)."""
    return ",".join(f"{DAYS[s.day]} {_hhmm(s.start)}-{_hhmm(s.end)}" for s in sessions)


def decode(stored: str) -> tuple[Session, ...]:
    """The inverse of ``encode`` (the database holds only what ``checked_schedule`` accepted)."""
    if not stored:
        return ()
    slots = []
    for part in stored.split(","):
        day, _, times = part.partition(" ")
        start, _, end = times.partition("-")
        slots.append({"day": day, "start": start, "end": end})
    return checked_schedule(slots)


def next_session(
    sessions: Iterable[Session], zone: ZoneInfo, now_ms: int
) -> tuple[int, int] | None:
    """(start, end) in Unix ms of the session on now or the next to come; None without any.

    One that started yesterday and crosses midnight may still be on, hence the day before. A
    session that starts in the hour a change to summer time skips and ends just after it
    (01:30–02:10 where 01:00–02:00 is skipped: 01:30 is read with the offset before, so as
    02:30) would end before it starts: it is not held that week."""
    today = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(zone).date()
    found: tuple[int, int] | None = None
    for session in sessions:
        for offset in range(-1, 15):  # two weeks: one may be skipped (below)
            day = today + timedelta(days=offset)
            if day.weekday() != session.day:
                continue
            start, end = session.occurrence(day, zone)
            if end <= start:
                continue  # would end before it starts (see above): not held this week
            if end > now_ms and (found is None or start < found[0]):
                found = (start, end)
    return found
