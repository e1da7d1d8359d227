"""What the file sources share: settings, error texts and the cursor of a byte stream.

Invariants:
- Every `OSError` of a file source becomes a `SourceError` whose one sentence names the path,
  raised ``from`` the original error.
- A byte-stream cursor (mbox, JSON lines) names an offset at a record boundary and a digest of
  the bytes before it: the file's first `CHECK` bytes and the `CHECK` bytes that end at the
  offset. Resuming re-reads and compares them; a file that shrank below the offset or whose
  checked bytes changed is read again from the start, and the batch says ``reset``.
- Lines are read in pieces of at most `PIECE` bytes, so a line without an end never loads whole,
  and a message over ``max_message_bytes`` keeps only its first bytes: memory per batch is
  bounded by the settings, never by the size of the file.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO, ClassVar

from .._kinds import member
from ..errors import SourceError
from ..messages import Flag, Limits
from . import Batch, SourceItem, SourceSettingError, flags_for_folder

#: Longest piece of a line read at once.
PIECE = 64 * 1024
#: Bytes checked at the head of a file and before the cursor's offset.
CHECK = 4096
#: Cursor format version; a cursor of another version starts over.
VERSION = 1

_REASONS = {
    errno.ENOENT: "it does not exist",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOTDIR: "it is not a folder",
}


DEFAULT_MAX_MESSAGE_BYTES = Limits().max_bytes
DEFAULT_BATCH_BYTES = 64 * 1024 * 1024


class FileSource:
    """What every file source holds: its path and its settings, checked on construction.

    *flags* are given to every message; when None they follow the name of the file or folder
    (``Sent``, ``.Junk``: see `flags_for_folder`) for sources that set ``flags_from_name``. A
    message larger than *max_message_bytes* keeps only its first bytes and is read as
    ``too_large``; a batch ends early, after at least one message, once it holds
    *batch_bytes*.
    """

    __slots__ = ("batch_bytes", "flags", "max_message_bytes", "name", "path")

    #: The cursor's kind, and what the source is called in error messages.
    kind: ClassVar[str]
    what: ClassVar[str]
    #: Whether the name of the path implies flags when none are given.
    flags_from_name: ClassVar[bool] = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flags: Iterable[Flag | str] | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
    ) -> None:
        self.path = os.fspath(path)
        self.name = self.path
        for name, value in (("max_message_bytes", max_message_bytes), ("batch_bytes", batch_bytes)):
            if type(value) is not int or value < 1:
                raise SourceSettingError(f"{name} must be a positive whole number, not {value!r}.")
        self.max_message_bytes = max_message_bytes
        self.batch_bytes = batch_bytes
        self.flags = (
            _flags(self.path, flags) if flags is not None or self.flags_from_name else _NONE
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"


_NONE: frozenset[Flag] = frozenset()


def _flags(path: str, flags: Iterable[Flag | str] | None) -> frozenset[Flag]:
    if flags is None:
        return flags_for_folder(os.path.basename(os.path.normpath(path)))
    given = (flags,) if isinstance(flags, str) else tuple(flags)
    return frozenset(member(Flag, f, "A flag", SourceSettingError, fold=True) for f in given)


def check_limit(limit: int) -> None:
    """Raise `SourceSettingError` unless *limit* is a whole number of at least one."""
    if type(limit) is not int or limit < 1:
        raise SourceSettingError(f"The batch limit must be at least 1, not {limit!r}.")


def source_error(what: str, path: str, err: OSError) -> SourceError:
    """The `SourceError` for *err*, naming *what* is at *path* in one sentence."""
    reason = _REASONS.get(err.errno or 0) or (err.strerror or type(err).__name__).lower()
    return SourceError(f"Cannot read the {what} {path!r}: {reason}.")


@contextmanager
def reading(what: str, path: str) -> Iterator[BinaryIO]:
    """Open *path* for reading bytes; any `OSError`, then or later, becomes a `SourceError`."""
    try:
        with open(path, "rb") as file:
            yield file
    except OSError as err:
        raise source_error(what, path, err) from err


@contextmanager
def translating(what: str, path: str) -> Iterator[None]:
    """Turn any `OSError` raised inside the block into a `SourceError` naming *path*."""
    try:
        yield
    except OSError as err:
        raise source_error(what, path, err) from err


def decode_cursor(cursor: str, kind: str) -> dict[str, Any] | None:
    """The fields of a cursor made by a source of *kind*, or None when it is not one."""
    try:
        data = json.loads(cursor)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("kind") != kind or data.get("v") != VERSION:
        return None
    return data


def encode_cursor(kind: str, **fields: Any) -> str:
    """A cursor as compact JSON text."""
    return json.dumps({"kind": kind, "v": VERSION, **fields}, separators=(",", ":"))


# --- Byte streams ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a fetch starts in a byte stream."""

    offset: int = 0
    #: Lines before ``offset`` (JSON lines report line numbers).
    line: int = 0
    #: True when the cursor no longer fits the file and reading starts over.
    reset: bool = False


RESTART = Resume(reset=True)


def _read_at(file: BinaryIO, offset: int, size: int) -> bytes:
    file.seek(offset)
    return file.read(size)


def stream_check(file: BinaryIO, offset: int) -> str:
    """The digest of the bytes a cursor at *offset* stands on (see the module's invariants)."""
    head = min(CHECK, offset)
    digest = hashlib.sha256(_read_at(file, 0, head))
    tail = max(head, offset - CHECK)
    digest.update(_read_at(file, tail, offset - tail))
    return digest.hexdigest()


def stream_cursor(kind: str, file: BinaryIO, offset: int, line: int | None = None) -> str:
    """The cursor for a byte stream read up to *offset* (after *line* lines, when counted)."""
    counted = {} if line is None else {"line": line}
    return encode_cursor(kind, offset=offset, **counted, check=stream_check(file, offset))


def stream_resume(file: BinaryIO, cursor: str | None, kind: str) -> Resume:
    """Where to start reading *file* after *cursor*; `RESTART` when the file changed."""
    if cursor is None:
        return Resume()
    data = decode_cursor(cursor, kind)
    if data is None:
        return RESTART
    offset, line, check = data.get("offset"), data.get("line", 0), data.get("check")
    if type(offset) is not int or type(line) is not int or offset < 0:
        return RESTART
    if offset > os.fstat(file.fileno()).st_size or stream_check(file, offset) != check:
        return RESTART
    return Resume(offset, line)


def pieces(file: BinaryIO) -> Iterator[tuple[bytes, bool]]:
    """Each piece of *file* from its position, and whether it starts a line."""
    starts = True
    readline = file.readline
    while piece := readline(PIECE):
        yield piece, starts
        starts = piece[-1:] == b"\n"


class StreamSource(FileSource):
    """A file read as a stream of records from the cursor's offset (mbox, JSON lines)."""

    __slots__ = ()

    def fetch(self, cursor: str | None, *, limit: int = 500) -> Batch:
        """The next messages after *cursor* (None: from the start of the file)."""
        check_limit(limit)
        with reading(self.what, self.path) as file:
            start = stream_resume(file, cursor, self.kind)
            if start.offset and not self._resumable(file, start.offset):
                start = RESTART
            items, end, line, done = self._read(file, start, limit)
            cursor = stream_cursor(self.kind, file, end, line)
            return Batch(tuple(items), cursor, reset=start.reset, done=done)

    def _resumable(self, file: BinaryIO, offset: int) -> bool:
        """True when a record may start at *offset* (beyond the digests' checks)."""
        return True

    def _read(
        self, file: BinaryIO, start: Resume, limit: int
    ) -> tuple[list[SourceItem], int, int | None, bool]:
        """The items from *start*, the offset and line count after them, and whether at EOF."""
        raise NotImplementedError
