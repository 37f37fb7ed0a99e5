"""What an operator may see of a running process: counters and gauges in the Prometheus text
exposition format 0.0.4, read by ``curl`` or Prometheus from the metrics port
(``server/metrics_http.py``, off by default).

The privacy rule: no metric carries a label that could tell one person, account, member,
pseudonym, group, address or message from another. The only labels are ``code`` (a refusal's
error code, a fixed enum: ``server.errors.Code``) and a histogram's ``le`` (its fixed bucket
bounds), so the set of series is the same for every deployment whatever its traffic
(tests/server/test_metrics.py scrapes after real traffic and looks for every identifier).

The hot path pays an integer increment on a plain attribute (no lock: everything runs on the
event loop's thread; no label lookup, no object per message); the writer observes one latency
per batch; everything else (connections, queue depths, the Redis link, the process) is read
when the endpoint is scraped.
"""

from __future__ import annotations

import math
import os
import resource
from bisect import bisect_left
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from server.errors import Code
from server.redislink import RedisLink

if TYPE_CHECKING:
    from server.realtime.hub import Hub
    from server.storage.database import Database

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds, for one batch transaction of the writer: a few ms with fsync on an SSD, more on a
# busy or networked disk; the top buckets show a disk that stalls.
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Histogram:
    """Counts of observations at or below each bound (and above the last), and their sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        if list(bounds) != sorted(set(bounds)):
            raise ValueError("histogram bounds must be strictly increasing")
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound (+Inf)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


class RelayStats:
    """The relay's counters, moved by the hub and the message handler."""

    __slots__ = ("messages_accepted", "refusals")

    def __init__(self) -> None:
        self.messages_accepted = 0  # new messages stored (resends of a stored one not counted)
        # Every code from the start: a counter that appears only at its first refusal hides
        # that first one from rate() (and the set of series stays fixed).
        self.refusals = dict.fromkeys(Code, 0)

    def refused(self, code: Code) -> None:
        self.refusals[code] += 1


class _Text:
    """Writes metric families: HELP and TYPE once each, then the family's samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {_escape_help(help_text)}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float, labels: Iterable[tuple[str, str]] = ()) -> None:
        pairs = ",".join(f'{key}="{_escape_label(text)}"' for key, text in labels)
        self.lines.append(
            f"{name}{{{pairs}}} {_number(value)}" if pairs else f"{name} {_number(value)}"
        )

    def one(self, name: str, kind: str, help_text: str, value: float) -> None:
        self.family(name, kind, help_text)
        self.sample(name, value)

    def histogram(self, name: str, help_text: str, histogram: Histogram) -> None:
        self.family(name, "histogram", help_text)
        cumulative = 0
        for bound, count in zip((*histogram.bounds, math.inf), histogram.counts, strict=True):
            cumulative += count
            self.sample(f"{name}_bucket", cumulative, (("le", _number(bound)),))
        self.sample(f"{name}_sum", histogram.sum)
        self.sample(f"{name}_count", cumulative)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(hub: Hub, db: Database) -> str:
    """The whole exposition of this process, read now."""
    out = _Text()
    stats = hub.stats
    out.one(
        "hearth_connections",
        "gauge",
        "Socket.IO connections authenticated on this process now.",
        len(hub.connections),
    )
    out.one(
        "hearth_messages_accepted_total",
        "counter",
        "Messages stored and acknowledged by this process (rate() gives messages per second).",
        stats.messages_accepted,
    )
    out.family(
        "hearth_refusals_total",
        "counter",
        "Socket.IO connections and events refused, by error code (docs/protocol.md).",
    )
    for code, count in stats.refusals.items():
        out.sample("hearth_refusals_total", count, (("code", code.value),))
    out.histogram(
        "hearth_db_commit_seconds",
        "Seconds of one batch transaction of the database writer, BEGIN to COMMIT (fsync) done.",
        db.commit_seconds,
    )
    out.one(
        "hearth_db_write_queue",
        "gauge",
        "Writes waiting for the database writer's next batch.",
        db.write_queue_depth,
    )
    out.one(
        "hearth_db_retries_total",
        "counter",
        "Batch transactions of the database writer run again because PostgreSQL refused them "
        "(a serialization failure or a deadlock with another node); always 0 on SQLite.",
        db.retries,
    )
    backlogs = [socket.queue.qsize() for socket in hub.sio.eio.sockets.values()]
    out.one(
        "hearth_outgoing_backlog",
        "gauge",
        "Packets queued for clients that have not been written to their sockets yet, in total.",
        sum(backlogs),
    )
    out.one(
        "hearth_outgoing_backlog_max",
        "gauge",
        "The largest one client's queue of unwritten packets ([limits] max_outgoing_backlog "
        "disconnects it).",
        max(backlogs, default=0),
    )
    link = getattr(hub.bus, "link", None)  # a RedisBus's (not imported: storage imports this)
    if isinstance(link, RedisLink):
        out.one(
            "hearth_redis_link_up",
            "gauge",
            "1 while this process is subscribed to Redis and hears its own heartbeat through it.",
            1 if link.alive else 0,
        )
    _process(out)
    return out.text()


def _process(out: _Text) -> None:
    times = os.times()
    out.one(
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time of the process, in seconds.",
        times.user + times.system,
    )
    statm = Path("/proc/self/statm")
    if statm.exists():  # Linux: the others lack a cheap reading of the current RSS
        pages = int(statm.read_text().split()[1])
        out.one(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory of the process, in bytes.",
            pages * resource.getpagesize(),
        )
        out.one(
            "process_open_fds",
            "gauge",
            "File descriptors open in the process.",
            len(os.listdir("/proc/self/fd")),
        )
    out.one(
        "process_max_fds",
        "gauge",
        "The process's limit on open file descriptors (soft RLIMIT_NOFILE).",
        resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    )


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(value)


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
