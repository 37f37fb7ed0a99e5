"""Administrators (docs/protocol.md §6.11): the command line makes one; it invites and removes the
facilitators of any group, acting through the facilitators' signed commits, which every member
still verifies."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from crypto.encoding import b64encode
from crypto.suite import ROLE_FACILITATOR
from server.client import HearthClient, HearthRefused
from tests.conftest import (
    FACILITATOR_PASSWORD,
    Clients,
    RunningServer,
    facilitator,
    hearth_cli,
    member_in,
)
from tests.server.test_cofacilitation import _logged_in


async def _refused(code: str, call: Any) -> HearthRefused:
    with pytest.raises(HearthRefused) as caught:
        await call
    assert caught.value.code == code, caught.value
    assert caught.value.message
    return caught.value


async def _administrator(make_client: Clients, server: RunningServer, name: str) -> HearthClient:
    client = await _logged_in(make_client, server, name)
    await _make_administrator(server, name)
    return client


async def _make_administrator(server: RunningServer, name: str) -> None:
    done = await asyncio.to_thread(
        hearth_cli, "facilitator", "administrator", name, config=server.config_path
    )
    assert done.returncode == 0, done.stderr
    assert "is an administrator" in done.stdout


async def test_the_command_line_makes_an_administrator_and_only_an_existing_account(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    carol = await _logged_in(make_client, hearth_server, "carol")
    await _refused("forbidden", carol.call("admin.groups"))
    missing = await asyncio.to_thread(
        hearth_cli, "facilitator", "administrator", "nobody", config=hearth_server.config_path
    )
    assert missing.returncode != 0
    assert "no facilitator is named 'nobody'" in missing.stderr
    assert "Traceback" not in missing.stderr
    await _make_administrator(hearth_server, "carol")
    assert (await carol.call("admin.groups"))["groups"] == []
    revoked = await asyncio.to_thread(
        hearth_cli,
        "facilitator",
        "administrator",
        "carol",
        "--revoke",
        config=hearth_server.config_path,
    )
    assert "no longer an administrator" in revoked.stdout
    await _refused("forbidden", carol.call("admin.groups"))


async def test_an_administrator_adds_and_removes_facilitators_of_any_group(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    alice = await facilitator(make_client)
    group = await alice.create_group("Tuesday circle", pseudonym="Host Heron")
    ana = await member_in(make_client, alice, group, "Quiet Fox")
    carol = await _administrator(make_client, hearth_server, "carol")
    dave = await _logged_in(make_client, hearth_server, "dave")  # neither facilitator nor admin
    ref = {"group_id": b64encode(group)}

    # carol sees every group and its facilitators, and invites bob to this one.
    [listed] = (await carol.call("admin.groups"))["groups"]
    assert listed["group_id"] == b64encode(group)
    assert [f["username"] for f in listed["facilitators"]] == ["alice"]
    await asyncio.to_thread(hearth_server.add_facilitator, "bob")
    invited = await carol.call("facilitator.add", {**ref, "username": "bob"})
    assert invited["facilitator"]["state"] == "invited"
    await _refused("forbidden", dave.call("facilitator.add", {**ref, "username": "dave"}))
    await _refused("forbidden", dave.call("facilitators.list", ref))
    await _refused("forbidden", ana.call("admin.remove_facilitator", {**ref, "username": "alice"}))
    # Admission is still a facilitator's signed act: carol holds no key of the group.
    decision = {**ref, "member_id": b64encode(os.urandom(16)), "approve": False}
    await _refused("forbidden", carol.call("join.decide", decision))

    # bob joins and alice admits him (the co-facilitation path, started by carol's invitation).
    bob = await _co_facilitator_invited(make_client, hearth_server, alice, group)
    names = {f["username"]: f["state"] for f in await carol.facilitators(group)}
    assert names == {"alice": "active", "bob": "active"}

    # carol removes bob: his place ends on the server at once; alice's client signs his
    # removal in the next commit, which every member verifies.
    before = alice.keys[group].current
    bob_id = bob.member_id(group)
    reply = await carol.call("admin.remove_facilitator", {**ref, "username": "bob"})
    assert reply["member"]["state"] == "removed"
    await bob.wait_for(lambda: any(e == "facilitator.removed" for e, _ in bob.events))
    await alice.rotate(group)
    await ana.wait_for(lambda: ana.keys[group].current == before + 1)
    assert ana.verified_facilitators(group) == {alice.member_id(group)}
    assert not ana.keys[group].untrusted
    assert bob_id not in {e.member_id for e in ana.keys[group].state.roster}
    await _refused("not_member", bob.call("history.get", ref))
    audit = (await alice.call("audit.list", ref))["entries"]
    assert any(e["detail"].get("by") == "administrator" for e in audit)

    # Never the last facilitator; nobody unknown; bad input changes nothing.
    await _refused(
        "last_facilitator", carol.call("admin.remove_facilitator", {**ref, "username": "alice"})
    )
    await _refused("not_found", carol.call("admin.remove_facilitator", {**ref, "username": "zed"}))
    await _refused(
        "not_found",
        carol.call(
            "admin.remove_facilitator", {"group_id": b64encode(os.urandom(16)), "username": "alice"}
        ),
    )
    await _refused("bad_request", carol.call("admin.remove_facilitator", {**ref}))
    await _refused("bad_request", carol.call("admin.groups", {"all": True}))
    assert {f["username"] for f in await alice.facilitators(group)} == {"alice"}


async def _co_facilitator_invited(
    make_client: Clients, server: RunningServer, alice: HearthClient, group: bytes
) -> HearthClient:
    """bob (already invited by the administrator) joins and alice admits him."""
    bob = make_client()
    await bob.login("bob", FACILITATOR_PASSWORD)
    await bob.connect()
    assert await bob.accept_facilitation(group, pseudonym="Host Birch") == "pending"
    await alice.decide(group, bob.member_id(group), role=ROLE_FACILITATOR)
    await alice.rotate(group)
    await bob.wait_for(
        lambda: (
            bob.keys[group].state is not None
            and bob.keys[group].current == alice.keys[group].current
        )
    )
    return bob
