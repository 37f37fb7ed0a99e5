// What the device holds for each group and how it follows the group's epochs: accepting commits
// only when they extend the verified group state (groupstate.js, docs/protocol.md §6.5), catching
// up, rotating (exactly like server/client.py's `rotate`), sealing and opening messages.

import * as hc from "./crypto.js";
import * as gs from "./groupstate.js";
import * as bounds from "./admissions.js";
import * as store from "./keystore.js";
import * as vault from "./keyvault.js";
import { Refused } from "./session.js";
import { t } from "./i18n.js";

/** Fresh member keys from seeds kept sealed in the vault, so that they can move (§15.1). */
export async function movableMemberKeys() {
  const seeds = { sig: hc.randomBytes(32), kem: hc.randomBytes(32), pq: (await hc.supportsHybrid()) ? hc.randomBytes(64) : null };
  const member = await hc.importMemberKeys(hc.randomBytes(16), seeds.sig, seeds.kem, seeds.pq);
  const packed = hc.concat(seeds.sig, seeds.kem, seeds.pq || new Uint8Array(0));
  return { member, sealedSeeds: await vault.seal(packed) };
}

/** A new group record with fresh member keys (not saved yet). */
export async function newRecord(groupIdB64, pseudonym) {
  const groupId = hc.b64decode(groupIdB64);
  const { member, sealedSeeds } = await movableMemberKeys();
  return {
    sealedSeeds, // sig(32) ‖ kem(32) ‖ pq(64)?, under the vault key
    id: groupIdB64,
    groupId,
    member,
    // our ML-KEM key signed for this group (§6.9); null: this browser has no ML-KEM-768
    pqKey: member.pq ? hc.encodePqKey(await hc.signPqKey(groupId, member)) : null,
    pseudonym,
    epochs: {},
    latest: 0,
    latestHash: null,
    info: null,
    state: "pending",
    group: null, // the verified group state (groupstate.js)
    invitePk: null, // the key of the invite we joined with
    anchor: null, // our invite's anchor {epoch, hash}: we verify the chain from it (§6.7)
    trustUnanchored: false, // the person chose to trust a group its link could not prove
    unverified: null, // the epoch that would key us, held back: our link has no anchor
    timeline: [], // verified membership changes: {epoch, kind, memberId, role, by, issuer}
    untrusted: [], // why commits were refused
  };
}

function note(record, epoch, changes) {
  addToTimeline(record, changes.map((c) => ({ epoch, ...c })));
}

// Each verified change once, even when the same commit is taken in twice (it can arrive on the
// group's room and on the account's sockets while the page is still joining).
function addToTimeline(record, entries) {
  const key = (c) => `${c.epoch}:${c.kind}:${c.memberId}`;
  const seen = new Set((record.timeline || []).map(key));
  record.timeline = [...(record.timeline || []), ...entries.filter((c) => !seen.has(key(c)) && seen.add(key(c)))];
}

export function memberPayload(record) {
  const payload = {
    member_id: hc.b64encode(record.member.memberId),
    sig_pk: hc.b64encode(record.member.signing.publicKey),
    kem_pk: hc.b64encode(record.member.kem.publicKey),
    pseudonym: record.pseudonym,
  };
  if (record.pqKey) payload.pq_key = hc.b64encode(record.pqKey);
  return payload;
}

/** The ML-KEM keys of a group's first commit: ours, when we have one (the group starts on the
 * hybrid suite 2), else null (suite 1). */
export function genesisPqKeys(record) {
  return record.pqKey ? new Map([[hc.hex(record.member.memberId), hc.parsePqKey(record.pqKey)]]) : null;
}

/** The group's protection level as the page shows it (the held, verified suite; §6.9). */
export function protectionText(record) {
  return gs.protection(record?.group) === "hybrid" ? t("member.protection.hybrid") : t("member.protection.standard");
}

/**
 * The suite negotiation of §6.9: every member's signed ML-KEM key when all of the next roster
 * sent one and it fits the server's frames (suite 2), else null (suite 1). A group on suite 2
 * never goes back: buildCommit then needs every key, and a missing one is an error.
 */
function nextPqKeys(record, roster, listing) {
  const sent = new Map(listing.members.filter((m) => m.pq_key).map((m) => [hc.hex(hc.b64decode(m.member_id)), hc.parsePqKey(hc.b64decode(m.pq_key))]));
  const hybrid = gs.protection(record.group) === "hybrid";
  const all = roster.every((e) => sent.has(hc.hex(e.memberId)));
  if (all && (hybrid || roster.length <= (listing.hybrid_max_members || 0))) return sent;
  if (hybrid) throw new Refused("suite_downgrade", "A member of this group has no post-quantum key; this device will not lower the group's protection.");
  return null;
}

async function remember(record, commit, secret) {
  record.epochs[commit.epoch] = {
    secret: await hc.importEpochSecret(secret),
    sealed: await vault.seal(secret), // the raw secret, for moving to another device (§15.1)
    roster: commit.roster,
  };
  if (commit.epoch > record.latest) {
    record.latest = commit.epoch;
    record.latestHash = commit.hash;
  }
  if (record.state !== "left") record.state = "active";
}

/**
 * Accept a commit only if it extends the verified group state by authorised changes (or, for the
 * first one that keys us, if it carries our own valid admission). Returns true if it gave us a
 * new epoch; a refused commit is recorded in `record.untrusted`.
 */
export async function acceptCommit(record, raw) {
  let commit;
  try {
    commit = await hc.parseCommit(raw);
  } catch {
    return false;
  }
  let secret = null;
  try {
    if (!record.group) {
      try {
        secret = await hc.openCommit(commit, record.member);
      } catch {
        return false; // not (yet) sealed to us
      }
      if (record.anchor) return false; // keyed only from the anchor's chain (syncEpochs)
      if (commit.epoch !== 1 && !record.trustUnanchored) {
        // A link without an anchor proves no group (§6.7): key only if the person says so.
        record.unverified = commit.epoch;
        await store.saveGroup(record);
        return false;
      }
      const { state, changes } = await gs.keyedState(commit, record.member, record.invitePk);
      record.unverified = null;
      record.group = state;
      note(record, commit.epoch, changes);
    } else {
      if (commit.epoch !== record.group.epoch + 1) return false; // held, or past a gap
      const { state, changes } = await gs.advance(record.group, commit);
      record.group = state;
      note(record, commit.epoch, changes);
      try {
        secret = await hc.openCommit(commit, record.member);
      } catch {
        secret = null; // a verified commit that leaves us out: we were removed...
        const own = commit.roster.find((e) => hc.equalBytes(e.memberId, record.member.memberId));
        // ...unless it holds our keys: then our wrap is broken and we recover (`recover`).
        if (own && hc.equalBytes(own.sigPk, record.member.signing.publicKey) && hc.equalBytes(own.kemPk, record.member.kem.publicKey)) {
          record.unopened = commit.epoch;
        }
      }
    }
  } catch (error) {
    if (!(error instanceof gs.UntrustedCommit)) throw error;
    record.untrusted = [...(record.untrusted || []), `epoch ${commit.epoch}: ${error.message}`];
    await store.saveGroup(record);
    return false;
  }
  if (secret) await remember(record, commit, secret);
  await store.saveGroup(record);
  return Boolean(secret);
}

/** A commit pushed by the server: fill a gap before it first (fetched and verified in order). */
export async function receiveCommit(session, record, raw) {
  let epoch;
  try {
    epoch = (await hc.parseCommit(raw)).epoch;
  } catch {
    return false;
  }
  if (record.group && epoch > record.group.epoch + 1) return syncEpochs(session, record).catch(() => false);
  if (!record.group && record.anchor) return syncEpochs(session, record).catch(() => false);
  return acceptCommit(record, raw);
}

/** Not keyed yet, with an anchored link: verify the chain from the anchor to the commit that
 * keys us before opening it (§6.7). Returns true if it keyed us. */
async function syncFromAnchor(session, record) {
  const reply = await session.call("epoch.list", { group_id: record.id, from_commit_hash: hc.b64encode(record.anchor.hash) });
  let chain;
  try {
    chain = await Promise.all(reply.commits.map((item) => hc.parseCommit(hc.b64decode(item.commit))));
  } catch {
    chain = null;
  }
  const keying = chain ? chain.findIndex((c) => c.roster.some((e) => hc.equalBytes(e.memberId, record.member.memberId))) : 0;
  if (keying < 0) return false; // not keyed yet
  let secret;
  try {
    if (!chain) throw new gs.UntrustedCommit("a malformed commit");
    const { state, changes } = await gs.anchoredState(chain.slice(0, keying + 1), record.anchor, record.member, record.invitePk);
    try {
      secret = await hc.openCommit(chain[keying], record.member);
    } catch {
      throw new gs.UntrustedCommit("our wrap in the commit that keys us does not open");
    }
    record.group = state;
    addToTimeline(record, changes);
  } catch (error) {
    if (!(error instanceof gs.UntrustedCommit)) throw error;
    record.untrusted = [...(record.untrusted || []), `epoch ${chain ? chain[keying].epoch : "?"}: ${error.message}`];
    await store.saveGroup(record);
    throw new Refused("untrusted_commit", `The server offered a change to this group that no one authorised (${record.untrusted.at(-1)}).`);
  }
  await remember(record, chain[keying], secret);
  await store.saveGroup(record);
  return true;
}

/**
 * A membership that began in a browser without ML-KEM-768, now in one that has it: send a signed
 * ML-KEM key (`member.pq_key`, §6.9), so that the group can move to the hybrid suite. Kept only
 * once the server took it.
 */
export async function offerPqKey(session, record) {
  if (record.pqKey || !["pending", "active"].includes(record.state) || !(await hc.supportsHybrid())) return;
  const pq = await hc.generatePqKey();
  const pqKey = hc.encodePqKey(await hc.signPqKey(record.groupId, { ...record.member, pq }));
  await session.call("member.pq_key", { group_id: record.id, pq_key: hc.b64encode(pqKey) });
  record.member = { ...record.member, pq };
  record.pqKey = pqKey;
  await store.saveGroup(record);
}

export async function syncEpochs(session, record) {
  let keyed = false;
  if (!record.group && record.anchor) {
    keyed = await syncFromAnchor(session, record);
    if (!record.group) return false;
  }
  const from = (record.group ? record.group.epoch : record.latest) + 1;
  const reply = await session.call("epoch.list", { group_id: record.id, from_epoch: from });
  const refusedBefore = (record.untrusted || []).length;
  let changed = false;
  for (const item of reply.commits) {
    changed = (await acceptCommit(record, hc.b64decode(item.commit))) || changed;
    if (record.group && record.epochs[record.group.epoch]) record.unopened = null; // keyed again
  }
  if ((record.untrusted || []).length > refusedBefore) {
    throw new Refused("untrusted_commit", `The server offered a change to this group that no one authorised (${record.untrusted.at(-1)}).`);
  }
  return changed || keyed;
}

/**
 * Our wrap in a verified commit did not open (a broken or hostile committer): commit a fresh
 * epoch on top of it, with the same roster, and flag that commit to the facilitators (§6.6).
 */
export async function recover(session, record) {
  const bad = record.unopened;
  if (!bad) return false;
  try {
    await syncEpochs(session, record);
    if (!record.epochs[record.group.epoch]) await rotate(session, record, { force: true });
  } catch {
    return false; // someone else's next commit keys us again
  }
  record.unopened = null;
  await store.saveGroup(record);
  await session.call("epoch.flag", { group_id: record.id, epoch: bad }).catch(() => {});
  return true;
}

/** The next roster, facilitators and the signed changes that justify them (§6.4). */
async function nextRoster(record, listing) {
  const state = record.group;
  const key = (b64) => hc.hex(hc.b64decode(b64));
  const active = new Map(
    listing.members
      .filter((m) => m.state === "active")
      .map((m) => [key(m.member_id), { memberId: hc.b64decode(m.member_id), sigPk: hc.b64decode(m.sig_pk), kemPk: hc.b64decode(m.kem_pk) }]),
  );
  const admissions = new Map((listing.admissions || []).map((a) => [key(a.member_id), hc.parseAuthorisation(hc.b64decode(a.admission))]));
  const departures = new Map((listing.departures || []).map((d) => [key(d.member_id), hc.parseAuthorisation(hc.b64decode(d.departure))]));
  const held = new Set(state.roster.map((e) => hc.hex(e.memberId)));
  const me = hc.hex(record.member.memberId);
  const facilitators = new Set(state.facilitators);
  const authorisations = [];
  for (const entry of state.roster) {
    const id = hc.hex(entry.memberId);
    if (active.has(id)) continue;
    let departure = departures.get(id);
    if (!departure && facilitators.has(me)) departure = await hc.signRemoval(record.groupId, record.member, entry.memberId);
    if (!departure) throw new Refused("unauthorised_change", "a member left without a signed leave or removal");
    authorisations.push(departure);
    facilitators.delete(id);
  }
  const roster = state.roster.filter((e) => active.has(hc.hex(e.memberId)));
  for (const [id, entry] of active) {
    if (held.has(id)) continue;
    const admission = admissions.get(id);
    const fits = admission && (admission.kind === hc.AUTH.ADMIT || admission.kind === hc.AUTH.INVITE_ADMIT) && hc.equalBytes(admission.entry.sigPk, entry.sigPk) && hc.equalBytes(admission.entry.kemPk, entry.kemPk) && hc.equalBytes(admission.entry.memberId, entry.memberId);
    if (!fits) throw new Refused("unauthorised_change", "The server lists a member nobody admitted; this device will not give them the group's keys.");
    const spent = admission.kind === hc.AUTH.INVITE_ADMIT ? bounds.inviteRefusal(state, admission) : null;
    if (spent) throw new Refused("unauthorised_change", spent);
    authorisations.push(admission);
    roster.push(admission.entry);
    if (admission.role === hc.ROLE.FACILITATOR) facilitators.add(id);
  }
  return { roster, facilitators: [...facilitators].map(hc.unhex), authorisations };
}

/**
 * Send the commit for the next epoch to the group's current active members. Skips when the
 * roster already matches (someone else rotated first) unless `force` (epoch limits).
 */
export async function rotate(session, record, { force = false, attempts = 3 } = {}) {
  for (let i = 0; i < attempts; i++) {
    await syncEpochs(session, record);
    if (!record.latest) throw new Refused("not_member", "this device holds no epoch of the group");
    const listing = await session.call("members.list", { group_id: record.id });
    if (!force && !listing.rotation_needed) return record.latest;
    const { roster, facilitators, authorisations } = await nextRoster(record, listing);
    const { commit, secret } = await hc.buildCommit({
      groupId: record.groupId,
      epoch: record.group.epoch + 1,
      prevCommitHash: record.group.commitHash,
      committer: record.member,
      roster,
      facilitators,
      authorisations,
      pqKeys: nextPqKeys(record, roster, listing),
    });
    let verified;
    try {
      verified = await gs.advance(record.group, commit); // what every member will check
    } catch (error) {
      throw new Refused("unauthorised_change", error.message);
    }
    try {
      await session.call("epoch.commit", { group_id: record.id, commit: hc.b64encode(commit.raw) });
    } catch (error) {
      if (error.code === "epoch_conflict" || error.code === "roster_mismatch" || error.code === "invalid_commit") {
        await new Promise((r) => setTimeout(r, 150 + Math.random() * 300));
        continue;
      }
      throw error;
    }
    record.group = verified.state;
    note(record, commit.epoch, verified.changes);
    await remember(record, commit, secret);
    await store.saveGroup(record);
    return commit.epoch;
  }
  throw new Refused("epoch_conflict", "could not land a commit");
}

/** Seal `text` for the group's current epoch, behind a content `note` (§7.3) when one is given. */
export async function seal(record, text, msgId, note = null) {
  const epoch = record.epochs[record.latest];
  if (!epoch) throw new Refused("not_member", "not yet part of this group's current epoch");
  const sealed = await hc.sealMessage({
    epochSecret: epoch.secret,
    groupId: record.groupId,
    epoch: record.latest,
    sender: record.member,
    msgId,
    content: note ? hc.notedText(note, text) : new TextEncoder().encode(text),
    contentType: note ? hc.CONTENT_TYPE_NOTED_TEXT : hc.CONTENT_TYPE_TEXT,
  });
  return sealed.raw;
}

/**
 * A `msg` view from the server, verified and decrypted; null when it cannot be shown. The sender
 * is the signed header's sender_id, never the server's `sender_id` field (a tombstone, which has
 * no header left, has no sender).
 */
export async function open(record, data) {
  const base = {
    seq: data.seq,
    msgId: data.msg_id,
    senderId: null,
    epoch: data.epoch,
    serverTs: data.server_ts,
    kid: data.kid,
    rtag: data.rtag,
  };
  if (data.envelope === null) return { ...base, text: null, deleted: true };
  let envelope;
  try {
    envelope = hc.parseEnvelope(hc.b64decode(data.envelope));
  } catch {
    return null;
  }
  const epoch = record.epochs[envelope.header.epoch];
  const entry = epoch?.roster.find((e) => hc.equalBytes(e.memberId, envelope.header.senderId));
  if (!entry) return null;
  try {
    const opened = await hc.openMessage(envelope, { epochSecret: epoch.secret, senderSigPk: entry.sigPk });
    // Kept in memory only, to build a report opening (docs/protocol.md §10) if this is reported.
    const opening = { header: envelope.header, franking: opened.franking, contentType: opened.contentType, content: opened.content };
    const msgId = hc.b64encode(envelope.header.msgId);
    return { ...base, msgId, senderId: hc.b64encode(envelope.header.senderId), epoch: envelope.header.epoch, text: opened.text, note: opened.note, opening, deleted: false };
  } catch {
    return null; // never show what does not verify
  }
}
