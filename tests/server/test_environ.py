"""server/realtime/environ.py builds engine.io's environ without a class per request."""

from __future__ import annotations

import gc
from typing import Any

from engineio.async_drivers import asgi as engineio_asgi

from server.realtime.environ import translate_request

SCOPE: dict[str, Any] = {
    "type": "http",
    "path": "/socket.io/",
    "query_string": b"EIO=4&transport=polling",
    "method": "POST",
    "headers": [
        (b"content-type", b"text/plain"),
        (b"content-length", b"10"),
        (b"x-forwarded-proto", b"https"),
        (b"cookie", b"a=1"),
        (b"cookie", b"b=2"),
        (b"origin", b"https://chat.example.org"),
    ],
}


def receiver(events: list[dict[str, Any]]) -> Any:
    async def receive() -> dict[str, Any]:
        return events.pop(0)

    return receive


def body_events() -> list[dict[str, Any]]:
    return [
        {"type": "http.request", "body": b"hello", "more_body": True},
        {"type": "http.request", "body": b"world", "more_body": False},
    ]


async def test_same_environ_and_body_as_engineio() -> None:
    ours = await translate_request(SCOPE, receiver(body_events()), None)
    theirs = await engineio_asgi.translate_request(SCOPE, receiver(body_events()), None)
    assert ours.keys() == theirs.keys()
    for key in ours:
        if key not in ("wsgi.input", "asgi.receive"):
            assert ours[key] == theirs[key], key
    assert ours["HTTP_COOKIE"] == "a=1,b=2"
    assert ours["wsgi.url_scheme"] == "https"
    assert await ours["wsgi.input"].read() == await theirs["wsgi.input"].read() == b"helloworld"
    ours = await translate_request(SCOPE, receiver(body_events()), None)
    theirs = await engineio_asgi.translate_request(SCOPE, receiver(body_events()), None)
    assert await ours["wsgi.input"].read(3) == await theirs["wsgi.input"].read(3)
    assert await ours["wsgi.input"].read() == await theirs["wsgi.input"].read()
    websocket = {**SCOPE, "type": "websocket"}
    connect = [{"type": "websocket.connect"}]
    assert (await translate_request(websocket, receiver(list(connect)), None)).keys() == (
        await engineio_asgi.translate_request(websocket, receiver(list(connect)), None)
    ).keys()
    assert await translate_request(SCOPE, receiver([{"type": "lifespan.startup"}]), None) == {}


async def test_a_request_leaves_no_reference_cycle() -> None:
    gc.collect()
    gc.disable()
    try:
        for _ in range(10):
            await translate_request(SCOPE, receiver(body_events()), None)
        ours = gc.collect()
        for _ in range(10):
            await engineio_asgi.translate_request(SCOPE, receiver(body_events()), None)
        theirs = gc.collect()
    finally:
        gc.enable()
    assert ours == 0
    assert theirs >= 10  # engine.io's own: a class (and its cycle) per request
