"""JSON for python-socketio's and engine.io's packets, by msgspec.

python-socketio decodes every incoming event and encodes every outgoing packet (each ack, each
broadcast once) with the ``json`` module it is given, calling ``loads(text)`` and
``dumps(value, separators=...)`` only. msgspec (already what validates the events) does both
several times faster than the standard library (measured here: an incoming ``msg.send`` 2.5 →
0.5 µs, a one-message ``msg.batch`` 6.8 → 0.8 µs). Where the two differ:

* reading, msgspec refuses ``NaN``, ``Infinity``, numbers beyond its range and unpaired
  surrogates, which the standard library accepts; python-socketio would drop such a packet
  without a word, so what msgspec refuses is read again by the standard library, and the
  event's schema answers with a clear error (tests/adversarial sends each of these);
* writing, ``NaN`` and infinities become ``null`` (the standard library writes ``NaN``, which
  browsers refuse to parse), non-ASCII text is written as UTF-8 rather than ``\\u`` escapes,
  and ``bytes`` would be written as standard base64: Hearth turns its bytes into base64url
  itself before they reach a packet (``crypto.encoding.b64encode``); a ``str`` subclass is
  written as its text, as by the standard library.

Output is compact (no spaces), which is what python-socketio asks the standard library for.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec


def _plain(value: Any) -> Any:
    """A subclass of ``str`` (such as ``server.client.InviteToken``) is written as its text, as
    the standard library does; msgspec asks here because it encodes only exact builtin types."""
    if isinstance(value, str):
        return str(value)
    raise TypeError(f"Encoding objects of type {type(value).__name__} is unsupported")


_encoder = msgspec.json.Encoder(enc_hook=_plain)
_decoder = msgspec.json.Decoder()


class MsgspecJSON:
    """What python-socketio's ``json=`` option takes: a ``dumps`` and a ``loads``."""

    @staticmethod
    def dumps(value: Any, **_: Any) -> str:
        """``json.dumps`` with compact separators (python-socketio passes them; they are the
        only keyword it uses)."""
        try:
            return _encoder.encode(value).decode()
        except (msgspec.EncodeError, TypeError) as error:
            raise ValueError(str(error)) from None

    @staticmethod
    def loads(text: str | bytes) -> Any:
        """``json.loads``: the same values, and ``ValueError`` for malformed JSON."""
        try:
            return _decoder.decode(text)
        except msgspec.DecodeError:
            return json.loads(text)  # the rare input msgspec is stricter about (see above)
