"""The ``hearth`` command: set up, serve, manage facilitators, migrate, back up and purge.

Exit codes: 0 done, 1 refused or failed (one line on stderr, no traceback), 2 wrong usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import getpass
import os
import re
import secrets
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import asyncpg

from crypto.encoding import b64decode
from moderation.errors import ModerationError
from server.allocator import restart_under_jemalloc
from server.cli_reports import add_report_commands
from server.config import (
    SECRET_KEY_BYTES,
    Config,
    ConfigError,
    FacilitatorsConfig,
    listening_on,
    load_config,
    render_example_config,
)
from server.crisis_setup import TerminalAnswers, ask_crisis_resources
from server.passwords import PasswordChecker, PasswordPolicyError, check_password_length
from server.session_notices import announce_sessions_ended
from server.storage.administrators import AdministratorStore
from server.storage.cofacilitators import CoFacilitatorStore
from server.storage.database import Database
from server.storage.facilitators import (
    DuplicateUsername,
    FacilitatorStore,
    UnknownFacilitator,
    normalise_username,
)
from server.storage.groups import GroupStore
from server.storage.migrations import SchemaTooNew, latest_version, migrate, schema_version
from server.storage.opening import open_database
from server.storage.preflight import DatabaseRefused, check_database_file

_T = TypeVar("_T")
DEFAULT_DIR = Path("data")
DEFAULT_CONFIG = DEFAULT_DIR / "config.toml"


class CommandError(Exception):
    """An expected refusal: printed as one line, exit code 1."""


# A 16-byte id in base64url; one in 64 starts with "-", which argparse would take for an option.
DASHED_ID = re.compile(r"-[A-Za-z0-9_-]{21}")


def _dashed_ids_last(argv: Sequence[str]) -> list[str]:
    """Move group ids that start with "-" behind a "--", where argparse reads them as the
    positional arguments they are (GROUP_ID is always the last one of its command)."""
    ids = [arg for arg in argv if DASHED_ID.fullmatch(arg)]
    if not ids or "--" in argv:
        return list(argv)
    return [arg for arg in argv if arg not in ids] + ["--", *ids]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(_dashed_ids_last(sys.argv[1:] if argv is None else argv))
    command: Callable[[argparse.Namespace], None] = args.command
    try:
        command(args)
    except (
        CommandError,
        ConfigError,
        SchemaTooNew,
        DatabaseRefused,
        DuplicateUsername,
        UnknownFacilitator,
        PasswordPolicyError,
        ModerationError,
    ) as error:
        print(f"hearth: error: {error}", file=sys.stderr)
        return 1
    except (sqlite3.Error, OSError, asyncpg.PostgresError) as error:
        # Operational (a locked, unreadable or foreign file): the message says which.
        print(f"hearth: error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hearth: interrupted", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hearth", description="Hearth: anonymous peer-support chat server."
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    with_config = argparse.ArgumentParser(add_help=False)
    with_config.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        metavar="FILE",
        help=f"configuration file (default: {DEFAULT_CONFIG})",
    )

    init = commands.add_parser("init", help="create a configuration and a secret key")
    init.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_DIR,
        help=f"where to create them (default: {DEFAULT_DIR})",
    )
    init.set_defaults(command=cmd_init)

    serve = commands.add_parser("serve", parents=[with_config], help="run the server")
    serve.add_argument("--host", help="address to listen on (overrides server.host)")
    serve.add_argument("--port", type=_port, help="port to listen on (overrides server.port)")
    serve.add_argument(
        "--metrics-port",
        type=_port,
        help="port of the metrics, when enabled (overrides metrics.listen_port)",
    )
    serve.set_defaults(command=cmd_serve)

    facilitator = commands.add_parser("facilitator", help="manage facilitator accounts")
    accounts = facilitator.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add = accounts.add_parser("add", parents=[with_config], help="add a facilitator")
    add.add_argument("name", metavar="NAME")
    _add_password_stdin(add)
    add.set_defaults(command=cmd_facilitator_add)
    listing = accounts.add_parser("list", parents=[with_config], help="list facilitators")
    listing.set_defaults(command=cmd_facilitator_list)
    disable = accounts.add_parser(
        "disable", parents=[with_config], help="disable a facilitator and end their sessions"
    )
    disable.add_argument("name", metavar="NAME")
    disable.set_defaults(command=cmd_facilitator_disable)
    enable = accounts.add_parser("enable", parents=[with_config], help="enable a facilitator")
    enable.add_argument("name", metavar="NAME")
    enable.set_defaults(command=cmd_facilitator_enable)
    reset = accounts.add_parser(
        "reset-password",
        parents=[with_config],
        help="set a new password and end the facilitator's sessions",
    )
    reset.add_argument("name", metavar="NAME")
    _add_password_stdin(reset)
    reset.set_defaults(command=cmd_facilitator_reset_password)

    grant = accounts.add_parser(
        "grant",
        parents=[with_config],
        help="invite a facilitator to facilitate a group (a facilitator of it admits them)",
    )
    grant.add_argument("name", metavar="NAME")
    grant.add_argument("group", metavar="GROUP_ID", help="the group's id (base64url)")
    grant.set_defaults(command=cmd_facilitator_grant)

    administrator = accounts.add_parser(
        "administrator",
        parents=[with_config],
        help="make a facilitator an administrator, who invites and removes the facilitators of "
        "any group (or, with --revoke, no longer one)",
    )
    administrator.add_argument("name", metavar="NAME")
    administrator.add_argument("--revoke", action="store_true", help="no longer an administrator")
    administrator.set_defaults(command=cmd_facilitator_administrator)

    migrate_ = commands.add_parser(
        "migrate", parents=[with_config], help="bring the database schema up to date"
    )
    migrate_.set_defaults(command=cmd_migrate)

    migrate_to = commands.add_parser(
        "migrate-to",
        parents=[with_config],
        help="move the SQLite database into an empty PostgreSQL database (one way)",
    )
    migrate_to.add_argument("url", metavar="URL", help="postgresql://user@host/database")
    migrate_to.set_defaults(command=cmd_migrate_to)

    backup = commands.add_parser(
        "backup",
        parents=[with_config],
        help="copy the database to a new file, safely while serving",
    )
    backup.add_argument("path", type=Path, metavar="PATH", help="the new file (must not exist)")
    backup.set_defaults(command=cmd_backup)

    purge = commands.add_parser(
        "purge", parents=[with_config], help="delete everything past its retention now"
    )
    purge.set_defaults(command=cmd_purge)

    audit = commands.add_parser("audit", help="check the audit log of facilitator actions")
    audit_commands = audit.add_subparsers(required=True, metavar="ACTION")
    verify = audit_commands.add_parser(
        "verify", parents=[with_config], help="check that no audit entry was changed or removed"
    )
    verify.set_defaults(command=cmd_audit_verify)

    add_report_commands(commands, with_config)
    return parser


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text!r}")
    return int(text)


def _add_password_stdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password as one line from standard input instead of asking twice",
    )


# --- init and serve ---------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> None:
    directory: Path = args.dir
    config_file = directory / "config.toml"
    key_file = directory / "secret.key"
    for path in (config_file, key_file):
        if path.exists():
            raise CommandError(f"{path} already exists; not overwriting it")
    # Asked only on a terminal: scripts, CI and tests get the documented file, which marks the
    # crisis resources as required, and the warning below.
    resources = ask_crisis_resources(TerminalAnswers(), sys.stdout) if sys.stdin.isatty() else ()
    # The directory will hold the database and the key: only its owner should enter it.
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_new_file(key_file, secrets.token_hex(SECRET_KEY_BYTES) + "\n", mode=0o600)
    values = {"safety.crisis_resources": resources} if resources else {}
    _write_new_file(config_file, render_example_config(values), mode=0o644)
    print(f"wrote {config_file} and {key_file} (mode 600)")
    if not resources:
        print(f"REQUIRED: set safety.crisis_resources in {config_file} before members use Hearth")
    print(f"next: hearth facilitator add NAME --config {config_file}")
    print(f"then: hearth serve --config {config_file}")


def _write_new_file(path: Path, text: str, *, mode: int) -> None:
    # O_EXCL: never replace a file, even one created between our check and this call.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise CommandError(f"{path} already exists; not overwriting it") from None
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        if mode == 0o600:
            os.fchmod(file.fileno(), mode)  # whatever the umask: the key must be exactly 600
        file.write(text)
        file.flush()
        os.fsync(file.fileno())


def cmd_serve(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    # Before anything is opened: the process may start again, under jemalloc, with these arguments.
    restart_under_jemalloc(config.server.allocator)
    if args.port is not None:
        config = listening_on(config, args.port)
    if args.metrics_port is not None:  # several processes on one config file (deployment.md)
        metrics = dataclasses.replace(config.metrics, listen_port=args.metrics_port)
        config = dataclasses.replace(config, metrics=metrics)
    # Refused here first, before any thread exists that would keep the process alive.
    if not config.storage.url:
        check_database_file(config.storage.database)
    # Imported here so that managing accounts never loads the web stack.
    from server.app import serve

    serve(config, host=args.host)


# --- facilitators -----------------------------------------------------------------------------


def cmd_facilitator_add(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    name = _username(args.name)
    password = _read_new_password(args.password_stdin, config.facilitators)

    async def run(db: Database) -> None:
        checker = PasswordChecker(config.facilitators.max_concurrent_password_checks)
        password_hash = await checker.hash(password)
        await FacilitatorStore(db).create(name, password_hash, _now_ms())

    _run_with_database(config, run)
    print(f"added facilitator {name!r}")


def cmd_facilitator_list(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    facilitators = _run_with_database(config, lambda db: FacilitatorStore(db).list())
    if not facilitators:
        print("no facilitators yet; add one with `hearth facilitator add NAME`")
        return
    width = max(len("username"), *(len(f.username) for f in facilitators))
    print(f"{'username':<{width}}  {'status':<8}  created (UTC)")
    for facilitator in facilitators:
        created = datetime.fromtimestamp(facilitator.created_at / 1000, UTC)
        status = "disabled" if facilitator.disabled else "active"
        print(f"{facilitator.username:<{width}}  {status:<8}  {created:%Y-%m-%d %H:%M}")


def cmd_facilitator_disable(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    name = _username(args.name)
    ended = _run_with_database(config, lambda db: FacilitatorStore(db).set_disabled(name, True))
    print(f"disabled facilitator {name!r}; ended {len(ended)} session(s)")
    _announce_sessions_ended(config)


def cmd_facilitator_enable(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    name = _username(args.name)
    _run_with_database(config, lambda db: FacilitatorStore(db).set_disabled(name, False))
    print(f"enabled facilitator {name!r}")


def cmd_facilitator_reset_password(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    name = _username(args.name)
    password = _read_new_password(args.password_stdin, config.facilitators)

    async def run(db: Database) -> list[bytes]:
        store = FacilitatorStore(db)
        if await store.get_by_username(name) is None:
            raise UnknownFacilitator(f"no facilitator is named {name!r}")
        checker = PasswordChecker(config.facilitators.max_concurrent_password_checks)
        return await store.set_password_hash(name, await checker.hash(password))

    ended = _run_with_database(config, run)
    print(f"set a new password for {name!r}; ended {len(ended)} session(s)")
    _announce_sessions_ended(config)


def cmd_facilitator_grant(args: argparse.Namespace) -> None:
    """The operator's way to add a facilitator to a group (docs/protocol.md §6.8): an
    invitation, like ``facilitator.add``. Power comes only once a facilitator of the group
    admits the account's member with the facilitator role, which every member verifies."""
    config = load_config(args.config)
    name = _username(args.name)
    try:
        group_id = b64decode(args.group)
    except (ValueError, TypeError):
        raise CommandError("GROUP_ID must be a group id in base64url") from None
    if len(group_id) != 16:
        raise CommandError("GROUP_ID must be a 16-byte group id in base64url")

    async def run(db: Database) -> bool:
        account = await FacilitatorStore(db).get_by_username(name)
        if account is None or account.disabled:
            raise CommandError(f"no facilitator account in use is named {name!r}")
        if await GroupStore(db, departed_key=bytes(32)).get_group(group_id) is None:
            raise CommandError("no group has this id")
        return await CoFacilitatorStore(db).invite(group_id, account.id)

    if not _run_with_database(config, run):
        raise CommandError(f"{name!r} already facilitates or is invited to this group")
    print(
        f"invited {name!r} to facilitate the group: they accept it in their console, and a "
        "facilitator of the group admits them"
    )


def cmd_facilitator_administrator(args: argparse.Namespace) -> None:
    """The operator makes the first administrator (docs/protocol.md §6.11)."""
    config = load_config(args.config)
    name = _username(args.name)
    found = _run_with_database(config, lambda db: AdministratorStore(db).set(name, not args.revoke))
    if not found:
        raise CommandError(f"no facilitator is named {name!r}")
    print(f"{name!r} is {'no longer ' if args.revoke else ''}an administrator")


def _announce_sessions_ended(config: Config) -> None:
    """Running servers re-check open sockets every [facilitators] session_check_seconds; with
    Redis they are also told at once (server/session_notices.py)."""
    seconds = config.facilitators.session_check_seconds
    if not config.scale.redis_url:
        print(f"running servers take the facilitator's power off open sockets within {seconds} s")
        return
    if asyncio.run(announce_sessions_ended(config.scale.redis_url)):
        print("running servers were told through Redis")
    else:
        print(
            f"Redis could not be reached: running servers take the facilitator's power off "
            f"open sockets within {seconds} s",
            file=sys.stderr,
        )


def _username(name: str) -> str:
    try:
        return normalise_username(name)
    except ValueError as error:
        raise CommandError(f"invalid username: {error}") from None


def _read_new_password(from_stdin: bool, limits: FacilitatorsConfig) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise CommandError("no password on standard input")
        password = line.removesuffix("\n").removesuffix("\r")
    elif sys.stdin.isatty():
        password = getpass.getpass("New password: ")
        if getpass.getpass("Repeat the password: ") != password:
            raise CommandError("the two passwords differ")
    else:
        raise CommandError("standard input is not a terminal: use --password-stdin")
    check_password_length(
        password, min_length=limits.min_password_length, max_length=limits.max_password_length
    )
    return password


# --- database maintenance ---------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace) -> None:
    config = load_config(args.config)

    async def run() -> tuple[int, int]:
        if config.storage.url:
            from server.storage.postgres.migrations import migrate as migrate_postgres

            conn = await _connect_postgres(config.storage.url)
            try:
                return await migrate_postgres(conn)
            finally:
                await conn.close()
        before = await _check_schema(config.storage.database)
        db = await _open_database(config)
        try:
            row = await db.fetch_one("PRAGMA user_version")
        finally:
            await db.close()
        return before, 0 if row is None else int(row[0])

    before, after = asyncio.run(run())
    if before == after:
        print(f"schema version {after}: already up to date")
    else:
        print(f"schema version {before} -> {after}")


def cmd_migrate_to(args: argparse.Namespace) -> None:
    """Move the SQLite database into an empty PostgreSQL database (docs/storage.md)."""
    from server.storage.postgres.database import redacted
    from server.storage.postgres.transfer import copy_sqlite_to_postgres

    config = load_config(args.config)
    url: str = args.url
    if not url.startswith(("postgresql://", "postgres://")):
        raise CommandError(f"{url!r} is not a postgresql:// URL")
    if config.storage.url:
        raise CommandError(
            "[storage] url is set already: this configuration stores in PostgreSQL, there is "
            "no SQLite database to move"
        )
    source = config.storage.database
    if not source.is_file():
        raise CommandError(f"{source} does not exist: there is nothing to move")
    check_database_file(source)

    async def run() -> None:
        await _check_schema(source)
        db = await _open_database(config)  # brings the file to the latest schema
        await db.close()

    asyncio.run(run())
    moved = asyncio.run(copy_sqlite_to_postgres(source, url))
    for table, count in moved.rows.items():
        print(f"{table}: {count} rows")
    if moved.left_in_sqlite:
        print(
            f"left in {source} (the moderation backend's own tables): "
            + ", ".join(moved.left_in_sqlite)
        )
    print(
        f"moved {source} to {redacted(url)}; row counts match. Stop every `hearth serve`, set "
        f'[storage] url = "{redacted(url)}" in the configuration, and start them again; '
        f"keep {source} as it is until you have checked the move"
    )


async def _connect_postgres(url: str) -> Any:
    import asyncpg

    from server.storage.postgres.database import redacted

    try:
        return await asyncpg.connect(url)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise CommandError(f"cannot connect to {redacted(url)}: {error}") from None


def cmd_backup(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    if config.storage.url:
        _backup_postgres(config.storage.url, args.path)
        return
    source_path = config.storage.database
    target_path: Path = args.path
    if not source_path.is_file():
        raise CommandError(f"{source_path} does not exist: there is nothing to back up")
    # Created exclusively and private: a backup holds password hashes like the original.
    try:
        os.close(os.open(target_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise CommandError(f"{target_path} already exists; not overwriting it") from None
    except OSError as error:
        raise CommandError(f"cannot create {target_path}: {error.strerror}") from None
    try:
        integrity = _backup(source_path, target_path)
    except BaseException:
        target_path.unlink(missing_ok=True)
        raise
    if integrity != "ok":
        target_path.unlink(missing_ok=True)
        raise CommandError(f"the copy failed its integrity check ({integrity}); nothing kept")
    print(f"backed up {source_path} to {target_path} ({target_path.stat().st_size} bytes)")


def _backup_postgres(url: str, target_path: Path) -> None:
    """pg_dump into a new private file (``pg_restore`` reads it back)."""
    from server.storage.postgres.database import redacted
    from server.storage.postgres.transfer import TransferRefused, dump

    try:
        os.close(os.open(target_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise CommandError(f"{target_path} already exists; not overwriting it") from None
    except OSError as error:
        raise CommandError(f"cannot create {target_path}: {error.strerror}") from None
    try:
        dump(url, target_path)
    except TransferRefused as error:
        target_path.unlink(missing_ok=True)
        raise CommandError(str(error)) from None
    except BaseException:
        target_path.unlink(missing_ok=True)
        raise
    print(
        f"backed up {redacted(url)} to {target_path} ({target_path.stat().st_size} bytes, "
        "pg_dump custom format: restore with pg_restore)"
    )


def _backup(source_path: Path, target_path: Path) -> str:
    """SQLite's online backup: a consistent copy even while the server is writing."""
    with (
        closing(sqlite3.connect(source_path)) as source,
        closing(sqlite3.connect(target_path)) as target,
    ):
        source.execute("PRAGMA busy_timeout = 10000")
        source.backup(target)
        # One self-contained file, without a -wal beside it.
        target.execute("PRAGMA journal_mode = DELETE")
        row = target.execute("PRAGMA integrity_check").fetchone()
    fd = os.open(target_path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return "missing" if row is None else str(row[0])


def cmd_purge(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    from server.storage.retention import PurgeResult, purge_expired

    facilitators = config.facilitators

    from server.app import load_moderation
    from server.keyring import Keyring
    from server.storage.retention import DAY_MS

    async def run(db: Database) -> tuple[PurgeResult, int, int]:
        now = _now_ms()
        result = await purge_expired(db, now)
        sessions = await FacilitatorStore(db).delete_expired_sessions(
            now,
            facilitators.session_idle_minutes * 60_000,
            facilitators.session_absolute_hours * 3_600_000,
        )
        keyring = Keyring.from_secret(config.secret_key.reveal(), config.franking.current_kid)
        queue, _ = load_moderation(config, keyring, _now_ms)
        await queue.start()
        try:
            reports = await queue.purge_resolved(config.moderation.report_retention_days * DAY_MS)
        finally:
            await queue.close()
        return result, sessions, reports

    result, sessions, reports = _run_with_database(config, run)
    for key, value in dataclasses.asdict(result).items():
        print(f"{key}: {value}")
    print(f"facilitator_sessions: {sessions}")
    print(f"resolved_reports: {reports}")


def cmd_audit_verify(args: argparse.Namespace) -> None:
    from moderation.audit import verify_chain
    from server.storage.audit import all_entries

    config = load_config(args.config)
    database = config.storage.database
    if config.storage.url:
        from server.storage.audit import all_entries_of

        entries = _run_with_database(config, all_entries_of)
    else:
        if not database.exists():
            raise CommandError(f"{database} does not exist")
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
            entries = all_entries(conn)
    broken = verify_chain(entries)
    if broken is not None:
        raise CommandError(
            f"the audit log is broken at entry {broken}: an entry was changed, removed or inserted"
        )
    print(f"audit log intact: {len(entries)} entries")


# --- helpers ----------------------------------------------------------------------------------


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _run_with_database(config: Config, job: Callable[[Database], Awaitable[_T]]) -> _T:
    async def run() -> _T:
        db = await _open_database(config)
        try:
            return await job(db)
        finally:
            await db.close()

    return asyncio.run(run())


async def _open_database(config: Config) -> Database:
    if config.storage.url:
        from server.storage.postgres.database import redacted

        try:
            return await open_database(config)
        except ConnectionError as error:
            raise CommandError(str(error)) from None
        except Exception as error:
            raise CommandError(f"{redacted(config.storage.url)}: {error}") from None
    await _check_schema(config.storage.database)
    return await open_database(config)


async def _check_schema(path: Path) -> int:
    """The schema version on disk; raises ``SchemaTooNew`` without touching a newer database.

    Checked before ``Database.open``, which would migrate; ``hearth serve`` checks more
    (``server/storage/preflight.py``).
    """
    if not await asyncio.to_thread(path.exists):
        return 0
    conn = await aiosqlite.connect(path)
    try:
        version = await schema_version(conn)
        if version > latest_version():
            await migrate(conn)  # raises SchemaTooNew with its message and changes nothing
        return version
    finally:
        await conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
