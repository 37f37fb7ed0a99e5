"""PostgreSQL's per-group locks (server/storage/postgres/locks.py): two nodes (two
``PostgresDatabase`` instances on one database) writing to the same groups take turns instead of
failing and running their batches again, in whatever order their batches name the groups; what
can still fail (a deadlock with another client, a serialization failure of a job that runs
SERIALIZABLE) is run again."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import aiosqlite
import asyncpg
import pytest

from server.errors import HearthError
from server.storage.database import Database
from server.storage.groups import GroupSettings, GroupStore, NewMember
from server.storage.holds import HoldStore
from server.storage.messages import MessageStore
from server.storage.postgres.database import PostgresDatabase
from server.storage.postgres.locks import group_key, group_parameters, one_group
from server.storage.rows import MessageRow

NOW = 1_800_000_000_000
SETTINGS = GroupSettings("G", "", 30, "approval", "always")


@pytest.fixture
async def two_nodes(pg_url: str) -> AsyncIterator[tuple[PostgresDatabase, PostgresDatabase]]:
    first = await PostgresDatabase.open(pg_url)
    second = await PostgresDatabase.open(pg_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def as_database(db: PostgresDatabase) -> Database:
    """The stores are typed with ``Database``; ``PostgresDatabase`` has its interface."""
    return db  # type: ignore[return-value]


def creator() -> NewMember:
    return NewMember(os.urandom(16), os.urandom(32), os.urandom(32), os.urandom(32), "host", "host")


async def make_groups(db: PostgresDatabase, count: int, host: NewMember) -> list[bytes]:
    """``count`` groups created by ``host``, in the order of their lock keys."""
    await db.write(
        lambda c: c.execute(
            "INSERT INTO facilitators (username, password_hash, created_at) VALUES ('a', 'x', 0)"
        )
    )
    store = GroupStore(as_database(db), departed_key=bytes(32))
    made = []
    for _ in range(count):
        group_id = os.urandom(16)
        await store.create_group(
            group_id=group_id,
            settings=SETTINGS,
            facilitator_id=1,
            creator=host,
            commit_blob=b"c",
            commit_hash=b"h" * 32,
            now=NOW,
        )
        made.append(group_id)
    return sorted(made, key=group_key)


def message(group_id: bytes, epoch: int = 1) -> MessageRow:
    return MessageRow(group_id, 0, os.urandom(16), b"s" * 16, epoch, NOW, b"envelope", 1, b"r" * 32)


def counts(*nodes: PostgresDatabase) -> tuple[int, int]:
    """Batches run again after a serialization failure or deadlock, and after a job turned out
    to need SERIALIZABLE, over ``nodes``."""
    return sum(n.retries for n in nodes), sum(n.escalations for n in nodes)


async def seqs_of(db: PostgresDatabase, group_id: bytes) -> list[int]:
    rows = await db.fetch_all(
        "SELECT seq FROM messages WHERE group_id = ? ORDER BY seq", (group_id,)
    )
    return [int(row[0]) for row in rows]


async def waiting_for_a_lock(conn: asyncpg.Connection) -> None:
    """Until some transaction waits for a lock (another connection's)."""
    for _ in range(500):
        if await conn.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no transaction came to wait for a lock")


def test_the_statements_name_their_groups() -> None:
    assert group_parameters("SELECT 1 FROM members WHERE group_id = ? AND member_id = ?") == (0,)
    assert group_parameters(
        "SELECT g.current_epoch FROM groups g JOIN epochs e ON e.group_id = g.group_id "
        "WHERE e.epoch = ? AND g.group_id = ?"
    ) == (1,)
    assert group_parameters("INSERT INTO epochs (epoch, group_id) VALUES (?, ?)") == (1,)
    assert group_parameters("INSERT INTO t (a, group_id, b) VALUES (1, ?, ?)") == (0,)
    assert group_parameters("INSERT INTO t (group_id, seq) SELECT ?, 1") == (0,)
    assert group_parameters("UPDATE t SET a = 'group_id = ?' WHERE other_group_id = ?") == ()
    assert group_parameters("SELECT 1 FROM invites WHERE token_hash = ?") == ()


def test_only_the_checked_statements_run_at_read_committed() -> None:
    assert one_group(
        "SELECT a, b FROM messages\n  WHERE group_id = ?   AND msg_id = ?"
    )  # white space does not matter
    assert not one_group("SELECT a FROM messages WHERE group_id = ? AND msg_id = ? OR 1 = 1")
    assert not one_group("UPDATE groups SET current_epoch = ? WHERE group_id = ? OR TRUE")
    assert not one_group("DELETE FROM messages WHERE group_id = ?")


async def test_two_nodes_sending_to_the_same_groups_take_turns_without_a_retry(
    two_nodes: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    first, second = two_nodes
    groups = await make_groups(first, 4, creator())
    before = counts(first, second)
    stores = (MessageStore(as_database(first)), MessageStore(as_database(second)))
    sent = [message(groups[n % 4]) for n in range(400)]
    acks = await asyncio.gather(*(stores[n % 2].store(m) for n, m in enumerate(sent)))
    assert all(ack is not None for ack in acks)
    for group_id in groups:
        assert await seqs_of(first, group_id) == list(range(1, 101))  # each seq once, no gap
    # Neither node's batches failed and ran again, and messages never left READ COMMITTED.
    assert counts(first, second) == before


async def test_batches_naming_the_same_groups_in_opposite_orders_do_not_deadlock(
    two_nodes: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    first, second = two_nodes
    groups = await make_groups(first, 8, creator())
    before = counts(first, second)
    stores = (MessageStore(as_database(first)), MessageStore(as_database(second)))
    for _ in range(10):
        # One batch per node: one goes up the lock keys, the other down.
        ascending = [stores[0].store(message(g)) for g in groups]
        descending = [stores[1].store(message(g)) for g in reversed(groups)]
        acks = await asyncio.gather(*ascending, *descending)
        assert all(ack is not None for ack in acks)
    for group_id in groups:
        assert await seqs_of(second, group_id) == list(range(1, 21))
    assert counts(first, second) == before  # no deadlock, no serialization failure


async def test_first_commit_per_epoch_wins_without_a_retry(
    two_nodes: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    first, second = two_nodes
    host = creator()
    (group_id,) = await make_groups(first, 1, host)
    before = counts(first, second)
    roster = frozenset({(host.member_id, host.sig_pk, host.kem_pk)})
    prev = b"h" * 32
    for epoch in range(2, 12):
        attempts = [
            GroupStore(as_database(db), departed_key=bytes(32)).accept_commit(
                group_id=group_id,
                epoch=epoch,
                prev_commit_hash=prev,
                roster=roster,
                committer_id=host.member_id,
                commit_blob=bytes([n]),
                commit_hash=bytes([epoch, n]) * 16,
                now=NOW,
            )
            for n, db in enumerate((first, second, first, second))
        ]
        # Messages in the epoch being ended, through both nodes, in the same batches.
        sending = [
            MessageStore(as_database(db)).store(message(group_id, epoch - 1))
            for db in (first, second)
        ]
        outcome = await asyncio.gather(*attempts, *sending, return_exceptions=True)
        commits = outcome[:4]
        winners = [n for n, result in enumerate(commits) if not isinstance(result, Exception)]
        assert len(winners) == 1, commits
        for n, result in enumerate(commits):
            if n != winners[0]:
                assert isinstance(result, HearthError), result
                assert result.code.value == "epoch_conflict"
        for stored in outcome[4:]:
            # stored before the commit, or refused as being for an ended epoch (None)
            assert stored is None or isinstance(stored, MessageRow), stored
        prev = bytes([epoch, winners[0]]) * 16
        current = await first.fetch_one(
            "SELECT current_epoch FROM groups WHERE group_id = ?", (group_id,)
        )
        assert current is not None
        assert current[0] == epoch
    assert counts(first, second) == before
    stored = await seqs_of(first, group_id)
    assert stored == list(range(1, len(stored) + 1))


async def test_held_messages_released_through_one_node_take_turns_with_the_others_messages(
    two_nodes: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    first, second = two_nodes
    (group_id,) = await make_groups(first, 1, creator())
    holds = HoldStore(as_database(second))
    held = [message(group_id) for _ in range(20)]
    for row in held:
        assert await holds.hold(row) is not None
    before = counts(first, second)
    store = MessageStore(as_database(first))
    outcome = await asyncio.gather(
        *(store.store(message(group_id)) for _ in range(100)),
        *(holds.release(group_id, row.msg_id, NOW) for row in held),
        *(holds.decline(group_id, row.msg_id) for row in held[::4]),
    )
    released = [r for r in outcome[100:120] if r is not None]
    declined = [r for r in outcome[120:] if r is not None]
    assert len(released) + len(declined) == 20  # each held message released or declined once
    assert await seqs_of(first, group_id) == list(range(1, 101 + len(released)))
    assert counts(first, second) == before


async def test_a_deadlock_with_another_client_is_run_again(pg_url: str) -> None:
    db = await PostgresDatabase.open(pg_url)
    other = await asyncpg.connect(pg_url)
    try:
        low, high = await make_groups(db, 2, creator())
        # The other client holds the higher group's lock; the node's batch takes the lower one,
        # then waits for the higher one, and the other client asks for the lower one: a cycle,
        # which PostgreSQL breaks on the node's side (it detects it first, after 1 s).
        await other.execute("SET deadlock_timeout = '30s'")
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SELECT pg_advisory_xact_lock($1)", group_key(high))
        store = MessageStore(as_database(db))
        retries = db.retries
        sending = asyncio.gather(store.store(message(low)), store.store(message(high)))
        await waiting_for_a_lock(other)
        await other.execute("SELECT pg_advisory_xact_lock($1)", group_key(low))
        await transaction.commit()
        acks = await sending
        assert [ack.seq for ack in acks if ack is not None] == [1, 1]
        assert db.retries == retries + 1
        assert await seqs_of(db, low) == [1]
    finally:
        await other.close()
        await db.close()


async def test_a_serialization_failure_is_run_again(pg_url: str) -> None:
    """A job outside the locks' statements (a group's settings) runs SERIALIZABLE: another
    client changing the same row meanwhile makes it fail, and it is run again on the new row."""
    db = await PostgresDatabase.open(pg_url)
    other = await asyncpg.connect(pg_url)
    try:
        (group_id,) = await make_groups(db, 1, creator())
        store = GroupStore(as_database(db), departed_key=bytes(32))
        await store.update_group(group_id, SETTINGS, NOW)
        escalations = db.escalations
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SELECT pg_advisory_xact_lock($1)", group_key(group_id))
        await other.execute("UPDATE groups SET rules = 'theirs' WHERE group_id = $1", group_id)
        retries = db.retries
        updating = asyncio.create_task(
            store.update_group(group_id, GroupSettings("Ours", "", 30, "open", "always"), NOW)
        )
        await waiting_for_a_lock(other)
        await transaction.commit()
        await updating
        assert db.retries == retries + 1
        assert db.escalations == escalations  # known to need SERIALIZABLE since its first run
        row = await db.fetch_one(
            "SELECT name, join_policy FROM groups WHERE group_id = ?", (group_id,)
        )
        assert row is not None
        assert tuple(row) == ("Ours", "open")
    finally:
        await other.close()
        await db.close()


async def test_two_joins_through_two_nodes_cannot_both_take_an_invites_last_use(
    two_nodes: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    first, second = two_nodes
    (group_id,) = await make_groups(first, 1, creator())
    for round_ in range(5):
        token_hash = os.urandom(32)
        await GroupStore(as_database(first), departed_key=bytes(32)).create_invite(
            token_hash=token_hash,
            group_id=group_id,
            facilitator_id=1,
            now=NOW,
            expires_at=NOW + 1,
            max_uses=1,
        )
        joins = [
            GroupStore(as_database(db), departed_key=bytes(32)).join(
                token_hash=token_hash,
                member=NewMember(
                    os.urandom(16),
                    os.urandom(32),
                    os.urandom(32),
                    os.urandom(32),
                    f"p{round_}{n}",
                    f"p{round_}{n}",
                ),
                now=NOW,
                max_members=100,
            )
            for n, db in enumerate((first, second, first, second))
        ]
        outcome = await asyncio.gather(*joins, return_exceptions=True)
        joined = [result for result in outcome if not isinstance(result, BaseException)]
        assert len(joined) == 1, outcome
        assert all(isinstance(r, HearthError) for r in outcome if r is not joined[0]), outcome
        row = await second.fetch_one("SELECT uses FROM invites WHERE token_hash = ?", (token_hash,))
        assert row is not None
        assert row[0] == 1


async def test_a_lock_below_one_held_is_not_waited_for_but_taken_first_in_a_new_run(
    pg_url: str,
) -> None:
    """A job naming a higher group, then a lower one held by another transaction: waiting
    there could close a cycle, so the batch is run again with both taken first, in order."""
    db = await PostgresDatabase.open(pg_url)
    other = await asyncpg.connect(pg_url)
    try:
        low, high = await make_groups(db, 2, creator())
        stored = await MessageStore(as_database(db)).store(message(low))
        assert stored is not None
        msg_id = stored.msg_id
        lookup = "SELECT seq FROM messages WHERE group_id = ? AND msg_id = ?"

        async def job(conn: aiosqlite.Connection) -> list[int]:
            seqs = []
            for group_id in (high, low):
                rows = await conn.execute_fetchall(lookup, (group_id, msg_id))
                seqs.extend(int(row[0]) for row in rows)
            return seqs

        transaction = other.transaction()
        await transaction.start()
        await other.execute("SELECT pg_advisory_xact_lock($1)", group_key(low))
        before = (db.relocks, db.retries, db.escalations)
        running = asyncio.create_task(db.write(job))
        await waiting_for_a_lock(other)  # the second run, waiting for the lower lock first
        assert db.relocks == before[0] + 1
        await transaction.commit()
        assert await running == [1]
        assert (db.relocks, db.retries, db.escalations) == (before[0] + 1, *before[1:])
    finally:
        await other.close()
        await db.close()
