// One report in the facilitator console: the verified message, who wrote it, the reason, the
// messages around it (decrypted only with this browser's own keys for the group), and the
// decisions (`moderation.act`), with a confirmation before removing or banning.

import * as store from "./keystore.js";
import * as keys from "./groupkeys.js";
import { $, el, announce, reportedContent } from "./ui.js";

const AROUND = 3; // messages shown before and after the reported one
const LABELS = {
  dismiss: "Dismissed",
  hide_message: "Message hidden",
  warn: "Member warned",
  mute: "Member muted",
  remove_member: "Member removed from the group",
  ban_account: "Account banned",
};

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

const when = (ms) => new Date(ms).toLocaleString();

function nameOf(memberId) {
  return ctx.names().get(memberId) || "a former member";
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
    el("option", { value: "", text: "No particular rule" }),
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
  $("#report-verified").textContent = r.verified ? "✓ Verified: the server checked this is exactly the message it relayed" : "Not verified";
  $("#report-verified").className = r.verified ? "verified" : "urgent";
  const priority = $("#report-priority");
  priority.textContent = r.priority === "urgent" ? "Urgent" : "";
  priority.className = r.priority === "urgent" ? "urgent" : "";
  $("#report-content").textContent = reportedContent(r);
  $("#report-group").textContent = ctx.groups().get(r.group_id)?.name || "";
  $("#report-sender").textContent = nameOf(r.sender_id);
  $("#report-sent").textContent = when(r.message_ts);
  $("#report-at").textContent = when(r.reported_at);
  $("#report-reason").textContent = r.reason || "(no reason given)";
  const decision = r.decision;
  $("#report-state").textContent = r.state === "open"
    ? "Open"
    : `${LABELS[decision?.action] || decision?.action} by ${decision?.facilitator} at ${when(r.resolved_at)}${decision?.mute_minutes ? ` (${decision.mute_minutes} minutes)` : ""}`;
  $("#actions").hidden = r.state !== "open";
}

/** Decrypt the few messages around the reported one with this browser's keys, if it has them. */
async function loadContext(report) {
  const list = $("#context");
  const note = $("#context-note");
  list.replaceChildren();
  note.textContent = "Loading…";
  const record = await store.group(report.group_id);
  if (!record?.latest) {
    note.textContent =
      "This browser holds no keys for this group, so it cannot show the messages around the report. The reported message above is what the server verified.";
    return;
  }
  let views;
  try {
    await keys.syncEpochs(ctx.session(), record).catch(() => {});
    const reply = await ctx.session().call("history.get", { group_id: report.group_id, before_seq: report.seq + AROUND + 1, limit: 2 * AROUND + 1 });
    views = reply.messages.reverse();
  } catch (error) {
    note.textContent = `The messages around it could not be loaded: ${error.message}`;
    return;
  }
  if (current?.report_id !== report.report_id) return;
  const items = [];
  let unreadable = 0;
  for (const view of views) {
    const opened = await keys.open(record, view);
    if (!opened) unreadable += 1;
    let text = opened?.text;
    if (opened?.deleted) text = "(removed)";
    if (!opened) text = "(this browser's keys cannot decrypt this message)";
    const reported = view.seq === report.seq;
    items.push(
      el(
        "li",
        { class: reported ? "reported" : "", "data-seq": String(view.seq), "aria-current": reported ? "true" : null },
        // the signed header's sender (groupkeys.open), not the server's sender_id field
        el("strong", { text: `${opened?.senderId ? nameOf(opened.senderId) : "Someone"}: ` }),
        text,
        reported ? " — reported" : "",
      ),
    );
  }
  list.replaceChildren(...items);
  note.textContent = unreadable
    ? `Decrypted with this browser's keys; ${unreadable} message(s) were sent in epochs it holds no keys for.`
    : "Decrypted in this browser with its own keys for the group; the server cannot read them.";
}

async function act(action) {
  const r = current;
  if (!r || r.state !== "open") return;
  $("#act-error").textContent = "";
  const who = nameOf(r.sender_id);
  if (action === "remove_member" && !(await ctx.confirm(`Remove ${who} from ${ctx.groups().get(r.group_id)?.name || "the group"}? The group's keys will be rotated.`, "Remove"))) return;
  if (action === "ban_account" && !(await ctx.confirm(`Ban ${who}'s account from this server? All their memberships end and they cannot connect again.`, "Ban"))) return;
  const payload = { report_id: r.report_id, action, note: $("#act-note").value.trim() };
  if ((action === "warn" || action === "mute") && $("#act-rule").value) payload.rule = $("#act-rule").value;
  if (action === "mute") {
    const minutes = Number($("#act-minutes").value);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 43200) {
      $("#act-error").textContent = "Mute for a whole number of minutes between 1 and 43200.";
      $("#act-minutes").focus();
      return;
    }
    payload.mute_minutes = minutes;
  }
  let reply;
  try {
    reply = await ctx.session().call("moderation.act", payload);
  } catch (error) {
    $("#act-error").textContent = error.code === "already_resolved" ? "Another facilitator has decided already." : error.message;
    if (error.code === "already_resolved") ctx.session().call("moderation.get", { report_id: r.report_id }).then((g) => ctx.resolved(g.report), () => {});
    return;
  }
  $("#act-note").value = "";
  $("#act-rule").value = "";
  ctx.resolved(reply.report);
  announce(`${LABELS[action]}.`);
  $("#report-title").focus();
  if (action === "remove_member" || action === "ban_account") {
    announce(`${LABELS[action]}; rotating the group's keys.`);
    await ctx.rotateNow(r.group_id);
  }
  if (action === "hide_message") loadContext(current);
}
