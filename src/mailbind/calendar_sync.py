"""The calendar sync: one pass of one calendar from an `EventSource` into an `EventStore`.

Invariants:
- The runner reads no clock (``now`` is an argument) and does the I/O only: every rule is
  applied by `mailbind.calendars.plan_events`.
- A pass converges: after it, what the store holds for the calendar is what a pass into an
  empty store, from the source as it is now and under the settings in force, would hold.
  Settings that differ from those of the calendar's last batch (`calendar_settings`) make the
  pass read every resource again, so each copy is decided again under them.
- Every batch is applied in one transaction with the source's cursor; after the last one the
  source's listing removes the resources gone, in one more batch with the listing's token.
- A batch planned against contacts that changed meanwhile is refused by the store
  (`StaleBatchError`) and planned again against the new contacts.
- The calendar's `SyncState` goes with its batches: the last one of a pass stores `succeeded`;
  a source failure stores `failed` (back-off, or a stop on `AuthenticationError`) with the
  cursor reached, and is raised again.
- Changed settings that drop stored events, let colleagues read more of them, or may let in
  events kept out (`EventSettingsChange.needs_confirmation`, mail's rule) are applied only when
  ``confirm`` accepts them; otherwise `CalendarConfirmationNeeded` is raised and nothing is
  written. With ``dry_run`` nothing is written at all and nothing is asked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .calendars import (
    DEFAULT_MAX_ATTENDEES,
    EventBatchResult,
    EventCopy,
    EventSource,
    EventStore,
    calendar_settings,
    plan_events,
    read_calendar_settings,
)
from .engine import Preview
from .errors import MailbindError, SourceError, SourceSettingError, StoreError
from .planner import Settings, gone_locations, liftable_reasons
from .policy import Mailbox, Policy
from .rules import Reason, decide
from .schedule import DEFAULT_SCHEDULE, Schedule, SyncState, failed, succeeded
from .store import DEFAULT_WORKSPACE, StaleBatchError

__all__ = [
    "CalendarConfirmationNeeded",
    "CalendarReport",
    "EventSettingsChange",
    "plan_calendar_settings",
    "sync_calendar",
]

_STALE_RETRIES = 20


@dataclass(frozen=True, slots=True)
class CalendarReport:
    """What one calendar pass did. Counts are per event copy."""

    mailbox_id: str
    calendar: str
    #: Resources the source yielded.
    resources: int = 0
    #: Events read (cancelled ones included).
    seen: int = 0
    synced: int = 0
    skipped: int = 0
    #: How many skipped events each excluding reason applied to, in the order of `Reason`.
    skipped_by_reason: tuple[tuple[Reason, int], ...] = ()
    #: Events left out because they are cancelled.
    cancelled: int = 0
    #: Synced events with more attendees than the limit (they created no contacts).
    crowded: int = 0
    contacts_created: int = 0
    #: Resources gone at the source, removed by this pass.
    gone: int = 0
    batches: int = 0
    #: True when the pass read every resource (first pass, changed settings, or a reset).
    full: bool = False
    #: The calendar's sync state after the pass.
    state: SyncState = field(default_factory=SyncState)
    #: What changed settings do to the mailbox's stored events, or None when unchanged.
    settings_change: EventSettingsChange | None = None
    #: True when nothing was written (``dry_run``).
    dry_run: bool = False
    #: In a dry run, every event copy the pass would store, keep out or remove.
    preview: tuple[Preview, ...] = ()


@dataclass(frozen=True, slots=True)
class EventSettingsChange:
    """What settings that differ from a calendar's last pass do to the mailbox's stored events.

    Counted over the events the mailbox holds (a synced copy in any calendar: their holdings
    take the mailbox's new levels at once), each decided again under the new settings. A
    private event's level changes nothing colleagues read (`colleague_view`).
    """

    mailbox_id: str
    calendar: str
    #: Stored events that no longer sync and would go.
    dropped: int
    #: Stored events colleagues may read more of (a raised level).
    widened: int
    #: Stored events colleagues read less of.
    narrowed: int
    unchanged: int
    #: True when events kept out may now sync (a setting that kept them out changed), or when
    #: the settings of the last pass are unknown: every resource is read again anyway.
    may_return: bool

    @property
    def needs_confirmation(self) -> bool:
        """True when the change drops stored events, lets anyone read more, or may let in
        events kept out: mail's rule (`mailbind.planner.SettingsChange.needs_confirmation`)."""
        return self.dropped > 0 or self.widened > 0 or self.may_return


class CalendarConfirmationNeeded(MailbindError):
    """Changed settings would drop stored events or let someone read more; nothing changed."""

    def __init__(self, change: EventSettingsChange) -> None:
        self.change = change
        super().__init__(
            f"The changed settings would remove {change.dropped:,} stored events and let "
            f"others read more of {change.widened:,}"
            + (", and may bring back events kept out" if change.may_return else "")
            + ": confirm to apply."
        )


def plan_calendar_settings(
    store: EventStore,
    mailbox: Mailbox,
    policy: Policy,
    calendar: str,
    *,
    max_attendees: int = DEFAULT_MAX_ATTENDEES,
    workspace: str = DEFAULT_WORKSPACE,
) -> EventSettingsChange | None:
    """What a pass of *calendar* under these settings would change in the stored events; None
    when they are those of its last pass (or it never synced)."""
    state = store.load_calendar(mailbox.id, calendar, workspace=workspace)
    if state.settings is None or state.settings == calendar_settings(
        mailbox, policy, max_attendees
    ):
        return None
    old = read_calendar_settings(state.settings)
    counts = {"dropped": 0, "widened": 0, "narrowed": 0, "unchanged": 0}
    for stored in store.mailbox_events(mailbox.id, workspace=workspace):
        before = next((h for h in stored.holdings if h.mailbox.id == mailbox.id), None)
        after = decide(stored.event, mailbox, policy)
        if before is None:
            continue
        old_level = before.mailbox.level_for(before.direction)
        if not after.synced:
            counts["dropped"] += 1
        elif stored.event.private:  # busy only to colleagues, whatever the level
            counts["unchanged"] += 1
        elif after.level > old_level:
            counts["widened"] += 1
        elif after.level < old_level:
            counts["narrowed"] += 1
        else:
            counts["unchanged"] += 1
    may_return = old is None or bool(
        liftable_reasons(Settings(old[0], old[1]), Settings(mailbox, policy))
    )
    return EventSettingsChange(mailbox.id, calendar, **counts, may_return=may_return)


def sync_calendar(
    source: EventSource,
    store: EventStore,
    mailbox: Mailbox,
    policy: Policy,
    *,
    now: datetime,
    calendar: str | None = None,
    workspace: str = DEFAULT_WORKSPACE,
    batch_size: int = 100,
    max_attendees: int = DEFAULT_MAX_ATTENDEES,
    schedule: Schedule = DEFAULT_SCHEDULE,
    dry_run: bool = False,
    confirm: Callable[[EventSettingsChange], bool] | None = None,
) -> CalendarReport:
    """Sync *source* into *store* as the calendar *calendar* (default: the source's name) of
    *mailbox*, until the source has nothing more; then remove the resources gone at the source.

    Events are decided with the mail rules (`decide`), participants linked to contacts, and
    contacts created as the mailbox allows (never from private events, nor from events with more
    than *max_attendees* attendees). Settings that differ from the calendar's last pass and
    that need confirmation (`EventSettingsChange.needs_confirmation`) raise
    `CalendarConfirmationNeeded` unless *confirm* accepts them. A source failure stores the
    calendar's state `failed` under *schedule* and is raised again. With *dry_run* nothing is
    written: the report's ``preview`` says what the pass would store, keep out and remove.
    """
    if batch_size < 1:
        raise SourceSettingError(f"The batch size must be at least 1, not {batch_size!r}.")
    ws = workspace
    name = source.name if calendar is None else calendar
    settings = calendar_settings(mailbox, policy, max_attendees)
    state = store.load_calendar(mailbox.id, name, workspace=ws)
    change = plan_calendar_settings(
        store, mailbox, policy, name, max_attendees=max_attendees, workspace=ws
    )
    if (
        change is not None
        and change.needs_confirmation
        and not dry_run
        and not (confirm and confirm(change))
    ):
        raise CalendarConfirmationNeeded(change)
    full = state.settings != settings or state.cursor is None
    cursor = None if state.settings != settings else state.cursor
    listing_token = None if state.settings != settings else state.listing
    stored = store.event_resources(mailbox.id, name, workspace=ws)
    reasons: Counter[Reason] = Counter()
    counts: Counter[str] = Counter()
    preview: list[Preview] = []
    index = None
    version = None

    def fail(error: SourceError) -> None:
        if not dry_run:
            store.apply_event_batch(
                EventBatchResult(
                    mailbox, name, cursor, state=failed(state.sync, now, error, schedule=schedule)
                ),
                workspace=ws,
            )

    while True:
        try:
            batch = source.fetch(cursor, limit=batch_size)
        except SourceError as error:
            fail(error)
            raise
        if not batch.items and not batch.done and batch.cursor == cursor:
            raise SourceError(
                f"The calendar {source.name!r} returned an empty batch without moving on."
            )
        full = full or batch.reset
        for _ in range(_STALE_RETRIES):
            if index is None and batch.items:
                version = store.contacts_version(workspace=ws)
                index = store.contact_index(policy.canonicalization, workspace=ws)
            plan = plan_events(
                batch.items,
                mailbox,
                policy,
                contacts=index,
                now=now,
                max_attendees=max_attendees,
            )
            if dry_run:
                preview.extend(_previews(plan.items, plan.read, stored))
                break
            result = EventBatchResult(
                mailbox,
                name,
                batch.cursor,
                plan.items,
                plan.read,
                plan.contacts,
                plan.companies,
                plan.owners,
                contacts_version=version,
                settings=settings,
            )
            try:
                store.apply_event_batch(result, workspace=ws)
            except StaleBatchError:
                index = None
                continue
            break
        else:
            raise StoreError(
                "The contacts kept changing while a calendar batch was stored: try again."
            )
        counts["batches"] += 1
        counts["resources"] += len(batch.items)
        counts["seen"] += sum(len(item.events) for item in batch.items)
        counts["cancelled"] += len(plan.cancelled)
        counts["crowded"] += len(plan.crowded)
        counts["contacts"] += len(plan.contacts)
        for copy in plan.items:
            if copy.decision.synced:
                counts["synced"] += 1
            else:
                counts["skipped"] += 1
                reasons.update(r for r in copy.decision.reasons if r.excludes)
        cursor = batch.cursor
        if batch.done:
            break
    try:
        listing = source.listing(None if full else listing_token)
    except SourceError as error:
        fail(error)
        raise
    gone = gone_locations(stored, listing)
    done = succeeded(state.sync, now)
    if dry_run:
        preview.extend(Preview("remove", r, key) for r in gone for key in stored.get(r, ()))
    else:
        store.apply_event_batch(
            EventBatchResult(
                mailbox,
                name,
                cursor,
                gone=gone,
                listing=listing.token,
                settings=settings,
                state=done,
            ),
            workspace=ws,
        )
    order = {reason: i for i, reason in enumerate(Reason)}
    return CalendarReport(
        mailbox.id,
        name,
        counts["resources"],
        counts["seen"],
        counts["synced"],
        counts["skipped"],
        tuple(sorted(reasons.items(), key=lambda kv: order[kv[0]])),
        counts["cancelled"],
        counts["crowded"],
        counts["contacts"],
        len(gone),
        counts["batches"],
        full,
        state.sync if dry_run else done,
        change,
        dry_run,
        tuple(preview),
    )


def _previews(
    items: tuple[EventCopy, ...],
    read: tuple[str, ...],
    stored: dict[str, tuple[str, ...]],
) -> list[Preview]:
    """What storing a planned batch would do: each copy stored or kept out, and each stored
    copy of a resource read again that it no longer holds (cancelled, or dropped) removed."""
    found = [
        Preview("store" if c.decision.synced else "skip", c.location, c.event.key, c.decision)
        for c in items
    ]
    kept = {(c.location, c.event.key) for c in items}
    found.extend(
        Preview("remove", location, key)
        for location in read
        for key in stored.get(location, ())
        if (location, key) not in kept
    )
    return found
