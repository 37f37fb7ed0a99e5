"""The message insert through each store, side by side: SQLite's group commit, PostgreSQL with
the same batching, and PostgreSQL with one transaction per write (``batch_max = 1``).

``python -m bench.store_commit [--url postgresql://...]``: without a URL a throwaway cluster is
started (Debian's postgresql, fsync on) in a temporary directory and removed afterwards. Each
row sends the same messages from concurrent senders into 100 groups and prints messages per
second and the latency of a store (submit to committed) at p50 and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from server.storage.database import Database
from server.storage.groups import GroupSettings, GroupStore, NewMember
from server.storage.messages import MessageStore
from server.storage.postgres.database import PostgresDatabase
from server.storage.rows import MessageRow

GROUPS = 100


async def _groups(db: Database) -> list[bytes]:
    await db.write(
        lambda c: c.execute(
            "INSERT INTO facilitators (username, password_hash, created_at) VALUES ('b', 'x', 0)"
        )
    )
    store = GroupStore(db, departed_key=bytes(32))
    ids = []
    for _ in range(GROUPS):
        group_id = os.urandom(16)
        member = NewMember(os.urandom(16), os.urandom(32), os.urandom(32), os.urandom(32), "h", "h")
        await store.create_group(
            group_id=group_id,
            settings=GroupSettings("G", "", 30, "approval", "always"),
            facilitator_id=1,
            creator=member,
            commit_blob=b"c",
            commit_hash=b"h" * 32,
            now=0,
        )
        ids.append(group_id)
    return ids


async def _run(db: Database, messages: int, senders: int) -> tuple[float, float, float]:
    groups = await _groups(db)
    store = MessageStore(db)
    envelope = os.urandom(400)
    latencies: list[float] = []

    async def sender(n: int) -> None:
        for i in range(n, messages, senders):
            row = MessageRow(
                groups[i % GROUPS], 0, os.urandom(16), b"s" * 16, 1, i, envelope, 1, b"r" * 32
            )
            started = time.perf_counter()
            await store.store(row)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(sender(n) for n in range(senders)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return (
        messages / elapsed,
        statistics.median(latencies) * 1000,
        latencies[int(len(latencies) * 0.99)] * 1000,
    )


async def main(url: str | None, messages: int, senders: int) -> None:
    cluster = None
    if url is None:
        from tests.pg_cluster import remove_cluster, start_cluster

        cluster = start_cluster(fsync=True)
    try:
        folder = Path(tempfile.mkdtemp(prefix="hearth-bench-"))

        async def sqlite() -> Database:
            return await Database.open(folder / "bench.sqlite3", inline_writes=True)

        def postgres(batch_max: int) -> Callable[[], Awaitable[Database]]:
            async def open_() -> Database:
                target = url or cluster.new_database()  # type: ignore[union-attr]
                db: object = await PostgresDatabase.open(target, batch_max=batch_max)
                return db  # type: ignore[return-value]

            return open_

        rows: list[tuple[str, Callable[[], Awaitable[Database]]]] = [
            ("SQLite, group commit", sqlite),
            ("PostgreSQL, group commit", postgres(512)),
            ("PostgreSQL, one transaction per write", postgres(1)),
        ]
        print(f"{messages} messages of 400 bytes, {senders} concurrent senders, {GROUPS} groups")
        print(f"{'store':<40} {'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
        for name, opener in rows:
            db = await opener()
            try:
                rate, p50, p99 = await _run(db, messages, senders)
            finally:
                await db.close()
            print(f"{name:<40} {rate:>8.0f} {p50:>8.2f} {p99:>8.2f}")
    finally:
        if cluster is not None:
            remove_cluster(cluster)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=None)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--senders", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.messages, args.senders))
