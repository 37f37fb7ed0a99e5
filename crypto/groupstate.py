"""The authenticated group state a client holds, and the rules for advancing it (§6.5).

A client never takes the server's word for who is in a group. It holds the last commit it
verified and accepts a new one only if it extends that chain (same group, next epoch,
``prev_commit_hash``), is signed by a member of the previous roster with the key it had there,
and changes the roster by exactly the signed authorisations it carries: each new entry admitted
by a facilitator of the previous epoch (or by an invite key such a facilitator certified), each
departed entry removed by a facilitator or leaving by its own signature. Who is a facilitator is
part of the state too: the creator, by the group's genesis commit, and whoever an existing
facilitator admits with role 1.

Admissions are bound to the epoch their signer held (§6.4) and valid in the next two commits
only, so an old admission can never bring back someone who left, whether or not this state saw
them leave. An invite key admits members by itself only as often as its certificate says; the
state counts the admissions made with each invite key in the commits it verified, and a client
commits one only if it counted them all from the epoch the invite was made in
(``invite_admission_refusal``).

The cipher suite only goes up (§6.9): once a commit of the hybrid suite 2 is verified, a later
commit of suite 1 is refused, whoever signed it, so a hostile server or member cannot take a group
back to wraps a future quantum computer could open. A member keeps the ML-KEM key it had.
"""

from dataclasses import dataclass
from typing import Literal

from crypto.authorisations import (
    Admission,
    Authorisation,
    InviteAdmission,
    Leave,
    LegacyAdmission,
    Removal,
    admission_message,
    invite_message,
    leave_message,
    removal_message,
)
from crypto.commits import EpochCommit, verify_commit, verify_pq_keys
from crypto.errors import VerificationFailed
from crypto.keys import MemberKeys, verify_signature
from crypto.roster import RosterEntry, sorted_roster
from crypto.suite import (
    ADMISSION_WINDOW,
    AUTH_ADMIT,
    AUTH_INVITE_ADMIT,
    LABEL_COMMIT_SIG,
    ROLE_FACILITATOR,
    ROLE_MEMBER,
    SUITE,
)


class UntrustedCommit(Exception):
    """A commit that does not extend the held chain by authorised changes; never accept it."""


@dataclass(frozen=True, slots=True)
class Change:
    """One verified membership change: ``by`` is the signer's member_id (None: an invite key
    certified by ``issuer``)."""

    kind: Literal["joined", "left", "removed"]
    member_id: bytes
    role: int
    by: bytes | None
    issuer: bytes | None = None


@dataclass(frozen=True, slots=True)
class GroupState:
    """What a verified chain establishes at its last commit."""

    group_id: bytes
    epoch: int
    commit_hash: bytes
    roster: tuple[RosterEntry, ...]
    facilitators: frozenset[bytes]
    departed: frozenset[bytes]  # member_ids this chain saw leave; never admitted again
    suite: int = SUITE  # of the last commit; never lowered (§6.9)
    pq_keys: tuple[tuple[bytes, bytes], ...] = ()  # (member_id, pq_pk) of a suite-2 roster
    # From this epoch on, every commit's invite admissions are counted in invite_admits
    # (invite_pk, how many); 0: counted nowhere (the server's view).
    counted_from: int = 0
    invite_admits: tuple[tuple[bytes, int], ...] = ()

    def admits_of(self, invite_pk: bytes) -> int:
        """How many members ``invite_pk`` admitted in the commits this state counted."""
        return dict(self.invite_admits).get(invite_pk, 0)

    def entry_of(self, member_id: bytes) -> RosterEntry | None:
        return next((e for e in self.roster if e.member_id == member_id), None)


def _check(condition: bool, reason: str) -> None:
    if not condition:
        raise UntrustedCommit(reason)


def _verified(public_key: bytes, signature: bytes, message: bytes, what: str) -> None:
    try:
        verify_signature(public_key, signature, message)
    except VerificationFailed:
        raise UntrustedCommit(f"{what} does not verify") from None


def _state_of(
    commit: EpochCommit,
    departed: frozenset[bytes],
    counted_from: int,
    invite_admits: dict[bytes, int] | None = None,
) -> GroupState:
    return GroupState(
        commit.group_id,
        commit.epoch,
        commit.hash,
        commit.roster,
        frozenset(commit.facilitators),
        departed,
        commit.suite,
        tuple((member_id, key.public) for member_id, key in commit.pq_map().items()),
        counted_from,
        tuple(sorted((invite_admits or {}).items())),
    )


def _count_invites(commit: EpochCommit, counted: dict[bytes, int]) -> dict[bytes, int]:
    """``counted`` plus the invite admissions of ``commit``; refuses a key's admissions beyond
    its certificate's bound."""
    totals = dict(counted)
    for authorisation in commit.authorisations:
        if isinstance(authorisation, InviteAdmission):
            pk = authorisation.invite_pk
            totals[pk] = totals.get(pk, 0) + 1
            _check(
                totals[pk] <= authorisation.certificate.max_admits,
                "an invite admits more members than its certificate allows",
            )
    return totals


def genesis_state(commit: EpochCommit) -> tuple[GroupState, list[Change]]:
    """The state of a group's first commit: its creator alone, as its facilitator."""
    _check(commit.epoch == 1 and commit.prev_commit_hash == bytes(32), "not a genesis commit")
    _check(
        len(commit.roster) == 1
        and commit.facilitators == (commit.committer_id,)
        and not commit.authorisations,
        "a genesis commit holds its creator only, as facilitator",
    )
    try:
        verify_commit(commit)
    except VerificationFailed:
        raise UntrustedCommit("the commit signature does not verify") from None
    change = Change("joined", commit.committer_id, ROLE_FACILITATOR, None)
    return _state_of(commit, frozenset(), 1), [change]


def _check_admission(
    admission: Authorisation,
    commit_epoch: int,
    group_id: bytes,
    signers: dict[bytes, RosterEntry],
    facilitators: frozenset[bytes],
) -> Change:
    """Verify one admission, carried by the commit of ``commit_epoch``, against the facilitators
    and keys of the epoch before it."""
    _check(
        not isinstance(admission, LegacyAdmission),
        "an admission of the first layout binds no epoch (§6.4)",
    )
    assert isinstance(admission, Admission | InviteAdmission)
    _check(
        admission.epoch < commit_epoch <= admission.epoch + ADMISSION_WINDOW,
        "an admission is not for this epoch (made at another, or used before)",
    )
    if isinstance(admission, Admission):
        admitter = signers.get(admission.admitter_id)
        _check(
            admitter is not None and admission.admitter_id in facilitators,
            "an admission is not signed by a facilitator",
        )
        assert admitter is not None
        message = admission_message(
            AUTH_ADMIT, group_id, admission.epoch, admission.role, admission.entry
        )
        _verified(admitter.sig_pk, admission.signature, message, "an admission")
        return Change("joined", admission.member_id, admission.role, admission.admitter_id)
    issuer = signers.get(admission.issuer_id)
    _check(
        issuer is not None and admission.issuer_id in facilitators,
        "an invite was not certified by a facilitator",
    )
    assert issuer is not None
    cert = admission.certificate
    _verified(
        issuer.sig_pk,
        cert.signature,
        invite_message(
            group_id, admission.invite_pk, cert.issued_epoch, cert.not_after, cert.max_admits
        ),
        "an invite certificate",
    )
    _check(cert.issued_epoch < commit_epoch, "an invite admits before it was made")
    message = admission_message(
        AUTH_INVITE_ADMIT, group_id, admission.epoch, ROLE_MEMBER, admission.entry
    )
    _verified(admission.invite_pk, admission.signature, message, "an invite admission")
    return Change("joined", admission.member_id, ROLE_MEMBER, None, admission.issuer_id)


def invite_admission_refusal(
    state: GroupState, admission: InviteAdmission, now_ms: int
) -> str | None:
    """Why a client holding ``state`` must not itself commit ``admission`` (None: it may).

    Verifying a commit, a client counts an invite key's admissions in the commits it verified
    (``advance``); a newcomer did not verify those before its invite's anchor, so it cannot tell
    a spent invite from a fresh one. So a committer counts them all: it commits an invite
    admission only if its state counted every commit since the invite was made, and only before
    the certificate's ``not_after`` by its own clock. A hostile server can thus not get a spent
    or expired invite's admission committed by an honest member.
    """
    cert = admission.certificate
    if state.counted_from == 0 or state.counted_from > cert.issued_epoch + 1:
        return "this client did not see every commit since the invite was made"
    if now_ms > cert.not_after:
        return "the invite has expired"
    if state.admits_of(admission.invite_pk) >= cert.max_admits:
        return "the invite admitted all the members its certificate allows"
    return None


def advance(state: GroupState, commit: EpochCommit) -> tuple[GroupState, list[Change]]:
    """Verify that ``commit`` extends ``state`` by authorised changes; the new state and them."""
    _check(commit.group_id == state.group_id, "the commit is for another group")
    _check(commit.epoch == state.epoch + 1, "the commit does not follow the held epoch")
    _check(commit.prev_commit_hash == state.commit_hash, "the commit does not extend the chain")
    _check(commit.suite >= state.suite, "the commit lowers the group's cipher suite")
    previous = {e.member_id: e for e in state.roster}
    committer = previous.get(commit.committer_id)
    _check(committer is not None, "the committer was not a member of the previous epoch")
    assert committer is not None
    _check(commit.entry_of(commit.committer_id) == committer, "the committer changed its keys")
    _verified(
        committer.sig_pk,
        commit.signature,
        LABEL_COMMIT_SIG + commit.body + commit.confirm,
        "the commit signature",
    )
    try:
        verify_pq_keys(commit)
    except VerificationFailed:
        raise UntrustedCommit("an ML-KEM key is not signed by its member") from None
    held_pq = dict(state.pq_keys)
    _check(
        all(held_pq.get(m, k.public) == k.public for m, k in commit.pq_map().items()),
        "a member's ML-KEM key changed",
    )
    admitted: dict[bytes, RosterEntry] = {}
    departed: set[bytes] = set()
    new_facilitators: set[bytes] = set()
    changes: list[Change] = []
    for authorisation in commit.authorisations:
        changes.append(_check_one(authorisation, commit, state, previous, admitted, departed))
        if changes[-1].kind == "joined" and changes[-1].role == ROLE_FACILITATOR:
            new_facilitators.add(changes[-1].member_id)
    kept = [e for e in state.roster if e.member_id not in departed]
    _check(bool(kept) or bool(admitted), "a roster cannot become empty")
    expected = sorted_roster([*kept, *admitted.values()])
    _check(
        commit.roster == expected,
        "the roster differs from the previous one plus the authorised changes",
    )
    facilitators = (state.facilitators - departed) | new_facilitators
    _check(bool(facilitators), "a group cannot be left without a facilitator")
    _check(
        frozenset(commit.facilitators) == facilitators,
        "the facilitators differ from the previous ones plus the authorised changes",
    )
    counted = _count_invites(commit, dict(state.invite_admits))
    return _state_of(commit, state.departed | departed, state.counted_from, counted), changes


def _check_one(
    authorisation: Authorisation,
    commit: EpochCommit,
    state: GroupState,
    previous: dict[bytes, RosterEntry],
    admitted: dict[bytes, RosterEntry],
    departed: set[bytes],
) -> Change:
    member_id = authorisation.member_id
    _check(
        member_id not in admitted and member_id not in departed,
        "two authorisations for one member",
    )
    if isinstance(authorisation, Admission | InviteAdmission | LegacyAdmission):
        _check(member_id not in previous, "an admission of someone already in the group")
        _check(member_id not in state.departed, "an admission of someone who left")
        change = _check_admission(
            authorisation, commit.epoch, state.group_id, previous, state.facilitators
        )
        admitted[member_id] = authorisation.entry
        return change
    leaving = previous.get(member_id)
    _check(leaving is not None, "a removal of someone not in the group")
    assert leaving is not None
    if isinstance(authorisation, Removal):
        remover = previous.get(authorisation.remover_id)
        _check(
            remover is not None and authorisation.remover_id in state.facilitators,
            "a removal is not signed by a facilitator",
        )
        # A facilitator departing by their own hand signs a leave: a removal is always
        # another facilitator's, so one facilitator cannot be both remover and removed.
        _check(authorisation.remover_id != member_id, "a removal is signed by the removed member")
        assert remover is not None
        message = removal_message(state.group_id, member_id)
        _verified(remover.sig_pk, authorisation.signature, message, "a removal")
        departed.add(member_id)
        return Change("removed", member_id, ROLE_MEMBER, authorisation.remover_id)
    assert isinstance(authorisation, Leave)
    message = leave_message(state.group_id, member_id)
    _verified(leaving.sig_pk, authorisation.signature, message, "a leave")
    departed.add(member_id)
    return Change("left", member_id, ROLE_MEMBER, member_id)


def keyed_state(
    commit: EpochCommit, member: MemberKeys, invite_pk: bytes | None = None
) -> tuple[GroupState, list[Change]]:
    """The state of the commit that first keys ``member`` (a newcomer, or the creator).

    Only for the genesis and for a link without an anchor that the person chose to trust
    (§6.7; ``anchored_state`` otherwise): it trusts the commit's own roster. It checks the
    commit's signature, that it is in the roster with its own keys, and that its own admission
    is in the commit, signed by one of the commit's facilitators (or by the invite key of its
    own link, ``invite_pk``, that a facilitator certified). Every other admission in the commit
    is checked the same way.
    """
    if commit.epoch == 1:
        return genesis_state(commit)
    try:
        verify_commit(commit)
    except VerificationFailed:
        raise UntrustedCommit("the commit signature does not verify") from None
    _check(commit.entry_of(member.member_id) == member.entry, "the commit is not sealed to us")
    signers = {e.member_id: e for e in commit.roster}
    facilitators = frozenset(commit.facilitators)
    changes: list[Change] = []
    own: Authorisation | None = None
    for authorisation in commit.authorisations:
        if not isinstance(authorisation, Admission | InviteAdmission | LegacyAdmission):
            continue  # a departed member's key is not in this roster: checked by the others
        _check(commit.entry_of(authorisation.member_id) == authorisation.entry, "a stray admission")
        changes.append(
            _check_admission(authorisation, commit.epoch, commit.group_id, signers, facilitators)
        )
        if authorisation.member_id == member.member_id:
            own = authorisation
    _check(own is not None, "the commit carries no admission of ours")
    if invite_pk is not None and isinstance(own, InviteAdmission):
        _check(own.invite_pk == invite_pk, "our admission is not from our invite")
    return _state_of(commit, frozenset(), commit.epoch, _count_invites(commit, {})), changes


def anchor_bytes(epoch: int, commit_hash: bytes) -> bytes:
    """An invite link's anchor (§6.7): ``epoch(u32) ‖ commit_hash`` of the facilitator's held
    epoch when it made the invite."""
    _check(1 <= epoch < 2**32 and len(commit_hash) == 32, "not an anchor")
    return epoch.to_bytes(4, "big") + commit_hash


def parse_anchor(raw: bytes) -> tuple[int, bytes]:
    _check(len(raw) == 36 and int.from_bytes(raw[:4], "big") >= 1, "not an anchor")
    return int.from_bytes(raw[:4], "big"), raw[4:]


def anchored_state(
    chain: list[EpochCommit],
    anchor: tuple[int, bytes],
    member: MemberKeys,
    invite_pk: bytes | None = None,
) -> tuple[GroupState, list[tuple[int, Change]]]:
    """The state of the commit that first keys a newcomer, verified from its invite's anchor.

    ``chain`` holds the commits from the anchored epoch on, in order. The first must be the
    anchor itself (its hash is in the link, which the server never sees, so its roster and
    facilitators are the group's real ones); every later one must extend it by the §6.5 rules
    (``advance``) up to the first commit whose roster holds ``member`` with its own keys: that
    commit's admission of ``member`` was thus signed by a facilitator of the verified chain
    (or by the invite key, ``invite_pk``, such a facilitator certified). The state carries the
    departures since the anchor.
    """
    epoch, commit_hash = anchor
    _check(bool(chain), "the server offered no commit from the invite's anchor")
    first = chain[0]
    _check(
        first.epoch == epoch and first.hash == commit_hash,
        "the commit at the invite's anchor is not the one the link names",
    )
    if first.epoch == 1:
        state, _ = genesis_state(first)
    else:
        try:
            verify_commit(first)
        except VerificationFailed:
            raise UntrustedCommit("the commit signature does not verify") from None
        state = _state_of(first, frozenset(), first.epoch, _count_invites(first, {}))
    _check(state.entry_of(member.member_id) is None, "the anchor already lists us")
    changes: list[tuple[int, Change]] = []
    for commit in chain[1:]:
        state, step = advance(state, commit)
        changes.extend((commit.epoch, change) for change in step)
        entry = commit.entry_of(member.member_id)
        if entry is None:
            continue
        _check(entry == member.entry, "the commit is not sealed to us")
        own = next(a for a in commit.authorisations if a.member_id == member.member_id)
        if invite_pk is not None and isinstance(own, InviteAdmission):
            _check(own.invite_pk == invite_pk, "our admission is not from our invite")
        return state, changes
    raise UntrustedCommit("no commit from the invite's anchor keys us")
