"""The page benchmark: a real server, real Chromium, the member page as members use it.

``python -m bench.page [--quick] [--baseline-ref REF]`` (also ``python -m bench --only page``
and part of ``make bench``) prints, for the page now and for a baseline measured in the same
run, side by side:

* first load: bytes on the wire (headers included) and requests, on a cold cache and on a
  second visit, and when the login challenge was requested;
* the time from opening the page to the first 50 messages of a group shown;
* send -> shown: a Python member sends, the time until the page shows the message (median of
  a few), with 50 and with 2,000 messages shown (500 with --quick).

The baseline is Hearth serving its files as before issue 19 (bench/page_before.py: no
compression, no versioned names, no preloads), with the page as it was at ``--baseline-ref``
(default: the commit before issue 19's work; with ``--baseline-ref none``, the current page).
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
from tests.browser.steps import keyed_member, open_room
from tests.conftest import REPO, RunningServer, free_port

BASELINE_REF = "c60296c"  # main before issue 19's page work
SHOWN = "#messages li.message"
LIMITS = (
    "[limits]\nmessage_burst = 5000\n"
    "[groups]\nepoch_max_messages = 10000\n"  # one epoch: no rotation in the measurements
)
T = TypeVar("T")


@dataclass(slots=True)
class Figures:
    label: str
    cold_bytes: int = 0
    cold_requests: int = 0
    warm_bytes: int = 0
    warm_requests: int = 0
    challenge_ms: float = 0.0
    first_50_ms: float | None = None
    send_shown_ms: dict[int, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class BeforeServer(RunningServer):
    """Hearth with its files served as before issue 19 (bench/page_before.py)."""

    static: Path = static_dir()

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
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        # it joins a group the page made, which is on the hybrid suite (docs/protocol.md §6.8)
        self.client = HearthClient(server.url, timeout=60, hybrid=True)
        self.group = b""

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=600)

    def join(self, invite: str) -> None:
        async def join() -> None:
            await self.client.connect()
            self.group, _ = await self.client.join(invite.split("=", 1)[1], pseudonym="Busy Bee")
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
        self.run(self.client.disconnect())
        self.loop.call_soon_threadsafe(self.loop.stop)


# Records when a probe's text is first put in the list (wall clock, ms; inserted, not painted).
WATCH = """() => {
  window.__shownAt = {};
  const note = (el) => {
    const text = el.textContent;
    if (text.startsWith('probe ') && !(text in window.__shownAt)) {
      window.__shownAt[text] = Date.now();
    }
  };
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType !== 1) continue;
        if (node.matches('.text')) note(node);
        node.querySelectorAll('.text').forEach(note);
      }
    }
  }).observe(document.querySelector('#messages'), { childList: true, subtree: true });
}"""


def send_to_shown(page: Any, member: Member, rounds: int) -> float | None:
    page.evaluate(WATCH)
    delays = []
    for n in range(rounds):
        text = f"probe {time.monotonic_ns()} {n}"
        sent = member.send(text)
        page.locator(SHOWN, has_text=text).wait_for(timeout=60_000)
        shown = page.evaluate("(t) => window.__shownAt[t]", text)
        if shown is not None:
            delays.append(shown - sent)
        page.wait_for_timeout(100)
    return statistics.median(delays) if delays else None


def shown_count(page: Any) -> int:
    return int(page.locator(SHOWN).count())


def wait_shown(page: Any, count: int, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while shown_count(page) < count:
        if time.monotonic() > deadline:
            return False
        page.wait_for_timeout(200)
    return True


def measure(browser: Any, server: RunningServer, figures: Figures, large: int) -> None:
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

    from tests.browser.steps import Pages

    pages = Pages(browser, server)
    member = Member(server)
    try:
        _, invite = open_room(pages, "Bench room")
        reader = keyed_member(pages, invite, "Steady Wren")
        member.join(invite)
        member.send_many(50, "history")
        if not wait_shown(reader, 50, 60):
            figures.notes.append(f"only {shown_count(reader)} of 50 shown")
        # a fresh visit of the same member (keys in this browser), to 50 messages shown
        started = time.monotonic()
        reader.reload()
        reader.locator("#group-list button").first.click()
        if wait_shown(reader, 50, 60):
            figures.first_50_ms = (time.monotonic() - started) * 1000
        figures.send_shown_ms[50] = send_to_shown(reader, member, 5)
        member.send_many(large - shown_count(reader), "bulk")
        if wait_shown(reader, large, 180):
            figures.send_shown_ms[large] = send_to_shown(reader, member, 5)
        else:
            figures.send_shown_ms[large] = None
            figures.notes.append(f"only {shown_count(reader)} of {large} shown after 180 s")
    finally:
        member.close()
        pages.close()


def baseline_static(ref: str, into: Path) -> tuple[Path, str]:
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


def render(now: Figures, before: Figures, large: int, baseline: str, *, rounds: int) -> str:
    def kb(n: int) -> str:
        return f"{n / 1000:.1f} kB"

    def ms(v: float | None) -> str:
        return "not reached" if v is None else f"{v:.0f} ms"

    rows = [
        ("first visit: bytes", kb(now.cold_bytes), kb(before.cold_bytes)),
        ("first visit: requests", str(now.cold_requests), str(before.cold_requests)),
        ("second visit: bytes", kb(now.warm_bytes), kb(before.warm_bytes)),
        ("second visit: requests", str(now.warm_requests), str(before.warm_requests)),
        ("challenge requested at", ms(now.challenge_ms), ms(before.challenge_ms)),
        ("open -> 50 messages shown", ms(now.first_50_ms), ms(before.first_50_ms)),
        (
            "send -> shown, 50 shown",
            ms(now.send_shown_ms.get(50)),
            ms(before.send_shown_ms.get(50)),
        ),
        (
            f"send -> shown, {large:,} shown",
            ms(now.send_shown_ms.get(large)),
            ms(before.send_shown_ms.get(large)),
        ),
    ]
    lines = [f"{'page benchmark (median of ' + str(rounds) + ')':32} {'now':>14} {'baseline':>14}"]
    lines += [f"{name:32} {a:>14} {b:>14}" for name, a, b in rows]
    lines.append(f"baseline: files served as before issue 19, {baseline}")
    lines.append("shown = put in the list (a MutationObserver's time), not painted")
    for figures in (now, before):
        lines += [f"note ({figures.label}): {note}" for note in figures.notes]
    return "\n".join(lines)


def median_of(label: str, runs: list[Figures]) -> Figures:
    """Each figure's median over the runs (a figure one run did not reach counts as missing)."""

    def mid(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return statistics.median(present) if len(present) == len(values) else None

    sizes = set().union(*(r.send_shown_ms for r in runs))
    return Figures(
        label,
        cold_bytes=int(statistics.median(r.cold_bytes for r in runs)),
        cold_requests=int(statistics.median(r.cold_requests for r in runs)),
        warm_bytes=int(statistics.median(r.warm_bytes for r in runs)),
        warm_requests=int(statistics.median(r.warm_requests for r in runs)),
        challenge_ms=statistics.median(r.challenge_ms for r in runs),
        first_50_ms=mid([r.first_50_ms for r in runs]),
        send_shown_ms={n: mid([r.send_shown_ms.get(n) for r in runs]) for n in sizes},
        notes=[note for r in runs for note in r.notes],
    )


def main(*, quick: bool = False, baseline_ref: str = BASELINE_REF) -> None:
    from playwright.sync_api import sync_playwright

    large = 500 if quick else 2_000
    # interleaved, so that neither side always runs on a fresher (or busier) machine
    order = ["now", "baseline"] if quick else ["now", "baseline", "baseline", "now"]
    runs: dict[str, list[Figures]] = {"now": [], "baseline": []}
    with tempfile.TemporaryDirectory(prefix="hearth-page-bench-") as temp:
        root = Path(temp)
        static, baseline = baseline_static(baseline_ref, root / "baseline-static")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for n, label in enumerate(order):
                    server = RunningServer(root / f"{label}-{n}", free_port(), LIMITS)
                    if label == "baseline":
                        server = BeforeServer(server.directory, server.port, LIMITS)
                        server.static = static
                    figures = Figures(label)
                    with running(server):
                        try:
                            measure(browser, server, figures, large)
                        except Exception as error:  # an old page may not work with today's server
                            figures.notes.append(f"failed: {error!r}"[:300])
                    runs[label].append(figures)
            finally:
                browser.close()
    now, before = median_of("now", runs["now"]), median_of("baseline", runs["baseline"])
    print(render(now, before, large, baseline, rounds=len(runs["now"])))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.page", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 messages instead of 2,000")
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref, or none")
    args = parser.parse_args()
    main(quick=args.quick, baseline_ref=args.baseline_ref)
