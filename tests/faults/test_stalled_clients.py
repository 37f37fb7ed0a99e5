"""Stalled peers are closed at the socket (issue 16 item 5): clients that stop reading while
their group is busy, and peers that connect and then say nothing, are dropped by a real
``hearth serve`` within bounded times, and its open file descriptors come back to what they were
before they came; its memory stops growing; members who read keep receiving everything."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from server.client import HearthClient
from tests.conftest import GENEROUS_LIMITS, Clients, RunningServer, facilitator, member_in, serve_in
from tests.faults.stalled_support import (
    half_request,
    never_reader,
    open_fds,
    rss_kib,
    silent_tcp,
    silent_websocket,
)
from tests.server.raw_engineio import RawEngineIO

NEVER_READERS = 10
SILENT_PEERS = 4  # of each kind: bare TCP, half a request, an upgraded websocket
# Short timeouts so that the test takes seconds: a request must arrive within 2 s, Engine.IO
# gives up on a silent peer after 1 + 8 s (time enough for the traffic to fill the never-readers'
# kernel buffers first, as a busy group does in its default 45 s), and a close that does not
# complete in 1 s aborts.
STALLED_CONFIG = (
    GENEROUS_LIMITS
    + "max_outgoing_backlog = 50\nmax_connections_per_account = 20\n"
    + "[connections]\nping_interval_seconds = 1.0\nping_timeout_seconds = 8.0\n"
    + "handshake_timeout_seconds = 2.0\nclose_timeout_seconds = 1.0\n"
    + "[groups]\nepoch_max_messages = 100000\n"
)
BIG = "x" * 16_000  # near the largest content a message may have
# ~6.5 MB (base64) to each never-reader: more than the kernel's socket buffers on loopback take
# (up to net.ipv4.tcp_wmem's 4 MB), so what is left waits in the server's transport and queue
MESSAGES_PER_WAVE = 300
WAVES = 3


@pytest.fixture
def hearth_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_in(tmp_path / "hearth", extra_config=STALLED_CONFIG)


async def settle(measure: Callable[[], int], *, within: float, target: int | None = None) -> int:
    """The measure once it stops changing (or reaches ``target``), polled every 0.2 s."""
    deadline = time.monotonic() + within
    last = measure()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        now = measure()
        if (target is not None and now <= target) or (target is None and now == last):
            return now
        last = now
    return last


async def busy(fac: HearthClient, group: bytes) -> int:
    """Big messages to the group; the reader gets every one of them."""
    for _ in range(MESSAGES_PER_WAVE // 10):
        await asyncio.gather(*(fac.send(group, BIG) for _ in range(10)))
    return MESSAGES_PER_WAVE


async def test_stalled_peers_lose_their_sockets_and_memory(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    assert hearth_server.process is not None
    pid = hearth_server.process.pid
    port, url = hearth_server.port, hearth_server.url
    fac = await facilitator(make_client)
    group = await fac.create_group("Busy", pseudonym="Host Heron")
    reader = await member_in(make_client, fac, group, "Wakeful Wren")
    sleeper = await member_in(make_client, fac, group, "Sleepy Owl")
    await sleeper.disconnect()
    baseline = await settle(lambda: open_fds(pid), within=5)

    stalled: list[RawEngineIO | socket.socket] = []
    total = 0
    for wave in range(WAVES):
        stalled += [never_reader(port, url, sleeper.account) for _ in range(NEVER_READERS)]
        stalled += [silent_tcp(port) for _ in range(SILENT_PEERS)]
        stalled += [half_request(port) for _ in range(SILENT_PEERS)]
        stalled += [silent_websocket(port, url) for _ in range(SILENT_PEERS)]
        held = open_fds(pid)
        assert held >= baseline + NEVER_READERS + 3 * SILENT_PEERS
        sent = await busy(fac, group)
        total += sent
        # Everything stalled is cut within the timeouts (2 s for a request, 1 + 8 s of Engine.IO
        # silence, 1 s to close), with generous room for a loaded machine.
        after = await settle(lambda: open_fds(pid), within=20, target=baseline)
        print(
            f"\nwave {wave}: {held - baseline} stalled connections, {sent} big messages; "
            f"server fds {baseline} before, {held} with them, {after} after; "
            f"RSS {rss_kib(pid)} KiB"
        )
        assert after <= baseline, f"{after - baseline} stalled connections still held"
        if wave == WAVES - 2:
            rss_before_last = await settle(lambda: rss_kib(pid), within=3)
    rss_last = await settle(lambda: rss_kib(pid), within=3)
    print(f"server RSS before the last wave: {rss_before_last} KiB, after it: {rss_last} KiB")
    # What a wave held is given back: the last wave costs no more than a small margin (the
    # first waves also fill SQLite's page caches with the ~6 MB each one stores).
    assert rss_last - rss_before_last < 8 * 1024

    # the member who reads had every message and still gets new ones
    await fac.send(group, "still serving")
    await reader.wait_for(lambda: "still serving" in reader.texts(group), within=10)
    assert reader.texts(group).count(BIG) == total
    for peer in stalled:
        peer.close()
