"""A member who saw a message its sender then deleted can still report it from the page, and the
page says so; the facilitator receives the verified report."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from server.client import HearthClient
from tests.browser.steps import Pages, expect_message, keyed_member, open_room, screenshot

pytestmark = pytest.mark.browser
TEXT = "words I should not have sent"


def test_a_message_deleted_by_its_sender_can_still_be_reported(
    pages: Pages, tmp_path: Path
) -> None:
    console, invite = open_room(pages, "Deletion room")
    reader = keyed_member(pages, invite, "Kind Owl")
    fragment = dict(part.split("=", 1) for part in invite.split("&"))
    token = (
        f"{fragment['invite']}.{fragment['key']}.{fragment['anchor']}"  # the Python client's form
    )
    seen = threading.Event()
    result: dict[str, Any] = {}

    async def sender_sends_then_deletes() -> None:
        client = HearthClient(pages.server.url, hybrid=True)  # the page made a hybrid group
        await client.connect()
        try:
            group_id, _ = await client.join(token, pseudonym="Rash Wren")
            await client.wait_for(lambda: client.keys[group_id].current > 0)
            await client.send(group_id, TEXT)
            msg_id = next(m.msg_id for m in client.inbox[group_id].values() if m.text == TEXT)
            assert await asyncio.to_thread(seen.wait, 30)
            await client.delete(group_id, msg_id)
            result["deleted"] = True
        except Exception as error:  # reported by the assertion below
            result["error"] = repr(error)
        finally:
            await client.disconnect()

    # The Python client runs in its own thread and loop; Playwright's sync API stays on this one.
    sender = threading.Thread(target=lambda: asyncio.run(sender_sends_then_deletes()), daemon=True)
    sender.start()
    expect_message(reader, TEXT)
    console.click("#group-reports")
    expect(console.locator("#no-reports")).to_be_visible()
    seen.set()
    sender.join(timeout=30)
    assert result.get("deleted"), result.get("error")

    row = reader.locator("#messages li", has_text="deleted by its sender")
    expect(row).to_contain_text("you saw it, so you can still report it")
    expect(reader.locator("#messages li .text", has_text=TEXT)).to_have_count(0)  # not shown
    row.get_by_role("button", name="Report message from Rash Wren").click()
    dialog = reader.locator("#report-dialog")
    expect(dialog.locator("#report-quote")).to_have_text(TEXT)  # what is being reported
    reader.fill("#report-reason", "hurtful, then deleted")
    reader.click("#report-send")
    expect(reader.locator("#status")).to_contain_text("Report sent")
    expect(row).to_contain_text("You reported")

    report = console.locator("#reports li")
    expect(report).to_have_count(1)
    expect(report.first).to_contain_text(TEXT)
    expect(report.first).to_contain_text("Verified")
    screenshot(reader, tmp_path / "deleted-reportable.png")
