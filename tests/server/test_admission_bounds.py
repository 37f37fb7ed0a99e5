"""The server's side of bounded admissions (docs/protocol.md §6.4): it refuses an admission no
commit could carry any more and an invite certificate that expired or admits nobody, and hands out
an invite key of the first layout (no bounds) as none, so such a link waits for approval."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable
from contextlib import closing
from typing import Any

import pytest

from crypto.authorisations import certify_invite, sign_admission, sign_invite_admission
from crypto.encoding import b64decode, b64encode
from crypto.keys import MemberKeys, SigningKey
from crypto.roster import RosterEntry
from server.client import HearthClient, HearthRefused, InviteToken
from tests.conftest import Clients, RunningServer, facilitator


async def _refused(code: str, call: Awaitable[Any]) -> None:
    with pytest.raises(HearthRefused) as caught:
        await call
    assert caught.value.code == code, caught.value
    assert caught.value.message


async def _pending(make_client: Clients, fac: HearthClient, group: bytes) -> HearthClient:
    ana = make_client()
    await ana.connect()
    _, state = await ana.join(await fac.create_invite(group), pseudonym="Quiet Fox")
    assert state == "pending"
    return ana


async def test_an_admission_made_two_epochs_ago_is_refused_when_given(
    make_client: Clients,
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Bounded", pseudonym="Host Birch")
    ana = await _pending(make_client, fac, group)
    await fac.rotate(group)
    await fac.rotate(group)
    assert fac.keys[group].current == 3
    member = next(m for m in (await fac.members(group))["members"] if m["state"] == "pending")
    entry = RosterEntry(
        ana.member_id(group), b64decode(member["sig_pk"]), b64decode(member["kem_pk"])
    )
    payload = {
        "group_id": b64encode(group),
        "member_id": b64encode(ana.member_id(group)),
        "approve": True,
    }
    for made_at in (1, 4):  # too old for the next commit; or for an epoch not reached yet
        old = sign_admission(group, fac.keys[group].member, entry, epoch=made_at)
        await _refused(
            "invalid_authorisation",
            fac.call("join.decide", {**payload, "admission": b64encode(old.encode())}),
        )
    await fac.decide(group, ana.member_id(group))  # signed at the epoch it holds: fine
    await fac.rotate(group)
    await ana.wait_for(lambda: ana.keys[group].current == fac.keys[group].current)


async def test_an_expired_certificate_or_one_admitting_nobody_lets_nobody_in(
    make_client: Clients,
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Open", pseudonym="Host Birch", join_policy="open")
    me = fac.keys[group].member
    invite_key = SigningKey.generate()
    expired = certify_invite(
        group, me, invite_key.public, issued_epoch=1, not_after=1000, max_admits=5
    )
    blob = invite_key.public + me.member_id + expired.encode()
    await _refused(
        "invalid_authorisation",
        fac.call("invite.create", {"group_id": b64encode(group), "invite_key": b64encode(blob)}),
    )
    # A certificate of an approval group's link (max_admits 0) in an open group: the server
    # hands the key out, but an admission signed with it lets nobody in by itself.
    never = certify_invite(
        group,
        me,
        invite_key.public,
        issued_epoch=1,
        not_after=int(time.time() * 1000) + 3_600_000,
        max_admits=0,
    )
    blob = invite_key.public + me.member_id + never.encode()
    reply = await fac.call(
        "invite.create", {"group_id": b64encode(group), "invite_key": b64encode(blob)}
    )
    ana = make_client()
    await ana.connect()
    # The client sees max_admits 0 and asks to join without an admission: it waits.
    held = fac.keys[group].state
    assert held is not None
    link = InviteToken(str(reply["token"]), invite_key, (held.epoch, held.commit_hash))
    _, state = await ana.join(link.link, pseudonym="Quiet Fox")
    assert state == "pending"
    # One that sends an admission anyway is refused.
    ben = make_client()
    await ben.connect()
    keys = MemberKeys.generate()
    admission = sign_invite_admission(group, invite_key, me.member_id, never, keys.entry, epoch=1)
    payload = {
        "token": str(reply["token"]),
        "member": ben._member_payload(keys, "Calm River", group),
        "accept_rules": True,
        "admission": b64encode(admission.encode()),
    }
    await _refused("invalid_authorisation", ben.call("group.join", payload))


async def test_an_invite_key_of_the_first_layout_is_handed_out_as_none(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Old links", pseudonym="Host Birch", join_policy="open")
    link = await fac.create_invite(group)
    assert link.invite_key is not None
    # What an older server stored: invite_pk ‖ issuer_id ‖ cert_sig (112 bytes, no bounds).
    with closing(sqlite3.connect(hearth_server.database)) as conn, conn:
        (blob,) = conn.execute(
            "SELECT invite_key FROM invite_keys WHERE substr(invite_key, 1, 32) = ?",
            (link.invite_key.public,),
        ).fetchone()
        first_layout = bytes(blob[:48]) + bytes(blob[-64:])
        conn.execute(
            "UPDATE invite_keys SET invite_key = ? WHERE substr(invite_key, 1, 32) = ?",
            (first_layout, link.invite_key.public),
        )
    preview = await fac.call("invite.preview", {"token": str(link)})
    assert preview["invite_key"] is None
    ana = make_client()
    await ana.connect()
    _, state = await ana.join(link.link, pseudonym="Quiet Fox")
    assert state == "pending"  # no key to admit with: a facilitator approves
