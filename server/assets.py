"""The page's static files, read once at start-up and served from memory: every file also has a
versioned URL (a content hash in its name) that is cached for a year, the HTML pages point at
those URLs and preload their whole module graph, and text files are gzipped once, here.

ES modules import each other by relative path, so the hash has to reach the import specifiers
too: a module is served under its versioned URL with its imports rewritten to versioned URLs.
Its hash therefore covers the hashes of what it imports (a Merkle tree over the import graph;
modules that import each other in a cycle share one hash input), so a change anywhere below a
module gives it a new URL as well, and a versioned URL never names two different contents.
The alternative, an import map, would be an inline script and need a hash in the CSP.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin

import brotli

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
HASH_CHARS = 12
VERSIONED = re.compile(rf"^(?P<stem>.+)\.[0-9a-f]{{{HASH_CHARS}}}(?P<suffix>\.[A-Za-z0-9]+)$")
# `import x from "./a.js"`, `import "./a.js"`, `export * from "./a.js"`, `import("./a.js")`.
IMPORT = re.compile(
    r"""(\b(?:import|export)\b[^"'`;()]*?\bfrom\s*|\bimport\s*\(?\s*)(["'])([^"'\n]+)\2"""
)
ATTRIBUTE = re.compile(r"""\b(src|href)="([^"]+)\"""")
SCRIPT_SRC = re.compile(r"""\bsrc="([^"]+)\"""")
MODULE_SCRIPT = re.compile(r"""<script\b[^>]*\btype="module"[^>]*>\s*</script>""")
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Asset:
    path: str  # "/js/member.js"
    url: str  # "/js/member.0123456789ab.js"; the path itself for an HTML page
    body: bytes
    encoded: dict[str, bytes]  # "br", "gzip": only those that make it smaller
    content_type: str
    etag: str


@dataclass(frozen=True, slots=True)
class AssetTable:
    by_path: dict[str, Asset]
    by_url: dict[str, Asset]

    @classmethod
    def build(cls, root: Path) -> AssetTable:
        files = {
            "/" + file.relative_to(root).as_posix(): file.read_bytes()
            for file in sorted(root.rglob("*"))
            if file.is_file() and not any(part.startswith(".") for part in file.parts)
        }
        urls: dict[str, str] = {}
        bodies: dict[str, bytes] = {}
        imports = {path: module_imports(path, body, files) for path, body in files.items()}
        static = {
            path: module_imports(path, body, files, dynamic=False) for path, body in files.items()
        }
        for group in import_order(imports):
            for path in group:
                bodies[path] = rewrite_imports(path, files[path], urls, skip=group)
            shared = hashlib.sha256()
            for path in sorted(group):
                shared.update(path.encode() + b"\0" + bodies[path] + b"\0")
            for path in group:
                digest = hashlib.sha256(shared.digest() + path.encode()).hexdigest()
                urls[path] = versioned(path, digest)
            for path in group:  # imports inside a cycle: their URLs are known only now
                bodies[path] = rewrite_imports(path, bodies[path], urls)
        for path, body in files.items():
            if path.endswith(".html"):
                bodies[path] = rewrite_page(path, body, urls, static)
                urls[path] = path
        assets = [make_asset(path, urls[path], bodies[path]) for path in files]
        return cls({a.path: a for a in assets}, {a.url: a for a in assets if a.url != a.path})

    def find(self, path: str) -> tuple[Asset, bool] | None:
        """The asset at a path and whether the URL is its current versioned one."""
        if path.endswith("/"):
            path += "index.html"
        if (asset := self.by_url.get(path)) is not None:
            return asset, True
        if (asset := self.by_path.get(path)) is not None:
            return asset, False
        # a hash from another deployment: the current file, but not cached as if immutable
        match = VERSIONED.match(path)
        if match and (asset := self.by_path.get(match["stem"] + match["suffix"])) is not None:
            return asset, False
        return None


def versioned(path: str, digest: str) -> str:
    pure = PurePosixPath(path)
    return str(pure.with_name(f"{pure.stem}.{digest[:HASH_CHARS]}{pure.suffix}"))


def resolve(base: str, specifier: str, files: Iterable[str]) -> str | None:
    """The static file a URL in `base` names, if it is one of ours (same origin, no query)."""
    if not specifier.startswith(("/", "./", "../")) or specifier.startswith("//"):
        return None
    target = urljoin(base, specifier)
    return target if target in files else None


def module_imports(
    path: str, body: bytes, files: dict[str, bytes], *, dynamic: bool = True
) -> list[str]:
    """What a module imports; without `dynamic`, only what it needs before it runs (not an
    `import()` it makes later, such as another language's catalogue or phrase list)."""
    if not path.endswith(".js"):
        return []
    found = (
        resolve(path, m[3], files)
        for m in IMPORT.finditer(body.decode())
        if dynamic or "(" not in m[1]
    )
    # JSON modules (the message catalogues) are versioned before the module that names them.
    return sorted({t for t in found if t is not None and t.endswith((".js", ".json"))})


def rewrite_imports(
    path: str, body: bytes, urls: dict[str, str], skip: Iterable[str] = ()
) -> bytes:
    if not path.endswith(".js"):
        return body
    skipped = set(skip)

    def swap(match: re.Match[str]) -> str:
        target = resolve(path, match[3], urls)
        if target is None or target in skipped:
            return match[0]
        return f"{match[1]}{match[2]}{urls[target]}{match[2]}"

    return IMPORT.sub(swap, body.decode()).encode()


def import_order(imports: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components of the import graph, each after everything it imports
    (Tarjan's algorithm, iterative; modules without imports are components of one)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    order: list[list[str]] = []
    for start in sorted(imports):
        if start in index:
            continue
        work = [(start, iter(imports[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(imports[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                order.append(sorted(group))
    return order


def closure(entry: str, imports: dict[str, list[str]]) -> list[str]:
    """Every module `entry` imports, directly or not, in a stable order."""
    seen: dict[str, None] = {}
    todo = list(imports.get(entry, []))
    while todo:
        module = todo.pop(0)
        if module != entry and module not in seen:
            seen[module] = None
            todo.extend(imports[module])
    return list(seen)


def rewrite_page(
    path: str, body: bytes, urls: dict[str, str], imports: dict[str, list[str]]
) -> bytes:
    """Versioned URLs in `src`/`href`, and a modulepreload link after each module script for
    every module it imports, so the browser fetches the whole graph at once."""
    html = body.decode()

    def preload(match: re.Match[str]) -> str:
        src = SCRIPT_SRC.search(match[0])
        entry = resolve(path, src[1], urls) if src else None
        if entry is None:
            return match[0]
        links = "".join(
            f'\n  <link rel="modulepreload" href="{urls[m]}">' for m in closure(entry, imports)
        )
        return match[0] + links

    def swap(match: re.Match[str]) -> str:
        target = resolve(path, match[2], urls)
        if target is None or target.endswith(".html"):
            return match[0]
        return f'{match[1]}="{urls[target]}"'

    return ATTRIBUTE.sub(swap, MODULE_SCRIPT.sub(preload, html)).encode()


def make_asset(path: str, url: str, body: bytes) -> Asset:
    suffix = PurePosixPath(path).suffix
    content_type = TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    digest = hashlib.sha256(body).digest()
    encoded = {}
    if content_type.startswith(("text/", "application/json", "image/svg")):
        encoded = {k: v for k, v in compress(digest, body).items() if len(v) < len(body) * 0.9}
    return Asset(path, url, body, encoded, content_type, 'W/"' + digest[:16].hex() + '"')


_compressed: dict[bytes, dict[str, bytes]] = {}


def compress(digest: bytes, body: bytes) -> dict[str, bytes]:
    """Brotli and gzip forms of a body at their strongest settings (~0.2 s of CPU for the
    whole page at start-up), kept for this process: tests build many apps."""
    if (found := _compressed.get(digest)) is None:
        found = _compressed[digest] = {
            "br": brotli.compress(body, quality=11),
            "gzip": gzip.compress(body, compresslevel=9, mtime=0),
        }
    return found
