// Co-facilitation in the console (docs/protocol.md §6.8): invitations to facilitate a group
// and joining it with member keys of one's own; a group's facilitators and who is on duty now;
// inviting and withdrawing; and the role an approval signs. Who is a facilitator for members
// comes from the verified group state (groupstate.js), never from this list: the list is what the
// server says, shown to the group's facilitators only, and carries no content.

import * as hc from "./crypto.js";
import * as store from "./keystore.js";
import * as keys from "./groupkeys.js";
import { $, el, show, announce } from "./ui.js";
import { t, localeTag } from "./i18n.js";
import { suggestPseudonym } from "./words.js";

let ctx = null;

/** `context`: session(), groups(), current(), refreshGroups(), closeGroup(), confirm(text, yes). */
export function init(context) {
  ctx = context;
  $("#cofac-add-form").addEventListener("submit", add);
}

export const handlers = {
  "facilitator.invited": () => ctx.refreshGroups().catch((error) => announce(error.message)),
  "facilitators.changed": (data) => {
    // not listed yet: we were just admitted
    if (!ctx.groups().has(data.group_id)) return ctx.refreshGroups().catch((error) => announce(error.message));
    if (ctx.current() === data.group_id) return load(data.group_id);
  },
  "facilitator.removed": (data) => {
    const group = ctx.groups().get(data.group_id);
    // (a request refused before it was admitted ends too: there was no power to announce)
    if (group) announce(t("console.cofac.ended", { group: group.name }));
    if (ctx.current() === data.group_id) ctx.closeGroup();
    return ctx.refreshGroups().catch((error) => announce(error.message));
  },
};

/** The desk's list of groups this account is invited to facilitate. */
export async function showInvitations(invitations) {
  show($("#cofac-invitations"), invitations.length > 0);
  const suggested = invitations.length ? await suggestPseudonym() : "";
  $("#cofac-invited").replaceChildren(
    ...invitations.map((group) => {
      const input = el("input", { id: `cofac-name-${group.group_id}`, minlength: "2", maxlength: "32", required: true, value: suggested });
      return el(
        "li",
        { "data-invitation": group.group_id },
        el(
          "form",
          { class: "row", onsubmit: (event) => accept(event, group, input) },
          el("span", { text: t("console.cofac.invited", { group: group.name }) }),
          el("label", { for: input.id, text: t("console.cofac.nameIn", { group: group.name }) }),
          input,
          el("button", { type: "submit", class: "primary" }, t("console.cofac.join", { group: group.name })),
        ),
      );
    }),
  );
}

async function accept(event, group, input) {
  event.preventDefault();
  const record = await keys.newRecord(group.group_id, input.value.trim());
  record.info = group;
  // No invite link, so no anchor (§6.7): the commit that keys us must carry our own admission
  // with the facilitator role, signed by one of its facilitators (§6.8).
  record.trustUnanchored = true;
  try {
    await ctx.session().call("facilitator.accept", { group_id: group.group_id, member: keys.memberPayload(record) });
  } catch (error) {
    announce(error.message);
    return;
  }
  await store.saveGroup(record);
  announce(t("console.cofac.asked", { group: group.name }));
  await ctx.refreshGroups();
}

const STATES = new Set(["invited", "pending"]);

function stateText(f) {
  if (f.state === "active") return t(f.on_duty ? "console.cofac.state.onDuty" : "console.cofac.state.offline");
  return STATES.has(f.state) ? t(`console.cofac.state.${f.state}`) : f.state;
}

/** The group view's facilitators and who of them is on duty now. */
export async function load(groupId) {
  let listing;
  try {
    listing = await ctx.session().call("facilitators.list", { group_id: groupId });
  } catch (error) {
    announce(t("console.cofac.listFailed", { error: error.message }));
    return;
  }
  if (ctx.current() !== groupId) return;
  const on = listing.facilitators.filter((f) => f.state === "active" && f.on_duty);
  $("#cofac-duty").textContent = on.length ? t("console.cofac.onDuty", { names: new Intl.ListFormat(localeTag).format(on.map(nameOf)) }) : t("console.cofac.noneOnDuty");
  $("#cofac-list").replaceChildren(
    ...listing.facilitators.map((f) =>
      el(
        "li",
        { "data-facilitator": f.username },
        el("span", { class: "who", text: nameOf(f) }),
        el("span", { class: "note", text: ` · ${stateText(f)}` }),
        f.state === "active" ? null : el("button", { type: "button", onclick: () => withdraw(groupId, f) }, t("console.cofac.withdraw", { who: f.username })),
      ),
    ),
  );
}

function nameOf(f) {
  return f.pseudonym ? `${f.pseudonym} (${f.username})` : f.username;
}

async function add(event) {
  event.preventDefault();
  const groupId = ctx.current();
  const username = $("#cofac-username").value.trim();
  $("#cofac-error").textContent = "";
  try {
    await ctx.session().call("facilitator.add", { group_id: groupId, username });
  } catch (error) {
    $("#cofac-error").textContent = error.message;
    return;
  }
  $("#cofac-username").value = "";
  announce(t("console.cofac.added", { who: username }));
  await load(groupId);
}

async function withdraw(groupId, f) {
  if (!(await ctx.confirm(t("console.cofac.withdrawConfirm", { who: f.username }), t("console.cofac.withdrawYes")))) return;
  try {
    await ctx.session().call("facilitator.remove", { group_id: groupId, username: f.username });
  } catch (error) {
    announce(error.message);
    return;
  }
  announce(t("console.cofac.withdrawn", { who: f.username }));
  await load(groupId);
}

/** What a join request is shown as: an invited facilitator's says so. */
export function requestLabel(member) {
  return member.role === "facilitator" ? t("console.cofac.request", { who: member.pseudonym }) : member.pseudonym;
}

/**
 * The role our admission of a pending member signs (§6.8): an invited facilitator's request is
 * admitted with the facilitator role only after we confirm it (the server says which requests
 * are facilitators', and could lie); null if cancelled.
 */
export async function admissionRole(member) {
  if (member.role !== "facilitator") return hc.ROLE.MEMBER;
  const yes = await ctx.confirm(
    t("console.cofac.admitConfirm", { who: member.pseudonym }),
    t("console.cofac.admitYes"),
  );
  return yes ? hc.ROLE.FACILITATOR : null;
}
