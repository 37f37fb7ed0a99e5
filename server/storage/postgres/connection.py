"""The subset of aiosqlite's connection API that the stores' write jobs use, on an asyncpg
connection, so that one job (and its SQL) serves SQLite and PostgreSQL alike.

SQL is written for SQLite with ``?`` placeholders; ``translate`` numbers them (``$1``, ``$2``…),
skipping string literals. A ``bytes`` parameter is cast to ``bytea`` where it stands, so that
PostgreSQL never guesses ``text`` for a blob in a position it cannot infer. Rows are asyncpg
``Record`` objects, which read by index and by column name like ``sqlite3.Row``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Generator, Iterable, Sequence
from types import TracebackType
from typing import Any

import asyncpg

# A single-quoted literal ('' is an escaped quote inside it), or a placeholder.
_TOKEN = re.compile(r"'(?:[^']|'')*'|\?")


@functools.lru_cache(maxsize=1024)
def _pieces(sql: str) -> tuple[str, ...]:
    """``sql`` cut at each placeholder (literals kept whole)."""
    pieces: list[str] = []
    start = 0
    for match in _TOKEN.finditer(sql):
        if match.group() == "?":
            pieces.append(sql[start : match.start()])
            start = match.end()
    pieces.append(sql[start:])
    return tuple(pieces)


def translate(sql: str, params: Sequence[Any]) -> str:
    """SQLite's ``?`` placeholders as PostgreSQL's ``$n`` (``$n::bytea`` for a bytes value)."""
    pieces = _pieces(sql)
    if len(pieces) - 1 != len(params):
        raise ValueError(f"{len(pieces) - 1} placeholders but {len(params)} parameters")
    out = [pieces[0]]
    for number, (value, piece) in enumerate(zip(params, pieces[1:], strict=True), start=1):
        out.append(f"${number}::bytea" if isinstance(value, bytes | bytearray) else f"${number}")
        out.append(piece)
    return "".join(out)


def _rowcount(status: bytes | str | None) -> int:
    """Rows a statement touched, from its command tag (``UPDATE 3``, ``INSERT 0 1``)."""
    if not status:
        return -1
    text = status.decode() if isinstance(status, bytes) else status
    last = text.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


class Cursor:
    """What ``execute`` gives back: every row already fetched, and the count of rows touched."""

    def __init__(self, rows: list[asyncpg.Record], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    async def fetchone(self) -> asyncpg.Record | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchall(self) -> list[asyncpg.Record]:
        rows, self._next = self._rows[self._next :], len(self._rows)
        return rows

    async def close(self) -> None:
        return None


class _Execution:
    """Awaitable, and usable as ``async with`` (as aiosqlite's ``execute`` is)."""

    def __init__(self, run: Awaitable[Cursor]) -> None:
        self._run = run

    def __await__(self) -> Generator[Any, None, Cursor]:
        return self._run.__await__()

    async def __aenter__(self) -> Cursor:
        return await self._run

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


class Connection:
    """An asyncpg connection inside the writer's transaction, with aiosqlite's face."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.in_transaction = False

    async def _run(self, sql: str, params: Iterable[Any]) -> Cursor:
        values = tuple(params)
        # The private _execute is what asyncpg's own execute uses to get the command tag; it
        # hands back the rows as well, so one round trip serves both.
        rows, status, _ = await self._conn._execute(
            translate(sql, values), values, 0, None, return_status=True
        )
        return Cursor(list(rows), _rowcount(status))

    def execute(self, sql: str, params: Iterable[Any] = ()) -> _Execution:
        return _Execution(self._run(sql, params))

    async def execute_fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[asyncpg.Record]:
        return (await self._run(sql, params))._rows

    async def executemany(self, sql: str, params: Iterable[Iterable[Any]]) -> None:
        for values in params:
            await self._run(sql, values)
