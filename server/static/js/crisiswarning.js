// The console's warning while the organisation has not set its crisis resources: members then
// see only "call your local emergency number" (server/crisis_setup.py says the same at start-up).

import { $ } from "./ui.js";

/** Show or hide #crisis-setup from /api/settings (`settings` null when they could not be read). */
export function showCrisisSetupWarning(settings) {
  const box = $("#crisis-setup");
  if (box) box.hidden = !settings || settings.crisis_resources.length > 0;
}
