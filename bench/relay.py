"""Relay benchmark: Hearth against a bare python-socketio (defaults, tuned, tuned with Hearth's
coalescing and frame-once fan-out) and Node socket.io.

Each server runs alone on core 0; the lean Node load generator (``bench/node/loadgen.js``) runs
beside it as N processes (``generators``: by default one per remaining core), each pinned to a
core of its own from core 1 on, or sharing them when there are fewer (bench/loadgen.py splits
the job, holds the processes together at barriers and merges their results). It reports its
own CPU; a figure taken while a generator's core was above 85 % is flagged in the table. A
round runs every server once, in a rotating order, each freshly started; figures are the
median and range over the rounds. Per server and round:

* idle: connect N clients (100 at a time; Hearth's fetch a challenge and sign it), time it, and
  read the server's RSS before and 1.5 s after (kB per idle connection);
* saturation: rooms x members all connected, every member keeps ``window`` messages in flight
  (a new one on each ack); delivered messages/s over the measured window, server CPU from
  ``/proc/<pid>/stat`` per delivery;
* latency: a fixed open-loop load in the 20 x 25 topology (messages go out on a schedule, not
  on acks), send-to-delivery p50/p99, server CPU per delivery and deliveries per frame;
* limits: the same at the rate the shipped per-account limit allows every member at once.

Hearth is served as shipped by ``hearth serve`` (validation, SQLite with ack after commit,
franking, signed envelopes), with the per-account rate limits and the epoch's message cap raised
so they do not stop a load test. Its members are set up through :class:`HearthClient`; their
envelopes are sealed before each run, never reused.

hearth-2proc is Hearth scaled out (``[scale] redis_url``): two ``hearth serve`` processes on the
one SQLite database and a real ``redis-server``, room broadcasts carried by python-socketio's
AsyncRedisManager. The members of every room alternate between the two processes, as do the
idle clients, so every broadcast crosses Redis. All three processes share core 0, the CPU
budget of the one-process rows: the row shows what the Redis hop costs, not what a second core
buys. Server CPU and RSS are summed over the three; Redis's share is shown on its own too.
Without ``redis-server`` on PATH the row is skipped. It is in the full plan only: on this
2-core machine, busy, it added ~25 s to a quick run (144 s in all against 120 s), which must
stay under two minutes; ``--quick --servers ...,hearth-2proc`` still runs it.

hearth-pg and hearth-pg-2node store in PostgreSQL (``[storage] url``): a throwaway cluster
(Debian's postgresql, fsync on, tests/pg_cluster.py) into which the populated SQLite database is
moved by ``hearth migrate-to`` before the first round, so every row serves the same groups and
members. hearth-pg is one node; hearth-pg-2node is two nodes and redis-server (members alternate
between them, as in hearth-2proc), the three on core 0. PostgreSQL itself is not pinned and its
CPU is not in the server columns: each run reports it apart (its processes' CPU-seconds over
the run, and the messages it stored, read from ``messages``). Full plan only, like
hearth-2proc; skipped without PostgreSQL's binaries.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import loadgen
from crypto.encoding import b64encode
from server.client import HearthClient
from server.config import LimitsConfig

REPO = Path(__file__).resolve().parents[1]
NODE_DIR = REPO / "bench" / "node"
RESULTS = REPO / "bench" / "results"
# hearth-1by1: the same Hearth with coalescing off ([server] coalesce_max = 1: one msg frame per
# message and recipient), to show what coalescing does.
# hearth-pymalloc: the same Hearth on CPython's own allocator ([server] allocator = "python"),
# to show what jemalloc (server/allocator.py) costs or saves per delivery and per connection.
# tuned+coalescing: the tuned relay with Hearth's coalescing and frame-once fan-out
# (bench/bare_server.py), so that what separates it from Hearth is Hearth's real work.
SERVERS = (
    *("hearth", "hearth-1by1", "hearth-pymalloc", "hearth-2proc", "hearth-pg", "hearth-pg-2node"),
    *("defaults", "tuned", "tuned+coalescing", "node"),
)
BASELINES = ("tuned", "tuned+coalescing", "node")  # what Hearth's ratios are taken against
# each member at the shipped per-account rate limit (config.example.toml [limits])
SHIPPED_MESSAGES_PER_SECOND = LimitsConfig().messages_per_second
HEARTH_KINDS = (
    *("hearth", "hearth-1by1", "hearth-pymalloc", "hearth-2proc", "hearth-pg", "hearth-pg-2node"),
)
POSTGRES_KINDS = ("hearth-pg", "hearth-pg-2node")
FACILITATOR, PASSWORD = "alice", "correct horse battery staple"
CONTENT_BYTES = 100  # plaintext; the sealed envelope is ~370 bytes, ~500 as base64
SEAL_SAFETY = 1.6
FIRST_GUESS = 150_000.0  # deliveries/s to seal for until Hearth's first run has measured its own


@dataclass(frozen=True, slots=True)
class Topology:
    name: str
    rooms: int
    members: int

    @property
    def clients(self) -> int:
        return self.rooms * self.members


@dataclass(frozen=True, slots=True)
class Plan:
    servers: tuple[str, ...]
    rounds: int
    topologies: tuple[Topology, ...]
    idle_clients: int
    warmup_s: float
    duration_s: float
    window: int
    latency_deliveries_per_s: int
    latency_warmup_s: float
    latency_duration_s: float

    @property
    def latency_topology(self) -> Topology:
        return self.topologies[0]

    @property
    def limits_deliveries_per_s(self) -> int:
        """Every member of the latency topology sending at the shipped rate limit."""
        t = self.latency_topology
        return round(t.clients * SHIPPED_MESSAGES_PER_SECOND * (t.members - 1))


# Two interleaved rounds of short phases, and only what the summary line compares.
QUICK = Plan(
    servers=("hearth", "tuned", "tuned+coalescing", "node"),
    rounds=2,
    topologies=(Topology("20x25", 20, 25),),
    idle_clients=500,
    warmup_s=0.5,
    duration_s=1.0,
    window=1,
    latency_deliveries_per_s=3000,
    latency_warmup_s=0.5,
    latency_duration_s=1.5,
)
FULL = Plan(
    servers=SERVERS,
    rounds=5,
    topologies=(Topology("20x25", 20, 25), Topology("100x10", 100, 10)),
    idle_clients=5000,
    warmup_s=1.0,
    duration_s=4.0,
    window=1,
    latency_deliveries_per_s=3000,
    latency_warmup_s=1.0,
    latency_duration_s=5.0,
)


# ---- processes ------------------------------------------------------------------------------


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's soft ``RLIMIT_NOFILE`` (children inherit it); return the new one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return int(soft)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: the probes stay bound until all are chosen."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def pinned(core: int, command: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), *command]


def ensure_node_modules() -> None:
    if not (NODE_DIR / "node_modules" / "socket.io").is_dir():
        subprocess.run(
            ["npm", "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--silent"],
            check=True,
            timeout=300,
        )


@dataclass
class ServerProcess:
    kind: str
    port: int
    command: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                pinned(0, self.command), stdout=log, stderr=subprocess.STDOUT, cwd=REPO
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited early:\n{self.log_path.read_text()}")
            if self.ready():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} did not come up:\n{self.log_path.read_text()}")

    def ready(self) -> bool:
        try:
            # Always http://127.0.0.1 built above, never a caller's URL.
            with urllib.request.urlopen(self.url + "/healthz", timeout=1):  # noqa: S310
                return True
        except urllib.error.HTTPError:
            return True  # the bare servers answer 404: they are up
        except OSError:
            return False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class RedisProcess(ServerProcess):
    def ready(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
        except OSError:
            return False
        return True


def redis_server(port: int, directory: Path) -> RedisProcess:
    directory.mkdir(exist_ok=True)
    command = [
        *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
        *("--save", "", "--appendonly", "no", "--dir", str(directory)),
    ]
    return RedisProcess("redis", port, command, directory / "redis.log")


@dataclass
class Deployment:
    """One server under test: the processes clients connect to (``front``) and those these
    need (``back``: started first, stopped last). All of them count as the server."""

    kind: str
    front: list[ServerProcess]
    back: list[ServerProcess] = field(default_factory=list)

    @property
    def processes(self) -> list[ServerProcess]:
        return [*self.back, *self.front]

    @property
    def urls(self) -> list[str]:
        return [p.url for p in self.front]

    @property
    def pids(self) -> dict[str, int]:
        return {p.kind: p.pid for p in self.processes}

    def start(self) -> None:
        try:
            for process in self.processes:
                process.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def bare_server(kind: str, workdir: Path) -> Deployment:
    [port] = free_ports(1)
    if kind == "node":
        command = ["node", str(NODE_DIR / "server.js"), str(port)]
    else:
        command = [sys.executable, "-m", "bench.bare_server", kind, str(port)]
    return Deployment(kind, [ServerProcess(kind, port, command, workdir / f"{kind}.log")])


# ---- Hearth: a real `hearth serve`, its members and their envelopes --------------------------


@dataclass
class Member:
    client: HearthClient
    group_id: bytes


def hearth_config(port: int, *, server: str = "", storage: str = "", sections: str = "") -> str:
    """A `hearth serve` config on the world's database and secret (paths relative to it);
    ``server`` and ``storage`` add keys to [server] and [storage], ``sections`` whole sections."""
    return (
        "[server]\n"
        f"port = {port}\n"
        f'public_origins = ["http://127.0.0.1:{port}"]\n'
        'secret_key_file = "secret.key"\n'
        'log_level = "warning"\n'
        f"{server}"
        "[storage]\n"
        'database = "hearth.sqlite3"\n'
        f"{storage}"
        "[groups]\n"
        "epoch_max_messages = 100000000\n"
        "invite_max_uses = 1000\n"
        "[limits]\n"
        "messages_per_second = 1000000.0\n"
        "message_burst = 1000000\n"
        "joins_per_minute = 1000\n"
        f"{sections}"
    )


@dataclass
class HearthWorld:
    """One database and secret, served in turn by each Hearth deployment (runs never overlap)."""

    directory: Path
    deployments: dict[str, Deployment]
    members: dict[str, list[list[Member]]] = field(default_factory=dict)

    @property
    def server(self) -> ServerProcess:
        return self.deployments["hearth"].front[0]

    @classmethod
    def create(cls, workdir: Path, pg_url: str = "") -> HearthWorld:
        """With ``pg_url``, also the PostgreSQL rows (the database is filled by ``move_to``)."""
        directory = workdir / "hearth"
        directory.mkdir()
        port, second_port, redis_port = free_ports(3)
        (directory / "secret.key").write_text(os.urandom(32).hex())
        (directory / "secret.key").chmod(0o600)

        def serve(name: str, port: int, config: str) -> ServerProcess:
            path = directory / f"{name}.toml"
            path.write_text(config)
            command = [sys.executable, "-m", "server.cli", "serve", "--config", str(path)]
            return ServerProcess(name, port, command, directory / f"{name}.log")

        hearth = serve("hearth", port, hearth_config(port))
        added = subprocess.run(
            [
                *(sys.executable, "-m", "server.cli", "facilitator", "add", FACILITATOR),
                *("--password-stdin", "--config", str(directory / "hearth.toml")),
            ],
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            check=False,
        )
        if added.returncode != 0:
            raise RuntimeError(f"facilitator add failed: {added.stderr}")
        one_by_one = hearth_config(port, server="coalesce_max = 1\n")
        pymalloc = hearth_config(port, server='allocator = "python"\n')
        scale = f'[scale]\nredis_url = "redis://127.0.0.1:{redis_port}/0"\n'
        two = [
            serve(f"hearth-2proc-{n}", p, hearth_config(p, sections=scale))
            for n, p in ((1, port), (2, second_port))
        ]
        deployments = [
            Deployment("hearth", [hearth]),
            Deployment("hearth-1by1", [serve("hearth-1by1", port, one_by_one)]),
            Deployment("hearth-pymalloc", [serve("hearth-pymalloc", port, pymalloc)]),
            Deployment("hearth-2proc", two, [redis_server(redis_port, workdir / "redis")]),
        ]
        if pg_url:
            on_pg = f'url = "{pg_url}"\n'
            pg_one = serve("hearth-pg", port, hearth_config(port, storage=on_pg))
            pg_two = [
                serve(f"hearth-pg-2node-{n}", p, hearth_config(p, storage=on_pg, sections=scale))
                for n, p in ((1, port), (2, second_port))
            ]
            deployments += [
                Deployment("hearth-pg", [pg_one]),
                Deployment(
                    "hearth-pg-2node", pg_two, [redis_server(redis_port, workdir / "redis")]
                ),
            ]
        return cls(directory, {d.kind: d for d in deployments})

    def move_to(self, pg_url: str) -> None:
        """``hearth migrate-to``: the populated SQLite database into the empty ``pg_url``."""
        moved = subprocess.run(
            [
                *(sys.executable, "-m", "server.cli", "migrate-to", pg_url),
                *("--config", str(self.directory / "hearth.toml")),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
            check=False,
        )
        if moved.returncode != 0:
            raise RuntimeError(f"migrate-to failed: {moved.stderr}")

    async def populate(self, topologies: tuple[Topology, ...]) -> None:
        """Facilitator alice creates the groups; members join, are approved, and are keyed
        into the group's next epoch by one rotation per group."""
        url = self.server.url
        facilitator = HearthClient(url, timeout=60)
        await facilitator.login(FACILITATOR, PASSWORD)
        await facilitator.connect()
        gate = asyncio.Semaphore(48)
        try:
            for topology in topologies:
                groups = await asyncio.gather(
                    *(
                        facilitator.create_group(f"{topology.name} room {r}", pseudonym="Alice")
                        for r in range(topology.rooms)
                    )
                )

                tokens = {
                    g: await facilitator.create_invite(g, max_uses=topology.members) for g in groups
                }

                async def member(
                    group_id: bytes, index: int, tokens: dict[bytes, str] = tokens
                ) -> Member:
                    async with gate:
                        client = HearthClient(url, timeout=60)
                        await client.connect()
                        try:
                            await client.join(tokens[group_id], pseudonym=f"Member {index}")
                        finally:
                            await client.disconnect()
                            await close_http(client)
                        return Member(client, group_id)

                rooms = await asyncio.gather(
                    *(
                        asyncio.gather(*(member(g, i) for i in range(topology.members)))
                        for g in groups
                    )
                )

                await asyncio.gather(
                    *(
                        facilitator.decide(g, m.client.member_id(g))
                        for g, room in zip(groups, rooms, strict=True)
                        for m in room
                    )
                )
                for group_id in groups:  # one at a time: concurrent commits from one client race
                    await facilitator.rotate(group_id, attempts=1)
                # The members were offline for the rotation: they take the new epoch from
                # the facilitator's copy rather than reconnecting to open the commit.
                for group_id, room in zip(groups, rooms, strict=True):
                    latest = facilitator.keys[group_id].latest
                    assert latest is not None
                    for m in room:
                        keys = m.client.keys[group_id]
                        keys.epochs[latest.epoch] = facilitator.keys[group_id].epochs[latest.epoch]
                        keys.latest = latest
                self.members[topology.name] = [list(room) for room in rooms]
        finally:
            await facilitator.disconnect()
            await close_http(facilitator)

    def accounts(self) -> Iterator[HearthClient]:
        for rooms in self.members.values():
            for room in rooms:
                for m in room:
                    yield m.client

    def job_part(self, plan: Plan, expected: dict[str, float]) -> dict[str, Any]:
        """Accounts and freshly sealed envelope pools for one run, sized for the saturation
        rate ``expected`` of each topology (deliveries per second)."""
        text = "x" * CONTENT_BYTES
        topologies: dict[str, Any] = {}
        for topology in plan.topologies:
            per_message = topology.members - 1
            budget = expected[topology.name] * (plan.warmup_s + plan.duration_s) / per_message
            if topology == plan.latency_topology:
                latency_s = plan.latency_warmup_s + plan.latency_duration_s
                open_loop = plan.latency_deliveries_per_s + plan.limits_deliveries_per_s
                budget += open_loop * latency_s / per_message
            pool = math.ceil(budget * SEAL_SAFETY / topology.clients) + plan.window + 1
            rooms = []
            for room in self.members[topology.name]:
                listed = []
                for m in room:
                    envelopes = []
                    for _ in range(pool):
                        msg_id = os.urandom(16)
                        sealed = m.client.seal(m.group_id, text, msg_id)
                        envelopes.append([b64encode(msg_id), b64encode(sealed)])
                    member_id = b64encode(m.client.member_id(m.group_id))
                    listed.append(
                        {**account_of(m.client), "member_id": member_id, "pool": envelopes}
                    )
                rooms.append({"group_id": b64encode(room[0].group_id), "members": listed})
            topologies[topology.name] = {"rooms": rooms}
        return {
            "topologies": topologies,
            "idle_accounts": [account_of(c) for c in self.accounts()],
            "key_field": "msg_id",
        }


async def close_http(client: HearthClient) -> None:
    """python-socketio's client keeps its aiohttp session open after a disconnect."""
    http = getattr(client.sio.eio, "http", None)
    if http is not None and not http.closed:
        await http.close()


def account_of(client: HearthClient) -> dict[str, str]:
    return {"sk": b64encode(client.account.raw()), "pk": b64encode(client.account.public)}


def envelope_b64_length() -> int:
    """Length of a Hearth envelope as sent, so the bare servers relay the same size."""
    from crypto.envelopes import seal_message
    from crypto.keys import MemberKeys

    sealed = seal_message(
        epoch_secret=os.urandom(32),
        group_id=os.urandom(16),
        epoch=1,
        sender=MemberKeys.generate(),
        msg_id=os.urandom(16),
        content=b"x" * CONTENT_BYTES,
    )
    return len(b64encode(sealed.raw))


# ---- one run: a fresh server, the load generator, the figures ------------------------------


class PostgresMeter:
    """What PostgreSQL did during a run: its processes' CPU (the postmaster and its children,
    read from /proc while they live) and the messages it holds."""

    def __init__(self, postmaster: int, url: str) -> None:
        self.postmaster = postmaster
        self.url = url

    def cpu_seconds(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue  # gone meanwhile
            fields = text.rsplit(")", 1)[1].split()
            pid, ppid = int(stat.parent.name), int(fields[1])
            if self.postmaster in (pid, ppid):
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def messages(self) -> int:
        import asyncpg

        async def count() -> int:
            conn = await asyncpg.connect(self.url)
            try:
                return int(await conn.fetchval("SELECT count(*) FROM messages"))
            finally:
                await conn.close()

        return asyncio.run(count())

    def reading(self) -> tuple[float, int]:
        return self.cpu_seconds(), self.messages()


def run_loadgen(
    server: Deployment, job: dict[str, Any], workdir: Path, cores: list[int]
) -> dict[str, Any]:
    """The job against ``server`` by one generator process per entry of ``cores``, merged."""
    job = {**job, "urls": server.urls, "server_pids": server.pids}
    job["clock_ticks"] = os.sysconf("SC_CLK_TCK")
    return loadgen.run(job, cores, workdir, server.kind)


def generators_line(cores: list[int]) -> str:
    """Where the load generator runs, said plainly when its processes share a core."""
    if len(cores) == 1:
        return f"Every server on core 0, the load generator on core {cores[0]}."
    line = (
        f"Every server on core 0, the load generator as {len(cores)} processes on cores "
        f"{', '.join(str(c) for c in cores)}"
    )
    if loadgen.shared_cores(cores):
        return (
            line + ": they share cores (not enough of them on this machine), so together they "
            "have no more headroom than one process per core."
        )
    return line + ", one each."


def base_job(plan: Plan, body_length: int) -> dict[str, Any]:
    def spec(topology: Topology) -> dict[str, Any]:
        return {"name": topology.name, "rooms": topology.rooms, "members": topology.members}

    return {
        "kind": "plain",
        "key_field": "k",
        "body": "x" * body_length,
        "idle": {"count": plan.idle_clients, "concurrency": 100},
        "saturation": [
            {
                **spec(t),
                "window": plan.window,
                "warmup_s": plan.warmup_s,
                "duration_s": plan.duration_s,
            }
            for t in plan.topologies
        ],
        "latency": {
            **spec(plan.latency_topology),
            "deliveries_per_s": plan.latency_deliveries_per_s,
            "warmup_s": plan.latency_warmup_s,
            "duration_s": plan.latency_duration_s,
        },
        "limits": {
            **spec(plan.latency_topology),
            "deliveries_per_s": plan.limits_deliveries_per_s,
            "warmup_s": plan.latency_warmup_s,
            "duration_s": plan.latency_duration_s,
        },
    }


def run_all(
    plan: Plan,
    *,
    servers: tuple[str, ...] | None = None,
    profile: Path | None = None,
    log: Any = sys.stderr,
    generators: int | None = None,
) -> dict[str, Any]:
    """Every round, every server (the plan's unless ``servers`` says); with ``profile``,
    py-spy samples Hearth into that file (collapsed stacks; ``pip install py-spy`` first).
    ``generators`` load generator processes (default: one per core beyond the server's)."""
    servers = servers or plan.servers
    cores = os.cpu_count() or 1
    generator_cores = loadgen.generator_cores(
        generators or loadgen.default_generators(cores), cores
    )
    print(generators_line(generator_cores), file=log)
    with_redis = ("hearth-2proc", "hearth-pg-2node")
    if set(with_redis) & set(servers) and shutil.which("redis-server") is None:
        print(
            "hearth-2proc and hearth-pg-2node skipped: redis-server is not installed "
            "(Debian: apt-get install -y redis-server)",
            file=log,
        )
        servers = tuple(kind for kind in servers if kind not in with_redis)
    if set(servers) & set(POSTGRES_KINDS):
        from tests.pg_cluster import postgres_bin

        if postgres_bin() is None:
            print(
                "hearth-pg rows skipped: PostgreSQL is not installed "
                "(Debian: apt-get install -y postgresql)",
                file=log,
            )
            servers = tuple(kind for kind in servers if kind not in POSTGRES_KINDS)
    if not servers:
        raise RuntimeError("no server to benchmark")
    ensure_node_modules()
    fd_limit = raise_fd_limit(max(4096, plan.idle_clients * 2 + 2048))
    if fd_limit < plan.idle_clients + 1024:
        plan = dataclasses.replace(plan, idle_clients=max(100, fd_limit - 1024))
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in servers}
    started = time.time()
    with contextlib.ExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="hearth-bench-")))
        job = base_job(plan, envelope_b64_length())
        meter = None
        if set(servers) & set(POSTGRES_KINDS):
            from tests.pg_cluster import remove_cluster, start_cluster

            cluster = start_cluster(fsync=True)
            cleanup.callback(remove_cluster, cluster)
            assert cluster.process is not None
            meter = PostgresMeter(cluster.process.pid, cluster.new_database())
        world = HearthWorld.create(workdir, meter.url if meter else "")
        if any(kind in HEARTH_KINDS for kind in servers):
            world.server.start()
            try:
                t0 = time.monotonic()
                asyncio.run(world.populate(plan.topologies))
                print(f"hearth set-up: {time.monotonic() - t0:.1f} s", file=log)
            finally:
                world.server.stop()
        if meter is not None:
            t0 = time.monotonic()
            world.move_to(meter.url)
            print(f"hearth migrate-to PostgreSQL: {time.monotonic() - t0:.1f} s", file=log)
        # Envelopes are sealed for this rate until Hearth's first run measures its own, then
        # for 1.3x the fastest seen per topology (a pool used up during saturation leaves none
        # for the latency phase; 45,000 was outrun in 20 x 25 on 2026-12-04).
        expected = dict.fromkeys((t.name for t in plan.topologies), FIRST_GUESS)
        fastest: dict[str, float] = {}
        for round_index in range(plan.rounds):
            shift = round_index % len(servers)
            order = servers[shift:] + servers[:shift]
            for kind in order:
                if kind in HEARTH_KINDS:
                    this_job = {**job, "kind": "hearth", **world.job_part(plan, expected)}
                    server = world.deployments[kind]
                else:
                    this_job = job
                    server = bare_server(kind, workdir)
                server.start()
                spy = None
                if profile is not None and kind == "hearth":
                    spy = subprocess.Popen(
                        [
                            *(str(Path(sys.executable).parent / "py-spy"), "record"),
                            *("--pid", str(server.front[0].pid), "--rate", "250", "--nonblocking"),
                            *("--format", "raw", "--output", str(profile)),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                try:
                    if meter is not None and kind in POSTGRES_KINDS:
                        before = meter.reading()
                        result = run_loadgen(server, this_job, workdir, generator_cores)
                        after = meter.reading()
                        result["postgres"] = {
                            "cpu_s": after[0] - before[0],
                            "messages": after[1] - before[1],
                        }
                    else:
                        result = run_loadgen(server, this_job, workdir, generator_cores)
                finally:
                    server.stop()
                    if spy is not None:
                        spy.wait(timeout=60)
                runs[kind].append(result)
                if kind == "hearth":
                    for name, sat in result["saturation"].items():
                        rate = sat.get("deliveries_per_s") or 0.0
                        fastest[name] = max(fastest.get(name, 0.0), rate)
                        expected[name] = fastest[name] * 1.3 or FIRST_GUESS
                print(f"round {round_index + 1} {kind}: {summary_line(result)}", file=log)
    return {
        "started": started,
        "plan": plan_dict(plan),
        "machine": machine(),
        "generators": {"count": len(generator_cores), "cores": generator_cores},
        "runs": runs,
        "summary": summarise(plan, runs),
    }


def plan_dict(plan: Plan) -> dict[str, Any]:
    return {
        "rounds": plan.rounds,
        "topologies": [(t.name, t.rooms, t.members) for t in plan.topologies],
        "idle_clients": plan.idle_clients,
        "warmup_s": plan.warmup_s,
        "duration_s": plan.duration_s,
        "window": plan.window,
        "latency_deliveries_per_s": plan.latency_deliveries_per_s,
        "latency_warmup_s": plan.latency_warmup_s,
        "latency_duration_s": plan.latency_duration_s,
    }


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "node": node.stdout.strip(),
    }


def summary_line(result: dict[str, Any]) -> str:
    parts = [
        f"{n} {s['deliveries_per_s']:.0f}/s (busiest loadgen core "
        f"{max(s['loadgen_cores_pct'].values()):.0f} %{'*' if s['generator_bound'] else ''})"
        for n, s in result["saturation"].items()
    ]
    latency = result["latency"]
    p99 = latency.get("p99_ms")
    parts.append("p99 - (no deliveries)" if p99 is None else f"p99 {p99:.1f} ms")
    parts.append(f"{result['idle']['kb_per_conn']:.1f} kB/conn")
    if latency.get("deliveries_across_processes"):
        parts.append(f"{latency['deliveries_across_processes']} deliveries across processes")
    pg = result.get("postgres")
    if pg:
        parts.append(f"PostgreSQL {pg['cpu_s']:.1f} CPU-s for {pg['messages']} messages stored")
    errors = [s["error"] for s in result["saturation"].values() if s["error"]]
    if errors or latency["error"]:
        parts.append(f"ERROR {errors or latency['error']}")
    return ", ".join(parts)


# ---- figures ------------------------------------------------------------------------------


def metrics(plan: Plan) -> list[tuple[str, str, tuple[str, ...], str]]:
    """(key, label, path into a run's result, format)."""
    rows: list[tuple[str, str, tuple[str, ...], str]] = []
    for t in plan.topologies:
        sat = ("saturation", t.name)
        rows += [
            (f"rate_{t.name}", f"delivered msg/s {t.name}", (*sat, "deliveries_per_s"), ".0f"),
            (
                f"cpu_{t.name}",
                f"server µs/delivery {t.name}",
                (*sat, "server_us_per_delivery"),
                ".1f",
            ),
            (
                f"redis_cpu_{t.name}",
                f"  of which redis µs/del {t.name}",
                (*sat, "processes", "redis", "us_per_delivery"),
                ".1f",
            ),
            (f"scpu_{t.name}", f"server CPU % {t.name}", (*sat, "server_cpu_pct"), ".0f"),
            (f"lcpu_{t.name}", f"loadgen CPU % {t.name}", (*sat, "loadgen_cpu_pct"), ".0f"),
            (
                f"lcore_{t.name}",
                f"busiest loadgen core % {t.name}",
                (*sat, "loadgen_busiest_core_pct"),
                ".0f",
            ),
        ]
    lt = plan.latency_topology.name
    rate = plan.latency_deliveries_per_s
    limits = plan.limits_deliveries_per_s
    rows += [
        ("p50", f"p50 ms @{rate}/s {lt}", ("latency", "p50_ms"), ".2f"),
        ("p99", f"p99 ms @{rate}/s {lt}", ("latency", "p99_ms"), ".2f"),
        ("open_cpu", f"open loop µs/del @{rate}/s", ("latency", "server_us_per_delivery"), ".1f"),
        ("open_frame", f"deliveries/frame @{rate}/s", ("latency", "deliveries_per_frame"), ".2f"),
        ("open_lcpu", f"loadgen CPU % @{rate}/s", ("latency", "loadgen_cpu_pct"), ".0f"),
        (
            "limits_cpu",
            f"µs/del @shipped limits {limits}/s",
            ("limits", "server_us_per_delivery"),
            ".1f",
        ),
        ("limits_p99", f"p99 ms @shipped limits {limits}/s", ("limits", "p99_ms"), ".2f"),
        ("connect", f"connect {plan.idle_clients} clients ms", ("idle", "connect_ms"), ".0f"),
        ("rss_idle", f"RSS MB, {plan.idle_clients} idle", ("idle", "rss_idle_kb"), "mb"),
        ("kb_conn", "kB per idle connection", ("idle", "kb_per_conn"), ".1f"),
    ]
    return rows


def pick(result: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = result
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else None


def generator_bound(result: dict[str, Any], path: tuple[str, ...]) -> bool:
    """Whether a load generator's core was above ``loadgen.GENERATOR_BOUND_PCT`` while the
    figure at ``path`` was taken (of the idle phase's, only the connect time is taken while
    the generators work: RSS is read after they are done)."""
    if path[0] == "idle" and path[-1] != "connect_ms":
        return False
    phase: Any = result.get(path[0], {})
    if path[0] == "saturation":
        phase = phase.get(path[1], {})
    return bool(phase.get("generator_bound"))


def summarise(plan: Plan, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"generator_bound": {}}
    for key, _label, path, _fmt in metrics(plan):
        summary[key] = {}
        for kind, results in runs.items():
            values = [v for v in (pick(r, path) for r in results) if v is not None]
            if values:
                summary[key][kind] = {
                    "median": statistics.median(values),
                    "min": min(values),
                    "max": max(values),
                }
                # the servers whose figure comes from a round with a generator at its limit
                if any(generator_bound(r, path) for r in results):
                    summary["generator_bound"].setdefault(key, []).append(kind)
    for t in plan.topologies:
        rates = summary[f"rate_{t.name}"]
        costs = summary[f"cpu_{t.name}"]
        for other in BASELINES:
            for kind, prefix in (("hearth", "hearth"), ("hearth-1by1", "one_by_one")):
                if kind in rates and other in rates:
                    ratio = rates[kind]["median"] / rates[other]["median"]
                    summary[f"{prefix}_vs_{other}_{t.name}"] = ratio
            if "hearth" in costs and other in costs:
                # CPU-normalised: deliveries per server CPU-second, robust to a busy machine.
                ratio = costs[other]["median"] / costs["hearth"]["median"]
                summary[f"hearth_vs_{other}_cpu_{t.name}"] = ratio
        for kind in ("hearth-2proc", *POSTGRES_KINDS):
            if kind in rates and "hearth" in rates:
                ratio = rates[kind]["median"] / rates["hearth"]["median"]
                summary[f"{kind.replace('-', '_')}_vs_hearth_{t.name}"] = ratio
    # PostgreSQL's own work, apart from the server columns: messages stored per its CPU-second
    for kind in POSTGRES_KINDS:
        per_cpu = [
            r["postgres"]["messages"] / r["postgres"]["cpu_s"]
            for r in runs.get(kind, [])
            if r.get("postgres") and r["postgres"]["cpu_s"] > 0
        ]
        if per_cpu:
            summary.setdefault("pg_messages_per_cpu_s", {})[kind] = {
                "median": statistics.median(per_cpu),
                "min": min(per_cpu),
                "max": max(per_cpu),
            }
    # Open loop: deliveries per server CPU-second at a fixed offered rate, against each baseline
    for key in ("open_cpu", "limits_cpu"):
        costs = summary.get(key, {})
        for other in BASELINES:
            if "hearth" in costs and other in costs:
                summary[f"hearth_vs_{other}_{key}"] = (
                    costs[other]["median"] / costs["hearth"]["median"]
                )
    # Tail latency moves with the machine's noise more than anything: compare each round's
    # Hearth with the tuned relay measured minutes apart in the same round.
    paired = [
        hearth / tuned
        for hearth, tuned in zip(
            (pick(r, ("latency", "p99_ms")) for r in runs.get("hearth", [])),
            (pick(r, ("latency", "p99_ms")) for r in runs.get("tuned", [])),
            strict=False,
        )
        if hearth is not None and tuned
    ]
    if paired:
        summary["p99_vs_tuned"] = {
            "median": statistics.median(paired),
            "min": min(paired),
            "max": max(paired),
        }
    return summary


def render(plan: Plan, data: dict[str, Any]) -> str:
    summary = data["summary"]
    kinds = [kind for kind in SERVERS if kind in data["runs"]]
    bound = summary.get("generator_bound", {})

    def cell(figure: dict[str, float] | None, fmt: str, flagged: bool = False) -> str:
        if figure is None:
            return "-"
        if flagged:
            return cell(figure, fmt) + "*"
        if fmt == "mb":
            values = [figure[k] / 1024 for k in ("median", "min", "max")]
            fmt = ".0f"
        else:
            values = [figure[k] for k in ("median", "min", "max")]
        if plan.rounds == 1:
            return f"{values[0]:{fmt}}"
        return f"{values[0]:{fmt}} [{values[1]:{fmt}}–{values[2]:{fmt}}]"

    width = 26 if plan.rounds > 1 else 16
    lines = [
        f"Relay benchmark, {plan.rounds} interleaved round(s); median [min–max]; "
        f"{data['machine']['cpu']}, {data['machine']['cores']} cores",
        f"{'':<34}" + "".join(f"{kind:>{width}}" for kind in kinds),
    ]
    for key, label, _path, fmt in metrics(plan):
        row = summary.get(key, {})
        if row:
            lines.append(
                f"{label:<34}"
                + "".join(
                    f"{cell(row.get(k), fmt, k in bound.get(key, ())):>{width}}" for k in kinds
                )
            )
    ratio_lines = (
        ("hearth_vs_{}_{}", "throughput {}: Hearth/tuned = {:.2f}, Hearth/Node = {:.2f}"),
        (
            "one_by_one_vs_{}_{}",
            "throughput {}: Hearth without coalescing/tuned = {:.2f}, /Node = {:.2f}",
        ),
        (
            "hearth_vs_{}_cpu_{}",
            "deliveries per server CPU-second {}: Hearth/tuned = {:.2f}, Hearth/Node = {:.2f}",
        ),
    )
    for t in plan.topologies:
        for key, text in ratio_lines:
            tuned = summary.get(key.format("tuned", t.name))
            node = summary.get(key.format("node", t.name))
            if tuned is not None and node is not None:
                lines.append(text.format(t.name, tuned, node))
        for key, text in (
            ("hearth_vs_tuned+coalescing_{}", "throughput {}: Hearth/tuned+coalescing = {:.2f}"),
            (
                "hearth_vs_tuned+coalescing_cpu_{}",
                "deliveries per server CPU-second {}: Hearth/tuned+coalescing = {:.2f}",
            ),
        ):
            ratio = summary.get(key.format(t.name))
            if ratio is not None:
                lines.append(text.format(t.name, ratio))
        for key, text in (
            ("hearth_2proc", "Hearth on two processes + Redis/one"),
            ("hearth_pg", "Hearth on PostgreSQL/on SQLite"),
            ("hearth_pg_2node", "Hearth, two nodes on PostgreSQL + Redis/one on SQLite"),
        ):
            ratio = summary.get(f"{key}_vs_hearth_{t.name}")
            if ratio is not None:
                lines.append(f"throughput {t.name}: {text} = {ratio:.2f}")
    for kind, figure in summary.get("pg_messages_per_cpu_s", {}).items():
        lines.append(
            f"{kind}: PostgreSQL stored {cell(figure, '.0f')} messages per its own CPU-second"
        )
    for key, label in (
        ("open_cpu", f"open loop at {plan.latency_deliveries_per_s}/s"),
        ("limits_cpu", f"open loop at the shipped limits ({plan.limits_deliveries_per_s}/s)"),
    ):
        ratios = [summary.get(f"hearth_vs_{other}_{key}") for other in BASELINES]
        if all(r is not None for r in ratios):
            lines.append(
                f"deliveries per server CPU-second, {label}: "
                + ", ".join(f"Hearth/{o} = {r:.2f}" for o, r in zip(BASELINES, ratios, strict=True))
            )
    p99 = summary.get("p99_vs_tuned")
    if p99 is not None:
        lines.append(
            f"p99 Hearth/tuned, paired by round = {p99['median']:.2f} "
            f"[{p99['min']:.2f}–{p99['max']:.2f}] (the 5 ms target is 1.85x tuned's 2.7 ms)"
        )
    if bound:
        lines.append(
            f"* generator-bound: in at least one round a load generator's core was above "
            f"{loadgen.GENERATOR_BOUND_PCT:.0f} % while this figure was taken; it measures the "
            "generator as much as the server."
        )
    lines.append(generators_line(data["generators"]["cores"]))
    if set(POSTGRES_KINDS) & set(kinds):
        lines += [
            "hearth-pg*: PostgreSQL (fsync on, unpinned) is not in the server columns; its own",
            "CPU is the line above. hearth-pg-2node: two nodes and redis-server on core 0.",
        ]
    if "hearth-pymalloc" in kinds:
        lines.append(
            "hearth-pymalloc: Hearth on CPython's own allocator instead of jemalloc "
            '([server] allocator = "python").'
        )
    if "hearth-2proc" in kinds:
        lines += [
            "hearth-2proc: two `hearth serve` and redis-server, all three on core 0 (the budget of",
            "one process); each room's members alternate between the two, so every broadcast",
            "crosses Redis; server CPU and RSS are summed over the three.",
        ]
    return "\n".join(lines)


def quick_line(plan: Plan, data: dict[str, Any]) -> str:
    """Deliveries per server CPU-second, Hearth over each baseline (above 1: Hearth does a
    delivery for less CPU), closed loop and open loop, medians of the interleaved rounds."""
    summary = data["summary"]
    name = plan.topologies[0].name
    return (
        f"hearth_vs_tuned={summary[f'hearth_vs_tuned_cpu_{name}']:.3f}"
        f" hearth_vs_coalescing={summary[f'hearth_vs_tuned+coalescing_cpu_{name}']:.3f}"
        f" hearth_vs_node={summary[f'hearth_vs_node_cpu_{name}']:.3f}"
        f" open_vs_coalescing={summary['hearth_vs_tuned+coalescing_open_cpu']:.3f}"
        f" p99_ms={summary['p99']['hearth']['median']:.2f}"
        f" kb_per_idle_conn={summary['kb_conn']['hearth']['median']:.1f}"
    )


def save(data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(data["started"]))
    path = RESULTS / f"{stamp}.json"
    path.write_text(json.dumps(data, indent=1))
    return path
