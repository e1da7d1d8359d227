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
from importlib import import_module
from typing import Any

from ..errors import SourceError
from ..messages import Flag
from ..source import Batch, Listing, MessageSource, SourceItem, SourceSettingError

__all__ = [
    "FORMATS",
    "Batch",
    "Listing",
    "MessageSource",
    "NotMailError",
    "SourceItem",
    "SourceSettingError",
    "flags_for_folder",
    "guess_format",
    "open_source",
]


class NotMailError(SourceError):
    """What is at a source's path is not mail in any format mailbind reads; the sentence names
    what was found instead."""


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


def guess_format(path: str | os.PathLike[str], *, recursive: bool = True) -> str:
    """The format of the mail at *path*, recognised from what it holds.

    A folder with ``cur``, ``new`` or ``tmp`` is a ``maildir``; another folder is ``eml`` when
    its ``.eml`` files (in subfolders too, when *recursive*) start with header lines. A file
    is ``mbox`` when it starts with a ``From `` line or is one message (header lines), and
    ``jsonl`` when its first line is a JSON object.

    Raises `SourceError` when nothing is at *path*, and its subclass
    `NotMailError` naming what was found when it is not mail.
    """
    from ._sniff import sniff

    return sniff(os.fspath(path), recursive=recursive)


def open_source(
    path: str | os.PathLike[str], format: str | None = None, **settings: Any
) -> MessageSource:
    """The file source for *path* in *format* (one of `FORMATS`; recognised from the content
    by `guess_format` when None, and refused when it is not mail).

    *settings* go to the source's constructor (``flags``, ``max_message_bytes``, ...); a
    ``recursive`` setting also tells `guess_format` whether to look into subfolders. Only the
    chosen adapter's module is imported.
    """
    if format is None:
        name = guess_format(path, recursive=settings.get("recursive", True))
    else:
        name = format
    if name != "eml":
        settings.pop("recursive", None)
    if name not in FORMATS:
        raise SourceSettingError(
            f"The source format must be one of {', '.join(FORMATS)}, not {format!r}."
        )
    module, cls = FORMATS[name]
    source: MessageSource = getattr(import_module(module), cls)(path, **settings)
    return source
