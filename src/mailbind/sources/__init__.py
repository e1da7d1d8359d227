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
- Importing this package loads no adapter: the file sources live in ``mailbind.sources.mbox``,
  ``.maildir``, ``.eml`` and ``.jsonl``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from importlib import import_module
from typing import Any, Protocol, runtime_checkable

from ..errors import MailbindError, SourceError
from ..messages import Flag, Limits, Message

__all__ = [
    "FORMATS",
    "Batch",
    "MessageSource",
    "SourceItem",
    "SourceSettingError",
    "flags_for_folder",
    "open_source",
]


class SourceSettingError(MailbindError, ValueError):
    """A source was given a setting it cannot use (a batch limit below one, a negative size)."""


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


@runtime_checkable
class MessageSource(Protocol):
    """What the sync engine needs of a source."""

    #: A short description for reports (a path or a URL without credentials).
    name: str

    def fetch(self, cursor: str | None, *, limit: int = 500) -> Batch:
        """The next batch after *cursor* (None: from the beginning)."""
        ...


#: Folder names (case-folded, without a leading dot or a ``.mbox`` ending) and what they mean.
_FOLDER_ROLES: dict[str, Flag] = {
    **dict.fromkeys(("drafts", "draft"), Flag.DRAFT),
    **dict.fromkeys(("junk", "spam", "junk e-mail", "junk email", "bulk mail"), Flag.SPAM),
    **dict.fromkeys(("trash", "deleted", "deleted items", "deleted messages", "bin"), Flag.TRASH),
    **dict.fromkeys(("sent", "sent items", "sent messages", "sent mail"), Flag.SENT),
}


def flags_for_folder(name: str) -> frozenset[Flag]:
    """The flags a folder's name implies: ``Junk`` and ``Spam`` are spam, ``.Trash`` is trash.

    *name* is a folder or file name as mail programs write them: a Maildir++ folder
    (``.Drafts``, ``.INBOX.Junk``: the last part counts), a Thunderbird mbox (``Sent``) or an
    export (``Trash.mbox``). Names are compared case-insensitively; any other name implies
    nothing.

    >>> sorted(flags_for_folder(".INBOX.Junk"))
    [<Flag.SPAM: 'spam'>]
    >>> flags_for_folder("Clients.mbox")
    frozenset()
    """
    text = name.rstrip("/\\").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if text.lower().endswith(".mbox"):
        text = text[:-5]
    text = text.rsplit(".", 1)[-1] if text.startswith(".") else text
    role = _FOLDER_ROLES.get(text.strip().casefold())
    return frozenset((role,)) if role is not None else frozenset()


#: The file formats `open_source` reads: format name -> (module, class).
FORMATS: dict[str, tuple[str, str]] = {
    "mbox": ("mailbind.sources.mbox", "MboxSource"),
    "maildir": ("mailbind.sources.maildir", "MaildirSource"),
    "eml": ("mailbind.sources.eml", "EmlFolderSource"),
    "jsonl": ("mailbind.sources.jsonl", "JsonLinesSource"),
}


def guess_format(path: str | os.PathLike[str]) -> str:
    """The format of the mail at *path*: ``maildir`` for a folder with ``cur`` or ``new``,
    ``eml`` for another folder, ``jsonl`` for a ``.jsonl`` or ``.ndjson`` file, else ``mbox``.

    Raises `SourceError` when nothing is at *path*.
    """
    text = os.fspath(path)
    if os.path.isdir(text):
        has_maildir = any(os.path.isdir(os.path.join(text, sub)) for sub in ("cur", "new"))
        return "maildir" if has_maildir else "eml"
    if not os.path.exists(text):
        raise SourceError(f"Cannot read the mail source {text!r}: it does not exist.")
    return "jsonl" if text.lower().endswith((".jsonl", ".ndjson")) else "mbox"


def open_source(
    path: str | os.PathLike[str], format: str | None = None, **settings: Any
) -> MessageSource:
    """The file source for *path* in *format* (one of `FORMATS`; guessed when None).

    *settings* go to the source's constructor (``flags``, ``max_message_bytes``, ...). Only
    the chosen adapter's module is imported.
    """
    name = guess_format(path) if format is None else format
    if name not in FORMATS:
        raise SourceSettingError(
            f"The source format must be one of {', '.join(FORMATS)}, not {format!r}."
        )
    module, cls = FORMATS[name]
    source: MessageSource = getattr(import_module(module), cls)(path, **settings)
    return source
