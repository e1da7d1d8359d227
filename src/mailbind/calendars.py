"""Calendars: what a calendar source yields, what a store keeps of events, how a batch is planned.

The mail pipeline's twin for `Event` values (RULES 8): a source yields calendar *resources* (an
``.ics`` file, a CalDAV object, an invitation mail), each holding the VEVENTs of one UID (the
series and its changed occurrences); the planner decides each event with the same `decide` as
mail, links its participants to contacts, and creates contacts as the mailbox allows; a store
keeps each event once per workspace, under `Event.key`, with one copy per mailbox, calendar,
resource and key.

Invariants:
- Pure: values in, values out; no clock, no I/O. The only state changed is the `ContactIndex`
  given to `plan_events`, which takes the contacts the batch creates.
- A resource read again replaces every copy it held: an occurrence removed from it, or an event
  now cancelled (``STATUS:CANCELLED``, ``METHOD:CANCEL``), leaves no copy, exactly as a
  resource gone from the source's listing. A cancelled event is never stored.
- Contacts are created only from synced events that are not private and that have at most
  ``max_attendees`` attendees (default 50): an all-hands invitation creates nobody. Links to
  existing contacts are kept for every synced event.
- Only an owner (or alias) of a mailbox holding a private event reads more than its times: for
  anyone else `StoredEvent.seen_by` is the busy view, whatever the sharing levels, and
  `StoredEvent.listed_for` keeps it out of a contact's or a company's timeline (being listed
  there would tell who attended).
- A store keeps, of two versions of one event, the one with the higher ``SEQUENCE``; on a tie
  the one written last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from .addresses import Address, Canonicalization
from .codecs import decode_mailbox, decode_policy, encode_mailbox, encode_policy
from .contacts import Contact, ContactIndex, OwnerChange
from .events import Event
from .messages import Message, SharingLevel
from .planning import (
    ContactPlan,
    SkipReason,
    auto_contact_id,
    check_canonicalization,
    plan_contacts,
)
from .policy import Mailbox, Policy
from .redaction import redact
from .rules import Decision, Holding, decide, visible_level
from .schedule import SyncState
from .source import Listing
from .store import DEFAULT_WORKSPACE, Company, ParticipantLink

__all__ = [
    "DEFAULT_MAX_ATTENDEES",
    "CalendarState",
    "EventBatch",
    "EventBatchResult",
    "EventCopy",
    "EventItem",
    "EventPlan",
    "EventSource",
    "EventStore",
    "StoredEvent",
    "calendar_settings",
    "colleague_view",
    "event_order",
    "invitations",
    "plan_events",
    "read_calendar_settings",
]

#: Events with more attendees than this create no contacts (a town hall, a webinar).
DEFAULT_MAX_ATTENDEES = 50

#: Content types of a mail part that holds iCalendar text.
_ICAL_TYPES = frozenset({"text/calendar", "application/ics", "text/x-vcalendar"})


# --- Sources ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventItem:
    """One calendar resource as a source holds it, with every event it holds.

    A resource is what a source names and deletes as one: an ``.ics`` file, a CalDAV object,
    an invitation mail. It holds the VEVENTs of one UID (a series and its changed occurrences)
    or, in an ``.ics`` file, of several.
    """

    #: Where the resource stands in the source, stable while it stays there (a file's path, a
    #: CalDAV object's URL, a mail copy's location): the text `Listing` names it by.
    location: str
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Some resources, and the cursor to fetch what changed after them."""

    items: tuple[EventItem, ...]
    #: Opaque text; pass it to the next ``fetch``. Stores keep it with the batch.
    cursor: str
    #: True when the source changed underneath and this batch starts again from the beginning.
    reset: bool = False
    #: True when nothing more is waiting after this batch.
    done: bool = True


@runtime_checkable
class EventSource(Protocol):
    """What the calendar sync needs of a calendar source."""

    #: A short description for reports (a path or a URL without credentials).
    name: str

    def fetch(self, cursor: str | None, *, limit: int = 100) -> EventBatch:
        """The resources added or changed after *cursor* (None: every resource)."""
        ...

    def listing(self, token: str | None = None) -> Listing:
        """Which resources the source holds now (or which went since *token*); reads no event."""
        ...


def invitations(message: Message) -> tuple[Event, ...]:
    """The events of the iCalendar parts (``text/calendar``) of *message*, in order.

    An invitation (``METHOD:REQUEST``) gives the event as the organiser's calendar holds it; a
    ``METHOD:CANCEL`` gives it cancelled. A part that is not readable iCalendar gives nothing:
    the mail itself still syncs as mail. Needs the optional ``icalendar`` package when the
    message has such a part.
    """
    from .errors import EventError

    found: list[Event] = []
    for attachment in message.attachments or ():
        if attachment.content_type.lower() not in _ICAL_TYPES:
            continue
        try:
            found.extend(Event.from_ical(attachment.content, flags=message.flags))
        except EventError:
            continue
    return tuple(found)


# --- What a store keeps -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventCopy:
    """One event a mailbox's calendar holds at a resource, with its decision and links."""

    event: Event
    decision: Decision
    #: One link per readable participant when the event is synced; empty otherwise.
    links: tuple[ParticipantLink, ...] = ()
    #: The resource (`EventItem.location`) that holds it.
    location: str = ""


@dataclass(frozen=True, slots=True)
class EventBatchResult:
    """Everything one calendar batch changes, applied by `EventStore.apply_event_batch` at once.

    In one transaction the store: refuses the batch with `StaleBatchError` when
    ``contacts_version`` is not the workspace's; inserts ``companies`` and ``contacts``; drops
    every copy of the mailbox's ``calendar`` at the resources in ``read`` and ``gone``; stores
    ``items`` (a synced item's event replaces the stored one unless that has a higher
    ``sequence``, and with it its participant links); re-links ``owners`` in mail and events;
    deletes each event no synced copy holds any more; and stores the calendar's state.
    """

    mailbox: Mailbox
    #: The calendar's name in the mailbox (a source's name): each keeps its own cursor.
    calendar: str
    #: The cursor to store (None: the next pass reads every resource).
    cursor: str | None
    items: tuple[EventCopy, ...] = ()
    #: The resources read in this batch: the copies they held are replaced by ``items``.
    read: tuple[str, ...] = ()
    contacts: tuple[Contact, ...] = ()
    companies: tuple[Company, ...] = ()
    #: Keys whose owner changed because of the new contacts.
    owners: tuple[OwnerChange, ...] = ()
    #: Resources gone at the source: every copy they held goes.
    gone: tuple[str, ...] = ()
    #: The `Store.contacts_version` the batch was planned against; None: not checked.
    contacts_version: int | None = None
    #: The listing token to store; None: keep the stored one.
    listing: str | None = None
    #: The settings the batch was planned under (`calendar_settings`); None: keep the stored.
    settings: str | None = None
    #: The calendar's sync state after the batch (`mailbind.schedule`); None: keep the stored.
    state: SyncState | None = None


@dataclass(frozen=True, slots=True)
class CalendarState:
    """Where one calendar of a mailbox stands."""

    cursor: str | None = None
    listing: str | None = None
    #: The `calendar_settings` of its last batch; another value makes the next pass read all.
    settings: str | None = None
    #: Its sync status: back-off after a failed pass, stopped after too many (as a mailbox's).
    sync: SyncState = field(default_factory=SyncState)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A stored event, the mailboxes holding it, and its participants' contacts."""

    event: Event
    holdings: tuple[Holding, ...]
    #: The contact of each participant, aligned with ``event.participants``.
    contacts: tuple[str | None, ...]

    def owned_by(self, viewer: Address | str) -> bool:
        """True when *viewer* owns (or is an alias of) a mailbox holding the event."""
        return any(h.mailbox.owns(viewer) for h in self.holdings)

    def level_for(self, viewer: Address | str) -> SharingLevel:
        """How much of the event *viewer* may read (METADATA, busy only, for a private event)."""
        level = visible_level(viewer, self.holdings)
        if self.event.private and level is SharingLevel.EVERYTHING and not self.owned_by(viewer):
            return SharingLevel.METADATA
        return level

    def seen_by(self, viewer: Address | str) -> Event:
        """The event as *viewer* may read it: a private one is busy only to all but its owner."""
        level = self.level_for(viewer)
        if self.owned_by(viewer):
            return redact(self.event, level)
        return colleague_view(self.event, level)

    def listed_for(self, viewer: Address | str) -> bool:
        """Whether the event may appear in a contact's or a company's timeline for *viewer*.

        A private event appears only to its owner: listing it under a contact would tell that
        the contact attended.
        """
        return not self.event.private or self.owned_by(viewer)


def colleague_view(event: Event, level: SharingLevel) -> Event:
    """*event* as anyone but its owner reads it from a mailbox that shares it at *level*.

    A private event is the busy view (its times, at METADATA) whatever the level; any other is
    redacted to *level*. `StoredEvent.seen_by` gives this to every viewer who owns no mailbox
    holding the event; ``mailbind explain`` shows it for each event.
    """
    if event.private:
        return redact(event, SharingLevel.METADATA)
    return redact(event, level)


def event_order(event: Event) -> tuple[bool, float, str]:
    """The order stores return events in: earliest start first, undated last, then by key."""
    start = event.start
    return (start is None, 0.0 if start is None else start.timestamp(), event.key)


@runtime_checkable
class EventStore(Protocol):
    """What the calendar sync needs of a store (a `mailbind.store.Store` that keeps events)."""

    def contacts_version(self, *, workspace: str = DEFAULT_WORKSPACE) -> int:
        """As `mailbind.store.Store.contacts_version`."""
        ...

    def contact_index(
        self,
        canonicalization: Canonicalization | None = None,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> ContactIndex:
        """As `mailbind.store.Store.contact_index`."""
        ...

    def load_calendar(
        self, mailbox_id: str, calendar: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> CalendarState:
        """The calendar's cursor, listing token and settings (the defaults when never synced)."""
        ...

    def apply_event_batch(
        self, batch: EventBatchResult, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        """Store everything in *batch* in one transaction (see `EventBatchResult`)."""
        ...

    def event_resources(
        self, mailbox_id: str, calendar: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> dict[str, tuple[str, ...]]:
        """Every resource of the calendar with a stored copy -> the event keys it holds."""
        ...

    def mailbox_events(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredEvent, ...]:
        """Every event the mailbox holds (a synced copy in any calendar), in `event_order`."""
        ...

    def events_for_contact(
        self, contact_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredEvent, ...]:
        """Events with a participant linked to the contact, in `event_order`."""
        ...

    def events_for_company(
        self, domain: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredEvent, ...]:
        """Events with a participant linked to a contact of the company, in `event_order`."""
        ...


# --- Planning ---------------------------------------------------------------------------------


def calendar_settings(mailbox: Mailbox, policy: Policy, max_attendees: int) -> str:
    """Everything that decides a calendar's events, as text stored with each batch (the
    mailbox's and the policy's JSON and the attendee limit, one a line), so that a later pass
    can tell what a change of them does (`read_calendar_settings`)."""
    return "\n".join((encode_mailbox(mailbox), encode_policy(policy), str(max_attendees)))


def read_calendar_settings(text: str | None) -> tuple[Mailbox, Policy, int] | None:
    """The mailbox, policy and attendee limit `calendar_settings` wrote as *text*; None when
    *text* is None or not such text (the digest an earlier release stored)."""
    if text is None:
        return None
    lines = text.split("\n")
    if len(lines) != 3 or not lines[2].isdigit():
        return None
    try:
        return decode_mailbox(lines[0]), decode_policy(lines[1]), int(lines[2])
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class EventPlan:
    """What one batch of calendar resources does: its copies, new contacts and re-links."""

    items: tuple[EventCopy, ...] = ()
    #: Every resource read (its old copies are replaced by ``items``).
    read: tuple[str, ...] = ()
    contacts: tuple[Contact, ...] = ()
    companies: tuple[Company, ...] = ()
    owners: tuple[OwnerChange, ...] = ()
    #: Events left out because they are cancelled, as (resource, key).
    cancelled: tuple[tuple[str, str], ...] = ()
    #: Synced events that created no contact because they have too many attendees, by key.
    crowded: tuple[str, ...] = field(default=())
    #: What automatic creation proposed from the events it read, and whom it left out (None
    #: when it read none: no `ContactIndex`, creation off, or no eligible event).
    contact_plan: ContactPlan | None = None
    #: The id of each contact the batch created -> the key of the event that introduced it.
    introduced: Mapping[str, str] = field(default_factory=dict)
    #: Synced events that creation did not read, by key, and why: `SkipReason.EVENT_PRIVATE`
    #: or `SkipReason.TOO_MANY_ATTENDEES` (only when creation is on and given a `ContactIndex`).
    held_back: Mapping[str, SkipReason] = field(default_factory=dict)


def _links(
    event: Event, policy: Policy, contacts: ContactIndex | Mapping[str, str] | None
) -> tuple[ParticipantLink, ...]:
    found = []
    for position, participant in enumerate(event.participants):
        address = participant.address
        if address is None:
            continue
        key = policy.key(address)
        owner: str | None = None
        if isinstance(contacts, ContactIndex):
            contact = contacts.resolve(address)
            owner = None if contact is None else contact.id
        elif contacts is not None:
            owner = contacts.get(key)
        found.append(ParticipantLink(position, key, owner))
    return tuple(found)


def plan_events(
    items: Iterable[EventItem],
    mailbox: Mailbox,
    policy: Policy,
    *,
    contacts: ContactIndex | Mapping[str, str] | None = None,
    now: datetime | None = None,
    max_attendees: int = DEFAULT_MAX_ATTENDEES,
) -> EventPlan:
    """Decide every event of *items* for *mailbox* under *policy*, and link the synced ones.

    *contacts* is as for `mailbind.planner.plan_batch`: a `ContactIndex` (new contacts are then
    created, at *now*, from synced events that are not private and have at most
    *max_attendees* attendees), a mapping from key to contact id, or None. Within one resource,
    of two events with one key the one with the higher ``sequence`` (else the later) counts.
    """
    from .errors import ArgumentTypeError, wrong_type

    if isinstance(max_attendees, bool) or not isinstance(max_attendees, int) or max_attendees < 0:
        raise wrong_type(
            "plan_events()",
            "max_attendees",
            "a whole number, 0 or more",
            max_attendees,
            ArgumentTypeError,
        )
    copies: list[EventCopy] = []
    read: list[str] = []
    cancelled: list[tuple[str, str]] = []
    for item in items:
        read.append(item.location)
        chosen: dict[str, Event] = {}
        for event in item.events:
            old = chosen.get(event.key)
            if old is None or event.sequence >= old.sequence:
                chosen[event.key] = event
        for key in sorted(chosen):
            event = chosen[key]
            if event.cancelled:
                cancelled.append((item.location, key))
                continue
            copies.append(EventCopy(event, decide(event, mailbox, policy), (), item.location))
    created: list[Contact] = []
    companies: dict[str, Company] = {}
    owners: list[OwnerChange] = []
    crowded = [
        c.event.key for c in copies if c.decision.synced and len(c.event.attendees) > max_attendees
    ]
    contact_plan: ContactPlan | None = None
    introduced: dict[str, str] = {}
    held_back: dict[str, SkipReason] = {}
    if isinstance(contacts, ContactIndex) and mailbox.create_contacts:
        check_canonicalization(contacts, policy)
        eligible = []
        for c in copies:
            if not c.decision.synced:
                continue
            if c.event.private:
                held_back[c.event.key] = SkipReason.EVENT_PRIVATE
            elif len(c.event.attendees) > max_attendees:
                held_back[c.event.key] = SkipReason.TOO_MANY_ATTENDEES
            else:
                eligible.append(c)
        if eligible:
            if now is None:
                raise TypeError("Creating contacts needs now, the time they are created at.")
            plan = plan_contacts(
                [c.event for c in eligible],
                mailbox,
                policy,
                contacts,
                decisions=[c.decision for c in eligible],
            )
            contact_plan = plan
            for new in plan.new:
                contact = new.to_contact(now, id=auto_contact_id(new.key, contacts.__contains__))
                owners.extend(contacts.upsert(contact))
                created.append(contact)
                introduced[contact.id] = new.message_key
                if new.company_domain is not None:
                    companies.setdefault(
                        new.company_domain, Company(new.company_domain, new.company_name or "")
                    )
    linked = tuple(
        EventCopy(c.event, c.decision, _links(c.event, policy, contacts), c.location)
        if c.decision.synced
        else c
        for c in copies
    )
    return EventPlan(
        linked,
        tuple(dict.fromkeys(read)),
        tuple(created),
        tuple(companies.values()),
        tuple(owners),
        tuple(cancelled),
        tuple(crowded),
        contact_plan,
        introduced,
        held_back,
    )
