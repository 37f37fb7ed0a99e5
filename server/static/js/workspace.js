// The console's conversation: each of the facilitator's groups, live and decrypted in this browser
// with the facilitator's own member keys (the same IndexedDB key store the member page uses), and
// posting to it. What it shows is verified exactly as on the member page: groupkeys.open checks the
// signed header and opens only under that sender's key in the verified roster, so the author is
// the header's sender_id and a facilitator badge comes from the verified group state, never from
// the server's `sender_id` or `role` fields. Acting on a message is messageactions.js.

import * as hc from "./crypto.js";
import * as store from "./keystore.js";
import * as keys from "./groupkeys.js";
import { $, el, bdi, announce, formatTime, roleBadge } from "./ui.js";
import { t } from "./i18n.js";
import { firstArrivals } from "./arrivals.js";

const PAGE = 50;
const KEEP = 300; // messages held in memory per group (the console reads live, not archives)

const records = new Map(); // group id -> record (refreshed from the key store on every epoch)
const messages = new Map(); // group id -> Map(msg_id -> item)
const names = new Map(); // group id -> Map(member_id b64 -> pseudonym)
const more = new Map(); // group id -> older history exists
let current = null;
let ctx = null;

/**
 * `context`: {session(), syncKeys(groupId) (catch the key store up with the group's epochs; the
 * console runs every change to a group's record one at a time), arrived(groupId, item) (a live
 * message from someone else, decrypted and verified: triage looks at it here), actOn(groupId,
 * item), flagged(groupId, msgId)}. This module only reads the key store.
 */
export function init(context) {
  ctx = context;
  $("#conv-compose").addEventListener("submit", (event) => {
    event.preventDefault();
    post();
  });
  $("#conv-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      post();
    }
  });
  $("#conv-older").addEventListener("click", () => loadOlder());
}

export const nameOf = (groupId, memberId) => names.get(groupId)?.get(memberId) || null;
export const message = (groupId, msgId) => messages.get(groupId)?.get(msgId) || null;

async function recordOf(groupId, { fresh = false } = {}) {
  if (fresh || !records.has(groupId)) {
    const record = await store.group(groupId);
    if (record) records.set(groupId, record);
    else records.delete(groupId);
  }
  return records.get(groupId) || null;
}

/** Another module (or the member page in another tab) changed the key store: read it again. A
 * conversation opened before this browser held its keys (a co-facilitator just admitted) opens
 * for real once they came: its history, its composer. */
export async function keysChanged(groupId) {
  const had = Boolean(records.get(groupId)?.latest);
  const record = await recordOf(groupId, { fresh: true });
  if (current !== groupId) return;
  if (!had && record?.latest) await open(groupId);
  else render();
}

/** The member list (names for the signed sender ids), for one group. */
export async function loadNames(groupId) {
  try {
    const listing = await ctx.session().call("members.list", { group_id: groupId });
    const map = names.get(groupId) || new Map();
    for (const m of listing.members) map.set(m.member_id, m.pseudonym);
    names.set(groupId, map);
    return listing;
  } catch {
    return null; // not keyed (any more): names already known stay
  }
}

/** After (re)connecting: names of every group, so that a live message needs no request. */
export async function prepare(groupIds) {
  for (const id of groupIds) {
    const record = await recordOf(id, { fresh: true });
    if (record?.latest) await loadNames(id);
  }
}

/**
 * After a reconnect: the messages of each group that arrived while this console was offline,
 * newer than the newest it had, go to triage like live ones (one page of history per group that
 * this page had already seen messages of).
 */
export async function catchUp(groupIds) {
  for (const id of groupIds) {
    const seqs = [...(messages.get(id)?.values() || [])].map((m) => m.seq).filter(Boolean);
    const record = await recordOf(id, { fresh: true });
    if (!seqs.length || !record?.latest) continue;
    const newest = Math.max(...seqs);
    let reply;
    try {
      reply = await ctx.session().call("history.get", { group_id: id, limit: PAGE });
    } catch {
      continue;
    }
    const added = firstArrivals(await ingest(record, reply.messages.filter((view) => view.seq > newest)));
    for (const item of added.sort((a, b) => a.seq - b.seq)) {
      if (item.senderId && !names.get(id)?.has(item.senderId)) await loadNames(id);
      if (!item.mine && !item.deleted) ctx.arrived(id, item);
    }
    if (current === id && added.length) render();
  }
}

/** Open a group's conversation (its newest page of history). */
export async function open(groupId) {
  current = groupId;
  $("#conv-messages").replaceChildren();
  const record = await recordOf(groupId, { fresh: true });
  const keyed = Boolean(record?.latest);
  $("#conv-compose").hidden = !keyed;
  $("#conv-older").hidden = true;
  if (!keyed) {
    $("#conv-note").textContent =
      t("console.conv.noKeys");
    return;
  }
  $("#conv-note").textContent = t("console.conv.decrypted");
  try {
    await ctx.syncKeys(groupId);
    await loadNames(groupId);
    const reply = await ctx.session().call("history.get", { group_id: groupId, limit: PAGE });
    await ingest((await recordOf(groupId, { fresh: true })) || record, reply.messages);
    if (!more.has(groupId)) more.set(groupId, reply.more);
  } catch (error) {
    $("#conv-note").textContent = t("console.conv.loadFailed", { error: error.message });
  }
  if (current === groupId) render(true);
}

export function close() {
  current = null;
}

async function loadOlder() {
  const id = current;
  const record = await recordOf(id);
  const seqs = [...(messages.get(id)?.values() || [])].map((m) => m.seq).filter(Boolean);
  if (!record || !seqs.length) return;
  const reply = await ctx.session().call("history.get", { group_id: id, before_seq: Math.min(...seqs), limit: PAGE });
  await ingest(record, reply.messages);
  more.set(id, reply.more);
  render();
}

/**
 * Verify and decrypt server views into the group's items; returns the item of every view that
 * opened, new or already held (a history fetch running at the same time may have brought a live
 * message first).
 */
async function ingest(groupRecord, views) {
  let record = groupRecord;
  const id = groupRecord.id;
  const map = messages.get(id) || new Map();
  messages.set(id, map);
  const opened = [];
  for (const view of views) {
    let item = await keys.open(record, view);
    if (!item && !record.epochs[view.epoch]) {
      // An epoch this copy of the record does not hold yet: catch up, then read it again.
      await ctx.syncKeys(id);
      record = await recordOf(id, { fresh: true });
      item = record ? await keys.open(record, view) : null;
      if (!record) break;
    }
    if (!item) continue; // never show what does not verify
    const held = map.get(item.msgId);
    if (held?.seq) {
      opened.push(held);
      continue;
    }
    const mine = Boolean(item.senderId) && hc.equalBytes(hc.b64decode(item.senderId), record.member.memberId);
    const entry = { ...item, mine };
    map.set(item.msgId, entry);
    opened.push(entry);
  }
  if (map.size > KEEP) {
    const oldest = [...map.values()].sort((a, b) => a.seq - b.seq).slice(0, map.size - KEEP);
    for (const m of oldest) map.delete(m.msgId);
    more.set(id, true);
  }
  return opened;
}

/** A live `msg` / `msg.batch` message of any of the facilitator's groups. */
export async function receive(data) {
  const record = await recordOf(data.group_id);
  if (!record?.latest) return;
  const added = firstArrivals(await ingest(record, [data]));
  for (const item of added) {
    if (item.senderId && !names.get(record.id)?.has(item.senderId)) await loadNames(record.id);
    if (!item.mine && !item.deleted) ctx.arrived(record.id, item);
  }
  if (current === record.id && added.length) {
    render();
    const last = added.at(-1);
    if (!last.mine) $("#conv-live").textContent = t("console.conv.arrived", { who: senderName(record.id, last) });
  }
}

/** `msg.deleted`: a tombstone in place of the message. */
export function deleted(data) {
  const item = messages.get(data.group_id)?.get(data.msg_id);
  if (!item) return;
  item.text = null;
  item.deleted = true;
  item.deletedBy = data.by;
  if (current === data.group_id) render();
}

function senderName(groupId, item) {
  if (item.mine) return t("member.you");
  if (!item.senderId) return t("member.someone");
  return nameOf(groupId, item.senderId) || t("member.formerMember");
}

/** Who is a facilitator comes from the verified group state, never the server's `role`. */
export function isFacilitator(groupId, senderId) {
  const chiefs = records.get(groupId)?.group?.facilitators || [];
  return Boolean(senderId) && chiefs.includes(hc.hex(hc.b64decode(senderId)));
}

/** Re-render the open conversation (e.g. after an action or a flag). */
export function render(toBottom = false) {
  const id = current;
  if (!id) return;
  const box = $("#conv-messages");
  const atBottom = toBottom || box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  const items = [...(messages.get(id)?.values() || [])].sort((a, b) => (a.seq || Infinity) - (b.seq || Infinity));
  box.replaceChildren(...items.map((m) => row(id, m)));
  $("#conv-older").hidden = !more.get(id);
  if (atBottom) box.scrollTop = box.scrollHeight;
}

function row(groupId, m) {
  const who = senderName(groupId, m);
  const chief = isFacilitator(groupId, m.senderId);
  const flagged = ctx.flagged(groupId, m.msgId);
  const actionable = !m.mine && !m.deleted && m.senderId && !chief && m.status !== "sending";
  return el(
    "li",
    { class: `message${m.mine ? " mine" : ""}${flagged ? " flagged" : ""}`, "data-msg": m.msgId, "data-status": m.status || "sent" },
    el(
      "div",
      { class: "meta" },
      bdi(who, { class: "who" }),
      chief ? roleBadge("facilitator", t("common.role.facilitator")) : null,
      " ",
      el("time", { text: m.serverTs ? formatTime(m.serverTs) : "" }),
      flagged ? el("span", { class: "urgent flag", text: t("console.conv.possibleCrisis") }) : null,
    ),
    el("p", { class: m.deleted ? "text deleted" : "text", dir: "auto", text: m.deleted ? t("member.removed.other") : m.text }),
    m.status === "sending" ? el("p", { class: "state", text: t("member.status.sending") }) : null,
    m.status === "failed" ? el("p", { class: "state failed", text: t("member.status.notSentBecause", { error: m.error }) }) : null,
    actionable
      ? el(
          "div",
          { class: "message-actions" },
          el("button", { type: "button", class: "act", "aria-label": t("console.conv.actLabel", { who }), onclick: () => ctx.actOn(groupId, m) }, t("console.conv.act")),
        )
      : null,
  );
}

/** Show the open conversation at one message (from an urgent item). */
export function focusMessage(msgId) {
  const node = $(`#conv-messages [data-msg="${CSS.escape(msgId)}"]`);
  if (!node) return;
  node.tabIndex = -1;
  node.scrollIntoView({ block: "center" });
  node.focus({ preventScroll: true });
}

// -- posting ------------------------------------------------------------------------------------

async function post() {
  const id = current;
  const area = $("#conv-text");
  const text = area.value.trim();
  if (!id || !text) return;
  let record = await recordOf(id, { fresh: true });
  if (!record?.latest) return announce(t("console.conv.noKeysShort"));
  area.value = "";
  area.focus();
  const msgId = hc.b64encode(hc.randomBytes(16));
  const map = messages.get(id) || new Map();
  messages.set(id, map);
  const item = { msgId, text, mine: true, status: "sending", senderId: hc.b64encode(record.member.memberId), serverTs: Date.now() };
  map.set(msgId, item);
  render(true);
  for (let attempt = 0; ; attempt++) {
    try {
      const envelope = await keys.seal(record, text, hc.b64decode(msgId));
      const ack = await ctx.session().call("msg.send", { group_id: id, envelope: hc.b64encode(envelope) });
      Object.assign(item, { seq: ack.seq, serverTs: ack.server_ts, epoch: record.latest, status: "sent" });
      break;
    } catch (error) {
      if (["wrong_epoch", "rotation_required"].includes(error.code) && attempt < 4) {
        await ctx.syncKeys(id);
        await new Promise((resolve) => setTimeout(resolve, 300 * (attempt + 1)));
        record = (await recordOf(id, { fresh: true })) || record;
        continue;
      }
      Object.assign(item, { status: "failed", error: error.message });
      area.value = area.value || text; // nothing lost: the words are back in the box
      break;
    }
  }
  if (current === id) render(true);
}
