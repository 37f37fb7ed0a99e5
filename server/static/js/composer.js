// The composer of the open group says, before anyone types, what limits it: slow mode (and, after
// a message, a live countdown until the next one), a mute (the composer is disabled and says why
// and until when), and the length of what is typed (a live counter near the limit; text past the
// limit is kept and explained, never cut off without a word).

import { $, announce } from "./ui.js";
import { t, formatNumber, formatTime, formatDateTime } from "./i18n.js";

export const MAX_CHARS = 4000;
const NEAR = MAX_CHARS - 500; // the counter shows from here on

const nextAllowed = new Map(); // group id -> time (Date.now()) from which slow mode lets one send
let shown = null; // {groupId, slowSeconds, exempt, mute: {until, rule, note} | null}
let ticker = null;

const count = formatNumber;

/** "14:35", or "Tue 9 Dec, 14:35" when it is not today (in the page's locale). */
export function formatUntil(ms) {
  const date = new Date(ms);
  if (date.toDateString() === new Date().toDateString()) return formatTime(ms);
  return formatDateTime(ms, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

function seconds(ms) {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** Why the open group's mute is on, in the facilitator's words (rule and note). */
export function muteReason(mute) {
  const parts = [];
  if (mute?.rule) parts.push(t("member.mute.rule", { rule: mute.rule }));
  if (mute?.note) parts.push(t("member.mute.note", { note: mute.note }));
  return parts.join(" ");
}

export function muteText(mute) {
  return `${t("member.mute.until", { until: formatUntil(mute.until) })} ${muteReason(mute)}`.trim();
}

/** Show the composer for a group: `slowSeconds` (0 = off), `exempt` (a facilitator), `mute`,
 * `closed` (why posting is closed now and when it opens, or null). */
export function show(groupId, { slowSeconds = 0, exempt = false, mute = null, closed = null } = {}) {
  shown = { groupId, slowSeconds, exempt, mute: mute && mute.until > Date.now() ? mute : null, closed };
  render();
}

export function hide() {
  shown = null;
  clearInterval(ticker);
  ticker = null;
}

function waitMs(groupId) {
  return Math.max(0, (nextAllowed.get(groupId) || 0) - Date.now());
}

/** A message of ours was accepted: slow mode counts from now. */
export function sent(groupId, slowSeconds, exempt) {
  if (slowSeconds > 0 && !exempt) nextAllowed.set(groupId, Date.now() + slowSeconds * 1000);
  if (shown?.groupId === groupId) render();
}

/** The server refused a send for slow mode: it said how long to wait. */
export function mustWait(groupId, retryAfterMs) {
  nextAllowed.set(groupId, Math.max(nextAllowed.get(groupId) || 0, Date.now() + retryAfterMs));
  if (shown?.groupId === groupId) render();
}

/** Why `text` cannot be sent now (kept in the box), or null. */
export function refusal(groupId, text) {
  if (shown?.groupId === groupId && shown.mute && shown.mute.until > Date.now()) return muteText(shown.mute);
  if (text.length > MAX_CHARS) {
    return t("member.compose.tooLong", { count: text.length - MAX_CHARS, limit: MAX_CHARS });
  }
  const wait = waitMs(groupId);
  if (wait > 0) return t("member.slow.refused", { count: seconds(wait) });
  return null;
}

/** Update the counter as the person types (also after a paste). */
export function typed() {
  const area = $("#compose-text");
  const length = area.value.trim().length; // what would be sent
  const counter = $("#compose-count");
  const over = length > MAX_CHARS;
  counter.hidden = length < NEAR;
  counter.textContent = over
    ? t("member.compose.countOver", { length: count(length), limit: count(MAX_CHARS), count: length - MAX_CHARS })
    : t("member.compose.count", { length: count(length), limit: count(MAX_CHARS) });
  counter.classList.toggle("over", over);
  if (over !== (area.getAttribute("aria-invalid") === "true")) {
    area.setAttribute("aria-invalid", String(over));
    if (over) announce(t("member.compose.overLimit", { limit: count(MAX_CHARS) }));
  }
}

function render() {
  clearInterval(ticker);
  ticker = null;
  if (!shown) return;
  const { groupId, slowSeconds, exempt, mute } = shown;
  const area = $("#compose-text");
  const hint = $("#compose-hint");
  const wait = $("#compose-wait");
  const muted = mute && mute.until > Date.now();
  const closed = !muted && shown.closed;
  const wasTyping = document.activeElement === area || document.activeElement === document.body;
  area.disabled = Boolean(muted || closed);
  if ((muted || closed) && wasTyping) hint.focus(); // keep the keyboard on the reason, not on a dead box
  $("#compose-send").disabled = Boolean(muted || closed);
  $("#compose-note-toggle").disabled = Boolean(muted || closed);
  if (closed) {
    // Said before anyone types; group.posting opens it again (member.js).
    hint.textContent = closed;
    hint.dataset.kind = "closed";
    wait.hidden = true;
    return;
  }
  if (muted) {
    hint.textContent = muteText(mute);
    hint.dataset.kind = "muted";
    wait.hidden = true;
    // It ends by itself: the composer opens again then.
    ticker = setInterval(() => {
      if (mute.until <= Date.now()) {
        shown.mute = null;
        render();
        announce(t("member.mute.ended"));
      }
    }, 1000);
    return;
  }
  hint.dataset.kind = slowSeconds > 0 ? "slow" : "";
  hint.textContent =
    slowSeconds > 0
      ? exempt
        ? t("member.slow.onExempt", { count: slowSeconds })
        : t("member.slow.on", { count: slowSeconds })
      : "";
  const tick = () => {
    const left = waitMs(groupId);
    wait.hidden = left <= 0;
    wait.textContent = left > 0 ? t("member.slow.wait", { count: seconds(left) }) : "";
    if (left <= 0 && ticker) {
      clearInterval(ticker);
      ticker = null;
      announce(t("member.slow.over"));
    }
  };
  tick();
  if (waitMs(groupId) > 0) ticker = setInterval(tick, 250);
}
