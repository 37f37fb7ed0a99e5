"""The page's message catalogues (server/static/i18n/*.json, read by server/static/js/i18n.js):
every language has exactly English's keys with the same placeholders and its own plural forms,
every server error code has a text, and no user-facing English is left in the member page's
or the console's HTML or in the modules they load outside the catalogues. The texts of what the
member page loads when first used (i18n/later/, i18n.js loadLaterTexts) are in no other file,
and every text the first screen shows is in <locale>.json."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from server.assets import closure, module_imports
from server.errors import Code
from tests.conftest import REPO

STATIC = REPO / "server" / "static"
CATALOGUES = STATIC / "i18n"
SHIPPED = ("en", "es", "ar")
# CLDR's plural categories of each shipped language (what Intl.PluralRules selects among).
PLURALS = {
    "en": {"one", "other"},
    "es": {"one", "many", "other"},
    "ar": {"zero", "one", "two", "few", "many", "other"},
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Errors the page itself raises with a code of its own (groupkeys.js, session.js, i18n.js).
PAGE_CODES = {"untrusted_commit", "timeout", "unknown"}


def read(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def core(locale: str) -> dict[str, Any]:
    """What a page has before any feature is loaded: the pages' shared catalogue and the
    console's own, which i18n.js merges on the console (members never download the console's)."""
    shared, console = (
        read(CATALOGUES / f"{locale}.json"),
        read(CATALOGUES / "console" / f"{locale}.json"),
    )
    assert not [k for k in shared if k.startswith("console.")], f"{locale}.json holds console keys"
    assert [k for k in console if not k.startswith("console.")] == [], f"console/{locale}.json"
    return shared | console


def catalogue(locale: str) -> dict[str, Any]:
    """A language's texts: its core and the texts of what the member page loads later, which
    are in no other file."""
    texts, later = core(locale), read(CATALOGUES / "later" / f"{locale}.json")
    assert sorted(set(texts) & set(later)) == [], f"later/{locale}.json repeats keys"
    return texts | later


def forms(value: Any) -> list[str]:
    return list(value.values()) if isinstance(value, dict) else [value]


def placeholders(value: Any) -> set[str]:
    return {name for text in forms(value) for name in PLACEHOLDER.findall(text)}


def test_the_shipped_catalogues_are_the_ones_the_page_imports() -> None:
    i18n = (STATIC / "js" / "i18n.js").read_text(encoding="utf-8")
    imported = set(re.findall(r'import\("\.\./i18n/(\w+)\.json"', i18n))
    assert imported == set(SHIPPED) == {p.stem for p in CATALOGUES.glob("*.json")}
    console = set(re.findall(r'import\("\.\./i18n/console/(\w+)\.json"', i18n))
    assert console == set(SHIPPED) == {p.stem for p in (CATALOGUES / "console").glob("*.json")}
    later = set(re.findall(r'import\("\.\./i18n/later/(\w+)\.json"', i18n))
    assert later == set(SHIPPED) == {p.stem for p in (CATALOGUES / "later").glob("*.json")}
    assert {p.name for p in CATALOGUES.iterdir() if p.is_dir()} == {"console", "later"}


@pytest.mark.parametrize("locale", [loc for loc in SHIPPED if loc != "en"])
def test_a_catalogue_has_exactly_the_keys_and_placeholders_of_english(locale: str) -> None:
    english, other = catalogue("en"), catalogue(locale)
    assert sorted(set(english) - set(other)) == [], f"{locale}.json misses keys"
    assert sorted(set(other) - set(english)) == [], f"{locale}.json has keys English has not"
    for key, value in english.items():
        # A plural form may leave the number out ("رسالتان", two messages), never add one.
        assert placeholders(other[key]) <= placeholders(value), f"{locale}: {key}"
        if not isinstance(value, dict):
            assert placeholders(other[key]) == placeholders(value), f"{locale}: {key}"


@pytest.mark.parametrize("locale", SHIPPED)
def test_values_are_texts_and_plurals_have_every_form_of_their_language(locale: str) -> None:
    for key, value in catalogue(locale).items():
        assert re.fullmatch(r"[a-z][A-Za-z0-9]*(\.[A-Za-z0-9_]+)+", key), key
        if isinstance(value, dict):
            assert set(value) == PLURALS[locale], f"{locale}: {key} plural forms"
            assert "count" in placeholders(value), f"{locale}: {key} has no {{count}}"
        for text in forms(value):
            assert isinstance(text, str), f"{locale}: {key}"
            assert text.strip(), f"{locale}: {key}"


def test_every_server_error_code_has_a_text() -> None:
    english = catalogue("en")
    codes = {code.value for code in Code} | PAGE_CODES
    assert sorted(c for c in codes if f"error.{c}" not in english) == []
    assert sorted(k[6:] for k in english if k.startswith("error.") and k[6:] not in codes) == []


def test_a_broken_catalogue_is_caught() -> None:
    """The checks above fail on a missing key, an extra key and a changed placeholder."""
    english = catalogue("en")
    broken = dict(english)
    del broken["member.welcome.title"]
    broken["member.extra"] = "x"
    broken["member.nowIn"] = "Ya estás en {grupo}."
    assert set(english) - set(broken) == {"member.welcome.title"}
    assert set(broken) - set(english) == {"member.extra"}
    assert placeholders(broken["member.nowIn"]) != placeholders(english["member.nowIn"])


# -- nothing left outside the catalogues ---------------------------------------------------------

# Text that is not language: the product's name (the organisation's name replaces it at start),
# and each language's own name in the switch (i18n.js LANGUAGES), which is never translated.
ALLOWED = {"Hearth", "English", "Español", "العربية"}
LETTERS = re.compile(r"[^\W\d_]{2,}")
ATTRIBUTES = ("aria-label", "placeholder", "title", "alt")


class _HtmlText(HTMLParser):
    """Text nodes and labelling attributes of a page that carry words."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.keys: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        for name, value in attrs:
            if name == "data-i18n" or name.startswith("data-i18n-"):
                self.keys.append(value or "")
            elif name in ATTRIBUTES and value and LETTERS.search(value):
                self.found.append(f"{tag}[{name}]: {value}")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        text = data.strip()
        if not self.skip and LETTERS.search(text) and text not in ALLOWED:
            self.found.append(text)


def html_scan(path: Path) -> _HtmlText:
    parser = _HtmlText()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


# Where a string literal would reach people: textContent, a `text:` or `aria-label` property of
# ui.js's el(), a child string after el()'s props, announce(), a status line, an Error's message.
QUOTED = r"""(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`)"""
SINKS = re.compile(
    r"""(?:\.textContent\s*=\s*|\btext:\s*|["'](?:aria-label|title|placeholder)["']\s*:\s*"""
    r"""|\bannounce\(\s*|\bsetConnection\(\s*|\bnew \w*Error\(\s*"""
    r"""|\breplaceChildren\(\s*|\}\s*,\s*|\bconfirmAction\(\s*|\breturn\s+)"""
    rf"""(?:[^;{{}}()]*?\?\s*)?({QUOTED})"""
)
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
LINE_COMMENT = re.compile(r"^\s*//.*$|\s//\s.*$", re.MULTILINE)


def words_of(literal: str) -> str:
    """A literal's own words: without `${…}` substitutions and escapes."""
    body = re.sub(r"\$\{[^}]*\}", " ", literal[1:-1])
    return re.sub(r"\\.", " ", body)


def js_scan(path: Path) -> list[str]:
    code = LINE_COMMENT.sub("", BLOCK_COMMENT.sub("", path.read_text(encoding="utf-8")))
    found = []
    for match in SINKS.finditer(code):
        literal = match[1]
        words = words_of(literal)
        # One word in lower case is a key, a class, a code or a kind ("sent", "muted"), and
        # data-* or CSS values; a sentence or a capitalised word is for people.
        if re.fullmatch(r"[a-z0-9_.:-]*", words):
            continue  # an event name, a code, a key, a class or a CSS value
        sentence = len(LETTERS.findall(words)) >= 2 or re.search(r"\b[A-Z][a-z]{2,}", words)
        if sentence and words.strip() not in ALLOWED:
            found.append(f"{path.name}: {literal[:80]}")
    return found


def page_modules(entry: str) -> list[Path]:
    files = {
        "/" + p.relative_to(STATIC).as_posix(): p.read_bytes()
        for p in STATIC.rglob("*")
        if p.is_file() and "vendor" not in p.parts
    }
    imports = {path: module_imports(path, body, files) for path, body in files.items()}
    graph = [entry, *closure(entry, imports)]
    return [STATIC / path.lstrip("/") for path in graph if path.endswith(".js")]


# Literals that reach the sinks above but are not for people, each with its reason.
NOT_TEXT = {
    # The encodings and their checks, mirrored by the Python side and its vectors: their errors
    # are for the code that calls them, which catches them (an opening that fails is not shown)
    # or says the problem in the catalogue's words (contentnotes.js for noteProblem); the first
    # screen's part of them is cryptobase.js.
    "crypto.js",
    "cryptobase.js",
    # The device link's code and key schedule (§15) and the bundle of keys that moves: their
    # errors are for devices.js, the only module that calls them, which catches every one and
    # says the problem in the catalogue's words (member.devices.*), never the error's message.
    "linkcrypto.js",
    "devicebundle.js",
    # the phrase lists' own syntax description inside a String.raw (data, not UI)
    "crisisphrases.js",
    "crisisphrases_es.js",
    "crisisphrases_ar.js",
}


# Each page and the module it starts from (the member page and the facilitator console).
PAGES = {"index.html": "/js/member.js", "console.html": "/js/console.js"}


@pytest.mark.parametrize("page", list(PAGES))
def test_a_page_has_no_text_outside_the_catalogues(page: str) -> None:
    scanned = html_scan(STATIC / page)
    assert scanned.found == [], f"{page}: text without data-i18n"
    english = core("en")  # filled before any feature is loaded
    assert sorted(k for k in scanned.keys if k not in english) == [], "keys not in en.json"


@pytest.mark.parametrize("page", list(PAGES))
def test_a_pages_modules_pass_no_literal_text_to_people(page: str) -> None:
    modules = page_modules(PAGES[page])
    assert len(modules) > 15  # the page's module and every module below it
    found = [f for m in modules if m.name not in NOT_TEXT for f in js_scan(m)]
    assert found == []


@pytest.mark.parametrize("page", list(PAGES))
def test_a_pages_modules_use_only_keys_english_has(page: str) -> None:
    english = catalogue("en")
    used: set[str] = set()
    for module in page_modules(PAGES[page]):
        code = module.read_text(encoding="utf-8")
        used |= set(re.findall(r"""\bt(?:Parts)?\(\s*["']([\w.]+)["']""", code))
    assert sorted(used - set(english)) == []


def test_the_scan_finds_a_string_left_in_the_page(tmp_path: Path) -> None:
    """The scans fail on what they exist to catch (so an empty result means something)."""
    html = tmp_path / "page.html"
    html.write_text(
        '<p data-i18n="a.b"></p><button aria-label="Close it">x</button><p>Hello there</p>'
    )
    assert html_scan(html).found == ["button[aria-label]: Close it", "Hello there"]
    js = tmp_path / "module.js"
    js.write_text(
        'node.textContent = "Saved.";\n'
        "announce(`${name}: a facilitator sent you a warning.`);\n"
        'el("button", { type: "button" }, "Load them");\n'
        'el("p", { class: "state", text: ok ? "Sending…" : t("x.y") });\n'
        'node.textContent = t("member.saved");\n'
        'el("li", { class: "gap" });\n'
    )
    assert len(js_scan(js)) == 4, js_scan(js)


def test_the_first_screen_s_modules_use_only_core_texts() -> None:
    """A module the member page loads with itself (not by `import()`) cannot show a feature's
    text: that is loaded only with the feature (later.js, i18n.js loadLaterTexts)."""
    files = {
        "/" + p.relative_to(STATIC).as_posix(): p.read_bytes()
        for p in STATIC.rglob("*")
        if p.is_file() and "vendor" not in p.parts
    }
    imports = {
        path: module_imports(path, body, files, dynamic=False) for path, body in files.items()
    }
    first = ["/js/member.js", *closure("/js/member.js", imports)]
    assert "/js/later.js" not in first
    assert "/js/devices.js" not in first
    english = core("en")
    used = {
        (path, key)
        for path in first
        if path.endswith(".js")
        for key in re.findall(r"""\bt(?:Parts)?\(\s*["']([\w.]+)["']""", files[path].decode())
    }
    assert sorted((path, key) for path, key in used if key not in english) == []
