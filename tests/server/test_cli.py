"""The real ``hearth`` command in a subprocess, against real files in a temporary directory."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import stat
import subprocess
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import aiohttp
import pytest

from server.config import load_config, render_example_config
from server.facilitator_auth import FacilitatorAuth
from server.storage.database import Database
from server.storage.migrations import latest_version
from tests.server.conftest_helpers_auth import REPO, run_cli, serve_routes, set_cookies

PASSWORD = "a password for the tests"
NEW_PASSWORD = "another password for the tests"


async def hearth(
    *args: str, cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, *args, cwd=cwd, stdin=stdin)


def assert_refused(result: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 1 with one line on stderr that says what is wrong, and no traceback."""
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("hearth: error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def assert_no_password(result: subprocess.CompletedProcess[str]) -> None:
    for password in (PASSWORD, NEW_PASSWORD):
        assert password not in result.stdout
        assert password not in result.stderr


@pytest.fixture
def data(tmp_path: Path) -> Path:
    result = run_cli("init", "--dir", "data", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path / "data"


# --- usage --------------------------------------------------------------------------------------

COMMANDS = [
    [],
    ["init"],
    ["serve"],
    ["facilitator"],
    ["facilitator", "add"],
    ["facilitator", "list"],
    ["facilitator", "disable"],
    ["facilitator", "enable"],
    ["facilitator", "reset-password"],
    ["facilitator", "grant"],
    ["migrate"],
    ["backup"],
    ["purge"],
    ["audit"],
    ["audit", "verify"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "hearth")
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    result = run_cli(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: hearth")
    if command and command not in (["facilitator"], ["init"], ["audit"]):
        assert "--config" in result.stdout


@pytest.mark.parametrize(
    "args",
    [[], ["nonsense"], ["facilitator"], ["init", "--bogus"], ["serve", "--port", "0"]],
)
def test_wrong_usage_exits_2(tmp_path: Path, args: list[str]) -> None:
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: hearth" in result.stderr


# --- init ---------------------------------------------------------------------------------------


def test_init_writes_the_documented_config_and_a_private_key(data: Path) -> None:
    config_text = (data / "config.toml").read_text(encoding="utf-8")
    assert config_text == render_example_config()
    assert config_text == (REPO / "config.example.toml").read_text(encoding="utf-8")
    key = data / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(bytes.fromhex(key.read_text())) == 32
    assert stat.S_IMODE(data.stat().st_mode) & 0o077 == 0
    config = load_config(data / "config.toml")
    assert config.secret_key.reveal() == bytes.fromhex(key.read_text())
    assert config.storage.database == data / "hearth.sqlite3"


def test_init_defaults_to_data_in_the_current_directory(tmp_path: Path) -> None:
    assert run_cli("init", cwd=tmp_path).returncode == 0
    listed = run_cli("facilitator", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "no facilitators yet" in listed.stdout


def test_init_refuses_to_overwrite_either_file(tmp_path: Path, data: Path) -> None:
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    assert_refused(run_cli("init", "--dir", "data", cwd=tmp_path), "config.toml already exists")
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before

    other = tmp_path / "other"
    other.mkdir()
    (other / "secret.key").write_text("mine")
    assert_refused(run_cli("init", "--dir", "other", cwd=tmp_path), "secret.key already exists")
    assert not (other / "config.toml").exists()
    assert (other / "secret.key").read_text() == "mine"


# --- facilitators, then login over HTTP ---------------------------------------------------------


@pytest.fixture
async def login_app(data: Path) -> AsyncIterator[tuple[str, FacilitatorAuth]]:
    """The login routes served from the database the CLI manages, as ``hearth serve`` would."""
    config = load_config(data / "config.toml")
    db = await Database.open(config.storage.database)
    try:
        auth = FacilitatorAuth(db, config)
        async with serve_routes(auth.routes()) as url:
            yield url, auth
    finally:
        await db.close()


async def login(url: str, username: str, password: str) -> tuple[int, str | None]:
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.post(
            url + "/api/facilitator/login", json={"username": username, "password": password}
        ) as response,
    ):
        cookies = set_cookies(response.headers.getall("Set-Cookie", []))
        token = cookies["hearth_session"]["value"] if "hearth_session" in cookies else None
        return response.status, token


async def test_manage_facilitators_then_log_in(
    data: Path, login_app: tuple[str, FacilitatorAuth]
) -> None:
    url, auth = login_app
    cwd = data.parent
    added = await hearth(
        "facilitator", "add", "Alice", "--password-stdin", cwd=cwd, stdin=PASSWORD + "\n"
    )
    assert added.returncode == 0, added.stderr
    assert "added facilitator 'alice'" in added.stdout
    assert_no_password(added)

    listed = await hearth("facilitator", "list", cwd=cwd)
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[1].split()[:2] == ["alice", "active"]

    status, token = await login(url, "alice", PASSWORD)
    assert status == 200
    assert token is not None
    session = await auth.session_from_cookies({"hearth_session": token})
    assert session is not None

    # Disabling from another process ends the session the server holds.
    disabled = await hearth("facilitator", "disable", "alice", cwd=cwd)
    assert disabled.returncode == 0, disabled.stderr
    assert "ended 1 session(s)" in disabled.stdout
    assert not await auth.session_is_valid(session.token_hash)
    assert (await login(url, "alice", PASSWORD))[0] == 401
    assert "disabled" in (await hearth("facilitator", "list", cwd=cwd)).stdout

    enabled = await hearth("facilitator", "enable", "alice", cwd=cwd)
    assert enabled.returncode == 0, enabled.stderr
    status, token = await login(url, "alice", PASSWORD)
    assert status == 200
    assert token is not None
    session = await auth.session_from_cookies({"hearth_session": token})
    assert session is not None

    reset = await hearth(
        "facilitator", "reset-password", "alice", "--password-stdin", cwd=cwd, stdin=NEW_PASSWORD
    )
    assert reset.returncode == 0, reset.stderr
    assert "ended 1 session(s)" in reset.stdout
    assert_no_password(reset)
    assert not await auth.session_is_valid(session.token_hash)
    assert (await login(url, "alice", PASSWORD))[0] == 401
    assert (await login(url, "alice", NEW_PASSWORD))[0] == 200


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["add", "al", "--password-stdin"], PASSWORD, "invalid username: a username has 3 to 32"),
        (["add", "alice", "--password-stdin"], "short\n", "at least 12 characters"),
        (["add", "alice", "--password-stdin"], "x" * 1025, "longer than 1024 characters"),
        (["add", "alice", "--password-stdin"], "", "no password on standard input"),
        (["add", "alice"], PASSWORD, "standard input is not a terminal: use --password-stdin"),
        (["disable", "nobody"], None, "no facilitator is named 'nobody'"),
        (["enable", "nobody"], None, "no facilitator is named 'nobody'"),
        (["reset-password", "nobody", "--password-stdin"], PASSWORD, "no facilitator is named"),
    ],
)
def test_facilitator_refusals_are_one_clear_line(
    data: Path, args: list[str], stdin: str | None, message: str
) -> None:
    result = run_cli("facilitator", *args, cwd=data.parent, stdin=stdin)
    assert_refused(result, message)
    assert_no_password(result)


def test_a_duplicate_facilitator_is_refused(data: Path) -> None:
    first = run_cli(
        "facilitator", "add", "bob", "--password-stdin", cwd=data.parent, stdin=PASSWORD
    )
    assert first.returncode == 0, first.stderr
    again = run_cli(
        "facilitator", "add", "BOB", "--password-stdin", cwd=data.parent, stdin=PASSWORD
    )
    assert_refused(again, "a facilitator named 'bob' already exists")


def test_a_bad_config_is_one_clear_line(tmp_path: Path, data: Path) -> None:
    assert_refused(
        run_cli("facilitator", "list", "--config", "missing.toml", cwd=tmp_path),
        "missing.toml: no such file",
    )
    (data / "config.toml").write_text("[server]\nport = 0\n")
    assert_refused(run_cli("migrate", "--config", "data/config.toml", cwd=tmp_path), "server.port")
    (data / "secret.key").chmod(0o644)
    (data / "config.toml").write_text("")
    assert_refused(run_cli("serve", cwd=tmp_path), "chmod 600")


# --- migrate, backup, purge ---------------------------------------------------------------------


def test_migrate_reports_versions(data: Path) -> None:
    first = run_cli("migrate", cwd=data.parent)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"schema version 0 -> {latest_version()}"
    again = run_cli("migrate", cwd=data.parent)
    assert again.stdout.strip() == f"schema version {latest_version()}: already up to date"


def test_migrate_refuses_a_database_from_a_newer_hearth(data: Path) -> None:
    database = data / "hearth.sqlite3"
    with closing(sqlite3.connect(database)) as conn:
        conn.execute(f"PRAGMA user_version = {latest_version() + 5}")
    for command in (["migrate"], ["facilitator", "list"], ["serve"]):
        result = run_cli(*command, cwd=data.parent)
        assert_refused(
            result,
            f"the database has schema version {latest_version() + 5} but this Hearth knows only "
            f"up to {latest_version()}",
        )
    with closing(sqlite3.connect(database)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_version() + 5
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def test_backup_makes_a_sound_private_copy_and_never_overwrites(data: Path) -> None:
    cwd = data.parent
    run_cli("facilitator", "add", "alice", "--password-stdin", cwd=cwd, stdin=PASSWORD)
    result = run_cli("backup", "copy.sqlite3", cwd=cwd)
    assert result.returncode == 0, result.stderr
    copy = cwd / "copy.sqlite3"
    assert f"({copy.stat().st_size} bytes)" in result.stdout
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    with closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("SELECT username FROM facilitators").fetchall() == [("alice",)]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == latest_version()

    before = copy.read_bytes()
    assert_refused(run_cli("backup", "copy.sqlite3", cwd=cwd), "copy.sqlite3 already exists")
    assert copy.read_bytes() == before


def test_backup_without_a_database_is_refused(data: Path) -> None:
    assert_refused(run_cli("backup", "copy.sqlite3", cwd=data.parent), "nothing to back up")
    assert not (data.parent / "copy.sqlite3").exists()


def test_purge_prints_what_it_deleted(data: Path) -> None:
    from server.storage import retention

    result = run_cli("purge", cwd=data.parent)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    expected = [f"{f.name}: 0" for f in dataclasses.fields(retention.PurgeResult)]
    assert lines == [*expected, "facilitator_sessions: 0", "resolved_reports: 0"]


def test_list_output_is_plain_text(data: Path) -> None:
    run_cli("facilitator", "add", "zed", "--password-stdin", cwd=data.parent, stdin=PASSWORD)
    listed = run_cli("facilitator", "list", cwd=data.parent)
    header, row = listed.stdout.splitlines()
    assert header.split() == ["username", "status", "created", "(UTC)"]
    assert row.split()[:2] == ["zed", "active"]


def test_a_file_that_is_not_a_database_is_one_clear_line(data: Path) -> None:
    (data / "hearth.sqlite3").write_text("not a database")
    assert_refused(run_cli("facilitator", "list", cwd=data.parent), "file is not a database")
    assert_refused(run_cli("backup", "copy.sqlite3", cwd=data.parent), "file is not a database")
    assert not (data.parent / "copy.sqlite3").exists()


def test_serve_refuses_an_unknown_moderation_backend_in_one_line(data: Path) -> None:
    config = data / "config.toml"
    config.write_text(config.read_text().replace('backend = "sqlite"', 'backend = "nope"'))
    result = run_cli("serve", "--port", "1", cwd=data.parent)
    assert_refused(result, "nope")
    assert "sqlite" in result.stderr  # it lists what is installed
