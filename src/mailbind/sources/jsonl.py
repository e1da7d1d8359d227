"""JSON lines as a message source: one message per line, as an ETL job writes them.

Invariants:
- Each non-blank line is one object with the fields of `Message.build` (``sender``, ``to``,
  ``cc``, ``bcc``, ``subject``, ``text``, ``html``, ``message_id``, ``sent_at`` as ISO 8601 with
  an offset, ``headers`` as ``[name, value]`` pairs, ``flags``, ``reply_to``,
  ``sender_header``); other fields are ignored.
- No line is lost and none stops the source: a line that is not a JSON object becomes a message
  without participants whose defect is ``bad_json_line`` and whose text is the line; an object
  with a field of the wrong shape becomes one with ``bad_json_record``; an unreadable or naive
  ``sent_at`` leaves the time out with ``bad_date``; a line over ``max_message_bytes`` becomes
  one with ``too_large``.
- A last line without a line end that is not valid JSON is taken as still being written: it is
  read once it is complete (or once more is written after it).
- A record stands at its ``id`` when that is non-empty text, else at ``path:line``; an ``id``
  of another kind adds ``bad_json_record``. A tombstone (``{"id": ..., "deleted": true}``) is
  no message: it removes the copy with that ``id`` until a later record brings it back.
- A log's listing is complete without a token or when the file no longer continues the one its
  token was made from; otherwise it names the ids tombstoned since. A snapshot's listing is
  always complete. Both read the lines with the same reader as a fetch.
- The file is read as a stream from the cursor's byte offset, with the same cursor checks as an
  mbox file: a file that shrank or changed before the offset is read again with ``reset`` set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import BinaryIO

from .._mime import scrub_surrogates
from ..codecs import NOT_JSON, message_from_record, problem_message
from ..messages import Defect, Flag
from ..source import Listing, SourceItem, SourceSettingError
from ._files import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_MAX_MESSAGE_BYTES,
    Resume,
    StreamSource,
    pieces,
    reading,
    stream_cursor,
    stream_resume,
)

__all__ = ["JsonLinesSource", "message_from_record"]

#: Text of an over-long line kept in its problem message, so that it can be found.
_SHOWN = 1024


class JsonLinesSource(StreamSource):
    """The messages of a JSON lines file, one per line, in file order.

    *snapshot* True says the file is the whole current state (an export rewritten each time):
    its listing is always complete. Otherwise it is a log that keeps every record, and a
    tombstone line removes a copy. *flags* are given to every message (the file's name implies
    none). A line longer than *max_message_bytes* is recorded as ``too_large``; a batch ends
    early once it holds *batch_bytes*.
    """

    __slots__ = ("snapshot",)
    kind = "jsonl"
    what = "JSON lines file"
    flags_from_name = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        snapshot: bool = False,
        flags: Iterable[Flag | str] | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
    ) -> None:
        super().__init__(
            path, flags=flags, max_message_bytes=max_message_bytes, batch_bytes=batch_bytes
        )
        if not isinstance(snapshot, bool):
            raise SourceSettingError(f"snapshot must be True or False, not {snapshot!r}.")
        self.snapshot = snapshot

    def _read(
        self, file: BinaryIO, start: Resume, limit: int
    ) -> tuple[list[SourceItem], int, int, bool]:
        size_at_start = os.fstat(file.fileno()).st_size
        items: list[SourceItem] = []
        held = 0
        lines = _Lines(file, start, self.max_message_bytes + 1)
        for number, data, too_large in lines:
            item = self._item(number, data, too_large)
            if item is None:
                continue  # a tombstone
            items.append(item)
            held += len(data)
            if len(items) >= limit or held >= self.batch_bytes:
                return items, lines.end, lines.line, lines.end >= size_at_start
        return items, lines.end, lines.line, True

    def _item(self, line_number: int, data: bytes, too_large: bool) -> SourceItem | None:
        """The item of one line; None for a tombstone."""
        location = f"{self.name}:{line_number}"
        if too_large:
            shown = data[:_SHOWN].decode("utf-8", "replace")
            return SourceItem(location, None, problem_message(shown, Defect.TOO_LARGE), self.flags)
        fields = _fields(data)
        ident = _ident(fields)
        if isinstance(ident, str) and _tombstone(fields):
            return None
        message = message_from_record(fields, data)
        if ident is _BAD_ID and Defect.BAD_JSON_RECORD not in message.defects:
            message = replace(message, defects=(*message.defects, Defect.BAD_JSON_RECORD))
        elif isinstance(ident, str):
            location = ident
        return SourceItem(location, None, message, self.flags)

    def listing(self, token: str | None = None) -> Listing:
        """Which records the file holds now, or (a log, after *token*) which were tombstoned.

        A snapshot's listing is always complete: every record's location. A log's is complete
        without a *token* or when the file no longer continues the one *token* was made from
        (every record's location, less those a later tombstone removed); otherwise it names
        only the ids tombstoned since *token*. Lines are parsed only for ``id`` and
        ``deleted``, and only when they hold an ``id``.
        """
        with reading(self.what, self.path) as file:
            start = Resume() if self.snapshot else stream_resume(file, token, _LISTING)
            changes = token is not None and not start.reset and not self.snapshot
            present: dict[str, None] = {}
            gone: set[str] = set()
            lines = _Lines(file, Resume() if start.reset else start, self.max_message_bytes + 1)
            for number, data, too_large in lines:
                ident, tombstone = (_BAD_ID, False) if too_large else _listed(data)
                if isinstance(ident, str):
                    if tombstone:
                        present.pop(ident, None)
                        gone.add(ident)
                    else:
                        present[ident] = None
                        gone.discard(ident)
                else:
                    present[f"{self.name}:{number}"] = None
            if self.snapshot:
                return Listing(frozenset(present))
            after = stream_cursor(_LISTING, file, lines.end, lines.line)
            if changes:
                return Listing(None, frozenset(gone), after)
            return Listing(frozenset(present), token=after)


#: The kind of a log's listing token (a stream position, as a cursor is).
_LISTING = "jsonl-listing"


class _BadId:
    """The ``id`` of a record that has one, but not as non-empty text."""

    __slots__ = ()


_BAD_ID = _BadId()


def _ident(fields: object) -> str | _BadId | None:
    """The ``id`` of a decoded line: text, `_BAD_ID` when it is not usable, None when absent."""
    if not isinstance(fields, dict):
        return None
    value = fields.get("id")
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        return _BAD_ID
    # A lone surrogate ("\\ud800" in JSON) can be no location: it stands as U+FFFD.
    return value if value.isascii() else scrub_surrogates(value, [])


def _listed(data: bytes) -> tuple[str | _BadId | None, bool]:
    """`_ident` of a line and whether it is a tombstone, parsed only when it may hold an id."""
    if b'"id"' not in data and b"\\u" not in data:
        return None, False
    fields = _fields(data)
    return _ident(fields), _tombstone(fields)


def _tombstone(fields: object) -> bool:
    return isinstance(fields, dict) and fields.get("deleted") is True


class _Lines:
    """The non-blank lines of a file from *start*, as (line number, bytes, too large).

    A line is cut at *keep* bytes. After each line, ``end`` and ``line`` say where reading may
    go on; a last line without a line end is taken only when it is valid JSON.
    """

    __slots__ = ("end", "file", "keep", "line", "start")

    def __init__(self, file: BinaryIO, start: Resume, keep: int) -> None:
        self.file, self.start, self.keep = file, start, keep
        self.end, self.line = start.offset, start.line

    def __iter__(self) -> Iterator[tuple[int, bytes, bool]]:
        keep = self.keep
        line = self.line
        parts: list[bytes] = []
        size = 0
        pos = self.start.offset
        self.file.seek(pos)
        for piece, _starts in pieces(self.file):
            pos += len(piece)
            if size < keep:
                cut = piece[: keep - size]
                parts.append(cut)
                size += len(cut)
            if piece[-1:] != b"\n":
                continue  # a long line goes on, or the last line has no end
            line += 1
            data, too_large = b"".join(parts), size >= keep
            parts, size = [], 0
            self.end, self.line = pos, line
            if too_large or data.strip():
                yield line, data, too_large
        data, too_large = b"".join(parts), size >= keep
        if too_large or (data.strip() and _fields(data) is not NOT_JSON):
            self.end, self.line = pos, line + 1
            yield line + 1, data, too_large
        elif not data.strip():
            self.end = pos


def _fields(data: bytes) -> object:
    """The JSON value of one line, or `NOT_JSON`."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return NOT_JSON
