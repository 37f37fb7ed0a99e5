"""PostgreSQL as the store of several nodes: two ``PostgresDatabase`` instances on one database
are two ``hearth serve`` nodes. What SQLite's single writer gives for free must hold between
them: unique seqs taken in the transaction, idempotent msg_ids, first commit per epoch wins."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import asyncpg
import pytest

from server.errors import HearthError
from server.storage.database import Database
from server.storage.groups import GroupSettings, GroupStore, NewMember
from server.storage.messages import MessageStore
from server.storage.migrations import SchemaTooNew
from server.storage.migrations import available_migrations as sqlite_migrations
from server.storage.postgres.connection import translate
from server.storage.postgres.database import PostgresDatabase, redacted
from server.storage.postgres.migrations import available_migrations as postgres_migrations
from server.storage.rows import MessageRow

NOW = 1_800_000_000_000


def test_every_sqlite_migration_has_a_postgresql_counterpart() -> None:
    """A new migration in server/storage/migrations/ needs its twin, with the same number and
    name, in server/storage/postgres/migrations/ (and no twin may exist without it)."""
    sqlite = [m.name for m in sqlite_migrations()]
    postgres = [m.name for m in postgres_migrations()]
    missing = sorted(set(sqlite) - set(postgres))
    assert not missing, (
        f"no PostgreSQL counterpart in server/storage/postgres/migrations/: {missing}"
    )
    assert postgres == sqlite


def test_placeholders_are_numbered_outside_string_literals() -> None:
    sql = "SELECT ? FROM t WHERE a = '?' AND b IN (?, ?) AND c = 'it''s ?'"
    assert translate(sql, (1, b"x", None)) == (
        "SELECT $1 FROM t WHERE a = '?' AND b IN ($2::bytea, $3) AND c = 'it''s ?'"
    )
    with pytest.raises(ValueError, match="3 placeholders but 2"):
        translate(sql, (1, 2))


def test_a_url_is_logged_without_its_password() -> None:
    assert redacted("postgresql://hearth:s3cret@db.example:5433/hearth") == (
        "postgresql://hearth:***@db.example:5433/hearth"
    )
    assert redacted("postgresql://db.example/hearth") == "postgresql://db.example/hearth"


@pytest.fixture
async def two_nodes(pg_url: str) -> AsyncIterator[tuple[Database, Database]]:
    first = await PostgresDatabase.open(pg_url)
    second = await PostgresDatabase.open(pg_url)
    try:
        yield first, second  # type: ignore[misc]
    finally:
        await first.close()
        await second.close()


def creator() -> NewMember:
    return NewMember(os.urandom(16), os.urandom(32), os.urandom(32), os.urandom(32), "host", "host")


async def make_group(db: Database, host: NewMember) -> bytes:
    await db.write(
        lambda c: c.execute(
            "INSERT INTO facilitators (username, password_hash, created_at) VALUES ('a', 'x', 0)"
        )
    )
    group_id = os.urandom(16)
    await GroupStore(db, departed_key=bytes(32)).create_group(
        group_id=group_id,
        settings=GroupSettings("G", "", 30, "approval", "always"),
        facilitator_id=1,
        creator=host,
        commit_blob=b"c",
        commit_hash=b"h" * 32,
        now=NOW,
    )
    return group_id


def message(group_id: bytes, epoch: int = 1, msg_id: bytes | None = None) -> MessageRow:
    return MessageRow(
        group_id, 0, msg_id or os.urandom(16), b"s" * 16, epoch, NOW, b"envelope", 1, b"r" * 32
    )


async def test_concurrent_inserts_from_two_nodes_get_unique_seqs(
    two_nodes: tuple[Database, Database],
) -> None:
    first, second = two_nodes
    group_id = await make_group(first, creator())
    sent = [message(group_id) for _ in range(200)]
    stores = (MessageStore(first), MessageStore(second))
    acks = await asyncio.gather(*(stores[n % 2].store(m) for n, m in enumerate(sent)))
    seqs = [ack.seq for ack in acks if ack is not None]
    assert sorted(seqs) == list(range(1, 201))  # every message stored once, no seq twice
    # every acknowledgement is what a reader on either node finds
    for ack in acks:
        assert ack is not None
        for store in stores:
            assert await store.by_msg_id(group_id, ack.msg_id) == ack


async def test_a_resend_through_the_other_node_returns_the_first_acknowledgement(
    two_nodes: tuple[Database, Database],
) -> None:
    first, second = two_nodes
    group_id = await make_group(first, creator())
    original = message(group_id)
    racing = await asyncio.gather(
        *(MessageStore(db).store(original) for db in (first, second, first, second))
    )
    assert len({ack.seq for ack in racing if ack is not None}) == 1
    row = await second.fetch_one(
        "SELECT COUNT(*) FROM messages WHERE group_id = ? AND msg_id = ?",
        (group_id, original.msg_id),
    )
    assert row is not None
    assert row[0] == 1


def commit_attempts(
    nodes: tuple[Database, Database], group_id: bytes, epoch: int, prev: bytes, host: NewMember
) -> list[Coroutine[Any, Any, list[bytes]]]:
    """Four commits of ``epoch`` through the two nodes in turn, the n-th hashed
    ``bytes([epoch, n]) * 16``."""
    return [
        GroupStore(db, departed_key=bytes(32)).accept_commit(
            group_id=group_id,
            epoch=epoch,
            prev_commit_hash=prev,
            roster=frozenset({(host.member_id, host.sig_pk, host.kem_pk)}),
            committer_id=host.member_id,
            commit_blob=bytes([n]),
            commit_hash=bytes([epoch, n]) * 16,
            now=NOW,
        )
        for n, db in enumerate((*nodes, *nodes))
    ]


def the_one_that_landed(outcome: list[Any]) -> int:
    """Which of the attempts landed: exactly one; every other was refused as epoch_conflict."""
    winners = [n for n, result in enumerate(outcome) if not isinstance(result, Exception)]
    assert len(winners) == 1, outcome
    for n, result in enumerate(outcome):
        if n != winners[0]:
            assert isinstance(result, HearthError), result
            assert result.code.value == "epoch_conflict"
    return winners[0]


async def test_first_commit_per_epoch_wins_between_two_nodes(
    two_nodes: tuple[Database, Database],
) -> None:
    first, second = two_nodes
    host = creator()
    group_id = await make_group(first, host)
    prev = b"h" * 32
    for epoch in range(2, 12):
        attempts = commit_attempts(two_nodes, group_id, epoch, prev, host)
        winner = the_one_that_landed(await asyncio.gather(*attempts, return_exceptions=True))
        prev = bytes([epoch, winner]) * 16
        stored = await second.fetch_all(
            "SELECT commit_hash FROM epochs WHERE group_id = ? AND epoch = ?", (group_id, epoch)
        )
        assert [bytes(r[0]) for r in stored] == [prev]


async def test_a_message_for_an_epoch_another_node_has_ended_is_refused(
    two_nodes: tuple[Database, Database],
) -> None:
    first, second = two_nodes
    host = creator()
    group_id = await make_group(first, host)
    await GroupStore(second, departed_key=bytes(32)).accept_commit(
        group_id=group_id,
        epoch=2,
        prev_commit_hash=b"h" * 32,
        roster=frozenset({(host.member_id, host.sig_pk, host.kem_pk)}),
        committer_id=host.member_id,
        commit_blob=b"2",
        commit_hash=b"2" * 32,
        now=NOW,
    )
    assert await MessageStore(first).store(message(group_id, epoch=1)) is None
    stored = await MessageStore(first).store(message(group_id, epoch=2))
    assert stored is not None
    assert stored.seq == 1


async def test_nodes_starting_together_migrate_once(pg_url: str) -> None:
    opened = await asyncio.gather(*(PostgresDatabase.open(pg_url) for _ in range(3)))
    try:
        versions = {await db.schema_version() for db in opened}
        assert versions == {len(postgres_migrations())}
    finally:
        for db in opened:
            await db.close()


async def test_a_newer_schema_is_refused_untouched(pg_url: str) -> None:
    db = await PostgresDatabase.open(pg_url)
    await db.close()
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("UPDATE hearth_schema SET version = 999")
        with pytest.raises(SchemaTooNew, match="999"):
            await PostgresDatabase.open(pg_url)
        assert await conn.fetchval("SELECT version FROM hearth_schema") == 999
    finally:
        await conn.close()


async def test_an_unreachable_database_is_named_without_its_password() -> None:
    port = 9  # discard: nothing listens there on loopback
    with pytest.raises(ConnectionError) as refused:
        await PostgresDatabase.open(f"postgresql://hearth:s3cret@127.0.0.1:{port}/hearth")
    assert "s3cret" not in str(refused.value)
    assert "127.0.0.1" in str(refused.value)


def test_postgres_database_has_the_interface_the_server_uses() -> None:
    """The stores and the server are typed with Database: what they call must be on both. (The
    SQLite-only parts, space, WAL and checkpoints, are used only where the store is SQLite.)"""
    shared = (
        "write",
        "write_inline",
        "fetch_all",
        "fetch_one",
        "close",
        "closing",
        "write_queue_depth",
        "commit_seconds",
        "batches_committed",
        "integrity_check",
        "safeguards",
        "open",
    )
    for name in shared:
        assert hasattr(Database, name) or name in Database.__init__.__code__.co_names, name
        assert hasattr(PostgresDatabase, name) or name in (
            PostgresDatabase.__init__.__code__.co_names
        ), name
    # A store declares a write job's groups the same way on both (SQLite ignores them).
    for cls in (Database, PostgresDatabase):
        for method in (cls.write, cls.write_inline):
            groups = inspect.signature(method).parameters["groups"]
            assert (groups.kind, groups.default) == (inspect.Parameter.KEYWORD_ONLY, None)


async def test_writes_are_refused_while_postgresql_is_down_and_resume_after() -> None:
    """A cluster of its own: stopped under a node, a write is refused with `unavailable` (the
    client keeps its message and resends), and the node writes again once it is back."""
    from tests.pg_cluster import remove_cluster, start_cluster, unavailable

    try:
        cluster = start_cluster()
    except (OSError, RuntimeError, KeyError) as error:
        unavailable(f"cannot start a PostgreSQL cluster: {error}")
        return
    try:
        db = await PostgresDatabase.open(cluster.new_database())
        try:
            group_id = await make_group(db, creator())  # type: ignore[arg-type]
            store = MessageStore(db)  # type: ignore[arg-type]
            assert await store.store(message(group_id)) is not None
            cluster.stop()
            with pytest.raises(HearthError) as refused:
                await store.store(message(group_id))
            assert refused.value.code.value == "unavailable"
            with pytest.raises(HearthError):
                await store.last_seq(group_id)
            assert not await db.writable()
            cluster.start()
            resent = message(group_id)
            for _ in range(50):  # the writer reconnects at its next batch
                try:
                    stored = await store.store(resent)
                    break
                except HearthError:
                    await asyncio.sleep(0.1)
            assert stored is not None
            assert stored.seq == 2
            assert await db.writable()
        finally:
            await db.close()
    finally:
        remove_cluster(cluster)


async def test_a_database_that_does_not_wait_for_its_wal_is_warned_about(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        name = pg_url.rsplit("/", 1)[1]
        await conn.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
    finally:
        await conn.close()
    db = await PostgresDatabase.open(pg_url)
    await db.close()
    assert "synchronous_commit is not on" in caplog.text
