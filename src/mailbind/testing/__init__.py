"""Helpers for testing code built on mailbind: a store in memory and a source from a list.

Invariants:
- `InMemoryStore` behaves exactly as `mailbind.stores.sqlite.SQLiteStore` does (one contract
  test suite runs against both); it keeps everything in dictionaries and loses it on exit.
- `ListSource` is a `MessageSource` over messages held in memory, with the cursor semantics of a
  real source: fetching from a cursor yields only what was added since, and replacing the
  messages makes the next fetch start again with ``reset`` set.
- Neither reads a clock, the environment or a file.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime

from ..addresses import Canonicalization
from ..calendars import (
    CalendarState,
    EventBatch,
    EventBatchResult,
    EventCopy,
    EventItem,
    StoredEvent,
    event_order,
)
from ..codecs import encode_mailbox
from ..contacts import Contact, ContactIndex, OwnerChange, Suppression
from ..errors import SourceError, StoreError
from ..events import Event
from ..identity import reused_message_ids, with_reuse
from ..messages import Direction, Flag, Message, SharingLevel
from ..policy import Mailbox
from ..rules import Holding
from ..source import Batch, Listing, SourceItem
from ..store import (
    DEFAULT_WORKSPACE,
    BatchItem,
    BatchResult,
    Company,
    CompanyChange,
    CompanyCount,
    ContactChange,
    CopyCount,
    MailboxState,
    Page,
    Recorded,
    StaleBatchError,
    Store,
    StoredDecision,
    StoredMessage,
    company_domain,
    holding_direction,
    link_domain,
    message_order,
    page_after,
    page_cursor,
)
from ..threads import ThreadChange, Threader

__all__ = ["InMemoryStore", "ListCalendar", "ListSource", "flagged", "snapshot"]


@dataclass(slots=True)
class _Row:
    """A stored message with its participant links."""

    message: Message
    #: position -> (key, contact id)
    participants: dict[int, tuple[str, str | None]]
    thread: str | None = None


@dataclass(slots=True)
class _Space:
    """One workspace's data."""

    mailboxes: dict[str, Mailbox] = field(default_factory=dict)
    recorded_mailboxes: dict[str, Recorded] = field(default_factory=dict)
    policy: Recorded | None = None
    states: dict[str, MailboxState] = field(default_factory=dict)
    rows: dict[str, _Row] = field(default_factory=dict)
    #: participant key -> {(message key, position)}
    by_key: dict[str, set[tuple[str, int]]] = field(default_factory=dict)
    #: mailbox id -> location -> the copy's decision
    copies: dict[str, dict[str, StoredDecision]] = field(default_factory=dict)
    #: message key -> mailbox id -> location -> direction, for every synced copy
    holders: dict[str, dict[str, dict[str, Direction]]] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    companies: dict[str, Company] = field(default_factory=dict)
    suppressed: dict[str, Suppression] = field(default_factory=dict)
    version: int = 0
    #: Calendars: (mailbox id, calendar) -> state
    calendars: dict[tuple[str, str], CalendarState] = field(default_factory=dict)
    #: The mailbox each calendar batch last came with, by id (the holdings of events).
    event_mailboxes: dict[str, Mailbox] = field(default_factory=dict)
    #: event key -> (event, position -> (key, contact id))
    events: dict[str, tuple[Event, dict[int, tuple[str, str | None]]]] = field(default_factory=dict)
    #: participant key -> {(event key, position)}
    event_by_key: dict[str, set[tuple[str, int]]] = field(default_factory=dict)
    #: (mailbox id, calendar) -> resource -> event key -> the copy
    event_copies: dict[tuple[str, str], dict[str, dict[str, EventCopy]]] = field(
        default_factory=dict
    )
    #: The threads of the stored messages.
    threader: Threader = field(default_factory=Threader)


def _record(current: Recorded | None, settings: str, at: datetime | None) -> Recorded:
    if current is not None and current.settings == settings:
        return current
    return Recorded(settings, 1 if current is None else current.version + 1, at)


class InMemoryStore:
    """A `Store` in memory: for tests, examples and dry runs."""

    def __init__(self) -> None:
        self._spaces: dict[str, _Space] = {}

    def __repr__(self) -> str:
        spaces = self._spaces.values()
        return (
            f"<InMemoryStore: {sum(len(s.rows) for s in spaces)} messages, "
            f"{sum(len(s.contacts) for s in spaces)} contacts, "
            f"{sum(len(s.mailboxes) for s in spaces)} mailboxes>"
        )

    def _space(self, workspace: str) -> _Space:
        if not isinstance(workspace, str) or not workspace:
            raise StoreError(f"A workspace must be a non-empty string, not {workspace!r}.")
        space = self._spaces.get(workspace)
        if space is None:
            space = self._spaces[workspace] = _Space()
        return space

    # --- Progress -----------------------------------------------------------------------------

    def load_state(self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> MailboxState:
        return self._space(workspace).states.get(mailbox_id, MailboxState())

    def save_state(
        self, mailbox_id: str, state: MailboxState, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        self._space(workspace).states[mailbox_id] = state

    # --- Settings -----------------------------------------------------------------------------

    def recorded_policy(self, *, workspace: str = DEFAULT_WORKSPACE) -> Recorded | None:
        return self._space(workspace).policy

    def recorded_mailbox(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> Recorded | None:
        return self._space(workspace).recorded_mailboxes.get(mailbox_id)

    def workspaces(self) -> tuple[str, ...]:
        return tuple(sorted(w for w, space in self._spaces.items() if space.mailboxes))

    # --- Writing a batch ------------------------------------------------------------------------

    def apply_batch(self, batch: BatchResult, *, workspace: str = DEFAULT_WORKSPACE) -> None:
        space = self._space(workspace)
        if batch.contacts_version is not None and batch.contacts_version != space.version:
            raise StaleBatchError("The contacts changed since the batch was planned.")
        mailbox = batch.mailbox
        space.mailboxes[mailbox.id] = mailbox
        space.recorded_mailboxes[mailbox.id] = _record(
            space.recorded_mailboxes.get(mailbox.id), encode_mailbox(mailbox), batch.at
        )
        if batch.policy is not None:
            space.policy = _record(space.policy, batch.policy, batch.at)
        self._add_companies(space, batch.companies)
        for contact in batch.contacts:
            space.contacts.setdefault(contact.id, contact)
        copies = space.copies.setdefault(mailbox.id, {})
        levels = dict(batch.levels)
        for location, copy in copies.items():
            level = levels.get(copy.decision.direction)
            if level is not None and copy.decision.synced and copy.decision.level is not level:
                copies[location] = replace(copy, decision=replace(copy.decision, level=level))
        touched: set[str] = set()
        for item in batch.items:
            self._let_go(space, mailbox.id, copies.get(item.location), item.location, touched)
            copies[item.location] = StoredDecision(
                mailbox.id, item.message.key, item.decision, item.location, item.flags
            )
            if item.decision.synced:
                self._hold(space, mailbox.id, item)
        self._relink(space, batch.owners)
        for location in batch.gone:
            self._let_go(space, mailbox.id, copies.pop(location, None), location, touched)
        for key in touched:
            if key not in space.holders:
                self._drop(space, key)
        listing = batch.listing
        if listing is None:
            listing = space.states.get(mailbox.id, MailboxState()).listing
        space.states[mailbox.id] = MailboxState(batch.cursor, batch.state, listing)

    @staticmethod
    def _let_go(
        space: _Space, mailbox_id: str, old: StoredDecision | None, location: str, touched: set[str]
    ) -> None:
        """Forget that the copy *old* at *location* holds its message."""
        if old is None or not old.decision.synced:
            return
        touched.add(old.key)
        by_mailbox = space.holders.get(old.key, {})
        places = by_mailbox.get(mailbox_id, {})
        places.pop(location, None)
        if not places:
            by_mailbox.pop(mailbox_id, None)
        if not by_mailbox:
            space.holders.pop(old.key, None)

    @staticmethod
    def _add_companies(space: _Space, companies: Iterable[Company]) -> None:
        """Store the companies whose domain no stored company holds."""
        held = {d for c in space.companies.values() for d in c.all_domains}
        for company in companies:
            if company.domain not in held:
                space.companies[company.domain] = company
                held.update(company.all_domains)

    @staticmethod
    def _rethread(space: _Space, changes: Iterable[ThreadChange]) -> None:
        for change in changes:
            row = space.rows.get(change.key)
            if row is not None:
                row.thread = change.new

    @classmethod
    def _hold(cls, space: _Space, mailbox_id: str, item: BatchItem) -> None:
        key = item.message.key
        row = space.rows.get(key)
        if row is None:
            row = space.rows[key] = _Row(item.message, {})
            cls._rethread(space, space.threader.add(item.message))
        for position, (participant_key, _) in row.participants.items():
            space.by_key[participant_key].discard((key, position))
        row.participants = {link.position: (link.key, link.contact_id) for link in item.links}
        for position, (participant_key, _) in row.participants.items():
            space.by_key.setdefault(participant_key, set()).add((key, position))
        holders = space.holders.setdefault(key, {}).setdefault(mailbox_id, {})
        holders[item.location] = item.decision.direction

    @classmethod
    def _drop(cls, space: _Space, key: str) -> None:
        row = space.rows.pop(key, None)
        if row is None:
            return
        cls._rethread(space, space.threader.remove(key))
        for position, (participant_key, _) in row.participants.items():
            places = space.by_key[participant_key]
            places.discard((key, position))
            if not places:
                del space.by_key[participant_key]

    @staticmethod
    def _relink(space: _Space, owners: Iterable[OwnerChange]) -> None:
        for change in owners:
            for message_key, position in space.by_key.get(change.key, ()):
                space.rows[message_key].participants[position] = (change.key, change.new)
            for event_key, position in space.event_by_key.get(change.key, ()):
                space.events[event_key][1][position] = (change.key, change.new)

    # --- Contacts -----------------------------------------------------------------------------

    def contacts_version(self, *, workspace: str = DEFAULT_WORKSPACE) -> int:
        return self._space(workspace).version

    def contact_index(
        self,
        canonicalization: Canonicalization | None = None,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> ContactIndex:
        space = self._space(workspace)
        return ContactIndex(
            space.contacts.values(),
            canonicalization=canonicalization,
            suppressed=space.suppressed.values(),
        )

    def apply_contact_change(
        self, change: ContactChange, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        space = self._space(workspace)
        space.version += 1
        self._add_companies(space, change.companies)
        for contact in change.saved:
            space.contacts[contact.id] = contact
        self._relink(space, change.owners)
        for contact_id in change.destroyed:
            space.contacts.pop(contact_id, None)
            for row in space.rows.values():
                for position, (key, owner) in row.participants.items():
                    if owner == contact_id:
                        row.participants[position] = (key, None)
            for _, links in space.events.values():
                for position, (key, owner) in links.items():
                    if owner == contact_id:
                        links[position] = (key, None)
        for key in change.lifted:
            space.suppressed.pop(key, None)
        for record in change.suppressed:
            space.suppressed[record.key] = record

    def companies(self, *, workspace: str = DEFAULT_WORKSPACE) -> tuple[Company, ...]:
        """Every stored company, ordered by domain."""
        companies = self._space(workspace).companies
        return tuple(companies[d] for d in sorted(companies))

    # --- Reading ------------------------------------------------------------------------------

    def mailboxes(self, *, workspace: str = DEFAULT_WORKSPACE) -> tuple[Mailbox, ...]:
        mailboxes = self._space(workspace).mailboxes
        return tuple(mailboxes[m] for m in sorted(mailboxes))

    def decisions(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> Iterator[StoredDecision]:
        space = self._space(workspace)
        reused = reused_message_ids(
            copy.key for copies in space.copies.values() for copy in copies.values()
        )
        copies = sorted(
            space.copies.get(mailbox_id, {}).values(), key=lambda c: (c.key, c.location)
        )
        return iter([with_reuse(copy, reused) for copy in copies])

    def copy_counts(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[CopyCount, ...]:
        counts: dict[tuple[Direction, SharingLevel, bool], int] = {}
        for copy in self._space(workspace).copies.get(mailbox_id, {}).values():
            d = copy.decision
            group = (d.direction, d.level, d.synced)
            counts[group] = counts.get(group, 0) + 1
        return tuple(sorted(CopyCount(*group, n) for group, n in counts.items()))

    def locations(self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> dict[str, str]:
        copies = self._space(workspace).copies.get(mailbox_id, {})
        return {location: copy.key for location, copy in copies.items()}

    def mailbox_messages(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> Iterator[StoredMessage]:
        space = self._space(workspace)
        keys = sorted(k for k, by in space.holders.items() if mailbox_id in by)
        return iter([self._stored(space, k) for k in keys])

    def messages_for_contact(
        self, contact_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredMessage, ...]:
        return self._messages_of(self._space(workspace), {contact_id})

    def messages_for_company(
        self, domain: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredMessage, ...]:
        space = self._space(workspace)
        keys = self._company_keys(space, domain)
        keys.sort(key=lambda key: message_order(space.rows[key].message))
        return tuple(self._stored(space, key) for key in keys)

    def _messages_of(self, space: _Space, contact_ids: set[str]) -> tuple[StoredMessage, ...]:
        keys = self._contact_keys(space, contact_ids)
        keys.sort(key=lambda key: message_order(space.rows[key].message))
        return tuple(self._stored(space, key) for key in keys)

    @staticmethod
    def _contact_keys(space: _Space, contact_ids: set[str]) -> list[str]:
        return [
            key
            for key, row in space.rows.items()
            if any(owner in contact_ids for _, owner in row.participants.values())
        ]

    @staticmethod
    def _company_of(space: _Space, domain: str) -> Company | None:
        wanted = company_domain(domain)
        for company in space.companies.values():
            if wanted in company.all_domains:
                return company
        return None

    def _company_keys(self, space: _Space, domain: str) -> list[str]:
        company = self._company_of(space, domain)
        if company is None:
            return []
        domains = set(company.all_domains)
        return [
            key
            for key, row in space.rows.items()
            if any(link_domain(k) in domains for k, _ in row.participants.values())
        ]

    def _page(self, space: _Space, keys: list[str], limit: int, after: str | None) -> Page:
        count, start = page_after(limit, after)
        order = sorted(message_order(space.rows[key].message) for key in keys)
        if start is not None:
            when, last = start
            bound = (when is None, when or 0.0, last)
            order = [o for o in order if o > bound]
        shown = [self._stored(space, key) for _, _, key in order[:count]]
        more = len(order) > count
        return Page(tuple(shown), page_cursor(shown[-1].message) if more else None)

    def contact_messages(
        self,
        contact_id: str,
        *,
        limit: int = 50,
        after: str | None = None,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> Page:
        space = self._space(workspace)
        return self._page(space, self._contact_keys(space, {contact_id}), limit, after)

    def company_messages(
        self,
        domain: str,
        *,
        limit: int = 50,
        after: str | None = None,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> Page:
        space = self._space(workspace)
        return self._page(space, self._company_keys(space, domain), limit, after)

    def thread_messages(
        self,
        thread_id: str,
        *,
        limit: int = 50,
        after: str | None = None,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> Page:
        space = self._space(workspace)
        keys = [key for key, row in space.rows.items() if row.thread == thread_id]
        return self._page(space, keys, limit, after)

    def contact(self, contact_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> Contact | None:
        return self._space(workspace).contacts.get(contact_id)

    def contacts_with_key(
        self, key: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[Contact, ...]:
        contacts = self._space(workspace).contacts
        return tuple(
            contacts[i]
            for i in sorted(contacts)
            if any(address.key == key for address in contacts[i].addresses)
        )

    def apply_company_change(
        self, change: CompanyChange, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        space = self._space(workspace)
        companies = dict(space.companies)
        for domain in change.removed:
            companies.pop(domain, None)
        for company in change.saved:
            companies[company.domain] = company
        held: dict[str, str] = {}
        for company in companies.values():
            for domain in company.all_domains:
                if held.setdefault(domain, company.domain) != company.domain:
                    raise StoreError(f"Two companies would hold the domain {domain!r}.")
        space.companies = companies

    def company_counts(self, *, workspace: str = DEFAULT_WORKSPACE) -> tuple[CompanyCount, ...]:
        space = self._space(workspace)
        counts = []
        for company in self.companies(workspace=workspace):
            domains = set(company.all_domains)
            contacts = sum(1 for c in space.contacts.values() if c.company_domain in domains)
            counts.append(
                CompanyCount(company, contacts, len(self._company_keys(space, company.domain)))
            )
        return tuple(counts)

    @staticmethod
    def _stored(space: _Space, key: str) -> StoredMessage:
        row = space.rows[key]
        holdings = tuple(
            Holding(mailbox, holding_direction(mailbox, places.values()))
            for mailbox_id, places in sorted(space.holders.get(key, {}).items())
            for mailbox in (space.mailboxes[mailbox_id],)
        )
        contacts = tuple(
            row.participants.get(i, ("", None))[1] for i in range(len(row.message.participants))
        )
        return StoredMessage(row.message, holdings, contacts, row.thread)

    # --- Calendars ----------------------------------------------------------------------------

    def load_calendar(
        self, mailbox_id: str, calendar: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> CalendarState:
        return self._space(workspace).calendars.get((mailbox_id, calendar), CalendarState())

    def apply_event_batch(
        self, batch: EventBatchResult, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        space = self._space(workspace)
        if batch.contacts_version is not None and batch.contacts_version != space.version:
            raise StaleBatchError("The contacts changed since the batch was planned.")
        mailbox = batch.mailbox
        space.event_mailboxes[mailbox.id] = mailbox
        for company in batch.companies:
            space.companies.setdefault(company.domain, company)
        for contact in batch.contacts:
            space.contacts.setdefault(contact.id, contact)
        copies = space.event_copies.setdefault((mailbox.id, batch.calendar), {})
        touched: set[str] = set()
        for resource in (*batch.read, *batch.gone):
            for key in copies.pop(resource, {}):
                touched.add(key)
        for item in batch.items:
            copies.setdefault(item.location, {})[item.event.key] = item
            if item.decision.synced:
                self._keep_event(space, item)
        self._relink(space, batch.owners)
        for key in touched:
            if not self._event_held(space, key):
                self._drop_event(space, key)
        old = space.calendars.get((mailbox.id, batch.calendar), CalendarState())
        space.calendars[(mailbox.id, batch.calendar)] = CalendarState(
            batch.cursor,
            old.listing if batch.listing is None else batch.listing,
            old.settings if batch.settings is None else batch.settings,
            old.sync if batch.state is None else batch.state,
        )

    @staticmethod
    def _keep_event(space: _Space, item: EventCopy) -> None:
        key = item.event.key
        stored = space.events.get(key)
        if stored is not None and stored[0].sequence > item.event.sequence:
            return
        if stored is not None:
            for position, (participant_key, _) in stored[1].items():
                space.event_by_key[participant_key].discard((key, position))
        links = {link.position: (link.key, link.contact_id) for link in item.links}
        space.events[key] = (item.event, links)
        for position, (participant_key, _) in links.items():
            space.event_by_key.setdefault(participant_key, set()).add((key, position))

    @staticmethod
    def _event_held(space: _Space, key: str) -> bool:
        return any(
            key in held and held[key].decision.synced
            for copies in space.event_copies.values()
            for held in copies.values()
        )

    @staticmethod
    def _drop_event(space: _Space, key: str) -> None:
        stored = space.events.pop(key, None)
        if stored is None:
            return
        for position, (participant_key, _) in stored[1].items():
            places = space.event_by_key[participant_key]
            places.discard((key, position))
            if not places:
                del space.event_by_key[participant_key]

    def event_resources(
        self, mailbox_id: str, calendar: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> dict[str, tuple[str, ...]]:
        copies = self._space(workspace).event_copies.get((mailbox_id, calendar), {})
        return {resource: tuple(sorted(keys)) for resource, keys in copies.items() if keys}

    def mailbox_events(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredEvent, ...]:
        space = self._space(workspace)
        keys = {
            key
            for (held_by, _), copies in space.event_copies.items()
            if held_by == mailbox_id
            for held in copies.values()
            for key, copy in held.items()
            if copy.decision.synced
        }
        return self._events_of(space, keys)

    def events_for_contact(
        self, contact_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredEvent, ...]:
        return self._linked_events(self._space(workspace), {contact_id})

    def events_for_company(
        self, domain: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredEvent, ...]:
        space = self._space(workspace)
        domain = domain.lower()
        ids = {c.id for c in space.contacts.values() if c.company_domain == domain}
        return self._linked_events(space, ids)

    def _linked_events(self, space: _Space, ids: set[str]) -> tuple[StoredEvent, ...]:
        keys = {
            key
            for key, (_, links) in space.events.items()
            if any(owner in ids for _, owner in links.values())
        }
        return self._events_of(space, keys)

    @staticmethod
    def _events_of(space: _Space, keys: Iterable[str]) -> tuple[StoredEvent, ...]:
        found = []
        for key in keys:
            event, links = space.events[key]
            directions: dict[str, list[Direction]] = {}
            for (mailbox_id, _), copies in space.event_copies.items():
                for held in copies.values():
                    copy = held.get(key)
                    if copy is not None and copy.decision.synced:
                        directions.setdefault(mailbox_id, []).append(copy.decision.direction)
            holdings = tuple(
                Holding(mailbox, holding_direction(mailbox, directions[mailbox_id]))
                for mailbox_id in sorted(directions)
                for mailbox in (space.event_mailboxes[mailbox_id],)
            )
            contacts = tuple(links.get(i, ("", None))[1] for i in range(len(event.participants)))
            found.append(StoredEvent(event, holdings, contacts))
        found.sort(key=lambda stored: event_order(stored.event))
        return tuple(found)


class ListSource:
    """A `MessageSource` over messages in memory, for tests and examples.

    Cursors are ``"<generation>:<position>"``; `replace` starts a new generation, so the next
    fetch from an older cursor starts again from the beginning with ``Batch.reset`` set.
    `remove` and `move` change what the source holds as a user deleting or filing mail does;
    `listing` reports it. `fail_next` makes the next fetch raise, to exercise back-off.
    """

    name: str

    def __init__(
        self, messages: Iterable[Message | SourceItem] = (), *, name: str = "list"
    ) -> None:
        self.name = name
        self._items: list[SourceItem] = []
        self._present: set[str] = set()
        self._made = 0
        self._generation = 0
        self._errors: deque[SourceError] = deque()
        self.fetches = 0
        self.listings = 0
        self.append(*messages)

    def _location(self) -> str:
        self._made += 1
        return f"{self.name}#{self._made - 1}"

    def append(self, *messages: Message | SourceItem) -> None:
        """Add messages at the end, as new mail arriving (an item without a location gets one)."""
        for value in messages:
            if isinstance(value, SourceItem):
                item = value if value.location else replace(value, location=self._location())
            else:
                item = SourceItem(self._location(), None, built=value)
            self._items.append(item)
            self._present.add(item.location)

    def replace(self, messages: Iterable[Message | SourceItem]) -> None:
        """Replace every message, as a mailbox file rewritten underneath."""
        self._items = []
        self._present = set()
        self._generation += 1
        self.append(*messages)

    def remove(self, location: str) -> None:
        """Delete the copy at *location*, as a user deleting mail at the source."""
        self._present.discard(location)

    def move(self, location: str, flags: frozenset[Flag] = frozenset()) -> str:
        """File the copy at *location* elsewhere with *flags* (a folder's role); its new location.

        As in IMAP, the copy is gone at its old place and new at its new one.
        """
        for item in self._items:
            if item.location == location and location in self._present:
                self._present.discard(location)
                moved = replace(item, location=self._location(), flags=flags)
                self._items.append(moved)
                self._present.add(moved.location)
                return moved.location
        raise KeyError(location)

    @property
    def locations(self) -> frozenset[str]:
        """Every location the source holds now."""
        return frozenset(self._present)

    def held(self) -> tuple[SourceItem, ...]:
        """Every copy the source holds now, in the order they arrived."""
        return tuple(item for item in self._items if item.location in self._present)

    def fail_next(self, error: SourceError) -> None:
        """Make the next fetch raise *error* (then behave normally again)."""
        self._errors.append(error)

    def fetch(self, cursor: str | None, *, limit: int = 500) -> Batch:
        """Up to *limit* messages after *cursor* (removed ones are not yielded)."""
        self.fetches += 1
        if self._errors:
            raise self._errors.popleft()
        start, reset = 0, False
        if cursor is not None:
            generation, _, position = cursor.partition(":")
            if generation == str(self._generation) and position.isdigit():
                start = int(position)
            else:
                reset = True
        end = min(start + max(limit, 1), len(self._items))
        items = tuple(i for i in self._items[start:end] if i.location in self._present)
        return Batch(items, f"{self._generation}:{end}", reset=reset, done=end >= len(self._items))

    def listing(self, token: str | None = None) -> Listing:
        """Every location held now (a complete listing; *token* is not used)."""
        del token
        self.listings += 1
        return Listing(frozenset(self._present))


class ListCalendar:
    """An `EventSource` over calendar resources in memory, for tests and examples.

    Each resource has a version that grows when it is put again; the cursor holds the version
    of every resource read, so a fetch reads only what was put since, and the listing is
    complete.
    """

    def __init__(self, name: str = "calendar") -> None:
        self.name = name
        self._resources: dict[str, tuple[int, tuple[Event, ...]]] = {}
        self._clock = 0

    def put(self, location: str, *events: Event) -> None:
        """Add or replace the resource at *location*."""
        self._clock += 1
        self._resources[location] = (self._clock, events)

    def remove(self, location: str) -> None:
        """Delete the resource at *location*."""
        self._resources.pop(location, None)

    def held(self) -> dict[str, tuple[Event, ...]]:
        """Every resource and its events, now."""
        return {location: events for location, (_, events) in self._resources.items()}

    def fetch(self, cursor: str | None, *, limit: int = 100) -> EventBatch:
        import json

        seen: dict[str, int] = json.loads(cursor) if cursor else {}
        changed = sorted(
            loc for loc, (version, _) in self._resources.items() if seen.get(loc) != version
        )
        page = changed[:limit]
        kept = {loc: v for loc, v in seen.items() if loc in self._resources}
        kept.update((loc, self._resources[loc][0]) for loc in page)
        items = tuple(EventItem(loc, self._resources[loc][1]) for loc in page)
        return EventBatch(items, json.dumps(kept, sort_keys=True), done=len(changed) <= limit)

    def listing(self, token: str | None = None) -> Listing:
        return Listing(frozenset(self._resources))


def flagged(message: Message, *flags: Flag) -> SourceItem:
    """*message* as a source holding it with *flags* (a draft, a message in the trash)."""
    return SourceItem("", None, built=message, flags=frozenset(flags))


def snapshot(store: Store) -> dict[str, object]:
    """Everything *store* answers through the `Store` protocol, as plain comparable values.

    Two stores that hold the same data give equal snapshots, whatever their kind: the contract
    tests compare `InMemoryStore` with `SQLiteStore` this way, and a crash test compares an
    interrupted sync with an uninterrupted one.
    """
    mailboxes = store.mailboxes()
    messages: dict[str, StoredMessage] = {}
    for mailbox in mailboxes:
        for stored in store.mailbox_messages(mailbox.id):
            messages[stored.message.key] = stored
    index = store.contact_index()
    return {
        "mailboxes": mailboxes,
        "states": {m.id: store.load_state(m.id) for m in mailboxes},
        "decisions": {m.id: tuple(store.decisions(m.id)) for m in mailboxes},
        "messages": {k: messages[k] for k in sorted(messages)},
        "contacts": tuple(sorted(index, key=lambda c: c.id)),
        "suppressed": tuple(sorted(index.suppressed.values(), key=lambda s: s.key)),
        "companies": store.companies(),
    }
