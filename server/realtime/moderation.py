"""Events for reports and facilitators' moderation: the server verifies a report by franking
before it reaches the queue, and carries out each decision at once, with an audit entry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crypto.encoding import b64encode
from crypto.errors import VerificationFailed
from crypto.franking import ReportOpening, parse_report_opening, verify_report
from moderation.actions import Action, Decision
from moderation.errors import AlreadyResolved, DuplicateReport, InvalidDecision, UnknownReport
from moderation.intake import file_report
from moderation.reports import NewReport, Report, ReportState
from server.errors import Code, HearthError
from server.realtime import reportaccess, schemas
from server.realtime.events import Reply, event
from server.realtime.state import Connection
from server.realtime.wire import check_version, decode_b64, group_room

if TYPE_CHECKING:
    from server.realtime.hub import Hub

MINUTE_MS = 60_000
DAY_MS = 86_400_000
UNVERIFIABLE = "this report could not be verified against the message the server relayed"


@event("report.submit", schemas.ReportSubmit)
async def submit_report(hub: Hub, connection: Connection, payload: schemas.ReportSubmit) -> Reply:
    group_id = decode_b64(payload.group_id, "group_id", 16)
    raw = decode_b64(payload.opening, "opening")
    check_version(raw, "report opening")
    try:
        opening = parse_report_opening(raw)
    except (ValueError, TypeError):
        raise HearthError(Code.BAD_REQUEST, "the report opening is malformed") from None
    header = opening.header
    if header.group_id != group_id:
        raise HearthError(Code.REPORT_UNVERIFIABLE, UNVERIFIABLE)
    reporter = await hub.member_for(connection, group_id)
    if not reporter.keyed or reporter.first_epoch is None or reporter.first_epoch > header.epoch:
        raise HearthError(Code.NOT_MEMBER, "you can only report messages you were sent")
    # A message its sender deleted is still here as a tombstone that kept its header (and so C)
    # and rtag until retention purges it: those who saw it can still report it.
    stored = await hub.messages.reportable(group_id, header.msg_id)
    if stored is None:
        raise await _missing(hub, opening, group_id)
    # The rtag binds group, epoch, sender, msg_id, time and commitment; comparing with the
    # stored header also binds the nonce, which the rtag does not cover (docs/protocol.md).
    if stored.header != header.encode() or stored.server_ts != opening.server_ts:
        raise HearthError(Code.REPORT_UNVERIFIABLE, UNVERIFIABLE)
    try:
        verify_report(opening, hub.keyring.frank_keys)
        content = opening.content.decode("utf-8")
    except (VerificationFailed, UnicodeDecodeError):
        raise HearthError(Code.REPORT_UNVERIFIABLE, UNVERIFIABLE) from None
    await hub.limit(hub.limits.reports, connection)
    author = await reportaccess.facilitator_of_member(hub, group_id, header.sender_id)
    new = NewReport(
        group_id=group_id,
        msg_id=header.msg_id,
        seq=stored.seq,
        content=content,
        content_type=opening.content_type,
        sender_id=header.sender_id,
        message_ts=stored.server_ts,
        reported_at=hub.clock(),
        reason=payload.reason.strip(),
        about_facilitator=author is not None,
        duplicate_key=reportaccess.duplicate_key(
            hub.keyring.report_duplicate_key, group_id, header.msg_id, connection.account_pk
        ),
    )
    try:
        report = await file_report(hub.queue, hub.classifiers, new)
    except DuplicateReport:
        raise HearthError(Code.ALREADY_REPORTED, "you have already reported this message") from None
    await reportaccess.tell_facilitators(hub, "report.new", report, report_view(report))
    return {"report_id": report.report_id, "priority": report.priority.value}


async def _missing(hub: Hub, opening: ReportOpening, group_id: bytes) -> HearthError:
    """Why a report names no stored message: past retention (the opening is genuine and older
    than the group keeps messages), or not verifiable."""
    try:
        verify_report(opening, hub.keyring.frank_keys)
    except VerificationFailed:
        return HearthError(Code.REPORT_UNVERIFIABLE, UNVERIFIABLE)
    group = (await hub.group_state(group_id)).group
    if opening.server_ts < hub.clock() - group.retention_days * DAY_MS:
        return HearthError(
            Code.REPORT_EXPIRED,
            "this message is older than the group keeps messages and can no longer be reported",
        )
    return HearthError(Code.REPORT_UNVERIFIABLE, UNVERIFIABLE)


def report_view(report: Report) -> dict[str, Any]:
    view = report.to_json()
    view["verified"] = True  # only franking-verified reports ever enter the queue
    return view


async def _report_for(hub: Hub, connection: Connection, report_id: str) -> Report:
    report = await hub.queue.get(report_id)
    if report is None:
        raise HearthError(Code.NOT_FOUND, "no such report")
    facilitator_id = await hub.require_facilitator(connection, report.group_id)
    await reportaccess.check_not_about(hub, report, facilitator_id)
    return report


@event("moderation.list", schemas.ModerationList)
async def list_reports(hub: Hub, connection: Connection, payload: schemas.ModerationList) -> Reply:
    facilitator = await hub.require_session(connection)
    if payload.group_id is not None:
        group_id = decode_b64(payload.group_id, "group_id", 16)
        await hub.require_facilitator(connection, group_id)
        groups = [group_id]
    else:
        managed = await hub.groups.groups_of_facilitator(facilitator.facilitator_id)
        groups = [g.group_id for g in managed]
    state = None if payload.state is None else ReportState(payload.state)
    own = await reportaccess.own_member_ids(hub, facilitator.facilitator_id, groups)
    try:
        reports = await hub.queue.list(
            group_ids=groups,
            state=state,
            limit=payload.limit,
            before=payload.before,
            excluding_senders=own,
        )
    except UnknownReport:
        raise HearthError(Code.NOT_FOUND, "the page cursor names no report") from None
    return {"reports": [report_view(r) for r in reports]}


@event("moderation.get", schemas.ReportRef)
async def get_report(hub: Hub, connection: Connection, payload: schemas.ReportRef) -> Reply:
    return {"report": report_view(await _report_for(hub, connection, payload.report_id))}


@event("moderation.act", schemas.ModerationAct)
async def act_on_report(hub: Hub, connection: Connection, payload: schemas.ModerationAct) -> Reply:
    report = await _report_for(hub, connection, payload.report_id)
    assert connection.facilitator is not None  # _report_for checked it
    now = hub.clock()
    try:
        decision = Decision(
            action=Action(payload.action),
            facilitator=connection.facilitator.username,
            note=payload.note.strip(),
            mute_minutes=payload.mute_minutes,
            decided_at=now,
        )
    except InvalidDecision as error:
        raise HearthError(Code.BAD_REQUEST, str(error)) from None
    rule = await rule_named(hub, report.group_id, payload.rule)
    try:
        resolved = await hub.queue.resolve(report.report_id, decision)
    except AlreadyResolved:
        raise HearthError(
            Code.ALREADY_RESOLVED, "another facilitator has decided already"
        ) from None
    detail = await carry_out(
        hub, report.group_id, report.sender_id, report.msg_id, report.seq, decision, now, rule
    )
    await hub.audit.record(
        at=now,
        actor=connection.facilitator.username,
        action=decision.action.value,
        # A decision about a facilitator's message is the organisation's record, not the
        # group's: the facilitator it is about reads the group's log (audit.list).
        group_id=None if report.about_facilitator else report.group_id,
        subject=report.report_id,
        detail={
            "member_id": b64encode(report.sender_id),
            "note": decision.note,
            **({"rule": rule} if rule else {}),
            **({"group_id": b64encode(report.group_id)} if report.about_facilitator else {}),
            **detail,
        },
    )
    await reportaccess.tell_facilitators(hub, "report.resolved", resolved, report_view(resolved))
    return {"report": report_view(resolved)}


async def rule_named(hub: Hub, group_id: bytes, rule: str) -> str | None:
    """The group rule a warning or mute is about: one line of the group's rules, as written."""
    rule = rule.strip()
    if not rule:
        return None
    group = (await hub.group_state(group_id)).group
    if rule not in {line.strip() for line in group.rules.splitlines()}:
        raise HearthError(Code.BAD_REQUEST, "rule must be one line of this group's rules")
    return rule


async def carry_out(
    hub: Hub,
    group_id: bytes,
    sender_id: bytes,
    msg_id: bytes,
    seq: int,
    decision: Decision,
    now: int,
    rule: str | None,
) -> dict[str, Any]:
    """Take a decision about one message (its group, author, id and seq) into effect at once;
    returns what the audit entry should add. Used for reports and for messages acted on
    directly (message_actions.py)."""
    action = decision.action
    if action is Action.DISMISS:
        return {}
    if action is Action.HIDE_MESSAGE:
        hidden = await hub.messages.tombstone(group_id, msg_id)
        if hidden is not None:
            await hub.sio.emit(
                "msg.deleted",
                {
                    "group_id": b64encode(group_id),
                    "seq": hidden.seq,
                    "msg_id": b64encode(msg_id),
                    "by": "facilitator",
                },
                room=group_room(group_id),
            )
        return {"seq": seq}
    member = await hub.groups.member(group_id, sender_id)
    if member is None:
        return {"effect": "member unknown"}
    if action is Action.WARN:
        await hub.notify_member(
            member,
            {
                "kind": "warning",
                "message": decision.note or _WARNING,
                "rule": rule,
                "note": decision.note or None,
            },
        )
        return {}
    if action is Action.MUTE:
        assert decision.mute_minutes is not None  # Decision checks it
        until = now + decision.mute_minutes * MINUTE_MS
        note = decision.note or None
        await hub.groups.set_muted_until(group_id, sender_id, until, rule=rule, note=note)
        await hub.changed({"t": "reload", "g": group_id.hex()})
        # The member's page also learns it from groups.list on every connect (views.mute_view).
        await hub.notify_member(
            member,
            {"kind": "muted", "message": _MUTED, "muted_until": until, "rule": rule, "note": note},
        )
        return {"muted_until": until}
    if action is Action.REMOVE_MEMBER:
        removed = await hub.groups.change_state(
            group_id, sender_id, allowed_from=("pending", "active"), to="removed"
        )
        if removed is not None:
            await hub.end_membership(removed, "removed")
        return {}
    if action is Action.BAN_ACCOUNT:
        await hub.ban(member.account_pk, (group_id, sender_id))
        return {}
    raise AssertionError(f"unhandled action {action}")


_WARNING = "A facilitator has asked you to keep to this group's rules."
_MUTED = "A facilitator has paused your messages in this group for a while."


@event("audit.list", schemas.AuditList)
async def list_audit(hub: Hub, connection: Connection, payload: schemas.AuditList) -> Reply:
    group_id = decode_b64(payload.group_id, "group_id", 16)
    await hub.require_facilitator(connection, group_id)
    entries = await hub.audit.entries(
        group_ids=[group_id], before_seq=payload.before_seq, limit=payload.limit
    )
    return {"entries": [e.to_json() for e in entries]}
