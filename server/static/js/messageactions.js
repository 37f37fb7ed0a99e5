// Acting on a message from the console's conversation (`message.act`, docs/protocol.md §14.2):
// hide, warn, mute, remove from the group, ban. Removing and banning cannot be undone (the keys
// rotate; a ban ends every membership), so they ask first. Hiding, warning and muting wait a few
// seconds before anything is sent, and "Undo" in that time sends nothing at all: the server never
// learns of an action taken back.

import { $, el, bdi, announce, ask } from "./ui.js";
import { t, tParts } from "./i18n.js";

export const UNDO_SECONDS = 8;
const ACTIONS = new Set(["hide_message", "warn", "mute", "remove_member", "ban_account"]);
const label = (action) => t(`console.action.done.${action}`);
// Hiding, warning and muting wait UNDO_SECONDS first.
const PENDING = new Set(["hide_message", "warn", "mute"]);

let ctx = null;
let pending = null; // {payload, who, groupId, timer}

/** `context`: {session(), groupName(id), rules(id), nameOf(groupId, memberId), confirm(text, yes), rotateNow(id), done(groupId, action)}. */
export function init(context) {
  ctx = context;
  $("#undo-button").addEventListener("click", undo);
  // A console closed within the undo time still sends what the facilitator decided.
  window.addEventListener("pagehide", () => pending && send(pending));
}

function fillRules(rules) {
  const lines = rules.split("\n").map((line) => line.trim()).filter(Boolean);
  $("#msg-rule").replaceChildren(
    el("option", { value: "", text: t("console.rule.none") }),
    ...lines.map((line) => el("option", { value: line, text: line })),
  );
}

/** Ask what to do about `item` (a verified message of `groupId`), then do it. */
export async function actOn(groupId, item, who) {
  $("#act-sender").replaceChildren(...tParts("console.act.sender", { who: el("strong", {}, bdi(who)) }));
  $("#act-quote").textContent = item.text || "";
  fillRules(ctx.rules(groupId));
  const action = await ask($("#act-dialog"));
  if (!ACTIONS.has(action)) return;
  const payload = { group_id: groupId, msg_id: item.msgId, action, note: $("#msg-note").value.trim() };
  if ((action === "warn" || action === "mute") && $("#msg-rule").value) payload.rule = $("#msg-rule").value;
  if (action === "mute") {
    const minutes = Number($("#msg-minutes").value);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 43200) {
      announce(t("console.act.minutes"));
      return;
    }
    payload.mute_minutes = minutes;
  }
  const group = ctx.groupName(groupId);
  if (action === "remove_member" && !(await ctx.confirm(t("console.act.removeConfirm", { who, group }), t("console.remove", { who })))) return;
  if (action === "ban_account" && !(await ctx.confirm(t("console.act.banConfirm", { who }), t("console.ban", { who })))) return;
  $("#msg-note").value = "";
  if (PENDING.has(action)) return defer({ payload, who, groupId });
  await send({ payload, who, groupId });
}

function defer(action) {
  if (pending) flush(); // one waiting action at a time: the earlier one goes now
  pending = action;
  action.timer = setTimeout(flush, UNDO_SECONDS * 1000);
  $("#undo-text").textContent = t(`console.act.pending.${action.payload.action}`, { who: action.who, count: UNDO_SECONDS });
  $("#undo-bar").hidden = false;
  $("#undo-button").focus();
}

function flush() {
  const action = pending;
  if (!action) return;
  clearTimeout(action.timer);
  pending = null;
  $("#undo-bar").hidden = true;
  send(action);
}

function undo() {
  if (!pending) return;
  clearTimeout(pending.timer);
  const who = pending.who;
  pending = null;
  $("#undo-bar").hidden = true;
  announce(t("console.act.undone", { who }));
  $("#conv-messages").focus();
}

async function send({ payload, who, groupId }) {
  try {
    await ctx.session().call("message.act", payload);
  } catch (error) {
    announce(t("console.act.failed", { who, error: error.message }));
    return;
  }
  announce(t("console.act.done", { label: label(payload.action), who }));
  if (payload.action === "remove_member" || payload.action === "ban_account") await ctx.rotateNow(groupId);
  ctx.done(groupId, payload.action);
}

