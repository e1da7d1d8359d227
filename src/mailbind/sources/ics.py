"""A calendar source over an ``.ics`` file or a folder of them.

Invariants:
- Each ``.ics`` file (any case, in subfolders too; names starting with a dot skipped, symbolic
  links never followed) is one resource, located by its path; it holds every VEVENT of the
  file.
- The cursor names each file read with its size and modification time (nanoseconds): a fetch
  reads only the files that are new or changed since, in path order, at most ``limit`` of them.
  The listing is complete every time: a deleted or renamed file is gone.
- A file that is not readable iCalendar, or larger than ``max_bytes``, becomes one event without
  participants and with the defect ``bad_ical`` (or ``too_large``), titled by its path, so the
  sync records it; it never stops the sync.
- Needs the optional ``icalendar`` package (``pip install 'mailbind[ical]'``).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, tzinfo
from pathlib import Path

from .._kinds import Defect
from ..calendars import EventBatch, EventItem
from ..errors import EventError, SourceError, SourceSettingError
from ..events import Event
from ..source import Listing

__all__ = ["IcsSource"]

#: Files larger than this are not read (a calendar export of years is a few MiB).
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class IcsSource:
    """The events of one ``.ics`` file, or of every ``.ics`` file under a folder."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timezone: tzinfo = UTC,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if not isinstance(max_bytes, int) or max_bytes < 1:
            raise SourceSettingError(f"max_bytes must be at least 1, not {max_bytes!r}.")
        self.path = Path(os.fspath(path))
        self.name = str(self.path)
        self.timezone = timezone
        self.max_bytes = max_bytes

    def __repr__(self) -> str:
        return f"IcsSource({self.name!r})"

    def _files(self) -> dict[str, tuple[int, int]]:
        """Every ``.ics`` file -> (size, modification time in ns)."""
        try:
            info = self.path.lstat()
        except OSError as err:
            raise SourceError(f"Cannot read the calendar {self.name!r}: {_why(err)}.") from err
        if self.path.is_file() and not self.path.is_symlink():
            return {str(self.path): (info.st_size, info.st_mtime_ns)}
        if not self.path.is_dir():
            raise SourceError(f"Cannot read the calendar {self.name!r}: it is no file or folder.")
        found: dict[str, tuple[int, int]] = {}
        try:
            for folder, dirs, names in os.walk(self.path, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for file_name in names:
                    if file_name.startswith(".") or not file_name.lower().endswith(".ics"):
                        continue
                    file_path = os.path.join(folder, file_name)
                    stat = os.lstat(file_path)
                    if os.path.islink(file_path) or not os.path.isfile(file_path):
                        continue
                    found[file_path] = (stat.st_size, stat.st_mtime_ns)
        except OSError as err:
            raise SourceError(f"Cannot read the calendar {self.name!r}: {_why(err)}.") from err
        return found

    def _read(self, file_path: str, size: int) -> tuple[Event, ...]:
        if size > self.max_bytes:
            return (_problem(file_path, Defect.TOO_LARGE),)
        try:
            data = Path(file_path).read_bytes()
        except OSError as err:
            raise SourceError(f"Cannot read the calendar file {file_path!r}: {_why(err)}.") from err
        try:
            return Event.from_ical(data, timezone=self.timezone)
        except EventError:
            return (_problem(file_path, Defect.BAD_ICAL),)

    def fetch(self, cursor: str | None, *, limit: int = 100) -> EventBatch:
        """The files new or changed since *cursor*, at most *limit* of them, in path order."""
        if limit < 1:
            raise SourceSettingError(f"The batch limit must be at least 1, not {limit!r}.")
        seen = _decode(cursor)
        reset = cursor is not None and seen is None
        seen = seen or {}
        files = self._files()
        changed = [f for f in sorted(files) if seen.get(f) != files[f]]
        page = changed[:limit]
        items = tuple(EventItem(f, self._read(f, files[f][0])) for f in page)
        kept = {f: stat for f, stat in seen.items() if files.get(f) == stat}
        kept.update((f, files[f]) for f in page)
        encoded = json.dumps({"ics": 1, "files": {f: list(s) for f, s in sorted(kept.items())}})
        return EventBatch(items, encoded, reset=reset, done=len(changed) <= limit)

    def listing(self, token: str | None = None) -> Listing:
        """Every ``.ics`` file there now (complete, every time)."""
        return Listing(frozenset(self._files()))


def _decode(cursor: str | None) -> dict[str, tuple[int, int]] | None:
    if cursor is None:
        return None
    try:
        record = json.loads(cursor)
        files = record["files"]
        if record.get("ics") != 1 or not isinstance(files, dict):
            return None
        return {str(f): (int(s[0]), int(s[1])) for f, s in files.items()}
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None


def _problem(location: str, defect: Defect) -> Event:
    return Event(
        uid="",
        organizer=None,
        attendees=(),
        start=None,
        end=None,
        title=location,
        defects=(defect,),
    )


def _why(err: OSError) -> str:
    if isinstance(err, FileNotFoundError):
        return "it does not exist"
    if isinstance(err, PermissionError):
        return "permission denied"
    return err.strerror or type(err).__name__
