"""A message its sender deleted stays reportable by those who saw it, until retention ends.

The tombstone keeps the envelope header (with the commitment C) and the rtag, not the
ciphertext; the server verifies a report's opening against them. Once retention has purged the
row, a genuine report is refused as ``report_expired``. Real server, real clients, real file.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from crypto.encoding import b64encode
from crypto.suite import HEADER_LEN
from server.client import HearthClient
from tests.conftest import Clients, RunningServer, hearth_cli
from tests.server.test_reports import received_by, refused_code, trio


def file_bytes(database: Path) -> bytes:
    """The database and whatever WAL is beside it, as a thief would copy them."""
    wal = database.with_name(database.name + "-wal")
    return database.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_a_sender_deleted_message_is_reportable_until_retention_purges_it(
    hearth_server: RunningServer, make_client: Clients
) -> None:
    fac, ana, ben, group = await trio(make_client)
    sent = await ana.send(group, "you should all disappear")
    seq = await received_by(ben, group, "you should all disappear")
    seen = ben.inbox[group][seq]
    assert seen.envelope is not None
    opening = ben.report_opening(group, seq)  # what ben's device keeps of what it displayed

    await ana.delete(group, seen.msg_id)
    await ben.wait_for(lambda: ben.inbox[group][seq].text is None)

    reply = await ben.report(group, seq, "then deleted it", opening=opening)
    await fac.wait_for(lambda: any(e == "report.new" for e, _ in fac.events))
    live = next(d for e, d in fac.events if e == "report.new")
    assert live["report_id"] == reply["report_id"]
    assert live["content"] == "you should all disappear"
    assert live["verified"] is True
    assert live["seq"] == sent["seq"]
    assert (
        await refused_code(ben.report(group, seq, "again", opening=opening)) == "already_reported"
    )

    # a forged opening of the tombstone is still refused
    forged = dataclasses.replace(opening, content=b"something else entirely")
    code = await refused_code(ben.report(group, seq, "forged", opening=forged))
    assert code == "report_unverifiable"

    # The ciphertext and its signature are gone from the file; the header and rtag stayed.
    hearth_server.stop()
    with sqlite3.connect(hearth_server.database) as conn:
        # Bring the file to rest: every page's latest version in the main file, the WAL emptied
        # (SQLite reuses WAL frames rather than erase them; docs/storage.md).
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = file_bytes(hearth_server.database)
    gone = seen.envelope[HEADER_LEN:]  # ciphertext and signature
    assert [i for i in range(0, len(gone) - 16, 8) if gone[i : i + 16] in data] == []
    with sqlite3.connect(hearth_server.database) as conn:
        row = conn.execute(
            "SELECT envelope, header, rtag FROM messages WHERE msg_id = ?", (seen.msg_id,)
        ).fetchone()
        assert row == (None, seen.envelope[:HEADER_LEN], seen.rtag)
        # As if the group's retention period had run out since (the purge deletes what is
        # older than now - retention_days).
        conn.execute("UPDATE groups SET retention_days = 0 WHERE group_id = ?", (group,))
    purged = hearth_cli("purge", config=hearth_server.config_path)
    assert purged.returncode == 0, purged.stderr
    assert "messages: 1" in purged.stdout
    hearth_server.start()

    again = HearthClient(hearth_server.url, account=ben.account)
    try:
        await again.connect()
        payload = {
            "group_id": b64encode(group),
            "opening": b64encode(opening.encode()),
            "reason": "too late",
        }
        with_reason = again.call("report.submit", payload)
        assert await refused_code(with_reason) == "report_expired"
        # a forgery of a purged message is not "expired": it never verified
        payload["opening"] = b64encode(forged.encode())
        assert await refused_code(again.call("report.submit", payload)) == "report_unverifiable"
    finally:
        await again.disconnect()
