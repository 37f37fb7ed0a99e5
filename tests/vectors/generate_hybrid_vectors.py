"""Generate ``hearth-hybrid-v1.json``: vectors of the hybrid suite 2 (docs/protocol.md §6.9).

Run from the repository root: ``.venv/bin/python tests/vectors/generate_hybrid_vectors.py``.

Keys and inputs are fixed as in ``hearth-v1.json``: ``fixed(name, n)`` is the first ``n`` bytes of
SHA-256("hearth-v1 vector " ‖ name); ML-KEM keys come from a fixed 64-byte seed ``d ‖ z``.
The combiner and the signed ML-KEM keys are deterministic. ML-KEM encapsulation is not: pyca (and
WebCrypto) take no caller-chosen randomness, so the vectors fix the decapsulation side: a wrap
(whose X25519 half uses a fixed ephemeral key) and a commit are generated once and kept while they
still open to the recorded secret, and every implementation must open them to it.
All binary values are lowercase hex.
"""

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey  # noqa: E402

from crypto.commits import build_commit, open_commit, parse_commit, wrap_info  # noqa: E402
from crypto.errors import VerificationFailed  # noqa: E402
from crypto.groupstate import UntrustedCommit, advance, genesis_state  # noqa: E402
from crypto.hybrid import combine, open_hybrid, seal_hybrid  # noqa: E402
from crypto.keys import KemKey, MemberKeys, PqKemKey, SigningKey  # noqa: E402
from crypto.suite import SUITE_HYBRID  # noqa: E402

VECTORS = Path(__file__).with_name("hearth-hybrid-v1.json")
MEMBER_NAMES = ("alice", "bob")


def fixed(name: str, length: int) -> bytes:
    """Deterministic test input: SHA-256("hearth-v1 vector " ‖ name) repeated, cut to length."""
    out = b""
    counter = 0
    while len(out) < length:
        suffix = "" if counter == 0 else f" {counter}"
        out += hashlib.sha256(b"hearth-v1 vector " + (name + suffix).encode()).digest()
        counter += 1
    return out[:length]


def member(name: str) -> MemberKeys:
    return MemberKeys(
        fixed(f"{name} member_id", 16),
        SigningKey.from_raw(fixed(f"{name} sig_sk", 32)),
        KemKey.from_raw(fixed(f"{name} kem_sk", 32)),
        PqKemKey.from_seed(fixed(f"{name} pq_seed", 64)),
    )


def _member_vector(name: str, group_id: bytes) -> dict[str, str]:
    keys = member(name)
    assert keys.pq is not None
    return {
        "name": name,
        "member_id": keys.member_id.hex(),
        "sig_sk": keys.signing.raw().hex(),
        "kem_sk": keys.kem.raw().hex(),
        "pq_seed": keys.pq.seed().hex(),
        "pq_pk": keys.pq.public.hex(),
        "pq_key": keys.pq_key(group_id).encode().hex(),  # pq_pk ‖ Ed25519 signature
    }


def deterministic_vectors() -> dict[str, Any]:
    group_id = fixed("group_id", 16)
    bob = member("bob")
    assert bob.pq is not None
    inputs = {
        "ss_m": fixed("combiner ss_m", 32),
        "ss_x": fixed("combiner ss_x", 32),
        "ct_m": fixed("combiner ct_m", 1088),
        "enc_x": fixed("combiner enc_x", 32),
        "pq_pk": bob.pq.public,
        "kem_pk": bob.kem.public,
        "info": wrap_info(group_id, 1, bob.member_id, fixed("roster digest", 32)),
    }
    key, nonce = combine(**inputs)
    return {
        "derivation": "fixed(name, n) = SHA-256('hearth-v1 vector ' + name [+ ' k' for the k-th "
        "further block]) cut to n bytes; ML-KEM keys from the 64-byte seed d || z",
        "version": 1,
        "suite": SUITE_HYBRID,
        "group_id": group_id.hex(),
        "members": [_member_vector(n, group_id) for n in MEMBER_NAMES],
        "combiner": {
            **{k: v.hex() for k, v in inputs.items()},
            "key": key.hex(),
            "nonce": nonce.hex(),
        },
    }


def _wrap_opens(recorded: dict[str, str] | None) -> bool:
    if recorded is None:
        return False
    bob = member("bob")
    assert bob.pq is not None
    try:
        secret = open_hybrid(
            bob.kem, bob.pq, bytes.fromhex(recorded["wrap"]), bytes.fromhex(recorded["info"])
        )
    except (VerificationFailed, ValueError, KeyError):
        return False
    return secret.hex() == recorded["secret"]


def wrap_vector(previous: dict[str, str] | None) -> dict[str, str]:
    """One hybrid wrap to bob: X25519 ephemeral fixed, ML-KEM randomised (kept once made)."""
    if _wrap_opens(previous):
        assert previous is not None
        return previous
    bob = member("bob")
    assert bob.pq is not None
    ephemeral = X25519PrivateKey.from_private_bytes(fixed("wrap ephemeral", 32))
    info = wrap_info(fixed("group_id", 16), 1, bob.member_id, fixed("roster digest", 32))
    secret = fixed("epoch_secret", 32)
    wrap = seal_hybrid(bob.kem.public, bob.pq.public, secret, info, ephemeral=ephemeral)
    return {
        "note": "enc_x from the fixed ephemeral; ct_m randomised; open with bob's keys",
        "ephemeral_sk": fixed("wrap ephemeral", 32).hex(),
        "info": info.hex(),
        "wrap": wrap.hex(),
        "secret": secret.hex(),
    }


def _commits() -> tuple[bytes, bytes]:
    """A suite-2 genesis by alice, then a suite-1 commit on top of it (a downgrade)."""
    alice = member("alice")
    group_id = fixed("group_id", 16)
    genesis, _ = build_commit(
        group_id=group_id,
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=alice,
        roster=[alice.entry],
        facilitators=[alice.member_id],
        epoch_secret=fixed("epoch_secret", 32),
        pq_keys={alice.member_id: alice.pq_key(group_id)},
    )
    downgrade, _ = build_commit(
        group_id=group_id,
        epoch=2,
        prev_commit_hash=genesis.hash,
        committer=alice,
        roster=[alice.entry],
        facilitators=[alice.member_id],
    )
    return genesis.raw, downgrade.raw


def commits_valid(recorded: dict[str, str] | None) -> bool:
    if recorded is None:
        return False
    try:
        genesis = parse_commit(bytes.fromhex(recorded["genesis"]))
        state, _ = genesis_state(genesis)
        if open_commit(genesis, member("alice")).hex() != recorded["opens_to_epoch_secret"]:
            return False
        advance(state, parse_commit(bytes.fromhex(recorded["downgrade"])))
    except UntrustedCommit:
        return True  # the downgrade is refused, as it must be
    except (VerificationFailed, ValueError, KeyError):
        return False
    return False


def commit_vectors(previous: dict[str, str] | None) -> dict[str, str]:
    if commits_valid(previous):
        assert previous is not None
        return previous
    genesis, downgrade = _commits()
    return {
        "note": "genesis: suite 2, alice alone, opens to opens_to_epoch_secret; downgrade: a "
        "suite-1 commit on top of it, which every client must refuse",
        "genesis": genesis.hex(),
        "opens_to_epoch_secret": fixed("epoch_secret", 32).hex(),
        "downgrade": downgrade.hex(),
    }


def build_vectors(previous: dict[str, Any] | None) -> dict[str, Any]:
    vectors = deterministic_vectors()
    vectors["wrap"] = wrap_vector(None if previous is None else previous.get("wrap"))
    vectors["commits"] = commit_vectors(None if previous is None else previous.get("commits"))
    return vectors


def main() -> None:
    previous = json.loads(VECTORS.read_text()) if VECTORS.exists() else None
    VECTORS.write_text(json.dumps(build_vectors(previous), indent=2) + "\n")
    print(f"wrote {VECTORS}")


if __name__ == "__main__":
    main()
