"""The schemas of the device-link events (docs/protocol.md §15.3)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from server.realtime.schemas import Id16, Key32, Strict

# One sealed chunk: nonce ‖ AES-GCM(≤ 32 KiB of the bundle) ‖ tag, as base64url (§15.4)
ChunkB64 = Annotated[
    str, msgspec.Meta(min_length=1, max_length=43_800, pattern=r"^[A-Za-z0-9_-]+$")
]


class LinkOpen(Strict, frozen=True):
    link_id: Id16
    share: Key32


class LinkJoin(Strict, frozen=True):
    link_id: Id16
    share: Key32


class LinkMsg(Strict, frozen=True):
    link_id: Id16
    data: ChunkB64


class LinkClose(Strict, frozen=True):
    link_id: Id16
    reason: Literal["done", "mismatch", "cancelled"]
