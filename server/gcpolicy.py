"""Hearth's garbage-collector settings, and the full collections they would otherwise skip.

Full collections with 1,000 connections took 100–220 ms and set the relay's p99 (STACK-NOTES):
after start-up, :func:`tune` freezes what is alive (it lives for the whole run and is never
scanned again) and raises the thresholds so that young collections are rare and full ones
practically never happen (a full pass would wait for 1,000 collections of generation 1, each
after 50 of generation 0, each after 100,000 net new objects).

"Practically never" means any reference cycle that survives two young collections stays until the
process ends. Nothing of a connection is in a cycle any more (server/realtime/environ.py: issue 16
item 8, docs/benchmarks.md), so churn does not grow memory; :func:`collect_fully_when_due` is the
backstop for cycles nobody has found yet: every ``interval`` seconds it runs a full collection if
objects were moved to the oldest generation since the last one (``gc.get_count()[2]`` counts the
generation-1 collections since then), and otherwise costs nothing. A full pass took ~70 ms with
1,000 connections open on the 2-core VM: once in ten minutes at most.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger("hearth")

THRESHOLDS = (100_000, 50, 1000)
FULL_COLLECTION_INTERVAL_S = 600.0


def tune() -> None:
    """Collect, freeze what start-up left alive, and raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


async def collect_fully_when_due(interval: float = FULL_COLLECTION_INTERVAL_S) -> None:
    while True:
        await asyncio.sleep(interval)
        if gc.get_count()[2]:
            started = time.perf_counter()
            found = gc.collect()
            log.debug(
                "full garbage collection: %d objects in %.1f ms",
                found,
                (time.perf_counter() - started) * 1000,
            )
