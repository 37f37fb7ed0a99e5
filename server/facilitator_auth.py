"""Facilitator login over HTTP, and the session checks the realtime layer relies on.

The cookie carries 32 random bytes; the database keeps only their SHA-256, so a leaked database
opens no session. A session ends after ``session_idle_minutes`` without use (sliding) or
``session_absolute_hours`` after login, whichever comes first. Logins are rate limited on
username and source together (server/login_limits.py) before any password is hashed; the source
is only a keyed hash in memory, never stored or logged.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.clock import Clock, wall_clock_ms
from server.config import Config
from server.errors import Code, HearthError, http_status
from server.login_limits import AttemptLimiter, LoginLimiter  # noqa: F401 - AttemptLimiter re-exported
from server.origins import OriginGate
from server.passwords import PasswordChecker
from server.storage.database import Database
from server.storage.facilitators import (
    Facilitator,
    FacilitatorStore,
    SessionRow,
)

log = logging.getLogger("hearth.facilitator_auth")

SessionEndHook = Callable[[bytes], Awaitable[None]]

COOKIE_NAME = "hearth_session"
SECURE_COOKIE_NAME = "__Host-hearth_session"  # __Host-: Secure, Path=/, no Domain (RFC 6265bis)
_TOKEN_BYTES = 32
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of 32 bytes, unpadded
_NO_STORE = {"Cache-Control": "no-store"}
_BAD_CREDENTIALS = HearthError(Code.BAD_CREDENTIALS, "Wrong username or password.")


@dataclass(frozen=True, slots=True)
class FacilitatorSession:
    facilitator_id: int
    username: str
    token_hash: bytes = field(repr=False)


class _LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str


class FacilitatorAuth:
    def __init__(
        self,
        db: Database,
        config: Config,
        clock: Clock = wall_clock_ms,
        *,
        on_session_end: SessionEndHook | None = None,
        password_checker: PasswordChecker | None = None,
    ) -> None:
        facilitators = config.facilitators
        self._store = FacilitatorStore(db)
        self._clock = clock
        self._on_session_end = on_session_end
        self._passwords = password_checker or PasswordChecker(
            facilitators.max_concurrent_password_checks
        )
        self._idle_ms = facilitators.session_idle_minutes * 60_000
        self._absolute_ms = facilitators.session_absolute_hours * 3_600_000
        # Touch a session at most this often: a write per request would be wasted on a
        # timeout measured in minutes.
        self._touch_after_ms = min(30_000, self._idle_ms // 4)
        self._max_password = facilitators.max_password_length
        # Room for the password with every character JSON-escaped, plus a username.
        self._max_body = 6 * facilitators.max_password_length + 1024
        self._limiter = LoginLimiter(
            facilitators.login_attempts_per_minute,
            facilitators.login_attempts_per_username_per_minute,
        )
        self._secure = config.server.https
        self.cookie_name = SECURE_COOKIE_NAME if self._secure else COOKIE_NAME
        self._origins = OriginGate(config.server.public_origins)

    def routes(self) -> list[Route]:
        return [
            Route("/api/facilitator/login", self._login, methods=["POST"]),
            Route("/api/facilitator/logout", self._logout, methods=["POST"]),
            Route("/api/facilitator/me", self._me, methods=["GET"]),
        ]

    async def session_from_cookies(self, cookies: Mapping[str, str]) -> FacilitatorSession | None:
        """The live session these cookies carry, touched as used; ``None`` otherwise."""
        token_hash = self._token_hash(cookies.get(self.cookie_name))
        if token_hash is None:
            return None
        return await self.keep_alive(token_hash)

    async def keep_alive(self, token_hash: bytes) -> FacilitatorSession | None:
        """``session_is_valid`` that also counts as use (slides the idle timeout)."""
        row = await self._store.get_session(token_hash)
        now = self._clock()
        if row is None:
            return None
        if not self._is_live(row, now):
            if await self._store.delete_session(token_hash):
                await self._session_ended(token_hash)
            return None
        if now - row.last_seen_at >= self._touch_after_ms:
            await self._store.touch_session(token_hash, now)
        return FacilitatorSession(row.facilitator_id, row.username, token_hash)

    async def session_is_valid(self, token_hash: bytes) -> bool:
        """One indexed read, no write: cheap enough to re-check open sockets periodically."""
        row = await self._store.get_session(token_hash)
        return row is not None and self._is_live(row, self._clock())

    async def end_sessions_of(self, facilitator_id: int) -> int:
        ended = await self._store.delete_sessions_of(facilitator_id)
        for token_hash in ended:
            await self._session_ended(token_hash)
        return len(ended)

    async def delete_expired_sessions(self) -> int:
        return await self._store.delete_expired_sessions(
            self._clock(), self._idle_ms, self._absolute_ms
        )

    def _is_live(self, row: SessionRow, now: int) -> bool:
        return (
            not row.facilitator_disabled
            and now - row.last_seen_at < self._idle_ms
            and now - row.created_at < self._absolute_ms
        )

    async def _session_ended(self, token_hash: bytes) -> None:
        if self._on_session_end is None:
            return
        try:
            await self._on_session_end(token_hash)
        except Exception:
            # The session is gone either way; the periodic re-check will close its sockets.
            log.exception("on_session_end hook failed")

    def _token_hash(self, token: str | None) -> bytes | None:
        if token is None or not _TOKEN.fullmatch(token):
            return None
        raw = base64.urlsafe_b64decode(token + "=")
        return hashlib.sha256(raw).digest()

    async def _login(self, request: Request) -> Response:
        if (refusal := self._refuse_foreign_origin(request)) is not None:
            return refusal
        body = await _read_body(request, self._max_body)
        if body is None:
            return _error(
                HearthError(
                    Code.BAD_REQUEST,
                    f"The request is too large: a password has at most {self._max_password} "
                    "characters.",
                )
            )
        try:
            offered = msgspec.json.decode(body, type=_LoginRequest)
        except msgspec.DecodeError:
            return _error(
                HearthError(
                    Code.BAD_REQUEST,
                    'Expected a JSON object {"username": string, "password": string}.',
                )
            )
        if len(offered.password) > self._max_password:
            return _error(
                HearthError(
                    Code.BAD_REQUEST,
                    f"The password is longer than {self._max_password} characters.",
                )
            )

        source = self._limiter.attempt(
            offered.username, request.client.host if request.client else "", self._clock()
        )
        wait_ms = source.wait_ms
        if wait_ms:
            log.warning("facilitator login refused: too many attempts")
            retry_after = max(1, math.ceil(wait_ms / 1000))
            return _error(
                HearthError(
                    Code.RATE_LIMITED,
                    f"Too many login attempts. Try again in {retry_after} seconds.",
                ),
                headers={"Retry-After": str(retry_after)},
            )

        facilitator = await self._check_credentials(offered.username, offered.password)
        if facilitator is None:
            # No username here: people type passwords into the username field.
            log.info("facilitator login refused: bad credentials")
            return _error(_BAD_CREDENTIALS)

        self._limiter.logged_in(source)
        token = secrets.token_bytes(_TOKEN_BYTES)
        token_hash = hashlib.sha256(token).digest()
        await self._store.create_session(token_hash, facilitator.id, self._clock())
        log.info("facilitator %s logged in", facilitator.username)
        response = _json({"ok": True, "username": facilitator.username})
        response.set_cookie(
            self.cookie_name,
            base64.urlsafe_b64encode(token).rstrip(b"=").decode("ascii"),
            max_age=self._absolute_ms // 1000,
            path="/",
            secure=self._secure,
            httponly=True,
            samesite="strict",
        )
        return response

    async def _check_credentials(self, username: str, password: str) -> Facilitator | None:
        login = await self._store.get_login(username)
        if login is None:
            await self._passwords.verify_unknown(password)
            return None
        # Verified even when disabled, so a disabled account answers in the same time.
        ok, new_hash = await self._passwords.verify(login.password_hash, password)
        if not ok or login.facilitator.disabled:
            return None
        if new_hash is not None:
            await self._store.replace_outdated_hash(
                login.facilitator.id, login.password_hash, new_hash
            )
        return login.facilitator

    async def _logout(self, request: Request) -> Response:
        if (refusal := self._refuse_foreign_origin(request)) is not None:
            return refusal
        token_hash = self._token_hash(request.cookies.get(self.cookie_name))
        if token_hash is not None and await self._store.delete_session(token_hash):
            await self._session_ended(token_hash)
        response = _json({"ok": True})
        response.delete_cookie(
            self.cookie_name, path="/", secure=self._secure, httponly=True, samesite="strict"
        )
        return response

    async def _me(self, request: Request) -> Response:
        session = await self.session_from_cookies(request.cookies)
        if session is None:
            return _error(HearthError(Code.AUTH_REQUIRED, "Please log in as a facilitator."))
        return _json({"ok": True, "username": session.username})

    def _refuse_foreign_origin(self, request: Request) -> Response | None:
        # SameSite=Strict already keeps the cookie off cross-site requests; this also stops
        # another site from logging a browser in to an account of its choosing.
        if self._origins.allows(request.headers.get("origin")):
            return None
        return _error(HearthError(Code.FORBIDDEN, "This origin may not log in here."))


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or ``None`` as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _json(
    content: Mapping[str, Any], status_code: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        dict(content), status_code=status_code, headers={**_NO_STORE, **(headers or {})}
    )


def _error(error: HearthError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return _json(error.to_json(), http_status(error.code), headers)
