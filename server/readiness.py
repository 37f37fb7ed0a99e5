"""Readiness for a load balancer or a monitor (``/readyz``), and refusals raised under an HTTP
route (``storage_full``, ``unavailable``) turned into their JSON error with the right status.

``/healthz`` says the process answers (liveness: restart it if not). ``/readyz`` says whether it
can do its work now: the database is open and accepts writes (no full-disk episode,
``server/storage/space.py``) and the disk holding it has at least ``storage.min_free_mb`` free.
A monitor that alerts on ``/readyz`` hears of a filling disk before the first refusal. On
PostgreSQL it says whether the database answers and accepts writes (a primary, not a standby).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.errors import Code, HearthError, http_status
from server.storage.database import Database
from server.storage.opening import on_postgres
from server.storage.space import MIB

NO_STORE = {"Cache-Control": "no-store"}


def readiness_routes(db: Database, stopping: Callable[[], bool]) -> list[Route]:
    """``stopping``: the server has begun to stop (a load balancer should send no one new)."""

    postgres = on_postgres(db)

    async def readyz_postgres(request: Request) -> JSONResponse:
        # The disk is the database server's: PostgreSQL reports it by refusing writes.
        assert postgres is not None
        closing = postgres.closing or stopping()
        writable = not closing and await postgres.writable()
        body: dict[str, Any] = {
            "ok": writable,
            "database": "writable" if writable else ("closing" if closing else "unreachable"),
        }
        if not writable:
            body["error"] = {
                "code": Code.UNAVAILABLE.value,
                "message": "the server is stopping"
                if closing
                else "the database cannot be reached or does not accept writes",
            }
        return JSONResponse(body, status_code=200 if writable else 503, headers=NO_STORE)

    if postgres is not None:
        return [Route("/readyz", readyz_postgres, methods=["GET"])]

    async def readyz(request: Request) -> JSONResponse:
        space = db.space
        free = await asyncio.to_thread(space.free_bytes)
        closing = db.closing or stopping()
        writable = not closing and space.writable()
        body: dict[str, Any] = {
            "ok": writable and free >= space.min_free_bytes,
            "database": "writable" if writable else ("closing" if closing else "full"),
            "free_mb": free // MIB,
            "min_free_mb": space.min_free_bytes // MIB,
            "wal_mb": round(db.wal_bytes() / MIB, 1),
        }
        if not body["ok"]:
            code = Code.UNAVAILABLE if closing else Code.STORAGE_FULL
            message = (
                "the server is stopping"
                if closing
                else "the disk holding the database is (nearly) full: free space on it"
            )
            body["error"] = {"code": code.value, "message": message}
        return JSONResponse(body, status_code=200 if body["ok"] else 503, headers=NO_STORE)

    return [Route("/readyz", readyz, methods=["GET"])]


async def hearth_error_response(request: Request, error: Exception) -> Response:
    """A refusal raised under an HTTP route (e.g. a login's session write on a full disk)."""
    assert isinstance(error, HearthError)
    headers = dict(NO_STORE)
    retry_after_ms = error.extra.get("retry_after_ms")
    if isinstance(retry_after_ms, int):
        headers["Retry-After"] = str(max(1, math.ceil(retry_after_ms / 1000)))
    return JSONResponse(error.to_json(), status_code=http_status(error.code), headers=headers)
