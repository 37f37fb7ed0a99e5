"""What one member's connection costs the server, step by step, before and after a change.

For each mode a fresh ``hearth serve`` (through ``bench.churn_server``) is started; ``--clients``
members then, in turn and with all of them in each step before the next:

1. fetch a challenge (``GET /api/challenge``, what the page does before connecting),
2. connect: websocket handshake, Engine.IO open, Socket.IO CONNECT with the signed proof (the
   hub checks it, looks the account up and puts the socket in its rooms),
3. close.

The server's CPU (user + system, from ``/proc/<pid>/stat``) over each step, divided by the
number of clients, is printed per mode side by side. Modes: ``shipped`` (as it is), ``before``
(as it was before 2026-12-07: HTTP parsed by h11, and a leaving socket's rooms found by testing
every room, as python-socketio does), ``unfreed`` (what a closed connection left in memory
before 2026-12-07 08:00), ``pinned`` (what kept the arenas of a wave before 2026-12-07
11:00) and ``pymalloc`` (the shipped code on CPython's own allocator instead of jemalloc, as before
2026-12-07 14:00); see bench/churn_server.py. Rounds repeat ``--rounds`` times with the
modes interleaved, and the median round is shown.

Memory: each server's RSS at start, with all ``--clients`` connected, and after they closed
(once the server is idle again plus ``AFTER_CLOSE_S``, which leaves time for the heap trim of
server/heaptrim.py), from the last round; beside them the tuned python-socketio relay
(``bench.bare_server tuned``: no challenge, no authentication, its clients join one room).

    python -m bench.connect [--clients 2000] [--rounds 3]
        [--modes before,unfreed,pinned,pymalloc,shipped] [--probe FRAMES]

``--probe`` counts pymalloc's arenas: under jemalloc (``shipped``) there are none to count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import websockets

from bench import arenas
from bench.churn import REPO, challenge, churn_server, connect_one, free_port, rss_kib
from crypto.keys import SigningKey

MODES = ("before", "unfreed", "pinned", "pymalloc", "shipped")
AFTER_CLOSE_S = 5.0  # the trimmer trims after three quiet checks, one a second
STEPS = ("challenge", "connect", "close")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def settle(pid: int, quiet_s: float = 0.3, within_s: float = 20) -> None:
    """Wait until the server has used no CPU for ``quiet_s`` (its work of a step is done)."""
    deadline = time.monotonic() + within_s
    before = cpu_s(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet_s)
        now = cpu_s(pid)
        if now - before < 0.02:
            return
        before = now


async def one_round(
    pid: int, port: int, url: str, clients: int, batch: int = 100, probe: Path | None = None
) -> dict[str, float]:
    """Server CPU (µs per client) of each step, and the RSS (MB) after the round (with
    ``probe``, a census of the server's arenas before and after it is printed)."""
    accounts = [SigningKey.generate() for _ in range(clients)]
    spent: dict[str, float] = {}
    await settle(pid)
    baseline = await asyncio.to_thread(arenas.request, pid, probe) if probe else None
    start = cpu_s(pid)
    proofs: list[str] = []
    for first in range(0, clients, batch):
        chunk = range(first, min(first + batch, clients))
        proofs += await asyncio.gather(*(asyncio.to_thread(challenge, url) for _ in chunk))
    await settle(pid)
    spent["challenge"] = cpu_s(pid) - start
    start = cpu_s(pid)
    sockets = []
    for first in range(0, clients, batch):
        sockets += await asyncio.gather(
            *(
                connect_one(port, url, accounts[n], proofs[n])
                for n in range(first, min(first + batch, clients))
            )
        )
    await settle(pid)
    spent["connect"] = cpu_s(pid) - start
    rss_open = rss_kib(pid) / 1024
    if probe and baseline:
        opened = await asyncio.to_thread(arenas.request, pid, probe)
        if opened.get("traced"):
            print(f"pid {pid}, {clients} open:", file=sys.stderr)
            print(arenas.sites(opened, baseline, probe, clients), file=sys.stderr)
    start = cpu_s(pid)
    await asyncio.gather(*(ws.close() for ws in sockets))  # type: ignore[attr-defined]
    await settle(pid)
    spent["close"] = cpu_s(pid) - start
    await asyncio.sleep(AFTER_CLOSE_S)
    result = {step: seconds / clients * 1e6 for step, seconds in spent.items()}
    if probe:
        print(f"pid {pid}, {AFTER_CLOSE_S:.0f} s after {clients} closes:", file=sys.stderr)
        closed = await asyncio.to_thread(arenas.request, pid, probe)
        print(arenas.summary(closed, baseline), file=sys.stderr)
    result["rss_open"] = rss_open
    result["rss"] = rss_kib(pid) / 1024
    return result


@contextlib.contextmanager
def tuned_relay(directory: Path) -> Iterator[tuple[int, int]]:
    """``bench.bare_server tuned`` on a free port: yields its pid and port."""
    port = free_port()
    with (directory / "relay.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_server", "tuned", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
    try:
        deadline = time.monotonic() + 30
        while b"ready" not in (directory / "relay.log").read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((directory / "relay.log").read_text())
            time.sleep(0.05)
        yield process.pid, port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def relay_round(pid: int, port: int, clients: int, batch: int = 100) -> dict[str, float]:
    """RSS (MB) of the relay with ``clients`` connected, and after they closed."""

    async def connect() -> object:
        ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
            compression=None,
            open_timeout=30,
        )
        await ws.recv()  # Engine.IO open
        await ws.send("40" + json.dumps({"room": "r"}))
        await ws.recv()  # Socket.IO CONNECT
        return ws

    await settle(pid)
    sockets = []
    for first in range(0, clients, batch):
        sockets += await asyncio.gather(
            *(connect() for _ in range(first, min(first + batch, clients)))
        )
    await settle(pid)
    rss_open = rss_kib(pid) / 1024
    await asyncio.gather(*(ws.close() for ws in sockets))  # type: ignore[attr-defined]
    await settle(pid)
    await asyncio.sleep(AFTER_CLOSE_S)
    return {"rss_open": rss_open, "rss": rss_kib(pid) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.connect", description=__doc__)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--no-relay", action="store_true", help="leave the tuned relay out")
    parser.add_argument(
        "--probe",
        type=int,
        metavar="FRAMES",
        help="print what holds the server's pymalloc arenas after each round (bench/arenas.py),"
        " with allocation sites of FRAMES frames (0: none; tracemalloc slows the server)",
    )
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    rounds: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    baseline: dict[str, float] = {}
    relay: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="hearth-connect-") as work:
        probe = None
        if args.probe is not None:
            probe = Path(work) / "probe"
            os.environ[arenas.PROBE_ENV] = str(probe)
            os.environ[arenas.TRACE_ENV] = str(args.probe)
        servers = {m: churn_server(Path(work) / m, m) for m in modes}
        running = {m: s.__enter__() for m, s in servers.items()}
        try:
            for m, server in running.items():
                baseline[m] = rss_kib(server.pid) / 1024
            for _ in range(args.rounds):
                for m, server in running.items():  # interleaved: each mode sees the same load
                    rounds[m].append(
                        asyncio.run(
                            one_round(
                                server.pid, server.port, server.url, args.clients, probe=probe
                            )
                        )
                    )
        finally:
            for s in servers.values():
                s.__exit__(None, None, None)
        if not args.no_relay:
            with tuned_relay(Path(work)) as (pid, port):
                relay["start"] = rss_kib(pid) / 1024
                for _ in range(args.rounds):
                    relay.update(asyncio.run(relay_round(pid, port, args.clients)))
    print(
        f"Server CPU per connection (µs), {args.clients} clients at once, median of "
        f"{args.rounds} interleaved rounds"
    )
    print("step        " + "".join(f"{m:>12}" for m in modes))
    for step in STEPS:
        row = "".join(f"{statistics.median(r[step] for r in rounds[m]):12.0f}" for m in modes)
        print(f"{step:<12}{row}")
    total = "".join(
        f"{statistics.median(sum(r[s] for s in STEPS) for r in rounds[m]):12.0f}" for m in modes
    )
    print(f"{'total':<12}{total}")
    print()
    print(f"RSS (MB) of the server, {args.clients} clients, last round")
    columns = [*modes, *(["tuned relay"] if relay else [])]
    print("            " + "".join(f"{m:>12}" for m in columns))
    memory = {m: {"start": baseline[m], **rounds[m][-1]} for m in modes}
    if relay:
        memory["tuned relay"] = relay
    for label, key in (("at start", "start"), ("all open", "rss_open"), ("all closed", "rss")):
        print(f"{label:<12}" + "".join(f"{memory[m][key]:12.1f}" for m in columns))

    def kept(m: str) -> float:
        row = memory[m]
        return (row["rss"] - row["start"]) / (row["rss_open"] - row["start"])

    print(f"{'kept':<12}" + "".join(f"{kept(m):12.0%}" for m in columns))
    for m in modes:
        closed = ", ".join(f"{r['rss']:.1f}" for r in rounds[m])
        print(f"all closed, round by round, {m}: {closed}")
    print("(kept: of what the connections added, the share still held after they closed)")


if __name__ == "__main__":
    main()
