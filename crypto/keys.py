"""Account and member keys: Ed25519 signing, X25519 KEM, fingerprints (docs/protocol.md §3)."""

import hashlib
import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from crypto.errors import VerificationFailed
from crypto.fields import require_bytes
from crypto.roster import PqKey, RosterEntry, pq_key_message
from crypto.suite import (
    FINGERPRINT_BYTES,
    KEM_PK_LEN,
    LABEL_FPR,
    MEMBER_ID_LEN,
    PQ_SEED_LEN,
    PRIVATE_KEY_LEN,
    SIG_LEN,
    SIG_PK_LEN,
)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An Ed25519 key pair (RFC 8032 §5.1); ``raw()`` is the 32-byte seed."""

    key: Ed25519PrivateKey = field(repr=False, compare=False)
    public: bytes

    @classmethod
    def generate(cls) -> "SigningKey":
        return cls._of(Ed25519PrivateKey.generate())

    @classmethod
    def from_raw(cls, raw: bytes) -> "SigningKey":
        return cls._of(Ed25519PrivateKey.from_private_bytes(require_bytes("raw", raw, 32)))

    @classmethod
    def _of(cls, key: Ed25519PrivateKey) -> "SigningKey":
        return cls(key, key.public_key().public_bytes_raw())

    def raw(self) -> bytes:
        """The 32-byte private seed (keep it secret)."""
        return self.key.private_bytes_raw()

    def sign(self, message: bytes) -> bytes:
        """Deterministic Ed25519 signature (64 bytes)."""
        return self.key.sign(require_bytes("message", message))


@dataclass(frozen=True, slots=True)
class KemKey:
    """An X25519 key pair used as HPKE recipient key (RFC 9180 §7.1)."""

    key: X25519PrivateKey = field(repr=False, compare=False)
    public: bytes

    @classmethod
    def generate(cls) -> "KemKey":
        return cls._of(X25519PrivateKey.generate())

    @classmethod
    def from_raw(cls, raw: bytes) -> "KemKey":
        raw = require_bytes("raw", raw, PRIVATE_KEY_LEN)
        return cls._of(X25519PrivateKey.from_private_bytes(raw))

    @classmethod
    def _of(cls, key: X25519PrivateKey) -> "KemKey":
        return cls(key, key.public_key().public_bytes_raw())

    def raw(self) -> bytes:
        """The 32-byte private scalar as given (RFC 7748 §5 clamps it on use)."""
        return self.key.private_bytes_raw()


@dataclass(frozen=True, slots=True)
class PqKemKey:
    """An ML-KEM-768 key pair (FIPS 203), the post-quantum half of a hybrid wrap (§6.9)."""

    key: MLKEM768PrivateKey = field(repr=False, compare=False)
    public: bytes

    @classmethod
    def generate(cls) -> "PqKemKey":
        return cls._of(MLKEM768PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> "PqKemKey":
        """The key pair of the 64-byte seed ``d ‖ z`` (FIPS 203 §7.1 ML-KEM.KeyGen_internal)."""
        seed = require_bytes("seed", seed, PQ_SEED_LEN)
        return cls._of(MLKEM768PrivateKey.from_seed_bytes(seed))

    @classmethod
    def _of(cls, key: MLKEM768PrivateKey) -> "PqKemKey":
        return cls(key, key.public_key().public_bytes_raw())

    def seed(self) -> bytes:
        """The 64-byte seed (keep it secret)."""
        return self.key.private_bytes_raw()


@dataclass(frozen=True, slots=True)
class MemberKeys:
    """A member's per-group identity: random member_id, signing key, KEM key and, for the hybrid
    suite (§6.9), an ML-KEM-768 key (None: a client of suite 1 only)."""

    member_id: bytes
    signing: SigningKey
    kem: KemKey
    pq: PqKemKey | None = None

    def __post_init__(self) -> None:
        require_bytes("member_id", self.member_id, MEMBER_ID_LEN)

    @classmethod
    def generate(cls, *, hybrid: bool = True) -> "MemberKeys":
        # A fresh random id per group, so members cannot link one person across groups.
        pq = PqKemKey.generate() if hybrid else None
        return cls(os.urandom(MEMBER_ID_LEN), SigningKey.generate(), KemKey.generate(), pq)

    @property
    def entry(self) -> RosterEntry:
        return RosterEntry(self.member_id, self.signing.public, self.kem.public)

    def pq_key(self, group_id: bytes) -> PqKey:
        """This member's ML-KEM public key, signed for ``group_id``; ``ValueError`` without one."""
        if self.pq is None:
            raise ValueError("these member keys have no ML-KEM key")
        message = pq_key_message(group_id, self.member_id, self.pq.public)
        return PqKey(self.pq.public, self.signing.sign(message))


def verify_pq_key(group_id: bytes, entry: RosterEntry, pq_key: PqKey) -> None:
    """Raise ``VerificationFailed`` unless ``entry``'s member signed ``pq_key`` for the group."""
    message = pq_key_message(group_id, entry.member_id, pq_key.public)
    verify_signature(entry.sig_pk, pq_key.signature, message)


def verify_signature(public_key: bytes, signature: bytes, message: bytes) -> None:
    """Raise ``VerificationFailed`` unless ``signature`` is a valid Ed25519 signature.

    libsodium (through PyNaCl) verifies strictly (RFC 8032 §5.1.7: S < L, canonical encodings,
    no small-order keys), so a signature cannot be mauled into a second valid one; it agrees with
    every Wycheproof Ed25519 case (tests/crypto/test_keys.py). It checks a signature in half the
    time OpenSSL's Ed25519 takes (~60 against ~120 µs, bench/crypto_bench.py), and the relay
    checks one per message: signing and every other primitive stay with pyca/cryptography.
    """
    require_bytes("public_key", public_key, SIG_PK_LEN)
    require_bytes("signature", signature, SIG_LEN)
    require_bytes("message", message)
    try:
        # The signed-message form (signature ‖ message) is PyNaCl's only binding for a check.
        crypto_sign_open(signature + message, public_key)
    except BadSignatureError:
        # Also a public key that is not a valid point encoding, or of small order.
        raise VerificationFailed from None


def check_kem_public_key(public_key: bytes) -> None:
    """Raise ``ValueError`` if ``public_key`` is a low-order X25519 point.

    A low-order point gives an all-zero shared secret for every private key, which RFC 9180
    §7.1.4 requires HPKE to refuse; a roster holding one could never be sealed to, so the server
    should check each member's kem_pk once, on join.
    """
    require_bytes("public_key", public_key, KEM_PK_LEN)
    try:
        X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(public_key))
    except ValueError:
        raise ValueError("kem_pk is a low-order X25519 point") from None


def check_pq_key(group_id: bytes, entry: RosterEntry, encoded: bytes) -> PqKey:
    """The signed ML-KEM key ``encoded`` of ``entry``'s member in ``group_id``, or ``ValueError``
    if it is malformed, not a valid ML-KEM-768 public key (FIPS 203 §7.2 modulus check) or not
    signed by the member."""
    pq_key = PqKey.decode(encoded)
    try:
        MLKEM768PublicKey.from_public_bytes(pq_key.public)
    except ValueError:
        raise ValueError("pq_pk is not a valid ML-KEM-768 public key") from None
    try:
        verify_pq_key(group_id, entry, pq_key)
    except VerificationFailed:
        raise ValueError("the ML-KEM key is not signed by the member's sig_pk") from None
    return pq_key


def fingerprint(public_key: bytes) -> str:
    """SHA-256(LABEL_FPR ‖ pk)[:10] as 20 hex digits in five groups of four."""
    require_bytes("public_key", public_key, SIG_PK_LEN)
    digits = hashlib.sha256(LABEL_FPR + public_key).digest()[:FINGERPRINT_BYTES].hex()
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))
