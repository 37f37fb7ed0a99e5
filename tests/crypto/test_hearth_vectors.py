"""tests/vectors/hearth-v1.json: regenerate the deterministic parts, open the recorded commit."""

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from crypto.challenge import check_challenge, verify_challenge_proof
from crypto.commits import open_commit, parse_commit, verify_commit
from crypto.content import split_noted
from crypto.encoding import b64decode
from crypto.envelopes import open_message, parse_envelope
from crypto.franking import parse_report_opening, verify_report
from crypto.keys import KemKey, MemberKeys, SigningKey

VECTORS = Path(__file__).parents[1] / "vectors"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_hearth_vectors", VECTORS / "generate_hearth_vectors.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / "hearth-v1.json").read_text())
    return data


def test_deterministic_parts_regenerate_identically(recorded: dict[str, Any]) -> None:
    regenerated = _generator().deterministic_vectors()
    for key, value in regenerated.items():
        assert recorded[key] == value, key
    assert set(recorded) == {*regenerated, "commit", "chain"}


def _members(recorded: dict[str, Any]) -> dict[str, MemberKeys]:
    return {
        m["name"]: MemberKeys(
            bytes.fromhex(m["member_id"]),
            SigningKey.from_raw(bytes.fromhex(m["sig_sk"])),
            KemKey.from_raw(bytes.fromhex(m["kem_sk"])),
        )
        for m in recorded["members"]
    }


def test_recorded_commit_verifies_and_opens(recorded: dict[str, Any]) -> None:
    commit = parse_commit(bytes.fromhex(recorded["commit"]["commit"]))
    verify_commit(commit)
    assert commit.hash.hex() == recorded["commit"]["commit_hash"]
    assert commit.group_id.hex() == recorded["group_id"]
    expected = bytes.fromhex(recorded["commit"]["opens_to_epoch_secret"])
    assert expected.hex() == recorded["key_schedule"]["epoch_secret"]
    for member in _members(recorded).values():
        assert open_commit(commit, member) == expected


def test_recorded_envelope_and_report(recorded: dict[str, Any]) -> None:
    message = recorded["message"]
    envelope = parse_envelope(bytes.fromhex(message["envelope"]))
    assert b64decode(message["envelope_b64url"]) == envelope.raw
    bob = _members(recorded)["bob"]
    opened = open_message(
        envelope,
        epoch_secret=bytes.fromhex(recorded["key_schedule"]["epoch_secret"]),
        sender_sig_pk=bob.signing.public,
    )
    assert opened.content.decode() == message["content_utf8"]
    franking = recorded["franking"]
    opening = parse_report_opening(bytes.fromhex(franking["report_opening"]))
    verify_report(opening, {franking["kid"]: bytes.fromhex(franking["frank_key"])})


def test_recorded_challenge(recorded: dict[str, Any]) -> None:
    vector = recorded["challenge"]
    challenge = bytes.fromhex(vector["challenge"])
    expiry = check_challenge(
        bytes.fromhex(vector["server_secret"]), challenge, now_ms=vector["now_ms"]
    )
    assert expiry == vector["now_ms"] + vector["ttl_ms"]
    verify_challenge_proof(
        bytes.fromhex(vector["account_pk"]), challenge, bytes.fromhex(vector["proof"])
    )


def test_recorded_noted_message(recorded: dict[str, Any]) -> None:
    vector = recorded["noted_message"]
    envelope = parse_envelope(b64decode(vector["envelope_b64url"]))
    assert envelope.raw.hex() == vector["envelope"]
    opened = open_message(
        envelope,
        epoch_secret=bytes.fromhex(recorded["key_schedule"]["epoch_secret"]),
        sender_sig_pk=_members(recorded)["bob"].signing.public,
    )
    assert opened.content_type == vector["content_type"] == 2
    assert opened.content.hex() == vector["content"]
    assert split_noted(opened.content) == (vector["note"], vector["text"])
