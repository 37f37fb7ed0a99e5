"""Two facilitators of one group on two Hearth processes joined by Redis (docs/protocol.md
§6.8): each sees the other on duty, and removing one on the first process takes its power off
its socket on the second at once."""

from __future__ import annotations

import asyncio

import pytest

from crypto.suite import ROLE_FACILITATOR
from server.client import HearthClient, HearthRefused
from tests.conftest import FACILITATOR_PASSWORD, RunningServer
from tests.scale.test_redis_scaleout import redis  # noqa: F401 - the fixture
from tests.scale.test_session_end_redis import facilitator_on, two_slow_servers  # noqa: F401


async def test_on_duty_and_removal_reach_the_other_process(
    two_slow_servers: tuple[RunningServer, RunningServer],  # noqa: F811 - the fixture
) -> None:
    first, second = two_slow_servers
    await asyncio.to_thread(first.add_facilitator, "bob")
    alice = await facilitator_on(first)
    bob = HearthClient(second.url, timeout=20)
    try:
        await bob.login("bob", FACILITATOR_PASSWORD)
        await bob.connect()
        group = await alice.create_group("Across", pseudonym="Host Heron")
        await alice.add_facilitator(group, "bob")
        await bob.wait_for(lambda: any(e == "facilitator.invited" for e, _ in bob.events))
        await bob.accept_facilitation(group, pseudonym="Host Birch")
        await alice.decide(group, bob.member_id(group), role=ROLE_FACILITATOR)
        await alice.rotate(group)

        async def on_duty(client: HearthClient) -> dict[str, bool]:
            return {f["username"]: f["on_duty"] for f in await client.facilitators(group)}

        for _ in range(100):  # presence travels through Redis
            if await on_duty(alice) == {"alice": True, "bob": True}:
                break
            await asyncio.sleep(0.1)
        assert await on_duty(alice) == {"alice": True, "bob": True}
        assert await on_duty(bob) == {"alice": True, "bob": True}

        await alice.remove(group, bob.member_id(group))
        await bob.wait_for(lambda: any(e == "facilitator.removed" for e, _ in bob.events), 10)
        with pytest.raises(HearthRefused) as refused:
            await bob.facilitators(group)
        assert refused.value.code == "forbidden"
    finally:
        await bob.disconnect()
        await alice.disconnect()
