"""The load generator's processes held together (bench/loadgen.py): no process passes a barrier
before every one has reached it, a process that fails or falls out of step ends the run with
its log and leaves no process behind, and two real ``loadgen.js`` processes against a real
relay on a loopback port give one merged result that counts every room and idle client."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import loadgen, relay

# A stand-in generator: says where it is in a file of its own, then follows the barrier protocol.
STEP = """
import json, os, sys, time
name, delay, out, step = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
def note(what):
    with open(out, "a") as f:
        f.write(f"{what} {time.monotonic()} {os.getpid()}\\n")
time.sleep(delay)
if name == "dies":  # before it reaches the barrier
    sys.stderr.write("generator says goodbye\\n")
    sys.exit(3)
note("ready")
print(f"ready {step}", flush=True)
line = sys.stdin.readline()
note("go" if line == "go\\n" else "no-go")
sys.stderr.write("generator says goodbye\\n")
print("result " + json.dumps({"name": name}), flush=True)
"""


def stand_in(tmp_path: Path, name: str, delay: float, step: str = "saturation 20x25") -> list[str]:
    return [sys.executable, "-c", STEP, name, str(delay), str(tmp_path / f"{name}.txt"), step]


def notes(tmp_path: Path, name: str) -> dict[str, tuple[float, int]]:
    lines = (tmp_path / f"{name}.txt").read_text().split()
    return {lines[i]: (float(lines[i + 1]), int(lines[i + 2])) for i in range(0, len(lines), 3)}


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_no_process_passes_the_barrier_before_the_last_has_reached_it(
    tmp_path: Path,
) -> None:
    commands = [stand_in(tmp_path, "early", 0.0), stand_in(tmp_path, "late", 0.6)]
    logs = [tmp_path / "early.log", tmp_path / "late.log"]
    results = await loadgen.drive(commands, logs, timeout_s=30)
    assert results == [{"name": "early"}, {"name": "late"}]
    early, late = notes(tmp_path, "early"), notes(tmp_path, "late")
    assert early["ready"][0] < late["ready"][0]
    assert early["go"][0] >= late["ready"][0]  # the early one waited for the late one
    assert "generator says goodbye" in logs[0].read_text()


async def test_a_process_out_of_step_or_failing_ends_the_run_and_none_is_left(
    tmp_path: Path,
) -> None:
    # "other" reaches another step than "waits": out of step, neither gets "go"
    commands = [stand_in(tmp_path, "waits", 0.0), stand_in(tmp_path, "other", 0.2, "idle")]
    logs = [tmp_path / "waits.log", tmp_path / "other.log"]
    with pytest.raises(loadgen.GeneratorFailed, match="out of step"):
        await loadgen.drive(commands, logs, timeout_s=30)
    assert all(gone(notes(tmp_path, n)["ready"][1]) for n in ("waits", "other"))
    assert "go" not in notes(tmp_path, "waits")

    # "dies" exits before the barrier while "stays" waits at it for "go"
    commands = [stand_in(tmp_path, "stays", 0.0), stand_in(tmp_path, "dies", 0.2)]
    logs = [tmp_path / "stays.log", tmp_path / "dies.log"]
    with pytest.raises(loadgen.GeneratorFailed, match="exited \\(3\\)") as failed:
        await loadgen.drive(commands, logs, timeout_s=30)
    assert "generator says goodbye" in str(failed.value)  # its stderr, for the reader
    assert gone(notes(tmp_path, "stays")["ready"][1])
    assert "go" not in notes(tmp_path, "stays")


async def test_a_process_that_hangs_is_stopped_at_the_timeout_with_the_others(
    tmp_path: Path,
) -> None:
    commands = [stand_in(tmp_path, "waits", 0.0), stand_in(tmp_path, "hangs", 60.0)]
    logs = [tmp_path / "waits.log", tmp_path / "hangs.log"]
    with pytest.raises(TimeoutError):
        await loadgen.drive(commands, logs, timeout_s=3)
    assert gone(notes(tmp_path, "waits")["ready"][1])
    assert not (tmp_path / "hangs.txt").exists()  # killed while it slept


TINY = relay.Plan(
    servers=("tuned",),
    rounds=1,
    topologies=(relay.Topology("5x4", 5, 4),),
    idle_clients=30,
    warmup_s=0.2,
    duration_s=0.5,
    window=1,
    latency_deliveries_per_s=300,
    latency_warmup_s=0.2,
    latency_duration_s=0.6,
)


def against_the_tuned_relay(plan: relay.Plan, generators: int, tmp_path: Path) -> dict[str, Any]:
    """``plan``'s job run by ``generators`` real processes against a real tuned relay."""
    relay.ensure_node_modules()
    server = relay.bare_server("tuned", tmp_path)
    server.start()
    try:
        job = relay.base_job(plan, body_length=50)
        return relay.run_loadgen(server, job, tmp_path, loadgen.generator_cores(generators, 2))
    finally:
        server.stop()


@pytest.mark.slow
def test_two_real_generators_against_a_real_relay_merge_into_one_result(tmp_path: Path) -> None:
    result = against_the_tuned_relay(TINY, 2, tmp_path)
    print(json.dumps(result, indent=1))
    assert result["generators"] == {"count": 2, "cores": [1, 1]}
    assert result["idle"]["count"] == 30
    assert result["idle"]["rss_before_kb"] > 0
    assert result["idle"]["rss_idle_kb"] > 0
    sat = result["saturation"]["5x4"]
    assert sat["rooms"] == 5  # 3 in one process, 2 in the other
    assert sat["deliveries_per_s"] > 0
    assert sat["error"] is None
    assert 0 < sat["server_cpu_pct"] <= 110  # one core, read in clock ticks
    assert len(sat["loadgen_processes_pct"]) == 2
    assert sat["loadgen_cores_pct"].keys() == {"1"}
    for phase in ("latency", "limits"):
        figures = result[phase]
        assert figures["samples"] > 0
        assert figures["error"] is None
        assert figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
        assert "samples_ms" not in figures  # merged into percentiles, not kept
    assert result["latency"]["deliveries_per_s_target"] == pytest.approx(300)
    assert not list(tmp_path.glob("job-*.json"))  # the parts' job files are removed


@pytest.mark.slow
def test_a_result_longer_than_a_pipe_buffer_arrives_whole(tmp_path: Path) -> None:
    """A full run's result line carries every latency sample: far more than the 64 KiB a pipe
    takes at once, which the generator must finish writing before it exits."""
    plan = dataclasses.replace(
        TINY, latency_deliveries_per_s=8000, latency_warmup_s=0.2, latency_duration_s=4.0
    )
    result = against_the_tuned_relay(plan, 1, tmp_path)
    assert result["latency"]["error"] is None
    assert result["latency"]["samples"] > 25_000  # 5-6 bytes each in the line: over 128 KiB
