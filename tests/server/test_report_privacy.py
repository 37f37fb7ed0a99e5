"""What a facilitator receives about a report never identifies the member who made it.

Real server, real Socket.IO clients: every payload a facilitator gets for a report (the live
``report.new``, ``moderation.list``, ``moderation.get``, ``moderation.act``'s answer and the live
``report.resolved``) is scanned whole for the reporter's member id, account key and pseudonym,
in every encoding they could take; a duplicate report is still refused.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from crypto.encoding import b64encode
from server.client import HearthClient
from tests.conftest import Clients, RunningServer, member_in
from tests.server.test_reports import received_by, refused_code, trio


def identities(client: HearthClient, group: bytes, pseudonym: str) -> list[str]:
    """Every form in which a client's identity could appear in JSON."""
    forms: list[str] = [pseudonym]
    for raw in (client.member_id(group), client.account.public):
        forms += [b64encode(raw), raw.hex(), raw.hex().upper()]
        forms.append(json.dumps(list(raw))[1:-1])  # a list of byte values
    return forms


def leaks(payload: Any, forms: list[str]) -> list[str]:
    text = json.dumps(payload)
    return [form for form in forms if form in text]


async def test_no_payload_a_facilitator_gets_names_the_reporter(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac, ana, ben, group = await trio(make_client)
    await ana.send(group, "nobody here likes you")
    seq = await received_by(ben, group, "nobody here likes you")
    reply = await ben.report(group, seq, "bullying")
    report_id = reply["report_id"]
    await fac.wait_for(lambda: any(e == "report.new" for e, _ in fac.events))

    received: list[Any] = [d for e, d in fac.events if e == "report.new"]
    received.append(await fac.call("moderation.list", {"group_id": b64encode(group)}))
    received.append(await fac.call("moderation.list", {}))
    received.append(await fac.call("moderation.get", {"report_id": report_id}))
    received.append(await fac.call("moderation.act", {"report_id": report_id, "action": "dismiss"}))
    await fac.wait_for(lambda: any(e == "report.resolved" for e, _ in fac.events))
    received += [d for e, d in fac.events if e == "report.resolved"]
    # the report is there, with its author (whom the facilitator must be able to act on) ...
    assert received[0]["content"] == "nobody here likes you"
    assert received[0]["sender_id"] == b64encode(ana.member_id(group))
    assert "reporter_id" not in received[0]
    # ... and nothing anywhere in any of them names the reporter
    forms = identities(ben, group, "Calm River")
    for payload in received:
        assert leaks(payload, forms) == [], payload

    # one report per member and message, still
    assert await refused_code(ben.report(group, seq, "again")) == "already_reported"
    # nor does the server's table keep the reporter's id or account key in the clear
    with sqlite3.connect(hearth_server.database) as conn:
        rows = conn.execute("SELECT * FROM moderation_reports").fetchall()
    stored = b"".join(v for row in rows for v in row if isinstance(v, bytes))
    assert ben.member_id(group) not in stored
    assert ben.account.public not in stored


async def test_another_member_may_report_the_same_message(make_client: Clients) -> None:
    fac, ana, ben, group = await trio(make_client)
    cara = await member_in(make_client, fac, group, "Still Lake")
    await ben.wait_for(lambda: ben.keys[group].current == fac.keys[group].current)
    await ana.wait_for(lambda: ana.keys[group].current == fac.keys[group].current)
    await ana.send(group, "a message two people report")
    first = await received_by(ben, group, "a message two people report")
    second = await received_by(cara, group, "a message two people report")
    one = await ben.report(group, first, "one")
    two = await cara.report(group, second, "two")
    assert one["report_id"] != two["report_id"]
    assert await refused_code(cara.report(group, second, "three")) == "already_reported"
