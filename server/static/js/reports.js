// Reporting a message from the member's page: the report opening (docs/protocol.md §10) is built
// from what the page kept when it opened the message — never a key. The dialog that sends it as
// `report.submit` is loaded when a member first reports (reporting.js, in later.js).

import * as hc from "./crypto.js";

/** The opening of a received message, base64url; null when the page kept nothing to open it with. */
export function openingOf(item) {
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

export function canReport(item) {
  return !item.mine && Boolean(item.opening);
}
