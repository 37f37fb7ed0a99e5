"""Privacy under a full session: no plaintext, client address, source port or user agent in the
database (file, WAL, SHM), the log or any response header; security headers on every route."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.app import static_dir
from server.assets import AssetTable
from server.client import HearthClient
from tests.adversarial.adv_support import GENEROUS_LIMITS, RawSocket, serve_with
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, RunningServer, free_port, member_in

USER_AGENT = "AdvProbe/7.3 (privacy-ua-5c1e9b)"
CANARIES = [f"adv-canary-{i}-q8z: what I said in the circle stays there" for i in range(6)]
API_PREFIXES = ("/api/",)


class Recorder:
    """Every response header seen and every local (source) port used."""

    def __init__(self) -> None:
        self.headers: list[tuple[str, str, dict[str, str]]] = []
        self.ports: set[int] = set()

    def note(self, method: str, path: str, response: aiohttp.ClientResponse) -> None:
        self.headers.append((method, path, {k.lower(): v for k, v in response.headers.items()}))
        if response.connection is not None and response.connection.transport is not None:
            sockname = response.connection.transport.get_extra_info("sockname")
            if sockname:
                self.ports.add(int(sockname[1]))


class ProbeClient(HearthClient):
    """A HearthClient that sends a distinctive User-Agent everywhere and records headers."""

    def __init__(self, base_url: str, recorder: Recorder) -> None:
        super().__init__(base_url, timeout=20)
        self.recorder = recorder
        connect = self.sio.connect

        async def connect_with_agent(*args: Any, headers: dict[str, str], **kwargs: Any) -> None:
            await connect(*args, headers={**headers, "User-Agent": USER_AGENT}, **kwargs)
            ws = getattr(self.sio.eio, "ws", None)
            sockname = ws.get_extra_info("sockname") if ws is not None else None
            if sockname:
                recorder.ports.add(int(sockname[1]))

        self.sio.connect = connect_with_agent  # type: ignore[method-assign]

    async def _http(self, method: str, path: str, json: Any = None) -> tuple[int, dict[str, Any]]:
        headers = {"Origin": self.origin, "User-Agent": USER_AGENT}
        if self.session_cookie:
            headers["Cookie"] = self.session_cookie
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.base_url + path, json=json, headers=headers) as response,
        ):
            self.recorder.note(method, path, response)
            body = await response.json()
            cookie = response.headers.get("Set-Cookie")
            if cookie:
                self.session_cookie = cookie.split(";", 1)[0]
            return response.status, body


def static_routes() -> list[str]:
    root = static_dir()
    found = ["/", "/console.html"]
    for folder in ("js", "css", "vendor"):
        found += [f"/{folder}/{p.name}" for p in sorted((root / folder).iterdir()) if p.is_file()]
    return found + sorted(AssetTable.build(root).by_url)  # the versioned URLs too


async def request_every_route(
    server: RunningServer, recorder: Recorder, cookie: str | None
) -> None:
    plain = {"User-Agent": USER_AGENT, "Origin": server.url}
    with_cookie = {**plain, "Cookie": cookie} if cookie else plain
    requests: list[tuple[str, str, dict[str, str], Any]] = [
        ("GET", path, plain, None) for path in static_routes()
    ]
    requests += [
        ("GET", "/healthz", plain, None),
        ("GET", "/api/challenge", plain, None),
        ("GET", "/api/settings", plain, None),
        ("GET", "/api/facilitator/me", plain, None),
        ("GET", "/api/facilitator/me", with_cookie, None),
        ("POST", "/api/facilitator/login", plain, {"username": "alice", "password": "nope"}),
        ("POST", "/api/facilitator/login", plain, {"username": 1}),
        ("GET", "/no/such/page.html", plain, None),
        ("GET", "/js/../../secret.key", plain, None),
    ]
    async with aiohttp.ClientSession() as http:
        for method, path, headers, body in requests:
            async with http.request(
                method, server.url + path, headers=headers, json=body
            ) as response:
                recorder.note(method, path, response)
                await response.read()


def check_security_headers(recorder: Recorder, *, https: bool) -> None:
    assert recorder.headers
    for method, path, headers in recorder.headers:
        where = f"{method} {path}"
        # a script or a stylesheet gets the headers that act on it, not the document-only ones
        # (server/headers.py); a page, an API answer or an error gets them all
        if headers.get("content-type", "").startswith(("text/javascript", "text/css")):
            assert headers.get("cross-origin-resource-policy") == "same-origin", where
        else:
            csp = headers.get("content-security-policy", "")
            directives = {d.strip() for d in csp.split(";")}
            for needed in (
                "default-src 'self'",
                "object-src 'none'",
                "base-uri 'none'",
                "frame-ancestors 'none'",
            ):
                assert needed in directives, f"{where}: CSP {csp!r} lacks {needed}"
            assert headers.get("x-frame-options") == "DENY", where
        assert headers.get("referrer-policy") == "no-referrer", where
        assert headers.get("x-content-type-options") == "nosniff", where
        if https:
            hsts = headers.get("strict-transport-security", "")
            assert re.search(r"max-age=(\d+)", hsts), where
            assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 15_552_000, where  # type: ignore[union-attr]
        else:
            assert "strict-transport-security" not in headers, f"{where}: HSTS over plain http"
        if path.startswith(API_PREFIXES) or path == "/healthz":
            assert "no-store" in headers.get("cache-control", ""), f"{where}: not no-store"
        assert "server" not in headers or "uvicorn" not in headers["server"].lower(), where


def needles(ports: set[int]) -> dict[str, re.Pattern[bytes]]:
    found = {}
    for index, canary in enumerate(CANARIES):
        text = canary.encode()
        found[f"canary {index}"] = re.compile(re.escape(text[:24]))
        found[f"canary {index} utf-16"] = re.compile(re.escape(canary.encode("utf-16-le")[:40]))
        found[f"canary {index} base64"] = re.compile(re.escape(base64.b64encode(text)[:24]))
        found[f"canary {index} base64url"] = re.compile(
            re.escape(base64.urlsafe_b64encode(text)[:24])
        )
    found["client address"] = re.compile(rb"127\.0\.0\.1")
    found["user agent"] = re.compile(re.escape(USER_AGENT.encode()))
    found["user agent token"] = re.compile(rb"privacy-ua-5c1e9b")
    found["aiohttp agent"] = re.compile(rb"Python/3\.\d+ aiohttp")
    for port in ports:
        found[f"source port {port}"] = re.compile(
            rb"(?<![0-9])" + str(port).encode() + rb"(?![0-9])"
        )
    return found


def files_of(server: RunningServer) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes()
        for path in server.directory.iterdir()
        if path.name.startswith(server.database.name) or path.suffix == ".log"
    }


@pytest.fixture
def privacy_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_with(tmp_path / "hearth")


class HttpsServer(RunningServer):
    def write_config(self) -> None:
        super().write_config()
        text = self.config_path.read_text()
        self.config_path.write_text(text.replace("[server]\n", "[server]\nhttps = true\n", 1))


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[RunningServer]:
    server = HttpsServer(tmp_path / "hearth-https", free_port(), extra_config=GENEROUS_LIMITS)
    server.add_facilitator()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_full_session_leaves_no_trace(privacy_server: RunningServer) -> None:
    server = privacy_server
    recorder = Recorder()
    made: list[HearthClient] = []

    def make() -> HearthClient:
        client = ProbeClient(server.url, recorder)
        made.append(client)
        return client

    try:
        fac = make()
        await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
        await fac.connect()
        group = await fac.create_group("Privacy circle", pseudonym="Host Heron")
        ana = await member_in(make, fac, group, "Quiet Fox")
        bob = await member_in(make, fac, group, "Brave Owl")
        for index, canary in enumerate(CANARIES[:4]):
            await (ana if index % 2 else bob).send(group, canary)
        await fac.wait_for(lambda: len(fac.texts(group)) >= 4)
        assert CANARIES[0] in fac.texts(group)  # the canaries really went through
        await ana.leave(group)
        await fac.rotate(group)
        await bob.wait_for(lambda: bob.keys[group].current == fac.keys[group].current)
        for canary in CANARIES[4:]:
            await bob.send(group, canary)
        await fac.wait_for(lambda: len(fac.texts(group)) >= len(CANARIES))
        # A raw handshake with the agent too (and its response headers).
        raw = await RawSocket.open(server, headers={"User-Agent": USER_AGENT})
        sockname = raw.ws.get_extra_info("sockname")
        if sockname:
            recorder.ports.add(int(sockname[1]))
        await raw.close()
        await request_every_route(server, recorder, fac.session_cookie)
        status, _ = await fac._http("POST", "/api/facilitator/logout")
        assert status == 200
        status, _ = await fac._http("GET", "/api/facilitator/me")
        assert status == 401
    finally:
        for client in made:
            await client.disconnect()

    assert recorder.ports, "no source port recorded: the port scan would be vacuous"
    files = files_of(server)  # while running: the WAL still holds recent pages
    server.stop()
    files.update({f"{k} (after stop)": v for k, v in files_of(server).items()})
    assert any("-wal" in name for name in files)
    assert any(name.endswith(".log") for name in files)
    headers_text = "\n".join(
        f"{m} {p} " + "; ".join(f"{k}: {v}" for k, v in h.items()) for m, p, h in recorder.headers
    ).encode()
    files["response headers"] = headers_text
    leaks = [
        f"{what} in {name}"
        for name, content in files.items()
        for what, pattern in needles(recorder.ports).items()
        if pattern.search(content)
    ]
    assert not leaks, leaks
    check_security_headers(recorder, https=False)


async def test_security_headers_on_every_route_with_https(https_server: RunningServer) -> None:
    recorder = Recorder()
    await request_every_route(https_server, recorder, None)
    check_security_headers(recorder, https=True)
    login = next(h for m, p, h in recorder.headers if p == "/api/facilitator/login" and m == "POST")
    assert "set-cookie" not in login  # a failed login sets nothing


async def test_secure_cookie_with_https(https_server: RunningServer) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            https_server.url + "/api/facilitator/login",
            json={"username": FACILITATOR, "password": FACILITATOR_PASSWORD},
            headers={"Origin": https_server.url},
        ) as response,
    ):
        assert response.status == 200
        cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-hearth_session=")
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite", "path"} <= attributes, cookie
    assert "domain" not in attributes, cookie


async def test_api_error_answers_are_no_store(privacy_server: RunningServer) -> None:
    """Protocol 13.1: every API answer carries Cache-Control: no-store, also the router's own
    answers (wrong method, unknown API path)."""
    recorder = Recorder()
    async with aiohttp.ClientSession() as http:
        for method, path in (("GET", "/api/facilitator/login"), ("GET", "/api/no-such-endpoint")):
            async with http.request(method, privacy_server.url + path) as response:
                assert response.status in (404, 405), path
                recorder.note(method, path, response)
    check_security_headers(recorder, https=False)


async def test_engineio_answers_carry_security_headers(privacy_server: RunningServer) -> None:
    """Protocol 13.1: *every* HTTP answer carries the security headers, including the ones
    Engine.IO writes itself (polling refused, foreign Origin refused)."""
    recorder = Recorder()
    async with aiohttp.ClientSession() as http:
        for path, headers in (
            ("/socket.io/?EIO=4&transport=polling", {"Origin": privacy_server.url}),
            ("/socket.io/?EIO=4&transport=websocket", {"Origin": "http://evil.example"}),
        ):
            async with http.get(privacy_server.url + path, headers=headers) as response:
                assert response.status in (400, 403), path
                recorder.note("GET", path, response)
    check_security_headers(recorder, https=False)
