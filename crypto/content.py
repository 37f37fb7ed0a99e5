"""Content types and their checks (§7.3).

Type 1 is plain UTF-8 text. Type 2 is text behind a content note the sender chose ("self-harm",
"abuse", or their own short words): ``note ‖ 0x00 ‖ text``, both UTF-8. The note travels inside
the encrypted content, so the server never sees it; the whole content stays valid UTF-8, so a
report of it reads as text too. A note holds no control or format character, so its end is the
first zero byte and the text after it may hold anything type 1 allows.
"""

import unicodedata
from typing import Final

from crypto.fields import require_bytes, require_int
from crypto.suite import (
    CONTENT_TYPE_NOTED_TEXT,
    CONTENT_TYPE_TEXT,
    CONTENT_TYPES,
    MAX_CONTENT,
    MAX_NOTE_CHARS,
)

NOTE_END: Final = b"\x00"
# Control (Cc, which holds the zero byte), format (Cf: bidi overrides, zero-width), line and
# paragraph separators: none can hide, reorder or break the note a reader is shown.
_FORBIDDEN_IN_NOTE: Final = frozenset({"Cc", "Cf", "Zl", "Zp"})


def check_note(note: str) -> None:
    """``ValueError`` unless ``note`` is a content note a receiver accepts."""
    if not isinstance(note, str):
        raise TypeError(f"note must be str, not {type(note).__name__}")
    if not note.strip():
        raise ValueError("a content note must not be empty")
    if len(note) > MAX_NOTE_CHARS:
        raise ValueError(f"a content note must be at most {MAX_NOTE_CHARS} characters")
    if any(unicodedata.category(char) in _FORBIDDEN_IN_NOTE for char in note):
        raise ValueError("a content note must not contain control or format characters")


def noted_text(note: str, text: str) -> bytes:
    """The type-2 content of ``text`` behind ``note``."""
    check_note(note)
    return note.encode("utf-8") + NOTE_END + text.encode("utf-8")


def split_noted(content: bytes) -> tuple[str, str]:
    """(note, text) of a type-2 content; ``ValueError`` when it is not one."""
    raw_note, found, raw_text = content.partition(NOTE_END)
    if not found:
        raise ValueError("noted content must hold its note's end")
    try:
        note, text = raw_note.decode("utf-8"), raw_text.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("noted content must be valid UTF-8") from None
    check_note(note)
    return note, text


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
    elif content_type == CONTENT_TYPE_NOTED_TEXT:
        split_noted(content)
