"""Steps shared by the browser journeys: pages in fresh contexts (recording every request, so
a test can check that no other host was contacted) and what facilitators and members do."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import expect

from server.config import GroupsConfig
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, RunningServer

TIMEOUT = 15_000
expect.set_options(timeout=TIMEOUT)


# Every page remembers what it said in its status region, so that a failed wait can show what
# each page (the console too) went through.
REMEMBER_SAID = """
window.__said = [];
new MutationObserver(() => {
  const text = document.querySelector("#status")?.textContent;
  const when = Math.round(performance.now());
  if (text && !window.__said.at(-1)?.endsWith(text)) window.__said.push(`${when} ms: ${text}`);
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


class Pages:
    """Opens pages in fresh contexts and records every request and websocket they make."""

    def __init__(self, browser: Any, server: RunningServer) -> None:
        self.browser = browser
        self.server = server
        self.contexts: list[Any] = []
        self.urls: list[str] = []
        self.errors: list[str] = []

    def open(
        self,
        path: str = "/",
        *,
        width: int = 1000,
        height: int = 800,
        socket: Any = None,
        locale: str | None = None,
        init_script: str | None = None,
    ) -> Any:
        # `locale` sets the browser's languages (navigator.languages), as a person's browser would.
        extra = {"locale": locale} if locale else {}
        context = self.browser.new_context(viewport={"width": width, "height": height}, **extra)
        context.set_default_timeout(TIMEOUT)
        self.contexts.append(context)
        page = context.new_page()
        page.add_init_script(REMEMBER_SAID)
        if init_script:
            page.add_init_script(init_script)
        if socket is not None:
            page.route_web_socket(re.compile(r"/socket\.io/"), socket)
        page.on("request", lambda request: self.urls.append(request.url))
        page.on("websocket", lambda ws: self.urls.append(ws.url))
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        # CSP violations and failed loads show up as console errors; a 401 is the console asking
        # /api/facilitator/me whether it is logged in.
        page.on("console", self._console)
        page.goto(self.server.url + path)
        return page

    def _console(self, message: Any) -> None:
        if message.type == "error" and "401" not in message.text:
            self.errors.append(message.text)

    def foreign(self) -> list[str]:
        own = urlsplit(self.server.url).netloc
        return [u for u in self.urls if not u.startswith("data:") and urlsplit(u).netloc != own]

    def what_happened(self) -> str:
        """What each open page said and the end of the server's log, for a failure message."""
        lines = []
        for context in self.contexts:
            for page in context.pages:
                try:
                    said = page.evaluate("window.__said || []")
                except Exception as error:  # a closed or navigating page
                    said = [f"(not readable: {error})"]
                lines += [f"-- {page.url}", *said[-12:]]
        log = self.server.log_text().splitlines()[-40:]
        return "\n".join([*lines, "-- server log", *log])

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def screenshot(page: Any, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 0


# -- steps -------------------------------------------------------------------------------------


def facilitator_logs_in(pages: Pages) -> Any:
    page = pages.open("/console.html")
    page.fill("#login-username", FACILITATOR)
    page.fill("#login-password", FACILITATOR_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#desk")).to_be_visible()
    expect(page.locator("#connection")).to_have_text("Connected")
    return page


def create_group(console: Any, name: str, *, join: str = "approval") -> None:
    console.click("#create-panel summary")
    console.fill("#create-name", name)
    console.fill("#create-rules", f"Rules of {name}: be kind.")
    console.select_option("#create-join", join)
    console.click("#create-form button[type=submit]")
    expect(console.locator("#group-title")).to_have_text(name)


def create_invite(console: Any) -> str:
    console.click("#invite-form button[type=submit]")
    expect(console.locator("#invite-link")).to_have_value(re.compile(r"#invite="))
    link: str = console.input_value("#invite-link")
    return link.split("#", 1)[1]


def member_joins(
    pages: Pages, invite: str, pseudonym: str, *, via: str = "#", **options: Any
) -> Any:
    page = pages.open("/" + via + invite, **options)
    # A first visit with an invite asks for the name once, on the join form.
    expect(page.locator("#join-rules")).to_contain_text("be kind")
    expect(page.locator("#welcome")).to_be_hidden()
    assert page.input_value("#join-pseudonym").count(" ") == 1  # adjective + noun
    page.fill("#join-pseudonym", pseudonym)
    page.click("#join-submit")  # refused by the form: the rules must be accepted first
    assert page.evaluate("document.querySelector('#join-accept').validity.valueMissing")
    expect(page.locator("#join")).to_be_visible()
    page.check("#join-accept")
    page.click("#join-submit")
    expect(page.locator("#chat")).to_be_visible()
    return page


def open_room(pages: Pages, name: str) -> tuple[Any, str]:
    """The facilitator logs in and creates an open group; returns the console and an invite."""
    console = facilitator_logs_in(pages)
    create_group(console, name, join="open")
    return console, create_invite(console)


def keyed_member(pages: Pages, invite: str, pseudonym: str, **options: Any) -> Any:
    """A member joins an open group and waits until the page holds its keys."""
    page = member_joins(pages, invite, pseudonym, **options)
    wait_keyed(page, pages)
    return page


def approve(console: Any, pseudonym: str) -> None:
    console.get_by_role("button", name=f"Approve {pseudonym}").click()
    expect(console.locator("#members")).to_contain_text(pseudonym)


def wait_until(page: Any, condition: Callable[[], bool], what: str) -> None:
    """Let Playwright deliver its events (a websocket route's frames reach Python only while the
    test waits on the page) until ``condition`` holds, for up to TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT / 1000
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        page.wait_for_timeout(20)


def wait_keyed(page: Any, pages: Pages | None = None) -> None:
    # Keying takes another member's commit: if the member the server names does not commit (it
    # was busy, or its commit lost a race), the server names one again after
    # groups.rotator_wait_seconds, so this waits for one such turn and then the usual time.
    try:
        expect(page.locator("#compose")).to_be_visible(
            timeout=GroupsConfig().rotator_wait_seconds * 1000 + TIMEOUT
        )
    except AssertionError as error:
        if pages is None:
            raise
        raise AssertionError(f"{error}\n{pages.what_happened()}") from None


def send(page: Any, text: str) -> None:
    page.fill("#compose-text", text)
    page.press("#compose-text", "Enter")


def expect_message(page: Any, text: str, count: int = 1) -> None:
    expect(page.locator("#messages li .text", has_text=text)).to_have_count(count)


def unlabelled_controls(page: Any) -> list[str]:
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('input, textarea, select')]
                 .filter((c) => c.type !== 'hidden' && c.labels.length === 0)
                 .filter((c) => !c.getAttribute('aria-label'))
                 .map((c) => c.id)"""
        )
    )


def epoch_of(console: Any) -> int:
    match = re.search(r"Epoch (\d+)", console.text_content("#epoch") or "")
    return int(match.group(1)) if match else 0


# The list holds only a window of the conversation (timeline.js): scroll it to its top a step at
# a time, each step bringing older rows into the DOM, and gather every message's id on the way.
SHOWN_IDS = """async (box) => {
  const ids = () => [...box.querySelectorAll('li.message')].map((li) => li.dataset.msg);
  let all = ids();
  for (let still = 0; still < 3; ) {
    box.scrollTop = 0;
    box.dispatchEvent(new Event('scroll'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = ids();
    const at = now.indexOf(all[0]);
    if (at < 0 && all.length) throw new Error('the window skipped rows');
    if (at <= 0) still += 1;
    else all = [...now.slice(0, at), ...all];
  }
  // and back to the newest, the window following a step at a time
  for (let still = 0, last = null; still < 3; ) {
    box.scrollTop = box.scrollHeight;
    box.dispatchEvent(new Event('scroll'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = ids().at(-1);
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return all;
}"""


def shown_message_ids(page: Any) -> list[str]:
    """The ids of every message the conversation holds, oldest first, as scrolling reaches them."""
    return list(page.locator("#messages").evaluate(SHOWN_IDS))


def focused(page: Any) -> str:
    """The focused element: its id, or its class and text when it has none."""
    return str(
        page.evaluate(
            "(() => { const a = document.activeElement;"
            " return a.id || `${a.className}:${a.textContent.trim()}`; })()"
        )
    )


def tab_until(page: Any, wanted: str, limit: int = 40) -> None:
    """Move the keyboard focus with Tab only, as a keyboard user does, until ``focused`` is
    ``wanted``."""
    for _ in range(limit):
        if focused(page) == wanted:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {wanted} (at {focused(page)})")


def tab_to(page: Any, selector: str, limit: int = 60) -> None:
    """Move the keyboard focus with Tab only until the element matching ``selector`` has it."""
    for _ in range(limit):
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


class HoldingLink:
    """A websocket route that, while ``holding``, keeps broadcasts of messages (or the frames
    starting with one of ``prefixes``) back from the page, then lets them through all at once (a
    burst, as after a slow network's stall)."""

    def __init__(self, prefixes: tuple[str, ...] = ('42["msg',)) -> None:
        self.prefixes = prefixes
        self.holding = False
        self.held: list[str] = []
        self.sent: list[str] = []  # the page's frames to the server
        self.ws: Any = None

    def __call__(self, ws: Any) -> None:
        server = ws.connect_to_server()
        self.ws = ws

        def to_page(message: str | bytes) -> None:
            broadcast = isinstance(message, str) and message.startswith(self.prefixes)
            if self.holding and broadcast:
                assert isinstance(message, str)
                self.held.append(message)
                return
            ws.send(message)

        def to_server(message: str | bytes) -> None:
            if isinstance(message, str):
                self.sent.append(message)
            server.send(message)

        server.on_message(to_page)
        ws.on_message(to_server)

    def release(self) -> None:
        self.holding = False
        for message in self.held:
            self.ws.send(message)
        self.held.clear()
