// Newcomer hold on the member's page (docs/protocol.md, "Newcomer hold"): a facilitator reads the
// newcomers' messages waiting for them, opened with the group keys this page holds like any
// message, and releases or declines each; a newcomer sees their own as waiting, or as not shared.
// member.js calls the hooks below; everything else about held messages lives here.

import { $, el, bdi, announce, formatTime } from "./ui.js";
import { t } from "./i18n.js";

let ctx = null; // { session(), records, messages, current(), nameOf(groupId, senderId), loadNames(groupId), show(groupId, item), open(record, view): verified, after catching up with epochs if needed }
const waiting = new Map(); // group id -> Map(msg_id -> opened item) for a facilitator

export function init(context) {
  ctx = context;
}

/** The server's events about held messages. */
export const handlers = {
  "msg.held": async (data) => {
    if (await take(data)) {
      await ctx.loadNames(data.group_id); // the newcomer may have joined since the list was read
      const record = ctx.records.get(data.group_id);
      announce(t("member.groupSays", { group: record?.info?.name || t("member.aGroup"), text: t("member.held.arrived") }));
      if (ctx.current() === data.group_id) renderPanel(data.group_id);
    }
  },
  "held.decided": (data) => {
    waiting.get(data.group_id)?.delete(data.msg_id);
    if (ctx.current() === data.group_id) renderPanel(data.group_id);
  },
  "msg.declined": (data) => {
    const item = ctx.messages.get(data.group_id)?.get(data.msg_id);
    if (item) {
      item.status = "declined";
      ctx.show(data.group_id, item);
    }
    announce(t("member.held.declinedNotice")); // the server's `message` says this in English
  },
};

async function take(data) {
  const record = ctx.records.get(data.group_id);
  if (!record || !data.envelope) return false;
  const item = await ctx.open(record, data);
  if (!item) return false;
  const map = waiting.get(data.group_id) || new Map();
  waiting.set(data.group_id, map);
  map.set(item.msgId, item);
  return true;
}

/** After msg.send: a held acknowledgement marks our message as waiting (true if it was held). */
export function acknowledged(groupId, msgId, ack) {
  if (!ack.held) return false;
  const item = ctx.messages.get(groupId)?.get(msgId);
  if (item) Object.assign(item, { status: ack.state === "declined" ? "declined" : "held", serverTs: ack.server_ts });
  return true;
}

/** A message opened from the group's log: a released one keeps its "released" mark. */
export function opened(item, view) {
  if (view.released_at) item.releasedAt = view.released_at;
}

/** On opening a group and after a reconnect: what waits for this facilitator, or our own. */
export async function refresh(groupId, isFacilitator) {
  const record = ctx.records.get(groupId);
  if (!record?.latest) return;
  let reply;
  try {
    reply = await ctx.session().call("held.list", { group_id: groupId });
  } catch {
    return; // not keyed yet, or offline: the next refresh tries again
  }
  if (isFacilitator) {
    waiting.set(groupId, new Map());
    for (const view of reply.held) await take(view);
  } else {
    const map = ctx.messages.get(groupId) || new Map();
    ctx.messages.set(groupId, map);
    for (const view of reply.held) {
      const known = map.get(view.msg_id);
      if (known?.seq) continue;
      if (known) {
        known.status = view.state;
        ctx.show(groupId, known);
        continue;
      }
      // After a reload: our own held message, opened from its ciphertext (a declined one has
      // none left, so it is shown only while this page still has its text).
      const item = view.envelope ? await ctx.open(record, view) : null;
      if (!item) continue;
      const mine = { ...item, seq: undefined, mine: true, status: view.state };
      map.set(item.msgId, mine);
      ctx.show(groupId, mine);
    }
  }
  if (ctx.current() === groupId) renderPanel(groupId);
}

/** The line under our own held or declined message, or null for any other status. */
export function statusLine(m) {
  if (m.status === "held") return el("p", { class: "state held", text: t("member.held.mineWaiting") });
  if (m.status === "declined") return el("p", { class: "state declined", text: t("member.held.mineDeclined") });
  return null;
}

/** The mark on a message a facilitator released (it shows where it arrived). */
export function releasedMark(m) {
  if (!m.releasedAt) return null;
  return el("p", { class: "state released", text: t("member.held.released", { time: formatTime(m.serverTs) }) });
}

/** The facilitator's panel of waiting messages in the open group. */
export function renderPanel(groupId) {
  const info = ctx.records.get(groupId)?.info;
  // groups.list says it (held_back); just after joining, the join reply's group only has the
  // hold's count, and everyone who joins while it is on is a newcomer.
  const heldBack = info?.held_back ?? (info?.newcomer_hold > 0 && info?.me?.role !== "facilitator");
  $("#held-note").hidden = !(heldBack && !info?.facilitator);
  const panel = $("#held");
  const items = [...(waiting.get(groupId)?.values() || [])];
  panel.hidden = items.length === 0;
  $("#held-list").replaceChildren(
    ...items.map((m) => {
      const who = ctx.nameOf(groupId, m.senderId);
      return el(
        "li",
        { class: "held-item", "data-msg": m.msgId },
        el("p", { class: "meta" }, bdi(who, { class: "who" }), " ", el("time", { text: formatTime(m.serverTs) })),
        el("p", { class: "text", dir: "auto", text: m.text }),
        el(
          "div",
          { class: "row" },
          el("button", { type: "button", class: "primary", "aria-label": t("member.held.releaseLabel", { who }), onclick: () => decide(groupId, m, true) }, t("member.held.release")),
          el("button", { type: "button", "aria-label": t("member.held.declineLabel", { who }), onclick: () => decide(groupId, m, false) }, t("member.held.decline")),
        ),
      );
    }),
  );
}

async function decide(groupId, m, release) {
  try {
    await ctx.session().call("held.decide", { group_id: groupId, msg_id: m.msgId, release });
  } catch (error) {
    if (error.code !== "not_found") {
      announce(t(release ? "member.held.releaseFailed" : "member.held.declineFailed", { error: error.message }));
      return;
    }
  }
  waiting.get(groupId)?.delete(m.msgId);
  announce(release ? t("member.held.releasedDone") : t("member.held.declinedDone"));
  renderPanel(groupId);
  const next = $("#held-list button") || $("#messages");
  next.focus();
}
