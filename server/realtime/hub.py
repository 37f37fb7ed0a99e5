"""The hub ties Socket.IO to the stores: it authenticates connections, dispatches events to
their handlers, keeps the in-memory state of groups and knows who is in which room."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from http.cookies import CookieError, SimpleCookie
from typing import Any

import msgspec
import socketio

from crypto.challenge import check_challenge, verify_challenge_proof
from crypto.commits import parse_commit
from crypto.encoding import b64encode
from crypto.errors import VerificationFailed
from moderation.classifiers import Classifier
from moderation.queue import ModerationQueue
from server.cluster import Bus, LocalBus, Notice, RedisBus, RedisManager
from server.config import Config
from server.errors import Code, HearthError
from server.facilitator_auth import FacilitatorAuth, FacilitatorSession
from server.keyring import Keyring
from server.metrics import RelayStats
from server.origins import OriginGate
from server.ratelimit import AccountBuckets, Limits, Rule
from server.realtime import (  # noqa: F401  (registers events)
    administration,
    cofacilitation,
    companions,
    devicelinks,
    epochs,
    groups,
    holds,
    message_actions,
    messages,
    moderation,
)
from server.realtime.catchup import DeliveryLedger, reannounce_epochs, replay_missed
from server.realtime.delivery import Deliveries
from server.realtime.events import EVENTS, Event
from server.realtime.facilitator_sessions import (
    SESSIONS_NOTICE,
    emit_to_facilitators,
    end_facilitator_power,
    recheck_sessions,
)
from server.realtime.fanout import DirectSocketIOServer
from server.realtime.jsoncodec import MsgspecJSON
from server.realtime.link_slots import LinkSlots, LocalLinkSlots
from server.realtime.posting import tell_posting
from server.realtime.rotation import Rotators
from server.realtime.schemas import ConnectAuth
from server.realtime.slowmode import SlowMode
from server.realtime.state import Connection, Counters, GroupState
from server.realtime.transport import close_within_timeout
from server.realtime.wire import account_room, decode_b64, facilitator_room, group_room
from server.storage.audit import AuditStore
from server.storage.authorisations import AuthorisationStore
from server.storage.cofacilitators import CoFacilitatorStore
from server.storage.companions import CompanionStore
from server.storage.facilitators import FacilitatorStore
from server.storage.groups import AccountStore, GroupStore
from server.storage.holds import HoldStore
from server.storage.messages import MessageStore
from server.storage.rows import MemberRow
from server.storage.space import RETRY_AFTER_MS, StorageFull, is_disk_full
from server.used_challenges import LocalUsedChallenges, UsedChallenges

log = logging.getLogger("hearth.realtime")
Presence = dict[str, list[int]]  # group id (hex) -> facilitator account ids online, sorted
PRESENCE_TTL = 30.0  # seconds a process's announcement of facilitator presence stays valid
STOPPING = HearthError(
    Code.UNAVAILABLE,
    "the server is restarting; send again in a moment",
    retry_after_ms=RETRY_AFTER_MS,
)


class Hub:
    def __init__(
        self,
        config: Config,
        groups_store: GroupStore,
        messages_store: MessageStore,
        auth: FacilitatorAuth,
        keyring: Keyring,
        clock: Any,
        *,
        accounts: AccountStore,
        audit: AuditStore,
        queue: ModerationQueue,
        classifiers: list[Classifier],
        bus: Bus | None = None,
        account_buckets: AccountBuckets | None = None,
        client_manager: socketio.AsyncManager | None = None,
        used_challenges: UsedChallenges | None = None,
        link_slots: LinkSlots | None = None,
    ) -> None:
        self.config = config
        self.groups = groups_store
        self.authorisations = AuthorisationStore(groups_store.database)
        self.cofacilitators = CoFacilitatorStore(groups_store.database)
        self.companions = CompanionStore(groups_store.database)
        self.facilitator_accounts = FacilitatorStore(groups_store.database)
        self.messages = messages_store
        self.holds = HoldStore(groups_store.database)
        self.accounts = accounts
        self.audit = audit
        self.queue = queue
        self.classifiers = classifiers
        self.limits = Limits(config.limits, clock, account_buckets)
        self.used_challenges: UsedChallenges = used_challenges or LocalUsedChallenges(
            config.limits.max_used_challenges
        )
        # device links (devicelinks.py): this process's memory, or Redis shared by every process
        self.link_slots: LinkSlots = link_slots or LocalLinkSlots()
        self.slow_mode = SlowMode()
        self.bus: Bus = bus or LocalBus()
        # the facilitator accounts online per group (hex id), as last announced by each other
        # process, and as this one last announced them
        self._remote_presence: dict[str, tuple[Presence, float]] = {}
        self._local_presence: Presence = {}
        self.auth = auth
        self.keyring = keyring
        self.clock = clock
        # python-socketio on an engine.io with smaller per-connection objects (lean.py),
        # broadcasts framed once (fanout.py) and msgspec's JSON (jsoncodec.py)
        self.sio = DirectSocketIOServer(
            async_mode="asgi",
            json=MsgspecJSON,
            transports=["websocket"],
            cors_allowed_origins=OriginGate(config.server.public_origins).allows,
            max_http_buffer_size=max(
                config.server.max_message_bytes, config.server.max_commit_bytes
            ),
            ping_interval=config.connections.ping_interval_seconds,
            ping_timeout=config.connections.ping_timeout_seconds,
            always_connect=False,
            namespaces="*",  # so that other namespaces reach _refuse_namespace and get a code
            logger=False,
            engineio_logger=False,
            client_manager=client_manager,
        )
        self.sio.eio.max_backlog_bytes = config.limits.max_outgoing_backlog_bytes
        self.sio.eio.max_message_bytes = config.server.max_message_bytes  # reader.py
        self.deliveries = Deliveries(
            self.sio,
            window_ms=config.server.coalesce_ms,
            max_batch=config.server.coalesce_max,
        )
        self.connections: dict[str, Connection] = {}
        self.stats = RelayStats()  # counters for the metrics (server/metrics.py)
        self.sids_by_account: dict[bytes, set[str]] = {}
        self._states: dict[bytes, GroupState] = {}
        self._counters: dict[bytes, Counters] = {}
        self._loading: dict[bytes, asyncio.Lock] = {}
        self.rotators = Rotators(self)  # who is asked for a group's next commit (rotation.py)
        # Several processes: what this one has delivered to its sockets, to catch them up after
        # an outage of Redis (catchup.py); and whether its cached group state is confirmed (the
        # link to the other processes is up and it has resynchronised since it last was down).
        self.ledger: DeliveryLedger | None = None
        if isinstance(self.sio.manager, RedisManager):
            self.ledger = self.sio.manager.ledger = DeliveryLedger()
        self._link = self.bus.link if isinstance(self.bus, RedisBus) else None
        self._confirmed = self._link is None
        self._asked: dict[bytes, int] = {}  # unconfirmed: reads of a group asked for ...
        self._served: dict[bytes, int] = {}  # ... and served by a load that started after them
        # Stopping (server/stopping.py): new events are refused, those running are counted.
        self.draining = False
        self.in_flight = 0
        self._drained = asyncio.Event()
        self.sio.on("connect", self._on_connect)
        self.sio.on("connect", self._refuse_namespace, namespace="*")
        self.sio.on("disconnect", self._on_disconnect)
        for name, spec in EVENTS.items():
            self.sio.on_json_event(name, self._dispatcher(spec))
        self.sio.on("*", self._on_unknown)

    # -- connections ------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            connection = await self._authenticate(sid, environ, auth)
        except HearthError as error:
            self.stats.refused(error.code)
            raise socketio.exceptions.ConnectionRefusedError(
                error.code.value, {"code": error.code.value, "message": error.message}
            ) from None
        except Exception:
            # Any other failure in connect would leave the client hanging (STACK-NOTES).
            log.exception("connect failed")
            self.stats.refused(Code.INTERNAL)
            raise socketio.exceptions.ConnectionRefusedError(
                Code.INTERNAL.value, {"code": Code.INTERNAL.value, "message": "server error"}
            ) from None
        self.connections[sid] = connection
        self.sids_by_account.setdefault(connection.account_pk, set()).add(sid)
        await self._join_rooms(connection)

    async def _refuse_namespace(self, namespace: str, *args: Any) -> None:
        self.stats.refused(Code.UNKNOWN_NAMESPACE)
        raise socketio.exceptions.ConnectionRefusedError(
            Code.UNKNOWN_NAMESPACE.value,
            {"code": Code.UNKNOWN_NAMESPACE.value, "message": "Hearth has only the / namespace"},
        )

    async def _authenticate(self, sid: str, environ: dict[str, Any], auth: Any) -> Connection:
        if auth is None:
            raise HearthError(Code.AUTH_REQUIRED, "connect with your account key proof")
        try:
            proof = msgspec.convert(auth, ConnectAuth, strict=True)
        except msgspec.ValidationError as error:
            if isinstance(auth, dict) and auth.get("v") not in (None, 1):
                raise HearthError(
                    Code.UNSUPPORTED_VERSION, "this server speaks protocol version 1"
                ) from None
            raise HearthError(Code.AUTH_FAILED, f"bad connect proof: {error}") from None
        account_pk = decode_b64(proof.account_pk, "account_pk", 32)
        challenge = decode_b64(proof.challenge, "challenge")
        signature = decode_b64(proof.sig, "sig")
        now = self.clock()
        try:
            expiry_ms = check_challenge(self.keyring.challenge_key, challenge, now_ms=now)
            verify_challenge_proof(account_pk, challenge, signature)
        except VerificationFailed:
            raise HearthError(
                Code.AUTH_FAILED, "the challenge is expired or the proof does not verify"
            ) from None
        except ValueError:
            raise HearthError(Code.AUTH_FAILED, "the challenge or proof is malformed") from None
        if not await self.used_challenges.claim(challenge, expiry_ms, now):
            raise HearthError(
                Code.CHALLENGE_USED,
                "this challenge was already used for a connection; fetch a new one",
            )
        if await self.groups.is_banned(account_pk):
            raise HearthError(Code.BANNED, "this account is banned from this server")
        limit = self.config.limits.max_connections_per_account
        if len(self.sids_by_account.get(account_pk, ())) >= limit:
            raise HearthError(
                Code.RATE_LIMITED, f"at most {limit} connections per account are allowed"
            )
        facilitator = await self.auth.session_from_cookies(_cookies(environ))
        return Connection(sid=sid, account_pk=account_pk, facilitator=facilitator)

    async def _join_rooms(self, connection: Connection) -> None:
        await self.sio.enter_room(connection.sid, account_room(connection.account_pk))
        for member in await self.groups.memberships_of_account(connection.account_pk):
            if member.keyed:
                await self._enter_group_room(connection.sid, member.group_id)
                self.rotators.connected(member.group_id)
        if connection.facilitator is not None:
            for group in await self.groups.groups_of_facilitator(
                connection.facilitator.facilitator_id
            ):
                await self.sio.enter_room(connection.sid, facilitator_room(group.group_id))
                connection.facilitating |= {group.group_id}
            await self.publish_presence()

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        connection = self.connections.pop(sid, None)
        self.limits.forget_connection(sid)
        if connection is None:
            return
        await devicelinks.forget_socket(self, sid)
        await self.rotators.gone(sid)
        sids = self.sids_by_account.get(connection.account_pk)
        if sids is not None:
            sids.discard(sid)
            if not sids:
                del self.sids_by_account[connection.account_pk]
        if connection.facilitating:
            await self.publish_presence()

    # -- dispatch ---------------------------------------------------------------------

    def _dispatcher(self, spec: Event) -> Any:
        async def dispatch(sid: str, *args: Any) -> dict[str, Any]:
            connection = self.connections.get(sid)
            if connection is None:
                self.stats.refused(Code.AUTH_REQUIRED)
                return HearthError(Code.AUTH_REQUIRED, "not connected").to_json()
            if self.draining:
                return STOPPING.to_json()
            self.in_flight += 1
            try:
                if len(args) > 1:
                    raise HearthError(Code.BAD_REQUEST, "send exactly one payload object")
                raw = args[0] if args else {}
                try:
                    payload = msgspec.convert(raw, spec.schema, strict=True)
                except msgspec.ValidationError as error:
                    raise HearthError(Code.BAD_REQUEST, f"invalid {spec.name}: {error}") from None
                reply = await spec.handler(self, connection, payload)
                return {"ok": True, **reply}
            except HearthError as error:
                self.stats.refused(error.code)
                return error.to_json()
            except Exception as error:
                if is_disk_full(error):  # a write on another connection (e.g. moderation's)
                    log.warning("event %s failed: the disk is full", spec.name)
                    return StorageFull().to_json()
                # Log the event name only: the payload may carry what a person wrote.
                log.exception("event %s failed", spec.name)
                self.stats.refused(Code.INTERNAL)
                return HearthError(Code.INTERNAL, "something went wrong on the server").to_json()
            finally:
                self.in_flight -= 1
                if self.draining and not self.in_flight:
                    self._drained.set()

        return dispatch

    async def _on_unknown(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        self.stats.refused(Code.UNKNOWN_EVENT)
        return HearthError(Code.UNKNOWN_EVENT, "this event does not exist").to_json()

    # -- group state --------------------------------------------------------------------

    async def group_state(self, group_id: bytes) -> GroupState:
        if not self._confirmed or (self._link is not None and not self._link.alive):
            return await self._confirmed_state(group_id)
        state = self._states.get(group_id)
        if state is not None:
            return state
        lock = self._loading.setdefault(group_id, asyncio.Lock())
        async with lock:
            state = self._states.get(group_id)
            if state is None:
                state = await self._load(group_id)
        return state

    async def reload_group(self, group_id: bytes) -> GroupState:
        """Read the group again after a change. Always loads: a load that started before the
        change (another handler's) must not be taken for this one."""
        lock = self._loading.setdefault(group_id, asyncio.Lock())
        async with lock:
            return await self._load(group_id)

    async def _load(self, group_id: bytes) -> GroupState:
        group = await self.groups.get_group(group_id)
        if group is None:
            raise HearthError(Code.NOT_FOUND, "no such group")
        members = await self.groups.members(group_id, ("pending", "active"))
        commits = await self.groups.commits_from(group_id, group.current_epoch)
        roster = frozenset(e.member_id for e in parse_commit(commits[0].commit_blob).roster)
        state = GroupState(group, {m.member_id: m for m in members}, roster)
        counters = self._counters.get(group_id)
        if counters is None or counters.epoch != group.current_epoch:
            self._counters[group_id] = Counters(
                epoch=group.current_epoch,
                epoch_messages=await self.messages.count_in_epoch(group_id, group.current_epoch),
            )
        self._states[group_id] = state
        return state

    async def _confirmed_state(self, group_id: bytes) -> GroupState:
        """Without the link to the other processes (down, or not heard from for its lease: see
        server/redislink.py), a removal done elsewhere might not reach this one: read the group
        from the database for every use, and put this process's
        sockets in or out of its room to match, before anything is delivered. Reads asked for
        while one is running share the next one (which starts after they asked)."""
        asked = self._asked[group_id] = self._asked.get(group_id, 0) + 1
        lock = self._loading.setdefault(group_id, asyncio.Lock())
        async with lock:
            state = self._states.get(group_id)
            if state is not None and self._served.get(group_id, 0) >= asked:
                return state
            covered = self._asked[group_id]
            state = await self._load(group_id)
            await self._sync_room(state)
            self._served[group_id] = covered
        return state

    async def _sync_room(self, state: GroupState) -> None:
        """This process's sockets in the group's room: exactly those of its keyed members."""
        group_id = state.group.group_id
        room = group_room(group_id)
        keyed = {m.account_pk for m in state.members.values() if m.keyed}
        present = set(self.sio.manager.rooms.get("/", {}).get(room, {}))
        for sid in present:
            connection = self.connections.get(sid)
            if connection is None or connection.account_pk not in keyed:
                await self.sio.leave_room(sid, room)
        for account in keyed:
            for sid in self.sids_of(account) - present:
                await self._enter_group_room(sid, group_id)

    async def _enter_group_room(self, sid: str, group_id: bytes) -> None:
        if self.ledger is not None and not self.ledger.tracking(group_id):
            last_seq = await self.messages.last_seq(group_id)
            group = await self.groups.get_group(group_id)
            self.ledger.start(group_id, last_seq, 0 if group is None else group.current_epoch)
        await self.sio.enter_room(sid, group_room(group_id))

    def counters(self, group_id: bytes) -> Counters:
        return self._counters[group_id]

    # -- membership helpers used by handlers ------------------------------------------------

    async def member_for(self, connection: Connection, group_id: bytes) -> MemberRow:
        """The connection's live membership in a group, or not_member."""
        state = await self.group_state(group_id)
        member = state.member_of_account(connection.account_pk)
        if member is None:
            raise HearthError(Code.NOT_MEMBER, "you are not a member of this group")
        return member

    async def current_facilitator(self, connection: Connection) -> FacilitatorSession | None:
        """The connection's facilitator session if it is still live (logout, disabling, a
        password reset and the timeouts end it on an open socket too); keep_alive counts socket
        work as use."""
        facilitator = connection.facilitator
        if facilitator is not None and await self.auth.keep_alive(facilitator.token_hash) is None:
            await end_facilitator_power(self, connection)
            facilitator = None
        return facilitator

    async def require_session(self, connection: Connection) -> FacilitatorSession:
        """The live facilitator session, or session_ended (it had one) / forbidden."""
        facilitator = await self.current_facilitator(connection)
        if facilitator is None:
            if connection.session_ended:
                raise HearthError(
                    Code.SESSION_ENDED,
                    "your facilitator session has ended (logged out, disabled, password reset "
                    "or timed out); log in again",
                )
            raise HearthError(Code.FORBIDDEN, "log in as a facilitator first")
        return facilitator

    async def emit_to_facilitators(self, group_id: bytes, event: str, data: Any) -> None:
        """To the group's facilitators whose session is live (re-checked first)."""
        await emit_to_facilitators(self, group_id, event, data)

    async def sessions_changed(self) -> None:
        """A facilitator session ended: every process re-checks its facilitator sockets."""
        await self.changed(dict(SESSIONS_NOTICE))

    async def require_facilitator(self, connection: Connection, group_id: bytes) -> int:
        facilitator = await self.require_session(connection)
        if not await self.groups.is_group_facilitator(group_id, facilitator.facilitator_id):
            raise HearthError(Code.FORBIDDEN, "you are not a facilitator of this group")
        return facilitator.facilitator_id

    async def limit(self, rule: Rule, connection: Connection) -> None:
        """Apply a rate limit; a connection that keeps pushing past refusals is cut off."""
        try:
            await self.limits.check(rule, connection.account_pk, connection.sid)
        except HearthError:
            if self.limits.flooding(connection.sid):
                log.info("disconnecting a connection that kept exceeding its %s limit", rule.what)
                asyncio.get_running_loop().call_soon(
                    lambda: asyncio.ensure_future(self.sio.disconnect(connection.sid))
                )
            raise

    async def notify_member(self, member: MemberRow, notice: dict[str, Any]) -> None:
        """A system notice only this member's devices see (on whichever process they are)."""
        await self.sio.emit(
            "notice",
            {"group_id": b64encode(member.group_id), **notice},
            room=account_room(member.account_pk),
        )

    async def end_membership(self, member: MemberRow, state: str) -> None:
        """After a leave or removal (a ban's too): a facilitator's power over the group ends
        on every socket (§6.8), delivery is cut off now, then a new epoch is asked for."""
        await cofacilitation.end_facilitation(self, member.group_id, member)
        await self.cut_off(member, state)
        await self.announce_rotation(member.group_id, "membership")
        await companions.end_companion_memberships(self, member)

    async def ban(self, account_pk: bytes, membership: tuple[bytes, bytes] | None = None) -> None:
        """Ban server-wide: every membership ends, every connection of the account closes, and
        the invites it joined with are revoked (storage/groups.py AccountStore.ban)."""
        for member in await self.accounts.ban(account_pk, self.clock(), membership=membership):
            await self.end_membership(member, "removed")
        await self.changed({"t": "ban", "a": account_pk.hex()})

    async def watch_backlogs(self, interval: float = 0.5) -> None:
        """Disconnect clients that do not read: engine.io's per-client queue is unbounded, so
        it is bounded here in packets and (fanout.OutgoingQueue, which wakes this at once) in
        bytes."""
        limit = self.config.limits.max_outgoing_backlog
        over_bytes = self.sio.eio.backlog_over_limit
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(over_bytes.wait(), interval)
            over_bytes.clear()
            for eio_sid, socket in list(self.sio.eio.sockets.items()):
                if socket.queue.qsize() > limit or getattr(socket.queue, "over_limit", False):
                    log.info("disconnecting a client whose outgoing backlog passed its limit")
                    await socket.close(wait=False, abort=True)
                    # Drop what it never read; the writer exits once its blocked send ends
                    # (uvicorn's websocket ping times the dead peer out).
                    while not socket.queue.empty():
                        socket.queue.get_nowait()
                        socket.queue.task_done()
                    socket.queue.put_nowait(None)
                    self.sio.eio.sockets.pop(eio_sid, None)
                    # its writer may wait forever on a transport that never drains: abort it
                    close_within_timeout(socket)

    def facilitator_online(self, group_id: bytes) -> bool:
        """A facilitator of the group (any of them) is connected here or (as recently
        announced) elsewhere."""
        if any(group_id in c.facilitating for c in self.connections.values()):
            return True
        wanted, fresh_after = group_id.hex(), time.monotonic() - PRESENCE_TTL
        return any(
            present.get(wanted) and seen > fresh_after
            for present, seen in self._remote_presence.values()
        )

    def on_duty(self, group_id: bytes) -> set[int]:
        """The facilitator accounts of the group connected now, here or elsewhere."""
        wanted, fresh_after = group_id.hex(), time.monotonic() - PRESENCE_TTL
        online = set(_local_presence(self.connections.values()).get(wanted, ()))
        for present, seen in self._remote_presence.values():
            if seen > fresh_after:
                online.update(present.get(wanted, ()))
        return online

    def sids_of(self, account_pk: bytes) -> set[str]:
        """This process's sockets of an account."""
        return set(self.sids_by_account.get(account_pk, ()))

    async def cut_off(self, member: MemberRow, state: str) -> None:
        """Stop delivery to a member at once, on every process, and tell their devices why."""
        await self.changed({"t": "cut", "g": member.group_id.hex(), "a": member.account_pk.hex()})
        await self.sio.emit(
            "membership",
            {
                "group_id": b64encode(member.group_id),
                "member_id": b64encode(member.member_id),
                "state": state,
            },
            room=account_room(member.account_pk),
        )

    # -- what every process must apply (server/cluster.py) ----------------------------

    async def start(self) -> None:
        if self._link is not None:
            self._link.watch(self._link_lost, self._link_restored)
        await self.bus.start(self._on_notice)

    def _link_lost(self) -> None:
        self._confirmed = False
        self._served.clear()

    async def _link_restored(self) -> None:
        """The link is back (before any message received since is handled): resynchronise,
        and ask the other processes to, in case only this one lost the link."""
        await self.resynchronise()
        await self.bus.publish({"t": "resync", "p": self.bus.process_id})

    async def resynchronise(self) -> None:
        """Re-read every group this process holds or serves, fix its rooms, announce the
        commits and deliver the messages its sockets missed, and announce its facilitators."""
        self._confirmed = False
        held = set(self._states) | set(self.ledger.groups() if self.ledger else ())
        for group_id in held:
            try:
                state = await self.reload_group(group_id)
            except HearthError:  # the group is gone
                self._states.pop(group_id, None)
                continue
            await self._sync_room(state)
            if self.ledger is not None and self.ledger.tracking(group_id):
                await reannounce_epochs(
                    self.sio, self.groups, self.ledger, group_id, state.group.current_epoch
                )
                await replay_missed(
                    self.sio,
                    self.messages,
                    self.ledger,
                    group_id,
                    self.config.server.coalesce_max,
                )
        # unless the link went down again meanwhile
        self._confirmed = self._link is None or self._link.up
        await self.publish_presence(force=True)

    async def close(self) -> None:
        await self.deliveries.close()
        await self.bus.close()
        await self.used_challenges.close()
        await self.link_slots.close_store()

    async def drain(self, within_s: float) -> int:
        """Refuse new events, wait (at most ``within_s`` seconds) for those running to finish
        (their writes commit and their acknowledgements go out) and send what is waiting to be
        delivered; returns how many were still running."""
        self.draining = True
        if self.in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), within_s)
        await self.deliveries.close()
        return self.in_flight

    async def changed(self, notice: Notice) -> None:
        """Apply a change here at once, then tell the other processes."""
        notice = {**notice, "p": self.bus.process_id}
        await self._apply(notice)
        await self.bus.publish(notice)

    async def _on_notice(self, notice: Notice) -> None:
        if notice.get("p") != self.bus.process_id:
            await self._apply(notice)

    async def _apply(self, notice: Notice) -> None:
        kind = notice["t"]
        if kind == "resync":
            await self.resynchronise()
            return
        if kind == "presence":
            duty = notice.get("d")
            present = (
                {str(g): [int(f) for f in fs] for g, fs in duty.items()}
                if isinstance(duty, dict)
                else {str(g): [0] for g in notice["g"]}  # a process without duty lists
            )
            self._remote_presence[notice["p"]] = (present, time.monotonic())
            return
        if kind == "ban":
            for sid in self.sids_of(bytes.fromhex(notice["a"])):
                await self.sio.disconnect(sid)
            return
        if kind == "sessions":
            await recheck_sessions(self)
            return
        group_id = bytes.fromhex(notice["g"])
        if kind == "rotate":
            # the process that needed a commit had no one to ask: one of ours, if any, is
            await self.rotators.ask(group_id, notice["r"], forward=False)
            return
        if kind == "cut":
            for sid in self.sids_of(bytes.fromhex(notice["a"])):
                await self.sio.leave_room(sid, group_room(group_id))
        elif kind == "keyed":  # a commit landed
            self.rotators.settled(group_id)
            for account in notice["a"]:
                for sid in self.sids_of(bytes.fromhex(account)):
                    await self._enter_group_room(sid, group_id)
        elif kind == "unfacilitator":
            await self._unfacilitate(group_id, int(notice["f"]))
        elif kind == "invited":
            for connection in list(self.connections.values()):
                if connection.facilitator and connection.facilitator.facilitator_id == notice["f"]:
                    await self.sio.emit(
                        "facilitator.invited", {"group_id": b64encode(group_id)}, to=connection.sid
                    )
        elif kind == "facilitator":
            for connection in list(self.connections.values()):
                if connection.facilitator and connection.facilitator.facilitator_id == notice["f"]:
                    await self.sio.enter_room(connection.sid, facilitator_room(group_id))
                    connection.facilitating |= {group_id}
            await self.publish_presence()
        if group_id in self._states or kind == "reload":
            await self.reload_group(group_id)

    async def _unfacilitate(self, group_id: bytes, facilitator_id: int) -> None:
        """A facilitator was removed from the group or left it: their sockets here lose their
        power over it at once (their other groups stay theirs)."""
        for connection in list(self.connections.values()):
            session = connection.facilitator
            if session is None or session.facilitator_id != facilitator_id:
                continue
            await self.sio.leave_room(connection.sid, facilitator_room(group_id))
            connection.facilitating -= {group_id}
            await self.sio.emit(
                "facilitator.removed", {"group_id": b64encode(group_id)}, to=connection.sid
            )
        await self.publish_presence()

    async def publish_presence(self, *, force: bool = False) -> None:
        present = _local_presence(self.connections.values())
        if present != self._local_presence or force:
            before, self._local_presence = self._local_presence, present
            await self.bus.publish(
                {"t": "presence", "p": self.bus.process_id, "g": sorted(present), "d": present}
            )
            # members of facilitator_present groups whose presence came or went: open or closed
            await tell_posting(self, set(before) ^ set(present))
            # who is on duty changed in these groups: their facilitators list them again
            for group_hex in sorted(
                set(before) ^ set(present)
                | {g for g in present if before.get(g) not in (None, present[g])}
            ):
                await self.sio.emit(
                    "facilitators.changed",
                    {"group_id": b64encode(bytes.fromhex(group_hex))},
                    room=facilitator_room(bytes.fromhex(group_hex)),
                )

    async def keep_presence_fresh(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_TTL / 3)
            await self.publish_presence(force=True)

    async def announce_rotation(self, group_id: bytes, reason: str) -> None:
        """Ask one member who holds the current epoch for a new commit (rotation.py)."""
        state = await self.group_state(group_id)
        if not state.rotation_needed and reason == "membership":
            return
        await self.rotators.ask(group_id, reason)


def _local_presence(connections: Any) -> Presence:
    present: dict[str, set[int]] = {}
    for connection in connections:
        if connection.facilitator is None:
            continue
        for group_id in connection.facilitating:
            present.setdefault(group_id.hex(), set()).add(connection.facilitator.facilitator_id)
    return {g: sorted(fs) for g, fs in sorted(present.items())}


def _cookies(environ: dict[str, Any]) -> dict[str, str]:
    header = environ.get("HTTP_COOKIE", "")
    if not header:
        return {}
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {key: morsel.value for key, morsel in jar.items()}
