"""Epoch commits: the signed roster and the epoch secret wrapped to each member (§6).

Layout: ``body = ver ‖ suite ‖ group_id ‖ epoch ‖ prev_commit_hash ‖ committer_id ‖ n(u16) ‖
roster(n × 80) ‖ wraps(n × 80) ‖ f(u16) ‖ facilitator_ids(f × 16) ‖ a(u16) ‖ authorisations``
and ``commit = body ‖ confirm(32) ‖ sig(64)``. In suite 2 (§6.9) each roster entry is followed
by its member's signed ML-KEM key (1328 bytes each) and each wrap is hybrid (1168 bytes).
Whether the roster change is authorised is checked against the previous epoch in
``crypto.groupstate``.
"""

import hashlib
import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from crypto.authorisations import Authorisation, read_authorisation
from crypto.errors import VerificationFailed
from crypto.fields import Reader, require_bytes, require_epoch
from crypto.hpke import open_secret, seal_secret
from crypto.hybrid import open_hybrid, seal_hybrid
from crypto.keys import MemberKeys, verify_pq_key, verify_signature
from crypto.mac import hmac_sha256, verify_hmac_sha256
from crypto.roster import PqKey, RosterEntry, encode_roster, sorted_roster
from crypto.schedule import confirm_key
from crypto.suite import (
    COMMIT_SUITES,
    GROUP_ID_LEN,
    HASH_LEN,
    HYBRID_WRAP_LEN,
    LABEL_COMMIT_SIG,
    LABEL_WRAP,
    MAC_LEN,
    MAX_AUTHORISATIONS,
    MAX_ROSTER,
    MEMBER_ID_LEN,
    PQ_KEY_LEN,
    ROSTER_ENTRY_LEN,
    SECRET_LEN,
    SIG_LEN,
    SUITE,
    SUITE_HYBRID,
    VERSION,
    WRAP_LEN,
    u8,
    u16,
    u64,
)

_TRAILER_LEN: Final = MAC_LEN + SIG_LEN  # confirm ‖ sig


@dataclass(frozen=True, slots=True)
class EpochCommit:
    """A parsed epoch commit; ``raw`` is the exact wire form it came from."""

    suite: int
    group_id: bytes
    epoch: int
    prev_commit_hash: bytes
    committer_id: bytes
    roster: tuple[RosterEntry, ...]
    pq_keys: tuple[PqKey, ...]  # suite 2: one per roster entry, in its order; suite 1: none
    wraps: tuple[bytes, ...]
    facilitators: tuple[bytes, ...]
    authorisations: tuple[Authorisation, ...]
    confirm: bytes
    signature: bytes
    raw: bytes

    @property
    def hash(self) -> bytes:
        """commit_hash = SHA-256(commit), the next commit's ``prev_commit_hash``."""
        return hashlib.sha256(self.raw).digest()

    @property
    def body(self) -> bytes:
        """Everything before ``confirm``."""
        return self.raw[:-_TRAILER_LEN]

    def entry_of(self, member_id: bytes) -> RosterEntry | None:
        """The roster entry of ``member_id``, if it is a member of this epoch."""
        for entry in self.roster:
            if entry.member_id == member_id:
                return entry
        return None

    def pq_key_of(self, member_id: bytes) -> PqKey | None:
        """The signed ML-KEM key of ``member_id`` in a suite-2 commit."""
        return self.pq_map().get(member_id)

    def pq_map(self) -> dict[bytes, PqKey]:
        return {e.member_id: k for e, k in zip(self.roster, self.pq_keys, strict=False)}

    def roster_digest(self) -> bytes:
        """SHA-256 of the roster as encoded in the commit (with the pq keys in suite 2)."""
        pq = self.pq_map() if self.suite == SUITE_HYBRID else None
        return hashlib.sha256(encode_roster(self.roster, pq)).digest()


def wrap_info(group_id: bytes, epoch: int, member_id: bytes, roster_digest: bytes) -> bytes:
    """HPKE info of one wrap: binds the secret to group, epoch, recipient and the whole roster."""
    return LABEL_WRAP + group_id + u64(epoch) + member_id + roster_digest


def build_commit(
    *,
    group_id: bytes,
    epoch: int,
    prev_commit_hash: bytes,
    committer: MemberKeys,
    roster: Sequence[RosterEntry],
    facilitators: Sequence[bytes] = (),
    authorisations: Sequence[Authorisation] = (),
    epoch_secret: bytes | None = None,
    pq_keys: Mapping[bytes, PqKey] | None = None,
) -> tuple[EpochCommit, bytes]:
    """Start ``epoch``: wrap a fresh epoch secret to every member and sign the result.

    Returns the commit and the epoch secret. The committer must be in ``roster``;
    ``facilitators`` are member_ids of the roster, ``authorisations`` the signed changes since
    the previous epoch (§6.4). With ``pq_keys`` (member_id → its signed ML-KEM key, one for
    every member) the commit is of the hybrid suite 2 (§6.9).
    """
    require_bytes("group_id", group_id, GROUP_ID_LEN)
    require_epoch(epoch)
    require_bytes("prev_commit_hash", prev_commit_hash, HASH_LEN)
    if not isinstance(committer, MemberKeys):
        raise TypeError("committer must be MemberKeys")
    entries = sorted_roster(roster)
    if committer.entry not in entries:
        raise ValueError("the committer's keys are not in the roster")
    if epoch_secret is None:
        epoch_secret = os.urandom(SECRET_LEN)
    require_bytes("epoch_secret", epoch_secret, SECRET_LEN)

    suite = SUITE if pq_keys is None else SUITE_HYBRID
    if pq_keys is not None:
        _check_pq_keys(group_id, entries, pq_keys)
    encoded_roster = encode_roster(entries, pq_keys)
    digest = hashlib.sha256(encoded_roster).digest()
    if pq_keys is None:
        wraps = b"".join(
            seal_secret(
                entry.kem_pk, epoch_secret, wrap_info(group_id, epoch, entry.member_id, digest)
            )
            for entry in entries
        )
    else:
        wraps = b"".join(
            seal_hybrid(
                entry.kem_pk,
                pq_keys[entry.member_id].public,
                epoch_secret,
                wrap_info(group_id, epoch, entry.member_id, digest),
            )
            for entry in entries
        )
    body = (
        u8(VERSION)
        + u16(suite)
        + group_id
        + u64(epoch)
        + prev_commit_hash
        + committer.member_id
        + u16(len(entries))
        + encoded_roster
        + wraps
        + u16(len(facilitators))
        + b"".join(sorted(facilitators))
        + u16(len(authorisations))
        + b"".join(a.encode() for a in authorisations)
    )
    # confirm shows every member decrypted the same secret: AES-GCM is not key-committing, so a
    # wrap alone would not rule out different secrets for different members.
    confirm = hmac_sha256(confirm_key(epoch_secret, group_id, epoch), hashlib.sha256(body).digest())
    signature = committer.signing.sign(LABEL_COMMIT_SIG + body + confirm)
    return parse_commit(body + confirm + signature), epoch_secret


def parse_commit(data: bytes) -> EpochCommit:
    """Parse a commit strictly; ``ValueError`` on any malformed field. Verifies nothing."""
    reader = Reader("commit", data)
    suite = reader.prefix(COMMIT_SUITES)
    hybrid = suite == SUITE_HYBRID
    wrap_len = HYBRID_WRAP_LEN if hybrid else WRAP_LEN
    pq_len = PQ_KEY_LEN if hybrid else 0
    group_id = reader.take(GROUP_ID_LEN)
    epoch = reader.uint(8)
    if epoch == 0:
        raise ValueError("commit: epoch must be at least 1")
    prev_commit_hash = reader.take(HASH_LEN)
    committer_id = reader.take(MEMBER_ID_LEN)
    count = reader.uint(2)
    if not 1 <= count <= MAX_ROSTER:
        raise ValueError(f"commit: roster size must be 1 to {MAX_ROSTER}, got {count}")
    if reader.remaining() < count * (ROSTER_ENTRY_LEN + pq_len + wrap_len) + 4 + _TRAILER_LEN:
        raise ValueError("commit: expected more bytes after the header (truncated)")
    roster_list: list[RosterEntry] = []
    pq_list: list[PqKey] = []
    for _ in range(count):
        roster_list.append(RosterEntry.decode(reader.take(ROSTER_ENTRY_LEN)))
        if hybrid:
            pq_list.append(PqKey.decode(reader.take(PQ_KEY_LEN)))
    roster = tuple(roster_list)
    for before, after in itertools.pairwise(roster):
        if before.member_id >= after.member_id:
            raise ValueError("commit: roster is not sorted by member_id without duplicates")
    if all(entry.member_id != committer_id for entry in roster):
        raise ValueError("commit: committer is not in the roster")
    wraps = tuple(reader.take(wrap_len) for _ in range(count))
    facilitators = tuple(reader.take(MEMBER_ID_LEN) for _ in range(reader.uint(2)))
    members = {entry.member_id for entry in roster}
    for first, second in itertools.pairwise(facilitators):
        if first >= second:
            raise ValueError("commit: facilitators are not sorted without duplicates")
    if not members.issuperset(facilitators):
        raise ValueError("commit: a facilitator is not in the roster")
    auth_count = reader.uint(2)
    if auth_count > MAX_AUTHORISATIONS:
        raise ValueError(f"commit: at most {MAX_AUTHORISATIONS} authorisations")
    authorisations = []
    for _ in range(auth_count):
        if reader.remaining() < _TRAILER_LEN:
            raise ValueError("commit is truncated")
        authorisations.append(read_authorisation(reader))
    if reader.remaining() != _TRAILER_LEN:
        raise ValueError("commit: expected exactly confirm and sig after the authorisations")
    confirm = reader.take(MAC_LEN)
    signature = reader.take(SIG_LEN)
    reader.finish()
    return EpochCommit(
        suite=suite,
        group_id=group_id,
        epoch=epoch,
        prev_commit_hash=prev_commit_hash,
        committer_id=committer_id,
        roster=roster,
        pq_keys=tuple(pq_list),
        wraps=wraps,
        facilitators=facilitators,
        authorisations=tuple(authorisations),
        confirm=confirm,
        signature=signature,
        raw=data,
    )


def verify_commit(commit: EpochCommit) -> None:
    """Check the committer's signature and, in suite 2, that every member signed its ML-KEM
    key (needs no secret; the server runs this)."""
    if not isinstance(commit, EpochCommit):
        raise TypeError("commit must be EpochCommit")
    _verify_committer(commit)
    verify_pq_keys(commit)


def _verify_committer(commit: EpochCommit) -> None:
    committer = commit.entry_of(commit.committer_id)
    if committer is None:  # parse_commit refuses this; a hand-built value could not
        raise ValueError("commit: committer is not in the roster")
    verify_signature(
        committer.sig_pk, commit.signature, LABEL_COMMIT_SIG + commit.body + commit.confirm
    )


def verify_pq_keys(commit: EpochCommit) -> None:
    """Raise ``VerificationFailed`` unless each pq key is signed by its roster entry's member."""
    for entry, pq_key in zip(commit.roster, commit.pq_keys, strict=False):
        verify_pq_key(commit.group_id, entry, pq_key)


def _check_pq_keys(
    group_id: bytes, entries: Sequence[RosterEntry], pq_keys: Mapping[bytes, PqKey]
) -> None:
    for entry in entries:
        pq_key = pq_keys.get(entry.member_id)
        if not isinstance(pq_key, PqKey):
            raise ValueError("a hybrid commit needs a signed ML-KEM key for every member")
        try:
            verify_pq_key(group_id, entry, pq_key)
        except VerificationFailed:
            raise ValueError("an ML-KEM key is not signed by its member") from None


def open_commit(commit: EpochCommit, member: MemberKeys) -> bytes:
    """Return the epoch secret for ``member`` after checking signature, wrap and confirm.

    The other members' ML-KEM keys are not checked here (our wrap does not depend on them, and
    the roster digest in its info binds them): ``verify_commit`` and ``crypto.groupstate`` do.
    """
    if not isinstance(member, MemberKeys):
        raise TypeError("member must be MemberKeys")
    if not isinstance(commit, EpochCommit):
        raise TypeError("commit must be EpochCommit")
    _verify_committer(commit)
    index = next((i for i, entry in enumerate(commit.roster) if entry == member.entry), None)
    if index is None:
        # Not a member of this epoch, or the roster carries other keys under our member_id.
        raise VerificationFailed
    info = wrap_info(commit.group_id, commit.epoch, member.member_id, commit.roster_digest())
    if commit.suite == SUITE_HYBRID:
        if member.pq is None or commit.pq_keys[index].public != member.pq.public:
            raise VerificationFailed  # sealed to an ML-KEM key that is not ours
        epoch_secret = open_hybrid(member.kem, member.pq, commit.wraps[index], info)
    else:
        epoch_secret = open_secret(member.kem, commit.wraps[index], info)
    verify_hmac_sha256(
        confirm_key(epoch_secret, commit.group_id, commit.epoch),
        hashlib.sha256(commit.body).digest(),
        commit.confirm,
    )
    return epoch_secret
