"""The companion and administrator stores on both backends (SQLite and PostgreSQL): one notes
companion per group and one open request per member, copies of the group's member rows, claims
and closing, and who is an administrator."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.errors import HearthError
from server.storage.administrators import AdministratorStore
from server.storage.companions import Companion, CompanionStore
from server.storage.database import Database
from server.storage.groups import GroupSettings, GroupStore, _insert_member
from tests.server.test_group_store import DAY0, make_group, new_member
from tests.storage_backends import BACKENDS, open_backend

SETTINGS = GroupSettings("Facilitators' notes: G", "", 30, "approval", "always")


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_backend(request.param, tmp_path, request)
    for fid, name in ((1, "alice"), (2, "bob")):
        await database.write(
            lambda c, fid=fid, name=name: c.execute(
                "INSERT INTO facilitators (id, username, password_hash, created_at) "
                "VALUES (?, ?, 'x', 0)",
                (fid, name),
            )
        )
    yield database
    await database.close()


async def test_companions_follow_their_group(db: Database) -> None:
    groups = GroupStore(db, departed_key=bytes(32))
    companions = CompanionStore(db)
    group_id = await make_group(groups)
    [host] = await groups.members(group_id, ("active",))
    notes_id = os.urandom(16)
    notes = Companion(notes_id, group_id, "notes", None, None, None, DAY0)
    row = await companions.create(
        companion=notes, settings=SETTINGS, creator=host, commit_blob=b"c", commit_hash=b"h" * 32
    )
    assert (row.group_id, row.name, row.current_epoch) == (notes_id, SETTINGS.name, 1)
    # the creator's member of the group, same id and keys, facilitator of the companion
    [copied] = await groups.members(notes_id, ("active",))
    assert (copied.member_id, copied.sig_pk, copied.facilitator_id) == (
        host.member_id,
        host.sig_pk,
        1,
    )
    assert await groups.is_group_facilitator(notes_id, 1)
    with pytest.raises(HearthError) as again:
        await companions.create(
            companion=Companion(os.urandom(16), group_id, "notes", None, None, None, DAY0),
            settings=SETTINGS,
            creator=host,
            commit_blob=b"c",
            commit_hash=b"h" * 32,
        )
    assert again.value.code.value == "already_exists"

    # a member's request: one open at a time
    ask_id = os.urandom(16)
    asker = new_member("asker")
    await db.write(
        lambda c: c.execute(
            "INSERT INTO accounts (account_pk, created_at) VALUES (?, 0)", (asker.account_pk,)
        )
    )
    member = await db.write(
        lambda c: _insert_member(c, group_id, asker, "active", now=DAY0, first_epoch=2)
    )
    request = Companion(ask_id, group_id, "ask", member.member_id, None, None, DAY0 + 1)
    await companions.create(
        companion=request,
        settings=SETTINGS,
        creator=member,
        commit_blob=b"c",
        commit_hash=b"h" * 32,
    )
    assert not await groups.is_group_facilitator(ask_id, 1)
    assert await companions.add_facilitator(ask_id, host, DAY0 + 2)
    assert not await companions.add_facilitator(ask_id, host, DAY0 + 3)  # never twice
    await companions.claim(ask_id, 2)
    found = await companions.get(ask_id)
    assert found is not None
    assert (found.kind, found.asker_id, found.claimed_by) == ("ask", member.member_id, "bob")
    assert [c.kind for c in await companions.of_group(group_id)] == ["notes", "ask"]
    assert set(await companions.of_groups([group_id, notes_id, ask_id])) == {notes_id, ask_id}
    assert await companions.close(ask_id, DAY0 + 4)
    assert not await companions.close(ask_id, DAY0 + 5)
    await companions.create(
        companion=Companion(os.urandom(16), group_id, "ask", member.member_id, None, None, DAY0),
        settings=SETTINGS,
        creator=member,
        commit_blob=b"c",
        commit_hash=b"h" * 32,
    )

    admins = AdministratorStore(db)
    assert not await admins.is_administrator(2)
    assert await admins.set("Bob", True)
    assert await admins.is_administrator(2)
    assert not await admins.set("nobody", True)
    assert await admins.usernames() == ["bob"]
    assert [g.group_id for g in await admins.groups()] == [group_id]
