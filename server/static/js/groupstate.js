// The authenticated group state (docs/protocol.md §6.5), the twin of crypto/groupstate.py: a
// commit is accepted only if it extends the held chain, is signed by a member of the previous
// roster, and changes the roster by exactly the signed authorisations it carries. The cipher suite
// only goes up (§6.9): a commit that takes a hybrid group back to suite 1 is refused.
// Admissions bind the epoch their signer held and are valid in the next two commits only (§6.4),
// so an old one never brings back someone who left; an invite key admits by itself only as many
// members as its certificate says, counted in the commits this state verified, and a client
// commits an invite admission only if it counted every commit since the invite was made
// (inviteAdmissionRefusal).

import * as hc from "./crypto.js";

export class UntrustedCommit extends Error {
  constructor(reason) {
    super(reason);
    this.name = "UntrustedCommit";
  }
}

function check(condition, reason) {
  if (!condition) throw new UntrustedCommit(reason);
}

async function verified(publicKey, signature, message, what) {
  try {
    await hc.verifySignature(publicKey, signature, message);
  } catch {
    throw new UntrustedCommit(`${what} does not verify`);
  }
}

const key = (bytes) => hc.hex(bytes);
const sameEntry = (a, b) => Boolean(a && b) && hc.equalBytes(a.memberId, b.memberId) && hc.equalBytes(a.sigPk, b.sigPk) && hc.equalBytes(a.kemPk, b.kemPk);

/** A plain object (IndexedDB can store it): roster entries as bytes, ids as hex. `countedFrom`:
 * from this epoch on every commit's invite admissions are counted in `inviteAdmits` ([pk hex, n]). */
function stateOf(commit, departed, countedFrom, inviteAdmits = new Map()) {
  return {
    countedFrom,
    inviteAdmits: [...inviteAdmits],
    groupId: commit.groupId,
    epoch: commit.epoch,
    commitHash: commit.hash,
    roster: commit.roster,
    facilitators: commit.facilitators.map(key),
    departed: [...departed],
    suite: commit.suite,
    pqKeys: commit.pqKeys.map((k, i) => [key(commit.roster[i].memberId), k.publicKey]),
  };
}

/** The protection of a held group state: "hybrid" (suite 2) or "standard" (suite 1). */
export function protection(state) {
  return state && state.suite === hc.SUITE_HYBRID ? "hybrid" : "standard";
}

export async function genesisState(commit) {
  check(commit.epoch === 1 && commit.prevCommitHash.every((b) => b === 0), "not a genesis commit");
  check(
    commit.roster.length === 1 && commit.facilitators.length === 1 && hc.equalBytes(commit.facilitators[0], commit.committerId) && commit.authorisations.length === 0,
    "a genesis commit holds its creator only, as facilitator",
  );
  try {
    await hc.verifyCommit(commit);
  } catch {
    throw new UntrustedCommit("the commit signature does not verify");
  }
  return { state: stateOf(commit, [], 1), changes: [{ kind: "joined", memberId: key(commit.committerId), role: hc.ROLE.FACILITATOR, by: null, issuer: null }] };
}

/** `counted` plus the invite admissions of `commit`; refuses a key's admissions beyond its bound. */
function countInvites(commit, counted) {
  const totals = new Map(counted);
  for (const a of commit.authorisations) {
    if (a.kind !== hc.AUTH.INVITE_ADMIT) continue;
    const pk = key(a.invitePk);
    totals.set(pk, (totals.get(pk) || 0) + 1);
    check(totals.get(pk) <= a.certificate.maxAdmits, "an invite admits more members than its certificate allows");
  }
  return totals;
}

/** Verify one admission carried by the commit of `commitEpoch` against the epoch before it. */
async function checkAdmission(a, commitEpoch, groupId, signers, facilitators) {
  check(!a.legacy, "an admission of the first layout binds no epoch (§6.4)");
  check(a.epoch < commitEpoch && commitEpoch <= a.epoch + hc.ADMISSION_WINDOW, "an admission is not for this epoch (made at another, or used before)");
  if (a.kind === hc.AUTH.ADMIT) {
    const admitter = signers.get(key(a.admitterId));
    check(admitter && facilitators.has(key(a.admitterId)), "an admission is not signed by a facilitator");
    await verified(admitter.sigPk, a.signature, hc.admissionMessage(hc.AUTH.ADMIT, groupId, a.epoch, a.role, a.entry), "an admission");
    return { kind: "joined", memberId: key(a.memberId), role: a.role, by: key(a.admitterId), issuer: null };
  }
  const issuer = signers.get(key(a.issuerId));
  check(issuer && facilitators.has(key(a.issuerId)), "an invite was not certified by a facilitator");
  const cert = a.certificate;
  await verified(issuer.sigPk, cert.signature, hc.inviteMessage(groupId, a.invitePk, cert.issuedEpoch, cert.notAfter, cert.maxAdmits), "an invite certificate");
  check(cert.issuedEpoch < commitEpoch, "an invite admits before it was made");
  await verified(a.invitePk, a.signature, hc.admissionMessage(hc.AUTH.INVITE_ADMIT, groupId, a.epoch, hc.ROLE.MEMBER, a.entry), "an invite admission");
  return { kind: "joined", memberId: key(a.memberId), role: hc.ROLE.MEMBER, by: null, issuer: key(a.issuerId) };
}

const isAdmission = (a) => a.kind === hc.AUTH.ADMIT || a.kind === hc.AUTH.INVITE_ADMIT || Boolean(a.legacy);

/**
 * inviteAdmissionRefusal's reasons, word for word those of invite_admission_refusal (the Python
 * twin and both sides' tests compare them). They are not shown as they are: admissions.js says
 * each in the page's language (common.admissions.<name> in the catalogue).
 */
export const INVITE_REFUSALS = Object.freeze({
  unseen: "this client did not see every commit since the invite was made",
  expired: "the invite has expired",
  spent: "the invite admitted all the members its certificate allows",
});

/**
 * Why a client holding `state` must not itself commit the invite admission `a` (null: it may).
 * A newcomer did not verify the commits before its invite's anchor, so it cannot tell a spent
 * invite from a fresh one: a committer must have counted every commit since the invite was made,
 * and the certificate must not have expired by its own clock. Twin of invite_admission_refusal.
 */
export function inviteAdmissionRefusal(state, a, nowMs) {
  const cert = a.certificate;
  if (!state.countedFrom || state.countedFrom > cert.issuedEpoch + 1) return INVITE_REFUSALS.unseen;
  if (nowMs > cert.notAfter) return INVITE_REFUSALS.expired;
  const used = new Map(state.inviteAdmits || []).get(key(a.invitePk)) || 0;
  if (used >= cert.maxAdmits) return INVITE_REFUSALS.spent;
  return null;
}

/** Verify that `commit` extends `state` by authorised changes; returns {state, changes}. */
export async function advance(state, commit) {
  check(hc.equalBytes(commit.groupId, state.groupId), "the commit is for another group");
  check(commit.epoch === state.epoch + 1, "the commit does not follow the held epoch");
  check(hc.equalBytes(commit.prevCommitHash, state.commitHash), "the commit does not extend the chain");
  check(commit.suite >= (state.suite ?? hc.SUITE), "the commit lowers the group's cipher suite");
  const previous = new Map(state.roster.map((e) => [key(e.memberId), e]));
  const facilitators = new Set(state.facilitators);
  const departedBefore = new Set(state.departed);
  const committer = previous.get(key(commit.committerId));
  check(committer, "the committer was not a member of the previous epoch");
  check(sameEntry(commit.roster.find((e) => hc.equalBytes(e.memberId, commit.committerId)), committer), "the committer changed its keys");
  await verified(committer.sigPk, commit.signature, hc.concat(hc.LABEL.COMMIT_SIG, commit.body, commit.confirm), "the commit signature");
  try {
    await hc.verifyPqKeys(commit);
  } catch {
    throw new UntrustedCommit("an ML-KEM key is not signed by its member");
  }
  const heldPq = new Map(state.pqKeys || []);
  check(
    commit.pqKeys.every((k, i) => !heldPq.has(key(commit.roster[i].memberId)) || hc.equalBytes(heldPq.get(key(commit.roster[i].memberId)), k.publicKey)),
    "a member's ML-KEM key changed",
  );
  const admitted = new Map();
  const departed = new Set();
  const added = new Set();
  const changes = [];
  for (const a of commit.authorisations) {
    const id = key(a.memberId);
    check(!admitted.has(id) && !departed.has(id), "two authorisations for one member");
    if (isAdmission(a)) {
      check(!previous.has(id), "an admission of someone already in the group");
      check(!departedBefore.has(id), "an admission of someone who left");
      const change = await checkAdmission(a, commit.epoch, state.groupId, previous, facilitators);
      admitted.set(id, a.entry);
      if (change.role === hc.ROLE.FACILITATOR) added.add(id);
      changes.push(change);
      continue;
    }
    const leaving = previous.get(id);
    check(leaving, "a removal of someone not in the group");
    if (a.kind === hc.AUTH.REMOVE) {
      const remover = previous.get(key(a.removerId));
      check(remover && facilitators.has(key(a.removerId)), "a removal is not signed by a facilitator");
      // One's own departure is a leave: a removal is always another facilitator's.
      check(key(a.removerId) !== id, "a removal is signed by the removed member");
      await verified(remover.sigPk, a.signature, hc.removalMessage(state.groupId, a.memberId), "a removal");
      changes.push({ kind: "removed", memberId: id, role: hc.ROLE.MEMBER, by: key(a.removerId), issuer: null });
    } else {
      await verified(leaving.sigPk, a.signature, hc.leaveMessage(state.groupId, a.memberId), "a leave");
      changes.push({ kind: "left", memberId: id, role: hc.ROLE.MEMBER, by: id, issuer: null });
    }
    departed.add(id);
  }
  const expected = [...state.roster.filter((e) => !departed.has(key(e.memberId))), ...admitted.values()].sort((a, b) => hc.compareBytes(a.memberId, b.memberId));
  check(expected.length === commit.roster.length && expected.every((e, i) => sameEntry(e, commit.roster[i])), "the roster differs from the previous one plus the authorised changes");
  const nextChiefs = new Set([...facilitators].filter((id) => !departed.has(id)));
  for (const id of added) nextChiefs.add(id);
  check(nextChiefs.size > 0, "a group cannot be left without a facilitator");
  const got = commit.facilitators.map(key);
  check(got.length === nextChiefs.size && got.every((id) => nextChiefs.has(id)), "the facilitators differ from the previous ones plus the authorised changes");
  // A state stored before invite admissions were counted starts counting with this commit.
  const counted = countInvites(commit, state.inviteAdmits || []);
  return { state: stateOf(commit, new Set([...departedBefore, ...departed]), state.countedFrom || commit.epoch, counted), changes };
}

/** The state of the commit that first keys `member`: it must carry our own valid admission.
 * Only for the genesis and a link without an anchor the person chose to trust (§6.7). */
export async function keyedState(commit, member, invitePk = null) {
  if (commit.epoch === 1) return genesisState(commit);
  try {
    await hc.verifyCommit(commit);
  } catch {
    throw new UntrustedCommit("the commit signature does not verify");
  }
  const signers = new Map(commit.roster.map((e) => [key(e.memberId), e]));
  const facilitators = new Set(commit.facilitators.map(key));
  check(sameEntry(signers.get(key(member.memberId)), hc.rosterEntry(member)), "the commit is not sealed to us");
  const changes = [];
  let own = null;
  for (const a of commit.authorisations) {
    if (!isAdmission(a)) continue;
    check(sameEntry(signers.get(key(a.memberId)), a.entry), "a stray admission");
    changes.push(await checkAdmission(a, commit.epoch, commit.groupId, signers, facilitators));
    if (hc.equalBytes(a.memberId, member.memberId)) own = a;
  }
  check(own, "the commit carries no admission of ours");
  if (invitePk && own.kind === hc.AUTH.INVITE_ADMIT) check(hc.equalBytes(own.invitePk, invitePk), "our admission is not from our invite");
  return { state: stateOf(commit, [], commit.epoch, countInvites(commit, [])), changes };
}

/** An invite link's anchor (§6.7): epoch(u32) ‖ commit_hash of the facilitator's held epoch. */
export function anchorBytes(epoch, commitHash) {
  check(epoch >= 1 && epoch < 2 ** 32 && commitHash.length === 32, "not an anchor");
  return hc.concat(hc.u32(epoch), commitHash);
}

export function parseAnchor(raw) {
  check(raw.length === 36, "not an anchor");
  const epoch = new DataView(raw.buffer, raw.byteOffset, 4).getUint32(0);
  check(epoch >= 1, "not an anchor");
  return { epoch, hash: raw.slice(4) };
}

/**
 * The state of the commit that first keys a newcomer, verified from its invite's anchor (§6.7):
 * `chain` holds the commits from the anchored epoch on; the first must be the anchor itself,
 * every later one must extend it by `advance` up to the first that holds `member`.
 * Twin of crypto.groupstate.anchored_state. Returns {state, changes: [{epoch, ...change}]}.
 */
export async function anchoredState(chain, anchor, member, invitePk = null) {
  check(chain.length > 0, "the server offered no commit from the invite's anchor");
  const first = chain[0];
  check(first.epoch === anchor.epoch && hc.equalBytes(first.hash, anchor.hash), "the commit at the invite's anchor is not the one the link names");
  let state;
  if (first.epoch === 1) {
    ({ state } = await genesisState(first));
  } else {
    try {
      await hc.verifyCommit(first);
    } catch {
      throw new UntrustedCommit("the commit signature does not verify");
    }
    state = stateOf(first, [], first.epoch, countInvites(first, []));
  }
  check(!state.roster.some((e) => hc.equalBytes(e.memberId, member.memberId)), "the anchor already lists us");
  const changes = [];
  for (const commit of chain.slice(1)) {
    const step = await advance(state, commit);
    state = step.state;
    changes.push(...step.changes.map((c) => ({ epoch: commit.epoch, ...c })));
    const entry = commit.roster.find((e) => hc.equalBytes(e.memberId, member.memberId));
    if (!entry) continue;
    check(sameEntry(entry, hc.rosterEntry(member)), "the commit is not sealed to us");
    const own = commit.authorisations.find((a) => hc.equalBytes(a.memberId, member.memberId));
    if (invitePk && own.kind === hc.AUTH.INVITE_ADMIT) check(hc.equalBytes(own.invitePk, invitePk), "our admission is not from our invite");
    return { state, changes };
  }
  throw new UntrustedCommit("no commit from the invite's anchor keys us");
}
