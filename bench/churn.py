"""Connection churn soak: does a ``hearth serve`` give back what connections cost once they leave?

Each round connects ``--clients`` members at once (a minimal websocket client: Engine.IO open,
Socket.IO CONNECT with a signed challenge, so every connection is authenticated and joins its
rooms), then closes them all, waits for the server to settle and reads its RSS from
``/proc/<pid>/status``. The same run serves Hearth twice, each time fresh: as shipped, and with
Python's default garbage collector settings (``--gc default`` of ``bench.churn_server``, which
turns Hearth's GC tuning off), and prints the two RSS series side by side.

    python -m bench.churn [--clients 500] [--rounds 16]

With the shipped settings of 2026-12-06 (``gc.freeze()`` after start-up and thresholds of
(100000, 50, 1000)) RSS rose round after round (issue 16 item 8); docs/benchmarks.md has the
figures before and after the fix.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import websockets

from crypto.challenge import sign_challenge
from crypto.encoding import b64decode, b64encode
from crypto.keys import SigningKey

REPO = Path(__file__).resolve().parents[1]
MODES = ("shipped", "default")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ChurnServer:
    """One ``hearth serve`` (through ``bench.churn_server``) in its own directory."""

    directory: Path
    gc_mode: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        key = self.directory / "secret.key"
        key.write_text(os.urandom(32).hex())
        key.chmod(0o600)
        config = self.directory / "config.toml"
        config.write_text(
            "[server]\n"
            f"port = {self.port}\n"
            f'public_origins = ["{self.url}"]\n'
            'secret_key_file = "secret.key"\n'
            'log_level = "warning"\n'
            # The code before a change ran on CPython's own allocator (server/allocator.py).
            f'allocator = "{"jemalloc" if self.gc_mode == "shipped" else "python"}"\n'
            "[storage]\n"
            'database = "hearth.sqlite3"\n'
        )
        with (self.directory / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.churn_server", self.gc_mode, str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.directory / "server.log").read_text())
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the server did not come up")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextlib.contextmanager
def churn_server(directory: Path, gc_mode: str) -> Iterator[ChurnServer]:
    server = ChurnServer(directory, gc_mode)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def challenge(url: str) -> str:
    """One server-issued challenge: a proof opens one connection only (docs/protocol.md §13.2),
    so each client of a round signs its own."""
    with urllib.request.urlopen(url + "/api/challenge", timeout=10) as response:  # noqa: S310
        body: dict[str, str] = json.load(response)
    return body["challenge"]


async def connect_one(port: int, url: str, account: SigningKey, proof: str) -> object:
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
        origin=websockets.Origin(url),
        compression=None,
        open_timeout=30,
    )
    opened = await ws.recv()
    if not (isinstance(opened, str) and opened.startswith("0")):
        raise ConnectionError(f"no Engine.IO open: {opened!r}")
    auth = {
        "v": 1,
        "account_pk": b64encode(account.public),
        "challenge": proof,
        "sig": b64encode(sign_challenge(account, b64decode(proof))),
    }
    await ws.send("40" + json.dumps(auth))
    answer = await ws.recv()
    if not (isinstance(answer, str) and answer.startswith("40{")):
        raise ConnectionError(f"Socket.IO connect refused: {answer!r}")
    return ws


async def churn_round(port: int, url: str, accounts: list[SigningKey], batch: int = 100) -> None:
    """Connect every account at once (``batch`` handshakes in flight), then close them all."""
    open_ = []
    for start in range(0, len(accounts), batch):
        chunk = accounts[start : start + batch]
        proofs = await asyncio.gather(*(asyncio.to_thread(challenge, url) for _ in chunk))
        open_ += await asyncio.gather(
            *(connect_one(port, url, a, p) for a, p in zip(chunk, proofs, strict=True))
        )
    await asyncio.gather(*(ws.close() for ws in open_))  # type: ignore[attr-defined]


async def settle_rss(pid: int, *, seconds: float = 1.0) -> int:
    await asyncio.sleep(seconds)
    return rss_kib(pid)


async def soak(server: ChurnServer, clients: int, rounds: int) -> list[int]:
    """RSS (KiB) at start, then after each round."""
    accounts = [SigningKey.generate() for _ in range(clients)]
    series = [await settle_rss(server.pid)]
    for _ in range(rounds):
        await churn_round(server.port, server.url, accounts)
        series.append(await settle_rss(server.pid))
    return series


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.churn", description=__doc__)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--modes", default=",".join(MODES), help="shipped,default")
    args = parser.parse_args()
    modes = [mode for mode in args.modes.split(",") if mode]
    series: dict[str, list[int]] = {}
    with tempfile.TemporaryDirectory(prefix="hearth-churn-") as work:
        for mode in modes:
            with churn_server(Path(work) / mode, mode) as server:
                started = time.monotonic()
                series[mode] = asyncio.run(soak(server, args.clients, args.rounds))
                print(f"{mode}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    print(f"RSS of `hearth serve` (MB) with {args.clients} clients connecting and leaving")
    print("round  " + "  ".join(f"{mode:>8}" for mode in modes))
    for index in range(args.rounds + 1):
        row = "  ".join(f"{series[mode][index] / 1024:8.1f}" for mode in modes)
        print(f"{index:5}  {row}")


if __name__ == "__main__":
    main()
