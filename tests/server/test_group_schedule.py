"""Weekly sessions through a real server: a facilitator sets them (bad input is `bad_schedule`
or `bad_request` and changes nothing), members get them with the organisation's time zone, and
in a `facilitator_present` group members know before typing whether posting is open."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from crypto.encoding import b64encode
from server.client import HearthClient, HearthRefused
from tests.conftest import GENEROUS_LIMITS, Clients, RunningServer, facilitator, member_in, serve_in

TUESDAYS = [{"day": "tue", "start": "19:00", "end": "20:30"}]
LATE = [
    {"day": "fri", "start": "22:00", "end": "01:00"},
    {"day": "tue", "start": "19:00", "end": "20:30"},
]


@pytest.fixture(scope="module")
def hearth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server for the module (each test makes its own groups and looks only at them)."""
    yield from serve_in(
        tmp_path_factory.mktemp("hearth"),
        extra_config=GENEROUS_LIMITS + '[groups]\ntime_zone = "Europe/London"\n',
    )


async def refused(coro: Any) -> HearthRefused:
    with pytest.raises(HearthRefused) as caught:
        await coro
    return caught.value


async def listed(client: HearthClient, group: bytes) -> dict[str, Any]:
    """The group as ``groups.list`` shows it to ``client``."""
    groups = (await client.call("groups.list"))["groups"]
    return next(g for g in groups if g["group_id"] == b64encode(group))


def public_settings(server: RunningServer) -> dict[str, Any]:
    with urllib.request.urlopen(server.url + "/api/settings", timeout=5) as response:
        settings: dict[str, Any] = json.load(response)
    return settings


async def test_a_schedule_is_set_sent_to_members_and_removed(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    assert public_settings(hearth_server)["time_zone"] == "Europe/London"
    fac = await facilitator(make_client)
    group = await fac.create_group("Evening circle", pseudonym="Host Heron", schedule=TUESDAYS)
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    assert (await listed(ana, group))["schedule"] == TUESDAYS

    gid = b64encode(group)
    reply = await fac.call("group.update", {"group_id": gid, "schedule": LATE[::-1]})
    # Stored sorted by weekday; the member's page hears of it at once.
    assert reply["group"]["schedule"] == [LATE[1], LATE[0]]
    await ana.wait_for(
        lambda: any(e == "group.updated" and d["group"]["schedule"] for e, d in ana.events)
    )
    assert (await listed(ana, group))["schedule"] == [LATE[1], LATE[0]]
    # An update that does not name the schedule keeps it.
    await fac.call("group.update", {"group_id": gid, "name": "Evening circle, renamed"})
    assert (await listed(ana, group))["schedule"] == [LATE[1], LATE[0]]
    # [] removes it.
    reply = await fac.call("group.update", {"group_id": gid, "schedule": []})
    assert reply["group"]["schedule"] == []


BAD_SCHEDULES: list[tuple[Any, str]] = [
    ([{"day": "tuesday", "start": "19:00", "end": "20:30"}], "bad_schedule"),
    ([{"day": "tue", "start": "7pm", "end": "20:30"}], "bad_schedule"),
    ([{"day": "tue", "start": "19:00", "end": "19:00"}], "bad_schedule"),
    ([*TUESDAYS, {"day": "tue", "start": "20:00", "end": "21:00"}], "bad_schedule"),
    (
        [
            {"day": "sun", "start": "23:00", "end": "01:00"},
            {"day": "mon", "start": "00:30", "end": "02:00"},
        ],
        "bad_schedule",
    ),
    (
        [{"day": "mon", "start": f"{h:02d}:00", "end": f"{h:02d}:30"} for h in range(15)],
        "bad_schedule",
    ),
    ([{"day": "tue", "start": "19:00"}], "bad_request"),  # no end
    ([{"day": "tue", "start": "19:00", "end": "20:00", "tz": "UTC"}], "bad_request"),
    ([{"day": 2, "start": "19:00", "end": "20:00"}], "bad_request"),
    ({"day": "tue", "start": "19:00", "end": "20:00"}, "bad_request"),  # not a list
    ("tue 19:00-20:30", "bad_request"),
    ([TUESDAYS[0]] * 65, "bad_request"),
]


async def test_a_bad_schedule_is_refused_and_changes_nothing(make_client: Clients) -> None:
    # One facilitator for every case: logins are rate limited per username.
    fac = await facilitator(make_client)
    group = await fac.create_group("Evening circle", pseudonym="Host Heron", schedule=TUESDAYS)
    gid = b64encode(group)
    for schedule, code in BAD_SCHEDULES:
        error = await refused(
            fac.call("group.update", {"group_id": gid, "schedule": schedule, "name": "Renamed"})
        )
        assert (error.code, schedule) == (code, schedule)
        assert error.message
        assert "internal" not in error.message
        shown = await listed(fac, group)
        assert (shown["name"], shown["schedule"]) == ("Evening circle", TUESDAYS)
        # group.create refuses it too, and creates no group.
        before = len((await fac.call("groups.list"))["groups"])
        with pytest.raises(HearthRefused) as caught:
            await fac.create_group("Never made", pseudonym="Host Heron", schedule=schedule)
        assert caught.value.code == code
        assert len((await fac.call("groups.list"))["groups"]) == before


async def test_a_bad_schedule_names_what_is_wrong(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Evening circle", pseudonym="Host Heron")
    overlap = [*TUESDAYS, {"day": "tue", "start": "20:00", "end": "21:00"}]
    error = await refused(
        fac.call("group.update", {"group_id": b64encode(group), "schedule": overlap})
    )
    assert error.message == "sessions overlap: tue 19:00–20:30 and tue 20:00–21:00"


async def test_only_the_groups_facilitator_sets_its_schedule(make_client: Clients) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Evening circle", pseudonym="Host Heron", schedule=TUESDAYS)
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    error = await refused(
        ana.call("group.update", {"group_id": b64encode(group), "schedule": LATE})
    )
    assert error.code == "forbidden"
    assert (await listed(fac, group))["schedule"] == TUESDAYS


async def test_members_know_before_typing_whether_posting_is_open(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group(
        "Attended room",
        pseudonym="Host Heron",
        posting_policy="facilitator_present",
        schedule=TUESDAYS,
    )
    always = await fac.create_group("Open room", pseudonym="Host Heron")
    ana = await member_in(make_client, fac, group, "Quiet Fox")
    assert (await listed(ana, group))["posting_open"] is True  # the facilitator is online

    def posting_events() -> list[bool]:
        return [d["open"] for e, d in ana.events if e == "group.posting"]

    await fac.disconnect()
    await ana.wait_for(lambda: posting_events()[-1:] == [False])
    assert (await listed(ana, group))["posting_open"] is False
    assert (await refused(ana.send(group, "anyone here?"))).code == "posting_closed"

    fac2 = HearthClient(hearth_server.url, account=fac.account)
    fac2.session_cookie = fac.session_cookie
    fac2.keys = fac.keys
    await fac2.connect()
    try:
        await ana.wait_for(lambda: posting_events()[-2:] == [False, True])
        assert (await listed(ana, group))["posting_open"] is True
        await ana.send(group, "hello again")
        # An `always` group is open whoever is online, and no event is sent for it.
        assert all(
            d["group_id"] != b64encode(always) for e, d in ana.events if e == "group.posting"
        )
    finally:
        await fac2.disconnect()
