"""The page benchmark: a real server, real Chromium, the member page as members use it.

``python -m bench.page [--quick]`` (also ``python -m bench --only page`` and part of ``make
bench``) prints, side by side, two versions of the page measured in the same run:

* **now**: this checkout;
* **before issue 19** (``--baseline-ref``, first load only): the page and the way its files were
  served before issue 19 (bench/page_before.py: no compression, versioned names or preloads).

``--first-load`` measures the first load alone, with **unminified** (this checkout's page served
as Hearth served it before server/bundles.py, server/minify.py and the lighter headers on scripts
and stylesheets) as a third column.

A third column, **old render** (the page before incremental rendering, which rebuilt its whole
list for every message), was retired on 2026-12-07: that page cannot join a group made by
today's server (its invite links predate issue 15's bound invites), so it measured nothing; its
last figures stay in docs/benchmarks.md.

Figures:

* first load: bytes on the wire (headers included) and requests, on a cold cache and on a
  second visit, and when the login challenge was requested;
* the time from opening the page to the first 50 messages of a group shown;
* with 50 and with 2,000 messages held by the page (500 with --quick): send -> shown (a Python
  member sends, the time until the page has put the message in its list; median of a few), the
  nodes touched in the list per arriving message, the longest task after pressing Enter (the
  Long Tasks API reports tasks over 50 ms: 0 means none), and the message elements in the DOM;
* a 200-member rotation in the page: the time to build the commit that gives 200 members the
  next epoch's secret, its size and the longest task meanwhile.

The targets of issue 19 are printed beside them: send -> shown under 100 ms with 2,000 shown, no
task over 50 ms on Enter, first visit under 50 kB.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench.pageload import load
from server.app import static_dir
from server.client import HearthClient
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.steps import Pages, keyed_member, open_room, shown_message_ids
from tests.conftest import REPO, RunningServer, free_port

BASELINE_REF = "c60296c"  # main before issue 19's page work
SHOWN = "#messages li.message"
ROUNDS = 5
ROTATION_SIZE = 200
LIMITS = (
    "[limits]\nmessage_burst = 5000\n"
    "[groups]\nepoch_max_messages = 10000\n"  # one epoch: no rotation in the measurements
)
T = TypeVar("T")
MODES = {"unminified": "--as-unminified", "before issue 19": ""}


@dataclass(slots=True)
class Probes:
    shown_ms: float | None = None  # median send -> shown
    touched: int | None = None  # median nodes touched in the list per arriving message
    enter_ms: float | None = None  # the longest task after pressing Enter (0: none over 50 ms)
    in_dom: int | None = None  # message elements in the DOM


@dataclass(slots=True)
class Figures:
    label: str
    cold_bytes: int = 0
    cold_requests: int = 0
    warm_bytes: int = 0
    warm_requests: int = 0
    challenge_ms: float = 0.0
    first_50_ms: float | None = None
    probes: dict[int, Probes] = field(default_factory=dict)
    rotation: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class OtherPageServer(RunningServer):
    """Hearth serving another version of its page (bench/page_before.py): as files were served
    before issue 19, or as today but unminified and with every security header on every file
    (``mode="--as-unminified"``)."""

    static: Path = static_dir()
    mode: str = ""

    def start(self) -> None:
        self.write_config()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.page_before",
                    str(self.config_path),
                    str(self.static),
                    *([self.mode] if self.mode else []),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):  # noqa: S310
                    return
            except OSError:
                assert self.process.poll() is None, self.log_text()
                assert time.monotonic() < deadline, self.log_text()
                time.sleep(0.05)


class Member:
    """A Python member on its own event loop thread, so that it can send while Playwright's
    synchronous API waits on the page."""

    def __init__(self, server: RunningServer) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        # it joins a group the page made, which is on the hybrid suite (docs/protocol.md §6.9)
        self.client = HearthClient(server.url, timeout=60, hybrid=True)
        self.group = b""

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=600)

    def join(self, token: str) -> None:
        """``token``: the Python client's form of an invite link (token.key.anchor)."""

        async def join() -> None:
            await self.client.connect()
            self.group, _ = await self.client.join(token, pseudonym="Busy Bee")
            await self.client.wait_for(lambda: self.client.keys[self.group].current > 0)

        self.run(join())

    def send_many(self, count: int, prefix: str) -> None:
        async def send() -> None:
            for n in range(count):
                await self.client.send(self.group, f"{prefix} {n}")

        self.run(send())

    def send(self, text: str) -> float:
        """Sends; returns the wall-clock time (ms) just before."""
        sent = time.time() * 1000
        self.run(self.client.send(self.group, text))
        return sent

    def close(self) -> None:
        try:
            self.run(self.client.disconnect())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


# Records when a probe's text is first put in the list (wall clock, ms; inserted, not painted),
# and counts what changes in the list: nodes added and removed (a subtree counts once), attributes
# and text changed anywhere below it.
WATCH = """() => {
  if (window.__shownAt) return; // once a page
  window.__shownAt = {};
  window.__touched = 0;
  const note = (el) => {
    const text = el.textContent;
    if (text.startsWith('probe ') && !(text in window.__shownAt)) {
      window.__shownAt[text] = Date.now();
    }
  };
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.type !== 'childList') {
        window.__touched += 1;
        continue;
      }
      window.__touched += record.addedNodes.length + record.removedNodes.length;
      for (const node of record.addedNodes) {
        if (node.nodeType !== 1) continue;
        if (node.matches('.text')) note(node);
        node.querySelectorAll('.text').forEach(note);
      }
    }
  }).observe(document.querySelector('#messages'),
             { childList: true, subtree: true, attributes: true, characterData: true });
  window.__longest = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      window.__longest = Math.max(window.__longest, entry.duration);
    }
  }).observe({ type: 'longtask' });
}"""


def probe(page: Any, member: Member, rounds: int, size: int) -> Probes:
    page.evaluate(WATCH)
    delays, touched = [], []
    for n in range(rounds):
        text = f"probe {time.monotonic_ns()} {n}"
        page.evaluate("() => { window.__touched = 0; }")
        sent = member.send(text)
        page.locator(SHOWN, has_text=text).wait_for(timeout=60_000)
        page.wait_for_timeout(100)
        shown = page.evaluate("(t) => window.__shownAt[t]", text)
        if shown is not None:
            delays.append(shown - sent)
        touched.append(page.evaluate("() => window.__touched"))
    longest = []
    for n in range(rounds):
        page.fill("#compose-text", f"enter {size} {n}")
        page.evaluate("() => { window.__longest = 0; }")
        page.press("#compose-text", "Enter")
        sent = page.locator(f"{SHOWN}.mine[data-status=sent]", has_text=f"enter {size} {n}")
        sent.wait_for()
        page.wait_for_timeout(300)
        longest.append(page.evaluate("() => window.__longest"))
    return Probes(
        shown_ms=statistics.median(delays) if delays else None,
        touched=int(statistics.median(touched)),
        enter_ms=max(longest),
        in_dom=shown_count(page),
    )


def shown_count(page: Any) -> int:
    return int(page.locator(SHOWN).count())


def wait_shown(page: Any, count: int, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while shown_count(page) < count:
        if time.monotonic() > deadline:
            return False
        page.wait_for_timeout(200)
    return True


def wait_held(page: Any, count: int, limit_s: float) -> int:
    """Waits until the conversation holds `count` messages (scrolling through a windowed list
    to count them); returns how many it held at the end."""
    deadline = time.monotonic() + limit_s
    while (held := len(shown_message_ids(page))) < count and time.monotonic() < deadline:
        page.wait_for_timeout(1000)
    return held


# 200 members' keys, then the commit that gives them all the next epoch's secret: what a member's
# page does when it rotates the epoch of a 200-member group (groupkeys.rotate, without the server).
ROTATION = """async (size) => {
  const hc = await import('/js/crypto.js');
  const members = [];
  for (let n = 0; n < size; n++) members.push(await hc.generateMemberKeys());
  const tasks = [];
  const observer = new PerformanceObserver((list) => tasks.push(...list.getEntries()));
  observer.observe({ type: 'longtask' });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const started = performance.now();
  const { commit } = await hc.buildCommit({
    groupId: hc.randomBytes(16), epoch: 2, prevCommitHash: new Uint8Array(32),
    committer: members[0], roster: members.map(hc.rosterEntry),
    facilitators: [members[0].memberId],
  });
  const built = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 100));
  observer.disconnect();
  const during = tasks.filter((t) => t.startTime >= started - 5); // not the keys' generation
  const longest = Math.max(0, ...during.map((t) => t.duration));
  return { ms: built, bytes: commit.raw.length, longest };
}"""


def rotation(page: Any, size: int) -> dict[str, float]:
    return dict(page.evaluate(ROTATION, size))


def first_load(browser: Any, server: RunningServer, figures: Figures) -> None:
    # A visit in a context of its own first: Chromium's first page of a run is slower (processes
    # and code caches cold), which would otherwise fall on whichever column runs first.
    context = browser.new_context()
    try:
        load(context, server.url + "/")[0].close()
    finally:
        context.close()
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    try:
        page, cold = load(context, server.url + "/")
        page.close()
        page, warm = load(context, server.url + "/")
        page.close()
        figures.cold_bytes, figures.cold_requests = cold.transferred, len(cold.network)
        figures.warm_bytes, figures.warm_requests = warm.transferred, len(warm.network)
        challenge = next((f for f in cold.fetches if f.url.endswith("/api/challenge")), None)
        figures.challenge_ms = challenge.started * 1000 if challenge else float("nan")
    finally:
        context.close()


def measure(browser: Any, server: RunningServer, figures: Figures, large: int) -> None:
    first_load(browser, server, figures)
    pages = Pages(browser, server)
    member = Member(server)
    try:
        _, invite = open_room(pages, "Bench room")
        reader = keyed_member(pages, invite, "Steady Wren")
        fragment = dict(part.split("=", 1) for part in invite.split("&"))
        member.join(f"{fragment['invite']}.{fragment['key']}.{fragment['anchor']}")
        member.send_many(50, "history")
        if not wait_shown(reader, 50, 60):
            figures.notes.append(f"only {shown_count(reader)} of 50 shown")
        # a fresh visit of the same member (keys in this browser), to 50 messages shown
        started = time.monotonic()
        reader.reload()
        reader.locator("#group-list button").first.click()
        if wait_shown(reader, 50, 60):
            figures.first_50_ms = (time.monotonic() - started) * 1000
        figures.probes[50] = probe(reader, member, ROUNDS, 50)
        # The rest arrives while the page is offline: on reconnecting it fetches them all in
        # pages of 200 (gaps.js), as the same page would after a night asleep.
        reader.context.set_offline(True)
        member.send_many(large - 50 - 2 * ROUNDS, "bulk")
        reader.context.set_offline(False)
        held = wait_held(reader, large, 120)
        if held >= large:
            figures.probes[large] = probe(reader, member, ROUNDS, large)
        else:
            figures.notes.append(f"only {held} of {large} held after 120 s")
        figures.rotation = rotation(reader, ROTATION_SIZE)
    finally:
        member.close()
        pages.close()


def page_at(ref: str, into: Path) -> tuple[Path, str]:
    """The page's files at `ref` (plus today's vendored socket.io client), or today's."""
    if ref == "none":
        return static_dir(), "the current page"
    into.mkdir(parents=True, exist_ok=True)
    try:
        archive = subprocess.run(
            ["git", "archive", ref, "server/static"], cwd=REPO, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError):
        return static_dir(), f"the current page (git archive {ref} failed)"
    static = into / "server" / "static"
    shutil.copytree(static_dir() / "vendor", static / "vendor", dirs_exist_ok=True)
    return static, f"the page at {ref}"


@contextmanager
def running(server: RunningServer) -> Iterator[RunningServer]:
    server.add_facilitator()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def kb(n: int) -> str:
    return f"{n / 1000:.1f} kB" if n else "-"


def ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f} ms"


def render(
    columns: list[Figures], large: int, described: list[str], *, first_load_only: bool = False
) -> str:
    def row(name: str, value: Any, target: str = "") -> str:
        cells = "".join(f"{value(f):>16}" for f in columns)
        return f"{name:34}{cells}  {target}"

    def at(size: int, what: str) -> Any:
        def cell(f: Figures) -> str:
            probes = f.probes.get(size)
            value = None if probes is None else getattr(probes, what)
            if value is None:
                return "-"
            if what in ("touched", "in_dom"):
                return f"{value:,}"
            if what == "enter_ms" and value == 0:
                return "none > 50 ms"
            return ms(value)

        return cell

    lines = [f"{'page benchmark':34}" + "".join(f"{f.label:>16}" for f in columns) + "  target"]
    lines += [
        row("first visit: bytes", lambda f: kb(f.cold_bytes), "< 50 kB"),
        row("first visit: requests", lambda f: str(f.cold_requests or "-")),
        row("second visit: bytes", lambda f: kb(f.warm_bytes)),
        row("second visit: requests", lambda f: str(f.warm_requests or "-")),
        row("challenge requested at", lambda f: ms(f.challenge_ms or None)),
    ]
    if first_load_only:
        return "\n".join(lines + described[:2])
    lines.append(row("open -> 50 messages shown", lambda f: ms(f.first_50_ms)))
    for size in (50, large):
        lines += [
            row(f"send -> shown, {size:,} held", at(size, "shown_ms"), "< 100 ms"),
            row(f"nodes touched/message, {size:,}", at(size, "touched"), "constant"),
            row(f"longest task on Enter, {size:,}", at(size, "enter_ms"), "none > 50 ms"),
            row(f"messages in the DOM, {size:,}", at(size, "in_dom"), "bounded"),
        ]
    lines += [
        row(
            f"{ROTATION_SIZE}-member commit: build",
            lambda f: ms(f.rotation.get("ms")),
        ),
        row(
            f"{ROTATION_SIZE}-member commit: size",
            lambda f: kb(int(f.rotation.get("bytes", 0))),
        ),
        row(
            f"{ROTATION_SIZE}-member commit: longest task",
            lambda f: "-" if not f.rotation else ms(f.rotation.get("longest")),
        ),
    ]
    lines += described
    lines.append("shown = put in the list (a MutationObserver's time), not painted")
    for figures in columns:
        lines += [f"note ({figures.label}): {note}" for note in figures.notes]
    return "\n".join(lines)


def main(
    *,
    quick: bool = False,
    baseline_ref: str = BASELINE_REF,
    first_load_only: bool = False,
) -> None:
    from playwright.sync_api import sync_playwright

    large = 500 if quick else 2_000
    with tempfile.TemporaryDirectory(prefix="hearth-page-bench-") as temp:
        root = Path(temp)
        before, before_text = page_at(baseline_ref, root / "before")
        columns = (
            [Figures("now"), Figures("unminified"), Figures("before issue 19")]
            if first_load_only
            else [Figures("now"), Figures("before issue 19")]
        )
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for n, figures in enumerate(columns):
                    server = RunningServer(root / f"server-{n}", free_port(), LIMITS)
                    if figures.label != "now":
                        server = OtherPageServer(server.directory, server.port, LIMITS)
                        server.static = static_dir() if figures.label == "unminified" else before
                        server.mode = MODES[figures.label]
                    with running(server):
                        try:
                            if figures.label == "before issue 19" or first_load_only:
                                first_load(browser, server, figures)
                            else:
                                measure(browser, server, figures, large)
                        except Exception as error:  # an old page may not work with today's server
                            figures.notes.append(f"failed: {error!r}"[:300])
            finally:
                browser.close()
    described = [
        *(
            [
                "unminified: the current page, served as today but not bundled, not minified and "
                "with every security header on scripts and stylesheets"
            ]
            if first_load_only
            else []
        ),
        f"before issue 19: {before_text}, served as then (first load only)",
        f"one run; send -> shown is the median of {ROUNDS} messages from a Python member; the "
        "messages past the first 60 arrive while the page is offline and are fetched on "
        "reconnecting",
    ]
    print(render(columns, large, described, first_load_only=first_load_only))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.page", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 messages instead of 2,000")
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref, or none")
    parser.add_argument(
        "--first-load",
        action="store_true",
        help="first load only (a minute or two): now, unminified, before issue 19",
    )
    args = parser.parse_args()
    main(
        quick=args.quick,
        baseline_ref=args.baseline_ref,
        first_load_only=args.first_load,
    )
