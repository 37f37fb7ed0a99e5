// What a facilitator tells one member (`notice`: a warning, or a mute until a time), and a refused
// send because of a mute, shown as a banner in that group's chat — only this member sees it.

import { $, formatTime } from "./ui.js";

const notices = new Map(); // group id (b64) -> {kind, message, until}
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
  return `You are muted in this group until ${formatTime(until)}.`;
}

/** Remember a `notice` event (or a `muted` refusal) for its group. */
export function remember(groupId, kind, message, until) {
  notices.set(groupId, { kind, message, until });
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
    $("#notice-text").textContent = `${mutedText(notice.until)} ${notice.message || ""}`.trim();
    timer = setTimeout(() => render(groupId), Math.min(notice.until - Date.now() + 500, 2 ** 31 - 1));
  } else {
    $("#notice-text").textContent = `A facilitator warned you: ${notice.message}`;
  }
}

export function dismiss(groupId) {
  if (notices.get(groupId)?.kind !== "muted") notices.delete(groupId);
  render(groupId);
}
