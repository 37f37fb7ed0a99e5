"""The page's hybrid suite 2 (crypto.js, groupstate.js; docs/protocol.md §6.9) in headless
Chromium: ML-KEM-768 against published vectors, the combiner and recorded wraps of
hearth-hybrid-v1.json, and commits that Python and the browser build for each other."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from crypto.commits import build_commit, open_commit, parse_commit, verify_commit
from crypto.groupstate import UntrustedCommit, advance, genesis_state
from crypto.keys import KemKey, MemberKeys, PqKemKey, SigningKey

pytestmark = pytest.mark.browser

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
KAT = json.loads((VECTORS / "mlkem768_kat_subset.json").read_text())
HYBRID = json.loads((VECTORS / "hearth-hybrid-v1.json").read_text())

PRELUDE = """
async () => {
  window.gs = await import('/js/groupstate.js');
  const hc = window.hc;
  window.H = (s) => hc.unhex(s);
  window.X = (b) => hc.hex(b);
  window.member = (m) =>
    hc.importMemberKeys(hc.unhex(m.member_id), hc.unhex(m.sig_sk), hc.unhex(m.kem_sk),
                        hc.unhex(m.pq_seed));
}
"""


@pytest.fixture(scope="module")
def page(crypto_page: Any) -> Any:
    crypto_page.evaluate(PRELUDE)
    return crypto_page


def js(page: Any, body: str, arg: Any = None) -> Any:
    return page.evaluate(
        f"async (arg) => {{ const hc = window.hc; const gs = window.gs; {body} }}", arg
    )


def _python_member(vector: dict[str, str]) -> MemberKeys:
    return MemberKeys(
        bytes.fromhex(vector["member_id"]),
        SigningKey.from_raw(bytes.fromhex(vector["sig_sk"])),
        KemKey.from_raw(bytes.fromhex(vector["kem_sk"])),
        PqKemKey.from_seed(bytes.fromhex(vector["pq_seed"])),
    )


def _member_vector(keys: MemberKeys) -> dict[str, str]:
    assert keys.pq is not None
    return {
        "member_id": keys.member_id.hex(),
        "sig_sk": keys.signing.raw().hex(),
        "kem_sk": keys.kem.raw().hex(),
        "pq_seed": keys.pq.seed().hex(),
    }


def test_chromium_has_mlkem768(page: Any) -> None:
    assert js(page, "return await hc.supportsHybrid();") is True


def test_mlkem768_published_vectors(page: Any) -> None:
    results = js(
        page,
        """
        const out = [];
        for (const v of arg) {
          const key = await hc.importPqKey(H(v.d + v.z));
          const dec = async (ct) => X(new Uint8Array(
            await crypto.subtle.decapsulateBits({name: 'ML-KEM-768'}, key.privateKey, H(ct))));
          out.push([X(key.publicKey), await dec(v.ct), await dec(v.ct_n)]);
        }
        return out;
        """,
        KAT,
    )
    assert results == [[v["pk"], v["ss"], v["ss_n"]] for v in KAT]


def test_combiner_vector(page: Any) -> None:
    vector = HYBRID["combiner"]
    result = js(
        page,
        """
        const v = arg;
        const r = await hc.hybridCombine({ ssM: H(v.ss_m), ssX: H(v.ss_x), ctM: H(v.ct_m),
          encX: H(v.enc_x), pqPk: H(v.pq_pk), kemPk: H(v.kem_pk), info: H(v.info) });
        return [X(r.key), X(r.nonce)];
        """,
        vector,
    )
    assert result == [vector["key"], vector["nonce"]]


def test_signed_pq_keys_match_python_byte_for_byte(page: Any) -> None:
    result = js(
        page,
        """
        const out = [];
        for (const m of arg.members) {
          const keys = await member(m);
          const signed = await hc.signPqKey(H(arg.group_id), keys);
          out.push([X(keys.pq.publicKey), X(hc.encodePqKey(signed))]);
        }
        return out;
        """,
        HYBRID,
    )
    assert result == [[m["pq_pk"], m["pq_key"]] for m in HYBRID["members"]]


def test_recorded_wrap_opens_and_its_tampered_halves_do_not(page: Any) -> None:
    bob = next(m for m in HYBRID["members"] if m["name"] == "bob")
    wrap = HYBRID["wrap"]
    result = js(
        page,
        """
        const bob = await member(arg.bob);
        const info = H(arg.wrap.info);
        const opened = X(await hc.hybridOpen(bob.kem, bob.pq, info, H(arg.wrap.wrap)));
        const tampered = [];
        for (const at of [0, 31, 32, 32 + 1087, 32 + 1088, 1167]) {
          const bad = H(arg.wrap.wrap);
          bad[at] ^= 1;
          try { await hc.hybridOpen(bob.kem, bob.pq, info, bad); tampered.push('opened'); }
          catch (e) { tampered.push(e.name); }
        }
        return [opened, tampered];
        """,
        {"bob": bob, "wrap": wrap},
    )
    assert result[0] == wrap["secret"]
    assert result[1] == ["VerificationFailed"] * 6


def test_recorded_commit_opens_and_its_downgrade_is_refused(page: Any) -> None:
    alice = next(m for m in HYBRID["members"] if m["name"] == "alice")
    result = js(
        page,
        """
        const alice = await member(arg.alice);
        const genesis = await hc.parseCommit(H(arg.commits.genesis));
        const secret = X(await hc.openCommit(genesis, alice));
        const { state } = await gs.genesisState(genesis);
        const downgrade = await hc.parseCommit(H(arg.commits.downgrade));
        let refused = null;
        try { await gs.advance(state, downgrade); } catch (e) { refused = e.message; }
        return [genesis.suite, secret, gs.protection(state), downgrade.suite, refused];
        """,
        {"alice": alice, "commits": HYBRID["commits"]},
    )
    assert result == [
        2,
        HYBRID["commits"]["opens_to_epoch_secret"],
        "hybrid",
        1,
        "the commit lowers the group's cipher suite",
    ]


def test_python_hybrid_commit_opens_in_the_browser(page: Any) -> None:
    group_id = os.urandom(16)
    members = [MemberKeys.generate() for _ in range(4)]
    commit, secret = build_commit(
        group_id=group_id,
        epoch=7,
        prev_commit_hash=os.urandom(32),
        committer=members[0],
        roster=[m.entry for m in members],
        pq_keys={m.member_id: m.pq_key(group_id) for m in members},
    )
    opened = js(
        page,
        """
        const commit = await hc.parseCommit(H(arg.commit));
        const out = [];
        for (const m of arg.members) out.push(X(await hc.openCommit(commit, await member(m))));
        return out;
        """,
        {"commit": commit.raw.hex(), "members": [_member_vector(m) for m in members]},
    )
    assert opened == [secret.hex()] * 4


def test_browser_hybrid_commit_opens_in_python(page: Any) -> None:
    group_id = os.urandom(16)
    members = [MemberKeys.generate() for _ in range(3)]
    result = js(
        page,
        """
        const groupId = H(arg.group_id);
        const keys = [];
        for (const m of arg.members) keys.push(await member(m));
        const pqKeys = new Map();
        for (const k of keys) pqKeys.set(X(k.memberId), await hc.signPqKey(groupId, k));
        const { commit, secret } = await hc.buildCommit({
          groupId, epoch: 2, prevCommitHash: new Uint8Array(32), committer: keys[0],
          roster: keys.map(hc.rosterEntry), facilitators: [keys[0].memberId], pqKeys });
        return [X(commit.raw), X(secret)];
        """,
        {"group_id": group_id.hex(), "members": [_member_vector(m) for m in members]},
    )
    commit = parse_commit(bytes.fromhex(result[0]))
    assert commit.suite == 2
    verify_commit(commit)
    for member in members:
        assert open_commit(commit, member).hex() == result[1]
    # the browser's signed pq keys are byte for byte Python's (Ed25519 is deterministic)
    assert commit.pq_map() == {m.member_id: m.pq_key(group_id) for m in members}


def test_browser_refuses_what_python_refuses(page: Any) -> None:
    """A suite-1 commit on top of a hybrid one: refused by both implementations."""
    group_id = os.urandom(16)
    alice = MemberKeys.generate()
    genesis, _ = build_commit(
        group_id=group_id,
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=alice,
        roster=[alice.entry],
        facilitators=[alice.member_id],
        pq_keys={alice.member_id: alice.pq_key(group_id)},
    )
    lower, _ = build_commit(
        group_id=group_id,
        epoch=2,
        prev_commit_hash=genesis.hash,
        committer=alice,
        roster=[alice.entry],
        facilitators=[alice.member_id],
    )
    with pytest.raises(UntrustedCommit, match="lowers"):
        advance(genesis_state(genesis)[0], lower)
    refused = js(
        page,
        """
        const { state } = await gs.genesisState(await hc.parseCommit(H(arg[0])));
        try { await gs.advance(state, await hc.parseCommit(H(arg[1]))); return null; }
        catch (e) { return e.message; }
        """,
        [genesis.raw.hex(), lower.raw.hex()],
    )
    assert refused == "the commit lowers the group's cipher suite"
