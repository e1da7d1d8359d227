"""Text for the terminal: escaping mail-derived text, widths, tables and JSON lines.

Invariants:
- Nothing read from a message reaches the terminal unescaped: `clean` turns control characters,
  line and paragraph separators, lone surrogates and invisible format characters (bidirectional
  overrides among them) into visible ``\\x1b`` / ``\\u202e`` escapes. Joiners that real names
  and emoji need (U+200C, U+200D) are kept.
- JSON lines are valid JSON whatever the text holds: the same characters are written as
  ``\\uXXXX`` escapes, so a JSON line printed to a terminal is as safe as a table.
- Widths count terminal cells: East Asian wide characters take two, combining marks none; a
  cell that does not fit is cut with ``…``, never wrapped into the next column.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol, TextIO

from .._kinds import choices, not_one_of

__all__ = [
    "choices",
    "clean",
    "cut",
    "json_line",
    "not_one_of",
    "table",
    "terminal_width",
    "when",
    "width",
    "write_legends",
]

#: Format characters kept: the zero-width non-joiner and joiner that scripts and emoji need.
_KEPT_FORMAT = frozenset("\u200c\u200d")


@lru_cache(maxsize=4096)
def _unsafe(char: str) -> bool:
    if char in _KEPT_FORMAT:
        return False
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def clean(text: str) -> str:
    """*text* safe to print: every control or invisible format character as a visible escape.

    >>> clean("Invoice\\x1b[31m due")
    'Invoice\\\\x1b[31m due'
    >>> clean("Jörg Weiß, 高橋")
    'Jörg Weiß, 高橋'
    """
    if text.isprintable():
        return text
    return "".join(_escape(c) if _unsafe(c) else c for c in text)


def json_line(record: Any) -> str:
    """*record* as one line of JSON, Unicode kept, every unsafe character as a ``\\u`` escape."""
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    if text.isprintable():
        return text
    return "".join(_json_escape(c) if _unsafe(c) else c for c in text)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


@lru_cache(maxsize=4096)
def _cells(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def width(text: str) -> int:
    """How many terminal cells *text* takes."""
    if text.isascii():
        return len(text)
    return sum(_cells(c) for c in text)


def cut(text: str, cells: int) -> str:
    """*text* in at most *cells* cells, ending in ``…`` when something was cut."""
    if width(text) <= cells:
        return text
    if cells <= 0:
        return ""
    kept: list[str] = []
    used = 0
    for char in text:
        size = _cells(char)
        if used + size > cells - 1:
            break
        kept.append(char)
        used += size
    return "".join(kept) + "…"


def pad(text: str, cells: int) -> str:
    """*text* cut or padded with spaces to exactly *cells* cells."""
    text = cut(text, cells)
    return text + " " * (cells - width(text))


def terminal_width(stream: TextIO) -> int:
    """The width to lay tables out in: the terminal's, and never under 80 columns."""
    columns = shutil.get_terminal_size((100, 24)).columns if stream.isatty() else 100
    return max(80, columns)


def table(
    rows: Sequence[Sequence[str]],
    headers: Sequence[str],
    *,
    total: int,
    flexible: int,
    indent: str = "",
) -> list[str]:
    """*rows* under *headers* in aligned columns, in *total* cells at most.

    Every column is as wide as its widest cell, except the *flexible* one, which takes what is
    left and cuts its cells to fit. Cells must be clean already.
    """
    count = len(headers)
    sizes = [max([width(headers[i]), *(width(row[i]) for row in rows)]) for i in range(count)]
    fixed = sum(size for i, size in enumerate(sizes) if i != flexible) + 2 * (count - 1)
    sizes[flexible] = max(8, min(sizes[flexible], total - len(indent) - fixed))
    lines = []
    for row in (headers, *rows):
        cells = [pad(cell, sizes[i]) for i, cell in enumerate(row)]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def when(moment: datetime | None) -> str:
    """A send time as ``2025-01-20 12:56 -05:00``, in the zone it was written in."""
    if moment is None:
        return "(no date)"
    zone = moment.strftime("%z")
    shown = f"{zone[:3]}:{zone[3:]}" if zone else ""
    return f"{moment:%Y-%m-%d %H:%M} {shown}".rstrip()


def counted(count: int, word: str, plural: str | None = None) -> str:
    """``1 message``, ``2 messages``."""
    return f"{count} {word if count == 1 else plural or word + 's'}"


def joined(parts: Iterable[str]) -> str:
    """*parts* separated by commas, or ``none``."""
    return ", ".join(parts) or "none"


class Coded(Protocol):
    """A code with one sentence saying what it means (`Reason`, `SkipReason`)."""

    @property
    def value(self) -> str: ...
    @property
    def description(self) -> str: ...


def write_legends(
    write: Callable[[str], object], total: int, legends: Iterable[tuple[str, Sequence[Coded]]]
) -> None:
    """Under a table: each code it used, with its description wrapped to *total* columns."""
    for title, codes in legends:
        if not codes:
            continue
        write(f"\n{title}\n")
        size = max(width(code.value) for code in codes)
        for code in codes:
            lines = textwrap.wrap(code.description, total - size - 4)
            write(f"  {code.value:<{size}}  {lines[0]}\n")
            write("".join(f"{'':{size + 4}}{line}\n" for line in lines[1:]))
