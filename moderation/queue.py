"""The queue protocol every moderation backend implements, and what a backend is built from."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from moderation.actions import Decision
from moderation.errors import UnknownReport
from moderation.reports import Report, ReportState

LIST_LIMIT_MAX = 500


@dataclass(frozen=True, slots=True)
class BackendContext:
    """Handed to every backend factory by the server.

    ``settings`` is the backend's own table of the config file (``[moderation.<name>]``);
    ``clock`` returns milliseconds since the Unix epoch; ``secret`` is 32 bytes the server
    derives for this backend alone (so it can sign without knowing the server's key);
    ``database_url`` is the server's PostgreSQL (``[storage] url``, which may hold a password),
    empty when the server stores in the SQLite file ``database_path``.
    """

    database_path: Path
    settings: Mapping[str, Any]
    clock: Callable[[], int]
    secret: bytes = field(repr=False)
    database_url: str = field(default="", repr=False)


@runtime_checkable
class ModerationQueue(Protocol):
    """Where verified reports wait for a facilitator.

    ``submit`` is idempotent per ``report_id`` and refuses a second report of one message by
    one reporter with ``DuplicateReport``: a report names no reporter, so the backend compares
    ``(group_id, msg_id, duplicate_key)``. ``list`` returns urgent reports first, then newest
    first; ``before`` is the ``report_id`` of the last report of the previous page;
    ``about_facilitator`` keeps only reports with (True) or without (False) that mark;
    ``excluding_senders`` leaves out reports about messages of these member ids (the server
    passes a facilitator's own, so nobody is shown a report about themselves).
    ``purge_resolved`` deletes reports resolved more than ``older_than_ms`` ago and returns how
    many it deleted.
    """

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def submit(self, report: Report) -> None: ...

    async def list(
        self,
        *,
        group_ids: Collection[bytes] | None = None,
        state: ReportState | None = None,
        limit: int = 50,
        before: str | None = None,
        about_facilitator: bool | None = None,
        excluding_senders: Collection[bytes] = (),
    ) -> builtins.list[Report]: ...

    async def get(self, report_id: str) -> Report | None: ...

    async def resolve(self, report_id: str, decision: Decision) -> Report: ...

    async def purge_resolved(self, older_than_ms: int) -> int: ...


BackendFactory = Callable[[BackendContext], ModerationQueue]


def check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= LIST_LIMIT_MAX:
        raise ValueError(f"limit must be an int in 1..{LIST_LIMIT_MAX}")


def list_key(report: Report) -> tuple[int, int, str]:
    """``list`` order is this key, descending: urgent first, then newest, then by id."""
    return (report.priority.rank, report.reported_at, report.report_id)


def select_page(
    reports: Iterable[Report],
    *,
    group_ids: Collection[bytes] | None,
    state: ReportState | None,
    limit: int,
    before: str | None,
    about_facilitator: bool | None = None,
    excluding_senders: Collection[bytes] = (),
) -> builtins.list[Report]:
    """``list`` over reports held in memory, for backends without a query language."""
    check_limit(limit)
    held = builtins.list(reports)
    cursor = None
    if before is not None:
        cursor = next((list_key(r) for r in held if r.report_id == before), None)
        if cursor is None:
            raise UnknownReport(before)
    chosen = [
        r
        for r in held
        if (group_ids is None or r.group_id in group_ids)
        and (state is None or r.state is state)
        and (about_facilitator is None or r.about_facilitator is about_facilitator)
        and r.sender_id not in excluding_senders
        and (cursor is None or list_key(r) < cursor)
    ]
    return sorted(chosen, key=list_key, reverse=True)[:limit]
