"""A Python client that speaks Hearth's protocol with the real cryptography of ``crypto/``.

It is what the tests and the benchmark use, and the way to write bots and tools::

    client = HearthClient("http://127.0.0.1:8000")
    await client.connect()
    group = await client.join(invite_token, pseudonym="Quiet Fox")
    await client.send(group, "hello")

Facilitators log in first (``await client.login(name, password)``), then connect. Every
refusal from the server raises :class:`HearthRefused` with the server's code and message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ssl import SSLContext
from typing import Any

import aiohttp
import socketio

from crypto.authorisations import (
    Admission,
    Authorisation,
    InviteAdmission,
    InviteCertificate,
    certify_invite,
    parse_authorisation,
    sign_admission,
    sign_invite_admission,
    sign_leave,
    sign_removal,
)
from crypto.challenge import sign_challenge
from crypto.commits import EpochCommit, build_commit, open_commit, parse_commit
from crypto.content import noted_text, split_noted
from crypto.encoding import b64decode, b64encode
from crypto.envelopes import open_message, parse_envelope, seal_message
from crypto.errors import VerificationFailed
from crypto.franking import ReportOpening
from crypto.groupstate import (
    Change,
    GroupState,
    UntrustedCommit,
    advance,
    anchor_bytes,
    anchored_state,
    invite_admission_refusal,
    keyed_state,
    parse_anchor,
)
from crypto.keys import MemberKeys, PqKemKey, SigningKey
from crypto.roster import PqKey, RosterEntry
from crypto.suite import (
    CONTENT_TYPE_NOTED_TEXT,
    CONTENT_TYPE_TEXT,
    INVITE_CERT_LEN,
    MEMBER_ID_LEN,
    ROLE_FACILITATOR,
    ROLE_MEMBER,
    SIG_PK_LEN,
    SUITE_HYBRID,
)
from server.backoff import Backoff

# How often decide() looks for a just-made join request before approving it (0.1 s apart).
JOIN_VISIBLE_TRIES = 20
# An invite's certificate bounds without options: invite.create's own largest values (§14.2).
INVITE_MAX_HOURS = 24 * 90
INVITE_MAX_USES = 10_000


class HearthRefused(Exception):
    def __init__(self, code: str, message: str, detail: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Received:
    """A message as a member sees it: verified, decrypted, with what is needed to report it."""

    group_id: bytes
    seq: int
    msg_id: bytes
    sender_id: bytes  # the signed header's sender_id (b"" for a tombstone never seen whole)
    epoch: int
    server_ts: int
    text: str | None  # None for a deleted message (tombstone)
    kid: int
    rtag: bytes
    envelope: bytes | None
    franking_key: bytes | None
    note: str | None = None  # the sender's content note, from inside the encrypted content


@dataclass(slots=True)
class Epoch:
    secret: bytes
    commit: EpochCommit

    def sig_pk_of(self, member_id: bytes) -> bytes | None:
        return next((e.sig_pk for e in self.commit.roster if e.member_id == member_id), None)


class InviteToken(str):
    """An invite as ``create_invite`` returns it: the server's token (the string itself) and
    the invite's private signing key, which only travels in the link (``link``)."""

    invite_key: SigningKey | None
    anchor: tuple[int, bytes] | None  # (epoch, commit_hash) the facilitator held (§6.7)

    def __new__(
        cls,
        token: str,
        invite_key: SigningKey | None = None,
        anchor: tuple[int, bytes] | None = None,
    ) -> InviteToken:
        made = super().__new__(cls, token)
        made.invite_key = invite_key
        made.anchor = anchor
        return made

    @property
    def link(self) -> str:
        """``token``, ``token.seed`` or ``token.seed.anchor`` (base64url): what a person is
        given to join."""
        if self.invite_key is None:
            return str(self)
        link = f"{self}.{b64encode(self.invite_key.raw())}"
        if self.anchor is not None:
            link += "." + b64encode(anchor_bytes(*self.anchor))
        return link

    @classmethod
    def of(cls, text: str) -> InviteToken:
        if isinstance(text, InviteToken):
            return text
        token, _, rest = text.partition(".")
        seed, _, anchor = rest.partition(".")
        return cls(
            token,
            SigningKey.from_raw(b64decode(seed)) if seed else None,
            parse_anchor(b64decode(anchor)) if anchor else None,
        )


@dataclass(slots=True)
class GroupKeys:
    """What this client holds for one group: its member keys, the epochs it can read and the
    group state its verified chain of commits establishes (crypto.groupstate)."""

    member: MemberKeys
    epochs: dict[int, Epoch] = field(default_factory=dict)
    latest: EpochCommit | None = None
    state: GroupState | None = None
    invite_pk: bytes | None = None  # the key of the invite we joined with, to check our admission
    anchor: tuple[int, bytes] | None = None  # our invite's anchor: verify from it (§6.7)
    changes: list[tuple[int, Change]] = field(default_factory=list)  # verified, per epoch
    untrusted: list[str] = field(default_factory=list)  # why commits were refused
    unopened: int | None = None  # a verified epoch sealed to us whose wrap did not open
    # joined as an invited co-facilitator (§6.8): no link, so no anchor; keyed by the commit
    # carrying our own admission by one of its facilitators, as trust_unanchored would
    as_facilitator: bool = False

    @property
    def current(self) -> int:
        return 0 if self.latest is None else self.latest.epoch


class HearthClient:
    def __init__(
        self,
        base_url: str,
        account: SigningKey | None = None,
        *,
        origin: str | None = None,
        timeout: float = 15.0,
        ssl: SSLContext | None = None,
        answer_rotations: bool = False,
        hybrid: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Whether this client has ML-KEM keys (the hybrid suite 2, §6.9); without, it is a
        # client of suite 1 only, like a browser without ML-KEM-768.
        self.hybrid = hybrid
        self.origin = origin or self.base_url
        self.account = account or SigningKey.generate()
        self.timeout = timeout
        self.keys: dict[bytes, GroupKeys] = {}
        # Key into a group joined by a link without an anchor, trusting the keying commit's
        # roster (§6.7): only when the person said so, knowing the server could make it up.
        self.trust_unanchored = False
        # Send the next commit when the server names this client in `rotation.needed` (as the
        # page does); off by default so that a test decides when its clients commit.
        self.answer_rotations = answer_rotations
        self._rotating: set[asyncio.Task[None]] = set()
        self.inbox: dict[bytes, dict[int, Received]] = {}
        self.held: dict[bytes, dict[bytes, str]] = {}  # held for us as facilitator, by msg_id
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._early: dict[bytes, list[dict[str, Any]]] = {}
        self.session_cookie: str | None = None
        self._changed = asyncio.Condition()
        self.ssl = ssl
        self.sio = socketio.AsyncClient(
            reconnection=False,
            request_timeout=timeout,
            websocket_extra_options={} if ssl is None else {"ssl": ssl},
        )
        self.sio.on("*", self._on_event)

    # -- connection ---------------------------------------------------------------------

    async def _http(self, method: str, path: str, json: Any = None) -> tuple[int, dict[str, Any]]:
        headers = {"Origin": self.origin}
        if self.session_cookie:
            headers["Cookie"] = self.session_cookie
        connector = None if self.ssl is None else aiohttp.TCPConnector(ssl=self.ssl)
        async with (
            aiohttp.ClientSession(connector=connector) as http,
            http.request(method, self.base_url + path, json=json, headers=headers) as response,
        ):
            body = await response.json()
            cookie = response.headers.get("Set-Cookie")
            if cookie:
                self.session_cookie = cookie.split(";", 1)[0]
            return response.status, body

    async def login(self, username: str, password: str) -> None:
        status, body = await self._http(
            "POST", "/api/facilitator/login", {"username": username, "password": password}
        )
        if status != 200:
            error = body.get("error", {})
            raise HearthRefused(error.get("code", str(status)), error.get("message", ""), error)

    async def connect(self) -> None:
        _, body = await self._http("GET", "/api/challenge")
        challenge = b64decode(body["challenge"])
        auth = {
            "v": 1,
            "account_pk": b64encode(self.account.public),
            "challenge": body["challenge"],
            "sig": b64encode(sign_challenge(self.account, challenge)),
        }
        headers = {"Origin": self.origin}
        if self.session_cookie:
            headers["Cookie"] = self.session_cookie
        await self.sio.connect(
            self.base_url,
            auth=auth,
            headers=headers,
            transports=["websocket"],
            wait_timeout=self.timeout,
        )
        for group_id in list(self.keys):
            try:
                await self.sync_epochs(group_id)
            except HearthRefused as refused:
                if refused.code == "untrusted_commit":
                    continue  # kept in keys.untrusted; we neither read nor commit past it
                if refused.code != "not_member":
                    raise
                del self.keys[group_id]  # we left or were removed while away
                continue
            if self.keys[group_id].unopened is not None:
                await self._recover(group_id)

    async def connect_with_backoff(self, backoff: Backoff | None = None) -> None:
        """`connect`, tried again while the server cannot be reached (down, restarting), after
        jittered exponential waits (server/backoff.py) so that clients cut off together do not
        all come back at once. A refusal by the server (a bad proof, a ban, a limit) is not
        retried; the last failure is raised when the attempts run out."""
        waits = (backoff or Backoff()).delays()
        while True:
            try:
                await self.connect()
                return
            except (socketio.exceptions.ConnectionError, aiohttp.ClientError):
                wait = next(waits, None)
                if self.sio.failed_namespaces or wait is None:
                    raise
            await asyncio.sleep(wait)

    async def disconnect(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()

    async def call(self, event: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = await self.sio.call(event, payload or {}, timeout=self.timeout)
        if not isinstance(reply, dict) or not reply.get("ok"):
            error = reply.get("error", {}) if isinstance(reply, dict) else {}
            raise HearthRefused(error.get("code", "?"), error.get("message", ""), error)
        return reply

    # -- server pushes ----------------------------------------------------------------------

    async def _on_event(self, event: str, data: Any = None) -> None:
        if event == "epoch.new":
            await self._receive_commit(b64decode(data["group_id"]), b64decode(data["commit"]))
        elif event == "msg":
            self._accept_message(data)
        elif event == "msg.batch":
            for message in data["messages"]:
                self._accept_message(message)
        elif event == "membership" and data.get("state") in ("left", "removed", "refused"):
            self.keys.pop(b64decode(data["group_id"]), None)
        elif event == "msg.held":
            self._accept_held(data)
        elif event == "rotation.needed" and self.answer_rotations:
            task = asyncio.ensure_future(self._answer_rotation(data))
            self._rotating.add(task)
            task.add_done_callback(self._rotating.discard)
        elif event == "msg.deleted":
            group_id = b64decode(data["group_id"])
            old = self.inbox.get(group_id, {}).get(data["seq"])
            if old is not None:
                self.inbox[group_id][old.seq] = _tombstone(old)
        self.events.append((event, data))
        async with self._changed:
            self._changed.notify_all()

    async def _receive_commit(self, group_id: bytes, raw: bytes) -> None:
        keys = self.keys.get(group_id)
        if keys is None:
            return
        try:
            epoch = parse_commit(raw).epoch
        except ValueError:
            keys.untrusted.append("a malformed commit")
            return
        if keys.state is None and keys.anchor is not None:
            # A newcomer verifies the chain from its invite's anchor up to this commit (§6.7).
            with contextlib.suppress(HearthRefused):
                await self.sync_epochs(group_id)
            return
        if keys.state is not None and epoch > keys.state.epoch + 1:
            # A gap: fetch the commits in between and verify them in order first.
            try:
                await self.sync_epochs(group_id)
            except HearthRefused:
                return
        self._accept_commit(group_id, raw)
        if keys.unopened is not None:
            await self._recover(group_id)

    async def _answer_rotation(self, data: dict[str, Any]) -> None:
        """Commit the next epoch if the server named this client's member (docs/protocol.md,
        "Who rotates") and nobody has committed it meanwhile."""
        group_id = b64decode(data["group_id"])
        keys = self.keys.get(group_id)
        if keys is None or data.get("rotator") != b64encode(keys.member.member_id):
            return
        with contextlib.suppress(HearthRefused):
            await self.sync_epochs(group_id)
            if keys.current <= data["epoch"]:
                await self.rotate(group_id)

    async def _recover(self, group_id: bytes) -> None:
        """Our wrap in a verified commit did not open: commit a fresh epoch on top of it (the
        same roster, so no authorisation is needed) and flag the committer to the group's
        facilitators (§6.6)."""
        keys = self.keys[group_id]
        bad = keys.unopened
        if bad is None:
            return
        try:
            await self.sync_epochs(group_id)
            if keys.state is None or keys.state.epoch not in keys.epochs:
                await self.rotate(group_id)
        except HearthRefused:
            return  # left as it is: a later commit by someone else keys us again
        keys.unopened = None
        await self.call("epoch.flag", {"group_id": b64encode(group_id), "epoch": bad})

    def _accept_commit(self, group_id: bytes, raw: bytes) -> None:
        """Accept a commit only if it extends the held group state by authorised changes."""
        keys = self.keys.get(group_id)
        if keys is None:
            return
        try:
            commit = parse_commit(raw)
        except ValueError:
            keys.untrusted.append("a malformed commit")
            return
        try:
            if keys.state is None:
                try:
                    secret = open_commit(commit, keys.member)
                except VerificationFailed:
                    return  # not (yet) sealed to us
                if commit.epoch != 1 and not (self.trust_unanchored or keys.as_facilitator):
                    # An invite link without an anchor: nothing the server cannot forge says
                    # which group this is (§6.7); never keyed without the person's say-so.
                    keys.untrusted.append(f"epoch {commit.epoch}: our invite has no anchor")
                    return
                state, changes = keyed_state(commit, keys.member, keys.invite_pk)
            else:
                if commit.epoch != keys.state.epoch + 1:
                    return  # one we hold, or past a gap (sync_epochs fills it in order)
                state, changes = advance(keys.state, commit)
                try:
                    secret = open_commit(commit, keys.member)
                except VerificationFailed:
                    keys.state = state
                    keys.changes.extend((commit.epoch, c) for c in changes)
                    if commit.entry_of(keys.member.member_id) == keys.member.entry:
                        # In the roster, yet our wrap (or confirm) does not open: a broken or
                        # hostile committer. We recover by committing on top (_recover).
                        keys.unopened = commit.epoch
                    return  # otherwise a verified commit that leaves us out: removed
        except UntrustedCommit as refused:
            keys.untrusted.append(f"epoch {commit.epoch}: {refused}")
            return
        keys.state = state
        keys.changes.extend((commit.epoch, c) for c in changes)
        keys.epochs[commit.epoch] = Epoch(secret, commit)
        if keys.latest is None or commit.epoch > keys.latest.epoch:
            keys.latest = commit
        # Messages of this epoch that arrived before its commit can be opened now.
        waiting, self._early[group_id] = self._early.get(group_id, []), []
        for data in waiting:
            self._accept_message(data)

    def _accept_message(self, data: dict[str, Any]) -> Received | None:
        group_id = b64decode(data["group_id"])
        keys = self.keys.get(group_id)
        if keys is None:
            return None
        if data["envelope"] is None:
            # A tombstone has no signed header left: its author is the one we verified when it
            # arrived, if we saw it, and otherwise unknown (b""), never the server's sender_id.
            seen = self.inbox.get(group_id, {}).get(data["seq"])
            received = Received(
                group_id,
                data["seq"],
                b64decode(data["msg_id"]),
                seen.sender_id if seen is not None else b"",
                data["epoch"],
                data["server_ts"],
                None,
                data["kid"],
                b64decode(data["rtag"]),
                None,
                None,
            )
        else:
            raw = b64decode(data["envelope"])
            envelope = parse_envelope(raw)
            epoch = keys.epochs.get(envelope.header.epoch)
            if epoch is None:
                if envelope.header.epoch > keys.current:
                    # A message can overtake its epoch's commit (they travel separately).
                    self._early.setdefault(group_id, []).append(data)
                return None
            sig_pk = epoch.sig_pk_of(envelope.header.sender_id)
            if sig_pk is None:
                return None
            try:
                opened = open_message(envelope, epoch_secret=epoch.secret, sender_sig_pk=sig_pk)
            except VerificationFailed:
                return None  # never show what does not verify
            note, text = _note_and_text(opened.content_type, opened.content)
            received = Received(
                group_id,
                data["seq"],
                envelope.header.msg_id,
                envelope.header.sender_id,
                envelope.header.epoch,
                data["server_ts"],
                text,
                data["kid"],
                b64decode(data["rtag"]),
                raw,
                opened.franking_key,
                note,
            )
        self.inbox.setdefault(group_id, {})[received.seq] = received
        return received

    def _accept_held(self, data: dict[str, Any]) -> None:
        """A newcomer's message held for us as a facilitator: kept by msg_id (it has no seq)."""
        group_id = b64decode(data["group_id"])
        keys = self.keys.get(group_id)
        if keys is None or data["envelope"] is None:
            return
        envelope = parse_envelope(b64decode(data["envelope"]))
        epoch = keys.epochs.get(envelope.header.epoch)
        sig_pk = None if epoch is None else epoch.sig_pk_of(envelope.header.sender_id)
        if epoch is None or sig_pk is None:
            return
        try:
            opened = open_message(envelope, epoch_secret=epoch.secret, sender_sig_pk=sig_pk)
        except VerificationFailed:
            return
        self.held.setdefault(group_id, {})[envelope.header.msg_id] = opened.content.decode()

    async def wait_for(self, predicate: Callable[[], bool], within: float | None = None) -> None:
        async def waiting() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(waiting(), within or self.timeout)

    def texts(self, group_id: bytes) -> list[str | None]:
        """The messages received in a group, in sequence order."""
        return [m.text for _, m in sorted(self.inbox.get(group_id, {}).items())]

    # -- groups -----------------------------------------------------------------------------

    def _member_payload(
        self, member: MemberKeys, pseudonym: str, group_id: bytes | None = None
    ) -> dict[str, str]:
        """The ``member keys`` of a join or a group's creation; with ``group_id``, also the
        member's ML-KEM key signed for that group, if it has one (§6.9)."""
        payload = {
            "member_id": b64encode(member.member_id),
            "sig_pk": b64encode(member.signing.public),
            "kem_pk": b64encode(member.kem.public),
            "pseudonym": pseudonym,
        }
        if member.pq is not None and group_id is not None:
            payload["pq_key"] = b64encode(member.pq_key(group_id).encode())
        return payload

    async def create_group(
        self,
        name: str,
        *,
        pseudonym: str,
        rules: str = "Be kind. What is said here stays here.",
        join_policy: str = "approval",
        posting_policy: str = "always",
        retention_days: int | None = None,
        schedule: list[dict[str, str]] | None = None,
    ) -> bytes:
        """A new group we facilitate; ``schedule`` lists its weekly sessions, each
        ``{"day": "tue", "start": "19:00", "end": "20:30"}`` in the organisation's time zone."""
        group_id = os.urandom(16)
        member = MemberKeys.generate(hybrid=self.hybrid)
        commit, _ = build_commit(
            group_id=group_id,
            epoch=1,
            prev_commit_hash=bytes(32),
            committer=member,
            roster=[member.entry],
            facilitators=[member.member_id],
            pq_keys={member.member_id: member.pq_key(group_id)} if self.hybrid else None,
        )
        payload: dict[str, Any] = {
            "group_id": b64encode(group_id),
            "name": name,
            "rules": rules,
            "join_policy": join_policy,
            "posting_policy": posting_policy,
            "member": self._member_payload(member, pseudonym, group_id),
            "commit": b64encode(commit.raw),
        }
        if retention_days is not None:
            payload["retention_days"] = retention_days
        if schedule is not None:
            payload["schedule"] = schedule
        self.keys[group_id] = GroupKeys(member)
        self._accept_commit(group_id, commit.raw)
        await self.call("group.create", payload)
        return group_id

    async def create_invite(self, group_id: bytes, **options: int) -> InviteToken:
        """A new invite with its own signing key, certified by our member key (§6.4).

        The certificate binds the epoch we hold (also the link's anchor, §6.7), the link's
        expiry and, in an open group, its number of uses: how many members the key may admit by
        itself (none in a group where a facilitator approves each newcomer)."""
        keys = self.keys.get(group_id)
        payload: dict[str, Any] = {"group_id": b64encode(group_id), **options}
        # Without them the server applies its configured defaults, at most these.
        hours = options.get("expires_in_hours", INVITE_MAX_HOURS)
        uses = options.get("max_uses", INVITE_MAX_USES)
        invite_key = None
        if keys is not None:
            # Catch up first: the anchor is the newest epoch we verified (§6.7).
            with contextlib.suppress(HearthRefused):
                await self.sync_epochs(group_id)
        held = keys.state if keys is not None else None
        if keys is not None and held is not None:
            invite_key = SigningKey.generate()
            listing = await self.call("groups.list")
            policy = next(
                g["join_policy"] for g in listing["groups"] if b64decode(g["group_id"]) == group_id
            )
            certificate = certify_invite(
                group_id,
                keys.member,
                invite_key.public,
                issued_epoch=held.epoch,
                not_after=int(time.time() * 1000) + hours * 3_600_000,
                max_admits=uses if policy == "open" else 0,
            )
            payload["invite_key"] = b64encode(
                invite_key.public + keys.member.member_id + certificate.encode()
            )
        reply = await self.call("invite.create", payload)
        anchor = None if held is None else (held.epoch, held.commit_hash)
        return InviteToken(str(reply["token"]), invite_key, anchor)

    async def join(self, token: str, *, pseudonym: str) -> tuple[bytes, str]:
        """Use an invite; returns the group id and the membership state (pending or active).

        ``token`` is an invite link's ``token`` or ``token.key``; with the key, the newcomer
        signs its own admission (let in at once by an open group, §6.4)."""
        invite = InviteToken.of(token)
        preview = await self.call("invite.preview", {"token": str(invite)})
        group_id = b64decode(preview["group"]["group_id"])
        member = MemberKeys.generate(hybrid=self.hybrid)
        keys = GroupKeys(member)
        payload: dict[str, Any] = {
            "token": str(invite),
            "member": self._member_payload(member, pseudonym, group_id),
            "accept_rules": True,
        }
        keys.anchor = invite.anchor
        certified = preview.get("invite_key")
        if invite.invite_key is not None and certified is not None:
            blob = b64decode(certified)
            cert_at = SIG_PK_LEN + MEMBER_ID_LEN
            if (
                len(blob) == cert_at + INVITE_CERT_LEN
                and blob[:SIG_PK_LEN] == invite.invite_key.public
            ):
                keys.invite_pk = invite.invite_key.public
                certificate = InviteCertificate.decode(blob[cert_at:])
                if certificate.max_admits > 0:  # else a facilitator approves us (§6.4)
                    admission = sign_invite_admission(
                        group_id,
                        invite.invite_key,
                        blob[SIG_PK_LEN:cert_at],
                        certificate,
                        member.entry,
                        epoch=int(preview["group"]["current_epoch"]),
                    )
                    payload["admission"] = b64encode(admission.encode())
        self.keys[group_id] = keys
        reply = await self.call("group.join", payload)
        return group_id, str(reply["me"]["state"])

    async def send_pq_key(self, group_id: bytes) -> None:
        """Give a membership that began without an ML-KEM key one (§6.9), as a client that
        supports the hybrid suite does: the group's next commit can then be of suite 2."""
        keys = self.keys[group_id]
        if keys.member.pq is None:
            member = keys.member
            upgraded = MemberKeys(member.member_id, member.signing, member.kem, PqKemKey.generate())
            payload = {
                "group_id": b64encode(group_id),
                "pq_key": b64encode(upgraded.pq_key(group_id).encode()),
            }
            await self.call("member.pq_key", payload)
            keys.member = upgraded

    def member_id(self, group_id: bytes) -> bytes:
        return self.keys[group_id].member.member_id

    async def decide(
        self,
        group_id: bytes,
        member_id: bytes,
        *,
        approve: bool = True,
        role: int = ROLE_MEMBER,
    ) -> None:
        """Approve (signing the member's admission with our member key) or refuse a request.

        ``role`` 1 admits an invited co-facilitator (§6.8): our choice, never the server's
        word (it says which requests are facilitators', and could lie)."""
        payload: dict[str, Any] = {
            "group_id": b64encode(group_id),
            "member_id": b64encode(member_id),
            "approve": approve,
        }
        keys = self.keys.get(group_id)
        if approve and keys is not None:
            # The admission binds the epoch we hold: the newest one (§6.4).
            with contextlib.suppress(HearthRefused):
                await self.sync_epochs(group_id)
            found = None
            # With several processes the request may reach this one's view a moment after the
            # join was answered on another: look again briefly before approving without keys.
            for _ in range(JOIN_VISIBLE_TRIES):
                listing = await self.members(group_id)
                found = next(
                    (m for m in listing["members"] if b64decode(m["member_id"]) == member_id),
                    None,
                )
                if found is not None:
                    break
                await asyncio.sleep(0.1)
            if found is not None:
                entry = RosterEntry(
                    member_id, b64decode(found["sig_pk"]), b64decode(found["kem_pk"])
                )
                held = keys.state.epoch if keys.state is not None else 1
                admission = sign_admission(group_id, keys.member, entry, role, epoch=held)
                payload["admission"] = b64encode(admission.encode())
        await self.call("join.decide", payload)

    # -- co-facilitation (§6.8) -------------------------------------------------------------

    async def add_facilitator(self, group_id: bytes, username: str) -> dict[str, Any]:
        """Invite a facilitator account to facilitate the group."""
        reply = await self.call(
            "facilitator.add", {"group_id": b64encode(group_id), "username": username}
        )
        return dict(reply["facilitator"])

    async def facilitators(self, group_id: bytes) -> list[dict[str, Any]]:
        reply = await self.call("facilitators.list", {"group_id": b64encode(group_id)})
        return list(reply["facilitators"])

    async def accept_facilitation(self, group_id: bytes, *, pseudonym: str) -> str:
        """As an invited facilitator, ask to join with fresh member keys; returns the state."""
        member = MemberKeys.generate()
        reply = await self.call(
            "facilitator.accept",
            {"group_id": b64encode(group_id), "member": self._member_payload(member, pseudonym)},
        )
        # Pending until a facilitator admits us: no commit can key us before this reply.
        self.keys[group_id] = GroupKeys(member, as_facilitator=True)
        return str(reply["me"]["state"])

    def verified_facilitators(self, group_id: bytes) -> frozenset[bytes]:
        """The member ids the verified chain says are facilitators (never the server's word)."""
        keys = self.keys.get(group_id)
        return frozenset() if keys is None or keys.state is None else keys.state.facilitators

    async def members(self, group_id: bytes) -> dict[str, Any]:
        return await self.call("members.list", {"group_id": b64encode(group_id)})

    async def _sync_from_anchor(
        self, group_id: bytes, keys: GroupKeys, anchor: tuple[int, bytes]
    ) -> None:
        """A newcomer not keyed yet: fetch the commits from its invite's anchor and accept the
        first one that keys it only if the chain from the anchor verifies (§6.7)."""
        reply = await self.call(
            "epoch.list",
            {"group_id": b64encode(group_id), "from_commit_hash": b64encode(anchor[1])},
        )
        try:
            chain = [parse_commit(b64decode(item["commit"])) for item in reply["commits"]]
        except ValueError:
            keys.untrusted.append("a malformed commit")
            raise HearthRefused(
                "untrusted_commit", "the server offered a malformed commit", {}
            ) from None
        keying = next(
            (i for i, c in enumerate(chain) if c.entry_of(keys.member.member_id) is not None),
            None,
        )
        if keying is None:
            return  # not keyed yet
        try:
            state, changes = anchored_state(
                chain[: keying + 1], anchor, keys.member, keys.invite_pk
            )
            secret = open_commit(chain[keying], keys.member)
        except (UntrustedCommit, VerificationFailed) as refused:
            keys.untrusted.append(f"epoch {chain[keying].epoch}: {refused}")
            raise HearthRefused(
                "untrusted_commit",
                "the server offered a commit this client refuses: " + keys.untrusted[-1],
                {},
            ) from None
        keys.state = state
        keys.changes.extend(changes)
        keys.epochs[state.epoch] = Epoch(secret, chain[keying])
        keys.latest = chain[keying]
        waiting, self._early[group_id] = self._early.get(group_id, []), []
        for data in waiting:
            self._accept_message(data)

    async def sync_epochs(self, group_id: bytes) -> None:
        """Fetch the commits after the held one and verify them in order.

        Raises ``HearthRefused("untrusted_commit")`` if one does not extend the chain by
        authorised changes: this client then neither reads nor commits past it.
        """
        keys = self.keys[group_id]
        if keys.state is None and keys.anchor is not None:
            await self._sync_from_anchor(group_id, keys, keys.anchor)
            if keys.state is None:
                return
        start = keys.state.epoch + 1 if keys.state is not None else keys.current + 1
        reply = await self.call(
            "epoch.list", {"group_id": b64encode(group_id), "from_epoch": start}
        )
        for item in reply["commits"]:
            self._accept_commit(group_id, b64decode(item["commit"]))
            if keys.state is not None and keys.state.epoch in keys.epochs:
                keys.unopened = None  # a later commit keyed us again
        if keys.untrusted:
            raise HearthRefused(
                "untrusted_commit",
                "the server offered a commit this client refuses: " + keys.untrusted[-1],
                {},
            )

    def _authorisations(
        self, group_id: bytes, state: GroupState, listing: dict[str, Any]
    ) -> tuple[list[RosterEntry], list[bytes], list[Authorisation]]:
        """The next roster, facilitators and the signed changes that justify them."""
        keys = self.keys[group_id]
        active = {
            b64decode(m["member_id"]): RosterEntry(
                b64decode(m["member_id"]), b64decode(m["sig_pk"]), b64decode(m["kem_pk"])
            )
            for m in listing["members"]
            if m["state"] == "active"
        }
        admissions = {
            b64decode(a["member_id"]): parse_authorisation(b64decode(a["admission"]))
            for a in listing.get("admissions", [])
        }
        departures = {
            b64decode(d["member_id"]): parse_authorisation(b64decode(d["departure"]))
            for d in listing.get("departures", [])
        }
        held = {e.member_id for e in state.roster}
        authorisations: list[Authorisation] = []
        facilitators = set(state.facilitators)
        for member_id in sorted(held - active.keys()):
            departure = departures.get(member_id)
            if departure is None and keys.member.member_id in state.facilitators:
                departure = sign_removal(group_id, keys.member, member_id)
            if departure is None:
                raise HearthRefused(
                    "unauthorised_change", "a member left without a signed leave or removal", {}
                )
            authorisations.append(departure)
            facilitators.discard(member_id)
        roster = [e for e in state.roster if e.member_id in active]
        for member_id in sorted(active.keys() - held):
            admission = admissions.get(member_id)
            if not isinstance(admission, Admission | InviteAdmission) or (
                admission.entry != active[member_id]
            ):
                raise HearthRefused(
                    "unauthorised_change", "the server lists a member nobody admitted", {}
                )
            if isinstance(admission, InviteAdmission):
                refusal = invite_admission_refusal(state, admission, int(time.time() * 1000))
                if refusal is not None:
                    raise HearthRefused("unauthorised_change", refusal, {})
            authorisations.append(admission)
            roster.append(admission.entry)
            if admission.role == ROLE_FACILITATOR:
                facilitators.add(member_id)
        return roster, sorted(facilitators), authorisations

    @staticmethod
    def _pq_keys(
        state: GroupState, roster: list[RosterEntry], listing: dict[str, Any]
    ) -> dict[bytes, PqKey] | None:
        """The suite negotiation of §6.9: the members' signed ML-KEM keys when every member of
        the next roster sent one and its commit fits a frame (suite 2), else None (suite 1),
        which a hybrid group refuses."""
        sent = {
            b64decode(m["member_id"]): PqKey.decode(b64decode(m["pq_key"]))
            for m in listing["members"]
            if m.get("pq_key")
        }
        fits = len(roster) <= int(listing.get("hybrid_max_members", 0))
        if (state.suite == SUITE_HYBRID or fits) and all(e.member_id in sent for e in roster):
            return {entry.member_id: sent[entry.member_id] for entry in roster}
        if state.suite == SUITE_HYBRID:
            raise HearthRefused(
                "suite_downgrade", "a member of this hybrid group has no ML-KEM key", {}
            )
        return None

    async def rotate(self, group_id: bytes, *, attempts: int = 3) -> int:
        """Send the commit for the next epoch to the group's current members; returns its number.

        If another member's commit wins the race, catch up and try again.
        """
        for _ in range(attempts):
            await self.sync_epochs(group_id)
            keys = self.keys[group_id]
            if keys.latest is None:
                raise HearthRefused("not_member", "this client holds no epoch of the group", {})
            listing = await self.members(group_id)
            assert keys.state is not None  # held with latest
            roster, facilitators, authorisations = self._authorisations(
                group_id, keys.state, listing
            )
            commit, secret = build_commit(
                group_id=group_id,
                epoch=keys.state.epoch + 1,
                prev_commit_hash=keys.state.commit_hash,
                committer=keys.member,
                roster=roster,
                facilitators=facilitators,
                authorisations=authorisations,
                pq_keys=self._pq_keys(keys.state, roster, listing),
            )
            try:
                state, changes = advance(keys.state, commit)  # what every member will check
            except UntrustedCommit as untrusted:
                raise HearthRefused("unauthorised_change", str(untrusted), {}) from None
            try:
                await self.call(
                    "epoch.commit",
                    {"group_id": b64encode(group_id), "commit": b64encode(commit.raw)},
                )
            except HearthRefused as refused:
                if refused.code in ("epoch_conflict", "roster_mismatch"):
                    continue
                raise
            keys.epochs[commit.epoch] = Epoch(secret, commit)
            keys.latest = commit
            keys.state = state
            keys.changes.extend((commit.epoch, c) for c in changes)
            return commit.epoch
        raise HearthRefused("epoch_conflict", "could not land a commit", {})

    def seal(
        self, group_id: bytes, text: str, msg_id: bytes | None = None, *, note: str | None = None
    ) -> bytes:
        """Seal ``text`` for the group's current epoch, behind a content ``note`` if given."""
        keys = self.keys.get(group_id)
        if keys is None or keys.latest is None:
            raise HearthRefused("not_member", "this client holds no epoch of the group", {})
        epoch = keys.epochs[keys.latest.epoch]
        envelope = seal_message(
            epoch_secret=epoch.secret,
            group_id=group_id,
            epoch=keys.latest.epoch,
            sender=keys.member,
            msg_id=msg_id or os.urandom(16),
            content=text.encode("utf-8") if note is None else noted_text(note, text),
            content_type=CONTENT_TYPE_TEXT if note is None else CONTENT_TYPE_NOTED_TEXT,
        )
        return envelope.raw

    async def send(
        self,
        group_id: bytes,
        text: str,
        *,
        msg_id: bytes | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Seal and send (behind a content ``note`` if given); returns the acknowledgement
        (seq, server_ts, kid, rtag)."""
        msg_id = msg_id or os.urandom(16)
        envelope = self.seal(group_id, text, msg_id, note=note)
        try:
            reply = await self.call(
                "msg.send", {"group_id": b64encode(group_id), "envelope": b64encode(envelope)}
            )
        except HearthRefused as refused:
            if refused.code != "wrong_epoch":
                raise
            # A rotation landed while we sealed: catch up and seal again, same msg_id.
            await self.sync_epochs(group_id)
            envelope = self.seal(group_id, text, msg_id, note=note)
            reply = await self.call(
                "msg.send", {"group_id": b64encode(group_id), "envelope": b64encode(envelope)}
            )
        if reply.get("held"):
            return reply  # held for the facilitators: no seq until one releases it
        self._accept_message(
            {
                "group_id": b64encode(group_id),
                "seq": reply["seq"],
                "msg_id": b64encode(msg_id),
                "sender_id": b64encode(self.member_id(group_id)),
                "epoch": self.keys[group_id].current,
                "server_ts": reply["server_ts"],
                "envelope": b64encode(envelope),
                "kid": reply["kid"],
                "rtag": reply["rtag"],
            }
        )
        return reply

    async def history(
        self, group_id: bytes, *, before_seq: int | None = None, limit: int = 50
    ) -> tuple[list[Received], bool]:
        payload: dict[str, Any] = {"group_id": b64encode(group_id), "limit": limit}
        if before_seq is not None:
            payload["before_seq"] = before_seq
        reply = await self.call("history.get", payload)
        received = [r for r in (self._accept_message(m) for m in reply["messages"]) if r]
        return received, bool(reply["more"])

    def report_opening(self, group_id: bytes, seq: int) -> ReportOpening:
        """What reporting a received message reveals: that message, never a key."""
        message = self.inbox[group_id][seq]
        if message.envelope is None or message.franking_key is None or message.text is None:
            raise ValueError("a deleted message cannot be reported")
        return ReportOpening(
            header=parse_envelope(message.envelope).header,
            franking_key=message.franking_key,
            content_type=CONTENT_TYPE_TEXT if message.note is None else CONTENT_TYPE_NOTED_TEXT,
            content=(
                message.text.encode("utf-8")
                if message.note is None
                else noted_text(message.note, message.text)
            ),
            server_ts=message.server_ts,
            kid=message.kid,
            rtag=message.rtag,
        )

    async def report(
        self, group_id: bytes, seq: int, reason: str = "", *, opening: ReportOpening | None = None
    ) -> dict[str, Any]:
        """Report a received message to the group's facilitators; returns report_id, priority."""
        opening = opening or self.report_opening(group_id, seq)
        return await self.call(
            "report.submit",
            {
                "group_id": b64encode(group_id),
                "opening": b64encode(opening.encode()),
                "reason": reason,
            },
        )

    async def delete(self, group_id: bytes, msg_id: bytes) -> None:
        await self.call(
            "msg.delete", {"group_id": b64encode(group_id), "msg_id": b64encode(msg_id)}
        )

    async def leave(self, group_id: bytes) -> None:
        """Leave, signing the leave the next commit carries (§6.4)."""
        payload: dict[str, Any] = {"group_id": b64encode(group_id)}
        keys = self.keys.get(group_id)
        if keys is not None:
            payload["leave"] = b64encode(sign_leave(group_id, keys.member).encode())
        await self.call("group.leave", payload)

    async def remove(self, group_id: bytes, member_id: bytes) -> None:
        """Remove a member as its facilitator, signing the removal with our member key."""
        payload: dict[str, Any] = {
            "group_id": b64encode(group_id),
            "member_id": b64encode(member_id),
        }
        keys = self.keys.get(group_id)
        if keys is not None:
            payload["removal"] = b64encode(sign_removal(group_id, keys.member, member_id).encode())
        await self.call("member.remove", payload)


def _note_and_text(content_type: int, content: bytes) -> tuple[str | None, str]:
    """A verified content's note (None for plain text) and text."""
    if content_type == CONTENT_TYPE_NOTED_TEXT:
        return split_noted(content)
    return None, content.decode("utf-8")


def _tombstone(message: Received) -> Received:
    return Received(
        message.group_id,
        message.seq,
        message.msg_id,
        message.sender_id,
        message.epoch,
        message.server_ts,
        None,
        message.kid,
        message.rtag,
        None,
        None,
    )
