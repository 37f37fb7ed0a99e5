"""Per-group locks for the writer's transactions on PostgreSQL (docs/storage.md, "The same
guarantees on several nodes").

A write job that declares the groups it touches (``write(job, groups=...)``, done by the stores
only for the jobs checked to be safe under these locks) runs in a ``READ COMMITTED`` transaction
that first takes a transaction-scoped advisory lock on each of them, held until ``COMMIT``: two
nodes' transactions on one group take turns instead of interleaving, and every statement after
the locks reads what the group's last writer committed.

A batch's locks are taken at the start of its transaction, all in one statement, in ascending
order of their keys, and none later: two writers that both follow this order never wait for
each other in a cycle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import asyncpg


def group_key(group_id: bytes) -> int:
    """The advisory lock key of a group: 64 bits of a hash of its id (a collision only makes two
    groups take turns)."""
    digest = hashlib.blake2b(group_id, digest_size=8, person=b"hearth-group").digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_groups(conn: asyncpg.Connection, groups: Iterable[bytes]) -> None:
    """Wait for the locks of ``groups`` in ascending order of their keys (at the start of a
    transaction), in one round trip."""
    keys = sorted({group_key(group_id) for group_id in groups})
    if not keys:
        return
    # The sorted subquery (never flattened into the outer query) hands the keys to the lock
    # function in its order.
    await conn.execute(
        "SELECT pg_advisory_xact_lock(k) FROM "
        "(SELECT unnest($1::bigint[]) AS k ORDER BY 1) AS ordered",
        keys,
    )
