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
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from .calendars import (
    DEFAULT_MAX_ATTENDEES,
    EventBatchResult,
    EventSource,
    EventStore,
    calendar_settings,
    plan_events,
)
from .errors import SourceError, SourceSettingError, StoreError
from .planner import gone_locations
from .policy import Mailbox, Policy
from .rules import Reason
from .store import DEFAULT_WORKSPACE, StaleBatchError

__all__ = ["CalendarReport", "sync_calendar"]

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
) -> CalendarReport:
    """Sync *source* into *store* as the calendar *calendar* (default: the source's name) of
    *mailbox*, until the source has nothing more; then remove the resources gone at the source.

    Events are decided with the mail rules (`decide`), participants linked to contacts, and
    contacts created as the mailbox allows (never from private events, nor from events with more
    than *max_attendees* attendees).
    """
    if batch_size < 1:
        raise SourceSettingError(f"The batch size must be at least 1, not {batch_size!r}.")
    ws = workspace
    name = source.name if calendar is None else calendar
    settings = calendar_settings(mailbox, policy, max_attendees)
    state = store.load_calendar(mailbox.id, name, workspace=ws)
    full = state.settings != settings or state.cursor is None
    cursor = None if state.settings != settings else state.cursor
    listing_token = None if state.settings != settings else state.listing
    reasons: Counter[Reason] = Counter()
    counts: Counter[str] = Counter()
    index = None
    version = None
    while True:
        batch = source.fetch(cursor, limit=batch_size)
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
    listing = source.listing(None if full else listing_token)
    stored = store.event_resources(mailbox.id, name, workspace=ws)
    gone = gone_locations(stored, listing)
    if gone or listing.token is not None:
        store.apply_event_batch(
            EventBatchResult(
                mailbox, name, cursor, gone=gone, listing=listing.token, settings=settings
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
    )
