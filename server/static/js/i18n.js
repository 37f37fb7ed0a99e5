// The page's language: message catalogues (server/static/i18n/<locale>.json: flat dotted keys,
// `{name}` placeholders, plural forms as objects keyed by Intl.PluralRules categories), the
// locale chosen from the browser's languages or the person's own choice (kept on this device
// only, in localStorage), and dates, times and numbers through Intl.
//
// The catalogue is loaded here with a top-level await: every module that imports this one (all
// page modules do, through ui.js or session.js) runs only once it is in, so nothing renders in
// the wrong language. The static HTML holds no text of its own: its elements name their key in
// data-i18n attributes, filled by applyStatic() before the page is made visible (hearth.css hides
// it while <html> has the class "i18n-pending"). The catalogues are same-origin JSON modules,
// versioned with the page like every other file (server/assets.py).

// Each catalogue is imported by a literal path so that server/assets.py versions its URL. The
// console's own texts are a catalogue of their own (i18n/console/), which only a page whose <html>
// says data-catalogue="console" loads: members never download them.
const CATALOGUES = {
  en: () => import("../i18n/en.json", { with: { type: "json" } }),
  es: () => import("../i18n/es.json", { with: { type: "json" } }),
  ar: () => import("../i18n/ar.json", { with: { type: "json" } }),
};
const CONSOLE_CATALOGUES = {
  en: () => import("../i18n/console/en.json", { with: { type: "json" } }),
  es: () => import("../i18n/console/es.json", { with: { type: "json" } }),
  ar: () => import("../i18n/console/ar.json", { with: { type: "json" } }),
};
// The texts of what the member page loads only when it is first used (later.js; issue 19: a small
// first visit), i18n/later/<locale>.json, loaded with it by loadLaterTexts(). Everything the
// first screen shows stays in <locale>.json.
const LATER_CATALOGUES = {
  en: () => import("../i18n/later/en.json", { with: { type: "json" } }),
  es: () => import("../i18n/later/es.json", { with: { type: "json" } }),
  ar: () => import("../i18n/later/ar.json", { with: { type: "json" } }),
};
// Each language's own name for itself, as the switch lists it (never translated).
export const LANGUAGES = { en: "English", es: "Español", ar: "العربية" };
const RIGHT_TO_LEFT = new Set(["ar"]);
const DEFAULT = "en";
const STORAGE_KEY = "hearth.locale";
// Attributes a static element can take from the catalogue: data-i18n-<attribute>="key".
const ATTRIBUTES = ["aria-label", "placeholder", "title"];

/** The shipped language for a BCP 47 tag ("es-MX" -> "es"), or null. */
export function languageOf(tag) {
  const language = String(tag || "").toLowerCase().split(/[-_]/)[0];
  return Object.hasOwn(CATALOGUES, language) ? language : null;
}

function savedChoice() {
  try {
    return languageOf(localStorage.getItem(STORAGE_KEY));
  } catch {
    return null; // storage refused (a private window's policy): the browser's languages decide
  }
}

/**
 * The locale to use: the person's choice on this device, else the first of the browser's
 * languages that is shipped, else English. `tag` keeps the browser's region when it names the
 * same language ("es-MX"), so that crisis resources can be those of the member's country.
 */
export function chooseLocale(preferred = navigator.languages || [navigator.language], saved = savedChoice()) {
  const tags = [...preferred].filter(Boolean);
  const language = saved || tags.map(languageOf).find(Boolean) || DEFAULT;
  const tag = tags.find((t) => languageOf(t) === language) || language;
  return { language, tag };
}

async function load(language) {
  const parts = [CATALOGUES[language]()];
  if (document.documentElement.dataset.catalogue === "console") parts.push(CONSOLE_CATALOGUES[language]());
  return Object.assign({}, ...(await Promise.all(parts)).map((part) => part.default));
}

const chosen = chooseLocale();
let catalogue;
try {
  catalogue = await load(chosen.language);
} catch {
  // A catalogue that cannot be loaded must not leave the page blank: English is the fallback.
  chosen.language = DEFAULT;
  catalogue = await load(DEFAULT);
}

/** The page's language ("en", "es", "ar") and the browser's tag for it ("es-MX"). */
export const locale = chosen.language;
export const localeTag = chosen.tag;
export const direction = RIGHT_TO_LEFT.has(locale) ? "rtl" : "ltr";
const plurals = new Intl.PluralRules(locale);
const numbers = new Intl.NumberFormat(locale);

/** The text of `key` with `{name}` placeholders filled from `vars`; plural forms by `vars.count`. */
export function t(key, vars = {}) {
  let text = catalogue[key];
  if (text === undefined) return key; // a missing key is visible, and the catalogue test fails
  if (typeof text === "object") text = text[plurals.select(Number(vars.count))] ?? text.other;
  return text.replace(/\{(\w+)\}/g, (whole, name) => {
    if (!Object.hasOwn(vars, name)) return whole;
    const value = vars[name];
    return typeof value === "number" ? numbers.format(value) : String(value);
  });
}

/** Like t(), as a list of strings and nodes: a placeholder whose value is a DOM node (a name in
 * <bdi>, a <strong>) is put in as that node, for replaceChildren() or el(). */
export function tParts(key, vars = {}) {
  const nodes = Object.entries(vars).filter(([, value]) => value instanceof Node);
  const marked = { ...vars };
  for (const [name] of nodes) marked[name] = `\u0000${name}\u0000`;
  return t(key, marked)
    .split("\u0000")
    .map((part, i) => (i % 2 ? vars[part] : part))
    .filter((part) => part !== "");
}

let laterTexts = null; // the texts of later.js being loaded, or in the catalogue

/**
 * Load the texts of what the page loads when it is first used (LATER_CATALOGUES), in the page's
 * language, into the catalogue: once; a load that failed is tried again at the next call. Each
 * module of later.js awaits this before it shows anything.
 */
export function loadLaterTexts() {
  laterTexts ||= LATER_CATALOGUES[locale]().then(
    (part) => void Object.assign(catalogue, part.default),
    (error) => {
      laterTexts = null;
      throw error;
    },
  );
  return laterTexts;
}

/** Whether the catalogue has `key` (for texts chosen by a code, such as error codes). */
export function has(key) {
  return Object.hasOwn(catalogue, key);
}

// Codes whose message names the exact problem (which session, which rule, which signature did
// not verify): in English the server's (or this page's own check's) sentence says more than the
// catalogue's general one.
const SPECIFIC_CODES = new Set([
  "bad_request", "bad_schedule", "pseudonym_invalid",
  "unauthorised_change", "invalid_authorisation", "untrusted_commit", "suite_downgrade",
]);

/** What to show people for a server refusal: the catalogue's text for its code, else the
 * server's English message (docs/protocol.md §14.4). */
export function errorText(code, serverMessage = "", detail = {}) {
  if (serverMessage && locale === DEFAULT && SPECIFIC_CODES.has(code)) return serverMessage;
  const key = `error.${code}`;
  if (has(key)) return t(key, detail || {});
  return serverMessage || t("error.unknown");
}

/** A time of day ("14:05", "2:05 PM") in the page's locale. */
export function formatTime(ms, options = {}) {
  return new Intl.DateTimeFormat(localeTag, { hour: "2-digit", minute: "2-digit", ...options }).format(new Date(ms));
}

/** A date and time in the page's locale; `options` as Intl.DateTimeFormat takes them. */
export function formatDateTime(ms, options = { dateStyle: "medium", timeStyle: "short" }) {
  return new Intl.DateTimeFormat(localeTag, options).format(new Date(ms));
}

/** "in 5 minutes", "hace 2 horas": `ms` from now, in the largest unit that fits. */
export function formatRelative(ms, now = Date.now()) {
  const seconds = Math.round((ms - now) / 1000);
  const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  const [unit, size] = units.find(([, s]) => Math.abs(seconds) >= s) || units.at(-1);
  return new Intl.RelativeTimeFormat(localeTag, { numeric: "auto" }).format(Math.round(seconds / size), unit);
}

/** A number in the page's locale. */
export function formatNumber(n) {
  return numbers.format(n);
}

/** Fill the static elements under `root` from their data-i18n attributes. */
export function applyStatic(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const attribute of ATTRIBUTES) {
    for (const node of root.querySelectorAll(`[data-i18n-${attribute}]`)) {
      node.setAttribute(attribute, t(node.getAttribute(`data-i18n-${attribute}`)));
    }
  }
}

/** Remember `language` on this device and show the page in it. */
export function switchTo(language) {
  if (!languageOf(language) || language === locale) return;
  try {
    localStorage.setItem(STORAGE_KEY, language);
  } catch {
    /* not remembered: still shown now */
  }
  location.reload(); // the simplest honest switch: every text is rendered again, in order
}

/** The language switch: a labelled <select> of the shipped languages (`select` in the page). */
function wireSwitch(select) {
  select.replaceChildren(
    ...Object.entries(LANGUAGES).map(([code, name]) => {
      const option = document.createElement("option");
      option.value = code;
      option.lang = code;
      option.textContent = name;
      option.selected = code === locale;
      return option;
    }),
  );
  select.addEventListener("change", () => switchTo(select.value));
}

// The document is parsed before a module runs: set its language and direction, fill the static
// text and the switch, then let it be seen.
document.documentElement.lang = localeTag;
document.documentElement.dir = direction;
applyStatic();
const languageSwitch = document.getElementById("language");
if (languageSwitch) wireSwitch(languageSwitch);
document.documentElement.classList.remove("i18n-pending");
