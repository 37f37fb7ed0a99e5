"""Browser fixtures: Debian's chromium driven by Playwright, and a Hearth server per module.

Chromium is launched by its path (never ``playwright install``). Outside CI a missing chromium
skips the browser tests with a message saying how to install it; under CI (``CI=true``) it fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.steps import Pages
from tests.conftest import REPO, RunningServer, free_port

CHROMIUM = os.environ.get("HEARTH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VENDOR = REPO / "server" / "static" / "vendor" / "socket.io.esm.min.js"

SAFETY = (
    "[safety]\n"
    'crisis_resources = [{ name = "Test Crisis Line", phone = "+1 555 0100", '
    'url = "https://crisis.example.org", hours = "24/7" }]\n'
    'crisis_words = ["overdose", "end my life"]\n'
    "[limits]\n"
    "message_burst = 500\n"
)

pytestmark = pytest.mark.browser


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(
            f"chromium not found at {CHROMIUM}: install it with `apt-get install chromium` "
            "(or set HEARTH_CHROMIUM); browser tests skipped"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: `pip install -e .[dev]`")
    if not VENDOR.exists():
        _unavailable(f"{VENDOR.relative_to(REPO)} is missing: run `make setup` to copy it from npm")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One real server for all tests of a module (the function-scoped one is too slow here)."""
    server = RunningServer(tmp_path_factory.mktemp("hearth"), free_port(), extra_config=SAFETY)
    server.add_facilitator()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def crypto_page(browser: Any, module_server: RunningServer) -> Iterator[Any]:
    """A page of the server's origin with crypto.js imported as ``window.hc``."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(module_server.url + "/healthz")
    page.evaluate("async () => { window.hc = await import('/js/crypto.js'); }")
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def pages(browser: Any, module_server: RunningServer) -> Iterator[Pages]:
    """Pages of the module's server; fails the test if any contacted another host or erred."""
    opened = Pages(browser, module_server)
    try:
        yield opened
        assert opened.foreign() == [], "the pages contacted another host"
        assert opened.errors == [], "errors in the pages (uncaught, CSP or failed loads)"
    finally:
        opened.close()
