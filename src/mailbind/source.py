"""The MessageSource protocol and the items it yields: what the sync engine needs of a source.

Adapters in `mailbind.sources` (mbox, Maildir, ``.eml``, JSON lines, IMAP) implement it; the
engine, the command line and the backfills depend only on this module.

Invariants:
- A source yields raw mail in batches, each with an opaque cursor; fetching again from the
  cursor of the last batch yields only mail added since.
- A source that changed underneath (an mbox rewritten, a folder replaced) answers with
  ``Batch.reset`` set: the batch starts over from the beginning, and the caller's idempotent
  store makes the full re-sync safe.
- Sources do I/O and raise `SourceError` (or its `TemporaryError` / `AuthenticationError`
  subclasses) from the underlying error; they never decide anything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from .errors import SourceSettingError
from .messages import Flag, Limits, Message

__all__ = ["Batch", "Listing", "MessageSource", "SourceItem", "SourceSettingError"]


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One message as a source holds it."""

    #: Where this copy of the message stands in the source, stable for as long as the copy is
    #: there (a Maildir folder and unique name without its flags, a folder's UIDVALIDITY and
    #: UID, a JSON-lines record's ``id``): the text `Listing` names copies by.
    location: str
    #: The RFC 5322 bytes, or None when the source holds messages already built (JSON lines).
    raw: bytes | None
    #: The built message, when the source holds it so; otherwise None.
    built: Message | None = None
    #: What the source knows of the message (Maildir ``D``, folder roles, a caller's flag).
    flags: frozenset[Flag] = frozenset()
    #: True when the source kept only the first bytes of a message larger than it reads whole;
    #: the message is then read as over ``Limits.max_bytes`` (``too_large``), whatever the limit.
    truncated: bool = False

    def message(self, limits: Limits | None = None) -> Message:
        """The message, built from the raw bytes with *limits* when needed. Never raises."""
        if self.built is not None:
            if self.flags - self.built.flags:
                return replace(self.built, flags=self.built.flags | self.flags)
            return self.built
        raw = self.raw or b""
        if self.truncated:
            limits = limits or Limits()
            limits = replace(limits, max_bytes=min(limits.max_bytes, max(len(raw) - 1, 0)))
        return Message.from_bytes(raw, limits=limits, flags=self.flags)


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


@dataclass(frozen=True, slots=True)
class Listing:
    """Which message copies a source holds now, read without any message body.

    Either complete (``present`` names every copy, by `SourceItem.location`) or a change since
    the ``token`` of an earlier listing (``present`` is None and ``gone`` names the copies
    removed since then, as IMAP's QRESYNC ``VANISHED`` gives them). A copy that moved (another
    folder of the same mailbox) is gone at its old location and fetched at its new one.
    """

    #: Every location the source holds now; None when this listing is a change since a token.
    present: frozenset[str] | None
    #: Locations removed since the token given to `MessageSource.listing` (empty when complete).
    gone: frozenset[str] = frozenset()
    #: Opaque text to pass to the next `MessageSource.listing`; None when the source keeps none.
    #: The engine stores it with the removals the listing causes, in one transaction.
    token: str | None = None


@runtime_checkable
class MessageSource(Protocol):
    """What the sync engine needs of a source."""

    #: A short description for reports (a path or a URL without credentials).
    name: str

    def fetch(self, cursor: str | None, *, limit: int = 500) -> Batch:
        """The next batch after *cursor* (None: from the beginning)."""
        ...

    def listing(self, token: str | None = None) -> Listing:
        """Which copies the source holds now (or which went since *token*); reads no body.

        The engine calls it after a pass has fetched everything, so that a copy fetched in
        that pass is never taken for gone. A source that cannot tell a change since *token*
        answers with a complete listing.
        """
        ...
