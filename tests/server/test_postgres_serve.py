"""``hearth serve`` on PostgreSQL, end to end: a real uvicorn process with ``[storage] url``,
real Socket.IO clients; and the command-line tools (migrate, backup, migrate-to, audit verify)
on a PostgreSQL database."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from crypto.encoding import b64encode
from server.client import HearthClient
from tests.conftest import (
    FACILITATOR,
    FACILITATOR_PASSWORD,
    GENEROUS_LIMITS,
    RunningServer,
    free_port,
    hearth_cli,
    member_in,
    serve_in,
)
from tests.pg_cluster import PostgresCluster
from tests.server.test_metrics import scrape
from tests.server.test_postgres_locks import waiting_for_a_lock

CANARY = "plaintext-canary-5f1c"


def storage_url(url: str) -> str:
    return f'url = "{url}"\n' + GENEROUS_LIMITS


@pytest.fixture
def pg_server(tmp_path: Path, pg_url: str) -> Iterator[RunningServer]:
    yield from serve_in(tmp_path / "hearth", storage_url(pg_url))


@pytest.fixture
async def clients(pg_server: RunningServer) -> AsyncIterator[list[HearthClient]]:
    made: list[HearthClient] = []
    yield made
    for client in made:
        await client.disconnect()


def readyz(server: RunningServer) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(server.url + "/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_members_chat_and_read_history_through_a_server_on_postgresql(
    pg_server: RunningServer, clients: list[HearthClient], pg_url: str
) -> None:
    def make() -> HearthClient:
        client = HearthClient(pg_server.url)
        clients.append(client)
        return client

    fac = make()
    await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
    await fac.connect()
    group = await fac.create_group("Thursday circle", pseudonym="Host Heron")
    ana = await member_in(make, fac, group, "Quiet Fox")
    for index in range(5):
        await ana.send(group, f"{CANARY} line {index}")
    await fac.wait_for(lambda: len(fac.texts(group)) == 5)
    page, more = await fac.history(group, limit=3)
    assert [m.text for m in page] == [f"{CANARY} line {n}" for n in (4, 3, 2)]
    assert more
    # stored in PostgreSQL; the SQLite file beside the configuration holds only the moderation
    # backend's reports (its `sqlite` backend keeps them there)
    with sqlite3.connect(pg_server.database) as lite:
        tables = {r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "messages" not in tables
    assert all(table.startswith("moderation_") for table in tables), tables
    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT COUNT(*) FROM messages WHERE group_id = $1", group) == 5
    finally:
        await conn.close()
    status, body = readyz(pg_server)
    assert (status, body["database"]) == (200, "writable")
    # the whole database, dumped: ciphertext only, no plaintext anywhere
    if shutil.which("pg_dump") is not None:
        done = await asyncio.to_thread(
            subprocess.run,
            ["pg_dump", "--format=plain", f"--dbname={pg_url}"],
            capture_output=True,
            check=True,
            timeout=60,
        )
        dumped = done.stdout
        assert b"CREATE TABLE" in dumped
        assert CANARY.encode() not in dumped


def test_readyz_turns_false_while_postgresql_is_stopped(tmp_path: Path) -> None:
    """A cluster of its own (the session's must stay up for the other tests)."""
    from tests.pg_cluster import remove_cluster, start_cluster

    try:
        cluster = start_cluster()
    except (OSError, RuntimeError, KeyError) as error:
        from tests.pg_cluster import unavailable

        unavailable(f"cannot start a PostgreSQL cluster: {error}")
        return
    try:
        url = cluster.new_database()
        for server in serve_in(tmp_path / "hearth", storage_url(url)):
            assert readyz(server)[0] == 200
            cluster.stop()
            status, body = readyz(server)
            assert (status, body["database"]) == (503, "unreachable")
            cluster.start()
            assert readyz(server)[0] == 200
    finally:
        remove_cluster(cluster)


async def test_holds_schedules_and_ml_kem_keys_are_stored_in_postgresql(
    pg_server: RunningServer, clients: list[HearthClient], pg_url: str
) -> None:
    """What migrations 0009-0011 added (newcomer hold, bans' invite marks, weekly sessions,
    members' ML-KEM keys) works on PostgreSQL as on SQLite."""

    def make() -> HearthClient:
        client = HearthClient(pg_server.url, hybrid=True)
        clients.append(client)
        return client

    fac = make()
    await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
    await fac.connect()
    sessions = [{"day": "tue", "start": "19:00", "end": "20:30"}]
    group = await fac.create_group("Tuesday circle", pseudonym="Host Heron", schedule=sessions)
    reply = await fac.call("group.update", {"group_id": b64encode(group), "newcomer_hold": 1})
    assert reply["group"]["newcomer_hold"] == 1
    assert reply["group"]["schedule"] == sessions
    ana = await member_in(make, fac, group, "Quiet Fox")
    held = await ana.send(group, f"{CANARY} held line")
    assert held["held"] is True
    waiting = (await fac.call("held.list", {"group_id": b64encode(group)}))["held"]
    assert len(waiting) == 1
    released = await fac.call(
        "held.decide",
        {"group_id": b64encode(group), "msg_id": waiting[0]["msg_id"], "release": True},
    )
    assert released["outcome"] == "released"
    await fac.wait_for(lambda: f"{CANARY} held line" in fac.texts(group))
    conn = await asyncpg.connect(pg_url)
    try:
        row = await conn.fetchrow(
            "SELECT hold_released, pq_key, invite_hash FROM members WHERE member_id = $1",
            ana.member_id(group),
        )
        assert row["hold_released"] == 1
        assert len(row["pq_key"] or b"") == 1248
        assert row["invite_hash"] is not None
        assert await conn.fetchval("SELECT schedule FROM groups") == "tue 19:00-20:30"
        assert await conn.fetchval("SELECT released_at FROM messages WHERE seq = $1", 1)
    finally:
        await conn.close()


def config_on(tmp_path: Path, url: str = "") -> Path:
    server = RunningServer(tmp_path / "hearth", free_port(), storage_url(url) if url else "")
    server.write_config()
    return server.config_path


def test_migrate_and_audit_verify_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    config = config_on(tmp_path, pg_url)
    first = hearth_cli("migrate", config=config)
    assert first.returncode == 0, first.stderr
    latest = len(list((Path(__file__).parents[2] / "server/storage/migrations").glob("*.sql")))
    assert f"schema version 0 -> {latest}" in first.stdout
    again = hearth_cli("migrate", config=config)
    assert "already up to date" in again.stdout
    verified = hearth_cli("audit", "verify", config=config)
    assert verified.returncode == 0, verified.stderr
    assert "audit log intact: 0 entries" in verified.stdout


def test_backup_of_postgresql_is_a_pg_dump_that_restores(
    tmp_path: Path, pg_url: str, pg_cluster: PostgresCluster
) -> None:
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed (Debian: postgresql-client)")
    config = config_on(tmp_path, pg_url)
    added = hearth_cli(
        "facilitator", "add", "bea", "--password-stdin", config=config, stdin="a long password 1\n"
    )
    assert added.returncode == 0, added.stderr
    target = tmp_path / "hearth.dump"
    done = hearth_cli("backup", str(target), config=config)
    assert done.returncode == 0, done.stderr
    assert target.stat().st_mode & 0o777 == 0o600
    refused = hearth_cli("backup", str(target), config=config)
    assert refused.returncode == 1
    assert "already exists" in refused.stderr
    restored = pg_cluster.new_database()
    loaded = hearth_cli_restore(target, restored)
    assert loaded.returncode == 0, loaded.stderr
    name = restored.rsplit("/", 1)[1]
    assert pg_cluster.psql(name, "SELECT username FROM facilitators").split() == ["bea"]


def hearth_cli_restore(dump: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shutil.which("pg_restore") or "pg_restore", "--no-owner", f"--dbname={url}", str(dump)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


async def test_migrate_to_copies_every_table_and_refuses_a_non_empty_target(
    tmp_path: Path, pg_url: str
) -> None:
    # a SQLite server with a group, members and messages
    made: list[HearthClient] = []

    def make() -> HearthClient:
        client = HearthClient(f"http://127.0.0.1:{port}")
        made.append(client)
        return client

    port = free_port()
    lite = RunningServer(tmp_path / "lite", port)
    lite.add_facilitator()
    lite.start()
    try:
        fac = make()
        await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
        await fac.connect()
        group = await fac.create_group("Moved circle", pseudonym="Host Heron")
        ana = await member_in(make, fac, group, "Quiet Fox")
        ben = await member_in(make, fac, group, "Calm River")
        for index in range(3):
            await ana.send(group, f"before the move {index}")
        # an open report in the built-in moderation backend's table of the file
        await ben.wait_for(lambda: "before the move 2" in ben.texts(group))
        seq = next(s for s, m in ben.inbox[group].items() if m.text == "before the move 2")
        report_id = (await ben.report(group, seq, "unkind"))["report_id"]
        for client in made:
            await client.disconnect()
    finally:
        lite.stop()
    with sqlite3.connect(lite.database) as conn:
        counts = {
            table: conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]  # noqa: S608
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    moved = hearth_cli("migrate-to", pg_url, config=lite.config_path)
    assert moved.returncode == 0, moved.stderr
    pg = await asyncpg.connect(pg_url)
    try:
        tables = ("groups", "members", "messages", "epochs", "facilitators", "audit_log")
        for table in (*tables, "moderation_reports"):
            assert await pg.fetchval(f"SELECT COUNT(*) FROM {table}") == counts[table], table  # noqa: S608
            assert f"{table}: {counts[table]} rows" in moved.stdout
    finally:
        await pg.close()
    again = hearth_cli("migrate-to", pg_url, config=lite.config_path)
    assert again.returncode == 1
    assert "is not empty" in again.stderr

    # the moved database serves the same people: history from before the move reads back
    moved_server = RunningServer(tmp_path / "lite", port, storage_url(pg_url))
    moved_server.start()
    try:
        await ana.connect()
        page, _ = await ana.history(group)
        assert [m.text for m in page] == [f"before the move {n}" for n in (2, 1, 0)]
        await ana.send(group, "after the move")
        page, _ = await ana.history(group, limit=1)
        assert [(m.text, m.seq) for m in page] == [("after the move", 4)]
        # the report moved too, still open, for the facilitator to decide on PostgreSQL
        await fac.connect()
        listed = await fac.call("moderation.list", {"state": "open"})
        assert [r["report_id"] for r in listed["reports"]] == [report_id]
        await fac.call("moderation.act", {"report_id": report_id, "action": "dismiss"})
    finally:
        for client in made:
            await client.disconnect()
        moved_server.stop()


def test_a_password_in_the_url_is_never_printed(tmp_path: Path) -> None:
    config = config_on(tmp_path, "postgresql://hearth:s3cret-pw@127.0.0.1:9/hearth")
    done = hearth_cli("migrate", config=config)
    assert done.returncode == 1
    assert "s3cret-pw" not in done.stderr + done.stdout
    assert "127.0.0.1:9" in done.stderr


def test_a_url_that_is_not_postgresql_is_refused_with_its_key(tmp_path: Path) -> None:
    config = config_on(tmp_path, "mysql://hearth@127.0.0.1/hearth")
    done = hearth_cli("migrate", config=config)
    assert done.returncode == 1
    assert "storage.url" in done.stderr
    assert "postgresql://" in done.stderr


async def test_a_transaction_postgresql_refused_and_was_run_again_shows_in_the_metrics(
    tmp_path: Path, pg_url: str
) -> None:
    """Another client changes a group's row while the server updates it: PostgreSQL refuses the
    server's SERIALIZABLE transaction, the writer runs it again, and /metrics counts it."""
    metrics_port = free_port()
    metrics = f"[metrics]\nenabled = true\nlisten_port = {metrics_port}\n"
    for server in serve_in(tmp_path / "hearth", storage_url(pg_url) + metrics):
        fac = HearthClient(server.url)
        other = await asyncpg.connect(pg_url)
        try:
            await fac.login(FACILITATOR, FACILITATOR_PASSWORD)
            await fac.connect()
            group = await fac.create_group("Evening circle", pseudonym="Host Heron")
            before = scrape(metrics_port)[1]["hearth_db_retries_total"].value()
            transaction = other.transaction()
            await transaction.start()
            await other.execute("UPDATE groups SET rules = 'theirs' WHERE group_id = $1", group)
            updating = asyncio.create_task(
                fac.call("group.update", {"group_id": b64encode(group), "name": "Ours"})
            )
            await waiting_for_a_lock(other)
            await transaction.commit()
            reply = await updating
            assert reply["group"]["name"] == "Ours"
            assert scrape(metrics_port)[1]["hearth_db_retries_total"].value() == before + 1
        finally:
            await other.close()
            await fac.disconnect()
