"""The webhook backend sends report contents: never over plain http:// across a network."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderation.backends.webhook import WebhookQueue
from moderation.errors import SettingsError
from moderation.queue import BackendContext
from tests.conftest import RunningServer, free_port, hearth_cli


def build(tmp_path: Path, url: str) -> WebhookQueue:
    return WebhookQueue(BackendContext(tmp_path / "h.sqlite3", {"url": url}, int, b"d" * 32))


@pytest.mark.parametrize(
    "url",
    [
        "http://cases.example.org/hearth",
        "http://10.0.0.5:8080/hook",
        "http://192.168.1.20/hook",
        "http://127.0.0.1.nip.io/hook",  # a name, not the loopback address
        "http://localhost.example.org/hook",
        "http://[2001:db8::1]/hook",
    ],
)
def test_plain_http_across_a_network_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(SettingsError) as raised:
        build(tmp_path, url)
    assert raised.value.key == "url"
    assert "[moderation.plugins.webhook] url must be an https:// URL" in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://cases.example.org/hearth",
        "http://127.0.0.1:8080/hook",
        "http://127.8.9.10/hook",
        "http://localhost:9000/hook",
        "http://LOCALHOST./hook",
        "http://[::1]:9000/hook",
    ],
)
def test_https_or_loopback_is_accepted(tmp_path: Path, url: str) -> None:
    assert build(tmp_path, url).url == url


def test_the_cli_refuses_such_a_config_and_names_the_key(tmp_path: Path) -> None:
    server = RunningServer(
        tmp_path / "hearth",
        free_port(),
        '[moderation]\nbackend = "webhook"\n'
        '[moderation.plugins.webhook]\nurl = "http://cases.example.org/hearth"\n',
    )
    server.write_config()
    result = hearth_cli("purge", config=server.config_path)
    assert result.returncode == 1
    assert "[moderation.plugins.webhook] url must be an https:// URL" in result.stderr
    assert "Traceback" not in result.stderr
