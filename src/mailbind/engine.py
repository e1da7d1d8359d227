"""The sync engine: one pass of one mailbox from a source into a store, and the changes after.

Invariants:
- The engine reads no clock: the caller passes ``now`` (contacts created in a pass carry it).
- Every batch is applied with `Store.apply_batch` in one transaction together with the cursor
  of the source, so a crash at any point followed by another pass ends with every message stored
  once and nothing lost; applying a batch twice changes nothing.
- Contacts created automatically get an id derived from their key (`auto_contact_id`), so a
  batch applied twice, or two processes seeing one address, create one contact.
- A policy change removes exactly the messages `reevaluate` says must go; skipped messages a
  looser policy lets in come back through a full, idempotent re-sync the change schedules.
- Contact changes go through the `ContactIndex` and store only what changed: the contact, the
  keys whose owner changed (re-linked) and the suppressions recorded or lifted.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime

from .addresses import Address
from .contacts import Contact, ContactIndex, OwnerChange, SuppressionReason
from .errors import ContactError, SourceError
from .messages import Limits
from .planning import NewContact, check_canonicalization, plan_contacts
from .policy import Mailbox, Policy
from .rules import Decision, Reason, decide, reevaluate
from .schedule import DEFAULT_SCHEDULE, Schedule, SyncState, failed, request, succeeded
from .source import Batch, MessageSource, SourceSettingError
from .store import (
    BatchItem,
    BatchResult,
    Company,
    ContactChange,
    MailboxState,
    ParticipantLink,
    Store,
)

__all__ = [
    "PolicyChange",
    "SyncReport",
    "apply_policy_change",
    "auto_contact",
    "auto_contact_id",
    "destroy_contact",
    "restore_contact",
    "save_contact",
    "soft_delete_contact",
    "suppress_address",
    "sync_mailbox",
]

#: Reasons that depend on the policy alone: a looser policy may let such a message in.
_POLICY_REASONS = frozenset({Reason.INTERNAL, Reason.BLOCKLISTED, Reason.GROUP_SENDER, Reason.BULK})


def auto_contact_id(key: str) -> str:
    """The id of the contact created automatically for the address *key*: stable across runs."""
    return "auto-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def auto_contact(new: NewContact, now: datetime) -> Contact:
    """The contact a sync creates for the proposal *new*, created at *now*."""
    return Contact(
        auto_contact_id(new.key),
        new.address,
        created_at=now,
        first_name=new.first_name,
        last_name=new.last_name,
        company_domain=new.company_domain,
    )


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one pass did. Counts are per message copy the source yielded."""

    mailbox_id: str
    #: Messages the source yielded.
    seen: int = 0
    synced: int = 0
    skipped: int = 0
    #: How many skipped messages each excluding reason applied to (one message may count under
    #: several reasons), in the order of `Reason`.
    skipped_by_reason: tuple[tuple[Reason, int], ...] = ()
    contacts_created: int = 0
    #: Participants of synced messages linked to a contact.
    participants_linked: int = 0
    #: How many messages carried each defect code (``too_large``, ``bad_date``, ...), by code.
    defects: tuple[tuple[str, int], ...] = ()
    batches: int = 0
    #: True when the source changed underneath and the pass started again from the beginning.
    reset: bool = False
    #: The cursor stored after the last batch.
    cursor: str | None = None
    #: The mailbox's sync state after the pass.
    state: SyncState = field(default_factory=SyncState)


@dataclass(slots=True)
class _Tally:
    seen: int = 0
    synced: int = 0
    skipped: int = 0
    reasons: Counter[Reason] = field(default_factory=Counter)
    contacts: int = 0
    linked: int = 0
    defects: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    reset: bool = False

    def report(self, mailbox_id: str, cursor: str | None, state: SyncState) -> SyncReport:
        order = {reason: i for i, reason in enumerate(Reason)}
        return SyncReport(
            mailbox_id,
            self.seen,
            self.synced,
            self.skipped,
            tuple(sorted(self.reasons.items(), key=lambda kv: order[kv[0]])),
            self.contacts,
            self.linked,
            tuple(sorted(self.defects.items())),
            self.batches,
            self.reset,
            cursor,
            state,
        )


def sync_mailbox(
    source: MessageSource,
    store: Store,
    mailbox: Mailbox,
    policy: Policy,
    *,
    now: datetime,
    batch_size: int = 500,
    limits: Limits | None = None,
    progress: Callable[[SyncReport], None] | None = None,
    schedule: Schedule = DEFAULT_SCHEDULE,
    index: ContactIndex | None = None,
) -> SyncReport:
    """Sync *mailbox* from *source* into *store* until the source has nothing more.

    Each batch is fetched from the stored cursor, decided, its participants linked to contacts
    (new contacts created as the mailbox allows), and stored with the new cursor in one
    transaction; *progress* is called with the running report after each. The last batch also
    stores the sync state `succeeded` at *now*. A source failure stores the state `failed` at
    *now* (back-off, or a stop on `AuthenticationError`) and is raised again.

    *index* is the store's contacts as a `ContactIndex` under the policy's canonicalisation,
    which the caller keeps (passes over several mailboxes, or a watch that syncs every few
    minutes, then load the contacts once); the contacts the pass creates are added to it. It
    must hold every contact change made to the store since it was loaded. When None, the pass
    loads it from the store.
    """
    if batch_size < 1:
        raise SourceSettingError(f"The batch size must be at least 1, not {batch_size!r}.")
    if index is None:
        index = store.contact_index(policy.canonicalization)
    else:
        check_canonicalization(index, policy)
    stored = store.load_state(mailbox.id)
    cursor, state = stored.cursor, stored.sync
    tally = _Tally()
    while True:
        try:
            batch = source.fetch(cursor, limit=batch_size)
        except SourceError as err:
            store.save_state(
                mailbox.id, MailboxState(cursor, failed(state, now, err, schedule=schedule))
            )
            raise
        if not batch.items and not batch.done and batch.cursor == cursor:
            raise SourceError(
                f"The source {source.name!r} returned an empty batch without moving on."
            )
        if batch.done:
            state = succeeded(state, now)
        store.apply_batch(_process(batch, mailbox, policy, index, state, now, limits, tally))
        cursor = batch.cursor
        if progress is not None:
            progress(tally.report(mailbox.id, cursor, state))
        if batch.done:
            return tally.report(mailbox.id, cursor, state)


def _process(
    batch: Batch,
    mailbox: Mailbox,
    policy: Policy,
    index: ContactIndex,
    state: SyncState,
    now: datetime,
    limits: Limits | None,
    tally: _Tally,
) -> BatchResult:
    """Decide a batch and resolve its participants; *index* takes the contacts it creates."""
    tally.batches += 1
    tally.reset = tally.reset or batch.reset
    messages = [item.message(limits) for item in batch.items]
    decisions = [decide(message, mailbox, policy) for message in messages]
    synced = [(m, d) for m, d in zip(messages, decisions, strict=True) if d.synced]
    contacts: list[Contact] = []
    companies: dict[str, Company] = {}
    owners: list[OwnerChange] = []
    if synced and mailbox.create_contacts:
        plan = plan_contacts(
            [m for m, _ in synced], mailbox, policy, index, decisions=[d for _, d in synced]
        )
        for new in plan.new:
            contact = auto_contact(new, now)
            owners.extend(index.upsert(contact))
            contacts.append(contact)
            if new.company_domain is not None:
                companies.setdefault(
                    new.company_domain, Company(new.company_domain, new.company_name or "")
                )
    key = policy.key
    resolve = index.resolve
    items = []
    for raw, message, decision in zip(batch.items, messages, decisions, strict=True):
        tally.seen += 1
        tally.defects.update(set(message.defects))
        links: tuple[ParticipantLink, ...] = ()
        if decision.synced:
            tally.synced += 1
            found = []
            for position, participant in enumerate(message.participants):
                address = participant.address
                if address is not None:
                    owner = resolve(address)
                    found.append(
                        ParticipantLink(position, key(address), None if owner is None else owner.id)
                    )
                    tally.linked += owner is not None
            links = tuple(found)
        else:
            tally.skipped += 1
            tally.reasons.update(r for r in decision.reasons if r.excludes)
        items.append(BatchItem(message, decision, links, raw.location))
    tally.contacts += len(contacts)
    return BatchResult(
        mailbox,
        batch.cursor,
        state,
        tuple(items),
        tuple(contacts),
        tuple(companies.values()),
        tuple(owners),
    )


# --- Policy changes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """What a policy change did to one mailbox."""

    #: Keys of the messages the mailbox no longer holds.
    removed: tuple[str, ...]
    #: Messages the mailbox keeps.
    unchanged: int
    #: True when skipped messages may now sync: the mailbox's cursor was cleared, so its next
    #: pass re-reads the source from the beginning and brings them back.
    resync: bool


def apply_policy_change(
    store: Store, mailbox: Mailbox, old_policy: Policy, new_policy: Policy
) -> PolicyChange:
    """Apply the change from *old_policy* to *new_policy* to what *mailbox* holds.

    Messages the new policy excludes lose this mailbox's link (with their new decision stored),
    and go from the store when no mailbox holds them. Skipped messages keep no content, so those
    the new policy may let in come back by re-reading the source: when a skipped decision rests
    only on reasons the change may lift (a domain unblocked, internal mail allowed, group mail
    allowed; never a draft, spam or trash flag), the cursor is cleared and a pass requested, in
    the same transaction as the removals. The next `sync_mailbox` re-reads the source from the
    beginning and brings them back; messages already stored are left as they are.

    *old_policy* must be the policy the mailbox synced under.
    """
    held = [stored.message for stored in store.mailbox_messages(mailbox.id)]
    effect = reevaluate(held, mailbox, old_policy, new_policy)
    removed = tuple(BatchItem(change.message, change.after) for change in effect.remove)
    liftable = _liftable(old_policy, new_policy)
    resync = bool(liftable) and any(
        _may_return(stored.decision, liftable)
        for stored in store.decisions(mailbox.id)
        if not stored.decision.synced
    )
    current = store.load_state(mailbox.id)
    cursor, state = (None, request(current.sync)) if resync else (current.cursor, current.sync)
    store.apply_batch(BatchResult(mailbox, cursor, state, removed=removed))
    return PolicyChange(
        tuple(item.message.key for item in removed), len(held) - len(removed), resync
    )


def _liftable(old: Policy, new: Policy) -> frozenset[Reason]:
    """The excluding reasons *new* may no longer give for a message *old* excluded.

    Errs on the side of a re-read: a setting this function does not know that changed makes
    every policy reason liftable.
    """
    known = {
        "org_domains",
        "members",
        "externals",
        "blocklist",
        "sync_internal",
        "exclude_group_emails",
        "canonicalization",
        "free_providers",
        "role_addresses",
    }
    if any(
        getattr(old, f.name) != getattr(new, f.name)
        for f in fields(Policy)
        if f.name not in known and f.compare
    ):
        return _POLICY_REASONS
    lift: set[Reason] = set()
    recanonicalised = old.canonicalization != new.canonicalization
    if (
        recanonicalised
        or (new.sync_internal and not old.sync_internal)
        or old.org_domains - new.org_domains
        or old.members - new.members
        or new.externals - old.externals
        or old.free_providers != new.free_providers
    ):
        lift.add(Reason.INTERNAL)
    if recanonicalised or old.blocklist - new.blocklist:
        lift.add(Reason.BLOCKLISTED)
    if old.exclude_group_emails and not new.exclude_group_emails:
        lift.update((Reason.GROUP_SENDER, Reason.BULK))
    if old.role_addresses - new.role_addresses:
        lift.add(Reason.GROUP_SENDER)
    return frozenset(lift)


def _may_return(decision: Decision, liftable: frozenset[Reason]) -> bool:
    """True when every reason that kept the message out may be lifted."""
    excluding = [r for r in decision.reasons if r.excludes]
    return bool(excluding) and all(r in liftable for r in excluding)


# --- Contact changes ---------------------------------------------------------------------------


def _change(
    store: Store,
    index: ContactIndex,
    addresses: Iterable[Address],
    apply: Callable[[], tuple[OwnerChange, ...]],
    *,
    saved: str | None = None,
    destroyed: str | None = None,
    company: Company | None = None,
) -> ContactChange:
    """Run *apply* on *index*, store what changed, and return it.

    Suppression only changes for the keys of the contact involved (*addresses*).
    """
    keys = sorted({index.key(a) for a in addresses})
    before = {k: index.suppressed.get(k) for k in keys}
    owners = apply()
    after = {k: index.suppressed.get(k) for k in keys}
    contact = None if saved is None else index.get(saved)
    change = ContactChange(
        saved=() if contact is None else (contact,),
        destroyed=() if destroyed is None else (destroyed,),
        owners=owners,
        suppressed=tuple(
            record for k in keys if (record := after[k]) is not None and record != before[k]
        ),
        lifted=tuple(k for k in keys if before[k] is not None and after[k] is None),
        companies=() if company is None else (company,),
    )
    store.apply_contact_change(change)
    return change


def _index(store: Store, policy: Policy | None, index: ContactIndex | None) -> ContactIndex:
    if index is not None:
        return index
    return store.contact_index(None if policy is None else policy.canonicalization)


def save_contact(
    store: Store,
    contact: Contact,
    *,
    policy: Policy | None = None,
    index: ContactIndex | None = None,
    company: Company | None = None,
) -> ContactChange:
    """Create *contact*, or replace the stored contact with its id (an edit, by hand).

    Participants whose owner changes are re-linked; a live contact lifts the suppression of its
    addresses. *index* (kept up to date) saves loading the contacts from the store each time;
    *policy* gives the canonicalisation when no index is given.
    """
    index = _index(store, policy, index)
    old = index.get(contact.id)
    addresses = [*contact.addresses, *(() if old is None else old.addresses)]
    return _change(
        store, index, addresses, lambda: index.upsert(contact), saved=contact.id, company=company
    )


def soft_delete_contact(
    store: Store,
    contact_id: str,
    *,
    at: datetime,
    policy: Policy | None = None,
    index: ContactIndex | None = None,
) -> ContactChange:
    """Mark the contact deleted at *at*: it keeps its messages and its addresses are suppressed."""
    return _lifecycle(store, contact_id, policy, index, lambda i: i.soft_delete(contact_id, at))


def restore_contact(
    store: Store,
    contact_id: str,
    *,
    policy: Policy | None = None,
    index: ContactIndex | None = None,
) -> ContactChange:
    """Undo a soft delete, lifting the suppressions it recorded."""
    return _lifecycle(store, contact_id, policy, index, lambda i: i.restore(contact_id))


def destroy_contact(
    store: Store,
    contact_id: str,
    *,
    policy: Policy | None = None,
    index: ContactIndex | None = None,
) -> ContactChange:
    """Delete the contact for good: its messages pass to the next candidate or to nobody.

    Its addresses are suppressed, so automatic creation never brings it back.
    """
    return _lifecycle(
        store, contact_id, policy, index, lambda i: i.destroy(contact_id), destroy=True
    )


def _lifecycle(
    store: Store,
    contact_id: str,
    policy: Policy | None,
    index: ContactIndex | None,
    apply: Callable[[ContactIndex], tuple[OwnerChange, ...]],
    *,
    destroy: bool = False,
) -> ContactChange:
    """Apply a change to the stored contact *contact_id* through the index and store it."""
    index = _index(store, policy, index)
    contact = index.get(contact_id)
    if contact is None:
        raise ContactError(f"No contact has the id {contact_id!r}.")
    live = index
    return _change(
        store,
        index,
        contact.addresses,
        lambda: apply(live),
        saved=None if destroy else contact_id,
        destroyed=contact_id if destroy else None,
    )


def suppress_address(
    store: Store,
    address: Address | str,
    reason: SuppressionReason = SuppressionReason.REQUESTED,
    *,
    policy: Policy | None = None,
    index: ContactIndex | None = None,
) -> ContactChange:
    """Never create a contact for *address* automatically (an erasure request, an opt-out)."""
    index = _index(store, policy, index)
    before = index.suppressed.get(index.key(address))
    record = index.suppress(address, reason)
    change = ContactChange(suppressed=() if record == before else (record,))
    store.apply_contact_change(change)
    return change
