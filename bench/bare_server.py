"""A bare python-socketio relay with the benchmark's semantics, to show the stack's ceiling.

``python -m bench.bare_server {defaults,tuned,tuned+coalescing} PORT``: a client joins the room
named in its ``auth``; ``msg.send`` is broadcast as ``msg`` to that room except the sender, then
acknowledged (``{"ok": true}``), the order Hearth uses. No validation, no storage, no crypto.

* ``defaults``: what you get without tuning: asyncio loop, polling + websocket, uvicorn's default
  websocket implementation with per-message deflate on, the default garbage collector.
* ``tuned``: STACK-NOTES' recipe: uvloop, websocket only, ``websockets-sansio``, no per-message
  deflate, ``gc.freeze()`` and raised thresholds after start-up.
* ``tuned+coalescing``: ``tuned`` with the transport work Hearth does for every broadcast, taken
  from Hearth itself: messages of a room that arrive in one turn of the event loop go out as one
  ``msg.batch`` frame (server/realtime/delivery.py, ``coalesce_max`` 64 as shipped), framed once
  and written to each socket (server/realtime/fanout.py), msgspec's JSON and the short path for
  incoming events (server/realtime/inbound.py). What Hearth does beyond it is its real work:
  validation, signature check, franking, SQLite.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

import socketio
import uvicorn

from server.realtime.delivery import Deliveries
from server.realtime.fanout import DirectSocketIOServer
from server.realtime.jsoncodec import MsgspecJSON
from server.realtime.wire import group_room

COALESCE_MAX = 64  # [server] coalesce_max as shipped


def build(tuned: bool) -> socketio.ASGIApp:
    sio = socketio.AsyncServer(
        async_mode="asgi",
        cors_allowed_origins="*",
        transports=["websocket"] if tuned else ["polling", "websocket"],
    )

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        if isinstance(auth, dict) and isinstance(auth.get("room"), str):
            await sio.enter_room(sid, auth["room"])

    async def send(sid: str, data: Any) -> dict[str, bool]:
        await sio.emit("msg", data, room=data["room"], skip_sid=sid)
        return {"ok": True}

    sio.on("connect", connect)
    sio.on("msg.send", send)

    def started() -> None:
        if tuned:
            gc.collect()
            gc.freeze()
            gc.set_threshold(100_000, 50, 1000)
        print("ready", flush=True)

    return socketio.ASGIApp(sio, on_startup=started)


def build_coalescing() -> socketio.ASGIApp:
    sio = DirectSocketIOServer(
        async_mode="asgi", json=MsgspecJSON, cors_allowed_origins="*", transports=["websocket"]
    )
    deliveries = Deliveries(sio, window_ms=0, max_batch=COALESCE_MAX)

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        if isinstance(auth, dict) and isinstance(auth.get("room"), str):
            await sio.enter_room(sid, group_room(auth["room"].encode()))

    async def send(sid: str, data: Any) -> dict[str, bool]:
        await deliveries.deliver(data["room"].encode(), data, sid)
        return {"ok": True}

    sio.on("connect", connect)
    sio.on_json_event("msg.send", send)

    def started() -> None:
        gc.collect()
        gc.freeze()
        gc.set_threshold(100_000, 50, 1000)
        print("ready", flush=True)

    return socketio.ASGIApp(sio, on_startup=started)


def main() -> None:
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode not in ("defaults", "tuned", "tuned+coalescing"):
        raise SystemExit("mode must be defaults, tuned or tuned+coalescing")
    tuned = mode != "defaults"
    options: dict[str, Any] = (
        {"loop": "uvloop", "ws": "websockets-sansio", "ws_per_message_deflate": False}
        if tuned
        else {"loop": "asyncio"}
    )
    app = build_coalescing() if mode == "tuned+coalescing" else build(tuned)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, **options
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
