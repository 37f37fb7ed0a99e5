"""Migration 5: memberships that ended before it stop naming their account; live ones keep it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from server.storage.database import Database
from server.storage.migrations import available_migrations, latest_version

DAY_MS = 86_400_000
INSERT_MEMBER = (
    "INSERT INTO members (group_id, member_id, account_pk, sig_pk, kem_pk, pseudonym, skeleton, "
    "state, facilitator_id, first_epoch, joined_at, muted_until) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, 1, ?, NULL)"
)


async def test_migration_5_unlinks_ended_memberships(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    group, account = b"g" * 16, b"a" * 32
    joined = 3 * DAY_MS + 12_345
    with sqlite3.connect(path, isolation_level=None) as conn:
        for migration in available_migrations()[:4]:
            conn.executescript(
                f"BEGIN;{migration.sql}PRAGMA user_version = {migration.version};COMMIT;"
            )
        conn.execute(
            "INSERT INTO accounts (account_pk, created_at) VALUES (?, ?)", (account, joined)
        )
        conn.execute(
            "INSERT INTO groups (group_id, name, rules, retention_days, join_policy, "
            "posting_policy, current_epoch, epoch_started_at, created_at) "
            "VALUES (?, 'g', 'r', 30, 'open', 'always', 1, 0, 0)",
            (group,),
        )
        for member_id, state in (
            (b"1" * 16, "left"),
            (b"2" * 16, "removed"),
            (b"3" * 16, "active"),
        ):
            conn.execute(
                INSERT_MEMBER,
                (
                    group,
                    member_id,
                    account,
                    b"s" * 32,
                    b"k" * 32,
                    f"N{state}",
                    state,
                    state,
                    joined,
                ),
            )
    db = await Database.open(path)
    await db.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (latest_version(),)
        rows = conn.execute(
            "SELECT state, account_pk, account_seal, joined_at, pseudonym FROM members "
            "ORDER BY member_id"
        ).fetchall()
        assert rows == [
            ("left", None, None, 3 * DAY_MS, "Nleft"),
            ("removed", None, None, 3 * DAY_MS, "Nremoved"),
            ("active", account, None, joined, "Nactive"),
        ]
        # the schema itself refuses a live row without an account and an ended row with one
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                INSERT_MEMBER,
                (group, b"4" * 16, None, b"s" * 32, b"k" * 32, "x", "x", "active", joined),
            )
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(
                INSERT_MEMBER,
                (group, b"5" * 16, account, b"s" * 32, b"k" * 32, "y", "y", "left", joined),
            )
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(members)")}
        assert {"members_live_account", "members_account"} <= indexes
