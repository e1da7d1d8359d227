"""The Store protocol and the records it takes and returns: what the sync engine needs of a store.

Adapters in `mailbind.stores` (SQLite) and `mailbind.testing` (in memory) implement it; the
engine, the command line and the backfills depend only on this module.

Invariants:
- A store keeps each message once, under ``Message.key``, complete (the owner's copy), with one
  link per mailbox that holds it (direction, sharing level); redaction happens when someone
  else reads (`StoredMessage.seen_by`).
- `Store.apply_batch` is one atomic write: the batch's messages, decisions, participant links,
  new contacts, re-links and the mailbox's cursor and sync state are all stored, or none is.
- A decision is kept for every message a mailbox saw, synced or not, with its reasons; a message
  that is not synced keeps no content. When a mailbox sees several copies of one message, a
  synced copy wins, whatever the order. Only ``BatchResult.removed`` (a policy change) takes a
  link away; the message itself goes when no mailbox holds it any more.
- Applying the same batch twice leaves the store as applying it once: a re-sync is idempotent.
- Participant links follow contacts: every contact change re-links exactly the identity keys
  whose owner changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from typing import NamedTuple, Protocol, runtime_checkable

from .addresses import Address, Canonicalization
from .contacts import Contact, ContactIndex, OwnerChange, Suppression
from .messages import Message, SharingLevel
from .policy import Mailbox
from .redaction import redact
from .rules import Decision, Holding, visible_level
from .schedule import SyncState

__all__ = [
    "BatchItem",
    "BatchResult",
    "Company",
    "ContactChange",
    "MailboxState",
    "ParticipantLink",
    "Store",
    "StoredDecision",
    "StoredMessage",
    "message_order",
    "sort_time",
]


@dataclass(frozen=True, slots=True)
class MailboxState:
    """Where a mailbox's sync stands: the source cursor and the schedule state."""

    #: The cursor of the last stored batch; None before the first one (or to re-sync from the
    #: beginning).
    cursor: str | None = None
    sync: SyncState = field(default_factory=SyncState)


@dataclass(frozen=True, slots=True)
class Company:
    """A company, known by its registrable domain (ASCII)."""

    domain: str
    name: str


class ParticipantLink(NamedTuple):
    """One readable participant of a message and the contact it belongs to.

    A named tuple rather than a dataclass: a backfill makes millions of these.
    """

    #: The participant's position in ``Message.participants``.
    position: int
    #: The key contacts are resolved under (the policy's canonicalisation of the address).
    key: str
    #: The contact the participant belongs to, or None.
    contact_id: str | None


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One message a mailbox saw, with its decision and, when synced, its participant links."""

    message: Message
    decision: Decision
    #: One link per readable participant when the message is synced; empty otherwise.
    links: tuple[ParticipantLink, ...] = ()
    #: Where the message stands in the source (for reports).
    location: str = ""


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Everything one batch changes, applied by `Store.apply_batch` in one transaction."""

    mailbox: Mailbox
    #: The cursor to store with the batch (None: the next pass starts from the beginning).
    cursor: str | None
    #: The mailbox's sync state to store with the batch.
    state: SyncState
    items: tuple[BatchItem, ...] = ()
    #: Contacts created by this batch (ids derived from their address, so re-creating one is
    #: a no-op).
    contacts: tuple[Contact, ...] = ()
    companies: tuple[Company, ...] = ()
    #: Keys whose owner changed because of the new contacts: stored participants with these
    #: keys are re-linked to ``new``.
    owners: tuple[OwnerChange, ...] = ()
    #: Messages this mailbox no longer holds (a policy change), each with its new decision: the
    #: mailbox's link goes, the decision is stored, and the message goes when no mailbox holds it.
    removed: tuple[BatchItem, ...] = ()


@dataclass(frozen=True, slots=True)
class ContactChange:
    """One change to contacts (create, edit, soft-delete, restore, destroy, suppress)."""

    #: Contacts created or changed, as they are now (soft-deleted ones included).
    saved: tuple[Contact, ...] = ()
    #: Ids of contacts destroyed for good.
    destroyed: tuple[str, ...] = ()
    #: Keys whose owner changed: stored participants with these keys are re-linked to ``new``.
    owners: tuple[OwnerChange, ...] = ()
    #: Addresses newly suppressed (never created automatically again).
    suppressed: tuple[Suppression, ...] = ()
    #: Keys whose suppression was lifted.
    lifted: tuple[str, ...] = ()
    companies: tuple[Company, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """The decision a mailbox made about a message, as stored."""

    mailbox_id: str
    key: str
    decision: Decision
    location: str = ""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A stored message (complete), the mailboxes holding it, and its participants' contacts."""

    message: Message
    holdings: tuple[Holding, ...]
    #: The contact of each participant, aligned with ``message.participants`` (None: no contact
    #: or unreadable).
    contacts: tuple[str | None, ...]

    def level_for(self, viewer: Address | str) -> SharingLevel:
        """How much of the message *viewer* may read."""
        return visible_level(viewer, self.holdings)

    def seen_by(self, viewer: Address | str) -> Message:
        """The message as *viewer* may read it: redacted to their visible level."""
        return redact(self.message, self.level_for(viewer))


@runtime_checkable
class Store(Protocol):
    """What the sync engine needs of a store. See ``docs/adapters.md`` for the full contract."""

    def load_state(self, mailbox_id: str) -> MailboxState:
        """The mailbox's cursor and sync state (the defaults for a mailbox never seen)."""
        ...

    def save_state(self, mailbox_id: str, state: MailboxState) -> None:
        """Store the mailbox's cursor and sync state outside a batch (a failure, a reconnect)."""
        ...

    def apply_batch(self, batch: BatchResult) -> None:
        """Store everything in *batch*, with its cursor and state, in one transaction."""
        ...

    def contact_index(self, canonicalization: Canonicalization | None = None) -> ContactIndex:
        """A `ContactIndex` over every stored contact and suppression."""
        ...

    def apply_contact_change(self, change: ContactChange) -> None:
        """Store *change* and re-link its changed keys, in one transaction."""
        ...

    def companies(self) -> tuple[Company, ...]:
        """Every stored company, ordered by domain."""
        ...

    def mailboxes(self) -> tuple[Mailbox, ...]:
        """Every mailbox that has stored a batch, ordered by id."""
        ...

    def decisions(self, mailbox_id: str) -> Iterator[StoredDecision]:
        """Every decision the mailbox made, synced or not, ordered by key."""
        ...

    def mailbox_messages(self, mailbox_id: str) -> Iterator[StoredMessage]:
        """Every message the mailbox holds, ordered by key."""
        ...

    def messages_for_contact(self, contact_id: str) -> tuple[StoredMessage, ...]:
        """Messages with a participant linked to the contact, oldest first."""
        ...

    def messages_for_company(self, domain: str) -> tuple[StoredMessage, ...]:
        """Messages with a participant linked to a contact of the company, oldest first."""
        ...


def sort_time(message: Message) -> float | None:
    """When *message* was sent, as POSIX seconds (a naive time read as UTC), or None."""
    sent = message.sent_at
    if sent is None:
        return None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    return sent.timestamp()


def message_order(message: Message) -> tuple[bool, float, str]:
    """The order stores return messages in: oldest first, undated last, then by key."""
    when = sort_time(message)
    return (when is None, when or 0.0, message.key)
