"""A table of hostile inputs against one live server; each must be refused safely.

Each row sends one bad input (raw Engine.IO/Socket.IO bytes, a bad payload, a forged or replayed
envelope, a hostile pseudonym, a path traversal, a CRLF injection...) and checks its safe outcome:
a refusal with a code and a human message (never a traceback), nothing stored, the server alive.
The last test checks the whole run: /healthz, ``PRAGMA integrity_check``, row counts, the log.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from crypto.commits import build_commit
from crypto.encoding import b64encode
from crypto.envelopes import seal_message
from crypto.keys import KemKey, MemberKeys, SigningKey
from tests.adversarial.adv_support import (
    CLOSED,
    TIMEOUT,
    RawSocket,
    World,
    assert_refusal,
    build_world,
    challenge_auth,
    integrity,
    random_id,
    raw_connected,
    serve_with,
    snapshot,
)
from tests.conftest import RunningServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

MARKER = "ADVINJECTED"
CRLF = f"\r\n2099-01-01 00:00:00,000 CRITICAL hearth: {MARKER}"


@dataclass
class Ctx:
    world: World
    server: RunningServer
    expected_delta: dict[str, int]

    @property
    def g(self) -> str:
        return b64encode(self.world.group)

    @property
    def g2(self) -> str:
        return b64encode(self.world.other_group)


Check = Callable[[Ctx], Awaitable[None]]
CASES: dict[str, tuple[Check, bool]] = {}


def case(name: str, *, stores: bool = False) -> Callable[[Check], Check]:
    """Registers a row. ``stores``: the input is legitimately accepted and may add rows."""

    def register(check: Check) -> Check:
        assert name not in CASES, name
        CASES[name] = (check, stores)
        return check

    return register


# -- raw Engine.IO / Socket.IO framing ---------------------------------------------------------


async def alive_after_raw(ctx: Ctx, raw: RawSocket, outcome: str | Any) -> None:
    """After a malformed packet: either the connection was closed or it still works."""
    if outcome != CLOSED and not raw.closed:
        reply = await raw.call("groups.list", {})
        assert reply == CLOSED or (isinstance(reply, dict) and reply.get("ok") is True), reply
    await raw.close()


def raw_garbage(name: str, text: str, *, reuse: bool = True) -> None:
    """``reuse=False``: the packet legitimately leaves the connection waiting (e.g. for a
    binary attachment), so only other connections are checked."""

    async def check(ctx: Ctx) -> None:
        raw = await raw_connected(ctx.server)
        await raw.send(text)
        outcome = await raw.receive(1.5)
        # No answer (dropped), or closed; never an answer with a traceback.
        assert outcome in (CLOSED, TIMEOUT) or "Traceback" not in outcome, outcome
        if reuse:
            await alive_after_raw(ctx, raw, outcome)
        else:
            await raw.close()
            await alive_after_raw(ctx, await raw_connected(ctx.server), TIMEOUT)

    case(name)(check)


raw_garbage("raw: truncated event JSON", '421["msg.send",{"group_id":')
raw_garbage("raw: truncated event array", '42["msg.send"')
raw_garbage("raw: garbage after event type", "42xyz")
raw_garbage("raw: unknown socket.io packet type", "49")
raw_garbage("raw: bare message type", "4")
raw_garbage("raw: unknown engine.io packet type", "9hello")
raw_garbage("raw: empty event array", "421[]")
raw_garbage("raw: ack for an unknown callback", '431["x"]')
raw_garbage("raw: event in a namespace never connected", '42/admin,7["groups.list",{}]')
raw_garbage(
    "raw: binary event placeholder without attachment",
    '451-["msg.send",{"_placeholder":true,"num":0}]',
    reuse=False,
)
raw_garbage("raw: deeply nested JSON (recursion bomb)", "421" + "[" * 30000 + "]" * 30000)
raw_garbage("raw: huge ack id", '4299999999999999999999999999["groups.list",{}]')


def raw_refused(name: str, body: str, code: str | tuple[str, ...]) -> None:
    async def check(ctx: Ctx) -> None:
        raw = await raw_connected(ctx.server)
        reply = await raw.call_text(body)
        assert_refusal(reply, code)
        await alive_after_raw(ctx, raw, reply)

    case(name)(check)


raw_refused("raw: event name is a number", "[5,{}]", ("unknown_event", "bad_request"))
raw_refused("raw: event name is null", "[null,{}]", ("unknown_event", "bad_request"))
raw_refused("raw: two payload objects", '["groups.list",{},{}]', "bad_request")
raw_refused("raw: payload is NaN", '["msg.send",NaN]', "bad_request")
raw_refused(
    "raw: limit is Infinity",
    '["history.get",{"group_id":"AAAAAAAAAAAAAAAAAAAAAA","limit":Infinity}]',
    "bad_request",
)
raw_refused(
    "raw: field is 1e999", '["msg.send",{"group_id":1e999,"envelope":"AAAA"}]', "bad_request"
)
raw_refused(
    "raw: duplicate keys in payload",
    '["history.get",{"group_id":"AAAAAAAAAAAAAAAAAAAAAA","group_id":7}]',
    "bad_request",
)
raw_refused("raw: unknown event", '["admin.shutdown",{}]', "unknown_event")
raw_refused(
    "raw: lone surrogate in string",
    '["invite.preview",{"token":"\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800"}]',
    "bad_request",
)


@case("raw: binary websocket frame")
async def _binary_frame(ctx: Ctx) -> None:
    raw = await raw_connected(ctx.server)
    await raw.ws.send_bytes(b"\xff\xfe\x00garbage")
    outcome = await raw.receive(1.5)
    await alive_after_raw(ctx, raw, outcome)


@case("raw: oversize frame (> max_message_bytes) closes the connection")
async def _oversize(ctx: Ctx) -> None:
    raw = await raw_connected(ctx.server)
    payload = {"group_id": ctx.g, "envelope": "A" * 70_000}
    await raw.send("421" + json.dumps(["msg.send", payload]))
    outcome = await raw.receive(10)
    assert outcome == CLOSED, outcome
    await raw.close()


@case("raw: unknown namespace /admin is refused with a code")
async def _unknown_namespace(ctx: Ctx) -> None:
    raw = await RawSocket.open(ctx.server)
    reply = await raw.connect(await challenge_auth(ctx.server.url, SigningKey.generate()), "/admin")
    assert reply.startswith("44/admin,"), reply
    # The default namespace still works on the same websocket.
    assert (
        await raw.connect(await challenge_auth(ctx.server.url, SigningKey.generate()))
    ).startswith("40{")
    await raw.close()
    # The protocol (13.2) says every refusal carries {"code", "message"}.
    refusal_data("44" + reply[len("44/admin,") :])


@case("raw: connect without auth")
async def _no_auth(ctx: Ctx) -> None:
    raw = await RawSocket.open(ctx.server)
    reply = await raw.connect(None)
    await raw.close()
    assert refusal_data(reply)["code"] == "auth_required", reply


def refusal_data(reply: str) -> dict[str, Any]:
    """The ``{"code", "message"}`` of a CONNECT_ERROR packet (``44{"message", "data"}``)."""
    assert reply.startswith("44"), reply
    body = json.loads(reply[2:])
    assert isinstance(body, dict), body
    assert isinstance(body.get("data"), dict), body
    data: dict[str, Any] = body["data"]
    assert isinstance(data.get("code"), str), body
    assert data.get("message"), body
    assert "Traceback" not in data["message"]
    return data


def connect_refused(name: str, code: str, **override: Any) -> None:
    async def check(ctx: Ctx) -> None:
        raw = await RawSocket.open(ctx.server)
        auth = await challenge_auth(ctx.server.url, SigningKey.generate(), **override)
        reply = await raw.connect(auth)
        await raw.close()
        assert refusal_data(reply)["code"] == code, reply

    case(name)(check)


connect_refused("connect: protocol version 2", "unsupported_version", v=2)
connect_refused("connect: account_pk is a number", "auth_failed", account_pk=12345)
connect_refused("connect: extra auth field", "auth_failed", admin=True)
connect_refused("connect: forged challenge", "auth_failed", challenge="A" * 75)
connect_refused("connect: signature by another key", "auth_failed", sig=b64encode(bytes(64)))
connect_refused("connect: CRLF in challenge", "auth_failed", challenge="AAAA\r\n" + MARKER)


@case("connect: auth is a list")
async def _auth_list(ctx: Ctx) -> None:
    raw = await RawSocket.open(ctx.server)
    reply = await raw.connect(["v", 1])
    await raw.close()
    assert refusal_data(reply)["code"] in ("auth_failed", "auth_required"), reply


@case("raw: event before the Socket.IO connect")
async def _event_before_connect(ctx: Ctx) -> None:
    raw = await RawSocket.open(ctx.server)
    reply = await raw.call("groups.list", {}, within=2)
    await raw.close()
    # Either nothing or a refusal: never data.
    assert reply in (CLOSED, TIMEOUT) or (isinstance(reply, dict) and reply.get("ok") is False)


# -- payloads: types, ranges, missing and extra fields ---------------------------------------


def payload_refused(name: str, who: str, event: str, make: Callable[[Ctx], Any], code: Any) -> None:
    async def check(ctx: Ctx) -> None:
        client = getattr(ctx.world, who)
        reply = await client.sio.call(event, make(ctx), timeout=15)
        assert_refusal(reply, code)

    case(name)(check)


payload_refused(
    "msg.send group_id is an int",
    "ana",
    "msg.send",
    lambda c: {"group_id": 7, "envelope": "AAAA"},
    "bad_request",
)
payload_refused(
    "msg.send extra field",
    "ana",
    "msg.send",
    lambda c: {"group_id": c.g, "envelope": "AAAA", "admin": True},
    "bad_request",
)
payload_refused(
    "msg.send missing envelope", "ana", "msg.send", lambda c: {"group_id": c.g}, "bad_request"
)
payload_refused(
    "msg.send null envelope",
    "ana",
    "msg.send",
    lambda c: {"group_id": c.g, "envelope": None},
    "bad_request",
)
payload_refused(
    "msg.send padded base64",
    "ana",
    "msg.send",
    lambda c: {"group_id": c.g, "envelope": "AA=="},
    "bad_request",
)
payload_refused(
    "history.get limit 2**64",
    "ana",
    "history.get",
    lambda c: {"group_id": c.g, "limit": 2**64},
    "bad_request",
)
payload_refused(
    "history.get limit -1",
    "ana",
    "history.get",
    lambda c: {"group_id": c.g, "limit": -1},
    "bad_request",
)
payload_refused(
    "history.get before_seq 1e308",
    "ana",
    "history.get",
    lambda c: {"group_id": c.g, "before_seq": 1e308},
    "bad_request",
)
payload_refused(
    "history.get limit is a bool",
    "ana",
    "history.get",
    lambda c: {"group_id": c.g, "limit": True},
    "bad_request",
)
payload_refused(
    "epoch.list from_epoch 2**64",
    "ana",
    "epoch.list",
    lambda c: {"group_id": c.g, "from_epoch": 2**64},
    "bad_request",
)
payload_refused(
    "invite.create expires 10**30 hours",
    "fac",
    "invite.create",
    lambda c: {"group_id": c.g, "expires_in_hours": 10**30},
    "bad_request",
)
payload_refused(
    "invite.create max_uses -1",
    "fac",
    "invite.create",
    lambda c: {"group_id": c.g, "max_uses": -1},
    "bad_request",
)
payload_refused(
    "invite.create by a member", "ana", "invite.create", lambda c: {"group_id": c.g}, "forbidden"
)
payload_refused(
    "join.decide by a member",
    "ana",
    "join.decide",
    lambda c: {
        "group_id": c.g,
        "member_id": b64encode(c.world.bob.member_id(c.world.group)),
        "approve": False,
    },
    "forbidden",
)
payload_refused(
    "member.remove by a member",
    "ana",
    "member.remove",
    lambda c: {"group_id": c.g, "member_id": b64encode(c.world.bob.member_id(c.world.group))},
    "forbidden",
)
payload_refused(
    "members.list by an outsider",
    "outsider",
    "members.list",
    lambda c: {"group_id": c.g},
    "not_member",
)
payload_refused(
    "history.get by an outsider",
    "outsider",
    "history.get",
    lambda c: {"group_id": c.g},
    "not_member",
)
payload_refused(
    "msg.delete of someone else's message",
    "bob",
    "msg.delete",
    lambda c: {"group_id": c.g, "msg_id": b64encode(c.world.ana_first_msg)},
    "not_found",
)  # type: ignore[attr-defined]
payload_refused(
    "group.update rules 5000 chars",
    "fac",
    "group.update",
    lambda c: {"group_id": c.g, "rules": "x" * 5000},
    "bad_request",
)
payload_refused(
    "invite.preview CRLF token",
    "outsider",
    "invite.preview",
    lambda c: {"token": "A" * 20 + CRLF},
    "bad_request",
)
payload_refused(
    "invite.revoke path traversal id",
    "fac",
    "invite.revoke",
    lambda c: {"group_id": c.g, "invite_id": "../../../../etc/"},
    "bad_request",
)


def group_create_payload(ctx: Ctx, client: Any, **changes: Any) -> dict[str, Any]:
    group_id = random_id()
    member = MemberKeys.generate()
    commit, _ = build_commit(
        group_id=changes.pop("commit_group", group_id),
        epoch=changes.pop("epoch", 1),
        prev_commit_hash=bytes(32),
        committer=member,
        roster=[member.entry],
        facilitators=[member.member_id],
    )
    payload = {
        "group_id": b64encode(group_id),
        "name": "Sneaky group",
        "rules": "none",
        "join_policy": "approval",
        "posting_policy": "always",
        "member": client._member_payload(member, "Sneaky Stoat"),
        "commit": b64encode(commit.raw),
    }
    payload.update(changes)
    return payload


payload_refused(
    "group.create by a member",
    "ana",
    "group.create",
    lambda c: group_create_payload(c, c.world.ana),
    "forbidden",
)
payload_refused(
    "group.create commit at epoch 2",
    "fac",
    "group.create",
    lambda c: group_create_payload(c, c.world.fac, epoch=2),
    "invalid_commit",
)
payload_refused(
    "group.create commit for another group",
    "fac",
    "group.create",
    lambda c: group_create_payload(c, c.world.fac, commit_group=random_id()),
    "invalid_commit",
)
payload_refused(
    "group.create join_policy not in enum",
    "fac",
    "group.create",
    lambda c: group_create_payload(c, c.world.fac, join_policy="anyone"),
    "bad_request",
)
payload_refused(
    "group.create retention 10**6 days",
    "fac",
    "group.create",
    lambda c: group_create_payload(c, c.world.fac, retention_days=10**6),
    "bad_request",
)


@case("group.create CRLF in group name: no injected log line")
async def _crlf_group_name(ctx: Ctx) -> None:
    payload = group_create_payload(ctx, ctx.world.fac, name="Circle" + CRLF)
    reply = await ctx.world.fac.sio.call("group.create", payload, timeout=15)
    if reply.get("ok"):
        ctx.expected_delta.update({"groups": 1, "members": 1, "epochs": 1, "group_facilitators": 1})
    else:
        assert_refusal(reply, ("bad_request",))
    assert MARKER not in ctx.server.log_text()


# -- pseudonyms ------------------------------------------------------------------------------


def pseudonym_refused(name: str, pseudonym: str, code: str) -> None:
    async def check(ctx: Ctx) -> None:
        client = ctx.world.outsider
        member = MemberKeys.generate()
        reply = await client.sio.call(
            "group.join",
            {
                "token": ctx.world.token,  # type: ignore[attr-defined]
                "member": client._member_payload(member, pseudonym),
                "accept_rules": True,
            },
            timeout=15,
        )
        assert_refusal(reply, code)
        assert MARKER not in ctx.server.log_text()

    case(name)(check)


pseudonym_refused("pseudonym with RTL override U+202E", "Quiet\u202exoF", "pseudonym_invalid")
pseudonym_refused("pseudonym with isolate U+2066", "\u2066Calm Deer", "pseudonym_invalid")
pseudonym_refused("pseudonym with zero-width space", "Calm\u200bDeer", "pseudonym_invalid")
pseudonym_refused("pseudonym with zero-width joiner", "Calm\u200dDeer", "pseudonym_invalid")
pseudonym_refused("pseudonym with CRLF", "Calm" + CRLF, "pseudonym_invalid")
pseudonym_refused("pseudonym with NUL", "Calm\x00Deer", "pseudonym_invalid")
pseudonym_refused("pseudonym of punctuation only", "--..", "pseudonym_invalid")
pseudonym_refused("pseudonym 33 characters", "A" * 33, "pseudonym_invalid")
pseudonym_refused("pseudonym private-use character", "Calm\ue000Deer", "pseudonym_invalid")
pseudonym_refused("pseudonym confusable (digits)", "Qu1et F0x", "pseudonym_taken")
pseudonym_refused("pseudonym confusable (Greek omicron, case)", "quiet_fοx", "pseudonym_taken")
pseudonym_refused("pseudonym confusable (Cyrillic)", "Вrаvе Оwl", "pseudonym_taken")
# "Host Heron" is a facilitator's own name: a look-alike is refused, and first for naming a role.
pseudonym_refused("pseudonym confusable with the facilitator's", "H0st Her0n", "pseudonym_invalid")
pseudonym_refused("pseudonym confusable (fullwidth letters)", "Ｂrave Owl", "pseudonym_taken")


@case("group.join with a low-order X25519 key")
async def _low_order_kem(ctx: Ctx) -> None:
    client = ctx.world.outsider
    member = MemberKeys.generate()
    payload = client._member_payload(member, "Low Order")
    payload["kem_pk"] = b64encode(bytes(32))
    reply = await client.sio.call(
        "group.join",
        {"token": ctx.world.token, "member": payload, "accept_rules": True},  # type: ignore[attr-defined]
        timeout=15,
    )
    assert_refusal(reply, "bad_request")


@case("group.join without accepting the rules")
async def _no_rules(ctx: Ctx) -> None:
    client = ctx.world.outsider
    payload = client._member_payload(MemberKeys.generate(), "Rule Breaker")
    reply = await client.sio.call(
        "group.join",
        {"token": ctx.world.token, "member": payload, "accept_rules": False},  # type: ignore[attr-defined]
        timeout=15,
    )
    assert_refusal(reply, "bad_request")


# -- envelopes: forged, replayed, wrong epoch, wrong group -----------------------------------


def _send(client: Any, group: bytes, envelope: bytes, timeout: float = 15) -> Awaitable[Any]:
    return client.sio.call(
        "msg.send", {"group_id": b64encode(group), "envelope": b64encode(envelope)}, timeout=timeout
    )


def _seal(
    client: Any,
    group: bytes,
    epoch: int,
    sender: MemberKeys | None = None,
    secret: bytes | None = None,
) -> bytes:
    keys = client.keys[group]
    return seal_message(
        epoch_secret=secret or keys.epochs[epoch].secret,
        group_id=group,
        epoch=epoch,
        sender=sender or keys.member,
        msg_id=random_id(),
        content=b"adversarial",
    ).raw


@case("msg.send forged sender (another member's member_id)")
async def _forged_sender(ctx: Ctx) -> None:
    w = ctx.world
    ana_keys = w.ana.keys[w.group].member
    forged = MemberKeys(w.bob.member_id(w.group), ana_keys.signing, ana_keys.kem)
    reply = await _send(w.ana, w.group, _seal(w.ana, w.group, w.ana.keys[w.group].current, forged))
    assert_refusal(reply, ("forbidden", "invalid_envelope"))


@case("msg.send someone else's envelope, verbatim")
async def _stolen_envelope(ctx: Ctx) -> None:
    w = ctx.world
    reply = await _send(w.bob, w.group, w.ana_first_envelope)  # type: ignore[attr-defined]
    assert_refusal(reply, ("forbidden", "duplicate_message"))


@case("msg.send to a group one is not in")
async def _not_in_group(ctx: Ctx) -> None:
    w = ctx.world
    member = MemberKeys.generate()
    envelope = seal_message(
        epoch_secret=bytes(32),
        group_id=w.other_group,
        epoch=1,
        sender=member,
        msg_id=random_id(),
        content=b"let me in",
    ).raw
    reply = await _send(w.ana, w.other_group, envelope)
    assert_refusal(reply, ("forbidden", "not_member"))


@case("msg.send envelope replayed into another group")
async def _replay_other_group(ctx: Ctx) -> None:
    w = ctx.world
    reply = await _send(w.ana, w.other_group, w.ana_first_envelope)  # type: ignore[attr-defined]
    assert_refusal(reply, "invalid_envelope")


@case("msg.send envelope with the header's group rewritten")
async def _rewritten_group(ctx: Ctx) -> None:
    w = ctx.world
    raw = bytearray(w.ana_first_envelope)  # type: ignore[attr-defined]
    raw[3:19] = w.other_group
    reply = await _send(w.ana, w.other_group, bytes(raw))
    assert_refusal(reply, ("forbidden", "invalid_envelope", "not_member"))


@case("msg.send replayed envelope: idempotent, stored once", stores=True)
async def _replay_same(ctx: Ctx) -> None:
    w = ctx.world
    before = snapshot(ctx.server.database)
    first = await _send(w.ana, w.group, w.ana_first_envelope)  # type: ignore[attr-defined]
    again = await _send(w.ana, w.group, w.ana_first_envelope)  # type: ignore[attr-defined]
    assert first == again == {"ok": True, **w.ana_first_ack}, (first, again)  # type: ignore[attr-defined]
    assert snapshot(ctx.server.database) == before


@case("msg.send stale epoch")
async def _stale_epoch(ctx: Ctx) -> None:
    w = ctx.world
    current = w.ana.keys[w.group].current
    reply = await _send(w.ana, w.group, _seal(w.ana, w.group, current - 1))
    assert_refusal(reply, "wrong_epoch")
    assert reply["error"]["current_epoch"] == current


@case("msg.send future epoch (n+1, made-up secret)")
async def _future_epoch(ctx: Ctx) -> None:
    w = ctx.world
    current = w.ana.keys[w.group].current
    reply = await _send(w.ana, w.group, _seal(w.ana, w.group, current + 1, secret=bytes(32)))
    assert_refusal(reply, ("wrong_epoch", "invalid_envelope"))


@case("msg.send epoch 2**64-1")
async def _huge_epoch(ctx: Ctx) -> None:
    w = ctx.world
    raw = bytearray(_seal(w.ana, w.group, w.ana.keys[w.group].current))
    raw[19:27] = b"\xff" * 8
    reply = await _send(w.ana, w.group, bytes(raw))
    assert_refusal(reply, ("wrong_epoch", "invalid_envelope"))


@case("msg.send tampered resend of a stored msg_id (epoch rewritten, signature broken)")
async def _tampered_resend(ctx: Ctx) -> None:
    w = ctx.world
    raw = bytearray(w.ana_first_envelope)  # type: ignore[attr-defined]
    raw[19:27] = (w.ana.keys[w.group].current + 7).to_bytes(8, "big")
    reply = await _send(w.ana, w.group, bytes(raw))
    # An envelope whose signature does not verify must never be acknowledged, even when
    # its msg_id matches a stored message.
    assert_refusal(reply, ("wrong_epoch", "invalid_envelope"))


@case("msg.send bit-flipped ciphertext")
async def _flipped(ctx: Ctx) -> None:
    w = ctx.world
    raw = bytearray(_seal(w.ana, w.group, w.ana.keys[w.group].current))
    raw[120] ^= 0x40
    reply = await _send(w.ana, w.group, bytes(raw))
    assert_refusal(reply, "invalid_envelope")


@case("msg.send unsupported version byte")
async def _bad_version(ctx: Ctx) -> None:
    w = ctx.world
    raw = bytearray(_seal(w.ana, w.group, w.ana.keys[w.group].current))
    raw[0] = 2
    reply = await _send(w.ana, w.group, bytes(raw))
    assert_refusal(reply, "unsupported_version")


@case("msg.send unsupported cipher suite")
async def _bad_suite(ctx: Ctx) -> None:
    w = ctx.world
    raw = bytearray(_seal(w.ana, w.group, w.ana.keys[w.group].current))
    raw[2] = 2
    reply = await _send(w.ana, w.group, bytes(raw))
    assert_refusal(reply, "unsupported_version")


# -- epoch commits ---------------------------------------------------------------------------


def _commit(
    ctx: Ctx,
    client: Any,
    epoch: int,
    committer: MemberKeys | None = None,
    prev: bytes | None = None,
) -> bytes:
    keys = client.keys[ctx.world.group]
    roster = list(keys.latest.roster)
    commit, _ = build_commit(
        group_id=ctx.world.group,
        epoch=epoch,
        prev_commit_hash=prev if prev is not None else keys.latest.hash,
        committer=committer or keys.member,
        roster=roster,
        facilitators=keys.latest.facilitators,
    )
    return commit.raw


async def _send_commit(client: Any, group: bytes, raw: bytes) -> Any:
    return await client.sio.call(
        "epoch.commit", {"group_id": b64encode(group), "commit": b64encode(raw)}, timeout=15
    )


@case("epoch.commit reordered (n+2 before n+1)")
async def _reordered(ctx: Ctx) -> None:
    w = ctx.world
    current = w.ana.keys[w.group].current
    reply = await _send_commit(w.ana, w.group, _commit(ctx, w.ana, current + 2))
    assert_refusal(reply, ("wrong_epoch", "invalid_commit"))


@case("epoch.commit for an epoch that exists")
async def _replayed_commit(ctx: Ctx) -> None:
    w = ctx.world
    current = w.ana.keys[w.group].current
    reply = await _send_commit(w.ana, w.group, w.ana.keys[w.group].latest.raw)
    # It was committed by the facilitator, so ana may not send it either.
    assert_refusal(reply, ("epoch_conflict", "wrong_epoch", "forbidden"))
    assert w.ana.keys[w.group].current == current


@case("epoch.commit with a wrong prev_commit_hash")
async def _wrong_prev(ctx: Ctx) -> None:
    w = ctx.world
    current = w.ana.keys[w.group].current
    reply = await _send_commit(w.ana, w.group, _commit(ctx, w.ana, current + 1, prev=b"\x07" * 32))
    assert_refusal(reply, "invalid_commit")


@case("epoch.commit signed as another member")
async def _forged_committer(ctx: Ctx) -> None:
    w = ctx.world
    ana_keys = w.ana.keys[w.group].member
    bob_id = w.bob.member_id(w.group)
    forged = MemberKeys(bob_id, ana_keys.signing, KemKey.generate())
    keys = w.ana.keys[w.group]
    roster = [forged.entry if e.member_id == bob_id else e for e in keys.latest.roster]
    commit, _ = build_commit(
        group_id=w.group,
        epoch=keys.current + 1,
        prev_commit_hash=keys.latest.hash,
        committer=forged,
        roster=roster,
        facilitators=keys.latest.facilitators,
    )
    reply = await _send_commit(w.ana, w.group, commit.raw)
    assert_refusal(reply, ("forbidden", "invalid_commit"))


@case("epoch.commit into another group")
async def _commit_other_group(ctx: Ctx) -> None:
    w = ctx.world
    current = w.ana.keys[w.group].current
    reply = await _send_commit(w.ana, w.other_group, _commit(ctx, w.ana, current + 1))
    assert_refusal(reply, "invalid_commit")


@case("epoch.commit of another protocol version")
async def _commit_other_version(ctx: Ctx) -> None:
    w = ctx.world
    current = w.ana.keys[w.group].current
    raw = bytearray(_commit(ctx, w.ana, current + 1))
    raw[0] = 2
    reply = await _send_commit(w.ana, w.group, bytes(raw))
    assert_refusal(reply, "unsupported_version")
    assert w.ana.keys[w.group].current == current


# -- HTTP ----------------------------------------------------------------------------------

TRAVERSALS = [
    "/../secret.key",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/%2e%2e/secret.key",
    "/js/..%2f..%2fconfig.toml",
    "/js/..%2f..%2f..%2fserver%2fconfig.py",
    "/js/..%5c..%5cconfig.toml",
    "/..%5csecret.key",
    "/css/%2e%2e%5c%2e%2e%5chearth.sqlite3",
    "/%252e%252e/%252e%252e/etc/passwd",
    "//etc/passwd",
    "/js/%00.js",
    "/..;/secret.key",
]


@case("http: path traversal on static files")
async def _traversal(ctx: Ctx) -> None:
    secret = (ctx.server.directory / "secret.key").read_text().strip()
    config = ctx.server.config_path.read_text()
    async with aiohttp.ClientSession() as http:
        for path in TRAVERSALS:
            async with http.get(ctx.server.url + path) as response:
                body = await response.read()
                assert response.status in (400, 404), (path, response.status)
                assert secret.encode() not in body, path
                assert b"root:" not in body, path
                assert b"[server]" not in body, path
                assert config.encode()[:40] not in body, path
                assert b"SQLite format" not in body, path
                assert b"Traceback" not in body, path


@case("http: 1 MB password is refused fast, unhashed")
async def _huge_password(ctx: Ctx) -> None:
    start = time.monotonic()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            ctx.server.url + "/api/facilitator/login",
            json={"username": "alice", "password": "p" * 1_000_000},
            headers={"Origin": ctx.server.url},
        ) as response,
    ):
        body = await response.json()
        assert response.status == 400, body
    assert time.monotonic() - start < 2.5
    assert body["error"]["code"] == "bad_request"
    assert body["error"]["message"]


def http_login_refused(name: str, body: bytes, status: int, code: str) -> None:
    async def check(ctx: Ctx) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                ctx.server.url + "/api/facilitator/login",
                data=body,
                headers={"Origin": ctx.server.url, "Content-Type": "application/json"},
            ) as response,
        ):
            reply = await response.json()
            assert response.status == status, reply
        assert reply["ok"] is False
        assert reply["error"]["code"] == code
        assert reply["error"]["message"]
        assert "Traceback" not in reply["error"]["message"]
        assert MARKER not in ctx.server.log_text()

    case(name)(check)


http_login_refused(
    "http: login username with CRLF",
    json.dumps({"username": "alice" + CRLF, "password": "x"}).encode(),
    401,
    "bad_credentials",
)
http_login_refused("http: login body not JSON", b"username=alice&password=x", 400, "bad_request")
http_login_refused(
    "http: login username is a number", b'{"username": 1, "password": "x"}', 400, "bad_request"
)
http_login_refused(
    "http: login with an extra field",
    b'{"username": "a", "password": "x", "admin": true}',
    400,
    "bad_request",
)


@case("http: login from a foreign Origin")
async def _foreign_login(ctx: Ctx) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            ctx.server.url + "/api/facilitator/login",
            json={"username": "alice", "password": "wrong"},
            headers={"Origin": "http://evil.example"},
        ) as response,
    ):
        reply = await response.json()
        assert response.status == 403, reply
    assert reply["error"]["code"] == "forbidden"


@case("http: CRLF in a session cookie")
async def _crlf_cookie(ctx: Ctx) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            ctx.server.url + "/api/facilitator/me",
            headers={"Cookie": "hearth_session=abc%0d%0a" + MARKER},
        ) as response,
    ):
        reply = await response.json()
        assert response.status == 401, reply
        assert MARKER not in "".join(f"{k}: {v}" for k, v in response.headers.items())
    assert reply["error"]["code"] == "auth_required"


# -- the runner ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adv_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from serve_with(tmp_path_factory.mktemp("hearth"))


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def ctx(adv_server: RunningServer) -> AsyncIterator[Ctx]:
    world = await build_world(adv_server)
    w: Any = world
    w.token = await world.fac.create_invite(world.group, max_uses=1000)
    envelope = world.ana.seal(world.group, "first words")
    ack = await world.ana.call(
        "msg.send", {"group_id": b64encode(world.group), "envelope": b64encode(envelope)}
    )
    w.ana_first_envelope = envelope
    w.ana_first_msg = envelope[27:43]
    w.ana_first_ack = {k: v for k, v in ack.items() if k != "ok"}
    context = Ctx(world, adv_server, {})
    context.baseline = snapshot(adv_server.database)  # type: ignore[attr-defined]
    yield context
    await world.close()


@pytest.mark.parametrize("name", list(CASES))
async def test_bad_input_is_refused_safely(ctx: Ctx, name: str) -> None:
    check, stores = CASES[name]
    before = snapshot(ctx.server.database)
    await check(ctx)
    async with aiohttp.ClientSession() as http, http.get(ctx.server.url + "/healthz") as response:
        assert response.status == 200
    if not stores and "group.create CRLF" not in name:
        assert snapshot(ctx.server.database) == before, "a refused input stored something"


async def test_table_is_large_enough() -> None:
    assert len(CASES) >= 40


async def test_after_the_whole_table(ctx: Ctx) -> None:
    server = ctx.server
    async with aiohttp.ClientSession() as http, http.get(server.url + "/healthz") as response:
        assert response.status == 200
        assert (await response.json()) == {"ok": True}
    assert integrity(server.database) == "ok"
    expected = dict(ctx.baseline)  # type: ignore[attr-defined]
    for table, delta in ctx.expected_delta.items():
        expected[table] += delta
    assert snapshot(server.database) == expected
    # The legitimate client still works end to end.
    await ctx.world.ana.send(ctx.world.group, "still here")
    log = server.log_text()
    assert MARKER not in log, "an injected line reached the log"
    for line in log.splitlines():
        assert not line.startswith("2099-"), line


async def test_malformed_packets_leave_no_traceback_in_log(ctx: Ctx) -> None:
    """A malformed packet is a client's fault: the log must not fill with stack traces
    (a cheap log-flooding vector), and must never echo the packet."""
    raw = await raw_connected(ctx.server)
    mark = len(ctx.server.log_text())
    for packet in ('42["msg.send"', "42xyz", "421[]", "49"):
        await raw.send(packet)
    await raw.call("groups.list", {})
    await raw.close()
    fresh = ctx.server.log_text()[mark:]
    assert "Traceback" not in fresh, fresh[:2000]
