// The shipped crisis phrase list (server/static/js/crisischeck.js reads it): data, kept as a
// module so that it is versioned, preloaded and cached with the page like every other file.
// Edit the text between the backquotes; its syntax is described at its top.
export const CRISIS_PHRASES = String.raw`# Phrases that make the member page offer crisis support before a message is sent.
# The check runs only in the member's browser (server/static/js/crisischeck.js); nothing is sent.
#
# Syntax, one phrase per line (lines starting with # are comments):
#   words are matched whole, after the text is lower-cased, contractions are expanded
#     ("don't" and "dont" -> "do not", "can't" -> "can not", "I'm" -> "i am", "wanna" -> "want to",
#     "kms" -> "kill myself") and punctuation becomes spaces ("self-harm" -> "self harm");
#   a|b|c    any one of these single words (a choice of longer phrases takes one line each);
#   word*    the word with any ending ("overdos*" matches overdose, overdosed, overdosing);
#   ..       up to three other words may stand here ("want .. to die": "want so much to die").
#
# Rules of thumb for editing (tests/browser/crisis_corpus.tsv must still pass):
#   - A negation never cancels a match: "I'm not going to kill myself" still offers support.
#     Where the negation IS the crisis ("I don't want to live"), the phrase starts with not|never.
#   - Bare words with everyday meanings (die, dead, kill, cut, killing me) are never a phrase on
#     their own: "this traffic is killing me", "the battery died" and "cutting vegetables" must not
#     trigger. Tie them to the self (myself, my wrists) or to intent (want .. to die).
#   - When unsure, prefer offering support (a missed crisis is worse than one extra dialog), but
#     leave out common idioms that would make the dialog something people learn to click away.

# suicide
suicid*
kill* myself
kill* my self
unalive*
sewerslide
end* my life
end* my own life
end* it all
take|taking|took my own life
want* .. to die
want* .. to be dead
ready to die
wish* .. i was|were dead
wish* .. i could|would die
wish* .. i was|were not alive
wish* .. i was|were never born
wish* .. i had never|not been born
better off dead
better off without me
better without me
rather be dead
not|never .. want to live
not|never .. want to be alive
not|never .. want to exist
not|never .. want to be here anymore
not|never .. want to be around anymore
not|never .. want to wake up
hope .. not|never wake up
sleep .. never wake up
tired of living
tired of being alive
no reason to live
no reason to go on
nothing .. to live for
not worth living
can not go on
can not keep going
not .. keep myself safe
disappear forever
hang* myself
shoot* myself
drown* myself
gas myself
poison* myself
jump* off .. bridge|building|roof|cliff|balcony
jump* in front of .. train|car|bus|lorry|truck
step* in front of .. train|car|bus|lorry|truck
slit* my wrist*|throat
slash* my wrist*

# self-harm
self harm*
selfharm*
self injur*
self mutilat*
cut* myself
cutting again
i cut again
cut* my arm|arms|wrist|wrists|leg|legs|thigh|thighs|skin
urge* to cut|self|hurt|harm|burn
hurting myself
hurt myself again|deliberately
hurt myself on purpose
want* .. to hurt myself
going to hurt myself
harm* myself
burning myself
burn* myself on purpose
starv* myself

# overdose and poisoning
overdos*
od|oding|oded
take|taking|took|swallow*|down .. all .. pills|tablets|meds|medication at once
swallow* .. all .. pills|tablets|meds
whole bottle|packet|box|pack of pills|tablets|paracetamol|meds
stockpil* .. pills|tablets|meds|medication
`;
