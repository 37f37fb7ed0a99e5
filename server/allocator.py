"""The memory allocator ``hearth serve`` runs on: jemalloc where it is installed.

A wave of connections (everyone reconnecting after a restart, then leaving) used to leave the
process ~85 % of the memory it added: CPython's small-object allocator (pymalloc) gives a 1 MiB
arena back only when every block in it is free, and a few long-lived blocks (sqlite3's cursor
weakrefs, uvloop's and asyncio's free lists, the running tasks' objects) stay scattered over the
arenas the wave filled (docs/benchmarks.md, "What holds each arena"). With every object taken from
jemalloc instead (``PYTHONMALLOC=malloc``), a live block keeps only its own page, and a purge
after the wave (server/heaptrim.py) hands back the rest: ~10 % kept, for the same server CPU per
delivered message (docs/benchmarks.md, "Another allocator, shipped"). glibc's malloc does the
same for ~10–24 % more CPU, mimalloc 2.0 kept ~40 %.

``PYTHONMALLOC`` is read when the interpreter starts and ``LD_PRELOAD`` when the process is
loaded, so ``hearth serve`` starts itself once more, before it opens anything, with both set:
``execve`` keeps the process id, its arguments and its open standard streams, so a service
manager, a test or a benchmark that started it sees the same process. An operator who sets
either variable chooses for themselves; ``server.allocator = "python"`` keeps CPython's own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

MARK = "HEARTH_ALLOCATOR"  # set on the restart, so that it happens once
OPERATOR_CHOICES = ("LD_PRELOAD", "PYTHONMALLOC")
INSTALL_HINT = "apt-get install libjemalloc2"
# Pages freed in the event loop are handed back by jemalloc's own thread, not inside a malloc()
# call of the loop.
JEMALLOC_CONF = "background_thread:true"


def restart_environment(
    setting: str,
    environ: Mapping[str, str],
    find_library: Callable[[str], str | None] = ctypes.util.find_library,
) -> dict[str, str] | None:
    """The environment to start again in under jemalloc, or None to go on as this process is."""
    if setting != "jemalloc" or MARK in environ:
        return None
    if any(name in environ for name in OPERATOR_CHOICES):
        return None
    library = find_library("jemalloc")
    if library is None:
        return None
    return {
        "MALLOC_CONF": JEMALLOC_CONF,  # unless the operator tuned jemalloc themselves
        **environ,
        "LD_PRELOAD": library,
        "PYTHONMALLOC": "malloc",
        MARK: "jemalloc",
    }


def restart_under_jemalloc(setting: str) -> None:
    """Replace this process by the same command under jemalloc, if it should be; else return."""
    environ = restart_environment(setting, os.environ)
    if environ is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, environ)  # noqa: S606 - this very command again


def mallctl() -> Any | None:
    """jemalloc's ``mallctl`` in this process, or None where jemalloc does not serve ``malloc``."""
    return getattr(ctypes.CDLL(None), "mallctl", None)


def jemalloc_loaded() -> bool:
    return mallctl() is not None


def settle() -> bool:
    """After the restart: drop what it set, so that no child process inherits jemalloc. True if
    this process is the restarted one."""
    restarted = os.environ.pop(MARK, None) is not None
    if restarted:
        os.environ.pop("LD_PRELOAD", None)
        os.environ.pop("PYTHONMALLOC", None)
        if os.environ.get("MALLOC_CONF") == JEMALLOC_CONF:
            del os.environ["MALLOC_CONF"]
    return restarted


def report(setting: str, restarted: bool) -> tuple[int, str]:
    """The log level and line that say which allocator serves this process (and, where it is
    not the one configured, what to do)."""
    if jemalloc_loaded():
        return logging.INFO, "memory allocator: jemalloc"
    if restarted:
        return logging.WARNING, (
            "memory allocator: jemalloc was found but did not load; Python's own is used, which "
            f"keeps most of the memory a wave of closed connections freed ({INSTALL_HINT})"
        )
    if setting == "jemalloc" and not any(name in os.environ for name in OPERATOR_CHOICES):
        return logging.WARNING, (
            "memory allocator: jemalloc is not installed, so Python's own is used, which keeps "
            "most of the memory a wave of closed connections freed; install it with: "
            + INSTALL_HINT
        )
    chosen = os.environ.get("PYTHONMALLOC", "Python's own")
    return logging.INFO, f"memory allocator: {chosen}"
