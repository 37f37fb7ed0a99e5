// An optional passcode (set under "My data") that Hearth asks for whenever it is opened on this
// device, so that someone picking up the phone after a quick exit sees nothing of it. It keeps
// out a casual look, not a determined attacker: the keys and messages in this browser's storage
// are not encrypted with it (docs/threat-model.md). Only a PBKDF2 hash of it is stored, with the
// rest of Hearth's data, so "Delete all my data" removes it too.

import * as store from "./keystore.js";
import { $ } from "./ui.js";
import { t } from "./i18n.js";

const KEY = "pagelock";
const ITERATIONS = 200_000;
const CODE = /^[0-9]{4,8}$/;

async function hash(code, salt) {
  const material = await crypto.subtle.importKey("raw", new TextEncoder().encode(code), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations: ITERATIONS }, material, 256);
  return new Uint8Array(bits);
}

function same(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

async function setPasscode(code) {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  await store.put(KEY, { salt, hash: await hash(code, salt) });
}

async function checks(code) {
  const saved = await store.get(KEY);
  return Boolean(saved) && same(await hash(code, saved.salt), saved.hash);
}

// While locked the tab's title is neutral too; a title the page sets meanwhile is kept for later.
const NEUTRAL_TITLE = t("member.lock.passcode");
let realTitle = null;
new MutationObserver(() => {
  if (realTitle !== null && document.title !== NEUTRAL_TITLE) {
    realTitle = document.title;
    document.title = NEUTRAL_TITLE;
  }
}).observe(document.head, { subtree: true, childList: true, characterData: true });

function showLocked(locked) {
  document.body.classList.toggle("locked", locked);
  $("#lock").hidden = !locked;
  if (locked) {
    realTitle ??= document.title;
    document.title = NEUTRAL_TITLE;
    $("#unlock-code").focus();
  } else if (realTitle !== null) {
    const title = realTitle;
    realTitle = null;
    document.title = title;
  }
}

async function renderSetting() {
  const set = Boolean(await store.get(KEY));
  $("#lock-state").textContent = set ? t("member.lock.isSet") : t("member.lock.notSet");
  $("#lock-remove").hidden = !set;
}

let failures = 0;
let notBefore = 0; // guessing by hand gets slower with every wrong try
let checking = false;

async function unlock(event) {
  event.preventDefault();
  if (checking) return;
  checking = true;
  const field = $("#unlock-code");
  try {
    const wait = notBefore - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const code = field.value;
    field.value = "";
    if (await checks(code)) {
      failures = 0;
      $("#unlock-error").textContent = "";
      showLocked(false);
      $("#main").focus();
      return;
    }
    failures += 1;
    notBefore = Date.now() + Math.min(500 * 2 ** failures, 30_000);
    $("#unlock-error").textContent = t("member.lock.wrong");
    field.focus();
  } finally {
    checking = false;
  }
}

async function save(event) {
  event.preventDefault();
  const field = $("#lock-code");
  if (!CODE.test(field.value)) {
    $("#lock-state").textContent = t("member.lock.format");
    field.focus();
    return;
  }
  await setPasscode(field.value);
  field.value = "";
  await renderSetting();
}

async function start() {
  $("#unlock-form").addEventListener("submit", unlock);
  $("#lock-form").addEventListener("submit", save);
  $("#lock-remove").addEventListener("click", async () => {
    await store.remove(KEY);
    await renderSetting();
    $("#lock-code").focus();
  });
  const locked = Boolean(await store.get(KEY));
  document.body.classList.toggle("locked", locked); // in the same task: nothing is painted between
  document.body.classList.remove("lock-pending");
  showLocked(locked); // focusable only once visible
  await renderSetting();
}

// Hidden until it is known whether a passcode is set (the stylesheet hides the page meanwhile).
document.body.classList.add("lock-pending");
start().catch(() => document.body.classList.remove("lock-pending"));
