"""Crisis services, words and phrase lists per language or country ([safety] *_by_locale):
loaded with their key paths checked, and served to the page by GET /api/settings."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.config import ConfigError, CrisisResource, load_config
from tests.conftest import RunningServer, free_port
from tests.server.conftest_helpers_auth import write_config

LOCALES = """
[safety]
crisis_resources = [{ name = "Default Line", phone = "+1 555 0100" }]
crisis_words = ["overdose"]
[safety.crisis_resources_by_locale]
es = [{ name = "Línea", phone = "+34 900 000 100", hours = "24 h" }]
"es-MX" = [{ name = "Línea MX", url = "https://mx.example.org" }]
[safety.crisis_words_by_locale]
es = ["sobredosis", "quitarme la vida"]
[safety.crisis_phrases_by_locale]
ar = "انتحار*"
"""


def test_per_locale_lists_are_loaded(tmp_path: Path) -> None:
    safety = load_config(write_config(tmp_path, LOCALES)).safety
    assert safety.crisis_resources_by_locale == {
        "es": (CrisisResource(name="Línea", phone="+34 900 000 100", hours="24 h"),),
        "es-MX": (CrisisResource(name="Línea MX", url="https://mx.example.org"),),
    }
    assert safety.crisis_words_by_locale == {"es": ("sobredosis", "quitarme la vida")}
    assert safety.crisis_phrases_by_locale == {"ar": "انتحار*"}


@pytest.mark.parametrize(
    ("toml", "key", "expected"),
    [
        (
            "[safety.crisis_resources_by_locale]\nSpanish = []",
            "safety.crisis_resources_by_locale",
            'language keys such as "es" or "es-MX"',
        ),
        (
            "[safety.crisis_resources_by_locale]\nes = [{ phone = '1' }]",
            "safety.crisis_resources_by_locale.es[0].name",
            "missing",
        ),
        (
            "[safety.crisis_resources_by_locale]\nes = [{ name = 'x', url = 'javascript:1' }]",
            "safety.crisis_resources_by_locale.es[0].url",
            "http(s)://",
        ),
        ("[safety]\ncrisis_words_by_locale = { es = [' '] }", "safety.crisis_words_by_locale",
         "non-empty words"),
        ("[safety]\ncrisis_words_by_locale = { es = 'x' }", "safety.crisis_words_by_locale.es",
         "an array"),
        ("[safety]\ncrisis_phrases_by_locale = { es = 1 }", "safety.crisis_phrases_by_locale.es",
         "a string"),
        ("[safety]\ncrisis_phrases_by_locale = []", "safety.crisis_phrases_by_locale",
         "a table"),
    ],
)  # fmt: skip
def test_bad_per_locale_lists_name_their_key(
    tmp_path: Path, toml: str, key: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, toml))
    assert f"{key}:" in str(caught.value)
    assert expected in str(caught.value)


@pytest.fixture
def locale_server(tmp_path: Path) -> Iterator[RunningServer]:
    server = RunningServer(tmp_path / "hearth", free_port(), extra_config=LOCALES)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_page_gets_every_list(locale_server: RunningServer) -> None:
    with urllib.request.urlopen(locale_server.url + "/api/settings", timeout=5) as response:
        settings: dict[str, Any] = json.load(response)
    assert settings["crisis_resources"] == [
        {"name": "Default Line", "phone": "+1 555 0100", "url": "", "hours": ""}
    ]
    assert settings["crisis_resources_by_locale"] == {
        "es": [{"name": "Línea", "phone": "+34 900 000 100", "url": "", "hours": "24 h"}],
        "es-MX": [{"name": "Línea MX", "phone": "", "url": "https://mx.example.org", "hours": ""}],
    }
    assert settings["crisis_words_by_locale"] == {"es": ["sobredosis", "quitarme la vida"]}
    assert settings["crisis_phrases_by_locale"] == {"ar": "انتحار*"}
