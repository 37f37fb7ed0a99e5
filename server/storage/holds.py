"""SQL for newcomers' messages held for a group's facilitators (newcomer hold).

A held message is ciphertext as any other, kept apart from the group's log: it has no seq, so
history, catch-up and every member's delivery never see it. Released, it moves into the log with
the group's next seq and ``released_at``; declined, it loses its ciphertext and stays as a
notice for its sender until retention purges it.
"""

from __future__ import annotations

import sqlite3

import aiosqlite

from server.storage.database import Database
from server.storage.messages import _COLUMNS as MESSAGE_COLUMNS
from server.storage.messages import _NEXT_SEQ
from server.storage.rows import HeldMessage, MessageRow

_COLUMNS = "group_id, msg_id, sender_id, epoch, server_ts, envelope, kid, rtag, state"
_ONE = f"SELECT {_COLUMNS} FROM held_messages WHERE group_id = ? AND msg_id = ?"


def _held(row: sqlite3.Row | aiosqlite.Row) -> HeldMessage:
    return HeldMessage(*tuple(row))


async def _one(conn: aiosqlite.Connection, group_id: bytes, msg_id: bytes) -> HeldMessage | None:
    async with conn.execute(_ONE, (group_id, msg_id)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else _held(row)


async def _stored(conn: aiosqlite.Connection, group_id: bytes, msg_id: bytes) -> MessageRow | None:
    async with conn.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE group_id = ? AND msg_id = ?",
        (group_id, msg_id),
    ) as cursor:
        row = await cursor.fetchone()
    return None if row is None else MessageRow(*tuple(row))


class HoldStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def hold(self, message: MessageRow) -> HeldMessage | MessageRow | None:
        """Hold ``message`` (its seq is ignored). A resent msg_id returns what was kept the first
        time: the held (or declined) copy, or the group's stored message if it was released
        meanwhile. None if the group has moved to another epoch (checked in the transaction)."""

        async def job(conn: aiosqlite.Connection) -> HeldMessage | MessageRow | None:
            stored = await _stored(conn, message.group_id, message.msg_id)
            if stored is not None:
                return stored
            held = await _one(conn, message.group_id, message.msg_id)
            if held is not None:
                return held
            async with conn.execute(
                "SELECT current_epoch FROM groups WHERE group_id = ?", (message.group_id,)
            ) as cursor:
                row = await cursor.fetchone()
            if row is None or int(row[0]) != message.epoch:
                return None
            await conn.execute(
                f"INSERT INTO held_messages ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'held')",
                (
                    message.group_id,
                    message.msg_id,
                    message.sender_id,
                    message.epoch,
                    message.server_ts,
                    message.envelope,
                    message.kid,
                    message.rtag,
                ),
            )
            return await _one(conn, message.group_id, message.msg_id)

        # Declared: reads and writes only this group's rows (docs/storage.md, "The same
        # guarantees on several nodes"); keep it so when changing the SQL above.
        return await self._db.write(job, groups=(message.group_id,))

    async def get(self, group_id: bytes, msg_id: bytes) -> HeldMessage | None:
        row = await self._db.fetch_one(_ONE, (group_id, msg_id))
        return None if row is None else _held(row)

    async def waiting(self, group_id: bytes) -> list[HeldMessage]:
        """The group's messages waiting for a facilitator, oldest first."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM held_messages WHERE group_id = ? AND state = 'held' "
            "ORDER BY server_ts, msg_id",
            (group_id,),
        )
        return [_held(row) for row in rows]

    async def of_sender(self, group_id: bytes, sender_id: bytes) -> list[HeldMessage]:
        """One member's held and declined messages, oldest first."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM held_messages WHERE group_id = ? AND sender_id = ? "
            "ORDER BY server_ts, msg_id",
            (group_id, sender_id),
        )
        return [_held(row) for row in rows]

    async def release(self, group_id: bytes, msg_id: bytes, now: int) -> MessageRow | None:
        """Move a held message into the group's log with the next seq and ``released_at``, and
        count it for its sender; None if it is not waiting (decided already, or unknown)."""

        async def job(conn: aiosqlite.Connection) -> MessageRow | None:
            held = await _one(conn, group_id, msg_id)
            if held is None or held.state != "held":
                return None
            await conn.execute(
                "DELETE FROM held_messages WHERE group_id = ? AND msg_id = ?", (group_id, msg_id)
            )
            inserted = await conn.execute_fetchall(
                f"INSERT INTO messages ({MESSAGE_COLUMNS}) "
                f"SELECT ?, {_NEXT_SEQ}, ?, ?, ?, ?, ?, ?, ?, ? "
                "ON CONFLICT (group_id, msg_id) DO NOTHING RETURNING seq",
                (
                    group_id,
                    group_id,
                    group_id,
                    msg_id,
                    held.sender_id,
                    held.epoch,
                    held.server_ts,
                    held.envelope,
                    held.kid,
                    held.rtag,
                    now,
                ),
            )
            rows = list(inserted)
            if not rows:
                return None  # the msg_id is in the log already (resent once no longer held)
            await conn.execute(
                "UPDATE members SET hold_released = hold_released + 1 "
                "WHERE group_id = ? AND member_id = ?",
                (group_id, held.sender_id),
            )
            return MessageRow(
                group_id,
                int(rows[0][0]),
                msg_id,
                held.sender_id,
                held.epoch,
                held.server_ts,
                held.envelope,
                held.kid,
                held.rtag,
                now,
            )

        # Declared: reads and writes only this group's rows (docs/storage.md, "The same
        # guarantees on several nodes"); keep it so when changing the SQL above.
        return await self._db.write(job, groups=(group_id,))

    async def decline(self, group_id: bytes, msg_id: bytes) -> HeldMessage | None:
        """Drop a held message's ciphertext for good; None if it is not waiting."""

        async def job(conn: aiosqlite.Connection) -> HeldMessage | None:
            cursor = await conn.execute(
                "UPDATE held_messages SET state = 'declined', envelope = NULL "
                "WHERE group_id = ? AND msg_id = ? AND state = 'held'",
                (group_id, msg_id),
            )
            if cursor.rowcount != 1:
                return None
            return await _one(conn, group_id, msg_id)

        # Declared: reads and writes only this group's rows (docs/storage.md, "The same
        # guarantees on several nodes"); keep it so when changing the SQL above.
        return await self._db.write(job, groups=(group_id,))
