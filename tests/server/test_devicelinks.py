"""The device link's relay (server/realtime/devicelinks.py, docs/protocol.md §15.3): two real
clients run the whole exchange through a real server; every refusal has its code and changes
nothing; a link is used once, expires, and is bounded."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from crypto import devicelink
from crypto.encoding import b64encode
from server.client import HearthClient, HearthRefused
from server.realtime.devicelinks import MAX_CHUNKS, MAX_JOINS_PER_CONNECTION
from tests.conftest import RunningServer, serve_in
from tests.devicelink_steps import received, whole_exchange

Clients = Callable[[], HearthClient]


@pytest.fixture
async def make_client(shared_server: RunningServer) -> AsyncIterator[Clients]:
    """Clients of one server for the module: links are random ids and counters per socket, so
    the tests leave nothing another could see."""
    made: list[HearthClient] = []

    def make() -> HearthClient:
        made.append(HearthClient(shared_server.url))
        return made[-1]

    yield make
    for client in made:
        await client.disconnect()


async def connected(make_client: Clients) -> HearthClient:
    client = make_client()
    await client.connect()
    return client


async def test_two_devices_run_the_exchange_and_the_sealed_bundle_arrives(
    make_client: Clients,
) -> None:
    old, new = await connected(make_client), await connected(make_client)
    # limits.device_link_seconds' default
    link_id, share_b = await whole_exchange(old, new, 120_000)

    # used once: the id is gone for everybody, the opener included
    late = await connected(make_client)
    for client, event, payload in (
        (late, "link.join", {"link_id": link_id, "share": b64encode(share_b)}),
        (new, "link.msg", {"link_id": link_id, "data": "AAAA"}),
        (old, "link.close", {"link_id": link_id, "reason": "done"}),
    ):
        with pytest.raises(HearthRefused) as refused:
            await client.call(event, payload)
        assert refused.value.code == "not_found"


async def test_a_second_joiner_is_refused_and_cannot_talk_to_either_device(
    make_client: Clients,
) -> None:
    old, new, intruder = [await connected(make_client) for _ in range(3)]
    code = devicelink.new_code()
    link_id = b64encode(devicelink.link_id(code))
    share = b64encode(devicelink.share(code, os.urandom(32)))
    await old.call("link.open", {"link_id": link_id, "share": share})
    await new.call("link.join", {"link_id": link_id, "share": share})
    with pytest.raises(HearthRefused) as refused:
        await intruder.call("link.join", {"link_id": link_id, "share": share})
    assert refused.value.code == "link_used"
    with pytest.raises(HearthRefused) as refused:
        await intruder.call("link.msg", {"link_id": link_id, "data": "AAAA"})
    assert refused.value.code == "not_found"
    with pytest.raises(HearthRefused) as refused:
        await intruder.call("link.close", {"link_id": link_id, "reason": "mismatch"})
    assert refused.value.code == "not_found"
    # the two devices still talk
    await old.call("link.msg", {"link_id": link_id, "data": "AAAA"})
    assert (await received(new, "link.msg"))[0]["data"] == "AAAA"
    assert not [e for e, _ in intruder.events if e.startswith("link.")]


async def test_a_mismatch_closes_the_link_for_the_other_device(make_client: Clients) -> None:
    old, new = await connected(make_client), await connected(make_client)
    code = devicelink.new_code()
    link_id = b64encode(devicelink.link_id(code))
    share = b64encode(devicelink.share(code, os.urandom(32)))
    await old.call("link.open", {"link_id": link_id, "share": share})
    await new.call("link.join", {"link_id": link_id, "share": share})
    await old.call("link.close", {"link_id": link_id, "reason": "mismatch"})
    (closed,) = await received(new, "link.closed")
    assert closed["reason"] == "mismatch"
    with pytest.raises(HearthRefused) as refused:
        await new.call("link.join", {"link_id": link_id, "share": share})
    assert refused.value.code == "not_found"


async def test_a_device_that_goes_away_ends_its_link_at_once(make_client: Clients) -> None:
    old, new = await connected(make_client), await connected(make_client)
    link_id = b64encode(os.urandom(16))
    share = b64encode(devicelink.share("ABCD-EFGH-JKMN", os.urandom(32)))
    await old.call("link.open", {"link_id": link_id, "share": share})
    await new.call("link.join", {"link_id": link_id, "share": share})
    await old.disconnect()
    (closed,) = await received(new, "link.closed")
    assert closed == {"link_id": link_id, "reason": "gone"}
    with pytest.raises(HearthRefused) as refused:
        await new.call("link.msg", {"link_id": link_id, "data": "AAAA"})
    assert refused.value.code == "not_found"


async def test_refusals_before_a_join(make_client: Clients) -> None:
    old, other = await connected(make_client), await connected(make_client)
    code = devicelink.new_code()
    link_id = b64encode(devicelink.link_id(code))
    share = b64encode(devicelink.share(code, os.urandom(32)))
    await old.call("link.open", {"link_id": link_id, "share": share})
    cases = [
        (other, "link.open", {"link_id": link_id, "share": share}, "link_taken"),
        (old, "link.join", {"link_id": link_id, "share": share}, "not_found"),  # its own
        (old, "link.msg", {"link_id": link_id, "data": "AAAA"}, "bad_request"),  # nobody yet
        (other, "link.join", {"link_id": "A" * 22, "share": share}, "not_found"),
    ]
    for client, event, payload, code_ in cases:
        with pytest.raises(HearthRefused) as refused:
            await client.call(event, payload)
        assert refused.value.code == code_, event
    # nothing changed: the link still takes its one joiner
    await other.call("link.join", {"link_id": link_id, "share": share})


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("link.open", {"link_id": "short", "share": "A" * 43}),
        ("link.open", {"link_id": "A" * 22, "share": "A" * 42}),
        ("link.open", {"link_id": "A" * 22, "share": "A" * 43, "extra": 1}),
        ("link.open", {"link_id": "A" * 21 + "_", "share": "A" * 43}),  # non-canonical bits
        ("link.join", {"link_id": "A" * 22}),
        ("link.join", {"link_id": "A" * 22, "share": "!" * 43}),
        ("link.msg", {"link_id": "A" * 22, "data": ""}),
        ("link.msg", {"link_id": "A" * 22, "data": "A" * 43_801}),
        ("link.close", {"link_id": "A" * 22, "reason": "because"}),
    ],
)
async def test_bad_input_is_a_bad_request(
    make_client: Clients, event: str, payload: dict[str, object]
) -> None:
    client = await connected(make_client)
    with pytest.raises(HearthRefused) as refused:
        await client.call(event, payload)
    assert refused.value.code == "bad_request"
    assert "internal" not in refused.value.message


async def test_join_attempts_per_connection_are_bounded(make_client: Clients) -> None:
    guesser = await connected(make_client)
    share = b64encode(devicelink.share("ABCD-EFGH-JKMN", os.urandom(32)))
    for _ in range(MAX_JOINS_PER_CONNECTION):
        link_id = b64encode(devicelink.link_id(devicelink.new_code()))
        with pytest.raises(HearthRefused) as refused:
            await guesser.call("link.join", {"link_id": link_id, "share": share})
        assert refused.value.code == "not_found"
    with pytest.raises(HearthRefused) as refused:
        await guesser.call("link.join", {"link_id": "A" * 22, "share": share})
    assert refused.value.code == "rate_limited"


async def test_a_link_carries_a_bounded_number_of_chunks(make_client: Clients) -> None:
    old, new = await connected(make_client), await connected(make_client)
    link_id = b64encode(os.urandom(16))
    share = b64encode(devicelink.share("ABCD-EFGH-JKMN", os.urandom(32)))
    await old.call("link.open", {"link_id": link_id, "share": share})
    await new.call("link.join", {"link_id": link_id, "share": share})
    await asyncio.gather(
        *(old.call("link.msg", {"link_id": link_id, "data": "AAAA"}) for _ in range(MAX_CHUNKS))
    )
    with pytest.raises(HearthRefused) as refused:
        await old.call("link.msg", {"link_id": link_id, "data": "AAAA"})
    assert refused.value.code == "too_large"


@pytest.fixture
def quick_links(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_in(tmp_path / "hearth", "[limits]\ndevice_link_seconds = 1\n")


async def test_an_unjoined_link_expires(quick_links: RunningServer) -> None:
    old, new = HearthClient(quick_links.url), HearthClient(quick_links.url)
    try:
        await old.connect()
        await new.connect()
        link_id = b64encode(os.urandom(16))
        share = b64encode(devicelink.share("ABCD-EFGH-JKMN", os.urandom(32)))
        opened = await old.call("link.open", {"link_id": link_id, "share": share})
        assert opened["expires_in_ms"] == 1000
        await asyncio.sleep(1.3)
        with pytest.raises(HearthRefused) as refused:
            await new.call("link.join", {"link_id": link_id, "share": share})
        assert refused.value.code == "not_found"
        # and the id may be opened afresh (by anyone: the old link is gone)
        await new.call("link.open", {"link_id": link_id, "share": share})
    finally:
        await old.disconnect()
        await new.disconnect()
