// A group's weekly sessions in the page (server/schedule.py is the server's twin): when the next
// one is, how to say it, and an .ics calendar file of them, made on this device (no third party).
// Times are wall-clock times in the organisation's time zone (an IANA name from /api/settings),
// read with Intl: a session at 19:00 stays at 19:00 across a change to or from summer time. A
// local time a change skips or repeats is read with the offset in force before the change
// (RFC 5545 §3.3.5, Python's fold=0), as the server reads it.

import { t, locale, localeTag } from "./i18n.js";

export const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const ICS_DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
const DAY_MS = 86_400_000;

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

const minutes = (hhmm) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

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

// -- .ics (RFC 5545) ---------------------------------------------------------------------------

const two = (n) => String(n).padStart(2, "0");
const localStamp = (w) => `${w.y}${two(w.m)}${two(w.d)}T${two(w.h)}${two(w.mi)}${two(w.s || 0)}`;
const utcStamp = (ms) => new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
const offsetText = (min) => `${min < 0 ? "-" : "+"}${two(Math.floor(Math.abs(min) / 60))}${two(Math.abs(min) % 60)}`;

/** §3.3.11: backslash, semicolon, comma and line breaks escaped. */
export function icsText(text) {
  return text.replace(/\\/g, "\\\\").replace(/;/g, "\\;").replace(/,/g, "\\,").replace(/\r?\n|\r/g, "\\n");
}

/** §3.1: lines of at most 75 octets, continued after CRLF and a space; never inside a character. */
function fold(line) {
  const encoder = new TextEncoder();
  const out = [];
  let current = "";
  let size = 0;
  for (const char of line) {
    const n = encoder.encode(char).length;
    if (size + n > (out.length ? 74 : 75)) {
      out.push(current);
      current = "";
      size = 0;
    }
    current += char;
    size += n;
  }
  out.push(current);
  return out.join("\r\n ");
}

/** The zone's changes of offset between `from` and `to` (Unix ms): [{at, before, after}]. */
export function transitions(zone, from, to) {
  const found = [];
  let previous = offsetAt(zone, from);
  for (let day = from + DAY_MS; day <= to; day += DAY_MS) {
    const now = offsetAt(zone, day);
    if (now === previous) continue;
    let low = day - DAY_MS;
    let high = day;
    while (high - low > 60_000) {
      const mid = low + Math.floor((high - low) / 120_000) * 60_000;
      if (offsetAt(zone, mid) === previous) low = mid;
      else high = mid;
    }
    found.push({ at: high, before: previous, after: now });
    previous = now;
  }
  return found;
}

function vtimezone(zone, now) {
  const lines = ["BEGIN:VTIMEZONE", `TZID:${zone}`];
  const hour = 3_600_000; // whole hours, so that the search below lands on whole minutes
  const changes = transitions(zone, Math.floor((now - 400 * DAY_MS) / hour) * hour, now + 5 * 366 * DAY_MS);
  if (!changes.length) {
    const offset = offsetText(offsetAt(zone, now));
    lines.push("BEGIN:STANDARD", "DTSTART:19700101T000000", `TZOFFSETFROM:${offset}`, `TZOFFSETTO:${offset}`, "END:STANDARD");
  }
  for (const change of changes) {
    // DTSTART is the local time of the change, in the offset before it (§3.6.5).
    const kind = change.after > change.before ? "DAYLIGHT" : "STANDARD";
    const local = new Date(change.at + change.before * 60_000);
    const w = { y: local.getUTCFullYear(), m: local.getUTCMonth() + 1, d: local.getUTCDate(), h: local.getUTCHours(), mi: local.getUTCMinutes(), s: 0 };
    lines.push(`BEGIN:${kind}`, `DTSTART:${localStamp(w)}`, `TZOFFSETFROM:${offsetText(change.before)}`, `TZOFFSETTO:${offsetText(change.after)}`, `END:${kind}`);
  }
  lines.push("END:VTIMEZONE");
  return lines;
}

async function uid(groupId, session) {
  // Stable for the same group and session, and names neither (a calendar may be synced elsewhere).
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`hearth session ${groupId} ${session.day} ${session.start}`));
  return `${[...new Uint8Array(digest).slice(0, 16)].map((b) => two(b.toString(16))).join("")}@hearth`;
}

/** The schedule as an RFC 5545 calendar: a VTIMEZONE and one weekly VEVENT per session. */
export async function icsCalendar({ groupId, name, schedule, zone, now = Date.now() }) {
  const today = wallClock(zone, now);
  const lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Hearth//Group sessions//EN", "CALSCALE:GREGORIAN", "METHOD:PUBLISH", ...vtimezone(zone, now)];
  for (const session of schedule) {
    const want = DAYS.indexOf(session.day);
    let first = null;
    for (let offset = 0; offset < 7 && !first; offset++) {
      const date = new Date(Date.UTC(today.y, today.m - 1, today.d + offset));
      if ((date.getUTCDay() + 6) % 7 === want) first = date;
    }
    const start = minutes(session.start);
    const end = minutes(session.end);
    const endDate = new Date(first.getTime() + (end <= start ? DAY_MS : 0));
    const wall = (date, m) => ({ y: date.getUTCFullYear(), m: date.getUTCMonth() + 1, d: date.getUTCDate(), h: Math.floor(m / 60), mi: m % 60, s: 0 });
    lines.push(
      "BEGIN:VEVENT",
      `UID:${await uid(groupId, session)}`,
      `DTSTAMP:${utcStamp(now)}`,
      `DTSTART;TZID=${zone}:${localStamp(wall(first, start))}`,
      `DTEND;TZID=${zone}:${localStamp(wall(endDate, end))}`,
      `RRULE:FREQ=WEEKLY;BYDAY=${ICS_DAYS[want]}`,
      `SUMMARY:${icsText(t("member.session.icsSummary", { group: name }))}`,
      "END:VEVENT",
    );
  }
  lines.push("END:VCALENDAR");
  return lines.map(fold).join("\r\n") + "\r\n";
}

/** Offer the calendar file as a download, made here: nothing is sent anywhere. */
export async function downloadIcs(group, zone) {
  const text = await icsCalendar({ groupId: group.group_id, name: group.name || t("member.group"), schedule: group.schedule, zone });
  const url = URL.createObjectURL(new Blob([text], { type: "text/calendar;charset=utf-8" }));
  const link = Object.assign(document.createElement("a"), { href: url, download: `${(group.name || "group").replace(/[^\p{L}\p{N}]+/gu, "-").replace(/^-|-$/g, "") || "group"}-sessions.ics` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Why the composer of a group whose posting is closed is closed, and when it opens. */
export function closedText(schedule, zone, now = Date.now()) {
  const next = zone ? nextSession(schedule, zone, now) : null;
  if (!next) return t("member.closed.noSession");
  const tz = zoneName(next.start, zone);
  if (next.start <= now) return t("member.closed.onNow", { end: formatWhen(next.end, zone, { withDay: false }), zone: tz });
  return t("member.closed.next", { start: formatWhen(next.start, zone), zone: tz });
}
