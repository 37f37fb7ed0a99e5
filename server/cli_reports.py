"""``hearth reports``: the organisation's own view of the moderation queue.

Facilitators see reports in the console; a report about a facilitator's own message is kept from
that facilitator (server/realtime/reportaccess.py), so the organisation needs a way to read and
close it that does not go through them: ``list --about-facilitator``, ``show`` and ``dismiss``.
Reports name no reporter, here as everywhere. Actions that need the live server (hide, mute,
remove, ban) are a co-facilitator's; the organisation's answer to a facilitator who misbehaves
is ``hearth facilitator disable``. docs/moderation.md.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar

from crypto.encoding import b64encode
from moderation.actions import Action, Decision
from moderation.errors import AlreadyResolved, UnknownReport
from moderation.queue import LIST_LIMIT_MAX, ModerationQueue
from moderation.reports import Report, ReportState
from server.config import load_config
from server.storage.database import Database

ORGANISATION = "organisation"
_T = TypeVar("_T")


def add_report_commands(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    with_config: argparse.ArgumentParser,
) -> None:
    reports = commands.add_parser("reports", help="read and close reports as the organisation")
    actions = reports.add_subparsers(required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", parents=[with_config], help="one JSON object per report, urgent then newest"
    )
    listing.add_argument(
        "--about-facilitator",
        action="store_true",
        help="only reports about a facilitator's own message (kept from that facilitator)",
    )
    listing.add_argument("--state", choices=[s.value for s in ReportState], default=None)
    listing.add_argument("--limit", type=int, default=100, help=f"1 to {LIST_LIMIT_MAX}")
    listing.set_defaults(command=cmd_reports_list)
    show = actions.add_parser("show", parents=[with_config], help="one report, as JSON")
    show.add_argument("report_id", metavar="REPORT_ID")
    show.set_defaults(command=cmd_reports_show)
    dismiss = actions.add_parser(
        "dismiss",
        parents=[with_config],
        help="close a report with no action, as the organisation (written to the audit log)",
    )
    dismiss.add_argument("report_id", metavar="REPORT_ID")
    dismiss.add_argument("--note", default="", help="why (kept in the audit log)")
    dismiss.set_defaults(command=cmd_reports_dismiss)


def _with_queue(
    args: argparse.Namespace, job: Callable[[ModerationQueue, Database], Awaitable[_T]]
) -> _T:
    from server.app import load_moderation
    from server.cli import _now_ms, _run_with_database
    from server.keyring import Keyring

    config = load_config(args.config)

    async def run(db: Database) -> _T:
        keyring = Keyring.from_secret(config.secret_key.reveal(), config.franking.current_kid)
        queue, _ = load_moderation(config, keyring, _now_ms)
        await queue.start()
        try:
            return await job(queue, db)
        finally:
            await queue.close()

    return _run_with_database(config, run)


def _line(report: Report) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False, sort_keys=True)


def cmd_reports_list(args: argparse.Namespace) -> None:
    from server.cli import CommandError

    if not 1 <= args.limit <= LIST_LIMIT_MAX:
        raise CommandError(f"--limit must be from 1 to {LIST_LIMIT_MAX}")
    state = None if args.state is None else ReportState(args.state)
    about = True if args.about_facilitator else None

    async def job(queue: ModerationQueue, _: Database) -> list[Report]:
        return await queue.list(state=state, limit=args.limit, about_facilitator=about)

    for report in _with_queue(args, job):
        print(_line(report))


def cmd_reports_show(args: argparse.Namespace) -> None:
    from server.cli import CommandError

    async def job(queue: ModerationQueue, _: Database) -> Report | None:
        return await queue.get(args.report_id)

    report = _with_queue(args, job)
    if report is None:
        raise CommandError(f"no report {args.report_id!r}")
    print(json.dumps(report.to_json(), ensure_ascii=False, sort_keys=True, indent=2))


def cmd_reports_dismiss(args: argparse.Namespace) -> None:
    from server.cli import CommandError, _now_ms
    from server.storage.audit import AuditStore

    async def job(queue: ModerationQueue, db: Database) -> Report:
        now = _now_ms()
        decision = Decision(Action.DISMISS, ORGANISATION, args.note.strip(), None, now)
        try:
            resolved = await queue.resolve(args.report_id, decision)
        except UnknownReport:
            raise CommandError(f"no report {args.report_id!r}") from None
        except AlreadyResolved:
            raise CommandError(f"report {args.report_id!r} is already resolved") from None
        # As moderation.act records it: a report about a facilitator is the organisation's
        # entry (no group), so the facilitator it is about does not read it in audit.list.
        about = resolved.about_facilitator
        await AuditStore(db).record(
            at=now,
            actor=ORGANISATION,
            action=Action.DISMISS.value,
            group_id=None if about else resolved.group_id,
            subject=resolved.report_id,
            detail={
                "member_id": b64encode(resolved.sender_id),
                "note": decision.note,
                **({"group_id": b64encode(resolved.group_id)} if about else {}),
            },
        )
        return resolved

    resolved = _with_queue(args, job)
    print(f"dismissed report {resolved.report_id}")
