"""Hearth's configuration: one TOML file read into frozen, typed sections.

Every key has a default, so an empty file is a valid configuration; unknown keys and wrong types
are refused with a ``ConfigError`` naming the file, the key path and what was expected, because a
typo in a self-hosted deployment should stop the start, not be silently ignored. Each setting's
documentation lives next to its default (``metadata=_doc(...)``); ``render_example_config`` turns
it into ``config.example.toml`` and into the file ``hearth init`` writes, and a test keeps the
two identical.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import os
import re
import stat
import textwrap
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_T = TypeVar("_T")

SECRET_KEY_BYTES = 32
LogLevel = Literal["critical", "error", "warning", "info", "debug"]
Synchronous = Literal["FULL", "NORMAL"]
Allocator = Literal["jemalloc", "python"]


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, the key and the fix."""

    def __init__(self, file: Path, key: str | None, problem: str) -> None:
        where = f"{file}: {key}" if key else str(file)
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.key = key


class Secret:
    """Bytes that must never reach a log line: ``repr`` and ``str`` are masked."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)


def _doc(doc: str, **rules: Any) -> dict[str, Any]:
    """A field's documentation and validation rules (min, max, gt, min_length, check)."""
    return {"doc": doc, **rules}


def _check_origins(origins: tuple[str, ...]) -> str | None:
    # Browsers send Origin as lower-case scheme://host[:port] without a default port; anything
    # else here would never match and every browser would be refused at the handshake.
    if not origins:
        return "at least one origin such as 'https://chat.example.org'"
    for origin in origins:
        parts = urlsplit(origin)
        try:
            port = parts.port
        except ValueError:
            return f"origins as scheme://host[:port] with a valid port, got {origin!r}"
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or "@" in parts.netloc
            or origin.endswith(("?", "#"))
        ):
            return f"origins as http(s)://host[:port] with no path, got {origin!r}"
        if origin != origin.lower():
            return f"lower-case origins (browsers send them so), got {origin!r}"
        if (parts.scheme, port) in (("http", 80), ("https", 443)):
            return f"origins without their default port (browsers omit it), got {origin!r}"
    return None


def check_web_url(url: str) -> str | None:
    # The page renders this as a link: only web addresses, never javascript: or data: URLs.
    if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
        return f"an http(s):// address or an empty string, got {url!r}"
    return None


def _check_time_zone(name: str) -> str | None:
    # An IANA name zoneinfo knows: the page must find the same zone through Intl.
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"an IANA time zone name such as 'Europe/London' or 'UTC', got {name!r}"
    return None


LOCALE_KEY = re.compile(r"^[a-z]{2,3}(-([A-Za-z]{2}|[0-9]{3}))?$")


def _check_locale_keys(table: Mapping[str, Any]) -> str | None:
    """Keys of a per-locale table: a language ("es") or a language and country ("es-MX")."""
    for name in table:
        if not LOCALE_KEY.match(name):
            return f'language keys such as "es" or "es-MX" (not {name!r})'
    return None


def _check_locale_words(table: Mapping[str, tuple[str, ...]]) -> str | None:
    if any(not word.strip() for words in table.values() for word in words):
        return "non-empty words"
    return _check_locale_keys(table)


def _check_quick_exit_url(url: str) -> str | None:
    # Where "Leave quickly" goes: a path on this server or a web address, never javascript:.
    if url.startswith("/") and not url.startswith("//"):
        return None
    if not url:
        return "a path such as '/recipe.html' or an http(s):// address"
    return check_web_url(url)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = field(
        default="127.0.0.1",
        metadata=_doc("Address to listen on. Keep 127.0.0.1 behind a TLS proxy."),
    )
    port: int = field(default=8000, metadata=_doc("TCP port to listen on.", min=1, max=65535))
    public_origins: tuple[str, ...] = field(
        default=("http://127.0.0.1:8000", "http://localhost:8000"),
        metadata=_doc(
            "Origins (scheme://host[:port], no path) people's browsers use to reach Hearth. "
            "WebSocket handshakes and logins from any other origin are refused, and the log "
            "names the refused origin. `hearth serve --port P` moves the loopback origins that "
            "name `port` to P.",
            check=_check_origins,
        ),
    )
    https: bool = field(
        default=False,
        metadata=_doc(
            "true when people reach Hearth over https (behind a TLS proxy such as Caddy or nginx): "
            "cookies then get Secure and the __Host- prefix, and responses carry HSTS."
        ),
    )
    secret_key_file: Path = field(
        default=Path("secret.key"),
        metadata=_doc(
            "File holding the server's 32-byte secret key as 64 hex characters, mode 600. "
            "`hearth init` creates it. Relative paths are resolved against this file's directory."
        ),
    )
    log_level: LogLevel = field(
        default="info",
        metadata=_doc("One of critical, error, warning, info, debug. No level logs addresses."),
    )
    allocator: Allocator = field(
        default="jemalloc",
        metadata=_doc(
            "Memory allocator of `hearth serve`: jemalloc (Debian's libjemalloc2; where it is not "
            "installed, the log says so and Python's own is used) hands back what a wave of "
            "closed connections freed, ~90 % of it, for about the same CPU; python keeps "
            "CPython's own, which keeps ~85 % of it for the next wave. Setting PYTHONMALLOC or "
            "LD_PRELOAD in the environment overrides both (docs/deployment.md §7)."
        ),
    )
    max_message_bytes: int = field(
        default=65536, metadata=_doc("Largest WebSocket message accepted, in bytes.", min=1024)
    )
    max_commit_bytes: int = field(
        default=1048576,
        metadata=_doc(
            "Largest WebSocket message accepted for an epoch commit (epoch.commit, group.create), "
            "in bytes. A commit of the post-quantum hybrid suite takes 2.5 kB per member "
            "(docs/protocol.md §6.9): 1 MiB holds 283 members, which keeps groups of up to "
            "groups.max_members protected; a hybrid group cannot grow past what this holds.",
            min=1024,
        ),
    )
    organisation_name: str = field(
        default="Hearth", metadata=_doc("Name shown to members on the page.", min_length=1)
    )
    coalesce_ms: float = field(
        default=0.0,
        metadata=_doc(
            "A group's messages that are committed together go to each member as one msg.batch "
            "frame, so busy groups cost the server far less per message (see "
            "docs/benchmarks.md). Above 0, a batch also waits this many milliseconds after its "
            "first message for more: fewer frames, but every delivery waits up to the window.",
            min=0,
            max=50,
        ),
    )
    coalesce_max: int = field(
        default=64,
        metadata=_doc(
            "Most messages in one msg.batch frame; a full batch goes at once. 1 turns "
            "coalescing off: each message goes on its own as a msg event.",
            min=1,
        ),
    )
    shutdown_timeout_seconds: int = field(
        default=8,
        metadata=_doc(
            "On SIGTERM, the longest wait for messages being stored before the sockets close "
            "(each of the stop's three steps is bounded by it: keep systemd's TimeoutStopSec, 30 s "
            "in deploy/hearth.service, above three times this).",
            min=1,
        ),
    )
    trusted_proxies: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            'Addresses of reverse proxies (e.g. ["127.0.0.1"] behind nginx or Caddy on the same '
            "host) whose X-Forwarded-For is believed. The client address is used only in memory, "
            "to rate-limit logins per source; it is never stored or logged."
        ),
    )


@dataclass(frozen=True, slots=True)
class ConnectionsConfig:
    ping_interval_seconds: float = field(
        default=25.0,
        metadata=_doc(
            "Seconds between the server's Engine.IO pings. A connection that sends nothing (not "
            "even the answer to a ping) for ping_interval_seconds + ping_timeout_seconds is "
            "closed.",
            min=1,
        ),
    )
    ping_timeout_seconds: float = field(
        default=20.0,
        metadata=_doc("Seconds a client has to answer a ping before it is dropped.", gt=0),
    )
    handshake_timeout_seconds: float = field(
        default=10.0,
        metadata=_doc(
            "Seconds a new TCP connection has to send its whole HTTP request (the WebSocket "
            "upgrade); one that has not is cut, so silent or trickling peers cannot hold sockets.",
            gt=0,
        ),
    )
    close_timeout_seconds: float = field(
        default=5.0,
        metadata=_doc(
            "Seconds a closing connection gets to finish the WebSocket close handshake and take "
            "what is still buffered for it. Then its socket is aborted: a client that stopped "
            "reading cannot keep the file descriptor and the buffers.",
            gt=0,
        ),
    )


@dataclass(frozen=True, slots=True)
class StorageConfig:
    database: Path = field(
        default=Path("hearth.sqlite3"),
        metadata=_doc("The SQLite database file (relative to this file's directory)."),
    )
    url: str = field(
        default="",
        repr=False,  # may hold a password: never in a log line or a traceback's locals
        metadata=_doc(
            "Empty: the SQLite file above (one host). A PostgreSQL URL such as "
            "postgresql://hearth@db.example.org/hearth stores everything there instead, so that "
            "several `hearth serve` nodes can share it (docs/deployment.md); `hearth migrate-to "
            "URL` moves an existing SQLite database. Keep the password out of this file: "
            "~/.pgpass or PGPASSWORD are read. Moderation reports of the default backend are "
            "kept there too (backend `postgres`, docs/storage.md).",
            check=lambda url: (
                None
                if not url or url.startswith(("postgresql://", "postgres://"))
                else "a postgresql:// URL, or an empty string for SQLite"
            ),
        ),
    )
    synchronous: Synchronous = field(
        default="FULL",
        metadata=_doc(
            "FULL: a message is acknowledged only once it is on disk. NORMAL is faster but the "
            "last acknowledged messages may be lost on power failure (not on a crash)."
        ),
    )
    batch_max: int = field(
        default=512, metadata=_doc("Most writes committed together in one transaction.", min=1)
    )
    purge_interval_minutes: int = field(
        default=60,
        metadata=_doc("Minutes between purges of expired messages, invites and sessions.", min=1),
    )
    wal_max_mb: int = field(
        default=16,
        metadata=_doc(
            "Past this size (MiB) the write-ahead log is checkpointed with TRUNCATE, and it is "
            "cut back to it whenever it restarts (docs/storage.md: what bounds the WAL).",
            min=1,
        ),
    )
    max_read_ms: int = field(
        default=5000,
        metadata=_doc(
            "A read of the database running longer than this is stopped and answered "
            "unavailable: a read left running would keep the WAL from being checkpointed.",
            min=100,
        ),
    )
    reserve_mb: int = field(
        default=16,
        metadata=_doc(
            "Space (MiB) kept allocated in a file beside the database (<database>-reserve) and "
            "released when the disk fills, so that the WAL can still be checkpointed. 0: none.",
            min=0,
        ),
    )
    min_free_mb: int = field(
        default=64,
        metadata=_doc(
            "Free disk space (MiB) below which /readyz reports not ready; after the disk "
            "filled, writes resume once this much (plus the reserve) is free again.",
            min=1,
        ),
    )


@dataclass(frozen=True, slots=True)
class GroupsConfig:
    default_retention_days: int = field(
        default=30,
        metadata=_doc("Days a message is kept when a group does not set its own retention.", min=1),
    )
    max_members: int = field(default=200, metadata=_doc("Most members in one group.", min=2))
    epoch_max_messages: int = field(
        default=1000,
        metadata=_doc(
            "Messages after which a group's key is rotated, for a group of up to "
            "epoch_max_messages / epoch_messages_per_member members; a larger group's epoch "
            'carries epoch_messages_per_member per member (docs/protocol.md, "Epoch caps").',
            min=1,
        ),
    )
    epoch_messages_per_member: int = field(
        default=50,
        metadata=_doc(
            "Messages per active member an epoch may carry when that is more than "
            "epoch_max_messages (200 members: 10,000).",
            min=1,
        ),
    )
    epoch_min_minutes: int = field(
        default=60,
        metadata=_doc(
            "Minutes an epoch lasts at least before its message cap ends it (epoch_max_age_hours "
            "and membership changes end it at any age): at most one count rotation per group "
            "per this time. 0 lets the message cap end an epoch at once.",
            min=0,
        ),
    )
    epoch_max_age_hours: int = field(
        default=168, metadata=_doc("Hours after which a group's key is rotated.", min=1)
    )
    rotator_wait_seconds: int = field(
        default=15,
        metadata=_doc(
            "Seconds the one member asked to send a group's next commit has before another "
            "connected member is asked instead.",
            min=1,
        ),
    )
    invite_default_hours: int = field(
        default=168, metadata=_doc("Hours an invite link stays valid by default.", min=1)
    )
    invite_max_uses: int = field(default=50, metadata=_doc("Most uses of one invite link.", min=1))
    max_slow_mode_seconds: int = field(
        default=3600,
        metadata=_doc(
            "Longest slow mode a facilitator may set: seconds between one member's messages.",
            min=1,
            max=86_400,
        ),
    )
    time_zone: str = field(
        default="UTC",
        metadata=_doc(
            "The organisation's time zone (an IANA name such as 'Europe/London'): groups' "
            "weekly sessions are wall-clock times in it, also across changes to and from "
            "summer time.",
            check=_check_time_zone,
        ),
    )


@dataclass(frozen=True, slots=True)
class FacilitatorsConfig:
    session_idle_minutes: int = field(
        default=60,
        metadata=_doc("A facilitator's session ends after this many minutes without use.", min=1),
    )
    session_absolute_hours: int = field(
        default=12,
        metadata=_doc(
            "A facilitator's session ends this many hours after login, used or not.", min=1
        ),
    )
    max_concurrent_password_checks: int = field(
        default=2,
        metadata=_doc("Password hashes computed at once; each one takes 64 MiB of memory.", min=1),
    )
    login_attempts_per_minute: int = field(
        default=10,
        metadata=_doc(
            "Login attempts allowed per minute from one source (for one username, and across "
            "usernames).",
            min=1,
        ),
    )
    max_password_length: int = field(
        default=1024,
        metadata=_doc(
            "Longest password accepted, in characters (longer ones are refused unhashed).", min=1
        ),
    )
    min_password_length: int = field(
        default=12, metadata=_doc("Shortest password accepted, in characters.", min=1)
    )
    login_attempts_per_username_per_minute: int = field(
        default=60,
        metadata=_doc(
            "Login attempts allowed per minute for one username from all sources together, "
            "except from a source that has logged in as that username before (kept in memory "
            "only): bounds guessing spread over many addresses without letting them lock the "
            "real facilitator out.",
            min=1,
        ),
    )
    session_check_seconds: float = field(
        default=2.0,
        metadata=_doc(
            "How often each process re-checks the sessions of its open facilitator sockets: a "
            "disabling or password reset from the command line (without [scale] redis_url) and "
            "the timeouts take a socket's facilitator power away within this many seconds.",
            gt=0,
        ),
    )


@dataclass(frozen=True, slots=True)
class FrankingConfig:
    current_kid: int = field(
        default=1,
        metadata=_doc(
            "Number of the server franking key in use. Raise it to rotate the key; reports on "
            "messages franked with older keys stay verifiable.",
            min=1,
        ),
    )


@dataclass(frozen=True, slots=True)
class CrisisResource:
    name: str = field(metadata=_doc("Name of the service.", min_length=1))
    phone: str = field(default="", metadata=_doc("Phone number, as people should dial it."))
    url: str = field(default="", metadata=_doc("Web address (http or https).", check=check_web_url))
    hours: str = field(default="", metadata=_doc("When it is open, e.g. '24/7'."))


@dataclass(frozen=True, slots=True)
class SafetyConfig:
    crisis_resources: tuple[CrisisResource, ...] = field(
        default=(),
        metadata=_doc(
            "REQUIRED before members use Hearth: the crisis services that serve your members, "
            "each { name, phone, url, hours }. They are one click away on every screen of the "
            "member page and offered before a message with crisis language is sent. While this "
            "is empty, members see only 'call your local emergency number', `hearth serve` "
            "warns and the facilitator console shows a warning naming this key.",
            example_items=(
                '{ name = "Example Crisis Line", phone = "+1 555 0100", '
                'url = "https://crisis.example.org", hours = "24/7" },',
            ),
        ),
    )
    crisis_words: tuple[str, ...] = field(
        default=("suicide", "kill myself", "end my life", "self-harm", "overdose"),
        metadata=_doc(
            "Words that make a member's page offer the crisis resources before sending, in "
            "addition to the phrase list shipped with Hearth "
            "(server/static/js/crisisphrases.js); matched as whole words, case and "
            "contractions aside. The check runs in the browser only; nothing is sent to the "
            "server. The crisis_language report classifier uses them too.",
            check=lambda words: "non-empty words" if any(not w.strip() for w in words) else None,
        ),
    )
    crisis_resources_by_locale: dict[str, tuple[CrisisResource, ...]] = field(
        default_factory=dict,
        metadata=_doc(
            "Crisis services for members whose page is in a given language, or language and "
            'country: a table keyed by "es", "ar", "es-MX"... (the browser\'s language and '
            "region; the most specific key wins), each an array like crisis_resources, which "
            "it replaces for those members. Members of any other language see crisis_resources.",
            check=_check_locale_keys,
            example_items=(
                "Instead of `crisis_resources_by_locale = {}`, for example:",
                "[safety.crisis_resources_by_locale]",
                'es = [{ name = "Línea de ejemplo", phone = "+34 900 000 000", hours = "24 h" }]',
                '"es-MX" = [{ name = "Línea de ejemplo MX", phone = "+52 800 000 0000" }]',
                'ar = [{ name = "خط المساعدة", phone = "+20 100 000 0000", hours = "24/7" }]',
            ),
        ),
    )
    crisis_words_by_locale: dict[str, tuple[str, ...]] = field(
        default_factory=dict,
        metadata=_doc(
            "Crisis words for members whose page is in a given language (keys as in "
            "crisis_resources_by_locale), replacing crisis_words for them; they add to the "
            "phrase list shipped for that language (server/static/js/crisisphrases_es.js, "
            "crisisphrases_ar.js). The crisis_language report classifier uses every list.",
            check=_check_locale_words,
            example_items=(
                "Instead of `crisis_words_by_locale = {}`, for example:",
                "[safety.crisis_words_by_locale]",
                'es = ["suicidio", "quitarme la vida"]',
            ),
        ),
    )
    crisis_phrases_by_locale: dict[str, str] = field(
        default_factory=dict,
        metadata=_doc(
            'A phrase list (the syntax of server/static/js/crisisphrases.js) per language ("en", '
            '"es", "ar"), replacing the list shipped with Hearth for that language; a page not '
            "in English also checks the English list.",
            check=_check_locale_keys,
            example_items=(
                "Instead of `crisis_phrases_by_locale = {}`, for example:",
                "[safety.crisis_phrases_by_locale]",
                'es = """',
                "suicid*",
                "quiero .. morir|morirme",
                '"""',
            ),
        ),
    )
    quick_exit_url: str = field(
        default="/recipe.html",
        metadata=_doc(
            "Where the member page's 'Leave quickly' button (or Escape pressed three times) "
            "sends the tab, replacing Hearth in its history. The default is a plain recipe page "
            "served by Hearth itself, so that leaving contacts no other site; an https:// "
            "address of an everyday site (weather, news) looks less out of place in the address "
            "bar, but the browser then fetches it from that site.",
            check=_check_quick_exit_url,
        ),
    )


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    messages_per_second: float = field(
        default=0.2, metadata=_doc("Sustained messages per second allowed for one account.", gt=0)
    )
    message_burst: int = field(
        default=10, metadata=_doc("Messages one account may send in a burst.", min=1)
    )
    joins_per_minute: int = field(
        default=6, metadata=_doc("Group join requests per minute for one account.", min=1)
    )
    reports_per_hour: int = field(
        default=20, metadata=_doc("Reports per hour for one account.", min=1)
    )
    max_connections_per_account: int = field(
        default=5, metadata=_doc("Open connections allowed for one account.", min=1)
    )
    device_link_seconds: int = field(
        default=120,
        metadata=_doc(
            "Seconds a device link (moving to a new device) stays open for the other device.",
            min=1,
            max=600,
        ),
    )
    max_outgoing_backlog: int = field(
        default=1000,
        metadata=_doc("Messages queued for a slow client before it is disconnected.", min=1),
    )
    max_outgoing_backlog_bytes: int = field(
        default=8 * 1024 * 1024,
        metadata=_doc(
            "Bytes queued for a slow client before it is disconnected (a history page of 200 "
            "of the largest messages is about 4.5 MiB: keep room for one).",
            min=65536,
        ),
    )
    history_pages_per_minute: int = field(
        default=30,
        metadata=_doc("history.get requests per minute for one account (sustained).", min=1),
    )
    history_burst: int = field(
        default=20, metadata=_doc("history.get requests one account may make in a burst.", min=1)
    )
    history_pages_in_flight: int = field(
        default=2,
        metadata=_doc(
            "history.get requests one connection may have answered at once; more are refused "
            "(rate_limited) until an answer has gone out.",
            min=1,
        ),
    )
    max_used_challenges: int = field(
        default=100_000,
        metadata=_doc(
            "Connect challenges remembered as used (each until it expires, 60 s) so that a proof "
            "opens one connection only; past this many, connections wait (rate_limited).",
            min=1,
        ),
    )


@dataclass(frozen=True, slots=True)
class ModerationConfig:
    backend: str = field(
        default="sqlite",
        metadata=_doc(
            "Where verified reports go: 'sqlite' (this server's database; its PostgreSQL, through "
            "the built-in 'postgres' backend, when [storage] url is set), 'webhook' (POSTed to "
            "your case system), or the name of any installed hearth.moderation_backends plugin.",
            min_length=1,
        ),
    )
    classifiers: tuple[str, ...] = field(
        default=("crisis_language",),
        metadata=_doc(
            "hearth.moderation_classifiers plugins that set a report's priority. "
            "'crisis_language' marks reports urgent when they match the crisis words."
        ),
    )
    report_retention_days: int = field(
        default=30,
        metadata=_doc("Days a resolved report (with its message text) is kept.", min=1),
    )
    plugins: dict[str, dict[str, Any]] = field(
        default_factory=dict,
        metadata=_doc(
            "Settings of each backend or classifier, as a table named after it. Without a table, "
            "'crisis_language' uses safety.crisis_words. The webhook's url must be https:// "
            "(plain http:// is refused except to a loopback address: reports carry message text).",
            example_items=(
                "Instead of `plugins = {}`, write one table per plugin, for example:",
                "[moderation.plugins.webhook]",
                'url = "https://cases.example.org/hearth"',
                "[moderation.plugins.crisis_language]",
                'phrases = ["suicide", "kill myself"]',
            ),
        ),
    )


@dataclass(frozen=True, slots=True)
class ScaleConfig:
    redis_url: str = field(
        default="",
        metadata=_doc(
            "Empty for one process. To run several `hearth serve` processes on one database, "
            "set a Redis URL (e.g. redis://127.0.0.1:6379/0): room broadcasts, group changes, "
            "facilitator presence and per-account rate limits then travel through it.",
            check=lambda url: (
                None
                if not url or url.startswith(("redis://", "rediss://", "unix://"))
                else "a redis://, rediss:// or unix:// URL, or an empty string"
            ),
        ),
    )


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    enabled: bool = field(
        default=False,
        metadata=_doc(
            "true to serve metrics in the Prometheus text format at GET /metrics on "
            "listen_host:listen_port, an address of its own apart from the public one "
            "(docs/deployment.md, 'Metrics'). No metric names a person, account, member, group, "
            "message or address."
        ),
    )
    listen_host: str = field(
        default="127.0.0.1",
        metadata=_doc(
            "Address the metrics listen on. Keep a loopback address (a Prometheus on this host, "
            "or an SSH tunnel); the endpoint has no authentication of its own.",
            min_length=1,
        ),
    )
    listen_port: int = field(
        default=9464,
        metadata=_doc("TCP port of the metrics, apart from server.port.", min=1, max=65535),
    )


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    server: ServerConfig
    storage: StorageConfig
    groups: GroupsConfig
    facilitators: FacilitatorsConfig
    franking: FrankingConfig
    safety: SafetyConfig
    limits: LimitsConfig
    moderation: ModerationConfig
    scale: ScaleConfig
    metrics: MetricsConfig
    secret_key: Secret
    connections: ConnectionsConfig = field(default_factory=ConnectionsConfig)


# The TOML tables, in the order the example file shows them.
SECTIONS: Mapping[str, type[Any]] = {
    "server": ServerConfig,
    "connections": ConnectionsConfig,
    "storage": StorageConfig,
    "groups": GroupsConfig,
    "facilitators": FacilitatorsConfig,
    "franking": FrankingConfig,
    "safety": SafetyConfig,
    "limits": LimitsConfig,
    "moderation": ModerationConfig,
    "scale": ScaleConfig,
    "metrics": MetricsConfig,
}


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def listening_on(config: Config, port: int) -> Config:
    """``config`` served on ``port`` instead of ``server.port`` (``hearth serve --port``).

    A loopback origin that named the configured port names the new one, so that the page
    served there can connect. Any other origin is a public address in front of a proxy, which
    a change of the port Hearth listens on does not move.
    """
    old = config.server.port
    origins = []
    for origin in config.server.public_origins:
        parts = urlsplit(origin)
        port_of_origin = parts.port or _DEFAULT_PORTS[parts.scheme]
        if parts.hostname in _LOOPBACK_HOSTS and port_of_origin == old:
            host = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
            suffix = "" if port == _DEFAULT_PORTS[parts.scheme] else f":{port}"
            origin = f"{parts.scheme}://{host}{suffix}"
        origins.append(origin)
    server = dataclasses.replace(config.server, port=port, public_origins=tuple(origins))
    return dataclasses.replace(config, server=server)


def load_config(path: Path) -> Config:
    """Read ``path``; raise ``ConfigError`` for anything that cannot be used as it is."""
    path = Path(path).expanduser().absolute()
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(path, None, "no such file; create one with `hearth init`") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(path, None, f"cannot be read: {error}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path, None, f"is not valid TOML: {error}") from None

    loader = _Loader(path)
    loader.refuse_unknown(document, SECTIONS, "")
    sections = {
        name: loader.section(cls, document.get(name, {}), name) for name, cls in SECTIONS.items()
    }
    facilitators: FacilitatorsConfig = sections["facilitators"]
    if facilitators.min_password_length > facilitators.max_password_length:
        raise ConfigError(
            path,
            "facilitators.min_password_length",
            "expected at most facilitators.max_password_length "
            f"({facilitators.max_password_length}), got {facilitators.min_password_length}",
        )
    server: ServerConfig = sections["server"]
    secret_key = read_secret_key(server.secret_key_file, config_file=path)
    return Config(path=path, secret_key=secret_key, **sections)


def read_secret_key(key_file: Path, *, config_file: Path) -> Secret:
    def refuse(problem: str) -> ConfigError:
        return ConfigError(config_file, "server.secret_key_file", f"{key_file} {problem}")

    try:
        fd = os.open(key_file, os.O_RDONLY)
    except FileNotFoundError:
        raise refuse("does not exist; `hearth init` creates one") from None
    except OSError as error:
        raise refuse(f"cannot be opened: {error.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise refuse("is not a regular file")
        # A key others can read lets them forge challenges: refuse rather than warn.
        if os.name == "posix" and mode & 0o077:
            raise refuse(
                f"can be read by other users (mode {stat.S_IMODE(mode):03o}); "
                f"run `chmod 600 {key_file}`"
            )
        content = file.read(4 * SECRET_KEY_BYTES)
    try:
        key = bytes.fromhex(content.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != SECRET_KEY_BYTES:
        raise refuse(f"must hold exactly {2 * SECRET_KEY_BYTES} hex characters")
    return Secret(key)


class _Loader:
    """Turns TOML values into the dataclass fields' types, naming the key path in errors."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.base = file.parent

    def fail(self, key: str, expected: str, value: Any = dataclasses.MISSING) -> ConfigError:
        got = "" if value is dataclasses.MISSING else f", got {_describe(value)}"
        return ConfigError(self.file, key, f"expected {expected}{got}")

    def refuse_unknown(self, table: Mapping[str, Any], known: Mapping[str, Any], at: str) -> None:
        for key in table:
            if key not in known:
                raise ConfigError(
                    self.file,
                    _join(at, key),
                    "unknown key; expected one of " + ", ".join(known),
                )

    def section(self, cls: type[_T], table: Any, at: str) -> _T:
        if not isinstance(table, dict):
            raise self.fail(at, "a table", table)
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        self.refuse_unknown(table, fields, at)
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for name, spec in fields.items():
            key = _join(at, name)
            if name not in table:
                if (
                    spec.default is dataclasses.MISSING
                    and spec.default_factory is dataclasses.MISSING
                ):
                    raise ConfigError(self.file, key, "missing; this key is required")
                continue
            value = self.convert(table[name], hints[name], key)
            self.check_rules(value, spec.metadata, key)
            values[name] = value
        for name, spec in fields.items():
            if name not in values and isinstance(spec.default, Path):
                values[name] = self.path(spec.default)
        return cls(**values)

    def convert(self, value: Any, hint: Any, key: str) -> Any:
        origin = get_origin(hint)
        if hint is bool:
            if isinstance(value, bool):
                return value
            raise self.fail(key, "true or false", value)
        if hint is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise self.fail(key, "an integer", value)
        if hint is float:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
            raise self.fail(key, "a number", value)
        if hint is str:
            if isinstance(value, str):
                return value
            raise self.fail(key, "a string", value)
        if hint is Path:
            if isinstance(value, str) and value:
                return self.path(Path(value))
            raise self.fail(key, "a file path (a non-empty string)", value)
        if origin is Literal:
            choices = get_args(hint)
            if value in choices and isinstance(value, str):
                return value
            raise self.fail(key, "one of " + ", ".join(repr(c) for c in choices), value)
        if origin is tuple:
            if not isinstance(value, list):
                raise self.fail(key, "an array", value)
            item_hint = get_args(hint)[0]
            return tuple(
                self.convert(item, item_hint, f"{key}[{index}]") for index, item in enumerate(value)
            )
        if origin is dict and get_origin(get_args(hint)[1]) is not dict:
            # A table of one kind of value per name (per-locale lists).
            if not isinstance(value, dict):
                raise self.fail(key, "a table", value)
            item_hint = get_args(hint)[1]
            return {
                name: self.convert(inner, item_hint, f"{key}.{name}")
                for name, inner in value.items()
            }
        if origin is dict:
            # Plugin settings: tables named after the plugin, checked by the plugin itself.
            if not isinstance(value, dict) or not all(
                isinstance(inner, dict) for inner in value.values()
            ):
                raise self.fail(key, "tables of plugin settings", value)
            return {name: dict(inner) for name, inner in value.items()}
        if dataclasses.is_dataclass(hint):
            return self.section(hint, value, key)  # type: ignore[arg-type]
        raise TypeError(f"no config conversion for {hint!r}")  # a bug in this module

    def check_rules(self, value: Any, rules: Mapping[str, Any], key: str) -> None:
        if "min" in rules and value < rules["min"]:
            raise self.fail(key, f"at least {rules['min']}", value)
        if "max" in rules and value > rules["max"]:
            raise self.fail(key, f"at most {rules['max']}", value)
        if "gt" in rules and value <= rules["gt"]:
            raise self.fail(key, f"more than {rules['gt']}", value)
        if "min_length" in rules and len(value) < rules["min_length"]:
            raise self.fail(key, f"at least {rules['min_length']} character(s)", value)
        check: Callable[[Any], str | None] | None = rules.get("check")
        if check is not None and (expected := check(value)) is not None:
            raise self.fail(key, expected)

    def path(self, path: Path) -> Path:
        path = path.expanduser()
        return path if path.is_absolute() else self.base / path


def _join(at: str, key: str) -> str:
    return f"{at}.{key}" if at else key


def _describe(value: Any) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    for kind, name in kinds.items():
        if type(value) is kind:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            return f"{name} ({shown})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


_EXAMPLE_HEADER = """\
# Hearth configuration. Every key is shown with its default value: delete or comment out the
# ones you do not change. Unknown keys are refused, so a typo stops the server from starting.
# Relative paths are resolved against the directory of this file.
"""


def render_example_config(values: Mapping[str, Any] | None = None) -> str:
    """The documented default configuration: ``config.example.toml`` and ``hearth init``'s file.

    ``values`` replaces defaults by key path, e.g. ``{"safety.crisis_resources": (...)}`` for
    what ``hearth init`` was told on a terminal.
    """
    values = values or {}
    parts = [_EXAMPLE_HEADER]
    for name, cls in SECTIONS.items():
        parts.append(f"\n[{name}]\n")
        for index, spec in enumerate(dataclasses.fields(cls)):
            if index:
                parts.append("\n")
            for line in textwrap.wrap(spec.metadata["doc"], width=98):
                parts.append(f"# {line}\n")
            default = (
                spec.default_factory()
                if spec.default is dataclasses.MISSING
                and spec.default_factory is not dataclasses.MISSING
                else spec.default
            )
            default = values.get(f"{name}.{spec.name}", default)
            parts.append(f"{spec.name} = {_toml_value(default, spec.metadata)}\n")
    return "".join(parts)


def _toml_value(value: Any, rules: Mapping[str, Any]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, tuple):
        examples = rules.get("example_items", ())
        if not examples:
            return "[" + ", ".join(_toml_value(item, {}) for item in value) + "]"
        items = [f"    {_toml_value(item, {})},\n" for item in value]
        items += [f"    # {example}\n" for example in examples]
        return "[\n" + "".join(items) + "]"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        pairs = (
            f"{f.name} = {_toml_value(getattr(value, f.name), {})}"
            for f in dataclasses.fields(value)
        )
        return "{ " + ", ".join(pairs) + " }"
    if isinstance(value, dict) and not value:
        examples = rules.get("example_items", ())
        return "{}" + "".join(f"\n# {example}" for example in examples)
    raise TypeError(f"no TOML rendering for {value!r}")  # a bug in this module
