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
from dataclasses import dataclass, field

from .addresses import Canonicalization
from .contacts import Contact, ContactIndex, OwnerChange, Suppression
from .errors import SourceError
from .messages import Direction, Flag, Message
from .policy import Mailbox
from .rules import Holding
from .source import Batch, SourceItem
from .store import (
    BatchItem,
    BatchResult,
    Company,
    ContactChange,
    MailboxState,
    Store,
    StoredDecision,
    StoredMessage,
    message_order,
)

__all__ = ["InMemoryStore", "ListSource", "flagged", "snapshot"]


@dataclass(slots=True)
class _Row:
    """A stored message with its participant links and holders."""

    message: Message
    #: position -> (key, contact id)
    participants: dict[int, tuple[str, str | None]]
    #: mailbox id -> direction
    links: dict[str, Direction] = field(default_factory=dict)


class InMemoryStore:
    """A `Store` in memory: for tests, examples and dry runs."""

    def __init__(self) -> None:
        self._mailboxes: dict[str, Mailbox] = {}
        self._states: dict[str, MailboxState] = {}
        self._rows: dict[str, _Row] = {}
        #: participant key -> {(message key, position)}
        self._by_key: dict[str, set[tuple[str, int]]] = {}
        self._decisions: dict[str, dict[str, StoredDecision]] = {}
        self._contacts: dict[str, Contact] = {}
        self._companies: dict[str, Company] = {}
        self._suppressed: dict[str, Suppression] = {}

    def __repr__(self) -> str:
        return (
            f"<InMemoryStore: {len(self._rows)} messages, {len(self._contacts)} contacts, "
            f"{len(self._mailboxes)} mailboxes>"
        )

    # --- Progress -----------------------------------------------------------------------------

    def load_state(self, mailbox_id: str) -> MailboxState:
        return self._states.get(mailbox_id, MailboxState())

    def save_state(self, mailbox_id: str, state: MailboxState) -> None:
        self._states[mailbox_id] = state

    # --- Writing a batch ------------------------------------------------------------------------

    def apply_batch(self, batch: BatchResult) -> None:
        mailbox = batch.mailbox
        self._mailboxes[mailbox.id] = mailbox
        for company in batch.companies:
            self._companies.setdefault(company.domain, company)
        for contact in batch.contacts:
            self._contacts.setdefault(contact.id, contact)
        decisions = self._decisions.setdefault(mailbox.id, {})
        # Skipped copies first, synced ones after: a synced copy wins whatever the order.
        for item in batch.items:
            if not item.decision.synced:
                stored = decisions.get(item.message.key)
                if stored is None or not stored.decision.synced:
                    decisions[item.message.key] = self._decision(mailbox, item)
        for item in batch.items:
            if item.decision.synced:
                decisions[item.message.key] = self._decision(mailbox, item)
                self._hold(mailbox.id, item)
        self._relink(batch.owners)
        for item in batch.removed:
            decisions[item.message.key] = self._decision(mailbox, item)
            self._unlink(mailbox.id, item.message.key)
        self._states[mailbox.id] = MailboxState(batch.cursor, batch.state)

    @staticmethod
    def _decision(mailbox: Mailbox, item: BatchItem) -> StoredDecision:
        return StoredDecision(mailbox.id, item.message.key, item.decision, item.location)

    def _hold(self, mailbox_id: str, item: BatchItem) -> None:
        key = item.message.key
        row = self._rows.get(key)
        if row is None:
            participants = {link.position: (link.key, link.contact_id) for link in item.links}
            row = self._rows[key] = _Row(item.message, participants)
            for position, (participant_key, _) in participants.items():
                self._by_key.setdefault(participant_key, set()).add((key, position))
        row.links[mailbox_id] = item.decision.direction

    def _unlink(self, mailbox_id: str, key: str) -> None:
        row = self._rows.get(key)
        if row is None:
            return
        row.links.pop(mailbox_id, None)
        if row.links:
            return
        del self._rows[key]
        for position, (participant_key, _) in row.participants.items():
            places = self._by_key[participant_key]
            places.discard((key, position))
            if not places:
                del self._by_key[participant_key]

    def _relink(self, owners: Iterable[OwnerChange]) -> None:
        for change in owners:
            for message_key, position in self._by_key.get(change.key, ()):
                self._rows[message_key].participants[position] = (change.key, change.new)

    # --- Contacts -----------------------------------------------------------------------------

    def contact_index(self, canonicalization: Canonicalization | None = None) -> ContactIndex:
        return ContactIndex(
            self._contacts.values(),
            canonicalization=canonicalization,
            suppressed=self._suppressed.values(),
        )

    def apply_contact_change(self, change: ContactChange) -> None:
        for company in change.companies:
            self._companies.setdefault(company.domain, company)
        for contact in change.saved:
            self._contacts[contact.id] = contact
        self._relink(change.owners)
        for contact_id in change.destroyed:
            self._contacts.pop(contact_id, None)
            for row in self._rows.values():
                for position, (key, owner) in row.participants.items():
                    if owner == contact_id:
                        row.participants[position] = (key, None)
        for key in change.lifted:
            self._suppressed.pop(key, None)
        for record in change.suppressed:
            self._suppressed[record.key] = record

    def companies(self) -> tuple[Company, ...]:
        """Every stored company, ordered by domain."""
        return tuple(self._companies[d] for d in sorted(self._companies))

    # --- Reading ------------------------------------------------------------------------------

    def mailboxes(self) -> tuple[Mailbox, ...]:
        return tuple(self._mailboxes[m] for m in sorted(self._mailboxes))

    def decisions(self, mailbox_id: str) -> Iterator[StoredDecision]:
        decisions = self._decisions.get(mailbox_id, {})
        return iter([decisions[k] for k in sorted(decisions)])

    def mailbox_messages(self, mailbox_id: str) -> Iterator[StoredMessage]:
        keys = sorted(k for k, row in self._rows.items() if mailbox_id in row.links)
        return iter([self._stored(self._rows[k]) for k in keys])

    def messages_for_contact(self, contact_id: str) -> tuple[StoredMessage, ...]:
        return self._messages_of({contact_id})

    def messages_for_company(self, domain: str) -> tuple[StoredMessage, ...]:
        domain = domain.lower()
        ids = {c.id for c in self._contacts.values() if c.company_domain == domain}
        return self._messages_of(ids)

    def _messages_of(self, contact_ids: set[str]) -> tuple[StoredMessage, ...]:
        rows = [
            row
            for row in self._rows.values()
            if any(owner in contact_ids for _, owner in row.participants.values())
        ]
        rows.sort(key=lambda row: message_order(row.message))
        return tuple(self._stored(row) for row in rows)

    def _stored(self, row: _Row) -> StoredMessage:
        holdings = tuple(
            Holding(self._mailboxes[m], direction) for m, direction in sorted(row.links.items())
        )
        contacts = tuple(
            row.participants.get(i, ("", None))[1] for i in range(len(row.message.participants))
        )
        return StoredMessage(row.message, holdings, contacts)


class ListSource:
    """A `MessageSource` over messages in memory, for tests and examples.

    Cursors are ``"<generation>:<position>"``; `replace` starts a new generation, so the next
    fetch from an older cursor starts again from the beginning with ``Batch.reset`` set.
    `fail_next` makes the next fetch raise, to exercise back-off.
    """

    name: str

    def __init__(
        self, messages: Iterable[Message | SourceItem] = (), *, name: str = "list"
    ) -> None:
        self.name = name
        self._items: list[SourceItem] = []
        self._generation = 0
        self._errors: deque[SourceError] = deque()
        self.fetches = 0
        self.append(*messages)

    def append(self, *messages: Message | SourceItem) -> None:
        """Add messages at the end, as new mail arriving."""
        for value in messages:
            if isinstance(value, SourceItem):
                self._items.append(value)
            else:
                location = f"{self.name}#{len(self._items)}"
                self._items.append(SourceItem(location, None, built=value))

    def replace(self, messages: Iterable[Message | SourceItem]) -> None:
        """Replace every message, as a mailbox file rewritten underneath."""
        self._items = []
        self._generation += 1
        self.append(*messages)

    def fail_next(self, error: SourceError) -> None:
        """Make the next fetch raise *error* (then behave normally again)."""
        self._errors.append(error)

    def fetch(self, cursor: str | None, *, limit: int = 500) -> Batch:
        """Up to *limit* messages after *cursor*."""
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
        items = tuple(self._items[start:end])
        return Batch(items, f"{self._generation}:{end}", reset=reset, done=end >= len(self._items))


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
