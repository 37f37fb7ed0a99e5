"""A loopback TCP relay that records what clients send a server: HTTP bodies as they are and
websocket frames unmasked (a client masks every frame, RFC 6455 §5.3, so the raw bytes would hide
plaintext from a scan). For tests that prove something never reaches the server in the clear."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from tests.conftest import free_port


def unmask_client_stream(stream: bytes) -> bytes:
    """The payloads of every websocket frame in ``stream`` after its HTTP upgrade request,
    unmasked, each followed by a newline; the HTTP part as it is."""
    head, found, rest = stream.partition(b"\r\n\r\n")
    if not found or b"upgrade: websocket" not in head.lower():
        return stream
    out = [head, b"\n"]
    at = 0
    while at + 2 <= len(rest):
        masked, length = rest[at + 1] & 0x80, rest[at + 1] & 0x7F
        at += 2
        if length == 126:
            length, at = int.from_bytes(rest[at : at + 2], "big"), at + 2
        elif length == 127:
            length, at = int.from_bytes(rest[at : at + 8], "big"), at + 8
        key = rest[at : at + 4] if masked else bytes(4)
        at += 4 if masked else 0
        payload = rest[at : at + length]
        at += length
        out.append(bytes(b ^ key[i % 4] for i, b in enumerate(payload)) + b"\n")
    return b"".join(out)


@dataclass
class Wiretap:
    """What went through: one byte string per client connection, in each direction."""

    port: int
    to_server: list[bytearray] = field(default_factory=list)
    to_client: list[bytearray] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def received_by_server(self) -> bytes:
        """Everything the server was sent, websocket frames unmasked."""
        return b"\n".join(unmask_client_stream(bytes(s)) for s in self.to_server)


@contextlib.asynccontextmanager
async def wiretap(server_port: int) -> AsyncIterator[Wiretap]:
    """Relay a free loopback port to ``server_port`` until the block ends, recording both ways."""
    tap = Wiretap(free_port())
    tasks: set[asyncio.Task[None]] = set()

    async def pump(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: bytearray
    ) -> None:
        try:
            while data := await reader.read(65536):
                log.extend(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def relay(
        client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", server_port)
        up, down = bytearray(), bytearray()
        tap.to_server.append(up)
        tap.to_client.append(down)
        both = [
            asyncio.ensure_future(pump(client_reader, server_writer, up)),
            asyncio.ensure_future(pump(server_reader, client_writer, down)),
        ]
        tasks.update(both)
        await asyncio.gather(*both)

    listener = await asyncio.start_server(relay, "127.0.0.1", tap.port)
    try:
        yield tap
    finally:
        listener.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await listener.wait_closed()
