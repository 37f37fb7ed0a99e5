"""deploy/hearth@.service is deploy/hearth.service with the port taken from the instance name:
nothing else may drift apart (the sandbox above all)."""

from __future__ import annotations

from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_template_unit_is_the_single_unit_with_a_port() -> None:
    single = (DEPLOY / "hearth.service").read_text()
    template = (DEPLOY / "hearth@.service").read_text()
    unit = single[single.index("[Unit]") :]
    expected = unit.replace(
        "--config /etc/hearth/config.toml\n", "--config /etc/hearth/config.toml --port %i\n"
    ).replace("chat server\n", "chat server on port %i\n")
    assert expected != unit
    assert template[template.index("[Unit]") :] == expected
