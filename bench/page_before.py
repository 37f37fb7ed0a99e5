"""Hearth serving another version of its page, for the page benchmark's baselines. Everything
but the files (API, Socket.IO, security headers) is the real server.

``python -m bench.page_before CONFIG STATIC_DIR``: the files served as before issue 19:
Starlette's StaticFiles (ETag revalidation only), no compression, no versioned names, no
modulepreload.

``python -m bench.page_before CONFIG STATIC_DIR --as-unminified``: served as today, but not
bundled (server/bundles.py), not minified (server/minify.py) and with every security header on
scripts and stylesheets (server/headers.py): as Hearth served its files before those three.
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
import uvloop
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from server.app import build_app
from server.config import load_config
from server.headers import SecurityHeaders
from server.logs import configure_logging
from server.realtime.lean import LeanWebSocketProtocol
from server.static_app import StaticAssets
from server.storage.database import Database

DYNAMIC = ("/api/", "/socket.io/", "/healthz")


class AsUnminified:
    def __init__(self, app: ASGIApp, static: Path) -> None:
        self.files = SecurityHeaders(
            StaticAssets(static, other=app, minified=False), https=False, lean_subresources=False
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.files(scope, receive, send)


class AsBefore:
    def __init__(self, app: ASGIApp, static: Path) -> None:
        self.app = app
        self.files = SecurityHeaders(StaticFiles(directory=static, html=True), https=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # nothing was compressed then
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]
            scope = {**scope, "headers": headers}
            if not str(scope["path"]).startswith(DYNAMIC):
                await self.files(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def serve(config_path: Path, static: Path, *, mode: str = "") -> None:
    """As server.app.run, but with the files served as before."""
    config = load_config(config_path)
    db = await Database.open(
        config.storage.database,
        synchronous=config.storage.synchronous,
        batch_max=config.storage.batch_max,
        inline_writes=not config.scale.redis_url,
    )
    try:
        hearth = build_app(config, db)
        server = uvicorn.Server(
            uvicorn.Config(
                (
                    AsUnminified(hearth.asgi, static)
                    if mode == "--as-unminified"
                    else AsBefore(hearth.asgi, static)
                ),
                host="127.0.0.1",
                port=config.server.port,
                ws=LeanWebSocketProtocol,
                ws_max_size=config.server.max_message_bytes,
                ws_per_message_deflate=False,
                access_log=False,
                log_config=None,
                server_header=False,
                lifespan="on",
            )
        )
        await server.serve()
    finally:
        await db.close()


if __name__ == "__main__":
    configure_logging("warning")
    mode = sys.argv[3] if len(sys.argv) > 3 else ""
    uvloop.run(serve(Path(sys.argv[1]), Path(sys.argv[2]), mode=mode))
