"""The hybrid suite 2 in the page (docs/protocol.md §6.9): a group of browsers with ML-KEM-768 is
protected against future quantum computers and says so; a group with a client of suite 1 only
stays on standard protection; a commit that lowers the suite, written by a hostile server into
its own database, is refused by the page and shown."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
from playwright.sync_api import expect

from crypto.commits import build_commit, parse_commit
from crypto.encoding import b64encode
from crypto.groupstate import anchor_bytes
from crypto.keys import MemberKeys
from crypto.suite import SUITE, SUITE_HYBRID
from server.client import HearthClient
from tests.browser.axe import expect_accessible
from tests.browser.steps import (
    Pages,
    create_group,
    create_invite,
    expect_message,
    facilitator_logs_in,
    keyed_member,
    member_joins,
    send,
    wait_keyed,
    wait_until,
)
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD

pytestmark = pytest.mark.browser

PROTECTED = "Protected against future quantum computers"


def _head_commit(database: Any, name: str) -> tuple[bytes, bytes]:
    with closing(sqlite3.connect(database)) as conn:
        group, epoch = conn.execute(
            "SELECT group_id, current_epoch FROM groups WHERE name = ?", (name,)
        ).fetchone()
        blob = conn.execute(
            "SELECT commit_blob FROM epochs WHERE group_id = ? AND epoch = ?", (group, epoch)
        ).fetchone()[0]
    return bytes(group), bytes(blob)


def test_a_group_of_browsers_is_protected_and_a_downgrade_is_refused(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Quantum circle", join="open")
    invite = create_invite(console)
    fox = keyed_member(pages, invite, "Quiet Fox")
    expect(fox.locator("#chat-protection")).to_have_text(PROTECTED)
    expect(console.locator("#epoch")).to_contain_text(PROTECTED)
    send(fox, "said today, private in thirty years")
    expect_message(fox, "said today, private in thirty years")
    group, blob = _head_commit(pages.server.database, "Quantum circle")
    held = parse_commit(blob)
    assert held.suite == SUITE_HYBRID
    assert len(held.roster) == 2
    expect_accessible(fox, "hybrid group")

    # A hostile server appends a suite-1 commit (all else well formed) to take the group back
    # to wraps a future quantum computer could open.
    intruder = MemberKeys.generate(hybrid=False)
    lower, _ = build_commit(
        group_id=group,
        epoch=held.epoch + 1,
        prev_commit_hash=held.hash,
        committer=intruder,
        roster=[*held.roster, intruder.entry],
        facilitators=held.facilitators,
    )
    assert lower.suite == SUITE
    with closing(sqlite3.connect(pages.server.database, timeout=10)) as conn, conn:
        conn.execute(
            "INSERT INTO epochs (group_id, epoch, commit_blob, commit_hash, committer_id, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (
                group,
                lower.epoch,
                lower.raw,
                lower.hash,
                intruder.member_id,
                int(time.time() * 1000),
            ),
        )
        conn.execute("UPDATE groups SET current_epoch = ? WHERE group_id = ?", (lower.epoch, group))
    fox.reload()
    fox.locator("#group-list button").first.click()
    expect(fox.locator("#chat-note")).to_contain_text("lower this group's protection")
    expect(fox.locator("#chat-note")).to_have_attribute("data-untrusted", "true")
    expect(fox.locator("#compose")).to_be_hidden()
    expect(fox.locator("#chat-protection")).to_have_text(PROTECTED)  # the held, verified suite
    held_epoch = fox.evaluate(
        "async () => (await (await import('/js/keystore.js')).groups())[0].latest"
    )
    assert held_epoch == held.epoch


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    runner = threading.Thread(target=running.run_forever, daemon=True)
    runner.start()
    try:
        yield running
    finally:
        running.call_soon_threadsafe(running.stop)
        runner.join(timeout=5)
        running.close()


def test_a_group_with_a_suite_1_client_stays_on_standard_protection(
    pages: Pages, loop: asyncio.AbstractEventLoop
) -> None:
    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    host = HearthClient(pages.server.url)  # a client of suite 1 only
    try:
        run(host.login(FACILITATOR, FACILITATOR_PASSWORD))
        run(host.connect())
        group = run(
            host.create_group(
                "Mixed circle", pseudonym="Host Heron", join_policy="open", rules="Please be kind."
            )
        )
        token = run(host.create_invite(group))
        assert token.invite_key is not None
        assert token.anchor is not None
        link = (
            f"invite={token}&key={b64encode(token.invite_key.raw())}"
            f"&anchor={b64encode(anchor_bytes(*token.anchor))}"
        )
        fox = member_joins(pages, link, "Quiet Fox")
        run(host.rotate(group))  # the Python host commits the epoch that keys the newcomer
        wait_keyed(fox)
        expect(fox.locator("#chat-protection")).to_have_text("Standard protection")
        send(fox, "mixed but working")
        run(host.wait_for(lambda: "mixed but working" in host.texts(group)))
        _, blob = _head_commit(pages.server.database, "Mixed circle")
        assert parse_commit(blob).suite == SUITE
        expect_accessible(fox, "standard group")
    finally:
        run(host.disconnect())


# A browser without ML-KEM-768 in its WebCrypto (as Firefox or Safari may be), until the test
# sets the flag: then the same browser "is updated" and has it.
NO_MLKEM = """
(() => {
  const generateKey = SubtleCrypto.prototype.generateKey;
  SubtleCrypto.prototype.generateKey = function (algorithm, ...rest) {
    const name = typeof algorithm === "string" ? algorithm : algorithm?.name;
    if (name === "ML-KEM-768" && !localStorage.getItem("test-has-mlkem")) {
      return Promise.reject(new DOMException("Unrecognized name", "NotSupportedError"));
    }
    return generateKey.call(this, algorithm, ...rest);
  };
})();
"""


def test_a_browser_that_gains_mlkem_sends_its_key_and_the_group_moves_up(
    pages: Pages, loop: asyncio.AbstractEventLoop
) -> None:
    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    host = HearthClient(pages.server.url)  # a client of suite 1 only, for now
    try:
        run(host.login(FACILITATOR, FACILITATOR_PASSWORD))
        run(host.connect())
        group = run(
            host.create_group(
                "Upgrade circle", pseudonym="Host Heron", join_policy="open", rules="Be kind."
            )
        )
        token = run(host.create_invite(group))
        assert token.invite_key is not None
        assert token.anchor is not None
        link = (
            f"invite={token}&key={b64encode(token.invite_key.raw())}"
            f"&anchor={b64encode(anchor_bytes(*token.anchor))}"
        )
        fox = pages.open("/recipe.html")  # a page of the server with no session yet
        fox.context.add_init_script(NO_MLKEM)
        fox.goto(pages.server.url + "/#" + link)
        assert fox.evaluate("async () => (await import('/js/crypto.js')).supportsHybrid()") is False
        fox.fill("#join-pseudonym", "Quiet Fox")
        fox.check("#join-accept")
        fox.click("#join-submit")
        expect(fox.locator("#chat")).to_be_visible()
        run(host.rotate(group))
        wait_keyed(fox)
        expect(fox.locator("#chat-protection")).to_have_text("Standard protection")

        def fox_key() -> object:
            listing = run(host.members(group))
            return next(m["pq_key"] for m in listing["members"] if m["pseudonym"] == "Quiet Fox")

        assert fox_key() is None
        fox.evaluate("() => localStorage.setItem('test-has-mlkem', '1')")  # the browser updated
        fox.reload()
        wait_until(fox, lambda: fox_key() is not None, "the page sent its ML-KEM key")
        host.hybrid = True
        run(host.send_pq_key(group))
        run(host.rotate(group))
        _, blob = _head_commit(pages.server.database, "Upgrade circle")
        assert parse_commit(blob).suite == SUITE_HYBRID
        fox.locator("#group-list button").first.click()
        expect(fox.locator("#chat-protection")).to_have_text(PROTECTED)
        send(fox, "protected from now on")
        run(host.wait_for(lambda: "protected from now on" in host.texts(group)))
    finally:
        run(host.disconnect())
