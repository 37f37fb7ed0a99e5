"""What a connection leaves once it has closed: nothing (docs/benchmarks.md, "Memory after
connections close").

Real Socket.IO clients (raw websockets speaking Engine.IO and Socket.IO) connect to Hearth's
Socket.IO server on a real uvicorn with Hearth's HTTP and websocket protocols
(server/realtime/transport.py), and close. The garbage collector is off meanwhile, as good as
Hearth's settings (server/gcpolicy.py: a full collection may wait ten minutes): whatever is left
in a reference cycle stays in ``gc.get_objects()``, and the test counts the per-connection
objects there. Before the fixes, every upgraded connection left its HTTP protocol in a cycle
with its parser (and with it the transport and the request's headers), freed only by a
collection, and engine.io's service task held every socket open when its pass began (20 s);
then websockets' protocol of every websocket stayed in a cycle with its parser generator.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import weakref
from collections.abc import AsyncIterator, Iterator

import socketio
import uvicorn

from server.config import ConnectionsConfig
from server.heaptrim import HeapTrimmer, glibc_malloc_trim
from server.realtime.fanout import DirectSocketIOServer
from server.realtime.transport import bounded_protocols
from tests.conftest import free_port
from tests.server.inprocess import connected

CLIENTS = 20


@contextlib.contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextlib.asynccontextmanager
async def serving_hearth_protocols(sio: socketio.AsyncServer) -> AsyncIterator[int]:
    http, ws = bounded_protocols(ConnectionsConfig())
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            socketio.ASGIApp(sio),
            host="127.0.0.1",
            port=port,
            http=http,
            ws=ws,
            ws_per_message_deflate=False,
            lifespan="off",
            log_level="warning",
        )
    )
    task = asyncio.ensure_future(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn.Server has no event for it
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def alive(kind: str) -> list[object]:
    """Objects whose class is named ``kind``, garbage not yet collected included."""
    return [o for o in gc.get_objects() if type(o).__name__ == kind]


async def test_closed_connections_leave_no_objects_behind() -> None:
    # Hearth's Socket.IO server (what the hub runs) on Hearth's uvicorn protocols
    sio = DirectSocketIOServer(async_mode="asgi", transports=["websocket"])
    with collector_off():
        async with serving_hearth_protocols(sio) as port:
            http_before = len(alive("ConfiguredHttpProtocol"))
            clients = [await connected(port) for _ in range(CLIENTS)]
            assert len(sio.eio.sockets) == CLIENTS
            websockets = [weakref.ref(o) for o in alive("ConfiguredWebSocketProtocol")]
            engine_sockets = [weakref.ref(s) for s in sio.eio.sockets.values()]
            assert len(websockets) == CLIENTS
            # websockets' sans-I/O protocol of each (the uvicorn protocol's ``conn``)
            parsers = [weakref.ref(o().conn) for o in websockets]  # type: ignore[union-attr]
            for client in clients:
                await client.close()
            for _ in range(500):  # until the server has seen every close (no time asserted)
                if not sio.eio.sockets and not any(ref() for ref in websockets + engine_sockets):
                    break
                await asyncio.sleep(0.02)
            assert sio.eio.sockets == {}
            assert [ref() for ref in websockets] == [None] * CLIENTS
            # engine.io's service task held each socket of its pass for up to a ping timeout
            assert [ref() for ref in engine_sockets] == [None] * CLIENTS
            # each was in a cycle with its parser, a generator that never returns
            assert [ref() for ref in parsers] == [None] * CLIENTS
            # the HTTP protocols that handed each connection over to a websocket protocol
            left = len(alive("ConfiguredHttpProtocol")) - http_before
            assert left == 0, f"{left} HTTP protocols alive after {CLIENTS} closed connections"


class Counter:
    def __init__(self) -> None:
        self.open = 0
        self.trims = 0
        self.collections = 0

    def trim(self) -> None:
        self.trims += 1

    def collect(self) -> None:
        self.collections += 1


def test_heap_is_trimmed_once_a_wave_of_closes_has_ended() -> None:
    connections = Counter()
    trimmer = HeapTrimmer(
        lambda: connections.open,
        connections.trim,
        collect=connections.collect,
        min_drop=10,
        min_interval_s=5,
        quiet_checks=2,
    )
    connections.open = 100
    assert not trimmer.check(0)  # connections come: nothing to give back
    connections.open = 60
    assert not trimmer.check(1)  # closing
    connections.open = 20
    assert not trimmer.check(2)  # still closing
    assert not trimmer.check(3)  # one quiet check
    assert trimmer.check(4)  # the wave is over
    assert not trimmer.check(5)  # once per wave
    connections.open = 200
    assert not trimmer.check(6)
    connections.open = 0
    assert [trimmer.check(t) for t in (7, 8, 9)] == [False, False, True]  # 5 s after the last
    connections.open = 5
    assert [trimmer.check(t) for t in range(20, 30)] == [False] * 10  # churn under min_drop
    assert connections.trims == 2
    # each wave closed more connections than it left open: a full collection before each trim
    assert connections.collections == 2


def test_a_full_collection_only_after_a_wave_that_closed_at_least_what_is_left() -> None:
    connections = Counter()
    trimmer = HeapTrimmer(
        lambda: connections.open,
        None,  # no malloc_trim (not glibc): the collection still runs
        collect=connections.collect,
        min_drop=10,
        min_interval_s=0,
        quiet_checks=1,
    )
    connections.open = 1000
    trimmer.check(0)
    connections.open = 600  # 400 closed, 600 left: a full pass would walk more than was freed
    assert [trimmer.check(t) for t in (1, 2)] == [False, True]
    assert connections.collections == 0
    connections.open = 250  # 350 closed, 250 left
    assert [trimmer.check(t) for t in (3, 4)] == [False, True]
    assert connections.collections == 1


def test_a_wave_that_ends_while_members_talk_waits_for_a_pause_or_max_wait() -> None:
    # The full pass stops the event loop for 50-75 ms with 500 connections left: not in the
    # middle of a conversation (more than quiet_messages since the previous check), unless the
    # process never pauses.
    connections = Counter()
    accepted = 0
    trimmer = HeapTrimmer(
        lambda: connections.open,
        connections.trim,
        activity=lambda: accepted,
        collect=connections.collect,
        min_drop=10,
        min_interval_s=0,
        quiet_checks=1,
        quiet_messages=20,
        max_wait_s=30,
    )
    connections.open = 100
    trimmer.check(0)
    connections.open = 20  # a wave closes; those left talk on, 100 messages a second
    checks = []
    for t in range(1, 8):
        accepted += 100
        checks.append(trimmer.check(t))
    assert checks == [False] * 7
    accepted += 20  # a pause: no more than quiet_messages since the previous check
    assert trimmer.check(8)
    assert connections.trims == connections.collections == 1

    connections.open = 100
    trimmer.check(10)
    connections.open = 0  # the next wave ends on a process that never pauses
    checks = []
    for t in range(11, 60):
        accepted += 100
        checks.append(trimmer.check(t))
    # due at 12 (one quiet check after the closes), acted on max_wait_s later
    assert checks.index(True) == 12 + 30 - 11
    assert checks.count(True) == 1
    assert connections.trims == 2


def test_the_collection_after_a_wave_empties_the_free_lists() -> None:
    """CPython keeps up to 2,000 freed tuples of each small size for reuse (and lists, dicts,
    floats, contexts), cleared only by a full collection: after a wave of closes they were freed
    blocks of the connections, scattered over the pymalloc arenas of the wave, each arena kept
    by them (docs/benchmarks.md, "Memory after connections close")."""
    connections = Counter()
    trimmer = HeapTrimmer(lambda: connections.open, None, min_drop=1, quiet_checks=1)
    connections.open = 100
    trimmer.check(0)
    pairs = [tuple([n, n]) for n in range(3_000)]
    del pairs  # 2,000 of the 3,000 are kept for reuse
    connections.open = 0
    held = sys.getallocatedblocks()
    assert [trimmer.check(t) for t in (1, 2)] == [False, True]
    released = held - sys.getallocatedblocks()
    assert released > 1_500, f"{released} blocks given back"


def test_malloc_trim_is_found_on_glibc() -> None:
    import platform

    trim = glibc_malloc_trim()
    if platform.libc_ver()[0] == "glibc":
        assert trim is not None
        assert trim() in (0, 1)  # 1: memory was released, 0: there was none to release
    else:
        assert trim is None
