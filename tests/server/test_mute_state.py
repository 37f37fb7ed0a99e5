"""A muted member learns why and until when, from the server, on every connect (not only from
the one-off `notice`); a warning names the rule it is about. Real server, real clients."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from crypto.encoding import b64encode
from server.client import HearthClient, HearthRefused
from tests.conftest import Clients, RunningServer, facilitator, member_in

RULES = "Be kind.\nNo advice about medication.\nWhat is said here stays here."


async def trio(make_client: Clients) -> tuple[HearthClient, HearthClient, HearthClient, bytes]:
    fac = await facilitator(make_client)
    group = await fac.create_group("Mutes", pseudonym="Host Heron", rules=RULES)
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    ben = await member_in(make_client, fac, group, "Calm River")
    return fac, ana, ben, group


async def reported(ana: HearthClient, ben: HearthClient, group: bytes, text: str) -> str:
    await ana.send(group, text)
    await ben.wait_for(lambda: text in ben.texts(group))
    seq = next(seq for seq, m in ben.inbox[group].items() if m.text == text)
    return str((await ben.report(group, seq))["report_id"])


def mute_of(listing: dict[str, Any], group: bytes) -> Any:
    (entry,) = [g for g in listing["groups"] if g["group_id"] == b64encode(group)]
    return entry["mute"]


async def test_a_mute_and_its_reason_survive_a_reconnect(make_client: Clients) -> None:
    fac, ana, ben, group = await trio(make_client)
    report = await reported(ana, ben, group, "take twice the dose")
    await fac.call(
        "moderation.act",
        {
            "report_id": report,
            "action": "mute",
            "mute_minutes": 30,
            "rule": "No advice about medication.",
            "note": "Please talk to a doctor about doses.",
        },
    )
    await ana.wait_for(lambda: any(e == "notice" for e, _ in ana.events))
    (notice,) = [d for e, d in ana.events if e == "notice"]
    assert notice["kind"] == "muted"
    assert notice["rule"] == "No advice about medication."
    assert notice["note"] == "Please talk to a doctor about doses."

    # A new connection (a reload, the next day's visit) is told by groups.list, not by a notice.
    await ana.disconnect()
    ana.events.clear()
    await ana.connect()
    mute = mute_of(await ana.call("groups.list"), group)
    assert mute["rule"] == "No advice about medication."
    assert mute["note"] == "Please talk to a doctor about doses."
    assert mute["until"] == notice["muted_until"]
    assert not [e for e, _ in ana.events if e == "notice"]
    with pytest.raises(HearthRefused) as refused:
        await ana.send(group, "still muted?")
    assert refused.value.code == "muted"
    assert refused.value.detail["muted_until"] == mute["until"]
    assert refused.value.detail["rule"] == "No advice about medication."

    # Nobody else learns of it: not the other member, not in member lists.
    assert mute_of(await ben.call("groups.list"), group) is None
    for member in (await ben.members(group))["members"]:
        assert set(member) == {
            "member_id",
            "sig_pk",
            "kem_pk",
            "pq_key",  # a public key (docs/protocol.md §6.9), null for a suite-1 client
            "pseudonym",
            "state",
            "role",
            "first_epoch",
        }


async def test_an_ended_mute_is_no_longer_listed(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac, ana, ben, group = await trio(make_client)
    report = await reported(ana, ben, group, "loud")
    await fac.call("moderation.act", {"report_id": report, "action": "mute", "mute_minutes": 1})
    assert mute_of(await ana.call("groups.list"), group)["rule"] is None
    with sqlite3.connect(hearth_server.database) as conn:  # a minute later, as far as it knows
        conn.execute("UPDATE members SET muted_until = 1 WHERE muted_until IS NOT NULL")
    assert mute_of(await ana.call("groups.list"), group) is None


async def test_a_warning_names_the_rule(make_client: Clients) -> None:
    fac, ana, ben, group = await trio(make_client)
    report = await reported(ana, ben, group, "you are all idiots")
    await fac.call(
        "moderation.act",
        {"report_id": report, "action": "warn", "rule": "Be kind.", "note": "Mind your words."},
    )
    await ana.wait_for(lambda: any(e == "notice" for e, _ in ana.events))
    (notice,) = [d for e, d in ana.events if e == "notice"]
    assert (notice["kind"], notice["rule"], notice["note"]) == (
        "warning",
        "Be kind.",
        "Mind your words.",
    )


@pytest.mark.parametrize("rule", ["Be nice.", "Be kind", "Be kind.\nNo advice", 5, None])
async def test_a_rule_that_is_not_the_groups_changes_nothing(
    make_client: Clients, rule: Any
) -> None:
    fac, ana, ben, group = await trio(make_client)
    report = await reported(ana, ben, group, "hmm")
    with pytest.raises(HearthRefused) as refused:
        await fac.call(
            "moderation.act",
            {"report_id": report, "action": "mute", "mute_minutes": 5, "rule": rule},
        )
    assert refused.value.code == "bad_request"
    got = await fac.call("moderation.get", {"report_id": report})
    assert got["report"]["state"] == "open"
    assert mute_of(await ana.call("groups.list"), group) is None
    await ana.send(group, "not muted")
