// Invite links: read from the address (also when one is opened in a tab that already has Hearth
// open), and a dead link (used up, withdrawn, expired, cut short or mistyped) explained in plain
// words with what to do next, never a raw error under a Join button.

import { t } from "./i18n.js";

// The server's token format (server/realtime/schemas.py Token); anything else is a damaged link.
const TOKEN = /^[A-Za-z0-9_-]{16,64}$/;

const DEAD_REASONS = new Set(["used_up", "revoked", "expired", "unknown"]);

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
  return t(`member.invite.dead.${DEAD_REASONS.has(reason) ? reason : "unknown"}`);
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
