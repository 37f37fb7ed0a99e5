// Invite links: read from the address (also when one is opened in a tab that already has Hearth
// open), and a dead link (used up, withdrawn, expired, cut short or mistyped) explained in plain
// words with what to do next, never a raw error under a Join button.

// The server's token format (server/realtime/schemas.py Token); anything else is a damaged link.
const TOKEN = /^[A-Za-z0-9_-]{16,64}$/;

const DEAD = {
  used_up: "This invite link has already been used as many times as it allows. Ask the person who gave it to you for a new link.",
  revoked: "This invite link was withdrawn by the group's facilitator, so it no longer works. If you think you should still join, ask them for a new link.",
  expired: "This invite link has expired. Ask the person who gave it to you for a new link.",
  unknown: "This invite link looks incomplete or mistyped. Copy the whole link again from the message you received (it ends in a long code of letters and numbers), or ask for a new link.",
};

/** The invite token in the address (#invite=… or ?invite=…), or null. */
export function readInvite() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  return hash.get("invite") || query.get("invite");
}

/** Why a token cannot be an invite at all (cut short or damaged), or null if it may be one. */
export function malformed(token) {
  return TOKEN.test(token) ? null : "unknown";
}

/** Plain words for a dead link, from the server's `invite_invalid` reason. */
export function deadLinkText(reason) {
  return DEAD[reason] || DEAD.unknown;
}

/** Call `onInvite(token)` when an invite link is opened in this tab without a reload. */
export function watch(onInvite) {
  const check = () => {
    const token = readInvite();
    if (token) onInvite(token);
  };
  window.addEventListener("hashchange", check);
  window.addEventListener("popstate", check);
}
