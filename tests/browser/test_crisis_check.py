"""The member page's on-device crisis check: the real module and phrase list in Chromium on every
row of the corpus, and its dialog, whose default answer is support, never sending."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.steps import (
    Pages,
    create_group,
    create_invite,
    facilitator_logs_in,
    member_joins,
    wait_keyed,
)
from tests.conftest import RunningServer

CORPUS = Path(__file__).with_name("crisis_corpus.tsv")


def corpus() -> list[tuple[str, str]]:
    lines = [
        line for line in CORPUS.read_text(encoding="utf-8").splitlines() if not line.startswith("#")
    ]
    rows = list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows
    assert all(row["expected"] in ("crisis", "ordinary") for row in rows)
    return [(row["expected"], row["message"]) for row in rows]


ROWS = corpus()


@pytest.fixture(scope="module")
def check_page(browser: Any, module_server: RunningServer) -> Iterator[Any]:
    """A page of the server's origin with the real check loaded from the served list."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(module_server.url + "/healthz")
    page.evaluate(
        """async () => {
            const module = await import('/js/crisischeck.js');
            window.crisis = module;
            window.check = await module.loadCrisisCheck([]);
        }"""
    )
    try:
        yield page
    finally:
        context.close()


@pytest.mark.parametrize(("expected", "message"), ROWS, ids=[m for _, m in ROWS])
def test_corpus_row(check_page: Any, expected: str, message: str) -> None:
    matched = check_page.evaluate("(text) => window.check.match(text)", message)
    if expected == "crisis":
        assert matched is not None, f"missed a crisis message: {message!r}"
    else:
        assert matched is None, f"{message!r} is ordinary but matched the phrase {matched!r}"


def test_the_corpus_covers_the_issue_s_examples() -> None:
    messages = dict((m, e) for e, m in ROWS)
    for crisis in (
        "I want to die",
        "I've been cutting again",
        "I might overdose tonight",
        "I don't want to be here anymore",
        "thinking of ending it all",
        "kill myself",
        "I don't want to live",
    ):
        assert messages[crisis] == "crisis"
    for ordinary in (
        "this traffic is killing me",
        "I'd die for a coffee",
        "the battery died",
        "cutting vegetables for dinner",
    ):
        assert messages[ordinary] == "ordinary"


def test_the_organisation_s_words_add_to_the_list(check_page: Any) -> None:
    found = check_page.evaluate(
        """async () => {
            const check = await window.crisis.loadCrisisCheck(["Blue Line", "can't cope"]);
            const texts = ["the blue-line again", "I cannot cope", "blue liner", "I want to die"];
            return texts.map((text) => check.match(text));
        }"""
    )
    assert found[0] == "Blue Line"
    assert found[1] == "can't cope"  # normalised alike: "cannot" and "can't" are "can not"
    assert found[2] is None  # whole words only
    assert found[3] is not None  # the shipped list still applies


def test_enter_twice_on_the_check_shows_support_and_never_sends(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Enter twice", join="open")
    member = member_joins(pages, create_invite(console), "Calm Otter", width=390, height=844)
    wait_keyed(member)
    member.focus("#compose-text")
    member.keyboard.type("I might overdose tonight")
    member.keyboard.press("Enter")
    check = member.locator("#crisis-check")
    expect(check).to_be_visible()
    expect(check.get_by_role("button", name="See support now")).to_be_focused()
    member.keyboard.press("Enter")
    expect(check).to_be_hidden()
    expect(member.locator("#crisis")).to_be_visible()
    expect(member.locator("#crisis-list")).to_contain_text("Test Crisis Line")
    member.keyboard.press("Escape")
    expect(member.locator("#crisis")).to_be_hidden()
    member.wait_for_timeout(300)
    expect(member.locator("#messages li.message")).to_have_count(0)
    expect(member.locator("#compose-text")).to_have_value("I might overdose tonight")
