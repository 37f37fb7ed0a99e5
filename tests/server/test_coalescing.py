"""With [server] coalesce_ms, a group's messages reach each member in msg.batch frames: every
message exactly once, in order, in fewer frames than messages."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Clients, RunningServer, facilitator, free_port, member_in


@dataclass
class CoalescingServer(RunningServer):
    def write_config(self) -> None:
        super().write_config()
        text = self.config_path.read_text()
        self.config_path.write_text(
            text.replace("[server]\n", "[server]\ncoalesce_ms = 20.0\ncoalesce_max = 8\n", 1)
        )


@pytest.fixture
def hearth_server(tmp_path: Path) -> Iterator[RunningServer]:
    server = CoalescingServer(tmp_path / "hearth", free_port())
    server.add_facilitator()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_messages_arrive_batched_once_each_and_in_order(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Busy room", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    ben = await member_in(make_client, fac, group, "Calm River")
    texts = [f"message {i}" for i in range(30)]
    acks = await asyncio.gather(*(ana.send(group, text) for text in texts))
    in_order = [text for _, text in sorted(zip((a["seq"] for a in acks), texts, strict=True))]
    for client in (fac, ben, ana):
        await client.wait_for(lambda c=client: len(c.texts(group)) == 30)
        assert client.texts(group) == in_order
    batches = [d for e, d in ben.events if e == "msg.batch"]
    assert 1 < len(batches) < 30
    assert all(len(b["messages"]) <= 8 for b in batches)
    assert sum(len(b["messages"]) for b in batches) == 30  # each exactly once
    assert not [e for e, _ in ben.events if e == "msg"]
    # the sender gets its own messages in the batches too, and keeps each once
    assert len(ana.inbox[group]) == 30
