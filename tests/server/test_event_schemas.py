"""Every event has a schema: a bad payload gets a code and a message and changes nothing."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from crypto.encoding import b64encode
from server.realtime.events import EVENTS
from server.realtime.hub import Hub
from tests.conftest import REPO, Clients, RunningServer, facilitator, member_in

TABLES = ("groups", "members", "invites", "epochs", "messages", "accounts")


def snapshot(server: RunningServer) -> dict[str, int]:
    with sqlite3.connect(f"file:{server.database}?mode=ro", uri=True) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}  # noqa: S608


G = b64encode(b"\x01" * 16)
BAD_PAYLOADS: list[tuple[str, Any, str]] = [
    ("msg.send", {}, "bad_request"),
    ("msg.send", {"group_id": G}, "bad_request"),
    ("msg.send", {"group_id": G, "envelope": "AAAA", "extra": 1}, "bad_request"),
    ("msg.send", {"group_id": 5, "envelope": "AAAA"}, "bad_request"),
    ("msg.send", {"group_id": None, "envelope": None}, "bad_request"),
    ("msg.send", {"group_id": "short", "envelope": "AAAA"}, "bad_request"),
    ("msg.send", {"group_id": G, "envelope": "not base64!"}, "bad_request"),
    ("msg.send", {"group_id": G, "envelope": "AQABAAAA"}, "invalid_envelope"),  # v1, too short
    ("msg.send", ["a", "list"], "bad_request"),
    ("msg.send", "a string", "bad_request"),
    ("history.get", {"group_id": G, "limit": 10**12}, "bad_request"),
    ("history.get", {"group_id": G, "before_seq": -1}, "bad_request"),
    ("history.get", {"group_id": G, "limit": "10"}, "bad_request"),
    ("group.join", {"token": "A" * 32, "member": {}, "accept_rules": True}, "bad_request"),
    ("group.join", {"token": "A" * 32, "member": None, "accept_rules": False}, "bad_request"),
    ("epoch.commit", {"group_id": G, "commit": "AQAB" + "A" * 96}, "invalid_commit"),
    ("epoch.commit", {"group_id": G, "commit": "AgAB" + "A" * 96}, "unsupported_version"),
    ("msg.send", {"group_id": G, "envelope": "AQACAAAA"}, "unsupported_version"),  # suite 2
    ("invite.preview", {"token": "../../etc/passwd"}, "bad_request"),
    ("invite.preview", {"token": "A" * 32}, "invite_invalid"),
    ("members.list", {"group_id": G}, "not_found"),
    ("group.leave", {"group_id": G}, "not_found"),
    ("join.decide", {"group_id": G, "member_id": G, "approve": "yes"}, "bad_request"),
    ("no.such.event", {}, "unknown_event"),
]


@pytest.mark.parametrize(("event", "payload", "code"), BAD_PAYLOADS)
async def test_bad_payload_is_refused_and_changes_nothing(
    hearth_server: RunningServer, make_client: Clients, event: str, payload: Any, code: str
) -> None:
    client = make_client()
    await client.connect()
    before = snapshot(hearth_server)
    reply = await client.sio.call(event, payload, timeout=10)
    assert reply["ok"] is False
    assert reply["error"]["code"] == code
    assert reply["error"]["message"]
    assert "Traceback" not in reply["error"]["message"]
    assert snapshot(hearth_server) == before


async def test_bad_envelopes_from_a_member_change_nothing(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Bad envelopes", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    good = ana.seal(group, "fine")
    before = snapshot(hearth_server)
    flipped = bytearray(good)
    flipped[-1] ^= 1  # signature no longer verifies
    truncated = good[:-10]
    other_group = bytearray(good)
    other_group[3] ^= 1  # header names another group
    for raw, code in (
        (flipped, "invalid_envelope"),
        (truncated, "invalid_envelope"),
        (other_group, "invalid_envelope"),
    ):
        reply = await ana.sio.call(
            "msg.send",
            {"group_id": b64encode(group), "envelope": b64encode(bytes(raw))},
            timeout=10,
        )
        assert reply["error"]["code"] == code
    assert snapshot(hearth_server) == before
    await ana.send(group, "still works")


@pytest.fixture
def hearth_server(shared_server: RunningServer) -> RunningServer:
    return shared_server


def test_every_event_is_documented() -> None:
    protocol = (REPO / "docs" / "protocol.md").read_text()
    assert Hub  # importing the hub registers every event
    missing = [name for name in EVENTS if f"`{name}`" not in protocol]
    assert not missing, f"events missing from docs/protocol.md: {missing}"
