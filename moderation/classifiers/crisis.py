"""Marks a report urgent when its message or reason contains crisis language.

Matching is on NFKC-normalised, case-folded text with word boundaries, so "ＫＩＬＬ myself"
matches "kill myself" while "skill" does not match "kill". Words of a phrase may be separated by
any run of whitespace.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from moderation.reports import Priority, Report
from moderation.settings import refuse_unknown, strings

DEFAULT_PHRASES = (
    "suicide",
    "suicidal",
    "kill myself",
    "end my life",
    "want to die",
    "self-harm",
    "self harm",
    "overdose",
    "hurt myself",
)


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = sorted(
        (r"\s+".join(re.escape(word) for word in normalise(p).split()) for p in phrases),
        key=len,
        reverse=True,  # longest first, so a phrase wins over a word it starts with
    )
    # (?<!\w)…(?!\w) rather than \b: a phrase may start or end with a non-word character.
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


class CrisisLanguageClassifier:
    """Settings: ``phrases`` (list of words or phrases), ``include_reason`` (bool, default true)."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        refuse_unknown(settings, ("phrases", "include_reason"))
        self.phrases = strings(settings, "phrases", DEFAULT_PHRASES)
        self.include_reason = bool(settings.get("include_reason", True))
        self._pattern = _pattern(self.phrases)

    def matches(self, text: str) -> bool:
        return self._pattern.search(normalise(text)) is not None

    def classify(self, report: Report) -> Priority:
        # A reporter who writes "they said they want to die" is flagging a crisis too.
        texts = (report.content, report.reason) if self.include_reason else (report.content,)
        return Priority.URGENT if any(self.matches(t) for t in texts) else Priority.NORMAL
