"""What a visit to a page costs on the wire, seen through the Chrome DevTools Protocol: every
HTTP request the page makes, its bytes as transferred (headers and encoded body) and whether
the HTTP cache answered it. Used by `bench/page.py` and by tests/browser/test_first_load.py."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Fetch:
    url: str
    status: int = 0
    from_cache: bool = False
    transferred: int = 0  # bytes on the wire, headers included (CDP encodedDataLength)
    headers: dict[str, str] = field(default_factory=dict)
    started: float = 0.0  # seconds since the navigation began (CDP timestamps)
    initiator: str = ""  # "parser" (the HTML, preloads included), "script" (an import, fetch)


@dataclass(slots=True)
class Visit:
    fetches: list[Fetch]

    @property
    def network(self) -> list[Fetch]:
        """The requests that reached the server (not answered by the HTTP cache)."""
        return [f for f in self.fetches if not f.from_cache]

    @property
    def transferred(self) -> int:
        return sum(f.transferred for f in self.fetches)


class Recorder:
    """Records a page's HTTP requests from the moment it is made (attach before `goto`)."""

    def __init__(self, context: Any, page: Any) -> None:
        self.by_id: dict[str, Fetch] = {}
        self.begun: float | None = None
        cdp = context.new_cdp_session(page)
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.requestServedFromCache", self._cached)
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.send("Network.enable")
        self.cdp = cdp

    def _sent(self, event: dict[str, Any]) -> None:
        url = event["request"]["url"]
        if not url.startswith(("http:", "https:")):
            return
        if self.begun is None:
            self.begun = event["timestamp"]
        self.by_id[event["requestId"]] = Fetch(
            url, started=event["timestamp"] - self.begun, initiator=event["initiator"]["type"]
        )

    def _cached(self, event: dict[str, Any]) -> None:
        if (fetch := self.by_id.get(event["requestId"])) is not None:
            fetch.from_cache = True

    def _response(self, event: dict[str, Any]) -> None:
        if (fetch := self.by_id.get(event["requestId"])) is None:
            return
        response = event["response"]
        fetch.status = response["status"]
        fetch.headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
        if response.get("fromDiskCache") or response.get("fromPrefetchCache"):
            fetch.from_cache = True

    def _finished(self, event: dict[str, Any]) -> None:
        if (fetch := self.by_id.get(event["requestId"])) is not None:
            fetch.transferred = int(event["encodedDataLength"])

    def visit(self) -> Visit:
        return Visit(list(self.by_id.values()))


def settle(page: Any, quiet_ms: int = 500, limit_s: float = 15.0) -> None:
    """Wait until the page is connected and has made no HTTP request for `quiet_ms`."""
    # (no wait_for_function: the CSP forbids the eval it needs)
    page.locator("#connection", has_text="Connected").wait_for(timeout=limit_s * 1000)
    deadline = time.monotonic() + limit_s
    page.wait_for_load_state("networkidle", timeout=max(1.0, deadline - time.monotonic()) * 1000)
    page.wait_for_timeout(quiet_ms)


def load(context: Any, url: str) -> tuple[Any, Visit]:
    """Open `url` in a new page of `context`, wait until it has settled, and what it fetched."""
    page = context.new_page()
    recorder = Recorder(context, page)
    page.goto(url)
    settle(page)
    return page, recorder.visit()
