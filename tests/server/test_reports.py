"""Verifiable reports, the moderation queue and facilitators' actions against a real server."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3

import pytest

from crypto.encoding import b64encode
from server.client import HearthClient, HearthRefused
from tests.conftest import Clients, RunningServer, facilitator, hearth_cli, member_in


async def trio(make_client: Clients) -> tuple[HearthClient, HearthClient, HearthClient, bytes]:
    fac = await facilitator(make_client)
    group = await fac.create_group("Reports", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    ben = await member_in(make_client, fac, group, "Calm River")
    return fac, ana, ben, group


async def received_by(client: HearthClient, group: bytes, text: str) -> int:
    await client.wait_for(lambda: text in client.texts(group))
    return next(seq for seq, m in client.inbox[group].items() if m.text == text)


async def refused_code(coro: object) -> str:
    with pytest.raises(HearthRefused) as caught:
        await coro  # type: ignore[misc]
    return caught.value.code


async def test_report_reaches_facilitators_verified_and_once(make_client: Clients) -> None:
    fac, ana, ben, group = await trio(make_client)
    await ana.send(group, "you are all worthless")
    seq = await received_by(ben, group, "you are all worthless")
    reply = await ben.report(group, seq, "insulting the group")
    assert reply["priority"] == "normal"
    await fac.wait_for(lambda: any(e == "report.new" for e, _ in fac.events))
    live = next(d for e, d in fac.events if e == "report.new")
    assert live["verified"] is True
    assert live["content"] == "you are all worthless"
    assert live["sender_id"] == b64encode(ana.member_id(group))
    listed = await fac.call("moderation.list", {"group_id": b64encode(group)})
    assert [r["report_id"] for r in listed["reports"]] == [reply["report_id"]]
    assert await refused_code(ben.report(group, seq, "again")) == "already_reported"
    # the reported member learns nothing of the report or the reporter
    assert not [e for e, _ in ana.events if e.startswith("report")]
    assert await refused_code(ana.call("moderation.list", {})) == "forbidden"


async def test_crisis_language_is_urgent_and_listed_first(make_client: Clients) -> None:
    fac, ana, ben, group = await trio(make_client)
    await ana.send(group, "that film was dull")
    await ana.send(group, "I want to end my life tonight")
    dull = await received_by(ben, group, "that film was dull")
    crisis = await received_by(ben, group, "I want to end my life tonight")
    await ben.report(group, dull, "off topic")
    urgent = await ben.report(group, crisis, "worried about them")
    assert urgent["priority"] == "urgent"
    listed = await fac.call("moderation.list", {})
    assert listed["reports"][0]["report_id"] == urgent["report_id"]


async def test_forged_reports_are_refused_and_stored_nowhere(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    _, ana, ben, group = await trio(make_client)
    await ana.send(group, "first message")
    await ana.send(group, "second message")
    first = await received_by(ben, group, "first message")
    second = await received_by(ben, group, "second message")
    real = ben.report_opening(group, first)
    other = ben.report_opening(group, second)
    forgeries = {
        "changed content": dataclasses.replace(real, content=b"first messagE"),
        "changed sender": dataclasses.replace(
            real, header=dataclasses.replace(real.header, sender_id=ben.member_id(group))
        ),
        "changed time": dataclasses.replace(real, server_ts=real.server_ts - 60_000),
        "opening replayed on another message": dataclasses.replace(
            other, content=real.content, franking_key=real.franking_key
        ),
        "made-up rtag": dataclasses.replace(real, rtag=bytes(32)),
        "unknown key id": dataclasses.replace(real, kid=7),
    }
    for what, forged in forgeries.items():
        code = await refused_code(ben.report(group, first, "forged", opening=forged))
        assert code == "report_unverifiable", what
    # Another version or suite is named as such, before any check (protocol §1).
    for index in (0, 2):
        raw = bytearray(real.encode())
        raw[index] ^= 0x02
        reply = await ben.sio.call(
            "report.submit",
            {"group_id": b64encode(group), "opening": b64encode(bytes(raw)), "reason": "x"},
            timeout=15,
        )
        assert reply["error"]["code"] == "unsupported_version", reply
    with sqlite3.connect(f"file:{hearth_server.database}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT COUNT(*) FROM moderation_reports").fetchone() == (0,)
    await ben.report(group, first, "the real one still works")


async def test_actions_take_effect_and_the_audit_chain_verifies(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac, ana, ben, group = await trio(make_client)
    reports = []
    for text in ("hide me", "warn me", "mute me", "remove me"):
        await ana.send(group, text)
        reports.append((await ben.report(group, await received_by(ben, group, text)))["report_id"])
    hide, warn, mute, remove = reports

    await fac.call("moderation.act", {"report_id": hide, "action": "hide_message"})
    await ben.wait_for(lambda: None in ben.texts(group))
    assert any(e == "msg.deleted" and d["by"] == "facilitator" for e, d in ben.events)
    await fac.call("moderation.act", {"report_id": warn, "action": "warn", "note": "be kind"})
    await ana.wait_for(lambda: any(e == "notice" and d["kind"] == "warning" for e, d in ana.events))
    assert not [d for e, d in ben.events if e == "notice"]
    await fac.call("moderation.act", {"report_id": mute, "action": "mute", "mute_minutes": 5})
    with pytest.raises(HearthRefused) as muted:
        await ana.send(group, "can I still talk?")
    assert muted.value.code == "muted"
    assert "muted_until" in muted.value.detail
    code = await refused_code(fac.call("moderation.act", {"report_id": mute, "action": "dismiss"}))
    assert code == "already_resolved"
    await fac.call("moderation.act", {"report_id": remove, "action": "remove_member"})
    await ana.wait_for(lambda: any(e == "membership" for e, _ in ana.events))
    await fac.rotate(group)
    await fac.send(group, "after the removal")
    await ben.wait_for(lambda: "after the removal" in ben.texts(group))
    await asyncio.sleep(0.2)
    assert "after the removal" not in ana.texts(group)

    audit = await fac.call("audit.list", {"group_id": b64encode(group)})
    actions = [e["action"] for e in reversed(audit["entries"])]
    assert actions[-4:] == ["hide_message", "warn", "mute", "remove_member"]
    verified = hearth_cli("audit", "verify", config=hearth_server.config_path)
    assert verified.returncode == 0, verified.stderr
    assert "intact" in verified.stdout
    # tampering with one row is detected
    with sqlite3.connect(hearth_server.database) as conn:
        conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    tampered = hearth_cli("audit", "verify", config=hearth_server.config_path)
    assert tampered.returncode == 1
    assert "broken at entry 2" in tampered.stderr


async def test_ban_closes_every_connection_and_refuses_new_ones(make_client: Clients) -> None:
    fac, ana, ben, group = await trio(make_client)
    await ana.send(group, "spam spam spam")
    report = await ben.report(group, await received_by(ben, group, "spam spam spam"))
    await fac.call("moderation.act", {"report_id": report["report_id"], "action": "ban_account"})
    for _ in range(50):
        if not ana.sio.connected:
            break
        await asyncio.sleep(0.1)
    assert not ana.sio.connected
    again = HearthClient(ana.base_url, ana.account)
    with pytest.raises(Exception, match=r"One or more namespaces failed|banned"):
        await again.connect()
    await again.disconnect()


async def test_members_cannot_act_on_reports(make_client: Clients) -> None:
    _, ana, ben, group = await trio(make_client)
    await ana.send(group, "rude")
    report = await ben.report(group, await received_by(ben, group, "rude"))
    act = {"report_id": report["report_id"], "action": "dismiss"}
    assert await refused_code(ben.call("moderation.act", act)) == "forbidden"
    assert (
        await refused_code(ben.call("moderation.get", {"report_id": report["report_id"]}))
        == "forbidden"
    )
    assert await refused_code(ben.call("audit.list", {"group_id": b64encode(group)})) == "forbidden"
