// What a facilitator tells one member (`notice`: a warning, or a mute until a time), and a refused
// send because of a mute, shown as a banner in that group's chat — only this member sees it.
// A mute is also restored from `groups.list` on every connect (the server keeps it and its
// reason), so it survives reloads and reconnects; a warning names the rule it is about.

import { $ } from "./ui.js";
import { t } from "./i18n.js";
import { formatUntil, muteReason } from "./composer.js";

const notices = new Map(); // group id (b64) -> {kind, message, until, rule, note}
let timer = null;

function active(groupId) {
  const notice = notices.get(groupId);
  if (notice?.kind === "muted" && notice.until <= Date.now()) {
    notices.delete(groupId);
    return null;
  }
  return notice || null;
}

export function mutedText(until) {
  return t("member.mute.until", { until: formatUntil(until) });
}

/** Remember a `notice` event (or a `muted` refusal, or groups.list's `mute`) for its group. */
export function remember(groupId, kind, message, until, rule = null, note = null) {
  notices.set(groupId, { kind, message, until, rule, note });
}

/** The group's mute while it lasts, as {until, rule, note}, else null. */
export function mute(groupId) {
  const notice = active(groupId);
  return notice?.kind === "muted" ? { until: notice.until, rule: notice.rule, note: notice.note } : null;
}

/** The server says there is no mute (any more): drop a remembered one. */
export function forgetMute(groupId) {
  if (notices.get(groupId)?.kind === "muted") notices.delete(groupId);
}

/** Show the current group's notice, if any, in #notice. */
export function render(groupId) {
  const banner = $("#notice");
  const notice = groupId ? active(groupId) : null;
  clearTimeout(timer);
  banner.hidden = !notice;
  banner.className = `notice ${notice?.kind || ""}`;
  if (!notice) return;
  $("#notice-dismiss").hidden = notice.kind === "muted"; // a mute ends by itself
  if (notice.kind === "muted") {
    $("#notice-text").textContent = `${mutedText(notice.until)} ${muteReason(notice) || notice.message || ""}`.trim();
    timer = setTimeout(() => render(groupId), Math.min(notice.until - Date.now() + 500, 2 ** 31 - 1));
  } else if (notice.rule) {
    const warned = t("member.notice.warnedRule", { rule: notice.rule });
    $("#notice-text").textContent = notice.note ? `${warned} ${t("member.notice.theirNote", { note: notice.note })}` : warned;
  } else {
    $("#notice-text").textContent = t("member.notice.warned", { message: notice.message });
  }
}

export function dismiss(groupId) {
  if (notices.get(groupId)?.kind !== "muted") notices.delete(groupId);
  render(groupId);
}
