// A group's audit log for its facilitators (`audit.list`): every join decision, removal and
// moderation decision, newest first, as the server's hash chain records them.

import { $, el } from "./ui.js";

const ACTIONS = {
  approve_join: "Approved a join request",
  release_held: "Released a newcomer's message",
  decline_held: "Declined a newcomer's message",
  refuse_join: "Refused a join request",
  dismiss: "Dismissed a report",
  hide_message: "Hid a message",
  warn: "Warned a member",
  mute: "Muted a member",
  remove_member: "Removed a member",
  ban_account: "Banned an account",
  flag_commit: "A member could not open the keys of a commit by",
};

function describe(entry, names) {
  const detail = entry.detail || {};
  const parts = [];
  if (detail.member_id) parts.push(names.get(detail.member_id) || "a former member");
  if (detail.epoch) parts.push(`epoch ${detail.epoch}`);
  if (detail.muted_until) parts.push(`until ${new Date(detail.muted_until).toLocaleString()}`);
  if (detail.note) parts.push(`note: “${detail.note}”`);
  return parts.join(" · ");
}

/** Load and show the log of `groupId`; `names` maps member ids to pseudonyms where known. */
export async function load(session, groupId, names = new Map()) {
  const reply = await session.call("audit.list", { group_id: groupId, limit: 100 });
  $("#audit").replaceChildren(
    ...reply.entries.map((entry) =>
      el(
        "li",
        { "data-action": entry.action, value: String(entry.seq) },
        el("time", { text: new Date(entry.at).toLocaleString() }),
        ` · ${entry.actor} · `,
        el("strong", { text: ACTIONS[entry.action] || entry.action }),
        entry.detail && describe(entry, names) ? ` · ${describe(entry, names)}` : "",
        el("span", { class: "note", text: ` · hash ${entry.entry_hash.slice(0, 10)}…` }),
      ),
    ),
  );
  $("#no-audit").hidden = reply.entries.length > 0;
}
