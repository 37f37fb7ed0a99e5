"""The page's scripts and stylesheet are served minified (server/minify.py, issue 19): smaller,
still valid, with every string, template literal and regular expression kept as written."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from server.app import static_dir
from server.assets import AssetTable
from server.minify import minify

TRICKY = """// a comment that goes
/* and one
   over lines */
const text = `keep   these
  spaces ${a  +  `and ${"these  too"}`}`;
const pattern = /  [/*]  /g;  // a regular expression with what looks like a comment
const ratio = a / 2 / b;
const url = "http://example.org/*not a comment*/";
let c = a
++b
"""


def test_comments_and_layout_go_and_everything_the_code_means_stays() -> None:
    served = minify("/js/tricky.js", TRICKY.encode()).decode()
    assert "comment that goes" not in served
    assert "over lines" not in served
    assert "`keep   these\n  spaces ${a" in served
    assert '`and ${"these  too"}`' in served
    assert "/  [/*]  /g" in served
    assert "a/2/b" in served
    assert '"http://example.org/*not a comment*/"' in served
    assert "a\n++b" in served  # the line break decides where the statement ends (ASI)
    assert len(served) < len(TRICKY)


def test_files_minified_upstream_and_other_files_are_served_as_they_are() -> None:
    odd = b"/* keep */  const  a = 1;\n"
    assert minify("/vendor/socket.io.esm.min.js", odd) == odd
    assert minify("/index.html", b"<p>  two  spaces  </p>") == b"<p>  two  spaces  </p>"
    assert minify("/css/x.css", b"a {\n  color : red; /* why */\n}\n") == b"a{color:red}"


@pytest.mark.skipif(shutil.which("node") is None, reason="node (installed by make setup) missing")
def test_every_served_module_still_parses(tmp_path: Path) -> None:
    table = AssetTable.build(static_dir())
    ours = [a for a in table.by_path.values() if a.path.endswith(".js")]
    assert len(ours) > 20
    for asset in ours:
        source = (static_dir() / asset.path.lstrip("/")).read_bytes()
        if not asset.path.endswith(".min.js"):
            assert len(asset.body) < len(source) * 0.95, asset.path
        module = tmp_path / (Path(asset.path).stem + ".mjs")
        module.write_bytes(asset.body)
        checked = subprocess.run(["node", "--check", str(module)], capture_output=True, text=True)
        assert checked.returncode == 0, (asset.path, checked.stderr)


def test_a_change_to_comments_alone_keeps_the_url_and_a_change_to_code_does_not(
    tmp_path: Path,
) -> None:
    (tmp_path / "js").mkdir()
    script = tmp_path / "js" / "a.js"
    script.write_text("// one\nexport const a = 1;\n")
    first = AssetTable.build(tmp_path).by_path["/js/a.js"].url
    script.write_text("// another\nexport const a = 1;\n")
    assert AssetTable.build(tmp_path).by_path["/js/a.js"].url == first
    script.write_text("// another\nexport const a = 2;\n")
    assert AssetTable.build(tmp_path).by_path["/js/a.js"].url != first
