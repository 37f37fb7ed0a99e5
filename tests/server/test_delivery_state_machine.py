"""A hypothesis state machine drives joins, leaves, removals, commits, sends and reconnects
against a running server; after every step each client must hold exactly the messages it is
entitled to (those sent while it was keyed into the group), in sequence order."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from server.client import HearthClient
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, RunningServer

T = TypeVar("T")
PEOPLE = 3


class LoopThread:
    """An event loop in a thread, so that hypothesis's synchronous rules can drive clients."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    runner = LoopThread()
    yield runner
    runner.close()


async def catch_up(client: HearthClient, group: bytes) -> None:
    """What a reconnecting client does: page back through history to what it already holds."""
    known = set(client.inbox.get(group, {}))
    before = None
    while True:
        page, more = await client.history(group, before_seq=before, limit=20)
        if not page or not more or any(m.seq in known for m in page):
            return
        before = page[-1].seq


def make_machine(
    server: RunningServer, runner: LoopThread, session_cookie: str
) -> type[RuleBasedStateMachine]:
    class Delivery(RuleBasedStateMachine):
        @initialize()
        def start(self) -> None:
            self.fac = HearthClient(server.url)
            self.people = [HearthClient(server.url) for _ in range(PEOPLE)]
            self.counter = 0

            async def setup() -> bytes:
                self.fac.session_cookie = session_cookie  # logins are rate limited
                await self.fac.connect()
                for person in self.people:
                    await person.connect()
                return await self.fac.create_group("Machine", pseudonym="Host Heron")

            self.group = runner.run(setup())
            self.keyed: set[int] = set()  # indexes of people currently keyed into the group
            self.online = set(range(PEOPLE))
            self.held_when_offline: dict[int, int] = {}
            # what each client (index, or -1 for the facilitator) is entitled to, by text
            self.expected: dict[int, list[str]] = {i: [] for i in range(-1, PEOPLE)}

        def client(self, index: int) -> HearthClient:
            return self.fac if index == -1 else self.people[index]

        def bring_online(self, index: int) -> None:
            if index in self.online:
                return
            person = self.people[index]
            runner.run(person.connect())
            if index in self.keyed:
                runner.run(catch_up(person, self.group))
            self.online.add(index)

        def rotate(self) -> None:
            epoch = runner.run(self.fac.rotate(self.group))
            for index in self.keyed & self.online:
                person = self.people[index]
                runner.run(person.wait_for(lambda p=person: p.keys[self.group].current == epoch))

        @precondition(lambda self: len(self.keyed) < PEOPLE)
        @rule(data=st.data())
        def join(self, data: st.DataObject) -> None:
            index = data.draw(st.sampled_from(sorted(set(range(PEOPLE)) - self.keyed)))
            person = self.people[index]
            self.bring_online(index)

            async def join() -> None:
                token = await self.fac.create_invite(self.group)
                await person.join(token, pseudonym=f"Person {index} {self.counter}")
                await self.fac.decide(self.group, person.member_id(self.group))

            self.counter += 1
            runner.run(join())
            self.keyed.add(index)
            self.rotate()

        @precondition(lambda self: bool(self.keyed))
        @rule(data=st.data(), removed=st.booleans())
        def depart(self, data: st.DataObject, removed: bool) -> None:
            index = data.draw(st.sampled_from(sorted(self.keyed)))
            person = self.people[index]
            if removed:
                runner.run(self.fac.remove(self.group, person.member_id(self.group)))
                if index not in self.online:
                    # removed while away: what was said meanwhile is no longer theirs to fetch
                    del self.expected[index][self.held_when_offline[index] :]
            else:
                self.bring_online(index)
                runner.run(person.leave(self.group))
            self.keyed.discard(index)
            self.rotate()

        @rule(data=st.data())
        def send(self, data: st.DataObject) -> None:
            senders = [-1, *sorted(self.keyed & self.online)]
            index = data.draw(st.sampled_from(senders))
            text = f"message {self.counter}"
            self.counter += 1
            runner.run(self.client(index).send(self.group, text))
            for receiver in (-1, *self.keyed):
                self.expected[receiver].append(text)

        @precondition(lambda self: bool(self.keyed))
        @rule(data=st.data())
        def reconnect(self, data: st.DataObject) -> None:
            index = data.draw(st.sampled_from(sorted(self.keyed)))
            person = self.people[index]
            if index in self.online:
                runner.run(person.disconnect())
                self.online.discard(index)
                self.held_when_offline[index] = len(self.expected[index])
            else:
                self.bring_online(index)

        @precondition(lambda self: bool(self.keyed & self.online))
        @rule(data=st.data())
        def member_commits(self, data: st.DataObject) -> None:
            index = data.draw(st.sampled_from(sorted(self.keyed & self.online)))
            epoch = runner.run(self.people[index].rotate(self.group))
            runner.run(self.fac.wait_for(lambda: self.fac.keys[self.group].current == epoch))

        @invariant()
        def everyone_holds_exactly_their_messages(self) -> None:
            for index, wanted in self.expected.items():
                if index != -1 and index not in self.online:
                    continue  # checked again once it reconnects and catches up
                client = self.client(index)

                def holds(c: HearthClient = client, w: list[str] = wanted) -> bool:
                    return c.texts(self.group) == w

                try:
                    runner.run(client.wait_for(holds, within=5))
                except TimeoutError:
                    assert client.texts(self.group) == wanted, f"client {index}"

        def teardown(self) -> None:
            async def stop() -> None:
                for client in (self.fac, *self.people):
                    await client.disconnect()

            runner.run(stop())

    return Delivery


def test_delivery_state_machine(shared_server: RunningServer, loop_thread: LoopThread) -> None:
    login = HearthClient(shared_server.url)
    loop_thread.run(login.login(FACILITATOR, FACILITATOR_PASSWORD))
    assert login.session_cookie is not None
    machine = make_machine(shared_server, loop_thread, login.session_cookie)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=15,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
