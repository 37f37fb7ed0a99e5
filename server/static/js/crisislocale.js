// The organisation's crisis lists for this member's language and country (/api/settings,
// docs/protocol.md "Public settings"): safety.crisis_resources_by_locale and
// safety.crisis_words_by_locale are keyed by a language ("es") or a language and country
// ("es-MX"); the most specific key that fits the page's locale wins, and the default lists
// (crisis_resources, crisis_words) serve everyone else.

import { locale, localeTag } from "./i18n.js";

/** The entry of `byLocale` for the page's tag ("es-MX"), else its language ("es"), else undefined. */
export function pick(byLocale, tag = localeTag, language = locale) {
  const entries = Object.entries(byLocale || {});
  const find = (wanted) => entries.find(([key]) => key.toLowerCase() === wanted.toLowerCase())?.[1];
  return find(tag) ?? find(language);
}

/** The crisis services to show this member. */
export function resourcesFor(settings) {
  return pick(settings.crisis_resources_by_locale) ?? settings.crisis_resources ?? [];
}

/** The organisation's crisis words for this member's language (added to the phrase list). */
export function wordsFor(settings) {
  return pick(settings.crisis_words_by_locale) ?? settings.crisis_words ?? [];
}

/** The organisation's replacements of shipped phrase lists, by language. */
export function phraseListsOf(settings) {
  return settings.crisis_phrases_by_locale || {};
}
