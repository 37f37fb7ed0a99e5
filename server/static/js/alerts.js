// Alerts a facilitator notices while looking at another tab: the tab title counts what waits
// (urgent first), a desktop notification (asked for with the Notifications permission when the
// facilitator ticks the box, and content-free: "New urgent report in Tuesday circle", never what
// anyone wrote), and a short sound made here with WebAudio (off by default; no audio file).
// The choices are remembered on this device only (localStorage).

import { $ } from "./ui.js";
import { t } from "./i18n.js";

const SETTINGS_KEY = "hearth.console.alerts";
const BASE_TITLE = document.title;

let settings = { notify: false, sound: false };
let audio = null;

function load() {
  try {
    settings = { ...settings, ...JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}") };
  } catch {
    /* defaults */
  }
}

function save() {
  localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
}

export function init() {
  load();
  const notify = $("#alert-notify");
  const sound = $("#alert-sound");
  const supported = "Notification" in window;
  notify.checked = settings.notify && supported && Notification.permission === "granted";
  notify.disabled = !supported;
  sound.checked = settings.sound;
  explain();
  notify.addEventListener("change", async () => {
    // Asked only here, on the facilitator's own click (browsers refuse a prompt without one).
    if (notify.checked && Notification.permission !== "granted") {
      const answer = await Notification.requestPermission();
      notify.checked = answer === "granted";
    }
    settings.notify = notify.checked;
    save();
    explain();
  });
  sound.addEventListener("change", () => {
    settings.sound = sound.checked;
    save();
    if (sound.checked) beep(false); // let them hear it (a click also unlocks audio)
    explain();
  });
}

function explain() {
  let text = "";
  if (!("Notification" in window)) text = t("console.alerts.unsupported");
  else if (Notification.permission === "denied") text = t("console.alerts.blocked");
  else if (settings.notify) text = t("console.alerts.private");
  $("#alert-note").textContent = text;
}

/** The tab title: how many items wait, and how many of them are urgent. */
export function count(total, urgent) {
  if (!total) document.title = BASE_TITLE;
  else document.title = urgent ? t("console.alerts.titleUrgent", { urgent, total, title: BASE_TITLE }) : `(${total}) ${BASE_TITLE}`;
}

/** A new item: a notification (when allowed and the tab is not in front) and a sound (if on). */
export function raise(text, { urgent = false } = {}) {
  if (settings.notify && "Notification" in window && Notification.permission === "granted" && document.visibilityState !== "visible") {
    try {
      new Notification(text, { tag: urgent ? "hearth-urgent" : "hearth", renotify: true, silent: settings.sound });
    } catch {
      /* some browsers allow notifications only from a service worker: the title still counts */
    }
  }
  if (settings.sound) beep(urgent);
}

/** A short tone (two for urgent), generated here: no sound file, nothing fetched. */
function beep(urgent) {
  try {
    audio = audio || new AudioContext();
    const tones = urgent ? [880, 660] : [660];
    tones.forEach((frequency, i) => {
      const start = audio.currentTime + i * 0.22;
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.2, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(start);
      osc.stop(start + 0.2);
    });
  } catch {
    /* no audio on this device */
  }
}
