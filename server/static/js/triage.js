// On-device triage: the facilitator's browser decrypts its groups, so it can look at every message
// as it arrives for crisis language (the same check the member page runs before sending:
// crisischeck.js with the maintained lists of every shipped language, crisisphrases*.js, plus the
// organisation's safety.crisis_words and per-language words and lists) and raise an urgent item
// for this facilitator alone, whatever language the console itself is in.
//
// Nothing leaves the device: a flag is not sent, stored or logged anywhere; it lives in this
// page's memory until the facilitator marks it seen or the page closes. The server cannot tell a
// flagged message from any other (tests/browser/test_console_workspace.py watches the frames).

import { loadEveryLanguage } from "./crisischeck.js";

let check = null;
const flags = new Map(); // `${groupId} ${msgId}` -> {groupId, msgId, senderId, text, phrase, at}
let onChange = () => {};

/** `settings`: /api/settings (crisis_words and the per-language tables, all optional);
 * `changed()` runs whenever the flags change. */
export async function init(settings, changed) {
  check = await loadEveryLanguage(settings.crisis_words || [], settings.crisis_words_by_locale || {}, settings.crisis_phrases_by_locale || {});
  onChange = changed;
}

const keyOf = (groupId, msgId) => `${groupId} ${msgId}`;

/** Look at a verified, decrypted message from someone else; returns the flag if it raised one. */
export function look(groupId, item) {
  if (!check || !item.text || flags.has(keyOf(groupId, item.msgId))) return null;
  const phrase = check.match(item.text);
  if (phrase === null) return null;
  const flag = { groupId, msgId: item.msgId, senderId: item.senderId, text: item.text, phrase, at: Date.now() };
  flags.set(keyOf(groupId, item.msgId), flag);
  onChange(flag);
  return flag;
}

export const flagged = (groupId, msgId) => flags.has(keyOf(groupId, msgId));

/** Open flags, newest first. */
export const list = () => [...flags.values()].sort((a, b) => b.at - a.at);

/** The facilitator has seen to it. */
export function seen(groupId, msgId) {
  if (flags.delete(keyOf(groupId, msgId))) onChange(null);
}

/** A group this browser no longer watches (logout): forget its flags. */
export function forget(groupIds = null) {
  for (const [key, flag] of flags) if (!groupIds || groupIds.includes(flag.groupId)) flags.delete(key);
  onChange(null);
}
