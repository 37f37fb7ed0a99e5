"""Metrics: off by default; when on, a real ``hearth serve`` shows on its own loopback port what
real Socket.IO traffic did (messages, refusals by code, commit latency, connections, queues, the
process), in a strictly valid Prometheus text exposition, and nothing that identifies a person,
account, member, pseudonym, group, address or message."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto.encoding import b64decode, b64encode
from server.client import HearthClient, HearthRefused
from server.errors import Code
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, REPO, RunningServer, free_port
from tests.faults.redis_support import REDIS_PASSWORD, RestartableRedis, needs_redis
from tests.server.prometheus_text import Family, parse

# Few messages per account, so that a burst meets rate_limited; the rest generous.
LIMITS = (
    "[limits]\nmessages_per_second = 0.01\nmessage_burst = 5\n"
    "joins_per_minute = 1000\nreports_per_hour = 1000\n"
)
BUCKETS = 13  # server/metrics.py COMMIT_BUCKETS and +Inf


def metrics_config(port: int, extra: str = "") -> str:
    return LIMITS + extra + f"[metrics]\nenabled = true\nlisten_port = {port}\n"


def scrape(port: int) -> tuple[str, dict[str, Family]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = response.read().decode("utf-8")
    return text, parse(text)


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def listening_ports(pid: int) -> set[int]:
    """TCP ports the process listens on: its socket inodes matched against /proc/net/tcp{,6}."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed between listing and reading: not a listener
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture
def metered(tmp_path: Path) -> Iterator[tuple[RunningServer, int]]:
    port = free_port()
    server = RunningServer(tmp_path / "hearth", free_port(), metrics_config(port))
    server.add_facilitator()
    server.start()
    try:
        yield server, port
    finally:
        server.stop()


async def test_metrics_show_real_traffic_and_name_nobody(
    metered: tuple[RunningServer, int],
) -> None:
    server, port = metered
    _, before = scrape(port)
    assert before["hearth_messages_accepted_total"].value() == 0
    assert before["hearth_connections"].value() == 0
    assert before["hearth_refusals_total"].value(code="rate_limited") == 0

    fac, ana = HearthClient(server.url), HearthClient(server.url)
    try:
        await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
        await fac.connect()
        group = await fac.create_group("Evening circle", pseudonym="Host Heron")
        await ana.connect()
        await ana.join(await fac.create_invite(group), pseudonym="Quiet Fox")
        await fac.decide(group, ana.member_id(group))
        epoch = await fac.rotate(group)
        await ana.wait_for(lambda: ana.keys[group].current == epoch)

        msg_ids = [os.urandom(16) for _ in range(7)]
        acks = [await fac.send(group, f"hello {i}", msg_id=msg_ids[i]) for i in range(5)]
        acks += [await ana.send(group, f"hi {i}", msg_id=msg_ids[5 + i]) for i in range(2)]
        with pytest.raises(HearthRefused) as refused:  # the burst of 5 is used up
            await fac.send(group, "one too many")
        assert refused.value.code == "rate_limited"
        with pytest.raises(HearthRefused) as refused:
            await fac.call("msg.send", {"group_id": 5})
        assert refused.value.code == "bad_request"
        await ana.wait_for(lambda: len(ana.inbox.get(group, {})) >= 7)

        text, after = scrape(port)
        assert after["hearth_messages_accepted_total"].value() == 7
        refusals = after["hearth_refusals_total"]
        assert refusals.kind == "counter"
        assert refusals.value(code="rate_limited") == 1
        assert refusals.value(code="bad_request") == 1
        assert {labels for _, labels in refusals.samples} == {
            (("code", code.value),) for code in Code
        }
        assert after["hearth_connections"].value() == 2
        commits = after["hearth_db_commit_seconds"]
        assert commits.kind == "histogram"
        assert len([s for s, _ in commits.samples if s.endswith("_bucket")]) == BUCKETS
        assert commits.value("hearth_db_commit_seconds_count") >= 7  # a batch per message at most
        assert commits.value("hearth_db_commit_seconds_sum") > 0
        assert after["hearth_db_retries_total"].kind == "counter"
        assert after["hearth_db_retries_total"].value() == 0  # SQLite's writers wait, never fail
        for gauge in ("hearth_db_write_queue", "hearth_outgoing_backlog"):
            assert after[gauge].kind == "gauge"
            assert after[gauge].value() >= 0
        assert "hearth_redis_link_up" not in after  # no [scale] redis_url
        assert server.process is not None
        pid = server.process.pid
        assert after["process_resident_memory_bytes"].value() > 10_000_000
        assert abs(after["process_open_fds"].value() - len(os.listdir(f"/proc/{pid}/fd"))) <= 3
        assert after["process_cpu_seconds_total"].value() > 0

        # The privacy rule: only the fixed labels, and no identifier of anyone or anything.
        label_names = {
            name for family in after.values() for _, labels in family.samples for name, _ in labels
        }
        assert label_names <= {"code", "le"}
        secrets = [
            group,
            fac.account.public,
            ana.account.public,
            fac.member_id(group),
            ana.member_id(group),
            *msg_ids,
            *(b64decode(ack["rtag"]) for ack in acks),
        ]
        forms = ["Host Heron", "Quiet Fox", "Evening circle", FACILITATOR, "127.0.0.1"]
        for raw in secrets:
            standard = base64.b64encode(raw).decode()  # the protocol's is b64encode: url-safe
            forms += [raw.hex(), b64encode(raw), standard, standard.rstrip("=")]
        lowered = text.lower()
        for form in forms:
            assert form.lower() not in lowered, form

        await ana.disconnect()
        for _ in range(100):
            if scrape(port)[1]["hearth_connections"].value() == 1:
                break
            await asyncio.sleep(0.05)
        assert scrape(port)[1]["hearth_connections"].value() == 1
    finally:
        await ana.disconnect()
        await fac.disconnect()
    assert status_of(server.url + "/metrics") == 404  # not on the public port


@linux_only
def test_metrics_are_off_by_default(hearth_server: RunningServer) -> None:
    assert status_of(hearth_server.url + "/metrics") == 404
    assert hearth_server.process is not None
    assert listening_ports(hearth_server.process.pid) == {hearth_server.port}


@linux_only
def test_metrics_listen_on_their_own_loopback_port(metered: tuple[RunningServer, int]) -> None:
    server, port = metered
    assert server.process is not None
    assert listening_ports(server.process.pid) == {server.port, port}
    assert status_of(f"http://127.0.0.1:{port}/") == 404  # /metrics only


@linux_only
def test_serve_metrics_port_moves_the_metrics(tmp_path: Path) -> None:
    """Several processes on one config file: `--port P --metrics-port M` each (deployment.md)."""
    configured, moved = free_port(), free_port()
    server = RunningServer(tmp_path / "hearth", free_port(), metrics_config(configured))
    server.write_config()
    command = [sys.executable, "-m", "server.cli", "serve", "--config", str(server.config_path)]
    with server.log_path.open("ab") as log:
        server.process = subprocess.Popen(
            [*command, "--metrics-port", str(moved)], stdout=log, stderr=subprocess.STDOUT, cwd=REPO
        )
    try:
        deadline = time.monotonic() + 30
        while status_of_or_none(server.url + "/healthz") != 200:
            assert server.process.poll() is None, server.log_text()
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.05)
        assert listening_ports(server.process.pid) == {server.port, moved}
        assert "hearth_connections" in scrape(moved)[1]
    finally:
        server.stop()


def status_of_or_none(url: str) -> int | None:
    try:
        return status_of(url)
    except OSError:
        return None


def test_a_metrics_port_in_use_stops_the_start(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = RunningServer(tmp_path / "hearth", free_port(), metrics_config(port))
        with pytest.raises(RuntimeError, match=f"metrics cannot listen on 127.0.0.1 port {port}"):
            server.start()
        server.stop()


@needs_redis
async def test_metrics_show_the_redis_link(tmp_path: Path) -> None:
    redis = RestartableRedis(tmp_path / "redis")
    redis.directory.mkdir()
    redis.start()
    port = free_port()
    scale = f'[scale]\nredis_url = "{redis.url}"\n'
    server = RunningServer(tmp_path / "hearth", free_port(), metrics_config(port, scale))
    try:
        server.start()
        await redis.wait_for_subscribers(1, within=10)

        async def link_up_becomes(value: int) -> str:
            for _ in range(100):
                text, families = scrape(port)
                if families["hearth_redis_link_up"].value() == value:
                    return text
                await asyncio.sleep(0.1)
            raise AssertionError(f"hearth_redis_link_up never became {value}")

        text = await link_up_becomes(1)
        assert REDIS_PASSWORD not in text
        redis.kill()
        await link_up_becomes(0)
        redis.start()
        await link_up_becomes(1)
    finally:
        server.stop()
        redis.stop()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a 1\n", "before HELP/TYPE"),
        ("# HELP a x\n# TYPE a gauge\nb 1\n", "not of family"),
        ('# HELP a x\n# TYPE a gauge\na{x="1} 1\n', "bad label"),
        ("# HELP a x\n# TYPE a gauge\na 1\na 2\n", "duplicate"),
        ("# HELP a x\n# TYPE a gauge\na inf\n", "bad value"),
        (
            '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\n'
            "h_sum 1\nh_count 1\n",
            "cumulative",
        ),
        ('# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n', "+Inf"),
        ("# HELP a x\n# TYPE a gauge\na 1", "line feed"),
    ],
)
def test_the_exposition_reader_is_strict(text: str, problem: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(problem)):
        parse(text)
