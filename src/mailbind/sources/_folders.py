"""Folders that hold one file per message (Maildir, ``.eml`` exports): listing and cursor.

Invariants:
- Files are taken in the order of their *change time* (``st_ctime_ns``), ties broken by name.
  A file's change time is set by the system whenever it is written, moved in or renamed, and
  no program can set it back, so mail copied, restored or moved into the folder with an old
  modification time is still seen as new.
- The cursor is a high-water mark (the greatest change time and name fetched), plus the names
  fetched within a settling window below it, so that a file that appears late with a change
  time just below the mark (a delivery finishing during a listing, a coarse clock) is still
  fetched, exactly once. The window's names are capped at `SEEN_CAP`, so the cursor stays
  small whatever the folder holds.
- A file renamed or rewritten after it was fetched has a new change time and is fetched again;
  an idempotent store absorbs it. A name fetched within the window is wanted again only with
  a later change time. A file that appears with a change time below the window is
  never fetched: start again from no cursor to pick such files up.
- Each listing keeps at most `CHUNK` files in memory (the smallest after the cursor) and
  serves the next fetches from them: memory stays flat, and a folder of N files is listed
  about N / CHUNK times, not once per batch.
- The folder replaced by another (a different device or inode) resets the cursor.
- An item stands at the folder's path joined with its file's name in the source (see each
  source), and `FolderSource.listing` names exactly the items a fetch from no cursor gives,
  from directory entries alone. A listing asked for within `FRESH_S` seconds of a fetch that
  listed the whole folder answers from that fetch's listing instead of listing again: a file
  removed in between is reported gone by the next listing, and one added in between was not
  fetched either, so the store stays as it would have been, one pass behind at most.
- A symbolic link is read only when it leads to a regular file inside the folder; any other
  link becomes an item whose message records ``refused_symlink``, and is never opened.
"""

from __future__ import annotations

import errno
import heapq
import os
import stat
import time
from collections.abc import Iterable, Iterator
from typing import Any

from ..codecs import problem_message
from ..errors import SourceError
from ..messages import Defect, Flag
from . import Batch, Listing, SourceItem, SourceSettingError
from ._files import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_MAX_MESSAGE_BYTES,
    FileSource,
    check_limit,
    decode_cursor,
    encode_cursor,
    translating,
)

#: Files kept from one listing.
CHUNK = 20_000
#: Names kept in a cursor's settling window.
SEEN_CAP = 256
#: How long, in seconds, the files a fetch listed answer a listing (`FolderSource.listing`).
FRESH_S = 10.0
#: How old, in seconds, a directory's modification time must be at least for its next change
#: to be told from it (file systems that keep whole seconds, or two, included).
SETTLED_S = 3.0

#: One listed file: change time, name (unique within the folder), path.
Entry = tuple[int, str, str]
#: A position in the order of files: change time and name.
Mark = tuple[int, str]


class FolderState:
    """What a folder cursor holds, decoded."""

    __slots__ = ("floor", "folder", "mark", "quiet", "seen")

    def __init__(
        self,
        folder: list[int],
        mark: Mark | None = None,
        floor: int | None = None,
        seen: dict[str, int] | None = None,
        quiet: dict[str, int] | None = None,
    ) -> None:
        self.folder = folder
        #: The directories' modification times (`FolderSource._marks`) when every file was
        #: fetched; None when the source keeps none.
        self.quiet = quiet
        self.mark = mark
        #: Files changed at or after this time and not in ``seen`` are fetched even below the mark.
        self.floor = floor
        #: Name -> change time of the files fetched at or after ``floor``.
        self.seen = seen if seen is not None else {}

    def wants(self, entry: Entry) -> bool:
        """True when *entry* was not fetched yet under this state."""
        mark = self.mark
        if mark is None or (entry[0], entry[1]) > mark:
            return True
        floor = self.floor
        # A name fetched in the window is wanted again only with a later change time (renamed
        # back to where it was): a name alone does not say the file is the same.
        return floor is not None and entry[0] >= floor and self.seen.get(entry[1], -1) < entry[0]

    def advance(self, fetched: Iterable[Entry], window_ns: int) -> None:
        """Move past *fetched*: raise the mark, slide the window, remember the names in it."""
        seen = self.seen
        mark = self.mark
        for changed, name, _path in fetched:
            if mark is None or (changed, name) > mark:
                mark = (changed, name)
            if seen.get(name, changed - 1) < changed:
                seen[name] = changed
        if mark is None:
            return
        floor = mark[0] - window_ns
        if self.floor is not None:
            floor = max(floor, self.floor)
        if len(seen) > SEEN_CAP:
            times = heapq.nlargest(SEEN_CAP + 1, seen.values())
            floor = max(floor, times[-1] + 1)
        self.mark, self.floor = mark, floor
        self.seen = {name: changed for name, changed in seen.items() if changed >= floor}

    def encode(self, kind: str) -> str:
        return encode_cursor(
            kind,
            folder=self.folder,
            mark=list(self.mark) if self.mark is not None else None,
            floor=self.floor,
            seen=sorted(self.seen.items(), key=lambda item: (item[1], item[0])),
            quiet=sorted(self.quiet.items()) if self.quiet is not None else None,
        )

    @classmethod
    def decode(cls, cursor: str, kind: str) -> FolderState | None:
        data = decode_cursor(cursor, kind)
        if data is None:
            return None
        try:
            return cls(
                folder=_ints(data["folder"]),
                mark=_mark(data["mark"]),
                floor=_int_or_none(data["floor"]),
                seen={_str(name): _int(changed) for name, changed in data["seen"]},
                quiet=_marks(data.get("quiet")),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _decode_quiet(token: str, kind: str, folder: list[int]) -> dict[str, int] | None:
    """The marks a listing's *token* holds for *folder*; None when it holds none for it."""
    data = decode_cursor(token, kind)
    if data is None:
        return None
    try:
        if _ints(data["folder"]) != folder:
            return None
        return _marks(data["quiet"])
    except (KeyError, TypeError, ValueError):
        return None


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError(value)
    return value


def _int_or_none(value: Any) -> int | None:
    return None if value is None else _int(value)


def _str(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(value)
    return value


def _ints(value: Any) -> list[int]:
    return [_int(v) for v in value]


def _marks(value: Any) -> dict[str, int] | None:
    if value is None:
        return None
    return {_str(path): _int(changed) for path, changed in value}


def _mark(value: Any) -> Mark | None:
    if value is None:
        return None
    changed, name = value
    return (_int(changed), _str(name))


class FolderSource(FileSource):
    """A folder of one file per message; subclasses list the files and read them.

    *window* is the settling window in seconds (see the module's invariants); the other
    settings are those of every file source.
    """

    __slots__ = (
        "_inside",
        "_listed",
        "_pending",
        "_pending_complete",
        "_pending_cursor",
        "_prefix",
        "_scan_marks",
        "_window_ns",
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        flags: Iterable[Flag | str] | None = None,
        window: float = 600.0,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
    ) -> None:
        super().__init__(
            path, flags=flags, max_message_bytes=max_message_bytes, batch_bytes=batch_bytes
        )
        if isinstance(window, bool) or not isinstance(window, int | float) or not window >= 0:
            raise SourceSettingError(f"window must be zero or more seconds, not {window!r}.")
        self._window_ns = int(window * 1_000_000_000)
        #: Files listed after ``_pending_cursor``, largest first (the next one is popped).
        self._pending: list[Entry] = []
        self._pending_cursor: str | None = None
        self._pending_complete = False
        #: The names of every file the last fetch's listing found, the folder's device and
        #: inode, and when (`time.monotonic`); None once a listing used them.
        self._listed: tuple[list[str], list[int], float] | None = None
        #: The folder's real path: a symbolic link is read only when it leads inside it.
        self._inside = os.path.realpath(self.path)
        #: The directories' marks taken around the last listing, when they held still.
        self._scan_marks: dict[str, int] | None = None
        #: The folder's path with a separator: a file's location is this and its name.
        self._prefix = os.path.join(self.path, "")

    # --- what subclasses provide ---------------------------------------------------------

    def _check(self) -> None:
        """Raise `SourceError` when the folder is not one this source can read."""

    def _scan(self) -> Iterator[tuple[os.DirEntry[str], str]]:
        """Every message file in the folder with its name (unique in the source), in any order.

        Reads directory entries only: no file is opened or even stat-ed.
        """
        raise NotImplementedError

    def _read(self, entry: Entry) -> SourceItem | None:
        """The item of *entry*, or None when its file is gone."""
        raise NotImplementedError

    def _directories(self) -> Iterator[str] | None:
        """The directories whose entries are the messages, as paths, when adding, removing or
        renaming a message is the only way to change one (so each such change moves a
        directory's modification time); None when a file may be rewritten in place (default).
        """
        return None

    # --- what every folder source shares -------------------------------------------------

    def location(self, name: str) -> str:
        """Where the message file called *name* stands: the folder's path joined with it."""
        return self._prefix + name

    def _list(self, names: list[str]) -> Iterator[Entry]:
        """Every message file in the folder with its change time, in any order; each name is
        also added to *names*."""
        for entry, name in self._scan():
            try:
                changed = entry.stat(follow_symlinks=False).st_ctime_ns
            except FileNotFoundError:  # renamed or removed while listed
                continue
            names.append(name)
            yield changed, name, entry.path

    def _item(
        self, name: str, raw: bytes | Refused | None, flags: frozenset[Flag]
    ) -> SourceItem | None:
        """The item of the file *name* read as *raw*; None when it is gone."""
        if raw is None:
            return None
        if isinstance(raw, Refused):
            problem = problem_message(name, REFUSED_LINK)
            return SourceItem(self.location(name), None, problem, flags)
        keep = self.max_message_bytes + 1
        return SourceItem(self.location(name), raw, flags=flags, truncated=len(raw) == keep)

    def _marks(self) -> dict[str, int] | None:
        """Each directory's modification time (`_directories`), when every one of them is older
        than the settling window (at least `SETTLED_S` seconds), so that a later change cannot
        leave it as it was; None otherwise, or when the source keeps none."""
        directories = self._directories()
        if directories is None:
            return None
        settled = time.time_ns() - max(self._window_ns, int(SETTLED_S * 1_000_000_000))
        marks = {}
        for path in directories:
            try:
                changed = os.stat(path).st_mtime_ns
            except FileNotFoundError:
                return None
            if changed >= settled:
                return None
            marks[path] = changed
        return marks

    def _open_folder(self) -> list[int]:
        """The folder's device and inode, once it is checked to be a folder this source reads."""
        with translating(self.what, self.path):
            info = os.stat(self.path)
        if not os.path.isdir(self.path):
            raise SourceError(f"Cannot read the {self.what} {self.path!r}: it is not a folder.")
        self._check()
        return [info.st_dev, info.st_ino]

    # --- listing and fetching ------------------------------------------------------------

    def listing(self, token: str | None = None) -> Listing:
        """Every message file the folder holds now, by location; reads directory entries only.

        The locations are exactly those a fetch from no cursor would give. When the source's
        directories held still (`_directories`), the listing's token holds their modification
        times, and a listing given that token while they are unchanged says that nothing went,
        without listing a file.
        """
        folder = self._open_folder()
        listed, self._listed = self._listed, None
        if token is not None:
            quiet = _decode_quiet(token, self.kind, folder)
            if quiet is not None and self._marks() == quiet:
                return Listing(None, frozenset(), token)
        if listed is not None and listed[1] == folder and time.monotonic() - listed[2] < FRESH_S:
            names: Iterable[str] = listed[0]
            marks = self._scan_marks
        else:
            marks = self._marks()
            with translating(self.what, self.path):
                names = [name for _entry, name in self._scan()]
            if marks is not None and self._marks() != marks:
                marks = None
        present = frozenset(map(self.location, names))
        if marks is None:
            return Listing(present)
        return Listing(
            present, token=encode_cursor(self.kind, folder=folder, quiet=sorted(marks.items()))
        )

    def fetch(self, cursor: str | None, *, limit: int = 500) -> Batch:
        """The next messages after *cursor* (None: every message in the folder)."""
        check_limit(limit)
        folder = self._open_folder()
        self._inside = os.path.realpath(self.path)
        state = FolderState.decode(cursor, self.kind) if cursor is not None else None
        reset = cursor is not None and (state is None or state.folder != folder)
        if state is None or reset:
            state = FolderState(folder)
        fresh = reset or cursor is None or cursor != self._pending_cursor or not self._pending
        if (
            fresh
            and cursor is not None
            and state.quiet is not None
            and self._marks() == state.quiet
        ):
            # Nothing was added, removed or renamed since every file was fetched.
            self._pending, self._pending_complete, self._listed = [], True, None
            return Batch((), cursor, done=True)
        if fresh:
            self._listed = (self._list_after(state), folder, time.monotonic())
        items: list[SourceItem] = []
        fetched: list[Entry] = []
        held = 0
        pending = self._pending
        while pending and len(items) < limit and held < self.batch_bytes:
            entry = pending.pop()
            fetched.append(entry)
            with translating("message file", entry[2]):
                item = self._read(entry)
            if item is not None:
                items.append(item)
                held += len(item.raw or b"")
        state.advance(fetched, self._window_ns)
        done = not pending and self._pending_complete
        state.quiet = self._scan_marks if done else None
        text = state.encode(self.kind)
        self._pending_cursor = text
        return Batch(tuple(items), text, reset=reset, done=done)

    def _list_after(self, state: FolderState) -> list[str]:
        """List the folder and keep the first `CHUNK` files *state* has not fetched; the names
        of every file listed."""
        names: list[str] = []
        marks = self._marks()
        with translating(self.what, self.path):
            wanted = heapq.nsmallest(CHUNK + 1, filter(state.wants, self._list(names)))
        self._scan_marks = marks if marks is not None and self._marks() == marks else None
        self._pending_complete = len(wanted) <= CHUNK
        del wanted[CHUNK:]
        wanted.reverse()
        self._pending = wanted
        return names


def scan_files(
    top: str, *, recursive: bool, suffix: str = "", prefix: str = ""
) -> Iterator[tuple[os.DirEntry[str], str]]:
    """Each regular file or symbolic link under *top* (not hidden), with its name relative to
    *top*; links are listed, never followed (`read_file` decides whether one may be read)."""
    try:
        listing = os.scandir(top)
    except FileNotFoundError:  # a folder removed while it was listed
        return
    with listing:
        for entry in listing:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    yield from scan_files(
                        entry.path, recursive=True, suffix=suffix, prefix=f"{prefix}{entry.name}/"
                    )
            elif (entry.is_file(follow_symlinks=False) or entry.is_symlink()) and (
                not suffix or entry.name.lower().endswith(suffix)
            ):
                yield entry, prefix + entry.name


class Refused:
    """What `read_file` answers for a file it will not read: a link that leads elsewhere."""

    __slots__ = ()


#: The one `Refused` value.
REFUSED = Refused()
#: The defect of the item a refused link becomes.
REFUSED_LINK = Defect.REFUSED_SYMLINK

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def read_file(path: str, keep: int, inside: str) -> bytes | Refused | None:
    """The first *keep* bytes of the file at *path*; None when it is gone.

    A symbolic link is read only when it leads to a regular file under the folder *inside* (a
    real path); any other link is `REFUSED` and never opened. The last part of *path* is opened
    without following a link, so a file swapped for a link after it was listed is refused too.
    """
    try:
        if not _NOFOLLOW and os.path.islink(path):
            raise OSError(errno.ELOOP, "a symbolic link")
        fd = os.open(path, _READ | _NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError:
        if not os.path.islink(path):
            raise
        target = os.path.realpath(path)
        if not _within(target, inside):
            return REFUSED
        try:
            fd = os.open(target, _READ | _NOFOLLOW)
        except OSError:
            return REFUSED
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return REFUSED
        return file.read(keep)


def _within(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # another drive
        return False
