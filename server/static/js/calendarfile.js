// A group's weekly sessions as an .ics calendar file (RFC 5545), made on this device and offered
// as a download: nothing is sent anywhere, no third party. Loaded with later.js the first time a
// member asks for the file; when the sessions are is sessions.js.

import { DAYS, DAY_MS, minutes, offsetAt, wallClock } from "./sessions.js";
import { t, loadLaterTexts } from "./i18n.js";

await loadLaterTexts();

const ICS_DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
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
