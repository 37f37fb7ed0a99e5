"""Held messages in storage: never in what history, catch-up and replay read (they have no seq),
released at the end of the log with contiguous seqs, purged with the group's retention."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.storage.database import Database
from server.storage.groups import GroupStore
from server.storage.holds import HoldStore
from server.storage.messages import HELD_EARLIER, MessageStore
from server.storage.retention import DAY_MS, purge_expired
from server.storage.rows import HeldMessage, MessageRow
from tests.server.test_group_store import DAY0, make_group


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "h.sqlite3")
    await database.write(
        lambda c: c.execute(
            "INSERT INTO facilitators (id, username, password_hash, created_at) "
            "VALUES (1, 'alice', 'x', 0)"
        )
    )
    yield database
    await database.close()


def row(group_id: bytes, at: int, sender: bytes = b"n" * 16) -> MessageRow:
    return MessageRow(group_id, 0, os.urandom(16), sender, 1, at, b"envelope", 1, b"r" * 32)


async def test_catch_up_and_history_never_read_a_held_message(db: Database) -> None:
    groups, messages, holds = (
        GroupStore(db, departed_key=bytes(32)),
        MessageStore(db),
        HoldStore(db),
    )
    group_id = await make_group(groups)
    first = await messages.store(row(group_id, DAY0, b"o" * 16))
    held = await holds.hold(row(group_id, DAY0 + 1))
    later = await messages.store(row(group_id, DAY0 + 2, b"o" * 16))
    assert isinstance(held, HeldMessage)
    assert first is not None
    assert later is not None
    assert [first.seq, later.seq] == [1, 2]  # the held message took no seq: no gap for anyone
    # What a Redis catch-up replays (after) and what history pages (page) read.
    assert [m.seq for m in await messages.after(group_id, 0, limit=50)] == [1, 2]
    page = await messages.page(group_id, before_seq=None, min_epoch=1, limit=50)
    assert held.msg_id not in {m.msg_id for m in page}

    released = await holds.release(group_id, held.msg_id, DAY0 + 5)
    assert released is not None
    assert (released.seq, released.server_ts, released.released_at) == (3, DAY0 + 1, DAY0 + 5)
    assert [m.seq for m in await messages.after(group_id, 0, limit=50)] == [1, 2, 3]
    assert (await messages.by_msg_id(group_id, held.msg_id)) == released
    assert await holds.release(group_id, held.msg_id, DAY0 + 6) is None  # once only
    assert await holds.decline(group_id, held.msg_id) is None
    assert await holds.waiting(group_id) == []


async def test_held_and_declined_messages_go_with_the_groups_retention(db: Database) -> None:
    groups, holds = GroupStore(db, departed_key=bytes(32)), HoldStore(db)
    group_id = await make_group(groups, retention_days=1)
    waiting = await holds.hold(row(group_id, DAY0))
    declined = await holds.hold(row(group_id, DAY0))
    assert isinstance(waiting, HeldMessage)
    assert isinstance(declined, HeldMessage)
    gone = await holds.decline(group_id, declined.msg_id)
    assert gone is not None
    assert (gone.state, gone.envelope) == ("declined", None)
    await purge_expired(db, DAY0 + DAY_MS // 2)
    assert len(await holds.of_sender(group_id, b"n" * 16)) == 2
    await purge_expired(db, DAY0 + 2 * DAY_MS)
    assert await holds.of_sender(group_id, b"n" * 16) == []


async def test_storing_a_msg_id_once_held_stores_nothing_and_says_so(db: Database) -> None:
    """The message path finds an earlier hold in its own insert (no read of its own): held,
    declined and released msg_ids are never stored again as new messages."""
    groups, messages, holds = (
        GroupStore(db, departed_key=bytes(32)),
        MessageStore(db),
        HoldStore(db),
    )
    group_id = await make_group(groups)
    waiting, declined, released = (row(group_id, DAY0 + n) for n in range(3))
    for message in (waiting, declined, released):
        assert isinstance(await holds.hold(message), HeldMessage)
    assert await holds.decline(group_id, declined.msg_id) is not None
    kept = await holds.release(group_id, released.msg_id, DAY0 + 9)
    assert kept is not None

    assert await messages.store(waiting) is HELD_EARLIER
    assert await messages.store(declined) is HELD_EARLIER
    assert await messages.store(released) == kept  # released: the stored copy, as any resend
    fresh = await messages.store(row(group_id, DAY0 + 10))
    assert isinstance(fresh, MessageRow)
    assert fresh.seq == kept.seq + 1
    assert [m.msg_id for m in await messages.after(group_id, 0, limit=50)] == [
        kept.msg_id,
        fresh.msg_id,
    ]
