"""Two Hearth processes joined by a real Redis: a connect proof used on one is refused on the
other (server/used_challenges.py)."""

from __future__ import annotations

from crypto.keys import SigningKey
from tests.conftest import RunningServer
from tests.scale.test_redis_scaleout import redis, two_servers  # noqa: F401 - fixtures
from tests.server.test_connect import fresh_challenge, proof, try_connect


async def test_a_proof_used_on_one_process_is_refused_on_the_other(
    two_servers: tuple[RunningServer, RunningServer],  # noqa: F811 - the fixture
) -> None:
    first, second = two_servers
    account = SigningKey.generate()
    auth = proof(account, await fresh_challenge(first))
    assert await try_connect(first, auth) == {"connected": True}
    refused = await try_connect(second, auth)
    assert refused.get("code") == "challenge_used", refused
    # The other way round, with a challenge the second process issued.
    auth = proof(account, await fresh_challenge(second))
    assert await try_connect(second, auth) == {"connected": True}
    assert (await try_connect(first, auth)).get("code") == "challenge_used"
