"""A Maildir folder as a message source.

Invariants:
- Messages are the files in ``new/`` and ``cur/`` (names starting with a dot are skipped);
  ``tmp/`` holds deliveries still being written and is never read.
- A message is known by its unique name, the part of its file name before the info suffix
  (``:2,`` or ``!2,``); the suffix's flags ``D`` (draft) and ``T`` (trashed) become
  `Flag.DRAFT` and `Flag.TRASH`. A file renamed after it was listed (a flag changed, moved
  from ``new/`` to ``cur/``) is found again by its unique name.
- The folder's own name may imply flags (``.Junk``, ``.Drafts``, ``.Sent``: see
  `flags_for_folder`); Maildir++ subfolders are separate sources.
- Order and cursor are those of `mailbind.sources._folders`: change time, then unique name,
  with a high-water mark and a settling window.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from ..errors import SourceError
from ..messages import Flag
from . import SourceItem
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
    """The messages of one Maildir folder (its ``new/`` and ``cur/``), oldest change first.

    *flags* are given to every message; when None they follow the folder's name. *window* is
    the settling window in seconds (see `mailbind.sources._folders`). A message larger than
    *max_message_bytes* keeps only its first bytes and is read as ``too_large``; a batch ends
    early once it holds *batch_bytes*.
    """

    __slots__ = ()
    kind = "maildir"
    what = "Maildir folder"

    def _check(self) -> None:
        if not any(os.path.isdir(os.path.join(self.path, sub)) for sub in ("cur", "new")):
            raise SourceError(
                f"Cannot read the Maildir folder {self.path!r}: it has no cur or new folder."
            )

    def _list(self) -> Iterator[Entry]:
        for sub in ("new", "cur"):
            for entry, _relative in scan_files(os.path.join(self.path, sub), recursive=False):
                try:
                    changed = entry.stat().st_ctime_ns
                except FileNotFoundError:  # renamed or removed while listed
                    continue
                yield changed, split_name(entry.name)[0], entry.path

    def _read(self, entry: Entry) -> SourceItem | None:
        keep = self.max_message_bytes + 1
        path = entry[2]
        raw = read_file(path, keep)
        if raw is None:
            path = self._find(entry[1]) or ""
            raw = read_file(path, keep) if path else None
            if raw is None:
                return None  # removed since it was listed
        return SourceItem(
            location=path,
            raw=raw,
            flags=self.flags | split_name(os.path.basename(path))[1],
            truncated=len(raw) == keep,
        )

    def _find(self, unique: str) -> str | None:
        """The path the message *unique* has now, or None when it is gone."""
        for entry, _relative in scan_files(os.path.join(self.path, "cur"), recursive=False):
            if split_name(entry.name)[0] == unique:
                return entry.path
        return None
