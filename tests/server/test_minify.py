"""The page's stylesheet is served minified (server/minify.py, issue 19); scripts are served
as written (the member page's are minified by esbuild in its bundle, server/bundles.py)."""

from __future__ import annotations

from pathlib import Path

from server.app import static_dir
from server.assets import AssetTable
from server.minify import minify

# rJSmin squeezed the space inside the nested template literal (`${name}(session)`).
NESTED = "const line = `SUMMARY:${text(`${name} (session)`)}`;  // a comment\n"


def test_the_stylesheet_loses_comments_and_layout_and_keeps_what_it_means() -> None:
    css = b'a {\n  color : red; /* why */\n}\n.b::after { content: "two  spaces"; }\n'
    assert minify("/css/x.css", css) == b'a{color:red}.b::after{content:"two  spaces"}'
    source = (static_dir() / "css" / "hearth.css").read_bytes()
    served = AssetTable.build(static_dir()).by_path["/css/hearth.css"].body
    assert served == minify("/css/hearth.css", source)
    assert len(served) < len(source) * 0.9


def test_scripts_and_other_files_are_served_as_written(tmp_path: Path) -> None:
    assert minify("/js/sessions.js", NESTED.encode()) == NESTED.encode()
    assert minify("/index.html", b"<p>  two  spaces  </p>") == b"<p>  two  spaces  </p>"
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "nested.js").write_text(NESTED)
    assert AssetTable.build(tmp_path).by_path["/js/nested.js"].body.decode() == NESTED
    source = (static_dir() / "js" / "sessions.js").read_bytes()
    served = AssetTable.build(static_dir()).by_path["/js/sessions.js"].body
    # as written (only its import specifiers name versioned files): lines, comments and all
    assert served.splitlines()[0] == source.splitlines()[0]
    assert served.count(b"\n") == source.count(b"\n")
    assert len(served) >= len(source)
