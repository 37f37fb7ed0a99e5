"""What keeps each of pymalloc's arenas in a running server: a census for bench/connect.py.

CPython's small-object allocator (pymalloc) takes memory from the system in 1 MiB arenas of
16 KiB pools, each pool holding blocks of one size class, and gives an arena back only once
every block in it is free. After a wave of connections has closed, the process can hold dozens
of arenas that are almost empty, each kept by a few live blocks. This finds them:

* In the server (``install`` is called at start-up when ``HEARTH_ARENA_PROBE`` names a
  directory), ``SIGUSR1`` forks the process twice; the grandchild reads the server's memory
  through ``/proc/<pid>/mem`` (the server itself allocates nothing for the census) and writes a
  JSON report into the directory, then exits.
* Every pool is found by scanning the server's anonymous mappings at 16 KiB steps for a valid
  pool header (CPython 3.11 ``Objects/obmalloc.c``: ``ref.count``, ``arenaindex``, ``szidx``,
  ``nextoffset``, ``maxnextoffset``; ``maxnextoffset`` is always the pool size minus the block
  size, which rules out chance matches), so each arena's used blocks are known exactly.
* The live blocks are then named: every object the garbage collector tracks (the frozen ones
  too), every untracked object they refer to (strings, bytes, ints, untracked tuples and dicts),
  and the blocks objects own beside themselves (a dict's keys table and values, a list's item
  array, a set's table, a bytearray's buffer), each with its type and, when the server runs
  with ``HEARTH_ARENA_TRACE=<frames>`` (tracemalloc on), the place that allocated it. Blocks no
  object accounts for are counted as unnamed (free lists, C-level allocations).

Diagnostics only: CPython 3.11 on 64-bit Linux; the layouts read here are checked by nothing
else, so a Python upgrade needs them looked at again.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import gc
import json
import os
import signal
import struct
import sys
import tempfile
import time
import traceback
import tracemalloc
import weakref
from pathlib import Path
from typing import Any

PROBE_ENV = "HEARTH_ARENA_PROBE"
TRACE_ENV = "HEARTH_ARENA_TRACE"
POOL_SIZE = 16 * 1024
POOL_MASK = ~(POOL_SIZE - 1)
HEADER = struct.Struct("<I4xQQQIIII")  # count, freeblock, nextpool, prevpool, arena, szidx, ...
MANAGED_DICT = 1 << 4  # Py_TPFLAGS_MANAGED_DICT (3.11)


def install() -> None:
    """Answer SIGUSR1 with a census (see the module docstring)."""
    directory = Path(os.environ[PROBE_ENV])
    directory.mkdir(parents=True, exist_ok=True)
    frames = int(os.environ.get(TRACE_ENV, "0"))
    if frames:
        tracemalloc.start(frames)

    def census(signum: int, frame: Any) -> None:
        stats = _debugmallocstats()
        server = os.getpid()
        child = os.fork()
        if child:
            os.waitpid(child, 0)
            return
        try:
            if os.fork() == 0:
                gc.disable()
                # the server's sockets: a close of the server's must not wait for this process
                os.closerange(3, os.sysconf("SC_OPEN_MAX"))
                stamp = time.time_ns()
                if tracemalloc.is_tracing():  # first: what the server holds, not the census
                    tracemalloc.take_snapshot().dump(str(directory / f"sites-{stamp}.snap"))
                report = take_census(server)
                report["mallocstats"] = stats
                report["stamp"] = stamp
                report["traced"] = tracemalloc.is_tracing()
                target = directory / f"census-{stamp}.json"
                partial = target.with_suffix(".part")
                partial.write_text(json.dumps(report))
                partial.rename(target)
        except BaseException:
            (directory / "error.txt").write_text(traceback.format_exc())
        finally:
            os._exit(0)

    signal.signal(signal.SIGUSR1, census)


def _debugmallocstats() -> dict[str, int]:
    """The totals of ``sys._debugmallocstats()`` (written to fd 2, so read back from a file)."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode(errors="replace")
    totals = {}
    for line in text.splitlines():
        name, _, value = line.rpartition("=")
        if name.startswith("# ") and value.strip().replace(",", "").isdigit():
            totals[name[2:].strip()] = int(value.strip().replace(",", ""))
    return totals


def _anonymous_mappings(pid: int) -> list[tuple[int, int]]:
    spans = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        if len(fields) == 5 and fields[1].startswith("rw"):  # no path: anonymous
            start, end = (int(x, 16) for x in fields[0].split("-"))
            spans.append((start, end))
    return spans


def _pools(pid: int) -> dict[int, tuple[int, int, int]]:
    """Every pymalloc pool of the process: address -> (used blocks, arena index, block size)."""
    pools = {}
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for start, end in _anonymous_mappings(pid):
            address = (start + POOL_SIZE - 1) & POOL_MASK
            while address + HEADER.size <= end:
                mem.seek(address)
                count, _, _, _, arena, szidx, nextoffset, maxnextoffset = HEADER.unpack(
                    mem.read(HEADER.size)
                )
                size = (szidx + 1) * 16
                if (
                    szidx < 32
                    and arena < 1 << 20
                    and maxnextoffset == POOL_SIZE - size
                    and 48 <= nextoffset <= POOL_SIZE
                    and count <= POOL_SIZE // size
                ):
                    pools[address] = (count, arena, size)
                address += POOL_SIZE
    return pools


def _word(address: int) -> int:
    return ctypes.c_size_t.from_address(address).value


def _owned_blocks(obj: Any, kind: type) -> list[tuple[int, str]]:
    """Blocks an object allocated beside itself: (address, what)."""
    base = id(obj)
    name = kind.__qualname__
    blocks = []
    if kind is dict or issubclass(kind, dict):
        blocks.append((_word(base + 32), f"dict keys table (of {name})"))
        values = _word(base + 40)
        if values:
            blocks.append((values, f"dict values (of {name})"))
    elif (kind is list or issubclass(kind, list)) and _word(base + 24):
        blocks.append((_word(base + 24), f"list items (of {name})"))
    elif kind in (set, frozenset) or issubclass(kind, (set, frozenset)):
        table = _word(base + 40)
        if table != base + 64:
            blocks.append((table, f"set table (of {name})"))
    elif kind is bytearray and _word(base + 32):
        blocks.append((_word(base + 32), "bytearray buffer"))
    if kind.__flags__ & MANAGED_DICT and gc.is_tracked(obj):
        values = _word(base - 32)
        if values:
            blocks.append((values, f"instance values (of {name})"))
    return blocks


def _site(obj: Any) -> str:
    if not tracemalloc.is_tracing():
        return ""
    allocated = tracemalloc.get_object_traceback(obj)
    if allocated is None:
        return ""
    frames = [f for f in allocated if "/asyncio/" not in f.filename] or list(allocated)
    return " < ".join(f"{_short(f.filename)}:{f.lineno}" for f in reversed(frames[-3:]))


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/", "lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def take_census(pid: int) -> dict[str, Any]:
    """Pools and arenas of process ``pid`` (a fork's parent: same objects at the same
    addresses), and what holds the blocks of each arena."""
    tracked = gc.get_objects()  # first: before this process makes objects of its own
    gc.unfreeze()
    tracked += gc.get_objects()
    pools = _pools(pid)
    named: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    seen: set[int] = set()

    counted: set[int] = set()  # a block named once (split dicts share their keys table)

    def name(address: int, what: str) -> None:
        pool = address & POOL_MASK
        if pool in pools and address not in counted:
            counted.add(address)
            named[pool][what] += 1

    def visit(obj: Any) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        kind = type(obj)
        what = kind.__qualname__
        if kind is str and len(obj) <= 40:
            what = f"str {obj!r}"
        elif isinstance(obj, weakref.ref):
            referent = obj()
            callback = getattr(obj.__callback__, "__qualname__", obj.__callback__)
            held = "dead" if referent is None else type(referent).__qualname__
            what = f"{what} to {held}, callback {callback}"
        site = _site(obj)
        name(id(obj), f"{what} @ {site}" if site else what)
        with contextlib.suppress(Exception):
            for address, block in _owned_blocks(obj, kind):
                name(address, block)

    holding_dead: dict[int, int] = collections.Counter()  # container -> dead weakrefs in it
    for obj in tracked:
        for referent in gc.get_referents(obj):
            if type(referent) is weakref.ref and referent() is None and id(referent) not in seen:
                seen.add(id(referent))
                holding_dead[id(obj)] += 1
                name(id(referent), f"dead weakref held by {type(obj).__qualname__}")
    dead_holders = []  # where the containers of dead weakrefs are kept
    containers = [obj for obj in tracked if id(obj) in holding_dead]
    for container in containers:
        for owner in gc.get_referrers(container):
            if owner is tracked or owner is containers:
                continue
            names = [k for k, v in getattr(owner, "__dict__", {}).items() if v is container]
            names += [
                k for k, v in (owner.items() if isinstance(owner, dict) else ()) if v is container
            ]
            dead_holders.append(
                f"{holding_dead[id(container)]} in a {type(container).__qualname__} held by "
                f"{type(owner).__module__}.{type(owner).__qualname__} {names}"
            )
    for obj in tracked:
        visit(obj)
    for obj in tracked:
        for referent in gc.get_referents(obj):
            if not gc.is_tracked(referent):
                stack = [referent]
                while stack:
                    item = stack.pop()
                    if id(item) in seen:
                        continue
                    visit(item)
                    if isinstance(item, (tuple, dict)):
                        stack += [r for r in gc.get_referents(item) if not gc.is_tracked(r)]
    arenas: dict[int, dict[str, Any]] = {}
    for pool, (count, arena, size) in pools.items():
        entry = arenas.setdefault(
            arena, {"base": pool, "pools": 0, "used_pools": 0, "blocks": 0, "bytes": 0}
        )
        entry["base"] = min(entry["base"], pool)
        entry["pools"] += 1
        entry["used_pools"] += count > 0
        entry["blocks"] += count
        entry["bytes"] += count * size
        holders = entry.setdefault("named", collections.Counter())
        in_pool = named.get(pool, {})
        holders.update(in_pool)
        entry["named_blocks"] = sum(holders.values())
        unnamed = entry.setdefault("unnamed_by_size", collections.Counter())
        unnamed[size] += max(0, count - sum(in_pool.values()))
    return {"pid": pid, "arenas": {str(k): v for k, v in arenas.items()}, "dead": dead_holders}


def summary(report: dict[str, Any], baseline: dict[str, Any] | None, top: int = 25) -> str:
    """The arenas of ``report`` that were not there in ``baseline``, and what keeps them."""
    before = {a["base"] for a in baseline["arenas"].values()} if baseline else set()
    arenas = report["arenas"].values()
    new = [a for a in arenas if a["base"] not in before]
    holders: collections.Counter[str] = collections.Counter()
    for arena in new:
        holders.update(arena["named"])
    blocks = sum(a["blocks"] for a in new)
    named = sum(a["named_blocks"] for a in new)
    lines = [
        f"arenas: {len(arenas)} ({len(new)} new), "
        f"{report['mallocstats'].get('arenas allocated current', '?')} per _debugmallocstats; "
        f"live in the new ones: {blocks} blocks, "
        f"{sum(a['bytes'] for a in new) / 1024:.0f} KiB, {named} of them named",
        "per new arena (used pools, live blocks): "
        + ", ".join(
            f"{a['used_pools']}/{a['blocks']}" for a in sorted(new, key=lambda a: a["base"])
        ),
        "what holds the new arenas:",
    ]
    lines += [f"  {count:6}  {what}" for what, count in holders.most_common(top)]
    lines += [f"  dead weakrefs: {where}" for where in report.get("dead", [])[:10]]
    unnamed: collections.Counter[str] = collections.Counter()
    for arena in new:
        unnamed.update(arena["unnamed_by_size"])
    lines.append(
        "unnamed blocks by size: "
        + ", ".join(
            f"{size} B: {n}" for size, n in sorted(unnamed.items(), key=lambda x: int(x[0])) if n
        )
    )
    return "\n".join(lines)


def request(pid: int, directory: Path, timeout_s: float = 120) -> dict[str, Any]:
    """Ask server ``pid`` (started with ``HEARTH_ARENA_PROBE=directory``) for a census."""
    existing = set(directory.glob("census-*.json"))
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        fresh = set(directory.glob("census-*.json")) - existing
        if fresh:
            report: dict[str, Any] = json.loads(max(fresh).read_text())
            return report
        if (directory / "error.txt").exists():
            raise RuntimeError((directory / "error.txt").read_text())
        time.sleep(0.2)
    raise TimeoutError("no census from the server")


def sites(
    report: dict[str, Any], baseline: dict[str, Any], directory: Path, per: int, top: int = 20
) -> str:
    """What the server allocated between two censuses (taken with tracemalloc on), by place,
    per ``per`` (e.g. connections)."""
    old, new = (
        tracemalloc.Snapshot.load(str(directory / f"sites-{r['stamp']}.snap"))
        for r in (baseline, report)
    )
    stats = new.compare_to(old, "traceback")
    total = sum(stat.size_diff for stat in stats)
    lines = [f"allocated since: {total / per:.0f} B each of {per}; by place:"]
    for stat in stats[:top]:
        frames = [f for f in stat.traceback if "/asyncio/" not in f.filename] or list(
            stat.traceback
        )
        place = " < ".join(f"{_short(f.filename)}:{f.lineno}" for f in reversed(frames[-3:]))
        lines.append(
            f"  {stat.size_diff / per:8.0f} B {stat.count_diff / per:6.2f} blocks  {place}"
        )
    return "\n".join(lines)
