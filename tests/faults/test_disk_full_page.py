"""The member's page on a full disk: a message refused with ``storage_full`` stays in the page,
says why, and is sent again by itself once the server has room (the same ``msg_id``: stored
once)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SAFETY, browser  # noqa: F401  (the fixture, by name)
from tests.browser.steps import Pages, keyed_member, open_room, send
from tests.conftest import free_port
from tests.faults.storage_support import FaultServer, fill, storage_config, tmpfs

pytestmark = pytest.mark.browser
TEXT = "a long message that needs room in the write-ahead log " * 70  # ~3.9 kB, under 4000


def test_the_page_sends_again_once_the_disk_has_room(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    with tmpfs(tmp_path / "disk", 16) as disk:
        server = FaultServer(
            tmp_path / "hearth",
            free_port(),
            storage_config(SAFETY, wal_max_mb=1, reserve_mb=2, min_free_mb=3),
            database_at=disk / "hearth.sqlite3",
        )
        server.add_facilitator()
        server.start()
        pages = Pages(browser, server)
        try:
            _, invite = open_room(pages, "Quiet room")
            sender = keyed_member(pages, invite, "Steady Otter")
            filler = fill(disk)
            failed = sender.locator("#messages li.mine[data-status=failed]")
            sent = 0
            while failed.count() == 0:
                assert sent < 40, "no message was refused on a full disk"
                send(sender, f"{sent} {TEXT}")
                sent += 1
                sender.wait_for_timeout(150)
            expect(failed.first).to_contain_text("out of storage")
            filler.unlink()
            # Sent again after retry_after_ms (5 s), without a reload or a click.
            expect(sender.locator("#messages li.mine[data-status=sent]")).to_have_count(
                sent, timeout=20_000
            )
            assert pages.errors == []
        finally:
            pages.close()
            server.stop()
        with sqlite3.connect(server.database) as conn:
            stored = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        conn.close()
        assert stored == sent  # each exactly once
