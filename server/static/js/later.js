// What the member page loads the first time one of these is used, not with the page (issue 19: a
// small first visit): moving to another device ("My data"), asking the facilitators privately,
// reporting a message and a group's sessions as a calendar file. Their texts come with them
// (i18n.js loadLaterTexts). And the group code (groupkeys.js, groupstate.js, admissions.js):
// loaded as soon as the device holds a group, opens one or has an invite link (member.js
// groupCode); the features above use it too, so one chunk holds them all.
//
// One module, so one chunk of the page's bundle (server/bundles.py): esbuild puts the code that
// the page shares with what it imports later in a chunk per set of importers, so two features
// imported apart, each sharing other modules with the page, would make the page load two shared
// chunks on its first visit instead of one (tests/browser/test_first_load.py counts them). Named
// exports, not `export * as`: a namespace object needs esbuild's helper, a chunk of its own.

export { attach as attachDevices } from "./devices.js";
export { init as initAsk, ask, untrusted as askUntrusted } from "./askfacilitator.js";
export { reportMessage } from "./reporting.js";
export { downloadIcs } from "./calendarfile.js";
export { newRecord, memberPayload, protectionText, receiveCommit, offerPqKey, syncEpochs, recover, rotate, seal, open } from "./groupkeys.js";
export { parseAnchor, protection } from "./groupstate.js";
export { ownInviteAdmission } from "./admissions.js";
export { encodeAuthorisation, signLeave } from "./crypto.js";
