// Quick exit, as on public-sector safety services: the "Leave quickly" button, or Escape pressed
// three times within two seconds (anywhere, dialogs included: the first press still just closes
// an open dialog), replaces the page with an everyday one (safety.quick_exit_url, by default
// /recipe.html on this server, so no other site is contacted).
//
// location.replace takes Hearth's entry out of the tab's history, so Back does not return to the
// chat; what is shown is cleared first, so nothing lingers while the next page loads. A Hearth
// entry further back in this tab (opened from an earlier link) is sent on again when Back or
// Forward reaches it, until Hearth is opened afresh (typed, a bookmark, a link). What this does
// not hide (browser history elsewhere, the data kept on the device): docs/threat-model.md.

const PRESSES = 3;
const WITHIN_MS = 2000;
const LEFT = "hearth.left"; // in sessionStorage (this tab only): where the quick exit went

let destination = "/recipe.html";
let presses = [];

/** Where quick exit goes (safety.quick_exit_url from /api/settings). */
export function setQuickExitUrl(url) {
  if (typeof url === "string" && url) destination = url;
}

export function leaveQuickly() {
  try {
    sessionStorage.setItem(LEFT, destination);
  } catch {
    /* storage refused: the exit itself still happens */
  }
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  document.title = "";
  document.body.replaceChildren();
  location.replace(destination);
}

function onKeydown(event) {
  if (event.key !== "Escape" || event.repeat || event.isComposing) return;
  const now = performance.now();
  presses = presses.filter((at) => now - at < WITHIN_MS);
  presses.push(now);
  if (presses.length >= PRESSES) leaveQuickly();
}

// Back or Forward onto a Hearth page of a tab that left quickly sends it on again.
function sendOnIfLeft(restored) {
  let where = null;
  try {
    where = sessionStorage.getItem(LEFT);
  } catch {
    return;
  }
  if (!where) return;
  const navigation = performance.getEntriesByType("navigation")[0];
  if (restored || navigation?.type === "back_forward") {
    document.body.replaceChildren();
    location.replace(where);
  } else {
    sessionStorage.removeItem(LEFT); // opened afresh: the member came back on purpose
  }
}

sendOnIfLeft(false);
addEventListener("pageshow", (event) => {
  if (event.persisted) sendOnIfLeft(true);
});
document.addEventListener("keydown", onKeydown, true);
document.getElementById("quick-exit")?.addEventListener("click", leaveQuickly);
