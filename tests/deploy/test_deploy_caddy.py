"""deploy/Caddyfile: validated by Caddy itself, then run on loopback (with a self-signed
certificate instead of ACME) in front of Hearth, where the websocket handshake must pass with the
https:// origin and be refused with the http:// one."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import free_port
from tests.deploy.deploy_support import (
    ProxiedServer,
    check_static_files_pass_through,
    write_self_signed,
)

REPO = Path(__file__).resolve().parents[2]
CADDYFILE = REPO / "deploy" / "Caddyfile"
CADDY = shutil.which("caddy")

if CADDY is None and os.environ.get("CI") == "true":
    raise RuntimeError("caddy is missing in CI: .ci/run installs it (apt-get install -y caddy)")
pytestmark = pytest.mark.skipif(
    CADDY is None, reason="caddy is not installed (Debian: apt-get install -y caddy)"
)


def caddy_env(home: Path) -> dict[str, str]:
    # Caddy keeps state under XDG directories: keep all of it in the test's directory.
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }


def test_caddyfile_is_valid(tmp_path: Path) -> None:
    result = subprocess.run(
        [CADDY or "caddy", "validate", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=caddy_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def caddy_in_front(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("caddy")
    cert, key = write_self_signed(home)
    tls_port, http_port = free_port(), free_port()
    origin = f"https://localhost:{tls_port}"
    server = ProxiedServer(tmp_path_factory.mktemp("hearth"), free_port(), public_origin=origin)
    server.start()
    text = CADDYFILE.read_text()
    # Test-only globals: no admin endpoint, loopback ports, and never touch the system's trust
    # store (Caddy installs its local CA there as root unless told not to).
    globals_ = (
        "{\n\tadmin off\n\tskip_install_trust\n"
        f"\thttp_port {http_port}\n\thttps_port {tls_port}\n"
        "\tdefault_bind 127.0.0.1\n"
        f"\tstorage file_system {home / 'storage'}\n"
    )
    assert text.count("{\n\tlog {") == 1
    text = text.replace("{\n", globals_, 1)
    assert text.count("chat.example.org {") == 1
    text = text.replace("chat.example.org {", f"localhost:{tls_port} {{\n\ttls {cert} {key}")
    assert text.count("reverse_proxy 127.0.0.1:8000") == 1
    text = text.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}")
    config = home / "Caddyfile"
    config.write_text(text)
    log = home / "caddy.log"
    with log.open("wb") as out:
        caddy = subprocess.Popen(
            [CADDY or "caddy", "run", "--config", str(config), "--adapter", "caddyfile"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=caddy_env(home),
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert caddy.poll() is None, log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", tls_port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield origin, cert
    finally:
        caddy.terminate()
        try:
            caddy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            caddy.kill()
            caddy.wait()
        server.stop()


async def test_websocket_through_caddy_checks_the_https_origin(
    caddy_in_front: tuple[str, Path],
) -> None:
    origin, cert = caddy_in_front
    tls = ssl.create_default_context(cafile=str(cert))
    url = origin.replace("https://", "wss://") + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as http:
        async with http.get(f"{origin}/healthz") as response:
            assert response.status == 200
            assert len(response.headers.getall("Strict-Transport-Security")) == 1
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url, headers={"Origin": origin.replace("https", "http")})
        assert refused.value.status == 403
        async with http.ws_connect(url, headers={"Origin": origin}) as ws:
            assert (await ws.receive_str(timeout=10)).startswith("0{")


async def test_static_files_pass_through_caddy_compressed_once_and_cached(
    caddy_in_front: tuple[str, Path],
) -> None:
    origin, cert = caddy_in_front
    await check_static_files_pass_through(origin, ssl.create_default_context(cafile=str(cert)))
