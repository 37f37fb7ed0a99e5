// Companion groups (docs/protocol.md §6.10): a group's facilitators' hand-over notes and a member's
// private request to its facilitators. A companion is a group of its own, keyed and rotated by the
// same verified commits (groupkeys.js), in which each person takes part with the member keys they
// hold in the group. So this device checks a companion's verified roster against its verified
// state of the group (`trusted`), and shows or sends nothing in a companion that holds anyone but
// the group's facilitators (and, in a request, the one member who asked): the server cannot slip
// a member of its own making in.

import * as hc from "./crypto.js";
import * as store from "./keystore.js";
import * as keys from "./groupkeys.js";

const sameEntry = (a, b) => hc.equalBytes(a.memberId, b.memberId) && hc.equalBytes(a.sigPk, b.sigPk) && hc.equalBytes(a.kemPk, b.kemPk);

/** This device's record of a companion: the group's member keys, under the companion's id. */
async function companionRecord(parent, companionId, kind) {
  const record = await keys.newRecord(companionId, parent.pseudonym);
  record.member = parent.member;
  record.pqKey = null; // a signed ML-KEM key names its own group (§6.9): the companion is suite 1
  record.companion = { of: parent.id, kind };
  // No invite link, so no anchor: the commit that admits us is taken as keyed_state (§6.8 step
  // 4), and `trusted` checks its roster against the group's verified state.
  record.trustUnanchored = true;
  return record;
}

/** The record of a companion listed by the server, made (and saved) if this device has none. */
export async function recordFor(companion) {
  const found = await store.group(companion.companion_id);
  if (found) return found;
  const parent = await store.group(companion.group_id);
  if (!parent?.member) return null;
  const record = await companionRecord(parent, companion.companion_id, companion.kind);
  await store.saveGroup(record);
  return record;
}

/** Make a companion of `parent` (this device's record of the group): epoch 1 holds us alone. */
export async function create(session, parent, kind) {
  const companionId = hc.b64encode(hc.randomBytes(16));
  const record = await companionRecord(parent, companionId, kind);
  const { commit } = await hc.buildCommit({
    groupId: record.groupId,
    epoch: 1,
    prevCommitHash: new Uint8Array(32),
    committer: record.member,
    roster: [hc.rosterEntry(record.member)],
    facilitators: [record.member.memberId],
  });
  const reply = await session.call("companion.create", { group_id: parent.id, companion_id: companionId, kind, commit: hc.b64encode(commit.raw) });
  record.info = reply.group;
  await keys.acceptCommit(record, commit.raw); // opens our own wrap and saves the record
  return record;
}

/**
 * Admit into the companion every facilitator of the group (as this device verified it) that is
 * not in it yet and never was; returns how many were admitted (then rotate).
 */
export async function admitFacilitators(session, parent, record) {
  if (!parent?.group || !record?.group) return 0;
  const inside = new Set(record.group.roster.map((e) => hc.hex(e.memberId)));
  const departed = new Set(record.group.departed || []);
  let admitted = 0;
  for (const entry of parent.group.roster) {
    const id = hc.hex(entry.memberId);
    if (!parent.group.facilitators.includes(id) || inside.has(id) || departed.has(id)) continue;
    const admission = await hc.signAdmission(record.groupId, record.member, entry, hc.ROLE.FACILITATOR, record.group.epoch);
    try {
      await session.call("companion.admit", {
        companion_id: record.id,
        member_id: hc.b64encode(entry.memberId),
        admission: hc.b64encode(hc.encodeAuthorisation(admission)),
      });
      admitted += 1;
    } catch (error) {
      // already in (another facilitator's console was first), or no longer a facilitator
      if (!["already_member", "forbidden"].includes(error.code)) throw error;
    }
  }
  return admitted;
}

/**
 * Whether the companion's verified roster holds only the group's verified facilitators and, in a
 * request, at most one other member of the group (the asker), each with the keys it has there.
 */
export function trusted(parent, record) {
  if (!parent?.group || !record?.group) return false;
  let others = 0;
  for (const entry of record.group.roster) {
    const inGroup = parent.group.roster.find((e) => sameEntry(e, entry));
    if (!inGroup) return false;
    if (parent.group.facilitators.includes(hc.hex(entry.memberId))) continue;
    others += 1;
  }
  return record.companion?.kind === "ask" ? others <= 1 : others === 0;
}
