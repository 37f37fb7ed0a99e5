// "Needs you": what waits for this facilitator across their groups, urgent first: crisis flags
// raised on this device (triage.js), urgent reports, members' private requests (handover.js), join
// requests, other open reports. It keeps
// the tab title's count (alerts.js) in step.

import { $, el } from "./ui.js";
import { t } from "./i18n.js";
import * as alerts from "./alerts.js";

let ctx = null;
const joins = new Map(); // group id -> Map(member_id -> pseudonym), people waiting for approval

/**
 * `context`: {groupName(id), flags() (triage.list), reports() (open reports), nameOf(groupId,
 * memberId), openFlag(flag), seenFlag(flag), openReport(report), openGroup(id), requests() (members'
 * private requests waiting for this facilitator, as items: handover.js)}.
 */
export function init(context) {
  ctx = context;
}

/** The pending members of a group, as members.list lists them to its facilitator. */
export function setJoins(groupId, pending) {
  joins.set(groupId, new Map(pending.map((m) => [m.member_id, m.pseudonym])));
  render();
}

export function joinRequested(groupId, member) {
  const map = joins.get(groupId) || new Map();
  map.set(member.member_id, member.pseudonym);
  joins.set(groupId, map);
  render();
}

export function forgetGroups() {
  joins.clear();
  render();
}

const excerpt = (text) => (text.length > 100 ? `${text.slice(0, 97)}…` : text);

function flagItem(flag) {
  const group = ctx.groupName(flag.groupId);
  const who = ctx.nameOf(flag.groupId, flag.senderId) || t("console.aMember");
  return el(
    "li",
    { class: "is-urgent", "data-kind": "flag", "data-group": flag.groupId, "data-msg": flag.msgId },
    el("span", { class: "urgent", text: t("console.urgent") }),
    el("span", { class: "attention-text", text: t("console.attention.crisis", { group, who, text: excerpt(flag.text) }) }),
    el("button", { type: "button", "aria-label": t("console.attention.openFlag", { who, group }), onclick: () => ctx.openFlag(flag) }, t("console.open")),
    el("button", { type: "button", "aria-label": t("console.attention.seenFlag", { who, group }), onclick: () => ctx.seenFlag(flag) }, t("console.attention.seen")),
  );
}

function reportItem(report) {
  const group = ctx.groupName(report.group_id);
  const urgent = report.priority === "urgent";
  return el(
    "li",
    { class: urgent ? "is-urgent" : "", "data-kind": "report", "data-report": report.report_id },
    urgent ? el("span", { class: "urgent", text: t("console.urgent") }) : null,
    el("span", { class: "attention-text", text: t(urgent ? "console.attention.urgentReport" : "console.attention.report", { group }) }),
    el("button", { type: "button", "aria-label": t(urgent ? "console.attention.openUrgentReport" : "console.attention.openReport", { group }), onclick: () => ctx.openReport(report) }, t("console.open")),
  );
}

function joinItem(groupId, memberId, pseudonym) {
  const group = ctx.groupName(groupId);
  return el(
    "li",
    { "data-kind": "join", "data-group": groupId, "data-member": memberId },
    el("span", { class: "attention-text", text: t("console.attention.join", { who: pseudonym, group }) }),
    el("button", { type: "button", "aria-label": t("console.attention.openJoin", { who: pseudonym, group }), onclick: () => ctx.openGroup(groupId) }, t("console.open")),
  );
}

/** Draw the list and set the title: urgent first, then join requests, then other reports. */
export function render() {
  if (!ctx) return;
  const flags = ctx.flags();
  const reports = ctx.reports();
  const urgentReports = reports.filter((r) => r.priority === "urgent");
  const otherReports = reports.filter((r) => r.priority !== "urgent");
  const waiting = [...joins].flatMap(([groupId, map]) => [...map].map(([memberId, name]) => joinItem(groupId, memberId, name)));
  const requests = ctx.requests ? ctx.requests() : [];
  const items = [...flags.map(flagItem), ...urgentReports.map(reportItem), ...requests, ...waiting, ...otherReports.map(reportItem)];
  $("#attention-items").replaceChildren(...items);
  $("#no-attention").hidden = items.length > 0;
  alerts.count(items.length, flags.length + urgentReports.length);
}

/** How many urgent items a group has (the group list shows it beside the group's name). */
export function urgentIn(groupId) {
  return ctx.flags().filter((f) => f.groupId === groupId).length + ctx.reports().filter((r) => r.group_id === groupId && r.priority === "urgent").length;
}
