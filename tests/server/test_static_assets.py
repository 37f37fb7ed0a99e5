"""The page's files on the wire (issue 19): compression negotiated per request, versioned URLs
cached for a year as immutable, the HTML revalidated and pointing at every module it needs,
API answers compressed only when worth it and never cached, Socket.IO untouched."""

from __future__ import annotations

import gzip
import http.client
import re
from collections.abc import Iterator
from pathlib import Path

import brotli
import pytest
from websockets.sync.client import connect

from server.app import static_dir
from server.assets import IMMUTABLE, AssetTable
from server.minify import minify
from tests.conftest import RunningServer, free_port

# /api/settings grows past GZipMiddleware's 500 bytes with enough crisis resources.
MANY_RESOURCES = (
    "[safety]\ncrisis_resources = ["
    + ", ".join(
        f'{{ name = "Crisis line {n}", phone = "+1 555 01{n:02}", '
        f'url = "https://crisis{n}.example.org", hours = "24/7" }}'
        for n in range(12)
    )
    + "]\n"
)
MODULE_SRC = re.compile(r'<script type="module" src="([^"]+)"')
PRELOAD = re.compile(r'<link rel="modulepreload" href="([^"]+)"')
IMPORT = re.compile(r'\bfrom\s*"([^"]+)"|\bimport\s*"([^"]+)"')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = RunningServer(tmp_path_factory.mktemp("hearth"), free_port(), MANY_RESOURCES)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def get(
    server: RunningServer, path: str, method: str = "GET", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(
            method, path, headers={k.replace("_", "-"): v for k, v in headers.items()}
        )
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


def decoded(headers: dict[str, str], body: bytes) -> bytes:
    coding = headers.get("content-encoding")
    if coding == "br":
        return bytes(brotli.decompress(body))
    if coding == "gzip":
        return gzip.decompress(body)
    assert coding is None, coding
    return body


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip, deflate, br, zstd", "br"),
        ("gzip, deflate", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("gzip;q=0", None),
        ("identity", None),
        ("*", "br"),
        ("", None),
    ],
)
def test_compression_follows_accept_encoding(
    server: RunningServer, accept: str, expected: str | None
) -> None:
    # what is served is the minified file (server/minify.py), whichever coding carries it; a
    # module that imports none (the server rewrites import paths to their versioned URLs)
    original = minify("/js/cryptobase.js", (static_dir() / "js" / "cryptobase.js").read_bytes())
    status, headers, body = get(server, "/js/cryptobase.js", Accept_Encoding=accept)
    assert status == 200
    assert headers.get("content-encoding") == expected
    assert headers["vary"] == "Accept-Encoding"
    assert decoded(headers, body) == original
    assert int(headers["content-length"]) == len(body)
    if expected is not None:
        assert len(body) < len(original) / 2


def test_pages_are_revalidated_and_point_at_versioned_files(server: RunningServer) -> None:
    for page in ("/", "/console.html"):
        status, headers, body = get(server, page, Accept_Encoding="br")
        assert status == 200
        assert headers["cache-control"] == "no-cache"
        assert headers["content-encoding"] == "br"
        assert headers["content-type"] == "text/html; charset=utf-8"
        html = decoded(headers, body).decode()
        assert re.search(r'href="/css/hearth\.[0-9a-f]{12}\.css"', html)
        # answered with 304 and no body while unchanged
        again = get(server, page, If_None_Match=headers["etag"], Accept_Encoding="br")
        assert again[0] == 304
        assert again[2] == b""
        assert again[1]["etag"] == headers["etag"]
        assert "content-length" not in again[1]


def module_graph(server: RunningServer, entry: str) -> dict[str, list[str]]:
    """Every module reachable from `entry` through its (rewritten) imports."""
    graph: dict[str, list[str]] = {}
    todo = [entry]
    while todo:
        url = todo.pop()
        if url in graph:
            continue
        status, headers, body = get(server, url, Accept_Encoding="gzip")
        assert status == 200, url
        assert headers["cache-control"] == IMMUTABLE, url
        assert "etag" not in headers, url
        assert headers["content-type"] == "text/javascript; charset=utf-8"
        text = decoded(headers, body).decode()
        imports = [a or b for a, b in IMPORT.findall(text)]
        for target in imports:
            assert re.search(r"\.[0-9a-f]{12}\.js$", target), f"{url} imports {target} unversioned"
        graph[url] = imports
        todo += imports
    return graph


def test_every_module_of_a_page_is_versioned_immutable_and_preloaded(
    server: RunningServer,
) -> None:
    for page, entry_name in (("/", "member"), ("/console.html", "console")):
        html = get(server, page)[2].decode()
        [entry] = MODULE_SRC.findall(html)
        # the member page's modules come as one bundle (server/bundles.py)
        assert re.fullmatch(rf"/js/{entry_name}(\.bundle\.min)?\.[0-9a-f]{{12}}\.js", entry)
        graph = module_graph(server, entry)
        # the Socket.IO client: its own file, except in the member page's bundle
        bundled = ".bundle.min." in entry
        assert any("/vendor/socket.io" in url for url in graph) is not bundled
        # the whole graph below the entry is preloaded, so nothing waits for its importer
        assert set(PRELOAD.findall(html)) == set(graph) - {entry}


def test_scripts_and_stylesheets_carry_only_the_headers_that_act_on_them(
    server: RunningServer,
) -> None:
    """Issue 19: the document-only headers (CSP, frame, opener and permissions policies) are
    ~0.4 kB on each of the ~25 files of a first visit; a file keeps nosniff, CORP, no-referrer."""
    html = get(server, "/")[2].decode() + get(server, "/console.html")[2].decode()
    files = set(re.findall(r'(?:src|href)="(/(?:js|css|vendor)/[^"]+)"', html))
    assert len(files) > 10
    for url in files:
        _, headers, _ = get(server, url, Accept_Encoding="br")
        assert headers["x-content-type-options"] == "nosniff", url
        assert headers["cross-origin-resource-policy"] == "same-origin", url
        assert headers["referrer-policy"] == "no-referrer", url
        for document_only in (
            "content-security-policy",
            "x-frame-options",
            "cross-origin-opener-policy",
            "permissions-policy",
        ):
            assert document_only not in headers, (url, document_only)
    for page in ("/", "/console.html", "/recipe.html", "/api/settings", "/js/missing.js"):
        _, headers, _ = get(server, page)
        assert "frame-ancestors 'none'" in headers["content-security-policy"], page
        assert headers["x-frame-options"] == "DENY", page
        assert headers["cross-origin-opener-policy"] == "same-origin", page


def test_a_versioned_url_from_another_deployment_is_not_cached_as_immutable(
    server: RunningServer,
) -> None:
    status, headers, body = get(server, "/js/cryptobase.0123456789ab.js")
    assert status == 200
    assert headers["cache-control"] == "no-cache"
    assert body == minify("/js/cryptobase.js", (static_dir() / "js" / "cryptobase.js").read_bytes())
    assert get(server, "/js/nothing.0123456789ab.js")[0] == 404


def test_unversioned_files_revalidate(server: RunningServer) -> None:
    status, headers, _ = get(server, "/js/member.js")
    assert status == 200
    assert headers["cache-control"] == "no-cache"
    assert get(server, "/js/member.js", If_None_Match=headers["etag"])[0] == 304


def test_other_methods_and_missing_files(server: RunningServer) -> None:
    status, headers, body = get(server, "/js/member.js", method="HEAD", Accept_Encoding="br")
    assert status == 200
    assert body == b""
    assert int(headers["content-length"]) > 0
    assert get(server, "/js/member.js", method="POST")[0] == 405
    assert get(server, "/js/missing.js")[0] == 404
    assert get(server, "/js/../../secret.key")[0] == 404


def test_api_answers_are_compressed_only_when_worth_it_and_never_cached(
    server: RunningServer,
) -> None:
    status, headers, body = get(server, "/api/settings", Accept_Encoding="gzip, br")
    assert status == 200
    assert headers["content-encoding"] == "gzip"  # GZipMiddleware: larger than 500 bytes
    assert headers["cache-control"] == "no-store"
    assert b"Crisis line 11" in gzip.decompress(body)
    status, headers, _ = get(server, "/api/challenge", Accept_Encoding="gzip, br")
    assert status == 200
    assert "content-encoding" not in headers  # a tiny answer is not worth it
    assert headers["cache-control"] == "no-store"


def test_socketio_is_not_compressed(server: RunningServer) -> None:
    url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
    headers = {"Origin": server.url, "Accept-Encoding": "gzip, br"}
    with connect(url, additional_headers=headers, compression=None) as ws:
        opened = ws.recv(timeout=5)
        assert isinstance(opened, str)
        assert opened.startswith('0{"sid"')
    # the refused polling transport answers plainly too
    status, answer, _ = get(
        server, "/socket.io/?EIO=4&transport=polling", Accept_Encoding="gzip", Origin=server.url
    )
    assert status == 400
    assert "content-encoding" not in answer


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_a_change_below_a_module_changes_its_url_and_cycles_are_versioned(
    tmp_path: Path,
) -> None:
    files = {
        "index.html": '<script type="module" src="/js/a.js"></script>',
        "js/a.js": 'import { b } from "./b.js";\nimport "./c.js";\n',
        "js/b.js": 'import { c } from "./c.js";\nexport const b = 1;\n',
        "js/c.js": 'import { b } from "./b.js";\nexport const c = 2;\n',  # b <-> c
        "js/d.js": 'import x from "https://example.org/x.js"; // not ours, left alone\n',
    }
    write(tmp_path, files)
    first = AssetTable.build(tmp_path)
    a, b, c = (first.by_path[f"/js/{n}.js"] for n in "abc")
    assert b.url in c.body.decode()
    assert c.url in b.body.decode()
    assert b.url in a.body.decode()
    assert c.url in a.body.decode()
    assert first.by_path["/js/d.js"].body.decode() == files["js/d.js"]
    html = first.by_path["/index.html"].body.decode()
    assert f'src="{a.url}"' in html
    assert set(PRELOAD.findall(html)) == {b.url, c.url}

    write(tmp_path, {"js/c.js": files["js/c.js"].replace("2", "3")})
    second = AssetTable.build(tmp_path)
    for name in "abc":  # c changed; b imports c, a imports both
        assert second.by_path[f"/js/{name}.js"].url != first.by_path[f"/js/{name}.js"].url
    assert second.by_path["/js/d.js"].url == first.by_path["/js/d.js"].url
