"""The member page's modules as one minified file plus lazy chunks (issue 19: a first visit
under 50 kB).

The page is ~22 small ES modules; over HTTP/1.1 each costs its own response headers, and a
minifier that keeps names (server/minify.py) leaves them long. `make setup` (and `make vendor`)
runs esbuild, pinned in package-lock.json like the Socket.IO client, over `js/member.js`: one
module, names shortened, with the Socket.IO client (npm's ESM build, `vendor/`) in it: one
response and one compression context less. esbuild splits the code: what the page loads with
`import()` only when needed (a feature such as `js/devices.js` when "My data" opens, and its
texts) is its own chunk under `js/chunks/`, with the code it shares with the page in a shared
chunk the bundle imports. Chunks are named `[name]-[hash]` by esbuild (two shared chunks would
otherwise have the same name); the server versions and caches them like every other module
(server/assets.py). Nothing generated is committed (`js/*.bundle.min.js` and `js/chunks/` are
ignored by git), and each build replaces `js/chunks/` whole.

A bundle starts with a line naming the sources it was built from and the chunks it was built
into (every chunk it reaches by `import` or `import()`), and a digest of all their bytes. At
start-up (server/assets.py) a bundle is used only while that digest matches those files as
they are now; after any change to a source, or to a chunk, until the next `make`, the page
loads its modules one by one as before, and the log says so. So a stale bundle or chunk can
never serve old code, and a checkout without Node (no bundle at all) serves a working page,
just a larger one.

`python -m server.bundles [--esbuild PATH]` builds the bundles (standard library only: it runs
before the virtualenv exists in a deployment, docs/deployment.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("hearth")

ENTRIES = ("/js/member.js",)
CHUNKS = "/js/chunks"  # what `import()` loads on demand, and the code shared with it
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


def stale(root: Path) -> list[str]:
    """The entries under `root` whose bundle is missing, or was built from other sources or
    into other chunks than the files there now (`make` rebuilds only then)."""
    found_stale = []
    for entry in ENTRIES:
        bundle = root / bundle_of(entry).lstrip("/")
        found = MANIFEST.match(bundle.read_bytes()) if bundle.is_file() else None
        inputs = found["inputs"].decode().split() if found else []
        files = {
            path: (root / path.lstrip("/")).read_bytes()
            for path in inputs
            if (root / path.lstrip("/")).is_file()
        }
        if found is None or digest(files, inputs) != found["digest"].decode():
            found_stale.append(entry)
    return found_stale


def build(root: Path, esbuild: str) -> None:
    """Bundle the entries under `root` with esbuild, split into chunks at each `import()`, and
    write each bundle with its manifest line; the chunks of an earlier build are removed."""
    with tempfile.TemporaryDirectory(prefix="hearth-bundle-") as temp:
        out, meta = Path(temp).resolve(), Path(temp) / "meta.json"
        subprocess.run(
            [
                esbuild,
                *(entry.lstrip("/") for entry in ENTRIES),
                "--bundle",
                "--splitting",
                "--format=esm",
                "--minify",
                f"--outdir={out}",
                "--outbase=.",
                "--entry-names=[dir]/[name].bundle.min",
                f"--chunk-names={CHUNKS.lstrip('/')}/[name]-[hash]",
                f"--metafile={meta}",
                "--log-level=warning",
            ],
            cwd=root,
            check=True,
        )
        outputs = {
            "/" + (root / name).resolve().relative_to(out).as_posix(): output
            for name, output in json.loads(meta.read_text())["outputs"].items()
        }
        written = {path: (out / path.lstrip("/")).read_bytes() for path in outputs}
        chunks = root / CHUNKS.lstrip("/")
        shutil.rmtree(chunks, ignore_errors=True)
        for path, body in written.items():
            if path.startswith(CHUNKS + "/"):
                chunks.mkdir(parents=True, exist_ok=True)
                (root / path.lstrip("/")).write_bytes(body)
        for entry in ENTRIES:
            made = reached(bundle_of(entry), outputs, root, out)
            inputs = sorted({"/" + name for path in made for name in outputs[path]["inputs"]})
            parts = inputs + [path for path in made if path != bundle_of(entry)]
            files = {path: (root / path.lstrip("/")).read_bytes() for path in inputs}
            files |= {path: written[path] for path in made}
            line = f"/* hearth-bundle {digest(files, parts)} {' '.join(sorted(parts))} */\n"
            (root / bundle_of(entry).lstrip("/")).write_bytes(
                line.encode() + written[bundle_of(entry)]
            )


def reached(bundle: str, outputs: dict[str, Any], root: Path, out: Path) -> list[str]:
    """The bundle and every chunk it imports, directly or not, statically or by `import()`."""
    found = [bundle]
    for path in found:
        for used in outputs[path]["imports"]:
            if used.get("external"):
                continue
            target = "/" + (root / used["path"]).resolve().relative_to(out).as_posix()
            if target not in found:
                found.append(target)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m server.bundles", description=__doc__)
    parser.add_argument("--esbuild", default="node_modules/.bin/esbuild")
    parser.add_argument("--root", type=Path, default=Path(__file__).parent / "static")
    parser.add_argument(
        "--if-stale", action="store_true", help="only if a bundle or one of its chunks is stale"
    )
    args = parser.parse_args()
    if args.if_stale and not stale(args.root):
        return
    try:
        build(args.root, str(Path(args.esbuild).resolve()))
    except (OSError, subprocess.CalledProcessError) as error:
        sys.exit(f"bundling the page failed: {error}")


if __name__ == "__main__":
    main()
