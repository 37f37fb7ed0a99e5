"""Logging that keeps people's traces out: no client address, no user agent, no payload.

uvicorn writes the peer address at INFO on every websocket accept even with the access log
off (STACK-NOTES.md), so every record passes through a filter that redacts addresses, and
uvicorn's access logger is silenced.

Debug level is Hearth's own: libraries log what passes through them at debug (aiosqlite every
SQL statement with its parameters, hence pseudonyms, report contents and reasons; websockets
every frame), so a record below INFO is kept only from a ``hearth.*`` logger, whose messages
never carry a payload (CONVENTIONS: debug detail names what failed, not what was sent).
"""

from __future__ import annotations

import logging
import re
import sys

_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b")
_IPV6 = re.compile(r"\[?\b(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}\b\]?(?::\d+)?")
_PEER_TUPLE = re.compile(r"\('[^']*', \d+\)")
REDACTED = "[address]"
# A log record's ``extra`` key: strings in the message that name a web site, not a person (such
# as a refused origin), and so are kept as they are.
NOT_PERSONAL = "not_personal"


def redact(text: str) -> str:
    text = _PEER_TUPLE.sub(REDACTED, text)
    text = _IPV4.sub(REDACTED, text)
    return _IPV6.sub(REDACTED, text)


class OneLineForPackets(logging.Filter):
    """engine.io logs a full traceback for every malformed packet a client sends: keep one line,
    so that nobody can flood the log (the packet itself is never logged)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {type(error).__name__}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


class OwnDebugOnly(logging.Filter):
    """Below INFO, only Hearth's own records pass (see the module's docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return (
            record.levelno >= logging.INFO
            or record.name == "hearth"
            or (record.name.startswith("hearth."))
        )


class RedactAddresses(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        kept = [text for text in getattr(record, NOT_PERSONAL, ()) if text]
        if kept:
            pattern = "(" + "|".join(map(re.escape, kept)) + ")"
            parts = re.split(pattern, message)
            # re.split with one group: the kept strings stand at the odd indexes.
            message = "".join(part if i % 2 else redact(part) for i, part in enumerate(parts))
        else:
            message = redact(message)
        record.msg = message
        record.args = None
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(OwnDebugOnly())
    handler.addFilter(RedactAddresses())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Libraries never log below INFO (their debug records would not pass the filter anyway,
    # and not creating them saves the work); Hearth's own loggers follow the configured level.
    root.setLevel(max(logging.INFO, logging.getLevelName(level.upper())))
    logging.getLogger("hearth").setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    access.disabled = True
    # Socket.IO's own loggers would print packet payloads at INFO (STACK-NOTES.md).
    for name in ("socketio", "engineio", "socketio.server", "engineio.server"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        logger.filters[:] = [OneLineForPackets()]
