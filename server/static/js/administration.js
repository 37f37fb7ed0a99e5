// The administrator's panel in the console (docs/protocol.md §6.11): every group with its
// facilitators; inviting an account to facilitate one, withdrawing an invitation, and removing an
// admitted facilitator. An administrator holds no key of these groups: a facilitator of the group
// admits whom it invites, and a remaining facilitator's console signs a removal in the next commit.
// The panel stays hidden for an account that is not an administrator (admin.groups: forbidden).

import { $, el, announce } from "./ui.js";

const TEXT = {
  states: { invited: "invited", pending: "asked to join", active: "facilitates" },
  facilitator: "{name} ({state})",
  invite: "Invite",
  inviteLabel: "Username to invite to facilitate {group}",
  inviteButton: "Invite to facilitate {group}",
  invited: "{name} is invited to facilitate {group}; a facilitator of the group admits them.",
  remove: "Remove {name} from {group}",
  removeConfirm: "Remove {name} as a facilitator of {group}? They lose the group at once; its keys are rotated by a remaining facilitator's console.",
  removeYes: "Remove {name}",
  removed: "{name} no longer facilitates {group}.",
  withdraw: "Withdraw {name}'s invitation to {group}",
  withdrawn: "{name}'s invitation to {group} was withdrawn.",
  failed: "Could not do this: {error}",
};
const t = (key, values = {}) => TEXT[key].replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");

let ctx = null;

/** `context`: {session(), confirm(text, yes)}. */
export function init(context) {
  ctx = context;
}

/** Show the panel if this account is an administrator (after every (re)connect). */
export async function load() {
  let listing;
  try {
    listing = await ctx.session().call("admin.groups");
  } catch {
    $("#admin").hidden = true;
    return;
  }
  $("#admin").hidden = false;
  $("#admin-groups").replaceChildren(...listing.groups.map(groupItem));
  $("#admin-none").hidden = listing.groups.length > 0;
}

function groupItem(group) {
  const input = el("input", { id: `admin-user-${group.group_id}`, required: true, maxlength: "64", autocomplete: "off" });
  return el(
    "li",
    { "data-admin-group": group.group_id },
    el("h4", { text: group.name }),
    el(
      "ul",
      { class: "items" },
      ...group.facilitators.map((f) =>
        el(
          "li",
          { "data-facilitator": f.username },
          el("span", { text: t("facilitator", { name: f.username, state: TEXT.states[f.state] || f.state }) }),
          f.state === "active"
            ? el("button", { type: "button", class: "danger", onclick: () => remove(group, f) }, t("remove", { name: f.username, group: group.name }))
            : el("button", { type: "button", onclick: () => withdraw(group, f) }, t("withdraw", { name: f.username, group: group.name })),
        ),
      ),
    ),
    el(
      "form",
      { class: "row", onsubmit: (event) => invite(event, group, input) },
      el("label", { for: input.id, text: t("inviteLabel", { group: group.name }) }),
      input,
      el("button", { type: "submit" }, t("inviteButton", { group: group.name })),
    ),
  );
}

async function act(call, done) {
  try {
    await call();
  } catch (error) {
    announce(t("failed", { error: error.message }));
    return;
  }
  announce(done);
  await load();
}

function invite(event, group, input) {
  event.preventDefault();
  const name = input.value.trim();
  return act(() => ctx.session().call("facilitator.add", { group_id: group.group_id, username: name }), t("invited", { name, group: group.name }));
}

async function remove(group, f) {
  const values = { name: f.username, group: group.name };
  if (!(await ctx.confirm(t("removeConfirm", values), t("removeYes", values)))) return;
  await act(() => ctx.session().call("admin.remove_facilitator", { group_id: group.group_id, username: f.username }), t("removed", values));
}

function withdraw(group, f) {
  return act(() => ctx.session().call("facilitator.remove", { group_id: group.group_id, username: f.username }), t("withdrawn", { name: f.username, group: group.name }));
}
