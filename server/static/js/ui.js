// Small DOM helpers shared by the member page and the console (no innerHTML with data).

import { t, formatTime as localTime } from "./i18n.js";

export const $ = (selector, root = document) => root.querySelector(selector);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

/** A role shown beside a name, as its own element with its own accessible text. */
const CONTROLS = "button, input, select, textarea, a[href]";

/** Draw a list's items again, keeping a keyboard user's focus: if a control of an item (found by
 * its `data-<key>`) had it, the same control of the item drawn again gets it back. */
export function replaceKeepingFocus(list, key, items) {
  const active = document.activeElement;
  const item = list.contains(active) ? active.closest(`[data-${key}]`) : null;
  const place = item ? [...item.querySelectorAll(CONTROLS)].indexOf(active) : -1;
  list.replaceChildren(...items);
  if (!item || place < 0) return;
  const again = [...list.children].find((node) => node.dataset[key] === item.dataset[key]);
  again?.querySelectorAll(CONTROLS)[place]?.focus();
}

export function roleBadge(role, label) {
  return el("span", { class: "role-badge", "data-role": role }, " ", el("span", { class: "visually-hidden", text: t("common.rolePrefix") }), label);
}

/** A report's content as facilitators read it: a content note (type 2, docs/protocol.md §7.3,
 * note ‖ NUL ‖ text) shown in brackets before the text. */
export function reportedContent(report) {
  const end = report.content_type === 2 ? report.content.indexOf("\u0000") : -1;
  return end >= 0 ? t("common.reportedWithNote", { note: report.content.slice(0, end), text: report.content.slice(end + 1) }) : report.content;
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

/** Move the focus to the heading of a screen just shown, unless `keepFocus` and the person has
 * already put it somewhere: a start's first screen never takes it from a button they tabbed to
 * while the page was starting. */
export function focusHeading(heading, { keepFocus = false } = {}) {
  const placed = document.activeElement && document.activeElement !== document.body;
  if (!heading || (keepFocus && placed)) return;
  heading.tabIndex = -1;
  heading.focus({ preventScroll: true });
}

/** Announce a status line politely to screen readers and sighted users alike. */
export function announce(text, region = $("#status")) {
  if (region) region.textContent = text;
}

export function formatTime(ms) {
  return localTime(ms);
}

/** Text that people wrote (a name, a group's name, a message), isolated from the text around
 * it so that a right-to-left name cannot reorder the sentence it sits in (Unicode UAX #9). */
export function bdi(text, props = {}) {
  return el("bdi", props, text);
}

/** Fill the crisis-resources dialog from /api/settings. */
export function renderResources(list, resources) {
  list.replaceChildren();
  if (!resources.length) {
    list.append(el("li", { text: t("member.crisis.emergency") }));
    return;
  }
  for (const r of resources) {
    list.append(
      el(
        "li",
        {},
        el("strong", { dir: "auto", text: r.name }),
        r.phone ? el("span", {}, " · ", el("a", { href: `tel:${r.phone.replace(/[^+\d]/g, "")}`, dir: "ltr", text: r.phone })) : null,
        r.url ? el("span", {}, " · ", el("a", { href: r.url, rel: "noreferrer noopener", target: "_blank", text: t("member.crisis.website") })) : null,
        r.hours ? el("span", {}, " · ", bdi(r.hours)) : null,
      ),
    );
  }
}

export function wireDialogClose(dialog) {
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => dialog.close(button.dataset.close || ""));
  }
}

const unanswered = new WeakMap(); // dialog -> how to answer its opening whose close event is due

/**
 * Open `dialog` as a modal; resolves with the `data-close` value of the button that closed it,
 * "" for Escape. A dialog's close event is queued, so the event of one opening can arrive after a
 * quick action (Enter right after "Keep editing") has opened the dialog again: each opening takes
 * only a close event that finds the dialog closed, and opening it again first answers the previous
 * opening with the value it was closed with.
 */
export function ask(dialog) {
  unanswered.get(dialog)?.(dialog.returnValue);
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    const answer = (value) => {
      dialog.removeEventListener("close", onClose);
      if (unanswered.get(dialog) === answer) unanswered.delete(dialog);
      resolve(value);
    };
    const onClose = () => {
      if (!dialog.open) answer(dialog.returnValue);
    };
    unanswered.set(dialog, answer);
    dialog.addEventListener("close", onClose);
  });
}
