"""A facilitator never learns of, sees or decides a report about their own message.

Such a report is marked ``about_facilitator``; it goes to the group's other facilitators and, as
there is no other today, to the organisation (``hearth reports``, the webhook's flag). Real server,
real Socket.IO clients, the real ``hearth`` command.
"""

from __future__ import annotations

import json

from crypto.encoding import b64encode
from crypto.suite import ROLE_FACILITATOR
from tests.conftest import FACILITATOR_PASSWORD, Clients, RunningServer, hearth_cli
from tests.server.test_report_privacy import identities, leaks
from tests.server.test_reports import received_by, refused_code, trio


async def test_a_report_about_the_facilitator_goes_to_the_organisation_only(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac, ana, ben, group = await trio(make_client)
    await fac.send(group, "stop whining, all of you")
    await ana.send(group, "an ordinary rude remark")
    about_fac = await received_by(ben, group, "stop whining, all of you")
    ordinary = await received_by(ben, group, "an ordinary rude remark")
    escalated = (await ben.report(group, about_fac, "the host is cruel"))["report_id"]
    plain = (await ben.report(group, ordinary, "rude"))["report_id"]

    # The facilitator hears of the ordinary report; the one about them was never sent first.
    await fac.wait_for(lambda: any(e == "report.new" for e, _ in fac.events))
    told = [d["report_id"] for e, d in fac.events if e.startswith("report.")]
    assert told == [plain]
    for payload in (
        await fac.call("moderation.list", {}),
        await fac.call("moderation.list", {"group_id": b64encode(group)}),
        await fac.call("moderation.list", {"state": "open"}),
    ):
        assert [r["report_id"] for r in payload["reports"]] == [plain]
    get = {"report_id": escalated}
    assert await refused_code(fac.call("moderation.get", get)) == "forbidden"
    for action in ("dismiss", "hide_message", "ban_account"):
        act = {"report_id": escalated, "action": action}
        assert await refused_code(fac.call("moderation.act", act)) == "forbidden"
    assert ben.texts(group).count("stop whining, all of you") == 1  # nothing was carried out

    # The organisation reads it, marked, with no reporter, and closes it.
    listed = hearth_cli("reports", "list", "--about-facilitator", config=hearth_server.config_path)
    assert listed.returncode == 0, listed.stderr
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["report_id"] for r in lines] == [escalated]
    assert lines[0]["about_facilitator"] is True
    assert lines[0]["content"] == "stop whining, all of you"
    assert lines[0]["reason"] == "the host is cruel"
    assert leaks(lines, identities(ben, group, "Calm River")) == []
    shown = hearth_cli("reports", "show", escalated, config=hearth_server.config_path)
    assert json.loads(shown.stdout)["about_facilitator"] is True
    closed = hearth_cli(
        "reports", "dismiss", escalated, "--note", "spoke to them", config=hearth_server.config_path
    )
    assert closed.returncode == 0, closed.stderr
    again = hearth_cli("reports", "dismiss", escalated, config=hearth_server.config_path)
    assert again.returncode == 1
    assert "already resolved" in again.stderr
    # The decision is the organisation's record: not in the group's log the facilitator reads.
    audit = await fac.call("audit.list", {"group_id": b64encode(group)})
    assert all(e["subject"] != escalated for e in audit["entries"])
    verified = hearth_cli("audit", "verify", config=hearth_server.config_path)
    assert verified.returncode == 0, verified.stderr
    assert not [e for e, d in fac.events if e == "report.resolved"]


async def test_a_co_facilitator_sees_and_decides_what_the_reported_one_cannot(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac, _, ben, group = await trio(make_client)
    # bob becomes a co-facilitator the way any does (docs/protocol.md §6.8).
    hearth_server.add_facilitator("bob")
    bob = make_client()
    await bob.login("bob", FACILITATOR_PASSWORD)
    await bob.connect()
    await fac.add_facilitator(group, "bob")
    await bob.accept_facilitation(group, pseudonym="Host Birch")
    await fac.decide(group, bob.member_id(group), role=ROLE_FACILITATOR)

    await fac.send(group, "you are all too needy")
    seq = await received_by(ben, group, "you are all too needy")
    report_id = (await ben.report(group, seq, "unkind host"))["report_id"]
    await bob.wait_for(lambda: any(e == "report.new" for e, _ in bob.events))
    live = next(d for e, d in bob.events if e == "report.new")
    assert live["report_id"] == report_id
    assert live["about_facilitator"] is True
    assert leaks(live, identities(ben, group, "Calm River")) == []
    listed = await bob.call("moderation.list", {"group_id": b64encode(group)})
    assert [r["report_id"] for r in listed["reports"]] == [report_id]
    await bob.call("moderation.act", {"report_id": report_id, "action": "hide_message"})
    await ben.wait_for(lambda: None in ben.texts(group))

    assert not [e for e, _ in fac.events if e.startswith("report.")]
    assert (await fac.call("moderation.list", {}))["reports"] == []
    assert await refused_code(fac.call("moderation.get", {"report_id": report_id})) == "forbidden"
    audit = await fac.call("audit.list", {"group_id": b64encode(group)})
    assert all(e["subject"] != report_id for e in audit["entries"])
