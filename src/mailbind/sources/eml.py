"""A folder of ``.eml`` files (one RFC 5322 message each) as a message source.

Invariants:
- Every file whose name ends in ``.eml`` (any case) under the folder is a message, in
  subfolders too unless ``recursive=False``; names starting with a dot (files and folders) are
  skipped.
- A message is known by its path relative to the folder (``/`` separated); its location is
  the folder's path joined with it, stable for as long as the file keeps its name.
- A symbolic link is read only when it leads to a regular file inside the folder; any other
  link becomes an item whose message records the defect ``refused_symlink``, never read.
- Order and cursor are those of `mailbind.sources._folders`: change time, then relative path,
  with a high-water mark and a settling window.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from . import SourceItem
from ._folders import Entry, FolderSource, read_file, scan_files

__all__ = ["EmlFolderSource"]


class EmlFolderSource(FolderSource):
    """The ``.eml`` files under one folder, oldest change first.

    *flags* are given to every message; when None they follow the folder's name (``Sent``,
    ``Drafts``: see `flags_for_folder`). *window* is the settling window in seconds. A message
    larger than *max_message_bytes* keeps only its first bytes and is read as ``too_large``; a
    batch ends early once it holds *batch_bytes*. With *recursive* false only the folder's own
    files are read, not those of its subfolders.
    """

    __slots__ = ("recursive",)
    kind = "eml"
    what = "folder of .eml files"

    def __init__(
        self, path: str | os.PathLike[str], *, recursive: bool = True, **settings: Any
    ) -> None:
        super().__init__(path, **settings)
        self.recursive = bool(recursive)

    def _scan(self) -> Iterator[tuple[os.DirEntry[str], str]]:
        return scan_files(self.path, recursive=self.recursive, suffix=".eml")

    def _read(self, entry: Entry) -> SourceItem | None:
        raw = read_file(entry[2], self.max_message_bytes + 1, self._inside)
        return self._item(entry[1], raw, self.flags)
