"""Signed authorisations of roster changes, carried in the commit that makes them (§6.4).

A roster entry may only appear with an admission, and only disappear with a removal or a leave:

- ``admit``        = 0x05 ‖ role(1) ‖ epoch(8) ‖ entry(80) ‖ admitter_id(16) ‖ sig(64), signed by
  a facilitator's member key over ``LABEL_ADMIT ‖ 0x05 ‖ group_id ‖ epoch ‖ role ‖ entry``;
- ``invite_admit`` = 0x06 ‖ epoch(8) ‖ entry(80) ‖ invite_pk(32) ‖ issuer_id(16) ‖
  certificate(84) ‖ sig(64): ``certificate`` = issued_epoch(8) ‖ not_after(8) ‖ max_admits(4) ‖
  cert_sig(64), ``cert_sig`` the issuing facilitator's signature over ``LABEL_INVITE ‖ group_id ‖
  invite_pk ‖ issued_epoch ‖ not_after ‖ max_admits``, and ``sig`` the invite key's over
  ``LABEL_ADMIT ‖ 0x06 ‖ group_id ‖ epoch ‖ 0x00 ‖ entry`` (an invite admits members only);
- ``remove``       = 0x03 ‖ member_id(16) ‖ remover_id(16) ‖ sig(64), a facilitator's signature
  over ``LABEL_REMOVE ‖ group_id ‖ member_id``;
- ``leave``        = 0x04 ‖ member_id(16) ‖ sig(64), the member's own signature over
  ``LABEL_LEAVE ‖ group_id ‖ member_id``.

``epoch`` in an admission is the epoch its signer held when it signed: it is valid in the commits
of the next ``ADMISSION_WINDOW`` epochs only, so it can never be used twice (§6.5). Kinds 0x01
and 0x02, admissions of the first layout that bound no epoch, are still parsed (old commits hold
them) as ``LegacyAdmission`` but no client accepts one in a commit it verifies.

These functions build and parse; who may sign what is checked in ``crypto.groupstate``.
"""

from __future__ import annotations

from dataclasses import dataclass

from crypto.fields import Reader, require_bytes, require_int, require_u64
from crypto.keys import MemberKeys, SigningKey
from crypto.roster import RosterEntry
from crypto.suite import (
    AUTH_ADMIT,
    AUTH_INVITE_ADMIT,
    AUTH_LEAVE,
    AUTH_LEGACY_ADMIT,
    AUTH_LEGACY_INVITE_ADMIT,
    AUTH_REMOVE,
    GROUP_ID_LEN,
    INVITE_CERT_LEN,
    LABEL_ADMIT,
    LABEL_INVITE,
    LABEL_LEAVE,
    LABEL_REMOVE,
    MEMBER_ID_LEN,
    ROLE_FACILITATOR,
    ROLE_MEMBER,
    ROSTER_ENTRY_LEN,
    SIG_LEN,
    SIG_PK_LEN,
    u8,
    u32,
    u64,
)


@dataclass(frozen=True, slots=True)
class Admission:
    """A facilitator admits ``entry`` with ``role``."""

    role: int
    epoch: int  # the epoch the admitter held when it signed
    entry: RosterEntry
    admitter_id: bytes
    signature: bytes

    @property
    def member_id(self) -> bytes:
        return self.entry.member_id

    def encode(self) -> bytes:
        return (
            u8(AUTH_ADMIT)
            + u8(self.role)
            + u64(self.epoch)
            + self.entry.encode()
            + self.admitter_id
            + self.signature
        )


@dataclass(frozen=True, slots=True)
class InviteCertificate:
    """A facilitator's certificate of an invite key: made at ``issued_epoch``, it admits at most
    ``max_admits`` members by itself (0 in a group that approves each newcomer), until
    ``not_after`` (ms since 1970, UTC)."""

    issued_epoch: int
    not_after: int
    max_admits: int
    signature: bytes

    def encode(self) -> bytes:
        return u64(self.issued_epoch) + u64(self.not_after) + u32(self.max_admits) + self.signature

    @classmethod
    def decode(cls, data: bytes) -> InviteCertificate:
        reader = Reader("invite certificate", data)
        made = cls(reader.uint(8), reader.uint(8), reader.uint(4), reader.take(SIG_LEN))
        reader.finish()
        return made


@dataclass(frozen=True, slots=True)
class InviteAdmission:
    """Whoever holds an invite key a facilitator certified admits ``entry`` as a member."""

    epoch: int  # the epoch the group was at, as the newcomer was told, when it signed
    entry: RosterEntry
    invite_pk: bytes
    issuer_id: bytes
    certificate: InviteCertificate
    signature: bytes

    @property
    def member_id(self) -> bytes:
        return self.entry.member_id

    @property
    def role(self) -> int:
        return ROLE_MEMBER

    def encode(self) -> bytes:
        return (
            u8(AUTH_INVITE_ADMIT)
            + u64(self.epoch)
            + self.entry.encode()
            + self.invite_pk
            + self.issuer_id
            + self.certificate.encode()
            + self.signature
        )


@dataclass(frozen=True, slots=True)
class LegacyAdmission:
    """An admission of the first layout (kind 0x01 or 0x02): it binds no epoch, so it could be
    used again after its member left; kept only so that old commits still parse (§6.4)."""

    kind: int
    entry: RosterEntry
    rest: bytes  # the bytes after the kind byte, as they came

    @property
    def member_id(self) -> bytes:
        return self.entry.member_id

    def encode(self) -> bytes:
        return u8(self.kind) + self.rest


@dataclass(frozen=True, slots=True)
class Removal:
    """A facilitator removes ``member_id``."""

    member_id: bytes
    remover_id: bytes
    signature: bytes

    def encode(self) -> bytes:
        return u8(AUTH_REMOVE) + self.member_id + self.remover_id + self.signature


@dataclass(frozen=True, slots=True)
class Leave:
    """``member_id`` leaves, signed with its own member key."""

    member_id: bytes
    signature: bytes

    def encode(self) -> bytes:
        return u8(AUTH_LEAVE) + self.member_id + self.signature


Authorisation = Admission | InviteAdmission | Removal | Leave | LegacyAdmission


def admission_message(
    tag: int, group_id: bytes, epoch: int, role: int, entry: RosterEntry
) -> bytes:
    require_bytes("group_id", group_id, GROUP_ID_LEN)
    require_u64("epoch", epoch)
    return LABEL_ADMIT + u8(tag) + group_id + u64(epoch) + u8(role) + entry.encode()


def invite_message(
    group_id: bytes, invite_pk: bytes, issued_epoch: int, not_after: int, max_admits: int
) -> bytes:
    require_bytes("group_id", group_id, GROUP_ID_LEN)
    require_u64("issued_epoch", issued_epoch)
    require_u64("not_after", not_after)
    require_int("max_admits", max_admits, 0, 2**32 - 1)
    return (
        LABEL_INVITE
        + group_id
        + require_bytes("invite_pk", invite_pk, SIG_PK_LEN)
        + u64(issued_epoch)
        + u64(not_after)
        + u32(max_admits)
    )


def removal_message(group_id: bytes, member_id: bytes) -> bytes:
    require_bytes("group_id", group_id, GROUP_ID_LEN)
    return LABEL_REMOVE + group_id + require_bytes("member_id", member_id, MEMBER_ID_LEN)


def leave_message(group_id: bytes, member_id: bytes) -> bytes:
    require_bytes("group_id", group_id, GROUP_ID_LEN)
    return LABEL_LEAVE + group_id + require_bytes("member_id", member_id, MEMBER_ID_LEN)


def sign_admission(
    group_id: bytes,
    admitter: MemberKeys,
    entry: RosterEntry,
    role: int = ROLE_MEMBER,
    *,
    epoch: int,
) -> Admission:
    """A facilitator's admission of ``entry`` (``role`` 1 makes a co-facilitator), made at
    ``epoch``, the epoch the facilitator holds: commits ``epoch + 1`` and ``epoch + 2`` may
    carry it, no other."""
    require_int("role", role, ROLE_MEMBER, ROLE_FACILITATOR)
    message = admission_message(AUTH_ADMIT, group_id, epoch, role, entry)
    return Admission(role, epoch, entry, admitter.member_id, admitter.signing.sign(message))


def certify_invite(
    group_id: bytes,
    issuer: MemberKeys,
    invite_pk: bytes,
    *,
    issued_epoch: int,
    not_after: int,
    max_admits: int,
) -> InviteCertificate:
    """The facilitator's certificate binding an invite key to the group, the epoch it holds,
    an expiry (ms) and the number of members the key may admit by itself."""
    message = invite_message(group_id, invite_pk, issued_epoch, not_after, max_admits)
    return InviteCertificate(issued_epoch, not_after, max_admits, issuer.signing.sign(message))


def sign_invite_admission(
    group_id: bytes,
    invite_key: SigningKey,
    issuer_id: bytes,
    certificate: bytes | InviteCertificate,
    entry: RosterEntry,
    *,
    epoch: int,
) -> InviteAdmission:
    """What a newcomer holding the invite link signs for itself in an open group, at the
    group's current ``epoch``; ``certificate`` as the server hands it out (84 bytes) or parsed."""
    require_bytes("issuer_id", issuer_id, MEMBER_ID_LEN)
    if not isinstance(certificate, InviteCertificate):
        require_bytes("certificate", certificate, INVITE_CERT_LEN)
        certificate = InviteCertificate.decode(certificate)
    message = admission_message(AUTH_INVITE_ADMIT, group_id, epoch, ROLE_MEMBER, entry)
    signature = invite_key.sign(message)
    return InviteAdmission(epoch, entry, invite_key.public, issuer_id, certificate, signature)


def sign_removal(group_id: bytes, remover: MemberKeys, member_id: bytes) -> Removal:
    return Removal(
        member_id, remover.member_id, remover.signing.sign(removal_message(group_id, member_id))
    )


def sign_leave(group_id: bytes, member: MemberKeys) -> Leave:
    return Leave(member.member_id, member.signing.sign(leave_message(group_id, member.member_id)))


def read_authorisation(reader: Reader) -> Authorisation:
    """Read one tagged authorisation; ``ValueError`` on an unknown tag or role."""
    tag = reader.uint(1)
    if tag == AUTH_ADMIT:
        role = reader.uint(1)
        if role not in (ROLE_MEMBER, ROLE_FACILITATOR):
            raise ValueError(f"admission: unknown role {role}")
        epoch = reader.uint(8)
        entry = RosterEntry.decode(reader.take(ROSTER_ENTRY_LEN))
        return Admission(role, epoch, entry, reader.take(MEMBER_ID_LEN), reader.take(SIG_LEN))
    if tag == AUTH_INVITE_ADMIT:
        return InviteAdmission(
            reader.uint(8),
            RosterEntry.decode(reader.take(ROSTER_ENTRY_LEN)),
            reader.take(SIG_PK_LEN),
            reader.take(MEMBER_ID_LEN),
            InviteCertificate.decode(reader.take(INVITE_CERT_LEN)),
            reader.take(SIG_LEN),
        )
    if tag in (AUTH_LEGACY_ADMIT, AUTH_LEGACY_INVITE_ADMIT):
        # 0x01: role ‖ entry ‖ admitter_id ‖ sig; 0x02: entry ‖ invite_pk ‖ issuer_id ‖
        # cert_sig ‖ sig (the first layout, §6.4)
        legacy_role = reader.take(1) if tag == AUTH_LEGACY_ADMIT else b""
        if legacy_role not in (b"", u8(ROLE_MEMBER), u8(ROLE_FACILITATOR)):
            raise ValueError(f"admission: unknown role {legacy_role[0]}")
        entry_bytes = reader.take(ROSTER_ENTRY_LEN)
        tail = MEMBER_ID_LEN + SIG_LEN
        if tag == AUTH_LEGACY_INVITE_ADMIT:
            tail = SIG_PK_LEN + MEMBER_ID_LEN + 2 * SIG_LEN
        rest = legacy_role + entry_bytes + reader.take(tail)
        return LegacyAdmission(tag, RosterEntry.decode(entry_bytes), rest)
    if tag == AUTH_REMOVE:
        return Removal(reader.take(MEMBER_ID_LEN), reader.take(MEMBER_ID_LEN), reader.take(SIG_LEN))
    if tag == AUTH_LEAVE:
        return Leave(reader.take(MEMBER_ID_LEN), reader.take(SIG_LEN))
    raise ValueError(f"authorisation: unknown kind {tag}")


def parse_authorisation(data: bytes) -> Authorisation:
    """Parse exactly one authorisation (as stored by the server or sent in an event)."""
    reader = Reader("authorisation", data)
    authorisation = read_authorisation(reader)
    reader.finish()
    return authorisation
