"""A disk that fills: clients get ``storage_full`` (with ``retry_after_ms``), the log says it
once per episode with what to do, ``/readyz`` reports it, failed sends use up nothing of the
epoch, and everything resumes by itself once space is back, with a sound database."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from server.client import HearthClient, HearthRefused
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, free_port
from tests.faults.storage_support import (
    Chat,
    FaultServer,
    chat_on,
    fill,
    get_json,
    storage_config,
    tmpfs,
)

EPOCH_MAX = 60
FAILED_SENDS = 70  # more than the epoch allows: failures must not count towards it
TEXT = "a message that takes some room " * 200  # ~6 KB: the WAL needs fresh pages soon


async def send_when_space_is_back(chat: Chat) -> dict[str, Any]:
    codes = []
    for _ in range(50):
        try:
            return await chat.member.send(chat.group, TEXT)
        except HearthRefused as refused:
            codes.append(refused.code)
        await asyncio.sleep(0.2)
    raise AssertionError(f"writes did not resume once space was back: {set(codes)}")


async def test_a_full_disk_refuses_with_storage_full_and_recovers(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", 16) as disk:
        server = FaultServer(
            tmp_path / "hearth",
            free_port(),
            storage_config(wal_max_mb=1, reserve_mb=2, min_free_mb=3)
            + f"[groups]\nepoch_max_messages = {EPOCH_MAX}\n",
            database_at=disk / "hearth.sqlite3",
        )
        server.add_facilitator()
        server.start()
        try:
            chat = await chat_on(server)
            acked = [await chat.member.send(chat.group, TEXT) for _ in range(3)]
            status, ready = get_json(server.url + "/readyz")
            assert (status, ready["database"]) == (200, "writable"), ready
            assert (disk / "hearth.sqlite3-reserve").stat().st_size == 2 * 1024 * 1024

            filler = fill(disk)
            refusals: list[HearthRefused] = []
            for _ in range(FAILED_SENDS * 3):
                try:
                    acked.append(await chat.member.send(chat.group, TEXT))
                except HearthRefused as refused:
                    refusals.append(refused)
                    if len(refusals) == FAILED_SENDS:
                        break
            assert len(refusals) == FAILED_SENDS, len(acked)
            assert len(acked) < EPOCH_MAX - 10, len(acked)  # the disk filled before the epoch
            for refused in refusals:
                assert refused.code == "storage_full", refused
                assert refused.detail["retry_after_ms"] > 0, refused.detail
                assert "Traceback" not in refused.message
            # The reserve was given up so that the WAL could be checkpointed.
            assert not (disk / "hearth.sqlite3-reserve").exists()
            status, ready = get_json(server.url + "/readyz")
            assert (status, ready["database"]) == (503, "full"), ready
            assert ready["error"]["code"] == "storage_full", ready

            # Space comes back: writes resume by themselves, and the epoch still has room
            # for every message the failed sends did not store.
            filler.unlink()
            acked.append(await send_when_space_is_back(chat))
            while len(acked) < EPOCH_MAX:
                acked.append(await chat.member.send(chat.group, "after the disk was freed"))
            status, ready = get_json(server.url + "/readyz")
            assert (status, ready["ok"]) == (200, True), ready
            assert (disk / "hearth.sqlite3-reserve").stat().st_size == 2 * 1024 * 1024
            await chat.close()
        finally:
            server.stop()
        log = server.log_text()
        assert log.count("storage full:") == 1, log[-3000:]  # once for the episode
        assert "free space on that disk" in log  # with what to do
        assert log.count("space is back") == 1, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
        assert "internal" not in log
        with sqlite3.connect(server.database) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            stored = {row[0] for row in conn.execute("SELECT seq FROM messages")}
        conn.close()
        assert {ack["seq"] for ack in acked} <= stored  # every acknowledged message is there


async def test_a_server_restarted_on_a_full_disk_refuses_then_recovers(tmp_path: Path) -> None:
    """The disk fills, the server is killed and started again on the full disk: it starts, a
    facilitator's login (a session write) is storage_full, not a 500, and once space is back
    the login works without another restart."""
    with tmpfs(tmp_path / "disk", 16) as disk:
        server = FaultServer(
            tmp_path / "hearth",
            free_port(),
            storage_config(wal_max_mb=1, reserve_mb=2, min_free_mb=3),
            database_at=disk / "hearth.sqlite3",
        )
        server.add_facilitator()
        server.start()
        try:
            chat = await chat_on(server)
            filler = fill(disk)
            codes = []
            for _ in range(200):
                try:
                    await chat.member.send(chat.group, TEXT)
                except HearthRefused as refused:
                    codes.append(refused.code)
                    break
            assert codes == ["storage_full"], codes
            await chat.close()
            server.kill()
            fill(disk)  # whatever the kill gave back is taken again: the disk stays full
            server.start()
            status, ready = get_json(server.url + "/readyz")
            assert (status, ready["database"]) == (503, "full"), ready
            login = HearthClient(server.url)
            with pytest.raises(HearthRefused) as refused:
                await login.login(FACILITATOR, FACILITATOR_PASSWORD)
            assert refused.value.code == "storage_full", refused.value
            assert refused.value.detail["retry_after_ms"] > 0
            filler.unlink()
            (disk / "filler").unlink(missing_ok=True)
            for _ in range(50):
                status, ready = get_json(server.url + "/readyz")
                if status == 200:
                    break
                await asyncio.sleep(0.2)
            assert ready["ok"], ready
            await login.login(FACILITATOR, FACILITATOR_PASSWORD)
        finally:
            server.stop()
        log = server.log_text()
        assert "Traceback" not in log, log[-3000:]
        assert "WAL checkpoint failed" not in log, log[-3000:]
        with sqlite3.connect(server.database) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
