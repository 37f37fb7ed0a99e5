"""Facilitator login over a real uvicorn; the facilitator and session store on real SQLite."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from argon2 import PasswordHasher

from server.config import Config, load_config
from server.facilitator_auth import AttemptLimiter, FacilitatorAuth
from server.passwords import PasswordChecker
from server.storage.database import Database
from server.storage.facilitators import (
    DuplicateUsername,
    FacilitatorStore,
    UnknownFacilitator,
    normalise_username,
)
from server.storage.opening import on_postgres
from tests.server.conftest_helpers_auth import (
    CountingHasher,
    FakeClock,
    cookie_header,
    serve_routes,
    set_cookies,
    write_config,
)
from tests.storage_backends import BACKENDS, open_backend

PASSWORD = "correct horse battery staple"
LOGIN = "/api/facilitator/login"
LOGOUT = "/api/facilitator/logout"
ME = "/api/facilitator/me"
SETTINGS = """
[facilitators]
login_attempts_per_minute = 5
session_idle_minutes = 60
session_absolute_hours = 12
max_password_length = 128
"""


@dataclass
class Harness:
    """A running auth app: its URL, an HTTP client, the store and the injected clock."""

    url: str
    http: aiohttp.ClientSession
    auth: FacilitatorAuth
    store: FacilitatorStore
    db: Database
    clock: FakeClock
    config: Config
    hasher: CountingHasher
    ended: list[bytes] = field(default_factory=list)

    async def post(self, path: str, body: Any, **headers: str) -> aiohttp.ClientResponse:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.http.post(self.url + path, data=data, headers=headers) as response:
            await response.read()
            return response

    async def get(self, path: str, **headers: str) -> aiohttp.ClientResponse:
        async with self.http.get(self.url + path, headers=headers) as response:
            await response.read()
            return response

    async def login(self, username: str = "alice", password: str = PASSWORD) -> str:
        response = await self.post(LOGIN, {"username": username, "password": password})
        assert response.status == 200, await response.text()
        return set_cookies(response.headers.getall("Set-Cookie"))[self.auth.cookie_name]["value"]

    async def me(self, token: str) -> aiohttp.ClientResponse:
        return await self.get(ME, **cookie_header(self.auth.cookie_name, token))


@pytest.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_backend(request.param, tmp_path, request)
    try:
        yield db
    finally:
        await db.close()


async def start(tmp_path: Path, db: Database, toml: str = SETTINGS) -> AsyncIterator[Harness]:
    config = load_config(write_config(tmp_path / "conf", toml))
    clock = FakeClock()
    hasher = CountingHasher()
    ended: list[bytes] = []

    async def on_session_end(token_hash: bytes) -> None:
        ended.append(token_hash)

    auth = FacilitatorAuth(
        db,
        config,
        clock,
        on_session_end=on_session_end,
        password_checker=PasswordChecker(2, hasher),
    )
    store = FacilitatorStore(db)
    await store.create("alice", hasher.hash(PASSWORD), clock())
    async with (
        serve_routes(auth.routes()) as url,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
    ):
        yield Harness(url, http, auth, store, db, clock, config, hasher, ended)


@pytest.fixture
async def app(tmp_path: Path, database: Database) -> AsyncIterator[Harness]:
    async for harness in start(tmp_path, database):
        yield harness


@pytest.fixture
async def https_app(tmp_path: Path, database: Database) -> AsyncIterator[Harness]:
    toml = SETTINGS + '[server]\nhttps = true\npublic_origins = ["https://chat.example.org"]\n'
    async for harness in start(tmp_path, database, toml):
        yield harness


def token_hash(token: str) -> bytes:
    return hashlib.sha256(base64.urlsafe_b64decode(token + "=")).digest()


# --- login, me, cookies ------------------------------------------------------------------------


async def test_login_sets_a_strict_http_only_session_cookie(app: Harness) -> None:
    response = await app.post(LOGIN, {"username": "alice", "password": PASSWORD})
    assert response.status == 200
    assert json.loads(await response.text()) == {"ok": True, "username": "alice"}
    assert response.headers["Cache-Control"] == "no-store"
    cookies = set_cookies(response.headers.getall("Set-Cookie"))
    assert list(cookies) == ["hearth_session"]
    cookie = cookies["hearth_session"]
    assert cookie["httponly"] == "true"
    assert cookie["samesite"].lower() == "strict"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == str(12 * 3600)
    assert "secure" not in cookie
    assert "domain" not in cookie
    assert len(base64.urlsafe_b64decode(cookie["value"] + "=")) == 32


async def test_me_answers_with_the_username_for_a_live_session(app: Harness) -> None:
    token = await app.login("ALICE")  # usernames are case-insensitive
    response = await app.me(token)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert json.loads(await response.text()) == {"ok": True, "username": "alice"}


async def test_me_without_a_session_is_auth_required(app: Harness) -> None:
    for headers in ({}, cookie_header("hearth_session", "x" * 43), cookie_header("other", "1")):
        response = await app.get(ME, **headers)
        assert response.status == 401
        assert response.headers["Cache-Control"] == "no-store"
        body = json.loads(await response.text())
        assert body["ok"] is False
        assert body["error"]["code"] == "auth_required"


async def test_only_the_tokens_hash_is_stored(app: Harness, tmp_path: Path) -> None:
    token = await app.login()
    rows = await app.db.fetch_all("SELECT token_hash FROM sessions")
    assert [bytes(row[0]) for row in rows] == [token_hash(token)]
    raw = base64.urlsafe_b64decode(token + "=")
    if on_postgres(app.db) is None:  # (PostgreSQL's files are the cluster's: the row suffices)
        assert not _any_file_contains(tmp_path, "h.sqlite3*", [raw, token.encode()])


def _any_file_contains(directory: Path, pattern: str, needles: list[bytes]) -> bool:
    contents = [path.read_bytes() for path in directory.glob(pattern)]
    assert contents
    return any(needle in content for needle in needles for content in contents)


async def test_https_uses_a_secure_host_prefixed_cookie(https_app: Harness) -> None:
    response = await https_app.post(LOGIN, {"username": "alice", "password": PASSWORD})
    assert response.status == 200
    cookies = set_cookies(response.headers.getall("Set-Cookie"))
    assert list(cookies) == ["__Host-hearth_session"]
    cookie = cookies["__Host-hearth_session"]
    assert cookie["secure"] == "true"
    assert cookie["httponly"] == "true"
    assert cookie["samesite"].lower() == "strict"
    assert cookie["path"] == "/"
    assert "domain" not in cookie
    token = cookie["value"]
    assert (await https_app.me(token)).status == 200
    # The unprefixed name is not accepted in https mode.
    assert (await https_app.get(ME, **cookie_header("hearth_session", token))).status == 401


# --- refusals -----------------------------------------------------------------------------------


async def test_unknown_user_wrong_password_and_disabled_look_the_same(
    app: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await app.store.create("bob", app.hasher.hash(PASSWORD), app.clock())
    await app.store.set_disabled("bob", True)
    attempts = [
        {"username": "nobody", "password": PASSWORD},
        {"username": "alice", "password": "wrong password here"},
        {"username": "bob", "password": PASSWORD},
        {"username": "!!", "password": PASSWORD},
    ]
    bodies = set()
    verifications = app.hasher.verifications
    for attempt in attempts:
        response = await app.post(LOGIN, attempt)
        assert response.status == 401
        assert response.headers["Cache-Control"] == "no-store"
        assert "Set-Cookie" not in response.headers
        bodies.add(await response.text())
    assert len(bodies) == 1
    body = json.loads(bodies.pop())
    assert body["ok"] is False
    assert body["error"]["code"] == "bad_credentials"
    assert set(body["error"]) == {"code", "message"}
    # Every one of them cost one password verification: timing does not tell them apart.
    assert app.hasher.verifications - verifications == len(attempts)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("hearth"))
    assert "login refused" in logged
    for secret in ("127.0.0.1", PASSWORD, "wrong password here", "nobody"):
        assert secret not in logged


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'"alice"',
        b"{}",
        b'{"username": "alice"}',
        b'{"username": 1, "password": "x"}',
        b'{"username": "alice", "password": null}',
        b'{"username": "alice", "password": "x", "remember": true}',
        b"",
    ],
)
async def test_malformed_requests_are_bad_request(app: Harness, body: bytes) -> None:
    response = await app.post(LOGIN, body)
    assert response.status == 400
    assert response.headers["Cache-Control"] == "no-store"
    assert json.loads(await response.text())["error"]["code"] == "bad_request"
    assert app.hasher.verifications == 0


async def test_a_megabyte_password_is_refused_fast_and_unhashed(app: Harness) -> None:
    started = time.monotonic()
    response = await app.post(LOGIN, {"username": "alice", "password": "x" * 1_000_000})
    assert time.monotonic() - started < 2
    assert response.status == 400
    error = json.loads(await response.text())["error"]
    assert error["code"] == "bad_request"
    assert "128 characters" in error["message"]
    assert app.hasher.verifications == 0


async def test_a_password_just_over_the_limit_is_refused_unhashed(app: Harness) -> None:
    response = await app.post(LOGIN, {"username": "alice", "password": "x" * 129})
    assert response.status == 400
    error = json.loads(await response.text())["error"]
    assert error == {
        "code": "bad_request",
        "message": "The password is longer than 128 characters.",
    }
    assert app.hasher.verifications == 0


async def test_a_foreign_origin_cannot_log_in_or_out(app: Harness) -> None:
    body = {"username": "alice", "password": PASSWORD}
    response = await app.post(LOGIN, body, Origin="https://evil.example")
    assert response.status == 403
    assert json.loads(await response.text())["error"]["code"] == "forbidden"
    token = await app.login()
    headers = {"Origin": "https://evil.example", **cookie_header("hearth_session", token)}
    assert (await app.post(LOGOUT, b"", **headers)).status == 403
    assert (await app.me(token)).status == 200
    allowed = await app.post(LOGIN, body, Origin="http://localhost:8000")
    assert allowed.status == 200


# --- rate limits --------------------------------------------------------------------------------


async def test_too_many_attempts_get_429_with_retry_after(app: Harness) -> None:
    wrong = {"username": "alice", "password": "not the password"}
    for _ in range(5):
        assert (await app.post(LOGIN, wrong)).status == 401
    verifications = app.hasher.verifications
    response = await app.post(LOGIN, {"username": "alice", "password": PASSWORD})
    assert response.status == 429
    assert response.headers["Retry-After"] == "12"  # one attempt back every 60 s / 5
    assert response.headers["Cache-Control"] == "no-store"
    error = json.loads(await response.text())["error"]
    assert error["code"] == "rate_limited"
    assert app.hasher.verifications == verifications  # refused before any hashing
    app.clock.advance(minutes=0.2)
    assert (await app.post(LOGIN, {"username": "alice", "password": PASSWORD})).status == 200


async def test_one_source_is_limited_across_usernames(app: Harness) -> None:
    for index in range(5):
        response = await app.post(LOGIN, {"username": f"guess{index}", "password": PASSWORD})
        assert response.status == 401
    response = await app.post(LOGIN, {"username": "alice", "password": PASSWORD})
    assert response.status == 429


def test_the_limiter_keeps_keys_apart_and_refills() -> None:
    limiter = AttemptLimiter(per_minute=2)
    assert limiter.acquire(["user:a", "source:1"], 0) == 0
    assert limiter.acquire(["user:a", "source:2"], 0) == 0
    assert limiter.acquire(["user:a", "source:3"], 0) == 30_000  # user:a is empty
    assert limiter.acquire(["user:b", "source:3"], 0) == 0  # a refusal takes nothing
    assert limiter.acquire(["user:a", "source:4"], 30_000) == 0
    assert limiter.acquire(["user:a", "source:4"], 30_000) == 30_000


def test_the_limiter_forgets_the_least_recently_used_keys() -> None:
    limiter = AttemptLimiter(per_minute=1, max_keys=3)
    for key in ("a", "b", "c", "d"):
        assert limiter.acquire([key], 0) == 0
    assert limiter.acquire(["a"], 0) == 0  # dropped, so full again
    assert limiter.acquire(["d"], 0) == 60_000


# --- session lifetime ---------------------------------------------------------------------------


async def test_an_idle_session_expires_and_use_keeps_it_alive(app: Harness) -> None:
    token = await app.login()
    for _ in range(3):
        app.clock.advance(minutes=59)
        assert (await app.me(token)).status == 200
    app.clock.advance(minutes=60)
    assert (await app.me(token)).status == 401
    assert not await app.auth.session_is_valid(token_hash(token))
    # Found expired at use: deleted, and the realtime layer is told.
    assert await app.db.fetch_all("SELECT * FROM sessions") == []
    assert app.ended == [token_hash(token)]


async def test_a_session_ends_after_the_absolute_limit_however_used(app: Harness) -> None:
    token = await app.login()
    for _ in range(23):
        app.clock.advance(minutes=30)
        assert (await app.me(token)).status == 200
    app.clock.advance(minutes=29)
    assert await app.auth.session_is_valid(token_hash(token))
    app.clock.advance(minutes=1)  # 12 h since login
    assert not await app.auth.session_is_valid(token_hash(token))
    assert (await app.me(token)).status == 401


async def test_session_is_valid_does_not_count_as_use(app: Harness) -> None:
    token = await app.login()
    app.clock.advance(minutes=50)
    assert await app.auth.session_is_valid(token_hash(token))
    app.clock.advance(minutes=10)
    assert not await app.auth.session_is_valid(token_hash(token))


async def test_keep_alive_slides_the_idle_timeout(app: Harness) -> None:
    token = await app.login()
    app.clock.advance(minutes=50)
    session = await app.auth.keep_alive(token_hash(token))
    assert session is not None
    assert session.username == "alice"
    app.clock.advance(minutes=50)
    assert await app.auth.session_is_valid(token_hash(token))


async def test_session_from_cookies_reads_the_socket_handshake_cookies(app: Harness) -> None:
    token = await app.login()
    session = await app.auth.session_from_cookies({"hearth_session": token, "x": "y"})
    assert session is not None
    assert (session.username, session.token_hash) == ("alice", token_hash(token))
    assert session.facilitator_id == (await app.store.get_by_username("alice")).id  # type: ignore[union-attr]
    assert "token_hash" not in repr(session)
    for cookies in ({}, {"hearth_session": ""}, {"hearth_session": "a" * 43}, {"h": token}):
        assert await app.auth.session_from_cookies(cookies) is None


async def test_expired_sessions_are_purged(app: Harness) -> None:
    old = await app.login()
    app.clock.advance(minutes=61)
    fresh = await app.login()
    assert await app.auth.delete_expired_sessions() == 1
    rows = await app.db.fetch_all("SELECT token_hash FROM sessions")
    assert [bytes(row[0]) for row in rows] == [token_hash(fresh)]
    assert old != fresh


# --- logout, disabling, password changes --------------------------------------------------------


async def test_logout_ends_the_session_and_clears_the_cookie(app: Harness) -> None:
    token = await app.login()
    response = await app.post(LOGOUT, b"", **cookie_header("hearth_session", token))
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    cleared = set_cookies(response.headers.getall("Set-Cookie"))["hearth_session"]
    assert cleared["value"] in ("", '""')
    assert cleared["max-age"] == "0"
    assert cleared["httponly"] == "true"
    assert (await app.me(token)).status == 401
    assert app.ended == [token_hash(token)]
    # Logging out twice, or without a session, is harmless.
    assert (await app.post(LOGOUT, b"", **cookie_header("hearth_session", token))).status == 200
    assert (await app.post(LOGOUT, b"")).status == 200
    assert app.ended == [token_hash(token)]


async def test_a_disabled_accounts_session_stops_working(app: Harness) -> None:
    token = await app.login()
    other = await app.login()
    ended = await app.store.set_disabled("alice", True)
    assert sorted(ended) == sorted([token_hash(token), token_hash(other)])
    assert not await app.auth.session_is_valid(token_hash(token))
    assert (await app.me(token)).status == 401
    assert (await app.post(LOGIN, {"username": "alice", "password": PASSWORD})).status == 401
    await app.store.set_disabled("alice", False)
    assert (await app.me(token)).status == 401  # enabling does not revive old sessions
    assert (await app.me(await app.login())).status == 200


async def test_end_sessions_of_tells_the_realtime_layer(app: Harness) -> None:
    token = await app.login()
    alice = await app.store.get_by_username("alice")
    assert alice is not None
    assert await app.auth.end_sessions_of(alice.id) == 1
    assert app.ended == [token_hash(token)]
    assert not await app.auth.session_is_valid(token_hash(token))


async def test_login_replaces_an_outdated_hash_and_keeps_working(
    tmp_path: Path, database: Database
) -> None:
    config = load_config(write_config(tmp_path / "conf", SETTINGS))
    store = FacilitatorStore(database)
    old = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    new = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    await store.create("alice", old.hash(PASSWORD), 0)
    auth = FacilitatorAuth(database, config, password_checker=PasswordChecker(1, new))
    session = await _login_through(auth)
    login = await store.get_login("alice")
    assert login is not None
    assert login.password_hash.startswith("$argon2id$v=19$m=16,t=2,p=1$")
    assert not new.check_needs_rehash(login.password_hash)
    assert await auth.session_is_valid(session)
    await _login_through(auth)  # and the new hash verifies
    assert (await store.get_login("alice")).password_hash == login.password_hash  # type: ignore[union-attr]


async def _login_through(auth: FacilitatorAuth) -> bytes:
    async with (
        serve_routes(auth.routes()) as url,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.post(url + LOGIN, json={"username": "alice", "password": PASSWORD}) as response,
    ):
        assert response.status == 200
        token = set_cookies(response.headers.getall("Set-Cookie"))["hearth_session"]["value"]
    return token_hash(token)


# --- the store ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [("alice", "alice"), ("  Alice ", "alice"), ("ＡＬＩＣＥ", "alice"), ("a.b-c_9", "a.b-c_9")],
)
def test_usernames_are_normalised(given: str, expected: str) -> None:
    assert normalise_username(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("ab", "3 to 32 characters, this one has 2"),
        ("a" * 33, "3 to 32 characters, this one has 33"),
        ("al ice", "only letters a-z, digits 0-9, dots, dashes and underscores"),
        ("élodie", "only letters a-z"),
        ("bob\u202e", "only letters a-z"),
    ],
)
def test_bad_usernames_are_explained(given: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalise_username(given)


async def test_the_store_creates_lists_and_refuses_duplicates(database: Database) -> None:
    store = FacilitatorStore(database)
    zoe = await store.create("Zoe", "hash-z", 1)
    amy = await store.create("amy", "hash-a", 2)
    assert (zoe.username, zoe.disabled, zoe.created_at) == ("zoe", False, 1)
    assert await store.list() == [amy, zoe]
    assert await store.get(zoe.id) == zoe
    assert await store.get(999) is None
    assert await store.get_by_username("ZOE") == zoe
    assert await store.get_by_username("x") is None
    with pytest.raises(DuplicateUsername, match="'zoe' already exists"):
        await store.create("ZOE", "hash", 3)
    with pytest.raises(ValueError, match="3 to 32"):
        await store.create("z", "hash", 3)
    with pytest.raises(UnknownFacilitator, match="no facilitator is named 'nobody'"):
        await store.set_disabled("nobody", True)
    with pytest.raises(UnknownFacilitator):
        await store.set_password_hash("nobody", "hash")
    assert "hash-z" not in repr(await store.get_login("zoe"))


async def test_a_password_reset_ends_sessions_and_a_stale_rehash_loses(database: Database) -> None:
    store = FacilitatorStore(database)
    amy = await store.create("amy", "first", 1)
    await store.create_session(b"s" * 32, amy.id, 1)
    assert await store.set_password_hash("amy", "second") == [b"s" * 32]
    assert await store.get_session(b"s" * 32) is None
    # A login that verified "first" must not overwrite the reset.
    assert not await store.replace_outdated_hash(amy.id, "first", "first-rehashed")
    assert await store.replace_outdated_hash(amy.id, "second", "second-rehashed")
    assert (await store.get_login("amy")).password_hash == "second-rehashed"  # type: ignore[union-attr]


async def test_touch_never_moves_last_seen_back(database: Database) -> None:
    store = FacilitatorStore(database)
    amy = await store.create("amy", "hash", 1)
    await store.create_session(b"t" * 32, amy.id, 100)
    await store.touch_session(b"t" * 32, 500)
    await store.touch_session(b"t" * 32, 300)
    session = await store.get_session(b"t" * 32)
    assert session is not None
    assert (session.created_at, session.last_seen_at, session.username) == (100, 500, "amy")
    assert await store.delete_session(b"t" * 32)
    assert not await store.delete_session(b"t" * 32)
