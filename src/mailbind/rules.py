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
from typing import Generic, TypeVar

from ._kinds import Reason
from .addresses import Address, Role, parse_address
from .errors import ArgumentTypeError, InvalidAddressError, PolicyError, wrong_type
from .events import Event
from .judge import Decision, decide_with_judge, header_facts, judge_for, tables_for
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


#: Stands for a policy `_check_arguments` is not to check.
_UNCHECKED = object()


def _check_arguments(
    call: str,
    message: object,
    mailbox: object,
    policy: object = _UNCHECKED,
    *,
    plural: bool = False,
) -> None:
    """Raise `ArgumentTypeError` naming the first argument of *call* of a wrong type.

    The rules read their arguments without asking their types, so this runs only once reading
    them failed (or, for the functions that read many messages, once a call). A *policy* left
    out is not checked; *plural* says *message* is one of the messages a call was given.
    """
    if not isinstance(message, Message | Event):
        param, expected = ("messages", "Messages or Events") if plural else ("message", "")
        raise wrong_type(
            call, param, expected or "a Message or an Event", message, ArgumentTypeError
        )
    if not isinstance(mailbox, Mailbox):
        raise wrong_type(call, "mailbox", "a Mailbox", mailbox, ArgumentTypeError)
    if policy is not _UNCHECKED and not isinstance(policy, Policy):
        raise wrong_type(call, "policy", "a Policy", policy, ArgumentTypeError)


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
    try:
        return judge_for(policy, mailbox).is_internal(message)
    except (AttributeError, TypeError):
        _check_arguments("is_internal()", message, mailbox, policy)
        raise


def direction(
    message: Message | Event, mailbox: Mailbox, policy: Policy | None = None
) -> Direction:
    """OUTGOING when the owner sent the message, INCOMING otherwise (RULES 3.1).

    The owner sent it when a From address is the owner's or an alias, or the source files it
    as sent (`Flag.SENT`, or the Takeout label ``Sent``). Addresses are compared by identity
    key, or under *policy*'s canonicalisation when a policy is given (as `decide` does).
    """
    if (
        message.__class__ is not Message
        or mailbox.__class__ is not Mailbox
        or (policy is not None and policy.__class__ is not Policy)
    ):
        _check_arguments("direction()", message, mailbox, _UNCHECKED if policy is None else policy)
    if policy is not None:
        return judge_for(policy, mailbox).direction(message)
    if Flag.SENT in header_facts(message)[1]:
        return Direction.OUTGOING
    outgoing = any(
        p.role is Role.FROM and p.address is not None and mailbox.owns(p.address)
        for p in message.participants
    )
    return Direction.OUTGOING if outgoing else Direction.INCOMING


def decide(message: Message | Event, mailbox: Mailbox, policy: Policy) -> Decision:
    """Whether *message* syncs into *mailbox* under *policy*, with every reason that applied.

    A pure function of its arguments: the same inputs always give the same decision.
    """
    try:
        return decide_with_judge(message, mailbox, policy)
    except (AttributeError, TypeError):
        _check_arguments("decide()", message, mailbox, policy)
        raise


def visible_level(viewer: Address | str, holdings: Iterable[Holding]) -> SharingLevel:
    """How much of a message *viewer* may read, given every mailbox that holds it (RULES 4.3).

    The owner (or an alias) of any holding mailbox sees EVERYTHING; anyone else sees the most
    permissive level among the holdings, each taken for the message's direction there.
    Addresses are compared by identity key. A message no mailbox holds is visible to nobody:
    no holdings is a `PolicyError`.
    """
    if not isinstance(viewer, Address | str):
        raise wrong_type("visible_level()", "viewer", "an address", viewer, ArgumentTypeError)
    viewer_address = _as_address(viewer, "The viewer")
    best: SharingLevel | None = None
    for holding in _holdings(holdings):
        if holding.mailbox.owns(viewer_address):
            return SharingLevel.EVERYTHING
        level = holding.mailbox.level_for(holding.direction)
        if best is None or level > best:
            best = level
    if best is None:
        raise PolicyError("A message held by no mailbox has no visible level: give a holding.")
    return best


def _holdings(holdings: Iterable[Holding]) -> Iterable[Holding]:
    """*holdings*, each checked to be a `Holding` (`visible_level` reads them)."""
    if not isinstance(holdings, Iterable) or isinstance(holdings, Holding):
        raise wrong_type("visible_level()", "holdings", "Holdings", holdings, ArgumentTypeError)
    for holding in holdings:
        if holding.__class__ is not Holding and not isinstance(holding, Holding):
            raise wrong_type("visible_level()", "holdings", "Holdings", holding, ArgumentTypeError)
        yield holding


def reevaluate(
    messages: Iterable[Mail], mailbox: Mailbox, old_policy: Policy, new_policy: Policy
) -> Reevaluation[Mail]:
    """The exact effect on *mailbox* of changing *old_policy* to *new_policy*.

    Each message is decided under both policies with `decide`: synced before and not now means
    remove; the reverse means restore. Messages are read once, in order.
    """
    if not isinstance(mailbox, Mailbox):
        raise wrong_type("reevaluate()", "mailbox", "a Mailbox", mailbox, ArgumentTypeError)
    for name, policy in (("old_policy", old_policy), ("new_policy", new_policy)):
        if not isinstance(policy, Policy):
            raise wrong_type("reevaluate()", name, "a Policy", policy, ArgumentTypeError)
    if not isinstance(messages, Iterable):
        raise wrong_type(
            "reevaluate()", "messages", "Messages or Events", messages, ArgumentTypeError
        )
    remove: list[Change[Mail]] = []
    restore: list[Change[Mail]] = []
    unchanged = 0
    for message in messages:
        if message.__class__ is not Message and message.__class__ is not Event:
            _check_arguments("reevaluate()", message, mailbox, plural=True)
        before = decide(message, mailbox, old_policy)
        after = decide(message, mailbox, new_policy)
        if before.synced == after.synced:
            unchanged += 1
        elif before.synced:
            remove.append(Change(message, before, after))
        else:
            restore.append(Change(message, before, after))
    return Reevaluation(tuple(remove), tuple(restore), unchanged)
