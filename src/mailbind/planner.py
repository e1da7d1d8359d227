"""The one planner: what source items, deletions at the source, or changed settings do to a store.

Every runner that syncs (the engine), explains (the command line's ``explain``) or back-fills
(`mailbind.etl`) calls these functions and keeps only its own I/O, so a rule is learnt in one
place.

Invariants:
- Pure: values in, values out. No clock (``now`` is an argument), no I/O. The only state changed
  is the `ContactIndex` the caller passes to `plan_batch`, which takes the contacts the batch
  creates, so that the next batch resolves to them.
- `plan_batch` gives every copy the decision `decide` gives it, the key a store keeps it under
  (`mailbind.identity.stored_key`), and, when synced, one link per readable participant to the
  contact it resolves to after the batch's new contacts. The flags a source gave a copy stay
  with the copy (`BatchItem.flags`), not with the stored message, which every copy shares.
- Automatic contact ids never collide: a proposal whose derived id is taken by another contact
  (one whose address was edited away, or made under another canonicalisation) gets the next
  free id of the same derivation, deterministically.
- `plan_settings_change` re-decides every stored copy with content under the new settings (an
  exact change); copies kept out without content come back only by re-reading the source, which
  it asks for (``resync``) exactly when a reason that kept one out may no longer apply. A change
  of a mailbox's sharing levels alone (`level_moves`) changes only the level of its synced
  copies: `plan_relevel` plans it from the copies' counts, and the store rewrites the level.
- `gone_locations` takes a copy for gone only on the source's word (its listing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime

from .addresses import Address
from .contacts import Contact, ContactIndex, OwnerChange
from .identity import with_stored_key
from .messages import Direction, Limits, Message, SharingLevel
from .planning import (
    ContactPlan,
    auto_contact_id,
    check_canonicalization,
    plan_contacts,
)
from .policy import Mailbox, Policy
from .rules import Decision, Reason, decide
from .source import Listing, SourceItem
from .store import BatchItem, Company, CopyCount, ParticipantLink, StoredDecision

__all__ = [
    "BatchPlan",
    "CopyChange",
    "Relevel",
    "Settings",
    "SettingsChange",
    "auto_contact_id",
    "copy_location",
    "gone_locations",
    "level_moves",
    "liftable_reasons",
    "plan_batch",
    "plan_relevel",
    "plan_settings_change",
    "relevel_copies",
]


# --- Contacts created automatically -----------------------------------------------------------


def _content(message: Message) -> Message:
    """*message* as a store keeps it: without the flags of one copy (each copy keeps its own)."""
    return replace(message, flags=frozenset()) if message.flags else message


def copy_location(key: str) -> str:
    """Where a copy stands when its source names no place: by its message's key."""
    return f"key:{key}"


# --- One batch --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What one batch of source items does: its copies, new contacts and re-links."""

    items: tuple[BatchItem, ...] = ()
    #: Contacts the batch creates (already added to the index given to `plan_batch`).
    contacts: tuple[Contact, ...] = ()
    companies: tuple[Company, ...] = ()
    #: Keys whose owner changed because of the new contacts.
    owners: tuple[OwnerChange, ...] = ()
    #: The contact plan of the batch's synced messages (None when contacts were not planned).
    contact_plan: ContactPlan | None = None
    #: The id of each contact the batch created -> the key of the message that introduced it.
    introduced: Mapping[str, str] = field(default_factory=dict)


def _owner_of(
    contacts: ContactIndex | Mapping[str, str] | None,
) -> Callable[[str, Address], str | None]:
    if contacts is None:
        return lambda _key, _address: None
    if isinstance(contacts, ContactIndex):
        resolve = contacts.resolve

        def by_index(_key: str, address: Address) -> str | None:
            owner = resolve(address)
            return None if owner is None else owner.id

        return by_index
    get = contacts.get
    return lambda key, _address: get(key)


def links_of(
    message: Message, policy: Policy, owner_of: Callable[[str, Address], str | None]
) -> tuple[ParticipantLink, ...]:
    """One link per readable participant of *message*, to the contact *owner_of* names."""
    key = policy.key
    found = []
    for position, participant in enumerate(message.participants):
        address = participant.address
        if address is not None:
            participant_key = key(address)
            found.append(
                ParticipantLink(position, participant_key, owner_of(participant_key, address))
            )
    return tuple(found)


@dataclass(slots=True)
class _Created:
    """The contacts one plan creates, with their companies and the keys they now own."""

    contacts: list[Contact] = field(default_factory=list)
    companies: dict[str, Company] = field(default_factory=dict)
    owners: list[OwnerChange] = field(default_factory=list)
    introduced: dict[str, str] = field(default_factory=dict)
    contact_plan: ContactPlan | None = None

    def plan(
        self,
        messages: Sequence[Message],
        decisions: Sequence[Decision],
        mailbox: Mailbox,
        policy: Policy,
        index: ContactIndex,
        now: datetime | None,
    ) -> None:
        """Create the contacts the synced *messages* call for, adding them to *index*."""
        check_canonicalization(index, policy)
        synced = [(m, d) for m, d in zip(messages, decisions, strict=True) if d.synced]
        if not (synced and mailbox.create_contacts):
            return
        if now is None:
            raise TypeError("Creating contacts needs now, the time they are created at.")
        plan = plan_contacts(
            [m for m, _ in synced], mailbox, policy, index, decisions=[d for _, d in synced]
        )
        self.contact_plan = plan
        for new in plan.new:
            contact = new.to_contact(now, id=auto_contact_id(new.key, index.__contains__))
            self.owners.extend(index.upsert(contact))
            self.contacts.append(contact)
            self.introduced[contact.id] = new.message_key
            if new.company_domain is not None:
                self.companies.setdefault(
                    new.company_domain, Company(new.company_domain, new.company_name or "")
                )


def plan_batch(
    items: Iterable[SourceItem],
    mailbox: Mailbox,
    policy: Policy,
    *,
    contacts: ContactIndex | Mapping[str, str] | None = None,
    now: datetime | None = None,
    limits: Limits | None = None,
) -> BatchPlan:
    """Decide *items* for *mailbox* under *policy*, and link the participants of synced ones.

    *contacts* resolves participants: a `ContactIndex` (new contacts are then created as the
    mailbox allows, created at *now*, and added to it), or a mapping from participant key to
    contact id (a back-fill's snapshot: no contact is created), or None (no links to contacts).
    """
    sources = list(items)
    messages = [with_stored_key(item.message(limits)) for item in sources]
    decisions = [decide(message, mailbox, policy) for message in messages]
    created = _Created()
    if isinstance(contacts, ContactIndex):
        created.plan(messages, decisions, mailbox, policy, contacts, now)
    owner_of = _owner_of(contacts)
    planned = tuple(
        BatchItem(
            _content(message),
            decision,
            links_of(message, policy, owner_of) if decision.synced else (),
            source.location or copy_location(message.key),
            message.flags,
        )
        for source, message, decision in zip(sources, messages, decisions, strict=True)
    )
    return BatchPlan(
        planned,
        tuple(created.contacts),
        tuple(created.companies.values()),
        tuple(created.owners),
        created.contact_plan,
        created.introduced,
    )


# --- Deletions at the source ------------------------------------------------------------------


def gone_locations(stored: Iterable[str], listing: Listing) -> tuple[str, ...]:
    """The locations of stored copies that *listing* says are gone, sorted."""
    held = set(stored)
    if listing.present is not None:
        return tuple(sorted(held - listing.present))
    return tuple(sorted(held & listing.gone))


# --- Changed settings -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the rules read for one mailbox: its own settings and the workspace policy."""

    mailbox: Mailbox
    policy: Policy


@dataclass(frozen=True, slots=True)
class CopyChange:
    """A stored copy whose decision differs under the new settings."""

    location: str
    key: str
    before: Decision
    after: Decision

    @property
    def drops(self) -> bool:
        """True when the mailbox no longer holds the message through this copy."""
        return self.before.synced and not self.after.synced

    @property
    def widens(self) -> bool:
        """True when others may read more of the message than before."""
        if not self.after.synced:
            return False
        return not self.before.synced or self.after.level > self.before.level


@dataclass(frozen=True, slots=True)
class Relevel:
    """Every synced copy of one direction given another sharing level, and nothing else."""

    direction: Direction
    before: SharingLevel
    after: SharingLevel
    #: The synced copies of *direction* not at *after* yet: the copies the change rewrites.
    copies: int


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """The exact effect of changed settings on one mailbox's stored copies."""

    mailbox_id: str
    #: Every copy whose decision changes.
    changes: tuple[CopyChange, ...]
    #: The copies to store: the changed ones, and every synced one when links must be re-made.
    items: tuple[BatchItem, ...]
    #: True when copies kept out may now sync: they come back by re-reading the source.
    resync: bool
    #: Copies kept out that may come back on that re-read.
    may_return: int
    #: Copies that keep their decision.
    unchanged: int
    #: Contacts the stored mail calls for under the new settings (already added to the index
    #: given to `plan_settings_change`), their companies, and the keys they now own.
    contacts: tuple[Contact, ...] = ()
    companies: tuple[Company, ...] = ()
    owners: tuple[OwnerChange, ...] = ()
    #: A change of the mailbox's sharing levels alone (`plan_relevel`), by direction: its copies
    #: are counted here, not listed in ``changes`` (`relevel_copies` lists them).
    levels: tuple[Relevel, ...] = ()

    @property
    def dropped(self) -> int:
        """Copies through which the mailbox no longer holds a message."""
        return sum(change.drops for change in self.changes)

    @property
    def widened(self) -> int:
        """Copies others may read more of (a raised level, or newly synced)."""
        raised = sum(r.copies for r in self.levels if r.after > r.before)
        return raised + sum(change.widens for change in self.changes)

    @property
    def narrowed(self) -> int:
        """Copies others may read less of, still synced."""
        lowered = sum(r.copies for r in self.levels if r.after < r.before)
        return lowered + sum(
            c.before.synced and c.after.synced and c.after.level < c.before.level
            for c in self.changes
        )

    @property
    def needs_confirmation(self) -> bool:
        """True when the change drops stored mail or lets anyone read more (RULES: ask first)."""
        return self.dropped > 0 or self.widened > 0 or self.may_return > 0


#: Reasons that depend on the settings alone: changed settings may lift them.
_SETTING_REASONS = frozenset(
    {Reason.INTERNAL, Reason.BLOCKLISTED, Reason.GROUP_SENDER, Reason.BULK}
)


def liftable_reasons(before: Settings, after: Settings) -> frozenset[Reason]:
    """The excluding reasons *after* may no longer give for a copy *before* excluded.

    Errs on the side of a re-read: any change of the mailbox's addresses, of the
    canonicalisation or of a policy setting this function does not weigh lifts every reason the
    settings give.
    """
    old, new = before.policy, after.policy
    if (
        before.mailbox.owner != after.mailbox.owner
        or before.mailbox.aliases != after.mailbox.aliases
        or old.canonicalization != new.canonicalization
    ):
        return _SETTING_REASONS
    weighed = {
        "org_domains",
        "members",
        "externals",
        "blocklist",
        "sync_internal",
        "exclude_group_emails",
        "canonicalization",
        "free_providers",
        "role_addresses",
        # Who gets a company when a contact is made: no message's decision changes.
        "institutions",
        "institutions_as_companies",
    }
    if any(
        getattr(old, f.name) != getattr(new, f.name)
        for f in fields(Policy)
        if f.compare and f.name not in weighed
    ):
        return _SETTING_REASONS
    lift: set[Reason] = set()
    if (
        (new.sync_internal and not old.sync_internal)
        or old.org_domains - new.org_domains
        or old.members - new.members
        or new.externals - old.externals
        or old.free_providers != new.free_providers
    ):
        lift.add(Reason.INTERNAL)
    if old.blocklist - new.blocklist:
        lift.add(Reason.BLOCKLISTED)
    if old.exclude_group_emails and not new.exclude_group_emails:
        lift.update((Reason.GROUP_SENDER, Reason.BULK))
    if old.role_addresses - new.role_addresses:
        lift.add(Reason.GROUP_SENDER)
    return frozenset(lift)


def _as_stored(new: Decision, old: Decision) -> Decision:
    """*new* as the store reads it back: with the reason ``message_id_reused`` the store gave
    *old* (it comes from the stored keys, never from `decide`)."""
    reused = Reason.MESSAGE_ID_REUSED
    if reused in old.reasons and reused not in new.reasons:
        return replace(new, reasons=(*new.reasons, reused))
    return new


def _may_return(decision: Decision, liftable: frozenset[Reason]) -> bool:
    excluding = [r for r in decision.reasons if r.excludes]
    return bool(excluding) and all(r in liftable for r in excluding)


def level_moves(
    before: Settings, after: Settings
) -> tuple[tuple[Direction, SharingLevel, SharingLevel], ...] | None:
    """The directions whose sharing level *after* changes, with the old and the new level, when
    that is all it changes; None when it changes anything else.

    Only a copy's level depends on its mailbox's sharing levels (`Judge` gives a decision the
    level of its direction), so such a change is `plan_relevel`'s: no copy is decided again.
    """
    old, new = before.mailbox, after.mailbox
    if before.policy != after.policy or (
        replace(old, incoming=new.incoming, outgoing=new.outgoing) != new
    ):
        return None
    return tuple(
        (direction, old.level_for(direction), new.level_for(direction))
        for direction in Direction
        if old.level_for(direction) is not new.level_for(direction)
    )


def plan_relevel(
    mailbox_id: str,
    moves: Iterable[tuple[Direction, SharingLevel, SharingLevel]],
    counts: Iterable[CopyCount],
) -> SettingsChange:
    """The change of sharing levels *moves* (`level_moves`) makes to a mailbox whose copies
    *counts* counts (`Store.copy_counts`): every synced copy of a moved direction takes the new
    level, every other copy stays as it is. Nothing else changes, so no copy is read."""
    counts = tuple(counts)
    levels = tuple(
        Relevel(
            direction,
            was,
            now,
            _rewritten(counts, direction, now),
        )
        for direction, was, now in moves
    )
    levels = tuple(r for r in levels if r.copies)
    return SettingsChange(
        mailbox_id,
        (),
        (),
        False,
        0,
        sum(c.copies for c in counts) - sum(r.copies for r in levels),
        levels=levels,
    )


def _rewritten(counts: Iterable[CopyCount], direction: Direction, level: SharingLevel) -> int:
    """How many synced copies of *direction* are not at *level*."""
    return sum(
        c.copies for c in counts if c.synced and c.direction is direction and c.level != level
    )


def relevel_copies(
    change: SettingsChange, copies: Iterable[StoredDecision]
) -> Iterator[CopyChange]:
    """The copies among *copies* (the mailbox's `Store.decisions`) that *change*'s ``levels``
    rewrite, one `CopyChange` each, in the order of *copies*."""
    after = {r.direction: r.after for r in change.levels}
    for copy in copies:
        old = copy.decision
        level = after.get(old.direction)
        if level is not None and old.synced and old.level != level:
            yield CopyChange(copy.location, copy.key, old, replace(old, level=level))


def plan_settings_change(
    copies: Iterable[StoredDecision],
    contents: Mapping[str, Message],
    before: Settings,
    after: Settings,
    *,
    contacts: ContactIndex | None = None,
    now: datetime | None = None,
) -> SettingsChange:
    """The exact change *after* makes to one mailbox's stored *copies*, decided under *before*.

    *contents* holds the stored message of every synced copy, by key (a copy whose content is
    missing is left as it is). Each synced copy is decided again, with the flags its source gave
    it; copies kept out are weighed with `liftable_reasons`. With *contacts* (an index under the
    new canonicalisation), the contacts the synced mail calls for under the new settings are
    created at *now* (without *now*, none), as a sync from scratch would create them; when the
    canonicalisation
    changes, every synced copy is stored again with its participants linked afresh.
    """
    mailbox, policy = after.mailbox, after.policy
    liftable = liftable_reasons(before, after)
    relink = before.policy.canonicalization != policy.canonicalization
    owner_of = _owner_of(contacts)
    changes: list[CopyChange] = []
    decided: list[tuple[StoredDecision, Message, Decision]] = []
    may_return = unchanged = 0
    for copy in copies:
        old = copy.decision
        if not old.synced:
            may_return += _may_return(old, liftable)
            unchanged += 1
            continue
        stored = contents.get(copy.key)
        if stored is None:
            unchanged += 1
            continue
        message = stored if stored.flags == copy.flags else replace(stored, flags=copy.flags)
        new = decide(message, mailbox, policy)
        if _as_stored(new, old) != old:
            changes.append(CopyChange(copy.location, copy.key, old, _as_stored(new, old)))
        else:
            unchanged += 1
        decided.append((copy, stored, new))
    created = _Created()
    if contacts is not None and now is not None:
        created.plan(
            [m for _, m, _ in decided], [d for _, _, d in decided], mailbox, policy, contacts, now
        )
    items = [
        BatchItem(
            stored,
            new,
            links_of(stored, policy, owner_of) if new.synced else (),
            copy.location,
            copy.flags,
        )
        for copy, stored, new in decided
        if relink or _as_stored(new, copy.decision) != copy.decision
    ]
    return SettingsChange(
        after.mailbox.id,
        tuple(changes),
        tuple(items),
        may_return > 0,
        may_return,
        unchanged,
        tuple(created.contacts),
        tuple(created.companies.values()),
        tuple(created.owners),
    )
