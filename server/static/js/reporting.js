// The member page's report dialog: an optional reason and a confirmation, then `report.submit`
// with the message's report opening (docs/protocol.md §10). Loaded with later.js the
// first time a member reports a message.

import * as hc from "./crypto.js";
import { $, el, ask, bdi } from "./ui.js";
import { t, tParts, loadLaterTexts } from "./i18n.js";

await loadLaterTexts();

/** The opening of a received message, base64url; null when the page kept nothing to open it with. */
function openingOf(item) {
  const o = item.opening;
  // A message deleted by its sender is still reportable by whoever saw it (the server keeps its
  // header and rtag until retention ends); the page keeps the opening of what it displayed.
  if (!o || !item.rtag || item.serverTs === undefined || item.kid === undefined) return null;
  return hc.b64encode(
    hc.encodeReportOpening({
      header: o.header,
      franking: o.franking,
      contentType: o.contentType,
      content: o.content,
      serverTs: item.serverTs,
      kid: item.kid,
      rtag: hc.b64decode(item.rtag),
    }),
  );
}

/** Ask for an optional reason and a confirmation; resolves to the reason, or null if cancelled. */
async function askReason(author, text) {
  $("#report-explain").replaceChildren(...tParts("member.report.explain", { author: el("strong", {}, bdi(author)) }));
  $("#report-quote").textContent = text;
  $("#report-reason").value = "";
  const answer = ask($("#report-dialog"));
  $("#report-reason").focus();
  return (await answer) === "send" ? $("#report-reason").value.trim() : null;
}

/**
 * Report `item` (a message of `groupId` written by `author`). Returns the outcome:
 * {kind: "sent"|"already"|"error"|"cancelled", text}.
 */
export async function reportMessage(session, groupId, item, author) {
  const text = item.deleted ? item.reportText ?? "" : item.text;
  // The report carries the content note with the text (it is part of the content, §7.3).
  const reason = await askReason(author, item.note ? `${t("member.report.quotedNote", { note: item.note })}\n${text}` : text);
  if (reason === null) return { kind: "cancelled", text: "" };
  const opening = openingOf(item);
  if (!opening) return { kind: "error", text: t("member.report.gone") };
  try {
    await session.call("report.submit", { group_id: groupId, opening, reason: reason.slice(0, 500) });
    return { kind: "sent", text: t("member.report.sent") };
  } catch (error) {
    if (error.code === "already_reported") return { kind: "already", text: t("member.report.already") };
    if (error.code === "rate_limited") return { kind: "error", text: t("member.report.tooMany") };
    if (error.code === "report_expired") return { kind: "error", text: t("member.report.expired") };
    return { kind: "error", text: t("member.report.failed", { error: error.message }) };
  }
}
