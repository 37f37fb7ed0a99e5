"""SQL for the ciphertext log of each group."""

from __future__ import annotations

import sqlite3

import aiosqlite

from crypto.suite import HEADER_LEN
from server.storage.database import Database
from server.storage.rows import MessageRow, ReportableMessage

_INSERTED = "group_id, seq, msg_id, sender_id, epoch, server_ts, envelope, kid, rtag"
_COLUMNS = f"{_INSERTED}, released_at"
# The group's highest seq, stored or deleted by retention (two ? for the group id). COALESCE
# reads seq_floor only when the group has no messages left.
_LAST_SEQ = (
    "COALESCE((SELECT MAX(seq) FROM messages WHERE group_id = ?), "
    "(SELECT seq_floor FROM groups WHERE group_id = ?))"
)
_NEXT_SEQ = f"{_LAST_SEQ} + 1"
_BY_MSG_ID = f"SELECT {_COLUMNS} FROM messages WHERE group_id = ? AND msg_id = ?"
# The next seq is taken inside the transaction (the primary key makes it one index probe), so
# it is unique even when several processes write to the same file; the epoch is checked there
# too, so a commit accepted by any process is seen; a resent msg_id inserts nothing, and
# neither does a msg_id once held for the facilitators (holds.py: it stays held or declined).
_INSERT = (
    f"INSERT INTO messages ({_INSERTED}) SELECT ?, {_NEXT_SEQ}, ?, ?, ?, ?, ?, ?, ? "
    "WHERE (SELECT current_epoch FROM groups WHERE group_id = ?) = ? "
    "AND NOT EXISTS (SELECT 1 FROM held_messages WHERE group_id = ? AND msg_id = ?) "
    "ON CONFLICT (group_id, msg_id) DO NOTHING RETURNING seq"
)
_HELD = "SELECT 1 FROM held_messages WHERE group_id = ? AND msg_id = ?"


class HeldEarlier:
    """What `MessageStore.store` returns for a msg_id held for the facilitators before."""


HELD_EARLIER = HeldEarlier()


def _message(row: sqlite3.Row) -> MessageRow:
    return MessageRow(*tuple(row))


class MessageStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def store(self, message: MessageRow) -> MessageRow | HeldEarlier | None:
        """Store ``message`` with the group's next seq (``message.seq`` is ignored) once the batch
        commits; a resent ``msg_id`` returns the first copy. None if the group has moved to
        another epoch meanwhile: checked in the transaction, so a commit accepted by any process
        is seen. `HELD_EARLIER` if the msg_id was held for the facilitators and not released:
        checked in the same statement, so the message path reads nothing else for it.

        The first copy wins, so a client that resends after a lost acknowledgement gets the
        sequence number, time and tag it would have been given the first time.
        """

        async def job(conn: aiosqlite.Connection) -> MessageRow | HeldEarlier | None:
            # An inline job: this is the hot path (see server/storage/database.py).
            inserted = list(
                await conn.execute_fetchall(
                    _INSERT,
                    (
                        message.group_id,
                        message.group_id,
                        message.group_id,
                        message.msg_id,
                        message.sender_id,
                        message.epoch,
                        message.server_ts,
                        message.envelope,
                        message.kid,
                        message.rtag,
                        message.group_id,
                        message.epoch,
                        message.group_id,
                        message.msg_id,
                    ),
                )
            )
            if inserted:
                return message.with_seq(int(inserted[0][0]))
            key = (message.group_id, message.msg_id)
            rows = list(await conn.execute_fetchall(_BY_MSG_ID, key))
            if rows:
                return _message(rows[0])
            return HELD_EARLIER if list(await conn.execute_fetchall(_HELD, key)) else None

        # Declared: reads and writes only this group's rows (docs/storage.md, "The same
        # guarantees on several nodes"); keep it so when changing the SQL above.
        return await self._db.write_inline(job, groups=(message.group_id,))

    async def by_msg_id(self, group_id: bytes, msg_id: bytes) -> MessageRow | None:
        row = await self._db.fetch_one(
            _BY_MSG_ID,
            (group_id, msg_id),
        )
        return None if row is None else _message(row)

    async def last_sent_at(self, group_id: bytes, sender_id: bytes) -> int | None:
        """When the server accepted the sender's latest message still kept (deleted or not)."""
        row = await self._db.fetch_one(
            "SELECT server_ts FROM messages WHERE group_id = ? AND sender_id = ? "
            "ORDER BY seq DESC LIMIT 1",
            (group_id, sender_id),
        )
        return None if row is None else int(row[0])

    async def last_seq(self, group_id: bytes) -> int:
        row = await self._db.fetch_one(f"SELECT {_LAST_SEQ}", (group_id, group_id))
        return 0 if row is None or row[0] is None else int(row[0])

    async def count_in_epoch(self, group_id: bytes, epoch: int) -> int:
        row = await self._db.fetch_one(
            "SELECT COUNT(*) FROM messages WHERE group_id = ? AND epoch = ?", (group_id, epoch)
        )
        return 0 if row is None else int(row[0])

    async def page(
        self, group_id: bytes, *, before_seq: int | None, min_epoch: int, limit: int
    ) -> list[MessageRow]:
        """Newest first: up to ``limit`` messages before ``before_seq``, from ``min_epoch`` on."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM messages WHERE group_id = ? AND seq < ? AND epoch >= ? "
            "ORDER BY seq DESC LIMIT ?",
            (group_id, before_seq if before_seq is not None else 2**62, min_epoch, limit),
        )
        return [_message(row) for row in rows]

    async def reportable(self, group_id: bytes, msg_id: bytes) -> ReportableMessage | None:
        """What a report of the message is checked against, deleted or not; None once retention
        has purged it (or if it never was)."""
        row = await self._db.fetch_one(
            "SELECT seq, sender_id, server_ts, COALESCE(header, substr(envelope, 1, ?)) "
            "FROM messages WHERE group_id = ? AND msg_id = ?",
            (HEADER_LEN, group_id, msg_id),
        )
        if row is None or row[3] is None:
            return None
        return ReportableMessage(
            seq=int(row[0]), sender_id=bytes(row[1]), server_ts=int(row[2]), header=bytes(row[3])
        )

    async def after(self, group_id: bytes, after_seq: int, *, limit: int) -> list[MessageRow]:
        """Oldest first: up to ``limit`` messages above ``after_seq`` (a catch-up after an outage
        of the link between processes, server/realtime/catchup.py)."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM messages WHERE group_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (group_id, after_seq, limit),
        )
        return [_message(row) for row in rows]

    async def tombstone(self, group_id: bytes, msg_id: bytes) -> MessageRow | None:
        """Delete a message's ciphertext, keeping its place and its header (so it can still be
        reported until retention purges the row); None if unknown or deleted already."""

        async def job(conn: aiosqlite.Connection) -> MessageRow | None:
            cursor = await conn.execute(
                "UPDATE messages SET header = substr(envelope, 1, ?), envelope = NULL "
                "WHERE group_id = ? AND msg_id = ? AND envelope IS NOT NULL",
                (HEADER_LEN, group_id, msg_id),
            )
            if cursor.rowcount != 1:
                return None
            async with conn.execute(
                _BY_MSG_ID,
                (group_id, msg_id),
            ) as c:
                row = await c.fetchone()
            return None if row is None else _message(row)

        # Declared: reads and writes only this group's rows (docs/storage.md, "The same
        # guarantees on several nodes"); keep it so when changing the SQL above.
        return await self._db.write(job, groups=(group_id,))
