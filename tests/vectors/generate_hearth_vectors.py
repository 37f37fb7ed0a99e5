"""Generate ``hearth-v1.json``: Hearth's own test vectors, for other implementations.

Run from the repository root: ``.venv/bin/python tests/vectors/generate_hearth_vectors.py``.

Every key and every random input is fixed: ``fixed(name, n)`` is the first ``n`` bytes of
SHA-256("hearth-v1 vector " ‖ name). Ed25519 is deterministic (RFC 8032), so the envelope, the
report opening and the challenge proof are reproducible byte for byte. HPKE is not: pyca takes no
caller-chosen ephemeral key, so each wrap of the commit is randomised. The commit is therefore
generated once and kept: a rerun reuses the commit already in the file as long as it still
verifies and opens to the recorded epoch secret for every member, and only then writes a new one.
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

from crypto.authorisations import (  # noqa: E402
    Authorisation,
    certify_invite,
    sign_admission,
    sign_invite_admission,
    sign_leave,
    sign_removal,
)
from crypto.challenge import issue_challenge, sign_challenge  # noqa: E402
from crypto.commits import build_commit, open_commit, parse_commit, verify_commit, wrap_info  # noqa: E402
from crypto.content import noted_text  # noqa: E402
from crypto.encoding import b64encode  # noqa: E402
from crypto.envelopes import open_message, seal_message  # noqa: E402
from crypto.errors import VerificationFailed  # noqa: E402
from crypto.franking import build_report_opening, compute_rtag  # noqa: E402
from crypto.groupstate import UntrustedCommit, advance, genesis_state  # noqa: E402
from crypto.keys import KemKey, MemberKeys, SigningKey, fingerprint  # noqa: E402
from crypto.padding import pad  # noqa: E402
from crypto.roster import encode_roster, roster_hash  # noqa: E402
from crypto.schedule import confirm_key, sender_key  # noqa: E402
from crypto.suite import CONTENT_TYPE_NOTED_TEXT, u8  # noqa: E402

VECTORS = Path(__file__).with_name("hearth-v1.json")
MEMBER_NAMES = ("alice", "bob", "carol")
GROUP_ID_NAME = "group_id"
EPOCH = 1
CONTENT = "Hello, Hearth! \N{WAVING HAND SIGN}".encode()
NOTE = "self-harm, café"  # a content note (§7.3, type 2): non-ASCII on purpose
NOTED_TEXT = "It was a hard week.\nI am safe now."
SERVER_TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms
KID = 3
CHALLENGE_NOW_MS = 1_767_225_600_000
CHALLENGE_TTL_MS = 60_000


def fixed(name: str, length: int) -> bytes:
    """Deterministic test input: SHA-256("hearth-v1 vector " ‖ name)[:length]."""
    return hashlib.sha256(b"hearth-v1 vector " + name.encode()).digest()[:length]


def member(name: str) -> MemberKeys:
    return MemberKeys(
        fixed(f"{name} member_id", 16),
        SigningKey.from_raw(fixed(f"{name} sig_sk", 32)),
        KemKey.from_raw(fixed(f"{name} kem_sk", 32)),
    )


def deterministic_vectors() -> dict[str, Any]:
    """Everything that does not depend on HPKE's randomness."""
    members = {name: member(name) for name in MEMBER_NAMES}
    entries = [m.entry for m in members.values()]
    group_id = fixed(GROUP_ID_NAME, 16)
    epoch_secret = fixed("epoch_secret", 32)
    digest = roster_hash(entries)
    bob = members["bob"]
    msg_id = fixed("msg_id", 16)
    nonce = fixed("nonce", 12)
    franking_key = fixed("franking_key", 32)
    envelope = seal_message(
        epoch_secret=epoch_secret,
        group_id=group_id,
        epoch=EPOCH,
        sender=bob,
        msg_id=msg_id,
        content=CONTENT,
        nonce=nonce,
        franking_key=franking_key,
    )
    opened = open_message(envelope, epoch_secret=epoch_secret, sender_sig_pk=bob.signing.public)
    frank_key = fixed("server frank_key", 32)
    rtag = compute_rtag(frank_key, envelope.header, SERVER_TS)
    opening = build_report_opening(opened, server_ts=SERVER_TS, kid=KID, rtag=rtag)
    account = SigningKey.from_raw(fixed("account sig_sk", 32))
    server_secret = fixed("server challenge secret", 32)
    challenge = issue_challenge(
        server_secret,
        now_ms=CHALLENGE_NOW_MS,
        ttl_ms=CHALLENGE_TTL_MS,
        nonce=fixed("challenge nonce", 16),
    )
    padded = pad(CONTENT)
    return {
        "derivation": 'fixed(name, n) = SHA-256("hearth-v1 vector " || name)[:n]',
        "version": 1,
        "suite": 1,
        "members": [
            {
                "name": name,
                "member_id": m.member_id.hex(),
                "sig_sk": m.signing.raw().hex(),
                "sig_pk": m.signing.public.hex(),
                "sig_fingerprint": fingerprint(m.signing.public),
                "kem_sk": m.kem.raw().hex(),
                "kem_pk": m.kem.public.hex(),
                "entry": m.entry.encode().hex(),
            }
            for name, m in members.items()
        ],
        "group_id": group_id.hex(),
        "epoch": EPOCH,
        "roster": {"encoded": encode_roster(entries).hex(), "hash": digest.hex()},
        "key_schedule": {
            "epoch_secret": epoch_secret.hex(),
            "salt": (group_id + EPOCH.to_bytes(8, "big")).hex(),
            "confirm_key": confirm_key(epoch_secret, group_id, EPOCH).hex(),
            "sender_keys": {
                m.member_id.hex(): sender_key(epoch_secret, group_id, EPOCH, m.member_id).hex()
                for m in members.values()
            },
        },
        "wrap_infos": {
            m.member_id.hex(): wrap_info(group_id, EPOCH, m.member_id, digest).hex()
            for m in members.values()
        },
        "message": {
            "sender": "bob",
            "msg_id": msg_id.hex(),
            "nonce": nonce.hex(),
            "franking_key": franking_key.hex(),
            "content_type": 1,
            "content": CONTENT.hex(),
            "content_utf8": CONTENT.decode(),
            "padded": padded.hex(),
            "plaintext": (franking_key + u8(1) + padded).hex(),
            "commitment": envelope.header.commitment.hex(),
            "header": envelope.header.encode().hex(),
            "ciphertext": envelope.ciphertext.hex(),
            "signature": envelope.signature.hex(),
            "envelope": envelope.raw.hex(),
            "envelope_b64url": b64encode(envelope.raw),
        },
        "noted_message": noted_message_vector(group_id, epoch_secret, bob),
        "franking": {
            "kid": KID,
            "frank_key": frank_key.hex(),
            "server_ts": SERVER_TS,
            "rtag": rtag.hex(),
            "report_opening": opening.encode().hex(),
        },
        "authorisations": authorisation_vectors(),
        "challenge": {
            "server_secret": server_secret.hex(),
            "now_ms": CHALLENGE_NOW_MS,
            "ttl_ms": CHALLENGE_TTL_MS,
            "nonce": fixed("challenge nonce", 16).hex(),
            "challenge": challenge.hex(),
            "account_sk": account.raw().hex(),
            "account_pk": account.public.hex(),
            "proof": sign_challenge(account, challenge).hex(),
        },
    }


def noted_message_vector(
    group_id: bytes, epoch_secret: bytes, sender: MemberKeys
) -> dict[str, Any]:
    """A message behind a content note: content type 2, ``note ‖ 0x00 ‖ text`` (§7.3)."""
    msg_id = fixed("noted msg_id", 16)
    nonce = fixed("noted nonce", 12)
    franking_key = fixed("noted franking_key", 32)
    content = noted_text(NOTE, NOTED_TEXT)
    envelope = seal_message(
        epoch_secret=epoch_secret,
        group_id=group_id,
        epoch=EPOCH,
        sender=sender,
        msg_id=msg_id,
        content=content,
        content_type=CONTENT_TYPE_NOTED_TEXT,
        nonce=nonce,
        franking_key=franking_key,
    )
    return {
        "sender": "bob",
        "msg_id": msg_id.hex(),
        "nonce": nonce.hex(),
        "franking_key": franking_key.hex(),
        "content_type": CONTENT_TYPE_NOTED_TEXT,
        "note": NOTE,
        "text": NOTED_TEXT,
        "content": content.hex(),
        "plaintext": (franking_key + u8(CONTENT_TYPE_NOTED_TEXT) + pad(content)).hex(),
        "commitment": envelope.header.commitment.hex(),
        "envelope": envelope.raw.hex(),
        "envelope_b64url": b64encode(envelope.raw),
    }


def authorisation_vectors() -> dict[str, Any]:
    """Deterministic admissions and removals (Ed25519 is deterministic): §6.4."""
    alice, bob, carol = (member(n) for n in MEMBER_NAMES)
    group_id = fixed(GROUP_ID_NAME, 16)
    invite_key = SigningKey.from_raw(fixed("invite sig_sk", 32))
    certificate = certify_invite(group_id, alice, invite_key.public, **INVITE_BOUNDS)
    hidden = member("hidden")
    return {
        "facilitator": "alice",
        "invite_sk": invite_key.raw().hex(),
        "invite_pk": invite_key.public.hex(),
        **INVITE_BOUNDS,
        "invite_certificate": certificate.encode().hex(),
        "admission_epoch": 1,
        "admit_bob": sign_admission(group_id, alice, bob.entry, epoch=1).encode().hex(),
        "invite_admit_carol": sign_invite_admission(
            group_id, invite_key, alice.member_id, certificate, carol.entry, epoch=1
        )
        .encode()
        .hex(),
        # the same invite, already spent on carol, admits someone else at epoch 3
        "invite_admit_hidden": sign_invite_admission(
            group_id, invite_key, alice.member_id, certificate, hidden.entry, epoch=3
        )
        .encode()
        .hex(),
        "leave_carol": sign_leave(group_id, carol).encode().hex(),
        "remove_bob": sign_removal(group_id, alice, bob.member_id).encode().hex(),
    }


# The vectors' invite certificate (§6.4): made at epoch 1, admits one member by itself.
INVITE_BOUNDS = {"issued_epoch": 1, "not_after": 1_900_000_000_000, "max_admits": 1}


def _chain_commits() -> list[tuple[str, bytes]]:
    """Genesis by alice; alice admits bob and carol; carol leaves and alice removes bob; and a
    forged epoch 2 adding a member nobody admitted (signed by alice, so only the state rules
    refuse it)."""
    from crypto.authorisations import parse_authorisation

    alice, bob, carol = (member(n) for n in MEMBER_NAMES)
    group_id = fixed(GROUP_ID_NAME, 16)
    auth = authorisation_vectors()

    def parsed(name: str) -> Authorisation:
        return parse_authorisation(bytes.fromhex(auth[name]))

    genesis, _ = build_commit(
        group_id=group_id,
        epoch=1,
        prev_commit_hash=bytes(32),
        committer=alice,
        roster=[alice.entry],
        facilitators=[alice.member_id],
    )
    second, _ = build_commit(
        group_id=group_id,
        epoch=2,
        prev_commit_hash=genesis.hash,
        committer=alice,
        roster=[alice.entry, bob.entry, carol.entry],
        facilitators=[alice.member_id],
        authorisations=[parsed("admit_bob"), parsed("invite_admit_carol")],
    )
    third, _ = build_commit(
        group_id=group_id,
        epoch=3,
        prev_commit_hash=second.hash,
        committer=alice,
        roster=[alice.entry],
        facilitators=[alice.member_id],
        authorisations=[parsed("leave_carol"), parsed("remove_bob")],
    )
    hidden = member("hidden")
    forged, _ = build_commit(
        group_id=group_id,
        epoch=2,
        prev_commit_hash=genesis.hash,
        committer=alice,
        roster=[alice.entry, hidden.entry],
        facilitators=[alice.member_id],
    )
    # On top of epoch 3: bob's old admission brings him back; the spent invite admits hidden.
    replayed, _ = build_commit(
        group_id=group_id,
        epoch=4,
        prev_commit_hash=third.hash,
        committer=alice,
        roster=[alice.entry, bob.entry],
        facilitators=[alice.member_id],
        authorisations=[parsed("admit_bob")],
    )
    spent, _ = build_commit(
        group_id=group_id,
        epoch=4,
        prev_commit_hash=third.hash,
        committer=alice,
        roster=[alice.entry, hidden.entry],
        facilitators=[alice.member_id],
        authorisations=[parsed("invite_admit_hidden")],
    )
    return [
        ("genesis", genesis.raw),
        ("epoch2", second.raw),
        ("epoch3", third.raw),
        ("forged_hidden_member", forged.raw),
        ("replayed_admission", replayed.raw),
        ("spent_invite", spent.raw),
    ]


def chain_valid(chain: dict[str, str]) -> bool:
    """True if a recorded chain still verifies (and the forged commit is still refused)."""
    try:
        state, _ = genesis_state(parse_commit(bytes.fromhex(chain["genesis"])))
        start = state
        for name in ("epoch2", "epoch3"):
            state, _ = advance(state, parse_commit(bytes.fromhex(chain[name])))
        refused = (
            (start, "forged_hidden_member"),
            (state, "replayed_admission"),
            (state, "spent_invite"),
        )
        for held, name in refused:
            try:
                advance(held, parse_commit(bytes.fromhex(chain[name])))
            except UntrustedCommit:
                continue
            return False
        return True
    except (KeyError, ValueError, UntrustedCommit, VerificationFailed):
        return False


def chain_vectors(previous: dict[str, str] | None) -> dict[str, str]:
    if previous is not None and "note" in previous and chain_valid(previous):
        return previous
    chain = {name: raw.hex() for name, raw in _chain_commits()}
    chain["note"] = (
        "docs/protocol.md 6.5: genesis by alice; epoch2 admits bob (admit_bob) and carol "
        "(invite_admit_carol); epoch3 carries leave_carol and remove_bob; forged_hidden_member "
        "(an epoch 2 signed by alice adding an unadmitted member) must be refused, and so must "
        "replayed_admission (an epoch 4 re-admitting bob with admit_bob, made at epoch 1) and "
        "spent_invite (an epoch 4 admitting hidden with invite_admit_hidden: the invite admits "
        "one member and carol was it). Wraps are "
        "randomised, so the commits are kept while they verify."
    )
    return chain


def commit_opens(commit_hex: str, epoch_secret: bytes) -> bool:
    """True if the recorded commit verifies and opens to ``epoch_secret`` for every member."""
    try:
        commit = parse_commit(bytes.fromhex(commit_hex))
        verify_commit(commit)
        return all(open_commit(commit, member(n)) == epoch_secret for n in MEMBER_NAMES)
    except (ValueError, VerificationFailed):
        return False


def commit_vectors(previous: str | None) -> dict[str, Any]:
    """The randomised part: one commit by alice to the three members."""
    epoch_secret = fixed("epoch_secret", 32)
    if previous is None or not commit_opens(previous, epoch_secret):
        members = [member(n) for n in MEMBER_NAMES]
        commit, _ = build_commit(
            group_id=fixed(GROUP_ID_NAME, 16),
            epoch=EPOCH,
            prev_commit_hash=bytes(32),
            committer=members[0],
            roster=[m.entry for m in members],
            facilitators=[members[0].member_id],
            epoch_secret=epoch_secret,
        )
        previous = commit.raw.hex()
    commit = parse_commit(bytes.fromhex(previous))
    return {
        "note": "wraps are randomised (HPKE ephemeral keys); open with any member's kem_sk",
        "committer": "alice",
        "prev_commit_hash": commit.prev_commit_hash.hex(),
        "commit": previous,
        "commit_hash": commit.hash.hex(),
        "confirm": commit.confirm.hex(),
        "opens_to_epoch_secret": epoch_secret.hex(),
    }


def build_vectors(
    previous_commit: str | None, previous_chain: dict[str, str] | None = None
) -> dict[str, Any]:
    vectors = deterministic_vectors()
    vectors["commit"] = commit_vectors(previous_commit)
    vectors["chain"] = chain_vectors(previous_chain)
    return vectors


def main() -> None:
    previous = None
    chain = None
    if VECTORS.exists():
        recorded = json.loads(VECTORS.read_text())
        previous = recorded["commit"]["commit"]
        chain = recorded.get("chain")
    vectors = build_vectors(previous, chain)
    VECTORS.write_text(json.dumps(vectors, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {VECTORS}")


if __name__ == "__main__":
    main()
