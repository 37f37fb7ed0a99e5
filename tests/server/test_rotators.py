"""Who is asked to rotate: one member at a time, named by the server (docs/protocol.md,
"Who rotates"), and the epoch caps that scale with a group's size and age ("Epoch caps")."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto.encoding import b64encode
from server.client import HearthClient, HearthRefused
from tests.conftest import (
    FACILITATOR,
    FACILITATOR_PASSWORD,
    GENEROUS_LIMITS,
    Clients,
    RunningServer,
    facilitator,
    member_in,
    serve_in,
)

WAIT_S = 3  # rotator_wait_seconds of the server these tests use
# A cap of 4 messages, one per member beyond that, ended at any age.
CAPS = (
    "[groups]\nepoch_max_messages = 4\nepoch_messages_per_member = 2\n"
    f"epoch_min_minutes = 0\nrotator_wait_seconds = {WAIT_S}\n"
)


@pytest.fixture
def hearth_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_in(tmp_path / "hearth", GENEROUS_LIMITS + CAPS)


def asks(client: HearthClient) -> list[dict[str, object]]:
    return [data for event, data in client.events if event == "rotation.needed"]


async def fill_epoch(sender: HearthClient, group: bytes, cap: int, times: int = 1) -> None:
    """Send the epoch's ``cap`` messages, then ``times`` sends that are refused."""
    for n in range(cap):
        await sender.send(group, f"message {n}")
    for _ in range(times):
        with pytest.raises(HearthRefused, match="rotation_required"):
            await sender.send(group, "one too many")


async def group_of(
    make_client: Clients, members: int
) -> tuple[HearthClient, bytes, list[HearthClient]]:
    fac = await facilitator(make_client)
    group = await fac.create_group("Rotations", pseudonym="Host Heron")
    people = [await member_in(make_client, fac, group, f"Member {n}") for n in range(members)]
    await asyncio.sleep(0.5)
    for client in (fac, *people):
        client.events.clear()  # the asks for the joins' commits, which fac sent
    return fac, group, people


async def named(clients: list[HearthClient], count: int) -> list[HearthClient]:
    """Wait until ``count`` rotation.needed have arrived in all, then a moment for any more."""

    def arrived() -> bool:
        return sum(len(asks(c)) for c in clients) >= count

    waits = [asyncio.ensure_future(c.wait_for(arrived, 15)) for c in clients]
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for wait in pending:
        wait.cancel()
    for wait in done:
        wait.result()
    await asyncio.sleep(1)  # (shorter than WAIT_S: a further ask would be a storm)
    return [c for c in clients for _ in asks(c)]


async def test_at_the_cap_only_the_facilitator_is_asked(make_client: Clients) -> None:
    fac, group, people = await group_of(make_client, 3)
    # the members joined after the facilitator; one of them fills the epoch and keeps
    # pushing at the cap: one member is asked, once
    hostile = people[0]
    await fill_epoch(hostile, group, 8, times=10)  # 4 members x 2 (above epoch_max_messages)
    assert await named([fac, *people], 1) == [fac]
    (ask,) = asks(fac)
    assert ask["rotator"] == b64encode(fac.member_id(group))
    assert ask["reason"] == "epoch_limit"
    assert ask["epoch"] == fac.keys[group].current


async def test_the_named_member_goes_away_and_another_is_named(make_client: Clients) -> None:
    fac, group, people = await group_of(make_client, 3)
    await fill_epoch(people[0], group, 8)
    assert await named([fac, *people], 1) == [fac]
    await fac.disconnect()
    (second,) = await named(people, 1)
    assert asks(second)[0]["rotator"] == b64encode(second.member_id(group))
    # that one commits: the group's epoch moves on and sending works again
    epoch = await second.rotate(group)
    await people[0].wait_for(lambda: people[0].keys[group].current == epoch)
    await people[0].send(group, "after the rotation")


async def test_a_named_member_that_does_not_commit_is_replaced(make_client: Clients) -> None:
    fac, group, people = await group_of(make_client, 2)
    await fac.disconnect()  # no facilitator online: members are picked at random
    await fill_epoch(people[0], group, 6, times=3)
    await named(people, 1)
    # the first never commits; after rotator_wait_seconds the other is asked, not it again
    asked = await named(people, 2)
    assert sorted(map(id, asked)) == sorted(map(id, people))


async def test_a_hostile_member_is_never_named_over_a_facilitator(make_client: Clients) -> None:
    """A member that connected first, and fills the epoch again and again, is not asked while a
    facilitator holding the epoch is online; nor can its sends ask anyone again."""
    hostile_first = make_client()
    await hostile_first.connect()
    fac = await facilitator(make_client)
    group = await fac.create_group("Rotations", pseudonym="Host Heron")
    token = await fac.create_invite(group)
    await hostile_first.join(token, pseudonym="Early Bird")
    await fac.decide(group, hostile_first.member_id(group))
    await fac.rotate(group)
    await hostile_first.wait_for(lambda: hostile_first.keys[group].current == 2)
    await asyncio.sleep(0.5)
    fac.events.clear()  # the ask for the join's commit
    await fill_epoch(hostile_first, group, 4, times=20)
    assert await named([fac, hostile_first], 1) == [fac]


async def test_a_client_answering_rotations_commits_when_named(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac, group, people = await group_of(make_client, 1)
    await fac.disconnect()
    answering = HearthClient(hearth_server.url, fac.account, answer_rotations=True)
    answering.session_cookie = fac.session_cookie
    answering.keys = fac.keys
    await answering.connect()
    try:
        before = answering.keys[group].current
        await fill_epoch(people[0], group, 4)
        await people[0].wait_for(lambda: people[0].keys[group].current == before + 1)
        await people[0].send(group, "after the rotation")
    finally:
        await answering.disconnect()


async def test_a_membership_change_asks_one_member(make_client: Clients) -> None:
    fac, group, people = await group_of(make_client, 3)
    await people[2].leave(group)
    assert await named([fac, *people[:2]], 1) == [fac]
    assert asks(fac)[0]["reason"] == "membership"


async def test_the_cap_waits_for_the_epoch_minimum_age(tmp_path: Path) -> None:
    """With epoch_min_minutes, a full epoch keeps carrying messages until it is that old."""
    extra = GENEROUS_LIMITS + CAPS.replace("epoch_min_minutes = 0", "epoch_min_minutes = 60")
    serving = serve_in(tmp_path / "hearth", extra)
    fac = HearthClient(next(serving).url)
    try:
        await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
        await fac.connect()
        group = await fac.create_group("Young epoch", pseudonym="Host Heron")
        for n in range(12):  # three times the cap of a one-member group
            await fac.send(group, f"message {n}")
        assert asks(fac) == []
    finally:
        await fac.disconnect()
        serving.close()


async def test_with_nobody_online_the_first_to_connect_is_asked(make_client: Clients) -> None:
    fac, group, (ana, ben) = await group_of(make_client, 2)
    await fac.disconnect()
    await ana.disconnect()
    await ben.leave(group)  # nobody online holds the epoch: nobody is asked yet
    await asyncio.sleep(0.5)
    await ana.connect()
    assert await named([ana, ben], 1) == [ana]
    assert asks(ana)[0]["rotator"] == b64encode(ana.member_id(group))
