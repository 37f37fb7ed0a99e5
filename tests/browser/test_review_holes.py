"""Holes found by attacking the page's authenticated group state as a hostile server (a test-only
relay between the page and the real server)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from crypto.errors import VerificationFailed
from crypto.keys import SigningKey, verify_signature
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


def _python_accepts(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        verify_signature(public_key, signature, message)
    except VerificationFailed:
        return False
    return True


def test_the_page_and_python_agree_on_small_order_and_non_canonical_keys(
    crypto_page: Any,
) -> None:
    """A signature under the identity point verifies for any message in WebCrypto; libsodium
    (the Python side) refuses it, so the page must too."""
    small = [
        "00" * 32,
        "01" + "00" * 31,
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ec" + "ff" * 30 + "7f",
        "ed" + "ff" * 30 + "7f",
        "ee" + "ff" * 30 + "7f",
    ]
    points = [bytes.fromhex(h) for h in small]
    points += [p[:31] + bytes([p[31] | 0x80]) for p in points]  # the sign bit set
    message = b"hearth-v1 leave: anything at all"
    key = SigningKey.generate()
    good = key.sign(message)
    cases = [(p, p + bytes(32)) for p in points]  # R = the point itself, S = 0
    cases += [(p, bytes.fromhex(small[1]) + bytes(32)) for p in points]  # R = identity
    cases += [(key.public, bytes.fromhex(small[1]) + good[32:])]  # small-order R, real key
    cases += [(bytes([b]) + b"\xff" * 30 + b"\x7f", good) for b in range(0xED, 0x100)]
    cases += [(key.public, good)]
    expected = [_python_accepts(pk, sig, message) for pk, sig in cases]
    assert expected[-1]
    assert not any(expected[:-1])
    got = crypto_page.evaluate(
        """async ([cases, message]) => {
          const hc = window.hc;
          const out = [];
          for (const [pk, sig] of cases) {
            try {
              await hc.verifySignature(hc.unhex(pk), hc.unhex(sig), hc.unhex(message));
              out.push(true);
            } catch {
              out.push(false);
            }
          }
          return out;
        }""",
        [[[pk.hex(), sig.hex()] for pk, sig in cases], message.hex()],
    )
    assert got == expected
