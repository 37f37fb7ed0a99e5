"""At every log level, including debug, the log holds no plaintext, report reason, pseudonym,
password or client address: a real server at ``log_level = "debug"`` through a whole session
of joining, chatting, reporting and reading the report."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto.encoding import b64encode
from tests.adversarial.adv_support import raw_connected
from tests.conftest import (
    FACILITATOR_PASSWORD,
    GENEROUS_LIMITS,
    Clients,
    RunningServer,
    facilitator,
    free_port,
    member_in,
)

PLAINTEXT = "plain-canary-41c7: the night I could not stop shaking"
REASON = "reason-canary-93be: this frightens me"
PSEUDONYM = "Vexillo Quokka"
HOST_NAME = "Zephyrine Marten"


class DebugServer(RunningServer):
    def write_config(self) -> None:
        super().write_config()
        text = self.config_path.read_text()
        self.config_path.write_text(text.replace('log_level = "info"', 'log_level = "debug"'))


@pytest.fixture
def hearth_server(tmp_path: Path) -> Iterator[RunningServer]:
    server = DebugServer(tmp_path / "hearth", free_port(), GENEROUS_LIMITS)
    server.add_facilitator()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def needles() -> dict[str, bytes]:
    found = {}
    for what, text in (
        ("message plaintext", PLAINTEXT),
        ("report reason", REASON),
        ("member pseudonym", PSEUDONYM),
        ("facilitator pseudonym", HOST_NAME),
        ("facilitator password", FACILITATOR_PASSWORD),
    ):
        raw = text.encode()
        found[what] = raw[:16]
        found[f"{what} (base64)"] = base64.b64encode(raw)[:16]
        found[f"{what} (JSON-escaped)"] = text.encode("unicode_escape")[:16]
    found["client address"] = b"127.0.0.1"
    return found


async def test_debug_log_holds_no_content_names_or_addresses(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac = await facilitator(make_client)
    group = await fac.create_group("Debug circle", pseudonym=HOST_NAME)
    ana = await member_in(make_client, fac, group, PSEUDONYM)
    sent = await ana.send(group, PLAINTEXT)
    await fac.wait_for(lambda: PLAINTEXT in fac.texts(group))
    report = await fac.report(group, sent["seq"], REASON)
    shown = await fac.call("moderation.get", {"report_id": report["report_id"]})
    assert shown["report"]["content"] == PLAINTEXT  # the canaries really went through
    await fac.call("members.list", {"group_id": b64encode(group)})
    await ana.leave(group)
    raw = await raw_connected(hearth_server)  # Hearth's own debug line: a malformed packet
    await raw.send(f'42["msg.send","{PSEUDONYM}"')
    await raw.call("groups.list", {})
    await raw.close()
    hearth_server.stop()

    log = hearth_server.log_path.read_bytes()
    assert b" DEBUG hearth.realtime: a malformed" in log  # it really ran at debug level
    for what, needle in needles().items():
        lines = [line for line in log.splitlines() if needle in line]
        assert not lines, f"{what} in the log: {lines[:3]!r}"
