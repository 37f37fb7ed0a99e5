"""Fixtures of the moderation tests: report factories, a context, plugin distributions."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from moderation.actions import Action, Decision
from moderation.queue import BackendContext
from moderation.reports import NewReport, Report

REPO = Path(__file__).resolve().parents[2]
THIRDPARTY = REPO / "tests" / "fixtures" / "thirdparty_backend"


class Clock:
    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def new_report(n: int = 0, **changes: object) -> NewReport:
    fields: dict[str, object] = {
        "group_id": b"G" * 16,
        "msg_id": n.to_bytes(16, "big"),
        "seq": n,
        "content": f"message {n}",
        "content_type": 1,
        "sender_id": b"S" * 16,
        "message_ts": 1_700_000_000_000 + n,
        "reported_at": 1_700_000_001_000 + n,
        "reason": "unkind",
        "about_facilitator": False,
        "duplicate_key": b"R" * 32,
    }
    fields.update(changes)
    return NewReport(**fields)  # type: ignore[arg-type]


def make_report(n: int = 0, **changes: object) -> Report:
    return Report.opened(new_report(n, **changes))


def dismiss(at: int = 1_700_000_002_000) -> Decision:
    return Decision(Action.DISMISS, "alice", "", None, at)


Contexts = Callable[..., BackendContext]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def context(tmp_path: Path, clock: Clock) -> Contexts:
    def make(**settings: object) -> BackendContext:
        return BackendContext(tmp_path / "hearth.sqlite3", settings, clock, b"k" * 32)

    return make


def _write_dist(site: Path, name: str, version: str, pyproject: Path) -> None:
    """A .dist-info carrying ``pyproject``'s entry points, as pip would write it."""
    project = tomllib.loads(pyproject.read_text())["project"]
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, points in project.get("entry-points", {}).items():
        lines.append(f"[{group}]")
        lines.extend(f"{key} = {value}" for key, value in points.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def builtin_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure the built-ins declared in pyproject.toml are discoverable.

    An editable install made before the entry points were added to pyproject.toml carries stale
    metadata until ``make setup`` reinstalls it; then this stands in with a generated
    .dist-info holding exactly the entry points pyproject.toml declares. Nothing in the venv
    is touched.
    """
    if "sqlite" in entry_points(group="hearth.moderation_backends").names:
        return
    site = tmp_path / "hearth-site"
    _write_dist(site, "hearth-moderation-builtins", "0", REPO / "pyproject.toml")
    monkeypatch.syspath_prepend(str(site))


@pytest.fixture
def thirdparty_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``tests/fixtures/thirdparty_backend`` as if pip-installed, for this test only.

    pip-installing it would need a build backend (offline, no build isolation) and would leave
    it in the shared venv; a .dist-info on sys.path is all importlib.metadata looks for.
    """
    site = tmp_path / "thirdparty-site"
    _write_dist(site, "hearth-memory-backend", "0.1.0", THIRDPARTY / "pyproject.toml")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(THIRDPARTY))
    yield
    sys.modules.pop("hearth_memory_backend", None)
