// The console's companion groups (docs/protocol.md §6.10): each group's hand-over notes, which only
// its facilitators can read, and members' private requests, with who handles each ("I'll take
// this"). This module keeps them in step with the group's facilitators: the first facilitator
// console that opens a group without notes makes them, and any facilitator console admits into
// the notes (and open requests) a facilitator of the group missing there, then rotates. A
// facilitator's removal from the group ends their place in its companions on the server at once;
// the companion's next commit, made here, leaves them out.

import * as hc from "./crypto.js";
import * as store from "./keystore.js";
import * as companion from "./companion.js";
import { CompanionChat } from "./companionchat.js";
import { $, el, bdi, announce } from "./ui.js";
import { t, tParts } from "./i18n.js";

let ctx = null;
let notesChat = null;
let askChat = null;
const listed = new Map(); // parent group id -> companions.list of it
let current = null; // the parent group shown
let syncing = Promise.resolve();

/**
 * `context`: {session(), groups() (the facilitated groups, id -> group), username(), current(),
 * syncKeys(id), rotateNow(id), nameOf(parentId, memberId), confirm(text, yes), openGroup(id),
 * raise(text) (alerts.js), changed() (the attention list and counts to draw again)}.
 */
export function init(context) {
  ctx = context;
  const shared = { session: () => ctx.session(), syncKeys: (id) => ctx.syncKeys(id), nameOf: (p, m) => ctx.nameOf(p, m) };
  notesChat = new CompanionChat(
    { list: $("#notes-list"), live: $("#notes-live"), state: $("#notes-state"), form: $("#notes-form"), text: $("#notes-text") },
    { ...shared, empty: t("console.handover.noNotes"), emptyList: t("console.handover.emptyNotes") },
  );
  askChat = new CompanionChat(
    { list: $("#ask-messages"), live: $("#ask-live"), state: $("#ask-state"), form: $("#ask-form"), text: $("#ask-text") },
    { ...shared, empty: "", emptyList: t("console.handover.emptyRequest") },
  );
}

export const handlers = {
  "ask.opened": async (data) => {
    const group = ctx.groups().get(data.group_id)?.name || "";
    ctx.raise(t("console.handover.alert", { group }));
    await refresh();
    const asked = (listed.get(data.group_id) || []).find((c) => c.companion_id === data.companion_id);
    announce(t("console.handover.askedNow", { name: asked?.asker || t("console.handover.someone"), group }));
  },
  "companions.changed": () => refresh(),
};

let refreshTimer = null;

/**
 * A commit arrived for `groupId`: a group's new epoch may have admitted or removed a facilitator
 * (bring its companions in step, soon and once), and a shown companion may be readable now.
 */
export async function keysChanged(groupId) {
  if (ctx.groups().has(groupId)) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => refresh().catch(() => {}), 200);
  }
  if (current && (groupId === notesChat.companionId || groupId === current)) await notesChat.show(current, notesChat.companionId).catch(() => {});
  if (current && groupId === askChat.companionId && !$("#ask-view").hidden) await askChat.show(current, askChat.companionId).catch(() => {});
}

/** A companion shown before this browser could read it (no keys yet, or its roster not yet in
 * step) is shown again once its keys are brought up to date: a request opened while this browser
 * was still being let into it. */
async function keysCame(companionId) {
  const waiting = [notesChat, askChat].filter((chat) => chat.companionId === companionId && !chat.usable);
  for (const chat of waiting) await chat.show(chat.parentId, companionId).catch(() => {});
}

/** The ids of this browser's companion records of `groupIds` (removed with them at logout). */
export async function companionsOf(groupIds) {
  return (await store.groups()).filter((r) => r.companion && groupIds.includes(r.companion.of)).map((r) => r.id);
}

/** A live message of a companion. */
export async function receive(data) {
  await notesChat.receive(data);
  await askChat.receive(data);
}

/** After groups.list: bring every companion of the facilitator's groups in step (one at a time). */
export function sync(listing) {
  syncing = syncing.catch(() => {}).then(() => syncNow(listing));
  return syncing;
}

async function syncNow(listing) {
  const session = ctx.session();
  const companions = listing.groups.filter((g) => g.companion).map((g) => g.companion);
  for (const c of companions) {
    if (!ctx.groups().has(c.group_id)) continue;
    const record = await companion.recordFor(c);
    if (!record) continue;
    await ctx.syncKeys(c.companion_id);
    await keysCame(c.companion_id);
    if (c.closed) continue;
    await ctx.syncKeys(c.group_id);
    const parent = await store.group(c.group_id);
    const fresh = await store.group(c.companion_id);
    if (!fresh?.latest) continue;
    if ((await companion.admitFacilitators(session, parent, fresh).catch(() => 0)) > 0) await ctx.rotateNow(c.companion_id);
  }
  await loadLists();
}

async function loadLists() {
  for (const [id] of ctx.groups()) {
    try {
      listed.set(id, (await ctx.session().call("companions.list", { group_id: id })).companions);
    } catch {
      listed.delete(id);
    }
  }
  ctx.changed();
  if (!current) return;
  const notes = (listed.get(current) || []).find((c) => c.kind === "notes");
  if (notes && notes.companion_id !== notesChat.companionId) await notesChat.show(current, notes.companion_id).catch(() => {});
  await renderRequests(current);
}

/** Something changed on the server: list the groups and companions again. */
export async function refresh() {
  const listing = await ctx.session().call("groups.list");
  await sync(listing);
}

/**
 * A group without notes gets them when one of its facilitators first opens it here: epoch 1 holds
 * this facilitator, who admits the group's other facilitators and rotates.
 */
async function makeNotes(parentId) {
  const parent = await store.group(parentId);
  if (!parent?.group || !parent.group.facilitators.includes(hc.hex(parent.member.memberId))) return;
  try {
    const record = await companion.create(ctx.session(), parent, "notes");
    if ((await companion.admitFacilitators(ctx.session(), parent, record)) > 0) await ctx.rotateNow(record.id);
  } catch (error) {
    if (error.code !== "already_exists") announce(t("console.handover.failed", { error: error.message }));
  }
  listed.set(parentId, (await ctx.session().call("companions.list", { group_id: parentId })).companions);
}

/** The group view: its notes and its requests. */
export async function open(parentId) {
  current = parentId;
  $("#ask-view").hidden = true;
  askChat.show(parentId, null).catch(() => {});
  if (!listed.has(parentId)) await loadLists();
  if (!(listed.get(parentId) || []).some((c) => c.kind === "notes")) await makeNotes(parentId).catch(() => {});
  if (current !== parentId) return;
  const notes = (listed.get(parentId) || []).find((c) => c.kind === "notes");
  await notesChat.show(parentId, notes?.companion_id || null).catch((error) => announce(t("console.handover.failed", { error: error.message })));
  await renderRequests(parentId);
}

export function close() {
  current = null;
}

function requests(parentId) {
  return (listed.get(parentId) || []).filter((c) => c.kind === "ask");
}

function handler(c) {
  if (!c.claimed_by) return [t("console.handover.unclaimed")];
  if (c.claimed_by === ctx.username()) return [t("console.handover.handledByYou")];
  return tParts("console.handover.handledBy", { who: bdi(c.claimed_by) });
}

async function renderRequests(parentId) {
  if (current !== parentId) return;
  const group = ctx.groups().get(parentId)?.name || "";
  const open = requests(parentId).filter((c) => !c.closed);
  $("#asks-list").replaceChildren(
    ...open.map((c) => {
      const name = c.asker || t("console.handover.someone");
      const mine = c.claimed_by === ctx.username();
      return el(
        "li",
        { "data-request": c.companion_id },
        el("span", {}, ...tParts("console.handover.request", { name: bdi(name), group: bdi(group) }), " · "),
        el("span", { class: "handler" }, ...handler(c)),
        el("button", { type: "button", "aria-label": t("console.handover.openLabel", { name, group }), onclick: () => showRequest(parentId, c) }, t("console.handover.open")),
        mine
          ? el("button", { type: "button", "aria-label": t("console.handover.releaseLabel", { name }), onclick: () => claim(c, false) }, t("console.handover.release"))
          : el("button", { type: "button", class: "primary", "aria-label": t("console.handover.takeLabel", { name, group }), onclick: () => claim(c, true) }, t("console.handover.take")),
        el("button", { type: "button", "aria-label": t("console.handover.closeLabel", { name }), onclick: () => closeRequest(c) }, t("console.handover.close")),
      );
    }),
  );
  $("#no-asks").hidden = open.length > 0;
}

async function showRequest(parentId, c) {
  $("#ask-view").hidden = false;
  $("#ask-view-title").textContent = t("console.handover.viewTitle", { name: c.asker || t("console.handover.someone") });
  await askChat.show(parentId, c.companion_id).catch((error) => announce(t("console.handover.failed", { error: error.message })));
  $("#ask-view-title").focus();
}

async function claim(c, yes) {
  try {
    await ctx.session().call("ask.claim", { companion_id: c.companion_id, claim: yes });
  } catch (error) {
    announce(t("console.handover.failed", { error: error.message }));
    return;
  }
  await loadLists();
}

async function closeRequest(c) {
  if (!(await ctx.confirm(t("console.handover.closeConfirm", { name: c.asker || t("console.handover.someone") }), t("console.handover.close")))) return;
  try {
    await ctx.session().call("ask.close", { companion_id: c.companion_id });
  } catch (error) {
    announce(t("console.handover.failed", { error: error.message }));
    return;
  }
  if (askChat.companionId === c.companion_id) $("#ask-view").hidden = true;
  await loadLists();
}

/** "Needs you" items: the open requests nobody handles yet, and those this facilitator handles. */
export function attentionItems() {
  const items = [];
  for (const [parentId, list] of listed) {
    const group = ctx.groups().get(parentId)?.name || "";
    for (const c of list.filter((r) => r.kind === "ask" && !r.closed && (!r.claimed_by || r.claimed_by === ctx.username()))) {
      const name = c.asker || t("console.handover.someone");
      items.push(
        el(
          "li",
          { "data-kind": "request", "data-group": parentId, "data-request": c.companion_id },
          el("span", { class: "attention-text" }, ...tParts("console.handover.attention", { name: bdi(name), group: bdi(group), state: el("span", {}, ...handler(c)) })),
          el(
            "button",
            {
              type: "button",
              "aria-label": t("console.handover.openLabel", { name, group }),
              onclick: async () => {
                await ctx.openGroup(parentId);
                await showRequest(parentId, c);
              },
            },
            t("console.handover.open"),
          ),
        ),
      );
    }
  }
  return items;
}
