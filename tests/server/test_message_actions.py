"""`message.act`: a facilitator acts on a message from the conversation, with no report and no
copy of its words. The server acts on the author it stored with the message, never on one the
asking client names; members and other groups' facilitators cannot; bad input changes nothing.
Real server, real clients, real SQLite."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from crypto.encoding import b64encode
from server.client import HearthClient, HearthRefused
from tests.conftest import Clients, RunningServer, facilitator, member_in

RULES = "Be kind.\nNo advice about medication."


async def room(make_client: Clients) -> tuple[HearthClient, HearthClient, HearthClient, bytes]:
    fac = await facilitator(make_client)
    group = await fac.create_group("Direct acts", pseudonym="Host Heron", rules=RULES)
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    ben = await member_in(make_client, fac, group, "Calm River")
    return fac, ana, ben, group


async def said(author: HearthClient, reader: HearthClient, group: bytes, text: str) -> str:
    await author.send(group, text)
    await reader.wait_for(lambda: text in reader.texts(group))
    message = next(m for m in reader.inbox[group].values() if m.text == text)
    return b64encode(message.msg_id)


def act(group: bytes, msg_id: str, action: str, **extra: Any) -> dict[str, Any]:
    return {"group_id": b64encode(group), "msg_id": msg_id, "action": action, **extra}


def counts(server: RunningServer) -> tuple[int, int, int]:
    with sqlite3.connect(f"file:{server.database}?mode=ro", uri=True) as conn:
        return (
            conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0],
            conn.execute("SELECT COUNT(*) FROM messages WHERE envelope IS NULL").fetchone()[0],
            conn.execute("SELECT COUNT(*) FROM members WHERE muted_until IS NOT NULL").fetchone()[
                0
            ],
        )


async def test_hide_from_the_conversation_tombstones_it_for_everyone_with_no_report(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac, ana, ben, group = await room(make_client)
    msg_id = await said(ana, ben, group, "something to hide")
    reply = await fac.call("message.act", act(group, msg_id, "hide_message"))
    assert reply["action"] == "hide_message"
    assert reply["member_id"] == b64encode(ana.member_id(group))
    await ben.wait_for(lambda: None in ben.texts(group))
    deleted = [d for e, d in ben.events if e == "msg.deleted"]
    assert deleted[-1]["by"] == "facilitator"
    assert (await fac.call("moderation.list", {}))["reports"] == []  # no report was made
    (entry, *_) = (await fac.call("audit.list", {"group_id": b64encode(group)}))["entries"]
    assert entry["action"] == "hide_message"
    assert entry["detail"]["member_id"] == reply["member_id"]
    assert entry["detail"]["from"] == "conversation"
    # The server never got the words, so they are nowhere in its database.
    assert b"something to hide" not in hearth_server.database.read_bytes()


async def test_mute_acts_on_the_stored_author_and_names_the_rule(make_client: Clients) -> None:
    fac, ana, ben, group = await room(make_client)
    msg_id = await said(ana, ben, group, "take twice the dose")
    await fac.call(
        "message.act",
        act(group, msg_id, "mute", mute_minutes=10, rule="No advice about medication."),
    )
    await ana.wait_for(lambda: any(e == "notice" for e, _ in ana.events))
    (notice,) = [d for e, d in ana.events if e == "notice"]
    assert (notice["kind"], notice["rule"]) == ("muted", "No advice about medication.")
    with pytest.raises(HearthRefused) as refused:
        await ana.send(group, "still here?")
    assert refused.value.code == "muted"
    await ben.send(group, "the other member is not muted")


async def test_warn_remove_and_ban_reach_the_author(make_client: Clients) -> None:
    fac, ana, ben, group = await room(make_client)
    first = await said(ana, ben, group, "rude")
    await fac.call("message.act", act(group, first, "warn", rule="Be kind.", note="Gently."))
    await ana.wait_for(lambda: any(e == "notice" for e, _ in ana.events))
    second = await said(ben, ana, group, "ruder")
    await fac.call("message.act", act(group, second, "remove_member"))
    await ben.wait_for(
        lambda: any(e == "membership" and d["state"] == "removed" for e, d in ben.events)
    )
    await fac.call("message.act", act(group, first, "ban_account"))
    with pytest.raises(HearthRefused):
        await ana.send(group, "after the ban")


async def test_a_member_cannot_act_and_nothing_changes(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    _fac, ana, ben, group = await room(make_client)
    msg_id = await said(ana, ben, group, "a member tries to hide this")
    before = counts(hearth_server)
    for action in ("hide_message", "mute", "ban_account"):
        extra = {"mute_minutes": 5} if action == "mute" else {}
        with pytest.raises(HearthRefused) as refused:
            await ben.call("message.act", act(group, msg_id, action, **extra))
        assert refused.value.code == "forbidden"
    assert counts(hearth_server) == before
    assert "a member tries to hide this" in ben.texts(group)


async def test_a_facilitators_own_message_is_not_acted_on_here(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac, _ana, ben, group = await room(make_client)
    msg_id = await said(fac, ben, group, "the facilitator speaks")
    before = counts(hearth_server)
    with pytest.raises(HearthRefused) as refused:
        await fac.call("message.act", act(group, msg_id, "hide_message"))
    assert refused.value.code == "forbidden"
    assert counts(hearth_server) == before


async def test_another_groups_facilitator_and_unknown_messages_are_refused(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac, ana, ben, group = await room(make_client)
    msg_id = await said(ana, ben, group, "only for this group")
    other = await fac.create_group("Elsewhere", pseudonym="Host Alder")
    before = counts(hearth_server)
    with pytest.raises(HearthRefused) as refused:  # the message is not in that group
        await fac.call("message.act", act(other, msg_id, "hide_message"))
    assert refused.value.code == "not_found"
    with pytest.raises(HearthRefused) as refused:
        await fac.call("message.act", act(group, b64encode(b"\x07" * 16), "hide_message"))
    assert refused.value.code == "not_found"
    assert counts(hearth_server) == before


BAD = [
    {"action": "dismiss"},  # there is no report to dismiss
    {"action": "mute"},  # mute needs its minutes
    {"action": "mute", "mute_minutes": 0},
    {"action": "warn", "mute_minutes": 5},
    {"action": "warn", "rule": "Be nice."},  # not a rule of the group
    {"action": "warn", "note": "x" * 501},
    {"action": "hide_message", "msg_id": "short"},
    {"action": "hide_message", "sender_id": "AAAAAAAAAAAAAAAAAAAAAA"},  # no such field
    {"action": "hide_message", "group_id": None},
]


async def test_bad_input_changes_nothing(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac, ana, ben, group = await room(make_client)
    msg_id = await said(ana, ben, group, "stays as it is")
    before = counts(hearth_server)
    for extra in BAD:
        payload = {**act(group, msg_id, "warn"), **extra}
        reply = await fac.sio.call("message.act", payload, timeout=10)
        assert reply["ok"] is False, extra
        assert reply["error"]["code"] == "bad_request", extra
        assert "Traceback" not in reply["error"]["message"]
    assert counts(hearth_server) == before
    assert not [e for e, _ in ana.events if e == "notice"]
    await ana.send(group, "not muted, not removed")


@pytest.fixture
def hearth_server(shared_server: RunningServer) -> RunningServer:
    return shared_server
