"""Crisis resources at set-up: ``hearth init`` asks for them on a terminal (and only there), the
file it writes otherwise marks them as required, and ``hearth serve`` warns while there are none."""

from __future__ import annotations

import os
import pty
import re
import socket
import subprocess
import sys
from pathlib import Path

from server.config import CrisisResource, load_config, render_example_config
from tests.server.conftest_helpers_auth import REPO, run_cli


def init_on_a_terminal(cwd: Path, answers: list[str]) -> str:
    """``hearth init`` with a pseudo-terminal as stdin; returns what it printed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "init", "--dir", "data"],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    os.close(follower)
    try:
        for answer in answers:
            os.write(leader, answer.encode() + (b"" if answer == "\x04" else b"\n"))
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
        os.close(leader)
    assert process.returncode == 0, err.decode()
    return out.decode()


def test_init_on_a_terminal_asks_for_the_crisis_resources(tmp_path: Path) -> None:
    printed = init_on_a_terminal(
        tmp_path,
        [
            "Night Line",
            "+44 800 0000",
            "javascript:alert(1)",  # refused, asked again
            "https://night.example.org",
            "24/7",
            "Day Line",
            "",
            "",
            "weekdays 9-5",
            "",
        ],
    )
    assert "Crisis resources (required)" in printed
    assert "expected an http(s):// address" in printed
    assert "REQUIRED" not in printed.split("mode 600")[1]
    config = load_config(tmp_path / "data" / "config.toml")
    assert config.safety.crisis_resources == (
        CrisisResource("Night Line", "+44 800 0000", "https://night.example.org", "24/7"),
        CrisisResource("Day Line", "", "", "weekdays 9-5"),
    )
    text = (tmp_path / "data" / "config.toml").read_text(encoding="utf-8")
    assert text == render_example_config(
        {"safety.crisis_resources": config.safety.crisis_resources}
    )


def test_init_on_a_terminal_ends_at_end_of_input(tmp_path: Path) -> None:
    printed = init_on_a_terminal(tmp_path, ["Night Line", "\x04"])  # Ctrl-D at the phone prompt
    assert "Traceback" not in printed
    config = load_config(tmp_path / "data" / "config.toml")
    assert config.safety.crisis_resources == (CrisisResource("Night Line"),)


def test_init_without_a_terminal_never_waits_and_marks_them_required(tmp_path: Path) -> None:
    result = run_cli("init", "--dir", "data", cwd=tmp_path, stdin="Night Line\n", timeout=30)
    assert result.returncode == 0, result.stderr
    assert "REQUIRED: set safety.crisis_resources" in result.stdout
    text = (tmp_path / "data" / "config.toml").read_text(encoding="utf-8")
    block = text.split("crisis_resources = [", 1)[0].rsplit("[safety]", 1)[1]
    assert "# REQUIRED before members use Hearth" in block
    assert load_config(tmp_path / "data" / "config.toml").safety.crisis_resources == ()


def serve_log(data: Path) -> str:
    """What ``hearth serve`` logs; it is given a port already taken, so it stops by itself
    right after starting."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = str(taken.getsockname()[1])
    try:
        result = run_cli("serve", "--config", "config.toml", "--port", port, cwd=data, timeout=30)
    finally:
        taken.close()
    assert "Hearth serving on port" in result.stderr, result.stderr
    return result.stderr


def test_serve_warns_until_crisis_resources_are_set(tmp_path: Path) -> None:
    assert run_cli("init", "--dir", "data", cwd=tmp_path).returncode == 0
    data = tmp_path / "data"
    assert "safety.crisis_resources is empty" in serve_log(data)
    config = data / "config.toml"
    text = config.read_text(encoding="utf-8").replace(
        "crisis_resources = [\n", 'crisis_resources = [\n    { name = "Night Line" },\n'
    )
    config.write_text(text, encoding="utf-8")
    assert "crisis_resources" not in serve_log(data)


def test_quick_exit_url_takes_a_path_here_or_a_web_address(tmp_path: Path) -> None:
    assert run_cli("init", "--dir", "data", cwd=tmp_path).returncode == 0
    config = tmp_path / "data" / "config.toml"
    assert load_config(config).safety.quick_exit_url == "/recipe.html"
    for url in ("/elsewhere.html", "https://weather.example.org/today"):
        text = config.read_text(encoding="utf-8")
        text = re.sub(r'quick_exit_url = ".*"', f'quick_exit_url = "{url}"', text)
        config.write_text(text, encoding="utf-8")
        assert load_config(config).safety.quick_exit_url == url
