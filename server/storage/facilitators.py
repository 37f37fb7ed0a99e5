"""Facilitator accounts and their login sessions: all the SQL for ``facilitators``/``sessions``.

A session is found by the SHA-256 of its cookie token; the token itself is never stored, so a
copy of the database does not let anyone log in. Disabling an account or resetting its password
deletes its sessions in the same transaction.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from dataclasses import dataclass, field

import aiosqlite

from server.storage.database import Database

USERNAME_MIN = 3
USERNAME_MAX = 32
_USERNAME = re.compile(r"[a-z0-9._-]+")

# The SHA-256 of the cookie tokens of sessions just ended (``FacilitatorStore.list`` shadows the
# builtin in the class body, hence a name).
TokenHashes = list[bytes]


class DuplicateUsername(ValueError):
    """A facilitator with this username already exists."""


class UnknownFacilitator(LookupError):
    """No facilitator has this username."""


@dataclass(frozen=True, slots=True)
class Facilitator:
    id: int
    username: str
    disabled: bool
    created_at: int


@dataclass(frozen=True, slots=True)
class FacilitatorLogin:
    """What a login needs: the account and its stored hash (kept out of ``repr``)."""

    facilitator: Facilitator
    password_hash: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SessionRow:
    token_hash: bytes = field(repr=False)
    facilitator_id: int
    username: str
    facilitator_disabled: bool
    created_at: int
    last_seen_at: int


def normalise_username(username: str) -> str:
    """NFKC, lower case, 3–32 of a-z 0-9 . _ -; raises ``ValueError`` saying what is wrong."""
    name = unicodedata.normalize("NFKC", username).strip().lower()
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX:
        raise ValueError(
            f"a username has {USERNAME_MIN} to {USERNAME_MAX} characters, this one has {len(name)}"
        )
    if not _USERNAME.fullmatch(name):
        raise ValueError(
            "a username may contain only letters a-z, digits 0-9, dots, dashes and underscores"
        )
    return name


def _facilitator(row: sqlite3.Row) -> Facilitator:
    return Facilitator(
        id=int(row["id"]),
        username=str(row["username"]),
        disabled=bool(row["disabled"]),
        created_at=int(row["created_at"]),
    )


async def _delete_sessions_of(conn: aiosqlite.Connection, facilitator_id: int) -> TokenHashes:
    async with conn.execute(
        "DELETE FROM sessions WHERE facilitator_id = ? RETURNING token_hash", (facilitator_id,)
    ) as cursor:
        return [bytes(row[0]) for row in await cursor.fetchall()]


class FacilitatorStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, username: str, password_hash: str, now_ms: int) -> Facilitator:
        name = normalise_username(username)

        async def job(conn: aiosqlite.Connection) -> int:
            async with conn.execute(
                "INSERT INTO facilitators (username, password_hash, disabled, created_at) "
                "VALUES (?, ?, 0, ?) ON CONFLICT (username) DO NOTHING RETURNING id",
                (name, password_hash, now_ms),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                raise DuplicateUsername(f"a facilitator named {name!r} already exists")
            return int(row[0])

        facilitator_id = await self._db.write(job)
        return Facilitator(facilitator_id, name, disabled=False, created_at=now_ms)

    async def get(self, facilitator_id: int) -> Facilitator | None:
        row = await self._db.fetch_one(
            "SELECT id, username, disabled, created_at FROM facilitators WHERE id = ?",
            (facilitator_id,),
        )
        return None if row is None else _facilitator(row)

    async def get_by_username(self, username: str) -> Facilitator | None:
        login = await self.get_login(username)
        return None if login is None else login.facilitator

    async def get_login(self, username: str) -> FacilitatorLogin | None:
        """The account and its password hash; ``None`` also for a name that cannot exist."""
        try:
            name = normalise_username(username)
        except ValueError:
            return None
        row = await self._db.fetch_one(
            "SELECT id, username, disabled, created_at, password_hash FROM facilitators "
            "WHERE username = ?",
            (name,),
        )
        if row is None:
            return None
        return FacilitatorLogin(_facilitator(row), str(row["password_hash"]))

    async def list(self) -> list[Facilitator]:
        rows = await self._db.fetch_all(
            "SELECT id, username, disabled, created_at FROM facilitators ORDER BY username"
        )
        return [_facilitator(row) for row in rows]

    async def set_disabled(self, username: str, disabled: bool) -> TokenHashes:
        """Returns the token hashes of the sessions this ended (disabling ends them all)."""
        name = normalise_username(username)

        async def job(conn: aiosqlite.Connection) -> TokenHashes:
            facilitator_id = await self._id_for_update(conn, name)
            await conn.execute(
                "UPDATE facilitators SET disabled = ? WHERE id = ?", (int(disabled), facilitator_id)
            )
            return await _delete_sessions_of(conn, facilitator_id) if disabled else []

        return await self._db.write(job)

    async def set_password_hash(self, username: str, password_hash: str) -> TokenHashes:
        """A password reset: replaces the hash and ends every session (returned as hashes)."""
        name = normalise_username(username)

        async def job(conn: aiosqlite.Connection) -> TokenHashes:
            facilitator_id = await self._id_for_update(conn, name)
            await conn.execute(
                "UPDATE facilitators SET password_hash = ? WHERE id = ?",
                (password_hash, facilitator_id),
            )
            return await _delete_sessions_of(conn, facilitator_id)

        return await self._db.write(job)

    async def replace_outdated_hash(
        self, facilitator_id: int, old_hash: str, new_hash: str
    ) -> bool:
        """Store a re-hash made at login with newer parameters; sessions are kept.

        Only if the hash is still the one verified: a password reset made meanwhile (by the CLI,
        in another process) must not be overwritten by the old password's new hash.
        """

        async def job(conn: aiosqlite.Connection) -> bool:
            cursor = await conn.execute(
                "UPDATE facilitators SET password_hash = ? WHERE id = ? AND password_hash = ?",
                (new_hash, facilitator_id, old_hash),
            )
            return cursor.rowcount == 1

        return await self._db.write(job)

    async def create_session(self, token_hash: bytes, facilitator_id: int, now_ms: int) -> None:
        async def job(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO sessions (token_hash, facilitator_id, created_at, last_seen_at) "
                "VALUES (?, ?, ?, ?)",
                (token_hash, facilitator_id, now_ms, now_ms),
            )

        await self._db.write(job)

    async def get_session(self, token_hash: bytes) -> SessionRow | None:
        """The session with its facilitator's name and state, in one indexed read."""
        row = await self._db.fetch_one(
            "SELECT s.facilitator_id, s.created_at, s.last_seen_at, f.username, f.disabled "
            "FROM sessions AS s JOIN facilitators AS f ON f.id = s.facilitator_id "
            "WHERE s.token_hash = ?",
            (token_hash,),
        )
        if row is None:
            return None
        return SessionRow(
            token_hash=token_hash,
            facilitator_id=int(row["facilitator_id"]),
            username=str(row["username"]),
            facilitator_disabled=bool(row["disabled"]),
            created_at=int(row["created_at"]),
            last_seen_at=int(row["last_seen_at"]),
        )

    async def touch_session(self, token_hash: bytes, now_ms: int) -> None:
        async def job(conn: aiosqlite.Connection) -> None:
            # max(): a late, slower request must not move last_seen_at back in time.
            await conn.execute(
                "UPDATE sessions SET last_seen_at = max(last_seen_at, ?) WHERE token_hash = ?",
                (now_ms, token_hash),
            )

        await self._db.write(job)

    async def delete_session(self, token_hash: bytes) -> bool:
        async def job(conn: aiosqlite.Connection) -> bool:
            cursor = await conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))
            return cursor.rowcount == 1

        return await self._db.write(job)

    async def delete_sessions_of(self, facilitator_id: int) -> TokenHashes:
        async def job(conn: aiosqlite.Connection) -> TokenHashes:
            return await _delete_sessions_of(conn, facilitator_id)

        return await self._db.write(job)

    async def delete_expired_sessions(self, now_ms: int, idle_ms: int, absolute_ms: int) -> int:
        async def job(conn: aiosqlite.Connection) -> int:
            cursor = await conn.execute(
                "DELETE FROM sessions WHERE last_seen_at <= ? OR created_at <= ?",
                (now_ms - idle_ms, now_ms - absolute_ms),
            )
            return cursor.rowcount

        return await self._db.write(job)

    @staticmethod
    async def _id_for_update(conn: aiosqlite.Connection, name: str) -> int:
        async with conn.execute("SELECT id FROM facilitators WHERE username = ?", (name,)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise UnknownFacilitator(f"no facilitator is named {name!r}")
        return int(row[0])
