"""Newcomer hold: a new member's first messages reach the group's facilitators only, who release
or decline each; a real server, real Socket.IO clients, a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from typing import Any

import pytest

from crypto.encoding import b64encode
from server.client import HearthClient, HearthRefused
from tests.conftest import Clients, RunningServer, facilitator, member_in


async def refused(coro: Any) -> HearthRefused:
    with pytest.raises(HearthRefused) as caught:
        await coro
    return caught.value


async def held_group(make_client: Clients, hold: int) -> tuple[HearthClient, HearthClient, bytes]:
    """A facilitator, a member who was there before the hold was turned on, and the group."""
    fac = await facilitator(make_client)
    group = await fac.create_group("Held room", pseudonym="Host Heron")
    old = await member_in(make_client, fac, group, "Old Oak")
    reply = await fac.call("group.update", {"group_id": b64encode(group), "newcomer_hold": hold})
    assert reply["group"]["newcomer_hold"] == hold
    return fac, old, group


def decide(fac: HearthClient, group: bytes, msg_id: bytes, release: bool) -> Any:
    return fac.call(
        "held.decide",
        {"group_id": b64encode(group), "msg_id": b64encode(msg_id), "release": release},
    )


async def history_texts(client: HearthClient, group: bytes) -> list[str]:
    received, _ = await client.history(group, limit=200)
    return [m.text for m in received if m.text is not None]


def held_events(client: HearthClient, event: str) -> list[dict[str, Any]]:
    return [data for name, data in client.events if name == event]


async def test_a_newcomer_message_reaches_facilitators_only_until_released(
    make_client: Clients,
) -> None:
    fac, old, group = await held_group(make_client, 1)
    new = await member_in(make_client, fac, group, "New Fern")
    # Members already there when the hold was turned on are not newcomers.
    await old.send(group, "hello from the old hand")
    await new.wait_for(lambda: "hello from the old hand" in new.texts(group))

    # Each is told before typing whether a facilitator reads their messages first.
    assert [g["held_back"] for g in (await new.call("groups.list"))["groups"]] == [True]
    assert [g["held_back"] for g in (await old.call("groups.list"))["groups"]] == [False]
    msg_id = os.urandom(16)
    ack = await new.send(group, "first words, held", msg_id=msg_id)
    assert ack["held"] is True
    assert ack["state"] == "held"
    assert "seq" not in ack
    await fac.wait_for(lambda: fac.held.get(group, {}).get(msg_id) == "first words, held")
    # Not to other members, live or by history, nor after they reconnect.
    await old.send(group, "a later line")
    await new.wait_for(lambda: "a later line" in new.texts(group))
    assert "first words, held" not in old.texts(group)
    assert held_events(old, "msg.held") == []
    assert "first words, held" not in await history_texts(old, group)
    await old.disconnect()
    await old.connect()
    assert "first words, held" not in await history_texts(old, group)
    # The sender asking for history gets round nothing either; held.list shows it waiting.
    assert "first words, held" not in await history_texts(new, group)
    mine = (await new.call("held.list", {"group_id": b64encode(group)}))["held"]
    assert [(h["msg_id"], h["state"]) for h in mine] == [(b64encode(msg_id), "held")]
    # A member may not list others' held messages: only their own.
    assert (await old.call("held.list", {"group_id": b64encode(group)}))["held"] == []
    waiting = (await fac.call("held.list", {"group_id": b64encode(group)}))["held"]
    assert [h["msg_id"] for h in waiting] == [b64encode(msg_id)]

    released = await decide(fac, group, msg_id, True)
    assert released["outcome"] == "released"
    await old.wait_for(lambda: "first words, held" in old.texts(group))
    seq = released["seq"]
    assert old.inbox[group][seq].text == "first words, held"
    view = await old.call("history.get", {"group_id": b64encode(group), "limit": 5})
    shown = next(m for m in view["messages"] if m["seq"] == seq)
    assert shown["released_at"] >= shown["server_ts"]  # the "released" mark, after the write
    assert seq > max(s for s, m in old.inbox[group].items() if m.text == "a later line")
    assert "first words, held" in await history_texts(old, group)
    assert (await fac.call("held.list", {"group_id": b64encode(group)}))["held"] == []
    # One released message was the hold (N = 1): the next goes to everyone at once.
    assert [g["held_back"] for g in (await new.call("groups.list"))["groups"]] == [False]
    after = await new.send(group, "now I am heard")
    assert "held" not in after
    await old.wait_for(lambda: "now I am heard" in old.texts(group))


async def test_a_declined_message_is_never_delivered_and_its_sender_is_told(
    make_client: Clients,
) -> None:
    fac, old, group = await held_group(make_client, 2)
    new = await member_in(make_client, fac, group, "New Fern")
    msg_id = os.urandom(16)
    await new.send(group, "something unkind", msg_id=msg_id)
    await fac.wait_for(lambda: msg_id in fac.held.get(group, {}))
    declined = await decide(fac, group, msg_id, False)
    assert declined["outcome"] == "declined"
    await new.wait_for(lambda: bool(held_events(new, "msg.declined")))
    told = held_events(new, "msg.declined")[0]
    assert told["msg_id"] == b64encode(msg_id)
    assert "nobody else saw it" in told["message"]
    # Still told after a reload: the declined message is listed without its ciphertext.
    mine = (await new.call("held.list", {"group_id": b64encode(group)}))["held"]
    assert [(h["state"], h["envelope"]) for h in mine] == [("declined", None)]
    assert "something unkind" not in await history_texts(old, group)
    assert "something unkind" not in await history_texts(fac, group)
    # Decided once: a second decision, either way, finds nothing waiting.
    for release in (True, False):
        assert (await refused(decide(fac, group, msg_id, release))).code == "not_found"
    # The sender resending it (same msg_id) does not bring it back.
    again = await new.send(group, "something unkind", msg_id=msg_id)
    assert again["held"] is True
    assert again["state"] == "declined"
    assert (await fac.call("held.list", {"group_id": b64encode(group)}))["held"] == []


async def test_a_newcomer_cannot_get_round_the_hold(make_client: Clients) -> None:
    fac, old, group = await held_group(make_client, 1)
    new = await member_in(make_client, fac, group, "New Fern")
    first = os.urandom(16)
    await new.send(group, "one", msg_id=first)
    # Resending the same msg_id is the same held message, not a second one.
    again = await new.send(group, "one", msg_id=first)
    assert again["held"] is True
    # Another msg_id is held too.
    other = await new.send(group, "two")
    assert other["held"] is True
    waiting = (await fac.call("held.list", {"group_id": b64encode(group)}))["held"]
    assert len(waiting) == 2
    await fac.wait_for(lambda: len(fac.held.get(group, {})) == 2)
    assert len(held_events(fac, "msg.held")) == 2  # the resend was not announced again

    # Leaving and joining again makes a new newcomer, held from the start.
    await new.leave(group)
    await fac.rotate(group)
    back = HearthClient(new.base_url, new.account)
    await back.connect()
    token = await fac.create_invite(group)
    await back.join(token, pseudonym="New Fern Again")
    await fac.decide(group, back.member_id(group))
    await fac.rotate(group)
    await back.wait_for(lambda: back.keys[group].current == fac.keys[group].current)
    assert (await back.send(group, "three"))["held"] is True
    await back.disconnect()
    # Nothing of it reached the old member, live or in history.
    await asyncio.sleep(0.3)
    assert not {"one", "two", "three"} & set(filter(None, old.texts(group)))
    assert not {"one", "two", "three"} & set(await history_texts(old, group))
    # A message of someone who left can no longer be released, only declined.
    refusal = await refused(decide(fac, group, first, True))
    assert refusal.code == "not_member"
    assert (await decide(fac, group, first, False))["outcome"] == "declined"


async def test_a_message_once_held_stays_held_after_the_hold_ends(make_client: Clients) -> None:
    """Resending a declined or still waiting message once its sender is past the hold does not
    deliver it: only a facilitator's release does."""
    fac, old, group = await held_group(make_client, 1)
    new = await member_in(make_client, fac, group, "New Fern")
    first, declined, waiting = os.urandom(16), os.urandom(16), os.urandom(16)
    await new.send(group, "first", msg_id=first)
    await new.send(group, "declined one", msg_id=declined)
    await new.send(group, "still waiting", msg_id=waiting)
    assert (await decide(fac, group, declined, False))["outcome"] == "declined"
    assert (await decide(fac, group, first, True))["outcome"] == "released"
    await old.wait_for(lambda: "first" in old.texts(group))
    # Past the hold now: a new message goes straight through ...
    assert "held" not in await new.send(group, "a new one")
    # ... but neither held message does when resent.
    again = await new.send(group, "declined one", msg_id=declined)
    assert again["state"] == "declined"
    again = await new.send(group, "still waiting", msg_id=waiting)
    assert again["state"] == "held"
    await old.wait_for(lambda: "a new one" in old.texts(group))
    assert not {"declined one", "still waiting"} & set(await history_texts(old, group))
    waiting_now = (await fac.call("held.list", {"group_id": b64encode(group)}))["held"]
    assert [h["msg_id"] for h in waiting_now] == [b64encode(waiting)]


async def test_only_a_facilitator_of_the_group_decides(make_client: Clients) -> None:
    fac, old, group = await held_group(make_client, 1)
    new = await member_in(make_client, fac, group, "New Fern")
    msg_id = os.urandom(16)
    await new.send(group, "waiting", msg_id=msg_id)
    # A member (the sender too) cannot decide.
    for client in (old, new):
        assert (await refused(decide(client, group, msg_id, True))).code == "forbidden"
    # A stranger can neither decide nor list.
    stranger = make_client()
    await stranger.connect()
    assert (await refused(decide(stranger, group, msg_id, True))).code == "forbidden"
    code = (await refused(stranger.call("held.list", {"group_id": b64encode(group)}))).code
    assert code == "not_member"
    # A facilitator of another group cannot either.
    other_group = await fac.create_group("Another room", pseudonym="Host Heron")
    assert (await refused(decide(fac, other_group, msg_id, True))).code == "not_found"
    assert (await fac.call("held.list", {"group_id": b64encode(group)}))["held"]


BAD_DECISIONS: list[dict[str, Any]] = [
    {},
    {"msg_id": "short"},
    {"release": "yes"},
    {"release": 1},
    {"extra": True},
    {"msg_id": "A" * 21 + "!"},
]


@pytest.mark.parametrize("change", BAD_DECISIONS, ids=repr)
async def test_bad_decisions_change_nothing(make_client: Clients, change: dict[str, Any]) -> None:
    fac, _, group = await held_group(make_client, 1)
    new = await member_in(make_client, fac, group, "New Fern")
    msg_id = os.urandom(16)
    await new.send(group, "waiting", msg_id=msg_id)
    payload: dict[str, Any] = {
        "group_id": b64encode(group),
        "msg_id": b64encode(msg_id),
        "release": True,
    }
    for key, value in change.items():
        payload[key] = value
    if not change:
        payload.pop("release")
    error = await refused(fac.call("held.decide", payload))
    assert error.code == "bad_request"
    assert error.message
    # An unknown msg_id is not_found; nothing changed either way.
    unknown = await refused(decide(fac, group, os.urandom(16), True))
    assert unknown.code == "not_found"
    waiting = (await fac.call("held.list", {"group_id": b64encode(group)}))["held"]
    assert [h["msg_id"] for h in waiting] == [b64encode(msg_id)]


@pytest.mark.parametrize("value", [-1, 21, "3", 2.5, True, None, [1]], ids=repr)
async def test_bad_hold_values_change_nothing(make_client: Clients, value: Any) -> None:
    fac, _, group = await held_group(make_client, 3)
    payload = {"group_id": b64encode(group), "newcomer_hold": value, "name": "Renamed"}
    if value is None:
        payload["newcomer_hold"] = "none"
    assert (await refused(fac.call("group.update", payload))).code == "bad_request"
    listing = await fac.call("groups.list")
    assert [(g["name"], g["newcomer_hold"]) for g in listing["groups"]] == [("Held room", 3)]


async def test_only_a_facilitator_sets_the_hold(make_client: Clients) -> None:
    _fac, old, group = await held_group(make_client, 2)
    error = await refused(
        old.call("group.update", {"group_id": b64encode(group), "newcomer_hold": 0})
    )
    assert error.code == "forbidden"
    assert [g["newcomer_hold"] for g in (await old.call("groups.list"))["groups"]] == [2]


async def test_the_database_keeps_held_ciphertext_apart_and_no_plaintext(
    make_client: Clients, hearth_server: RunningServer
) -> None:
    fac, _, group = await held_group(make_client, 1)
    new = await member_in(make_client, fac, group, "New Fern")
    canary = "held-canary-" + os.urandom(4).hex()
    await new.send(group, canary)
    with sqlite3.connect(hearth_server.database) as conn:
        held = conn.execute("SELECT state FROM held_messages").fetchall()
        in_log = conn.execute(
            "SELECT COUNT(*) FROM messages WHERE sender_id = ?", (new.member_id(group),)
        ).fetchone()[0]
    assert held == [("held",)]
    assert in_log == 0
    assert canary.encode() not in hearth_server.database.read_bytes()
