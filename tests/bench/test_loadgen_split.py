"""The relay benchmark's load generator as several processes (bench/loadgen.py): a job split
into parts holds every room and client exactly once with its counts and rates preserved, and
the parts' results merge into sums and percentiles of the merged samples, with the generator's
share per core flagged in the table when it was at its limit."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from bench import loadgen, relay


def plain_job(idle: int = 500) -> dict[str, Any]:
    job = relay.base_job(relay.FULL, body_length=10)
    job["idle"]["count"] = idle
    return job


def hearth_job() -> dict[str, Any]:
    """A Hearth job's shape: per topology, rooms of members each with its own pool."""
    job = plain_job()
    job["kind"] = "hearth"
    job["topologies"] = {
        t.name: {
            "rooms": [
                {
                    "group_id": f"{t.name}-g{r}",
                    "members": [
                        {"pk": f"{t.name}-{r}-{m}", "pool": [[f"id-{t.name}-{r}-{m}", "env"]]}
                        for m in range(t.members)
                    ],
                }
                for r in range(t.rooms)
            ]
        }
        for t in relay.FULL.topologies
    }
    return job


@pytest.mark.parametrize("parts", [1, 2, 3, 7, 20])
def test_every_room_and_idle_client_is_in_exactly_one_part(parts: int) -> None:
    job = plain_job(idle=5003)
    split = loadgen.split_job(job, parts)
    assert [p["generator"] for p in split] == [{"index": i, "count": parts} for i in range(parts)]
    for which in ("saturation", "latency", "limits"):
        specs = job[which] if which == "saturation" else [job[which]]
        for n, spec in enumerate(specs):
            pieces = [p[which][n] if which == "saturation" else p[which] for p in split]
            rooms = sorted(r for piece in pieces for r in piece["room_ids"])
            assert rooms == list(range(spec["rooms"]))
            assert sum(piece["rooms"] for piece in pieces) == spec["rooms"]
            assert all(piece["members"] == spec["members"] for piece in pieces)
            # every part connects, and together they connect 100 at a time as one process did
            assert sum(piece["concurrency"] for piece in pieces) == loadgen.CONNECT_CONCURRENCY
            if "deliveries_per_s" in spec:  # the offered rate, shared by rooms held
                assert sum(p["deliveries_per_s"] for p in pieces) == pytest.approx(
                    spec["deliveries_per_s"]
                )
                for piece in pieces:
                    per_room = piece["deliveries_per_s"] / piece["rooms"]
                    assert per_room == pytest.approx(spec["deliveries_per_s"] / spec["rooms"])
    idle = [p["idle"] for p in split]
    clients = [i for part in idle for i in range(part["first"], part["first"] + part["count"])]
    assert sorted(clients) == list(range(5003))
    assert max(p["count"] for p in idle) - min(p["count"] for p in idle) <= 1
    assert sum(p["concurrency"] for p in idle) == loadgen.CONNECT_CONCURRENCY


def test_a_hearth_job_hands_each_members_envelopes_to_one_part_only() -> None:
    job = hearth_job()
    split = loadgen.split_job(job, 3)
    for t in relay.FULL.topologies:
        held = [
            m["pk"]
            for p in split
            for room in p["topologies"][t.name]["rooms"]
            for m in room["members"]
        ]
        assert sorted(held) == sorted(
            f"{t.name}-{r}-{m}" for r in range(t.rooms) for m in range(t.members)
        )
        for p in split:  # a part's rooms are the ones its specs name, in the same order
            spec = next(s for s in p["saturation"] if s["name"] == t.name)
            groups = [room["group_id"] for room in p["topologies"][t.name]["rooms"]]
            assert groups == [f"{t.name}-g{r}" for r in spec["room_ids"]]
    assert job["topologies"]["20x25"]["rooms"][0]["members"][0]["pool"]  # the job is untouched
    assert len(job["topologies"]["20x25"]["rooms"]) == 20


@pytest.mark.parametrize("parts", [0, -1, 21, 101])
def test_more_parts_than_rooms_or_fewer_than_one_is_refused(parts: int) -> None:
    with pytest.raises(ValueError, match="load generator processes"):
        loadgen.split_job(plain_job(), parts)  # 20 rooms in 20 x 25


def test_processes_get_their_own_cores_while_there_are_enough() -> None:
    assert loadgen.default_generators(2) == 1
    assert loadgen.default_generators(8) == 7
    assert loadgen.default_generators(1) == 1
    assert loadgen.generator_cores(1, 2) == [1]
    assert loadgen.generator_cores(2, 2) == [1, 1]  # this machine: both beside the server
    assert loadgen.generator_cores(3, 4) == [1, 2, 3]
    assert loadgen.generator_cores(4, 3) == [1, 2, 1, 2]
    assert loadgen.shared_cores([1, 1])
    assert not loadgen.shared_cores([1, 2])
    assert "share" in relay.generators_line([1, 1])
    assert "share" not in relay.generators_line([1, 2])


# ---- merging ------------------------------------------------------------------------------


def open_loop(
    samples: list[float], deliveries: int, frames: int, cpu: float = 0.1
) -> dict[str, Any]:
    return {
        "deliveries_per_s_target": 1500,
        "seconds": 2.0,
        "deliveries": deliveries,
        "samples_ms": samples,
        "server_cpu_s": {"hearth": 0.4},
        "loadgen_cpu_s": cpu,
        "frames": frames,
        "deliveries_across_processes": 3,
        "pool_exhausted": False,
        "error": None,
    }


def saturation(deliveries: int, server_cpu: float, loadgen_cpu: float) -> dict[str, Any]:
    return {
        "rooms": 10,
        "members": 25,
        "seconds": 2.0,
        "deliveries": deliveries,
        "sent": deliveries // 24,
        "server_cpu_s": {"hearth": server_cpu},
        "loadgen_cpu_s": loadgen_cpu,
        "pool_exhausted": False,
        "error": None,
    }


def part(
    deliveries: int,
    server_cpu: float,
    loadgen_cpu: float,
    samples: list[float],
    *,
    rss: tuple[int, int] = (1000, 2000),
    connect_ms: float = 100.0,
    error: str | None = None,
) -> dict[str, Any]:
    sat = saturation(deliveries, server_cpu, loadgen_cpu)
    sat["error"] = error
    return {
        "idle": {
            "count": 250,
            "connect_ms": connect_ms,
            "loadgen_cpu_s": 0.01,
            "rss_before_kb": {"hearth": rss[0]},
            "rss_idle_kb": {"hearth": rss[1]},
        },
        "saturation": {"20x25": sat},
        "latency": open_loop(samples, deliveries=len(samples), frames=len(samples)),
        "limits": open_loop(samples, deliveries=len(samples), frames=len(samples) // 2),
    }


def test_latency_percentiles_come_from_the_merged_samples_not_averaged() -> None:
    quick = part(1000, 1.0, 0.5, [1.0] * 300)
    slow = part(1000, 1.0, 0.5, [10.0] * 100)
    merged = loadgen.merge([quick, slow], [1, 1])["latency"]
    assert merged["samples"] == 400
    # 3 of 4 deliveries took 1 ms: the median is 1 ms, the 99th percentile 10 ms; averaging
    # each process's percentiles would have said 5.5 ms for both
    assert merged["p50_ms"] == 1.0
    assert merged["p99_ms"] == 10.0
    assert merged["max_ms"] == 10.0
    alone = loadgen.merge([slow], [1])["latency"]
    assert (alone["p50_ms"], alone["samples"]) == (10.0, 100)
    assert loadgen.percentile([], 0.5) is None
    assert loadgen.percentile([float(n) for n in range(1000)], 0.99) == 990.0


def test_counts_add_up_and_the_server_cpu_is_the_same_window_averaged() -> None:
    merged = loadgen.merge(
        [part(1000, 1.0, 0.9, [1.0] * 10), part(3000, 1.1, 1.0, [2.0] * 30, connect_ms=250.0)],
        [1, 2],
    )
    sat = merged["saturation"]["20x25"]
    assert sat["deliveries"] == 4000
    assert sat["deliveries_per_s"] == pytest.approx(2000.0)  # 500 + 1500 over 2 s windows
    assert sat["rooms"] == 20
    # both read the one server over the same window: 1.05 CPU-s in 2 s, not 2.1
    assert sat["server_cpu_pct"] == pytest.approx(52.5)
    assert sat["server_us_per_delivery"] == pytest.approx(0.525e6 / 2000)
    assert sat["processes"]["hearth"]["cpu_pct"] == pytest.approx(52.5)
    # the generator's CPU is each process's, and their sum
    assert sat["loadgen_processes_pct"] == pytest.approx([45.0, 50.0])
    assert sat["loadgen_cpu_pct"] == pytest.approx(95.0)
    assert sat["loadgen_cores_pct"] == pytest.approx({"1": 45.0, "2": 50.0})
    assert sat["loadgen_busiest_core_pct"] == pytest.approx(50.0)
    assert sat["loadgen_us_per_delivery"] == pytest.approx(0.95e6 / 2000)
    assert not sat["generator_bound"]

    lat = merged["latency"]
    assert lat["deliveries_per_s"] == pytest.approx(20.0)
    assert lat["deliveries_per_s_target"] == 3000
    assert lat["deliveries_across_processes"] == 6
    assert lat["server_us_per_delivery"] == pytest.approx(0.2e6 / 20)
    assert merged["limits"]["deliveries_per_frame"] == pytest.approx(40 / 20)

    idle = merged["idle"]
    assert idle["count"] == 500
    assert idle["connect_ms"] == 250.0  # until the last process had all its clients in
    assert idle["kb_per_conn"] == pytest.approx(1000 / 500)
    assert merged["generators"] == {"count": 2, "cores": [1, 2]}


def test_a_core_shared_by_two_processes_adds_their_loads() -> None:
    parts = [part(1000, 1.0, 0.9, [1.0]), part(1000, 1.0, 0.9, [1.0])]
    shared = loadgen.merge(parts, [1, 1])["saturation"]["20x25"]
    assert shared["loadgen_cores_pct"] == pytest.approx({"1": 90.0})
    assert shared["generator_bound"]  # 45 % each, 90 % of the one core they share
    apart = loadgen.merge(parts, [1, 2])["saturation"]["20x25"]
    assert not apart["generator_bound"]
    one = loadgen.merge([part(1000, 1.0, 1.8, [1.0])], [1])["saturation"]["20x25"]
    assert one["generator_bound"]
    assert "loadgen_busiest_core_pct" not in one


def test_an_error_or_a_used_up_pool_in_any_process_shows() -> None:
    merged = loadgen.merge(
        [part(10, 1.0, 0.1, [1.0]), part(10, 1.0, 0.1, [1.0], error='[{"error":"x"}]')], [1, 1]
    )
    assert merged["saturation"]["20x25"]["error"] == '[{"error":"x"}]'


def run_data(bound_kinds: set[str]) -> dict[str, Any]:
    """Two rounds of the quick plan's servers, ``bound_kinds`` at the generator's limit in the
    second round's saturation."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for kind, round_index in itertools.product(relay.QUICK.servers, range(2)):
        cpu = 1.8 if kind in bound_kinds and round_index == 1 else 0.5
        runs.setdefault(kind, []).append(loadgen.merge([part(4000, 2.0, cpu, [1.0, 2.0])], [1]))
    return {
        "machine": {"cpu": "test", "cores": 2},
        "generators": {"count": 1, "cores": [1]},
        "runs": runs,
        "summary": relay.summarise(relay.QUICK, runs),
    }


def test_the_table_flags_figures_taken_while_a_generator_was_at_its_limit() -> None:
    data = run_data({"node"})
    assert data["summary"]["generator_bound"]["rate_20x25"] == ["node"]
    assert "p50" not in data["summary"]["generator_bound"]  # the open loop was not bound
    table = relay.render(relay.QUICK, data).splitlines()
    rate = next(line for line in table if line.startswith("delivered msg/s 20x25"))
    cells = [rate[34 + 26 * i : 34 + 26 * (i + 1)] for i in range(4)]  # hearth ... node
    assert [cell.endswith("*") for cell in cells] == [False, False, False, True]
    assert any(line.startswith("* generator-bound") for line in table)
    assert table[-1] == "Every server on core 0, the load generator on core 1."

    clean = relay.render(relay.QUICK, run_data(set())).splitlines()
    assert not any("*" in line for line in clean)
