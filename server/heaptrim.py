"""Freed memory given back to the system once a wave of connections has closed.

A connection's objects are freed when it closes (nothing of it stays: docs/benchmarks.md,
"Memory under connection churn"), but the process's RSS stayed near its peak: 2,000 clients
took ``hearth serve`` from 74 to 135 MB and it stayed at 135 MB after all of them had closed.
Most of it is free, in the allocators, and kept there, because a few blocks that outlive the
connections are scattered among it:

* CPython's own allocator (pymalloc) takes memory in 1 MiB arenas and gives an arena back only
  when every block in it is free; one live block keeps its whole MiB. CPython also keeps freed
  objects for reuse in free lists (up to 2,000 tuples of each size below 20, and lists, dicts,
  floats, contexts), emptied only by a full collection, which Hearth's GC settings make rare
  (server/gcpolicy.py): after a wave of closes they were ~6,500 blocks of the wave's own,
  spread over its arenas (``python -m bench.connect --probe``).
* So ``hearth serve`` takes every object from jemalloc where it is installed
  (server/allocator.py): a live block then keeps only its page, and jemalloc's purge of all its
  arenas hands back every other free page at once: a wave of 2,000 connections keeps ~10–27 %
  instead of ~85 % (docs/benchmarks.md, "Another allocator, shipped").
* Without jemalloc, glibc's ``malloc_trim(0)`` hands back every free page inside its heap, where
  Python's objects of more than 512 bytes and the C libraries' allocations are: 132 → 124 MB
  after 2,000 closes.

:class:`HeapTrimmer` acts after a wave of closes has ended: the number of open connections has
fallen by at least ``min_drop`` from its high point since the last time, and did not fall further
since the previous check (acting halfway through a wave would hand back pages that the next
allocations fault in again); at most once every ``min_interval_s``; and once the members still
connected are not busy talking: the full pass below stops the event loop for 50–75 ms with 500
connections left, which put every message relayed meanwhile late (the relay benchmark's p99 at
3,000 deliveries/s was 15–28 ms in the rounds where it landed in the measured window, 4–5 ms
without it). So it waits while more than ``quiet_messages`` were accepted or relayed here since
the previous check (``activity``: the messages this process stored, and the broadcasts it wrote
to its sockets, also those another process accepted and Redis brought), for at most
``max_wait_s`` (on a process that is never quiet, memory still comes back).
It then runs a full collection if the wave closed at least as many connections as are left
(the pass walks what start-up did not freeze, mostly the objects of the connections still open:
so it costs no more than the closes did), and :func:`heap_release`: jemalloc's purge, else
``malloc_trim`` where the C library is glibc (~1 ms after 2,000 closes). Nothing happens while
connections only come and go.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import platform
import time
from collections.abc import Callable

from server import allocator

log = logging.getLogger("hearth")

MIN_DROP = 64
MIN_INTERVAL_S = 10.0
CHECK_INTERVAL_S = 1.0
QUIET_CHECKS = 3
QUIET_MESSAGES = 20  # accepted or relayed since the previous check: few enough to pause for
MAX_WAIT_S = 60.0


PURGE_ALL_ARENAS = b"arena.4096.purge"  # 4096: jemalloc's MALLCTL_ARENAS_ALL


def heap_release() -> Callable[[], int] | None:
    """What hands this process's free heap pages back: jemalloc's purge where jemalloc serves
    ``malloc`` (server/allocator.py), else glibc's ``malloc_trim``, else nothing."""
    return jemalloc_purge() or glibc_malloc_trim()


def jemalloc_purge() -> Callable[[], int] | None:
    """jemalloc's purge of the unused pages of all its arenas, or None where it is not loaded."""
    mallctl = allocator.mallctl()
    if mallctl is None:
        return None
    mallctl.argtypes = [ctypes.c_char_p] + [ctypes.c_void_p] * 3 + [ctypes.c_size_t]
    mallctl.restype = ctypes.c_int
    return lambda: int(mallctl(PURGE_ALL_ARENAS, None, None, None, 0))


def glibc_malloc_trim() -> Callable[[], int] | None:
    """glibc's ``malloc_trim(0)`` of this process, or None where the C library is not glibc."""
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))


class HeapTrimmer:
    """Calls ``trim`` once each wave of closes has ended (see the module docstring)."""

    def __init__(
        self,
        open_connections: Callable[[], int],
        trim: Callable[[], object] | None,
        *,
        activity: Callable[[], int] = lambda: 0,
        collect: Callable[[], object] = gc.collect,
        min_drop: int = MIN_DROP,
        min_interval_s: float = MIN_INTERVAL_S,
        quiet_checks: int = QUIET_CHECKS,
        quiet_messages: int = QUIET_MESSAGES,
        max_wait_s: float = MAX_WAIT_S,
    ) -> None:
        self._open_connections = open_connections
        self._trim = trim
        self._activity = activity
        self._collect = collect
        self._min_drop = min_drop
        self._min_interval_s = min_interval_s
        self._quiet_checks = quiet_checks
        self._quiet_messages = quiet_messages
        self._max_wait_s = max_wait_s
        self._quiet = 0
        self._high = open_connections()
        self._previous = self._high
        self._active = activity()
        self._due_since: float | None = None
        self._last_trim: float | None = None
        self.trims = 0
        self.collections = 0

    def check(self, now: float) -> bool:
        """Trim if a wave of closes has just ended; True if it did."""
        count = self._open_connections()
        active = self._activity()
        busy = active - self._active > self._quiet_messages
        self._active = active
        self._quiet = self._quiet + 1 if count >= self._previous else 0
        self._previous = count
        self._high = max(self._high, count)
        if self._high - count < self._min_drop or self._quiet < self._quiet_checks:
            self._due_since = None
            return False
        if self._last_trim is not None and now - self._last_trim < self._min_interval_s:
            return False
        if self._due_since is None:
            self._due_since = now
        if busy and now - self._due_since < self._max_wait_s:
            return False  # not in the middle of a conversation, unless it never pauses
        closed = self._high - count
        started = time.perf_counter()
        # A full pass walks what start-up did not freeze: mostly the objects of the connections
        # still open. Only when the wave closed at least as many as are left does it cost no
        # more than the wave itself did to close.
        if count <= closed:
            self._collect()
            self.collections += 1
        if self._trim is not None:
            self._trim()
        log.debug(
            "memory released after %d connections closed, in %.1f ms",
            closed,
            (time.perf_counter() - started) * 1000,
        )
        self.trims += 1
        self._last_trim = now
        self._due_since = None
        self._high = count
        return True

    async def run(self, check_interval_s: float = CHECK_INTERVAL_S) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(check_interval_s)
            self.check(loop.time())
