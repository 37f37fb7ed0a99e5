"""Two ``hearth serve`` nodes on one PostgreSQL and one Redis behind a real nginx, with the
upstream of deploy/nginx/hearth-nodes.conf: one node is killed with SIGKILL while a member
sends, and the member goes on through the other node with no acknowledged message lost and no
gap in the group's seqs."""

from __future__ import annotations

import asyncio
import re
import signal
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from server.client import HearthClient
from tests.conftest import FACILITATOR, FACILITATOR_PASSWORD, GENEROUS_LIMITS, free_port
from tests.deploy.deploy_support import ProxiedServer, write_self_signed
from tests.deploy.test_deploy_nginx import NGINX, Nginx, wait_for_port, write_nginx_config
from tests.scale.test_redis_scaleout import Redis, redis  # noqa: F401 (the fixture)

REPO = Path(__file__).resolve().parents[2]
NODES = REPO / "deploy" / "nginx" / "hearth-nodes.conf"
MESSAGES = 60


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


def nodes_upstream(site: Path, ports: tuple[int, int]) -> None:
    """Put deploy/nginx/hearth-nodes.conf's upstream block in place of hearth.conf's."""
    block = re.search(r"^upstream hearth \{.*?^\}", NODES.read_text(), re.M | re.S)
    assert block is not None
    upstream = block.group(0)
    for example, port in zip(("127.0.0.1:8000", "127.0.0.1:8001"), ports, strict=True):
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
    nodes: tuple[Node, Node]
    tls: ssl.SSLContext
    pg_url: str


@pytest.fixture
def cluster(tmp_path: Path, pg_url: str, redis: Redis) -> Iterator[Cluster]:  # noqa: F811
    cert, key = write_self_signed(tmp_path)
    nginx = Nginx(tmp_path / "nginx", free_port(), free_port())
    first = Node(
        tmp_path / "one", free_port(), public_origin=nginx.origin, storage_url=pg_url,
        redis_url=redis.url, metrics_port=free_port(),
    )  # fmt: skip
    second = Node(
        tmp_path / "two", free_port(), public_origin=nginx.origin, storage_url=pg_url,
        redis_url=redis.url, key_from=first.directory, metrics_port=free_port(),
    )  # fmt: skip
    first.add_facilitator()
    first.start()
    second.start()
    try:
        config = write_nginx_config(nginx, first.port, cert, key)
        nodes_upstream(nginx.prefix / "hearth.conf", (first.port, second.port))
        command = [NGINX or "nginx", "-e", "stderr", "-p", str(nginx.prefix), "-c", str(config)]
        stderr = nginx.prefix / "logs" / "stderr.txt"
        with stderr.open("wb") as out:
            nginx.process = subprocess.Popen(
                [*command, "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_for_port(nginx.tls_port, nginx.process, stderr)
            tls = ssl.create_default_context(cafile=str(cert))
            yield Cluster(nginx, (first, second), tls, pg_url)
        finally:
            nginx.process.send_signal(signal.SIGQUIT)
            try:
                nginx.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.process.kill()
                nginx.process.wait()
    finally:
        second.stop()
        first.stop()


async def test_a_node_killed_under_load_loses_no_acknowledged_message(cluster: Cluster) -> None:
    origin = cluster.nginx.origin
    made: list[HearthClient] = []

    def client(like: HearthClient | None = None) -> HearthClient:
        made.append(
            HearthClient(
                origin, None if like is None else like.account, origin=origin, ssl=cluster.tls
            )
        )
        if like is not None:
            made[-1].keys = like.keys
        return made[-1]

    try:
        fac = client()
        await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
        await fac.connect()
        group = await fac.create_group("Two nodes", pseudonym="Host Heron")
        before = [node.connections() for node in cluster.nodes]
        ana = client()
        await ana.connect()
        # the node nginx gave ana's websocket to is the one to kill
        after = [node.connections() for node in cluster.nodes]
        victim = next(n for n in (0, 1) if after[n] > before[n])
        await ana.join(await fac.create_invite(group), pseudonym="Quiet Fox")
        await fac.decide(group, ana.member_id(group))
        epoch = await fac.rotate(group)
        await ana.wait_for(lambda: ana.keys[group].current == epoch)

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
                    fresh = client(broken)
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
        cluster.nodes[victim].kill()  # SIGKILL, mid-stream
        await asyncio.gather(*senders)

        assert len(acknowledged) == MESSAGES  # every message acknowledged in the end
        assert len(set(acknowledged.values())) == MESSAGES
        conn = await asyncpg.connect(cluster.pg_url)
        try:
            stored = {
                bytes(r["msg_id"]): int(r["seq"])
                for r in await conn.fetch(
                    "SELECT msg_id, seq FROM messages WHERE group_id = $1", group
                )
            }
        finally:
            await conn.close()
        assert stored == acknowledged  # each once, with the seq its sender was given
        assert sorted(stored.values()) == list(range(1, MESSAGES + 1))  # no gap

        # the facilitator continues through the surviving node and reads everything
        fac2 = client(fac)
        await fac2.login(FACILITATOR, FACILITATOR_PASSWORD)
        await fac2.connect()
        page, _ = await fac2.history(group, limit=MESSAGES)
        assert sorted(m.text or "" for m in page) == sorted(f"message {n}" for n in range(MESSAGES))
        assert failures > 0  # the killed node did carry ana's sends
    finally:
        for made_client in made:
            await made_client.disconnect()
