// Acting on a message from the console's conversation (`message.act`, docs/protocol.md §14.2):
// hide, warn, mute, remove from the group, ban. Removing and banning cannot be undone (the keys
// rotate; a ban ends every membership), so they ask first. Hiding, warning and muting wait a few
// seconds before anything is sent, and "Undo" in that time sends nothing at all: the server never
// learns of an action taken back.

import { $, el, announce, ask } from "./ui.js";

export const UNDO_SECONDS = 8;
const LABELS = {
  hide_message: "Message hidden",
  warn: "Member warned",
  mute: "Member muted",
  remove_member: "Member removed from the group",
  ban_account: "Account banned",
};
const PENDING = {
  hide_message: (who) => `Hiding the message from ${who}`,
  warn: (who) => `Warning ${who}`,
  mute: (who) => `Muting ${who}`,
};

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
    el("option", { value: "", text: "No particular rule" }),
    ...lines.map((line) => el("option", { value: line, text: line })),
  );
}

/** Ask what to do about `item` (a verified message of `groupId`), then do it. */
export async function actOn(groupId, item, who) {
  $("#act-who").textContent = who;
  $("#act-quote").textContent = item.text || "";
  fillRules(ctx.rules(groupId));
  const action = await ask($("#act-dialog"));
  if (!LABELS[action]) return;
  const payload = { group_id: groupId, msg_id: item.msgId, action, note: $("#msg-note").value.trim() };
  if ((action === "warn" || action === "mute") && $("#msg-rule").value) payload.rule = $("#msg-rule").value;
  if (action === "mute") {
    const minutes = Number($("#msg-minutes").value);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 43200) {
      announce("Mute for a whole number of minutes between 1 and 43200.");
      return;
    }
    payload.mute_minutes = minutes;
  }
  const group = ctx.groupName(groupId);
  if (action === "remove_member" && !(await ctx.confirm(`Remove ${who} from ${group}? The group's keys will be rotated, and this cannot be undone.`, `Remove ${who}`))) return;
  if (action === "ban_account" && !(await ctx.confirm(`Ban ${who}'s account from this server? All their memberships end and they cannot connect again. This cannot be undone here.`, `Ban ${who}`))) return;
  $("#msg-note").value = "";
  if (PENDING[action]) return defer({ payload, who, groupId });
  await send({ payload, who, groupId });
}

function defer(action) {
  if (pending) flush(); // one waiting action at a time: the earlier one goes now
  pending = action;
  action.timer = setTimeout(flush, UNDO_SECONDS * 1000);
  $("#undo-text").textContent = `${PENDING[action.payload.action](action.who)} in ${UNDO_SECONDS} seconds.`;
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
  announce(`Undone: nothing was sent about ${who}.`);
  $("#conv-messages").focus();
}

async function send({ payload, who, groupId }) {
  try {
    await ctx.session().call("message.act", payload);
  } catch (error) {
    announce(`Could not act on the message from ${who}: ${error.message}`);
    return;
  }
  announce(`${LABELS[payload.action]} (${who}).`);
  if (payload.action === "remove_member" || payload.action === "ban_account") await ctx.rotateNow(groupId);
  ctx.done(groupId, payload.action);
}

