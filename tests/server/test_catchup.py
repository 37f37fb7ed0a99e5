"""The delivery ledger: which seqs a process has pushed to its sockets, so that a catch-up after
a Redis outage sends each socket what it missed and nothing twice (server/realtime/catchup.py)."""

from __future__ import annotations

from typing import Any

from server.realtime.catchup import MAX_ABOVE, DeliveryLedger
from server.realtime.wire import group_room

GROUP = bytes(range(16))


def batch(*seqs: int, event: str = "msg.batch") -> dict[str, Any]:
    """python-socketio's pub/sub message for a broadcast to the group's room."""
    views = [{"seq": seq, "msg_id": f"m{seq}"} for seq in seqs]
    data = {"group_id": "g", "messages": views} if event == "msg.batch" else views[0]
    return {"method": "emit", "event": event, "data": [data], "room": group_room(GROUP)}


def seqs_of(message: dict[str, Any] | None) -> list[int]:
    assert message is not None
    return [view["seq"] for view in message["data"][0]["messages"]]


def test_an_untracked_group_is_never_screened() -> None:
    ledger = DeliveryLedger()
    message = batch(1, 2)
    assert ledger.screen(message) is message
    assert ledger.screen(message) is message
    assert ledger.mark(GROUP, 1)


def test_a_replayed_message_is_removed_from_a_later_broadcast() -> None:
    ledger = DeliveryLedger()
    ledger.start(GROUP, last_seq=10, epoch=3)
    assert seqs_of(ledger.screen(batch(11, 12))) == [11, 12]
    assert ledger.floor(GROUP) == 12
    # seq 13 is missed (Redis was away), 14 arrives; the replay then delivers 13
    assert seqs_of(ledger.screen(batch(14))) == [14]
    assert ledger.floor(GROUP) == 12
    assert ledger.mark(GROUP, 13)
    assert ledger.floor(GROUP) == 14
    # the broadcast of 13 and 15, published as the link came back, keeps only 15
    assert seqs_of(ledger.screen(batch(13, 15))) == [15]
    assert ledger.screen(batch(15)) is None
    assert ledger.screen(batch(12, event="msg")) is None
    assert ledger.screen(batch(16, event="msg")) is not None


def test_messages_older_than_tracking_pass_late() -> None:
    """A broadcast in flight when tracking began (its seq at or below the start) is delivered."""
    ledger = DeliveryLedger()
    ledger.start(GROUP, last_seq=10, epoch=1)
    assert seqs_of(ledger.screen(batch(9, 10, 11))) == [9, 10, 11]
    assert ledger.floor(GROUP) == 11


def test_other_events_and_rooms_pass_and_epochs_are_noted() -> None:
    ledger = DeliveryLedger()
    ledger.start(GROUP, last_seq=0, epoch=2)
    other = {**batch(1), "room": "a:" + "00" * 32}
    assert ledger.screen(other) is other
    deleted = {**batch(1), "event": "msg.deleted"}
    assert ledger.screen(deleted) is deleted
    announced = {**batch(1), "event": "epoch.new", "data": [{"epoch": 5}]}
    assert ledger.screen(announced) is announced
    assert ledger.epoch(GROUP) == 5
    ledger.announced(GROUP, 4)  # never goes back
    assert ledger.epoch(GROUP) == 5


def test_a_gap_never_filled_is_forgotten_past_a_bound() -> None:
    ledger = DeliveryLedger()
    ledger.start(GROUP, last_seq=0, epoch=1)
    for seq in range(2, MAX_ABOVE + 3):  # seq 1 never comes
        ledger.mark(GROUP, seq)
    assert ledger.floor(GROUP) == MAX_ABOVE + 2
    assert not ledger.mark(GROUP, MAX_ABOVE)
