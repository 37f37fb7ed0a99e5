"""docs/protocol.md is what an independent client is written from: every error code is in it."""

from __future__ import annotations

import re
from pathlib import Path

from server.errors import HTTP_STATUS, Code

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _error_table() -> dict[str, str]:
    text = PROTOCOL.read_text(encoding="utf-8")
    section = text.split("### 14.4 Error codes", 1)[1]
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|", section, flags=re.MULTILINE)
    return {code: status.strip() for code, status in rows}


def test_every_error_code_is_in_the_protocol_table_with_its_http_status() -> None:
    table = _error_table()
    assert set(table) == {code.value for code in Code}
    for code in Code:
        expected = str(HTTP_STATUS[code]) if code in HTTP_STATUS else "–"
        assert table[code.value] == expected, code
