"""Message sources: where a mailbox's mail comes from.

Invariants:
- A source yields raw mail in batches, each with an opaque cursor; fetching again from the
  cursor of the last batch yields only mail added since.
- A source that changed underneath (an mbox rewritten, a folder replaced) answers with
  ``Batch.reset`` set: the batch starts over from the beginning, and the caller's idempotent
  store makes the full re-sync safe.
- Sources stream: memory does not grow with the size of the mailbox.
- Sources do I/O and raise `SourceError` (or its `TemporaryError` / `AuthenticationError`
  subclasses) from the underlying error; they never decide anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..messages import Flag, Limits, Message

__all__ = ["Batch", "MessageSource", "SourceItem"]


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One message as a source holds it."""

    #: Where the message stands in the source (file name, offset, UID), for reports.
    location: str
    #: The RFC 5322 bytes, or None when the source holds messages already built (JSON lines).
    raw: bytes | None
    #: The built message, when the source holds it so; otherwise None.
    built: Message | None = None
    #: What the source knows of the message (Maildir ``D``, folder roles, a caller's flag).
    flags: frozenset[Flag] = frozenset()

    def message(self, limits: Limits | None = None) -> Message:
        """The message, built from the raw bytes with *limits* when needed. Never raises."""
        if self.built is not None:
            if self.flags - self.built.flags:
                from dataclasses import replace

                return replace(self.built, flags=self.built.flags | self.flags)
            return self.built
        return Message.from_bytes(self.raw or b"", limits=limits, flags=self.flags)


@dataclass(frozen=True, slots=True)
class Batch:
    """Up to ``limit`` messages, and the cursor to fetch what comes after them."""

    items: tuple[SourceItem, ...]
    #: Opaque text; pass it to the next ``fetch``. Stores keep it with the batch.
    cursor: str
    #: True when the source changed underneath and this batch starts again from the beginning.
    reset: bool = False
    #: True when nothing more is waiting after this batch.
    done: bool = True


@runtime_checkable
class MessageSource(Protocol):
    """What the sync engine needs of a source."""

    #: A short description for reports (a path or a URL without credentials).
    name: str

    def fetch(self, cursor: str | None, *, limit: int = 500) -> Batch:
        """The next batch after *cursor* (None: from the beginning)."""
        ...
