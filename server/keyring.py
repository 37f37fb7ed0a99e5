"""Server keys derived from the one secret key file (HKDF-SHA256, RFC 5869).

Deriving instead of storing keeps every server key out of the database: a stolen database
file cannot be used to forge connection challenges or franking tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"hearth-server " + purpose
    ).derive(secret)


@dataclass(frozen=True, slots=True)
class Keyring:
    challenge_key: bytes = field(repr=False)
    current_kid: int
    frank_keys: dict[int, bytes] = field(repr=False)
    moderation_secret: bytes = field(repr=False)  # handed to the moderation backend
    # seals a departed member's account key while a report could still need it
    # (server/storage/departures.py)
    departed_key: bytes = field(repr=False)
    # Keys the duplicate_key of a report; never leaves the server (moderation/reports.py).
    report_duplicate_key: bytes = field(repr=False)

    @classmethod
    def from_secret(cls, secret: bytes, current_kid: int) -> Keyring:
        # Every kid up to the current one stays derivable, so reports on messages tagged
        # before a key rotation still verify.
        frank_keys = {
            kid: _derive(secret, b"frank " + kid.to_bytes(4, "big"))
            for kid in range(1, current_kid + 1)
        }
        return cls(
            _derive(secret, b"challenge"),
            current_kid,
            frank_keys,
            _derive(secret, b"moderation backend"),
            _derive(secret, b"departed member account"),
            _derive(secret, b"report duplicates"),
        )

    @property
    def frank_key(self) -> bytes:
        return self.frank_keys[self.current_kid]
