"""An administrator in the console (docs/protocol.md §6.11): made with the command line, it sees
every group, invites a facilitator whom a facilitator of the group admits, and removes one; the
remaining facilitator's console signs the removal in the group's next commit, which a member's
page verifies."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.axe import expect_accessible
from tests.browser.steps import (
    Pages,
    epoch_of,
    keyed_member,
    open_room,
    unlabelled_controls,
    wait_until,
)
from tests.browser.test_cofacilitation_journey import log_in
from tests.conftest import hearth_cli

pytestmark = pytest.mark.browser


def untrusted(page: Any) -> bool:
    return bool(page.evaluate("document.querySelector('#chat-note').dataset.untrusted === 'true'"))


def test_an_administrator_invites_and_removes_a_facilitator(pages: Pages) -> None:
    alice, invite = open_room(pages, "Monday circle")
    ana = keyed_member(pages, invite, "Loud Jay")
    for name in ("bob", "carol"):
        pages.server.add_facilitator(name)
    done = hearth_cli("facilitator", "administrator", "carol", config=pages.server.config_path)
    assert done.returncode == 0, done.stderr
    bob = log_in(pages, "bob")
    expect(bob.locator("#admin")).to_be_hidden()  # not an administrator
    carol = log_in(pages, "carol")
    panel = carol.locator("#admin li[data-admin-group]", has_text="Monday circle")
    expect(panel).to_contain_text("alice (facilitates)")
    expect_accessible(carol, "console desk with the administrator's panel")
    assert unlabelled_controls(carol) == []

    # carol invites bob; alice, a facilitator of the group, admits him (carol cannot).
    panel.get_by_label("Username to invite to facilitate Monday circle").fill("bob")
    panel.get_by_role("button", name="Invite to facilitate Monday circle").click()
    expect(panel).to_contain_text("bob (invited)")
    bob.get_by_label("Your name in Monday circle").fill("Host Birch")
    bob.get_by_role("button", name="Join Monday circle as a facilitator").click()
    alice.locator("#requests li", has_text="Host Birch").get_by_role(
        "button", name="Approve Host Birch"
    ).click()
    alice.click("#confirm-yes")
    expect(alice.locator("#members li", has_text="Host Birch")).to_contain_text("Facilitator")
    expect(bob.locator("#groups")).to_contain_text("Monday circle")

    # carol removes bob: he loses the group at once, alice's console signs the removal in the
    # next commit, and the member's page accepts it.
    carol.reload()
    expect(carol.locator("#connection")).to_have_text("Connected")
    panel = carol.locator("#admin li[data-admin-group]", has_text="Monday circle")
    expect(panel).to_contain_text("bob (facilitates)")
    before = epoch_of(alice)
    panel.get_by_role("button", name="Remove bob from Monday circle").click()
    expect(carol.locator("#confirm")).to_be_visible()
    carol.click("#confirm-yes")
    expect(bob.locator("#status")).to_contain_text("no longer a facilitator of Monday circle")
    wait_until(alice, lambda: epoch_of(alice) > before, "alice's console rotated")
    expect(panel).not_to_contain_text("bob")
    after = epoch_of(alice)
    wait_until(
        ana,
        lambda: (
            ana.evaluate(
                """async () => (await (await import('/js/keystore.js')).groups())[0].latest"""
            )
            >= after
        ),
        "the member took the commit in",
    )
    assert not untrusted(ana)
    assert pages.errors == []
