"""Peers that stall, over plain TCP sockets, and what a server process holds for them (open file
descriptors and RSS, read from /proc). Used by test_stalled_clients.py and bench/churn.py."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from pathlib import Path

from crypto.challenge import sign_challenge
from crypto.encoding import b64decode, b64encode
from crypto.keys import SigningKey
from tests.server.raw_engineio import RawEngineIO


def open_fds(pid: int) -> int:
    """How many file descriptors the process holds open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def challenge(url: str) -> str:
    with urllib.request.urlopen(url + "/api/challenge", timeout=10) as response:
        body: dict[str, str] = json.load(response)
    return body["challenge"]


def never_reader(port: int, url: str, account: SigningKey) -> RawEngineIO:
    """A websocket that connects ``account`` (Socket.IO CONNECT answered) and from then on never
    reads: its receive buffer is small, so the server's writes back up quickly."""
    raw = RawEngineIO(port, url, receive_buffer=4096)
    proof = challenge(url)
    answer = raw.connect_namespace(
        {
            "v": 1,
            "account_pk": b64encode(account.public),
            "challenge": proof,
            "sig": b64encode(sign_challenge(account, b64decode(proof))),
        }
    )
    assert answer.startswith("40{"), answer
    return raw


def silent_tcp(port: int) -> socket.socket:
    """A TCP connection that never sends a byte (nor reads one)."""
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def half_request(port: int) -> socket.socket:
    """A TCP connection that sends the start of a WebSocket upgrade and then nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    return sock


def silent_websocket(port: int, url: str) -> RawEngineIO:
    """A completed WebSocket upgrade that then sends nothing and reads nothing: no Engine.IO
    answer to pings, no Socket.IO CONNECT."""
    return RawEngineIO(port, url, receive_buffer=4096)
