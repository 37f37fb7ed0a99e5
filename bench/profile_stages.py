"""Where Hearth's CPU goes, by stage of its work, from a py-spy profile of the relay benchmark.

    python -m bench --quick --only relay --servers hearth --profile /tmp/hearth.raw
    python -m bench.profile_stages /tmp/hearth.raw

py-spy's raw output has one line per distinct stack, ``frame;frame;... count``. Each stack goes to
the first stage below with a frame that matches (so a stack under ``verify_envelope`` counts as the
signature check even though it runs inside ``send_message``); the rest are grouped by their leaf
frame. A stack that ends in ``Runner.run`` is time in the event loop's C code (uvloop's reads,
writes and polling): py-spy sees Python frames only. Shares are printed of all samples and of
the samples that are not connecting, which is the work per message.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable

CONNECTING = "connect / challenge"
LOOP = "the event loop's C code (uvloop: I/O)"
STAGES = (  # first match wins
    (CONNECTING, ("handle_connect", "authenticate", "/api/challenge", "on_connect", "challenge (")),
    ("SQLite, aiosqlite's thread", ("aiosqlite/core.py",)),
    ("Ed25519 signature check", ("verify_envelope",)),
    ("envelope parsing and checks", ("parse_envelope", "check_version", "decode_b64")),
    ("franking tag", ("compute_rtag",)),
    ("storing, event loop side", ("storage/messages.py", "storage/database.py")),
    ("fan-out and delivery", ("delivery.py", "fanout.py")),
    ("send_message, the rest", ("send_message",)),
    ("event dispatch and schemas", ("events.py", "inbound.py", "jsoncodec", "msgspec")),
    ("reading sockets, websocket frames", ("reader.py", "lean.py", "websockets/", "transport.py")),
    ("engine.io and socket.io", ("engineio/", "socketio/")),
)


def stage_of(stack: str) -> str:
    for name, markers in STAGES:
        if any(marker in stack for marker in markers):
            return name
    leaf = stack.rsplit(";", 1)[-1] if stack else "?"
    if leaf.startswith("Runner.run "):
        return LOOP
    return f"other: {leaf[:60]}"


def stages(lines: Iterable[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if count.isdigit():
            counts[stage_of(stack)] += int(count)
    return counts


def report(counts: Counter[str], top: int = 16) -> str:
    total = sum(counts.values())
    working = total - counts[CONNECTING]
    lines = [f"{'stage':<44}{'all':>8}{'per message':>13}"]
    for name, count in counts.most_common(top):
        per_message = "" if name == CONNECTING else f"{count / working:13.1%}"
        lines.append(f"{name:<44}{count / total:8.1%}{per_message}")
    lines.append(f"{total} samples, {working} not connecting")
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as raw:
        print(report(stages(raw)))
