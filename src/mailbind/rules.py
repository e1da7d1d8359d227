"""The sync rules: which messages belong in the CRM, in which direction, and who may read them.

Invariants:
- Every function here is pure: values in, values out; no clock, no environment, no I/O.
- `decide` returns *every* reason that applied, in the order of `Reason`, so a user can always
  be told why; a message is synced exactly when no excluding reason applied.
- The same predicates serve importing, `reevaluate` and explaining, and calendar events as
  well as messages: an `Event` offers the same participants, flags and headers.
- Speed without changing an answer, in one place: every function here asks a
  `mailbind.judge.Judge`, which reads a message in one pass into a few bits and remembers
  what a policy says of each address and participant and the decisions it made. The values
  the rules read (`Policy`, `Mailbox`, `Message`, `Participant`) hold no memo.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from . import judge as _bits
from .addresses import Address, Role, parse_address
from .errors import InvalidAddressError, PolicyError
from .events import Event
from .judge import header_facts, is_internal_bits, judge_for, tables_for
from .messages import Direction, Flag, Message, SharingLevel
from .policy import Mailbox, Policy

__all__ = [
    "Change",
    "Decision",
    "Holding",
    "Reason",
    "Reevaluation",
    "decide",
    "direction",
    "is_blocked",
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
    NO_PARTICIPANTS = "no_participants"

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
    Reason.NO_PARTICIPANTS: "The message names no sender and no recipient.",
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


#: What the rules read: a message or a calendar event.
Mail = TypeVar("Mail", bound=Message | Event)


@dataclass(frozen=True, slots=True)
class Change(Generic[Mail]):
    """A stored message (or event) whose decision differs under a new policy."""

    message: Mail
    before: Decision
    after: Decision


@dataclass(frozen=True, slots=True)
class Reevaluation(Generic[Mail]):
    """The exact effect of a policy change on one mailbox's messages (or events)."""

    #: Synced before, excluded now: remove from the mailbox.
    remove: tuple[Change[Mail], ...]
    #: Excluded before, synced now: bring back.
    restore: tuple[Change[Mail], ...]
    #: How many messages keep their synced-or-not state.
    unchanged: int


def is_bulk(message: Message | Event) -> bool:
    """True when the message carries mailing-list or bulk headers (RULES 2.4).

    ``List-Id`` or ``List-Unsubscribe`` with a value, ``Precedence: bulk``, ``list`` or
    ``junk``, or ``Auto-Submitted`` with any value but ``no``; case, whitespace, comments and
    parameters do not matter.
    """
    return header_facts(message)[0]


def _as_address(value: Address | str, what: str) -> Address:
    if isinstance(value, Address):
        return value
    try:
        return parse_address(value)
    except InvalidAddressError:
        raise InvalidAddressError(f"{what} is not a readable address: {value!r}.") from None


# --- The predicates ------------------------------------------------------------------------
# Each asks a `Judge` (from `judge_for`, the one table of judges), which reads a message once
# into bits; `decide` and the predicates read the same bits, so no rule is written twice.


def is_colleague(address: Address | str | None, policy: Policy) -> bool:
    """True when *address* belongs to the organisation (RULES 2.1).

    Its registrable domain is one of the organisation's (subdomains count), or it is a named
    member; a named external never is, nor is an unreadable address (None). Only
    registrable-domain equality counts: ``acme.com.evil.io`` is not ``acme.com``.
    """
    if address is None:
        return False
    return tables_for(policy).facts_of(_as_address(address, "The address"))[1]


def is_blocked(address: Address | str | None, policy: Policy) -> bool:
    """True when *address* is on the policy's blocklist, itself or by one of its domains."""
    if address is None:
        return False
    return tables_for(policy).facts_of(_as_address(address, "The address"))[2]


def is_internal(message: Message | Event, mailbox: Mailbox, policy: Policy) -> bool:
    """True when every From, To, Cc and Bcc participant is a colleague (RULES 3.2).

    An unreadable participant is not a colleague; a message naming nobody at all is not
    internal; when the owner's address is on a free provider, no message is internal.
    """
    return judge_for(policy, mailbox).is_internal(message)


def direction(
    message: Message | Event, mailbox: Mailbox, policy: Policy | None = None
) -> Direction:
    """OUTGOING when the owner sent the message, INCOMING otherwise (RULES 3.1).

    The owner sent it when a From address is the owner's or an alias, or the source files it
    as sent (`Flag.SENT`, or the Takeout label ``Sent``). Addresses are compared by identity
    key, or under *policy*'s canonicalisation when a policy is given (as `decide` does).
    """
    if policy is not None:
        return judge_for(policy, mailbox).direction(message)
    if Flag.SENT in header_facts(message)[1]:
        return Direction.OUTGOING
    outgoing = any(
        p.role is Role.FROM and p.address is not None and mailbox.owns(p.address)
        for p in message.participants
    )
    return Direction.OUTGOING if outgoing else Direction.INCOMING


def _reasons(key: int) -> tuple[Reason, ...]:
    """The reasons, in the order of `Reason`, for what a judge's bits found and the switches."""
    internal = is_internal_bits(key)
    group_rule = bool(key & _bits.EXCLUDE_GROUP) and not key & _bits.OUTGOING
    sync_internal = bool(key & _bits.SYNC_INTERNAL)
    applies = {
        Reason.INTERNAL: internal and not sync_internal,
        Reason.BLOCKLISTED: bool(key & _bits.BLOCKED),
        Reason.GROUP_SENDER: group_rule and bool(key & _bits.IMPERSONAL),
        Reason.BULK: group_rule and bool(key & _bits.BULK),
        Reason.DRAFT: bool(key & _bits.DRAFT),
        Reason.SPAM: bool(key & _bits.SPAM),
        Reason.TRASH: bool(key & _bits.TRASH),
        Reason.EXTERNAL: bool(key & _bits.EXTERNAL),
        Reason.INTERNAL_ALLOWED: internal and sync_internal,
        Reason.OWNER_ON_FREE_PROVIDER: bool(key & _bits.OWNER_FREE),
        Reason.UNREADABLE_PARTICIPANT: bool(key & _bits.UNREADABLE),
        Reason.NO_PARTICIPANTS: not key & _bits.PRESENT,
    }
    return tuple(reason for reason in Reason if applies[reason])


def _decision(key: int, level: SharingLevel) -> Decision:
    """The decision for what a judge's bits found, at the level of the message's direction."""
    reasons = _reasons(key)
    return Decision(
        synced=not any(reason in _EXCLUDING for reason in reasons),
        reasons=reasons,
        direction=Direction.OUTGOING if key & _bits.OUTGOING else Direction.INCOMING,
        level=level,
    )


def decide(message: Message | Event, mailbox: Mailbox, policy: Policy) -> Decision:
    """Whether *message* syncs into *mailbox* under *policy*, with every reason that applied.

    A pure function of its arguments: the same inputs always give the same decision.
    """
    return judge_for(policy, mailbox).decide(message)


def visible_level(viewer: Address | str, holdings: Iterable[Holding]) -> SharingLevel:
    """How much of a message *viewer* may read, given every mailbox that holds it (RULES 4.3).

    The owner (or an alias) of any holding mailbox sees EVERYTHING; anyone else sees the most
    permissive level among the holdings, each taken for the message's direction there.
    Addresses are compared by identity key. A message no mailbox holds is visible to nobody:
    no holdings is a `PolicyError`.
    """
    viewer_address = _as_address(viewer, "The viewer")
    best: SharingLevel | None = None
    for holding in holdings:
        if holding.mailbox.owns(viewer_address):
            return SharingLevel.EVERYTHING
        level = holding.mailbox.level_for(holding.direction)
        if best is None or level > best:
            best = level
    if best is None:
        raise PolicyError("A message held by no mailbox has no visible level: give a holding.")
    return best


def reevaluate(
    messages: Iterable[Mail], mailbox: Mailbox, old_policy: Policy, new_policy: Policy
) -> Reevaluation[Mail]:
    """The exact effect on *mailbox* of changing *old_policy* to *new_policy*.

    Each message is decided under both policies with `decide`: synced before and not now means
    remove; the reverse means restore. Messages are read once, in order.
    """
    remove: list[Change[Mail]] = []
    restore: list[Change[Mail]] = []
    unchanged = 0
    for message in messages:
        before = decide(message, mailbox, old_policy)
        after = decide(message, mailbox, new_policy)
        if before.synced == after.synced:
            unchanged += 1
        elif before.synced:
            remove.append(Change(message, before, after))
        else:
            restore.append(Change(message, before, after))
    return Reevaluation(tuple(remove), tuple(restore), unchanged)
