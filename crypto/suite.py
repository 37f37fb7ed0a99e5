"""Version, cipher suite, sizes and labels of Hearth v1 (docs/protocol.md §1–§2)."""

from typing import Final

from cryptography.hazmat.primitives import hpke

VERSION: Final = 1
SUITE: Final = 1  # X25519 / HKDF-SHA256 / AES-128-GCM / Ed25519, aligned with MLS suite 1
# Suite 1 with every epoch wrap under X25519 and ML-KEM-768 together (docs/protocol.md §6.9).
# Only commits carry it: message headers keep suite 1, whose message protection it does not change.
SUITE_HYBRID: Final = 2
COMMIT_SUITES: Final = (SUITE, SUITE_HYBRID)

GROUP_ID_LEN: Final = 16
MEMBER_ID_LEN: Final = 16
MSG_ID_LEN: Final = 16
EPOCH_LEN: Final = 8
NONCE_LEN: Final = 12
KEY_LEN: Final = 16  # AES-128-GCM sender key
TAG_LEN: Final = 16  # AES-GCM tag
SECRET_LEN: Final = 32  # epoch_secret
HASH_LEN: Final = 32  # SHA-256
MAC_LEN: Final = 32  # HMAC-SHA256
FRANKING_KEY_LEN: Final = 32  # Kf
COMMITMENT_LEN: Final = 32  # C
RTAG_LEN: Final = 32
SIG_PK_LEN: Final = 32  # Ed25519 public key
SIG_LEN: Final = 64  # Ed25519 signature
KEM_PK_LEN: Final = 32  # X25519 public key
PRIVATE_KEY_LEN: Final = 32  # raw Ed25519 seed or X25519 scalar
ENC_LEN: Final = 32  # HPKE encapsulated key for DHKEM(X25519)
WRAP_LEN: Final = ENC_LEN + SECRET_LEN + TAG_LEN  # 80
PQ_PK_LEN: Final = 1184  # ML-KEM-768 encapsulation key (FIPS 203 §8, Table 3)
PQ_CT_LEN: Final = 1088  # ML-KEM-768 ciphertext
PQ_SEED_LEN: Final = 64  # ML-KEM private key as its seed d ‖ z (FIPS 203 §7.1)
PQ_KEY_LEN: Final = PQ_PK_LEN + SIG_LEN  # pq_pk ‖ the member's signature over it: 1248
HYBRID_WRAP_LEN: Final = ENC_LEN + PQ_CT_LEN + SECRET_LEN + TAG_LEN  # 1168
HYBRID_ENTRY_LEN: Final = 80 + PQ_KEY_LEN  # roster entry ‖ pq key: 1328
ROSTER_ENTRY_LEN: Final = MEMBER_ID_LEN + SIG_PK_LEN + KEM_PK_LEN  # 80
HEADER_LEN: Final = 1 + 2 + GROUP_ID_LEN + EPOCH_LEN + MEMBER_ID_LEN + MSG_ID_LEN + NONCE_LEN + 32
CHALLENGE_RANDOM_LEN: Final = 16
CHALLENGE_LEN: Final = 8 + CHALLENGE_RANDOM_LEN + MAC_LEN  # 56
FINGERPRINT_BYTES: Final = 10

MAX_ROSTER: Final = 1000
MAX_CONTENT: Final = 16380
# The padded plaintext (u32 length ‖ content ‖ zeros) fills exactly one of these sizes.
PAD_BUCKETS: Final = (128, 256, 512, 1024, 2048, 4096, 8192, 16384)

CONTENT_TYPE_TEXT: Final = 1  # text/plain; charset=utf-8
CONTENT_TYPE_NOTED_TEXT: Final = 2  # note ‖ 0x00 ‖ text, both UTF-8 (crypto/content.py)
CONTENT_TYPES: Final = frozenset({CONTENT_TYPE_TEXT, CONTENT_TYPE_NOTED_TEXT})
MAX_NOTE_CHARS: Final = 40  # a content note's length in Unicode code points

LABEL_WRAP: Final = b"hearth-v1 wrap"
LABEL_KEY: Final = b"hearth-v1 "  # prefix of the key-schedule info
LABEL_COMMIT_SIG: Final = b"hearth-v1 commit-sig"
LABEL_MSG_SIG: Final = b"hearth-v1 msg-sig"
LABEL_FRANK: Final = b"hearth-v1 frank"
LABEL_RTAG: Final = b"hearth-v1 rtag"
LABEL_CONNECT: Final = b"hearth-v1 connect"
LABEL_CHALLENGE: Final = b"hearth-v1 challenge"
LABEL_FPR: Final = b"hearth-v1 fingerprint"
LABEL_ADMIT: Final = b"hearth-v1 admit"
LABEL_INVITE: Final = b"hearth-v1 invite"
LABEL_REMOVE: Final = b"hearth-v1 remove"
LABEL_LEAVE: Final = b"hearth-v1 leave"
LABEL_PQ_KEY: Final = b"hearth-v1 pq-key"
LABEL_HYBRID_WRAP: Final = b"hearth-v1 hybrid-wrap"

# Roster changes a commit carries (docs/protocol.md §6.4): tag bytes and roles.
AUTH_LEGACY_ADMIT: Final = 1  # an admission binding no epoch: parsed, never accepted (§6.4)
AUTH_LEGACY_INVITE_ADMIT: Final = 2  # the same for an unbounded invite certificate
AUTH_REMOVE: Final = 3  # removal signed by a facilitator
AUTH_LEAVE: Final = 4  # leave signed by the member itself
AUTH_ADMIT: Final = 5  # admission signed by a facilitator's member key, bound to an epoch
AUTH_INVITE_ADMIT: Final = 6  # admission signed by an invite key a facilitator certified
ADMISSION_WINDOW: Final = 2  # an admission made at epoch e is valid in commits e+1 and e+2 only
INVITE_CERT_LEN: Final = 8 + 8 + 4 + 64  # issued_epoch ‖ not_after ‖ max_admits ‖ cert_sig
ROLE_MEMBER: Final = 0
ROLE_FACILITATOR: Final = 1
MAX_AUTHORISATIONS: Final = 2 * MAX_ROSTER

# Key-schedule labels (appended to LABEL_KEY).
KEY_LABEL_CONFIRM: Final = b"confirm"
KEY_LABEL_SENDER: Final = b"sender"

# RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM (§7.1–7.3 ids
# 0x0020 / 0x0001 / 0x0001).
HPKE_SUITE: Final = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)


def u8(n: int) -> bytes:
    """Encode ``n`` as one byte."""
    return n.to_bytes(1, "big")


def u16(n: int) -> bytes:
    """Encode ``n`` as a big-endian 16-bit unsigned integer."""
    return n.to_bytes(2, "big")


def u32(n: int) -> bytes:
    """Encode ``n`` as a big-endian 32-bit unsigned integer."""
    return n.to_bytes(4, "big")


def u64(n: int) -> bytes:
    """Encode ``n`` as a big-endian 64-bit unsigned integer."""
    return n.to_bytes(8, "big")


# Every header and suite-1 commit starts with ver ‖ suite (a suite-2 commit with ver ‖ 0x0002).
PREFIX: Final = u8(VERSION) + u16(SUITE)
