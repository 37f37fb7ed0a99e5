"""Content notes travel inside the encrypted content: members read them, the server never sees
them (not in any frame it is sent, not in its database), and old messages without one still read."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from server.client import HearthClient
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, RunningServer
from tests.server.wiretap import unmask_client_stream, wiretap

NOTE = "note-canary 4b1e: abuse"
TEXT = "text-canary 9c2d: what happened at home"


def database_files(server: RunningServer) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in server.directory.iterdir()
        if p.name.startswith("hearth.sqlite3")
    }


def needles(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, raw[:16], secret.encode("utf-16-le")[:24], base64.b64encode(raw)[:16]]


async def test_a_note_reaches_members_and_never_the_server(hearth_server: RunningServer) -> None:
    async with wiretap(hearth_server.port) as tap:
        made: list[HearthClient] = []

        def client() -> HearthClient:
            made.append(HearthClient(tap.url, origin=hearth_server.url))
            return made[-1]

        try:
            fac = client()
            await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
            await fac.connect()
            group = await fac.create_group("Notes circle", pseudonym="Host Heron")
            ana = client()
            await ana.connect()
            joined, _ = await ana.join(await fac.create_invite(group), pseudonym="Quiet Fox")
            await fac.decide(group, ana.member_id(joined))
            await fac.rotate(group)
            await ana.wait_for(lambda: ana.keys[group].current == fac.keys[group].current)

            await ana.send(group, "an ordinary message, no note")
            await ana.send(group, TEXT, note=NOTE)
            await fac.wait_for(lambda: len(fac.texts(group)) == 2)
            plain, noted = (m for _, m in sorted(fac.inbox[group].items()))
            assert (plain.note, plain.text) == (None, "an ordinary message, no note")
            assert (noted.note, noted.text) == (NOTE, TEXT)
            # Read again from history, as a reload would.
            history, _ = await fac.history(group)
            assert (NOTE, TEXT) in [(m.note, m.text) for m in history]
            files = database_files(hearth_server)  # while running: the WAL holds recent pages
        finally:
            for c in made:
                await c.disconnect()
    sent = tap.received_by_server()
    sent_back = b"".join(bytes(s) for s in tap.to_client)  # the server does not mask
    # The scan sees plaintext where there is some: the pseudonym travels in the clear.
    assert b"Quiet Fox" in sent
    assert any(name.endswith("-wal") for name in files)
    for needle in needles(NOTE) + needles(TEXT):
        assert needle not in sent, f"{needle!r} reached the server"
        assert needle not in sent_back, f"{needle!r} was sent by the server"
        for name, content in files.items():
            assert needle not in content, f"{needle!r} found in {name}"


async def test_a_bad_note_is_refused_before_anything_is_sent(hearth_server: RunningServer) -> None:
    fac = HearthClient(hearth_server.url)
    try:
        await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
        await fac.connect()
        group = await fac.create_group("Notes circle", pseudonym="Host Heron")
        for bad in ["", "x" * 41, "self\u202eharm", "two\nlines"]:
            with pytest.raises(ValueError, match="content note"):
                await fac.send(group, "text", note=bad)
        history, _ = await fac.history(group)
        assert history == []
    finally:
        await fac.disconnect()


def test_the_scan_unmasks_websocket_frames(tmp_path: Path) -> None:
    """The scan above is not vacuous: a masked client frame holding the needle is found."""
    payload = NOTE.encode()
    key = bytes([0x11, 0x22, 0x33, 0x44])
    frame = bytes([0x81, 0x80 | len(payload)]) + key
    frame += bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    stream = b"GET /socket.io/ HTTP/1.1\r\nUpgrade: websocket\r\n\r\n" + frame
    assert payload not in stream
    assert payload in unmask_client_stream(stream)
