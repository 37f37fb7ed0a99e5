"""Per-group locks for the writer's transactions on PostgreSQL (docs/storage.md, "The same
guarantees on several nodes").

Before a statement of a write job runs, the transaction takes a transaction-scoped advisory lock
on every group the statement names (a ``group_id = ?`` comparison, or a ``group_id`` column of an
``INSERT``), so that two nodes' transactions on one group take turns instead of interleaving.

With those locks, the statements of ``ONE_GROUP`` run at ``READ COMMITTED``: each reads what it
depends on (the group's next seq, its current epoch and the commit it ended on, its live
members) after its lock was granted, so it sees every commit made before, and nothing of the
group can change under it until it commits. A job that runs any other statement is run at
``SERIALIZABLE`` instead (``NeedsSerializable``), as every job was before: SQL that nobody checked
against these locks never runs without PostgreSQL's own conflict detection.

Locks are taken in ascending key order, so that no two writers wait for each other in a cycle: a
key above every key the transaction holds is waited for; one below is only tried, and if another
transaction holds it the batch is rolled back and run again with every key it needs taken first,
in order (``OutOfOrder``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

# A statement that only reads or writes the rows of the groups it names, and whose reads are
# stable once those groups are locked, because every writer of the rows they read locks them
# too. Matched whole, after runs of white space are made one space. Where each comes from:
ONE_GROUP = tuple(
    re.compile(pattern)
    for pattern in (
        # MessageStore.store (and HoldStore.release, without the epoch): the next seq and the
        # current epoch, read by the insert itself
        r"INSERT INTO messages \([\w, ]+\) SELECT \?, COALESCE\(\(SELECT MAX\(seq\) FROM messages "
        r"WHERE group_id = \?\), \(SELECT seq_floor FROM groups WHERE group_id = \?\)\) \+ 1"
        r"(?:, \?)+(?: WHERE \(SELECT current_epoch FROM groups WHERE group_id = \?\) = \?)? "
        r"ON CONFLICT \(group_id, msg_id\) DO NOTHING RETURNING seq",
        # MessageStore.store (a resend), MessageStore.tombstone, HoldStore.hold
        r"SELECT [\w, ]+ FROM messages WHERE group_id = \? AND msg_id = \?",
        r"UPDATE messages SET header = substr\(envelope, 1, \?\), envelope = NULL "
        r"WHERE group_id = \? AND msg_id = \? AND envelope IS NOT NULL",
        # GroupStore.accept_commit: the epoch it extends, the roster, then its writes
        r"SELECT g\.current_epoch, e\.commit_hash FROM groups g JOIN epochs e ON e\.group_id = "
        r"g\.group_id AND e\.epoch = g\.current_epoch WHERE g\.group_id = \?",
        r"SELECT [\w, ]+ FROM members WHERE group_id = \? AND state IN \('pending', 'active'\)",
        r"INSERT INTO epochs \(group_id, epoch, commit_blob, commit_hash, committer_id, "
        r"created_at\) VALUES \(\?, \?, \?, \?, \?, \?\)",
        r"UPDATE groups SET current_epoch = \?, epoch_started_at = \? WHERE group_id = \?",
        r"UPDATE members SET first_epoch = \? WHERE group_id = \? AND state = 'active' "
        r"AND first_epoch IS NULL",
        # HoldStore.hold, .release and .decline: a newcomer's held message, its group's epoch,
        # the count of its sender's released ones
        r"SELECT [\w, ]+ FROM held_messages WHERE group_id = \? AND msg_id = \?",
        r"SELECT current_epoch FROM groups WHERE group_id = \?",
        r"INSERT INTO held_messages \([\w, ]+\) VALUES \((?:\?, )+'held'\)",
        r"DELETE FROM held_messages WHERE group_id = \? AND msg_id = \?",
        r"UPDATE held_messages SET state = 'declined', envelope = NULL "
        r"WHERE group_id = \? AND msg_id = \? AND state = 'held'",
        r"UPDATE members SET hold_released = hold_released \+ 1 "
        r"WHERE group_id = \? AND member_id = \?",
    )
)

# A single-quoted literal ('' is an escaped quote inside it), or a placeholder.
_TOKEN = re.compile(r"'(?:[^']|'')*'|\?")
_COMPARED = re.compile(r"(?:^|[^\w.])(?:\w+\.)?group_id\s*=\s*$")
_INSERT = re.compile(r"\s*INSERT INTO \w+\s*\(([^)]*)\)\s*(VALUES\s*\(|SELECT\s)", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


class NeedsSerializable(Exception):
    """A job ran a statement outside ``ONE_GROUP`` at READ COMMITTED: run it SERIALIZABLE."""


class OutOfOrder(Exception):
    """A group's lock, below one already held, is held by another transaction: run the batch
    again taking ``keys`` first, in order."""

    def __init__(self, keys: frozenset[int]) -> None:
        super().__init__(f"{len(keys)} group locks to take first")
        self.keys = keys


def group_key(group_id: bytes) -> int:
    """The advisory lock key of a group: 64 bits of a hash of its id (a collision only makes two
    groups take turns)."""
    digest = hashlib.blake2b(group_id, digest_size=8, person=b"hearth-group").digest()
    return int.from_bytes(digest, "big", signed=True)


@functools.lru_cache(maxsize=1024)
def group_parameters(sql: str) -> tuple[int, ...]:
    """The positions of the parameters that name a group in ``sql``."""
    found: list[int] = []
    start = 0
    number = 0
    for match in _TOKEN.finditer(sql):
        if match.group() != "?":
            continue
        if _COMPARED.search(sql[start : match.start()]):
            found.append(number)
        start = match.end()
        number += 1
    inserted = _INSERT.match(sql)
    if inserted is not None:
        columns = [column.strip().lower() for column in inserted.group(1).split(",")]
        before = sql[: inserted.end()].count("?")
        if inserted.group(2).upper().startswith("VALUES"):
            # VALUES (?, ?, 1, ?): the n-th value is the n-th column; only placeholders count.
            values = sql[inserted.end() :].split(")", 1)[0].split(",")
            placeholder = before
            for column, value in zip(columns, values, strict=False):
                if value.strip() == "?":
                    if column == "group_id":
                        found.append(placeholder)
                    placeholder += 1
        elif columns[0] == "group_id" and sql[inserted.end() :].lstrip().startswith("?"):
            found.append(before)  # INSERT … SELECT ?, …: the first value
    return tuple(sorted(set(found)))


@functools.lru_cache(maxsize=1024)
def one_group(sql: str) -> bool:
    """``sql`` is one of the statements that may run at READ COMMITTED under group locks."""
    flat = _SPACES.sub(" ", sql).strip()
    return any(pattern.fullmatch(flat) for pattern in ONE_GROUP)


def statement_keys(sql: str, params: Sequence[Any]) -> frozenset[int]:
    """The lock keys of the groups ``sql`` names with ``params``."""
    # A set first: the message insert names its group four times.
    named = {params[n] for n in group_parameters(sql) if isinstance(params[n], bytes)}
    return frozenset(group_key(group_id) for group_id in named)


class FirstStatement(Exception):
    """A job's first statement, stopped before it ran: the groups it names."""

    def __init__(self, keys: frozenset[int]) -> None:
        super().__init__(f"{len(keys)} group locks")
        self.keys = keys


async def stop_at_first_statement(sql: str, params: Sequence[Any]) -> None:
    """A guard for a connection that runs nothing: a job given it shows its first statement's
    groups (``FirstStatement``), so that a batch can lock its groups in order before it runs."""
    raise FirstStatement(statement_keys(sql, params))


class GroupLocks:
    """The group locks of one transaction of the writer."""

    def __init__(self, conn: asyncpg.Connection, *, read_committed: bool) -> None:
        self._conn = conn
        self.read_committed = read_committed
        self.held: set[int] = set()

    async def take_first(self, keys: Iterable[int]) -> None:
        """Wait for ``keys`` in ascending order (at the start of a transaction)."""
        ordered = sorted(set(keys) - self.held)
        if not ordered:
            return
        # One round trip: the sorted subquery (never flattened into the outer query) hands the
        # keys to the lock function in its order.
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(k) FROM "
            "(SELECT unnest($1::bigint[]) AS k ORDER BY 1) AS ordered",
            ordered,
        )
        self.held.update(ordered)

    async def before(self, sql: str, params: Sequence[Any]) -> None:
        """Take the locks ``sql`` needs before it runs (raises rather than wait out of order)."""
        if self.read_committed and not one_group(sql):
            raise NeedsSerializable(sql.split(" WHERE ")[0][:80])
        keys = statement_keys(sql, params)
        if self.read_committed and not keys:
            raise NeedsSerializable(sql.split(" WHERE ")[0][:80])
        for key in sorted(keys - self.held):
            if not self.held or key > max(self.held):
                await self._conn.execute("SELECT pg_advisory_xact_lock($1)", key)
            elif not await self._conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", key):
                raise OutOfOrder(frozenset(self.held | keys))
            self.held.add(key)
