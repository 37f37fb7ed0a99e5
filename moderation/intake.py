"""The path of a verified report into the queue: classify, then submit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from moderation.classifiers import Classifier, prioritise
from moderation.queue import ModerationQueue
from moderation.reports import NewReport, Report


async def file_report(
    queue: ModerationQueue, classifiers: Iterable[Classifier], new: NewReport
) -> Report:
    """Give ``new`` an id and a priority and submit it; returns the report as queued.

    Raises ``DuplicateReport`` when this reporter already reported this message.
    """
    report = Report.opened(new)
    report = replace(report, priority=prioritise(report, classifiers))
    await queue.submit(report)
    return report
