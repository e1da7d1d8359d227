"""Email addresses: parsing, validation, identity.

Invariants:
- An `Address` is only made by `parse_address` (or the parser behind `parse_participants`);
  every `Address` that exists has a valid domain and a non-empty local part.
- Two addresses are equal, and hash alike, exactly when their identity keys are equal
  (RULES 1.4): local part NFC and case-folded, ``@``, domain as lower-case IDNA ASCII without a
  trailing dot. Display form (``str(address)``) keeps the original local part and shows the
  Unicode domain.
- `parse_participants` never raises and never drops an entry: an entry that cannot be read is a
  `Participant` whose ``address`` is ``None``, keeping its raw text and the reason.
- Validation is syntax only: no DNS, no network, ever.
- Parsing is cached in a bounded table, valid and invalid results alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "Address",
    "Canonicalization",
    "Participant",
    "Role",
    "parse_address",
    "parse_participants",
]


class Role(StrEnum):
    """The header a participant was named in."""

    FROM = "from"
    TO = "to"
    CC = "cc"
    BCC = "bcc"
    SENDER = "sender"
    REPLY_TO = "reply_to"


@dataclass(frozen=True, slots=True)
class Address:
    """One email address, compared by its identity key.

    Make one with `parse_address`; the fields are filled by the parser.
    """

    #: The identity key: local part NFC and case-folded, ``@``, lower-case IDNA ASCII domain.
    key: str
    #: The local part as written (NFC-normalised).
    local: str = field(compare=False)
    #: The domain in Unicode, lower-case, without a trailing dot (for display).
    domain: str = field(compare=False)
    #: The domain as lower-case IDNA ASCII (punycode), without a trailing dot.
    ascii_domain: str = field(compare=False)
    #: The registrable domain (ASCII) from the Public Suffix List, or None (IP literal,
    #: single-label host).
    registrable: str | None = field(compare=False)
    #: False when the address was accepted only by the lenient rules (RULES 1.3).
    strict: bool = field(default=True, compare=False)

    def __str__(self) -> str:
        return f"{self.local}@{self.domain}"


@dataclass(frozen=True, slots=True)
class Participant:
    """One entry of an address header: who, in which role, and whether it could be read."""

    role: Role
    #: The address, or None when the entry could not be read (see ``problem``).
    address: Address | None
    #: The display name, decoded (RFC 2047); never used for identity.
    name: str = ""
    #: The entry's text as it stood in the header.
    raw: str = ""
    #: Why the address could not be read; None when it could.
    problem: str | None = None

    @property
    def readable(self) -> bool:
        """True when the entry has an address."""
        return self.address is not None


@dataclass(frozen=True, slots=True)
class Canonicalization:
    """Optional folding applied wherever addresses are compared (RULES 1.5). Off by default."""

    #: Drop a ``+tag`` sub-address: ``jane+crm@x.com`` matches ``jane@x.com``.
    strip_subaddress: bool = False
    #: Ignore dots in Gmail local parts and treat ``googlemail.com`` as ``gmail.com``.
    fold_gmail: bool = False

    def key(self, address: Address) -> str:
        """The key under which *address* is compared with these switches."""
        if not (self.strip_subaddress or self.fold_gmail):
            return address.key
        local, _, domain = address.key.rpartition("@")
        if self.strip_subaddress and "+" in local:
            local = local.split("+", 1)[0] or local
        if self.fold_gmail and domain in ("gmail.com", "googlemail.com"):
            domain = "gmail.com"
            local = local.replace(".", "") or local
        return f"{local}@{domain}"


def parse_address(text: str) -> Address:
    """Read one address, optionally with a display name (``Jane Doe <jane@example.com>``).

    Raises `InvalidAddressError` (a `ValueError`) when *text* is not one readable address.
    """
    raise NotImplementedError


def parse_participants(header_value: str, role: Role) -> tuple[Participant, ...]:
    """Read every entry of an address header value. Never raises."""
    raise NotImplementedError
