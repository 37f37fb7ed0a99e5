"""bench/profile_stages.py puts each py-spy stack in the first stage it matches."""

from __future__ import annotations

from bench.profile_stages import CONNECTING, LOOP, report, stages

LOOP_ROOT = "<module> (server/cli.py:9);Runner.run (asyncio/runners.py:118)"
PROFILE = [
    f"{LOOP_ROOT};send_message (server/realtime/messages.py:63);"
    "verify_envelope (crypto/envelopes.py:80) 30\n",
    f"{LOOP_ROOT};send_message (server/realtime/messages.py:99);"
    "store (server/storage/messages.py:40) 20\n",
    "_bootstrap (threading.py:995);run (aiosqlite/core.py:102) 25\n",
    f"{LOOP_ROOT};handle_connect (server/realtime/hub.py:200) 15\n",
    f"{LOOP_ROOT} 10\n",
    f"{LOOP_ROOT};mystery (server/x.py:1) 5\n",
]


def test_each_stack_counts_once_in_its_first_matching_stage() -> None:
    counts = stages(PROFILE)
    assert counts == {
        "Ed25519 signature check": 30,  # under send_message, but the check is what it is
        "storing, event loop side": 20,
        "SQLite, aiosqlite's thread": 25,
        CONNECTING: 15,
        LOOP: 10,
        "other: mystery (server/x.py:1)": 5,
    }


def test_shares_per_message_leave_connecting_out() -> None:
    text = report(stages(PROFILE))
    assert "105 samples, 90 not connecting" in text
    verify = next(line for line in text.splitlines() if line.startswith("Ed25519"))
    assert verify.split()[-2:] == ["28.6%", "33.3%"]  # 30 of 105, 30 of 90
