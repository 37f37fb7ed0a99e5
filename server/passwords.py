"""Facilitator password hashing with argon2id, bounded so logins cannot exhaust memory.

Each argon2-cffi default hash takes 64 MiB and tens of milliseconds of CPU, so hashing runs in a
worker thread (the event loop keeps relaying messages) and at most ``max_concurrent`` run at once.
Callers refuse over-long passwords before they get here (``check_password_length``).
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class PasswordPolicyError(ValueError):
    """A new or offered password is outside the configured length limits."""


def check_password_length(password: str, *, min_length: int, max_length: int) -> None:
    """Raise ``PasswordPolicyError`` with a message for people; never echoes the password."""
    if len(password) > max_length:
        raise PasswordPolicyError(f"the password is longer than {max_length} characters")
    if len(password) < min_length:
        raise PasswordPolicyError(f"the password must have at least {min_length} characters")


class PasswordChecker:
    """Hashes and verifies passwords off the event loop, ``max_concurrent`` at a time.

    ``hasher`` exists for tests (cheap parameters); production uses argon2-cffi's defaults
    (argon2id, t=3, m=64 MiB, p=4: RFC 9106's low-memory profile).
    """

    def __init__(self, max_concurrent: int, hasher: PasswordHasher | None = None) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self._hasher = hasher if hasher is not None else PasswordHasher()
        self._slots = asyncio.Semaphore(max_concurrent)
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> tuple[bool, str | None]:
        """(whether ``password`` matches, a new hash if the stored one's parameters are old)."""
        async with self._slots:
            return await asyncio.to_thread(self._verify_sync, password_hash, password)

    async def verify_unknown(self, password: str) -> None:
        """Spend the time a real verification takes, for a username that does not exist.

        Without it, "no such user" answers in microseconds and "wrong password" in tens of
        milliseconds, which tells anyone which facilitator usernames exist.
        """
        async with self._slots:
            await asyncio.to_thread(self._verify_unknown_sync, password)

    def _verify_unknown_sync(self, password: str) -> None:
        # Hashed with this checker's own parameters so that it costs what a stored hash costs;
        # made once, in the worker thread, so the event loop never pays for it.
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))
        self._verify_sync(self._dummy_hash, password)

    def _verify_sync(self, password_hash: str, password: str) -> tuple[bool, str | None]:
        try:
            self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            # VerifyMismatchError is a VerificationError; a corrupt stored hash fails closed.
            return False, None
        if self._hasher.check_needs_rehash(password_hash):
            return True, self._hasher.hash(password)
        return True, None
