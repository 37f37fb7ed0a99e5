"""server/realtime/inbound.py: events registered with ``on_json_event`` skip python-socketio's
event machinery and are acknowledged exactly as python-socketio acknowledges them; every other
event still takes python-socketio's path. Also the ack's websocket frame (fanout.py).

A real uvicorn and raw websocket clients in this process (tests/server/inprocess.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
from websockets.asyncio.client import ClientConnection
from websockets.frames import Frame, Opcode

from server.realtime.fanout import DirectSocketIOServer, _text_frame_header
from server.realtime.jsoncodec import MsgspecJSON
from tests.server.inprocess import connected, serving

REPLIES: dict[str, Any] = {
    "dict": {"ok": True, "seq": 7, "text": "ünïcode ✓", "nested": [1, None, {"a": "b"}]},
    "none": None,
    "tuple": ("one", 2),
    "list": [1, 2],
}


@pytest.fixture
async def served() -> AsyncIterator[tuple[DirectSocketIOServer, int]]:
    sio = DirectSocketIOServer(async_mode="asgi", transports=["websocket"], json=MsgspecJSON)

    async def reply(sid: str, kind: str) -> Any:
        return REPLIES[kind]

    sio.on_json_event("fast", reply)
    sio.on("plain", reply)

    @sio.on("*")  # type: ignore[untyped-decorator]
    async def unknown(event: str, sid: str, *args: Any) -> Any:
        return {"unknown": event}

    async with serving(sio) as (_, port):
        yield sio, port


async def ack(ws: ClientConnection, packet: str) -> str:
    await ws.send(packet)
    while True:
        frame = str(await asyncio.wait_for(ws.recv(), 5))
        if frame != "2":  # an engine.io ping
            return frame


async def test_replies_are_encoded_as_python_socketio_encodes_them(
    served: tuple[DirectSocketIOServer, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, port = served
    internal = 0
    original = socketio.AsyncServer._handle_event_internal

    async def counted(self: Any, *args: Any) -> Any:
        nonlocal internal
        internal += 1
        return await original(self, *args)

    monkeypatch.setattr(socketio.AsyncServer, "_handle_event_internal", counted)
    ws = await connected(port)
    for n, kind in enumerate(REPLIES):
        fast = await ack(ws, f'42{n}["fast","{kind}"]')
        assert internal == 0  # the short path
        plain = await ack(ws, f'42{n}["plain","{kind}"]')
        assert internal == 1  # python-socketio's own path, for comparison
        internal = 0
        assert fast == plain
        assert fast.startswith(f"43{n}[")
    await ws.close()


async def test_an_event_without_an_ack_id_gets_no_reply(
    served: tuple[DirectSocketIOServer, int],
) -> None:
    _, port = served
    ws = await connected(port)
    await ws.send('42["fast","dict"]')
    assert await ack(ws, '421["fast","none"]') == "431[]"
    await ws.close()


async def test_other_events_and_namespaces_take_python_socketios_path(
    served: tuple[DirectSocketIOServer, int],
) -> None:
    _, port = served
    ws = await connected(port)
    assert await ack(ws, '425["nosuch",1]') == '435[{"unknown":"nosuch"}]'
    # not connected to /other: python-socketio ignores the event
    await ws.send('42/other,6["fast","dict"]')
    assert await ack(ws, '427["fast","list"]') == "437[[1,2]]"
    await ws.close()


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65_535, 65_536, 70_000])
def test_a_text_frame_header_is_what_websockets_writes(length: int) -> None:
    payload = b"x" * length
    expected = Frame(Opcode.TEXT, payload).serialize(mask=False)
    assert _text_frame_header(length) + payload == expected
