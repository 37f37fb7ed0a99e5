// New messages from others in the open conversation, said to screen readers through a polite
// live region: each as "name: text", or a short summary when several arrive together (a burst,
// a catch-up after a reconnect). History loaded or scrolled into view is never said; neither is
// the list itself, which is not a live region.

import { t, localeTag } from "./i18n.js";

const GATHER_MS = 300; // arrivals this close to the first one are said together
const SAID_ONE_BY_ONE = 3; // more than this at once: a summary
const SPOKEN_CHARS = 300; // of one message's text

export class Arrivals {
  #region;
  #pending = [];
  #timer = null;

  constructor(region) {
    this.#region = region;
  }

  /** A message from someone else arrived live (a deleted one has no text: it is not said). */
  add(name, text) {
    this.#pending.push({ name, text });
    this.#timer ??= setTimeout(() => this.#say(), GATHER_MS);
  }

  /** Forget what was not said yet (the person left the conversation). */
  clear() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#pending = [];
    this.#region.replaceChildren();
  }

  #say() {
    const arrived = this.#pending;
    this.#pending = [];
    this.#timer = null;
    const lines = arrived.length > SAID_ONE_BY_ONE ? [summary(arrived)] : arrived.map(({ name, text }) => `${name}: ${clip(text)}`);
    // New elements each time, so that the same words arriving twice are said twice.
    this.#region.replaceChildren(...lines.map((line) => Object.assign(document.createElement("p"), { textContent: line })));
  }
}

function clip(text) {
  return text.length > SPOKEN_CHARS ? `${text.slice(0, SPOKEN_CHARS)}…` : text;
}

function summary(arrived) {
  const names = [...new Set(arrived.map((a) => a.name))];
  const from =
    names.length <= 2
      ? new Intl.ListFormat(localeTag, { type: "conjunction" }).format(names)
      : t("member.arrivals.others", { first: names[0], second: names[1], count: names.length - 2 });
  return t("member.arrivals.summary", { count: arrived.length, from });
}

/**
 * Of messages that came live (a broadcast, or a catch-up after a reconnect), those not passed on
 * yet, marked as passed on: each is said (and, on the console, triaged) once, also when a history
 * fetch running at the same time (opening a conversation, being keyed) brought it first.
 */
export function firstArrivals(items) {
  const first = items.filter((item) => !item.arrived);
  for (const item of first) item.arrived = true;
  return first;
}
