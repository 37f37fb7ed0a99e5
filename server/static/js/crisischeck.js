// The on-device crisis check: does a message about to be sent say something that should make
// the page offer crisis support first? It runs only in this browser; nothing is sent anywhere.
//
// The phrases are data, one list per language (crisisphrases.js for English, crisisphrases_es.js,
// crisisphrases_ar.js; the syntax is described at the top of the English one); the organisation's
// safety.crisis_words (or its list for the member's language) add to them as whole-word phrases,
// and safety.crisis_phrases_by_locale can replace a shipped list. Text and phrases are normalised
// alike: lower case, punctuation as spaces, and per language: English contractions expanded
// ("don't", "dont" -> "do not"), Spanish accents dropped ("suicidarmé" -> "suicidarme"), Arabic
// diacritics and tatweel dropped and letter variants unified (أ إ آ -> ا, ى -> ي, ة -> ه). A
// negation never cancels a match (see the list's rules of thumb).

// No other module of the page: the member page imports this one by itself (member.js), when it
// first needs it, as a chunk that shares nothing with the page (server/bundles.py).
import { CRISIS_PHRASES } from "./crisisphrases.js";

// English is always checked; another language's list is fetched only by a page in it.
const SHIPPED = {
  en: async () => CRISIS_PHRASES,
  es: async () => (await import("./crisisphrases_es.js")).CRISIS_PHRASES_ES,
  ar: async () => (await import("./crisisphrases_ar.js")).CRISIS_PHRASES_AR,
};

const GAP_WORDS = 3; // how many words ".." stands for, at most

// Apostrophe forms first, then the same words typed without one.
const CONTRACTIONS = [
  [/\bwon't\b/g, "will not"],
  [/\bcan't\b/g, "can not"],
  [/\bshan't\b/g, "shall not"],
  [/\bain't\b/g, "am not"],
  [/n't\b/g, " not"],
  [/'m\b/g, " am"],
  [/'re\b/g, " are"],
  [/'ve\b/g, " have"],
  [/'ll\b/g, " will"],
  [/'d\b/g, " would"],
];
const WORDS = new Map(
  Object.entries({
    cannot: "can not",
    cant: "can not",
    dont: "do not",
    doesnt: "does not",
    didnt: "did not",
    isnt: "is not",
    wasnt: "was not",
    arent: "are not",
    werent: "were not",
    couldnt: "could not",
    wouldnt: "would not",
    shouldnt: "should not",
    havent: "have not",
    hasnt: "has not",
    hadnt: "had not",
    aint: "am not",
    im: "i am",
    ive: "i have",
    wanna: "want to",
    gonna: "going to",
    gotta: "got to",
    kms: "kill myself",
  }),
);

/** One word (or a phrase's token) as the `language`'s phrases see it. */
function fold(word, language) {
  if (language === "es") return word.normalize("NFD").replace(/\p{M}/gu, "");
  if (language === "ar") {
    return word
      .replace(/[\u064b-\u065f\u0670\u0640]/g, "") // harakat, superscript alef, tatweel
      .replace(/[\u0622\u0623\u0625\u0671]/g, "\u0627") // alef with madda or hamza -> alef
      .replace(/\u0649/g, "\u064a") // alef maqsura -> yeh
      .replace(/\u0629/g, "\u0647"); // teh marbuta -> heh
  }
  return word;
}

/** The words of `text` as the phrases of `language` see them. */
export function normalise(text, language = "en") {
  let s = String(text).normalize("NFKC").toLowerCase().replace(/[\u2018\u2019\u02bc\u0060\u00b4]/g, "'");
  if (language === "en") for (const [pattern, replacement] of CONTRACTIONS) s = s.replace(pattern, replacement);
  s = fold(s, language); // before splitting: a diacritic is a mark, not a letter, and splits no word
  const words = [];
  for (const word of s.split(/[^\p{L}\p{N}]+/u)) {
    if (!word) continue;
    if (language !== "en") words.push(word);
    else if (word === "more" && words.at(-1) === "any") words[words.length - 1] = "anymore";
    else words.push(...(WORDS.get(word) || word).split(" "));
  }
  return words;
}

function compileWord(alternatives, language) {
  const exact = new Set();
  const prefixes = [];
  for (const alternative of alternatives.split("|")) {
    if (alternative.endsWith("*")) prefixes.push(fold(alternative.slice(0, -1), language));
    else exact.add(fold(alternative, language));
  }
  return (word) => exact.has(word) || prefixes.some((prefix) => word.startsWith(prefix));
}

/** One line of the list: `{source, steps}`, a step being a word test or a gap. */
export function compilePhrase(line, language = "en") {
  const steps = line
    .trim()
    .normalize("NFKC")
    .toLowerCase()
    .split(/\s+/)
    .map((token) => (token === ".." ? { gap: true } : { test: compileWord(token, language) }));
  return { source: line.trim(), steps };
}

/** An organisation's crisis word: matched whole, word by word, normalised like the text. */
function literalPhrase(words, language) {
  const tokens = normalise(words, language);
  return { source: words, steps: tokens.map((token) => ({ test: (word) => word === token })) };
}

function matchesAt(steps, words, step, at) {
  if (step === steps.length) return true;
  if (steps[step].gap) {
    for (let skip = 0; skip <= GAP_WORDS && at + skip <= words.length; skip++) {
      if (matchesAt(steps, words, step + 1, at + skip)) return true;
    }
    return false;
  }
  return at < words.length && steps[step].test(words[at]) && matchesAt(steps, words, step + 1, at + 1);
}

export class CrisisCheck {
  /** `listText`: the phrase list's text; `extraWords`: the organisation's crisis_words;
   * `language`: how text and phrases are normalised ("en", "es", "ar"). */
  constructor(listText, extraWords = [], language = "en") {
    const lines = listText.split("\n").filter((line) => line.trim() && !line.trim().startsWith("#"));
    this.language = language;
    this.phrases = [
      ...lines.map((line) => compilePhrase(line, language)),
      ...extraWords.filter((w) => w.trim()).map((w) => literalPhrase(w, language)),
    ].filter((p) => p.steps.length);
  }

  /** The phrase `text` matched (its source line), or null. */
  match(text) {
    const words = normalise(text, this.language);
    for (const phrase of this.phrases) {
      for (let at = 0; at < words.length; at++) {
        if (matchesAt(phrase.steps, words, 0, at)) return phrase.source;
      }
    }
    return null;
  }
}

/** Several languages' checks as one: the first match of any. */
class CrisisChecks {
  constructor(checks) {
    this.checks = checks;
  }

  match(text) {
    for (const check of this.checks) {
      const found = check.match(text);
      if (found !== null) return found;
    }
    return null;
  }
}

/**
 * Every shipped language's check at once (the console's triage: a facilitator reads members who
 * write in any of them): each list (or the organisation's replacement from `lists`) with the
 * organisation's words for that language from `wordsByLanguage` (else `extraWords`).
 */
export async function loadEveryLanguage(extraWords = [], wordsByLanguage = {}, lists = {}) {
  const checks = [];
  for (const [code, shipped] of Object.entries(SHIPPED)) {
    const list = typeof lists[code] === "string" ? lists[code] : await shipped();
    checks.push(new CrisisCheck(list, wordsByLanguage[code] ?? extraWords, code));
  }
  return new CrisisChecks(checks);
}

/**
 * The page's check in `language` (the page's language, e.g. "es"): that language's phrase list (the
 * organisation's replacement from `lists`, else the shipped one) plus the organisation's
 * `extraWords`. A page in another language than English also checks the English list: people
 * write in more than one language, and a missed crisis is worse than one extra dialog.
 */
export async function loadCrisisCheck(extraWords = [], language = "en", lists = {}) {
  const listOf = async (code) => (typeof lists[code] === "string" ? lists[code] : ((await SHIPPED[code]?.()) ?? ""));
  const own = new CrisisCheck(await listOf(language), extraWords, language);
  return language === "en" ? own : new CrisisChecks([own, new CrisisCheck(await listOf("en"), [], "en")]);
}
