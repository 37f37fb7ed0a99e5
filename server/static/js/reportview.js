// One report in the facilitator console: the verified message, who wrote it, the reason, the
// messages around it (decrypted only with this browser's own keys for the group), and the
// decisions (`moderation.act`), with a confirmation before removing or banning.

import * as store from "./keystore.js";
import * as keys from "./groupkeys.js";
import { $, el, bdi, announce, reportedContent } from "./ui.js";
import { t, formatDateTime } from "./i18n.js";

const AROUND = 3; // messages shown before and after the reported one
const ACTIONS = new Set(["dismiss", "hide_message", "warn", "mute", "remove_member", "ban_account"]);
const label = (action) => (ACTIONS.has(action) ? t(`console.action.done.${action}`) : action);

let ctx = null;
let current = null; // the report on screen

/** `context`: {session(), groups(), names() (member id -> pseudonym, kept after removals), go(view), confirm(text, yes), rotateNow(groupId), resolved(report)}. */
export function init(context) {
  ctx = context;
  for (const button of document.querySelectorAll("#actions [data-action]")) {
    button.addEventListener("click", () => act(button.dataset.action));
  }
}

export function showing() {
  return current?.report_id || null;
}

const when = (ms) => formatDateTime(ms);

function nameOf(memberId) {
  return ctx.names().get(memberId) || t("member.aFormerMember");
}

export async function open(report) {
  current = report;
  fillRules(ctx.groups().get(report.group_id)?.rules || "");
  ctx.go("report");
  render();
  await Promise.all([loadNames(report.group_id).then(render), loadContext(report)]);
}

/** Refresh when another facilitator (or this one) decided. */
export function update(report) {
  if (current?.report_id !== report.report_id) return;
  current = report;
  render();
}

/** The rule a warning or mute is about: one line of the group's rules, shown to the member. */
function fillRules(rules) {
  const lines = rules.split("\n").map((line) => line.trim()).filter(Boolean);
  $("#act-rule").replaceChildren(
    el("option", { value: "", text: t("console.rule.none") }),
    ...lines.map((line) => el("option", { value: line, text: line })),
  );
}

async function loadNames(groupId) {
  try {
    const listing = await ctx.session().call("members.list", { group_id: groupId });
    for (const m of listing.members) ctx.names().set(m.member_id, m.pseudonym);
  } catch {
    /* shown as "a former member" */
  }
}

function render() {
  const r = current;
  if (!r) return;
  $("#report-verified").textContent = r.verified ? t("console.report.verified") : t("console.report.notVerified");
  $("#report-verified").className = r.verified ? "verified" : "urgent";
  const priority = $("#report-priority");
  priority.textContent = r.priority === "urgent" ? t("console.urgent") : "";
  priority.className = r.priority === "urgent" ? "urgent" : "";
  $("#report-content").textContent = reportedContent(r);
  $("#report-group").textContent = ctx.groups().get(r.group_id)?.name || "";
  $("#report-sender").textContent = nameOf(r.sender_id);
  $("#report-sent").textContent = when(r.message_ts);
  $("#report-at").textContent = when(r.reported_at);
  $("#report-reason").textContent = r.reason || t("console.report.noReason");
  const decision = r.decision;
  $("#report-state").textContent = r.state === "open"
    ? t("console.stateOpen")
    : t(decision?.mute_minutes ? "console.report.decidedMinutes" : "console.report.decided", {
        label: label(decision?.action),
        by: decision?.facilitator,
        time: when(r.resolved_at),
        count: decision?.mute_minutes,
      });
  $("#actions").hidden = r.state !== "open";
}

/** Decrypt the few messages around the reported one with this browser's keys, if it has them. */
async function loadContext(report) {
  const list = $("#context");
  const note = $("#context-note");
  list.replaceChildren();
  note.textContent = t("console.loading");
  const record = await store.group(report.group_id);
  if (!record?.latest) {
    note.textContent =
      t("console.report.noKeys");
    return;
  }
  let views;
  try {
    await keys.syncEpochs(ctx.session(), record).catch(() => {});
    const reply = await ctx.session().call("history.get", { group_id: report.group_id, before_seq: report.seq + AROUND + 1, limit: 2 * AROUND + 1 });
    views = reply.messages.reverse();
  } catch (error) {
    note.textContent = t("console.report.contextFailed", { error: error.message });
    return;
  }
  if (current?.report_id !== report.report_id) return;
  const items = [];
  let unreadable = 0;
  for (const view of views) {
    const opened = await keys.open(record, view);
    if (!opened) unreadable += 1;
    let text = opened?.text;
    if (opened?.deleted) text = t("console.report.removed");
    if (!opened) text = t("console.report.undecryptable");
    const reported = view.seq === report.seq;
    items.push(
      el(
        "li",
        { class: reported ? "reported" : "", "data-seq": String(view.seq), "aria-current": reported ? "true" : null },
        // the signed header's sender (groupkeys.open), not the server's sender_id field
        el("strong", {}, bdi(opened?.senderId ? nameOf(opened.senderId) : t("member.someone")), ": "),
        el("span", { dir: "auto" }, text),
        reported ? ` — ${t("console.report.reportedMark")}` : "",
      ),
    );
  }
  list.replaceChildren(...items);
  note.textContent = unreadable
    ? t("console.report.partlyDecrypted", { count: unreadable })
    : t("console.report.decrypted");
}

async function act(action) {
  const r = current;
  if (!r || r.state !== "open") return;
  $("#act-error").textContent = "";
  const who = nameOf(r.sender_id);
  if (action === "remove_member" && !(await ctx.confirm(t("console.report.removeConfirm", { who, group: ctx.groups().get(r.group_id)?.name || t("member.theGroup") }), t("console.report.remove")))) return;
  if (action === "ban_account" && !(await ctx.confirm(t("console.report.banConfirm", { who }), t("console.report.ban")))) return;
  const payload = { report_id: r.report_id, action, note: $("#act-note").value.trim() };
  if ((action === "warn" || action === "mute") && $("#act-rule").value) payload.rule = $("#act-rule").value;
  if (action === "mute") {
    const minutes = Number($("#act-minutes").value);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 43200) {
      $("#act-error").textContent = t("console.act.minutes");
      $("#act-minutes").focus();
      return;
    }
    payload.mute_minutes = minutes;
  }
  let reply;
  try {
    reply = await ctx.session().call("moderation.act", payload);
  } catch (error) {
    $("#act-error").textContent = error.code === "already_resolved" ? t("console.report.alreadyDecided") : error.message;
    if (error.code === "already_resolved") ctx.session().call("moderation.get", { report_id: r.report_id }).then((g) => ctx.resolved(g.report), () => {});
    return;
  }
  $("#act-note").value = "";
  $("#act-rule").value = "";
  ctx.resolved(reply.report);
  announce(t("console.report.doneLabel", { label: label(action) }));
  $("#report-title").focus();
  if (action === "remove_member" || action === "ban_account") {
    announce(t("console.report.doneRotating", { label: label(action) }));
    await ctx.rotateNow(r.group_id);
  }
  if (action === "hide_message") loadContext(current);
}
