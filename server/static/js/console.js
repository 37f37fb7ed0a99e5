// The facilitator console: log in/out, create groups (the browser builds the epoch-1 commit),
// invite links, join requests, members and removals, and the epoch rotations that follow; the
// moderation queue (queue.js), one report and its decisions (reportview.js), the audit log (audit.js);
// each group's live conversation (workspace.js) and acting on a message (messageactions.js);
// on-device crisis triage (triage.js), what needs the facilitator (attention.js) and alerts (alerts.js);
// hand-over notes and members' private requests (handover.js); an administrator's panel (administration.js).

import * as hc from "./crypto.js";
import * as store from "./keystore.js";
import * as keys from "./groupkeys.js";
import * as gs from "./groupstate.js";
import * as admissions from "./admissions.js";
import { Session, api } from "./session.js";
import { $, el, bdi, show, focusHeading, announce, ask, renderResources, roleBadge, replaceKeepingFocus, wireDialogClose } from "./ui.js";
import { t, tParts, errorText, formatDateTime } from "./i18n.js";
import { suggestPseudonym } from "./words.js";
import * as queue from "./queue.js";
import * as reportView from "./reportview.js";
import * as audit from "./audit.js";
import { showCrisisSetupWarning } from "./crisiswarning.js";
import * as groupSettings from "./groupsettings.js";
import * as cofac from "./cofacilitators.js";
import * as scheduleEditor from "./scheduleeditor.js";
import * as workspace from "./workspace.js";
import * as messageActions from "./messageactions.js";
import * as triage from "./triage.js";
import * as alerts from "./alerts.js";
import * as attention from "./attention.js";
import * as handover from "./handover.js";
import * as administration from "./administration.js";

const state = { session: null, groups: new Map(), current: null, rotating: new Map(), names: new Map(), view: "login", username: null };

/** Show `view` and focus its heading; `keepFocus`: a start's first screen (ui.js focusHeading). */
function go(view, { keepFocus = false } = {}) {
  state.view = view;
  for (const name of ["login", "desk", "group", "queue", "report"]) show($(`#${name}`), name === view);
  show($("#logout"), view !== "login");
  focusHeading($(`#${view} h2`), { keepFocus });
}

async function boot() {
  for (const dialog of document.querySelectorAll("dialog")) wireDialogClose(dialog);
  $("#open-crisis").addEventListener("click", () => $("#crisis").showModal());
  api("GET", "/api/settings").then(
    (s) => {
      renderResources($("#crisis-list"), s.crisis_resources);
      showCrisisSetupWarning(s);
      return triage.init(s, flagChanged);
    },
    () => {
      renderResources($("#crisis-list"), []);
      return triage.init({}, flagChanged);
    },
  );
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  $("#create-form").addEventListener("submit", createGroup);
  $("#invite-form").addEventListener("submit", createInvite);
  $("#back").addEventListener("click", () => {
    state.current = null;
    workspace.close();
    handover.close();
    go("desk");
  });
  $("#open-queue").addEventListener("click", () => openQueue());
  $("#group-reports").addEventListener("click", () => openQueue(state.current));
  $("#queue-back").addEventListener("click", () => go("desk"));
  $("#report-back").addEventListener("click", () => openQueue($("#queue-group").value));
  $("#audit-refresh").addEventListener("click", () => loadAudit());
  const context = {
    session: () => state.session,
    groups: () => state.groups,
    names: () => state.names,
    go,
    confirm: confirmAction,
    rotateNow,
    openReport: (report) => reportView.open(report),
    resolved: (report) => {
      queue.resolved(report);
      reportView.update(report);
      attention.render();
      renderGroupList();
      if (state.current === report.group_id) loadAudit();
    },
  };
  queue.init(context);
  reportView.init(context);
  groupSettings.init(context);
  cofac.init({
    ...context,
    current: () => state.current,
    refreshGroups,
    closeGroup: () => {
      state.current = null;
      go("desk");
    },
  });
  scheduleEditor.init(context);
  const groupName = (id) => state.groups.get(id)?.name || "a group";
  const nameOf = (groupId, memberId) => workspace.nameOf(groupId, memberId) || state.names.get(memberId) || null;
  workspace.init({
    session: () => state.session,
    syncKeys: syncGroupKeys,
    arrived: triageMessage,
    flagged: triage.flagged,
    actOn: (groupId, item) => messageActions.actOn(groupId, item, nameOf(groupId, item.senderId) || "this member"),
  });
  messageActions.init({
    session: () => state.session,
    groupName,
    rules: (id) => state.groups.get(id)?.rules || "",
    confirm: confirmAction,
    rotateNow,
    done: (groupId) => {
      if (state.current === groupId) refreshGroup();
    },
  });
  alerts.init();
  administration.init({ session: () => state.session, confirm: confirmAction });
  handover.init({
    session: () => state.session,
    groups: () => state.groups,
    username: () => state.username,
    syncKeys: syncGroupKeys,
    rotateNow,
    nameOf,
    confirm: confirmAction,
    openGroup,
    raise: (text) => alerts.raise(text),
    changed: () => attention.render(),
  });
  attention.init({
    requests: handover.attentionItems,
    groupName,
    nameOf,
    flags: triage.list,
    reports: queue.openReports,
    openFlag: (flag) => openGroup(flag.groupId, { atMessage: flag.msgId }),
    seenFlag: (flag) => triage.seen(flag.groupId, flag.msgId),
    openReport: (report) => reportView.open(report),
    openGroup,
  });
  $("#create-pseudonym").value = await suggestPseudonym();
  try {
    await api("GET", "/api/facilitator/me");
    startSession({ starting: true });
  } catch {
    go("login", { keepFocus: true });
  }
}

// A message from someone else, verified and decrypted here: the crisis check runs on it in this
// browser and raises an urgent item for this facilitator alone; nothing is sent (triage.js).
function triageMessage(groupId, item) {
  const flag = triage.look(groupId, item);
  if (!flag) return;
  const group = state.groups.get(groupId)?.name || t("member.aGroup");
  const who = workspace.nameOf(groupId, item.senderId) || t("console.aMember");
  $("#queue-live").textContent = t("console.crisis.live", { group, who });
  alerts.raise(t("console.crisis.alert", { group }), { urgent: true });
  if (state.current === groupId) workspace.render();
}

function flagChanged() {
  attention.render();
  renderGroupList();
}

async function confirmAction(text, yes) {
  $("#confirm-text").textContent = text;
  $("#confirm-yes").textContent = yes;
  return (await ask($("#confirm"))) === "yes";
}

async function openQueue(groupId = "") {
  state.current = null;
  queue.filterTo(groupId);
  go("queue");
  try {
    await queue.load();
  } catch (error) {
    announce(t("console.queue.loadFailed", { error: error.message }));
  }
}

async function loadAudit() {
  const id = state.current;
  if (!id || !state.session?.connected) return;
  try {
    await audit.load(state.session, id, state.names);
  } catch (error) {
    announce(t("console.audit.loadFailed", { error: error.message }));
  }
}

async function login(event) {
  event.preventDefault();
  $("#login-error").textContent = "";
  try {
    await api("POST", "/api/facilitator/login", { username: $("#login-username").value, password: $("#login-password").value });
  } catch (error) {
    $("#login-error").textContent = error.message;
    return;
  }
  $("#login-password").value = "";
  startSession();
}

// The console and the member page share this browser's keys (one IndexedDB per origin). So that
// a shared computer does not keep the facilitator's groups readable, logging out asks whether to
// remove this browser's keys for the groups they facilitate; a logout the server made (the
// session ended) asks too, and there "Cancel" keeps them.
async function logout(event) {
  const ids = [...state.groups.keys()];
  let wipe = false;
  if (ids.length) {
    const groups = el("span", { id: "logout-groups", text: t("console.logout.groupCount", { count: ids.length }) });
    $("#logout-keys").replaceChildren(...tParts("console.logout.keys", { groups }));
    const answer = await ask($("#logout-dialog"));
    if (answer !== "wipe" && answer !== "keep" && event) return; // cancelled: still logged in
    wipe = answer === "wipe";
  }
  state.session?.stop();
  state.session = null;
  workspace.close();
  triage.forget();
  attention.forgetGroups();
  await api("POST", "/api/facilitator/logout").catch(() => {});
  if (wipe) await store.forgetGroups([...ids, ...(await handover.companionsOf(ids))]); // notes and requests too
  state.groups = new Map();
  state.current = null;
  $("#connection").textContent = wipe ? t("console.loggedOutWiped") : t("console.loggedOut");
  go("login");
}

function startSession({ starting = false } = {}) {
  state.session?.stop();
  state.session = new Session(handlers, async (status, detail) => {
    if (status === "connected") {
      $("#connection").textContent = t("common.connected");
      await refreshGroups();
    } else if (status === "refused") {
      $("#connection").textContent = t("console.refused", { reason: errorText(detail?.code || "unknown", detail?.message) });
    } else {
      $("#connection").textContent = t("common.offline");
    }
  });
  state.session.start();
  go("desk", { keepFocus: starting });
}

const handlers = {
  ...cofac.handlers,
  "join.requested": (data) => {
    const group = state.groups.get(data.group_id);
    announce(t("console.joinRequest", { who: data.member.pseudonym, group: group?.name || t("member.aGroup") }));
    attention.joinRequested(data.group_id, data.member);
    alerts.raise(t("console.joinRequestAlert", { group: group?.name || t("member.aGroup") }));
    if (state.current === data.group_id) refreshGroup();
  },
  // Messages of the groups this person facilitates (the same account may be a plain member of
  // others, whose messages stay on the member page).
  ...handover.handlers,
  msg: (data) => (state.groups.has(data.group_id) ? workspace.receive(data) : handover.receive(data)),
  "msg.batch": async (data) => {
    const to = state.groups.has(data.group_id) ? workspace : handover;
    for (const message of data.messages) await to.receive({ group_id: data.group_id, ...message });
  },
  "msg.deleted": (data) => workspace.deleted(data),
  "rotation.needed": (data) => rotateSoon(data.group_id, data.reason !== "membership"),
  "epoch.new": async (data) => {
    await withGroupKeys(data.group_id, async () => {
      const record = await store.group(data.group_id);
      if (!record) return;
      await keys.receiveCommit(state.session, record, hc.b64decode(data.commit));
      if (record.unopened) await keys.recover(state.session, record);
    }).catch(() => {});
    await workspace.keysChanged(data.group_id);
    await handover.keysChanged(data.group_id);
    if (state.current === data.group_id) refreshGroup();
  },
  membership: () => state.current && refreshGroup(),
  // A member's wrap in a commit did not open (docs/protocol.md §6.6): name the committer.
  "commit.flagged": (data) => {
    const group = state.groups.get(data.group_id);
    const who = state.names.get(data.committer_id) || "a member";
    announce(t("member.groupSays", { group: group?.name || t("member.aGroup"), text: t("console.keysUnopened", { who, epoch: data.epoch }) }));
    if (state.current === data.group_id) loadAudit();
  },
  "report.new": (report) => {
    queue.arrive(report);
    attention.render();
    renderGroupList();
    const urgent = report.priority === "urgent";
    alerts.raise(t(urgent ? "console.newUrgentReport" : "console.newReport", { group: state.groups.get(report.group_id)?.name || t("member.aGroup") }), { urgent });
  },
  "session.ended": () => {
    announce(t("error.session_ended"));
    logout(null);
  },
  "report.resolved": (report) => {
    queue.resolved(report);
    reportView.update(report);
    attention.render();
    renderGroupList();
    if (state.current === report.group_id) loadAudit();
  },
};

async function refreshGroups() {
  const listing = await state.session.call("groups.list");
  if (!listing.facilitator) {
    announce(t("error.session_ended"));
    return logout(null);
  }
  state.username = listing.facilitator;
  // companions (notes, private requests) are shown inside their group's view (handover.js)
  state.groups = new Map(listing.groups.filter((g) => g.facilitator && !g.companion).map((g) => [g.group_id, g]));
  await cofac.showInvitations(listing.invitations || []);
  renderGroupList();
  for (const group of state.groups.values()) if (group.rotation_needed) rotateSoon(group.group_id);
  queue.fillGroups();
  await queue.loadOpen().catch(() => {});
  // Names of every group, so that a live message needs no request; and who waits to join.
  for (const id of state.groups.keys()) {
    await workspace.keysChanged(id);
    const listing = await workspace.loadNames(id);
    if (listing) attention.setJoins(id, listing.members.filter((m) => m.state === "pending"));
  }
  attention.render();
  await workspace.catchUp([...state.groups.keys()]); // what arrived while this console was offline
  handover.sync(listing).catch(() => {}); // companions follow in the background
  await administration.load();
  if (state.current) await refreshGroup();
  else if (state.view === "queue") await queue.load().catch(() => {});
}

// Each group once, those with urgent items first and counted beside the name; the button says
// which group it opens.
function renderGroupList() {
  const groups = [...state.groups.values()].map((group) => ({ group, urgent: attention.urgentIn(group.group_id) }));
  groups.sort((a, b) => b.urgent - a.urgent);
  // Drawn again on every report and key change: the button a person has focused keeps the focus.
  const focused = $("#groups").contains(document.activeElement) ? document.activeElement.dataset.group : null;
  $("#groups").replaceChildren(
    ...groups.map(({ group, urgent }) => {
      return el(
        "li",
        {},
        el("span", {}, ...tParts("console.groupEpoch", { group: bdi(group.name), epoch: group.current_epoch })),
        urgent ? el("span", { class: "urgent", text: t("console.urgentCount", { count: urgent }) }) : null,
        el("button", { type: "button", "data-group": group.group_id, onclick: () => openGroup(group.group_id) }, ...tParts("console.manage", { group: bdi(group.name) })),
      );
    }),
  );
  if (focused) $("#groups").querySelector(`button[data-group="${CSS.escape(focused)}"]`)?.focus();
}

async function createGroup(event) {
  event.preventDefault();
  $("#create-error").textContent = "";
  const groupId = hc.b64encode(hc.randomBytes(16));
  const record = await keys.newRecord(groupId, $("#create-pseudonym").value.trim());
  const { commit } = await hc.buildCommit({
    groupId: record.groupId,
    epoch: 1,
    prevCommitHash: new Uint8Array(32),
    committer: record.member,
    roster: [hc.rosterEntry(record.member)],
    facilitators: [record.member.memberId], // the genesis commit makes its creator facilitator
    pqKeys: keys.genesisPqKeys(record), // hybrid suite 2 when this browser has ML-KEM (§6.9)
  });
  try {
    const reply = await state.session.call("group.create", {
      group_id: groupId,
      name: $("#create-name").value.trim(),
      rules: $("#create-rules").value,
      join_policy: $("#create-join").value,
      posting_policy: $("#create-posting").value,
      retention_days: Number($("#create-retention").value),
      slow_mode_seconds: Number($("#create-slow").value),
      member: keys.memberPayload(record),
      commit: hc.b64encode(commit.raw),
    });
    record.info = reply.group;
  } catch (error) {
    $("#create-error").textContent = error.message;
    return;
  }
  await keys.acceptCommit(record, commit.raw); // opens our own wrap and saves the record
  announce(t("console.created", { group: record.info.name }));
  $("#create-form").reset();
  $("#create-pseudonym").value = await suggestPseudonym();
  await refreshGroups();
  await openGroup(groupId);
}

/** Open a group's view; `atMessage`: with the focus on that message of its conversation as soon
 * as the conversation is drawn (not after the rest of the view, when the person may have moved on). */
async function openGroup(groupId, { atMessage = null } = {}) {
  state.current = groupId;
  $("#invite-link").value = "";
  go("group");
  const conversation = workspace.open(groupId).then(() => {
    if (atMessage && state.current === groupId && state.view === "group") workspace.focusMessage(atMessage);
  });
  await Promise.all([refreshGroup(), conversation, handover.open(groupId)]);
}

/** Draw the group view afresh from the server. Refreshes overlap (a commit, a removal, a
 * reconnect): only the latest one asked for draws, so an older reply never overwrites a newer
 * one, nor the view of a group opened since. */
let refreshes = 0;
async function refreshGroup() {
  const id = state.current;
  if (!id || !state.session?.connected) return;
  const turn = ++refreshes;
  const stale = () => turn !== refreshes || state.current !== id;
  const listing = await state.session.call("members.list", { group_id: id });
  const record = await store.group(id);
  // a membership from a browser without ML-KEM-768, now in one with it (§6.9)
  if (record) await keys.offerPqKey(state.session, record).catch(() => {});
  if (stale()) return;
  $("#group-title").textContent = listing.group.name;
  groupSettings.show(listing.group);
  scheduleEditor.show(listing.group);
  let epochText = t("console.epoch", { epoch: listing.group.current_epoch });
  if (record?.group) epochText += ` · ${keys.protectionText(record)}`;
  if (!record) epochText += ` · ${t("console.noKeys")}`;
  else if (listing.rotation_needed) epochText += ` · ${t("console.rotationPending")}`;
  $("#epoch").textContent = epochText;

  const pending = listing.members.filter((m) => m.state === "pending");
  attention.setJoins(id, pending);
  replaceKeepingFocus(
    $("#requests"),
    "member",
    pending.map((m) =>
      el(
        "li",
        { "data-member": m.member_id },
        el("span", { text: cofac.requestLabel(m) }),
        // Bans that stick: the link this request came through was also used by an account since
        // banned (it names no one; the person may be someone else the link was given to).
        m.invite_used_by_banned
          ? el("p", { class: "warn", id: `banned-${m.member_id}`, text: t("console.bannedInvite") })
          : null,
        el("button", { type: "button", class: "primary", "aria-describedby": m.invite_used_by_banned ? `banned-${m.member_id}` : null, onclick: () => decide(m, true) }, t("console.approve", { who: m.pseudonym })),
        el("button", { type: "button", onclick: () => decide(m, false) }, t("console.refuse", { who: m.pseudonym })),
      ),
    ),
  );
  show($("#no-requests"), pending.length === 0);

  for (const m of listing.members) state.names.set(m.member_id, m.pseudonym); // kept after removals
  const mine = record ? hc.b64encode(record.member.memberId) : null;
  const active = listing.members.filter((m) => m.state === "active");
  replaceKeepingFocus(
    $("#members"),
    "member",
    active.map((m) =>
      el(
        "li",
        { "data-member": m.member_id },
        bdi(m.pseudonym, { class: "who" }),
        m.role === "facilitator" ? roleBadge("facilitator", t("common.role.facilitator")) : null,
        m.member_id === mine ? roleBadge("you", t("member.you")) : null,
        m.member_id === mine ? null : el("button", { type: "button", class: "danger", onclick: () => remove(m) }, t("console.remove", { who: m.pseudonym })),
      ),
    ),
  );

  const invites = (await state.session.call("invite.list", { group_id: id })).invites;
  if (stale()) return;
  replaceKeepingFocus(
    $("#invites"),
    "invite",
    invites.map((i) =>
      el(
        "li",
        { "data-invite": i.invite_id },
        el("span", {
          text: [
            t("console.invite.line", { id: i.invite_id.slice(0, 6), uses: i.uses, max: i.max_uses }),
            i.revoked ? t("console.invite.revoked") : t("console.invite.until", { time: formatDateTime(i.expires_at) }),
            i.banned_use ? t("console.invite.bannedUse") : null,
          ].filter(Boolean).join(" · "),
        }),
        i.revoked ? null : el("button", { type: "button", onclick: () => revoke(i.invite_id) }, t("console.invite.revoke")),
      ),
    ),
  );
  await cofac.load(id);
  await loadAudit();
}

async function createInvite(event) {
  event.preventDefault();
  // The invite's own signing key, certified by our member key (docs/protocol.md §6.4): its
  // private half lives only in the link, so in an open group whoever has the link signs their
  // own admission, and nobody without it (the server included) can.
  const record = await store.group(state.current);
  const payload = { group_id: state.current, expires_in_hours: Number($("#invite-hours").value), max_uses: Number($("#invite-uses").value) };
  let seed = null;
  if (record?.member && record.group) {
    // The certificate binds the epoch we hold (the anchor), the link's expiry and uses (§6.4).
    await keys.syncEpochs(state.session, record);
    seed = hc.randomBytes(32);
    const inviteKey = await hc.importSigningKey(seed);
    const bounds = { joinPolicy: state.groups.get(state.current)?.join_policy, hours: payload.expires_in_hours, uses: payload.max_uses };
    payload.invite_key = hc.b64encode(await admissions.certifiedInviteKey(record, inviteKey, bounds));
  }
  // The anchor (§6.7): the epoch we hold, verified, so the newcomer verifies the chain from it.
  const anchor = seed && record.group ? gs.anchorBytes(record.group.epoch, record.group.commitHash) : null;
  const reply = await state.session.call("invite.create", payload);
  $("#invite-link").value = `${location.origin}/#invite=${reply.token}${seed ? `&key=${hc.b64encode(seed)}` : ""}${anchor ? `&anchor=${hc.b64encode(anchor)}` : ""}`;
  $("#invite-link").focus();
  $("#invite-link").select();
  announce(t("console.invite.created"));
  await refreshGroup();
}

async function revoke(inviteId) {
  await state.session.call("invite.revoke", { group_id: state.current, invite_id: inviteId });
  announce(t("console.invite.revokedDone"));
  await refreshGroup();
}

async function decide(member, approve) {
  const id = state.current;
  try {
    const payload = { group_id: id, member_id: member.member_id, approve };
    if (approve) {
      // Our member key signs the admission every member checks before keying the newcomer.
      const record = await store.group(id);
      if (!record?.member) throw new Error(t("console.noKeysToAdmit"));
      const role = await cofac.admissionRole(member);
      if (role === null) return;
      const entry = { memberId: hc.b64decode(member.member_id), sigPk: hc.b64decode(member.sig_pk), kemPk: hc.b64decode(member.kem_pk) };
      await keys.syncEpochs(state.session, record); // the admission binds the newest epoch (§6.4)
      payload.admission = hc.b64encode(hc.encodeAuthorisation(await admissions.admit(record, entry, role)));
    }
    await state.session.call("join.decide", payload);
  } catch (error) {
    announce(error.message);
    return;
  }
  announce(t(approve ? "console.approved" : "console.refusedMember", { who: member.pseudonym }));
  if (approve) await rotateNow(id);
  await refreshGroup();
}

async function remove(member) {
  const id = state.current;
  const group = state.groups.get(id)?.name || "this group";
  const sure = await confirmAction(t("console.removeConfirm", { who: member.pseudonym, group }), t("console.remove", { who: member.pseudonym }));
  if (!sure || state.current !== id) return;
  try {
    const payload = { group_id: id, member_id: member.member_id };
    const record = await store.group(id);
    if (record?.member) {
      const removal = await hc.signRemoval(record.groupId, record.member, hc.b64decode(member.member_id));
      payload.removal = hc.b64encode(hc.encodeAuthorisation(removal));
    }
    await state.session.call("member.remove", payload);
  } catch (error) {
    announce(error.message);
    return;
  }
  announce(t("console.removed", { who: member.pseudonym }));
  await rotateNow(id);
  await refreshGroup();
}

/** One rotation at a time per group; a request while one runs queues one more pass. */
function rotateNow(groupId, force = false) {
  const next = withGroupKeys(groupId, async () => {
    const record = await store.group(groupId);
    if (!record?.latest) return;
    const epoch = await keys.rotate(state.session, record, { force });
    // Only the group shown: a notes or request group (companion) rotates beside it.
    if (groupId === state.current) $("#epoch").textContent = t("console.epoch", { epoch });
  });
  return next.catch((error) => announce(t("console.rotationFailed", { error: error.message })));
}

/**
 * Every change this console makes to a group's record in the key store (a rotation, a commit
 * taken in, catching up on epochs) runs one after another: each reads the record afresh and saves
 * it, so none saves an older copy over a newer one.
 */
function withGroupKeys(groupId, task) {
  const previous = state.rotating.get(groupId) || Promise.resolve();
  const next = previous.catch(() => {}).then(task);
  state.rotating.set(groupId, next);
  return next;
}

/** Catch this browser's record of a group up with the server's epochs (for the conversation). */
function syncGroupKeys(groupId) {
  return withGroupKeys(groupId, async () => {
    const record = await store.group(groupId);
    // a companion (handover.js) is keyed by a commit fetched here, with no link to wait for
    if (record?.latest || record?.companion) await keys.syncEpochs(state.session, record);
  }).catch(() => {});
}

function rotateSoon(groupId, force = false) {
  rotateNow(groupId, force).then(() => state.current === groupId && refreshGroup());
}

boot().catch((error) => announce(t("console.startFailed", { error: error.message })));
