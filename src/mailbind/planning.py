"""Automatic contact creation: which new contacts synced mail calls for (RULES 6).

Invariants:
- Only messages (and events) that sync into the mailbox, as `decide` says, can propose a
  contact; every participant that does not lead to a proposal is reported once, by identity
  key, with the reason code that kept it out.
- Never proposed: an unreadable address, the owner or an alias, a colleague, an impersonal
  address, a free-provider address (unless the mailbox allows them), a suppressed key, or a key
  that already resolves to a contact (soft-deleted ones included).
- A proposal's company is its address's registrable domain, but never a free provider's, nor an
  institution's when the policy says institutions are no companies
  (``Policy.institutions_as_companies``).
- One proposal per identity key (after the policy's canonicalisation). The plan is a pure
  function of the *set* of messages: their order never changes it.
- The index and the policy must compare addresses alike: a different canonicalisation is a
  `ContactError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from .addresses import Address, Participant, Role
from .contacts import Contact, ContactIndex
from .errors import ArgumentTypeError, ContactError, wrong_type
from .events import Event
from .messages import Direction, Message
from .names import company_name, name_from_display, name_from_local
from .policy import ContactScope, Mailbox, Policy
from .providers import is_free_provider, is_impersonal, is_institution
from .rules import Decision, decide, is_colleague

__all__ = [
    "ContactPlan",
    "NewContact",
    "SkipReason",
    "Skipped",
    "auto_contact_id",
    "plan_contacts",
]


class SkipReason(StrEnum):
    """Why a participant did not become a new contact: stable codes, safe to store and show.

    When one address has several reasons across messages, the plan reports the first in this
    order.
    """

    DISABLED = "disabled"
    UNREADABLE = "unreadable"
    SELF = "self"
    COLLEAGUE = "colleague"
    IMPERSONAL = "impersonal"
    FREE_PROVIDER = "free_provider"
    SUPPRESSED = "suppressed"
    ALREADY_KNOWN = "already_known"
    OUTSIDE_SCOPE = "outside_scope"
    EVENT_CANCELLED = "event_cancelled"
    #: Given by `mailbind.calendars.plan_events` alone: private events create no contacts.
    EVENT_PRIVATE = "event_private"
    #: Given by `mailbind.calendars.plan_events` alone: nor do events over the attendee limit.
    TOO_MANY_ATTENDEES = "too_many_attendees"
    MESSAGE_NOT_SYNCED = "message_not_synced"

    @property
    def description(self) -> str:
        """One sentence for a person."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    SkipReason.DISABLED: "The mailbox does not create contacts automatically.",
    SkipReason.UNREADABLE: "The address could not be read.",
    SkipReason.SELF: "The address is the mailbox owner's or one of the aliases.",
    SkipReason.COLLEAGUE: "The address belongs to a colleague.",
    SkipReason.IMPERSONAL: "The address is a role or automated address.",
    SkipReason.FREE_PROVIDER: "The address is on a free mail provider, which the mailbox skips.",
    SkipReason.SUPPRESSED: "The address was deleted or suppressed, so it is never re-created.",
    SkipReason.ALREADY_KNOWN: "The address already belongs to a contact.",
    SkipReason.OUTSIDE_SCOPE: "The address appears only where the mailbox's scope does not look.",
    SkipReason.EVENT_CANCELLED: "The address appears only in cancelled events.",
    SkipReason.EVENT_PRIVATE: "The event is private: it creates no contacts.",
    SkipReason.TOO_MANY_ATTENDEES: (
        "The event has more attendees than the limit: it creates no contacts."
    ),
    SkipReason.MESSAGE_NOT_SYNCED: "The address appears only in mail or events that do not sync.",
}

_RANK = {reason: i for i, reason in enumerate(SkipReason)}
_ROLE_RANK = {role: i for i, role in enumerate(Role)}
#: Roles whose participants may become contacts, by scope.
_RECEIVED_ROLES = frozenset({Role.FROM, Role.TO, Role.CC, Role.BCC})
_SENT_ROLES = frozenset({Role.TO, Role.CC, Role.BCC})


@dataclass(frozen=True, slots=True)
class NewContact:
    """A contact to create: its primary address, names, company, and where it was first seen."""

    address: Address
    first_name: str
    last_name: str
    #: The registrable domain of a work address (ASCII); None on a free provider.
    company_domain: str | None
    #: The company name the domain suggests (``acme.co.uk`` -> Acme); None with no domain.
    company_name: str | None
    #: The key of the earliest message (or event) that introduced the address.
    message_key: str
    #: The key the address is indexed under (identity key after canonicalisation).
    key: str

    def to_contact(self, now: datetime, *, id: str | None = None) -> Contact:
        """The contact a sync creates for this proposal, created at *now* (timezone-aware).

        *id* defaults to `auto_contact_id` of the proposal's key, the id a sync gives it; a
        backend that keeps its own ids passes one. The contact has the proposal's address,
        names and company domain, no further addresses, and is not deleted.
        """
        return Contact(
            auto_contact_id(self.key) if id is None else id,
            self.address,
            created_at=now,
            first_name=self.first_name,
            last_name=self.last_name,
            company_domain=self.company_domain,
        )


def auto_contact_id(key: str, taken: Callable[[str], bool] = lambda _: False) -> str:
    """The id of the contact created automatically for the address *key*: stable across runs.

    ``auto-`` and a digest of *key*; when *taken* says that id belongs to another contact, the
    digest of *key* with a counter, the first one free.
    """
    seed = key
    n = 0
    while True:
        candidate = "auto-" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:24]
        if not taken(candidate):
            return candidate
        n += 1
        seed = f"{key}\x00{n}"


@dataclass(frozen=True, slots=True)
class Skipped:
    """A participant that did not lead to a new contact, and why."""

    #: The key the address is indexed under; None when the address could not be read.
    key: str | None
    reason: SkipReason
    #: The key of the earliest message (or event) where this reason applied.
    message_key: str
    #: The entry as written (for an unreadable address, its raw text).
    raw: str


@dataclass(frozen=True, slots=True)
class ContactPlan:
    """What automatic creation proposes for a set of messages, and what it left out."""

    #: One proposal per key, in the order the addresses were first seen.
    new: tuple[NewContact, ...]
    #: One entry per key (or unreadable text) that was not proposed, sorted by key.
    skipped: tuple[Skipped, ...]


#: (no date, date, message key, role, display name, raw text, address) - a total order, so the
#: earliest occurrence of an address is the same whatever order the messages come in.
_Order = tuple[bool, datetime, str, int, str, str, str]
_NO_DATE = datetime.min.replace(tzinfo=UTC)


def _when(item: Message | Event) -> datetime | None:
    moment = item.start if isinstance(item, Event) else item.sent_at
    if moment is not None and moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _order(when: datetime | None, item_key: str, participant: Participant) -> _Order:
    address = participant.address
    return (
        when is None,
        _NO_DATE if when is None else when,
        item_key,
        _ROLE_RANK[participant.role],
        participant.name,
        participant.raw,
        "" if address is None else str(address),
    )


def check_canonicalization(index: ContactIndex, policy: Policy) -> None:
    """Raise `ContactError` unless *index* compares addresses as *policy* does."""
    if index.canonicalization != policy.canonicalization:
        raise ContactError(
            "The contact index and the policy must use the same canonicalization: "
            f"{index.canonicalization!r} is not {policy.canonicalization!r}."
        )


def _check_plan_arguments(messages: object, mailbox: object, policy: object, index: object) -> None:
    """Raise `ArgumentTypeError` naming the first argument of `plan_contacts` of a wrong type."""
    expected = (
        ("messages", messages, Iterable, "Messages or Events"),
        ("mailbox", mailbox, Mailbox, "a Mailbox"),
        ("policy", policy, Policy, "a Policy"),
        ("index", index, ContactIndex | None, "a ContactIndex or None"),
    )
    for name, value, kind, described in expected:
        if not isinstance(value, kind):
            raise wrong_type("plan_contacts()", name, described, value, ArgumentTypeError)


def plan_contacts(
    messages: Iterable[Message | Event],
    mailbox: Mailbox,
    policy: Policy,
    index: ContactIndex | None = None,
    *,
    decisions: Iterable[Decision] | None = None,
) -> ContactPlan:
    """The contacts to create from *messages* in *mailbox*, and every participant left out.

    *index* holds the contacts (and suppressions) that already exist; None means none do (an
    empty index under the policy's canonicalisation). Each message (or event) is decided with
    `decide`, unless *decisions* gives the decision of each message in the same order (a caller
    that decided them already); participants of synced ones qualify by RULES 6.2. Names come
    from the display name, else from the local part; a work address also names its company.
    """
    _check_plan_arguments(messages, mailbox, policy, index)
    if index is None:
        index = ContactIndex(canonicalization=policy.canonicalization)
    check_canonicalization(index, policy)
    planner = _Planner(mailbox, policy, index)
    items: Iterable[tuple[Message | Event, Decision | None]]
    if decisions is None:
        items = ((item, None) for item in messages)
    else:
        items = zip(messages, decisions, strict=True)
    for item, given in items:
        if item.__class__ is not Message and not isinstance(item, Message | Event):
            raise wrong_type(
                "plan_contacts()", "messages", "Messages or Events", item, ArgumentTypeError
            )
        planner.read(item, given)
    return ContactPlan(new=planner.proposals(), skipped=planner.left_out())


class _Planner:
    """The state of one plan: the earliest qualifying occurrence of each key, the earliest
    display name for it, and the first reason (by rank, then order) each entry was left out."""

    __slots__ = (
        "_first",
        "_index",
        "_intrinsic",
        "_left_out",
        "_mailbox",
        "_named",
        "_own",
        "_policy",
        "_roles",
        "_sent_only",
    )

    def __init__(self, mailbox: Mailbox, policy: Policy, index: ContactIndex) -> None:
        self._mailbox = mailbox
        self._policy = policy
        self._index = index
        self._own = mailbox.keys_under(policy.canonicalization)
        self._sent_only = mailbox.contact_scope is ContactScope.SENT
        self._roles = _SENT_ROLES if self._sent_only else _RECEIVED_ROLES
        #: key -> the reason the address alone keeps it out (None: it qualifies), a cache.
        self._intrinsic: dict[str, SkipReason | None] = {}
        #: key -> (order, participant, item key) of the earliest qualifying occurrence.
        self._first: dict[str, tuple[_Order, Participant, str]] = {}
        #: key -> (order, names) of the earliest qualifying occurrence whose display name gives
        #: a name.
        self._named: dict[str, tuple[_Order, tuple[str, str]]] = {}
        #: (key or raw text, readable) -> (reason rank, order, reason, item key, raw).
        self._left_out: dict[tuple[str, bool], tuple[int, _Order, SkipReason, str, str]] = {}

    # --- Reading the messages -----------------------------------------------------------------

    def read(self, item: Message | Event, given: Decision | None) -> None:
        """Take every participant of *item*, decided as *given* says (or by `decide`)."""
        when = _when(item)
        item_key = item.key
        if not self._mailbox.create_contacts:
            for participant in item.participants:
                self._disabled(participant, _order(when, item_key, participant), item_key)
            return
        context, outgoing = self._context(item, given)
        for participant in item.participants:
            order = _order(when, item_key, participant)
            self._take(participant, order, item_key, context, outgoing)

    def _context(
        self, item: Message | Event, given: Decision | None
    ) -> tuple[SkipReason | None, bool]:
        """What keeps every participant of *item* out (None: nothing), and whether it was sent."""
        if isinstance(item, Event) and item.cancelled:
            return SkipReason.EVENT_CANCELLED, False
        decision = decide(item, self._mailbox, self._policy) if given is None else given
        context = None if decision.synced else SkipReason.MESSAGE_NOT_SYNCED
        return context, decision.direction is Direction.OUTGOING

    def _disabled(self, participant: Participant, order: _Order, item_key: str) -> None:
        """Leave *participant* out because the mailbox creates no contacts."""
        address = participant.address
        ident = participant.raw if address is None else self._policy.key(address)
        self._skip(
            ident, address is not None, SkipReason.DISABLED, order, item_key, participant.raw
        )

    def _take(
        self,
        participant: Participant,
        order: _Order,
        item_key: str,
        context: SkipReason | None,
        outgoing: bool,
    ) -> None:
        """Propose *participant*, or leave it out with the first reason that applies."""
        address = participant.address
        if address is None:
            raw = participant.raw
            self._skip(raw, False, SkipReason.UNREADABLE, order, item_key, raw)
            return
        key = self._policy.key(address)
        reason = self._intrinsic_reason(address, key)
        if reason is None:
            reason = context
        if reason is None and not self._in_scope(participant, outgoing):
            reason = SkipReason.OUTSIDE_SCOPE
        if reason is not None:
            self._skip(key, True, reason, order, item_key, participant.raw)
        else:
            self._propose(key, participant, order, item_key)

    def _intrinsic_reason(self, address: Address, key: str) -> SkipReason | None:
        """Why *address* can never be proposed, whatever the message (None: it can); cached by
        *key*, so the first address read under a key answers for it."""
        if key in self._intrinsic:
            return self._intrinsic[key]
        reason = self._intrinsic[key] = self._reason_of(address, key)
        return reason

    def _reason_of(self, address: Address, key: str) -> SkipReason | None:
        """The first reason in `SkipReason`'s order that keeps *address* out for good."""
        policy, index = self._policy, self._index
        if key in self._own:
            return SkipReason.SELF
        if is_colleague(address, policy):
            return SkipReason.COLLEAGUE
        if is_impersonal(address, policy.role_addresses):
            return SkipReason.IMPERSONAL
        if self._mailbox.skip_free_providers and is_free_provider(address, policy.free_providers):
            return SkipReason.FREE_PROVIDER
        if index.is_suppressed(address):
            return SkipReason.SUPPRESSED
        if index.resolve(address) is not None:
            return SkipReason.ALREADY_KNOWN
        return None

    def _in_scope(self, participant: Participant, outgoing: bool) -> bool:
        """Whether the mailbox's contact scope looks at *participant* in a message so sent."""
        return participant.role in self._roles and (outgoing or not self._sent_only)

    def _skip(
        self, ident: str, readable: bool, reason: SkipReason, order: _Order, item: str, raw: str
    ) -> None:
        """Record *reason* for *ident* unless an earlier-ranked (or earlier) one is recorded."""
        entry = (_RANK[reason], order, reason, item, raw)
        current = self._left_out.get((ident, readable))
        if current is None or entry[:2] < current[:2]:
            self._left_out[(ident, readable)] = entry

    def _propose(self, key: str, participant: Participant, order: _Order, item_key: str) -> None:
        """Keep *participant* as the source of *key*'s proposal (and of its name) if earliest."""
        current = self._first.get(key)
        if current is None or order < current[0]:
            self._first[key] = (order, participant, item_key)
        name = name_from_display(participant.name) if participant.name else None
        if name is not None:
            best = self._named.get(key)
            if best is None or order < best[0]:
                self._named[key] = (order, name)

    # --- The plan -----------------------------------------------------------------------------

    def proposals(self) -> tuple[NewContact, ...]:
        """One new contact per qualifying key, in the order the keys were first seen."""
        ranked = sorted(self._first.items(), key=lambda kv: (kv[1][0], kv[0]))
        return tuple(
            self._new_contact(key, participant, item_key)
            for key, (_, participant, item_key) in ranked
        )

    def _new_contact(self, key: str, participant: Participant, item_key: str) -> NewContact:
        """The proposal for *key*, first seen as *participant* in the item *item_key*."""
        address = participant.address
        assert address is not None
        named = self._named.get(key)
        names = named[1] if named is not None else name_from_local(address.local) or ("", "")
        company = address.registrable
        policy = self._policy
        if company is not None and (
            is_free_provider(address, policy.free_providers)
            or (
                not policy.institutions_as_companies
                and is_institution(address, policy.institutions)
            )
        ):
            company = None
        return NewContact(
            address=address,
            first_name=names[0],
            last_name=names[1],
            company_domain=company,
            company_name=company_name(company) if company else None,
            message_key=item_key,
            key=key,
        )

    def left_out(self) -> tuple[Skipped, ...]:
        """One entry per key (or unreadable text) not proposed, sorted by key."""
        return tuple(
            Skipped(key=ident if readable else None, reason=reason, message_key=item, raw=raw)
            for (ident, readable), (_, _, reason, item, raw) in sorted(self._left_out.items())
            if not (readable and ident in self._first)
        )
