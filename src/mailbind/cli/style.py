"""Colour on a terminal: used only where it helps reading, and never where it is not wanted.

Invariants:
- Colour is written only to a terminal, never with ``--no-color``, with ``NO_COLOR`` set to
  anything but the empty string (https://no-color.org), or with ``TERM=dumb``.
- Colour never carries meaning alone: the coloured text says the same without it.
"""

from __future__ import annotations

import os
from typing import TextIO

__all__ = ["BOLD_RED", "GREEN", "RED", "YELLOW", "enabled", "lead", "paint"]

RED = "31"
BOLD_RED = "1;31"
GREEN = "32"
YELLOW = "33"


def enabled(stream: TextIO, *, no_color: bool = False) -> bool:
    """True when colour may be written to *stream*."""
    if no_color or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, colour: str, *, on: bool) -> str:
    """*text* in *colour* when *on*."""
    return f"\x1b[{colour}m{text}\x1b[0m" if on else text


def lead(kind: str, stream: TextIO, *, no_color: bool = False) -> str:
    """``mailbind: error:`` (or ``warning:``) for a line on *stream*, coloured when it may be."""
    colour = BOLD_RED if kind == "error" else YELLOW
    return paint(f"mailbind: {kind}:", colour, on=enabled(stream, no_color=no_color))
