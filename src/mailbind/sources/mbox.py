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

import re
from typing import BinaryIO

from . import SourceItem
from ._files import Resume, StreamSource

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
        keep = self.max_message_bytes + 1
        items: list[SourceItem] = []
        held = 0
        message = _Collected(keep)
        begin = start.offset  # where the message being read starts (its From line)
        framed = False  # the message being read began with a From line
        file.seek(start.offset)
        buffer = _Buffer(file, start.offset)
        while buffer.fill(5):
            # ``at`` is always at the start of a line.
            data, at = buffer.data, buffer.at
            if data.startswith(b"From ", at):
                if framed or message.has_text():
                    item = self._item(begin, message.parts, message.size >= keep)
                    items.append(item)
                    held += len(item.raw or b"")
                    if len(items) >= limit or held >= self.batch_bytes:
                        return items, buffer.offset, None, False
                message = _Collected(keep)
                begin, framed = buffer.offset, True
                buffer.skip_line()
                continue
            separator = data.find(b"\nFrom ", at)
            if separator >= 0:
                message.add(data[at : separator + 1])
                buffer.at = separator + 1
                continue
            if buffer.eof:
                message.add(data[at:])
                buffer.at = len(data)
                break
            line_end = data.rfind(b"\n", at) + 1
            if line_end:
                # Whole lines, none of them a separator; the next one may be.
                message.add(data[at:line_end])
                buffer.at = line_end
            elif len(data) - at >= CHUNK and _quoting_known(data, at, keep):
                # A line longer than a whole buffer: content to its end.
                message.add(data[at:])
                buffer.at = len(data)
                message.add_rest_of_line(buffer)
            buffer.grow()
        if framed or message.has_text():
            items.append(self._item(begin, message.parts, message.size >= keep))
        return items, buffer.offset, None, True

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


#: Bytes read from the file at once.
CHUNK = 256 * 1024

#: An mboxrd-quoted ``From `` line: one ``>`` goes.
_QUOTED = re.compile(rb"^>(>*From )", re.MULTILINE)


class _Buffer:
    """The file's bytes from ``offset``: ``data[at:]`` are those not yet consumed."""

    __slots__ = ("at", "base", "data", "eof", "file")

    def __init__(self, file: BinaryIO, offset: int) -> None:
        self.file = file
        self.base = offset  # the file offset of data[0]
        self.data = b""
        self.at = 0
        self.eof = False

    @property
    def offset(self) -> int:
        """The file offset of ``at``."""
        return self.base + self.at

    def grow(self) -> bool:
        """Read the next piece of the file, dropping what was consumed; False at its end."""
        if self.eof:
            return False
        more = self.file.read(CHUNK)
        self.eof = len(more) < CHUNK
        self.base += self.at
        self.data = self.data[self.at :] + more
        self.at = 0
        return bool(more)

    def fill(self, size: int) -> bool:
        """Read on until *size* bytes follow ``at`` or the file ends; False when none do."""
        while len(self.data) - self.at < size and self.grow():
            pass
        return self.at < len(self.data)

    def skip_line(self) -> None:
        """Move ``at`` past the end of the current line, reading on as far as it goes."""
        while True:
            newline = self.data.find(b"\n", self.at)
            if newline >= 0:
                self.at = newline + 1
                return
            self.at = len(self.data)
            if not self.grow():
                return


class _Collected:
    """The content of one message, unquoted, up to *keep* bytes."""

    __slots__ = ("keep", "parts", "size")

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.parts: list[bytes] = []
        self.size = 0

    def has_text(self) -> bool:
        return any(part.strip() for part in self.parts)

    def add(self, data: bytes, *, line_start: bool = True) -> None:
        """Add *data* (starting a line unless *line_start* is False), within the bound."""
        if self.size >= self.keep or not data:
            return
        if b">From " in data:  # a fast test before the slower expression
            if line_start:
                data = _QUOTED.sub(rb"\1", data)
            else:
                newline = data.find(b"\n") + 1
                if newline:
                    data = data[:newline] + _QUOTED.sub(rb"\1", data[newline:])
        if self.size + len(data) > self.keep:
            data = data[: self.keep - self.size]
        self.parts.append(data)
        self.size += len(data)

    def add_rest_of_line(self, buffer: _Buffer) -> None:
        """Add the rest of a line that continues past the buffer, reading on to its end."""
        while buffer.at < len(buffer.data) or buffer.grow():
            data, at = buffer.data, buffer.at
            newline = data.find(b"\n", at)
            stop = len(data) if newline < 0 else newline + 1
            self.add(data[at:stop], line_start=False)
            buffer.at = stop
            if newline >= 0:
                return


def _quoting_known(data: bytes, at: int, keep: int) -> bool:
    """True when ``data[at:]``, the start of a line, shows whether it is a quoted From line.

    It does once it shows the byte after its leading ``>`` and five more, or more ``>`` than
    a message keeps (the kept bytes are then the same either way).
    """
    head = data[at : at + keep + 6]
    quotes = len(head) - len(head.lstrip(b">"))
    return quotes == 0 or len(head) >= quotes + 5 or len(head) == keep + 6


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
