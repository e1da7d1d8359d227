"""JSON lines as a message source: one message per line, as an ETL job writes them.

Invariants:
- Each non-blank line is one object with the fields of `Message.build` (``sender``, ``to``,
  ``cc``, ``bcc``, ``subject``, ``text``, ``html``, ``message_id``, ``sent_at`` as ISO 8601 with
  an offset, ``headers`` as ``[name, value]`` pairs, ``flags``); other fields are ignored.
- No line is lost and none stops the source: a line that is not a JSON object becomes a message
  without participants whose defect is ``bad_json_line`` and whose text is the line; an object
  with a field of the wrong shape becomes one with ``bad_json_record``; an unreadable or naive
  ``sent_at`` leaves the time out with ``bad_date``; a line over ``max_message_bytes`` becomes
  one with ``too_large``.
- A last line without a line end that is not valid JSON is taken as still being written: it is
  read once it is complete (or once more is written after it).
- The file is read as a stream from the cursor's byte offset, with the same cursor checks as an
  mbox file: a file that shrank or changed before the offset is read again with ``reset`` set.
"""

from __future__ import annotations

import json
import os
from typing import BinaryIO

from ..codecs import NOT_JSON, message_from_record, problem_message
from ..messages import Message
from ..source import SourceItem
from ._files import Resume, StreamSource, pieces

__all__ = ["JsonLinesSource", "message_from_record"]

#: Text of an over-long line kept in its problem message, so that it can be found.
_SHOWN = 1024


class JsonLinesSource(StreamSource):
    """The messages of a JSON lines file, one per line, in file order.

    *flags* are given to every message (the file's name implies none). A line longer than
    *max_message_bytes* is recorded as ``too_large``; a batch ends early once it holds
    *batch_bytes*.
    """

    __slots__ = ()
    kind = "jsonl"
    what = "JSON lines file"
    flags_from_name = False

    def _read(
        self, file: BinaryIO, start: Resume, limit: int
    ) -> tuple[list[SourceItem], int, int, bool]:
        offset, line = start.offset, start.line
        keep = self.max_message_bytes + 1
        size_at_start = os.fstat(file.fileno()).st_size
        items: list[SourceItem] = []
        held = 0
        parts: list[bytes] = []
        size = 0
        pos = done_pos = offset
        file.seek(offset)
        for piece, _starts in pieces(file):
            pos += len(piece)
            if size < keep:
                cut = piece[: keep - size]
                parts.append(cut)
                size += len(cut)
            if piece[-1:] != b"\n":
                continue  # a long line goes on, or the last line has no end
            line += 1
            data, too_large = b"".join(parts), size >= keep
            parts, size, done_pos = [], 0, pos
            if too_large or data.strip():
                items.append(self._item(line, data, too_large))
                held += len(data)
                if len(items) >= limit or held >= self.batch_bytes:
                    return items, done_pos, line, done_pos >= size_at_start
        data, too_large = b"".join(parts), size >= keep
        if too_large or (data.strip() and _fields(data) is not NOT_JSON):
            line += 1
            items.append(self._item(line, data, too_large))
            done_pos = pos
        elif not data.strip():
            done_pos = pos
        return items, done_pos, line, True

    def _item(self, line_number: int, data: bytes, too_large: bool) -> SourceItem:
        location = f"{self.name}:{line_number}"
        if too_large:
            shown = data[:_SHOWN].decode("utf-8", "replace")
            return SourceItem(location, None, problem_message(shown, "too_large"), self.flags)
        return SourceItem(location, None, _record(data), self.flags)


def _fields(data: bytes) -> object:
    """The JSON value of one line, or `NOT_JSON`."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return NOT_JSON


def _record(data: bytes) -> Message:
    """The message one line describes; never raises."""
    return message_from_record(_fields(data), data)
