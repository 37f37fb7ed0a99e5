"""The page verifies the chain from its invite link's anchor (docs/protocol.md §6.7): a hostile
server, simulated by writing to the real server's SQLite file between two runs, cannot key a
newcomer's page into an epoch it made up; a link without an anchor keys nobody unasked."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing

import pytest
from playwright.sync_api import expect

from crypto.authorisations import sign_admission
from crypto.commits import build_commit, parse_commit
from crypto.keys import MemberKeys
from crypto.roster import PqKey, RosterEntry
from tests.browser.steps import (
    Pages,
    approve,
    create_group,
    create_invite,
    facilitator_logs_in,
    member_joins,
    wait_keyed,
)
from tests.browser.test_group_trust import _group_of

pytestmark = pytest.mark.browser

HELD = """async () => {
  const store = await import('/js/keystore.js');
  return (await store.groups())[0].latest;
}"""


def test_the_page_is_not_keyed_into_a_made_up_epoch(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Anchored circle")
    invite = create_invite(console)
    assert "&anchor=" in invite
    fox = member_joins(pages, invite, "Quiet Fox")  # waits for approval
    group, epoch = _group_of(pages.server.database, "Anchored circle")
    with closing(sqlite3.connect(pages.server.database)) as conn:
        blob = conn.execute(
            "SELECT commit_blob FROM epochs WHERE group_id = ? AND epoch = ?", (group, epoch)
        ).fetchone()[0]
        member_id, sig_pk, kem_pk, pq_key = conn.execute(
            "SELECT member_id, sig_pk, kem_pk, pq_key FROM members WHERE group_id = ? "
            "AND pseudonym = 'Quiet Fox'",
            (group,),
        ).fetchone()
    held = parse_commit(bytes(blob))
    newcomer = RosterEntry(bytes(member_id), bytes(sig_pk), bytes(kem_pk))

    # The server makes up a member, calls it a facilitator and keys fox's page with it.
    fake = MemberKeys.generate()
    forged, _ = build_commit(
        group_id=group,
        epoch=held.epoch + 1,
        prev_commit_hash=held.hash,
        committer=fake,
        roster=[*held.roster, fake.entry, newcomer],
        facilitators=[fake.member_id],
        authorisations=[sign_admission(group, fake, newcomer, epoch=held.epoch)],
        # in the group's own suite (the page made it hybrid), so only the made-up member is wrong
        pq_keys={
            **held.pq_map(),
            fake.member_id: fake.pq_key(group),
            newcomer.member_id: PqKey.decode(bytes(pq_key)),
        },
    )
    # Both pages leave before the server stops (no refused reconnection is an error then).
    console.close()
    fox.goto("about:blank")
    pages.server.stop()
    with closing(sqlite3.connect(pages.server.database, timeout=10)) as conn, conn:
        conn.execute(
            "INSERT INTO epochs (group_id, epoch, commit_blob, commit_hash, committer_id, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (group, forged.epoch, forged.raw, forged.hash, fake.member_id, int(time.time() * 1000)),
        )
        conn.execute(
            "UPDATE groups SET current_epoch = ? WHERE group_id = ?", (forged.epoch, group)
        )
        conn.execute(
            "UPDATE members SET state = 'active', first_epoch = ? "
            "WHERE group_id = ? AND member_id = ?",
            (forged.epoch, group, newcomer.member_id),
        )
    pages.server.start()

    fox.goto(pages.server.url + "/")  # the page fetches the chain from its anchor, checks it
    fox.locator("#group-list button").first.click()
    expect(fox.locator("#chat-note")).to_have_attribute("data-untrusted", "true")
    expect(fox.locator("#chat-note")).to_contain_text("without a facilitator's signed")
    expect(fox.locator("#compose")).to_be_hidden()
    assert fox.evaluate(HELD) == 0  # the made-up epoch never keyed it
    refused = fox.evaluate(
        """async () => {
          const store = await import('/js/keystore.js');
          return (await store.groups())[0].untrusted;
        }"""
    )
    assert any("not a member of the previous epoch" in why for why in refused)


def test_a_link_without_an_anchor_keys_only_when_the_person_trusts_it(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Old links circle")
    invite = create_invite(console)
    old_link = invite.split("&anchor=", 1)[0]  # as links were made before anchors
    fox = member_joins(pages, old_link, "Quiet Fox")
    approve(console, "Quiet Fox")
    expect(fox.locator("#chat-note")).to_contain_text("could not be verified")
    expect(fox.locator("#chat-note")).to_have_attribute("data-unverified", "true")
    expect(fox.locator("#compose")).to_be_hidden()
    assert fox.evaluate(HELD) == 0
    fox.click("#trust-unanchored")
    wait_keyed(fox)
    expect(fox.locator("#chat-note")).not_to_have_attribute("data-unverified", "true")
