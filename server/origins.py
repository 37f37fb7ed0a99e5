"""The origin allow-list: which web origins may open a socket or log a facilitator in.

A refused origin is named in the log, once per origin, so that an operator can see why a page
cannot connect (e.g. a server moved to another port behind the same config). An origin is the
address of a web site, not of a person, so it is exempt from the address redaction of
``server.logs``; the set of origins logged is bounded, so a client sending a new ``Origin`` on
every request cannot flood the log.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from server.logs import NOT_PERSONAL

log = logging.getLogger("hearth.origins")

# Distinct refused origins named in the log per process; later ones are not logged.
MAX_LOGGED_ORIGINS = 32
# What a browser sends: scheme://host[:port]. Anything else (a client can send any text) is
# logged as malformed, never verbatim, so that no one can write their own lines into the log.
_ORIGIN_SHAPE = re.compile(r"[a-z][a-z0-9+.-]{0,15}://[A-Za-z0-9.\-\[\]:]{1,200}")


class OriginGate:
    """Answers whether an ``Origin`` header is one of the configured public origins."""

    def __init__(self, origins: Iterable[str]) -> None:
        self.origins = frozenset(origins)
        self._logged: set[str] = set()

    def allows(self, origin: str | None, environ: Any = None) -> bool:
        """engine.io's ``cors_allowed_origins`` callable; a request without ``Origin`` passes."""
        if origin is None or origin in self.origins:
            return True
        self._note_refusal(origin)
        return False

    def _note_refusal(self, origin: str) -> None:
        if origin in self._logged or len(self._logged) >= MAX_LOGGED_ORIGINS:
            return
        self._logged.add(origin)
        allowed = ", ".join(sorted(self.origins))
        if not _ORIGIN_SHAPE.fullmatch(origin):
            log.warning("refused a request with a malformed Origin header")
            return
        log.warning(
            "refused a request from origin %s: not in server.public_origins (%s); add it there "
            "if people reach Hearth at that address",
            origin,
            allowed,
            extra={NOT_PERSONAL: (origin, *self.origins)},
        )
