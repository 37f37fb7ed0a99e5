"""Hypothesis fuzzing of every Socket.IO event handler with arbitrary JSON, against a live server,
as a member and as a facilitator of a real group.

Every reply must be ``{"ok": false, "error": {"code", "message"}}`` with a known code other than
``internal``, or ``{"ok": true, ...}``; no call may hang; the log must hold no traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.encoding import b64encode
from server.errors import Code
from server.realtime.events import EVENTS
from server.realtime.hub import Hub
from tests.adversarial.adv_support import World, build_world, serve_with
from tests.conftest import RunningServer

assert Hub  # importing the hub registers every event
EVENT_NAMES = [*sorted(EVENTS), "no.such.event", "", "msg.send\r\nx", "__proto__"]
FIELDS = sorted(
    {name for spec in EVENTS.values() for name in spec.schema.__struct_fields__}
    | {"member_id", "sig_pk", "kem_pk", "pseudonym", "unknown"}
)
CODES = {c.value for c in Code} - {Code.INTERNAL.value}
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**53, 2**53 + 1, 2**63, 2**64, 2**128, -(2**63) - 1, -1, 0])
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "AAAA", "A" * 22, "A" * 43, "../../etc/passwd", "\r\n", "\u202e"])
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10) | st.sampled_from(FIELDS), children, max_size=5)
    ),
    max_leaves=12,
)


def near_valid(world: World) -> st.SearchStrategy[Any]:
    """Values that pass some checks so that the fuzzer reaches deeper: real ids, keys, tokens."""
    fac_keys = world.fac.keys[world.group]
    real = [
        b64encode(world.group),
        b64encode(world.other_group),
        b64encode(world.ana.member_id(world.group)),
        b64encode(world.bob.member_id(world.group)),
        b64encode(fac_keys.member.signing.public),
        b64encode(fac_keys.member.kem.public),
        b64encode(fac_keys.latest.raw),
        b64encode(world.ana.seal(world.group, "fuzz")),
        world.token,  # type: ignore[attr-defined]
        "0123456789abcdef",
        "approval",
        "facilitator_present",
        "Fuzzy Name",
    ]
    member = st.fixed_dictionaries(
        {
            "member_id": st.sampled_from(real) | SCALARS,
            "sig_pk": st.sampled_from(real),
            "kem_pk": st.sampled_from(real),
            "pseudonym": st.text(max_size=40),
        }
    )
    value = st.sampled_from(real) | SCALARS | member | st.just(True)
    return JSON | st.dictionaries(st.sampled_from(FIELDS), value, max_size=7)


def check_reply(event: str, reply: Any) -> None:
    assert isinstance(reply, dict), (event, reply)
    if reply.get("ok") is True:
        assert event in EVENTS, (event, reply)
        return
    assert reply.get("ok") is False, (event, reply)
    error = reply.get("error")
    assert isinstance(error, dict), (event, reply)
    assert error.get("code") in CODES, (event, reply)
    assert isinstance(error.get("message"), str), (event, reply)
    assert error["message"], (event, reply)
    assert "Traceback" not in error["message"], (event, reply)


@pytest.fixture(scope="module")
def adv_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve_with(tmp_path_factory.mktemp("hearth"))


@pytest.fixture(scope="module")
def fuzz_world(adv_server: RunningServer) -> Iterator[tuple[asyncio.AbstractEventLoop, World]]:
    loop = asyncio.new_event_loop()

    async def setup() -> World:
        world = await build_world(adv_server)
        world.token = await world.fac.create_invite(world.group, max_uses=10_000)  # type: ignore[attr-defined]
        return world

    world = loop.run_until_complete(setup())
    try:
        yield loop, world
    finally:
        loop.run_until_complete(world.close())
        loop.close()


def run_fuzz(loop: asyncio.AbstractEventLoop, world: World, who: str, examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(event=st.sampled_from(EVENT_NAMES), payload=near_valid(world))
    def one(event: str, payload: Any) -> None:
        client = getattr(world, who)
        if not client.sio.connected:
            loop.run_until_complete(client.connect())
        reply = loop.run_until_complete(
            asyncio.wait_for(client.sio.call(event, payload, timeout=15), 20)
        )
        check_reply(event, reply)

    one()


@pytest.mark.parametrize(("who", "examples"), [("ana", 75), ("fac", 75)])
def test_fuzz_every_event(
    fuzz_world: tuple[asyncio.AbstractEventLoop, World],
    adv_server: RunningServer,
    who: str,
    examples: int,
) -> None:
    loop, world = fuzz_world
    run_fuzz(loop, world, who, examples)
    assert loop.run_until_complete(adv_server_health(adv_server))
    log = adv_server.log_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 300 :][:3000]


async def adv_server_health(server: RunningServer) -> bool:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(server.url + "/healthz") as response:
        return response.status == 200
