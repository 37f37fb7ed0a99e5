"""Disk space for the database: the reserve file, and episodes of a full disk.

A full disk must not stop the server for good. SQLite needs room to write its WAL, and a
checkpoint (which is what lets the WAL shrink again) writes the WAL's pages into the database
file, which may have to grow: on a disk filled to the last byte even the checkpoint fails, and
the server stays stuck across restarts. So:

* A *reserve file* (``<database>-reserve``, ``storage.reserve_mb`` of allocated blocks) is
  kept beside the database. When a write fails because the disk is full, the reserve is
  deleted at once: that gives the checkpoint (``TRUNCATE``) the room it needs, and the WAL's
  space comes back with it.
* From the first failure on, the disk is in a *full episode*: every write is refused at once
  with ``storage_full`` (a code clients act on: keep the message, send it again after
  ``retry_after_ms``), without touching SQLite. The episode is logged once, with what to do.
* The episode ends when the free space is back above ``storage.min_free_mb`` and the reserve
  could be allocated again; that is logged once too, with how many writes were refused.

Free space is ``statvfs``'s blocks available to the server's user, read at most every
``RECHECK_S`` seconds during an episode (a syscall of a few microseconds, but refusals come in
bursts).
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import time
from pathlib import Path

from server.errors import Code, HearthError

log = logging.getLogger("hearth.storage")

MIB = 1024 * 1024
RECHECK_S = 0.2
RETRY_AFTER_MS = 5000
_SQLITE_FULL = 13
_SQLITE_IOERR = 10


class StorageFull(HearthError):
    """A write refused because the disk holding the database is full."""

    def __init__(self) -> None:
        super().__init__(
            Code.STORAGE_FULL,
            "the server's storage is full; nothing was stored, send again later",
            retry_after_ms=RETRY_AFTER_MS,
        )


def _allocate(fd: int, size: int) -> None:
    """Blocks really allocated: a sparse file would free nothing when deleted."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as error:
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
            raise
        # A file system without fallocate: zeros, written and synced.
        block = b"\0" * MIB
        for offset in range(0, size, MIB):
            os.pwrite(fd, block[: min(MIB, size - offset)], offset)
        os.fsync(fd)


def is_disk_full(error: BaseException) -> bool:
    """SQLite's or the OS's own word that the disk is full."""
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorcode", 0) & 0xFF == _SQLITE_FULL
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


class DiskSpace:
    """The reserve file and the full-disk episodes of one database file."""

    def __init__(self, database: Path, *, reserve_bytes: int, min_free_bytes: int) -> None:
        self.database = database
        self.reserve = database.with_name(database.name + "-reserve")
        self.reserve_bytes = reserve_bytes
        self.min_free_bytes = min_free_bytes
        self.full = False
        self.refused = 0
        self._checked_at = 0.0
        self._episode_started = 0.0

    def free_bytes(self) -> int:
        stats = os.statvfs(self.database.parent)
        return stats.f_bavail * stats.f_frsize

    def low(self) -> bool:
        """Less free space than ``min_free_bytes`` (readiness reports it before writes fail)."""
        return self.free_bytes() < self.min_free_bytes

    def ensure_reserve(self) -> bool:
        """Allocate the reserve file if it is missing or short; False if there is no room."""
        if self.reserve_bytes == 0:
            return True
        try:
            if self.reserve.stat().st_size >= self.reserve_bytes:
                return True
        except FileNotFoundError:
            pass
        try:
            fd = os.open(self.reserve, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                _allocate(fd, self.reserve_bytes)
            finally:
                os.close(fd)
        except OSError as error:
            self.reserve.unlink(missing_ok=True)
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                return False
            raise
        return True

    def release_reserve(self) -> bool:
        """Delete the reserve file; True if there was one to delete."""
        try:
            self.reserve.unlink()
        except FileNotFoundError:
            return False
        return True

    def is_full_error(self, error: BaseException) -> bool:
        """SQLite says the disk is full (or fails to write while it is nearly full)."""
        if is_disk_full(error):
            return True
        # Growing the -shm or syncing on a full disk fails as an I/O error, not as FULL.
        code = getattr(error, "sqlite_errorcode", 0) & 0xFF
        return code == _SQLITE_IOERR and self.free_bytes() < self.min_free_bytes

    def start_episode(self) -> None:
        """The disk is full: release the reserve, and log once what happens and what to do."""
        free = self.free_bytes()
        released = self.release_reserve()
        if self.full:
            return
        self.full = True
        self.refused = 0
        self._episode_started = self._checked_at = time.monotonic()
        log.error(
            "storage full: the disk holding %s has no space left (%d MiB free). Writes are "
            "refused with storage_full until at least %d MiB are free%s; free space on that "
            "disk (old backups, logs) or grow it, and Hearth resumes by itself",
            self.database,
            free // MIB,
            self.min_free_bytes // MIB,
            "; the reserve file was released so that the WAL can be checkpointed"
            if released
            else "",
        )

    def writable(self) -> bool:
        """False during a full episode; ends the episode once there is room again."""
        if not self.full:
            return True
        now = time.monotonic()
        if now - self._checked_at < RECHECK_S:
            return False
        self._checked_at = now
        if self.free_bytes() < self.min_free_bytes + self.reserve_bytes or not (
            self.ensure_reserve()
        ):
            return False
        self.full = False
        log.warning(
            "storage: space is back (%d MiB free); writes are accepted again after %.0f s "
            "in which %d were refused",
            self.free_bytes() // MIB,
            now - self._episode_started,
            self.refused,
        )
        return True

    def refuse(self) -> StorageFull:
        self.refused += 1
        return StorageFull()
