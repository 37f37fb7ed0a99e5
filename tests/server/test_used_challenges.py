"""A connect proof opens one connection only (server/used_challenges.py); with ``[scale]
redis_url``, one connection across every process."""

from __future__ import annotations

import pytest
import socketio

from crypto.keys import SigningKey
from server.errors import HearthError
from server.used_challenges import LocalUsedChallenges
from tests.conftest import RunningServer
from tests.server.test_connect import fresh_challenge, proof, try_connect


async def test_a_proof_opens_one_connection_only(hearth_server: RunningServer) -> None:
    account = SigningKey.generate()
    auth = proof(account, await fresh_challenge(hearth_server))
    first = socketio.AsyncClient(reconnection=False)
    await first.connect(
        hearth_server.url,
        auth=auth,
        headers={"Origin": hearth_server.url},
        transports=["websocket"],
        wait_timeout=10,
    )
    try:
        # While the first connection is open, and after it has closed.
        assert (await try_connect(hearth_server, auth))["code"] == "challenge_used"
    finally:
        await first.disconnect()
    refused = await try_connect(hearth_server, auth)
    assert refused["code"] == "challenge_used"
    assert "fetch a new one" in refused["message"]
    # A fresh challenge connects as usual.
    assert await try_connect(hearth_server, proof(account, await fresh_challenge(hearth_server)))
    assert account.public.hex() not in hearth_server.log_text()


async def test_the_used_set_forgets_expired_challenges_and_is_bounded() -> None:
    used = LocalUsedChallenges(max_entries=2)
    one, two, three = (bytes([n]) * 56 for n in (1, 2, 3))
    assert await used.claim(one, expiry_ms=1_000, now_ms=0)
    assert not await used.claim(one, expiry_ms=1_000, now_ms=999)
    assert await used.claim(two, expiry_ms=2_000, now_ms=0)
    with pytest.raises(HearthError) as full:  # refused, nothing forgotten
        await used.claim(three, expiry_ms=3_000, now_ms=500)
    assert full.value.code == "rate_limited"
    # Once `one` has expired (it can no longer be presented at all) its place is free.
    assert await used.claim(three, expiry_ms=3_000, now_ms=1_000)
    assert not await used.claim(two, expiry_ms=2_000, now_ms=1_500)


async def test_expired_claims_are_forgotten_without_a_new_claim() -> None:
    """The server's sweep (server/app.py) drops what a wave of connections claimed, so that it
    does not stay in memory until someone connects again."""
    used = LocalUsedChallenges(max_entries=10)
    for n in range(5):
        assert await used.claim(bytes([n]) * 56, expiry_ms=1_000 + n, now_ms=0)
    used.forget_expired(now_ms=1_002)
    assert len(used) == 2  # the claims of challenges expiring at 1,003 and 1,004 stay
    assert not await used.claim(bytes([4]) * 56, expiry_ms=1_004, now_ms=1_002)
    used.forget_expired(now_ms=1_004)
    assert len(used) == 0
