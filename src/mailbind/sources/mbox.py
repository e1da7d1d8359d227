"""An mbox file as a message source, read as a stream from a byte offset.

Invariants:
- A message starts at a ``From `` line at the start of a line (the envelope line, which is not
  part of the message) and ends before the next one or at the end of the file, with or without
  a final line end. Text before the first ``From `` line at the start of the file is a message
  too, so nothing in the file is skipped.
- Body lines quoted as ``>From `` (mboxrd, and mboxo for the common case) lose one ``>``; the
  blank line that separates two messages is not part of either.
- The file is read sequentially from the cursor's offset in bounded pieces; no table of
  contents is built, so memory does not grow with the file.
- The cursor is a byte offset at a ``From `` line plus a digest of the bytes before it (see
  `mailbind.sources._files`); a file that shrank, changed before the offset, or no longer
  has a message boundary at the offset is read again from the start with ``reset`` set.
"""

from __future__ import annotations

from typing import BinaryIO

from . import SourceItem
from ._files import Resume, StreamSource, pieces

__all__ = ["MboxSource"]


class MboxSource(StreamSource):
    """The messages of one mbox file, oldest first, as the file holds them.

    *flags* are given to every message; when None they follow the file's name (``Sent``,
    ``Drafts.mbox``, ``Junk``: see `flags_for_folder`). A message larger than
    *max_message_bytes* keeps only its first bytes and is read as ``too_large``; a batch ends
    early once it holds *batch_bytes*.
    """

    __slots__ = ()
    kind = "mbox"
    what = "mbox file"

    def _resumable(self, file: BinaryIO, offset: int) -> bool:
        return _at_boundary(file, offset)

    def _read(
        self, file: BinaryIO, start: Resume, limit: int
    ) -> tuple[list[SourceItem], int, None, bool]:
        offset = start.offset
        keep = self.max_message_bytes + 1
        items: list[SourceItem] = []
        held = 0
        parts: list[bytes] = []
        size = 0
        begin = offset  # where the message being read starts (its From line)
        framed = False  # the message being read began with a From line
        envelope = False  # inside a From line longer than one piece
        pos = offset
        file.seek(offset)
        for piece, starts in pieces(file):
            if starts and piece.startswith(b"From "):
                if framed or any(p.strip() for p in parts):
                    item = self._item(begin, parts, size >= keep)
                    items.append(item)
                    held += len(item.raw or b"")
                    if len(items) >= limit or held >= self.batch_bytes:
                        return items, pos, None, False
                parts, size, begin, framed = [], 0, pos, True
                pos += len(piece)
                envelope = piece[-1:] != b"\n"
                continue
            pos += len(piece)
            if envelope:
                envelope = piece[-1:] != b"\n"
                continue
            if size >= keep:
                continue
            if starts and piece[:1] == b">" and piece.lstrip(b">").startswith(b"From "):
                piece = piece[1:]
            if size + len(piece) > keep:
                piece = piece[: keep - size]
            parts.append(piece)
            size += len(piece)
        if framed or any(p.strip() for p in parts):
            items.append(self._item(begin, parts, size >= keep))
        return items, pos, None, True

    def _item(self, begin: int, parts: list[bytes], truncated: bool) -> SourceItem:
        raw = b"".join(parts)
        if not truncated:
            if raw.endswith(b"\r\n\r\n"):
                raw = raw[:-2]
            elif raw.endswith(b"\n\n"):
                raw = raw[:-1]
        return SourceItem(
            location=f"{self.name}@{begin}",
            raw=raw,
            flags=self.flags,
            truncated=truncated,
        )


def _at_boundary(file: BinaryIO, offset: int) -> bool:
    """True when blank lines and then a ``From `` line (or the end) follow *offset*."""
    file.seek(offset)
    while chunk := file.read(4096):
        rest = chunk.lstrip(b"\r\n")
        if rest:
            # A From line split across two chunks is rare; read on to be sure.
            if len(rest) < 5 and len(chunk) == 4096:
                rest += file.read(5)
            return rest.startswith(b"From ")
    return True
