"""Finding backends and classifiers through entry points; the built-ins are found the same way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from moderation.classifiers import Classifier
from moderation.errors import PluginError
from moderation.queue import BackendContext, ModerationQueue

BACKENDS_GROUP = "hearth.moderation_backends"
CLASSIFIERS_GROUP = "hearth.moderation_classifiers"


def _installed(group: str) -> dict[str, list[EntryPoint]]:
    found: dict[str, list[EntryPoint]] = {}
    for point in entry_points(group=group):
        found.setdefault(point.name, []).append(point)
    return found


def installed_backends() -> list[str]:
    return sorted(_installed(BACKENDS_GROUP))


def installed_classifiers() -> list[str]:
    return sorted(_installed(CLASSIFIERS_GROUP))


def _load(group: str, kind: str, name: str) -> Any:
    installed = _installed(group)
    points = installed.get(name)
    if not points:
        names = ", ".join(sorted(installed)) or "none"
        raise PluginError(f"no {kind} named {name!r} is installed (installed: {names})")
    # Two packages claiming one name: refuse rather than let install order pick silently.
    values = sorted({p.value for p in points})
    if len(values) > 1:
        raise PluginError(f"{kind} {name!r} is declared more than once: {', '.join(values)}")
    try:
        return points[0].load()
    except Exception as error:
        raise PluginError(f"{kind} {name!r} ({values[0]}) failed to import: {error}") from error


def load_backend(name: str, context: BackendContext) -> ModerationQueue:
    """Build the backend ``name``; it is not started (the server calls ``start()``)."""
    factory = _load(BACKENDS_GROUP, "moderation backend", name)
    queue = factory(context)
    if not isinstance(queue, ModerationQueue):
        raise PluginError(f"moderation backend {name!r} did not build a ModerationQueue")
    return queue


def load_classifiers(
    names: Sequence[str], settings: Mapping[str, Mapping[str, Any]]
) -> list[Classifier]:
    """Build each classifier in ``names`` with its own table ``settings[name]`` (or empty)."""
    built: list[Classifier] = []
    for name in names:
        factory = _load(CLASSIFIERS_GROUP, "moderation classifier", name)
        classifier = factory(settings.get(name, {}))
        if not isinstance(classifier, Classifier):
            raise PluginError(f"moderation classifier {name!r} did not build a Classifier")
        built.append(classifier)
    return built
