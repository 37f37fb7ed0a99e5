"""Storage-level rules that need a moved clock: invite expiry and retention."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.errors import HearthError
from server.storage.database import Database
from server.storage.groups import GroupSettings, GroupStore, NewMember
from server.storage.messages import MessageStore
from server.storage.retention import DAY_MS, purge_expired
from server.storage.rows import MessageRow
from tests.storage_backends import BACKENDS, open_backend

DAY0 = 1_800_000_000_000


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_backend(request.param, tmp_path, request)
    await database.write(
        lambda c: c.execute(
            "INSERT INTO facilitators (id, username, password_hash, created_at) "
            "VALUES (1, 'alice', 'x', 0)"
        )
    )
    yield database
    await database.close()


def new_member(name: str) -> NewMember:
    return NewMember(os.urandom(16), os.urandom(32), os.urandom(32), os.urandom(32), name, name)


async def make_group(store: GroupStore, retention_days: int = 30) -> bytes:
    group_id = os.urandom(16)
    await store.create_group(
        group_id=group_id,
        settings=GroupSettings("G", "", retention_days, "approval", "always"),
        facilitator_id=1,
        creator=new_member("host"),
        commit_blob=b"c",
        commit_hash=b"h" * 32,
        now=DAY0,
    )
    return group_id


async def test_expired_invite_is_refused(db: Database) -> None:
    store = GroupStore(db, departed_key=bytes(32))
    group_id = await make_group(store)
    token = hashlib.sha256(b"t").digest()
    await store.create_invite(
        token_hash=token,
        group_id=group_id,
        facilitator_id=1,
        now=DAY0,
        expires_at=DAY0 + 1000,
        max_uses=5,
    )
    with pytest.raises(HearthError) as refused:
        await store.join(
            token_hash=token, member=new_member("late"), now=DAY0 + 1000, max_members=10
        )
    assert refused.value.code.value == "invite_invalid"
    member = await store.join(
        token_hash=token, member=new_member("early"), now=DAY0 + 999, max_members=10
    )
    assert member.state == "pending"


async def test_group_full(db: Database) -> None:
    store = GroupStore(db, departed_key=bytes(32))
    group_id = await make_group(store)
    token = hashlib.sha256(b"t").digest()
    await store.create_invite(
        token_hash=token,
        group_id=group_id,
        facilitator_id=1,
        now=DAY0,
        expires_at=DAY0 + DAY_MS,
        max_uses=5,
    )
    await store.join(token_hash=token, member=new_member("one"), now=DAY0, max_members=2)
    with pytest.raises(HearthError) as refused:
        await store.join(token_hash=token, member=new_member("two"), now=DAY0, max_members=2)
    assert refused.value.code.value == "group_full"


async def test_purge_removes_only_messages_past_their_groups_retention(db: Database) -> None:
    groups, messages = GroupStore(db, departed_key=bytes(32)), MessageStore(db)
    short, long = (
        await make_group(groups, retention_days=1),
        await make_group(groups, retention_days=30),
    )
    for seq, group_id in enumerate((short, long), start=1):
        await messages.store(
            MessageRow(group_id, seq, os.urandom(16), b"s" * 16, 1, DAY0, b"envelope", 1, b"r" * 32)
        )
    assert (await purge_expired(db, DAY0 + DAY_MS // 2)).messages == 0
    assert (await purge_expired(db, DAY0 + 2 * DAY_MS)).messages == 1
    assert await messages.last_seq(short) == 1  # gone, but its seq is not given out again
    assert await messages.last_seq(long) == 1
    assert (await purge_expired(db, DAY0 + 31 * DAY_MS)).messages == 1


async def test_seq_does_not_restart_after_retention_empties_a_group(db: Database) -> None:
    groups, messages = GroupStore(db, departed_key=bytes(32)), MessageStore(db)
    group_id = await make_group(groups, retention_days=1)

    async def send(at: int) -> int:
        row = MessageRow(group_id, 0, os.urandom(16), b"s" * 16, 1, at, b"envelope", 1, b"r" * 32)
        stored = await messages.store(row)
        assert stored is not None
        return stored.seq

    assert [await send(DAY0), await send(DAY0 + 1)] == [1, 2]
    assert (await purge_expired(db, DAY0 + 3 * DAY_MS)).messages == 2
    assert await send(DAY0 + 3 * DAY_MS) == 3
    assert (await purge_expired(db, DAY0 + 3 * DAY_MS)).messages == 0  # the floor only rises
    assert await send(DAY0 + 3 * DAY_MS + 1) == 4
