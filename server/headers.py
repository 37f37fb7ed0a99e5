"""Security headers on every HTTP response (DESIGN.md, privacy rules), as plain ASGI middleware
so that it costs nothing on the websocket path.

Scripts and stylesheets get only the headers that act on a script or a stylesheet: nosniff (a
file is run only as the type it is served as), Cross-Origin-Resource-Policy (no other site can
load it), Referrer-Policy (a stylesheet's own fetches) and HSTS. The CSP, X-Frame-Options,
Cross-Origin-Opener-Policy and Permissions-Policy act only on a document (or a worker, which the
page never starts) and would cost ~0.4 kB on each of the ~25 files of a first visit over
HTTP/1.1 (issue 19). Every other answer, the pages and the API included, carries them all."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    # 'wasm-unsafe-eval' lets the page compile WebAssembly (the argon2id of recovery files,
    # served from our origin); it does not allow eval() or inline script.
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
HSTS = "max-age=63072000; includeSubDomains"
SUBRESOURCE_HEADERS = {
    b"referrer-policy",
    b"x-content-type-options",
    b"cross-origin-resource-policy",
    b"strict-transport-security",
}
SUBRESOURCE_TYPES = (b"text/javascript", b"text/css")


def security_headers(https: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"referrer-policy", b"no-referrer"),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    ]
    if https:
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, https: bool, lean_subresources: bool = True) -> None:
        """`lean_subresources=False` sends every header on every answer (the page benchmark's
        baseline)."""
        self.app = app
        self.headers = security_headers(https)
        self.subresource = [
            (k, v) for k, v in self.headers if k in SUBRESOURCE_HEADERS or not lean_subresources
        ]
        self.names = {name for name, _ in self.headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        api = str(scope.get("path", "")).startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in self.names
                ]
                if api and not any(k.lower() == b"cache-control" for k, _ in kept):
                    kept.append((b"cache-control", b"no-store"))  # also on 404 and 405 answers
                subresource = any(
                    k.lower() == b"content-type" and v.lower().startswith(SUBRESOURCE_TYPES)
                    for k, v in kept
                )
                message["headers"] = kept + (self.subresource if subresource else self.headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)
