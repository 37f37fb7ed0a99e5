"""The member page's first and second visit in Chromium, as the DevTools protocol sees them
(issue 19): small, all in parallel, cached for good, and nothing from another host."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from bench.pageload import Recorder, Visit, settle
from server.assets import IMMUTABLE
from tests.conftest import RunningServer

# Bytes on the wire, headers included. Issue 19 asks for under 50 kB; the page measured 145.8 kB
# before, 48.9 kB after compression and versioning, ~73 kB once the group-state verification,
# invite anchors, quick exit, page lock, crisis check, slow mode and invite-link modules were
# added, and 79.0 kB with the windowed conversation (timeline.js) and its live region
# (arrivals.js): 24 responses, 62.5 kB of brotli bodies (socket.io's client 11.7 kB, member.js
# 10.7 kB, crypto.js 7.8 kB) and ~16 kB of headers (~0.7 kB of security headers on each response
# over HTTP/1.1; HTTP/2's HPACK sends them once). Content notes (contentnotes.js), sessions
# (sessions.js), the newcomer hold (held.js) and the hybrid suite's code in crypto.js took it to
# 91.6 kB, and the hybrid suite (crypto.js) to 94.6 kB. The code alone is past 50 kB:
# reaching it needs minified files (a build step) or fewer, larger ones. The page in three
# languages (issue 20) took it to 105.4 kB: its English catalogue (i18n/en.json, 5.0 kB of brotli,
# the page's texts and every error code's), i18n.js (2.7 kB) and crisislocale.js (0.5 kB), with
# their headers; another language's catalogue or phrase list, and the console's catalogue
# (i18n/console/), are fetched only by a page that needs them.
# This bound keeps it from growing further.
FIRST_VISIT_LIMIT = 106_500
VERSIONED = re.compile(r"\.[0-9a-f]{12}\.(js|css|json)$")


def visit(context: Any, server: RunningServer, sockets: list[str]) -> Visit:
    page = context.new_page()
    page.on("websocket", lambda ws: sockets.append(ws.url))
    recorder = Recorder(context, page)
    page.goto(server.url + "/")
    settle(page)  # connected: the page works, its challenge was signed and accepted
    page.close()
    return recorder.visit()


def test_first_visit_is_small_and_parallel_and_the_second_fetches_no_file_again(
    browser: Any, module_server: RunningServer
) -> None:
    context = browser.new_context()
    sockets: list[str] = []
    try:
        first = visit(context, module_server, sockets)
        second = visit(context, module_server, sockets)
    finally:
        context.close()
    own = urlsplit(module_server.url).netloc
    hosts = {urlsplit(f.url).netloc for f in first.fetches + second.fetches}
    assert hosts | {urlsplit(url).netloc for url in sockets} == {own}

    assert first.transferred < FIRST_VISIT_LIMIT, [(f.url, f.transferred) for f in first.fetches]
    paths = [urlsplit(f.url).path for f in first.fetches]
    files = [f for f, p in zip(first.fetches, paths, strict=True) if p != "/" and "/api/" not in p]
    assert len(files) >= 10  # the stylesheet, member.js and the modules below it
    for fetch in files:
        assert VERSIONED.search(fetch.url), fetch.url
        assert fetch.headers["cache-control"] == IMMUTABLE, fetch.url
        assert fetch.headers["content-encoding"] == "br", fetch.url
        # named by the HTML (modulepreload): none waits until its importer has arrived, except
        # the page's message catalogue, which i18n.js imports once it knows the language
        if not fetch.url.endswith(".json"):
            assert fetch.initiator == "parser", (fetch.url, fetch.initiator)
    catalogues = [p for p in paths if p.endswith(".json")]
    assert [re.sub(r"\.[0-9a-f]{12}", "", p) for p in catalogues] == ["/i18n/en.json"]
    # the challenge is on its way before the page even asks for its settings
    assert paths.index("/api/challenge") < paths.index("/api/settings")

    fetched_again = sorted(urlsplit(f.url).path for f in second.network)
    assert fetched_again == ["/", "/api/challenge", "/api/settings"]
    html = next(f for f in second.fetches if urlsplit(f.url).path == "/")
    assert html.headers["cache-control"] == "no-cache"
