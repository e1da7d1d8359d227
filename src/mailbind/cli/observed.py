"""A mail source seen through by the command line: how far a pass is, and whether the mail is
the owner's at all.

Invariants:
- `Observed` yields exactly the batches of the source it wraps, unchanged; everything else
  (``listing``, ``name``, ``close``) is the wrapped source's.
- It reads only what the batches carry: the cursor's byte offset (mbox, JSON lines) against the
  file's size, the number of files a folder held when the pass began, and the address header
  lines of each message (``From``, ``To``, ``Cc``, ``Bcc``, ``Delivered-To``, ...).
- The owner check looks at the first batch of a mailbox's first sync only: a mailbox that
  synced before was checked then, and a few new messages prove nothing. With *strict* it fails
  before that batch is returned, so nothing of it is stored.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import SourceError
from ..policy import Mailbox
from ..source import Batch, MessageSource, SourceItem
from .exits import ExitCode, Failure
from .text import clean, counted

__all__ = ["Observed"]

#: Header fields whose addresses say whose mail a message is.
_FIELDS = (b"from", b"to", b"cc", b"bcc", b"delivered-to", b"x-original-to", b"envelope-to")
#: Bytes of a message's head looked at.
_HEAD = 64 * 1024


class Observed:
    """*source*, counting what it yields for a progress bar and checking the owner's address.

    *first* is True when the mailbox has never synced (no stored cursor): then the first batch is
    checked for the owner's addresses; *strict* makes their absence a `Failure`. With *measure*
    the source's size is read first, so that `fraction` can say how far the pass is.
    """

    def __init__(
        self,
        source: MessageSource,
        mailbox: Mailbox,
        *,
        label: str,
        first: bool,
        strict: bool = False,
        where: str = "",
        measure: bool = False,
    ) -> None:
        self.source = source
        self.mailbox = mailbox
        self.label = label
        self.where = where
        self.check = first
        self.strict = strict
        #: Messages yielded so far.
        self.count = 0
        #: How far through the source the pass is, from 0 to 1; None when the source cannot say.
        self.fraction: float | None = None
        #: The number of messages the first batch checked held, when none was the owner's.
        self.owner_missing = 0
        self._keys = _forms(mailbox)
        self._owners = frozenset(a.key for a in (mailbox.owner, *mailbox.aliases))
        self._size = _file_size(source) if measure else None
        self._start_files = _folder_files(source) if measure and self._size is None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)

    def fetch(self, cursor: str | None, *, limit: int = 500) -> Batch:
        """The wrapped source's batch after *cursor*, counted and checked."""
        batch = self.source.fetch(cursor, limit=limit)
        if batch.reset:
            self.count = 0
        self.count += len(batch.items)
        if self.check and batch.items:
            self.check = False
            if not any(self._mentions_owner(item) for item in batch.items):
                self.owner_missing = len(batch.items)
                if self.strict:
                    raise Failure(
                        ExitCode.CONFIG if self.where else ExitCode.USAGE,
                        f"{self.where + ': ' if self.where else ''}{self.owner_sentence()}, so "
                        "nothing was stored: check the address, or sync without --strict.",
                    )
        self.fraction = self._fraction(batch)
        return batch

    def owner_sentence(self) -> str:
        """Why the owner's address looks wrong, in one clean sentence without its end."""
        return (
            f"The owner {clean(str(self.mailbox.owner))} appears in no From, To, Cc or Bcc of "
            f"the first {counted(self.owner_missing, 'message')} of {clean(self.label)}"
        )

    def _fraction(self, batch: Batch) -> float | None:
        if batch.done:
            return 1.0
        if self._size:
            try:
                offset = json.loads(batch.cursor).get("offset")
            except (ValueError, AttributeError):
                return None
            if isinstance(offset, int):
                return min(offset / self._size, 1.0)
            return None
        if self._start_files:
            return min(self.count / self._start_files, 1.0)
        return None

    def _mentions_owner(self, item: SourceItem) -> bool:
        if item.built is not None:
            return any(
                p.address is not None and p.address.key in self._owners
                for p in item.built.participants
            )
        head = (item.raw or b"")[:_HEAD]
        end = head.find(b"\n\n")
        end2 = head.find(b"\r\n\r\n")
        ends = [e for e in (end, end2) if e >= 0]
        head = head[: min(ends)] if ends else head
        text = head.replace(b"\r\n", b"\n").replace(b"\n ", b" ").replace(b"\n\t", b" ")
        for line in text.lower().split(b"\n"):
            name, colon, value = line.partition(b":")
            if colon and name.strip() in _FIELDS and any(k in value for k in self._keys):
                return True
        return False


def _forms(mailbox: Mailbox) -> tuple[bytes, ...]:
    """The owner's and aliases' addresses as they may stand in a header, lower-cased."""
    forms: set[bytes] = set()
    for address in (mailbox.owner, *mailbox.aliases):
        for text in (address.key, str(address)):
            forms.add(text.lower().encode("utf-8", "replace"))
    return tuple(sorted(forms))


def _file_size(source: MessageSource) -> int | None:
    """The size of a stream source's file (mbox, JSON lines), or None."""
    if getattr(source, "kind", None) not in ("mbox", "jsonl"):
        return None
    try:
        return os.path.getsize(source.path)  # type: ignore[attr-defined]
    except (OSError, AttributeError):
        return None


def _folder_files(source: MessageSource) -> int | None:
    """How many message files a folder source holds now (from its listing), or None."""
    if getattr(source, "kind", None) not in ("maildir", "eml"):
        return None
    try:
        present = source.listing().present
    except (SourceError, OSError):  # the pass reports it; the bar only goes without a total
        return None
    return None if present is None else len(present)
