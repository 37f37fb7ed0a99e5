"""The member page's bundle (server/bundles.py, issue 19): built by esbuild, used while it was
built from the sources as they are, and never once a source has changed since."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from server.app import static_dir
from server.assets import AssetTable
from server.bundles import MANIFEST, build, stale

ESBUILD = Path(__file__).parents[2] / "node_modules" / ".bin" / "esbuild"
needs_esbuild = pytest.mark.skipif(not ESBUILD.exists(), reason="esbuild (make setup) missing")
SCRIPT = re.compile(r'<script type="module" src="([^"]+)"')
PRELOAD = re.compile(r'<link rel="modulepreload" href="([^"]+)"')
PAGE = {
    "index.html": '<script type="module" src="/js/member.js"></script>',
    "js/member.js": 'import { helper } from "./helper.js";\nimport { io } from '
    '"../vendor/socket.io.esm.min.js";\n// why\nconsole.log(helper(2), io);\n',
    "js/helper.js": "export function helper(longName) {\n  return longName * 21;\n}\n",
    "vendor/socket.io.esm.min.js": "export const io = 'the Socket.IO client';\n",
}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def page_of(table: AssetTable) -> tuple[str, list[str]]:
    html = table.by_path["/index.html"].body.decode()
    [script] = SCRIPT.findall(html)
    return script, PRELOAD.findall(html)


@needs_esbuild
def test_a_fresh_bundle_is_the_page_s_one_module(tmp_path: Path) -> None:
    write(tmp_path, PAGE)
    build(tmp_path, str(ESBUILD))
    table = AssetTable.build(tmp_path)
    bundle = table.by_path["/js/member.bundle.min.js"]
    script, preloads = page_of(table)
    assert script == bundle.url
    assert re.fullmatch(r"/js/member\.bundle\.min\.[0-9a-f]{12}\.js", script)
    # the Socket.IO client is in the bundle: not a file of its own, nothing else to preload
    assert preloads == []
    served = bundle.body.decode()
    assert "the Socket.IO client" in served
    assert "/vendor/" not in served
    assert "hearth-bundle" not in served  # the manifest line is not sent
    assert "why" not in served  # minified
    assert "longName" not in served  # names shortened
    assert "21" in served
    # the modules are still served, for anything that imports them by name
    assert "/js/helper.js" in table.by_path


@needs_esbuild
def test_a_bundle_older_than_a_source_is_never_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, PAGE)
    build(tmp_path, str(ESBUILD))
    first = page_of(AssetTable.build(tmp_path))[0]
    write(tmp_path, {"js/helper.js": PAGE["js/helper.js"].replace("21", "22")})
    with caplog.at_level(logging.WARNING, logger="hearth"):
        table = AssetTable.build(tmp_path)
    script, preloads = page_of(table)
    assert script == table.by_path["/js/member.js"].url
    assert table.by_path["/js/helper.js"].url in preloads
    assert "built from other sources" in caplog.text
    build(tmp_path, str(ESBUILD))  # `make setup` again: the new code under a new URL
    again = page_of(AssetTable.build(tmp_path))[0]
    assert again.startswith("/js/member.bundle.min.")
    assert again != first


def test_a_bundle_without_a_true_manifest_is_not_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, PAGE)
    for manifest in ("", "/* hearth-bundle " + "0" * 64 + " /js/member.js /js/helper.js */\n"):
        write(tmp_path, {"js/member.bundle.min.js": manifest + "console.log(42);\n"})
        with caplog.at_level(logging.WARNING, logger="hearth"):
            table = AssetTable.build(tmp_path)
        assert page_of(table)[0] == table.by_path["/js/member.js"].url
    assert "built from other sources" in caplog.text


def test_without_a_bundle_the_page_loads_its_modules(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, PAGE)
    with caplog.at_level(logging.WARNING, logger="hearth"):
        table = AssetTable.build(tmp_path)
    script, preloads = page_of(table)
    assert script == table.by_path["/js/member.js"].url
    assert table.by_path["/js/helper.js"].url in preloads
    assert "no /js/member.bundle.min.js" in caplog.text


@needs_esbuild
def test_the_checkout_s_bundle_is_fresh() -> None:
    """`make setup` built it from these sources (a stale one would only cost bytes; the
    first-load test would then fail its bound)."""
    body = (static_dir() / "js" / "member.bundle.min.js").read_bytes()
    found = MANIFEST.match(body)
    assert found is not None
    assert "/js/member.js" in found["inputs"].decode().split()
    script = SCRIPT.findall(AssetTable.build(static_dir()).by_path["/index.html"].body.decode())
    assert script[0].startswith("/js/member.bundle.min.")


LAZY = PAGE | {
    "js/member.js": 'import { helper } from "./helper.js";\nconst later = () => '
    'import("./later.js");\nconsole.log(helper(2), later);\n',
    "js/later.js": 'import { helper } from "./helper.js";\nexport const onlyLater = '
    '"the later screen";\nexport const twice = (value) => helper(value) * 2;\n',
}


def chunks_of(root: Path) -> dict[str, str]:
    """`later` or `chunk` (shared) -> the chunk's path, as built under `root`."""
    found = sorted((root / "js" / "chunks").glob("*.js"))
    return {file.name.split("-")[0]: "/js/chunks/" + file.name for file in found}


@needs_esbuild
def test_what_is_imported_later_is_its_own_chunk_not_preloaded(tmp_path: Path) -> None:
    write(tmp_path, LAZY)
    build(tmp_path, str(ESBUILD))
    chunks = chunks_of(tmp_path)
    assert sorted(chunks) == ["chunk", "later"]  # helper.js is shared: a chunk of its own
    table = AssetTable.build(tmp_path)
    script, preloads = page_of(table)
    bundle = table.by_path["/js/member.bundle.min.js"]
    assert script == bundle.url
    shared, later = table.by_path[chunks["chunk"]], table.by_path[chunks["later"]]
    # the first screen: the bundle and the code it shares with `later`; not `later` itself
    assert preloads == [shared.url]
    assert "the later screen" not in bundle.body.decode()
    assert "the later screen" in later.body.decode()
    # bundle -> chunk and chunk -> chunk: versioned, so cached as immutable
    assert f'import("{later.url}")' in bundle.body.decode()
    assert shared.url in later.body.decode()
    for asset in (shared, later):
        assert re.fullmatch(r"/js/chunks/[a-z]+-[0-9A-Z]+\.[0-9a-f]{12}\.js", asset.url)
        assert table.find(asset.url) == (asset, True)
        assert "br" in asset.encoded or len(asset.body) < 100
    # the manifest covers the sources and every chunk
    first = (tmp_path / "js" / "member.bundle.min.js").read_bytes()
    found = MANIFEST.match(first)
    assert found is not None
    listed = found["inputs"].decode().split()
    assert {"/js/member.js", "/js/helper.js", "/js/later.js"} | set(chunks.values()) == set(listed)


@needs_esbuild
def test_a_bundle_whose_chunk_changed_or_went_is_never_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, LAZY)
    build(tmp_path, str(ESBUILD))
    later = tmp_path / chunks_of(tmp_path)["later"].lstrip("/")
    body = later.read_text()
    for changed in (body.replace("the later screen", "an older screen"), None):
        if changed is None:
            later.unlink()
        else:
            later.write_text(changed)
        with caplog.at_level(logging.WARNING, logger="hearth"):
            table = AssetTable.build(tmp_path)
        script, preloads = page_of(table)
        assert script == table.by_path["/js/member.js"].url
        assert table.by_path["/js/helper.js"].url in preloads
        assert table.by_path["/js/later.js"].url not in preloads  # loaded by import() only
        assert "built from other sources" in caplog.text
        caplog.clear()


@needs_esbuild
def test_a_new_build_replaces_the_chunks(tmp_path: Path) -> None:
    write(tmp_path, LAZY)
    build(tmp_path, str(ESBUILD))
    old = chunks_of(tmp_path)["later"]
    write(tmp_path, {"js/later.js": LAZY["js/later.js"].replace("later screen", "next screen")})
    build(tmp_path, str(ESBUILD))
    new = chunks_of(tmp_path)
    assert new["later"] != old
    assert not (tmp_path / old.lstrip("/")).exists()  # no chunk of an earlier build is left
    table = AssetTable.build(tmp_path)
    assert page_of(table)[0] == table.by_path["/js/member.bundle.min.js"].url
    assert "the next screen" in table.by_path[new["later"]].body.decode()


JSON = PAGE | {
    "js/member.js": "export const hello = async (locale) => [\n"
    '  (await import("../i18n/en.json", { with: { type: "json" } })).default.hello,\n'
    '  (await import(`../i18n/${locale}.json`, { with: { type: "json" } })).default.hello,\n'
    "];\n",
    "i18n/en.json": '{"hello": "Hello"}\n',
    "i18n/de.json": '{"hello": "Hallo"}\n',
}


def test_a_json_module_is_named_by_its_versioned_url_unbundled(tmp_path: Path) -> None:
    # one JSON file sorts before its importer, one after (`/js/phrases/`): both are versioned
    lists = '  (await import("./phrases/en.json", { with: { type: "json" } })).default,\n'
    write(tmp_path, JSON | {"js/member.js": JSON["js/member.js"].replace("];", lists + "];")})
    write(tmp_path, {"js/phrases/en.json": '["a phrase"]\n'})
    table = AssetTable.build(tmp_path)
    served = table.by_path["/js/member.js"].body.decode()
    for path in ("/i18n/en.json", "/js/phrases/en.json"):
        json = table.by_path[path]
        assert re.fullmatch(r"/.+/en\.[0-9a-f]{12}\.json", json.url)
        assert f'import("{json.url}", {{ with: {{ type: "json" }} }})' in served
        assert json.content_type == "application/json"
    assert page_of(table)[1] == []  # none is preloaded as a script
    # a new catalogue: a new URL for the module that imports it
    before = table.by_path["/js/member.js"].url
    write(tmp_path, {"js/phrases/en.json": '["another phrase"]\n'})
    assert AssetTable.build(tmp_path).by_path["/js/member.js"].url != before


@needs_esbuild
def test_json_modules_are_chunks_of_the_bundle(tmp_path: Path) -> None:
    write(tmp_path, JSON)
    build(tmp_path, str(ESBUILD))
    chunks = chunks_of(tmp_path)
    assert {"en", "de"} <= set(chunks)
    table = AssetTable.build(tmp_path)
    bundle = table.by_path["/js/member.bundle.min.js"]
    assert page_of(table)[0] == bundle.url
    for name, hello in (("en", "Hello"), ("de", "Hallo")):
        chunk = table.by_path[chunks[name]]
        assert hello in chunk.body.decode()
        assert f'import("{chunk.url}")' in bundle.body.decode()
        assert chunk.url not in page_of(table)[1]  # fetched when imported, not preloaded
    found = MANIFEST.match((tmp_path / "js" / "member.bundle.min.js").read_bytes())
    assert found is not None
    assert {"/i18n/en.json", "/i18n/de.json"} <= set(found["inputs"].decode().split())
    write(tmp_path, {"i18n/de.json": '{"hello": "Guten Tag"}\n'})  # a catalogue changed
    assert page_of(AssetTable.build(tmp_path))[0] == table.by_path["/js/member.js"].url


@needs_esbuild
def test_make_rebuilds_exactly_when_a_source_or_chunk_is_stale(tmp_path: Path) -> None:
    """`make setup` runs `python -m server.bundles --if-stale`: the server's own test."""
    write(tmp_path, LAZY)
    assert stale(tmp_path) == ["/js/member.js"]  # never built
    build(tmp_path, str(ESBUILD))
    assert stale(tmp_path) == []
    (tmp_path / chunks_of(tmp_path)["later"].lstrip("/")).unlink()  # a chunk went
    assert stale(tmp_path) == ["/js/member.js"]
    build(tmp_path, str(ESBUILD))
    write(tmp_path, {"js/helper.js": LAZY["js/helper.js"].replace("21", "22")})  # a source
    assert stale(tmp_path) == ["/js/member.js"]
    write(tmp_path, {"js/unused.js": "export const nobody = 1;\n"})  # not in the bundle
    build(tmp_path, str(ESBUILD))
    assert stale(tmp_path) == []
