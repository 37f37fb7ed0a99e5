// Content notes (docs/protocol.md §7.3): the sender may put a short note in front of a message
// ("self-harm", "abuse", or their own words); it travels inside the encrypted content. Readers see
// the note and choose to show the text, one click or key press away.
//
// A per-member setting, kept on this device, says whether noted messages start hidden. Its
// default is to hide them: the sender judged the text might hurt someone, and the reader who is
// having a hard day is the one who cannot un-read it; showing costs one press, an unwanted
// message costs more. Until the setting is read (or if it cannot be), messages are hidden too.
//
// member.js builds message elements; decorate() adds the note and the show/hide control to one,
// so it works with however the list is rendered. composer.js asks noteToSend() what to seal.

import * as hc from "./cryptobase.js";
import * as store from "./keystore.js";
import { $, el, announce } from "./ui.js";
import { t } from "./i18n.js";

const SETTING = "prefs:content-notes"; // IndexedDB, so "Delete all my data" deletes it too
// The suggested notes, in the page's language (a note travels as the words chosen).
export const SUGGESTED = ["selfHarm", "suicide", "abuse", "violence", "eatingDisorder", "drugs"].map((key) => t(`member.note.suggest.${key}`));

let hideByDefault = true;
const revealed = new Set(); // msg ids (b64) of noted messages shown anyway
const concealed = new Set(); // msg ids hidden again although the setting shows them
let changed = () => {};

/** Read the setting, wire the settings checkbox and the composer's note controls. */
export async function wire({ onChange }) {
  changed = onChange;
  try {
    const saved = await store.get(SETTING);
    if (saved && typeof saved.hide === "boolean") hideByDefault = saved.hide;
  } catch {
    /* keep the safe default */
  }
  const box = $("#hide-noted");
  box.checked = hideByDefault;
  box.addEventListener("change", async () => {
    hideByDefault = box.checked;
    revealed.clear();
    concealed.clear();
    await store.put(SETTING, { hide: hideByDefault });
    announce(hideByDefault ? t("member.note.willHide") : t("member.note.willShow"));
    changed();
  });
  wireComposer();
  changed();
}

// -- writing ---------------------------------------------------------------------------------------

function wireComposer() {
  const toggle = $("#compose-note-toggle");
  const panel = $("#compose-note-panel");
  const input = $("#compose-note");
  const chips = $("#compose-note-suggestions");
  chips.replaceChildren(
    ...SUGGESTED.map((word) =>
      el("li", {}, el("button", { type: "button", class: "note-chip", onclick: () => { input.value = word; checkNote(); input.focus(); } }, word)),
    ),
  );
  toggle.addEventListener("click", () => setOpen(panel.hidden));
  $("#compose-note-remove").addEventListener("click", () => {
    clearNote();
    $("#compose-text").focus();
  });
  input.addEventListener("input", checkNote);
}

function setOpen(open) {
  const panel = $("#compose-note-panel");
  panel.hidden = !open;
  $("#compose-note-toggle").setAttribute("aria-expanded", String(open));
  if (open) $("#compose-note").focus();
}

function checkNote() {
  const input = $("#compose-note");
  const note = input.value.trim();
  const problem = note ? hc.noteProblem(note) : null;
  $("#compose-note-error").textContent = problem ? t("member.note.problem", { problem: noteProblemText(problem) }) : "";
  input.setAttribute("aria-invalid", String(Boolean(problem)));
  $("#compose-note-toggle").textContent = note ? t("member.note.current", { note }) : t("member.note.add");
}

/** crypto.js's noteProblem() in the page's language: the same three checks, said in words. */
function noteProblemText(problem) {
  const note = $("#compose-note").value.trim();
  if (!note) return t("member.note.problem.empty");
  if ([...note].length > hc.MAX_NOTE_CHARS) return t("member.note.problem.long", { count: hc.MAX_NOTE_CHARS });
  return problem && t("member.note.problem.characters");
}

/** The note to seal with the next message: {note} (null for none) or {problem} to show. */
export function noteToSend() {
  const panel = $("#compose-note-panel");
  const note = panel.hidden ? "" : $("#compose-note").value.trim();
  if (!note) return { note: null };
  const problem = hc.noteProblem(note);
  return problem ? { problem: t("member.note.problemKept", { problem: noteProblemText(problem) }) } : { note };
}

/** After a message was handed over for sending: the next one starts without a note. */
export function clearNote() {
  $("#compose-note").value = "";
  checkNote();
  setOpen(false);
}

// -- reading ---------------------------------------------------------------------------------------

function isHidden(m) {
  if (m.mine) return false;
  return hideByDefault ? !revealed.has(m.msgId) : concealed.has(m.msgId);
}

/** Add the note (and the control that shows or hides the text) to a message element. */
export function decorate(node, m) {
  if (!m.note || m.deleted) return node;
  const text = node.querySelector(".text");
  if (!text) return node;
  text.id = `text-${m.msgId}`;
  const hidden = isHidden(m);
  text.hidden = hidden;
  node.classList.add("noted");
  const label = el("p", { class: "content-note" }, el("span", { class: "content-note-label", text: t("member.note.prefix") }), el("bdi", { class: "content-note-text", text: m.note }));
  const controls = m.mine
    ? null
    : el(
        "button",
        {
          type: "button",
          class: "content-note-toggle",
          "aria-expanded": String(!hidden),
          "aria-controls": text.id,
          onclick: (event) => toggle(event.currentTarget, text, m),
        },
        hidden ? t("member.note.show") : t("member.note.hide"),
      );
  text.before(label, ...(controls ? [controls] : []));
  return node;
}

function toggle(button, text, m) {
  const show = text.hidden;
  if (hideByDefault) (show ? revealed.add(m.msgId) : revealed.delete(m.msgId));
  else (show ? concealed.delete(m.msgId) : concealed.add(m.msgId));
  // Changed in place, so the keyboard stays on the button.
  text.hidden = !show;
  button.textContent = show ? t("member.note.hide") : t("member.note.show");
  button.setAttribute("aria-expanded", String(show));
}
