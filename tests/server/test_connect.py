"""Connection auth: the account-key challenge–response and the Origin allowlist."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest
import socketio

from crypto.challenge import issue_challenge, sign_challenge
from crypto.encoding import b64decode, b64encode
from crypto.keys import SigningKey
from server.keyring import Keyring
from tests.conftest import RunningServer


async def fresh_challenge(server: RunningServer) -> bytes:
    async with aiohttp.ClientSession() as http, http.get(server.url + "/api/challenge") as reply:
        assert reply.headers["Cache-Control"] == "no-store"
        return b64decode((await reply.json())["challenge"])


async def try_connect(
    server: RunningServer, auth: Any, origin: str | None = None
) -> dict[str, Any]:
    """Connect with ``auth``; returns {"connected": True} or the refusal's data."""
    client = socketio.AsyncClient(reconnection=False)
    refusal: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @client.on("connect_error")
    async def on_error(data: Any = None) -> None:
        if not refusal.done():
            refusal.set_result(data)

    try:
        await client.connect(
            server.url,
            auth=auth,
            headers={"Origin": origin or server.url},
            transports=["websocket"],
            wait_timeout=10,
        )
    except socketio.exceptions.ConnectionError as error:
        data = refusal.result() if refusal.done() else None
        if isinstance(data, dict):
            return dict(data.get("data") or {})
        return {"transport_error": str(error)}
    finally:
        # a refused websocket upgrade leaves engine.io's HTTP session open
        http = getattr(client.eio, "http", None)
        if http is not None and not http.closed:
            await http.close()
    await client.disconnect()
    return {"connected": True}


def proof(account: SigningKey, challenge: bytes) -> dict[str, Any]:
    return {
        "v": 1,
        "account_pk": b64encode(account.public),
        "challenge": b64encode(challenge),
        "sig": b64encode(sign_challenge(account, challenge)),
    }


def server_keyring(server: RunningServer) -> Keyring:
    secret = bytes.fromhex((server.directory / "secret.key").read_text().strip())
    return Keyring.from_secret(secret, 1)


async def test_valid_proof_connects(hearth_server: RunningServer) -> None:
    account = SigningKey.generate()
    result = await try_connect(hearth_server, proof(account, await fresh_challenge(hearth_server)))
    assert result == {"connected": True}


async def test_missing_proof_is_refused(hearth_server: RunningServer) -> None:
    result = await try_connect(hearth_server, None)
    assert result["code"] == "auth_required", result


async def test_forged_proof_is_refused(hearth_server: RunningServer) -> None:
    challenge = await fresh_challenge(hearth_server)
    forged = proof(SigningKey.generate(), challenge)
    forged["account_pk"] = b64encode(SigningKey.generate().public)  # signed by someone else
    assert (await try_connect(hearth_server, forged))["code"] == "auth_failed"


async def test_challenge_not_from_the_server_is_refused(hearth_server: RunningServer) -> None:
    made_up = issue_challenge(b"\x01" * 32, now_ms=int(time.time() * 1000), ttl_ms=60_000)
    result = await try_connect(hearth_server, proof(SigningKey.generate(), made_up))
    assert result["code"] == "auth_failed"


async def test_expired_and_replayed_challenge_is_refused(hearth_server: RunningServer) -> None:
    keyring = server_keyring(hearth_server)
    account = SigningKey.generate()
    old = issue_challenge(
        keyring.challenge_key, now_ms=int(time.time() * 1000) - 120_000, ttl_ms=60_000
    )
    result = await try_connect(hearth_server, proof(account, old))
    assert result["code"] == "auth_failed"
    assert "expired" in result["message"]


@pytest.mark.parametrize(
    ("auth", "code"),
    [
        ({"v": 2}, "unsupported_version"),
        ({"v": 1, "account_pk": "x", "challenge": "y", "sig": "z"}, "auth_failed"),
        ("not an object", "auth_failed"),
        ({"v": 1, "account_pk": "A" * 43, "challenge": "A", "sig": "A", "extra": 1}, "auth_failed"),
    ],
)
async def test_malformed_proof_is_refused_with_a_code(
    hearth_server: RunningServer, auth: Any, code: str
) -> None:
    assert (await try_connect(hearth_server, auth))["code"] == code


async def test_foreign_origin_is_refused_at_the_handshake(hearth_server: RunningServer) -> None:
    account = SigningKey.generate()
    result = await try_connect(
        hearth_server,
        proof(account, await fresh_challenge(hearth_server)),
        origin="https://evil.example",
    )
    assert "connected" not in result
