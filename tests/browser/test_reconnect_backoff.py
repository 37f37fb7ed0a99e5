"""The page's reconnection (issue 19): jittered exponential back-off of its own, used after a
failed attempt as after a dropped connection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.steps import wait_until
from tests.conftest import RunningServer, free_port

DELAYS = """async () => {
  const { retryDelay, RETRY_BASE_MS, RETRY_CAP_MS } = await import('/js/session.js');
  const sample = (attempt) => Array.from({ length: 300 }, () => retryDelay(attempt));
  return { base: RETRY_BASE_MS, cap: RETRY_CAP_MS, first: sample(0), fourth: sample(3),
           late: sample(20) };
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = RunningServer(tmp_path_factory.mktemp("hearth"), free_port())
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_retry_delays_are_jittered_over_a_doubling_window(
    browser: Any, server: RunningServer
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server.url + "/healthz")
        found = page.evaluate(DELAYS)
    finally:
        context.close()
    base, cap = found["base"], found["cap"]
    for waits, window in (
        (found["first"], base),
        (found["fourth"], 8 * base),
        (found["late"], cap),
    ):
        assert all(0 <= w < window for w in waits)
        # spread over the window, at the cap too: socket.io-client's own back-off clamps every
        # wait to exactly its maximum there, so pages cut off together retry in lockstep
        assert len(set(waits)) > 200  # of 300 (integer milliseconds)
        assert min(waits) < window * 0.2
        assert max(waits) > window * 0.8


def test_the_page_keeps_trying_while_the_server_is_down_and_comes_back(
    browser: Any, server: RunningServer
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        attempts: list[str] = []
        page.on("websocket", lambda ws: attempts.append(ws.url))
        page.goto(server.url + "/")
        expect(page.locator("#connection")).to_have_text("Connected")
        server.stop()
        before = len(attempts)
        # a failed attempt is followed by another, after a wait (windows of 1, 2, 4 s, ...)
        wait_until(page, lambda: len(attempts) >= before + 2, "the page tried twice")
        server.start()
        expect(page.locator("#connection")).to_have_text("Connected", timeout=30_000)
    finally:
        context.close()
        if server.process is None:  # the test failed while it was down
            server.start()
