"""Validation of typed fields and a strict reader for fixed layouts.

Every parser and builder checks its input here, before any cryptography runs, and raises
``TypeError`` for a wrong type and ``ValueError`` for a wrong size or value, naming the field.
"""

from typing import Final

from crypto.suite import SUITE, VERSION

_U64_MAX: Final = 2**64 - 1


def require_bytes(name: str, value: object, length: int | None = None) -> bytes:
    """Return ``value`` if it is ``bytes`` of ``length`` (any length when ``None``)."""
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    if length is not None and len(value) != length:
        raise ValueError(f"{name} must be {length} bytes, got {len(value)}")
    return value


def require_int(name: str, value: object, low: int, high: int) -> int:
    """Return ``value`` if it is an ``int`` (not ``bool``) with ``low <= value <= high``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return value


def require_epoch(value: object) -> int:
    """Epochs count from 1 (the group's first commit) and are encoded as u64."""
    return require_int("epoch", value, 1, _U64_MAX)


def require_u64(name: str, value: object) -> int:
    """Return ``value`` if it fits an unsigned 64-bit field."""
    return require_int(name, value, 0, _U64_MAX)


class Reader:
    """Consumes a byte string field by field; ``finish`` rejects trailing bytes."""

    __slots__ = ("_data", "_offset", "_what")

    def __init__(self, what: str, data: object) -> None:
        self._what = what
        self._data = require_bytes(what, data)
        self._offset = 0

    def take(self, length: int) -> bytes:
        """Return the next ``length`` bytes."""
        end = self._offset + length
        if end > len(self._data):
            raise ValueError(f"{self._what} is truncated")
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def uint(self, size: int) -> int:
        """Return the next big-endian unsigned integer of ``size`` bytes."""
        return int.from_bytes(self.take(size), "big")

    def prefix(self, suites: tuple[int, ...] = (SUITE,)) -> int:
        """Read ``ver ‖ suite``, refuse anything but Hearth v1 and ``suites`` (§1); the suite."""
        version = self.uint(1)
        suite = self.uint(2)
        if version != VERSION:
            raise ValueError(f"{self._what}: unsupported version {version}")
        if suite not in suites:
            raise ValueError(f"{self._what}: unsupported suite {suite}")
        return suite

    def remaining(self) -> int:
        """Number of bytes not read yet."""
        return len(self._data) - self._offset

    def finish(self) -> None:
        """Refuse trailing bytes: each value has exactly one encoding."""
        if self._offset != len(self._data):
            raise ValueError(f"{self._what} has {len(self._data) - self._offset} trailing bytes")
