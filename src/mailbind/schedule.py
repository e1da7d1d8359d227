"""When each mailbox syncs next: a pure state machine over times the caller passes in.

Invariants:
- Nothing here reads a clock: every function takes the time it needs as an argument and returns
  a new `SyncState`; the caller (the sync engine, a scheduler loop) stores it.
- A new mailbox is due at once (its first run imports the whole history); after a successful
  pass it is due again one interval later (ten minutes by default).
- The n-th temporary failure in a row (n < ``max_failures``) waits ``first_backoff * 2**(n-1)``
  (one minute, then two, four, eight); the ``max_failures``-th in a row marks the mailbox
  FAILED. A success resets the count.
- An authentication failure stops the mailbox (NEEDS_RECONNECT) until `reconnect`; a FAILED
  mailbox also waits for `reconnect`. Neither is ever due by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from .errors import AuthenticationError, PolicyError

__all__ = [
    "DEFAULT_SCHEDULE",
    "Schedule",
    "SyncState",
    "SyncStatus",
    "failed",
    "is_due",
    "next_run",
    "reconnect",
    "request",
    "succeeded",
]


class SyncStatus(StrEnum):
    """Where a mailbox stands: stable codes, safe to store and show."""

    #: Never synced completely: the first run imports its history.
    NEW = "new"
    #: The last pass succeeded; the next one is due an interval later.
    IDLE = "idle"
    #: The last pass failed for a reason that may pass; retried after a back-off.
    BACKING_OFF = "backing_off"
    #: Too many failures in a row; waits until the user reconnects (or retries) it.
    FAILED = "failed"
    #: The source rejected the credentials; waits until the user reconnects it.
    NEEDS_RECONNECT = "needs_reconnect"

    @property
    def stopped(self) -> bool:
        """True when the mailbox waits for the user (FAILED, NEEDS_RECONNECT)."""
        return self in (SyncStatus.FAILED, SyncStatus.NEEDS_RECONNECT)


@dataclass(frozen=True, slots=True)
class Schedule:
    """How often mailboxes sync and how failures back off."""

    #: The wait between successful passes.
    interval: timedelta = timedelta(minutes=10)
    #: The wait after the first temporary failure; each further one in a row doubles it.
    first_backoff: timedelta = timedelta(minutes=1)
    #: This many failures in a row mark the mailbox FAILED.
    max_failures: int = 5

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0):
            raise PolicyError(f"The sync interval must be positive, not {self.interval!r}.")
        if self.first_backoff <= timedelta(0):
            raise PolicyError(f"The first back-off must be positive, not {self.first_backoff!r}.")
        if isinstance(self.max_failures, bool) or self.max_failures < 1:
            raise PolicyError(f"max_failures must be at least 1, not {self.max_failures!r}.")

    def backoff(self, failures: int) -> timedelta:
        """The wait after *failures* temporary failures in a row (1: one back-off)."""
        return self.first_backoff * (1 << max(failures - 1, 0))


#: Ten minutes between passes; back-off from one minute, doubling; failed after five.
DEFAULT_SCHEDULE = Schedule()


@dataclass(frozen=True, slots=True)
class SyncState:
    """A mailbox's sync status and the times the schedule reads. Stores keep it per mailbox."""

    status: SyncStatus = SyncStatus.NEW
    #: When the last pass succeeded, or None.
    last_success: datetime | None = None
    #: When the last pass failed, or None.
    last_failure: datetime | None = None
    #: Failures in a row since the last success (temporary ones count, authentication does not).
    failures: int = 0
    #: The last failure, one sentence for the user (no message content), or "".
    error: str = ""
    #: The user asked for a pass (a reconnect, "sync now"): due at once.
    requested: bool = False


def succeeded(state: SyncState, now: datetime) -> SyncState:
    """*state* after a pass that completed at *now*: IDLE, failures forgotten."""
    return SyncState(status=SyncStatus.IDLE, last_success=now, last_failure=state.last_failure)


def failed(
    state: SyncState,
    now: datetime,
    error: BaseException | str,
    *,
    schedule: Schedule = DEFAULT_SCHEDULE,
) -> SyncState:
    """*state* after a pass that failed at *now* with *error*.

    An `AuthenticationError` stops the mailbox until `reconnect`; any other failure backs off,
    and the ``max_failures``-th in a row marks the mailbox FAILED.
    """
    text = error if isinstance(error, str) else str(error) or type(error).__name__
    if isinstance(error, AuthenticationError):
        return replace(
            state, status=SyncStatus.NEEDS_RECONNECT, last_failure=now, error=text, requested=False
        )
    failures = state.failures + 1
    status = SyncStatus.FAILED if failures >= schedule.max_failures else SyncStatus.BACKING_OFF
    return replace(
        state, status=status, last_failure=now, failures=failures, error=text, requested=False
    )


def reconnect(state: SyncState) -> SyncState:
    """*state* after the user reconnected or retried the mailbox: due at once, failures reset."""
    status = SyncStatus.NEW if state.last_success is None else SyncStatus.IDLE
    return SyncState(status=status, last_success=state.last_success, requested=True)


def request(state: SyncState) -> SyncState:
    """*state* with a pass asked for ("sync now"): due at once unless the mailbox is stopped."""
    return replace(state, requested=True)


def next_run(
    state: SyncState, *, now: datetime, schedule: Schedule = DEFAULT_SCHEDULE
) -> datetime | None:
    """When the mailbox should sync next, or None while it waits for the user.

    *now* is the answer for a mailbox that is due at once (a new or reconnected one).
    """
    if state.status.stopped:
        return None
    if state.requested:
        return now
    if state.status is SyncStatus.BACKING_OFF and state.last_failure is not None:
        return state.last_failure + schedule.backoff(state.failures)
    if state.status is SyncStatus.IDLE and state.last_success is not None:
        return state.last_success + schedule.interval
    return now


def is_due(state: SyncState, *, now: datetime, schedule: Schedule = DEFAULT_SCHEDULE) -> bool:
    """True when the mailbox should sync at *now*."""
    when = next_run(state, now=now, schedule=schedule)
    return when is not None and when <= now
