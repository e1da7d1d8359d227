"""The bounds on reading one message from bytes.

Invariants:
- A `Limits` holds positive whole numbers only; anything else cannot be made.
- This module imports nothing from mailbind but its errors, so the MIME reader and the message
  record both import it without a cycle; `mailbind.messages` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import MessageError, MessageTypeError

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what ``Message.from_bytes`` reads; over a bound the message is still recorded."""

    #: Largest message read whole, in bytes; a larger one keeps its headers only (``too_large``).
    max_bytes: int = 50 * 1024 * 1024
    #: Deepest MIME nesting followed (``too_deep``).
    max_depth: int = 20
    #: Most MIME parts read (``too_many_parts``).
    max_parts: int = 500
    #: Most header fields read (``too_many_headers``).
    max_headers: int = 1000
    #: Longest header field value kept, in bytes as written (folding included); longer ones
    #: are cut (``header_too_long``).
    max_header_length: int = 64 * 1024

    def __post_init__(self) -> None:
        for name in _LIMIT_NAMES:
            value = getattr(self, name)
            if type(value) is not int or value <= 0:
                # A value of another type is a `TypeError` as well; the message is the same.
                error = MessageError if type(value) is int else MessageTypeError
                raise error(f"{name} must be a positive whole number, not {value!r}.")


_LIMIT_NAMES = ("max_bytes", "max_depth", "max_parts", "max_headers", "max_header_length")
