"""engine.io's ASGI ``translate_request`` without a class defined per request.

python-engineio 4.x's ``engineio.async_drivers.asgi.translate_request`` defines its
``AwaitablePayload`` class inside the function: every request, so every websocket connection,
creates a new class. A class is always in a reference cycle (its ``__dict__``'s descriptors point
back at it) and its ``read`` method's closure holds uvicorn's ``receive``, hence the connection's
whole protocol: its transport, websockets' parser, the ASGI scope with every header. Only a full
(generation 2) collection frees that, and Hearth's GC settings (app.py: ``gc.freeze()`` and
thresholds raised so that full passes do not set the relay's p99) make those rare: memory grew
by ~5 MB per 500 connections that came and left (issue 16 item 8, docs/benchmarks.md).

:func:`translate_request` builds the same environ with one module-level class, so what a
connection held is freed by reference counting as soon as it ends. It is engine.io's function
otherwise unchanged (same keys, same header folding); tests/server/test_environ.py compares them.
"""

from __future__ import annotations

import sys
from typing import Any


class AwaitablePayload:
    """The request body as engine.io reads it (``await environ["wsgi.input"].read()``)."""

    __slots__ = ("event", "payload", "receive")

    def __init__(self, event: dict[str, Any], receive: Any) -> None:
        self.event = event
        self.receive = receive
        self.payload: bytes | None = None

    async def read(self, length: int | None = None) -> Any:
        payload: Any = self.payload
        if payload is None and self.event["type"] == "http.request":
            # read payload from http request
            payload = self.event.get("body") or b""
            while self.event.get("more_body"):
                self.event = await self.receive()
                if self.event["type"] == "http.request" and (
                    length is None or len(payload) < length
                ):
                    payload += self.event.get("body") or b""
        if length is None:
            self.payload = b""
            return payload
        self.payload = payload[length:]
        return payload[:length]


async def translate_request(scope: dict[str, Any], receive: Any, send: Any) -> dict[str, Any]:
    event = await receive()
    if event["type"] not in ("http.request", "websocket.connect"):
        return {}

    raw_uri = scope["path"]
    query_string = ""
    if scope.get("query_string"):
        try:
            query_string = scope["query_string"].decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            raw_uri += "?" + query_string
    environ: dict[str, Any] = {
        "wsgi.input": AwaitablePayload(event, receive),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.async": True,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "SERVER_SOFTWARE": "asgi",
        "REQUEST_METHOD": scope.get("method", "GET"),
        "PATH_INFO": scope["path"],
        "QUERY_STRING": query_string,
        "RAW_URI": raw_uri,
        "SCRIPT_NAME": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "0",
        "SERVER_NAME": "asgi",
        "SERVER_PORT": "0",
        "asgi.receive": receive,
        "asgi.send": send,
        "asgi.scope": scope,
    }

    for raw_name, raw_value in scope["headers"]:
        try:
            name = raw_name.upper().decode("utf-8")
            value = raw_value.decode("utf-8")
        except UnicodeDecodeError:
            # skip header if it cannot be decoded
            continue
        if name == "CONTENT-TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        if name == "CONTENT-LENGTH":
            environ["CONTENT_LENGTH"] = value
            continue
        key = "HTTP_" + name.replace("-", "_")
        if key in environ:
            value = f"{environ[key]},{value}"
        environ[key] = value

    environ["wsgi.url_scheme"] = environ.get("HTTP_X_FORWARDED_PROTO", "http")
    return environ
