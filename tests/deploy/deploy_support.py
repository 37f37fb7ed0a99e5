"""Shared by the deployment tests: a self-signed certificate, Hearth set up for a TLS proxy."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import brotli
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from server.assets import IMMUTABLE
from tests.conftest import RunningServer

# --- a self-signed certificate for localhost ---------------------------------------------------


def write_self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


# --- Hearth configured as docs/deployment.md says ----------------------------------------------


@dataclass
class ProxiedServer(RunningServer):
    """A RunningServer configured for a TLS proxy: https origin, https = true, loopback only."""

    public_origin: str = ""

    def write_config(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        key = self.directory / "secret.key"
        if not key.exists():
            key.write_text(os.urandom(32).hex())
            key.chmod(0o600)
        self.config_path.write_text(
            "[server]\n"
            'host = "127.0.0.1"\n'
            f"port = {self.port}\n"
            f'public_origins = ["{self.public_origin}"]\n'
            "https = true\n"
            'trusted_proxies = ["127.0.0.1"]\n'
            'secret_key_file = "secret.key"\n'
            'log_level = "info"\n'
            "[storage]\n"
            'database = "hearth.sqlite3"\n'
        )


# --- the page's files through the proxy --------------------------------------------------------

VERSIONED_MODULE = re.compile(
    r'<script type="module" src="(/js/member(?:\.bundle\.min)?\.[0-9a-f]{12}\.js)"'
)


async def check_static_files_pass_through(origin: str, tls: ssl.SSLContext) -> None:
    """The proxy passes Hearth's compressed files and caching headers on as they are: brotli
    once (not compressed again, not stripped), immutable for versioned URLs, no-cache for the
    page, no-store for the API."""
    connector = aiohttp.TCPConnector(ssl=tls)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as http:
        accept = {"Accept-Encoding": "gzip, br"}
        async with http.get(f"{origin}/", headers=accept) as response:
            assert response.status == 200
            assert response.headers["Content-Encoding"] == "br"
            assert response.headers["Cache-Control"] == "no-cache"
            assert "Accept-Encoding" in response.headers["Vary"]
            html = brotli.decompress(await response.read()).decode()
        found = VERSIONED_MODULE.search(html)
        assert found, "the page names no versioned member.js"
        async with http.get(origin + found[1], headers=accept) as response:
            assert response.status == 200
            assert response.headers["Content-Encoding"] == "br"
            assert response.headers["Cache-Control"] == IMMUTABLE
            assert "import" in brotli.decompress(await response.read()).decode()
        async with http.get(f"{origin}/api/challenge", headers=accept) as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
