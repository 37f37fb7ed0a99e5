"""Pseudonym rules: what a person may call themselves in a group, and what counts as the same.

A pseudonym is NFKC-normalised, 2–32 characters, and free of control, format (bidi overrides,
zero-width joiners, ...) and unassigned characters, so that it renders as what it says. Two
pseudonyms that a reader could mistake for each other share a *skeleton* (in the spirit of
Unicode TR39 §4): the skeleton drops case, accents, separators and maps look-alike letters
from Cyrillic, Greek and digits onto Latin ones, so "Quiet Fox", "quiet_fox" and "Qu1et Fοx"
(Greek omicron) collide.
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


def normalise_pseudonym(raw: str) -> str:
    """The pseudonym as stored and shown; HearthError(pseudonym_invalid) with the reason."""
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
    return name


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
