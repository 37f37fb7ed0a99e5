// A group's slow mode in the console: the least number of seconds between two messages of one
// member (0 = off). The server enforces it and refuses values past its own maximum. And its
// newcomer hold: how many of a newcomer's messages wait for a facilitator (0 = off).

import { $, announce } from "./ui.js";

let ctx = null;
let groupId = null;

export function init(context) {
  ctx = context;
  $("#slow-form").addEventListener("submit", save);
  $("#hold-form").addEventListener("submit", saveHold);
}

/** Show the open group's setting (not while the facilitator is editing it). */
export function show(group) {
  const changedGroup = groupId !== group.group_id;
  groupId = group.group_id;
  if (changedGroup || document.activeElement !== $("#slow-seconds")) {
    $("#slow-seconds").value = String(group.slow_mode_seconds ?? 0);
    $("#slow-error").textContent = "";
  }
  if (changedGroup || document.activeElement !== $("#hold-count")) {
    $("#hold-count").value = String(group.newcomer_hold ?? 0);
    $("#hold-error").textContent = "";
  }
}

async function save(event) {
  event.preventDefault();
  $("#slow-error").textContent = "";
  const seconds = Number($("#slow-seconds").value);
  if (!Number.isInteger(seconds) || seconds < 0) {
    $("#slow-error").textContent = "Give a whole number of seconds (0 turns slow mode off).";
    $("#slow-seconds").focus();
    return;
  }
  try {
    const reply = await ctx.session().call("group.update", { group_id: groupId, slow_mode_seconds: seconds });
    const now = reply.group.slow_mode_seconds;
    announce(now ? `Slow mode on: one message every ${now} seconds per member.` : "Slow mode off.");
  } catch (error) {
    $("#slow-error").textContent = error.message;
    $("#slow-seconds").focus();
  }
}

async function saveHold(event) {
  event.preventDefault();
  $("#hold-error").textContent = "";
  const count = Number($("#hold-count").value);
  if (!Number.isInteger(count) || count < 0) {
    $("#hold-error").textContent = "Give a whole number of messages (0 turns the hold off).";
    $("#hold-count").focus();
    return;
  }
  try {
    const reply = await ctx.session().call("group.update", { group_id: groupId, newcomer_hold: count });
    const now = reply.group.newcomer_hold;
    announce(now ? `Newcomer hold on: each newcomer's first ${now} message${now === 1 ? "" : "s"} wait for a facilitator.` : "Newcomer hold off.");
  } catch (error) {
    $("#hold-error").textContent = error.message;
    $("#hold-count").focus();
  }
}
