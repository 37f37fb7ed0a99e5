"""The database file's check before the server opens it: refuse what would fail later.

``hearth serve`` runs this before it starts anything that could keep the process alive (an
aiosqlite connection is a non-daemon thread), so a refusal is one line and a non-zero exit
within seconds, and systemd's ``Restart=`` sees it. Everything here is synchronous, on a plain
``sqlite3`` connection closed before returning.

What it refuses, beside a schema newer than the code (``SchemaTooNew``):

* an empty (0-byte) file that is not new: SQLite would silently start on an empty database,
  and the server would run with no groups, no facilitators and no history. A 0-byte file is
  new only while nothing shows that a database lived there: no ``-wal``, ``-shm``,
  ``-journal`` or Hearth's ``-reserve`` file beside it (a truncated restore or a disk that
  filled while the file was rewritten leaves those behind);
* a file that is not a SQLite database (its header is wrong or it is shorter than one);
* a database whose pages are damaged: ``PRAGMA quick_check`` (every page and b-tree checked,
  without the index-content cross-checks of ``integrity_check``: it reads the file once).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from server.storage.migrations import SchemaTooNew, latest_version

_MAGIC = b"SQLite format 3\x00"
_HEADER_BYTES = 100
COMPANIONS = ("-wal", "-shm", "-journal", "-reserve")
_RESTORE = "restore it from a backup (`hearth backup` makes them)"


class DatabaseRefused(Exception):
    """The database file cannot be served as it is; the message says why and what to do."""


def check_database_file(path: Path) -> int:
    """The file's schema version (0 for a new database); raises ``DatabaseRefused`` or
    ``SchemaTooNew`` with a message for the operator."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if not path.is_file():
        raise DatabaseRefused(f"{path} is not a regular file")
    if size == 0:
        left = [path.name + suffix for suffix in COMPANIONS if _sibling(path, suffix).exists()]
        if left:
            raise DatabaseRefused(
                f"{path} is empty (0 bytes) but {', '.join(left)} beside it show that a "
                f"database was there: {_RESTORE}, or remove all of them to start anew"
            )
        return 0
    with path.open("rb") as file:
        header = file.read(_HEADER_BYTES)
    if len(header) < _HEADER_BYTES or not header.startswith(_MAGIC):
        raise DatabaseRefused(
            f"{path} is not a SQLite database ({size} bytes, no SQLite header): {_RESTORE}"
        )
    try:
        # Read-write: a -wal left by a crash is then recovered into what the check reads.
        with closing(sqlite3.connect(f"file:{path}?mode=rw", uri=True)) as conn:
            conn.execute("PRAGMA busy_timeout = 10000")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check(3)")]
    except sqlite3.OperationalError:
        raise  # locked, unreadable: the command's own one-line report says which
    except sqlite3.DatabaseError as error:
        raise DatabaseRefused(f"{path} is damaged ({error}): {_RESTORE}") from None
    if problems != ["ok"]:
        raise DatabaseRefused(f"{path} is damaged ({problems[0]}): {_RESTORE}")
    if version > latest_version():
        raise SchemaTooNew(
            f"the database has schema version {version} but this Hearth knows only up to "
            f"{latest_version()}; upgrade Hearth or restore a matching backup"
        )
    return version


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)
