// A group's audit log for its facilitators (`audit.list`): every join decision, removal and
// moderation decision, newest first, as the server's hash chain records them.

import { $, el } from "./ui.js";
import { t, has, formatDateTime } from "./i18n.js";

const action = (name) => (has(`console.audit.action.${name}`) ? t(`console.audit.action.${name}`) : name);

function describe(entry, names) {
  const detail = entry.detail || {};
  const parts = [];
  if (detail.member_id) parts.push(names.get(detail.member_id) || t("member.aFormerMember"));
  if (detail.epoch) parts.push(t("console.audit.epoch", { epoch: detail.epoch }));
  if (detail.muted_until) parts.push(t("console.invite.until", { time: formatDateTime(detail.muted_until) }));
  if (detail.note) parts.push(t("console.audit.note", { note: detail.note }));
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
        el("time", { text: formatDateTime(entry.at) }),
        ` · ${entry.actor} · `,
        el("strong", { text: action(entry.action) }),
        entry.detail && describe(entry, names) ? ` · ${describe(entry, names)}` : "",
        el("span", { class: "note", text: ` · ${t("console.audit.hash", { hash: entry.entry_hash.slice(0, 10) })}` }),
      ),
    ),
  );
  $("#no-audit").hidden = reply.entries.length > 0;
}
