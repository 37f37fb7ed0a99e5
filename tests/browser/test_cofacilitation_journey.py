"""Two facilitators share a group (docs/protocol.md §6.8): alice invites bob from her console,
bob joins with keys of his own, alice admits him as a facilitator; both see who is on duty and
both receive a member's report; alice removes bob, whose console loses the group at once, the
group rotates, and bob's browser holds no key to what is said afterwards."""

from __future__ import annotations

import os
import re
import sqlite3
from typing import Any

import pytest
from playwright.sync_api import expect

from crypto.authorisations import sign_admission, sign_leave, sign_removal
from crypto.commits import build_commit
from crypto.encoding import b64decode
from crypto.keys import MemberKeys
from crypto.suite import ROLE_FACILITATOR
from tests.browser.axe import expect_accessible
from tests.browser.steps import (
    HoldingLink,
    Pages,
    expect_message,
    keyed_member,
    open_room,
    send,
    unlabelled_controls,
    wait_until,
)
from tests.conftest import FACILITATOR_PASSWORD

pytestmark = pytest.mark.browser


def log_in(pages: Pages, username: str, socket: Any = None) -> Any:
    page = pages.open("/console.html", width=390, height=844, socket=socket)  # bob: on a phone
    page.fill("#login-username", username)
    page.fill("#login-password", FACILITATOR_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#desk")).to_be_visible()
    expect(page.locator("#connection")).to_have_text("Connected")
    return page


def report(page: Any, text: str) -> None:
    page.locator("#messages li.message", has_text=text).get_by_role(
        "button", name=re.compile("^Report message")
    ).click()
    page.fill("#report-reason", "unkind")
    page.click("#report-send")
    expect(page.locator("#report-dialog")).to_be_hidden()


def server_epoch(pages: Pages, group_id: str) -> int:
    """The group's current epoch as the server stored it."""
    with sqlite3.connect(pages.server.database) as db:
        row = db.execute(
            "SELECT current_epoch FROM groups WHERE group_id = ?", (b64decode(group_id),)
        ).fetchone()
    return int(row[0])


def bobs_record(bob: Any, group_id: str) -> dict[str, Any]:
    """What bob's browser holds for the group: the epochs it can open."""
    return dict(
        bob.evaluate(
            """async (id) => {
                const store = await import('/js/keystore.js');
                const record = await store.group(id);
                return { latest: record?.latest ?? 0, epochs: Object.keys(record?.epochs || {}) };
            }""",
            group_id,
        )
    )


def test_two_facilitators_share_a_group_and_a_removed_one_cannot_read(pages: Pages) -> None:
    alice, invite = open_room(pages, "Tuesday circle")
    group_id = alice.evaluate("document.querySelector('#groups button').dataset.group")
    pages.server.add_facilitator("bob")
    commits = HoldingLink(('42["epoch.new"',))
    bob = log_in(pages, "bob", socket=commits)
    expect(bob.locator("#cofac-invitations")).to_be_hidden()

    # alice invites bob by his username
    expect(alice.locator("#cofac-duty")).to_contain_text("(alice)")
    alice.fill("#cofac-username", "bob")
    alice.click("#cofac-add-form button[type=submit]")
    expect(alice.locator("#cofac-list")).to_contain_text("bob · invited")
    expect_accessible(alice, "console group with its facilitators")
    assert unlabelled_controls(alice) == []

    # bob sees the invitation live and joins with keys of his own
    invitation = bob.locator("#cofac-invited li")
    expect(invitation).to_contain_text("You are invited to facilitate Tuesday circle.")
    expect_accessible(bob, "console desk with an invitation")
    assert unlabelled_controls(bob) == []
    bob.get_by_label("Your name in Tuesday circle").fill("Host Birch")
    bob.get_by_role("button", name="Join Tuesday circle as a facilitator").click()
    expect(bob.locator("#cofac-invitations")).to_be_hidden()

    # alice admits him as a facilitator, after saying so in a confirmation (the commit that
    # brings bob his keys is late)
    commits.holding = True
    request = alice.locator("#requests li", has_text="Host Birch")
    expect(request).to_contain_text("a facilitator invited to this group")
    request.get_by_role("button", name="Approve Host Birch").click()
    expect(alice.locator("#confirm")).to_be_visible()
    expect(alice.locator("#confirm-yes")).to_have_text("Admit as facilitator")
    alice.click("#confirm-yes")
    expect(alice.locator("#members")).to_contain_text("Host Birch")
    expect(alice.locator("#members li", has_text="Host Birch")).to_contain_text("Facilitator")

    # bob's console now has the group; both see both on duty
    expect(bob.locator("#groups")).to_contain_text("Tuesday circle")
    bob.locator("#groups button").click()
    expect(bob.locator("#group-title")).to_have_text("Tuesday circle")
    # He opened the group's view before his keys came: its conversation opens once they do (it
    # once stayed at "no keys" for good).
    expect(bob.locator("#conv-note")).to_contain_text("holds no keys")
    expect(bob.locator("#conv-compose")).to_be_hidden()
    commits.release()
    expect(bob.locator("#conv-compose")).to_be_visible()
    expect(bob.locator("#conv-note")).not_to_contain_text("holds no keys")
    for console in (alice, bob):
        expect(console.locator("#cofac-duty")).to_contain_text("Host Birch (bob)")
        expect(console.locator("#cofac-duty")).to_contain_text("(alice)")

    # members join; one reports another; the report reaches both facilitators
    ana = keyed_member(pages, invite, "Loud Jay")
    ben = keyed_member(pages, invite, "Kind Owl")
    # The server's epoch, not the console's display of it, which may still be a commit behind.
    wait_until(
        bob,
        lambda: bobs_record(bob, group_id)["latest"] == server_epoch(pages, group_id),
        "bob keyed",
    )
    send(ana, "a rude line")
    expect_message(ben, "a rude line")
    report(ben, "a rude line")
    for console in (alice, bob):
        expect(console.locator("#queue-count")).to_have_text("(1 open)")
        expect(console.locator("#queue-live")).to_contain_text("a rude line")

    # alice removes bob: his console loses the group at once, the group rotates without him
    before = server_epoch(pages, group_id)
    alice.locator("#members li", has_text="Host Birch").get_by_role(
        "button", name="Remove Host Birch"
    ).click()
    if alice.locator("#confirm").is_visible():  # the console may ask first
        alice.click("#confirm-yes")
    expect(bob.locator("#status")).to_contain_text(
        "You are no longer a facilitator of Tuesday circle."
    )
    expect(bob.locator("#groups")).not_to_contain_text("Tuesday circle")
    expect(bob.locator("#desk")).to_be_visible()
    wait_until(alice, lambda: server_epoch(pages, group_id) > before, "the group rotated")
    after = server_epoch(pages, group_id)
    expect(alice.locator("#cofac-duty")).not_to_contain_text("bob")
    send(ana, "said after bob left")
    expect_message(ben, "said after bob left")
    held = bobs_record(bob, group_id)
    assert held["latest"] < after
    assert str(after) not in held["epochs"]


def test_the_page_verifies_co_facilitator_changes_as_python_does(crypto_page: Any) -> None:
    """groupstate.js: a facilitator admitted with role 1 by a facilitator counts; a removal is
    another facilitator's; a commit never leaves the group without a facilitator."""
    group_id = os.urandom(16)
    alice, bob, dan = MemberKeys.generate(), MemberKeys.generate(), MemberKeys.generate()
    genesis, _ = build_commit(
        group_id=group_id,
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=alice,
        roster=[alice.entry],
        facilitators=[alice.member_id],
    )
    second, _ = build_commit(
        group_id=group_id,
        epoch=2,
        prev_commit_hash=genesis.hash,
        committer=alice,
        roster=[alice.entry, bob.entry, dan.entry],
        facilitators=sorted([alice.member_id, dan.member_id]),
        authorisations=[
            sign_admission(group_id, alice, bob.entry, epoch=1),
            sign_admission(group_id, alice, dan.entry, ROLE_FACILITATOR, epoch=1),
        ],
    )

    def third(
        committer: MemberKeys, roster: list[Any], chiefs: list[bytes], auth: list[Any]
    ) -> str:
        commit, _ = build_commit(
            group_id=group_id,
            epoch=3,
            prev_commit_hash=second.hash,
            committer=committer,
            roster=roster,
            facilitators=sorted(chiefs),
            authorisations=auth,
        )
        return commit.raw.hex()

    commits = {
        "genesis": genesis.raw.hex(),
        "second": second.raw.hex(),
        "removed_by_dan": third(
            dan,
            [bob.entry, dan.entry],
            [dan.member_id],
            [sign_removal(group_id, dan, alice.member_id)],
        ),
        "own_removal": third(
            dan,
            [bob.entry, dan.entry],
            [dan.member_id],
            [sign_removal(group_id, alice, alice.member_id)],
        ),
        "no_facilitator": third(
            bob, [bob.entry], [], [sign_leave(group_id, alice), sign_leave(group_id, dan)]
        ),
    }
    result = crypto_page.evaluate(
        """async (v) => {
            const hc = window.hc;
            const gs = await import('/js/groupstate.js');
            const c = (name) => hc.parseCommit(hc.unhex(v[name]));
            let { state } = await gs.genesisState(await c("genesis"));
            ({ state } = await gs.advance(state, await c("second")));
            const out = { chiefs: [...state.facilitators].sort() };
            const after = await gs.advance(state, await c("removed_by_dan"));
            out.afterRemoval = [...after.state.facilitators];
            for (const name of ["own_removal", "no_facilitator"]) {
                try { await gs.advance(state, await c(name)); out[name] = "accepted"; }
                catch (e) { out[name] = e instanceof gs.UntrustedCommit ? e.message : String(e); }
            }
            return out;
        }""",
        commits,
    )
    assert result["chiefs"] == sorted([alice.member_id.hex(), dan.member_id.hex()])
    assert result["afterRemoval"] == [dan.member_id.hex()]
    assert "signed by the removed member" in result["own_removal"]
    assert "without a facilitator" in result["no_facilitator"]
