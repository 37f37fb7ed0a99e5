"""Journeys through the real pages in headless Chromium: a facilitator's console and members'
pages in separate browser contexts, against a real server."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from server.client import HearthClient
from tests.browser.steps import (
    Pages,
    approve,
    create_group,
    create_invite,
    epoch_of,
    expect_message,
    facilitator_logs_in,
    keyed_member,
    member_joins,
    open_room,
    screenshot,
    send,
    unlabelled_controls,
    wait_keyed,
    wait_until,
)

pytestmark = pytest.mark.browser


# -- journeys ------------------------------------------------------------------------------------


def test_two_members_join_chat_and_one_leaves(pages: Pages, tmp_path: Path) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Evening circle")
    invite = create_invite(console)
    expect(console.locator("#invites li")).to_have_count(1)

    one = member_joins(pages, invite, "Calm Heron")
    expect(one.locator("#chat-note")).to_contain_text("Waiting for a facilitator")
    expect(console.get_by_role("button", name="Approve Calm Heron")).to_be_visible()  # live
    approve(console, "Calm Heron")
    wait_keyed(one)

    two = member_joins(pages, invite, "Bright Wren")
    approve(console, "Bright Wren")
    wait_keyed(two)
    expect(console.locator("#epoch")).to_contain_text("Epoch 3")

    send(one, "hello from the heron")
    expect_message(two, "hello from the heron")
    expect(two.locator("#messages li .who").first).to_have_text("Calm Heron")
    send(two, "hi heron, wren here")
    expect_message(one, "hi heron, wren here")
    expect(one.locator("#messages li.mine").first).to_have_attribute("data-status", "sent")
    screenshot(one, tmp_path / "chat.png")

    two.click("#leave")
    two.click("#confirm-yes")
    expect(two.locator("#home")).to_be_visible()
    expect(console.locator("#epoch")).to_contain_text("Epoch 4")
    expect(console.locator("#members li")).to_have_count(2)

    send(one, "still here after the rotation")
    expect(one.locator("#messages li.mine[data-status=sent]")).to_have_count(2)
    expect_message(one, "still here after the rotation")
    screenshot(console, tmp_path / "console.png")


def test_offline_messages_are_resent_and_delivered_once(pages: Pages, tmp_path: Path) -> None:
    console, invite = open_room(pages, "Open room")
    sender = keyed_member(pages, invite, "Steady Otter")
    reader = keyed_member(pages, invite, "Gentle Finch")
    expect(console.locator("#members li")).to_have_count(3)
    send(sender, "before the cut")
    expect_message(reader, "before the cut")

    sender.context.set_offline(True)
    expect(sender.locator("#connection")).to_contain_text("Offline")
    send(sender, "written while offline 1")
    send(sender, "written while offline 2")
    expect(sender.locator("#messages li.mine[data-status=failed]")).to_have_count(2)
    sender.context.set_offline(False)

    expect(sender.locator("#connection")).to_have_text("Connected")
    expect(sender.locator("#messages li.mine[data-status=sent]")).to_have_count(3)
    expect_message(reader, "written while offline 1")
    expect_message(reader, "written while offline 2")
    # A reload reads history from the server: each message is stored exactly once.
    reader.reload()
    reader.locator("#group-list button").first.click()
    expect_message(reader, "written while offline 1")
    expect_message(reader, "written while offline 2")
    expect_message(reader, "before the cut")
    screenshot(reader, tmp_path / "offline.png")


def test_small_screen_keyboard_crisis_resources_and_data_wipe(pages: Pages, tmp_path: Path) -> None:
    page = pages.open("/", width=390, height=844)
    expect(page.locator("#welcome")).to_be_visible()
    page.click("#welcome-suggest")
    page.click("#welcome-form button[type=submit]")
    expect(page.locator("#home")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # Crisis resources are one keyboard press away, with a visible focus ring.
    page.locator("body").focus()
    for _ in range(8):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "open-crisis":
            break
    assert page.evaluate("document.activeElement.id") == "open-crisis"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    expect(page.locator("#crisis")).to_be_visible()
    expect(page.locator("#crisis-list")).to_contain_text("Test Crisis Line")
    page.keyboard.press("Escape")
    expect(page.locator("#crisis")).to_be_hidden()

    # Every form control has a label.
    assert unlabelled_controls(page) == []
    screenshot(page, tmp_path / "small.png")

    page.click("#open-settings")
    page.click("#wipe")
    page.click("#confirm-yes")
    expect(page.locator("#welcome")).to_be_visible()  # a new first visit: a new account key


def test_crisis_check_offers_resources_before_sending(pages: Pages, tmp_path: Path) -> None:
    console = facilitator_logs_in(pages)
    create_group(console, "Crisis check room", join="open")
    member = member_joins(
        pages, create_invite(console), "Mossy Pebble", via="?", width=390, height=844
    )
    # A link in query form reaches the server, so the page never reads an invite key there
    # (docs/protocol.md §6.4): even in an open group, a facilitator approves. Nor its anchor
    # (§6.7): the page says it could not verify the group and keys only when asked to.
    approve(console, "Mossy Pebble")
    expect(member.locator("#chat-note")).to_contain_text("could not be verified")
    expect(member.locator("#compose")).to_be_hidden()
    member.click("#trust-unanchored")
    wait_keyed(member)
    assert member.evaluate("document.documentElement.scrollWidth") <= 390
    send(member, "I keep thinking about an overdose")
    dialog = member.locator("#crisis-check")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Test Crisis Line")
    screenshot(member, tmp_path / "crisis-check.png")
    dialog.get_by_role("button", name="Keep editing").click()
    expect(member.locator("#compose-text")).to_have_value("I keep thinking about an overdose")
    expect(member.locator("#messages li.message")).to_have_count(0)
    member.press("#compose-text", "Enter")
    dialog.get_by_role("button", name="Send my message").click()
    expect(member.locator("#messages li.mine[data-status=sent]")).to_have_count(1)


def test_enter_right_after_keep_editing_asks_again_and_sends_once(pages: Pages) -> None:
    """A dialog's close event is queued: the one from "Keep editing" can arrive after a quick
    Enter has opened the check again, and must not be taken as the new answer."""
    console = facilitator_logs_in(pages)
    create_group(console, "Quick hands", join="open")
    member = member_joins(pages, create_invite(console), "Swift Heron")
    wait_keyed(member)
    send(member, "I want to end my life")
    dialog = member.locator("#crisis-check")
    expect(dialog).to_be_visible()
    member.evaluate(
        """() => {
            document.querySelector('#crisis-check [data-close=edit]').click();
            document.querySelector('#compose-text').dispatchEvent(
                new KeyboardEvent('keydown', {key: 'Enter', bubbles: true, cancelable: true}));
        }"""
    )
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Send my message").click()
    expect(member.locator("#messages li.mine[data-status=sent]")).to_have_count(1)
    expect(member.locator("#messages li.message")).to_have_count(1)


def test_console_logout_and_invite_revocation(pages: Pages) -> None:
    console = facilitator_logs_in(pages)
    assert unlabelled_controls(console) == []
    create_group(console, "Revocations")
    invite = create_invite(console)
    console.get_by_role("button", name="Revoke").click()
    expect(console.locator("#invites")).to_contain_text("revoked")
    member = pages.open("/#" + invite)
    expect(member.locator("#join-dead-text")).to_contain_text("withdrawn")
    expect(member.locator("#join-submit")).to_be_hidden()
    console.click("#logout")
    console.click("#logout-keep")  # its own computer (the wipe: test_console_logout.py)
    expect(console.locator("#login")).to_be_visible()
    console.reload()
    expect(console.locator("#login")).to_be_visible()


def test_python_member_messages_and_older_history_on_scroll(pages: Pages, tmp_path: Path) -> None:
    _, invite = open_room(pages, "Long talk")
    reader = keyed_member(pages, invite, "Quiet Lark")
    fragment = dict(part.split("=", 1) for part in invite.split("&"))
    # the Python client's form of the link
    token = f"{fragment['invite']}.{fragment['key']}.{fragment['anchor']}"

    result: dict[str, Any] = {}

    async def python_member_talks() -> None:
        client = HearthClient(pages.server.url, hybrid=True)  # the page made a hybrid group
        await client.connect()
        try:
            group_id, _ = await client.join(token, pseudonym="Python Pine")
            await client.wait_for(lambda: client.keys[group_id].current > 0)
            for n in range(1, 61):
                await client.send(group_id, f"python line {n}")
            await client.wait_for(lambda: "from the browser" in client.texts(group_id), 30)
            result["texts"] = client.texts(group_id)
        except Exception as error:  # reported by the assertion below
            result["error"] = repr(error)
        finally:
            await client.disconnect()

    # The Python client runs in its own thread and loop; Playwright's sync API stays on this one.
    talker = threading.Thread(target=lambda: asyncio.run(python_member_talks()), daemon=True)
    talker.start()
    expect_message(reader, "python line 60")
    expect(reader.locator("#messages li .who", has_text="Python Pine")).to_have_count(60)
    send(reader, "from the browser")
    talker.join(timeout=40)
    assert result.get("texts", [])[-1:] == ["from the browser"], result.get("error")
    expect(reader.locator("#messages li.mine[data-status=sent]")).to_have_count(1)

    reader.reload()
    reader.locator("#group-list button").first.click()
    expect(reader.locator("#messages li.message")).to_have_count(50)
    expect(reader.locator("#older")).to_be_visible()
    reader.locator("#messages").evaluate("(box) => { box.scrollTop = 0; }")
    expect(reader.locator("#messages li.message")).to_have_count(61)
    expect(reader.locator("#older")).to_be_hidden()
    expect(reader.locator("#messages li .who", has_text="Python Pine")).to_have_count(60)
    screenshot(reader, tmp_path / "history.png")


def test_facilitator_removes_a_member_and_the_rest_keep_chatting(
    pages: Pages, tmp_path: Path
) -> None:
    console, invite = open_room(pages, "Removal room")
    stay = keyed_member(pages, invite, "Tender Tulip")
    go = keyed_member(pages, invite, "Noisy Crow")
    expect(console.locator("#members li")).to_have_count(3)
    before = epoch_of(console)
    console.get_by_role("button", name="Remove Noisy Crow").click()
    console.locator("#confirm").get_by_role("button", name="Remove Noisy Crow").click()
    expect(console.locator("#members li")).to_have_count(2)
    expect(console.locator("#epoch")).to_contain_text(f"Epoch {before + 1}")
    expect(go.locator("#chat-note")).to_contain_text("no longer in this group")
    expect(go.locator("#compose")).to_be_hidden()
    send(stay, "after the removal")
    expect(stay.locator("#messages li.mine[data-status=sent]")).to_have_count(1)
    expect_message(go, "after the removal", 0)
    screenshot(console, tmp_path / "removal.png")


class LossyLink:
    """A websocket route that can lose the next message acknowledgement and cut the link."""

    def __init__(self) -> None:
        self.drop_next_ack = False
        self.dying = False
        self.dropped: list[str | bytes] = []
        self.routes: list[Any] = []

    def __call__(self, ws: Any) -> None:
        server = ws.connect_to_server()
        self.routes.append(ws)

        def to_page(message: str | bytes) -> None:
            is_send_ack = (
                isinstance(message, str) and message.startswith("43") and '"rtag"' in message
            )
            if self.drop_next_ack and is_send_ack and '"messages"' not in message:
                self.drop_next_ack = False
                self.dropped.append(message)
                self.dying = True
                return
            if self.dying:
                return  # the link is failing: nothing more reaches the page (e.g. msg.batch echoes)
            ws.send(message)

        ws.on_message(server.send)
        server.on_message(to_page)

    def cut(self) -> None:
        self.dying = False
        self.routes[-1].close()


def test_lost_acknowledgement_is_resent_with_the_same_msg_id(pages: Pages, tmp_path: Path) -> None:
    _, invite = open_room(pages, "Lossy room")
    reader = keyed_member(pages, invite, "Patient Heron")
    link = LossyLink()
    sender = keyed_member(pages, invite, "Hardy Kite", socket=link)

    link.drop_next_ack = True
    send(sender, "stored but never acknowledged")
    expect_message(reader, "stored but never acknowledged")  # the server has it
    expect(sender.locator("#messages li.mine[data-status=sending]")).to_have_count(1)
    wait_until(sender, lambda: len(link.dropped) == 1, "the acknowledgement was dropped")

    link.cut()  # the connection drops; socket.io reconnects through a new route
    expect(sender.locator("#messages li.mine[data-status=sent]")).to_have_count(1)
    assert len(link.routes) >= 2
    expect_message(reader, "stored but never acknowledged")
    reader.reload()
    reader.locator("#group-list button").first.click()
    expect_message(reader, "stored but never acknowledged")  # stored once: same msg_id
    screenshot(sender, tmp_path / "lossy.png")


class DroppingLink:
    """A websocket route that drops the frames a test asks for: the next broadcast of messages on
    its way to the page (as when a server process falls behind on its Redis channel and loses
    what it could not keep), or every `msg.send` from the page."""

    def __init__(self) -> None:
        self.drop_next_broadcast = False
        self.drop_sends = False
        self.dropped: list[str] = []
        self.broadcasts: list[str] = []  # the broadcasts of messages that reached the page

    def __call__(self, ws: Any) -> None:
        server = ws.connect_to_server()

        def to_page(message: str | bytes) -> None:
            if isinstance(message, str) and message.startswith(('42["msg.batch"', '42["msg"')):
                if self.drop_next_broadcast:
                    self.drop_next_broadcast = False
                    self.dropped.append(message)
                    return
                self.broadcasts.append(message)
            ws.send(message)

        def to_server(message: str | bytes) -> None:
            if self.drop_sends and isinstance(message, str) and '"msg.send"' in message:
                self.dropped.append(message)
                return
            server.send(message)

        ws.on_message(to_server)
        server.on_message(to_page)


def test_a_missed_broadcast_is_fetched_when_the_next_one_shows_the_gap(
    pages: Pages, tmp_path: Path
) -> None:
    _, invite = open_room(pages, "Gappy room")
    link = DroppingLink()
    reader = keyed_member(pages, invite, "Steady Otter", socket=link)
    sender_link = DroppingLink()
    sender = keyed_member(pages, invite, "Swift Finch", socket=sender_link)
    send(sender, "a first word")
    expect_message(reader, "a first word")

    link.drop_next_broadcast = True
    send(sender, "lost on the way")
    expect(sender.locator("#messages li.mine[data-status=sent]")).to_have_count(2)
    wait_until(reader, lambda: len(link.dropped) == 1, "the broadcast was dropped")
    expect_message(reader, "lost on the way", 0)

    send(sender, "and the next one")
    expect_message(reader, "and the next one")
    expect_message(reader, "lost on the way")  # fetched from history: seq jumped past it
    texts = reader.locator("#messages li .text").all_inner_texts()
    assert texts == ["a first word", "lost on the way", "and the next one"]
    # The sender's own messages are not sent back to it (it has them from the acks), and what
    # the others send next follows them without a gap.
    assert sender_link.broadcasts == []
    send(reader, "heard you")
    expect_message(sender, "heard you")
    texts = sender.locator("#messages li .text").all_inner_texts()
    assert texts == ["a first word", "lost on the way", "and the next one", "heard you"]
    expect(sender.locator("#messages li.mine[data-status=sent]")).to_have_count(3)
    screenshot(reader, tmp_path / "gap.png")


# What the page keeps of its unsent messages, read through its own store.
UNSENT = '() => import("/js/keystore.js").then((store) => store.unsent()).then(JSON.stringify)'


def test_an_unsent_message_survives_a_reload_sealed(pages: Pages, tmp_path: Path) -> None:
    _, invite = open_room(pages, "Patient room")
    reader = keyed_member(pages, invite, "Still Pond")
    link = DroppingLink()
    writer = keyed_member(pages, invite, "Brisk Lark", socket=link)

    link.drop_sends = True
    send(writer, "written before the reload")
    expect(writer.locator("#messages li.mine[data-status=sending]")).to_have_count(1)
    # "Sending…" shows before the envelope is sealed, kept and sent
    wait_until(writer, lambda: len(link.dropped) == 1, "the msg.send was dropped")
    stored = writer.evaluate(UNSENT)
    assert '"envelope"' in stored  # kept, sealed ...
    assert "written before the reload" not in stored  # ... never as plaintext

    link.drop_sends = False
    writer.reload()
    writer.locator("#group-list button").first.click()
    expect(writer.locator("#messages li.mine[data-status=sent]")).to_have_count(1)
    expect_message(writer, "written before the reload")
    expect_message(reader, "written before the reload")
    assert writer.evaluate(UNSENT) == "[]"
    screenshot(writer, tmp_path / "outbox.png")
