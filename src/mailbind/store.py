"""The Store protocol and the records it takes and returns: what the sync engine needs of a store.

Adapters in `mailbind.stores` (SQLite) and `mailbind.testing` (in memory) implement it; the
engine, the command line and the backfills depend only on this module.

Invariants:
- Everything is kept per workspace (one organisation): every method takes ``workspace``, and
  no call on one workspace reads or changes another's rows. Mailbox ids, message keys, contacts,
  companies and suppressions are all per workspace.
- A store keeps each message once per workspace, under ``Message.key`` (its Message-ID and its
  content fingerprint, see `mailbind.identity`), complete, and one decision per *copy*: a
  mailbox's copy at one source location. A mailbox holds a message while one of its copies of
  it is synced; the message goes when no mailbox holds it. Redaction happens when someone else
  reads (`StoredMessage.seen_by`).
- `Store.apply_batch` is one atomic write: the batch's copies, messages, participant links, new
  contacts, re-links, copies gone at the source, the settings in force and the mailbox's cursor
  and sync state are all stored, or none is. Applying the same batch twice leaves the store as
  applying it once.
- A batch planned against contacts that changed since (`Store.contacts_version`) is refused
  with `StaleBatchError`, so a contact deleted, destroyed or suppressed by a user while a sync
  runs is never brought back or linked to by that sync: the engine plans the batch again.
- Participant links follow contacts: every contact change re-links exactly the identity keys
  whose owner changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple, Protocol, runtime_checkable

from .addresses import Address, Canonicalization
from .contacts import Contact, ContactIndex, OwnerChange, Suppression
from .domains import to_ascii_domain
from .errors import StoreError
from .messages import Direction, Flag, Message, SharingLevel
from .policy import Mailbox
from .redaction import redact
from .rules import Decision, Holding, visible_level
from .schedule import SyncState

__all__ = [
    "DEFAULT_WORKSPACE",
    "BatchItem",
    "BatchResult",
    "Company",
    "ContactChange",
    "CopyCount",
    "MailboxState",
    "ParticipantLink",
    "Recorded",
    "StaleBatchError",
    "Store",
    "StoredDecision",
    "StoredMessage",
    "company_domain_key",
    "holding_direction",
    "message_order",
    "sort_time",
]


#: The workspace of a store used by one organisation only.
DEFAULT_WORKSPACE = "default"


class StaleBatchError(StoreError):
    """A batch was planned against contacts that changed since: plan it again."""


@dataclass(frozen=True, slots=True)
class MailboxState:
    """Where a mailbox's sync stands: the source cursor and the schedule state."""

    #: The cursor of the last stored batch; None before the first one (or to re-sync from the
    #: beginning).
    cursor: str | None = None
    sync: SyncState = field(default_factory=SyncState)
    #: The token of the source's last `Listing` (see `MessageSource.listing`), or None.
    listing: str | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """Settings as a store recorded them: the value, its version and when it was set."""

    #: The encoded settings (`mailbind.codecs.encode_policy` / `encode_mailbox`).
    settings: str
    #: 1 for the first settings recorded, one more for each change.
    version: int
    set_at: datetime | None


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
    #: One link per readable participant when the message is synced; empty otherwise. A
    #: synced item's links replace the message's stored links.
    links: tuple[ParticipantLink, ...] = ()
    #: Where this copy stands in the source (`SourceItem.location`): the store keeps one
    #: decision per mailbox and location, replaced by the newest.
    location: str = ""
    #: What the source said of this copy (`SourceItem.flags`), kept with its decision so that
    #: changed settings decide the copy again exactly.
    flags: frozenset[Flag] = frozenset()


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
    #: Locations of this mailbox's copies that are gone from the source: their decisions go,
    #: and a message goes when no mailbox holds a synced copy of it any more.
    gone: tuple[str, ...] = ()
    #: The `Store.contacts_version` the batch was planned against; None: not checked. A store
    #: refuses the batch with `StaleBatchError` when its contacts changed since.
    contacts_version: int | None = None
    #: The workspace policy in force (`mailbind.codecs.encode_policy`), recorded with
    #: ``mailbox``'s settings when either differs from the recorded one; None: not recorded.
    policy: str | None = None
    #: When the settings in force were set (recorded with a changed setting).
    at: datetime | None = None
    #: The token of the source's listing to store in the mailbox's state; None: keep it.
    listing: str | None = None
    #: Levels to give every synced copy of the mailbox in a direction, before ``items`` are
    #: stored: a change of the mailbox's sharing levels alone, applied without reading a copy.
    levels: tuple[tuple[Direction, SharingLevel], ...] = ()


class CopyCount(NamedTuple):
    """How many of a mailbox's copies have one direction, level and synced state."""

    direction: Direction
    level: SharingLevel
    synced: bool
    copies: int


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
    """The decision a mailbox made about one copy of a message, as stored."""

    mailbox_id: str
    key: str
    decision: Decision
    location: str = ""
    #: What the source said of this copy (`SourceItem.flags`).
    flags: frozenset[Flag] = frozenset()


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
    """What the engine needs of a store. See ``docs/adapters.md`` for the full contract.

    Every method takes the workspace it works in as the keyword argument ``workspace``.
    """

    def load_state(self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> MailboxState:
        """The mailbox's cursor and sync state (the defaults for a mailbox never seen)."""
        ...

    def save_state(
        self, mailbox_id: str, state: MailboxState, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        """Store the mailbox's cursor and sync state outside a batch (a failure, a reconnect)."""
        ...

    def apply_batch(self, batch: BatchResult, *, workspace: str = DEFAULT_WORKSPACE) -> None:
        """Store everything in *batch*, with its cursor and state, in one transaction."""
        ...

    def contacts_version(self, *, workspace: str = DEFAULT_WORKSPACE) -> int:
        """A number that grows with every contact change stored in the workspace."""
        ...

    def contact_index(
        self,
        canonicalization: Canonicalization | None = None,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> ContactIndex:
        """A `ContactIndex` over every stored contact and suppression."""
        ...

    def apply_contact_change(
        self, change: ContactChange, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        """Store *change* and re-link its changed keys, in one transaction."""
        ...

    def recorded_policy(self, *, workspace: str = DEFAULT_WORKSPACE) -> Recorded | None:
        """The workspace policy the last batch recorded, or None."""
        ...

    def recorded_mailbox(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> Recorded | None:
        """The mailbox's settings as the last batch recorded them, or None."""
        ...

    def workspaces(self) -> tuple[str, ...]:
        """Every workspace that holds a mailbox, ordered."""
        ...

    def companies(self, *, workspace: str = DEFAULT_WORKSPACE) -> tuple[Company, ...]:
        """Every stored company, ordered by domain."""
        ...

    def mailboxes(self, *, workspace: str = DEFAULT_WORKSPACE) -> tuple[Mailbox, ...]:
        """Every mailbox that has stored a batch, ordered by id."""
        ...

    def decisions(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> Iterator[StoredDecision]:
        """Every copy's decision, synced or not, ordered by key, then location."""
        ...

    def copy_counts(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[CopyCount, ...]:
        """How many copies the mailbox has by direction, level and synced state (no zero
        counts), ordered (by direction, level, then synced)."""
        ...

    def locations(self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> dict[str, str]:
        """Where each of the mailbox's copies stands, synced or not: location -> message key."""
        ...

    def mailbox_messages(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> Iterator[StoredMessage]:
        """Every message the mailbox holds, ordered by key."""
        ...

    def messages_for_contact(
        self, contact_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredMessage, ...]:
        """Messages with a participant linked to the contact, oldest first."""
        ...

    def messages_for_company(
        self, domain: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredMessage, ...]:
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


def company_domain_key(domain: str) -> str:
    """*domain*, as a caller names a company, in the form contacts hold it.

    Lower-case IDNA ASCII without white space, a leading ``@`` or a trailing dot:
    ``Globex.EXAMPLE``, ``@globex.example.`` and ``globex.example`` are one company, and so
    are the Unicode and punycode forms of one name. Text that is no domain name is only
    stripped and lower-cased.
    """
    text = domain.strip().removeprefix("@").strip()
    return to_ascii_domain(text) or text.lower()


def message_order(message: Message) -> tuple[bool, float, str]:
    """The order stores return messages in: oldest first, undated last, then by key."""
    when = sort_time(message)
    return (when is None, when or 0.0, message.key)


def holding_direction(mailbox: Mailbox, directions: Iterable[Direction]) -> Direction:
    """The direction a mailbox holds a message in, given the directions of its synced copies.

    A message a mailbox holds twice (received, and filed as sent) is shown to others at the
    less permissive of the two levels: when in doubt, withhold.
    """
    return min(set(directions), key=lambda d: (mailbox.level_for(d), d is Direction.OUTGOING))
