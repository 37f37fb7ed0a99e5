"""Building and serving the application: Starlette for HTTP, python-socketio for the relay,
one SQLite database, all under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import socketio
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from server.clock import Clock, wall_clock_ms
from server.config import Config
from server.facilitator_auth import FacilitatorAuth
from server.headers import SecurityHeaders
from server.http_api import api_routes
from server.keyring import Keyring
from server.logs import configure_logging
from server.realtime.hub import Hub
from server.storage.database import Database
from server.storage.groups import GroupStore
from server.storage.messages import MessageStore
from server.storage.retention import purge_expired

log = logging.getLogger("hearth")
MINUTE_MS = 60_000


def static_dir() -> Path:
    return Path(str(resources.files("server") / "static"))


@dataclass(slots=True)
class Hearth:
    """A running Hearth: the ASGI app plus what has to be closed with it."""

    asgi: socketio.ASGIApp
    hub: Hub
    db: Database


def build_app(config: Config, db: Database, *, clock: Clock = wall_clock_ms) -> Hearth:
    keyring = Keyring.from_secret(config.secret_key.reveal(), config.franking.current_kid)
    auth = FacilitatorAuth(db, config, clock=clock)
    hub = Hub(config, GroupStore(db), MessageStore(db), auth, keyring, clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        purge = asyncio.create_task(
            _purge_periodically(db, auth, config, clock), name="hearth-purge"
        )
        # Objects alive after start-up live for the whole run: keep them out of every GC pass
        # and make full passes rare (STACK-NOTES: GC pauses set the relay's p99).
        gc.collect()
        gc.freeze()
        gc.set_threshold(100_000, 50, 1000)
        try:
            yield
        finally:
            purge.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purge
            await hub.sio.shutdown()

    routes = [
        *api_routes(config, keyring, clock),
        *auth.routes(),
        Mount("/", app=StaticFiles(directory=static_dir(), html=True), name="static"),
    ]
    starlette = Starlette(routes=routes, lifespan=lifespan)
    guarded = SecurityHeaders(starlette, https=config.server.https)
    return Hearth(socketio.ASGIApp(hub.sio, other_asgi_app=guarded), hub, db)


async def _purge_periodically(
    db: Database, auth: FacilitatorAuth, config: Config, clock: Clock
) -> None:
    interval = config.storage.purge_interval_minutes * 60
    while True:
        try:
            result = await purge_expired(db, clock())
            await auth.delete_expired_sessions()
            if result.messages:
                log.info("retention: purged %d expired messages", result.messages)
        except Exception:
            log.exception("retention purge failed")
        await asyncio.sleep(interval)


async def run(config: Config, *, host: str, port: int, clock: Clock = wall_clock_ms) -> None:
    db = await Database.open(
        config.storage.database,
        synchronous=config.storage.synchronous,
        batch_max=config.storage.batch_max,
    )
    try:
        hearth = build_app(config, db, clock=clock)
        server = uvicorn.Server(
            uvicorn.Config(
                hearth.asgi,
                host=host,
                port=port,
                ws="websockets-sansio",
                ws_max_size=config.server.max_message_bytes,
                ws_per_message_deflate=False,
                access_log=False,
                log_config=None,
                proxy_headers=False,
                server_header=False,
                lifespan="on",
            )
        )
        log.info("Hearth serving on port %d", port)
        await server.serve()
    finally:
        await db.close()


def serve(config: Config, *, host: str | None = None, port: int | None = None) -> None:
    configure_logging(config.server.log_level)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported OS
        asyncio.run(run(config, host=host or config.server.host, port=port or config.server.port))
    else:
        uvloop.run(run(config, host=host or config.server.host, port=port or config.server.port))
