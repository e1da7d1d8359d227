"""A folder of ``.eml`` files (one RFC 5322 message each) as a message source.

Invariants:
- Every file whose name ends in ``.eml`` (any case) under the folder is a message, in
  subfolders too; names starting with a dot (files and folders) are skipped.
- A message is known by its path relative to the folder (``/`` separated), which is also where
  the item says it stands.
- Order and cursor are those of `mailbind.sources._folders`: change time, then relative path,
  with a high-water mark and a settling window.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import SourceItem
from ._folders import Entry, FolderSource, read_file, scan_files

__all__ = ["EmlFolderSource"]


class EmlFolderSource(FolderSource):
    """The ``.eml`` files under one folder, oldest change first.

    *flags* are given to every message; when None they follow the folder's name (``Sent``,
    ``Drafts``: see `flags_for_folder`). *window* is the settling window in seconds. A message
    larger than *max_message_bytes* keeps only its first bytes and is read as ``too_large``; a
    batch ends early once it holds *batch_bytes*.
    """

    __slots__ = ()
    kind = "eml"
    what = "folder of .eml files"

    def _list(self) -> Iterator[Entry]:
        for entry, relative in scan_files(self.path, recursive=True, suffix=".eml"):
            try:
                changed = entry.stat().st_ctime_ns
            except FileNotFoundError:  # removed while listed
                continue
            yield changed, relative, entry.path

    def _read(self, entry: Entry) -> SourceItem | None:
        keep = self.max_message_bytes + 1
        raw = read_file(entry[2], keep)
        if raw is None:
            return None  # removed since it was listed
        return SourceItem(location=entry[2], raw=raw, flags=self.flags, truncated=len(raw) == keep)
