"""Contacts and which contact each address belongs to (RULES 5).

Invariants:
- Resolution is by identity key (after the optional canonicalisation), deterministic and
  independent of the order contacts are given in: a contact whose primary address matches beats
  one where it is only additional; then the oldest creation time; then the smallest id.
- Soft-deleted contacts stay bound; only a destroyed contact lets go.
- `ContactIndex` answers exactly what `resolve_contact` answers over its current contacts, and
  every change reports exactly the keys whose owner changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .addresses import Address

__all__ = ["Contact", "ContactIndex", "resolve_contact"]


@dataclass(frozen=True, slots=True, init=False)
class Contact:
    """A CRM contact: an id, a primary address, additional addresses, and its lifetime."""

    id: str
    primary: Address
    additional: tuple[Address, ...]
    #: When the contact was created (timezone-aware).
    created_at: datetime
    #: When it was soft-deleted, or None.
    deleted_at: datetime | None
    first_name: str = field(default="")
    last_name: str = field(default="")
    #: The registrable domain of the contact's company, or None.
    company_domain: str | None = field(default=None)

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError


class ContactIndex:
    """Constant-time resolution over a changing set of contacts."""


def resolve_contact(address: Address | str, contacts: object) -> Contact | None:
    raise NotImplementedError
