"""Schemas of the companion groups' events (docs/protocol.md §6.10), kept apart from
schemas.py: the same strict decoding, the same field types."""

from __future__ import annotations

from typing import Literal

from server.realtime.schemas import B64, CommitB64, GroupRef, Id16, Strict

__all__ = ["AskClaim", "CompanionAdmit", "CompanionCreate", "CompanionRef", "GroupRef"]


class CompanionCreate(Strict, frozen=True):
    group_id: Id16
    companion_id: Id16
    kind: Literal["notes", "ask"]
    commit: CommitB64


class CompanionAdmit(Strict, frozen=True):
    companion_id: Id16
    member_id: Id16
    admission: B64


class CompanionRef(Strict, frozen=True):
    companion_id: Id16


class AskClaim(Strict, frozen=True):
    companion_id: Id16
    claim: bool = True
