"""The relay benchmark's load generator (``bench/node/loadgen.js``) as one or more processes.

One process can take only as many deliveries as its core allows: against Node it ran at 91 % of
its core in 20 x 25 (2026-12-04), so Node's figure there measured the generator as much as Node.
A run's job is therefore split across N processes (:func:`split_job`), each pinned to a core of
its own while there are cores beyond the server's, else sharing them (:func:`generator_cores`).
They are held together at barriers (each writes ``ready <step>`` and waits for ``go``, which
:func:`drive` sends once every process is ready), so no phase starts in one process while another
is still connecting. Each reports raw counts that add up; :func:`merge` sums them, takes
percentiles from the merged latency samples (never an average of percentiles), and flags a phase
as generator-bound when a generator core was above :data:`GENERATOR_BOUND_PCT`.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parent / "node"
SERVER_CORE = 0  # relay.py pins every server there
# Above this share of its core a generator is taken to limit what it measures (a busy event
# loop reads its sockets late: deliveries and latencies then describe the generator).
GENERATOR_BOUND_PCT = 85.0
CONNECT_CONCURRENCY = 100  # clients connecting at once, over all the processes
LINE_LIMIT = 256 * 1024 * 1024  # a result line carries every latency sample


def default_generators(cores: int) -> int:
    """As many processes as there are cores beyond the server's, at least one."""
    return max(1, cores - 1)


def generator_cores(count: int, cores: int) -> list[int]:
    """The core each process is pinned to: one each from core 1 on while there are enough,
    else they take turns on the cores beside the server's (on 2 cores, all on core 1)."""
    spare = max(1, cores - 1)
    return [SERVER_CORE + 1 + index % spare for index in range(count)]


def shared_cores(cores: list[int]) -> bool:
    return len(set(cores)) < len(cores)


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` counts that differ by at most one and add up to it."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def room_ids(rooms: int, parts: int, index: int) -> list[int]:
    """Part ``index``'s rooms: every ``parts``-th one, so that every room is in exactly one."""
    return list(range(index, rooms, parts))


def split_job(job: dict[str, Any], parts: int) -> list[dict[str, Any]]:
    """The job as ``parts`` jobs: whole rooms each (a room's members and its latency samples
    stay in one process), the idle clients from ``idle.first`` on, the open-loop rates in
    proportion to the rooms held, and the connect concurrency shared."""
    specs = [*job["saturation"], job["latency"], *([job["limits"]] if "limits" in job else [])]
    fewest = min(spec["rooms"] for spec in specs)
    if not 1 <= parts <= min(fewest, CONNECT_CONCURRENCY, job["idle"]["count"]):
        raise ValueError(
            f"{parts} load generator processes: between 1 and {min(fewest, CONNECT_CONCURRENCY)}"
            f" (the fewest rooms in a topology is {fewest})"
        )
    concurrency = split_evenly(CONNECT_CONCURRENCY, parts)
    idle_counts = split_evenly(job["idle"]["count"], parts)
    result = []
    for index in range(parts):

        def part(spec: dict[str, Any], index: int = index) -> dict[str, Any]:
            ids = room_ids(spec["rooms"], parts, index)
            piece = {**spec, "rooms": len(ids), "room_ids": ids, "concurrency": concurrency[index]}
            if "deliveries_per_s" in spec:
                piece["deliveries_per_s"] = spec["deliveries_per_s"] * len(ids) / spec["rooms"]
            return piece

        piece = {
            **job,
            "generator": {"index": index, "count": parts},
            "idle": {
                "count": idle_counts[index],
                "first": sum(idle_counts[:index]),
                "concurrency": concurrency[index],
            },
            "saturation": [part(spec) for spec in job["saturation"]],
            "latency": part(job["latency"]),
        }
        if "limits" in job:
            piece["limits"] = part(job["limits"])
        if "topologies" in job:  # Hearth: each room's accounts and sealed envelopes
            piece["topologies"] = {
                name: {
                    **topology,
                    "rooms": [
                        topology["rooms"][r] for r in room_ids(len(topology["rooms"]), parts, index)
                    ],
                }
                for name, topology in job["topologies"].items()
            }
        result.append(piece)
    return result


# ---- running the processes together ---------------------------------------------------------


class GeneratorFailed(RuntimeError):
    pass


async def drive(commands: list[list[str]], logs: list[Path], timeout_s: float) -> list[Any]:
    """Run the processes, answer each barrier with ``go`` once all are at it, and return their
    results (``result <JSON>``) in order. Every process is gone when this returns or raises."""
    processes = []
    try:
        for command, log in zip(commands, logs, strict=True):
            with log.open("wb") as stderr:
                processes.append(
                    await asyncio.create_subprocess_exec(
                        *command,
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=stderr,
                        limit=LINE_LIMIT,
                    )
                )
        async with asyncio.timeout(timeout_s):
            while True:
                lines = []
                for index, process in enumerate(processes):
                    assert process.stdout is not None
                    line = (await process.stdout.readline()).decode().rstrip("\n")
                    if not line:
                        await process.wait()
                        raise GeneratorFailed(
                            f"load generator {index} exited ({process.returncode}):\n"
                            + logs[index].read_text()
                        )
                    lines.append(line)
                if all(line.startswith("result ") for line in lines):
                    results = [json.loads(line.removeprefix("result ")) for line in lines]
                    for process in processes:
                        await process.wait()
                    return results
                if len(set(lines)) != 1 or not lines[0].startswith("ready "):
                    raise GeneratorFailed(f"load generators out of step: {lines}")
                for process in processes:
                    assert process.stdin is not None
                    process.stdin.write(b"go\n")
                    await process.stdin.drain()
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()


def run(
    job: dict[str, Any], cores: list[int], workdir: Path, label: str, timeout_s: float = 600
) -> dict[str, Any]:
    """The job split across one process per entry of ``cores`` (each pinned there), merged."""
    paths, commands, logs = [], [], []
    for index, part in enumerate(split_job(job, len(cores))):
        path = workdir / f"job-{label}-{index}.json"
        path.write_text(json.dumps(part))
        paths.append(path)
        script = str(NODE_DIR / "loadgen.js")
        commands.append(["taskset", "-c", str(cores[index]), "node", script, str(path)])
        logs.append(workdir / f"loadgen-{label}-{index}.log")
    try:
        parts = asyncio.run(drive(commands, logs, timeout_s))
    except GeneratorFailed as failed:
        raise RuntimeError(f"load generator failed against {label}: {failed}") from None
    finally:
        for path in paths:
            path.unlink()
    return merge(parts, cores)


# ---- merging the processes' results -----------------------------------------------------------


def percentile(ordered: list[float], q: float) -> float | None:
    """The sample at rank floor(q * n) of ``ordered`` (as the generator always took them)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, math.floor(q * len(ordered)))]


def generator_share(cpu_s: list[float], seconds: list[float], cores: list[int]) -> dict[str, Any]:
    """Each process's CPU as % of a core, their sum, each core's load (processes on one core
    add up), and whether a core was above :data:`GENERATOR_BOUND_PCT`."""
    pcts = [100 * cpu / s if s > 0 else 0.0 for cpu, s in zip(cpu_s, seconds, strict=True)]
    by_core: dict[str, float] = {}
    for core, pct in zip(cores, pcts, strict=True):
        by_core[str(core)] = by_core.get(str(core), 0.0) + pct
    share: dict[str, Any] = {
        "loadgen_cpu_pct": sum(pcts),
        "loadgen_processes_pct": pcts,
        "loadgen_cores_pct": by_core,
        "generator_bound": max(by_core.values()) > GENERATOR_BOUND_PCT,
    }
    if len(cores) > 1:
        share["loadgen_busiest_core_pct"] = max(by_core.values())
    return share


def server_cpu_rates(parts: list[dict[str, Any]]) -> dict[str, float]:
    """CPU-seconds per second of each server process: every generator read the same processes
    over the same aligned window, so their readings are averaged, not added."""
    names = parts[0]["server_cpu_s"].keys()
    return {
        name: statistics.fmean(
            p["server_cpu_s"][name] / p["seconds"] if p["seconds"] > 0 else 0.0 for p in parts
        )
        for name in names
    }


def per_second(parts: list[dict[str, Any]], key: str) -> float:
    """A count's rate over all processes: each one's over its own window, added."""
    return float(sum(p[key] / p["seconds"] for p in parts if p["seconds"] > 0))


def first_error(parts: list[dict[str, Any]]) -> Any:
    return next((p["error"] for p in parts if p["error"]), None)


def merge_idle(parts: list[dict[str, Any]], cores: list[int]) -> dict[str, Any]:
    count = sum(p["count"] for p in parts)
    # the server's RSS, read by every process at the same barriers: the first one's readings
    before, idle = parts[0]["rss_before_kb"], parts[0]["rss_idle_kb"]
    return {
        "count": count,
        "connect_ms": max(p["connect_ms"] for p in parts),  # until the last client was in
        "rss_before_kb": sum(before.values()),
        "rss_idle_kb": sum(idle.values()),
        "kb_per_conn": (sum(idle.values()) - sum(before.values())) / count,
        "processes": {
            name: {"rss_before_kb": before[name], "rss_idle_kb": idle[name]} for name in before
        },
        **generator_share(
            [p["loadgen_cpu_s"] for p in parts], [p["connect_ms"] / 1000 for p in parts], cores
        ),
    }


def merge_saturation(parts: list[dict[str, Any]], cores: list[int]) -> dict[str, Any]:
    deliveries_per_s = per_second(parts, "deliveries")
    server = server_cpu_rates(parts)
    loadgen = sum(p["loadgen_cpu_s"] / p["seconds"] for p in parts if p["seconds"] > 0)

    def per_delivery(cpu_per_s: float) -> float | None:
        return cpu_per_s * 1e6 / deliveries_per_s if deliveries_per_s else None

    return {
        "rooms": sum(p["rooms"] for p in parts),
        "members": parts[0]["members"],
        "seconds": statistics.fmean(p["seconds"] for p in parts),
        "deliveries": sum(p["deliveries"] for p in parts),
        "deliveries_per_s": deliveries_per_s,
        "sent_per_s": per_second(parts, "sent"),
        "server_cpu_pct": 100 * sum(server.values()),
        "server_us_per_delivery": per_delivery(sum(server.values())),
        "loadgen_us_per_delivery": per_delivery(loadgen),
        **generator_share(
            [p["loadgen_cpu_s"] for p in parts], [p["seconds"] for p in parts], cores
        ),
        "pool_exhausted": any(p["pool_exhausted"] for p in parts),
        "error": first_error(parts),
        "processes": {
            name: {"cpu_pct": 100 * rate, "us_per_delivery": per_delivery(rate)}
            for name, rate in server.items()
        },
    }


def merge_open_loop(parts: list[dict[str, Any]], cores: list[int]) -> dict[str, Any]:
    samples = sorted(sample for p in parts for sample in p["samples_ms"])
    deliveries_per_s = per_second(parts, "deliveries")
    server = sum(server_cpu_rates(parts).values())
    loadgen = sum(p["loadgen_cpu_s"] / p["seconds"] for p in parts if p["seconds"] > 0)
    deliveries, frames = sum(p["deliveries"] for p in parts), sum(p["frames"] for p in parts)
    return {
        "deliveries_per_s_target": sum(p["deliveries_per_s_target"] for p in parts),
        "deliveries_per_s": deliveries_per_s,
        "samples": len(samples),
        "p50_ms": percentile(samples, 0.5),
        "p99_ms": percentile(samples, 0.99),
        "max_ms": samples[-1] if samples else None,
        "server_us_per_delivery": server * 1e6 / deliveries_per_s if deliveries_per_s else None,
        "loadgen_us_per_delivery": loadgen * 1e6 / deliveries_per_s if deliveries_per_s else None,
        **generator_share(
            [p["loadgen_cpu_s"] for p in parts], [p["seconds"] for p in parts], cores
        ),
        "deliveries_per_frame": deliveries / frames if frames else None,
        "deliveries_across_processes": sum(p["deliveries_across_processes"] for p in parts),
        "pool_exhausted": any(p["pool_exhausted"] for p in parts),
        "error": first_error(parts),
    }


def merge(parts: list[dict[str, Any]], cores: list[int]) -> dict[str, Any]:
    """One result, in the shape relay.py reads, from the processes' (in the order of ``cores``)."""
    merged: dict[str, Any] = {
        "generators": {"count": len(parts), "cores": cores},
        "idle": merge_idle([p["idle"] for p in parts], cores),
        "saturation": {
            name: merge_saturation([p["saturation"][name] for p in parts], cores)
            for name in parts[0]["saturation"]
        },
        "latency": merge_open_loop([p["latency"] for p in parts], cores),
    }
    if "limits" in parts[0]:
        merged["limits"] = merge_open_loop([p["limits"] for p in parts], cores)
    return merged
