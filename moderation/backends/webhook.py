"""Sends each report (and each resolution) to the organisation's URL as signed JSON.

Events go into a durable outbox table in the same transaction that records the report, so
nothing is lost while the receiver is down or across a restart. One background task delivers
them in order (FIFO: a resolution never arrives before its report) and retries with exponential
backoff and jitter. Delivery is at least once; ``X-Hearth-Delivery`` lets a receiver that
dedupes see each event exactly once. Reports are also kept locally (as the sqlite backend does),
so facilitators can see and resolve them in Hearth.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import sqlite3
import time
from typing import Any

import aiohttp
import aiosqlite

from moderation.backends import records
from moderation.backends.sqlite import SqliteQueue
from moderation.queue import BackendContext
from moderation.reports import Report
from moderation.settings import hex_key, number, private_http_url

log = logging.getLogger("hearth.moderation.webhook")

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS moderation_webhook_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id     TEXT    NOT NULL UNIQUE,
    body            BLOB    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);
"""


def sign(key: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=`` + hex HMAC-SHA256(key, timestamp ‖ "." ‖ body); the timestamp is signed so
    a captured request cannot be replayed later under a fresh timestamp."""
    mac = hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _body(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode("utf-8")


class WebhookQueue(SqliteQueue):
    """Settings: ``url`` (required; https://, or http:// to a loopback address), ``secret``
    (hex; default: the key the server derives), ``timeout_seconds`` (10),
    ``backoff_base_seconds`` (1), ``backoff_max_seconds`` (300),
    ``jitter`` (0.2: each delay is shortened by a random fraction up to this)."""

    known_settings = (
        "url",
        "secret",
        "timeout_seconds",
        "backoff_base_seconds",
        "backoff_max_seconds",
        "jitter",
    )

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        settings = context.settings
        self.url = private_http_url(settings, "url", table="moderation.plugins.webhook")
        self._key = hex_key(settings, "secret") or context.secret
        self.timeout = number(settings, "timeout_seconds", 10, minimum=0.001)
        self.backoff_base = number(settings, "backoff_base_seconds", 1, minimum=0.001)
        self.backoff_max = number(settings, "backoff_max_seconds", 300, minimum=0.001)
        self.jitter = min(number(settings, "jitter", 0.2, minimum=0), 1.0)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def schema(self) -> str:
        return records.SCHEMA + OUTBOX_SCHEMA

    async def start(self) -> None:
        await super().start()
        if self._task is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": "Hearth-Moderation/1"},
            )
            self._task = asyncio.create_task(self._deliver_forever(), name="hearth-webhook")

    async def close(self) -> None:
        # An event cut off mid-request stays in the outbox and is sent again after restart;
        # the receiver's dedupe on X-Hearth-Delivery absorbs the repeat.
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        await super().close()

    async def pending(self) -> int:
        """Events not yet accepted by the receiver."""
        async with (
            self._lock,
            self._connection().execute("SELECT COUNT(*) FROM moderation_webhook_outbox") as cursor,
        ):
            row = await cursor.fetchone()
        return 0 if row is None else int(row[0])

    async def on_submitted(self, conn: aiosqlite.Connection, report: Report) -> None:
        event = {"type": "report.created", "delivery_id": report.report_id}
        await self._enqueue(conn, report.report_id, {**event, "report": report.to_json()})

    async def on_resolved(self, conn: aiosqlite.Connection, report: Report) -> None:
        # The receiver already has the content: the resolution carries no message text.
        delivery_id = report.report_id + ".resolved"
        assert report.decision is not None
        event = {
            "type": "report.resolved",
            "delivery_id": delivery_id,
            "report_id": report.report_id,
            "resolved_at": report.resolved_at,
            "decision": report.decision.to_json(),
        }
        await self._enqueue(conn, delivery_id, event)

    async def _enqueue(
        self, conn: aiosqlite.Connection, delivery_id: str, event: dict[str, Any]
    ) -> None:
        now = self.context.clock()
        await conn.execute(
            "INSERT OR IGNORE INTO moderation_webhook_outbox"
            " (delivery_id, body, next_attempt_at, created_at) VALUES (?, ?, ?, ?)",
            (delivery_id, _body(event), now, now),
        )
        # Set now; the delivery task only looks after the commit, when it can take the lock.
        self._wake.set()

    def delay(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: base·2^(attempts-1), capped, minus jitter."""
        delay = min(self.backoff_max, self.backoff_base * 2 ** min(attempts - 1, 62))
        return float(delay * (1 - self.jitter * random.random()))

    async def _head(self) -> sqlite3.Row | None:
        async with (
            self._lock,
            self._connection().execute(
                "SELECT id, delivery_id, body, attempts, next_attempt_at"
                " FROM moderation_webhook_outbox ORDER BY id LIMIT 1"
            ) as cursor,
        ):
            row: sqlite3.Row | None = await cursor.fetchone()
            return row

    async def _deliver_forever(self) -> None:
        while True:
            self._wake.clear()
            row = await self._head()
            if row is None:
                await self._wake.wait()
                continue
            wait_ms = row["next_attempt_at"] - self.context.clock()
            if wait_ms > 0:
                await asyncio.sleep(wait_ms / 1000)
                continue
            if await self._post(row["delivery_id"], bytes(row["body"])):
                async with self.transaction() as conn:
                    await conn.execute(
                        "DELETE FROM moderation_webhook_outbox WHERE id = ?", (row["id"],)
                    )
            else:
                attempts = row["attempts"] + 1
                retry_at = self.context.clock() + int(self.delay(attempts) * 1000)
                async with self.transaction() as conn:
                    await conn.execute(
                        "UPDATE moderation_webhook_outbox SET attempts = ?, next_attempt_at = ?"
                        " WHERE id = ?",
                        (attempts, retry_at, row["id"]),
                    )

    async def _post(self, delivery_id: str, body: bytes) -> bool:
        assert self._session is not None
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Hearth-Timestamp": timestamp,
            "X-Hearth-Signature": sign(self._key, timestamp, body),
            "X-Hearth-Delivery": delivery_id,
        }
        try:
            async with self._session.post(self.url, data=body, headers=headers) as response:
                if 200 <= response.status < 300:
                    return True
                log.warning("webhook answered %d for %s; will retry", response.status, delivery_id)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("webhook unreachable for %s (%s); will retry", delivery_id, type(error))
        return False
