// A group's weekly sessions in the page (server/schedule.py is the server's twin): when the next
// one is and how to say it (their .ics calendar file: calendarfile.js).
// Times are wall-clock times in the organisation's time zone (an IANA name from /api/settings),
// read with Intl: a session at 19:00 stays at 19:00 across a change to or from summer time. A
// local time a change skips or repeats is read with the offset in force before the change
// (RFC 5545 §3.3.5, Python's fold=0), as the server reads it.

import { t, locale, localeTag } from "./i18n.js";

export const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
export const DAY_MS = 86_400_000;

const partsFormats = new Map();
function partsFormat(zone) {
  if (!partsFormats.has(zone)) {
    partsFormats.set(zone, new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }));
  }
  return partsFormats.get(zone);
}

/** The wall-clock time in `zone` at `ms`: {y, m, d, h, mi, s}. */
export function wallClock(zone, ms) {
  const p = Object.fromEntries(partsFormat(zone).formatToParts(new Date(ms)).map((x) => [x.type, Number(x.value)]));
  return { y: p.year, m: p.month, d: p.day, h: p.hour, mi: p.minute, s: p.second };
}

/** Minutes `zone` is ahead of UTC at `ms`. */
export function offsetAt(zone, ms) {
  const w = wallClock(zone, ms);
  return Math.round((Date.UTC(w.y, w.m - 1, w.d, w.h, w.mi, w.s) - Math.floor(ms / 1000) * 1000) / 60_000);
}

/** Unix ms of a wall-clock time in `zone` (repeated: the first; skipped: the offset before). */
export function wallToMs(zone, y, m, d, h, mi) {
  const wall = Date.UTC(y, m - 1, d, h, mi);
  const before = offsetAt(zone, wall - DAY_MS);
  const after = offsetAt(zone, wall + DAY_MS);
  const fits = [...new Set([before, after])].map((o) => wall - o * 60_000).filter((t) => offsetAt(zone, t) * 60_000 === wall - t);
  return fits.length ? Math.min(...fits) : wall - before * 60_000;
}

/** "19:30" -> 1170: minutes after midnight. */
export const minutes = (hhmm) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** {start, end} (Unix ms) of one session held on the date y-m-d. */
function occurrence(session, zone, y, m, d) {
  const start = minutes(session.start);
  const end = minutes(session.end);
  const next = new Date(Date.UTC(y, m - 1, d + (end <= start ? 1 : 0)));
  return {
    start: wallToMs(zone, y, m, d, Math.floor(start / 60), start % 60),
    end: wallToMs(zone, next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), Math.floor(end / 60), end % 60),
  };
}

/** The session on now or the next to come, {start, end} in Unix ms; null without any. */
export function nextSession(schedule, zone, now = Date.now()) {
  const today = wallClock(zone, now);
  let found = null;
  for (const session of schedule || []) {
    const want = DAYS.indexOf(session.day);
    for (let offset = -1; offset < 15; offset++) {
      const date = new Date(Date.UTC(today.y, today.m - 1, today.d + offset));
      if ((date.getUTCDay() + 6) % 7 !== want) continue;
      const o = occurrence(session, zone, date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate());
      if (o.end <= o.start) continue; // starts in a skipped hour and ends before: not held
      if (o.end > now && (!found || o.start < found.start)) found = o;
    }
  }
  return found;
}

// Dates in the page's language; English keeps one house style (24 hours, day before month)
// whatever the browser's region, as the group's sessions are in the organisation's zone anyway.
const DATES = locale === "en" ? "en-GB" : localeTag;

/** "Tue 9 Dec, 19:00", in the organisation's zone, with the zone's short name. */
export function formatWhen(ms, zone, { withDay = true } = {}) {
  const options = { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  const time = new Intl.DateTimeFormat(DATES, options).format(new Date(ms));
  if (!withDay) return time;
  const day = new Intl.DateTimeFormat(DATES, { timeZone: zone, weekday: "short", day: "numeric", month: "short" }).format(new Date(ms));
  return t("member.session.dayTime", { day, time });
}

function zoneName(ms, zone) {
  const part = new Intl.DateTimeFormat(DATES, { timeZone: zone, timeZoneName: "short" }).formatToParts(new Date(ms)).find((p) => p.type === "timeZoneName");
  return part ? part.value : zone;
}

/** "Next session: Tue 9 Dec, 19:00–20:30 (GMT)" or "Session on now, until 20:30 (GMT)"; "" without one. */
export function describeNext(schedule, zone, now = Date.now()) {
  const next = nextSession(schedule, zone, now);
  if (!next) return "";
  const tz = zoneName(next.start, zone);
  if (next.start <= now) return t("member.session.onNow", { end: formatWhen(next.end, zone, { withDay: false }), zone: tz });
  return t("member.session.next", { start: formatWhen(next.start, zone), end: formatWhen(next.end, zone, { withDay: false }), zone: tz });
}

/** Why the composer of a group whose posting is closed is closed, and when it opens. */
export function closedText(schedule, zone, now = Date.now()) {
  const next = zone ? nextSession(schedule, zone, now) : null;
  if (!next) return t("member.closed.noSession");
  const tz = zoneName(next.start, zone);
  if (next.start <= now) return t("member.closed.onNow", { end: formatWhen(next.end, zone, { withDay: false }), zone: tz });
  return t("member.closed.next", { start: formatWhen(next.start, zone), zone: tz });
}
