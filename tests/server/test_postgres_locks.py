"""PostgreSQL's per-group locks (server/storage/postgres/locks.py): the jobs whose stores declare
their groups run at READ COMMITTED under those groups' locks, so two nodes (two
``PostgresDatabase`` instances on one database) writing to the same groups take turns instead of
failing and running their batches again, in whatever order their batches name the groups; the
other jobs run SERIALIZABLE, apart; what can still fail (a deadlock with another client, a
serialization failure of a SERIALIZABLE job) is run again."""

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
from server.storage.postgres.locks import group_key
from server.storage.rows import MessageRow
from tests.server.test_postgres_store import commit_attempts, the_one_that_landed

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


@pytest.fixture
async def node_and_client(
    pg_url: str,
) -> AsyncIterator[tuple[PostgresDatabase, asyncpg.Connection]]:
    """A node, and another client of the same cluster that takes locks and changes rows."""
    db = await PostgresDatabase.open(pg_url)
    other = await asyncpg.connect(pg_url)
    try:
        yield db, other
    finally:
        await other.close()
        await db.close()


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


def counts(*nodes: PostgresDatabase) -> int:
    """Batches run again after a serialization failure or deadlock, over ``nodes``."""
    return sum(n.retries for n in nodes)


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
    # Neither node's batches failed and ran again.
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
    prev = b"h" * 32
    for epoch in range(2, 12):
        nodes = (as_database(first), as_database(second))
        attempts = commit_attempts(nodes, group_id, epoch, prev, host)
        # Messages in the epoch being ended, through both nodes, in the same batches.
        sending = [MessageStore(db).store(message(group_id, epoch - 1)) for db in nodes]
        outcome = await asyncio.gather(*attempts, *sending, return_exceptions=True)
        winner = the_one_that_landed(outcome[:4])
        for stored in outcome[4:]:
            # stored before the commit, or refused as being for an ended epoch (None)
            assert stored is None or isinstance(stored, MessageRow), stored
        prev = bytes([epoch, winner]) * 16
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


async def test_a_deadlock_with_another_client_is_run_again(
    node_and_client: tuple[PostgresDatabase, asyncpg.Connection],
) -> None:
    db, other = node_and_client
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


async def test_a_serialization_failure_is_run_again(
    node_and_client: tuple[PostgresDatabase, asyncpg.Connection],
) -> None:
    """A job that declares no group (a group's settings) runs SERIALIZABLE: another client
    changing the same row meanwhile makes it fail, and it is run again on the new row."""
    db, other = node_and_client
    (group_id,) = await make_groups(db, 1, creator())
    store = GroupStore(as_database(db), departed_key=bytes(32))
    await store.update_group(group_id, SETTINGS, NOW)
    transaction = other.transaction()
    await transaction.start()
    await other.execute("UPDATE groups SET rules = 'theirs' WHERE group_id = $1", group_id)
    retries = db.retries
    updating = asyncio.create_task(
        store.update_group(group_id, GroupSettings("Ours", "", 30, "open", "always"), NOW)
    )
    await waiting_for_a_lock(other)
    await transaction.commit()
    await updating
    assert db.retries == retries + 1
    row = await db.fetch_one("SELECT name, join_policy FROM groups WHERE group_id = ?", (group_id,))
    assert row is not None
    assert tuple(row) == ("Ours", "open")


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


def advisory(key: int) -> tuple[int, int]:
    """How pg_locks shows a bigint advisory lock: (classid, objid), its high and low 32 bits."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


async def transaction_seen(conn: aiosqlite.Connection) -> tuple[str, int, set[tuple[int, int]]]:
    """The isolation level, the id and the advisory locks of the transaction a job runs in."""
    rows = await conn.execute_fetchall(
        "SELECT current_setting('transaction_isolation'), txid_current()::bigint"
    )
    isolation, txid = next(iter(rows))
    locks = await conn.execute_fetchall(
        "SELECT classid::bigint, objid::bigint FROM pg_locks "
        "WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
    )
    return str(isolation), int(txid), {(int(row[0]), int(row[1])) for row in locks}


async def test_a_job_that_declares_its_groups_runs_at_read_committed_holding_their_locks(
    pg_url: str,
) -> None:
    db = await PostgresDatabase.open(pg_url)
    try:
        groups = [os.urandom(16) for _ in range(3)]
        isolation, _, locks = await db.write(transaction_seen, groups=groups[:2])
        assert isolation == "read committed"
        # Held from the job's first statement: taken at the start of the transaction.
        assert locks == {advisory(group_key(g)) for g in groups[:2]}
        isolation, _, locks = await db.write_inline(transaction_seen, groups=groups[2:])
        assert (isolation, locks) == ("read committed", {advisory(group_key(groups[2]))})
    finally:
        await db.close()


async def test_a_job_that_declares_no_group_runs_serializable_apart_from_the_declared_ones(
    pg_url: str,
) -> None:
    db = await PostgresDatabase.open(pg_url)
    try:
        group_id = os.urandom(16)
        batches = db.batches_committed
        # Submitted together, so the writer takes them in one batch.
        declared, undeclared, also_declared = await asyncio.gather(
            db.write(transaction_seen, groups=(group_id,)),
            db.write(transaction_seen),
            db.write(transaction_seen, groups=(group_id,)),
        )
        assert declared[0] == also_declared[0] == "read committed"
        assert declared[1] == also_declared[1]  # one transaction for the declared jobs
        assert undeclared[0] == "serializable"
        assert undeclared[1] != declared[1]
        assert undeclared[2] == set()  # and takes no group lock
        assert db.batches_committed == batches + 2
    finally:
        await db.close()


async def test_a_declared_job_waits_for_its_group_and_then_reads_the_other_writers_commit(
    node_and_client: tuple[PostgresDatabase, asyncpg.Connection],
) -> None:
    """Another writer holding a group's lock: a message for that group waits before its first
    statement, and its insert then reads the seq that writer stored."""
    db, other = node_and_client
    (group_id,) = await make_groups(db, 1, creator())
    transaction = other.transaction()
    await transaction.start()
    await other.execute("SELECT pg_advisory_xact_lock($1)", group_key(group_id))
    sending = asyncio.create_task(MessageStore(as_database(db)).store(message(group_id)))
    await waiting_for_a_lock(other)
    await other.execute(
        "INSERT INTO messages (group_id, seq, msg_id, sender_id, epoch, server_ts, "
        "envelope, kid, rtag) VALUES ($1, 1, $2, $3, 1, $4, $5, 1, $6)",
        group_id,
        os.urandom(16),
        b"s" * 16,
        NOW,
        b"theirs",
        b"r" * 32,
    )
    await transaction.commit()
    stored = await sending
    assert isinstance(stored, MessageRow)
    assert stored.seq == 2
    assert db.retries == 0


async def test_a_member_approved_while_a_commit_runs_is_not_marked_as_keyed_by_it(
    two_nodes: tuple[PostgresDatabase, PostgresDatabase],
) -> None:
    """An approval takes no group lock: one through the other node that lands after a commit
    checked its roster (here held up on the group's row) leaves the member active but not
    keyed, as if it came just after the commit, so that the next commit keys it."""
    first, second = two_nodes
    host = creator()
    (group_id,) = await make_groups(first, 1, host)
    groups = GroupStore(as_database(first), departed_key=bytes(32))
    token_hash = os.urandom(32)
    await groups.create_invite(
        token_hash=token_hash,
        group_id=group_id,
        facilitator_id=1,
        now=NOW,
        expires_at=NOW + 1,
        max_uses=1,
    )
    newcomer = NewMember(
        os.urandom(16), os.urandom(32), os.urandom(32), os.urandom(32), "newcomer", "newcomer"
    )
    joined = await groups.join(token_hash=token_hash, member=newcomer, now=NOW, max_members=100)
    assert joined.state == "pending"
    other = await asyncpg.connect(first.url)
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SELECT 1 FROM groups WHERE group_id = $1 FOR UPDATE", group_id)
        committing = asyncio.create_task(
            groups.accept_commit(
                group_id=group_id,
                epoch=2,
                prev_commit_hash=b"h" * 32,
                roster=frozenset({(host.member_id, host.sig_pk, host.kem_pk)}),
                committer_id=host.member_id,
                commit_blob=b"c",
                commit_hash=b"2" * 32,
                now=NOW,
            )
        )
        await waiting_for_a_lock(other)  # its roster read, its writes waiting for the row
        approved = await GroupStore(as_database(second), departed_key=bytes(32)).change_state(
            group_id, newcomer.member_id, allowed_from=("pending",), to="active"
        )
        assert approved is not None
        await transaction.commit()
        assert await committing == []
    finally:
        await other.close()
    row = await first.fetch_one(
        "SELECT state, first_epoch FROM members WHERE group_id = ? AND member_id = ?",
        (group_id, newcomer.member_id),
    )
    assert row is not None
    assert tuple(row) == ("active", None)
