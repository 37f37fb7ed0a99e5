"""server/gcpolicy.py: a cycle that reached the oldest generation is freed by the backstop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref

from server.gcpolicy import collect_fully_when_due


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


async def test_a_cycle_in_the_oldest_generation_is_collected() -> None:
    gc.disable()  # no automatic pass may free it instead
    try:
        first, second = Node(), Node()
        first.other, second.other = second, first
        alive = weakref.ref(first)
        gc.collect(1)  # the cycle, still referenced, moves to the oldest generation
        del first, second
        gc.collect(1)  # young passes do not look there
        assert alive() is not None
        assert gc.get_count()[2] > 0
        task = asyncio.create_task(collect_fully_when_due(0.01))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if alive() is None:
                break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert alive() is None
        assert gc.get_count()[2] == 0
    finally:
        gc.enable()
