"""The crisis-language classifier and how classifier results combine."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moderation.classifiers import prioritise
from moderation.classifiers.crisis import CrisisLanguageClassifier, normalise
from moderation.errors import SettingsError
from moderation.reports import Priority, Report
from tests.moderation.conftest import make_report

CLASSIFIER = CrisisLanguageClassifier({"phrases": ["kill myself", "overdose", "self-harm"]})


@pytest.mark.parametrize(
    "text",
    [
        "I want to kill myself",
        "KILL MYSELF",
        "kill   myself.",
        "kill\nmyself",
        "ｋｉｌｌ ｍｙｓｅｌｆ",  # fullwidth letters fold to ASCII under NFKC
        "thinking about an Overdose tonight",
        "(overdose)",
        "more self-harm again",
    ],
)
def test_matches(text: str) -> None:
    assert CLASSIFIER.matches(text)


@pytest.mark.parametrize(
    "text",
    [
        "skill myself up",
        "overdosed",  # a different word; list it explicitly if wanted
        "killmyself",
        "kill yourself",
        "self harm",  # only the hyphenated form is listed here
        "",
    ],
)
def test_does_not_match_substrings_or_other_words(text: str) -> None:
    assert not CLASSIFIER.matches(text)


def test_classify_marks_content_and_optionally_reason() -> None:
    assert CLASSIFIER.classify(make_report(content="an overdose")) is Priority.URGENT
    assert CLASSIFIER.classify(make_report(reason="said they'd overdose")) is Priority.URGENT
    no_reason = CrisisLanguageClassifier({"phrases": ["overdose"], "include_reason": False})
    assert no_reason.classify(make_report(reason="overdose")) is Priority.NORMAL
    assert CLASSIFIER.classify(make_report()) is Priority.NORMAL


def test_default_phrases_are_used_without_settings() -> None:
    assert CrisisLanguageClassifier({}).matches("I Want To Die")


@pytest.mark.parametrize(
    "settings", [{"phrases": "suicide"}, {"phrases": [""]}, {"phrases": [1]}, {"words": []}]
)
def test_bad_settings_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(SettingsError):
        CrisisLanguageClassifier(settings)


@given(st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=8))
def test_a_phrase_inside_a_longer_word_never_matches(letters: str) -> None:
    # Some letters normalise to a letter plus punctuation (Ŀ → L·): a real word boundary.
    folded = normalise(letters)
    if re.match(r"\w", folded[-1]):
        assert not CLASSIFIER.matches(letters + "overdose")
    if re.match(r"\w", folded[0]):
        assert not CLASSIFIER.matches("overdose" + letters)


class Broken:
    def classify(self, report: Report) -> Priority:
        raise RuntimeError("bug in a plugin")


class Urgent:
    def classify(self, report: Report) -> Priority:
        return Priority.URGENT


def test_prioritise_takes_the_highest_and_survives_a_broken_classifier(
    caplog: pytest.LogCaptureFixture,
) -> None:
    report = make_report()
    assert prioritise(report, []) is Priority.NORMAL
    assert prioritise(report, [Broken(), Urgent()]) is Priority.URGENT
    assert "Broken" in caplog.text
    assert Priority.URGENT > Priority.NORMAL
    assert max(Priority) is Priority.URGENT
