"""What is left of a membership once it has ended: no plain link to the account.

A leaked database (or backup) must not show that one account was in several groups. So when a
membership ends (left, removed, refused, banned) its row keeps only what the group still needs:
the ``member_id`` (never given out again in that group), the keys and pseudonym that old
messages are attributed to. ``account_pk`` becomes NULL in the same transaction.

One need remains: a report about a message the departed member wrote may end in a ban, which
must land on that member's account. While such a message is still stored, the account key is
kept *sealed* (AES-256-GCM under a key derived from the server's secret key file, which is
neither in the database nor in its backups; the group and member ids are the associated data,
so a seal cannot be moved to another row). The purge drops the seal together with the member's
last message; refused members, and members who never wrote anything, get no seal at all.
"""

from __future__ import annotations

import os

import aiosqlite
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

DAY_MS = 86_400_000
_LABEL = b"hearth-v1 departed member account"
_NONCE_LEN = 12


def _associated(group_id: bytes, member_id: bytes) -> bytes:
    return _LABEL + group_id + member_id


def seal_account(key: bytes, group_id: bytes, member_id: bytes, account_pk: bytes) -> bytes:
    nonce = os.urandom(_NONCE_LEN)
    return nonce + AESGCM(key).encrypt(nonce, account_pk, _associated(group_id, member_id))


def open_account(key: bytes, group_id: bytes, member_id: bytes, sealed: bytes) -> bytes | None:
    """The sealed account key, or None if the seal is not this row's or the key has changed."""
    try:
        return AESGCM(key).decrypt(
            sealed[:_NONCE_LEN], sealed[_NONCE_LEN:], _associated(group_id, member_id)
        )
    except (InvalidTag, ValueError):
        return None


async def unlink_departed(
    conn: aiosqlite.Connection,
    group_id: bytes,
    member_id: bytes,
    account_pk: bytes,
    *,
    seal_key: bytes | None,
) -> None:
    """Drop the ended membership's link to its account (sealed if a message may be reported).

    ``seal_key=None`` keeps no seal (a ban: the account is banned already). The join time is
    coarsened to the day, so that it cannot be matched against the account's creation time.
    """
    seal = None
    if seal_key is not None:
        async with conn.execute(
            "SELECT 1 FROM messages WHERE group_id = ? AND sender_id = ? LIMIT 1",
            (group_id, member_id),
        ) as cursor:
            if await cursor.fetchone() is not None:
                seal = seal_account(seal_key, group_id, member_id, account_pk)
    await conn.execute(
        "UPDATE members SET account_pk = NULL, account_seal = ?, "
        "joined_at = joined_at - joined_at % ? WHERE group_id = ? AND member_id = ?",
        (seal, DAY_MS, group_id, member_id),
    )


async def drop_spent_seals(conn: aiosqlite.Connection) -> int:
    """After retention deleted messages: forget the accounts of departed members with none left."""
    cursor = await conn.execute(
        "UPDATE members SET account_seal = NULL WHERE account_seal IS NOT NULL AND NOT EXISTS ("
        "SELECT 1 FROM messages m WHERE m.group_id = members.group_id "
        "AND m.sender_id = members.member_id)"
    )
    return cursor.rowcount
