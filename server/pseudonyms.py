"""Pseudonym rules: what a person may call themselves in a group, and what counts as the same.

A pseudonym is NFKC-normalised, 2–32 characters, and free of control, format (bidi overrides,
zero-width joiners, ...) and unassigned characters, so that it renders as what it says. Two
pseudonyms that a reader could mistake for each other share a *skeleton* (in the spirit of
Unicode TR39 §4): the skeleton drops case, accents, separators and maps look-alike letters
from Cyrillic, Greek and digits onto Latin ones, so "Quiet Fox", "quiet_fox" and "Qu1et Fοx"
(Greek omicron) collide.

A pseudonym cannot pass for a role or for a label the page shows: the page draws a member's
role as its own badge, so "Quiet Fox (facilitator)" or "Moderator Sam" written into a name
would be a lie. Under the same skeleton, a name is refused when it contains one of
``ROLE_WORDS`` anywhere, when one of its words is one of ``ROLE_SHORT_WORDS`` (short words are
matched whole, so that "Ghost" and "Badminton" stay free), or when the whole name is one of
``PAGE_LABELS``. Only a facilitator's own membership in a group it created may use a role word.
"""

from __future__ import annotations

import unicodedata

from server.errors import Code, HearthError

MIN_LENGTH = 2
MAX_LENGTH = 32

# Look-alikes onto one Latin representative. Multi-letter sequences (rn → m) are folded after.
_CONFUSABLES = str.maketrans(
    {
        "0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
        "i": "l", "|": "l", "!": "l", "$": "s", "@": "a",
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "l", "ј": "j",
        "ԁ": "d", "ԛ": "q", "ԝ": "w", "ɡ": "g", "ѵ": "v", "ї": "l", "ӏ": "l", "з": "e",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "l", "κ": "k", "ν": "v", "ο": "o",
        "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "μ": "u", "γ": "y",
    }
)  # fmt: skip
_SEQUENCES = (("rn", "m"), ("vv", "w"), ("cl", "d"))
_SEPARATORS = {"Zs", "Pc", "Pd", "Po"}
_FORBIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


# Words that name a role anywhere in a name (matched inside words too: "TheModerator").
# The page speaks English, Spanish and Arabic (server/static/i18n): its role words in each.
ROLE_WORDS = (
    "facilitator", "moderator", "administrator", "organiser", "organizer",
    "facilitador", "moderador", "administrador", "organizador",
)  # fmt: skip
# Short role words, matched as whole words (optionally followed by digits: "admin2").
ROLE_SHORT_WORDS = ("admin", "mod", "host", "staff", "system", "official", "ميسر", "مشرف")
# What the page itself writes where a name goes.
PAGE_LABELS = ("you", "former member", "tú", "antiguo miembro", "أنت", "عضو سابق")


def normalise_pseudonym(raw: str, *, may_name_role: bool = False) -> str:
    """The pseudonym as stored and shown; HearthError(pseudonym_invalid) with the reason.

    ``may_name_role`` is for a facilitator's own membership, whose role is real."""
    if not isinstance(raw, str):
        raise HearthError(Code.PSEUDONYM_INVALID, "a pseudonym must be text")
    name = unicodedata.normalize("NFKC", raw).strip()
    for char in name:
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            raise HearthError(
                Code.PSEUDONYM_INVALID,
                f"a pseudonym cannot contain invisible or control characters (U+{ord(char):04X})",
            )
    if "  " in name:
        raise HearthError(Code.PSEUDONYM_INVALID, "a pseudonym cannot contain double spaces")
    if not MIN_LENGTH <= len(name) <= MAX_LENGTH:
        raise HearthError(
            Code.PSEUDONYM_INVALID,
            f"a pseudonym must be {MIN_LENGTH} to {MAX_LENGTH} characters long",
        )
    if not any(char.isalnum() for char in name):
        raise HearthError(Code.PSEUDONYM_INVALID, "a pseudonym needs at least one letter or digit")
    if skeleton(name) in _LABEL_SKELETONS:
        raise HearthError(
            Code.PSEUDONYM_INVALID, "this name is one the page uses itself; please pick another"
        )
    if not may_name_role and names_a_role(name):
        raise HearthError(
            Code.PSEUDONYM_INVALID,
            "a pseudonym cannot contain a role such as facilitator, moderator, admin or host: "
            "roles are shown next to names by the page",
        )
    return name


def names_a_role(name: str) -> bool:
    """True if a reader could take the name for a role (see the module's docstring)."""
    whole = skeleton(name)
    if any(role in whole for role in _ROLE_SKELETONS):
        return True
    words = "".join(" " if unicodedata.category(c) in _SEPARATORS else c for c in name).split()
    for word in words:
        folded = skeleton(word.rstrip("0123456789"))
        if folded in _SHORT_SKELETONS:
            return True
    return False


def skeleton(name: str) -> str:
    """A key under which pseudonyms a reader could confuse are equal."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    kept = "".join(
        char
        for char in decomposed
        if unicodedata.category(char) != "Mn" and unicodedata.category(char) not in _SEPARATORS
    )
    folded = kept.translate(_CONFUSABLES)
    for sequence, replacement in _SEQUENCES:
        folded = folded.replace(sequence, replacement)
    return folded


_ROLE_SKELETONS = tuple(skeleton(word) for word in ROLE_WORDS)
_SHORT_SKELETONS = frozenset(skeleton(word) for word in ROLE_SHORT_WORDS)
_LABEL_SKELETONS = frozenset(skeleton(label) for label in PAGE_LABELS)
