"""Stateful tests: a `ContactIndex` changed step by step answers like resolving from scratch."""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import datetime

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from mailbind import (
    Canonicalization,
    Contact,
    ContactIndex,
    OwnerChange,
    SuppressionReason,
    parse_address,
    resolve_contact,
)

from .factories import T0, contact
from .strategies import CONTACT_ADDRESSES, CONTACT_IDS, canonicalizations, contact_times, contacts


class ContactLifecycle(RuleBasedStateMachine):
    """Random creates, edits, soft deletes, restores, destroys and suppressions on one index.

    The model is the plain set of current contacts and the suppressed keys; after every step
    the index must answer what `resolve_contact` answers over the model, and each step must have
    reported exactly the keys whose answer changed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.contacts: dict[str, Contact] = {}
        self.suppressed: dict[str, SuppressionReason] = {}
        self.canon = Canonicalization()
        self.index = ContactIndex()

    @initialize(
        canon=canonicalizations(),
        start=st.lists(contacts(), unique_by=lambda c: c.id, max_size=4),
    )
    def build(self, canon: Canonicalization, start: list[Contact]) -> None:
        """Start from an index built at once over some contacts."""
        self.canon = canon
        self.contacts = {c.id: c for c in start}
        self.index = ContactIndex(start, canonicalization=canon)
        for deleted in start:
            if deleted.deleted_at is not None:  # built from a deleted contact: as `upsert`
                for key in self.plain_keys(deleted):
                    self.suppressed.setdefault(key, SuppressionReason.SOFT_DELETED)

    # --- Helpers ----------------------------------------------------------------------------

    def key(self, address: object) -> str:
        """The key the index uses for *address*."""
        return self.canon.key(parse_address(str(address)))

    def keys(self, contact: Contact) -> set[str]:
        """Every key *contact* holds."""
        return {self.canon.key(a) for a in contact.addresses}

    def plain_keys(self, contact: Contact) -> set[str]:
        """The identity keys of *contact*'s own addresses: what a deletion suppresses."""
        return {a.key for a in contact.addresses}

    def answers(self) -> dict[str, str | None]:
        """Every pool key's owner id, resolved from scratch over the model."""
        answers: dict[str, str | None] = {}
        for address in CONTACT_ADDRESSES:
            found = resolve_contact(address, self.contacts.values(), canonicalization=self.canon)
            answers[self.key(address)] = None if found is None else found.id
        return answers

    def check_changes(
        self, before: dict[str, str | None], changes: tuple[OwnerChange, ...]
    ) -> None:
        """The reported changes are exactly the keys whose answer changed, sorted by key."""
        after = self.answers()
        expected = tuple(
            OwnerChange(k, before[k], after[k]) for k in sorted(before) if before[k] != after[k]
        )
        assert changes == expected

    def pick(self, data: st.DataObject) -> str:
        """The id of one current contact."""
        return data.draw(st.sampled_from(sorted(self.contacts)))

    def suppress_keys(self, keys: set[str], reason: SuppressionReason) -> None:
        """Record a deletion's suppressions in the model (a request is never overwritten)."""
        for key in keys:
            if self.suppressed.get(key) is not SuppressionReason.REQUESTED:
                self.suppressed[key] = reason

    # --- Operations -------------------------------------------------------------------------

    @rule(contact=contacts())
    def upsert(self, contact: Contact) -> None:
        """Create a contact or replace the one with its id, by hand."""
        before = self.answers()
        changes = self.index.upsert(contact)
        self.contacts[contact.id] = contact
        if contact.deleted_at is None:
            for key in self.plain_keys(contact):
                self.suppressed.pop(key, None)
        else:
            self.suppress_keys(self.plain_keys(contact), SuppressionReason.SOFT_DELETED)
        self.check_changes(before, changes)

    @precondition(lambda self: self.contacts)
    @rule(data=st.data(), at=contact_times())
    def soft_delete(self, data: st.DataObject, at: datetime) -> None:
        """Soft-delete a contact: nothing changes owner, its keys become suppressed."""
        contact_id = self.pick(data)
        before = self.answers()
        changes = self.index.soft_delete(contact_id, at)
        contact = self.contacts[contact_id]
        if contact.deleted_at is None:
            self.contacts[contact_id] = replace(contact, deleted_at=at)
        self.suppress_keys(self.plain_keys(contact), SuppressionReason.SOFT_DELETED)
        assert changes == ()
        self.check_changes(before, changes)

    @precondition(lambda self: self.contacts)
    @rule(data=st.data())
    def restore(self, data: st.DataObject) -> None:
        """Restore a contact: nothing changes owner."""
        contact_id = self.pick(data)
        before = self.answers()
        was_deleted = self.contacts[contact_id].deleted_at is not None
        lifted = {
            key
            for key, record in self.index.suppressed.items()
            if record.reason is SuppressionReason.SOFT_DELETED and record.contact_id == contact_id
        }
        changes = self.index.restore(contact_id)
        contact = self.contacts[contact_id]
        self.contacts[contact_id] = replace(contact, deleted_at=None)
        if was_deleted:
            for key in lifted & self.plain_keys(contact):
                del self.suppressed[key]
        assert changes == ()
        self.check_changes(before, changes)

    @precondition(lambda self: self.contacts)
    @rule(data=st.data())
    def destroy(self, data: st.DataObject) -> None:
        """Destroy a contact: its keys pass on, and are suppressed."""
        contact_id = self.pick(data)
        before = self.answers()
        changes = self.index.destroy(contact_id)
        contact = self.contacts.pop(contact_id)
        self.suppress_keys(self.plain_keys(contact), SuppressionReason.DESTROYED)
        self.check_changes(before, changes)

    @rule(address=st.sampled_from(CONTACT_ADDRESSES))
    def suppress(self, address: str) -> None:
        """Suppress an address on request: no owner changes."""
        before = self.answers()
        self.index.suppress(address)
        self.suppressed[parse_address(str(address)).key] = SuppressionReason.REQUESTED
        self.check_changes(before, ())

    @rule()
    def round_trip(self) -> None:
        """Pickle and unpickle the index mid-way; carry on with the copy."""
        self.index = pickle.loads(pickle.dumps(self.index))

    @rule(contact_id=st.sampled_from(CONTACT_IDS))
    def look_up(self, contact_id: str) -> None:
        """``get`` finds exactly the current contacts."""
        assert self.index.get(contact_id) == self.contacts.get(contact_id)

    # --- Invariants -------------------------------------------------------------------------

    @invariant()
    def resolves_like_from_scratch(self) -> None:
        """Every lookup equals `resolve_contact` over the current contacts."""
        for address in CONTACT_ADDRESSES:
            expected = resolve_contact(address, self.contacts.values(), canonicalization=self.canon)
            assert self.index.resolve(address) == expected

    @invariant()
    def holds_the_current_contacts(self) -> None:
        """The index holds the model's contacts and suppressions, nothing else."""
        assert len(self.index) == len(self.contacts)
        assert {c.id: c for c in self.index} == self.contacts
        assert {k: s.reason for k, s in self.index.suppressed.items()} == self.suppressed

    @invariant()
    def suppression_holds_under_the_canonicalisation(self) -> None:
        """An address is suppressed exactly when it folds like a suppressed address."""
        folded = {self.canon.fold(key) for key in self.suppressed}
        for address in CONTACT_ADDRESSES:
            assert self.index.is_suppressed(address) == (self.key(address) in folded)

    @invariant()
    def equals_a_fresh_build(self) -> None:
        """An index built afresh over the current contacts gives the same answers."""
        fresh = ContactIndex(self.contacts.values(), canonicalization=self.canon)
        for address in CONTACT_ADDRESSES:
            assert fresh.resolve(address) == self.index.resolve(address)


ContactLifecycle.TestCase.settings = settings(max_examples=100, stateful_step_count=30)
TestContactLifecycle = ContactLifecycle.TestCase


def test_an_index_built_from_a_deleted_contact_suppresses_it_as_upsert_does() -> None:
    """``ContactIndex([deleted])`` and ``ContactIndex().upsert(deleted)`` are one way."""
    deleted = contact("c1", "jane@client.example", deleted_at=T0)
    built = ContactIndex([deleted])
    assert not ContactIndex([deleted], suppressed=()).suppressed
    upserted = ContactIndex()
    upserted.upsert(deleted)
    assert dict(built.suppressed) == dict(upserted.suppressed)
    assert built.is_suppressed("jane@client.example")
    assert built.suppressed["jane@client.example"].reason is SuppressionReason.SOFT_DELETED
