"""Content types and their checks (§7.3)."""

from crypto.fields import require_bytes, require_int
from crypto.suite import CONTENT_TYPE_TEXT, CONTENT_TYPES, MAX_CONTENT


def check_content(content_type: int, content: bytes) -> None:
    """``ValueError`` unless ``content`` is a valid value of a known ``content_type``."""
    require_int("content_type", content_type, 0, 255)
    require_bytes("content", content)
    if content_type not in CONTENT_TYPES:
        raise ValueError(f"unknown content_type {content_type}")
    if len(content) > MAX_CONTENT:
        raise ValueError(f"content must be at most {MAX_CONTENT} bytes, got {len(content)}")
    if content_type == CONTENT_TYPE_TEXT:
        try:
            content.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            raise ValueError("text content must be valid UTF-8") from None
