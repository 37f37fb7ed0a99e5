"""Hearth behind a real nginx (Debian's package) with TLS, configured from deploy/nginx/hearth.conf.

This is where a wrong Origin or proxy setting shows up: a facilitator and a member go through a
whole session over https:// and wss:// on loopback, a handshake from the http:// origin is
refused, and neither nginx nor Hearth writes a client address to its logs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from server.client import HearthClient
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, free_port
from tests.deploy.deploy_support import (
    ProxiedServer,
    check_static_files_pass_through,
    write_self_signed,
)

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "deploy" / "nginx" / "hearth.conf"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
)

if NGINX is None:
    if os.environ.get("CI") == "true":
        pytest.fail("nginx is missing: CI must install Debian's nginx package", pytrace=False)
    pytest.skip(
        "nginx is not installed (apt-get install -y nginx); the proxy test needs the real one",
        allow_module_level=True,
    )


# --- nginx from deploy/nginx/hearth.conf --------------------------------------------------------


def replace_exactly(text: str, old: str, new: str, count: int) -> str:
    found = text.count(old)
    assert found == count, f"deploy/nginx/hearth.conf: expected {old!r} {count}x, found {found}x"
    return text.replace(old, new)


@dataclass
class Nginx:
    prefix: Path
    tls_port: int
    http_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"https://localhost:{self.tls_port}"

    def logs(self) -> dict[str, str]:
        return {
            path.name: path.read_text(errors="replace")
            for path in sorted((self.prefix / "logs").glob("*.log"))
        }


def write_nginx_config(nginx: Nginx, upstream_port: int, cert: Path, key: Path) -> Path:
    site = SITE.read_text()
    site = replace_exactly(
        site, "/etc/letsencrypt/live/chat.example.org/fullchain.pem", str(cert), 1
    )
    site = replace_exactly(site, "/etc/letsencrypt/live/chat.example.org/privkey.pem", str(key), 1)
    site = replace_exactly(site, "server_name chat.example.org;", "server_name localhost;", 2)
    site = replace_exactly(site, "server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};", 1)
    site = replace_exactly(site, "listen 80;", f"listen 127.0.0.1:{nginx.http_port};", 1)
    site = replace_exactly(
        site, "listen 443 ssl http2;", f"listen 127.0.0.1:{nginx.tls_port} ssl http2;", 1
    )
    # No IPv6 on some CI machines; the loopback IPv4 listeners are enough here.
    site = replace_exactly(site, "    listen [::]:80;\n", "", 1)
    site = replace_exactly(site, "    listen [::]:443 ssl http2;\n", "", 1)
    logs = nginx.prefix / "logs"
    site = replace_exactly(site, "/var/log/nginx/", f"{logs}/", 2)
    site = replace_exactly(site, "/var/www/letsencrypt", str(nginx.prefix / "acme"), 1)
    for directory in ("logs", "acme", "temp"):
        (nginx.prefix / directory).mkdir(parents=True, exist_ok=True)
    site_path = nginx.prefix / "hearth.conf"
    site_path.write_text(site)

    temp = nginx.prefix / "temp"
    # As root the workers would otherwise switch to an account that cannot enter tmp_path.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = nginx.prefix / "nginx.conf"
    main.write_text(
        f"{user}"
        "worker_processes 1;\n"
        f"pid {nginx.prefix}/nginx.pid;\n"
        f"error_log {logs}/main-error.log notice;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        # The default access log is on: the site's `access_log off` must be what stops it.
        f"    access_log {logs}/access.log;\n"
        f"    client_body_temp_path {temp}/body;\n"
        f"    proxy_temp_path {temp}/proxy;\n"
        f"    fastcgi_temp_path {temp}/fastcgi;\n"
        f"    uwsgi_temp_path {temp}/uwsgi;\n"
        f"    scgi_temp_path {temp}/scgi;\n"
        f"    include {site_path};\n"
        "}\n"
    )
    return main


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited early:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on {port}:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def proxied(
    tmp_path_factory: pytest.TempPathFactory, certificate: tuple[Path, Path]
) -> Iterator[tuple[ProxiedServer, Nginx]]:
    nginx = Nginx(tmp_path_factory.mktemp("nginx"), free_port(), free_port())
    server = ProxiedServer(
        tmp_path_factory.mktemp("hearth"), free_port(), public_origin=nginx.origin
    )
    server.add_facilitator()
    server.start()
    try:
        config = write_nginx_config(nginx, server.port, *certificate)
        command = [NGINX or "nginx", "-e", "stderr", "-p", str(nginx.prefix), "-c", str(config)]
        checked = subprocess.run(
            [*command, "-t"], capture_output=True, text=True, timeout=30, check=False
        )
        assert checked.returncode == 0, f"nginx -t refused the config:\n{checked.stderr}"
        stderr = nginx.prefix / "logs" / "stderr.txt"
        with stderr.open("wb") as out:
            nginx.process = subprocess.Popen(
                [*command, "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_for_port(nginx.tls_port, nginx.process, stderr)
            yield server, nginx
        finally:
            nginx.process.send_signal(signal.SIGQUIT)  # graceful: closes open websockets
            try:
                nginx.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.process.kill()
                nginx.process.wait()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """Verifies nginx's certificate for real (hostname included): nothing is switched off."""
    return ssl.create_default_context(cafile=str(certificate[0]))


def handshake_url(nginx: Nginx) -> str:
    return f"wss://localhost:{nginx.tls_port}/socket.io/?EIO=4&transport=websocket"


# --- the tests (in file order: the log check comes last, after all the traffic) -----------------


async def test_https_responses_carry_hsts_and_no_server_version(
    proxied: tuple[ProxiedServer, Nginx], tls: ssl.SSLContext
) -> None:
    _, nginx = proxied
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as http,
        http.get(f"{nginx.origin}/healthz") as response,
    ):
        assert response.status == 200
        assert len(response.headers.getall("Strict-Transport-Security")) == 1
        assert "max-age=" in response.headers["Strict-Transport-Security"]
        assert "/" not in response.headers.get("Server", "")  # server_tokens off


async def test_plain_http_redirects_to_https(proxied: tuple[ProxiedServer, Nginx]) -> None:
    _, nginx = proxied
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://localhost:{nginx.http_port}/join?x=1", allow_redirects=False) as response,
    ):
        assert response.status == 301
        assert response.headers["Location"] == "https://localhost/join?x=1"


async def test_login_cookie_is_host_prefixed_and_secure(
    proxied: tuple[ProxiedServer, Nginx], tls: ssl.SSLContext
) -> None:
    _, nginx = proxied
    body = {"username": FACILITATOR, "password": FACILITATOR_PASSWORD}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as http:
        async with http.post(
            f"{nginx.origin}/api/facilitator/login",
            json=body,
            headers={"Origin": f"http://localhost:{nginx.tls_port}"},
        ) as refused:
            assert refused.status == 403, "a login from the http:// origin must be refused"
            assert "Set-Cookie" not in refused.headers
        async with http.post(
            f"{nginx.origin}/api/facilitator/login", json=body, headers={"Origin": nginx.origin}
        ) as response:
            assert response.status == 200
            cookie = response.headers["Set-Cookie"]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert cookie.startswith("__Host-hearth_session=")
    assert "secure" in attributes
    assert "httponly" in attributes
    assert "path=/" in attributes
    assert not any(a.startswith("domain=") for a in attributes)


async def test_websocket_handshake_checks_the_https_origin(
    proxied: tuple[ProxiedServer, Nginx], tls: ssl.SSLContext
) -> None:
    _, nginx = proxied
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as http:
        # The classic proxy mistake seen from the other side: the http:// origin is not ours.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(
                handshake_url(nginx), headers={"Origin": f"http://localhost:{nginx.tls_port}"}
            )
        assert refused.value.status == 403
        # The right origin upgrades through nginx (101), and Engine.IO opens the session.
        async with http.ws_connect(handshake_url(nginx), headers={"Origin": nginx.origin}) as ws:
            opening = await ws.receive_str(timeout=10)
            assert opening.startswith("0{")


async def test_member_session_over_wss(
    proxied: tuple[ProxiedServer, Nginx], tls: ssl.SSLContext
) -> None:
    _, nginx = proxied
    fac = HearthClient(nginx.origin, origin=nginx.origin, ssl=tls)
    member = HearthClient(nginx.origin, origin=nginx.origin, ssl=tls)
    try:
        await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
        assert fac.session_cookie is not None
        assert fac.session_cookie.startswith("__Host-hearth_session=")
        await fac.connect()
        assert fac.sio.transport() == "websocket"
        group = await fac.create_group("Behind the proxy", pseudonym="Host Heron")

        await member.connect()
        token = await fac.create_invite(group)
        joined, state = await member.join(token, pseudonym="Quiet Fox")
        assert (joined, state) == (group, "pending")
        await fac.decide(group, member.member_id(group))
        await fac.rotate(group)
        await member.wait_for(lambda: member.keys[group].current == fac.keys[group].current)
        assert member.keys[group].current == 2

        await member.send(group, "hello through nginx")
        await fac.wait_for(lambda: fac.texts(group) == ["hello through nginx"])
        await fac.send(group, "welcome, Quiet Fox")
        expected = ["hello through nginx", "welcome, Quiet Fox"]
        await member.wait_for(lambda: member.texts(group) == expected)
        await fac.wait_for(lambda: fac.texts(group) == expected)
    finally:
        await member.disconnect()
        await fac.disconnect()


async def test_static_files_pass_through_compressed_once_and_cached(
    proxied: tuple[ProxiedServer, Nginx], tls: ssl.SSLContext
) -> None:
    await check_static_files_pass_through(proxied[1].origin, tls)


def test_no_client_address_in_any_log(proxied: tuple[ProxiedServer, Nginx]) -> None:
    server, nginx = proxied
    logs = nginx.logs()
    assert logs.get("access.log", "") == "", "the site's `access_log off` did not take effect"
    for name, text in logs.items():
        request_lines = [line for line in text.splitlines() if "client:" in line]
        assert not request_lines, f"nginx {name} names clients: {request_lines[:3]}"
        assert "127.0.0.1" not in text, f"nginx {name} holds a client address"
    assert "127.0.0.1" not in server.log_text()
