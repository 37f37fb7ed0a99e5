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
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware

from moderation.classifiers import Classifier
from moderation.plugins import load_backend, load_classifiers
from moderation.queue import BackendContext, ModerationQueue
from server.clock import Clock, wall_clock_ms
from server.cluster import RedisManager, make_bus
from server.config import Config
from server.facilitator_auth import FacilitatorAuth
from server.headers import SecurityHeaders
from server.http_api import api_routes
from server.keyring import Keyring
from server.logs import configure_logging
from server.ratelimit import RedisAccountBuckets
from server.realtime.hub import Hub
from server.realtime.lean import LeanWebSocketProtocol
from server.redislink import RedisLink
from server.static_app import StaticAssets
from server.storage.audit import AuditStore
from server.storage.database import Database
from server.storage.groups import AccountStore, GroupStore
from server.storage.messages import MessageStore
from server.storage.retention import DAY_MS, purge_expired

log = logging.getLogger("hearth")
MINUTE_MS = 60_000


def static_dir() -> Path:
    return Path(str(resources.files("server") / "static"))


@dataclass(slots=True)
class Hearth:
    """A running Hearth: the ASGI app plus what has to be closed with it."""

    asgi: SecurityHeaders
    hub: Hub
    db: Database


def build_app(config: Config, db: Database, *, clock: Clock = wall_clock_ms) -> Hearth:
    keyring = Keyring.from_secret(config.secret_key.reveal(), config.franking.current_kid)
    auth = FacilitatorAuth(db, config, clock=clock)
    queue, classifiers = load_moderation(config, keyring, clock)
    redis_url = config.scale.redis_url
    account_buckets = RedisAccountBuckets(redis_url) if redis_url else None
    # one subscription to Redis for the bus and the broadcasts, back after any outage
    link = RedisLink(redis_url) if redis_url else None
    hub = Hub(
        config,
        GroupStore(db, departed_key=keyring.departed_key),
        MessageStore(db),
        auth,
        keyring,
        clock,
        accounts=AccountStore(db),
        audit=AuditStore(db),
        queue=queue,
        classifiers=classifiers,
        bus=make_bus(link),
        account_buckets=account_buckets,
        client_manager=RedisManager(link) if link is not None else None,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await queue.start()
        await hub.start()
        tasks = [
            asyncio.create_task(hub.keep_presence_fresh(), name="hearth-presence"),
            asyncio.create_task(
                _purge_periodically(db, auth, queue, config, clock), name="hearth-purge"
            ),
            asyncio.create_task(hub.watch_backlogs(), name="hearth-backlogs"),
        ]
        # Objects alive after start-up live for the whole run: keep them out of every GC pass
        # and make full passes rare (STACK-NOTES: GC pauses set the relay's p99).
        gc.collect()
        gc.freeze()
        gc.set_threshold(100_000, 50, 1000)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await hub.close()  # sends coalesced messages still waiting
            await hub.sio.shutdown()
            await queue.close()
            if account_buckets is not None:
                await account_buckets.close()

    routes = [
        *api_routes(config, keyring, clock),
        *auth.routes(),
    ]
    # gzip for the larger dynamic answers (not the tiny ones, below 500 bytes); the page's files
    # are answered in front of it, compressed at start-up (server/static_app.py), and Socket.IO
    # never passes through either.
    starlette = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(GZipMiddleware)])
    site = StaticAssets(static_dir(), other=starlette)
    # Around everything, so that engine.io's own HTTP answers (400, 403) carry the headers too.
    guarded = SecurityHeaders(
        socketio.ASGIApp(hub.sio, other_asgi_app=site), https=config.server.https
    )
    return Hearth(guarded, hub, db)


def load_moderation(
    config: Config, keyring: Keyring, clock: Clock
) -> tuple[ModerationQueue, list[Classifier]]:
    """The configured backend and classifiers, found through their entry points."""
    settings = config.moderation.plugins
    context = BackendContext(
        database_path=config.storage.database,
        settings=settings.get(config.moderation.backend, {}),
        clock=clock,
        secret=keyring.moderation_secret,
    )
    classifier_settings = dict(settings)
    # Without its own table, the crisis classifier uses the page's crisis words.
    classifier_settings.setdefault("crisis_language", {"phrases": list(config.safety.crisis_words)})
    return (
        load_backend(config.moderation.backend, context),
        load_classifiers(config.moderation.classifiers, classifier_settings),
    )


async def _purge_periodically(
    db: Database, auth: FacilitatorAuth, queue: ModerationQueue, config: Config, clock: Clock
) -> None:
    interval = config.storage.purge_interval_minutes * 60
    while True:
        try:
            result = await purge_expired(db, clock())
            await auth.delete_expired_sessions()
            await queue.purge_resolved(config.moderation.report_retention_days * DAY_MS)
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
        # alone on the file: inline jobs pay (server/storage/database.py)
        inline_writes=not config.scale.redis_url,
    )
    try:
        hearth = build_app(config, db, clock=clock)
        server = uvicorn.Server(
            uvicorn.Config(
                hearth.asgi,
                host=host,
                port=port,
                # websockets-sansio with smaller per-connection objects (realtime/lean.py)
                ws=LeanWebSocketProtocol,
                ws_max_size=config.server.max_message_bytes,
                ws_per_message_deflate=False,
                access_log=False,
                log_config=None,
                proxy_headers=bool(config.server.trusted_proxies),
                forwarded_allow_ips=list(config.server.trusted_proxies) or None,
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
