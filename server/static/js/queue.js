// The facilitator's moderation queue: verified reports of their groups, urgent first, filtered
// by group and state; live `report.new` arrivals are added at once and announced.

import { $, el, formatTime, reportedContent } from "./ui.js";
import { t } from "./i18n.js";

const reports = new Map(); // report_id -> report (as the server shows it to facilitators)
let ctx = null;

/** `context`: {session(), groups() (Map of group id -> group), openReport(report)}. */
export function init(context) {
  ctx = context;
  $("#queue-group").addEventListener("change", () => load());
  $("#queue-state").addEventListener("change", () => load());
  $("#queue-filters").addEventListener("submit", (event) => event.preventDefault());
}

/** The open reports this console knows of, urgent first. */
export const openReports = () => ordered([...reports.values()].filter((r) => r.state === "open"));

export function get(reportId) {
  return reports.get(reportId);
}

function groupName(groupId) {
  return ctx.groups().get(groupId)?.name || "a group";
}

/** Urgent first, then newest (as the server lists them). */
function ordered(list) {
  const rank = (r) => (r.priority === "urgent" ? 0 : 1);
  return [...list].sort((a, b) => rank(a) - rank(b) || b.reported_at - a.reported_at);
}

/** Offer the facilitator's groups in the filter, keeping the current choice. */
export function fillGroups() {
  const select = $("#queue-group");
  const chosen = select.value;
  select.replaceChildren(
    el("option", { value: "" }, t("console.allMyGroups")),
    ...[...ctx.groups().values()].map((g) => el("option", { value: g.group_id }, g.name)),
  );
  select.value = ctx.groups().has(chosen) ? chosen : "";
}

export function filterTo(groupId) {
  fillGroups();
  $("#queue-group").value = groupId || "";
  $("#queue-state").value = "open";
}

/** Fetch the reports matching the filters and render them. */
export async function load() {
  const session = ctx.session();
  if (!session?.connected) return;
  const payload = { state: $("#queue-state").value, limit: 200 };
  if ($("#queue-group").value) payload.group_id = $("#queue-group").value;
  const reply = await session.call("moderation.list", payload);
  for (const report of reply.reports) reports.set(report.report_id, report);
  render();
}

/** Load the open reports of all groups, for the count on the desk. */
export async function loadOpen() {
  const session = ctx.session();
  if (!session?.connected) return;
  const reply = await session.call("moderation.list", { state: "open", limit: 200 });
  for (const report of reply.reports) reports.set(report.report_id, report);
  render();
}

export function render() {
  const group = $("#queue-group").value;
  const state = $("#queue-state").value;
  const shown = ordered([...reports.values()].filter((r) => r.state === state && (!group || r.group_id === group)));
  $("#reports").replaceChildren(...shown.map(item));
  $("#no-reports").hidden = shown.length > 0;
  const open = [...reports.values()].filter((r) => r.state === "open").length;
  $("#queue-count").textContent = open ? t("console.queue.count", { count: open }) : "";
}

function item(report) {
  const urgent = report.priority === "urgent";
  const content = reportedContent(report);
  const excerpt = content.length > 120 ? `${content.slice(0, 117)}…` : content;
  return el(
    "li",
    { class: urgent ? "is-urgent" : "", "data-report": report.report_id, "data-priority": report.priority },
    el(
      "div",
      { class: "report-summary" },
      el(
        "span",
        {},
        urgent ? el("span", { class: "urgent", text: t("console.urgent") }) : null,
        urgent ? " " : null,
        report.verified ? el("span", { class: "verified", text: t("console.queue.verified") }) : null,
        ` ${t("console.queue.reportedAt", { group: groupName(report.group_id), time: formatTime(report.reported_at) })}`,
      ),
      el("span", { class: "excerpt", dir: "auto", text: `“${excerpt}”` }),
      report.reason ? el("span", { class: "note", text: t("console.queue.reason", { reason: report.reason }) }) : null,
      report.decision ? el("span", { class: "note", text: t("console.queue.decided", { action: report.decision.action, by: report.decision.facilitator }) }) : null,
    ),
    el("button", { type: "button", onclick: () => ctx.openReport(report), "aria-label": t(urgent ? "console.queue.openUrgent" : "console.queue.openReport", { text: excerpt }) }, t("console.open")),
  );
}

/** A live `report.new`: add it, re-render, announce it. */
export function arrive(report) {
  reports.set(report.report_id, report);
  render();
  const urgent = report.priority === "urgent";
  $("#queue-live").textContent = t(urgent ? "console.queue.liveUrgent" : "console.queue.live", { group: groupName(report.group_id), text: report.content.slice(0, 80) });
}

/** A live `report.resolved` (or our own decision). */
export function resolved(report) {
  reports.set(report.report_id, report);
  render();
}
