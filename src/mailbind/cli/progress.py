"""The progress bar of ``mailbind sync``: count, percentage, rate and time left, on stderr.

Invariants:
- Drawn only on a terminal (stderr), never before the pass has run `DELAY` seconds, and wiped
  when the pass ends: a short sync prints nothing, and output to a file or a pipe never holds
  a bar.
- The time comes from `mailbind.cli.clock.monotonic`; the bar never decides anything and the
  summary never depends on it.
- One line, cut to the terminal's width; ``\\r`` and the erase-line sequence redraw it.
"""

from __future__ import annotations

import os
import shutil
from typing import TextIO

from ..engine import SyncReport
from . import clock
from .observed import Observed
from .text import cut

__all__ = ["DELAY", "Bar", "wanted"]

#: Seconds a pass runs before its bar is drawn.
DELAY = 1.0
_CELLS = 10
_ERASE = "\x1b[K"


def wanted(stream: TextIO) -> bool:
    """True when a bar may be drawn on *stream*: a terminal that is not ``TERM=dumb``."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


def _duration(seconds: float) -> str:
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Bar:
    """A bar for one pass of *observed*, labelled *label*, on *stream*."""

    def __init__(
        self, stream: TextIO, label: str, observed: Observed, *, delay: float = DELAY
    ) -> None:
        self.stream = stream
        self.label = label
        self.observed = observed
        self.delay = delay
        self.start = clock.monotonic()
        self.drawn = False

    def line(self, report: SyncReport, elapsed: float) -> str:
        """The bar's text after *elapsed* seconds."""
        count = self.observed.count
        parts = [f"Syncing {self.label}:"]
        fraction = self.observed.fraction
        if fraction is not None:
            filled = int(fraction * _CELLS)
            parts.append(f"[{'#' * filled}{'.' * (_CELLS - filled)}] {fraction * 100:3.0f}%")
        parts.append(f"{count:,} messages, {report.synced:,} synced")
        if elapsed > 0:
            parts.append(f"{count / elapsed:,.0f}/s")
        if fraction is not None and 0 < fraction < 1:
            parts.append(f"{_duration(elapsed * (1 - fraction) / fraction)} left")
        return "  ".join(parts)

    def update(self, report: SyncReport) -> None:
        """Redraw the bar after a batch, once the pass has run `delay` seconds."""
        elapsed = clock.monotonic() - self.start
        if elapsed < self.delay:
            return
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns or 80
        except (OSError, ValueError, AttributeError):
            columns = shutil.get_terminal_size((80, 24)).columns
        text = cut(self.line(report, elapsed), max(columns - 1, 20))
        self.stream.write(f"\r{text}{_ERASE}")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """Wipe the bar."""
        if self.drawn:
            self.stream.write(f"\r{_ERASE}")
            self.stream.flush()
