"""Whole journeys against a real server process with real clients and real cryptography."""

from __future__ import annotations

import asyncio
import os

import pytest

from server.client import HearthRefused
from tests.conftest import Clients, facilitator, member_in


async def test_two_members_and_a_facilitator_chat_page_leave_and_remove(
    make_client: Clients,
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Tuesday circle", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    ben = await member_in(make_client, fac, group, "Calm River")

    await ana.send(group, "hello from ana")
    await ben.send(group, "hi ana")
    await fac.wait_for(lambda: fac.texts(group) == ["hello from ana", "hi ana"])
    await ana.wait_for(lambda: ana.texts(group) == ["hello from ana", "hi ana"])
    await ben.wait_for(lambda: ben.texts(group) == ["hello from ana", "hi ana"])

    # history pages newest first
    for index in range(5):
        await ana.send(group, f"line {index}")
    page, more = await ben.history(group, limit=3)
    assert [m.text for m in page] == ["line 4", "line 3", "line 2"]
    assert more
    older, _ = await ben.history(group, before_seq=page[-1].seq, limit=50)
    assert [m.text for m in older][:2] == ["line 1", "line 0"]

    # ben leaves; the group rotates; ana keeps chatting and ben hears nothing more
    await ben.leave(group)
    epoch = await fac.rotate(group)
    await ana.wait_for(lambda: ana.keys[group].current == epoch)
    await ana.send(group, "after ben left")
    await fac.wait_for(lambda: "after ben left" in fac.texts(group))
    with pytest.raises(HearthRefused) as refused:
        await ben.history(group)
    assert refused.value.code == "not_member"

    # ana is removed: delivery stops at once, even before the rotation lands
    await fac.remove(group, ana.member_id(group))
    await ana.wait_for(lambda: any(e == "membership" for e, _ in ana.events))
    await fac.send(group, "ana cannot read this")
    await asyncio.sleep(0.3)
    assert "ana cannot read this" not in ana.texts(group)
    with pytest.raises(HearthRefused):
        await ana.send(group, "still here?")


async def test_late_joiner_cannot_read_earlier_history(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Evening group", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    await ana.send(group, "before cara")
    cara = await member_in(make_client, fac, group, "Bright Owl")
    page, more = await cara.history(group)
    assert page == []
    assert not more
    await ana.send(group, "after cara")
    await cara.wait_for(lambda: cara.texts(group) == ["after cara"])


async def test_cannot_post_outside_or_as_another(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Closed", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    outsider = make_client()
    await outsider.connect()
    # outsider reuses ana's keys: signature is valid, but the connection's account is not ana's
    outsider.keys[group] = ana.keys[group]
    with pytest.raises(HearthRefused) as refused:
        await outsider.send(group, "impostor")
    assert refused.value.code == "forbidden"
    assert "impostor" not in fac.texts(group)


async def test_duplicate_msg_id_is_stored_once(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Dupes", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    msg_id = os.urandom(16)
    first = await ana.send(group, "once", msg_id=msg_id)
    second = await ana.send(group, "once", msg_id=msg_id)
    assert first["seq"] == second["seq"]
    assert first["rtag"] == second["rtag"]
    page, _ = await fac.history(group)
    assert [m.text for m in page] == ["once"]
