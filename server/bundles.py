"""The member page's modules as one minified file (issue 19: a first visit under 50 kB).

The page is ~22 small ES modules; over HTTP/1.1 each costs its own response headers, and a
minifier that keeps names (server/minify.py) leaves them long. `make setup` (and `make vendor`)
runs esbuild, pinned in package-lock.json like the Socket.IO client, over `js/member.js`: one
module, names shortened, the Socket.IO client left as its own file. Nothing generated is
committed (`js/*.bundle.min.js` is ignored by git).

A bundle starts with a line naming the sources it was built from and a digest of their bytes.
At start-up (server/assets.py) a bundle is used only while that digest matches the sources as
they are now; after any change to a source, until the next `make`, the page loads its modules
one by one as before, and the log says so. So a stale bundle can never serve old code, and a
checkout without Node (no bundle at all) serves a working page, just a larger one.

`python -m server.bundles [--esbuild PATH]` builds the bundles (standard library only: it runs
before the virtualenv exists in a deployment, docs/deployment.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("hearth")

ENTRIES = ("/js/member.js",)
EXTERNAL = "/vendor/*"  # the Socket.IO client: its own (already minified) file
MANIFEST = re.compile(rb"\A/\* hearth-bundle (?P<digest>[0-9a-f]{64}) (?P<inputs>[^*]*)\*/\n")


def bundle_of(entry: str) -> str:
    """`/js/member.js` -> `/js/member.bundle.min.js` (`.min.js`: server/minify.py leaves it)."""
    return entry.removesuffix(".js") + ".bundle.min.js"


def digest(sources: dict[str, bytes], inputs: list[str]) -> str | None:
    """A digest of the inputs' paths and bytes; None when one of them is gone."""
    hashed = hashlib.sha256()
    for path in sorted(inputs):
        if path not in sources:
            return None
        hashed.update(path.encode() + b"\0" + hashlib.sha256(sources[path]).digest())
    return hashed.hexdigest()


def take_bundles(sources: dict[str, bytes]) -> dict[str, str]:
    """Entry -> bundle for every bundle in `sources` still built from today's sources. Each
    bundle's first line (its manifest) is taken off in `sources`; a stale bundle is left in
    `sources` but not used, and the log says why."""
    fresh: dict[str, str] = {}
    for entry in ENTRIES:
        bundle = bundle_of(entry)
        body = sources.get(bundle)
        if body is None:
            log.warning(
                "static: no %s (`make setup` builds it): the page loads its modules one by one",
                bundle,
            )
            continue
        found = MANIFEST.match(body)
        sources[bundle] = body[found.end() :] if found else body
        inputs = found["inputs"].decode().split() if found else []
        if found is None or digest(sources, inputs) != found["digest"].decode():
            log.warning(
                "static: %s was built from other sources than these: the page loads its "
                "modules one by one until `make setup` builds it again",
                bundle,
            )
            continue
        fresh[entry] = bundle
    return fresh


def build(root: Path, esbuild: str) -> None:
    """Bundle each entry under `root` with esbuild and write it with its manifest line."""
    for entry in ENTRIES:
        with tempfile.TemporaryDirectory(prefix="hearth-bundle-") as temp:
            out, meta = Path(temp) / "bundle.js", Path(temp) / "meta.json"
            subprocess.run(
                [
                    esbuild,
                    entry.lstrip("/"),
                    "--bundle",
                    "--format=esm",
                    "--minify",
                    f"--external:{EXTERNAL}",
                    f"--outfile={out}",
                    f"--metafile={meta}",
                    "--log-level=warning",
                ],
                cwd=root,
                check=True,
            )
            inputs = ["/" + name for name in json.loads(meta.read_text())["inputs"]]
            sources = {path: (root / path.lstrip("/")).read_bytes() for path in inputs}
            line = f"/* hearth-bundle {digest(sources, inputs)} {' '.join(sorted(inputs))} */\n"
            (root / bundle_of(entry).lstrip("/")).write_bytes(line.encode() + out.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m server.bundles", description=__doc__)
    parser.add_argument("--esbuild", default="node_modules/.bin/esbuild")
    parser.add_argument("--root", type=Path, default=Path(__file__).parent / "static")
    args = parser.parse_args()
    try:
        build(args.root, str(Path(args.esbuild).resolve()))
    except (OSError, subprocess.CalledProcessError) as error:
        sys.exit(f"bundling the page failed: {error}")


if __name__ == "__main__":
    main()
