// What the device holds for each group and how it follows the group's epochs: accepting commits,
// catching up, rotating (exactly like server/client.py's `rotate`), sealing and opening messages.

import * as hc from "./crypto.js";
import * as store from "./keystore.js";
import { Refused } from "./session.js";

/** A new group record with fresh member keys (not saved yet). */
export async function newRecord(groupIdB64, pseudonym) {
  return {
    id: groupIdB64,
    groupId: hc.b64decode(groupIdB64),
    member: await hc.generateMemberKeys(),
    pseudonym,
    epochs: {},
    latest: 0,
    latestHash: null,
    info: null,
    state: "pending",
  };
}

export function memberPayload(record) {
  return {
    member_id: hc.b64encode(record.member.memberId),
    sig_pk: hc.b64encode(record.member.signing.publicKey),
    kem_pk: hc.b64encode(record.member.kem.publicKey),
    pseudonym: record.pseudonym,
  };
}

async function remember(record, commit, secret) {
  record.epochs[commit.epoch] = { secret: await hc.importEpochSecret(secret), roster: commit.roster };
  if (commit.epoch > record.latest) {
    record.latest = commit.epoch;
    record.latestHash = commit.hash;
  }
  if (record.state !== "left") record.state = "active";
}

/** Open a commit sealed to us; returns true if it gave us a new epoch. */
export async function acceptCommit(record, raw) {
  let commit;
  try {
    commit = await hc.parseCommit(raw);
  } catch {
    return false;
  }
  if (record.epochs[commit.epoch]) return false;
  let secret;
  try {
    secret = await hc.openCommit(commit, record.member);
  } catch {
    return false; // not sealed to us (removed), or a forgery
  }
  await remember(record, commit, secret);
  await store.saveGroup(record);
  return true;
}

export async function syncEpochs(session, record) {
  const reply = await session.call("epoch.list", { group_id: record.id, from_epoch: record.latest + 1 });
  let changed = false;
  for (const item of reply.commits) changed = (await acceptCommit(record, hc.b64decode(item.commit))) || changed;
  return changed;
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
    const roster = listing.members
      .filter((m) => m.state === "active")
      .map((m) => ({ memberId: hc.b64decode(m.member_id), sigPk: hc.b64decode(m.sig_pk), kemPk: hc.b64decode(m.kem_pk) }));
    const { commit, secret } = await hc.buildCommit({
      groupId: record.groupId,
      epoch: record.latest + 1,
      prevCommitHash: record.latestHash,
      committer: record.member,
      roster,
    });
    try {
      await session.call("epoch.commit", { group_id: record.id, commit: hc.b64encode(commit.raw) });
    } catch (error) {
      if (error.code === "epoch_conflict" || error.code === "roster_mismatch" || error.code === "invalid_commit") {
        await new Promise((r) => setTimeout(r, 150 + Math.random() * 300));
        continue;
      }
      throw error;
    }
    await remember(record, commit, secret);
    await store.saveGroup(record);
    return commit.epoch;
  }
  throw new Refused("epoch_conflict", "could not land a commit");
}

export async function seal(record, text, msgId) {
  const epoch = record.epochs[record.latest];
  if (!epoch) throw new Refused("not_member", "not yet part of this group's current epoch");
  const sealed = await hc.sealMessage({
    epochSecret: epoch.secret,
    groupId: record.groupId,
    epoch: record.latest,
    sender: record.member,
    msgId,
    content: new TextEncoder().encode(text),
  });
  return sealed.raw;
}

/** A `msg` view from the server, verified and decrypted; null when it cannot be shown. */
export async function open(record, data) {
  const base = {
    seq: data.seq,
    msgId: data.msg_id,
    senderId: data.sender_id,
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
    return { ...base, text: opened.text, opening, deleted: false };
  } catch {
    return null; // never show what does not verify
  }
}
