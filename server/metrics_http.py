"""The metrics endpoint: ``GET /metrics`` on an address of its own, off unless ``[metrics]
enabled = true``, on loopback unless configured otherwise (docs/deployment.md, "Metrics").

A port of its own rather than a path on the public one: behind the TLS proxy everything on the
public port is reachable from the internet, and a metrics path there would need a token and a
proxy rule to hide it; a loopback port is reachable only from the host (or through an SSH
tunnel, or by a Prometheus on the host), with nothing to leak or to guess.

It is a second uvicorn server in the same event loop, so a scrape reads the hub's and the
database's numbers directly; the main server handles the signals and this one stops with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.config import MetricsConfig
from server.metrics import CONTENT_TYPE, render
from server.realtime.hub import Hub
from server.storage.database import Database

log = logging.getLogger("hearth")


class _InnerServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT and SIGTERM to the main one."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class MetricsServer:
    def __init__(self, config: MetricsConfig, hub: Hub, db: Database) -> None:
        self._config = config

        async def metrics(request: Request) -> Response:
            return Response(
                render(hub, db), media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"}
            )

        self._app = Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])
        self._server: _InnerServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen, or raise OSError naming the metrics address (the process does not start)."""
        host, port = self._config.listen_host, self._config.listen_port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            listener = socket.create_server((host, port), family=family)
        except OSError as error:
            raise OSError(
                error.errno or errno.EADDRNOTAVAIL,
                f"metrics cannot listen on {host} port {port}: {error.strerror or error}",
            ) from None
        self._server = _InnerServer(
            uvicorn.Config(
                self._app,
                lifespan="off",
                ws="none",
                access_log=False,
                log_config=None,
                server_header=False,
            )
        )
        # The socket listens already: a scrape that comes before uvicorn accepts it waits.
        self._task = asyncio.create_task(
            self._server.serve(sockets=[listener]), name="hearth-metrics"
        )
        log.info("metrics served on port %d (GET /metrics)", port)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None
