"""Hearth's protocol cryptography: pure functions over bytes, no I/O.

The byte layouts are normative in ``docs/protocol.md``; this package imports nothing else of the
project. Every failure to open or verify raises :class:`crypto.errors.VerificationFailed`;
malformed input raises ``ValueError``/``TypeError`` before any cryptography runs.
"""
