"""A dead invite link says why, so that the page can say what to do next: used up, revoked,
expired, or not known (a truncated or mistyped link). Real server, real clients."""

from __future__ import annotations

import sqlite3

import pytest

from crypto.encoding import b64encode
from crypto.keys import MemberKeys
from server.client import HearthClient, HearthRefused
from tests.conftest import Clients, RunningServer, facilitator


async def refusal(client: HearthClient, token: str) -> tuple[str, str | None, str | None]:
    """(code, reason) from invite.preview, and the reason group.join gives for the same link."""
    with pytest.raises(HearthRefused) as preview:
        await client.call("invite.preview", {"token": token})
    joined: str | None = None
    if preview.value.code == "invite_invalid":
        with pytest.raises(HearthRefused) as join:
            await _join(client, token)
        assert join.value.code == "invite_invalid"
        joined = join.value.detail.get("reason")
        assert join.value.message == preview.value.message
    return preview.value.code, preview.value.detail.get("reason"), joined


async def _join(client: HearthClient, token: str) -> None:
    member = MemberKeys.generate()
    await client.call(
        "group.join",
        {
            "token": token,
            "member": {
                "member_id": b64encode(member.member_id),
                "sig_pk": b64encode(member.signing.public),
                "kem_pk": b64encode(member.kem.public),
                "pseudonym": "Late Lark",
            },
            "accept_rules": True,
        },
    )


async def test_each_dead_link_says_why(hearth_server: RunningServer, make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Doors", pseudonym="Host Heron")
    used = await fac.create_invite(group, max_uses=1)
    revoked = await fac.create_invite(group)
    expired = await fac.create_invite(group)
    live = await fac.create_invite(group)
    first, late = make_client(), make_client()
    await first.connect()
    await late.connect()
    await first.join(used, pseudonym="Quiet Fox")
    listing = await fac.call("invite.list", {"group_id": b64encode(group)})
    await fac.call(
        "invite.revoke",
        {"group_id": b64encode(group), "invite_id": listing["invites"][1]["invite_id"]},
    )
    with sqlite3.connect(hearth_server.database) as conn:
        (expired_hash,) = [
            row[0] for row in conn.execute("SELECT token_hash FROM invites ORDER BY created_at")
        ][2:3]
        conn.execute("UPDATE invites SET expires_at = 1 WHERE token_hash = ?", (expired_hash,))

    assert await refusal(late, used) == ("invite_invalid", "used_up", "used_up")
    assert await refusal(late, revoked) == ("invite_invalid", "revoked", "revoked")
    assert await refusal(late, expired) == ("invite_invalid", "expired", "expired")
    assert await refusal(late, live[:20]) == ("invite_invalid", "unknown", "unknown")
    assert await refusal(late, "A" * 32) == ("invite_invalid", "unknown", "unknown")
    assert await refusal(late, live[:10] + "%21!" + live[14:]) == ("bad_request", None, None)
    # The live one still works, and nothing above used it up.
    await late.join(live, pseudonym="Calm River")
