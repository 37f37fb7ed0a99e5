"""A bare python-socketio relay with the benchmark's semantics, to show the stack's ceiling.

``python -m bench.bare_server {defaults,tuned} PORT``: a client joins the room named in its
``auth``; ``msg.send`` is broadcast as ``msg`` to that room except the sender, then acknowledged
(``{"ok": true}``), the order Hearth uses. No validation, no storage, no crypto.

* ``defaults``: what you get without tuning: asyncio loop, polling + websocket, uvicorn's default
  websocket implementation with per-message deflate on, the default garbage collector.
* ``tuned``: STACK-NOTES' recipe: uvloop, websocket only, ``websockets-sansio``, no per-message
  deflate, ``gc.freeze()`` and raised thresholds after start-up.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

import socketio
import uvicorn


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


def main() -> None:
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode not in ("defaults", "tuned"):
        raise SystemExit("mode must be defaults or tuned")
    tuned = mode == "tuned"
    options: dict[str, Any] = (
        {"loop": "uvloop", "ws": "websockets-sansio", "ws_per_message_deflate": False}
        if tuned
        else {"loop": "asyncio"}
    )
    config = uvicorn.Config(
        build(tuned), host="127.0.0.1", port=port, log_level="warning", access_log=False, **options
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
