"""Steps shared by the device-link tests (tests/server/test_devicelinks.py, one process, and
tests/scale/test_devicelinks_redis.py, two processes): the whole exchange of docs/protocol.md §15
between an old and a new device, as real Socket.IO clients run it."""

from __future__ import annotations

import os

from crypto import devicelink
from crypto.encoding import b64decode, b64encode
from server.client import HearthClient


async def received(client: HearthClient, event: str, count: int = 1) -> list[dict[str, object]]:
    """The first ``count`` (or more) ``event``s the client got, once it has them."""

    def got() -> list[dict[str, object]]:
        return [data for name, data in client.events if name == event]

    await client.wait_for(lambda: len(got()) >= count)
    return got()


async def whole_exchange(
    old: HearthClient, new: HearthClient, expires_ms: int
) -> tuple[str, bytes]:
    """Open, join, confirm both ways, send one sealed chunk and close; checks each step and
    returns the link's id and the new device's share."""
    code = devicelink.new_code()
    link_id = b64encode(devicelink.link_id(code))
    ya, yb = os.urandom(32), os.urandom(32)
    share_a, share_b = devicelink.share(code, ya), devicelink.share(code, yb)
    opened = await old.call("link.open", {"link_id": link_id, "share": b64encode(share_a)})
    assert opened["expires_in_ms"] == expires_ms

    joined = await new.call("link.join", {"link_id": link_id, "share": b64encode(share_b)})
    assert b64decode(joined["share"]) == share_a
    (told,) = await received(old, "link.joined")
    assert told == {"link_id": link_id, "share": b64encode(share_b)}

    keys_b = devicelink.derive(code, yb, share_a, share_b, own=share_b)
    await new.call("link.msg", {"link_id": link_id, "data": b64encode(keys_b.confirm_b)})
    (confirm,) = await received(old, "link.msg")
    keys_a = devicelink.derive(code, ya, share_a, share_b, own=share_a)
    devicelink.check_tag(keys_a.confirm_b, b64decode(str(confirm["data"])))

    sealed = devicelink.seal_chunk(keys_a, 0, 1, b"the bundle", os.urandom(12))
    await old.call("link.msg", {"link_id": link_id, "data": b64encode(keys_a.confirm_a)})
    await old.call("link.msg", {"link_id": link_id, "data": b64encode(sealed)})
    await old.call("link.close", {"link_id": link_id, "reason": "done"})
    tag, chunk = await received(new, "link.msg", 2)
    devicelink.check_tag(keys_b.confirm_a, b64decode(str(tag["data"])))
    assert devicelink.open_chunk(keys_b, 0, 1, b64decode(str(chunk["data"]))) == b"the bundle"
    (closed,) = await received(new, "link.closed")
    assert closed == {"link_id": link_id, "reason": "done"}
    return link_id, share_b
