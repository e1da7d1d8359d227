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
- A message stands at the file's path, ``#`` and a digest of its ``From `` line and identity
  headers (`IDENTITY`, as the file holds them): not its offset, so removing an earlier message
  or marking this one read does not move it. `MboxSource.listing` scans the file with the
  same reader, keeping no content, so it names exactly the locations a full fetch gives.
- A listing scans the file only when it must. After fetches that read the whole file from its
  start, it answers with the locations they found, while the file is as it was when they
  began (device, inode, size, modification and change time); and given the token of an
  earlier listing of a file unchanged since, it answers that nothing went. Both hold only for a
  file last modified at least `SETTLED_S` seconds before it was read, so that a later change
  cannot leave its times as they were.
- The cursor is a byte offset at a ``From `` line plus a digest of the bytes before it (see
  `mailbind.sources._files`); a file that shrank, changed before the offset, or no longer
  has a message boundary at the offset is read again from the start with ``reset`` set.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from ..messages import Flag
from . import Listing, SourceItem
from ._files import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_MAX_MESSAGE_BYTES,
    Resume,
    StreamSource,
    decode_cursor,
    encode_cursor,
    reading,
)

#: How old, in seconds, a file's modification time must be at least for its next change to be
#: told from it (file systems that keep whole seconds, or two, included).
SETTLED_S = 3.0

#: A file as `os.stat` shows it: device, inode, size, modification and change time.
Stat = tuple[int, int, int, int, int]


def _stat(file: BinaryIO) -> Stat:
    info = os.fstat(file.fileno())
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _settled(stat: Stat) -> bool:
    return stat[3] < time.time_ns() - int(SETTLED_S * 1_000_000_000)


__all__ = ["MboxSource"]


class MboxSource(StreamSource):
    """The messages of one mbox file, oldest first, as the file holds them.

    *flags* are given to every message; when None they follow the file's name (``Sent``,
    ``Drafts.mbox``, ``Junk``: see `flags_for_folder`). A message larger than
    *max_message_bytes* keeps only its first bytes and is read as ``too_large``; a batch ends
    early once it holds *batch_bytes*.
    """

    __slots__ = ("_found", "_reading")
    kind = "mbox"
    what = "mbox file"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flags: Iterable[Flag | str] | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
    ) -> None:
        super().__init__(
            path, flags=flags, max_message_bytes=max_message_bytes, batch_bytes=batch_bytes
        )
        #: While fetches read the file from its start: the file as the first found it, the
        #: offset the last one ended at, and the locations found so far.
        self._reading: tuple[Stat, int, list[str]] | None = None
        #: Once they read it to its end: the file as it was, and every location.
        self._found: tuple[Stat, list[str]] | None = None

    def _resumable(self, file: BinaryIO, offset: int) -> bool:
        return _at_boundary(file, offset)

    def _read(
        self, file: BinaryIO, start: Resume, limit: int
    ) -> tuple[list[SourceItem], int, None, bool]:
        items: list[SourceItem] = []
        held = 0
        file.seek(start.offset)
        buffer = _Buffer(file, start.offset)
        done = True
        for message in _messages(buffer, self.max_message_bytes + 1, store=True):
            items.append(self._item(message))
            held += message.size
            if (len(items) >= limit or held >= self.batch_bytes) and not buffer.drained:
                done = False
                break
        self._note(file, start.offset, buffer.offset, items, done)
        return items, buffer.offset, None, done

    def _note(
        self, file: BinaryIO, start: int, end: int, items: list[SourceItem], done: bool
    ) -> None:
        """Keep the locations of fetches that read the whole file from its start, unchanged."""
        stat = _stat(file)
        reading = self._reading
        if start == 0:
            reading = (stat, 0, [])
        elif reading is None or reading[1] != start or reading[0] != stat:
            reading = None
        self._reading = None
        if reading is None:
            return
        locations = reading[2]
        locations.extend(item.location for item in items)
        if done:
            self._found = (stat, locations) if _settled(stat) else None
        else:
            self._reading = (stat, end, locations)

    def listing(self, token: str | None = None) -> Listing:
        """Every message the file holds now, by location, or, given the *token* of a listing
        of a file unchanged since, that nothing went (see the module's invariants).

        The file is scanned for its ``From `` lines and the identity headers after each, in
        bounded pieces; no message is kept or parsed.
        """
        found, self._found = self._found, None
        with reading(self.what, self.path) as file:
            stat = _stat(file)
            if token is not None and _token_stat(token) == stat and _settled(stat):
                return Listing(None, frozenset(), token)
            if found is not None and found[0] == stat:
                present = frozenset(found[1])
            else:
                buffer = _Buffer(file, 0)
                keep = self.max_message_bytes + 1
                present = frozenset(self._location(m) for m in _messages(buffer, keep, store=False))
                if _stat(file) != stat:
                    return Listing(present)
        if not _settled(stat):
            return Listing(present)
        return Listing(present, token=encode_cursor(self.kind, file=list(stat)))

    def _location(self, message: _Collected) -> str:
        return f"{self.name}#{message.identity()}"

    def _item(self, message: _Collected) -> SourceItem:
        raw = b"".join(message.parts)
        truncated = message.size >= message.keep
        if not truncated:
            if raw.endswith(b"\r\n\r\n"):
                raw = raw[:-2]
            elif raw.endswith(b"\n\n"):
                raw = raw[:-1]
        return SourceItem(
            location=self._location(message), raw=raw, flags=self.flags, truncated=truncated
        )


def _token_stat(token: str) -> Stat | None:
    """The file a listing's *token* was made of, or None when it is not such a token."""
    data = decode_cursor(token, MboxSource.kind)
    value = None if data is None else data.get("file")
    if not isinstance(value, list) or len(value) != 5 or any(type(v) is not int for v in value):
        return None
    return (value[0], value[1], value[2], value[3], value[4])


def _messages(buffer: _Buffer, keep: int, *, store: bool) -> Iterator[_Collected]:
    """Each message of the file from the buffer's offset, its content kept when *store*.

    A message is handed out once the line after it (a ``From `` line or the end) is found;
    ``buffer.offset`` then stands at that line.
    """
    message = _Collected(keep, store, b"")
    framed = False  # the message being read began with a From line
    while buffer.fill(5):
        # ``at`` is always at the start of a line.
        data, at = buffer.data, buffer.at
        if data.startswith(b"From ", at):
            if framed or message.text:
                yield message
            message = _Collected(keep, store, buffer.take_line())
            framed = True
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
    if framed or message.text:
        buffer.drained = True
        yield message


#: Bytes read from the file at once.
CHUNK = 256 * 1024
#: Bytes of a ``From `` line, and of a header block, that a message's identity is made of.
SHOWN = 1024
HEAD = 64 * 1024
#: The header fields (lower-cased) that make a message's identity: those no mail program
#: changes in place (``Status``, ``X-Mozilla-Status``, ``X-Keywords`` change when mail is read).
IDENTITY = ("message-id", "date", "from", "sender", "to", "cc", "subject", "received")
#: One of those fields in a header block, with its continuation lines.
_IDENTITY_FIELD = re.compile(
    rb"^(?:" + "|".join(IDENTITY).encode() + rb")[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*",
    re.IGNORECASE | re.MULTILINE,
)
#: The empty line that ends a header block (or an empty header block at the start).
_HEAD_END = re.compile(rb"(?:\A|\n)\r?\n")


def _head_end(head: bytearray, start: int) -> int:
    """Where the empty line ending a header block ends, looking from *start*; -1 before it.

    As ``_HEAD_END.search(head, start).end()``, with two `bytes.find` calls in place of the
    expression (a property test holds them equal).
    """
    if start == 0 and head[:1] == b"\n":
        return 1
    if start == 0 and head[:2] == b"\r\n":
        return 2
    lf = head.find(b"\n\n", start)
    crlf = head.find(b"\n\r\n", start, lf + 3 if lf >= 0 else len(head))
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf + 3
    return lf + 2 if lf >= 0 else -1


#: An mboxrd-quoted ``From `` line: one ``>`` goes.
_QUOTED = re.compile(rb"^>(>*From )", re.MULTILINE)


class _Buffer:
    """The file's bytes from ``offset``: ``data[at:]`` are those not yet consumed."""

    __slots__ = ("at", "base", "data", "drained", "eof", "file")

    def __init__(self, file: BinaryIO, offset: int) -> None:
        self.file = file
        #: True once the last message of the file was handed out.
        self.drained = False
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

    def take_line(self) -> bytes:
        """The current line's first `SHOWN` bytes; ``at`` moves past its end, however far."""
        kept = b""
        while True:
            newline = self.data.find(b"\n", self.at)
            stop = len(self.data) if newline < 0 else newline + 1
            if len(kept) < SHOWN:
                kept += self.data[self.at : min(stop, self.at + SHOWN - len(kept))]
            self.at = stop
            if newline >= 0 or not self.grow():
                return kept


class _Collected:
    """The content of one message, unquoted, up to *keep* bytes (none unless *store*), and
    what its identity is made of: its ``From `` line and its header block."""

    __slots__ = ("envelope", "head", "head_done", "keep", "parts", "size", "store", "text")

    def __init__(self, keep: int, store: bool, envelope: bytes) -> None:
        self.keep = keep
        self.store = store
        self.envelope = envelope
        #: The header block as the file holds it, up to `HEAD` bytes.
        self.head = bytearray()
        #: True once the header block ended (or reached `HEAD` bytes).
        self.head_done = False
        self.parts: list[bytes] = []
        self.size = 0
        #: True once anything but white space is among the kept bytes.
        self.text = False

    def identity(self) -> str:
        """A short digest of the ``From `` line and the identity headers (see `IDENTITY`)."""
        digest = hashlib.sha256(self.envelope.rstrip(b"\r\n"))
        for field in _IDENTITY_FIELD.finditer(self.head):
            digest.update(b"\n" + field[0])
        return digest.hexdigest()[:16]

    def add(self, data: bytes, *, line_start: bool = True) -> None:
        """Add *data* (starting a line unless *line_start* is False), within the bound."""
        if not data or (self.head_done and self.text and not self.store):
            return  # a listing needs nothing more of this message
        if not self.head_done:
            self._add_head(data)
        if self.size >= self.keep:
            return
        # Whether the kept bytes hold text is the same before and after unquoting: a listing
        # (which keeps nothing) does not unquote.
        if self.store and b">From " in data:  # a fast test before the slower expression
            if line_start:
                data = _QUOTED.sub(rb"\1", data)
            else:
                newline = data.find(b"\n") + 1
                if newline:
                    data = data[:newline] + _QUOTED.sub(rb"\1", data[newline:])
        if self.size + len(data) > self.keep:
            data = data[: self.keep - self.size]
        if not self.text and not data.isspace():
            self.text = True
        if self.store:
            self.parts.append(data)
        self.size += len(data)

    def _add_head(self, data: bytes) -> None:
        head = self.head
        start = max(0, len(head) - 2)
        head += data[: HEAD - len(head)]
        end = _head_end(head, start)
        if end >= 0:
            del head[end:]
        self.head_done = end >= 0 or len(head) >= HEAD

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
