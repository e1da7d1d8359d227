"""The command line's clock: the only place mailbind reads the time or waits.

The library never reads a clock; the command line reads it here and passes the time on. Tests
replace `now` and `sleep`, or give the hidden ``--now`` option.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["monotonic", "now", "sleep"]


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


def sleep(seconds: float) -> None:
    """Wait *seconds* (Ctrl-C interrupts the wait)."""
    time.sleep(seconds)


def monotonic() -> float:
    """Seconds on a clock that only goes forward, for durations (the progress bar)."""
    return time.monotonic()
