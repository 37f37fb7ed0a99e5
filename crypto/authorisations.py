"""Signed authorisations of roster changes, carried in the commit that makes them (§6.4).

A roster entry may only appear with an admission, and only disappear with a removal or a leave:

- ``admit``        = 0x01 ‖ role(1) ‖ entry(80) ‖ admitter_id(16) ‖ sig(64), signed by a
  facilitator's member key over ``LABEL_ADMIT ‖ 0x01 ‖ group_id ‖ role ‖ entry``;
- ``invite_admit`` = 0x02 ‖ entry(80) ‖ invite_pk(32) ‖ issuer_id(16) ‖ cert_sig(64) ‖ sig(64):
  ``cert_sig`` is the issuing facilitator's signature over ``LABEL_INVITE ‖ group_id ‖
  invite_pk`` and ``sig`` the invite key's over ``LABEL_ADMIT ‖ 0x02 ‖ group_id ‖ 0x00 ‖ entry``
  (an invite admits members only);
- ``remove``       = 0x03 ‖ member_id(16) ‖ remover_id(16) ‖ sig(64), a facilitator's signature
  over ``LABEL_REMOVE ‖ group_id ‖ member_id``;
- ``leave``        = 0x04 ‖ member_id(16) ‖ sig(64), the member's own signature over
  ``LABEL_LEAVE ‖ group_id ‖ member_id``.

These functions build and parse; who may sign what is checked in ``crypto.groupstate``.
"""

from dataclasses import dataclass

from crypto.fields import Reader, require_bytes, require_int
from crypto.keys import MemberKeys, SigningKey
from crypto.roster import RosterEntry
from crypto.suite import (
    AUTH_ADMIT,
    AUTH_INVITE_ADMIT,
    AUTH_LEAVE,
    AUTH_REMOVE,
    GROUP_ID_LEN,
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
)


@dataclass(frozen=True, slots=True)
class Admission:
    """A facilitator admits ``entry`` with ``role``."""

    role: int
    entry: RosterEntry
    admitter_id: bytes
    signature: bytes

    @property
    def member_id(self) -> bytes:
        return self.entry.member_id

    def encode(self) -> bytes:
        return (
            u8(AUTH_ADMIT) + u8(self.role) + self.entry.encode() + self.admitter_id + self.signature
        )


@dataclass(frozen=True, slots=True)
class InviteAdmission:
    """Whoever holds an invite key a facilitator certified admits ``entry`` as a member."""

    entry: RosterEntry
    invite_pk: bytes
    issuer_id: bytes
    certificate: bytes
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
            + self.entry.encode()
            + self.invite_pk
            + self.issuer_id
            + self.certificate
            + self.signature
        )


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


Authorisation = Admission | InviteAdmission | Removal | Leave


def admission_message(tag: int, group_id: bytes, role: int, entry: RosterEntry) -> bytes:
    require_bytes("group_id", group_id, GROUP_ID_LEN)
    return LABEL_ADMIT + u8(tag) + group_id + u8(role) + entry.encode()


def invite_message(group_id: bytes, invite_pk: bytes) -> bytes:
    require_bytes("group_id", group_id, GROUP_ID_LEN)
    return LABEL_INVITE + group_id + require_bytes("invite_pk", invite_pk, SIG_PK_LEN)


def removal_message(group_id: bytes, member_id: bytes) -> bytes:
    require_bytes("group_id", group_id, GROUP_ID_LEN)
    return LABEL_REMOVE + group_id + require_bytes("member_id", member_id, MEMBER_ID_LEN)


def leave_message(group_id: bytes, member_id: bytes) -> bytes:
    require_bytes("group_id", group_id, GROUP_ID_LEN)
    return LABEL_LEAVE + group_id + require_bytes("member_id", member_id, MEMBER_ID_LEN)


def sign_admission(
    group_id: bytes, admitter: MemberKeys, entry: RosterEntry, role: int = ROLE_MEMBER
) -> Admission:
    """A facilitator's admission of ``entry`` (``role`` 1 makes a co-facilitator)."""
    require_int("role", role, ROLE_MEMBER, ROLE_FACILITATOR)
    signature = admitter.signing.sign(admission_message(AUTH_ADMIT, group_id, role, entry))
    return Admission(role, entry, admitter.member_id, signature)


def certify_invite(group_id: bytes, issuer: MemberKeys, invite_pk: bytes) -> bytes:
    """The facilitator's ``cert_sig`` binding an invite key to the group."""
    return issuer.signing.sign(invite_message(group_id, invite_pk))


def sign_invite_admission(
    group_id: bytes,
    invite_key: SigningKey,
    issuer_id: bytes,
    certificate: bytes,
    entry: RosterEntry,
) -> InviteAdmission:
    """What a newcomer holding the invite link signs for itself in an open group."""
    require_bytes("issuer_id", issuer_id, MEMBER_ID_LEN)
    require_bytes("certificate", certificate, SIG_LEN)
    signature = invite_key.sign(admission_message(AUTH_INVITE_ADMIT, group_id, ROLE_MEMBER, entry))
    return InviteAdmission(entry, invite_key.public, issuer_id, certificate, signature)


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
        entry = RosterEntry.decode(reader.take(ROSTER_ENTRY_LEN))
        return Admission(role, entry, reader.take(MEMBER_ID_LEN), reader.take(SIG_LEN))
    if tag == AUTH_INVITE_ADMIT:
        return InviteAdmission(
            RosterEntry.decode(reader.take(ROSTER_ENTRY_LEN)),
            reader.take(SIG_PK_LEN),
            reader.take(MEMBER_ID_LEN),
            reader.take(SIG_LEN),
            reader.take(SIG_LEN),
        )
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
