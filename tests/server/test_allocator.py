"""`hearth serve` runs on jemalloc where it is installed, in the process that was started, and a
purge after a wave of closes hands freed pages back (server/allocator.py, server/heaptrim.py)."""

from __future__ import annotations

import ctypes.util
import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from server import allocator
from tests.conftest import REPO, RunningServer, serve_in

JEMALLOC = ctypes.util.find_library("jemalloc")


def need_jemalloc() -> str:
    """Fail in CI (it is what the shipped default runs on), skip with the reason elsewhere."""
    if JEMALLOC is None:
        reason = f"jemalloc is not installed ({allocator.INSTALL_HINT})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"jemalloc is needed in CI: {reason}", pytrace=False)
        pytest.skip(reason)
    return JEMALLOC


def found(name: str) -> str | None:
    return "libjemalloc.so.2" if name == "jemalloc" else None


def missing(name: str) -> str | None:
    return None


def test_the_restart_puts_jemalloc_under_every_python_object() -> None:
    environ = allocator.restart_environment("jemalloc", {"PATH": "/usr/bin"}, found)
    assert environ == {
        "PATH": "/usr/bin",
        "MALLOC_CONF": allocator.JEMALLOC_CONF,
        "LD_PRELOAD": "libjemalloc.so.2",
        "PYTHONMALLOC": "malloc",
        allocator.MARK: "jemalloc",
    }


def test_an_operators_own_jemalloc_tuning_is_kept() -> None:
    environ = allocator.restart_environment("jemalloc", {"MALLOC_CONF": "narenas:2"}, found)
    assert environ is not None
    assert environ["MALLOC_CONF"] == "narenas:2"


@pytest.mark.parametrize(
    ("setting", "environ", "find"),
    [
        ("jemalloc", {}, missing),  # not installed: Python's own, with a warning (below)
        ("python", {}, found),  # the operator keeps CPython's allocator
        ("jemalloc", {"PYTHONMALLOC": "pymalloc"}, found),  # the operator chose in the unit
        ("jemalloc", {"LD_PRELOAD": "/opt/libtcmalloc.so"}, found),
        ("jemalloc", {allocator.MARK: "jemalloc"}, found),  # restarted once: never again
    ],
)
def test_no_restart(setting: str, environ: dict[str, str], find: object) -> None:
    assert allocator.restart_environment(setting, environ, find) is None  # type: ignore[arg-type]


def test_after_the_restart_no_child_process_inherits_jemalloc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in allocator.restart_environment("jemalloc", {}, found).items():  # type: ignore[union-attr]
        monkeypatch.setenv(name, value)
    assert allocator.settle()
    for name in ("LD_PRELOAD", "PYTHONMALLOC", "MALLOC_CONF", allocator.MARK):
        assert name not in os.environ
    # This test process was not started under jemalloc: the log says it did not load.
    level, line = allocator.report("jemalloc", restarted=True)
    assert level == logging.WARNING
    assert "jemalloc was found but did not load" in line


def test_a_missing_jemalloc_is_said_with_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LD_PRELOAD", "PYTHONMALLOC", allocator.MARK):
        monkeypatch.delenv(name, raising=False)
    assert not allocator.settle()
    level, line = allocator.report("jemalloc", restarted=False)
    assert level == logging.WARNING
    assert allocator.INSTALL_HINT in line


def test_an_operators_choice_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONMALLOC", "malloc")
    assert allocator.report("jemalloc", restarted=False) == (
        logging.INFO,
        "memory allocator: malloc",
    )


def mapped_libraries(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


@pytest.fixture
def python_allocator_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from serve_in(tmp_path / "hearth", server_config='allocator = "python"\n')


def test_hearth_serve_runs_on_jemalloc_in_the_process_that_was_started(
    hearth_server: RunningServer,
) -> None:
    need_jemalloc()
    assert hearth_server.process is not None
    assert "libjemalloc" in mapped_libraries(hearth_server.process.pid)
    assert "memory allocator: jemalloc" in hearth_server.log_text()


def test_allocator_python_keeps_cpythons_own(python_allocator_server: RunningServer) -> None:
    need_jemalloc()
    assert python_allocator_server.process is not None
    assert "libjemalloc" not in mapped_libraries(python_allocator_server.process.pid)
    assert "memory allocator: Python's own" in python_allocator_server.log_text()


PURGE_SCRIPT = textwrap.dedent(
    """
    import json
    from pathlib import Path
    from server.heaptrim import heap_release

    def rss_mib():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    start = rss_mib()
    wave = [bytes(200) + i.to_bytes(8, "little") for i in range(400_000)]
    survivors = wave[::2_000]  # a few long-lived blocks scattered over the wave's pages
    full = rss_mib()
    del wave
    freed = rss_mib()
    status = heap_release()()
    print(json.dumps([start, full, freed, rss_mib(), status, len(survivors)]))
    """
)


def test_a_purge_hands_back_the_pages_a_wave_freed_around_its_survivors() -> None:
    library = need_jemalloc()
    environ = {
        **os.environ,
        "LD_PRELOAD": library,
        "PYTHONMALLOC": "malloc",
        # No decay of its own: what comes back, the purge gave back.
        "MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1",
    }
    result = subprocess.run(
        [sys.executable, "-c", PURGE_SCRIPT],
        env=environ,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    start, full, freed, purged, status, _ = json.loads(result.stdout)
    added = full - start
    assert added > 50, result.stdout
    assert status == 0
    assert freed - start > 0.8 * added  # freed but still held by the allocator
    assert purged - start < 0.2 * added  # handed back, survivors and all
