"""Length-hiding padding of message content into fixed buckets (docs/protocol.md §7.2).

``padded = u32(len(content)) ‖ content ‖ zeros`` filling the smallest bucket that holds it, so
the ciphertext reveals only the bucket, not the exact length.
"""

import hmac

from crypto.errors import VerificationFailed
from crypto.suite import MAX_CONTENT, PAD_BUCKETS, u32

_LENGTH_LEN = 4


def bucket_for(content_len: int) -> int:
    """The smallest bucket that holds ``u32 length ‖ content``."""
    if not 0 <= content_len <= MAX_CONTENT:
        raise ValueError(f"content must be at most {MAX_CONTENT} bytes, got {content_len}")
    return next(b for b in PAD_BUCKETS if b >= _LENGTH_LEN + content_len)


def pad(content: bytes) -> bytes:
    """Length-prefix ``content`` and zero-fill it to its bucket."""
    bucket = bucket_for(len(content))
    return u32(len(content)) + content + bytes(bucket - _LENGTH_LEN - len(content))


def unpad(padded: bytes) -> bytes:
    """Inverse of ``pad``; ``VerificationFailed`` unless ``padded`` is exactly what pad gives.

    Runs on decrypted, authenticated data, so the only way to reach a failure is a sender that
    padded wrongly; refusing non-canonical padding keeps one encoding per message.
    """
    if len(padded) not in PAD_BUCKETS:
        raise VerificationFailed
    length = int.from_bytes(padded[:_LENGTH_LEN], "big")
    if length > MAX_CONTENT or bucket_for(length) != len(padded):
        raise VerificationFailed
    tail = padded[_LENGTH_LEN + length :]
    if not hmac.compare_digest(tail, bytes(len(tail))):
        raise VerificationFailed
    return padded[_LENGTH_LEN : _LENGTH_LEN + length]
