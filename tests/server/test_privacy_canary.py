"""Plaintext canary: after a chat through the server, what people wrote is nowhere on disk,
and neither is the client's address or user agent."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.conftest import Clients, RunningServer, facilitator, member_in

CANARY = "canary-7f3a9c: I have not told anyone this before"


def files_of(server: RunningServer) -> dict[str, bytes]:
    found = {}
    for path in server.directory.iterdir():
        if path.name.startswith("hearth.sqlite3") or path.suffix == ".log":
            found[path.name] = path.read_bytes()
    return found


def needles() -> dict[str, bytes]:
    text = CANARY.encode()
    return {
        "plaintext": text,
        "plaintext fragment": text[:20],
        "base64 of plaintext": base64.b64encode(text)[:20],
        "utf-16 plaintext": CANARY.encode("utf-16-le")[:30],
        "client address": b"127.0.0.1",
        "user agent": b"aiohttp",
        "user agent (python)": b"Python/3",
    }


async def test_canary_is_in_neither_database_nor_logs(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Canary circle", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    for index in range(20):
        await ana.send(group, f"{CANARY} #{index}")
    await fac.wait_for(lambda: len(fac.texts(group)) == 20)
    assert fac.texts(group)[0] == f"{CANARY} #0"  # the canary really went through

    files = files_of(hearth_server)  # while running: the WAL still holds recent pages
    hearth_server.stop()
    files.update({f"{k} (after stop)": v for k, v in files_of(hearth_server).items()})
    assert any(name.startswith("hearth.sqlite3-wal") for name in files)
    assert any(name.endswith(".log") for name in files)
    for name, content in files.items():
        for what, needle in needles().items():
            assert needle not in content, f"{what} found in {name}"


def test_needles_would_be_found(tmp_path: Path) -> None:
    """The scan above is not vacuous: the same needles are found where they do occur."""
    sample = tmp_path / "sample.log"
    sample.write_bytes(CANARY.encode() + b" from 127.0.0.1 via aiohttp Python/3.11")
    content = sample.read_bytes()
    assert all(
        n in content for w, n in needles().items() if "base64" not in w and "utf-16" not in w
    )
