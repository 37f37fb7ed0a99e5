"""Whether members may post in a group now, told to them before they type.

In a ``facilitator_present`` group members may post only while a facilitator of the group is
online (``msg.send`` refuses with ``posting_closed`` otherwise). ``groups.list`` carries
``posting_open`` for each group, and when a facilitator's presence changes on this process the
group's members get ``group.posting`` at once, so the page closes or opens the composer before
anyone types; their page shows, from the group's schedule, when the next session opens.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from crypto.encoding import b64encode
from server.errors import HearthError
from server.realtime.wire import group_room
from server.storage.rows import GroupRow

if TYPE_CHECKING:
    from server.realtime.hub import Hub


def posting_open(hub: Hub, group: GroupRow) -> bool:
    return group.posting_policy == "always" or hub.facilitator_online(group.group_id)


async def tell_posting(hub: Hub, group_hexes: Iterable[str]) -> None:
    """Tell the members of each ``facilitator_present`` group among ``group_hexes`` (whose
    facilitators' presence changed here) whether they may post now."""
    for group_hex in sorted(group_hexes):
        group_id = bytes.fromhex(group_hex)
        try:
            group = (await hub.group_state(group_id)).group
        except HearthError:
            continue  # deleted meanwhile
        if group.posting_policy != "facilitator_present":
            continue
        await hub.sio.emit(
            "group.posting",
            {"group_id": b64encode(group_id), "open": posting_open(hub, group)},
            room=group_room(group_id),
        )
