"""The console as the facilitator's whole workplace, in real Chromium, driven by the keyboard: it
shows each group's conversation live, decrypted and verified in the browser, and posts to it;
acts on a message (with an undo that sends nothing, and a question before removing); flags crisis
language on the device with no extra frame to the server; counts what waits in the tab title;
and does not believe a hostile server that relabels a sender or a role."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from crypto.encoding import b64encode
from tests.browser.axe import expect_accessible
from tests.browser.steps import (
    HoldingLink,
    Pages,
    expect_message,
    keyed_member,
    send,
    wait_until,
)
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1100, "height": 850}
CRISIS = "I have the pills ready, I want to end my life tonight"


class Frames:
    """Every websocket frame a page sends (what the server would receive from it)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def watch(self, page: Any) -> None:
        page.on("websocket", lambda ws: ws.on("framesent", self._sent))

    def _sent(self, payload: str | bytes) -> None:
        self.sent.append(payload if isinstance(payload, str) else payload.decode("latin-1"))

    def events_since(self, mark: int) -> list[str]:
        """Socket.IO events (frames starting 42) sent after `mark`; pings and pongs aside."""
        return [f for f in self.sent[mark:] if f.startswith("42")]


def console_logs_in(
    pages: Pages, *, socket: Any = None, frames: Frames | None = None, **size: Any
) -> Any:
    page = pages.open("/console.html", socket=socket, **(size or DESKTOP))
    if frames is not None:
        frames.watch(page)
        page.reload()
    page.locator("#login-username").fill(FACILITATOR)
    page.locator("#login-password").fill(FACILITATOR_PASSWORD)
    page.locator("#login-password").press("Enter")
    expect(page.locator("#desk")).to_be_visible()
    expect(page.locator("#connection")).to_have_text("Connected")
    return page


def create_group(console: Any, name: str) -> None:
    """An open group, created with the keyboard only."""
    press(console, console.locator("#create-panel summary"))
    console.locator("#create-name").fill(name)
    console.locator("#create-rules").fill(f"Rules of {name}: be kind.\nNo advice about medication.")
    console.locator("#create-join").select_option("open")
    console.locator("#create-name").press("Enter")
    expect(console.locator("#group-title")).to_have_text(name)


def create_invite(console: Any) -> str:
    console.locator("#invite-uses").press("Enter")
    expect(console.locator("#invite-link")).to_have_value(re.compile(r"#invite="))
    return str(console.input_value("#invite-link")).split("#", 1)[1]


def press(page: Any, locator: Any) -> None:
    """Operate a control with the keyboard: focus it, press Enter."""
    locator.focus()
    page.keyboard.press("Enter")


def conversation(console: Any, text: str) -> Any:
    return console.locator("#conv-messages li.message", has_text=text)


def post(console: Any, text: str) -> None:
    console.locator("#conv-text").focus()
    console.keyboard.type(text)
    console.keyboard.press("Enter")


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_console_shows_and_posts_to_the_conversation(pages: Pages, size: Any) -> None:
    console = console_logs_in(pages, **size)
    create_group(console, "Tuesday circle")
    invite = create_invite(console)
    fox = keyed_member(pages, invite, "Quiet Fox", **size)

    send(fox, "hello from the fox")
    row = conversation(console, "hello from the fox")
    expect(row.locator(".who")).to_have_text("Quiet Fox")
    expect(row.locator(".role-badge")).to_have_count(0)
    expect(console.locator("#conv-note")).to_contain_text("Decrypted in this browser")

    post(console, "welcome, fox")
    expect(conversation(console, "welcome, fox")).to_have_attribute("data-status", "sent")
    expect_message(fox, "welcome, fox")
    from_host = fox.locator("#messages li", has_text="welcome, fox")
    expect(from_host.locator('.role-badge[data-role="facilitator"]')).to_have_count(1)

    # Its own message has no actions; the member's has one, named for its author.
    expect(conversation(console, "welcome, fox").locator("button")).to_have_count(0)
    act = row.get_by_role("button", name="Act on the message from Quiet Fox")
    expect(act).to_be_visible()
    expect_accessible(console, "console conversation")

    # Hide, then undo within the undo time: nothing is sent at all.
    press(console, act)
    dialog = console.locator("#act-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#act-quote")).to_have_text("hello from the fox")
    expect_accessible(console, "act on a message")
    press(console, dialog.get_by_role("button", name="Hide message"))
    expect(console.locator("#undo-bar")).to_be_visible()
    assert console.evaluate("document.activeElement.id") == "undo-button"
    console.keyboard.press("Enter")
    expect(console.locator("#undo-bar")).to_be_hidden()
    expect(console.locator("#status")).to_contain_text("Undone")
    console.wait_for_timeout(9_000)  # past the undo time: still nothing hidden
    expect(fox.locator("#messages li .text", has_text="hello from the fox")).to_have_count(1)

    # Hide for real: after the undo time the member's page shows it removed.
    press(console, act)
    press(console, dialog.get_by_role("button", name="Hide message"))
    expect(fox.locator("#messages li .deleted")).to_have_count(1, timeout=20_000)
    expect(conversation(console, "(message removed)")).to_have_count(1)


def test_remove_asks_first_and_cancel_changes_nothing(pages: Pages) -> None:
    console = console_logs_in(pages)
    create_group(console, "Thursday circle")
    invite = create_invite(console)
    fox = keyed_member(pages, invite, "Quiet Fox")
    expect(console.locator("#members")).to_contain_text("Quiet Fox")
    epoch = console.text_content("#epoch")

    press(console, console.get_by_role("button", name="Remove Quiet Fox"))
    confirm = console.locator("#confirm")
    expect(confirm).to_be_visible()
    expect(confirm.locator("#confirm-text")).to_contain_text(
        "Remove Quiet Fox from Thursday circle?"
    )
    expect_accessible(console, "remove confirmation")
    press(console, confirm.get_by_role("button", name="Cancel"))
    expect(confirm).to_be_hidden()
    console.wait_for_timeout(1_000)
    expect(console.locator("#members")).to_contain_text("Quiet Fox")
    assert console.text_content("#epoch") == epoch
    send(fox, "still here")
    expect(conversation(console, "still here")).to_have_count(1)

    press(console, console.get_by_role("button", name="Remove Quiet Fox"))
    press(console, confirm.get_by_role("button", name="Remove Quiet Fox"))
    expect(console.locator("#members")).not_to_contain_text("Quiet Fox")
    expect(fox.locator("#chat-note")).to_contain_text("no longer in this group")

    # The desk names what each button manages.
    press(console, console.locator("#back"))
    expect(console.get_by_role("button", name="Manage Thursday circle")).to_be_visible()


def test_a_crisis_message_is_flagged_on_this_device_and_nothing_is_sent(pages: Pages) -> None:
    frames = Frames()
    console = console_logs_in(pages, frames=frames)
    create_group(console, "Friday circle")
    invite = create_invite(console)
    fox = keyed_member(pages, invite, "Quiet Fox")
    send(fox, "a quiet evening")
    expect(conversation(console, "a quiet evening")).to_have_count(1)
    press(console, console.locator("#back"))  # on the desk, as a facilitator would be
    expect(console.locator("#no-attention")).to_be_visible()
    console.wait_for_timeout(1_000)  # let any request the first message caused finish

    mark = len(frames.sent)
    send(fox, CRISIS)  # the member's own page offers support first; they send anyway
    fox.locator("#crisis-check").get_by_role("button", name="Send my message").click()
    item = console.locator('#attention-items li[data-kind="flag"]')
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Possible crisis in Friday circle: Quiet Fox wrote")
    expect(console.locator("#queue-live")).to_contain_text("Possible crisis in Friday circle")
    expect(console).to_have_title(re.compile(r"^\(1 urgent · 1\) "))
    console.wait_for_timeout(1_500)
    # Flagging sent nothing: no event at all left the console since the message arrived, and no
    # frame it ever sent carries the words.
    assert frames.events_since(mark) == []
    assert not [f for f in frames.sent if "end my life" in f or "pills" in f]
    expect_accessible(console, "desk with an urgent item")

    # Urgent first; its button opens the conversation at the message, which is marked.
    press(console, item.get_by_role("button", name="Open Quiet Fox's message in Friday circle"))
    flagged = conversation(console, "pills ready")
    expect(flagged).to_have_class(re.compile(r"flagged"))
    expect(flagged.locator(".flag")).to_have_text("Possible crisis")
    press(console, console.locator("#back"))
    press(
        console,
        item.get_by_role("button", name="Mark Quiet Fox's message in Friday circle as seen"),
    )
    expect(item).to_have_count(0)
    expect(console).to_have_title("Hearth — facilitator console")


def test_a_crisis_message_sent_while_the_console_was_offline_is_flagged_on_reconnect(
    pages: Pages,
) -> None:
    console = console_logs_in(pages)
    create_group(console, "Sunday circle")
    invite = create_invite(console)
    fox = keyed_member(pages, invite, "Quiet Fox")
    send(fox, "before the console went offline")
    expect(conversation(console, "before the console went offline")).to_have_count(1)
    press(console, console.locator("#back"))

    console.context.set_offline(True)
    expect(console.locator("#connection")).to_contain_text("Offline")
    send(fox, CRISIS)
    fox.locator("#crisis-check").get_by_role("button", name="Send my message").click()
    expect(fox.locator("#messages li.mine[data-status=sent]", has_text="pills")).to_have_count(1)
    console.context.set_offline(False)
    expect(console.locator("#connection")).to_have_text("Connected")
    item = console.locator('#attention-items li[data-kind="flag"]')
    expect(item).to_contain_text("Possible crisis in Sunday circle: Quiet Fox wrote")
    expect(console).to_have_title(re.compile(r"^\(1 urgent · 1\) "))


def test_a_crisis_message_whose_broadcast_crossed_opening_the_conversation_is_flagged(
    pages: Pages,
) -> None:
    # Opening a conversation fetches its newest history; a message sent at that moment comes in
    # that reply and in its broadcast, in either order. Triage once looked only at what the
    # broadcast brought first, so a crisis message could go unflagged.
    link = HoldingLink()
    console = console_logs_in(pages, socket=link)
    create_group(console, "Wednesday circle")
    invite = create_invite(console)
    fox = keyed_member(pages, invite, "Quiet Fox")
    send(fox, "before the crossing")
    expect(conversation(console, "before the crossing")).to_have_count(1)
    press(console, console.locator("#back"))

    link.holding = True  # the broadcast is late; the history reply is not
    send(fox, CRISIS)
    fox.locator("#crisis-check").get_by_role("button", name="Send my message").click()
    expect(fox.locator("#messages li.mine[data-status=sent]", has_text="pills")).to_have_count(1)
    press(console, console.get_by_role("button", name="Manage Wednesday circle"))
    expect(conversation(console, "pills ready")).to_have_count(1)  # from the history reply
    item = console.locator('#attention-items li[data-kind="flag"]')
    expect(item).to_have_count(0)  # history is not triaged
    link.release()
    expect(item).to_contain_text("Possible crisis in Wednesday circle: Quiet Fox wrote")
    expect(conversation(console, "pills ready")).to_have_class(re.compile(r"flagged"))


def test_a_private_request_whose_broadcast_crossed_opening_it_is_said(pages: Pages) -> None:
    # The same crossing in the console's private request view (a companion group): its new
    # message is said to a screen reader once, whichever of reply and broadcast came first.
    # After the module's other tests, "Open" is often pressed before this browser has been let
    # into the request: the view once stayed empty ("no keys yet") for good; it now shows the
    # request once its keys came (handover.keysCame).
    link = HoldingLink()
    console = console_logs_in(pages, socket=link)
    create_group(console, "Autumn circle")
    invite = create_invite(console)
    jay = keyed_member(pages, invite, "Loud Jay")
    jay.fill("#compose-text", CRISIS)
    jay.press("#compose-text", "Enter")
    jay.locator("#crisis-check").get_by_role("button", name="Ask a facilitator privately").click()
    expect(jay.locator("#chat-title")).to_have_text("Private request: Autumn circle")
    expect(jay.locator("#compose")).to_be_visible(timeout=30_000)
    jay.press("#compose-text", "Enter")
    jay.locator("#crisis-check").get_by_role("button", name="Send my message").click()
    expect(jay.locator("#messages li.mine[data-status=sent]", has_text="pills")).to_have_count(1)
    request = "Loud Jay's private request in Autumn circle"
    try:
        console.get_by_role("button", name=f"I'll take this: {request}").click()
        console.get_by_role("button", name=f"Open {request}").click()
        expect(console.locator("#ask-messages")).to_contain_text(CRISIS)
        # Whether that first message was said depends on whether this browser was in the
        # request when it was sent: what is said is counted from here on.
        live = console.locator("#ask-live")
        live.evaluate(COUNT_WRITES)

        link.holding = True  # the broadcast is late; the history reply is not
        send(jay, "are you there")
        expect(
            jay.locator("#messages li.mine[data-status=sent]", has_text="are you there")
        ).to_have_count(1)
        console.get_by_role("button", name=f"Open {request}").click()
        expect(console.locator("#ask-messages")).to_contain_text("are you there")
        console.wait_for_timeout(700)
        assert live.evaluate("() => window.__written") == []  # history is not said
        link.release()
        expect(live).to_have_text("New from Loud Jay.")
        assert live.evaluate("() => window.__written") == ["New from Loud Jay."]
    finally:  # the module's later tests count open requests
        console.get_by_role("button", name="Close request from Loud Jay").click()
        console.click("#confirm-yes")
        expect(console.locator("#no-asks")).to_be_visible()


# Each text written to a live region from now on (a write of the same text counts too).
COUNT_WRITES = """(region) => {
  window.__written = [];
  new MutationObserver(() => window.__written.push(region.textContent)).observe(region, {
    childList: true,
    characterData: true,
    subtree: true,
  });
}"""


# Records each desktop notification the page raises, and says the tab is in the background (as
# when the facilitator looks at another tab); the browser's own permission prompt is answered by
# the context's granted permission.
NOTIFICATIONS = """
  window.__notified = [];
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options = {}) {
      super(title, options);
      window.__notified.push({ title, body: options.body || "" });
    }
  };
  Object.defineProperty(document, "visibilityState", { get: () => "hidden" });
"""


def test_the_tab_title_counts_a_new_report_and_a_notification_names_no_words(
    pages: Pages,
) -> None:
    console = console_logs_in(pages)
    console.context.grant_permissions(["notifications"], origin=pages.server.url)
    console.add_init_script(NOTIFICATIONS)
    console.reload()
    expect(console.locator("#connection")).to_have_text("Connected")
    press(console, console.locator("#alert-settings summary"))
    expect_accessible(console, "alert settings")
    notify = console.locator("#alert-notify")
    notify.focus()
    console.keyboard.press("Space")
    expect(notify).to_be_checked()
    expect(console.locator("#alert-note")).to_contain_text("never what anyone wrote")
    create_group(console, "Monday circle")
    invite = create_invite(console)
    fox = keyed_member(pages, invite, "Quiet Fox")
    wren = keyed_member(pages, invite, "Bright Wren")
    send(fox, "you are all hopeless")
    expect_message(wren, "you are all hopeless")
    press(console, console.locator("#back"))
    expect(console).to_have_title("Hearth — facilitator console")
    # A keyboard user rests on the group's button: the report redraws the list, not the focus.
    console.get_by_role("button", name="Manage Monday circle").focus()

    wren.locator("#messages li", has_text="you are all hopeless").get_by_role(
        "button", name="Report message from Quiet Fox"
    ).click()
    wren.fill("#report-reason", "unkind")
    wren.click("#report-send")
    expect(console).to_have_title("(1) Hearth — facilitator console")
    report = console.locator('#attention-items li[data-kind="report"]')
    expect(report).to_contain_text("Report in Monday circle")
    expect(console.locator("#queue-count")).to_have_text("(1 open)")
    assert console.evaluate("document.activeElement.textContent") == "Manage Monday circle"
    wait_until(
        console,
        lambda: console.evaluate("window.__notified.length") >= 1,
        "a notification was raised",
    )
    notified = console.evaluate("window.__notified")
    assert {"title": "New report in Monday circle", "body": ""} in notified
    assert not [n for n in notified if "hopeless" in n["title"] + n["body"]]

    # The choice is remembered on this device.
    console.reload()
    expect(console.locator("#desk")).to_be_visible()
    expect(console.locator("#alert-notify")).to_be_checked()
    expect(console.locator("#alert-sound")).not_to_be_checked()  # sound is off by default


class Relabeller:
    """A hostile server: each message of one member is said to be another's, every member in
    members.list is called a facilitator, and (when asked) the next message's ciphertext is
    altered."""

    def __init__(self) -> None:
        self.real: str | None = None
        self.fake: str | None = None
        self.relabelled = 0
        self.roles = 0
        self.tamper_next = False
        self.tampered = 0

    def _message(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        if self.fake and message.get("sender_id") == self.real:
            message["sender_id"] = self.fake
            self.relabelled += 1
        envelope = message.get("envelope")
        if self.tamper_next and isinstance(envelope, str) and len(envelope) > 200:
            middle = len(envelope) // 2
            flipped = "A" if envelope[middle] != "A" else "B"
            message["envelope"] = envelope[:middle] + flipped + envelope[middle + 1 :]
            self.tamper_next = False
            self.tampered += 1

    def __call__(self, ws: Any) -> None:
        server = ws.connect_to_server()

        def to_page(frame: str | bytes) -> None:
            if isinstance(frame, str) and frame.startswith("42"):
                event, *args = json.loads(frame[2:])
                if event == "msg":
                    self._message(args[0])
                elif event == "msg.batch":
                    for message in args[0]["messages"]:
                        self._message(message)
                frame = "42" + json.dumps([event, *args])
            elif isinstance(frame, str) and (found := re.match(r"^43(\d*)(.*)$", frame, re.S)):
                reply = json.loads(found.group(2))
                data = reply[0] if reply and isinstance(reply[0], dict) else {}
                for message in data.get("messages") or []:
                    self._message(message)
                for member in data.get("members") or []:
                    member["role"] = "facilitator"
                    self.roles += 1
                frame = "43" + found.group(1) + json.dumps(reply)
            ws.send(frame)

        ws.on_message(server.send)
        server.on_message(to_page)


def test_a_hostile_server_that_relabels_a_sender_is_not_believed(pages: Pages) -> None:
    relay = Relabeller()
    console = console_logs_in(pages, socket=relay)
    create_group(console, "Saturday circle")
    invite = create_invite(console)
    heron = keyed_member(pages, invite, "Calm Heron")
    wren = keyed_member(pages, invite, "Bright Wren")
    heron_id = member_id_of(heron)
    relay.real, relay.fake = heron_id, member_id_of(wren)
    send(heron, "signed by the heron")
    row = conversation(console, "signed by the heron")
    expect(row).to_have_count(1)
    wait_until(console, lambda: relay.relabelled >= 1 and relay.roles >= 1, "the relay rewrote")
    expect(row.locator(".who")).to_have_text("Calm Heron")
    expect(row.locator(".role-badge")).to_have_count(0)  # members.list's "role" is not believed
    expect(row.get_by_role("button", name="Act on the message from Calm Heron")).to_be_visible()
    # A message altered on the way is not shown at all (its signature does not verify).
    relay.tamper_next = True
    send(heron, "altered on the way")
    send(heron, "after the altered one")
    expect(conversation(console, "after the altered one")).to_have_count(1)
    assert relay.tampered == 1
    expect(conversation(console, "altered on the way")).to_have_count(0)
    # A page of history through the same relay is not believed either.
    console.reload()
    expect(console.locator("#connection")).to_have_text("Connected")
    press(console, console.get_by_role("button", name="Manage Saturday circle"))
    expect(conversation(console, "signed by the heron").locator(".who")).to_have_text("Calm Heron")


def member_id_of(page: Any) -> str:
    """The member id (base64url) this page holds for its one group."""
    raw = page.evaluate(
        """async () => {
            const [record] = await (await import('/js/keystore.js')).groups();
            return Array.from(record.member.memberId);
        }"""
    )
    return b64encode(bytes(raw))
