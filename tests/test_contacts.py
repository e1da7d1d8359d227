"""Tests for contacts and their resolution: the record, `resolve_contact` and `ContactIndex`."""

from __future__ import annotations

import dataclasses
import pickle
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind import (
    Canonicalization,
    Contact,
    ContactError,
    ContactIndex,
    InvalidAddressError,
    OwnerChange,
    Suppression,
    SuppressionReason,
    parse_address,
    resolve_contact,
)

from .strategies import CONTACT_ADDRESSES, canonicalizations, contact_sets

T0 = datetime(2024, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
T2 = T0 + timedelta(days=2)


def make(
    id: str, primary: str, *additional: str, at: datetime = T0, deleted: datetime | None = None
) -> Contact:
    """A contact with the given addresses, created *at*."""
    return Contact(id=id, primary=primary, additional=additional, created_at=at, deleted_at=deleted)


def ranked(address: str, contacts: list[Contact], canon: Canonicalization) -> Contact | None:
    """The rule of RULES 5.2 written out as a sort: the test's own oracle."""
    key = canon.key(parse_address(address))
    holders = [c for c in contacts if key in {canon.key(a) for a in c.addresses}]
    holders.sort(key=lambda c: (canon.key(c.primary) != key, c.created_at, c.id))
    return holders[0] if holders else None


# --- The record ------------------------------------------------------------------------------


def test_contact_reads_strings_and_addresses() -> None:
    """Addresses are read from strings or taken as `Address` values."""
    contact = Contact(
        id="c1",
        primary="Jane Doe <Jane@Example.com>",
        additional=[parse_address("j.doe@example.org")],
        created_at=T0,
    )
    assert contact.primary.key == "jane@example.com"
    assert [a.key for a in contact.additional] == ["j.doe@example.org"]
    assert contact.addresses == (contact.primary, *contact.additional)
    assert not contact.deleted


def test_additional_addresses_are_deduplicated_and_never_the_primary() -> None:
    """Repeats (by identity key) and the primary itself are dropped from the additional ones."""
    contact = make("c1", "jane@example.com", "JANE@example.com.", "j@x.io", "J@X.IO", "j2@x.io")
    assert [a.key for a in contact.additional] == ["j@x.io", "j2@x.io"]


def test_a_single_additional_string_is_one_address() -> None:
    """A string given as ``additional`` is one address, not a sequence of characters."""
    contact = Contact(id="c1", primary="a@x.io", additional="b@x.io", created_at=T0)
    assert [a.key for a in contact.additional] == ["b@x.io"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"primary": "x@"},
            "Contact 'c1' has an unreadable primary address: 'x@'.",
        ),
        (
            {"additional": ["ok@x.io", "not an address"]},
            "Contact 'c1' has an unreadable additional address: 'not an address'.",
        ),
        (
            {"primary": 42},
            "Contact 'c1' has a primary address of type int; give a string or an Address.",
        ),
        (
            {"created_at": datetime(2024, 1, 1)},
            "Contact 'c1' has a naive created_at: datetime.datetime(2024, 1, 1, 0, 0); "
            "give a timezone-aware datetime.",
        ),
        (
            {"deleted_at": datetime(2024, 1, 1)},
            "Contact 'c1' has a naive deleted_at: datetime.datetime(2024, 1, 1, 0, 0); "
            "give a timezone-aware datetime.",
        ),
        (
            {"created_at": "2024-01-01"},
            "Contact 'c1' has a created_at of type str; give a timezone-aware datetime.",
        ),
        (
            {"first_name": None},
            "Contact 'c1' has a first_name of type NoneType; give a string.",
        ),
        (
            {"company_domain": 1},
            "Contact 'c1' has a company_domain of type int; give a string.",
        ),
        ({"id": ""}, "A contact id must be a non-empty string, not ''."),
        ({"id": 7}, "A contact id must be a non-empty string, not 7."),
    ],
)
def test_bad_contacts_are_refused_with_a_clear_message(
    kwargs: dict[str, object], message: str
) -> None:
    """A contact that cannot be valid is a `ContactError` (a ValueError) naming the field."""
    values: dict[str, object] = {"id": "c1", "primary": "jane@example.com", "created_at": T0}
    values.update(kwargs)
    with pytest.raises(ContactError) as info:
        Contact(**values)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_contacts_are_frozen_and_picklable() -> None:
    """A contact cannot be changed in place, and survives pickling equal to itself."""
    contact = make("c1", "jane@bücher.de", "j@x.io", deleted=T1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        contact.id = "c2"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(contact)) == contact
    assert dataclasses.replace(contact, deleted_at=None).deleted_at is None


# --- Resolution ------------------------------------------------------------------------------


def test_primary_beats_additional_even_when_younger() -> None:
    """A contact whose primary address matches wins over an older one holding it as additional."""
    old = make("c1", "other@x.io", "jane@example.com", at=T0)
    young = make("c2", "jane@example.com", at=T2)
    assert resolve_contact("jane@example.com", [old, young]) is young


def test_oldest_wins_among_equals() -> None:
    """Among contacts matching the same way, the oldest creation time wins."""
    a = make("c1", "jane@example.com", at=T1)
    b = make("c2", "jane@example.com", at=T0)
    assert resolve_contact("jane@example.com", [a, b]) is b


def test_smallest_id_breaks_a_tie_of_the_same_instant() -> None:
    """The same creation instant (in any timezone) falls back to the smallest id, as strings."""
    same = T0.astimezone(timezone(timedelta(hours=5)))
    a = make("c2", "jane@example.com", at=T0)
    b = make("c10", "jane@example.com", at=same)
    assert resolve_contact("jane@example.com", [a, b]) is b


def test_soft_deleted_contacts_stay_bound() -> None:
    """A soft-deleted contact keeps its addresses and still wins."""
    deleted = make("c1", "jane@example.com", at=T0, deleted=T2)
    live = make("c2", "jane@example.com", at=T1)
    assert resolve_contact("jane@example.com", [live, deleted]) is deleted


@pytest.mark.parametrize(
    "address",
    ["jane@bücher.de", "JANE@BÜCHER.DE", "jane@xn--bcher-kva.de", "Jane@Bücher.de."],
)
def test_resolution_is_by_identity_key(address: str) -> None:
    """Case, the two forms of an IDN domain and a trailing dot do not matter."""
    contact = make("c1", "jane@bücher.de")
    assert resolve_contact(address, [contact]) is contact
    assert resolve_contact(parse_address(address), [contact]) is contact


def test_canonicalisation_applies_when_asked() -> None:
    """``+tags`` and Gmail dots match only with the canonicalisation switched on."""
    contact = make("c1", "jane.doe@gmail.com")
    both = Canonicalization(strip_subaddress=True, fold_gmail=True)
    assert resolve_contact("janedoe+crm@googlemail.com", [contact]) is None
    assert resolve_contact("janedoe+crm@googlemail.com", [contact], canonicalization=both) is (
        contact
    )


def test_unknown_address_resolves_to_nobody() -> None:
    """An address no contact holds resolves to None."""
    assert resolve_contact("nobody@example.com", [make("c1", "jane@example.com")]) is None
    assert resolve_contact("nobody@example.com", []) is None


def test_two_contacts_with_one_id_are_an_error() -> None:
    """Two contacts with the same id are a `ContactError`, wherever they stand."""
    contacts = [make("c1", "a@x.io"), make("c2", "b@x.io"), make("c1", "c@x.io")]
    with pytest.raises(ContactError, match=r"^Two contacts have the id 'c1'\.$"):
        resolve_contact("zzz@x.io", contacts)
    with pytest.raises(ContactError, match=r"^Two contacts have the id 'c1'\.$"):
        ContactIndex(contacts)


def test_resolving_bad_input_is_an_error() -> None:
    """An unreadable address or something that is not a contact is refused."""
    with pytest.raises(InvalidAddressError):
        resolve_contact("not an address", [])
    with pytest.raises(ContactError, match=r"^Expected a Contact, not str\.$"):
        resolve_contact("a@x.io", ["a@x.io"])  # type: ignore[list-item]


@given(contact_sets(), canonicalizations(), st.randoms(use_true_random=False))
def test_resolution_follows_the_rule_in_any_order(
    contacts: list[Contact], canon: Canonicalization, rnd: random.Random
) -> None:
    """Resolution equals the written rule, and shuffling the contacts never changes it."""
    shuffled = contacts[:]
    rnd.shuffle(shuffled)
    index = ContactIndex(shuffled, canonicalization=canon)
    for address in CONTACT_ADDRESSES:
        expected = ranked(address, contacts, canon)
        assert resolve_contact(address, contacts, canonicalization=canon) == expected
        assert resolve_contact(address, shuffled, canonicalization=canon) == expected
        assert index.resolve(address) == expected


# --- The index -------------------------------------------------------------------------------


def test_index_reads_like_a_collection() -> None:
    """An index knows its contacts by id, counts and iterates them."""
    a, b = make("c1", "a@x.io", "a2@x.io"), make("c2", "b@x.io")
    index = ContactIndex([a, b])
    assert len(index) == 2
    assert list(index) == [a, b]
    assert index.get("c1") is a
    assert index.get("nope") is None
    assert "c2" in index
    assert "c3" not in index
    assert index.resolve("A2@X.IO") is a
    assert index.key("A2@X.IO") == "a2@x.io"
    assert repr(index) == "<ContactIndex: 2 contacts, 3 keys, 0 suppressed>"


def test_upsert_reports_exactly_the_keys_that_changed_owner() -> None:
    """Creating, then editing a contact reports each key whose owner changed, sorted by key."""
    index = ContactIndex([make("c1", "jane@x.io", "shared@x.io", at=T1)])
    changes = index.upsert(make("c2", "shared@x.io", "new@x.io", at=T2))
    assert changes == (
        OwnerChange("new@x.io", None, "c2"),
        OwnerChange("shared@x.io", "c1", "c2"),
    )
    changes = index.upsert(make("c2", "other@x.io", at=T2))
    assert changes == (
        OwnerChange("new@x.io", "c2", None),
        OwnerChange("other@x.io", None, "c2"),
        OwnerChange("shared@x.io", "c2", "c1"),
    )


def test_soft_delete_keeps_the_messages_and_suppresses() -> None:
    """A soft-deleted contact stays bound (no changes) and its keys become suppressed."""
    index = ContactIndex([make("c1", "jane@x.io", "j@x.io")])
    assert index.soft_delete("c1", T1) == ()
    contact = index.resolve("jane@x.io")
    assert contact is not None
    assert contact.deleted_at == T1
    assert dict(index.suppressed) == {
        "jane@x.io": Suppression("jane@x.io", SuppressionReason.SOFT_DELETED, "c1"),
        "j@x.io": Suppression("j@x.io", SuppressionReason.SOFT_DELETED, "c1"),
    }
    assert index.soft_delete("c1", T2) == ()
    assert index.get("c1").deleted_at == T1  # type: ignore[union-attr]


def test_restore_lifts_what_the_soft_delete_recorded() -> None:
    """Restoring a contact clears its deletion and the suppressions its deletion recorded."""
    index = ContactIndex([make("c1", "jane@x.io", "j@x.io")])
    index.soft_delete("c1", T1)
    index.suppress("j@x.io")
    assert index.restore("c1") == ()
    assert index.get("c1").deleted_at is None  # type: ignore[union-attr]
    assert list(index.suppressed) == ["j@x.io"]
    assert index.suppressed["j@x.io"].reason is SuppressionReason.REQUESTED


def test_destroy_hands_keys_to_the_next_candidate() -> None:
    """A destroyed contact lets go: its keys pass to the next candidate or to nobody."""
    first = make("c1", "jane@x.io", "shared@x.io", at=T0)
    second = make("c2", "shared@x.io", at=T1)
    third = make("c3", "other@x.io", "shared@x.io", at=T0)
    index = ContactIndex([first, second, third])
    assert index.resolve("shared@x.io") is second
    assert index.destroy("c2") == (OwnerChange("shared@x.io", "c2", "c1"),)
    assert index.destroy("c1") == (
        OwnerChange("jane@x.io", "c1", None),
        OwnerChange("shared@x.io", "c1", "c3"),
    )
    assert index.resolve("shared@x.io") is third
    assert index.suppressed["jane@x.io"] == Suppression(
        "jane@x.io", SuppressionReason.DESTROYED, "c1"
    )
    assert len(index) == 1


def test_creating_by_hand_lifts_the_suppression() -> None:
    """A live contact upserted by hand lifts the suppression of its addresses."""
    index = ContactIndex([make("c1", "jane@x.io")])
    index.destroy("c1")
    index.suppress("erased@x.io")
    assert index.is_suppressed("JANE@x.io")
    assert index.is_suppressed("erased@x.io")
    index.upsert(make("c2", "jane@x.io", "erased@x.io"))
    assert not index.suppressed


def test_upserting_a_deleted_contact_suppresses_it() -> None:
    """Upserting a soft-deleted contact records its keys as a soft delete does."""
    index = ContactIndex()
    index.upsert(make("c1", "jane@x.io", deleted=T1))
    assert index.suppressed["jane@x.io"].reason is SuppressionReason.SOFT_DELETED


def test_a_request_outlives_later_deletions() -> None:
    """A caller's own suppression (an erasure request) is not overwritten by a deletion."""
    index = ContactIndex([make("c1", "jane@x.io")])
    index.suppress("jane@x.io")
    index.soft_delete("c1", T1)
    index.destroy("c1")
    assert index.suppressed["jane@x.io"] == Suppression(
        "jane@x.io", SuppressionReason.REQUESTED, None
    )
    assert index.unsuppress("jane@x.io")
    assert not index.unsuppress("jane@x.io")


def test_operations_on_unknown_contacts_are_errors() -> None:
    """Deleting, restoring or destroying an id the index does not hold is a `ContactError`."""
    index = ContactIndex()
    for operation in (index.restore, index.destroy):
        with pytest.raises(ContactError, match=r"^No contact has the id 'c9'\.$"):
            operation("c9")
    with pytest.raises(ContactError, match=r"^No contact has the id 'c9'\.$"):
        index.soft_delete("c9", T0)


def test_soft_delete_needs_an_aware_time() -> None:
    """A naive deletion time is a `ContactError`."""
    index = ContactIndex([make("c1", "jane@x.io")])
    with pytest.raises(ContactError, match=r"^Contact 'c1' has a naive deletion time: "):
        index.soft_delete("c1", datetime(2024, 1, 1))


def test_index_takes_suppressions_back() -> None:
    """Suppressions a store kept are given back to a new index."""
    kept = [Suppression("jane@x.io", SuppressionReason.DESTROYED, "c1")]
    index = ContactIndex(suppressed=kept)
    assert index.is_suppressed("Jane@X.io")
    with pytest.raises(ContactError, match=r"^Expected a Suppression, not str\.$"):
        ContactIndex(suppressed=["jane@x.io"])  # type: ignore[list-item]


def test_index_keys_follow_its_canonicalisation() -> None:
    """An index with canonicalisation resolves and suppresses by the folded key."""
    canon = Canonicalization(strip_subaddress=True, fold_gmail=True)
    index = ContactIndex([make("c1", "jane.doe@gmail.com")], canonicalization=canon)
    assert index.canonicalization == canon
    assert index.resolve("JaneDoe+x@googlemail.com") is index.get("c1")
    index.destroy("c1")
    assert index.is_suppressed("j.a.n.e.doe+y@gmail.com")


@settings(max_examples=50)
@given(contact_sets(), canonicalizations())
def test_pickling_keeps_every_answer(contacts: list[Contact], canon: Canonicalization) -> None:
    """An unpickled index holds the same contacts, answers and suppressions."""
    index = ContactIndex(contacts, canonicalization=canon)
    if contacts:
        index.destroy(contacts[0].id)
    index.suppress("erased@x.io")
    copy = pickle.loads(pickle.dumps(index))
    assert list(copy) == list(index)
    assert dict(copy.suppressed) == dict(index.suppressed)
    assert copy.canonicalization == canon
    for address in CONTACT_ADDRESSES:
        assert copy.resolve(address) == index.resolve(address)


def test_pickled_index_is_compact() -> None:
    """The pickled index is smaller than pickling its contacts one by one."""
    contacts = [
        make(f"c{i}", f"person{i}@client{i % 7}.example", f"p{i}@bücher.de") for i in range(300)
    ]
    index = ContactIndex(contacts)
    assert len(pickle.dumps(index)) < 0.6 * len(pickle.dumps(contacts))


def test_a_foreign_pickled_state_is_refused() -> None:
    """Loading a state from another layout is a clear `ContactError`."""
    index = ContactIndex.__new__(ContactIndex)
    with pytest.raises(ContactError, match="another version of mailbind"):
        index.__setstate__({"v": 99})
