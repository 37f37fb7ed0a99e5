// The facilitator console: log in/out, create groups (the browser builds the epoch-1 commit),
// invite links, join requests, members and removals, and the epoch rotations that follow; the
// moderation queue (queue.js), one report and its decisions (reportview.js), the audit log (audit.js).

import * as hc from "./crypto.js";
import * as store from "./keystore.js";
import * as keys from "./groupkeys.js";
import * as gs from "./groupstate.js";
import { Session, api } from "./session.js";
import { $, el, show, announce, ask, renderResources, roleBadge, wireDialogClose } from "./ui.js";
import { suggestPseudonym } from "./words.js";
import * as queue from "./queue.js";
import * as reportView from "./reportview.js";
import * as audit from "./audit.js";
import { showCrisisSetupWarning } from "./crisiswarning.js";
import * as groupSettings from "./groupsettings.js";

const state = { session: null, groups: new Map(), current: null, rotating: new Map(), names: new Map(), view: "login" };

function go(view) {
  state.view = view;
  for (const name of ["login", "desk", "group", "queue", "report"]) show($(`#${name}`), name === view);
  show($("#logout"), view !== "login");
  const heading = $(`#${view} h2`);
  heading.tabIndex = -1;
  heading.focus({ preventScroll: true });
}

async function boot() {
  for (const dialog of document.querySelectorAll("dialog")) wireDialogClose(dialog);
  $("#open-crisis").addEventListener("click", () => $("#crisis").showModal());
  api("GET", "/api/settings").then(
    (s) => {
      renderResources($("#crisis-list"), s.crisis_resources);
      showCrisisSetupWarning(s);
    },
    () => renderResources($("#crisis-list"), []),
  );
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  $("#create-form").addEventListener("submit", createGroup);
  $("#invite-form").addEventListener("submit", createInvite);
  $("#back").addEventListener("click", () => {
    state.current = null;
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
      if (state.current === report.group_id) loadAudit();
    },
  };
  queue.init(context);
  reportView.init(context);
  groupSettings.init(context);
  $("#create-pseudonym").value = await suggestPseudonym();
  try {
    await api("GET", "/api/facilitator/me");
    startSession();
  } catch {
    go("login");
  }
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
    announce(`Could not load the queue: ${error.message}`);
  }
}

async function loadAudit() {
  const id = state.current;
  if (!id || !state.session?.connected) return;
  try {
    await audit.load(state.session, id, state.names);
  } catch (error) {
    announce(`Could not load the audit log: ${error.message}`);
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
    $("#logout-groups").textContent = `${ids.length} group${ids.length === 1 ? "" : "s"}`;
    const answer = await ask($("#logout-dialog"));
    if (answer !== "wipe" && answer !== "keep" && event) return; // cancelled: still logged in
    wipe = answer === "wipe";
  }
  state.session?.stop();
  state.session = null;
  await api("POST", "/api/facilitator/logout").catch(() => {});
  if (wipe) await store.forgetGroups(ids);
  state.groups = new Map();
  state.current = null;
  $("#connection").textContent = wipe ? "Logged out; this browser's keys for your groups were removed" : "Logged out";
  go("login");
}

function startSession() {
  state.session?.stop();
  state.session = new Session(handlers, async (status, detail) => {
    if (status === "connected") {
      $("#connection").textContent = "Connected";
      await refreshGroups();
    } else if (status === "refused") {
      $("#connection").textContent = `Refused: ${detail?.message || detail?.code}`;
    } else {
      $("#connection").textContent = "Offline — reconnecting…";
    }
  });
  state.session.start();
  go("desk");
}

const handlers = {
  "join.requested": (data) => {
    const group = state.groups.get(data.group_id);
    announce(`${data.member.pseudonym} asks to join ${group?.name || "a group"}.`);
    if (state.current === data.group_id) refreshGroup();
  },
  "rotation.needed": (data) => rotateSoon(data.group_id, data.reason !== "membership"),
  "epoch.new": async (data) => {
    const record = await store.group(data.group_id);
    if (record) {
      await keys.receiveCommit(state.session, record, hc.b64decode(data.commit));
      if (record.unopened) await keys.recover(state.session, record);
    }
    if (state.current === data.group_id) refreshGroup();
  },
  membership: () => state.current && refreshGroup(),
  // A member's wrap in a commit did not open (docs/protocol.md §6.6): name the committer.
  "commit.flagged": (data) => {
    const group = state.groups.get(data.group_id);
    const who = state.names.get(data.committer_id) || "a member";
    announce(`${group?.name || "A group"}: a member could not open the keys ${who} sent in epoch ${data.epoch}; the group made new ones. It is in the audit log.`);
    if (state.current === data.group_id) loadAudit();
  },
  "report.new": (report) => queue.arrive(report),
  "session.ended": () => {
    announce("Your session has ended. Please log in again.");
    logout(null);
  },
  "report.resolved": (report) => {
    queue.resolved(report);
    reportView.update(report);
    if (state.current === report.group_id) loadAudit();
  },
};

async function refreshGroups() {
  const listing = await state.session.call("groups.list");
  if (!listing.facilitator) {
    announce("Your session has ended. Please log in again.");
    return logout(null);
  }
  state.groups = new Map(listing.groups.filter((g) => g.facilitator).map((g) => [g.group_id, g]));
  const list = $("#groups");
  list.replaceChildren();
  for (const group of state.groups.values()) {
    list.append(
      el(
        "li",
        {},
        el("span", { text: `${group.name} · epoch ${group.current_epoch}` }),
        el("button", { type: "button", "data-group": group.group_id, onclick: () => openGroup(group.group_id) }, "Manage"),
      ),
    );
    if (group.rotation_needed) rotateSoon(group.group_id);
  }
  queue.fillGroups();
  await queue.loadOpen().catch(() => {});
  if (state.current) await refreshGroup();
  else if (state.view === "queue") await queue.load().catch(() => {});
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
    pqKeys: keys.genesisPqKeys(record), // hybrid suite 2 when this browser has ML-KEM (§6.8)
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
  announce(`Group ${record.info.name} created.`);
  $("#create-form").reset();
  $("#create-pseudonym").value = await suggestPseudonym();
  await refreshGroups();
  await openGroup(groupId);
}

async function openGroup(groupId) {
  state.current = groupId;
  $("#invite-link").value = "";
  go("group");
  await refreshGroup();
}

async function refreshGroup() {
  const id = state.current;
  if (!id || !state.session?.connected) return;
  const listing = await state.session.call("members.list", { group_id: id });
  const record = await store.group(id);
  // a membership from a browser without ML-KEM-768, now in one with it (§6.8)
  if (record) await keys.offerPqKey(state.session, record).catch(() => {});
  $("#group-title").textContent = listing.group.name;
  groupSettings.show(listing.group);
  let epochText = `Epoch ${listing.group.current_epoch}`;
  if (record?.group) epochText += ` · ${keys.protectionText(record)}`;
  if (!record) epochText += " · this browser holds no keys for this group, so it cannot rotate them";
  else if (listing.rotation_needed) epochText += " · key rotation pending";
  $("#epoch").textContent = epochText;

  const pending = listing.members.filter((m) => m.state === "pending");
  $("#requests").replaceChildren(
    ...pending.map((m) =>
      el(
        "li",
        { "data-member": m.member_id },
        el("span", { text: m.pseudonym }),
        el("button", { type: "button", class: "primary", onclick: () => decide(m, true) }, `Approve ${m.pseudonym}`),
        el("button", { type: "button", onclick: () => decide(m, false) }, `Refuse ${m.pseudonym}`),
      ),
    ),
  );
  show($("#no-requests"), pending.length === 0);

  for (const m of listing.members) state.names.set(m.member_id, m.pseudonym); // kept after removals
  const mine = record ? hc.b64encode(record.member.memberId) : null;
  const active = listing.members.filter((m) => m.state === "active");
  $("#members").replaceChildren(
    ...active.map((m) =>
      el(
        "li",
        { "data-member": m.member_id },
        el("span", { class: "who", text: m.pseudonym }),
        m.role === "facilitator" ? roleBadge("facilitator", "Facilitator") : null,
        m.member_id === mine ? roleBadge("you", "You") : null,
        m.member_id === mine ? null : el("button", { type: "button", class: "danger", onclick: () => remove(m) }, `Remove ${m.pseudonym}`),
      ),
    ),
  );

  const invites = (await state.session.call("invite.list", { group_id: id })).invites;
  $("#invites").replaceChildren(
    ...invites.map((i) =>
      el(
        "li",
        { "data-invite": i.invite_id },
        el("span", { text: `Invite ${i.invite_id.slice(0, 6)} · used ${i.uses}/${i.max_uses} · ${i.revoked ? "revoked" : `until ${new Date(i.expires_at).toLocaleString()}`}` }),
        i.revoked ? null : el("button", { type: "button", onclick: () => revoke(i.invite_id) }, "Revoke"),
      ),
    ),
  );
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
  if (record?.member) {
    seed = hc.randomBytes(32);
    const inviteKey = await hc.importSigningKey(seed);
    const certificate = await hc.certifyInvite(record.groupId, record.member, inviteKey.publicKey);
    payload.invite_key = hc.b64encode(hc.concat(inviteKey.publicKey, record.member.memberId, certificate));
  }
  // The anchor (§6.7): the epoch we hold, verified, so the newcomer verifies the chain from it.
  const anchor = seed && record.group ? gs.anchorBytes(record.group.epoch, record.group.commitHash) : null;
  const reply = await state.session.call("invite.create", payload);
  $("#invite-link").value = `${location.origin}/#invite=${reply.token}${seed ? `&key=${hc.b64encode(seed)}` : ""}${anchor ? `&anchor=${hc.b64encode(anchor)}` : ""}`;
  $("#invite-link").focus();
  $("#invite-link").select();
  announce("Invite link created.");
  await refreshGroup();
}

async function revoke(inviteId) {
  await state.session.call("invite.revoke", { group_id: state.current, invite_id: inviteId });
  announce("Invite revoked.");
  await refreshGroup();
}

async function decide(member, approve) {
  const id = state.current;
  try {
    const payload = { group_id: id, member_id: member.member_id, approve };
    if (approve) {
      // Our member key signs the admission every member checks before keying the newcomer.
      const record = await store.group(id);
      if (!record?.member) throw new Error("This browser holds no keys for this group, so it cannot admit anyone.");
      const entry = { memberId: hc.b64decode(member.member_id), sigPk: hc.b64decode(member.sig_pk), kemPk: hc.b64decode(member.kem_pk) };
      payload.admission = hc.b64encode(hc.encodeAuthorisation(await hc.signAdmission(record.groupId, record.member, entry)));
    }
    await state.session.call("join.decide", payload);
  } catch (error) {
    announce(error.message);
    return;
  }
  announce(approve ? `${member.pseudonym} approved.` : `${member.pseudonym} refused.`);
  if (approve) await rotateNow(id);
  await refreshGroup();
}

async function remove(member) {
  const id = state.current;
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
  announce(`${member.pseudonym} removed; rotating the group's keys.`);
  await rotateNow(id);
  await refreshGroup();
}

/** One rotation at a time per group; a request while one runs queues one more pass. */
function rotateNow(groupId, force = false) {
  const previous = state.rotating.get(groupId) || Promise.resolve();
  const next = previous
    .catch(() => {})
    .then(async () => {
      const record = await store.group(groupId);
      if (!record?.latest) return;
      const epoch = await keys.rotate(state.session, record, { force });
      $("#epoch").textContent = `Epoch ${epoch}`;
    });
  state.rotating.set(groupId, next);
  return next.catch((error) => announce(`Key rotation failed: ${error.message}`));
}

function rotateSoon(groupId, force = false) {
  rotateNow(groupId, force).then(() => state.current === groupId && refreshGroup());
}

boot().catch((error) => announce(`Something went wrong: ${error.message}`));
