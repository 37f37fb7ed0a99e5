"""Holes found by attacking the page's authenticated group state as a hostile server (a test-only
relay between the page and the real server)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.steps import (
    Pages,
    create_group,
    create_invite,
    expect_message,
    facilitator_logs_in,
    keyed_member,
    send,
    wait_until,
)

pytestmark = pytest.mark.browser

ACK = re.compile(r"^43(\d*)(.*)$", re.DOTALL)


class RoleRewriter:
    """A hostile server's members.list: every member is called a facilitator in the JSON."""

    def __init__(self) -> None:
        self.rewritten = 0

    def __call__(self, ws: Any) -> None:
        server = ws.connect_to_server()

        def to_page(frame: str | bytes) -> None:
            found = ACK.match(frame) if isinstance(frame, str) else None
            if found:
                reply = json.loads(found.group(2))
                listing = reply[0] if reply and isinstance(reply[0], dict) else {}
                members = listing.get("data", listing).get("members")
                if isinstance(members, list):
                    for member in members:
                        member["role"] = "facilitator"
                    self.rewritten += 1
                    frame = "43" + found.group(1) + json.dumps(reply)
            ws.send(frame)

        ws.on_message(server.send)
        server.on_message(to_page)


def test_a_facilitator_badge_comes_from_the_verified_group_state(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Badged circle", join="open")
    invite = create_invite(console)
    heron = keyed_member(pages, invite, "Calm Heron")
    relay = RoleRewriter()
    wren = keyed_member(pages, invite, "Bright Wren", socket=relay)
    send(heron, "an ordinary member")
    expect_message(wren, "an ordinary member")
    wait_until(wren, lambda: relay.rewritten >= 1, "a members.list passed the relay")
    row = wren.locator("#messages li.message", has_text="an ordinary member")
    expect(row.locator(".who")).to_have_text("Calm Heron")
    expect(row.locator(".role-badge")).to_have_count(0)
