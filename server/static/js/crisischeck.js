// The on-device crisis check: does a message about to be sent say something that should make
// the page offer crisis support first? It runs only in this browser; nothing is sent anywhere.
//
// The phrases are data (crisisphrases.js, its syntax is described at its top); the
// organisation's safety.crisis_words add to them as whole-word phrases. Text and phrases are
// normalised alike: lower case, contractions expanded ("don't", "dont" -> "do not"), punctuation
// as spaces. A negation never cancels a match (see the list's rules of thumb).

import { CRISIS_PHRASES } from "./crisisphrases.js";

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

/** The words of `text` as the phrases see them. */
export function normalise(text) {
  let s = String(text).normalize("NFKC").toLowerCase().replace(/[\u2018\u2019\u02bc\u0060\u00b4]/g, "'");
  for (const [pattern, replacement] of CONTRACTIONS) s = s.replace(pattern, replacement);
  const words = [];
  for (const word of s.split(/[^\p{L}\p{N}]+/u)) {
    if (!word) continue;
    if (word === "more" && words.at(-1) === "any") words[words.length - 1] = "anymore";
    else words.push(...(WORDS.get(word) || word).split(" "));
  }
  return words;
}

function compileWord(alternatives) {
  const exact = new Set();
  const prefixes = [];
  for (const alternative of alternatives.split("|")) {
    if (alternative.endsWith("*")) prefixes.push(alternative.slice(0, -1));
    else exact.add(alternative);
  }
  return (word) => exact.has(word) || prefixes.some((prefix) => word.startsWith(prefix));
}

/** One line of the list: `{source, steps}`, a step being a word test or a gap. */
export function compilePhrase(line) {
  const steps = line
    .trim()
    .toLowerCase()
    .split(/\s+/)
    .map((token) => (token === ".." ? { gap: true } : { test: compileWord(token) }));
  return { source: line.trim(), steps };
}

/** An organisation's crisis word: matched whole, word by word, normalised like the text. */
function literalPhrase(words) {
  const tokens = normalise(words);
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
  /** `listText`: the phrase list's text; `extraWords`: the organisation's crisis_words. */
  constructor(listText, extraWords = []) {
    const lines = listText.split("\n").filter((line) => line.trim() && !line.trim().startsWith("#"));
    this.phrases = [...lines.map(compilePhrase), ...extraWords.filter((w) => w.trim()).map(literalPhrase)].filter((p) => p.steps.length);
  }

  /** The phrase `text` matched (its source line), or null. */
  match(text) {
    const words = normalise(text);
    for (const phrase of this.phrases) {
      for (let at = 0; at < words.length; at++) {
        if (matchesAt(phrase.steps, words, 0, at)) return phrase.source;
      }
    }
    return null;
  }
}

/** The page's check: the shipped list (crisisphrases.js) plus the organisation's `extraWords`. */
export async function loadCrisisCheck(extraWords = []) {
  return new CrisisCheck(CRISIS_PHRASES, extraWords);
}
