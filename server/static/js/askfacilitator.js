// "Ask a facilitator" privately, on the member page (docs/protocol.md §6.10): from the crisis check
// and from the chat, a member opens a private end-to-end encrypted conversation with the group's
// facilitators. It is a companion group of the member and the facilitators as this device verified
// them (companion.js), keyed by a commit this device makes; the page then shows it like a group,
// and refuses to show or send in it while its roster holds anyone else.

import * as keys from "./groupkeys.js";
import * as companion from "./companion.js";
import { $, announce } from "./ui.js";
import { t, loadLaterTexts } from "./i18n.js";

// The member page loads this module when it is first needed (later.js), and its texts with it.
await loadLaterTexts();

let ctx = null;

/**
 * `context`: {session(), records (group id -> record), open(id) (show a group), homeChanged()
 * (redraw the list of groups)}.
 */
export function init(context) {
  ctx = context;
}

/** Why a companion cannot be shown (null: it can, or it is no companion). */
export function untrusted(record) {
  if (!record?.companion) return null;
  return companion.trusted(ctx.records.get(record.companion.of), record) ? null : t("member.ask.untrusted");
}

function openRequestOf(groupId) {
  return [...ctx.records.values()].find((r) => r.companion?.of === groupId && r.companion.kind === "ask" && !r.info?.companion?.closed && r.state !== "removed");
}

/** Open (or go back to) this member's private conversation with the facilitators of `groupId`. */
export async function ask(groupId, draft = "") {
  const parent = ctx.records.get(groupId);
  if (!parent || parent.companion) return;
  const name = parent.info?.name || "";
  if (!parent.latest) return announce(t("member.ask.noKeys"));
  let record = openRequestOf(groupId);
  if (!record) {
    announce(t("member.ask.opening", { group: name }));
    try {
      const session = ctx.session();
      await keys.syncEpochs(session, parent).catch(() => {});
      record = await companion.create(session, parent, "ask");
      ctx.records.set(record.id, record);
      await companion.admitFacilitators(session, parent, record);
      await keys.rotate(session, record);
    } catch (error) {
      announce(t("member.ask.failed", { error: error.message }));
      if (!record) return;
    }
  }
  ctx.homeChanged();
  await ctx.open(record.id);
  if (draft) $("#compose-text").value = draft; // the words the crisis check stopped, not sent yet
  announce(t("member.ask.opened", { group: name }));
}
