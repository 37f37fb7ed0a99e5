from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.config import (
    SECTIONS,
    Config,
    ConfigError,
    CrisisResource,
    FacilitatorsConfig,
    GroupsConfig,
    LimitsConfig,
    Secret,
    ServerConfig,
    StorageConfig,
    load_config,
    render_example_config,
)
from tests.server.conftest_helpers_auth import REPO, write_config

EXAMPLE = REPO / "config.example.toml"


def expected_defaults(directory: Path) -> dict[str, object]:
    """Every section at its defaults, with relative paths resolved against ``directory``."""
    sections: dict[str, object] = {name: cls() for name, cls in SECTIONS.items()}
    sections["server"] = dataclasses.replace(
        ServerConfig(), secret_key_file=directory / "secret.key"
    )
    sections["storage"] = dataclasses.replace(
        StorageConfig(), database=directory / "hearth.sqlite3"
    )
    return sections


def loaded_sections(config: Config) -> dict[str, object]:
    return {name: getattr(config, name) for name in SECTIONS}


def test_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    assert loaded_sections(config) == expected_defaults(tmp_path)
    assert config.path == tmp_path / "config.toml"
    assert len(config.secret_key.reveal()) == 32


def test_the_example_is_generated_from_the_fields() -> None:
    # If this fails after changing a setting: regenerate config.example.toml with
    # `python -c "from server.config import render_example_config as r; print(r(), end='')"`.
    assert EXAMPLE.read_text(encoding="utf-8") == render_example_config()


def test_the_example_documents_every_key_of_every_section() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    document = tomllib.loads(text)
    assert set(document) == set(SECTIONS)
    lines = text.splitlines()
    for name, cls in SECTIONS.items():
        fields = [f.name for f in dataclasses.fields(cls)]
        assert list(document[name]) == fields, f"[{name}] must show every key, in field order"
        for key in fields:
            (index,) = [i for i, line in enumerate(lines) if re.match(rf"{key} = ", line)]
            assert lines[index - 1].startswith("# "), f"{name}.{key} has no comment above it"


def test_loading_the_example_yields_the_defaults(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, EXAMPLE.read_text(encoding="utf-8")))
    assert loaded_sections(config) == expected_defaults(tmp_path)


def test_the_defaults_are_those_of_the_brief() -> None:
    assert ServerConfig().public_origins == ("http://127.0.0.1:8000", "http://localhost:8000")
    assert StorageConfig().synchronous == "FULL"
    assert GroupsConfig().max_members == 200
    assert FacilitatorsConfig().min_password_length == 12
    assert LimitsConfig().messages_per_second == 0.2
    assert SECTIONS["safety"]().crisis_resources == ()


def test_values_are_read_and_paths_resolved(tmp_path: Path) -> None:
    toml = """
[server]
port = 9000
public_origins = ["https://chat.example.org"]
https = true
[storage]
database = "db/hearth.sqlite3"
synchronous = "NORMAL"
[limits]
messages_per_second = 1
[safety]
crisis_words = ["help"]
[[safety.crisis_resources]]
name = "Line"
phone = "116 123"
url = "https://line.example.org"
"""
    config = load_config(write_config(tmp_path, toml))
    assert config.server.port == 9000
    assert config.server.https is True
    assert config.storage.database == tmp_path / "db" / "hearth.sqlite3"
    assert config.storage.synchronous == "NORMAL"
    assert config.limits.messages_per_second == 1.0
    assert isinstance(config.limits.messages_per_second, float)
    assert config.safety.crisis_words == ("help",)
    assert config.safety.crisis_resources == (
        CrisisResource(name="Line", phone="116 123", url="https://line.example.org"),
    )


def test_absolute_paths_stay_as_they_are(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.sqlite3"
    config = load_config(write_config(tmp_path / "conf", f'[storage]\ndatabase = "{elsewhere}"'))
    assert config.storage.database == elsewhere


@pytest.mark.parametrize(
    ("toml", "key", "expected"),
    [
        ("colour = 1", "colour", "unknown key; expected one of server, connections, storage"),
        ("[server]\nprot = 8000", "server.prot", "unknown key; expected one of host, port"),
        ("[[safety.crisis_resources]]\nname = 'x'\nfax = '1'", "safety.crisis_resources[0].fax",
         "unknown key"),
        ('[groups]\nmax_members = "many"', "groups.max_members",
         "expected an integer, got a string ('many')"),
        ("[server]\nport = true", "server.port", "expected an integer, got a boolean (True)"),
        ("[server]\nhttps = 1", "server.https", "expected true or false, got an integer (1)"),
        ("[server]\nhost = 127", "server.host", "expected a string"),
        ('[server]\npublic_origins = "http://x"', "server.public_origins", "expected an array"),
        ("[server]\npublic_origins = [1]", "server.public_origins[0]", "expected a string"),
        ("[storage]\ndatabase = 5", "storage.database", "expected a file path"),
        ('[limits]\nmessages_per_second = "fast"', "limits.messages_per_second",
         "expected a number"),
        ("server = 1", "server", "expected a table, got an integer"),
        ("[safety]\ncrisis_resources = [1]", "safety.crisis_resources[0]", "expected a table"),
        ("[server]\nport = 0", "server.port", "expected at least 1, got an integer (0)"),
        ("[server]\nport = 65536", "server.port", "expected at most 65535"),
        ("[groups]\nmax_members = -3", "groups.max_members", "expected at least 2"),
        ("[limits]\nmessages_per_second = 0", "limits.messages_per_second", "more than 0"),
        ('[storage]\nsynchronous = "OFF"', "storage.synchronous", "one of 'FULL', 'NORMAL'"),
        ('[server]\nlog_level = "loud"', "server.log_level", "one of 'critical'"),
        ("[server]\npublic_origins = []", "server.public_origins", "at least one origin"),
        ('[server]\npublic_origins = ["https://x.org/chat"]', "server.public_origins",
         "no path"),
        ('[server]\npublic_origins = ["https://x.org/"]', "server.public_origins", "no path"),
        ('[server]\npublic_origins = ["x.org"]', "server.public_origins", "http(s)://host"),
        ('[server]\npublic_origins = ["https://X.org"]', "server.public_origins", "lower-case"),
        ('[server]\npublic_origins = ["https://x.org:443"]', "server.public_origins",
         "default port"),
        ('[server]\npublic_origins = ["https://x.org:99999"]', "server.public_origins",
         "valid port"),
        ('[server]\norganisation_name = ""', "server.organisation_name", "at least 1 character"),
        ("[[safety.crisis_resources]]\nphone = '1'", "safety.crisis_resources[0].name",
         "missing; this key is required"),
        ("[[safety.crisis_resources]]\nname = 'x'\nurl = 'javascript:alert(1)'",
         "safety.crisis_resources[0].url", "an http(s):// address"),
        ('[safety]\ncrisis_words = ["ok", " "]', "safety.crisis_words", "non-empty words"),
        ('[safety]\nquick_exit_url = "javascript:alert(1)"', "safety.quick_exit_url",
         "an http(s):// address"),
        ('[safety]\nquick_exit_url = "//other.example"', "safety.quick_exit_url",
         "an http(s):// address"),
        ('[safety]\nquick_exit_url = ""', "safety.quick_exit_url", "a path such as"),
        ("[facilitators]\nmin_password_length = 20\nmax_password_length = 10",
         "facilitators.min_password_length", "at most facilitators.max_password_length (10)"),
        ("[moderation]\nplugins = 3", "moderation.plugins", "tables of plugin settings"),
        ("[moderation.plugins]\nwebhook = 3", "moderation.plugins", "tables of plugin settings"),
        ('[moderation]\nbackend = ""', "moderation.backend", "at least 1 character"),
        ('[scale]\nredis_url = "http://x"', "scale.redis_url", "a redis://"),
        ('[server]\ntrusted_proxies = "127.0.0.1"', "server.trusted_proxies", "an array"),
        ('[groups]\ntime_zone = "Europe/Londres"', "groups.time_zone", "an IANA time zone"),
        ('[groups]\ntime_zone = "../../etc/passwd"', "groups.time_zone", "an IANA time zone"),
        ('[groups]\ntime_zone = ""', "groups.time_zone", "an IANA time zone"),
    ],
)  # fmt: skip
def test_refusals_name_the_file_the_key_and_what_was_expected(
    tmp_path: Path, toml: str, key: str, expected: str
) -> None:
    path = write_config(tmp_path, toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert expected in message
    assert caught.value.key == key
    assert caught.value.file == path


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[server\nport = 1")
    with pytest.raises(ConfigError, match=r"config\.toml: is not valid TOML"):
        load_config(path)


def test_a_missing_config_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file; create one with `hearth init`"):
        load_config(tmp_path / "nope.toml")


def test_a_missing_secret_key_file_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    (tmp_path / "secret.key").unlink()
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: server.secret_key_file: ")
    assert "secret.key does not exist" in str(caught.value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_secret_key_others_can_read_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    path = write_config(tmp_path)
    key = tmp_path / "secret.key"
    key.chmod(mode)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "server.secret_key_file" in message
    assert f"(mode {mode:03o})" in message
    assert f"run `chmod 600 {key}`" in message


@pytest.mark.parametrize("content", ["not hex at all", "ab" * 31, "ab" * 33, "", "zz" * 32])
def test_a_secret_key_with_bad_content_is_refused(tmp_path: Path, content: str) -> None:
    path = write_config(tmp_path)
    key = tmp_path / "secret.key"
    key.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "server.secret_key_file" in str(caught.value)
    assert "must hold exactly 64 hex characters" in str(caught.value)
    if content:
        assert content not in str(caught.value)


def test_the_secret_key_file_setting_is_honoured(tmp_path: Path) -> None:
    path = write_config(tmp_path, '[server]\nsecret_key_file = "keys/hearth.key"')
    (tmp_path / "keys").mkdir()
    key = tmp_path / "keys" / "hearth.key"
    key.write_text("01" * 32)
    key.chmod(0o400)
    assert load_config(path).secret_key.reveal() == bytes([1] * 32)


def test_the_secret_is_masked_everywhere_it_could_be_printed(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    hex_key = config.secret_key.reveal().hex()
    assert repr(config.secret_key) == "Secret('**********')"
    assert str(config.secret_key) == "Secret('**********')"
    assert f"{config.secret_key}" == "Secret('**********')"
    assert hex_key not in repr(config)
    assert repr(config.secret_key.reveal()) not in repr(config)
    assert Secret(b"a" * 32) == Secret(b"a" * 32)
    assert Secret(b"a" * 32) != Secret(b"b" * 32)


def test_sections_are_frozen_and_slotted(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.server.port = 1  # type: ignore[misc]
    assert not hasattr(config.server, "__dict__")


@settings(max_examples=60, deadline=None)
@given(origin=st.text(max_size=40))
def test_any_origin_string_either_loads_or_is_refused_cleanly(
    tmp_path_factory: pytest.TempPathFactory, origin: str
) -> None:
    directory = tmp_path_factory.mktemp("origin")
    toml = "[server]\npublic_origins = [" + _toml_string(origin) + "]"
    path = write_config(directory, toml)
    if origin.startswith(("http://", "https://")) and _loads(path):
        assert load_config(path).server.public_origins == (origin,)
    else:
        with pytest.raises(ConfigError, match=r"server\.public_origins"):
            load_config(path)


def _loads(path: Path) -> bool:
    try:
        load_config(path)
    except ConfigError:
        return False
    return True


def _toml_string(text: str) -> str:
    escaped = "".join(c if c.isprintable() and c not in '"\\' else f"\\U{ord(c):08x}" for c in text)
    return f'"{escaped}"'


def test_plugin_settings_are_read_as_tables(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        '[moderation]\nbackend = "webhook"\n'
        '[moderation.plugins.webhook]\nurl = "https://cases.example.org/hearth"\n'
        '[moderation.plugins.crisis_language]\nphrases = ["alone"]\n',
    )
    moderation = load_config(path).moderation
    assert moderation.backend == "webhook"
    assert moderation.plugins == {
        "webhook": {"url": "https://cases.example.org/hearth"},
        "crisis_language": {"phrases": ["alone"]},
    }
