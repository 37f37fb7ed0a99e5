"""A deliberately minimal websocket + Engine.IO client over a plain TCP socket, for tests that
need to misbehave in ways a real client library would not (e.g. never read)."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from typing import Any


def frame(text: str) -> bytes:
    """One masked text frame (RFC 6455 §5.2), as every client must send."""
    payload = text.encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    if len(payload) < 126:
        head += bytes([0x80 | len(payload)])
    elif len(payload) < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawEngineIO:
    def __init__(self, port: int, origin: str, *, receive_buffer: int | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if receive_buffer is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(1)
        if b" 101 " not in response.split(b"\r\n", 1)[0]:
            raise ConnectionError(response.decode(errors="replace"))

    def read_text(self) -> str:
        """Read one unfragmented server frame (servers never mask)."""
        first, second = self._exact(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack(">H", self._exact(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", self._exact(8))[0]
        data = self._exact(length)
        if first & 0x0F == 0x8:
            raise ConnectionError("closed by the server")
        return data.decode()

    def _exact(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("connection closed")
            data += chunk
        return data

    def send_text(self, text: str) -> None:
        self.sock.sendall(frame(text))

    def connect_namespace(self, auth: dict[str, Any]) -> str:
        """Engine.IO open, then Socket.IO CONNECT with ``auth``; returns the server's answer."""
        opened = self.read_text()
        assert opened.startswith("0"), opened
        self.send_text("40" + json.dumps(auth))
        return self.read_text()

    def close(self) -> None:
        self.sock.close()
