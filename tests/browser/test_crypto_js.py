"""The page's crypto.js (WebCrypto) against the RFC 9180 vectors, Hearth's own vectors and the
Python implementation in crypto/, in headless Chromium."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from crypto.challenge import sign_challenge
from crypto.commits import build_commit, open_commit, parse_commit
from crypto.encoding import b64decode, b64encode
from crypto.envelopes import open_message, parse_envelope, seal_message
from crypto.franking import (
    build_report_opening,
    compute_rtag,
    parse_report_opening,
    verify_report,
)
from crypto.keys import KemKey, MemberKeys, SigningKey, verify_signature
from crypto.roster import RosterEntry

pytestmark = pytest.mark.browser

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
RFC9180 = json.loads(
    (VECTORS / "rfc9180_hpke_base_x25519_sha256_aes128gcm_chacha20poly1305.json").read_text()
)
HEARTH = json.loads((VECTORS / "hearth-v1.json").read_text())

# Helpers defined once in the page: hex in, hex out.
PRELUDE = """
() => {
  const hc = window.hc;
  window.H = (s) => hc.unhex(s);
  window.X = (b) => hc.hex(b);
  window.member = (m) =>
    hc.importMemberKeys(hc.unhex(m.member_id), hc.unhex(m.sig_sk), hc.unhex(m.kem_sk));
}
"""


@pytest.fixture(scope="module")
def page(crypto_page: Any) -> Any:
    crypto_page.evaluate(PRELUDE)
    return crypto_page


def js(page: Any, body: str, arg: Any = None) -> Any:
    return page.evaluate(f"async (arg) => {{ const hc = window.hc; {body} }}", arg)


def test_base64url_is_strict_and_agrees_with_python(page: Any) -> None:
    samples = [os.urandom(n) for n in range(0, 40)]
    encoded = js(
        page, "return arg.map((h) => hc.b64encode(hc.unhex(h)));", [s.hex() for s in samples]
    )
    assert encoded == [b64encode(s) for s in samples]
    decoded = js(page, "return arg.map((t) => hc.hex(hc.b64decode(t)));", encoded)
    assert decoded == [s.hex() for s in samples]
    bad = ["AA==", "A", "AB C", "AB+/", "AB", "AAB", "_x", "_w"]  # AB, AAB, _x: non-canonical bits
    refused = js(
        page,
        "return arg.map((t) => { try { hc.b64decode(t); return false; } catch { return true; } });",
        bad,
    )
    assert refused == [True, True, True, True, True, True, True, False]


def test_rfc9180_aes128gcm_vector(page: Any) -> None:
    vector = next(v for v in RFC9180 if int(v["aead_id"]) == 1 and int(v["mode"]) == 0)
    result = js(
        page,
        """
        const v = arg;
        const e = await hc.deriveKemKeyPair(H(v.ikmE));
        const r = await hc.deriveKemKeyPair(H(v.ikmR));
        const s = await hc.setupBaseS(r.publicKey, H(v.info), { ikmE: H(v.ikmE) });
        const out = {
          skEm: X(e.sk), pkEm: X(e.publicKey), skRm: X(r.sk), pkRm: X(r.publicKey),
          enc: X(s.enc), shared_secret: X(s.sharedSecret), key: X(s.key),
          base_nonce: X(s.baseNonce), exporter_secret: X(s.exporterSecret), cts: [], pts: [],
        };
        const recv = await hc.setupBaseR(s.enc, r, H(v.info));
        for (const item of v.encryptions) {
          const ct = await s.seal(H(item.aad), H(item.pt));
          out.cts.push(X(ct));
          out.pts.push(X(await recv.open(H(item.aad), ct)));
        }
        return out;
        """,
        vector,
    )
    for name in (
        "skEm",
        "pkEm",
        "skRm",
        "pkRm",
        "enc",
        "shared_secret",
        "key",
        "base_nonce",
        "exporter_secret",
    ):
        assert result[name] == vector[name], name
    assert len(vector["encryptions"]) == 257
    assert result["cts"] == [item["ct"] for item in vector["encryptions"]]
    assert result["pts"] == [item["pt"] for item in vector["encryptions"]]


def test_hpke_open_refuses_tampering_and_low_order_points(page: Any) -> None:
    result = js(
        page,
        """
        const r = await hc.generateKemKey();
        const sealed = await hc.hpkeSeal(r.publicKey, H('01'), hc.randomBytes(32));
        const bad = sealed.slice(); bad[40] ^= 1;
        const refuses = async (f) => {
          try { await f(); return false; }
          catch (e) { return e instanceof hc.VerificationFailed; }
        };
        return {
          tamper: await refuses(() => hc.hpkeOpen(r, H('01'), bad)),
          info: await refuses(() => hc.hpkeOpen(r, H('02'), sealed)),
          lowOrder: await refuses(
            () => hc.hpkeSeal(new Uint8Array(32), H('01'), hc.randomBytes(32))),
        };
        """,
    )
    assert result == {"tamper": True, "info": True, "lowOrder": True}


def test_hearth_key_schedule_roster_and_fingerprints(page: Any) -> None:
    v = HEARTH
    result = js(
        page,
        """
        const v = arg;
        const secret = H(v.key_schedule.epoch_secret), g = H(v.group_id);
        const members = [];
        for (const m of v.members) members.push(await member(m));
        const entries = hc.sortRoster(members.map(hc.rosterEntry));
        const encoded = hc.encodeRoster(entries);
        const senders = {};
        for (const id of Object.keys(v.key_schedule.sender_keys)) {
          senders[id] = X(await hc.senderKey(secret, g, v.epoch, H(id)));
        }
        const infos = {};
        const rosterHash = await hc.sha256(encoded);
        for (const id of Object.keys(v.wrap_infos)) {
          infos[id] = X(hc.wrapInfo(g, v.epoch, H(id), rosterHash));
        }
        const asKey = await hc.importEpochSecret(secret);
        return {
          salt: X(hc.scheduleSalt(g, v.epoch)),
          confirm: X(await hc.confirmKey(secret, g, v.epoch)),
          confirmFromKey: X(await hc.confirmKey(asKey, g, v.epoch)),
          senders, infos,
          roster: X(encoded), hash: X(rosterHash),
          pks: members.map((m) => [X(m.signing.publicKey), X(m.kem.publicKey)]),
          fprs: await Promise.all(members.map((m) => hc.fingerprint(m.signing.publicKey))),
        };
        """,
        v,
    )
    assert result["salt"] == v["key_schedule"]["salt"]
    assert result["confirm"] == result["confirmFromKey"] == v["key_schedule"]["confirm_key"]
    assert result["senders"] == v["key_schedule"]["sender_keys"]
    assert result["infos"] == v["wrap_infos"]
    assert result["roster"] == v["roster"]["encoded"]
    assert result["hash"] == v["roster"]["hash"]
    assert result["pks"] == [[m["sig_pk"], m["kem_pk"]] for m in v["members"]]
    assert result["fprs"] == [m["sig_fingerprint"] for m in v["members"]]


def test_hearth_envelope_report_opening_and_challenge(page: Any) -> None:
    v = HEARTH
    result = js(
        page,
        """
        const v = arg, m = v.message, f = v.franking;
        const sender = await member(v.members.find((x) => x.name === m.sender));
        const sealed = await hc.sealMessage({
          epochSecret: H(v.key_schedule.epoch_secret), groupId: H(v.group_id), epoch: v.epoch,
          sender, msgId: H(m.msg_id), content: H(m.content), nonce: H(m.nonce),
          franking: H(m.franking_key),
        });
        const env = hc.parseEnvelope(hc.b64decode(m.envelope_b64url));
        const opened = await hc.openMessage(env, {
          epochSecret: H(v.key_schedule.epoch_secret), senderSigPk: sender.signing.publicKey,
        });
        const opening = hc.encodeReportOpening({
          header: opened.header, franking: opened.franking, contentType: opened.contentType,
          content: opened.content, serverTs: f.server_ts, kid: f.kid, rtag: H(f.rtag),
        });
        const account = await hc.importSigningKey(H(v.challenge.account_sk));
        const proof = await hc.signChallenge(account, H(v.challenge.challenge));
        return {
          envelope: X(sealed.raw), header: X(hc.encodeHeader(sealed.header)),
          padded: X(hc.pad(H(m.content))),
          commitment: X(sealed.header.commitment), text: opened.text, opening: X(opening),
          accountPk: X(account.publicKey), proof: X(proof),
        };
        """,
        v,
    )
    m = v["message"]
    assert result["envelope"] == m["envelope"]
    assert result["header"] == m["header"]
    assert result["padded"] == m["padded"]
    assert result["commitment"] == m["commitment"]
    assert result["text"] == m["content_utf8"]
    assert result["opening"] == v["franking"]["report_opening"]
    assert result["accountPk"] == v["challenge"]["account_pk"]
    # Chromium's Ed25519 is deterministic (RFC 8032); verify anyway, as Safari's is not.
    verify_signature(
        bytes.fromhex(result["accountPk"]),
        bytes.fromhex(result["proof"]),
        b"hearth-v1 connect" + bytes.fromhex(v["challenge"]["challenge"]),
    )
    assert result["proof"] == v["challenge"]["proof"]


def test_hearth_noted_message_vector_and_bad_notes(page: Any) -> None:
    """A message behind a content note (§7.3, type 2): the page seals the vector's bytes, opens
    it to the same note and text, and refuses the notes Python refuses."""
    v = HEARTH
    result = js(
        page,
        r"""
        const v = arg, m = v.noted_message;
        const sender = await member(v.members.find((x) => x.name === m.sender));
        const content = hc.notedText(m.note, m.text);
        const sealed = await hc.sealMessage({
          epochSecret: H(v.key_schedule.epoch_secret), groupId: H(v.group_id), epoch: v.epoch,
          sender, msgId: H(m.msg_id), content, contentType: hc.CONTENT_TYPE_NOTED_TEXT,
          nonce: H(m.nonce), franking: H(m.franking_key),
        });
        const opened = await hc.openMessage(hc.parseEnvelope(hc.b64decode(m.envelope_b64url)), {
          epochSecret: H(v.key_schedule.epoch_secret), senderSigPk: sender.signing.publicKey,
        });
        const bad = ["", "   ", "n".repeat(41), "self\u202eharm", "self\u200bharm",
                     "a\nb", "a\u2028b"];
        return {
          content: X(content), envelope: X(sealed.raw), note: opened.note, text: opened.text,
          contentType: opened.contentType, fortyEmoji: hc.noteProblem("😇".repeat(40)),
          refused: bad.map((n) => hc.noteProblem(n) !== null),
          plain: (await hc.openMessage(hc.parseEnvelope(hc.b64decode(v.message.envelope_b64url)), {
            epochSecret: H(v.key_schedule.epoch_secret), senderSigPk: sender.signing.publicKey,
          })).note,
        };
        """,
        v,
    )
    m = v["noted_message"]
    assert result["content"] == m["content"]
    assert result["envelope"] == m["envelope"]
    assert (result["note"], result["text"], result["contentType"]) == (m["note"], m["text"], 2)
    assert result["fortyEmoji"] is None
    assert result["refused"] == [True] * 7
    assert result["plain"] is None  # a message without a note (type 1) still reads


def test_hearth_recorded_commit_opens_for_every_member(page: Any) -> None:
    v = HEARTH
    result = js(
        page,
        """
        const v = arg;
        const commit = await hc.parseCommit(H(v.commit.commit));
        await hc.verifyCommit(commit);
        const secrets = [];
        for (const m of v.members) secrets.push(X(await hc.openCommit(commit, await member(m))));
        const bad = H(v.commit.commit); bad[bad.length - 90] ^= 1;  // inside confirm
        let refused = false;
        try { await hc.openCommit(await hc.parseCommit(bad), await member(v.members[0])); }
        catch (e) { refused = e instanceof hc.VerificationFailed; }
        const trailing = hc.concat(H(v.commit.commit), new Uint8Array(1));
        let strict = false;
        try { await hc.parseCommit(trailing); } catch { strict = true; }
        return { secrets, hash: X(commit.hash), confirm: X(commit.confirm), refused, strict };
        """,
        v,
    )
    assert result["secrets"] == [v["commit"]["opens_to_epoch_secret"]] * len(v["members"])
    assert result["hash"] == v["commit"]["commit_hash"]
    assert result["confirm"] == v["commit"]["confirm"]
    assert result["refused"]
    assert result["strict"]


# -- round trips with the Python implementation ----------------------------------------------


def _python_members(n: int) -> list[MemberKeys]:
    return [MemberKeys.generate() for _ in range(n)]


def _member_json(member: MemberKeys) -> dict[str, str]:
    return {
        "member_id": member.member_id.hex(),
        "sig_sk": member.signing.raw().hex(),
        "kem_sk": member.kem.raw().hex(),
    }


def test_python_commit_opens_in_browser_and_browser_commit_opens_in_python(page: Any) -> None:
    members = _python_members(3)
    group_id = os.urandom(16)
    commit, secret = build_commit(
        group_id=group_id,
        epoch=7,
        prev_commit_hash=os.urandom(32),
        committer=members[1],
        roster=[m.entry for m in members],
    )
    result = js(
        page,
        """
        const ms = [];
        for (const m of arg.members) ms.push(await member(m));
        const commit = await hc.parseCommit(H(arg.commit));
        const opened = [];
        for (const m of ms) opened.push(X(await hc.openCommit(commit, m)));
        const built = await hc.buildCommit({
          groupId: H(arg.group), epoch: 8, prevCommitHash: commit.hash, committer: ms[2],
          roster: ms.map(hc.rosterEntry), facilitators: [ms[2].memberId],
          authorisations: [await hc.signLeave(H(arg.group), ms[0])],
        });
        return { opened, commit: X(built.commit.raw), secret: X(built.secret) };
        """,
        {
            "members": [_member_json(m) for m in members],
            "commit": commit.raw.hex(),
            "group": group_id.hex(),
        },
    )
    assert result["opened"] == [secret.hex()] * 3
    browser_commit = parse_commit(bytes.fromhex(result["commit"]))
    assert browser_commit.epoch == 8
    assert browser_commit.prev_commit_hash == commit.hash
    assert browser_commit.facilitators == (members[2].member_id,)
    assert [a.member_id for a in browser_commit.authorisations] == [members[0].member_id]
    for m in members:
        assert open_commit(browser_commit, m).hex() == result["secret"]


def test_envelopes_both_ways(page: Any) -> None:
    alice, bob = _python_members(2)
    group_id, secret, msg_id = os.urandom(16), os.urandom(32), os.urandom(16)
    texts = ["hi", "é" * 200, "x" * 16380, "🌱 steady"]
    sealed = [
        seal_message(
            epoch_secret=secret,
            group_id=group_id,
            epoch=3,
            sender=alice,
            msg_id=os.urandom(16),
            content=t.encode(),
        ).raw.hex()
        for t in texts
    ]
    result = js(
        page,
        """
        const alice = await member(arg.alice), bob = await member(arg.bob);
        const secret = H(arg.secret), g = H(arg.group);
        const opened = [];
        for (const e of arg.sealed) {
          const o = await hc.openMessage(hc.parseEnvelope(H(e)),
            { epochSecret: secret, senderSigPk: alice.signing.publicKey });
          opened.push(o.text);
        }
        const mine = [];
        for (const t of arg.texts) {
          const s = await hc.sealMessage({ epochSecret: secret, groupId: g, epoch: 3, sender: bob,
            msgId: H(arg.msg), content: new TextEncoder().encode(t) });
          mine.push(X(s.raw));
        }
        let forged = false;
        try {
          await hc.openMessage(hc.parseEnvelope(H(arg.sealed[0])),
            { epochSecret: secret, senderSigPk: bob.signing.publicKey });
        } catch (e) { forged = e instanceof hc.VerificationFailed; }
        return { opened, mine, forged };
        """,
        {
            "alice": _member_json(alice),
            "bob": _member_json(bob),
            "secret": secret.hex(),
            "group": group_id.hex(),
            "msg": msg_id.hex(),
            "sealed": sealed,
            "texts": texts,
        },
    )
    assert result["opened"] == texts
    assert result["forged"]
    for raw, text in zip(result["mine"], texts, strict=True):
        opened = open_message(
            parse_envelope(bytes.fromhex(raw)),
            epoch_secret=secret,
            sender_sig_pk=bob.signing.public,
        )
        assert opened.content.decode() == text
        assert opened.header.msg_id == msg_id


def test_report_openings_verify_in_python(page: Any) -> None:
    (sender,) = _python_members(1)
    group_id, secret = os.urandom(16), os.urandom(32)
    frank_keys = {5: os.urandom(32)}
    envelope = seal_message(
        epoch_secret=secret,
        group_id=group_id,
        epoch=2,
        sender=sender,
        msg_id=os.urandom(16),
        content=b"report me",
    )
    server_ts = 1_767_225_600_123
    rtag = compute_rtag(frank_keys[5], envelope.header, server_ts)
    opened = open_message(envelope, epoch_secret=secret, sender_sig_pk=sender.signing.public)
    python_opening = build_report_opening(opened, server_ts=server_ts, kid=5, rtag=rtag).encode()
    result = js(
        page,
        """
        const s = await member(arg.sender);
        const o = await hc.openMessage(hc.parseEnvelope(H(arg.envelope)),
          { epochSecret: H(arg.secret), senderSigPk: s.signing.publicKey });
        return X(hc.encodeReportOpening({
          header: o.header, franking: o.franking, contentType: o.contentType,
          content: o.content, serverTs: arg.ts, kid: 5, rtag: H(arg.rtag) }));
        """,
        {
            "sender": _member_json(sender),
            "envelope": envelope.raw.hex(),
            "secret": secret.hex(),
            "ts": server_ts,
            "rtag": rtag.hex(),
        },
    )
    assert result == python_opening.hex()
    verify_report(parse_report_opening(bytes.fromhex(result)), frank_keys)


def test_generated_keys_are_non_extractable_and_work_with_python(page: Any) -> None:
    result = js(
        page,
        """
        const m = await hc.generateMemberKeys();
        const account = await hc.generateSigningKey();
        const challenge = hc.randomBytes(56);
        let exported = false;
        for (const key of [m.signing.privateKey, m.kem.privateKey]) {
          try { await crypto.subtle.exportKey('pkcs8', key); exported = true; } catch {}
        }
        return {
          extractable: m.signing.privateKey.extractable || m.kem.privateKey.extractable || exported,
          kemPk: X(m.kem.publicKey), accountPk: X(account.publicKey), challenge: X(challenge),
          proof: X(await hc.signChallenge(account, challenge)),
        };
        """,
    )
    assert not result["extractable"]
    verify_signature(
        bytes.fromhex(result["accountPk"]),
        bytes.fromhex(result["proof"]),
        b"hearth-v1 connect" + bytes.fromhex(result["challenge"]),
    )
    # Python can seal to a browser-generated KEM key (its public key is a valid X25519 point).
    KemKey.generate()
    RosterEntry(os.urandom(16), SigningKey.generate().public, bytes.fromhex(result["kemPk"]))
    assert b64decode(b64encode(bytes.fromhex(result["kemPk"]))) == bytes.fromhex(result["kemPk"])
    sign_challenge(SigningKey.generate(), os.urandom(56))


def test_authorisations_agree_byte_for_byte(page: Any) -> None:
    """The page signs the vectors' admissions, removal and leave to the very same bytes."""
    v = HEARTH
    result = js(
        page,
        """
        const v = arg;
        const [alice, bob, carol] = await Promise.all(v.members.map(member));
        const g = H(v.group_id);
        const invite = await hc.importSigningKey(H(v.authorisations.invite_sk));
        const a = v.authorisations;
        const cert = await hc.certifyInvite(g, alice, invite.publicKey, {
          issuedEpoch: a.issued_epoch, notAfter: a.not_after, maxAdmits: a.max_admits });
        const enc = (x) => X(hc.encodeAuthorisation(x));
        const parsed = hc.parseAuthorisation(H(a.invite_admit_carol));
        const at = a.admission_epoch;
        return {
          invite_pk: X(invite.publicKey),
          invite_certificate: X(hc.encodeInviteCertificate(cert)),
          admit_bob: enc(await hc.signAdmission(g, alice, hc.rosterEntry(bob), hc.ROLE.MEMBER, at)),
          invite_admit_carol: enc(await hc.signInviteAdmission(
            g, invite, alice.memberId, cert, hc.rosterEntry(carol), at)),
          leave_carol: enc(await hc.signLeave(g, carol)),
          remove_bob: enc(await hc.signRemoval(g, alice, bob.memberId)),
          reparsed: enc(parsed),
          hidden_reparsed: enc(hc.parseAuthorisation(H(a.invite_admit_hidden))),
        };
        """,
        v,
    )
    auth = v["authorisations"]
    for name in (
        "invite_pk",
        "invite_certificate",
        "admit_bob",
        "invite_admit_carol",
        "leave_carol",
        "remove_bob",
    ):
        assert result[name] == auth[name], name
    assert result["reparsed"] == auth["invite_admit_carol"]
    assert result["hidden_reparsed"] == auth["invite_admit_hidden"]


def test_chain_verifies_in_the_page_as_in_python(page: Any) -> None:
    """groupstate.js accepts the recorded chain with the same changes and refuses the forged
    commit that adds a member nobody admitted."""
    result = js(
        page,
        """
        const gs = await import('/js/groupstate.js');
        const v = arg;
        const c = (name) => hc.parseCommit(H(v.chain[name]));
        const ids = (changes) => changes.map((x) => [x.kind, x.memberId, x.by, x.issuer]);
        let { state, changes } = await gs.genesisState(await c("genesis"));
        const start = state;
        const out = [ids(changes)];
        ({ state, changes } = await gs.advance(state, await c("epoch2")));
        out.push(ids(changes));
        ({ state, changes } = await gs.advance(state, await c("epoch3")));
        out.push(ids(changes));
        const refusal = async (held, name) => {
          try { await gs.advance(held, await c(name)); return "accepted"; }
          catch (e) { return e instanceof gs.UntrustedCommit ? e.message : String(e); }
        };
        const refused = await refusal(start, "forged_hidden_member");
        const replayed = await refusal(state, "replayed_admission");
        const spent = await refusal(state, "spent_invite");
        const admits = state.inviteAdmits;
        const carol = await member(v.members[2]);
        const keyed = await gs.keyedState(await c("epoch2"), carol, H(v.authorisations.invite_pk));
        let wrongInvite = null;
        try { await gs.keyedState(await c("epoch2"), carol, hc.randomBytes(32)); }
        catch (e) { wrongInvite = e.message; }
        return { out, refused, replayed, spent, admits, keyedEpoch: keyed.state.epoch, wrongInvite,
                 roster: state.roster.map((e) => X(e.memberId)) };
        """,
        HEARTH,
    )
    alice, bob, carol = (m["member_id"] for m in HEARTH["members"])
    assert result["out"] == [
        [["joined", alice, None, None]],
        [["joined", bob, alice, None], ["joined", carol, None, alice]],
        [["left", carol, carol, None], ["removed", bob, alice, None]],
    ]
    assert "roster differs" in result["refused"]
    assert "who left" in result["replayed"]
    assert "more members than its certificate allows" in result["spent"]
    assert result["admits"] == [[HEARTH["authorisations"]["invite_pk"], 1]]
    assert result["keyedEpoch"] == 2
    assert "not from our invite" in result["wrongInvite"]
    assert result["roster"] == [alice]
