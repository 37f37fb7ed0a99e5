"""Slow mode: a group's least time between one member's messages, set by its facilitator and
enforced by a real server for real Socket.IO clients."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from crypto.commits import build_commit
from crypto.encoding import b64encode
from crypto.keys import MemberKeys
from server.client import HearthClient, HearthRefused
from tests.conftest import Clients, facilitator, member_in


async def refused(coro: Any) -> HearthRefused:
    with pytest.raises(HearthRefused) as caught:
        await coro
    return caught.value


async def slow_group(make_client: Clients, seconds: int) -> tuple[HearthClient, bytes]:
    fac = await facilitator(make_client)
    group = await fac.create_group("Slow room", pseudonym="Host Heron")
    reply = await fac.call(
        "group.update", {"group_id": b64encode(group), "slow_mode_seconds": seconds}
    )
    assert reply["group"]["slow_mode_seconds"] == seconds
    return fac, group


async def test_a_member_waits_between_messages_and_is_told_how_long(make_client: Clients) -> None:
    fac, group = await slow_group(make_client, 2)
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    # The member learns that slow mode is on before typing anything.
    listing = await ana.call("groups.list")
    assert [g["slow_mode_seconds"] for g in listing["groups"]] == [2]

    first_id = os.urandom(16)
    first = await ana.send(group, "first", msg_id=first_id)
    error = await refused(ana.send(group, "too soon"))
    assert error.code == "slow_mode"
    assert 0 < error.detail["retry_after_ms"] <= 2000
    assert error.detail["slow_mode_seconds"] == 2
    # A resend of the accepted message (same msg_id: its ack was lost) is not refused.
    again = await ana.send(group, "first", msg_id=first_id)
    assert again["seq"] == first["seq"]
    # Facilitators are exempt: they must be able to answer a room that slow mode holds back.
    await fac.send(group, "welcome, everyone")
    await fac.send(group, "take your time")

    await asyncio.sleep(error.detail["retry_after_ms"] / 1000 + 0.1)
    later = await ana.send(group, "after the wait")
    assert later["seq"] > first["seq"]
    await fac.wait_for(lambda: fac.texts(group)[-1] == "after the wait")
    assert "too soon" not in fac.texts(group)


async def test_a_second_connection_of_the_member_waits_too(make_client: Clients) -> None:
    fac, group = await slow_group(make_client, 30)
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    await ana.send(group, "one")
    # The same account on a second socket (another tab) is the same member.
    await ana.disconnect()
    await ana.connect()
    error = await refused(ana.send(group, "two"))
    assert error.code == "slow_mode"
    assert 28_000 < error.detail["retry_after_ms"] <= 30_000


async def test_turning_slow_mode_off_lets_messages_through(make_client: Clients) -> None:
    fac, group = await slow_group(make_client, 60)
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    await ana.send(group, "one")
    assert (await refused(ana.send(group, "two"))).code == "slow_mode"
    await fac.call("group.update", {"group_id": b64encode(group), "slow_mode_seconds": 0})
    await ana.send(group, "two")


BAD_VALUES: list[Any] = [-1, 3601, 86_401, 10**12, "30", 2.5, True, [5], {"s": 5}]


@pytest.mark.parametrize("value", BAD_VALUES, ids=repr)
async def test_bad_slow_mode_values_change_nothing(make_client: Clients, value: Any) -> None:
    fac, group = await slow_group(make_client, 5)
    gid = b64encode(group)
    error = await refused(
        fac.call("group.update", {"group_id": gid, "slow_mode_seconds": value, "name": "Renamed"})
    )
    assert error.code == "bad_request"
    assert error.message
    listing = await fac.call("groups.list")
    assert [(g["name"], g["slow_mode_seconds"]) for g in listing["groups"]] == [("Slow room", 5)]

    # group.create refuses it too, and creates no group.
    payload = _create_payload()
    payload["slow_mode_seconds"] = value
    assert (await refused(fac.call("group.create", payload))).code == "bad_request"
    assert len((await fac.call("groups.list"))["groups"]) == 1


async def test_a_valid_create_payload_is_accepted(make_client: Clients) -> None:
    """The payload the bad-input test breaks is otherwise valid (so that test can fail)."""
    fac = await facilitator(make_client)
    payload = _create_payload()
    payload["slow_mode_seconds"] = 3600
    reply = await fac.call("group.create", payload)
    assert reply["group"]["slow_mode_seconds"] == 3600


def _create_payload() -> dict[str, Any]:
    group_id = os.urandom(16)
    member = MemberKeys.generate()
    commit, _ = build_commit(
        group_id=group_id,
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=member,
        roster=[member.entry],
        facilitators=[member.member_id],  # the creator is the group's first facilitator (§6.1)
    )
    return {
        "group_id": b64encode(group_id),
        "name": "Never made",
        "rules": "Be kind.",
        "join_policy": "approval",
        "posting_policy": "always",
        "member": {
            "member_id": b64encode(member.member_id),
            "sig_pk": b64encode(member.signing.public),
            "kem_pk": b64encode(member.kem.public),
            "pseudonym": "Host Heron",
        },
        "commit": b64encode(commit.raw),
    }
