"""Tests for mailbind.schedule: when mailboxes sync, back-off, and stopping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mailbind.errors import AuthenticationError, PolicyError, SourceError, TemporaryError
from mailbind.schedule import (
    DEFAULT_SCHEDULE,
    Schedule,
    SyncState,
    SyncStatus,
    failed,
    is_due,
    next_run,
    reconnect,
    request,
    succeeded,
)

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)).map(
    lambda t: t.replace(tzinfo=UTC)
)
gaps = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2))
schedules = st.builds(
    Schedule,
    interval=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=1)),
    first_backoff=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(hours=1)),
    max_failures=st.integers(min_value=1, max_value=10),
)
errors = st.sampled_from([TemporaryError("time-out"), SourceError("gone"), "text"])


def fail_times(state: SyncState, start: datetime, count: int, **kw: object) -> SyncState:
    """Fail *count* times, each at the moment the previous back-off ends."""
    now = start
    for _ in range(count):
        state = failed(state, now, TemporaryError("time-out"), **kw)  # type: ignore[arg-type]
        when = next_run(state, now=now, **kw)  # type: ignore[arg-type]
        now = when if when is not None else now
    return state


def test_a_new_mailbox_is_due_at_once() -> None:
    """A mailbox never synced runs now: its first run imports the history."""
    state = SyncState()
    assert state.status is SyncStatus.NEW
    assert next_run(state, now=T0) == T0
    assert is_due(state, now=T0)


def test_after_a_success_the_next_run_is_ten_minutes_later() -> None:
    """The default interval is ten minutes after the last success."""
    state = succeeded(SyncState(), T0)
    assert state.status is SyncStatus.IDLE
    assert next_run(state, now=T0) == T0 + 10 * MINUTE
    assert not is_due(state, now=T0 + 9 * MINUTE)
    assert is_due(state, now=T0 + 10 * MINUTE)


def test_the_interval_is_configurable() -> None:
    """A schedule with another interval waits that long."""
    state = succeeded(SyncState(), T0)
    assert next_run(state, now=T0, schedule=Schedule(interval=timedelta(hours=1))) == T0 + 60 * (
        MINUTE
    )


@pytest.mark.parametrize(
    ("failures", "wait"),
    [(1, 1), (2, 2), (3, 4), (4, 8)],
)
def test_temporary_failures_back_off_from_one_minute_doubling(failures: int, wait: int) -> None:
    """The n-th failure in a row waits 1, 2, 4, 8 minutes."""
    state = SyncState()
    for _ in range(failures):
        state = failed(state, T0, TemporaryError("time-out"))
    assert state.status is SyncStatus.BACKING_OFF
    assert state.failures == failures
    assert next_run(state, now=T0) == T0 + wait * MINUTE


def test_the_fifth_failure_in_a_row_marks_the_mailbox_failed() -> None:
    """Five temporary failures in a row stop the mailbox until it is reconnected."""
    state = fail_times(SyncState(), T0, 5)
    assert state.status is SyncStatus.FAILED
    assert state.error == "time-out"
    assert next_run(state, now=T0 + timedelta(days=30)) is None
    assert not is_due(state, now=T0 + timedelta(days=30))


def test_an_authentication_failure_stops_until_reconnect() -> None:
    """A rejected login waits for the user, whatever the time."""
    state = failed(succeeded(SyncState(), T0), T0 + MINUTE, AuthenticationError("bad password"))
    assert state.status is SyncStatus.NEEDS_RECONNECT
    assert state.status.stopped
    assert next_run(state, now=T0 + timedelta(days=365)) is None
    again = reconnect(state)
    assert again.status is SyncStatus.IDLE
    assert next_run(again, now=T0 + 2 * MINUTE) == T0 + 2 * MINUTE


def test_reconnecting_a_failed_mailbox_forgets_the_failures() -> None:
    """After a reconnect the mailbox is due at once and the count starts again."""
    state = reconnect(fail_times(SyncState(), T0, 5))
    assert state.status is SyncStatus.NEW
    assert state.failures == 0
    assert is_due(state, now=T0)


def test_a_requested_pass_is_due_at_once_and_cleared_by_success() -> None:
    """ "Sync now" runs at once; the following success returns to the interval."""
    state = request(succeeded(SyncState(), T0))
    assert next_run(state, now=T0 + MINUTE) == T0 + MINUTE
    done = succeeded(state, T0 + MINUTE)
    assert not done.requested
    assert next_run(done, now=T0 + MINUTE) == T0 + 11 * MINUTE


def test_a_request_does_not_restart_a_stopped_mailbox() -> None:
    """Only a reconnect restarts a mailbox waiting for its user."""
    state = request(failed(SyncState(), T0, AuthenticationError("no")))
    assert next_run(state, now=T0) is None


def test_a_failure_clears_a_request() -> None:
    """A requested pass that fails backs off like any other."""
    state = failed(request(SyncState()), T0, TemporaryError("down"))
    assert next_run(state, now=T0) == T0 + MINUTE


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"interval": timedelta(0)},
            "The sync interval must be positive, not datetime.timedelta(0).",
        ),
        (
            {"first_backoff": timedelta(seconds=-1)},
            "The first back-off must be positive, not datetime.timedelta(days=-1, seconds=86399).",
        ),
        ({"max_failures": 0}, "max_failures must be at least 1, not 0."),
    ],
)
def test_a_bad_schedule_is_refused(kwargs: dict[str, object], message: str) -> None:
    """A schedule that could never run sensibly is a PolicyError naming the value."""
    with pytest.raises(PolicyError) as info:
        Schedule(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_an_error_without_text_is_named_by_its_type() -> None:
    """The stored error is never blank."""
    assert failed(SyncState(), T0, TemporaryError()).error == "TemporaryError"


@given(schedules, times, st.integers(min_value=1, max_value=9))
def test_back_off_doubles(schedule: Schedule, start: datetime, failures: int) -> None:
    """Each further failure in a row waits twice as long as the one before."""
    assume(failures + 1 < schedule.max_failures)
    one = SyncState()
    for _ in range(failures):
        one = failed(one, start, "down", schedule=schedule)
    two = failed(one, start, "down", schedule=schedule)
    wait_one = next_run(one, now=start, schedule=schedule)
    wait_two = next_run(two, now=start, schedule=schedule)
    assert wait_one is not None
    assert wait_two is not None
    assert wait_two - start == 2 * (wait_one - start)
    assert wait_one - start == schedule.first_backoff * 2 ** (failures - 1)


@given(schedules, times, st.lists(errors, min_size=1, max_size=12))
def test_failed_after_exactly_max_failures(
    schedule: Schedule, start: datetime, failures: list[BaseException | str]
) -> None:
    """The mailbox is FAILED exactly when the failures in a row reach the limit."""
    state = SyncState()
    for count, error in enumerate(failures, 1):
        state = failed(state, start, error, schedule=schedule)
        assert state.failures == count
        assert (state.status is SyncStatus.FAILED) == (count >= schedule.max_failures)


@given(schedules, times, st.integers(min_value=0, max_value=12), gaps)
def test_success_resets(schedule: Schedule, start: datetime, failures: int, gap: timedelta) -> None:
    """After a success, the count is zero and the next run is one interval later."""
    state = SyncState()
    for _ in range(failures):
        state = failed(state, start, "down", schedule=schedule)
    done = succeeded(state, start + gap)
    assert done.status is SyncStatus.IDLE
    assert done.failures == 0
    assert next_run(done, now=start, schedule=schedule) == start + gap + schedule.interval
    again = failed(done, start + gap, "down", schedule=schedule)
    expected = SyncStatus.FAILED if schedule.max_failures == 1 else SyncStatus.BACKING_OFF
    assert again.status is expected


@given(times, gaps)
def test_is_due_agrees_with_next_run(start: datetime, gap: timedelta) -> None:
    """is_due is true exactly when next_run has come."""
    state = failed(succeeded(SyncState(), start), start, "down")
    now = start + gap
    when = next_run(state, now=now)
    assert is_due(state, now=now) == (when is not None and when <= now)


def test_the_default_schedule_is_the_documented_one() -> None:
    """Ten minutes, one minute doubling, five failures."""
    assert Schedule(timedelta(minutes=10), timedelta(minutes=1), 5) == DEFAULT_SCHEDULE
