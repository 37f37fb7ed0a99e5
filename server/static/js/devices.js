// "Your other devices" in My data: link a second device with a short code, or save and open a
// recovery file (docs/protocol.md §15). The cryptography is in linkcrypto.js and recoveryfile.js,
// what moves in devicebundle.js; this module is the screens and the order of the exchange.

import * as hc from "./crypto.js";
import * as lc from "./linkcrypto.js";
import * as rf from "./recoveryfile.js";
import { exportBundle, importBundle, inventory, parseBundle } from "./devicebundle.js";
import { $, el } from "./ui.js";
import { t, loadLaterTexts } from "./i18n.js";

// Its texts come with it (i18n/later/): the first screen does not carry them.
await loadLaterTexts();

const CHUNK = 32 * 1024;
// The relay carries 128 messages per link, both ways: the new device's tag, the head, the chunks.
const MAX_CHUNKS = 126;
const MIN_PASSPHRASE = 15;

/** Why a passphrase is too weak (a key under member.devices. in the catalogue), or null. */
export function passphraseProblem(text) {
  const normal = String(text).normalize("NFKC");
  if ([...normal].length < MIN_PASSPHRASE) return "tooShort";
  const distinct = new Set(normal.toLowerCase().replace(/\s/g, "")).size;
  if (distinct < 8 || /^(.+?)\1+$/su.test(normal.replace(/\s/g, ""))) return "tooPlain";
  return null;
}

let ctx = null;
const inbox = []; // link.* events not yet taken
let waiter = null;

function deliver(event, data) {
  inbox.push({ event, data });
  waiter?.();
}

/** The next link event for this link (or a timeout after `ms`). */
async function next(linkId, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const index = inbox.findIndex((m) => m.data?.link_id === linkId);
    if (index >= 0) return inbox.splice(index, 1)[0];
    const left = deadline - Date.now();
    if (left <= 0) return { event: "timeout" };
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, left);
      waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function say(area, key, vars) {
  $(`#${area}-error`).textContent = "";
  $(`#${area}-status`).textContent = key ? t(`member.devices.${key}`, vars) : "";
}

function fail(area, key, vars) {
  $(`#${area}-status`).textContent = "";
  $(`#${area}-error`).textContent = t(`member.devices.${key}`, vars);
}

async function call(event, payload) {
  return ctx.session.call(event, payload);
}

// -- the device that has the groups ------------------------------------------------------------

async function showCode() {
  if (!ctx.session.connected) return fail("link", "offline");
  const bundle = await exportBundle();
  if (!bundle) return fail("link", "cannotMove");
  const code = lc.newCode();
  const linkId = hc.b64encode(await lc.linkId(code));
  const scalar = await lc.importScalar();
  const shareA = await lc.share(code, scalar);
  let opened;
  try {
    opened = await call("link.open", { link_id: linkId, share: hc.b64encode(shareA) });
  } catch (error) {
    return fail("link", error.code === "unavailable" ? "busy" : "offline", { message: error.message });
  }
  $("#link-code").textContent = code;
  $("#link-code-box").hidden = false;
  // the status line (read out by screen readers) spells the code one character at a time
  say("link", "codeWait", { spelled: [...code].join(" "), seconds: Math.round(opened.expires_in_ms / 1000) });
  const joined = await next(linkId, opened.expires_in_ms);
  if (joined.event !== "link.joined") return endShowing(linkId, "expired");
  const shareB = hc.b64decode(joined.data.share);
  let keys = null;
  try {
    keys = await lc.derive(code, scalar, shareA, shareB, shareA);
  } catch {
    keys = null; // a low-order share: the same as a wrong code
  }
  say("link", "checking");
  const confirm = await next(linkId, opened.expires_in_ms);
  if (confirm.event === "link.closed") return endShowing(linkId, "gone");
  if (confirm.event !== "link.msg" || !keys || !hc.equalBytes(hc.b64decode(confirm.data.data), keys.confirmB)) {
    await call("link.close", { link_id: linkId, reason: "mismatch" }).catch(() => {});
    return endShowing(linkId, confirm.event === "timeout" ? "expired" : "wrongCodeThere");
  }
  const total = Math.max(1, Math.ceil(bundle.length / CHUNK));
  if (total > MAX_CHUNKS) return endShowing(linkId, "tooBig");
  say("link", "sending");
  await call("link.msg", { link_id: linkId, data: hc.b64encode(hc.concat(keys.confirmA, hc.u32(total))) });
  for (let i = 0; i < total; i++) {
    const sealed = await lc.sealChunk(keys, i, total, bundle.slice(i * CHUNK, (i + 1) * CHUNK));
    await call("link.msg", { link_id: linkId, data: hc.b64encode(sealed) });
  }
  // Every chunk was relayed (each call was acknowledged). The new device may already have
  // started again with them, which ends the link on its side: then there is nothing to close.
  await call("link.close", { link_id: linkId, reason: "done" }).catch(() => {});
  $("#link-code-box").hidden = true;
  say("link", "sent");
}

function endShowing(linkId, key) {
  $("#link-code-box").hidden = true;
  if (key === "expired" || key === "tooBig") call("link.close", { link_id: linkId, reason: "cancelled" }).catch(() => {});
  fail("link", key);
}

// -- the new device --------------------------------------------------------------------------

async function receive() {
  const code = lc.normaliseCode($("#link-code-input").value);
  if (!code) return fail("link", "badCode");
  if (ctx.hasGroups()) return fail("link", "hasGroups");
  if (!ctx.session.connected) return fail("link", "offline");
  say("link", "receiving");
  const linkId = hc.b64encode(await lc.linkId(code));
  const scalar = await lc.importScalar();
  const shareB = await lc.share(code, scalar);
  let joined;
  try {
    joined = await call("link.join", { link_id: linkId, share: hc.b64encode(shareB) });
  } catch (error) {
    const why = { link_used: "usedCode", not_found: "noSuchCode", unavailable: "busy" }[error.code] || "offline";
    return fail("link", why);
  }
  let keys;
  try {
    keys = await lc.derive(code, scalar, hc.b64decode(joined.share), shareB, shareB);
  } catch {
    await call("link.close", { link_id: linkId, reason: "mismatch" }).catch(() => {});
    return fail("link", "wrongCodeHere");
  }
  await call("link.msg", { link_id: linkId, data: hc.b64encode(keys.confirmB) });
  const wait = 120_000;
  const first = await next(linkId, wait);
  if (first.event === "link.closed") return fail("link", first.data.reason === "mismatch" ? "wrongCodeHere" : "cancelled");
  if (first.event !== "link.msg") return fail("link", "expired");
  const head = hc.b64decode(first.data.data);
  if (head.length !== 36 || !hc.equalBytes(head.slice(0, 32), keys.confirmA)) {
    await call("link.close", { link_id: linkId, reason: "mismatch" }).catch(() => {});
    return fail("link", "wrongCodeHere");
  }
  const total = new DataView(head.buffer, head.byteOffset + 32, 4).getUint32(0);
  if (total < 1 || total > MAX_CHUNKS) return fail("link", "cancelled");
  const parts = [];
  for (let i = 0; i < total; i++) {
    const chunk = await next(linkId, wait);
    if (chunk.event !== "link.msg") return fail("link", "cancelled");
    try {
      parts.push(await lc.openChunk(keys, i, total, hc.b64decode(chunk.data.data)));
    } catch {
      return fail("link", "wrongCodeHere");
    }
  }
  await take(hc.concat(...parts), "link");
}

async function take(bytes, area) {
  let bundle;
  try {
    bundle = parseBundle(bytes);
  } catch {
    return fail(area, area === "link" ? "cancelled" : "notAFile");
  }
  const count = await importBundle(bundle);
  say(area, "received", { count });
  ctx.session.stop();
  location.replace(location.pathname); // start again as the moved account, with its groups
}

// -- the recovery file ---------------------------------------------------------------------------

async function saveFile(event) {
  event.preventDefault();
  const pass = $("#recovery-pass").value;
  const problem = passphraseProblem(pass);
  if (problem) return fail("recovery-save", problem);
  if (pass !== $("#recovery-pass-again").value) return fail("recovery-save", "mismatch");
  const bundle = await exportBundle();
  if (!bundle) return fail("recovery-save", "cannotMove");
  say("recovery-save", "saving");
  const sealed = await rf.seal(pass, bundle);
  const url = URL.createObjectURL(new Blob([sealed], { type: "application/octet-stream" }));
  const link = el("a", { href: url, download: "hearth-recovery.hrcv", hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  $("#recovery-pass").value = $("#recovery-pass-again").value = "";
  say("recovery-save", "saved");
}

async function openFile(event) {
  event.preventDefault();
  const file = $("#recovery-file").files[0];
  if (!file) return fail("recovery-open", "noFile");
  if (ctx.hasGroups()) return fail("recovery-open", "hasGroups");
  const data = new Uint8Array(await file.arrayBuffer());
  try {
    rf.parseHeader(data);
  } catch {
    return fail("recovery-open", "notAFile");
  }
  say("recovery-open", "opening");
  let bytes;
  try {
    bytes = await rf.open($("#recovery-open-pass").value, data);
  } catch {
    return fail("recovery-open", "wrongPass");
  }
  await take(bytes, "recovery-open");
}

// -- the screen ---------------------------------------------------------------------------------

function statusPair(area) {
  return [el("p", { id: `${area}-status`, role: "status" }), el("p", { id: `${area}-error`, class: "error", role: "alert" })];
}

function field(id, label, props = {}) {
  return [el("label", { for: id, text: label }), el("input", { id, autocomplete: "off", ...props })];
}

function render(container) {
  container.replaceChildren(
    el("h3", { id: "devices-title", text: t("member.devices.title") }),
    el("p", { text: t("member.devices.intro") }),
    el("p", { id: "devices-stuck", hidden: true }),
    el("h4", { text: t("member.devices.linkTitle") }),
    el("p", { text: t("member.devices.linkIntro") }),
    el("button", { type: "button", id: "link-show", text: t("member.devices.showCode"), onclick: () => showCode().catch(() => fail("link", "offline")) }),
    el("div", { id: "link-code-box", hidden: true }, el("p", { text: t("member.devices.codeLabel") }), el("p", { id: "link-code", class: "link-code" })),
    el(
      "form",
      { id: "link-enter-form", class: "stack", onsubmit: (e) => (e.preventDefault(), receive().catch(() => fail("link", "offline"))) },
      ...field("link-code-input", t("member.devices.enterLabel"), { autocapitalize: "characters", spellcheck: false, maxlength: 20, "aria-describedby": "link-error" }),
      el("button", { type: "submit", text: t("member.devices.receive") }),
    ),
    ...statusPair("link"),
    el("h4", { text: t("member.devices.recoveryTitle") }),
    el("p", { text: t("member.devices.recoveryIntro") }),
    el(
      "form",
      { id: "recovery-save-form", class: "stack", onsubmit: (e) => saveFile(e).catch(() => fail("recovery-save", "cannotMove")) },
      ...field("recovery-pass", t("member.devices.passLabel"), { type: "password", autocomplete: "new-password", "aria-describedby": "recovery-rules recovery-save-error" }),
      el("p", { id: "recovery-rules", class: "hint", text: t("member.devices.passRules") }),
      ...field("recovery-pass-again", t("member.devices.passAgainLabel"), { type: "password", autocomplete: "new-password" }),
      el("button", { type: "submit", text: t("member.devices.save") }),
      ...statusPair("recovery-save"),
    ),
    el(
      "form",
      { id: "recovery-open-form", class: "stack", onsubmit: (e) => openFile(e).catch(() => fail("recovery-open", "notAFile")) },
      ...field("recovery-file", t("member.devices.fileLabel"), { type: "file" }),
      ...field("recovery-open-pass", t("member.devices.openPassLabel"), { type: "password", autocomplete: "current-password" }),
      el("button", { type: "submit", text: t("member.devices.open") }),
      ...statusPair("recovery-open"),
    ),
  );
}

/** Fill My data's devices section; `session` is the page's Session, `hasGroups()` whether this
 * device holds groups (a device with groups of its own does not take another's). */
export function attach({ session, container, hasGroups }) {
  ctx = { session, hasGroups };
  for (const name of ["link.joined", "link.msg", "link.closed"]) session.handlers[name] = (data) => deliver(name, data);
  render(container);
  inventory()
    .then(({ stuck }) => {
      if (stuck) Object.assign($("#devices-stuck"), { hidden: false, textContent: t("member.devices.stuck", { count: stuck }) });
    })
    .catch(() => {});
}
