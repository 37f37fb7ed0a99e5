// A group's slow mode in the console: the least number of seconds between two messages of one
// member (0 = off). The server enforces it and refuses values past its own maximum. And its
// newcomer hold: how many of a newcomer's messages wait for a facilitator (0 = off).

import { $, announce } from "./ui.js";
import { t } from "./i18n.js";

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
    $("#slow-error").textContent = t("console.slow.invalid");
    $("#slow-seconds").focus();
    return;
  }
  try {
    const reply = await ctx.session().call("group.update", { group_id: groupId, slow_mode_seconds: seconds });
    const now = reply.group.slow_mode_seconds;
    announce(now ? t("console.slow.on", { count: now }) : t("console.slow.off"));
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
    $("#hold-error").textContent = t("console.hold.invalid");
    $("#hold-count").focus();
    return;
  }
  try {
    const reply = await ctx.session().call("group.update", { group_id: groupId, newcomer_hold: count });
    const now = reply.group.newcomer_hold;
    announce(now ? t("console.hold.on", { count: now }) : t("console.hold.off"));
  } catch (error) {
    $("#hold-error").textContent = error.message;
    $("#hold-count").focus();
  }
}
