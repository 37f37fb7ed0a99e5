"""A throwaway PostgreSQL cluster for tests: Debian's ``initdb`` and ``postgres`` in a temporary
directory, on a free loopback port with its unix socket in that directory, stopped by its pid.

PostgreSQL refuses to run as root, so as root the cluster's directory is given to Debian's
``postgres`` user and both programs run as that user. If the binaries are missing or the cluster
cannot start, tests that need it fail loudly when ``CI=true`` (``.ci/run`` installs
``postgresql``) and are skipped with the reason otherwise.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def postgres_bin() -> Path | None:
    """Debian keeps initdb and postgres off PATH, under /usr/lib/postgresql/<version>/bin."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return None if initdb is None else Path(initdb).resolve().parent


def unavailable(reason: str) -> None:
    """Fail in CI (the cluster is part of what CI must prove), skip with the reason elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is needed in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class PostgresCluster:
    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    fsync: bool = False  # a throwaway cluster for tests; benchmarks measure with it on
    _databases: int = 0

    @property
    def admin_url(self) -> str:
        return f"postgresql://hearth@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://hearth@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database in this cluster; returns its URL."""
        self._databases += 1
        name = f"hearth_{os.getpid()}_{self._databases}"
        self.psql("postgres", f"CREATE DATABASE {name}")
        return self.url(name)

    def psql(self, database: str, sql: str) -> str:
        bin_dir = postgres_bin()
        assert bin_dir is not None
        done = subprocess.run(
            [
                str(bin_dir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "hearth",
                "-d",
                database,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # PostgreSQL's "fast" shutdown
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def start(self) -> None:
        """(Re)start the server on the same directory and port."""
        bin_dir = postgres_bin()
        assert bin_dir is not None
        data = self.directory / "data"
        log = open(self.directory / "postgres.log", "ab")  # noqa: SIM115 (kept by the process)
        self.process = subprocess.Popen(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(self.directory),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"fsync={'on' if self.fsync else 'off'}",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=16MB",
            ],
            stdout=log,
            stderr=log,
            user=_run_as(),
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    "postgres exited: " + (self.directory / "postgres.log").read_text()[-2000:]
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                self.psql("postgres", "SELECT 1")
                return
            except (OSError, RuntimeError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("postgres did not accept connections within 30 s")


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    pwd.getpwnam("postgres")  # KeyError: Debian's postgresql package creates this user
    return "postgres"


def start_cluster(*, fsync: bool = False) -> PostgresCluster:
    """initdb a new cluster in a fresh temporary directory and start it."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise FileNotFoundError(
            "initdb not found (Debian: apt-get install -y postgresql; it lives in "
            "/usr/lib/postgresql/<version>/bin)"
        )
    # Not under pytest's tmp_path: its parents are private to root and postgres must reach it.
    directory = Path(tempfile.mkdtemp(prefix="hearth-pg-"))
    user = _run_as()
    if user is not None:
        shutil.chown(directory, user)
    done = subprocess.run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(directory / "data"),
            "-U",
            "hearth",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        user=user,
    )
    if done.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {done.stderr.strip()[-2000:]}")
    cluster = PostgresCluster(directory, _free_port(), fsync=fsync)
    try:
        cluster.start()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return cluster


def remove_cluster(cluster: PostgresCluster) -> None:
    cluster.stop()
    shutil.rmtree(cluster.directory, ignore_errors=True)
