"""The sync rules: which messages belong in the CRM, in which direction, and who may read them.

Invariants:
- Every function here is pure: values in, values out; no clock, no environment, no I/O.
- `decide` returns *every* reason that applied, in the order of `Reason`, so a user can always
  be told why; a message is synced exactly when no excluding reason applied.
- The same predicates serve importing, `reevaluate` and explaining.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from .addresses import Address
from .messages import Direction, Message, SharingLevel
from .policy import Mailbox, Policy

__all__ = [
    "Change",
    "Decision",
    "Holding",
    "Reason",
    "Reevaluation",
    "decide",
    "direction",
    "is_bulk",
    "is_colleague",
    "is_internal",
    "reevaluate",
    "visible_level",
]


class Reason(StrEnum):
    """Why a message was or was not synced: stable codes, safe to store and show."""

    # Reasons that keep a message out of the CRM.
    INTERNAL = "internal"
    BLOCKLISTED = "blocklisted"
    GROUP_SENDER = "group_sender"
    BULK = "bulk"
    DRAFT = "draft"
    SPAM = "spam"
    TRASH = "trash"
    # Reasons that explain why a message is synced.
    EXTERNAL = "external"
    INTERNAL_ALLOWED = "internal_allowed"
    OWNER_ON_FREE_PROVIDER = "owner_on_free_provider"
    UNREADABLE_PARTICIPANT = "unreadable_participant"

    @property
    def excludes(self) -> bool:
        """True when this reason keeps the message out of the CRM."""
        return self in _EXCLUDING

    @property
    def description(self) -> str:
        """One sentence for a person."""
        return _DESCRIPTIONS[self]


_EXCLUDING = frozenset(
    {
        Reason.INTERNAL,
        Reason.BLOCKLISTED,
        Reason.GROUP_SENDER,
        Reason.BULK,
        Reason.DRAFT,
        Reason.SPAM,
        Reason.TRASH,
    }
)

_DESCRIPTIONS = {
    Reason.INTERNAL: "Every participant is a colleague.",
    Reason.BLOCKLISTED: "A participant is on the blocklist.",
    Reason.GROUP_SENDER: "The sender is a role or automated address.",
    Reason.BULK: "The message carries mailing-list or bulk headers.",
    Reason.DRAFT: "The message is a draft.",
    Reason.SPAM: "The source files the message as spam.",
    Reason.TRASH: "The source files the message as trash.",
    Reason.EXTERNAL: "At least one participant is outside the organisation.",
    Reason.INTERNAL_ALLOWED: "Every participant is a colleague, and internal mail syncs.",
    Reason.OWNER_ON_FREE_PROVIDER: "The owner's address is on a free provider: all mail syncs.",
    Reason.UNREADABLE_PARTICIPANT: "A participant's address could not be read.",
}


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a message syncs into one mailbox, and every reason why."""

    synced: bool
    reasons: tuple[Reason, ...]
    direction: Direction
    #: What others may read of the message in this mailbox.
    level: SharingLevel


@dataclass(frozen=True, slots=True)
class Holding:
    """One mailbox holding a message, with the direction the message has there."""

    mailbox: Mailbox
    direction: Direction


@dataclass(frozen=True, slots=True)
class Change:
    """A stored message whose decision differs under a new policy."""

    message: Message
    before: Decision
    after: Decision


@dataclass(frozen=True, slots=True)
class Reevaluation:
    """The exact effect of a policy change on one mailbox's messages."""

    #: Synced before, excluded now: remove from the mailbox.
    remove: tuple[Change, ...]
    #: Excluded before, synced now: bring back.
    restore: tuple[Change, ...]
    #: How many messages keep their synced-or-not state.
    unchanged: int


def direction(message: Message, mailbox: Mailbox) -> Direction:
    raise NotImplementedError


def is_bulk(message: Message) -> bool:
    raise NotImplementedError


def is_colleague(address: Address | None, policy: Policy) -> bool:
    raise NotImplementedError


def is_internal(message: Message, mailbox: Mailbox, policy: Policy) -> bool:
    raise NotImplementedError


def decide(message: Message, mailbox: Mailbox, policy: Policy) -> Decision:
    raise NotImplementedError


def visible_level(viewer: Address | str, holdings: Iterable[Holding]) -> SharingLevel:
    raise NotImplementedError


def reevaluate(
    messages: Iterable[Message], mailbox: Mailbox, old_policy: Policy, new_policy: Policy
) -> Reevaluation:
    raise NotImplementedError
