// The administrator's panel in the console (docs/protocol.md §6.11): every group with its
// facilitators; inviting an account to facilitate one, withdrawing an invitation, and removing an
// admitted facilitator. An administrator holds no key of these groups: a facilitator of the group
// admits whom it invites, and a remaining facilitator's console signs a removal in the next commit.
// The panel stays hidden for an account that is not an administrator (admin.groups: forbidden).

import { $, el, bdi, announce } from "./ui.js";
import { t, tParts, has } from "./i18n.js";

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

/** A facilitator's state in the catalogue's words (invited, asked to join, facilitates). */
function stateText(state) {
  const key = `console.admin.state.${state}`;
  return has(key) ? t(key) : state;
}

function groupItem(group) {
  const input = el("input", { id: `admin-user-${group.group_id}`, required: true, maxlength: "64", autocomplete: "off" });
  return el(
    "li",
    { "data-admin-group": group.group_id },
    el("h4", {}, bdi(group.name)),
    el(
      "ul",
      { class: "items" },
      ...group.facilitators.map((f) =>
        el(
          "li",
          { "data-facilitator": f.username },
          el("span", {}, ...tParts("console.admin.facilitator", { name: bdi(f.username), state: stateText(f.state) })),
          f.state === "active"
            ? el("button", { type: "button", class: "danger", onclick: () => remove(group, f) }, ...tParts("console.admin.remove", { name: bdi(f.username), group: bdi(group.name) }))
            : el("button", { type: "button", onclick: () => withdraw(group, f) }, ...tParts("console.admin.withdraw", { name: bdi(f.username), group: bdi(group.name) })),
        ),
      ),
    ),
    el(
      "form",
      { class: "row", onsubmit: (event) => invite(event, group, input) },
      el("label", { for: input.id, text: t("console.admin.inviteLabel", { group: group.name }) }),
      input,
      el("button", { type: "submit" }, ...tParts("console.admin.inviteButton", { group: bdi(group.name) })),
    ),
  );
}

async function act(call, done) {
  try {
    await call();
  } catch (error) {
    announce(t("console.admin.failed", { error: error.message }));
    return;
  }
  announce(done);
  await load();
}

function invite(event, group, input) {
  event.preventDefault();
  const name = input.value.trim();
  return act(() => ctx.session().call("facilitator.add", { group_id: group.group_id, username: name }), t("console.admin.invited", { name, group: group.name }));
}

async function remove(group, f) {
  const values = { name: f.username, group: group.name };
  if (!(await ctx.confirm(t("console.admin.removeConfirm", values), t("console.admin.removeYes", values)))) return;
  await act(() => ctx.session().call("admin.remove_facilitator", { group_id: group.group_id, username: f.username }), t("console.admin.removed", values));
}

function withdraw(group, f) {
  return act(() => ctx.session().call("facilitator.remove", { group_id: group.group_id, username: f.username }), t("console.admin.withdrawn", { name: f.username, group: group.name }));
}
