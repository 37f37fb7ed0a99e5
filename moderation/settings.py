"""Reading a plugin's settings table: each value checked, each failure naming its key."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from moderation.errors import SettingsError


def refuse_unknown(settings: Mapping[str, Any], known: Collection[str]) -> None:
    # A misspelt key silently falling back to a default is worse than refusing to start.
    for key in settings:
        if key not in known:
            raise SettingsError(key, f"unknown setting; known: {', '.join(sorted(known))}")


def number(settings: Mapping[str, Any], key: str, default: float, *, minimum: float) -> float:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise SettingsError(key, f"expected a number >= {minimum}, got {value!r}")
    return float(value)


def http_url(settings: Mapping[str, Any], key: str) -> str:
    value = settings.get(key)
    if not isinstance(value, str):
        raise SettingsError(key, "expected an http(s):// URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(key, f"expected an http(s):// URL, got {value!r}")
    return value


def hex_key(settings: Mapping[str, Any], key: str) -> bytes | None:
    value = settings.get(key)
    if value is None:
        return None
    try:
        data = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        data = b""
    if len(data) < 32:
        raise SettingsError(key, "expected at least 32 bytes as hex (64+ hex characters)")
    return data


def strings(settings: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = settings.get(key, default)
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise SettingsError(key, "expected a list of strings")
    if not all(isinstance(item, str) and item.strip() for item in value):
        raise SettingsError(key, "expected a list of non-empty strings")
    return tuple(value)


def private_http_url(settings: Mapping[str, Any], key: str, *, table: str) -> str:
    """An https:// URL, or a plain http:// one only to a loopback address (a receiver on the
    same host): reports carry what a person wrote, so they never cross a network in clear."""
    value = http_url(settings, key)
    parts = urlsplit(value)
    if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        raise SettingsError(
            key,
            f"[{table}] {key} must be an https:// URL (plain http:// is allowed only to a "
            f"loopback address such as 127.0.0.1, [::1] or localhost), got {value!r}",
        )
    return value


def _is_loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere
