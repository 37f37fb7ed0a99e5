"""Serving the asset table (server/assets.py): versioned URLs cached for a year as immutable,
everything else (the HTML pages, unversioned paths) revalidated with its ETag, brotli or gzip
as the client accepts. Plain ASGI in front of the Starlette app, which gets every request that
is not for a file (and whose GZipMiddleware then never sees, nor re-compresses, a file)."""

from __future__ import annotations

from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from server.assets import IMMUTABLE, REVALIDATE, AssetTable


def accepted_encodings(header: str) -> set[str]:
    """The codings an Accept-Encoding value allows (RFC 9110 section 12.5.3: `q=0` refuses)."""
    accepted = set()
    for item in header.split(","):
        name, _, params = item.strip().partition(";")
        q = params.strip().lower()
        try:
            allowed = not q or (q.startswith("q=") and float(q[2:]) > 0)
        except ValueError:
            allowed = False
        if allowed and name.strip():
            accepted.add(name.strip().lower())
    return accepted


def choose_encoding(offered: dict[str, bytes], header: str) -> str | None:
    accepted = accepted_encodings(header)
    for coding in ("br", "gzip"):  # the smaller first
        if coding in offered and (coding in accepted or "*" in accepted):
            return coding
    return None


class StaticAssets:
    def __init__(self, root: Path, other: ASGIApp, *, minified: bool = True) -> None:
        self.table = AssetTable.build(root, minified=minified)
        self.other = other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.table.find(str(scope["path"])) if scope["type"] == "http" else None
        if found is None:
            await self.other(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await respond(send, 405, [(b"allow", b"GET, HEAD")], b"Method Not Allowed")
            return
        asset, current = found
        request_headers = dict(scope["headers"])
        # A versioned URL is never revalidated: no ETag, a few bytes less on each response.
        headers = (
            [(b"cache-control", IMMUTABLE.encode())]
            if current
            else [
                (b"cache-control", REVALIDATE.encode()),
                (b"etag", asset.etag.encode()),
            ]
        )
        if asset.encoded:
            headers.append((b"vary", b"Accept-Encoding"))
        wanted = request_headers.get(b"if-none-match", b"").decode("latin-1")
        if {tag.strip() for tag in wanted.split(",")} & {asset.etag, "*"}:
            await respond(send, 304, headers, b"", head=True)
            return
        body = asset.body
        coding = choose_encoding(
            asset.encoded, request_headers.get(b"accept-encoding", b"").decode("latin-1")
        )
        if coding is not None:
            body = asset.encoded[coding]
            headers.append((b"content-encoding", coding.encode()))
        headers.append((b"content-type", asset.content_type.encode()))
        await respond(send, 200, headers, body, head=scope["method"] == "HEAD")


async def respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, *, head: bool = False
) -> None:
    if status != 304:  # a 304 has no body; its length would be the 200's (RFC 9110 8.6)
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
