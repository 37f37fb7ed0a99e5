"""The hybrid suite 2 (§6.9): ML-KEM-768 against published vectors, the X25519 + ML-KEM-768 wrap,
suite-2 commits, and the rule that a group's suite never goes down."""

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.commits import build_commit, open_commit, parse_commit, verify_commit, wrap_info
from crypto.errors import VerificationFailed
from crypto.groupstate import UntrustedCommit, advance, genesis_state
from crypto.hybrid import combine, open_hybrid, seal_hybrid
from crypto.keys import KemKey, MemberKeys, PqKemKey, SigningKey
from crypto.roster import PqKey
from crypto.suite import ENC_LEN, HYBRID_WRAP_LEN, PQ_CT_LEN, SUITE, SUITE_HYBRID

VECTORS = Path(__file__).parents[1] / "vectors"
KAT: list[dict[str, str]] = json.loads((VECTORS / "mlkem768_kat_subset.json").read_text())
HYBRID: dict[str, Any] = json.loads((VECTORS / "hearth-hybrid-v1.json").read_text())
INFO = b"hearth-v1 wrap" + bytes(72)


@pytest.mark.parametrize("vector", KAT, ids=lambda v: f"count{v['count']}")
def test_mlkem768_published_vectors(vector: dict[str, str]) -> None:
    key = PqKemKey.from_seed(bytes.fromhex(vector["d"] + vector["z"]))
    assert key.public.hex() == vector["pk"]
    assert key.key.decapsulate(bytes.fromhex(vector["ct"])).hex() == vector["ss"]
    # FIPS 203 implicit rejection: a modified ciphertext gives the pseudo-random ss_n
    assert key.key.decapsulate(bytes.fromhex(vector["ct_n"])).hex() == vector["ss_n"]


def _recipient() -> tuple[KemKey, PqKemKey]:
    return KemKey.generate(), PqKemKey.generate()


def test_hybrid_wrap_round_trip_and_size() -> None:
    kem, pq = _recipient()
    secret = os.urandom(32)
    wrap = seal_hybrid(kem.public, pq.public, secret, INFO)
    assert len(wrap) == HYBRID_WRAP_LEN == 1168
    assert open_hybrid(kem, pq, wrap, INFO) == secret
    assert seal_hybrid(kem.public, pq.public, secret, INFO) != wrap  # fresh randomness


@settings(max_examples=25, deadline=None)
@given(secret=st.binary(min_size=32, max_size=32), info=st.binary(max_size=128))
def test_hybrid_wrap_round_trip_property(secret: bytes, info: bytes) -> None:
    kem, pq = _recipient()
    assert open_hybrid(kem, pq, seal_hybrid(kem.public, pq.public, secret, info), info) == secret


@pytest.mark.parametrize(
    ("half", "offset"),
    [
        ("x25519", 0),
        ("x25519", ENC_LEN - 1),
        ("mlkem", ENC_LEN),
        ("mlkem", ENC_LEN + PQ_CT_LEN - 1),
        ("aead", ENC_LEN + PQ_CT_LEN),
        ("aead", HYBRID_WRAP_LEN - 1),
    ],
)
def test_a_tampered_half_does_not_open(half: str, offset: int) -> None:
    kem, pq = _recipient()
    wrap = bytearray(seal_hybrid(kem.public, pq.public, bytes(32), INFO))
    wrap[offset] ^= 0x01
    with pytest.raises(VerificationFailed):
        open_hybrid(kem, pq, bytes(wrap), INFO)


def test_one_right_private_key_is_not_enough() -> None:
    """Whoever holds only the X25519 key (a broken X25519) or only the ML-KEM key cannot open."""
    kem, pq = _recipient()
    wrap = seal_hybrid(kem.public, pq.public, bytes(32), INFO)
    other_kem, other_pq = _recipient()
    with pytest.raises(VerificationFailed):
        open_hybrid(kem, other_pq, wrap, INFO)
    with pytest.raises(VerificationFailed):
        open_hybrid(other_kem, pq, wrap, INFO)
    with pytest.raises(VerificationFailed):
        open_hybrid(kem, pq, wrap, INFO + b"x")


def test_seal_refuses_bad_keys() -> None:
    kem, pq = _recipient()
    with pytest.raises(ValueError, match="low-order"):
        seal_hybrid(bytes(32), pq.public, bytes(32), INFO)
    with pytest.raises(ValueError, match="pq_pk must be 1184 bytes"):
        seal_hybrid(kem.public, pq.public[:-1], bytes(32), INFO)
    with pytest.raises(ValueError, match="ML-KEM-768"):
        seal_hybrid(kem.public, b"\xff" * 1184, bytes(32), INFO)  # coefficients >= q
    with pytest.raises(ValueError, match="info"):
        seal_hybrid(kem.public, pq.public, bytes(32), bytes(129))


def _member(name: str) -> MemberKeys:
    for vector in HYBRID["members"]:
        if vector["name"] == name:
            return MemberKeys(
                bytes.fromhex(vector["member_id"]),
                SigningKey.from_raw(bytes.fromhex(vector["sig_sk"])),
                KemKey.from_raw(bytes.fromhex(vector["kem_sk"])),
                PqKemKey.from_seed(bytes.fromhex(vector["pq_seed"])),
            )
    raise KeyError(name)


def test_vectors_deterministic_parts_regenerate() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "generate_hybrid_vectors", VECTORS / "generate_hybrid_vectors.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for key, value in module.deterministic_vectors().items():
        assert HYBRID[key] == value, key


def test_vectors_combiner() -> None:
    vector = HYBRID["combiner"]
    names = ("ss_m", "ss_x", "ct_m", "enc_x", "pq_pk", "kem_pk", "info")
    key, nonce = combine(**{n: bytes.fromhex(vector[n]) for n in names})
    assert (key.hex(), nonce.hex()) == (vector["key"], vector["nonce"])


def test_vectors_recorded_wrap_opens() -> None:
    bob = _member("bob")
    assert bob.pq is not None
    wrap = HYBRID["wrap"]
    secret = open_hybrid(bob.kem, bob.pq, bytes.fromhex(wrap["wrap"]), bytes.fromhex(wrap["info"]))
    assert secret.hex() == wrap["secret"]


def test_vectors_commit_opens_and_downgrade_is_refused() -> None:
    alice = _member("alice")
    genesis = parse_commit(bytes.fromhex(HYBRID["commits"]["genesis"]))
    assert genesis.suite == SUITE_HYBRID
    assert open_commit(genesis, alice).hex() == HYBRID["commits"]["opens_to_epoch_secret"]
    state, _ = genesis_state(genesis)
    assert state.suite == SUITE_HYBRID
    downgrade = parse_commit(bytes.fromhex(HYBRID["commits"]["downgrade"]))
    assert downgrade.suite == SUITE
    with pytest.raises(UntrustedCommit, match="lowers the group's cipher suite"):
        advance(state, downgrade)


def _group(n: int) -> tuple[bytes, list[MemberKeys]]:
    return os.urandom(16), [MemberKeys.generate() for _ in range(n)]


def test_hybrid_commit_round_trip_for_every_member() -> None:
    group_id, members = _group(5)
    commit, secret = build_commit(
        group_id=group_id,
        epoch=3,
        prev_commit_hash=os.urandom(32),
        committer=members[0],
        roster=[m.entry for m in members],
        pq_keys={m.member_id: m.pq_key(group_id) for m in members},
    )
    parsed = parse_commit(commit.raw)
    assert parsed == commit
    assert parsed.suite == SUITE_HYBRID
    # header(77) ‖ 5 × (entry 80 ‖ pq key 1248 ‖ wrap 1168) ‖ f(2) ‖ a(2) ‖ confirm ‖ sig
    assert len(commit.raw) == 77 + 5 * (80 + 1248 + 1168) + 4 + 96
    for member in members:
        assert open_commit(parsed, member) == secret
    suite1 = MemberKeys(members[1].member_id, members[1].signing, members[1].kem)  # no pq key
    with pytest.raises(VerificationFailed):
        open_commit(parsed, suite1)


def test_a_hybrid_commit_needs_a_signed_pq_key_for_everyone() -> None:
    group_id, members = _group(2)
    roster = [m.entry for m in members]
    common = {
        "group_id": group_id,
        "epoch": 1,
        "prev_commit_hash": bytes(32),
        "committer": members[0],
        "roster": roster,
    }
    with pytest.raises(ValueError, match="every member"):
        build_commit(**common, pq_keys={members[0].member_id: members[0].pq_key(group_id)})
    forged = {m.member_id: m.pq_key(group_id) for m in members}
    forged[members[1].member_id] = PqKey(PqKemKey.generate().public, bytes(64))
    with pytest.raises(ValueError, match="not signed by its member"):
        build_commit(**common, pq_keys=forged)
    other_group = {m.member_id: m.pq_key(os.urandom(16)) for m in members}
    with pytest.raises(ValueError, match="not signed by its member"):
        build_commit(**common, pq_keys=other_group)


def test_a_swapped_pq_key_fails_verification() -> None:
    """A relay that puts its own ML-KEM key in a member's entry is caught by every verifier."""
    group_id, members = _group(2)
    commit, _ = build_commit(
        group_id=group_id,
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=members[0],
        roster=[m.entry for m in members],
        pq_keys={m.member_id: m.pq_key(group_id) for m in members},
    )
    index = next(i for i, e in enumerate(commit.roster) if e.member_id == members[1].member_id)
    start = 3 + 16 + 8 + 32 + 16 + 2 + index * 1328 + 80
    raw = bytearray(commit.raw)
    raw[start : start + 1184] = PqKemKey.generate().public
    with pytest.raises(VerificationFailed):
        verify_commit(parse_commit(bytes(raw)))


def _chain(hybrid_first: bool, hybrid_second: bool) -> tuple[Any, Any]:
    group_id, (alice,) = _group(1)
    pq = {alice.member_id: alice.pq_key(group_id)}
    first, _ = build_commit(
        group_id=group_id,
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=alice,
        roster=[alice.entry],
        facilitators=[alice.member_id],
        pq_keys=pq if hybrid_first else None,
    )
    second, _ = build_commit(
        group_id=group_id,
        epoch=2,
        prev_commit_hash=first.hash,
        committer=alice,
        roster=[alice.entry],
        facilitators=[alice.member_id],
        pq_keys=pq if hybrid_second else None,
    )
    return genesis_state(first)[0], second


def test_the_suite_goes_up_never_down() -> None:
    state, upgrade = _chain(False, True)
    assert state.suite == SUITE
    assert advance(state, upgrade)[0].suite == SUITE_HYBRID
    state, same = _chain(True, True)
    assert advance(state, same)[0].suite == SUITE_HYBRID
    state, downgrade = _chain(True, False)
    with pytest.raises(UntrustedCommit, match="lowers"):
        advance(state, downgrade)


def test_a_members_pq_key_cannot_change() -> None:
    group_id, (alice,) = _group(1)
    first, _ = build_commit(
        group_id=group_id,
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=alice,
        roster=[alice.entry],
        facilitators=[alice.member_id],
        pq_keys={alice.member_id: alice.pq_key(group_id)},
    )
    rekeyed = MemberKeys(alice.member_id, alice.signing, alice.kem, PqKemKey.generate())
    second, _ = build_commit(
        group_id=group_id,
        epoch=2,
        prev_commit_hash=first.hash,
        committer=rekeyed,
        roster=[alice.entry],
        facilitators=[alice.member_id],
        pq_keys={alice.member_id: rekeyed.pq_key(group_id)},
    )
    with pytest.raises(UntrustedCommit, match="ML-KEM key changed"):
        advance(genesis_state(first)[0], second)


def test_wrap_info_is_the_same_in_both_suites() -> None:
    assert len(wrap_info(bytes(16), 1, bytes(16), bytes(32))) == 86
