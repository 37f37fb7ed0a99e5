"""The recovery file: a device's keys sealed under a passphrase (argon2id, RFC 9106, then
AES-128-GCM). Only the header is readable without the passphrase: the version, the argon2
parameters, the salt and the nonce (docs/protocol.md §15.6). Pure functions over bytes.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from typing import Final

from argon2.low_level import Type, hash_secret_raw

from crypto.aead import aead_open, aead_seal
from crypto.errors import VerificationFailed
from crypto.fields import require_bytes, require_int

MAGIC: Final = b"HRCV"
VERSION: Final = 1
KDF_ARGON2ID: Final = 1
SALT_LEN: Final = 16
NONCE_LEN: Final = 12
KEY_LEN: Final = 16
HEADER_LEN: Final = 4 + 1 + 1 + 4 + 4 + 1 + SALT_LEN + NONCE_LEN  # 43
MAX_PASSPHRASE_BYTES: Final = 1024

# What a file may ask for: at least OWASP's floor (19 MiB, t=2), at most what a phone can give
# (256 MiB), so that a hostile file cannot make the page hash for ever.
MIN_MEMORY_KIB: Final = 19 * 1024
MAX_MEMORY_KIB: Final = 256 * 1024
MAX_TIME_COST: Final = 10
MAX_PARALLELISM: Final = 4


@dataclass(frozen=True, slots=True)
class Argon2Params:
    memory_kib: int = 64 * 1024  # RFC 9106's second recommended option, m = 64 MiB
    time_cost: int = 3
    parallelism: int = 1  # the browser's argon2 runs on one thread

    def __post_init__(self) -> None:
        require_int("memory_kib", self.memory_kib, MIN_MEMORY_KIB, MAX_MEMORY_KIB)
        require_int("time_cost", self.time_cost, 1, MAX_TIME_COST)
        require_int("parallelism", self.parallelism, 1, MAX_PARALLELISM)


def passphrase_bytes(passphrase: str) -> bytes:
    """NFKC, then UTF-8: the same bytes whichever way a keyboard composed the characters."""
    if not isinstance(passphrase, str):
        raise TypeError("passphrase must be a str")
    raw = unicodedata.normalize("NFKC", passphrase).encode("utf-8")
    if not raw or len(raw) > MAX_PASSPHRASE_BYTES:
        raise ValueError(f"a passphrase is 1 to {MAX_PASSPHRASE_BYTES} bytes")
    return raw


def file_key(passphrase: str, salt: bytes, params: Argon2Params) -> bytes:
    require_bytes("salt", salt, SALT_LEN)
    return hash_secret_raw(
        passphrase_bytes(passphrase),
        salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=KEY_LEN,
        type=Type.ID,
    )


def encode_header(params: Argon2Params, salt: bytes, nonce: bytes) -> bytes:
    require_bytes("salt", salt, SALT_LEN)
    require_bytes("nonce", nonce, NONCE_LEN)
    return b"".join(
        (
            MAGIC,
            bytes((VERSION, KDF_ARGON2ID)),
            params.memory_kib.to_bytes(4, "big"),
            params.time_cost.to_bytes(4, "big"),
            bytes((params.parallelism,)),
            salt,
            nonce,
        )
    )


@dataclass(frozen=True, slots=True)
class Header:
    params: Argon2Params
    salt: bytes
    nonce: bytes


def parse_header(data: bytes) -> Header:
    """The readable part of a file, or ``ValueError`` naming what is wrong."""
    require_bytes("file", data)
    if len(data) < HEADER_LEN + 16 or data[:4] != MAGIC:
        raise ValueError("not a Hearth recovery file")
    if data[4] != VERSION or data[5] != KDF_ARGON2ID:
        raise ValueError("a recovery file of an unknown version")
    params = Argon2Params(
        memory_kib=int.from_bytes(data[6:10], "big"),
        time_cost=int.from_bytes(data[10:14], "big"),
        parallelism=data[14],
    )
    return Header(params, data[15 : 15 + SALT_LEN], data[15 + SALT_LEN : HEADER_LEN])


def seal(
    passphrase: str,
    plaintext: bytes,
    params: Argon2Params | None = None,
    *,
    salt: bytes | None = None,
    nonce: bytes | None = None,
) -> bytes:
    """``header ‖ AES-128-GCM(argon2id(passphrase, salt), nonce, aad = header, plaintext)``."""
    require_bytes("plaintext", plaintext)
    params = params or Argon2Params()
    salt = secrets.token_bytes(SALT_LEN) if salt is None else salt
    nonce = secrets.token_bytes(NONCE_LEN) if nonce is None else nonce
    header = encode_header(params, salt, nonce)
    return header + aead_seal(file_key(passphrase, salt, params), nonce, plaintext, header)


def open_file(passphrase: str, data: bytes) -> bytes:
    """The plaintext, ``VerificationFailed`` for a wrong passphrase or a changed byte, or
    ``ValueError`` for what is not a recovery file at all."""
    header = parse_header(data)
    key = file_key(passphrase, header.salt, header.params)
    try:
        return aead_open(key, header.nonce, data[HEADER_LEN:], data[:HEADER_LEN])
    except VerificationFailed:
        raise VerificationFailed() from None
