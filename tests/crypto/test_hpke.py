"""HPKE (RFC 9180) for the wraps: the published vectors, and a composition from primitives.

What pyca's public API allows with the RFC 9180 file, and what it does not:

* It has no DeriveKeyPair and no caller-chosen ephemeral key, and ``Suite.encrypt``/``decrypt``
  take no AAD. Every published encryption uses AAD "Count-<seq>" and, past the first, a nonce
  advanced by ``seq`` (§5.2), so none of the 257 ciphertexts can be reproduced or opened through
  the public API.
* What it does allow is checked: the recipient and ephemeral key pairs (pkRm from skRm, pkEm
  from skEm, and ``enc == pkEm``).
* The rest of the file (DeriveKeyPair, shared_secret, key schedule, all 257 ciphertexts, the
  exporter secret) is reproduced by ``ReferenceHpke`` below: HPKE composed from X25519, HMAC and
  AES-GCM exactly as docs/protocol.md tells a WebCrypto implementation to do it (LabeledExtract
  as one HMAC with a 32-zero-byte key for an empty salt, LabeledExpand with L <= 32 as one HMAC).
* Cross-implementation round trips then tie pyca to that composition in both directions, which
  is what makes a wrap from Python open in the browser and back.
* pyca's private ``_decrypt_with_aad`` opens ``enc ‖ ct[0]`` of the file; it is used here only
  as an extra check and skipped if a later pyca drops it.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import hpke as hearth_hpke
from crypto.errors import VerificationFailed
from crypto.keys import KemKey
from crypto.mac import hmac_sha256
from crypto.suite import HPKE_SUITE, WRAP_LEN

RFC9180 = "rfc9180_hpke_base_x25519_sha256_aes128gcm_chacha20poly1305.json"


@dataclass(frozen=True)
class ReferenceHpke:
    """RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, single AEAD."""

    aead_id: int

    @property
    def kem_suite_id(self) -> bytes:
        return b"KEM" + (0x0020).to_bytes(2, "big")  # §4.1

    @property
    def suite_id(self) -> bytes:
        return b"HPKE" + bytes.fromhex("0020") + bytes.fromhex("0001") + self.aead_id.to_bytes(2)

    @property
    def key_len(self) -> int:
        return {1: 16, 3: 32}[self.aead_id]

    @staticmethod
    def labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
        # §4: Extract(salt, "HPKE-v1" ‖ suite_id ‖ label ‖ ikm); HKDF-Extract is one HMAC keyed
        # by the salt, and an empty salt is HashLen zero bytes (RFC 5869 §2.2).
        return hmac_sha256(salt or bytes(32), b"HPKE-v1" + suite_id + label + ikm)

    @staticmethod
    def labeled_expand(
        suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int
    ) -> bytes:
        # §4: Expand(prk, I2OSP(L, 2) ‖ "HPKE-v1" ‖ suite_id ‖ label ‖ info, L); one block
        # (T(1) = HMAC(prk, info ‖ 0x01)) suffices for L <= 32.
        assert length <= 32
        labeled = length.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info
        return hmac_sha256(prk, labeled + b"\x01")[:length]

    def derive_key_pair(self, ikm: bytes) -> bytes:
        """§7.1.3 DeriveKeyPair for X25519: the private key bytes."""
        prk = self.labeled_extract(self.kem_suite_id, b"", b"dkp_prk", ikm)
        return self.labeled_expand(self.kem_suite_id, prk, b"sk", b"", 32)

    def shared_secret(self, dh: bytes, enc: bytes, pk_r: bytes) -> bytes:
        """§4.1 ExtractAndExpand over the DH output and kem_context = enc ‖ pkRm."""
        assert dh != bytes(32)  # §7.1.4; WebCrypto deriveBits throws here
        prk = self.labeled_extract(self.kem_suite_id, b"", b"eae_prk", dh)
        return self.labeled_expand(self.kem_suite_id, prk, b"shared_secret", enc + pk_r, 32)

    def key_schedule(self, shared_secret: bytes, info: bytes) -> dict[str, bytes]:
        """§5.1 KeySchedule in mode_base (psk and psk_id empty)."""
        sid = self.suite_id
        psk_id_hash = self.labeled_extract(sid, b"", b"psk_id_hash", b"")
        info_hash = self.labeled_extract(sid, b"", b"info_hash", info)
        context = b"\x00" + psk_id_hash + info_hash
        secret = self.labeled_extract(sid, shared_secret, b"secret", b"")
        return {
            "key_schedule_context": context,
            "secret": secret,
            "key": self.labeled_expand(sid, secret, b"key", context, self.key_len),
            "base_nonce": self.labeled_expand(sid, secret, b"base_nonce", context, 12),
            "exporter_secret": self.labeled_expand(sid, secret, b"exp", context, 32),
        }

    def aead(self, key: bytes) -> AESGCM | ChaCha20Poly1305:
        return AESGCM(key) if self.aead_id == 1 else ChaCha20Poly1305(key)

    @staticmethod
    def nonce(base_nonce: bytes, seq: int) -> bytes:
        """§5.2 ComputeNonce: base_nonce XOR I2OSP(seq, Nn)."""
        return bytes(a ^ b for a, b in zip(base_nonce, seq.to_bytes(12, "big"), strict=True))

    def seal(self, pk_r: bytes, info: bytes, pt: bytes, sk_e: bytes) -> bytes:
        """Single-shot SealBase (§6.1) with a given ephemeral key, empty AAD: enc ‖ ct."""
        ephemeral = X25519PrivateKey.from_private_bytes(sk_e)
        enc = ephemeral.public_key().public_bytes_raw()
        dh = ephemeral.exchange(X25519PublicKey.from_public_bytes(pk_r))
        ks = self.key_schedule(self.shared_secret(dh, enc, pk_r), info)
        return enc + self.aead(ks["key"]).encrypt(ks["base_nonce"], pt, b"")

    def open(self, sk_r: bytes, info: bytes, sealed: bytes) -> bytes:
        """Single-shot OpenBase (§6.1), empty AAD."""
        enc, ct = sealed[:32], sealed[32:]
        recipient = X25519PrivateKey.from_private_bytes(sk_r)
        pk_r = recipient.public_key().public_bytes_raw()
        dh = recipient.exchange(X25519PublicKey.from_public_bytes(enc))
        ks = self.key_schedule(self.shared_secret(dh, enc, pk_r), info)
        return self.aead(ks["key"]).decrypt(ks["base_nonce"], ct, b"")


@pytest.fixture(params=[1, 3], ids=["aead_id=1", "aead_id=3"])
def rfc_entry(request: pytest.FixtureRequest, vectors: Any) -> dict[str, Any]:
    entries = {e["aead_id"]: e for e in vectors(RFC9180)}
    entry: dict[str, Any] = entries[request.param]
    assert (entry["mode"], entry["kem_id"], entry["kdf_id"]) == (0, 0x20, 1)
    return entry


def hx(entry: dict[str, Any], field: str) -> bytes:
    return bytes.fromhex(entry[field])


def test_rfc9180_key_pairs_through_kem_key(rfc_entry: dict[str, Any]) -> None:
    """The part the public API allows: raw key import gives the published public keys."""
    assert KemKey.from_raw(hx(rfc_entry, "skRm")).public == hx(rfc_entry, "pkRm")
    assert KemKey.from_raw(hx(rfc_entry, "skEm")).public == hx(rfc_entry, "pkEm")
    assert hx(rfc_entry, "enc") == hx(rfc_entry, "pkEm")  # §4.1 SerializePublicKey


def test_rfc9180_reference_composition_reproduces_every_field(rfc_entry: dict[str, Any]) -> None:
    ref = ReferenceHpke(rfc_entry["aead_id"])
    assert ref.derive_key_pair(hx(rfc_entry, "ikmR")) == hx(rfc_entry, "skRm")
    assert ref.derive_key_pair(hx(rfc_entry, "ikmE")) == hx(rfc_entry, "skEm")
    recipient = X25519PrivateKey.from_private_bytes(hx(rfc_entry, "skRm"))
    dh = recipient.exchange(X25519PublicKey.from_public_bytes(hx(rfc_entry, "enc")))
    shared = ref.shared_secret(dh, hx(rfc_entry, "enc"), hx(rfc_entry, "pkRm"))
    assert shared == hx(rfc_entry, "shared_secret")
    schedule = ref.key_schedule(shared, hx(rfc_entry, "info"))
    for field, value in schedule.items():
        assert value == hx(rfc_entry, field), field
    aead = ref.aead(schedule["key"])
    assert len(rfc_entry["encryptions"]) == 257
    for seq, encryption in enumerate(rfc_entry["encryptions"]):
        nonce = ref.nonce(schedule["base_nonce"], seq)
        assert nonce == hx(encryption, "nonce")
        ct, aad, pt = hx(encryption, "ct"), hx(encryption, "aad"), hx(encryption, "pt")
        assert aead.encrypt(nonce, pt, aad) == ct
        assert aead.decrypt(nonce, ct, aad) == pt


def test_rfc9180_first_ciphertext_through_pyca_private_api(vectors: Any) -> None:
    from cryptography.hazmat.bindings._rust import openssl

    decrypt_with_aad = getattr(openssl.hpke, "_decrypt_with_aad", None)
    if decrypt_with_aad is None:
        pytest.skip("pyca no longer has the private _decrypt_with_aad")
    # Hearth's HPKE suite is AES-128-GCM: the aead_id=1 entry.
    rfc_entry = next(e for e in vectors(RFC9180) if e["aead_id"] == 1)
    first = rfc_entry["encryptions"][0]
    recipient = X25519PrivateKey.from_private_bytes(hx(rfc_entry, "skRm"))
    data = hx(rfc_entry, "enc") + hx(first, "ct")
    plain = decrypt_with_aad(HPKE_SUITE, data, recipient, hx(rfc_entry, "info"), hx(first, "aad"))
    assert plain == hx(first, "pt")


@settings(max_examples=25, deadline=None)
@given(pt=st.binary(min_size=32, max_size=32), info=st.binary(max_size=128))
def test_pyca_wraps_open_with_the_reference_composition(pt: bytes, info: bytes) -> None:
    kem = KemKey.generate()
    wrap = hearth_hpke.seal_secret(kem.public, pt, info)
    assert len(wrap) == WRAP_LEN
    assert ReferenceHpke(1).open(kem.raw(), info, wrap) == pt


@settings(max_examples=25, deadline=None)
@given(pt=st.binary(min_size=32, max_size=32), info=st.binary(max_size=128))
def test_reference_wraps_open_with_pyca(pt: bytes, info: bytes) -> None:
    kem = KemKey.generate()
    wrap = ReferenceHpke(1).seal(kem.public, info, pt, KemKey.generate().raw())
    assert hearth_hpke.open_secret(kem, wrap, info) == pt


def test_wrong_info_or_key_fails_opaquely() -> None:
    kem = KemKey.generate()
    wrap = hearth_hpke.seal_secret(kem.public, bytes(32), b"info")
    with pytest.raises(VerificationFailed):
        hearth_hpke.open_secret(kem, wrap, b"other")
    with pytest.raises(VerificationFailed):
        hearth_hpke.open_secret(KemKey.generate(), wrap, b"info")


def test_low_order_points_are_refused() -> None:
    kem = KemKey.generate()
    with pytest.raises(ValueError, match="low-order"):
        hearth_hpke.seal_secret(bytes(32), bytes(32), b"")
    # An enc that is a low-order point gives an all-zero DH: refused, opaquely.
    with pytest.raises(VerificationFailed):
        hearth_hpke.open_secret(kem, bytes(WRAP_LEN), b"")


@pytest.mark.parametrize(
    ("kem_pk", "secret", "info"),
    [(bytes(31), bytes(32), b""), (bytes(32), bytes(31), b""), (bytes(32), bytes(32), bytes(129))],
)
def test_seal_malformed_input(kem_pk: bytes, secret: bytes, info: bytes) -> None:
    with pytest.raises(ValueError, match=r"must be|limited to"):
        hearth_hpke.seal_secret(kem_pk, secret, info)


def test_open_wrong_length() -> None:
    with pytest.raises(ValueError, match="wrap must be 80 bytes"):
        hearth_hpke.open_secret(KemKey.generate(), bytes(WRAP_LEN - 1), b"")
