"""server/realtime/jsoncodec.py: msgspec's JSON reads and writes what the standard library's
does for every value a Socket.IO packet carries, and refuses malformed input the same way."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.realtime.jsoncodec import MsgspecJSON

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=20,
)


@given(values)
def test_what_it_writes_the_standard_library_reads_back(value: Any) -> None:
    assert json.loads(MsgspecJSON.dumps(value, separators=(",", ":"))) == value


@given(values)
def test_it_reads_what_the_standard_library_writes(value: Any) -> None:
    assert MsgspecJSON.loads(json.dumps(value)) == value
    assert MsgspecJSON.loads(json.dumps(value, ensure_ascii=False).encode()) == value


def test_output_is_compact_like_python_socketios() -> None:
    packet = ["msg.batch", {"group_id": "AAEC", "messages": [{"seq": 1, "rtag": "éx"}]}]
    assert MsgspecJSON.dumps(packet) == json.dumps(
        packet, separators=(",", ":"), ensure_ascii=False
    )


@pytest.mark.parametrize("text", ["", "[", '{"a":}', '["x",]', "[1] 2", "nul", '{"a" 1}'])
def test_malformed_json_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the type is the contract, as json.loads'
        MsgspecJSON.loads(text)


@pytest.mark.parametrize(
    "text", ["NaN", '["x",Infinity]', "[1e999]", '"\\ud800"', str(2**70), '{"a":1,"a":2}']
)
def test_what_msgspec_refuses_reads_as_the_standard_library_reads_it(text: str) -> None:
    """So that the event's schema, not a silent drop, answers such a packet."""
    assert repr(MsgspecJSON.loads(text)) == repr(json.loads(text))


def test_what_json_cannot_hold_is_refused_or_made_null() -> None:
    with pytest.raises(ValueError, match="complex"):
        MsgspecJSON.dumps({"x": 1j})
    # The standard library writes NaN, which no browser's JSON.parse accepts.
    assert MsgspecJSON.dumps([float("nan"), float("inf")]) == "[null,null]"


def test_a_str_subclass_is_written_as_its_text_like_the_standard_library() -> None:
    class Token(str):
        pass

    value = {"token": Token("abc"), "list": [Token("x")]}
    assert MsgspecJSON.dumps(value) == json.dumps(value, separators=(",", ":"))
