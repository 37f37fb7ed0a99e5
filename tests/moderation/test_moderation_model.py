"""Reports, decisions and their JSON forms."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moderation.actions import MUTE_MINUTES_MAX, Action, Decision
from moderation.errors import InvalidDecision
from moderation.reports import Priority, Report, ReportState
from tests.moderation.conftest import make_report


def test_report_json_uses_unpadded_base64url_and_round_trips() -> None:
    report = make_report(1, group_id=b"\xff" * 16)
    data = report.to_json()
    assert data["group_id"] == "_" * 21 + "w"
    assert data["priority"] == "normal"
    assert data["state"] == "open"
    assert Report.from_json(data) == report
    assert len(report.report_id) == 32


@pytest.mark.parametrize("minutes", [1, 60, MUTE_MINUTES_MAX])
def test_mute_takes_minutes_in_range(minutes: int) -> None:
    assert Decision(Action.MUTE, "alice", "", minutes, 0).mute_minutes == minutes


@pytest.mark.parametrize("minutes", [None, 0, -5, MUTE_MINUTES_MAX + 1, True, 1.5])
def test_mute_refuses_bad_minutes(minutes: object) -> None:
    with pytest.raises(InvalidDecision, match="mute_minutes"):
        Decision(Action.MUTE, "alice", "", minutes, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize("action", [a for a in Action if a is not Action.MUTE])
def test_other_actions_refuse_minutes(action: Action) -> None:
    with pytest.raises(InvalidDecision):
        Decision(action, "alice", "", 10, 0)
    assert Decision(action, "alice", "", None, 0).action is action


def test_decision_needs_a_facilitator_and_an_action() -> None:
    with pytest.raises(InvalidDecision):
        Decision(Action.WARN, "", "", None, 0)
    with pytest.raises(InvalidDecision):
        Decision("warn", "alice", "", None, 0)  # type: ignore[arg-type]
    with pytest.raises(InvalidDecision):
        Decision.from_json({"action": "explode"})


@given(
    st.builds(
        make_report,
        st.integers(0, 2**32),
        content=st.text(),
        reason=st.text(),
        sender_id=st.binary(min_size=16, max_size=16),
    ),
    st.sampled_from(Priority),
    st.sampled_from(list(Action)),
)
def test_json_round_trip(report: Report, priority: Priority, action: Action) -> None:
    minutes = 5 if action is Action.MUTE else None
    decision = Decision(action, "bob", "note", minutes, 7)
    resolved = replace(
        report,
        priority=priority,
        state=ReportState.RESOLVED,
        resolved_at=7,
        decision=decision,
    )
    for value in (report, resolved):
        assert Report.from_json(value.to_json()) == value
