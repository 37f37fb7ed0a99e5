"""The server's checks of signed roster authorisations before it keeps them (§6.4).

Clients verify every authorisation in every commit themselves; these checks only make sure the
server stores and hands out what a committer can use, and answer a broken client with a precise
error instead of a stuck group.
"""

from __future__ import annotations

from collections.abc import Iterable

from crypto.authorisations import (
    Admission,
    Authorisation,
    InviteAdmission,
    InviteCertificate,
    Leave,
    Removal,
    admission_message,
    invite_message,
    leave_message,
    parse_authorisation,
    removal_message,
)
from crypto.errors import VerificationFailed
from crypto.keys import verify_signature
from crypto.roster import RosterEntry
from crypto.suite import (
    ADMISSION_WINDOW,
    AUTH_ADMIT,
    AUTH_INVITE_ADMIT,
    INVITE_CERT_LEN,
    MEMBER_ID_LEN,
    ROLE_MEMBER,
    SIG_PK_LEN,
)
from server.errors import Code, HearthError
from server.realtime.wire import decode_b64
from server.storage.rows import MemberRow

# invite_pk ‖ issuer_id ‖ issued_epoch ‖ not_after ‖ max_admits ‖ cert_sig (§6.4)
INVITE_KEY_LEN = SIG_PK_LEN + MEMBER_ID_LEN + INVITE_CERT_LEN


def _refuse(message: str) -> HearthError:
    return HearthError(Code.INVALID_AUTHORISATION, message)


def _parse(value: str, what: str) -> tuple[bytes, Authorisation]:
    blob = decode_b64(value, what)
    try:
        return blob, parse_authorisation(blob)
    except ValueError as exc:
        raise _refuse(f"{what} is malformed: {exc}") from None


def _verify(public_key: bytes, signature: bytes, message: bytes, what: str) -> None:
    try:
        verify_signature(public_key, signature, message)
    except VerificationFailed:
        raise _refuse(f"{what}: the signature does not verify") from None


def _facilitator(members: Iterable[MemberRow], member_id: bytes) -> MemberRow | None:
    return next(
        (
            m
            for m in members
            if m.member_id == member_id and m.facilitator_id is not None and m.keyed
        ),
        None,
    )


def check_admission_epoch(made_at: int, current_epoch: int) -> None:
    """An admission made at ``made_at`` is valid in the next ADMISSION_WINDOW commits only
    (§6.4); the next commit is ``current_epoch + 1``, so it must have been made at the current
    epoch or the one before. Otherwise every client would refuse the commit carrying it."""
    if not current_epoch - ADMISSION_WINDOW < made_at <= current_epoch:
        raise _refuse(
            f"the admission was made at epoch {made_at} and the group is at epoch "
            f"{current_epoch}: take in the newest epoch and sign it again"
        )


def entry_of(member: MemberRow) -> RosterEntry:
    return RosterEntry(member.member_id, member.sig_pk, member.kem_pk)


def checked_admission(
    value: str,
    group_id: bytes,
    member: MemberRow,
    members: Iterable[MemberRow],
    role: int,
    current_epoch: int,
) -> bytes:
    """A facilitator's admission of ``member`` with ``role`` (0: a member, 1: an invited
    facilitator, §6.8): any other role is refused, so a member is never made a facilitator."""
    blob, admission = _parse(value, "admission")
    if not isinstance(admission, Admission) or admission.role != role:
        raise _refuse(
            "approving needs a facilitator's admission "
            + ("of a member" if role == ROLE_MEMBER else "with the facilitator role")
        )
    if admission.entry != entry_of(member):
        raise _refuse("the admission is for other keys than this member's")
    admitter = _facilitator(members, admission.admitter_id)
    if admitter is None:
        raise _refuse("the admission is not signed by a facilitator of this group")
    message = admission_message(
        AUTH_ADMIT, group_id, admission.epoch, admission.role, admission.entry
    )
    _verify(admitter.sig_pk, admission.signature, message, "admission")
    check_admission_epoch(admission.epoch, current_epoch)
    return blob


def invite_certificate(invite_key: bytes) -> InviteCertificate:
    """The certificate part of a stored ``invite_key``."""
    return InviteCertificate.decode(invite_key[SIG_PK_LEN + MEMBER_ID_LEN :])


def checked_invite_key(
    value: str, group_id: bytes, members: Iterable[MemberRow], now: int
) -> bytes:
    """``invite_pk ‖ issuer_id ‖ certificate``, certified by a facilitator of the group and not
    expired."""
    blob = decode_b64(value, "invite_key", INVITE_KEY_LEN)
    invite_pk, issuer_id = blob[:SIG_PK_LEN], blob[SIG_PK_LEN : SIG_PK_LEN + MEMBER_ID_LEN]
    issuer = _facilitator(members, issuer_id)
    if issuer is None:
        raise _refuse("the invite key is not certified by a facilitator of this group")
    cert = invite_certificate(blob)
    message = invite_message(
        group_id, invite_pk, cert.issued_epoch, cert.not_after, cert.max_admits
    )
    _verify(issuer.sig_pk, cert.signature, message, "invite_key")
    if cert.not_after <= now:
        raise _refuse("the invite key's certificate has expired")
    return blob


def invite_admits(
    value: str,
    group_id: bytes,
    entry: RosterEntry,
    invite_key: bytes,
    current_epoch: int,
    now: int,
) -> bytes:
    """The newcomer's own admission, signed with the key of the invite it used, which the
    certificate still lets admit members by itself."""
    blob, admission = _parse(value, "admission")
    if (
        not isinstance(admission, InviteAdmission)
        or admission.entry != entry
        or admission.invite_pk + admission.issuer_id + admission.certificate.encode() != invite_key
    ):
        raise _refuse("the admission does not belong to this invite and these keys")
    message = admission_message(AUTH_INVITE_ADMIT, group_id, admission.epoch, ROLE_MEMBER, entry)
    _verify(admission.invite_pk, admission.signature, message, "admission")
    cert = admission.certificate
    if cert.max_admits == 0 or cert.not_after <= now:
        raise _refuse("this invite's key admits nobody by itself (any more): ask to join")
    check_admission_epoch(admission.epoch, current_epoch)
    return blob


def checked_departure(
    value: str, group_id: bytes, member: MemberRow, members: Iterable[MemberRow]
) -> bytes:
    """A signed leave of ``member`` by itself, or a facilitator's signed removal of it."""
    blob, departure = _parse(value, "departure")
    if isinstance(departure, Leave) and departure.member_id == member.member_id:
        message = leave_message(group_id, member.member_id)
        _verify(member.sig_pk, departure.signature, message, "leave")
        return blob
    if isinstance(departure, Removal) and departure.member_id == member.member_id:
        remover = _facilitator(members, departure.remover_id)
        if departure.remover_id == member.member_id:
            raise _refuse("a removal is another facilitator's; one's own departure is a leave")
        if remover is None:
            raise _refuse("the removal is not signed by a facilitator of this group")
        message = removal_message(group_id, member.member_id)
        _verify(remover.sig_pk, departure.signature, message, "removal")
        return blob
    raise _refuse("the departure is not a leave or removal of this member")
