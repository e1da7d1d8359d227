"""Contacts and which contact each address belongs to (RULES 5).

Invariants:
- A `Contact` is valid once it exists: readable addresses, aware datetimes, additional addresses
  deduplicated by identity key and never repeating the primary.
- Resolution is by identity key (after the optional canonicalisation), deterministic and
  independent of the order contacts are given in: a contact whose primary address matches beats
  one where it is only additional; then the oldest creation time; then the smallest id.
- Soft-deleted contacts stay bound; only a destroyed contact lets go.
- `ContactIndex` answers exactly what `resolve_contact` answers over its current contacts, and
  every change reports exactly the keys whose owner changed.
- Deleting a contact (soft or permanent) suppresses its keys; creating or editing a live contact
  lifts the suppression of its keys. Suppression is state of the index, kept by the caller's store.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from operator import attrgetter
from types import MappingProxyType
from typing import Any

from .addresses import Address, Canonicalization, parse_address
from .errors import ContactError, ContactTypeError, InvalidAddressError, wrong_type

__all__ = [
    "Contact",
    "ContactIndex",
    "OwnerChange",
    "Suppression",
    "SuppressionReason",
    "resolve_contact",
]


def _address(value: object, contact_id: str, what: str) -> Address:
    if isinstance(value, Address):
        return value
    if not isinstance(value, str):
        raise ContactTypeError(
            f"Contact {contact_id!r} has a {what} address of type {type(value).__name__}; "
            "give a string or an Address."
        )
    try:
        return parse_address(value)
    except InvalidAddressError:
        raise ContactError(
            f"Contact {contact_id!r} has an unreadable {what} address: {value!r}."
        ) from None


def _moment(value: object, contact_id: str, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise ContactTypeError(
            f"Contact {contact_id!r} has a {what} of type {type(value).__name__}; "
            "give a timezone-aware datetime."
        )
    if value.utcoffset() is None:
        raise ContactError(
            f"Contact {contact_id!r} has a naive {what}: {value!r}; give a timezone-aware datetime."
        )
    return value


def _text(value: object, contact_id: str, what: str) -> str:
    if not isinstance(value, str):
        raise ContactTypeError(
            f"Contact {contact_id!r} has a {what} of type {type(value).__name__}; give a string."
        )
    return value


@dataclass(frozen=True, slots=True, init=False)
class Contact:
    """A CRM contact: an id, a primary address, additional addresses, and its lifetime.

    Addresses may be given as strings or `Address` values; times must be timezone-aware.
    """

    id: str
    primary: Address
    #: Further addresses, without repeats (by identity key) and never the primary.
    additional: tuple[Address, ...]
    #: When the contact was created (timezone-aware).
    created_at: datetime
    #: When it was soft-deleted, or None.
    deleted_at: datetime | None
    first_name: str
    last_name: str
    #: The registrable domain of the contact's company, or None.
    company_domain: str | None

    def __init__(
        self,
        id: str,
        primary: Address | str,
        additional: Iterable[Address | str] = (),
        *,
        created_at: datetime,
        deleted_at: datetime | None = None,
        first_name: str = "",
        last_name: str = "",
        company_domain: str | None = None,
    ) -> None:
        if not isinstance(id, str) or not id:
            error = ContactError if isinstance(id, str) else ContactTypeError
            raise error(f"A contact id must be a non-empty string, not {id!r}.")
        set_ = object.__setattr__
        set_(self, "id", id)
        first = _address(primary, id, "primary")
        set_(self, "primary", first)
        if isinstance(additional, str | Address):
            additional = (additional,)
        elif not isinstance(additional, Iterable):
            raise wrong_type("Contact()", "additional", "addresses", additional, ContactTypeError)
        seen = {first.key}
        more: list[Address] = []
        for value in additional:
            address = _address(value, id, "additional")
            if address.key not in seen:
                seen.add(address.key)
                more.append(address)
        set_(self, "additional", tuple(more))
        set_(self, "created_at", _moment(created_at, id, "created_at"))
        set_(
            self,
            "deleted_at",
            None if deleted_at is None else _moment(deleted_at, id, "deleted_at"),
        )
        set_(self, "first_name", _text(first_name, id, "first_name"))
        set_(self, "last_name", _text(last_name, id, "last_name"))
        if company_domain is not None:
            _text(company_domain, id, "company_domain")
        set_(self, "company_domain", company_domain)

    @property
    def addresses(self) -> tuple[Address, ...]:
        """The primary address followed by the additional ones."""
        return (self.primary, *self.additional)

    @property
    def deleted(self) -> bool:
        """True when the contact is soft-deleted."""
        return self.deleted_at is not None


@dataclass(frozen=True, slots=True)
class OwnerChange:
    """One identity key whose contact changed: re-link the messages of this key."""

    key: str
    #: The id of the contact that held the key before, or None.
    old: str | None
    #: The id of the contact that holds it now, or None.
    new: str | None


class SuppressionReason(StrEnum):
    """Why automatic creation must not bring an address back."""

    #: Its contact was soft-deleted.
    SOFT_DELETED = "soft_deleted"
    #: Its contact was destroyed (permanently deleted).
    DESTROYED = "destroyed"
    #: The caller asked for it (an erasure request, an opt-out).
    REQUESTED = "requested"


@dataclass(frozen=True, slots=True)
class Suppression:
    """A tombstone: automatic creation never proposes this key."""

    key: str
    reason: SuppressionReason
    #: The contact whose deletion recorded it; None for a caller's own request.
    contact_id: str | None = None


# --- Resolution ------------------------------------------------------------------------------


def _plain(canonicalization: Canonicalization | None) -> Canonicalization | None:
    """*canonicalization* when it folds anything, else None (plain identity keys)."""
    if canonicalization is None:
        return None
    if not isinstance(canonicalization, Canonicalization):
        raise ContactTypeError(
            f"canonicalization must be a Canonicalization, not {type(canonicalization).__name__}."
        )
    if canonicalization.strip_subaddress or canonicalization.fold_gmail:
        return canonicalization
    return None


def _contact_keys(contact: Contact, canon: Canonicalization | None) -> tuple[str, ...]:
    """The keys *contact* holds, primary first, without repeats."""
    if canon is None:
        if not contact.additional:
            return (contact.primary.key,)
        return (contact.primary.key, *[a.key for a in contact.additional])
    keys = dict.fromkeys(canon.key(a) for a in (contact.primary, *contact.additional))
    return tuple(keys)


def _plain_keys(contact: Contact) -> tuple[str, ...]:
    """The identity keys of *contact*'s addresses, primary first, without repeats."""
    return tuple(dict.fromkeys(a.key for a in contact.addresses))


def _primary_key(contact: Contact, canon: Canonicalization | None) -> str:
    return contact.primary.key if canon is None else canon.key(contact.primary)


def _rank(contact: Contact, key: str, canon: Canonicalization | None) -> tuple[bool, datetime, str]:
    """Smaller wins: primary before additional, then the oldest, then the smallest id."""
    return (_primary_key(contact, canon) != key, contact.created_at, contact.id)


def _lookup_key(address: Address | str, canon: Canonicalization | None) -> str:
    if not isinstance(address, Address):
        if not isinstance(address, str):
            raise ContactTypeError(
                f"An address must be a string or an Address, not {type(address).__name__}."
            )
        address = parse_address(address)
    return address.key if canon is None else canon.key(address)


def _check_contact(value: object) -> Contact:
    if not isinstance(value, Contact):
        raise ContactTypeError(f"Expected a Contact, not {type(value).__name__}.")
    return value


def _duplicate(contact_id: str) -> ContactError:
    return ContactError(f"Two contacts have the id {contact_id!r}.")


def resolve_contact(
    address: Address | str,
    contacts: Iterable[Contact],
    *,
    canonicalization: Canonicalization | None = None,
) -> Contact | None:
    """The contact *address* belongs to among *contacts*, or None (RULES 5.2).

    Reads every contact once; for many lookups build a `ContactIndex`. Two contacts with one id
    are a `ContactError`.
    """
    canon = _plain(canonicalization)
    key = _lookup_key(address, canon)
    ids: set[str] = set()
    best: Contact | None = None
    best_rank: tuple[bool, datetime, str] | None = None
    for value in contacts:
        contact = _check_contact(value)
        if contact.id in ids:
            raise _duplicate(contact.id)
        ids.add(contact.id)
        if key in _contact_keys(contact, canon):
            rank = _rank(contact, key, canon)
            if best_rank is None or rank < best_rank:
                best, best_rank = contact, rank
    return best


# --- The index -------------------------------------------------------------------------------


class ContactIndex:
    """Constant-time resolution over a changing set of contacts, with suppression.

    Every change returns the `OwnerChange` of each key whose answer changed, sorted by key, so a
    store re-links exactly those messages. The index holds references to the contacts given and,
    per identity key, only the winning contact; keys held by several contacts also keep their
    candidates, so a destroyed contact's keys pass to the next one without a scan.

    Built from contacts alone, the index suppresses the keys of each soft-deleted one, as
    `upsert` of that contact does. Given *suppressed* (a store's records, even none), it
    holds exactly those: a suppression lifted by hand stays lifted.
    """

    __slots__ = (
        "_by_id",
        "_canon",
        "_canonicalization",
        "_folded",
        "_owner",
        "_rivals",
        "_suppressed",
    )

    _by_id: dict[str, Contact]
    #: key -> the contact it resolves to.
    _owner: dict[str, Contact]
    #: key -> every contact holding it, for keys held by two or more contacts.
    _rivals: dict[str, list[Contact]]
    #: plain identity key -> its record: suppressions are kept by the addresses' own keys, so
    #: that they hold under every canonicalisation.
    _suppressed: dict[str, Suppression]
    #: canonical key -> the suppressed plain keys folding to it (with a canonicalisation only).
    _folded: dict[str, set[str]]
    _canon: Canonicalization | None
    _canonicalization: Canonicalization

    def __init__(
        self,
        contacts: Iterable[Contact] = (),
        *,
        canonicalization: Canonicalization | None = None,
        suppressed: Iterable[Suppression] | None = None,
    ) -> None:
        canon = _plain(canonicalization)
        self._canon = canon
        self._canonicalization = canonicalization or Canonicalization()
        self._by_id = {}
        self._owner = {}
        self._rivals = {}
        self._suppressed = {}
        self._folded = {}
        for name, given in (("contacts", contacts), ("suppressed", suppressed or ())):
            if not isinstance(given, Iterable) or isinstance(given, Contact | Suppression | str):
                kinds = "Contacts" if name == "contacts" else "Suppressions"
                raise wrong_type("ContactIndex()", name, kinds, given, ContactTypeError)
        for item in suppressed or ():
            if not isinstance(item, Suppression):
                raise ContactTypeError(f"Expected a Suppression, not {type(item).__name__}.")
            self._put_suppression(item)
        self._load(contacts, suppressed is None)

    def _load(self, contacts: Iterable[Contact], record_deleted: bool) -> None:
        """Add *contacts* in one pass: one dictionary step per id and per address.

        Each key goes to the first contact claiming it; a key another contact claimed already
        is settled by rank in `_contend`, so the result does not depend on the order.
        """
        enter = self._by_id.setdefault
        claim = self._owner.setdefault
        canon = self._canon
        contend = self._contend
        for value in contacts:
            contact = value if type(value) is Contact else _check_contact(value)
            if enter(contact.id, contact) is not contact:
                raise _duplicate(contact.id)
            if record_deleted and contact.deleted_at is not None:
                # A soft-deleted contact suppresses its keys, as `upsert` records it.
                self._record(contact, SuppressionReason.SOFT_DELETED)
            if canon is not None:
                for key in _contact_keys(contact, canon):
                    if claim(key, contact) is not contact:
                        contend(key, contact)
                continue
            key = contact.primary.key
            if claim(key, contact) is not contact:
                contend(key, contact)
            if contact.additional:
                for address in contact.additional:
                    key = address.key
                    if claim(key, contact) is not contact:
                        contend(key, contact)

    def _contend(self, key: str, contact: Contact) -> None:
        """Add *contact* as a candidate for *key*, which another contact already holds."""
        current = self._owner[key]
        rivals = self._rivals.get(key)
        if rivals is None:
            self._rivals[key] = [current, contact]
        else:
            rivals.append(contact)
        canon = self._canon
        if _rank(contact, key, canon) < _rank(current, key, canon):
            self._owner[key] = contact

    def _add(self, contact: Contact) -> None:
        claim = self._owner.setdefault
        for key in _contact_keys(contact, self._canon):
            if claim(key, contact) is not contact:
                self._contend(key, contact)

    def _remove(self, contact: Contact) -> None:
        owner = self._owner
        canon = self._canon
        for key in _contact_keys(contact, canon):
            rivals = self._rivals.get(key)
            if rivals is None:
                del owner[key]
                continue
            rivals[:] = [c for c in rivals if c.id != contact.id]
            if len(rivals) == 1:
                owner[key] = rivals[0]
                del self._rivals[key]
            else:
                owner[key] = min(rivals, key=lambda c: _rank(c, key, canon))

    def _changing(self, keys: Iterable[str], apply: Any) -> tuple[OwnerChange, ...]:
        """Run *apply* and report the keys among *keys* whose owner changed."""
        owner = self._owner
        before = {k: (c.id if (c := owner.get(k)) is not None else None) for k in keys}
        apply()
        changes = []
        for key in sorted(before):
            now = owner.get(key)
            new = now.id if now is not None else None
            if new != before[key]:
                changes.append(OwnerChange(key, before[key], new))
        return tuple(changes)

    def _replace(self, old: Contact | None, new: Contact | None) -> tuple[OwnerChange, ...]:
        keys: dict[str, None] = {}
        if old is not None:
            keys.update(dict.fromkeys(_contact_keys(old, self._canon)))
        if new is not None:
            keys.update(dict.fromkeys(_contact_keys(new, self._canon)))

        def apply() -> None:
            if old is not None:
                self._remove(old)
                del self._by_id[old.id]
            if new is not None:
                self._add(new)
                self._by_id[new.id] = new

        return self._changing(keys, apply)

    def _existing(self, contact_id: str) -> Contact:
        contact = self._by_id.get(contact_id)
        if contact is None:
            raise ContactError(f"No contact has the id {contact_id!r}.")
        return contact

    def _put_suppression(self, record: Suppression) -> None:
        self._suppressed[record.key] = record
        if self._canon is not None:
            self._folded.setdefault(self._canon.fold(record.key), set()).add(record.key)

    def _lift(self, key: str) -> Suppression | None:
        record = self._suppressed.pop(key, None)
        if record is not None and self._canon is not None:
            folded = self._canon.fold(key)
            plain = self._folded.get(folded)
            if plain is not None:
                plain.discard(key)
                if not plain:
                    del self._folded[folded]
        return record

    def _record(self, contact: Contact, reason: SuppressionReason) -> None:
        """Suppress every address of *contact* (by its own identity key)."""
        suppressed = self._suppressed
        for key in _plain_keys(contact):
            current = suppressed.get(key)
            # A caller's own request (an erasure) outlives any later deletion record.
            if current is None or current.reason is not SuppressionReason.REQUESTED:
                self._put_suppression(Suppression(key, reason, contact.id))

    # --- Reading ------------------------------------------------------------------------------

    def resolve(self, address: Address | str) -> Contact | None:
        """The contact *address* belongs to, or None; a string is parsed first."""
        if type(address) is Address and self._canon is None:
            return self._owner.get(address.key)
        return self._owner.get(_lookup_key(address, self._canon))

    def key(self, address: Address | str) -> str:
        """The key *address* is indexed under (its identity key after canonicalisation)."""
        return _lookup_key(address, self._canon)

    def get(self, contact_id: str) -> Contact | None:
        """The contact with *contact_id*, or None."""
        return self._by_id.get(contact_id)

    def __contains__(self, contact_id: object) -> bool:
        return contact_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Contact]:
        return iter(self._by_id.values())

    def __repr__(self) -> str:
        return (
            f"<ContactIndex: {len(self._by_id)} contacts, {len(self._owner)} keys, "
            f"{len(self._suppressed)} suppressed>"
        )

    @property
    def canonicalization(self) -> Canonicalization:
        """The folding applied to every address the index compares."""
        return self._canonicalization

    @property
    def suppressed(self) -> Mapping[str, Suppression]:
        """Every suppressed key with its record (a read-only view)."""
        return MappingProxyType(self._suppressed)

    def is_suppressed(self, address: Address | str) -> bool:
        """True when automatic creation must not propose *address*.

        Under a canonicalisation, an address is suppressed when it folds to the same key as a
        suppressed address: a suppression holds however addresses are compared.
        """
        if self._canon is None:
            return _lookup_key(address, None) in self._suppressed
        return _lookup_key(address, self._canon) in self._folded

    # --- Changing -----------------------------------------------------------------------------

    def upsert(self, contact: Contact) -> tuple[OwnerChange, ...]:
        """Create *contact*, or replace the contact with its id.

        A live contact lifts the suppression of its keys (creating or editing by hand); a
        soft-deleted one records them as suppressed, as `soft_delete` does.
        """
        contact = _check_contact(contact)
        changes = self._replace(self._by_id.get(contact.id), contact)
        if contact.deleted_at is None:
            for key in _plain_keys(contact):
                self._lift(key)
        else:
            self._record(contact, SuppressionReason.SOFT_DELETED)
        return changes

    def soft_delete(self, contact_id: str, at: datetime) -> tuple[OwnerChange, ...]:
        """Mark the contact deleted at *at* and suppress its keys.

        It stays bound (RULES 5.2), so no key changes owner and the result is empty; deleting a
        deleted contact keeps its first deletion time.
        """
        contact = self._existing(contact_id)
        at = _moment(at, contact_id, "deletion time")
        changes: tuple[OwnerChange, ...] = ()
        if contact.deleted_at is None:
            changes = self._replace(contact, replace(contact, deleted_at=at))
        self._record(contact, SuppressionReason.SOFT_DELETED)
        return changes

    def restore(self, contact_id: str) -> tuple[OwnerChange, ...]:
        """Undo a soft delete, lifting the suppressions that delete recorded (empty result)."""
        contact = self._existing(contact_id)
        if contact.deleted_at is None:
            return ()
        changes = self._replace(contact, replace(contact, deleted_at=None))
        for key in _plain_keys(contact):
            record = self._suppressed.get(key)
            if (
                record is not None
                and record.reason is SuppressionReason.SOFT_DELETED
                and record.contact_id == contact_id
            ):
                self._lift(key)
        return changes

    def destroy(self, contact_id: str) -> tuple[OwnerChange, ...]:
        """Delete the contact for good: its keys pass to the next candidate or to nobody.

        Its keys are recorded as suppressed.
        """
        contact = self._existing(contact_id)
        changes = self._replace(contact, None)
        self._record(contact, SuppressionReason.DESTROYED)
        return changes

    def suppress(
        self,
        address: Address | str,
        reason: SuppressionReason = SuppressionReason.REQUESTED,
    ) -> Suppression:
        """Record *address* as never to be created automatically; returns the record."""
        key = _lookup_key(address, None)
        record = Suppression(key, SuppressionReason(reason), None)
        self._put_suppression(record)
        return record

    def unsuppress(self, address: Address | str) -> bool:
        """Lift the suppression of *address* (and of every address folding to it); True when
        there was one."""
        if self._canon is None:
            return self._lift(_lookup_key(address, None)) is not None
        keys = self._folded.get(_lookup_key(address, self._canon), set())
        return [self._lift(key) for key in sorted(keys)] != []

    # --- Pickling -----------------------------------------------------------------------------

    def __getstate__(self) -> object:
        return _pack(self)

    def __setstate__(self, state: object) -> None:
        _unpack(self, state)


# The pickled form is column-oriented and holds no derived table (those are rebuilt on load in
# linear time). Strings of one column are joined by NUL, which no identity key holds (ids and
# names that do are kept as a list); values that repeat (a domain with its registrable domain, a
# company) are written once in a table and referred to by number; a local part is left out when
# the key repeats it. Times stay datetimes, which pickle compactly and exactly. Layout 1 is a
# dict of these columns under "v": 1.
_STATE_VERSION = 1
_SEPARATOR = "\x00"
_ADDRESS_FIELDS = tuple(f.name for f in Address.__dataclass_fields__.values() if f.init)
#: Address fields other than the key and the local part, stored together through a table.
_SHARED_FIELDS = tuple(n for n in _ADDRESS_FIELDS if n not in ("key", "local"))
_shared_values = attrgetter(*_SHARED_FIELDS)
_CONTACT_SLOTS = tuple(Contact.__dict__[name].__set__ for name in Contact.__dataclass_fields__)


def _join(values: list[str]) -> str | list[str]:
    if any(_SEPARATOR in v for v in values):
        return values
    return _SEPARATOR.join(values)


def _split(value: str | list[str], count: int) -> list[str]:
    if isinstance(value, list):
        return value
    return value.split(_SEPARATOR) if count else []


def _numbers(values: list[int]) -> tuple[str, bytes]:
    """Non-negative integers as little-endian bytes of the smallest item size that fits."""
    top = max(values, default=0)
    code = next(c for c in "BHILQ" if top < 1 << (8 * array(c).itemsize))
    packed = array(code, values)
    if sys.byteorder == "big":
        packed.byteswap()
    return code, packed.tobytes()


def _unnumbers(packed: tuple[str, bytes]) -> array[int]:
    numbers = array(packed[0])
    numbers.frombytes(packed[1])
    if sys.byteorder == "big":
        numbers.byteswap()
    return numbers


def _tabled(values: Iterable[object]) -> tuple[list[object], tuple[str, bytes]]:
    """A table of the distinct values and each value's position in it."""
    table: dict[object, int] = {}
    positions = [table.setdefault(v, len(table)) for v in values]
    return list(table), _numbers(positions)


def _untabled(packed: tuple[list[Any], tuple[str, bytes]]) -> list[Any]:
    table, positions = packed
    return list(map(table.__getitem__, _unnumbers(positions)))


def _pack(index: ContactIndex) -> dict[str, object]:
    contacts = list(index._by_id.values())
    addresses = [a for c in contacts for a in (c.primary, *c.additional)]
    canon = index._canonicalization
    keys = [a.key for a in addresses]
    return {
        "v": _STATE_VERSION,
        "canonicalization": (canon.strip_subaddress, canon.fold_gmail),
        "count": len(contacts),
        "ids": _join([c.id for c in contacts]),
        "additional": _numbers([len(c.additional) for c in contacts]),
        "created": [c.created_at for c in contacts],
        "deleted": {i: c.deleted_at for i, c in enumerate(contacts) if c.deleted_at is not None},
        "first": _join([c.first_name for c in contacts]),
        "last": _join([c.last_name for c in contacts]),
        "company": _tabled(c.company_domain for c in contacts),
        "keys": _join(keys),
        # Local parts as written, where the key does not begin with them.
        "locals": {
            i: a.local
            for i, (a, k) in enumerate(zip(addresses, keys, strict=True))
            if k[: k.rindex("@")] != a.local
        },
        "shared": _tabled(map(_shared_values, addresses)),
        "suppressed": [(s.key, s.reason.value, s.contact_id) for s in index._suppressed.values()],
    }


def _unpack(index: ContactIndex, packed: object) -> None:
    if not (isinstance(packed, dict) and packed.get("v") == _STATE_VERSION):
        raise ContactError("This pickled ContactIndex was written by another version of mailbind.")
    state: dict[str, Any] = packed
    count: int = state["count"]
    keys = _split(state["keys"], count)
    locals_ = [k[: k.rindex("@")] for k in keys]
    for i, local in state["locals"].items():
        locals_[i] = local
    shared = _untabled(state["shared"])
    addresses = [
        Address(key, local, *rest) for key, local, rest in zip(keys, locals_, shared, strict=True)
    ]
    counts = _unnumbers(state["additional"])
    created = state["created"]
    deleted = state["deleted"]
    first = _split(state["first"], count)
    last = _split(state["last"], count)
    company = _untabled(state["company"])
    set_id, set_primary, set_more, set_created, set_deleted, set_first, set_last, set_company = (
        _CONTACT_SLOTS
    )
    new = object.__new__
    contacts = []
    at = 0
    for i, contact_id in enumerate(_split(state["ids"], count)):
        contact = new(Contact)
        n = counts[i]
        set_id(contact, contact_id)
        set_primary(contact, addresses[at])
        set_more(contact, tuple(addresses[at + 1 : at + 1 + n]) if n else ())
        set_created(contact, created[i])
        set_deleted(contact, deleted.get(i))
        set_first(contact, first[i])
        set_last(contact, last[i])
        set_company(contact, company[i])
        at += 1 + n
        contacts.append(contact)
    strip, fold = state["canonicalization"]
    ContactIndex.__init__(
        index,
        contacts,
        canonicalization=Canonicalization(strip_subaddress=strip, fold_gmail=fold),
        suppressed=[Suppression(k, SuppressionReason(r), c) for k, r, c in state["suppressed"]],
    )
