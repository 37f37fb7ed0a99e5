"""Classifiers look at a verified report and set its priority; they are plugins too."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from moderation.reports import Priority, Report

log = logging.getLogger("hearth.moderation")


@runtime_checkable
class Classifier(Protocol):
    def classify(self, report: Report) -> Priority:
        """Pure and synchronous: no I/O, so it can run inline on the report path."""
        ...


ClassifierFactory = Callable[[Mapping[str, Any]], Classifier]


def prioritise(report: Report, classifiers: Iterable[Classifier]) -> Priority:
    """The highest priority any classifier gives.

    A classifier that raises is logged and skipped: a broken plugin must never lose a report,
    and the report still reaches the queue at the priority the others gave it.
    """
    priority = Priority.NORMAL
    for classifier in classifiers:
        try:
            priority = max(priority, classifier.classify(report))
        except Exception:
            log.exception("classifier %s failed; report kept", type(classifier).__name__)
    return priority
