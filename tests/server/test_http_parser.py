"""HTTP is parsed by httptools (server/realtime/transport.py), which has no bound of its own on
a request's head: a head past 16 KiB (h11's bound) is cut off, a normal one is served."""

from __future__ import annotations

import socket

from tests.conftest import RunningServer


def exchange(server: RunningServer, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as peer:
        try:
            peer.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            return b""
        received = b""
        try:
            while chunk := peer.recv(65536):
                received += chunk
                if b"\r\n\r\n" in received and b"connection: close" not in received.lower():
                    break
        except ConnectionResetError:
            pass
        return received


def test_an_oversized_request_head_is_cut_off(hearth_server: RunningServer) -> None:
    padding = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"a" * 1000) for n in range(20))
    reply = exchange(hearth_server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + padding + b"\r\n")
    assert reply == b""


def test_a_normal_request_is_served(hearth_server: RunningServer) -> None:
    reply = exchange(hearth_server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200")
