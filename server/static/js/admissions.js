// Bounded admissions in the page (docs/protocol.md §6.4): an admission binds the epoch its
// signer holds and is valid in the next two commits only; an invite key's certificate binds the
// epoch it was made in, an expiry and how many members the key may admit by itself (none in a
// group where a facilitator approves each newcomer). Twin of what server/client.py does.

import * as hc from "./crypto.js";
import * as gs from "./groupstate.js";
import { t } from "./i18n.js";

const HOUR_MS = 3_600_000;

/** A facilitator's admission of `entry` with `role`, made at the epoch `record` holds. */
export async function admit(record, entry, role) {
  if (!record.group) throw new Error(t("common.admissions.noEpoch"));
  return hc.signAdmission(record.groupId, record.member, entry, role, record.group.epoch);
}

/**
 * The `invite_key` of invite.create for a fresh invite key: invite_pk ‖ issuer_id ‖ certificate,
 * made at the epoch `record` holds (the link's anchor), valid `hours`, admitting `uses` members
 * by itself in an `open` group and none otherwise.
 */
export async function certifiedInviteKey(record, inviteKey, { joinPolicy, hours, uses, now = Date.now() }) {
  if (!record.group) throw new Error(t("common.admissions.noEpoch"));
  const certificate = await hc.certifyInvite(record.groupId, record.member, inviteKey.publicKey, {
    issuedEpoch: record.group.epoch,
    notAfter: now + hours * HOUR_MS,
    maxAdmits: joinPolicy === "open" ? uses : 0,
  });
  return hc.concat(inviteKey.publicKey, record.member.memberId, hc.encodeInviteCertificate(certificate));
}

/**
 * Our own admission, signed with the link's key at the group's current epoch, if the certified
 * key the server hands out is the link's and may admit anyone by itself; else null (we wait for
 * a facilitator's approval).
 */
export async function ownInviteAdmission(record, inviteKey, certified, epoch) {
  if (certified.length !== 48 + hc.INVITE_CERT_LEN || !hc.equalBytes(certified.subarray(0, 32), inviteKey.publicKey)) return null;
  const certificate = hc.parseInviteCertificate(certified.slice(48));
  if (certificate.maxAdmits === 0) return null;
  return hc.signInviteAdmission(record.groupId, inviteKey, certified.slice(32, 48), certificate, hc.rosterEntry(record.member), epoch);
}

/** Why this device must not commit the invite admission `a` itself (null: it may), in words. */
export function inviteRefusal(state, a, now = Date.now()) {
  const reason = gs.inviteAdmissionRefusal(state, a, now);
  if (reason === null) return null;
  const [name] = Object.entries(gs.INVITE_REFUSALS).find(([, said]) => said === reason);
  return t("common.admissions.spentInvite", { reason: t(`common.admissions.${name}`) });
}
