"""Building and serving the application: Starlette for HTTP, python-socketio for the relay,
one SQLite database, all under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
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
from server import allocator, gcpolicy
from server.clock import Clock, wall_clock_ms
from server.cluster import RedisManager, make_bus
from server.config import Config
from server.crisis_setup import missing_resources_warning
from server.errors import HearthError
from server.facilitator_auth import FacilitatorAuth
from server.headers import SecurityHeaders
from server.heaptrim import HeapTrimmer, heap_release
from server.http_api import CHALLENGE_TTL_MS, api_routes
from server.keyring import Keyring
from server.logs import configure_logging
from server.metrics_http import MetricsServer
from server.ratelimit import RedisAccountBuckets
from server.readiness import hearth_error_response, readiness_routes
from server.realtime.facilitator_sessions import watch_sessions
from server.realtime.hub import Hub
from server.realtime.link_slots import RedisLinkSlots
from server.realtime.transport import bounded_protocols
from server.redislink import RedisLink
from server.static_app import StaticAssets
from server.stopping import StoppingServer, keep_running_after_signal
from server.storage.audit import AuditStore
from server.storage.database import Database, Safeguards
from server.storage.groups import AccountStore, GroupStore
from server.storage.messages import MessageStore
from server.storage.opening import on_postgres, open_database
from server.storage.retention import DAY_MS, purge_expired
from server.storage.space import MIB, StorageFull
from server.used_challenges import LocalUsedChallenges, RedisUsedChallenges

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
    # Bound late: the hub is built below. Every process re-checks its facilitator sockets.
    auth = FacilitatorAuth(
        db, config, clock=clock, on_session_end=lambda _token_hash: hub.sessions_changed()
    )
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
        used_challenges=(
            RedisUsedChallenges(redis_url, LocalUsedChallenges(config.limits.max_used_challenges))
            if redis_url
            else None
        ),
        link_slots=RedisLinkSlots(redis_url, link) if redis_url and link is not None else None,
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
            asyncio.create_task(
                watch_sessions(hub, config.facilitators.session_check_seconds),
                name="hearth-sessions",
            ),
        ]
        # Objects alive after start-up live for the whole run: keep them out of every GC pass
        # and make full passes rare (STACK-NOTES: GC pauses set the relay's p99), with a
        # backstop for cycles that reach the oldest generation (gcpolicy.py).
        gcpolicy.tune()
        tasks.append(asyncio.create_task(gcpolicy.collect_fully_when_due(), name="hearth-gc"))
        tasks.append(
            asyncio.create_task(
                _forget_expired_challenges(hub, clock), name="hearth-used-challenges"
            )
        )
        # What a wave of closed connections freed goes back to the system (heaptrim.py).
        trimmer = HeapTrimmer(
            lambda: len(hub.sio.eio.sockets),
            heap_release(),
            activity=lambda: hub.stats.messages_accepted + hub.sio.manager.relayed,
        )
        tasks.append(asyncio.create_task(trimmer.run(), name="hearth-heap-trim"))
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
        *readiness_routes(db, lambda: hub.draining),
        *auth.routes(),
    ]
    # gzip for the larger dynamic answers (not the tiny ones, below 500 bytes); the page's files
    # are answered in front of it, compressed at start-up (server/static_app.py), and Socket.IO
    # never passes through either.
    starlette = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(GZipMiddleware)],
        exception_handlers={HearthError: hearth_error_response},  # e.g. storage_full
    )
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
    backend = config.moderation.backend
    if backend == "sqlite" and config.storage.url:
        # "this server's database": on PostgreSQL, so that every node sees the same reports
        backend = "postgres"
    context = BackendContext(
        database_path=config.storage.database,
        settings=settings.get(backend, {}),
        clock=clock,
        secret=keyring.moderation_secret,
        database_url=config.storage.url,
    )
    classifier_settings = dict(settings)
    # Without its own table, the crisis classifier uses the page's crisis words, of every language.
    words = [*config.safety.crisis_words]
    for extra in config.safety.crisis_words_by_locale.values():
        words += [word for word in extra if word not in words]
    classifier_settings.setdefault("crisis_language", {"phrases": words})
    return (
        load_backend(backend, context),
        load_classifiers(config.moderation.classifiers, classifier_settings),
    )


async def _forget_expired_challenges(hub: Hub, clock: Clock) -> None:
    """Every challenge lifetime, the claims of expired challenges go (used_challenges.py)."""
    while True:
        await asyncio.sleep(CHALLENGE_TTL_MS / 1000)
        hub.used_challenges.forget_expired(clock())


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
        except StorageFull:
            pass  # a full disk is logged once per episode (space.py); the next purge runs as usual
        except Exception:
            log.exception("retention purge failed")
        await asyncio.sleep(interval)


async def run(
    config: Config,
    *,
    host: str,
    port: int,
    clock: Clock = wall_clock_ms,
    notes: Iterable[tuple[int, str]] = (),
) -> None:
    """Serve until stopped; ``notes`` (level, line) are logged once the server is set up."""
    path = config.storage.database
    # server/storage/preflight.py; a PostgreSQL database is named without its password
    new = not config.storage.url and (not path.exists() or path.stat().st_size == 0)
    db = await open_database(
        config,
        # alone on the file: inline jobs pay (server/storage/database.py)
        inline_writes=not config.scale.redis_url,
        safeguards=safeguards(config),
    )
    if (postgres := on_postgres(db)) is not None:
        log.info("storing in PostgreSQL at %s", postgres.display_url)
    stop_timeout = config.server.shutdown_timeout_seconds
    metrics: MetricsServer | None = None
    try:
        hearth = build_app(config, db, clock=clock)
        if config.metrics.enabled:  # off by default (server/metrics_http.py)
            metrics = MetricsServer(config.metrics, hearth.hub, db)
            await metrics.start()
        # closes bounded in time, and a deadline for the first request (realtime/transport.py)
        http_protocol, ws_protocol = bounded_protocols(config.connections)
        server = StoppingServer(
            uvicorn.Config(
                hearth.asgi,
                host=host,
                port=port,
                http=http_protocol,
                # websockets-sansio with smaller per-connection objects (realtime/lean.py)
                ws=ws_protocol,
                # a commit may be larger than any other message (reader.py holds the rest to
                # max_message_bytes)
                ws_max_size=max(config.server.max_message_bytes, config.server.max_commit_bytes),
                ws_per_message_deflate=False,
                access_log=False,
                log_config=None,
                proxy_headers=bool(config.server.trusted_proxies),
                forwarded_allow_ips=list(config.server.trusted_proxies) or None,
                server_header=False,
                lifespan="on",
                timeout_graceful_shutdown=stop_timeout,
            ),
            hearth.hub,
            stop_timeout,
        )
        if new:
            log.info("started a new database at %s", path)
        log.info("Hearth serving on port %d", port)
        for level, note in notes:
            log.log(level, note)
        if (warning := missing_resources_warning(config.safety, config.path)) is not None:
            log.warning(warning)
        keep_running_after_signal()
        await server.serve()
    finally:
        if metrics is not None:
            await metrics.stop()
        await db.close(within_s=stop_timeout)
    log.info(
        "stopped cleanly: the database is closed"
        if config.storage.url
        else "stopped cleanly: the database is checkpointed and closed"
    )


def safeguards(config: Config) -> Safeguards:
    storage = config.storage
    return Safeguards(
        wal_max_bytes=storage.wal_max_mb * MIB,
        max_read_ms=storage.max_read_ms,
        reserve_bytes=storage.reserve_mb * MIB,
        min_free_bytes=storage.min_free_mb * MIB,
    )


def serve(config: Config, *, host: str | None = None, port: int | None = None) -> None:
    configure_logging(config.server.log_level)
    memory = allocator.report(config.server.allocator, allocator.settle())
    serving = run(
        config, host=host or config.server.host, port=port or config.server.port, notes=[memory]
    )
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported OS
        asyncio.run(serving)
    else:
        uvloop.run(serving)
