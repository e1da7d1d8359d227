"""Redaction: what a reader below EVERYTHING may see of a message.

Invariants:
- ``redact(m, level)`` removes every field above *level*: nothing of a removed field survives
  anywhere in the result (headers such as ``Thread-Topic`` and attachment names included).
- A removed field is withheld (``None``), not emptied.
- Idempotent, monotone, and ``redact(redact(m, a), b) == redact(m, min(a, b))``.
"""

from __future__ import annotations

from .messages import Message, SharingLevel

__all__ = ["METADATA_HEADERS", "redact"]

#: Header names (lower-case) kept at every level.
METADATA_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "sender",
        "reply-to",
        "date",
        "message-id",
        "in-reply-to",
        "references",
    }
)


def redact(message: Message, level: SharingLevel) -> Message:
    raise NotImplementedError
