"""Three ``hearth serve`` nodes on one PostgreSQL and one Redis behind a real nginx, with the
upstream of deploy/nginx/hearth-nodes.conf (and a third server line like its two): members on
different nodes chat; one node is killed with SIGKILL while a member sends, and the member goes
on through another node with no acknowledged message lost and no gap in the group's seqs; a
report made through one node is listed and decided by a facilitator connected to another.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import sqlite3
import ssl
import subprocess
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from crypto.encoding import b64encode
from server.client import HearthClient
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, GENEROUS_LIMITS
from tests.deploy.deploy_support import ProxiedServer, write_self_signed
from tests.deploy.test_deploy_nginx import NGINX, Nginx, wait_for_port, write_nginx_config
from tests.scale.test_redis_scaleout import Redis, redis  # noqa: F401 (the fixture)

REPO = Path(__file__).resolve().parents[2]
NODES = REPO / "deploy" / "nginx" / "hearth-nodes.conf"
MESSAGES = 60
NODE_COUNT = 3


@dataclass
class Node(ProxiedServer):
    """A node behind the proxy, storing in PostgreSQL, linked to the others by Redis."""

    storage_url: str = ""
    redis_url: str = ""
    key_from: Path | None = None
    metrics_port: int = 0

    def connections(self) -> int:
        """Its ``hearth_connections`` gauge: the sockets this node holds now."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        found = re.search(r"^hearth_connections (\d+)", text, re.M)
        assert found is not None
        return int(found.group(1))

    def write_config(self) -> None:
        super().write_config()
        if self.key_from is not None:
            (self.directory / "secret.key").write_text((self.key_from / "secret.key").read_text())
        with self.config_path.open("a") as config:
            config.write(
                f'url = "{self.storage_url}"\n[scale]\nredis_url = "{self.redis_url}"\n'
                f"[metrics]\nenabled = true\nlisten_port = {self.metrics_port}\n" + GENEROUS_LIMITS
            )


def nodes_upstream(site: Path, ports: tuple[int, ...]) -> None:
    """Put deploy/nginx/hearth-nodes.conf's upstream block in place of hearth.conf's, with one
    server line per port (a third and more written like the example's second)."""
    block = re.search(r"^upstream hearth \{.*?^\}", NODES.read_text(), re.M | re.S)
    assert block is not None
    upstream = block.group(0)
    examples = ("127.0.0.1:8000", "127.0.0.1:8001")
    second = next(line for line in upstream.splitlines() if examples[1] in line)
    extra = [second.replace(examples[1], f"127.0.0.1:{port}") for port in ports[2:]]
    upstream = upstream.replace(second, "\n".join([second, *extra]))
    for example, port in zip(examples, ports[:2], strict=True):
        assert upstream.count(example) == 1
        upstream = upstream.replace(example, f"127.0.0.1:{port}")
    text, count = re.subn(
        r"^upstream hearth \{.*?^\}", upstream, site.read_text(), flags=re.M | re.S
    )
    assert count == 1
    site.write_text(text)


@dataclass
class Cluster:
    nginx: Nginx
    nodes: tuple[Node, ...]
    tls: ssl.SSLContext
    pg_url: str
    made: list[HearthClient]

    def client(self, like: HearthClient | None = None) -> HearthClient:
        """A client through nginx (the same account, keys and session as ``like``, if given)."""
        origin = self.nginx.origin
        made = HearthClient(
            origin, None if like is None else like.account, origin=origin, ssl=self.tls
        )
        if like is not None:
            made.keys = like.keys
            made.session_cookie = like.session_cookie
        self.made.append(made)
        return made

    async def connect_on(self, node: int, client: HearthClient) -> HearthClient:
        """Connect ``client`` through nginx until nginx gives its websocket to ``node``."""
        for _ in range(20):
            before = [n.connections() for n in self.nodes]
            await client.connect()
            after = [n.connections() for n in self.nodes]
            if after[node] > before[node] and all(
                a <= b for i, (a, b) in enumerate(zip(after, before, strict=True)) if i != node
            ):
                return client
            await client.disconnect()
            client = self.client(client)  # a fresh socket.io client, the same account
            await asyncio.sleep(0.05)
        raise AssertionError(f"nginx never gave a connection to node {node}")


def distinct_ports(count: int) -> list[int]:
    """``count`` free loopback ports, all different (each probe stays bound until all are)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


@pytest.fixture
def nodes_behind_nginx(
    tmp_path: Path,
    pg_url: str,
    redis: Redis,  # noqa: F811
) -> Iterator[Cluster]:
    cert, key = write_self_signed(tmp_path)
    # every port at once, so that no two of the nine are the same
    ports = iter(distinct_ports(2 + 2 * NODE_COUNT))
    nginx = Nginx(tmp_path / "nginx", next(ports), next(ports))
    first = Node(
        tmp_path / "node0", next(ports), public_origin=nginx.origin, storage_url=pg_url,
        redis_url=redis.url, metrics_port=next(ports),
    )  # fmt: skip
    nodes = [first]
    for n in range(1, NODE_COUNT):
        nodes.append(
            Node(
                tmp_path / f"node{n}",
                next(ports),
                public_origin=nginx.origin,
                storage_url=pg_url,
                redis_url=redis.url,
                key_from=first.directory,
                metrics_port=next(ports),
            )
        )
    first.add_facilitator()
    started: list[Node] = []
    try:
        for node in nodes:
            node.start()
            started.append(node)
        config = write_nginx_config(nginx, first.port, cert, key)
        nodes_upstream(nginx.prefix / "hearth.conf", tuple(node.port for node in nodes))
        command = [NGINX or "nginx", "-e", "stderr", "-p", str(nginx.prefix), "-c", str(config)]
        stderr = nginx.prefix / "logs" / "stderr.txt"
        with stderr.open("wb") as out:
            nginx.process = subprocess.Popen(
                [*command, "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_for_port(nginx.tls_port, nginx.process, stderr)
            tls = ssl.create_default_context(cafile=str(cert))
            yield Cluster(nginx, tuple(nodes), tls, pg_url, [])
        finally:
            nginx.process.send_signal(signal.SIGQUIT)
            try:
                nginx.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.process.kill()
                nginx.process.wait()
    finally:
        for node in reversed(started):
            node.stop()


@pytest.fixture
async def cluster(nodes_behind_nginx: Cluster) -> AsyncIterator[Cluster]:
    """The nodes, and every client a test made through them disconnected at the end."""
    try:
        yield nodes_behind_nginx
    finally:
        for client in nodes_behind_nginx.made:
            await client.disconnect()


async def keyed_group(
    cluster: Cluster, fac: HearthClient, members: list[tuple[int, str]]
) -> tuple[bytes, list[HearthClient]]:
    """A group of ``fac``'s with one approved member per (node, pseudonym), all keyed in."""
    group = await fac.create_group("Three nodes", pseudonym="Host Heron")
    joined = []
    for node, pseudonym in members:
        member = await cluster.connect_on(node, cluster.client())
        await member.join(await fac.create_invite(group), pseudonym=pseudonym)
        await fac.decide(group, member.member_id(group))
        joined.append(member)
    epoch = await fac.rotate(group)
    for member in joined:
        await member.wait_for(lambda m=member: m.keys[group].current == epoch)  # type: ignore[misc]
    return group, joined


async def test_a_node_killed_under_load_loses_no_acknowledged_message(cluster: Cluster) -> None:
    # the facilitator on node 1, ana on node 0 (the one to kill), ben on node 2
    fac = cluster.client()
    await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
    fac = await cluster.connect_on(1, fac)
    group, (ana, ben) = await keyed_group(cluster, fac, [(0, "Quiet Fox"), (2, "Calm River")])

    # members on different nodes chat: each line crosses nodes through Redis
    await ana.send(group, "hello from node 0")
    await ben.wait_for(lambda: "hello from node 0" in ben.texts(group))
    await ben.send(group, "hello from node 2")
    await ana.wait_for(lambda: "hello from node 2" in ana.texts(group))
    await fac.wait_for(lambda: "hello from node 2" in fac.texts(group))
    chatted = 2

    current = [ana]
    reconnecting = asyncio.Lock()
    acknowledged: dict[bytes, int] = {}
    failures = 0
    a_third_acknowledged = asyncio.Event()

    async def reconnect(broken: HearthClient) -> None:
        async with reconnecting:
            if current[0] is not broken:
                return  # another sender has reconnected already
            while True:
                fresh = cluster.client(broken)
                try:
                    await fresh.connect()  # through nginx, to a node that answers
                except Exception:
                    await asyncio.sleep(0.2)
                    continue
                current[0] = fresh
                return

    async def sender(first: int) -> None:
        nonlocal failures
        for n in range(first, MESSAGES, 4):
            msg_id = n.to_bytes(16, "big")
            while True:
                using = current[0]
                try:
                    reply = await asyncio.wait_for(
                        using.send(group, f"message {n}", msg_id=msg_id), 10
                    )
                except Exception:
                    failures += 1
                    await reconnect(using)
                    continue  # the same msg_id again: a resend is idempotent
                acknowledged[msg_id] = int(reply["seq"])
                if len(acknowledged) >= MESSAGES // 3:
                    a_third_acknowledged.set()
                break

    senders = [asyncio.create_task(sender(k)) for k in range(4)]
    await a_third_acknowledged.wait()
    cluster.nodes[0].kill()  # SIGKILL, mid-stream
    await asyncio.gather(*senders)

    assert len(acknowledged) == MESSAGES  # every message acknowledged in the end
    assert len(set(acknowledged.values())) == MESSAGES
    conn = await asyncpg.connect(cluster.pg_url)
    try:
        stored = {
            bytes(r["msg_id"]): int(r["seq"])
            for r in await conn.fetch(
                "SELECT msg_id, seq FROM messages WHERE group_id = $1 AND seq > $2",
                group,
                chatted,
            )
        }
    finally:
        await conn.close()
    assert stored == acknowledged  # each once, with the seq its sender was given
    assert sorted(stored.values()) == list(range(chatted + 1, chatted + MESSAGES + 1))  # no gap
    assert failures > 0  # the killed node did carry ana's sends

    # ben, on a node that lived, goes on receiving live across nodes (the last message was
    # stored after the kill, through another node), and catches up from history with no gap (a
    # message the killed node stored but never broadcast reaches him there)
    sent = [f"message {n}" for n in range(MESSAGES)]
    last = max(acknowledged.values())
    await ben.wait_for(lambda: last in ben.inbox.get(group, {}))
    page, _ = await ben.history(group, limit=chatted + MESSAGES)
    assert sorted(m.seq for m in page) == list(range(1, chatted + MESSAGES + 1))
    assert sorted(m.text or "" for m in page if m.seq > chatted) == sorted(sent)

    # the facilitator logs in again through a surviving node and reads everything
    fac2 = cluster.client(fac)
    await fac2.login(FACILITATOR, FACILITATOR_PASSWORD)
    await fac2.connect()
    page, _ = await fac2.history(group, limit=MESSAGES)
    assert sorted(m.text or "" for m in page) == sorted(sent)


async def test_a_report_made_on_one_node_is_decided_on_another(cluster: Cluster) -> None:
    fac = cluster.client()
    await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
    fac = await cluster.connect_on(1, fac)
    group, (ana, ben) = await keyed_group(cluster, fac, [(0, "Quiet Fox"), (2, "Calm River")])
    await ben.send(group, "nobody here cares about you")
    await ana.wait_for(lambda: "nobody here cares about you" in ana.texts(group))
    seq = next(s for s, m in ana.inbox[group].items() if m.text == "nobody here cares about you")

    report_id = (await ana.report(group, seq, "unkind"))["report_id"]  # through node 0

    # the facilitator, on node 1, is told and finds it in the queue
    await fac.wait_for(lambda: any(e == "report.new" for e, _ in fac.events))
    listed = await fac.call("moderation.list", {"group_id": b64encode(group), "state": "open"})
    assert [r["report_id"] for r in listed["reports"]] == [report_id]
    decided = await fac.call("moderation.act", {"report_id": report_id, "action": "dismiss"})
    assert decided["report"]["state"] == "resolved"

    # decided once for every node: the facilitator on node 2 sees it resolved
    again = await cluster.connect_on(2, cluster.client(fac))
    assert (await again.call("moderation.list", {"state": "open"}))["reports"] == []
    got = await again.call("moderation.get", {"report_id": report_id})
    assert got["report"]["state"] == "resolved"
    conn = await asyncpg.connect(cluster.pg_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM moderation_reports") == 1
    finally:
        await conn.close()
    # and none of the nodes kept a report in its own SQLite file
    for node in cluster.nodes:
        with contextlib.closing(sqlite3.connect(node.directory / "hearth.sqlite3")) as lite:
            tables = {r[0] for r in lite.execute("SELECT name FROM sqlite_master")}
        assert "moderation_reports" not in tables
