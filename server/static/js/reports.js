// Reporting a message from the member's page: which messages can be reported. The dialog, and the
// report opening (docs/protocol.md §10) it builds from what the page kept when it opened the
// message (never a key), are loaded when a member first reports (reporting.js, in later.js).

export function canReport(item) {
  return !item.mine && Boolean(item.opening);
}
