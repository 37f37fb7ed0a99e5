"""Discovery through entry points: the built-ins, a separately packaged backend, bad names."""

from __future__ import annotations

from dataclasses import replace

import pytest

from moderation.backends.sqlite import SqliteQueue
from moderation.backends.webhook import WebhookQueue
from moderation.classifiers.crisis import CrisisLanguageClassifier
from moderation.errors import PluginError
from moderation.intake import file_report
from moderation.plugins import (
    installed_backends,
    installed_classifiers,
    load_backend,
    load_classifiers,
)
from moderation.reports import Priority, ReportState
from tests.moderation.conftest import Contexts, dismiss, new_report


@pytest.mark.usefixtures("builtin_plugins")
def test_builtins_are_found_through_entry_points(context: Contexts) -> None:
    assert {"sqlite", "webhook"} <= set(installed_backends())
    assert "crisis_language" in installed_classifiers()
    assert type(load_backend("sqlite", context())) is SqliteQueue
    webhook = load_backend("webhook", context(url="https://cases.example.org/hearth"))
    assert type(webhook) is WebhookQueue
    (crisis,) = load_classifiers(["crisis_language"], {"crisis_language": {"phrases": ["x"]}})
    assert isinstance(crisis, CrisisLanguageClassifier)
    assert crisis.phrases == ("x",)


@pytest.mark.usefixtures("builtin_plugins")
def test_an_unknown_name_lists_what_is_installed(context: Contexts) -> None:
    with pytest.raises(PluginError, match=r"no moderation backend named 'kafka'.*sqlite"):
        load_backend("kafka", context())
    with pytest.raises(PluginError, match=r"crisis_language"):
        load_classifiers(["sentiment"], {})


@pytest.mark.usefixtures("builtin_plugins", "thirdparty_backend")
async def test_a_separately_packaged_backend_is_discovered_and_receives_reports(
    context: Contexts,
) -> None:
    assert "memory" in installed_backends()
    queue = load_backend("memory", context())
    assert type(queue).__module__ == "hearth_memory_backend"
    await queue.start()
    classifiers = load_classifiers(["crisis_language"], {})
    urgent = await file_report(queue, classifiers, new_report(1, content="suicide"))
    normal = await file_report(queue, classifiers, new_report(2))
    assert await queue.list() == [urgent, normal]
    assert urgent.priority is Priority.URGENT
    resolved = await queue.resolve(normal.report_id, dismiss())
    assert await queue.list(state=ReportState.OPEN) == [urgent]
    assert resolved == replace(
        normal, state=ReportState.RESOLVED, resolved_at=dismiss().decided_at, decision=dismiss()
    )
    await queue.close()


def test_the_thirdparty_backend_is_gone_after_its_test() -> None:
    assert "memory" not in installed_backends()
