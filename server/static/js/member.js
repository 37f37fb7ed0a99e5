// The member's page: pseudonym, joining by invite, live chat, history, leaving, deleting data,
// crisis resources on every screen and an on-device crisis-language check before sending;
// reporting others' messages and facilitators' notices (reports.js, notices.js).

import * as hc from "./cryptobase.js";
import * as store from "./keystore.js";
import { Session, Refused, api } from "./session.js";
import { $, el, bdi, show, focusHeading, announce, ask, formatTime, renderResources, roleBadge, wireDialogClose } from "./ui.js";
import { t, tParts, has, errorText, locale } from "./i18n.js";
import { resourcesFor, wordsFor, phraseListsOf } from "./crisislocale.js";
import { suggestPseudonym } from "./words.js";
import { canReport } from "./reports.js";
import * as notices from "./notices.js";
import * as composer from "./composer.js";
import * as contentnotes from "./contentnotes.js";
import * as sessions from "./sessions.js";
import * as invites from "./invitelinks.js";
import { Gaps, PAGE } from "./gaps.js";
import { Timeline } from "./timeline.js";
import { Arrivals, firstArrivals } from "./arrivals.js";
import { setQuickExitUrl } from "./quickexit.js";
import "./pagelock.js";
import * as held from "./held.js";

const VIEWS = ["welcome", "join", "home", "chat", "settings"];

const state = {
  settings: { organisation: "Hearth", crisis_resources: [], crisis_words: [] },
  session: null,
  records: new Map(), // group id (b64) -> record
  messages: new Map(), // group id -> Map(msg_id b64 -> item)
  timelines: new Map(), // group id -> Timeline (timeline.js): the conversation as shown, in order
  names: new Map(), // group id -> Map(member_id b64 -> {pseudonym, role})
  more: new Map(), // group id -> boolean (older history exists)
  outbox: new Map(), // msg_id b64 -> {groupId, text, msgId, envelope, epoch} (sealed copy in IndexedDB)
  gaps: new Gaps(), // seqs known to exist that this page has not got yet
  keying: new Map(), // group id -> timer of the next look for the commit that keys this device
  welcomed: new Set(), // group ids whose keying this page has said ("You are now in …")
  keyWork: new Map(), // group id -> the last change to its keys under way (withKeys)
  current: null,
  invite: null,
  newcomer: false, // no name chosen yet on this device: the join form asks for it (once)
  profile: null,
  view: "home",
  connections: 0, // times connected (a refresh shares one under way on the same connection)
};
let arrivals = null; // new messages said to screen readers (arrivals.js)

// -- views ---------------------------------------------------------------------------------------

/** Show `view` and focus its heading; `keepFocus`: a start's first screen (ui.js focusHeading). */
function go(view, { keepFocus = false } = {}) {
  state.view = view;
  for (const name of VIEWS) show($(`#${name}`), name === view);
  focusHeading($(`#${view} h2`), { keepFocus });
}

function setConnection(text) {
  $("#connection").textContent = text;
}

// -- start ---------------------------------------------------------------------------------------

async function boot() {
  if (readInvite()) groupCode().catch(() => {}); // an invite link: joining needs the group code
  wireStatic();
  held.init({
    session: () => state.session,
    records: state.records,
    messages: state.messages,
    current: () => state.current,
    nameOf: (groupId, senderId) => senderName(groupId, senderId, false),
    loadNames,
    show: showMessage,
    open: openView,
  });
  contentnotes.wire({ onChange: () => renderMessages() });
  arrivals = new Arrivals($("#arrivals"));
  try {
    state.settings = await api("GET", "/api/settings");
  } catch {
    /* keep defaults: the resources dialog then shows the emergency-number line */
  }
  $("#org").textContent = state.settings.organisation || "Hearth";
  document.title = state.settings.organisation || "Hearth";
  // The crisis services and phrases of the member's language and country (crisislocale.js).
  state.resources = resourcesFor(state.settings);
  state.crisisWords = wordsFor(state.settings);
  renderResources($("#crisis-list"), state.resources);
  renderResources($("#crisis-check-list"), state.resources);
  setQuickExitUrl(state.settings.quick_exit_url);

  const firstVisit = !(await store.hasAccount());
  await store.account(); // creates the account key on first visit
  state.profile = (await store.get("profile")) || { pseudonym: await suggestPseudonym() };
  for (const record of await store.groups()) state.records.set(record.id, record);
  if (state.records.size) {
    // fetched now, so that they work offline later
    groupCode().catch(() => {});
    loadCrisis().catch(() => {});
  }
  // A private conversation with the facilitators is shown only once its roster is checked
  // (askfacilitator.js): a device that holds one loads that check before anything is shown.
  if ([...state.records.values()].some((r) => r.companion)) await loadAsk().catch(() => {});
  await restoreOutbox();
  state.invite = readInvite();
  invites.watch(() => {
    // A link opened in this tab while Hearth is open: no reload needed.
    const token = readInvite(); // the key with it, from the fragment
    if (token === state.invite && state.view === "join") return;
    state.invite = token;
    showInvite();
  });

  state.session = new Session(handlers, onStatus);
  state.session.start();

  state.newcomer = firstVisit || !(await store.get("profile"));
  if (state.newcomer && !state.invite) {
    $("#welcome-pseudonym").value = state.profile.pseudonym;
    go("welcome", { keepFocus: true });
  } else {
    afterWelcome({ starting: true }); // with an invite, the join form asks for the name: once
  }
}

function readInvite() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  // The invite's signing key travels only in the fragment, which is never sent to a server; so
  // does its anchor (docs/protocol.md §6.7): a `?invite=` link has neither.
  state.inviteKey = hash.get("key");
  state.inviteAnchor = hash.get("invite") ? hash.get("anchor") : null;
  return hash.get("invite") || query.get("invite");
}

function afterWelcome({ starting = false } = {}) {
  if (state.invite) {
    showInvite({ starting });
  } else {
    renderHome();
    // "My data" may have been opened while this page was still starting: it stays open.
    if (state.view !== "settings") go("home", { keepFocus: starting });
  }
}

// What the first screen does not need (later.js: moving to another device, asking privately,
// reporting a message, the sessions' calendar file) is loaded the first time it is used, not with the page (issue 19: most
// visits never use it), and brings its own texts. A load that fails (offline, or a server
// restarted with a new build since this page was loaded) says so and what to do, and is tried
// again the next time.
let laterLoading = null;
function loadLater() {
  laterLoading ||= import("./later.js").catch((error) => {
    laterLoading = null;
    throw error;
  });
  return laterLoading;
}

// The group code (groupkeys.js, groupstate.js, admissions.js, in later.js): a first visit without
// a group never needs it (issue 19). Loaded as soon as this device holds a group, opens one or has
// an invite link; every use awaits this one promise. A load that fails rejects with
// common.loadFailed's text, before the caller has changed anything.
function groupCode() {
  return loadLater().catch(() => {
    throw new Error(t("common.loadFailed"));
  });
}

// Moving to another device (devices.js): when "My data" opens.
let devicesLoading = null;
function loadDevices() {
  devicesLoading ||= loadLater()
    .then((later) => later.attachDevices({ session: state.session, container: $("#devices"), hasGroups: () => state.records.size > 0 }))
    .catch(() => {
      devicesLoading = null;
      $("#devices").textContent = t("common.loadFailed");
    });
  return devicesLoading;
}

// "Ask a facilitator" privately (askfacilitator.js, companion.js): when a member first asks, from
// the chat or the crisis check, or at start on a device that holds such a conversation.
let askfac = null; // later.js, once its "ask a facilitator" has its context
let askLoading = null;
function loadAsk() {
  askLoading ||= loadLater()
    .then((later) => {
      later.initAsk({ session: () => state.session, records: state.records, open: openGroup, homeChanged: renderHome });
      askfac = later;
    })
    .catch((error) => {
      askLoading = null;
      throw error;
    });
  return askLoading;
}

/** Open (or go back to) the private conversation with the facilitators of `groupId`; `draft` is
 * the text the crisis check stopped, which stays in the composer if this cannot load. */
async function askPrivately(groupId, draft = "") {
  try {
    await loadAsk();
  } catch {
    return announce(t("common.loadFailed"));
  }
  return askfac.ask(groupId, draft);
}

/** Why a private conversation with the facilitators is not shown (null: it is, or it is none):
 * its roster unchecked counts as untrusted. */
function companionDoubt(record) {
  if (!record.companion) return null;
  return askfac ? askfac.askUntrusted(record) : t("common.loadFailed");
}

function wireStatic() {
  for (const dialog of document.querySelectorAll("dialog")) wireDialogClose(dialog);
  $("#open-crisis").addEventListener("click", () => $("#crisis").showModal());
  $("#ask-facilitator").addEventListener("click", () => askPrivately(state.current));
  $("#open-settings").addEventListener("click", () => {
    $("#settings-pseudonym").value = state.profile?.pseudonym || "";
    go("settings");
    loadDevices();
  });
  $("#settings-close").addEventListener("click", () => (state.current ? openGroup(state.current) : goHome()));
  $("#welcome-suggest").addEventListener("click", async () => ($("#welcome-pseudonym").value = await suggestPseudonym()));
  $("#join-suggest").addEventListener("click", async () => ($("#join-pseudonym").value = await suggestPseudonym()));
  $("#welcome-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    state.profile = { pseudonym: $("#welcome-pseudonym").value.trim() };
    await store.put("profile", state.profile);
    state.newcomer = false;
    afterWelcome();
  });
  $("#rename-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    state.profile = { pseudonym: $("#settings-pseudonym").value.trim() };
    await store.put("profile", state.profile);
    announce(t("common.saved"));
  });
  $("#join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    join().catch((error) => {
      if (error.code === "invite_invalid") showDeadLink(error.detail?.reason);
      else $("#join-error").textContent = error.message;
    });
  });
  $("#join-dead-home").addEventListener("click", () => {
    clearInvite();
    if (!state.newcomer) return goHome();
    $("#welcome-pseudonym").value = state.profile.pseudonym;
    go("welcome"); // no name chosen yet on this device
  });
  $("#compose").addEventListener("submit", (event) => {
    event.preventDefault();
    compose();
  });
  $("#compose-text").addEventListener("input", composer.typed);
  $("#compose-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      compose();
    }
  });
  $("#back").addEventListener("click", goHome);
  $("#chat-ics").addEventListener("click", () => {
    const info = state.records.get(state.current)?.info;
    if (!info?.schedule?.length) return;
    loadLater() // the calendar file is made by calendarfile.js
      .then((later) => later.downloadIcs(info, state.settings.time_zone || "UTC"))
      .catch(() => announce(t("common.loadFailed")));
  });
  $("#leave").addEventListener("click", leaveCurrent);
  $("#trust-unanchored").addEventListener("click", trustUnanchored);
  $("#show-rules").addEventListener("click", () => {
    const record = state.records.get(state.current);
    $("#rules-dialog-text").textContent = record?.info?.rules || "";
    $("#rules-dialog").showModal();
  });
  $("#older").addEventListener("click", showOlder);
  $("#new-below").addEventListener("click", () => {
    timelineOf(state.current).scrollToLatest();
    $("#messages").focus({ preventScroll: true }); // the button is gone: the keyboard stays in the list
  });
  $("#wipe").addEventListener("click", wipe);
  $("#notice-dismiss").addEventListener("click", () => notices.dismiss(state.current));
}

async function confirmAction(text, yes) {
  $("#confirm-text").textContent = text;
  $("#confirm-yes").textContent = yes;
  return (await ask($("#confirm"))) === "yes";
}

// -- connection ----------------------------------------------------------------------------------

async function onStatus(status, detail) {
  if (status === "connected") {
    state.connections += 1;
    setConnection(t("common.connected"));
    try {
      await catchUp();
    } catch (error) {
      announce(t("member.catchUpFailed", { error: error.message }));
    }
  } else if (status === "refused") {
    setConnection(t("member.refused", { reason: errorText(detail?.code || "unknown", detail?.message) }));
  } else {
    setConnection(t("common.offline"));
  }
}

async function catchUp() {
  const listing = await state.session.call("groups.list");
  const known = new Map(listing.groups.map((g) => [g.group_id, g]));
  for (const record of state.records.values()) {
    const server = known.get(record.id);
    if (server) {
      record.info = { ...server };
      // The server keeps a mute and its reason: shown after every reload and reconnect.
      if (server.mute) notices.remember(record.id, "muted", "", server.mute.until, server.mute.rule, server.mute.note);
      else notices.forgetMute(record.id);
      if (server.me) record.serverState = server.me.state;
      if (server.me && ["left", "removed", "refused"].includes(server.me.state)) record.state = server.me.state;
    }
    if (record.latest || record.serverState === "active") {
      try {
        await withKeys(record.id, async () => {
          const keys = await groupCode();
          await keys.syncEpochs(state.session, record);
          if (record.unopened) await keys.recover(state.session, record);
        });
      } catch {
        /* not keyed yet */
      }
    }
    // a membership from a browser without ML-KEM-768, now in one with it (§6.9)
    await groupCode()
      .then((keys) => keys.offerPqKey(state.session, record))
      .catch(() => {});
    await store.saveGroup(record);
    keepKeying(record.id);
  }
  if (state.current) renderChatState(); // a refused commit shows at once
  // An invite not yet checked (offline at the start) is checked now.
  if (state.invite && state.view === "join" && $("#join-details").hidden && $("#join-dead").hidden) await showInvite();
  renderHome();
  if (state.current) {
    notices.render(state.current);
    renderSession(state.current);
    showComposer(state.current);
    await refreshGroup(state.current);
  }
  await flushOutbox();
}

/**
 * Every change to a group's keys on this page (a commit taken in, the chain fetched, a rotation)
 * runs one after another. A commit is verified before its epoch's secret is stored, so a message
 * of that epoch arriving in between once found neither a newer commit to fetch nor the secret,
 * and was dropped; now it waits for the commit being taken in.
 */
function withKeys(groupId, task) {
  const next = (state.keyWork.get(groupId) || Promise.resolve()).catch(() => {}).then(task);
  state.keyWork.set(groupId, next);
  return next;
}

/** This device now holds the group's keys: say so and open the composer. */
async function keyedNow(record) {
  clearTimeout(state.keying.get(record.id));
  state.keying.delete(record.id);
  if (state.welcomed.has(record.id)) return;
  state.welcomed.add(record.id);
  announce(t("member.nowIn", { group: record.info?.name || t("member.theGroup") }));
  renderHome();
  if (state.current === record.id) {
    renderChatState();
    await refreshGroup(record.id);
  }
}

const KEYING_RETRY_MS = [2000, 4000, 8000, 15000, 30000];

/**
 * An active member whose device holds no epoch yet looks for the commit that keys it now and
 * then, until it has it: the `epoch.new` that brought it may have come while this page could
 * not take it in (a reply that timed out or was refused under load), and the next one may be
 * hours away. A membership the server merely claims is still only keyed by a verified commit.
 */
function keepKeying(id, attempt = 0) {
  clearTimeout(state.keying.get(id));
  state.keying.delete(id);
  const waiting = (record) => record && !record.latest && record.serverState === "active" && !record.untrusted?.length;
  if (!waiting(state.records.get(id))) return;
  const wait = KEYING_RETRY_MS[Math.min(attempt, KEYING_RETRY_MS.length - 1)];
  const timer = setTimeout(async () => {
    const record = state.records.get(id);
    if (!waiting(record) || state.keying.get(id) !== timer) return;
    let keyed = false;
    if (state.session.connected) keyed = await withKeys(id, async () => (await groupCode()).syncEpochs(state.session, record)).catch(() => false);
    if (keyed && record.latest) {
      await store.saveGroup(record);
      await keyedNow(record);
      await flushOutbox();
    } else if (record.untrusted?.length && state.current === id) renderChatState();
    else keepKeying(id, attempt + 1);
  }, wait);
  state.keying.set(id, timer);
}

const handlers = {
  ...held.handlers, // newcomer hold: msg.held, held.decided, msg.declined
  msg: (data) => receive(data),
  // Messages usually arrive coalesced, our own included when others' share the frame
  // (receive knows them by msg_id); a frame of only ours is not sent to this socket.
  "msg.batch": async (data) => {
    for (const message of data.messages) await receive(message);
  },
  "msg.deleted": (data) => {
    const item = state.messages.get(data.group_id)?.get(data.msg_id);
    if (item) {
      // A message its sender deleted stays reportable by those who saw it, until the group's
      // retention ends (the server kept its header and tag): keep the opening, in memory only.
      // One a facilitator hid has been dealt with: nothing is left to report.
      const bySender = data.by === "sender";
      item.reportText = bySender ? item.text : null;
      item.text = null;
      item.deleted = true;
      item.deletedBy = data.by;
      if (!bySender) item.opening = null;
      showMessage(data.group_id, item);
    }
  },
  notice: (data) => {
    const record = state.records.get(data.group_id);
    if (!record) return;
    notices.remember(data.group_id, data.kind, data.message, data.muted_until, data.rule, data.note);
    const name = record.info?.name || t("member.aGroup");
    announce(t("member.groupSays", { group: name, text: data.kind === "muted" ? notices.mutedText(data.muted_until) : t("member.warned") }));
    if (state.current === data.group_id) {
      notices.render(data.group_id);
      showComposer(data.group_id);
    }
  },
  // A facilitator changed the group's settings (slow mode and sessions among them).
  "group.updated": (data) => {
    const record = state.records.get(data.group.group_id);
    if (!record) return;
    record.info = { ...record.info, ...data.group };
    renderHome();
    if (state.current === record.id) {
      $("#chat-title").textContent = record.info.name || t("member.group");
      renderSession(record.id);
      showComposer(record.id);
    }
  },
  // A facilitator of a facilitator_present group came or went: posting opens or closes.
  "group.posting": (data) => {
    const record = state.records.get(data.group_id);
    if (!record?.info) return;
    record.info.posting_open = data.open;
    if (state.current === record.id) {
      showComposer(record.id);
      announce(data.open ? t("member.postingOpen") : t("member.postingClosed"));
    }
  },
  "epoch.new": async (data) => {
    const record = state.records.get(data.group_id);
    if (!record) return;
    const wasKeyed = Boolean(record.latest);
    const refusedBefore = (record.untrusted || []).length;
    const accepted = await withKeys(record.id, async () => {
      const keys = await groupCode();
      const taken = await keys.receiveCommit(state.session, record, hc.b64decode(data.commit));
      return (record.unopened && (await keys.recover(state.session, record))) || taken;
    });
    if ((record.untrusted || []).length > refusedBefore) {
      announce(t("member.groupSays", { group: record.info?.name || t("member.aGroup"), text: t("member.untrustedRefused") }));
      if (state.current === record.id) renderChatState();
    }
    if (record.unverified && !record.trustUnanchored && state.current === record.id) renderChatState();
    // Keyed by this commit, or by a fetch of the chain that ran at the same time (after a
    // join): either way this page says so once.
    if (!wasKeyed && record.latest) {
      await keyedNow(record);
      await flushOutbox();
    } else if (accepted) {
      if (state.current === record.id) {
        await loadNames(record.id);
        renderMessages(); // names, facilitators and membership changes
      }
      await flushOutbox();
    }
  },
  membership: async (data) => {
    const record = state.records.get(data.group_id);
    if (!record) return;
    record.serverState = data.state;
    if (data.state === "active") {
      announce(t("member.approved", { group: record.info?.name || t("member.theGroup") }));
      keepKeying(record.id);
    } else {
      record.state = data.state;
      const text = ["refused", "removed", "left"].includes(data.state) ? t(`member.membership.${data.state}`) : data.state;
      announce(t("member.groupSays", { group: record.info?.name || t("member.group"), text }));
    }
    await store.saveGroup(record);
    renderHome();
    if (state.current === record.id) renderChatState();
  },
  "rotation.needed": (data) => {
    const record = state.records.get(data.group_id);
    if (!record || !record.latest || record.state !== "active") return;
    // The server names one member to commit (docs/protocol.md, "Who rotates"); not us: no work.
    if (data.rotator !== hc.b64encode(record.member.memberId)) return;
    setTimeout(async () => {
      try {
        await withKeys(record.id, async () => {
          const keys = await groupCode();
          await keys.syncEpochs(state.session, record);
          if (record.latest > data.epoch) return;
          await keys.rotate(state.session, record, { force: data.reason !== "membership" });
        });
      } catch (error) {
        // Someone else will (the server keeps asking), unless the change is not authorised.
        if (error.code === "unauthorised_change") announce(t("member.groupSays", { group: record.info?.name || t("member.aGroup"), text: error.message }));
      }
    }, 0);
  },
};

// -- joining -------------------------------------------------------------------------------------

const joinName = el("bdi", { id: "join-name" });

function joinStage(stage) {
  show($("#join-checking"), stage === "checking");
  show($("#join-dead"), stage === "dead");
  show($("#join-details"), stage === "live");
}

async function showInvite({ starting = false } = {}) {
  groupCode().catch(() => {}); // joining needs it: loaded while the link is checked and read
  state.current = null;
  notices.render(null);
  composer.hide();
  $("#join-title").replaceChildren(...tParts("member.join.title", { group: joinName }));
  joinName.textContent = "";
  $("#join-checking").textContent = t("member.join.checking");
  joinStage("checking");
  go("join", { keepFocus: starting });
  $("#join-pseudonym").value = state.profile?.pseudonym || "";
  $("#join-error").textContent = "";
  $("#join-accept").checked = false;
  show($("#join-intro"), Boolean(state.newcomer));
  const token = state.invite;
  if (invites.malformed(token)) return showDeadLink(invites.malformed(token));
  try {
    await state.session.ready();
    const { group } = await state.session.call("invite.preview", { token });
    if (token !== state.invite) return; // another link was opened meanwhile
    if (state.records.get(group.group_id)?.state === "active") {
      clearInvite();
      return openGroup(group.group_id);
    }
    joinName.textContent = group.name;
    $("#join-rules").textContent = group.rules || t("member.join.noRules");
    joinStage("live");
  } catch (error) {
    if (token !== state.invite) return;
    if (error.code === "invite_invalid") return showDeadLink(error.detail?.reason);
    $("#join-checking").textContent = t("member.join.checkLater", { error: error.message });
  }
}

/** A link that cannot be used: say why and what to do, and offer no Join button. */
function showDeadLink(reason) {
  $("#join-title").textContent = t("member.join.deadTitle");
  $("#join-dead-text").textContent = invites.deadLinkText(reason);
  joinStage("dead");
  $("#join-title").focus({ preventScroll: true });
}

function clearInvite() {
  state.invite = null;
  state.inviteKey = null;
  state.inviteAnchor = null;
  history.replaceState(null, "", location.pathname);
}

async function join() {
  $("#join-error").textContent = "";
  if (!$("#join-accept").checked) throw new Error(t("member.join.acceptFirst"));
  const keys = await groupCode(); // cannot be loaded: it says so, and nothing is sent
  const pseudonym = $("#join-pseudonym").value.trim();
  const preview = await state.session.call("invite.preview", { token: state.invite });
  const group = preview.group;
  const record = await keys.newRecord(group.group_id, pseudonym);
  record.info = group;
  const payload = { token: state.invite, member: keys.memberPayload(record), accept_rules: true };
  if (state.inviteAnchor) {
    try {
      record.anchor = keys.parseAnchor(hc.b64decode(state.inviteAnchor));
    } catch {
      throw new Error(t("member.join.damaged"));
    }
  }
  if (state.inviteKey && preview.invite_key) {
    // Sign our own admission with the link's key, certified by a facilitator (§6.4).
    const inviteKey = await hc.importSigningKey(hc.b64decode(state.inviteKey));
    const certified = hc.b64decode(preview.invite_key);
    if (hc.equalBytes(certified.subarray(0, 32), inviteKey.publicKey)) {
      record.invitePk = inviteKey.publicKey;
      const admission = await keys.ownInviteAdmission(record, inviteKey, certified, group.current_epoch);
      if (admission) payload.admission = hc.b64encode(keys.encodeAuthorisation(admission));
    }
  }
  let reply;
  try {
    reply = await state.session.call("group.join", payload);
  } catch (error) {
    if (error.code !== "pseudonym_taken") throw error;
    throw new Error(t("member.join.nameTaken"));
  }
  // Known at once, before any other await: the commit that keys us may already be on its way.
  record.info = reply.group;
  record.serverState = reply.me.state;
  record.state = "pending";
  state.records.set(record.id, record);
  state.welcomed.delete(record.id);
  if (state.newcomer) {
    // Asked once: the name given here is also the default for the next groups.
    state.profile = { pseudonym };
    await store.put("profile", state.profile);
    state.newcomer = false;
  }
  await store.saveGroup(record);
  clearInvite();
  $("#join-accept").checked = false;
  await openGroup(record.id);
  // A commit that arrived before the record was known is fetched now (a no-op if none has).
  if (!record.latest) await withKeys(record.id, () => keys.syncEpochs(state.session, record)).catch(() => {});
  if (record.latest) await keyedNow(record);
  else keepKeying(record.id);
}

// -- home ----------------------------------------------------------------------------------------

function label(record) {
  if (record.state === "active" && record.latest) return "";
  if (record.serverState === "active") return t("member.home.gettingKeys");
  if (record.state === "pending") return t("member.home.waiting");
  return has(`member.home.state.${record.state}`) ? t(`member.home.state.${record.state}`) : `(${record.state})`;
}

// Updated in place: a list drawn again (a groups.list, a key arriving) keeps the button a person
// has focused, so that Enter still opens the group they chose.
function renderHome() {
  const list = $("#group-list");
  const drawn = new Map([...list.children].map((item) => [item.firstElementChild?.dataset.group, item]));
  // a facilitator's hand-over notes are read in the console (a facilitator may use this page too)
  const records = [...state.records.values()].filter((r) => r.companion?.kind !== "notes");
  records.forEach((record, index) => {
    const next = sessions.describeNext(record.info?.schedule, state.settings.time_zone || "UTC");
    const content = [
      bdi(record.info?.name || t("member.group")),
      label(record) ? ` ${label(record)}` : null,
      next ? el("span", { class: "group-next", text: next }) : null,
    ].filter(Boolean);
    let item = drawn.get(record.id);
    drawn.delete(record.id);
    if (item) item.firstElementChild.replaceChildren(...content);
    else {
      item = el(
        "li",
        {},
        el("button", { type: "button", class: "group-link", "data-group": record.id, onclick: () => openGroup(record.id) }, ...content),
      );
    }
    if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
  });
  for (const item of drawn.values()) item.remove();
  show($("#no-groups"), records.length === 0);
}

function goHome() {
  if (state.current) state.timelines.get(state.current)?.detach();
  arrivals.clear();
  state.current = null;
  notices.render(null);
  composer.hide();
  renderHome();
  go("home");
}

// -- chat ----------------------------------------------------------------------------------------

async function openGroup(id) {
  try {
    await groupCode(); // every group's messages and keys need it
  } catch {
    return announce(t("common.loadFailed")); // the page stays where it was
  }
  if (state.current !== id) {
    if (state.current) state.timelines.get(state.current)?.detach();
    arrivals.clear();
  }
  state.current = id;
  loadCrisis().catch(() => {}); // ready before anything can be sent (compose() waits for it)
  const record = state.records.get(id);
  $("#chat-title").textContent = record.info?.name || t("member.group");
  go("chat");
  notices.render(id);
  renderChatState();
  renderSession(id);
  showComposer(id);
  const timeline = timelineOf(id);
  $("#new-below").hidden = true;
  timeline.setChanges(record.timeline || []);
  timeline.setGaps(state.gaps.list(id), state.gaps.filling(id));
  timeline.attach($("#messages"));
  showOlderButton(id);
  held.renderPanel(id);
  // The focus moves now, not once the history is in: by then the person may have moved it.
  if ($("#compose-text").disabled) $("#compose-hint").focus();
  else $("#compose-text").focus();
  if (state.session.connected) await refreshGroup(id);
}

function showComposer(id) {
  const info = state.records.get(id)?.info;
  const exempt = info?.me?.role === "facilitator";
  const closed = info?.posting_policy === "facilitator_present" && info.posting_open === false && !exempt
    ? sessions.closedText(info.schedule, state.settings.time_zone || "UTC")
    : null;
  composer.show(id, { slowSeconds: info?.slow_mode_seconds || 0, exempt, mute: notices.mute(id), closed });
  composer.typed();
  // What the chat says of the sessions changes when one starts or ends: say it again then.
  clearTimeout(state.sessionTimer);
  const next = sessions.nextSession(info?.schedule, state.settings.time_zone || "UTC");
  if (next) {
    const wait = (next.start > Date.now() ? next.start : next.end) - Date.now() + 1000;
    state.sessionTimer = setTimeout(() => {
      if (state.current !== id) return;
      renderSession(id);
      showComposer(id);
    }, Math.min(wait, 2 ** 31 - 1));
  }
}

/** The open group's next session, and its calendar file when it has a schedule. */
function renderSession(id) {
  const schedule = state.records.get(id)?.info?.schedule || [];
  $("#chat-session").textContent = sessions.describeNext(schedule, state.settings.time_zone || "UTC");
  $("#chat-ics").hidden = schedule.length === 0;
}

/** [slow mode seconds, exempt as a facilitator] of a group. */
function slowModeOf(groupId) {
  const info = state.records.get(groupId)?.info;
  return [info?.slow_mode_seconds || 0, info?.me?.role === "facilitator"];
}

function renderChatState() {
  const record = state.records.get(state.current);
  if (!record) return;
  const keyed = record.state === "active" && Boolean(record.latest);
  // The group's protection level, from the suite of the last commit this device verified (§6.9).
  $("#chat-protection").hidden = !record.group;
  groupCode()
    .then((keys) => {
      if (state.records.get(state.current) !== record) return;
      $("#chat-protection").textContent = keys.protectionText(record);
      $("#chat-protection").dataset.level = keys.protection(record.group);
    })
    .catch(() => {}); // openGroup() said so
  let note = "";
  if (record.untrusted?.length) {
    // §6.9: a commit that lowers the group's cipher suite is refused like an unauthorised change
    $("#chat-note").textContent = record.untrusted.some((why) => why.endsWith("lowers the group's cipher suite"))
      ? t("member.chat.downgradeRefused")
      : t("member.chat.untrustedRefused");
    $("#chat-note").dataset.untrusted = "true";
    $("#compose").hidden = true;
    $("#leave").hidden = false;
    return;
  }
  delete $("#chat-note").dataset.untrusted;
  $("#trust-unanchored").hidden = true;
  $("#ask-facilitator").hidden = Boolean(record.companion || !record.latest); // a group, not a companion
  const doubt = companionDoubt(record); // a private request holding someone it should not
  if (doubt) {
    $("#chat-note").textContent = doubt;
    $("#compose").hidden = true;
    return;
  }
  if (record.unverified && !record.trustUnanchored && !record.latest) {
    // docs/protocol.md §6.7: a link without an anchor proves no group; never keyed unasked.
    $("#chat-note").textContent = t("member.chat.unverified");
    $("#chat-note").dataset.unverified = "true";
    $("#trust-unanchored").hidden = false;
    $("#compose").hidden = true;
    $("#leave").hidden = false;
    return;
  }
  delete $("#chat-note").dataset.unverified;
  if (record.state === "pending" && record.serverState !== "active") note = t("member.chat.waitingApproval");
  else if (!keyed && ["pending", "active"].includes(record.state)) note = t("member.chat.waitingKeys");
  else if (!["pending", "active"].includes(record.state)) note = t("member.chat.noLonger");
  $("#chat-note").textContent = note;
  $("#compose").hidden = !keyed;
  $("#leave").hidden = !["pending", "active"].includes(record.state);
}

/** The person chose to trust a group its link could not prove (§6.7): key from the commit. */
async function trustUnanchored() {
  const record = state.records.get(state.current);
  if (!record) return;
  record.trustUnanchored = true;
  await store.saveGroup(record);
  await withKeys(record.id, async () => (await groupCode()).syncEpochs(state.session, record)).catch(() => {});
  renderChatState();
  renderHome();
  if (record.latest) await refreshGroup(record.id);
}

/**
 * A group's names, newest history, gaps and held messages, fetched afresh. Opening the group and
 * a reconnect's catch-up often ask at once: the second shares the refresh already under way on
 * this connection (a second one scrolled the conversation back to its end after the person had
 * scrolled up, and moved nothing else).
 */
const refreshing = new Map(); // group id -> { connection, done }: its refresh under way
function refreshGroup(id) {
  const running = refreshing.get(id);
  if (running?.connection === state.connections) return running.done;
  const done = fetchGroup(id).finally(() => {
    if (refreshing.get(id)?.done === done) refreshing.delete(id);
  });
  refreshing.set(id, { connection: state.connections, done });
  return done;
}

async function fetchGroup(id) {
  const record = state.records.get(id);
  if (!record?.latest) return;
  await loadNames(id);
  const reply = await state.session.call("history.get", { group_id: id, limit: PAGE });
  await ingest(record, reply.messages); // after a long time offline, opens a gap below it
  if (!state.more.has(id)) state.more.set(id, reply.more);
  renderMessages(true);
  await fillGaps(record);
  await held.refresh(id, Boolean(record.info?.facilitator));
}

async function loadNames(id) {
  try {
    const listing = await state.session.call("members.list", { group_id: id });
    const names = state.names.get(id) || new Map();
    for (const m of listing.members) names.set(m.member_id, { pseudonym: m.pseudonym, role: m.role });
    state.names.set(id, names);
  } catch {
    /* not a member (any more) */
  }
}

let loadingOlder = false;
async function loadOlder(id) {
  if (loadingOlder || !id) return;
  const record = state.records.get(id);
  const items = [...(state.messages.get(id)?.values() || [])].filter((m) => m.seq);
  const oldest = Math.min(...items.map((m) => m.seq));
  if (!Number.isFinite(oldest)) return;
  loadingOlder = true;
  try {
    const reply = await state.session.call("history.get", { group_id: id, before_seq: oldest, limit: PAGE });
    await ingest(record, reply.messages); // put above the first row, the one in view kept in place
    state.more.set(id, reply.more);
    showOlderButton(id);
  } finally {
    loadingOlder = false;
  }
}

/**
 * Open and keep messages from the server; resolves to the kept item of every view that opened,
 * new to this page or already held (a history fetch running at the same time may have brought a
 * live message first).
 */
/** Verify and open one message view; sealed in an epoch this page does not hold yet (its commit
 * still on the way), after catching up with the group's epochs. Null: it does not verify. */
async function openView(record, view) {
  const keys = await groupCode();
  const item = await keys.open(record, view);
  if (item || record.epochs[view.epoch]) return item;
  await withKeys(record.id, () => keys.syncEpochs(state.session, record)).catch(() => {});
  return keys.open(record, view);
}

async function ingest(record, views) {
  const map = state.messages.get(record.id) || new Map();
  state.messages.set(record.id, map);
  const fresh = [];
  const opened = [];
  for (const view of views) {
    noteSeq(record.id, view.seq);
    const item = await openView(record, view);
    if (!item) continue;
    held.opened(item, view);
    const pending = map.get(item.msgId);
    if (pending?.seq) {
      opened.push(pending);
      continue;
    }
    if (state.outbox.delete(item.msgId)) store.forgetUnsent(item.msgId).catch(() => {});
    const mine = Boolean(item.senderId) && hc.equalBytes(hc.b64decode(item.senderId), record.member.memberId);
    const kept = { ...item, mine, status: "sent" };
    map.set(item.msgId, kept);
    fresh.push(kept);
    opened.push(kept);
  }
  if (fresh.length) timelineOf(record.id).putMessages(fresh);
  return opened;
}

function noteSeq(groupId, seq) {
  state.gaps.note(groupId, seq);
}

async function receive(data) {
  const record = state.records.get(data.group_id);
  if (!record) return;
  // ingest notes data.seq before its first await: later arrivals see it
  const [item] = firstArrivals(await ingest(record, [data]));
  if (state.current === record.id && item) {
    if (item.senderId && !state.names.get(record.id)?.has(item.senderId)) {
      await loadNames(record.id);
      timelineOf(record.id).refresh(); // "Former member" until the names came
    }
    if (!item.mine && !item.deleted) arrivals.add(senderName(record.id, item.senderId, false), item.text);
  }
  if (state.gaps.list(record.id).length) await fillGaps(record);
}

// Broadcasts this page missed show as a jump in seq (gaps.js): fetch all that lies between,
// however much. If that fails (offline again, the server busy), the gap stays open and marked in
// the conversation, and the next reconnect, message or "Load them" tries again.
async function fillGaps(record) {
  const fetchPage = async (before, limit) => {
    renderGaps(record.id); // "being loaded…"
    const reply = await callPatiently("history.get", { group_id: record.id, before_seq: before, limit });
    await ingest(record, reply.messages);
    return reply;
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await state.gaps.fill(record.id, fetchPage);
      break;
    } catch {
      // Kept open: tried again shortly while connected, then by the marker's button or a reconnect.
      renderGaps(record.id);
      if (!state.session.connected) break;
      await new Promise((resolve) => setTimeout(resolve, 1000 * 2 ** attempt));
    }
  }
  renderGaps(record.id);
}

// A call that waits out rate limits (a long gap is many pages) instead of failing on them.
async function callPatiently(event, payload) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await state.session.call(event, payload);
    } catch (error) {
      if (!(error instanceof Refused) || error.code !== "rate_limited" || attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(error.detail.retry_after_ms || 1000, 10_000)));
    }
  }
}

// `senderId` is the signed header's sender (groupkeys.open), whose roster entry verified the
// signature; a tombstone has no header left, so no author.
function senderName(groupId, senderId, mine) {
  if (mine) return t("member.you");
  if (!senderId) return t("member.someone");
  const entry = state.names.get(groupId)?.get(senderId);
  if (!entry) return t("member.formerMember");
  return entry.pseudonym;
}

// A role is its own element, never text inside a name (a name cannot contain a role word either:
// server/pseudonyms.py), so "Quiet Fox (facilitator)" typed as a name cannot pass for one. Who is
// a facilitator comes from the verified group state (groupstate.js), never the server's `role`.
function senderBadge(groupId, senderId) {
  const chiefs = state.records.get(groupId)?.group?.facilitators || [];
  return senderId && chiefs.includes(hc.hex(hc.b64decode(senderId))) ? roleBadge("facilitator", t("common.role.facilitator")) : null;
}

// The conversation of each group, kept in order as messages arrive (timeline.js); the open
// group's is attached to the list, which holds only a window of it.
function timelineOf(groupId) {
  let timeline = state.timelines.get(groupId);
  if (!timeline) {
    timeline = new Timeline((kind, value) => {
      if (kind === "message") return messageNode(groupId, value);
      if (kind === "change") return changeRow(groupId, value);
      return gapMarker(groupId, value);
    });
    timeline.onTop = () => {
      if (state.more.get(groupId)) loadOlder(groupId);
    };
    timeline.onShift = () => showOlderButton(groupId);
    timeline.onUnseen = () => showNewBelow(groupId);
    state.timelines.set(groupId, timeline);
  }
  return timeline;
}

/** While the person reads further up, a button says how many new messages wait below. */
function showNewBelow(groupId) {
  if (state.current !== groupId) return;
  const count = timelineOf(groupId).unseen;
  $("#new-below").textContent = t("member.chat.newBelow", { count });
  $("#new-below").hidden = count === 0;
}

/** A message is new or changed: its one row is added, moved or built again. */
function showMessage(groupId, item) {
  timelineOf(groupId).putMessage(item);
}

/** The open group's gap markers, as gaps.js has them now. */
function renderGaps(groupId) {
  if (state.current === groupId) timelineOf(groupId).setGaps(state.gaps.list(groupId), state.gaps.filling(groupId));
}

/**
 * What the open conversation shows besides its messages: membership changes, gap markers, and
 * names and badges (rows in view whose element would differ are built again; a bounded cost).
 */
function renderMessages(forceBottom = false) {
  const id = state.current;
  if (!id) return;
  const timeline = timelineOf(id);
  timeline.setChanges(state.records.get(id)?.timeline || []);
  renderGaps(id);
  timeline.refresh();
  if (forceBottom) timeline.scrollToLatest();
  showOlderButton(id);
}

function showOlderButton(groupId) {
  if (state.current === groupId) $("#older").hidden = !(state.more.get(groupId) || timelineOf(groupId).hiddenAbove > 0);
}

// "Load older messages": older rows held in memory first, else the next page from the server;
// the list is scrolled to its top, so that they appear just above what was the first in view.
function showOlder() {
  const id = state.current;
  if (!id) return;
  $("#messages").scrollTop = 0;
  const timeline = timelineOf(id);
  if (timeline.hiddenAbove > 0) timeline.showOlder();
  else if (state.more.get(id)) loadOlder(id);
}

/** The element of one message: every message row is built here (timeline.js asks for them). */
function messageNode(id, m) {
  const node = el(
    "li",
    { class: `message${m.mine ? " mine" : ""}`, "data-msg": m.msgId, "data-status": m.status },
    el("div", { class: "meta" }, el("bdi", { class: "who", text: senderName(id, m.senderId, m.mine) }), senderBadge(id, m.senderId), " ", el("time", { text: m.serverTs ? formatTime(m.serverTs) : "" })),
    el("p", { class: m.deleted ? "text deleted" : "text", dir: "auto", text: m.deleted ? removedText(m) : m.text }),
    m.mine && m.status !== "sent" ? statusLine(m) : null,
    held.releasedMark(m),
    reportLine(id, m),
  );
  return contentnotes.decorate(node, m);
}

function gapMarker(groupId, gap) {
  const count = gap.before - gap.after - 1;
  if (gap.filling) return el("li", { class: "gap", text: t("member.gap.loading", { count }) });
  return el(
    "li",
    { class: "gap" },
    t("member.gap.missing", { count }),
    " ",
    el("button", { type: "button", onclick: () => fillGaps(state.records.get(groupId)) }, t("member.gap.load")),
  );
}

// A verified membership change (groupstate.js): who joined, left or was removed, and who signed.
function nameOf(groupId, hexId) {
  const record = state.records.get(groupId);
  if (record && hexId === hc.hex(record.member.memberId)) return t("member.you");
  return state.names.get(groupId)?.get(hc.b64encode(hc.unhex(hexId)))?.pseudonym || t("member.aFormerMember");
}

// Each name is its own <bdi>: a name in another script cannot reorder the sentence around it.
function changeParts(groupId, c) {
  const who = bdi(nameOf(groupId, c.memberId));
  const facilitator = c.role === hc.ROLE.FACILITATOR ? "AsFacilitator" : "";
  if (c.kind === "joined" && c.by === null && c.issuer === null) return tParts(`member.change.started${facilitator}`, { who });
  if (c.kind === "joined" && c.by) return tParts(`member.change.admitted${facilitator}`, { who, by: bdi(nameOf(groupId, c.by)) });
  if (c.kind === "joined") return tParts("member.change.invited", { who, by: bdi(nameOf(groupId, c.issuer)) });
  if (c.kind === "left") return tParts("member.change.left", { who });
  return tParts("member.change.removed", { who, by: bdi(nameOf(groupId, c.by)) });
}

function changeRow(groupId, c) {
  return el("li", { class: "membership-change", "data-change": c.kind, "data-epoch": String(c.epoch) }, ...changeParts(groupId, c));
}

// This page never deletes its own messages, so a removal of one of ours was a facilitator's.
function removedText(m) {
  if (m.mine) return t("member.removed.mine");
  if (m.deletedBy === "sender") return canReport(m) ? t("member.removed.bySenderReportable") : t("member.removed.bySender");
  return t("member.removed.other");
}

function reportLine(groupId, m) {
  if (m.reported) return el("p", { class: "state", text: t("member.report.done") });
  if (!canReport(m)) return null;
  const author = senderName(groupId, m.senderId, false);
  return el(
    "div",
    { class: "message-actions" },
    el("button", { type: "button", class: "report", "aria-label": t("member.report.buttonLabel", { author }), onclick: () => report(groupId, m, author) }, t("member.report.button")),
  );
}

async function report(groupId, m, author) {
  let later;
  try {
    later = await loadLater(); // the dialog and its texts (reporting.js)
  } catch {
    return announce(t("common.loadFailed"));
  }
  const outcome = await later.reportMessage(state.session, groupId, m, author);
  if (outcome.kind === "cancelled") return;
  if (outcome.kind === "sent" || outcome.kind === "already") m.reported = true;
  announce(outcome.text);
  showMessage(groupId, m);
  $("#messages").focus(); // the button was re-rendered; keep the keyboard in the conversation
}

function statusLine(m) {
  const heldLine = held.statusLine(m);
  if (heldLine) return heldLine;
  if (m.status === "failed") {
    return el(
      "p",
      { class: "state failed" },
      m.error ? t("member.status.notSentBecause", { error: m.error.replace(/\.$/, "") }) : t("member.status.notSent"),
      " ",
      el("button", { type: "button", class: "retry", onclick: () => retry(m.msgId) }, t("member.status.retry")),
    );
  }
  return el("p", { class: "state", text: m.status === "waiting" ? t("member.status.waiting") : t("member.status.sending") });
}

// -- sending -------------------------------------------------------------------------------------

// The on-device crisis check (crisischeck.js and the phrase lists): loaded as soon as this device
// is in a group, at start or when a group opens (so also offline later), not on a first visit
// that has none (issue 19). compose() waits for it and sends nothing it has not checked.
let crisisLoading = null;
function loadCrisis() {
  crisisLoading ||= import("./crisischeck.js")
    .then((crisis) => crisis.loadCrisisCheck(state.crisisWords, locale, phraseListsOf(state.settings)))
    .catch((error) => {
      crisisLoading = null;
      throw error;
    });
  return crisisLoading;
}

let checking = false; // compose() is waiting for the crisis check to load
async function compose() {
  const area = $("#compose-text");
  const text = area.value.trim();
  if (!text || !state.current) return;
  const refusal = composer.refusal(state.current, text);
  const { note, problem } = contentnotes.noteToSend();
  if (refusal || problem) {
    announce(refusal || problem); // the text stays in the box
    return;
  }
  if (checking) return; // Enter again while the check is still loading: one message, not two
  let crisis;
  checking = true;
  try {
    crisis = await loadCrisis();
  } catch {
    announce(t("common.loadFailed")); // the text stays in the box: nothing is sent unchecked
    return;
  } finally {
    checking = false;
  }
  if (crisis.match(text) !== null) {
    const answer = await ask($("#crisis-check"));
    if (answer === "ask") return askPrivately(state.current, text); // privately, to the facilitators
    if (answer === "support") $("#crisis").showModal();
    else area.focus();
    if (answer !== "send") return;
  }
  area.value = "";
  contentnotes.clearNote();
  composer.typed();
  area.focus();
  const msgId = hc.b64encode(hc.randomBytes(16));
  const entry = { groupId: state.current, text, note, msgId, attempts: 0 };
  state.outbox.set(msgId, entry);
  const map = state.messages.get(state.current) || new Map();
  state.messages.set(state.current, map);
  const item = { msgId, text, note, mine: true, status: "sending", senderId: null, serverTs: Date.now() };
  map.set(msgId, item);
  showMessage(state.current, item);
  timelineOf(state.current).scrollToLatest();
  await deliver(entry);
}

function retry(msgId) {
  const entry = state.outbox.get(msgId);
  if (!entry) return;
  setStatus(entry, "sending");
  deliver(entry);
}

function setStatus(entry, status, error) {
  const item = state.messages.get(entry.groupId)?.get(entry.msgId);
  if (item) {
    item.status = status;
    item.error = error;
    showMessage(entry.groupId, item);
  }
}

/** Seal (again, same msg_id, when the epoch moved) and send until acknowledged or refused. */
async function deliver(entry) {
  const record = state.records.get(entry.groupId);
  if (!record || entry.inFlight) return;
  entry.inFlight = true;
  try {
    if (!entry.envelope || entry.epoch !== record.latest) {
      const keys = await groupCode(); // cannot be loaded: the message stays unsent, and says so
      entry.envelope = hc.b64encode(await keys.seal(record, entry.text, hc.b64decode(entry.msgId), entry.note));
      entry.epoch = record.latest;
      await store.saveUnsent(entry); // sealed, it waits in this browser across a reload
    }
    if (!state.session.connected) {
      setStatus(entry, "failed", t("member.status.offline"));
      return;
    }
    const ack = await state.session.call("msg.send", { group_id: entry.groupId, envelope: entry.envelope });
    state.outbox.delete(entry.msgId);
    store.forgetUnsent(entry.msgId).catch(() => {});
    if (held.acknowledged(entry.groupId, entry.msgId, ack)) {
      // Held for the group's facilitators (newcomer hold): no seq until one releases it.
      composer.sent(entry.groupId, ...slowModeOf(entry.groupId));
      const waiting = state.messages.get(entry.groupId)?.get(entry.msgId);
      if (waiting) showMessage(entry.groupId, waiting);
      return;
    }
    const item = state.messages.get(entry.groupId)?.get(entry.msgId);
    if (item) {
      Object.assign(item, { seq: ack.seq, serverTs: ack.server_ts, kid: ack.kid, rtag: ack.rtag, epoch: entry.epoch, status: "sent" });
      showMessage(entry.groupId, item);
    }
    // Our own seq closes no gap below it (a broadcast lost before it must still be found).
    if (state.gaps.highest(entry.groupId) === ack.seq - 1) noteSeq(entry.groupId, ack.seq);
    composer.sent(entry.groupId, ...slowModeOf(entry.groupId));
  } catch (error) {
    entry.attempts += 1;
    if (["wrong_epoch", "rotation_required"].includes(error.code) && entry.attempts < 6) {
      await withKeys(record.id, async () => (await groupCode()).syncEpochs(state.session, record)).catch(() => {});
      entry.inFlight = false;
      setTimeout(() => deliver(entry), 400 * entry.attempts);
      return;
    }
    if (["storage_full", "unavailable"].includes(error.code) && error.detail?.retry_after_ms > 0) {
      // Nothing was stored (the server's disk is full, or it is restarting): the same envelope
      // and msg_id go again after the wait the server asked for.
      setStatus(entry, "failed", t(error.code === "storage_full" ? "member.status.storageFull" : "member.status.busy"));
      setTimeout(() => { if (state.outbox.has(entry.msgId)) deliver(entry); }, error.detail.retry_after_ms);
      return;
    }
    const offline = error instanceof Refused && ["unavailable", "timeout"].includes(error.code);
    if (error.code === "slow_mode" && error.detail?.retry_after_ms && entry.attempts < 6) {
      // Sent from another tab or device a moment ago: this one waits its turn, then goes.
      composer.mustWait(entry.groupId, error.detail.retry_after_ms);
      setStatus(entry, "waiting");
      entry.inFlight = false;
      setTimeout(() => deliver(entry), error.detail.retry_after_ms + 100);
      return;
    }
    if (error.code === "posting_closed") {
      // No facilitator after all (the page had not heard yet): the composer says so and when.
      const info = state.records.get(entry.groupId)?.info;
      if (info) info.posting_open = false;
      if (state.current === entry.groupId) showComposer(entry.groupId);
    }
    if (error.code === "muted" && error.detail?.muted_until) {
      notices.remember(entry.groupId, "muted", "", error.detail.muted_until, error.detail.rule, error.detail.note);
      if (state.current === entry.groupId) {
        notices.render(entry.groupId);
        showComposer(entry.groupId);
      }
      setStatus(entry, "failed", notices.mutedText(error.detail.muted_until));
    } else {
      setStatus(entry, "failed", offline ? t("member.status.offline") : error.message);
    }
  } finally {
    entry.inFlight = false;
  }
}

/** Messages sealed but not acknowledged when the page was last closed: sending again. */
async function restoreOutbox() {
  const unsent = await store.unsent();
  if (!unsent.length) return;
  let keys;
  try {
    keys = await groupCode();
  } catch {
    return; // kept sealed in this browser until the group code can be loaded
  }
  for (const saved of unsent) {
    const record = state.records.get(saved.groupId);
    const view = { msg_id: saved.msgId, sender_id: record && hc.b64encode(record.member.memberId), epoch: saved.epoch, envelope: saved.envelope };
    const opened = record ? await keys.open(record, view) : null;
    if (!opened?.text) {
      await store.forgetUnsent(saved.msgId); // the group or its keys are gone from this browser
      continue;
    }
    const entry = { groupId: saved.groupId, text: opened.text, note: opened.note, msgId: saved.msgId, envelope: saved.envelope, epoch: saved.epoch, attempts: 0 };
    state.outbox.set(saved.msgId, entry);
    const map = state.messages.get(saved.groupId) || new Map();
    state.messages.set(saved.groupId, map);
    const item = { msgId: saved.msgId, text: opened.text, note: opened.note, mine: true, status: "sending", senderId: null, serverTs: Date.now() };
    map.set(saved.msgId, item);
    showMessage(saved.groupId, item);
  }
}

async function flushOutbox() {
  for (const entry of state.outbox.values()) {
    setStatus(entry, "sending");
    await deliver(entry);
  }
}

// -- leaving and deleting ------------------------------------------------------------------------

async function leaveCurrent() {
  const id = state.current;
  const record = state.records.get(id);
  if (!record) return;
  if (!(await confirmAction(t("member.leave.confirm", { group: record.info?.name || t("member.thisGroup") }), t("member.leave.yes")))) return;
  try {
    await state.session.call("group.leave", { group_id: id, leave: await signedLeave(record) });
  } catch (error) {
    if (error.code !== "not_member") {
      announce(t("member.leave.failed", { error: error.message }));
      return;
    }
  }
  state.records.delete(id);
  state.messages.delete(id);
  state.timelines.get(id)?.detach();
  state.timelines.delete(id);
  await store.forgetGroup(id);
  announce(t("member.leave.done"));
  goHome();
}

/** Our signed leave (§6.4), which the next commit carries so every member sees we left. */
async function signedLeave(record) {
  const keys = await groupCode(); // cannot be loaded: leaving says so, and nothing changes
  return hc.b64encode(keys.encodeAuthorisation(await keys.signLeave(record.groupId, record.member)));
}

async function wipe() {
  if (!(await confirmAction(t("member.wipe.confirm"), t("member.wipe.yes")))) return;
  for (const id of state.records.keys()) {
    try {
      await state.session.call("group.leave", { group_id: id, leave: await signedLeave(state.records.get(id)) }, 5000);
    } catch {
      /* best effort */
    }
  }
  state.session.stop();
  await store.wipe();
  location.replace(location.pathname);
}

boot().catch((error) => announce(t("member.startFailed", { error: error.message })));
