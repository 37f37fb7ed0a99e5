// A group's weekly sessions in the console: rows of day, start and end (wall-clock times in the
// organisation's time zone), saved with group.update. The server checks them and says what is
// wrong (bad_schedule), changing nothing; members then see the next session and can add the
// sessions to their calendar (sessions.js).

import { $, el, announce } from "./ui.js";
import { t, localeTag } from "./i18n.js";
import { api } from "./session.js";
import { DAYS } from "./sessions.js";

// The week's days in the page's language, Monday first (1 January 2024 was a Monday).
const DAY_NAMES = DAYS.map((_, i) => new Intl.DateTimeFormat(localeTag, { weekday: "long", timeZone: "UTC" }).format(Date.UTC(2024, 0, 1 + i)));
let ctx = null;
let groupId = null;
let edited = false; // changes not saved yet: a refresh of the group must not undo them

export function init(context) {
  ctx = context;
  $("#schedule-form").addEventListener("submit", save);
  $("#schedule-form").addEventListener("input", () => (edited = true));
  $("#schedule-form").addEventListener("change", () => (edited = true));
  $("#schedule-add").addEventListener("click", () => {
    edited = true;
    addRow({ day: "mon", start: "19:00", end: "20:00" });
    $("#schedule-rows li:last-child select").focus();
  });
  api("GET", "/api/settings").then(
    (s) => ($("#schedule-zone").textContent = t("console.schedule.zone", { zone: s.time_zone })),
    () => {},
  );
}

/** Show the open group's sessions (not while the facilitator is editing them). */
export function show(group) {
  const changedGroup = groupId !== group.group_id;
  groupId = group.group_id;
  if (!changedGroup && (edited || $("#schedule-form").contains(document.activeElement))) return;
  edited = false;
  $("#schedule-rows").replaceChildren();
  $("#schedule-error").textContent = "";
  for (const session of group.schedule || []) addRow(session);
  renumber();
}

function addRow(session) {
  const row = el(
    "li",
    { class: "row" },
    el("select", { class: "schedule-day" }, ...DAYS.map((day, i) => el("option", { value: day, text: DAY_NAMES[i], selected: day === session.day }))),
    el("input", { class: "schedule-start", type: "time", value: session.start, required: true }),
    el("span", { "aria-hidden": "true", text: t("console.schedule.to") }),
    el("input", { class: "schedule-end", type: "time", value: session.end, required: true }),
    el("button", { type: "button", class: "schedule-remove", onclick: () => { edited = true; row.remove(); renumber(); $("#schedule-add").focus(); } }, t("console.report.remove")),
  );
  $("#schedule-rows").append(row);
  renumber();
}

function renumber() {
  const rows = [...$("#schedule-rows").children];
  rows.forEach((row, i) => {
    row.querySelector(".schedule-day").setAttribute("aria-label", t("console.schedule.day", { n: i + 1 }));
    row.querySelector(".schedule-start").setAttribute("aria-label", t("console.schedule.start", { n: i + 1 }));
    row.querySelector(".schedule-end").setAttribute("aria-label", t("console.schedule.end", { n: i + 1 }));
    row.querySelector(".schedule-remove").setAttribute("aria-label", t("console.schedule.remove", { n: i + 1 }));
  });
  $("#schedule-none").hidden = rows.length > 0;
}

async function save(event) {
  event.preventDefault();
  $("#schedule-error").textContent = "";
  const schedule = [...$("#schedule-rows").children].map((row) => ({
    day: row.querySelector(".schedule-day").value,
    start: row.querySelector(".schedule-start").value,
    end: row.querySelector(".schedule-end").value,
  }));
  try {
    const reply = await ctx.session().call("group.update", { group_id: groupId, schedule });
    edited = false;
    const count = reply.group.schedule.length;
    announce(count ? t("console.schedule.saved", { count }) : t("console.schedule.removed"));
  } catch (error) {
    $("#schedule-error").textContent = error.message;
    $("#schedule-rows").querySelector("select, input")?.focus();
  }
}
