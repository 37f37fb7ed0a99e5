"""The hybrid wrap of suite 2: the epoch secret under X25519 and ML-KEM-768 together (§6.9).

``wrap = enc_x(32) ‖ ct_m(1088) ‖ AES-128-GCM(key, nonce, aad = "", secret)(48)`` where
``enc_x`` is an ephemeral X25519 public key, ``ct_m`` an ML-KEM-768 ciphertext, and
``key(16) ‖ nonce(12) = HKDF-SHA256(salt = "", ikm = ss_m ‖ ss_x ‖ ct_m ‖ enc_x ‖ pq_pk ‖
kem_pk, info = LABEL_HYBRID_WRAP ‖ info, 28)``.

This is a KEM combiner of the concatenate-then-KDF kind (NIST SP 800-227 §4.6; the
draft-ietf-tls-hybrid-design key schedule) that also hashes both ciphertexts and both public keys
(the "KitchenSink" combiner of draft-ounsworth-cfrg-kem-combiners, as draft-ietf-openpgp-pqc does),
so that it stays IND-CCA when either component is (Giacon, Heuer, Poettering, PKC 2018). It is
composed from primitives WebCrypto has (X25519, ML-KEM-768, HKDF-SHA256, AES-GCM); X-Wing would
need SHA3-256, which WebCrypto lacks.
"""

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import VerificationFailed
from crypto.fields import require_bytes
from crypto.hpke import MAX_INFO_LEN
from crypto.kdf import hkdf_sha256
from crypto.keys import KemKey, PqKemKey
from crypto.suite import (
    ENC_LEN,
    HYBRID_WRAP_LEN,
    KEM_PK_LEN,
    KEY_LEN,
    LABEL_HYBRID_WRAP,
    NONCE_LEN,
    PQ_CT_LEN,
    PQ_PK_LEN,
    SECRET_LEN,
)

_SHARED_LEN = 32  # both X25519 and ML-KEM-768 give 32-byte shared secrets


def combine(
    *,
    ss_m: bytes,
    ss_x: bytes,
    ct_m: bytes,
    enc_x: bytes,
    pq_pk: bytes,
    kem_pk: bytes,
    info: bytes,
) -> tuple[bytes, bytes]:
    """The AEAD key and nonce of one hybrid wrap from both shared secrets and the transcript."""
    require_bytes("ss_m", ss_m, _SHARED_LEN)
    require_bytes("ss_x", ss_x, _SHARED_LEN)
    require_bytes("ct_m", ct_m, PQ_CT_LEN)
    require_bytes("enc_x", enc_x, ENC_LEN)
    require_bytes("pq_pk", pq_pk, PQ_PK_LEN)
    require_bytes("kem_pk", kem_pk, KEM_PK_LEN)
    _check_info(info)
    okm = hkdf_sha256(
        ikm=ss_m + ss_x + ct_m + enc_x + pq_pk + kem_pk,
        salt=b"",
        info=LABEL_HYBRID_WRAP + info,
        length=KEY_LEN + NONCE_LEN,
    )
    return okm[:KEY_LEN], okm[KEY_LEN:]


def seal_hybrid(
    kem_pk: bytes,
    pq_pk: bytes,
    secret: bytes,
    info: bytes,
    *,
    ephemeral: X25519PrivateKey | None = None,
) -> bytes:
    """Wrap ``secret`` to both keys; ``ValueError`` for a low-order or malformed key.

    ``ephemeral`` fixes the X25519 half for test vectors; ML-KEM encapsulation draws its own
    randomness (pyca offers no deterministic encapsulation).
    """
    require_bytes("kem_pk", kem_pk, KEM_PK_LEN)
    require_bytes("pq_pk", pq_pk, PQ_PK_LEN)
    require_bytes("secret", secret, SECRET_LEN)
    _check_info(info)
    if ephemeral is None:
        ephemeral = X25519PrivateKey.generate()
    try:
        ss_x = ephemeral.exchange(X25519PublicKey.from_public_bytes(kem_pk))
    except ValueError:
        # RFC 7748 §6.1 / RFC 9180 §7.1.4: an all-zero DH output (low-order point) is refused.
        raise ValueError("kem_pk is a low-order X25519 point") from None
    try:
        ss_m, ct_m = MLKEM768PublicKey.from_public_bytes(pq_pk).encapsulate()
    except ValueError:
        raise ValueError("pq_pk is not a valid ML-KEM-768 public key") from None
    enc_x = ephemeral.public_key().public_bytes_raw()
    key, nonce = combine(
        ss_m=ss_m, ss_x=ss_x, ct_m=ct_m, enc_x=enc_x, pq_pk=pq_pk, kem_pk=kem_pk, info=info
    )
    return enc_x + ct_m + AESGCM(key).encrypt(nonce, secret, None)


def open_hybrid(kem: KemKey, pq: PqKemKey, wrap: bytes, info: bytes) -> bytes:
    """Open a hybrid wrap with both private keys or raise ``VerificationFailed``."""
    require_bytes("wrap", wrap, HYBRID_WRAP_LEN)
    _check_info(info)
    enc_x = wrap[:ENC_LEN]
    ct_m = wrap[ENC_LEN : ENC_LEN + PQ_CT_LEN]
    try:
        ss_x = kem.key.exchange(X25519PublicKey.from_public_bytes(enc_x))
        # ML-KEM decapsulation never fails on a well-sized ciphertext: a tampered one yields an
        # unrelated secret (implicit rejection, FIPS 203 §6.3), which the AEAD then refuses.
        ss_m = pq.key.decapsulate(ct_m)
        key, nonce = combine(
            ss_m=ss_m,
            ss_x=ss_x,
            ct_m=ct_m,
            enc_x=enc_x,
            pq_pk=pq.public,
            kem_pk=kem.public,
            info=info,
        )
        return AESGCM(key).decrypt(nonce, wrap[ENC_LEN + PQ_CT_LEN :], None)
    except (InvalidTag, ValueError):
        raise VerificationFailed from None


def _check_info(info: bytes) -> None:
    require_bytes("info", info)
    if len(info) > MAX_INFO_LEN:
        raise ValueError(f"wrap info is limited to {MAX_INFO_LEN} bytes")
