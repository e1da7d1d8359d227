"""Messages: the record every rule reads, built from RFC 5322 bytes or from plain values.

Invariants:
- A `Message` is immutable; its tuples hold every participant in header order, none dropped.
- ``Message.from_bytes`` never raises on real mail: what it could not read becomes a defect code
  in ``defects`` (``too_large``, ``too_deep``, ...), and every limit in `Limits` is enforced so
  hostile input finishes in bounded time and memory.
- A field that redaction removed is ``None`` (withheld), never emptied: a blank subject is ``""``.
  ``level`` says how much of the message the record holds.
- ``key`` identifies the message across mailboxes: its Message-ID, or a stable fingerprint when
  the Message-ID is missing or blank. It is computed once, at construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .addresses import Participant, Role

__all__ = [
    "Attachment",
    "Direction",
    "Flag",
    "Limits",
    "Message",
    "SharingLevel",
]

_LEVEL_RANK = {"metadata": 0, "subject": 1, "everything": 2}


class SharingLevel(StrEnum):
    """How much of a message other users may read, ordered METADATA < SUBJECT < EVERYTHING."""

    METADATA = "metadata"
    SUBJECT = "subject"
    EVERYTHING = "everything"

    @property
    def rank(self) -> int:
        """0, 1 or 2: the position of the level in the order."""
        return _LEVEL_RANK[self.value]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, SharingLevel):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, SharingLevel):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, SharingLevel):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, SharingLevel):
            return NotImplemented
        return self.rank >= other.rank

    __hash__ = StrEnum.__hash__


class Direction(StrEnum):
    """Whether the mailbox owner sent the message or received it."""

    INCOMING = "incoming"
    OUTGOING = "outgoing"


class Flag(StrEnum):
    """What the source knows about a message's place (folder role, flags, labels)."""

    DRAFT = "draft"
    SPAM = "spam"
    TRASH = "trash"
    #: The source holds the message in the owner's sent folder: it is outgoing.
    SENT = "sent"


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attached file. Its name is data: it never becomes a path."""

    filename: str
    content_type: str = "application/octet-stream"
    size: int = 0
    content: bytes = field(default=b"", repr=False)


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
    #: Longest header value kept, in characters; longer ones are cut (``header_too_long``).
    max_header_length: int = 64 * 1024


@dataclass(frozen=True, slots=True)
class Message:
    """One email as the rules see it."""

    #: The Message-ID without angle brackets, or None when missing or blank.
    message_id: str | None
    #: When it was sent (timezone-aware), or None when the date could not be read.
    sent_at: datetime | None
    #: Every participant (From, To, Cc, Bcc, Sender, Reply-To) in header order.
    participants: tuple[Participant, ...]
    #: The subject; None when withheld by redaction, ``""`` when blank.
    subject: str | None = ""
    #: The plain-text body; None when withheld.
    text: str | None = ""
    #: The HTML body; None when withheld.
    html: str | None = ""
    #: The attachments; None when withheld.
    attachments: tuple[Attachment, ...] | None = ()
    #: Every header as (name, decoded value), in order; redaction keeps only the allowed ones.
    headers: tuple[tuple[str, str], ...] = ()
    #: What the source knows: draft, spam, trash, sent.
    flags: frozenset[Flag] = frozenset()
    #: Codes for what could not be read (``too_large``, ``too_deep``, ``bad_date``, ...).
    defects: tuple[str, ...] = ()
    #: How much of the message this record holds.
    level: SharingLevel = SharingLevel.EVERYTHING
    #: The identity across mailboxes: ``message_id`` or a ``sha256:`` fingerprint.
    key: str = ""

    def __post_init__(self) -> None:
        raise NotImplementedError

    @property
    def sender(self) -> Participant | None:
        """The first From participant, or None."""
        for p in self.participants:
            if p.role is Role.FROM:
                return p
        return None

    def header(self, name: str) -> str | None:
        """The first header called *name* (case-insensitive), or None."""
        lower = name.lower()
        for n, v in self.headers:
            if n.lower() == lower:
                return v
        return None

    @property
    def withheld(self) -> frozenset[str]:
        """The names of the fields redaction removed."""
        raise NotImplementedError

    @classmethod
    def from_bytes(
        cls, raw: bytes, *, limits: Limits | None = None, flags: frozenset[Flag] = frozenset()
    ) -> Message:
        """Read RFC 5322 bytes. Never raises on real mail; records defects."""
        raise NotImplementedError

    @classmethod
    def build(
        cls,
        *,
        sender: str,
        to: Any = (),
        cc: Any = (),
        bcc: Any = (),
        subject: str = "",
        text: str = "",
        html: str = "",
        attachments: Any = (),
        message_id: str | None = None,
        sent_at: datetime | None = None,
        headers: Any = (),
        flags: Any = (),
    ) -> Message:
        """Build a message from plain strings (for ETL)."""
        raise NotImplementedError
