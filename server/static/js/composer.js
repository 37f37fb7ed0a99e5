// The composer of the open group says, before anyone types, what limits it: slow mode (and, after
// a message, a live countdown until the next one), a mute (the composer is disabled and says why
// and until when), and the length of what is typed (a live counter near the limit; text past the
// limit is kept and explained, never cut off without a word).

import { $, announce } from "./ui.js";

export const MAX_CHARS = 4000;
const NEAR = MAX_CHARS - 500; // the counter shows from here on

const nextAllowed = new Map(); // group id -> time (Date.now()) from which slow mode lets one send
let shown = null; // {groupId, slowSeconds, exempt, mute: {until, rule, note} | null}
let ticker = null;

const count = (n) => n.toLocaleString("en");

/** "14:35", or "Tue 9 Dec, 14:35" when it is not today. */
export function formatUntil(ms) {
  const date = new Date(ms);
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" })}, ${time}`;
}

function seconds(ms) {
  return Math.max(1, Math.ceil(ms / 1000));
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Why the open group's mute is on, in the facilitator's words (rule and note). */
export function muteReason(mute) {
  const parts = [];
  if (mute?.rule) parts.push(`Rule: “${mute.rule}”`);
  if (mute?.note) parts.push(`Facilitator's note: “${mute.note}”`);
  return parts.join(" ");
}

export function muteText(mute) {
  return `You are muted in this group until ${formatUntil(mute.until)}. ${muteReason(mute)}`.trim();
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
    return `Your message is ${count(text.length - MAX_CHARS)} characters too long (the limit is ${count(MAX_CHARS)}). It is still in the box: shorten it or send it in parts.`;
  }
  const wait = waitMs(groupId);
  if (wait > 0) return `Slow mode: you can send again in ${plural(seconds(wait), "second")}. Your message is kept.`;
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
    ? `${count(length)} / ${count(MAX_CHARS)} characters: ${count(length - MAX_CHARS)} too many. Shorten it or send it in parts.`
    : `${count(length)} / ${count(MAX_CHARS)} characters`;
  counter.classList.toggle("over", over);
  if (over !== (area.getAttribute("aria-invalid") === "true")) {
    area.setAttribute("aria-invalid", String(over));
    if (over) announce(`Your message is over the limit of ${count(MAX_CHARS)} characters. Nothing was cut: shorten it or send it in parts.`);
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
        announce("Your mute has ended: you can write again.");
      }
    }, 1000);
    return;
  }
  hint.dataset.kind = slowSeconds > 0 ? "slow" : "";
  hint.textContent =
    slowSeconds > 0
      ? exempt
        ? `Slow mode is on for members: one message every ${plural(slowSeconds, "second")} (facilitators are not held back).`
        : `Slow mode is on: you can send one message every ${plural(slowSeconds, "second")}.`
      : "";
  const tick = () => {
    const left = waitMs(groupId);
    wait.hidden = left <= 0;
    wait.textContent = left > 0 ? `You can send again in ${plural(seconds(left), "second")}.` : "";
    if (left <= 0 && ticker) {
      clearInterval(ticker);
      ticker = null;
      announce("Slow mode: you can send a message again.");
    }
  };
  tick();
  if (waitMs(groupId) > 0) ticker = setInterval(tick, 250);
}
