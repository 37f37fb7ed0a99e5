"""Crash safety: SIGKILL the server at random moments while clients send; after restarts and
resends, every acknowledged message is stored exactly once and in each sender's order."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from server.client import HearthClient, HearthRefused
from tests.adversarial.adv_support import integrity, serve_with
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, RunningServer, member_in

MIN_PER_SENDER = 20
AFTER_CRASHES = 5
CRASHES = 4


@pytest.fixture
def crash_server(tmp_path: Path) -> Iterator[RunningServer]:
    # Senders push fast: keep the per-epoch cap out of the way (rotation is not under test).
    yield from serve_with(
        tmp_path / "hearth", 'synchronous = "FULL"\n[groups]\nepoch_max_messages = 1000000\n'
    )


@dataclass
class Sender:
    name: str
    client: HearthClient
    plan: list[bytes]
    acks: dict[bytes, int] = field(default_factory=dict)
    order: list[bytes] = field(default_factory=list)  # msg_ids in the order they were acked
    attempts: int = 0


async def ensure_connected(client: HearthClient, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    while not client.sio.connected:
        if loop.time() > deadline:
            raise TimeoutError("could not reconnect")
        try:
            await client.connect()
        except Exception:  # the server is down or restarting: try again shortly
            await client.disconnect()
            await asyncio.sleep(0.2)


async def run_sender(sender: Sender, group: bytes, crashing: asyncio.Event) -> None:
    """Sends fresh messages one after another while the server is being crashed, then a few
    more; each until acknowledged."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 150
    index = after_crashes = 0
    while crashing.is_set() or after_crashes < AFTER_CRASHES or index < MIN_PER_SENDER:
        if not crashing.is_set():
            after_crashes += 1
        if index == len(sender.plan):
            sender.plan.append(os.urandom(16))
        msg_id = sender.plan[index]
        index += 1
        while msg_id not in sender.acks:
            await ensure_connected(sender.client, deadline)
            sender.attempts += 1
            try:
                # Re-sealed on every attempt for the epoch the client now holds; same msg_id.
                reply = await sender.client.send(group, f"{sender.name} #{index}", msg_id=msg_id)
            except HearthRefused as refused:
                # A refusal is an answer, not a crash: only a transient one may be retried.
                if refused.code not in ("rate_limited", "unavailable"):
                    raise
                await asyncio.sleep(0.2)
                continue
            except Exception:  # the connection died with the server
                await sender.client.disconnect()
                await asyncio.sleep(0.1)
                continue
            sender.acks[msg_id] = int(reply["seq"])
            sender.order.append(msg_id)


async def crash_repeatedly(
    server: RunningServer, rng: random.Random, senders: list[Sender], crashing: asyncio.Event
) -> int:
    try:
        for _ in range(CRASHES):
            acked = sum(len(s.acks) for s in senders)
            while sum(len(s.acks) for s in senders) < acked + 8:  # noqa: ASYNC110 - traffic flows
                await asyncio.sleep(0.02)
            await asyncio.sleep(rng.uniform(0.05, 0.8))
            server.kill()
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            await asyncio.to_thread(server.start)
    finally:
        crashing.clear()
    return CRASHES


@pytest.mark.slow
async def test_sigkill_loses_no_acknowledged_message(crash_server: RunningServer) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    made: list[HearthClient] = []

    def make() -> HearthClient:
        client = HearthClient(crash_server.url, timeout=4)
        made.append(client)
        return client

    try:
        fac = make()
        await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
        await fac.connect()
        group = await fac.create_group("Crash circle", pseudonym="Host Heron")
        members = [
            await member_in(make, fac, group, name)
            for name in ("Quiet Fox", "Brave Owl", "Calm Deer")
        ]
        senders = [
            Sender(name, client, [])
            for name, client in zip(("fac", "fox", "owl", "deer"), [fac, *members], strict=True)
        ]
        crashing = asyncio.Event()
        crashing.set()
        sending = [asyncio.create_task(run_sender(s, group, crashing)) for s in senders]
        crashes = await crash_repeatedly(crash_server, rng, senders, crashing)
        await asyncio.wait_for(asyncio.gather(*sending), 170)
    finally:
        for client in made:
            await client.disconnect()
    crash_server.stop()

    assert crashes == CRASHES
    context = f"seed {seed}"
    assert integrity(crash_server.database) == "ok", context
    with sqlite3.connect(f"file:{crash_server.database}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT msg_id, sender_id, seq FROM messages WHERE group_id = ? ORDER BY seq", (group,)
        ).fetchall()
    stored_ids = [bytes(r[0]) for r in rows]
    assert len(stored_ids) == len(set(stored_ids)), f"duplicate msg_id stored ({context})"
    stored = {bytes(r[0]): (bytes(r[1]), int(r[2])) for r in rows}
    total = 0
    for sender in senders:
        member_id = sender.client.member_id(group)
        assert set(sender.acks) == set(sender.plan), f"{sender.name} not all acked ({context})"
        for msg_id, seq in sender.acks.items():
            assert msg_id in stored, f"acked message of {sender.name} lost ({context})"
            assert stored[msg_id] == (member_id, seq), f"stored under another seq ({context})"
        seqs = [sender.acks[m] for m in sender.plan]
        assert len(set(seqs)) == len(seqs), f"{sender.name}: one seq twice ({context})"
        assert seqs == sorted(seqs), f"{sender.name}'s order not kept ({context}): {seqs}"
        total += len(sender.plan)
    assert len(rows) == total, f"stored {len(rows)} messages for {total} sent ({context})"
    resends = sum(s.attempts for s in senders) - total
    assert resends > 0, "no message was in flight at a crash: the test proved nothing"
    print(f"crash test: seed {seed}, {total} messages, {resends} resends")
