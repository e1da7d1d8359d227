"""A Maildir, with its Maildir++ subfolders, as a message source.

Invariants:
- Messages are the files in ``new/`` and ``cur/`` of the Maildir and, unless told otherwise,
  of each Maildir++ subfolder (a folder directly inside it whose name starts with a dot and
  which holds ``cur/`` or ``new/``: ``.Sent``, ``.INBOX.Archive``). Names starting with a dot
  are skipped; ``tmp/`` holds deliveries still being written and is never read; a subfolder,
  ``cur/`` or ``new/`` that is a symbolic link is not read.
- A message is known by its folder (``""`` for the Maildir itself, the INBOX) and its unique
  name, the part of its file name before the info suffix (``:2,`` or ``!2,``). Its location
  is the Maildir's path joined with both (``/mail/.Archive/1700000000.M1P2.host``): neither
  ``new/`` or ``cur/`` nor the flags are part of it, so a message delivered, read or flagged
  keeps its location, and a message moved to another folder is gone at one location and new at
  another.
- The suffix's flags ``D`` (draft) and ``T`` (trashed) become `Flag.DRAFT` and `Flag.TRASH`. A
  file renamed after it was listed (a flag changed, moved from ``new/`` to ``cur/``) is found
  again by its unique name.
- Each folder's name may imply flags (``.Junk``, ``.Drafts``, ``.Sent``: see
  `flags_for_folder`) unless flags are given.
- Order and cursor are those of `mailbind.sources._folders`: change time, then name, with a
  high-water mark and a settling window. A move (a rename) gives the file a new change time and
  a new name, so the moved message is fetched again at its new place.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator

from ..errors import SourceError
from ..messages import Flag
from . import SourceItem, flags_for_folder
from ._files import DEFAULT_BATCH_BYTES, DEFAULT_MAX_MESSAGE_BYTES
from ._folders import Entry, FolderSource, read_file, scan_files

__all__ = ["MaildirSource"]

_INFO = re.compile(r"[:!]2,([^:!]*)\Z")
_FLAGS = {"D": Flag.DRAFT, "T": Flag.TRASH}


def split_name(name: str) -> tuple[str, frozenset[Flag]]:
    """The unique name of a Maildir file name, and the flags its info suffix holds.

    >>> split_name("1700000000.M1P2.host:2,DS")
    ('1700000000.M1P2.host', frozenset({<Flag.DRAFT: 'draft'>}))
    """
    found = _INFO.search(name)
    if found is None:
        return name.split(":", 1)[0], frozenset()
    flags = frozenset(_FLAGS[c] for c in found.group(1) if c in _FLAGS)
    return name[: found.start()], flags


class MaildirSource(FolderSource):
    """The messages of a Maildir (its ``new/`` and ``cur/``) and of its Maildir++ subfolders,
    oldest change first.

    *subfolders* False reads the Maildir itself only. *flags* are given to every message; when
    None they follow each folder's name. *window* is the settling window in seconds (see
    `mailbind.sources._folders`). A message larger than *max_message_bytes* keeps only its first
    bytes and is read as ``too_large``; a batch ends early once it holds *batch_bytes*.
    """

    __slots__ = ("_guess", "subfolders")
    kind = "maildir"
    what = "Maildir folder"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        subfolders: bool = True,
        flags: Iterable[Flag | str] | None = None,
        window: float = 600.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
    ) -> None:
        super().__init__(
            path,
            flags=flags,
            window=window,
            max_message_bytes=max_message_bytes,
            batch_bytes=batch_bytes,
        )
        self.subfolders = bool(subfolders)
        #: True when each folder's flags follow its name.
        self._guess = flags is None

    def _check(self) -> None:
        if not _is_maildir(self.path):
            raise SourceError(
                f"Cannot read the Maildir folder {self.path!r}: it has no cur or new folder."
            )

    def _folders(self) -> Iterator[str]:
        """The Maildir itself (``""``) and the names of its Maildir++ subfolders."""
        yield ""
        if not self.subfolders:
            return
        with os.scandir(self.path) as entries:
            for entry in entries:
                if (
                    entry.name.startswith(".")
                    and entry.name not in (".", "..")
                    and entry.is_dir(follow_symlinks=False)
                    and _is_maildir(entry.path)
                ):
                    yield entry.name

    def _directories(self) -> Iterator[str]:
        """The Maildir (its entries name the subfolders) and each folder's ``new`` and ``cur``:
        Maildir files are never rewritten, only delivered, renamed and removed."""
        yield self.path
        for folder in self._folders():
            for sub in ("new", "cur"):
                yield os.path.join(self.path, folder, sub)

    def _scan(self) -> Iterator[tuple[os.DirEntry[str], str]]:
        for folder in self._folders():
            for sub in ("new", "cur"):
                top = os.path.join(self.path, folder, sub)
                if os.path.islink(top):
                    continue  # a link to a folder is never followed
                for entry, _relative in scan_files(top, recursive=False):
                    unique = split_name(entry.name)[0]
                    yield entry, f"{folder}/{unique}" if folder else unique

    def _read(self, entry: Entry) -> SourceItem | None:
        keep = self.max_message_bytes + 1
        name, path = entry[1], entry[2]
        raw = read_file(path, keep, self._inside)
        if raw is None:
            path = self._find(name) or ""
            raw = read_file(path, keep, self._inside) if path else None
        folder = name.rpartition("/")[0]
        flags = self._folder_flags(folder) | split_name(os.path.basename(path))[1]
        return self._item(name, raw, flags)

    def _folder_flags(self, folder: str) -> frozenset[Flag]:
        if not folder or not self._guess:
            return self.flags
        return flags_for_folder(folder)

    def _find(self, name: str) -> str | None:
        """The path the message *name* (folder and unique name) has now, or None when gone."""
        folder, _, unique = name.rpartition("/")
        for sub in ("cur", "new"):
            top = os.path.join(self.path, folder, sub)
            if os.path.islink(top):
                continue
            for entry, _relative in scan_files(top, recursive=False):
                if split_name(entry.name)[0] == unique:
                    return entry.path
        return None


def _is_maildir(path: str) -> bool:
    return any(os.path.isdir(os.path.join(path, sub)) for sub in ("cur", "new"))
