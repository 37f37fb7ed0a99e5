"""The page verifies the group (docs/protocol.md §6.4–6.5): a hostile server, simulated by
writing to the real server's SQLite file, cannot get a hidden member keyed, and every verified
membership change is shown in the conversation."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import time
from contextlib import closing
from typing import Any

import pytest
from playwright.sync_api import expect

from crypto.authorisations import sign_admission
from crypto.commits import build_commit, parse_commit
from crypto.encoding import b64encode
from crypto.keys import MemberKeys
from server.client import HearthClient
from tests.browser.steps import (
    Pages,
    approve,
    create_group,
    create_invite,
    epoch_of,
    expect_message,
    facilitator_logs_in,
    keyed_member,
    member_joins,
    send,
    wait_keyed,
    wait_until,
)
from tests.server.test_group_trust import _commit_with_a_bad_wrap

pytestmark = pytest.mark.browser


def _create_group(console: Any, name: str) -> None:
    console.click("#create-panel summary")
    console.fill("#create-name", name)
    console.fill("#create-rules", f"Rules of {name}: be kind.")
    console.fill("#create-pseudonym", "Host Birch")
    console.select_option("#create-join", "approval")
    console.click("#create-form button[type=submit]")
    expect(console.locator("#group-title")).to_have_text(name)


def _group_of(database: Any, name: str) -> tuple[bytes, int]:
    with closing(sqlite3.connect(database)) as conn:
        row = conn.execute(
            "SELECT group_id, current_epoch FROM groups WHERE name = ?", (name,)
        ).fetchone()
    return bytes(row[0]), int(row[1])


def _insert_hidden_member(
    conn: sqlite3.Connection, group: bytes, hidden: MemberKeys, first_epoch: int | None
) -> None:
    account, now = os.urandom(32), int(time.time() * 1000)
    conn.execute("INSERT INTO accounts (account_pk, created_at) VALUES (?, ?)", (account, now))
    conn.execute(
        "INSERT INTO members (group_id, member_id, account_pk, sig_pk, kem_pk, pseudonym, "
        "skeleton, state, facilitator_id, first_epoch, joined_at, muted_until, pq_key) "
        "VALUES (?, ?, ?, ?, ?, 'Ghost', 'ghost', 'active', NULL, ?, ?, NULL, ?)",
        (
            group,
            hidden.member_id,
            account,
            hidden.signing.public,
            hidden.kem.public,
            first_epoch,
            now,
            # an ML-KEM key of its own, so that only the missing admission gives it away
            hidden.pq_key(group).encode(),
        ),
    )


def test_timeline_shows_verified_joins_and_a_forged_commit_is_refused(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    _create_group(console, "Trusted circle")
    invite = create_invite(console)
    fox = member_joins(pages, invite, "Quiet Fox")
    approve(console, "Quiet Fox")
    wait_keyed(fox)
    changes = fox.locator("#messages li.membership-change")
    expect(changes.filter(has_text="You joined, admitted by Host Birch")).to_have_count(1)
    wren = member_joins(pages, invite, "Bright Wren")
    approve(console, "Bright Wren")
    wait_keyed(wren)
    expect(changes.filter(has_text="Bright Wren joined, admitted by Host Birch")).to_have_count(1)

    # The database writer appends the next epoch: it extends the chain and is sealed to every
    # member, but a member nobody admitted signed it and is in it.
    group, epoch = _group_of(pages.server.database, "Trusted circle")
    with closing(sqlite3.connect(pages.server.database)) as conn:
        blob = conn.execute(
            "SELECT commit_blob FROM epochs WHERE group_id = ? AND epoch = ?", (group, epoch)
        ).fetchone()[0]
    held = parse_commit(bytes(blob))
    hidden = MemberKeys.generate()
    forged, _ = build_commit(
        group_id=group,
        epoch=epoch + 1,
        prev_commit_hash=held.hash,
        committer=hidden,
        roster=[*held.roster, hidden.entry],
        facilitators=held.facilitators,
        # in the group's own suite (the page made it hybrid), so only the hidden member is wrong
        pq_keys={**held.pq_map(), hidden.member_id: hidden.pq_key(group)},
    )
    with closing(sqlite3.connect(pages.server.database, timeout=10)) as conn, conn:
        _insert_hidden_member(conn, group, hidden, epoch + 1)
        conn.execute(
            "INSERT INTO epochs (group_id, epoch, commit_blob, commit_hash, committer_id, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (group, epoch + 1, forged.raw, forged.hash, hidden.member_id, int(time.time() * 1000)),
        )

    fox.reload()  # the page fetches the commits after the one it holds, and checks them
    fox.locator("#group-list button").first.click()
    expect(fox.locator("#chat-note")).to_contain_text("without a facilitator's signed")
    expect(fox.locator("#chat-note")).to_have_attribute("data-untrusted", "true")
    expect(fox.locator("#compose")).to_be_hidden()
    # it stayed in the epoch it trusts: the forged one never became its own
    held_epoch = fox.evaluate(
        """async () => {
          const store = await import('/js/keystore.js');
          return (await store.groups())[0].latest;
        }"""
    )
    assert held_epoch == epoch


def test_console_refuses_to_key_a_member_nobody_admitted(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    _create_group(console, "Guarded circle")
    invite = create_invite(console)
    fox = member_joins(pages, invite, "Quiet Fox")
    approve(console, "Quiet Fox")
    wait_keyed(fox)
    group, epoch = _group_of(pages.server.database, "Guarded circle")

    # The database writer adds an active member with an "admission" it signed itself under the
    # facilitator's member_id (it has no facilitator key).
    with closing(sqlite3.connect(pages.server.database)) as conn:
        facilitator_id = conn.execute(
            "SELECT member_id FROM members WHERE group_id = ? AND facilitator_id IS NOT NULL",
            (group,),
        ).fetchone()[0]
    hidden = MemberKeys.generate()
    forged = sign_admission(group, hidden, hidden.entry, epoch=epoch)
    forged = type(forged)(
        forged.role, forged.epoch, forged.entry, bytes(facilitator_id), forged.signature
    )
    with closing(sqlite3.connect(pages.server.database, timeout=10)) as conn, conn:
        _insert_hidden_member(conn, group, hidden, None)
        conn.execute(
            "INSERT INTO member_authorisations (group_id, member_id, admission) VALUES (?, ?, ?)",
            (group, hidden.member_id, forged.encode()),
        )

    # A real join makes the server read the group again, hidden member included; approving it
    # makes the console rotate, and the console refuses to seal the keys to the hidden member.
    member_joins(pages, invite, "Bright Wren")
    approve(console, "Bright Wren")
    expect(console.locator("#status")).to_contain_text("Key rotation failed")
    expect(console.locator("#status")).to_contain_text("admission does not verify")
    time.sleep(1)  # members' pages try too, after their own delay
    with closing(sqlite3.connect(pages.server.database)) as conn:
        keyed = conn.execute(
            "SELECT first_epoch FROM members WHERE group_id = ? AND member_id = ?",
            (group, hidden.member_id),
        ).fetchone()
        current = conn.execute(
            "SELECT current_epoch FROM groups WHERE group_id = ?", (group,)
        ).fetchone()
    assert keyed == (None,)
    assert current == (epoch,)


class SenderRewriter:
    """A test-only relay standing in for a hostile server: every message it passes to the page
    claims another sender in the JSON (`sender_id`) than the one its signed header names."""

    def __init__(self) -> None:
        self.fake = b64encode(os.urandom(16))
        self.rewritten = 0

    def _rewrite(self, message: dict[str, Any]) -> None:
        if isinstance(message, dict) and "sender_id" in message and "envelope" in message:
            message["sender_id"] = self.fake
            self.rewritten += 1

    def __call__(self, ws: Any) -> None:
        server = ws.connect_to_server()

        def to_page(frame: str | bytes) -> None:
            if isinstance(frame, str) and frame.startswith("42"):
                event, *args = json.loads(frame[2:])
                if event == "msg":
                    self._rewrite(args[0])
                elif event == "msg.batch":
                    for message in args[0]["messages"]:
                        self._rewrite(message)
                frame = "42" + json.dumps([event, *args])
            ws.send(frame)

        ws.on_message(server.send)
        server.on_message(to_page)


def test_the_author_shown_is_the_signed_sender(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Named circle", join="open")
    invite = create_invite(console)
    heron = keyed_member(pages, invite, "Calm Heron")
    relay = SenderRewriter()
    wren = keyed_member(pages, invite, "Bright Wren", socket=relay)
    send(heron, "signed by the heron")
    expect_message(wren, "signed by the heron")
    assert relay.rewritten >= 1
    row = wren.locator("#messages li.message", has_text="signed by the heron")
    expect(row.locator(".who")).to_have_text("Calm Heron")


def test_a_page_whose_wrap_does_not_open_recovers_and_the_console_is_told(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Mended circle", join="open")
    invite = create_invite(console)
    fox = keyed_member(pages, invite, "Quiet Fox")
    fragment = dict(part.split("=", 1) for part in invite.split("&"))

    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, daemon=True)
    runner.start()

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

    ben = HearthClient(pages.server.url, hybrid=True)  # the page made a hybrid group
    try:
        run(ben.connect())
        group, _ = run(
            ben.join(
                f"{fragment['invite']}.{fragment['key']}.{fragment['anchor']}",
                pseudonym="Odd Beetle",
            )
        )
        run(ben.wait_for(lambda: ben.keys[group].current > 0))
        wait_until(fox, lambda: epoch_of(console) == ben.keys[group].current, "all keyed")
        fox_id = fox.evaluate(
            """async () => {
              const store = await import('/js/keystore.js');
              return [...(await store.groups())[0].member.memberId];
            }"""
        )
        held = ben.keys[group].latest
        assert held is not None
        raw = _commit_with_a_bad_wrap(ben.keys[group].member, held, bytes(fox_id))
        bad_epoch = held.epoch + 1
        run(ben.call("epoch.commit", {"group_id": b64encode(group), "commit": b64encode(raw)}))

        expect(console.locator("#status")).to_contain_text("could not open the keys")
        expect(console.locator("#status")).to_contain_text(f"epoch {bad_epoch}")
        run(ben.wait_for(lambda: ben.keys[group].current == bad_epoch + 1))
        send(fox, "mended")
        run(ben.wait_for(lambda: "mended" in ben.texts(group)))
    finally:
        run(ben.disconnect())
        loop.call_soon_threadsafe(loop.stop)
        runner.join(timeout=5)
        loop.close()
