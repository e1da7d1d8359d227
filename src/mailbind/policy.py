"""The settings the rules read: one `Policy` per organisation, one `Mailbox` per connected inbox.

Invariants:
- Both are immutable and validated on construction: a contradictory setting raises
  `PolicyError` (a `ValueError`) at once, so an invalid policy cannot exist.
- Organisation domains are stored as registrable domains (ASCII); a free-provider domain can
  never be one (two Gmail users are not colleagues).
- Blocklist entries are stored by identity key: ``jane@x.com`` or ``@x.com`` (the domain and
  its subdomains), after the policy's canonicalisation.
- Both are plain values: their slots are exactly their fields, they compare, hash and pickle
  by them. What the rules remember while deciding (per-address facts, the owner's keys) lives
  in a `mailbind.judge.Judge`, never here.
- ``dataclasses.replace`` works on both and validates the result like the constructor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from ._kinds import Direction, SharingLevel, member
from .addresses import Address, Canonicalization, parse_address
from .domains import registrable_domain, to_ascii_domain
from .errors import InvalidAddressError, PolicyError, PolicyTypeError, wrong_type
from .providers import (
    bundled_free_providers,
    bundled_institutions,
    bundled_role_addresses,
    normalize_role,
)

__all__ = ["ContactScope", "Mailbox", "Policy"]


class ContactScope(StrEnum):
    """Which mail may create contacts automatically."""

    #: Participants of sent and received mail (the default).
    SENT_AND_RECEIVED = "sent_and_received"
    #: Only the recipients of mail the owner sent.
    SENT = "sent"


def _address(value: Address | str, what: str) -> Address:
    if isinstance(value, Address):
        return value
    if not isinstance(value, str):
        raise PolicyTypeError(f"{what} must be an address string, not {type(value).__name__}.")
    try:
        return parse_address(value)
    except InvalidAddressError:
        raise PolicyError(f"{what} is not a readable address: {value!r}.") from None


def _level(value: SharingLevel | str, what: str) -> SharingLevel:
    return member(SharingLevel, value, what, PolicyError, PolicyTypeError)


def _addresses(
    values: Iterable[Address | str], what: str, call: str, param: str
) -> frozenset[Address]:
    if isinstance(values, str | Address):
        values = (values,)
    elif not isinstance(values, Iterable):
        raise wrong_type(call, param, "addresses", values, PolicyTypeError)
    return frozenset(_address(v, what) for v in values)


def _strings(values: Iterable[str] | str, param: str) -> tuple[str, ...]:
    if isinstance(values, str):
        return (values,)
    if not isinstance(values, Iterable):
        raise wrong_type("Policy()", param, "text or a list of it", values, PolicyTypeError)
    return tuple(values)


@dataclass(frozen=True, slots=True, init=False)
class Mailbox:
    """One connected mailbox: its owner, the owner's aliases, and its sharing settings."""

    owner: Address
    aliases: frozenset[Address]
    #: What other users may read of mail the owner received.
    incoming: SharingLevel
    #: What other users may read of mail the owner sent.
    outgoing: SharingLevel
    #: Create contacts automatically from this mailbox's synced mail.
    create_contacts: bool
    #: Which mail may create contacts.
    contact_scope: ContactScope
    #: Never create contacts on free-provider addresses (Gmail, GMX, ...).
    skip_free_providers: bool
    #: A stable identifier for stores; the owner's identity key unless given.
    id: str

    def __init__(
        self,
        owner: Address | str,
        aliases: Iterable[Address | str] = (),
        incoming: SharingLevel | str = SharingLevel.METADATA,
        outgoing: SharingLevel | str = SharingLevel.METADATA,
        *,
        create_contacts: bool = True,
        contact_scope: ContactScope | str = ContactScope.SENT_AND_RECEIVED,
        skip_free_providers: bool = True,
        id: str | None = None,
    ) -> None:
        set_ = object.__setattr__
        owner_address = _address(owner, "The mailbox owner")
        set_(self, "owner", owner_address)
        set_(
            self,
            "aliases",
            _addresses(aliases, "A mailbox alias", "Mailbox()", "aliases") - {owner_address},
        )
        set_(self, "incoming", _level(incoming, "The incoming sharing level"))
        set_(self, "outgoing", _level(outgoing, "The outgoing sharing level"))
        set_(self, "create_contacts", bool(create_contacts))
        try:
            scope = ContactScope(contact_scope)
        except ValueError:
            raise PolicyError(
                f"The contact scope must be 'sent_and_received' or 'sent', not {contact_scope!r}."
            ) from None
        set_(self, "contact_scope", scope)
        set_(self, "skip_free_providers", bool(skip_free_providers))
        if id is not None and (not isinstance(id, str) or not id.strip()):
            error = PolicyError if isinstance(id, str) else PolicyTypeError
            raise error(f"The mailbox id must be a non-blank string, not {id!r}.")
        set_(self, "id", owner_address.key if id is None else id)

    @property
    def addresses(self) -> frozenset[Address]:
        """The owner's address and every alias."""
        return self.aliases | {self.owner}

    def level_for(self, direction: Direction) -> SharingLevel:
        """The sharing level of mail in *direction*."""
        return self.outgoing if direction is Direction.OUTGOING else self.incoming

    def owns(self, address: Address | str) -> bool:
        """True when *address* is the owner's or an alias, by identity key."""
        if isinstance(address, str):
            address = _address(address, "The address")
        key = address.key
        return key == self.owner.key or any(alias.key == key for alias in self.aliases)

    def keys_under(self, canonicalization: Canonicalization) -> frozenset[str]:
        """The owner's and aliases' keys under *canonicalization* (identity keys when off)."""
        return frozenset(canonicalization.key(a) for a in self.addresses)


def _org_domain(value: str, providers: frozenset[str]) -> str:
    if not isinstance(value, str):
        raise PolicyTypeError(
            f"An organisation domain must be a string, not {type(value).__name__}."
        )
    ascii_domain = to_ascii_domain(value.strip().removeprefix("@"))
    if ascii_domain is None:
        raise PolicyError(f"The organisation domain {value!r} is not a readable domain.")
    org = registrable_domain(ascii_domain)
    if org is None:
        raise PolicyError(f"The organisation domain {value!r} has no registrable domain.")
    if org in providers or ascii_domain in providers:
        raise PolicyError(
            f"The organisation domain {value!r} is a free mail provider, "
            "whose users are not colleagues."
        )
    return org


def _block_entry(value: Address | str, canon: Canonicalization) -> str:
    if isinstance(value, Address):
        return canon.key(value)
    if not isinstance(value, str):
        raise PolicyTypeError(f"A blocklist entry must be a string, not {type(value).__name__}.")
    text = value.strip()
    if text.startswith("@"):
        ascii_domain = to_ascii_domain(text[1:])
        if not ascii_domain:
            raise PolicyError(f"The blocklist entry {value!r} is not a readable domain.")
        if canon.fold_gmail and ascii_domain == "googlemail.com":
            ascii_domain = "gmail.com"
        return "@" + ascii_domain
    if "@" not in text:
        raise PolicyError(
            f"The blocklist entry {value!r} is neither an address nor an @domain "
            "(write '@example.com' to block a domain)."
        )
    return canon.key(_address(text, "A blocklist entry"))


def _provider(value: str) -> str:
    if not isinstance(value, str):
        raise PolicyTypeError(
            f"A free-provider domain must be a string, not {type(value).__name__}."
        )
    ascii_domain = to_ascii_domain(value.strip().removeprefix("@"))
    if ascii_domain is None:
        raise PolicyError(f"The free-provider domain {value!r} is not a readable domain.")
    return ascii_domain


def _institution(value: str) -> str:
    if not isinstance(value, str):
        raise PolicyTypeError(
            f"An institution domain must be a string, not {type(value).__name__}."
        )
    ascii_domain = to_ascii_domain(value.strip().removeprefix("@").removeprefix("."))
    if ascii_domain is None:
        raise PolicyError(f"The institution domain {value!r} is not a readable domain.")
    return ascii_domain


def _role(value: str) -> str:
    if not isinstance(value, str):
        raise PolicyTypeError(f"A role address must be a string, not {type(value).__name__}.")
    role = normalize_role(value.strip().split("@", 1)[0])
    if not role:
        raise PolicyError(f"The role address {value!r} has no local part.")
    return role


def _normalised(
    given: Iterable[str] | None,
    bundled: frozenset[str],
    normalise: Callable[[str], str],
    param: str,
) -> frozenset[str]:
    """*given* normalised, or *bundled* when None; bundled entries are normalised already."""
    if given is None:
        return bundled
    return frozenset(
        v if isinstance(v, str) and v in bundled else normalise(v) for v in _strings(given, param)
    )


@dataclass(frozen=True, slots=True, init=False)
class Policy:
    """What the organisation decides for every mailbox: who is a colleague, what never syncs."""

    #: The organisation's registrable domains (ASCII).
    org_domains: frozenset[str]
    #: Colleagues on other domains.
    members: frozenset[Address]
    #: External people on the organisation's domains (contractors).
    externals: frozenset[Address]
    #: Blocked addresses (identity keys) and domains (``@domain``).
    blocklist: frozenset[str]
    #: Sync mail whose participants are all colleagues (off by default).
    sync_internal: bool
    #: Skip incoming mail from impersonal senders or with bulk headers (on by default).
    exclude_group_emails: bool
    #: Optional address folding, applied to every comparison.
    canonicalization: Canonicalization
    #: Free-provider domains (ASCII); the bundled list unless given.
    free_providers: frozenset[str]
    #: Role local parts, normalised; the bundled list unless given.
    role_addresses: frozenset[str]
    #: Domains and public suffixes of institutions (universities, schools, public bodies),
    #: ASCII; the bundled suffixes (``edu``, ``ac.uk``) unless given.
    institutions: frozenset[str]
    #: Give contacts at an institution its domain as their company (on by default); off, they
    #: get no company, as on a free provider: each person there stands alone.
    institutions_as_companies: bool

    def __init__(
        self,
        org_domains: Iterable[str] = (),
        members: Iterable[Address | str] = (),
        externals: Iterable[Address | str] = (),
        blocklist: Iterable[Address | str] = (),
        *,
        sync_internal: bool = False,
        exclude_group_emails: bool = True,
        canonicalization: Canonicalization | None = None,
        free_providers: Iterable[str] | None = None,
        role_addresses: Iterable[str] | None = None,
        institutions: Iterable[str] | None = None,
        institutions_as_companies: bool = True,
    ) -> None:
        set_ = object.__setattr__
        canon = canonicalization if canonicalization is not None else Canonicalization()
        if not isinstance(canon, Canonicalization):
            raise PolicyTypeError(
                f"The canonicalization must be a Canonicalization, not {type(canon).__name__}."
            )
        providers = _normalised(
            free_providers, bundled_free_providers(), _provider, "free_providers"
        )
        roles = _normalised(role_addresses, bundled_role_addresses(), _role, "role_addresses")
        institutions_ = _normalised(
            institutions, bundled_institutions(), _institution, "institutions"
        )
        if isinstance(blocklist, str | Address):
            blocklist = (blocklist,)
        elif not isinstance(blocklist, Iterable):
            raise wrong_type("Policy()", "blocklist", "addresses", blocklist, PolicyTypeError)
        set_(
            self,
            "org_domains",
            frozenset(_org_domain(d, providers) for d in _strings(org_domains, "org_domains")),
        )
        members_ = _addresses(members, "A member address", "Policy()", "members")
        externals_ = _addresses(externals, "An external address", "Policy()", "externals")
        member_keys = frozenset(canon.key(a) for a in members_)
        external_keys = frozenset(canon.key(a) for a in externals_)
        both = member_keys & external_keys
        if both:
            raise PolicyError(
                f"The address {min(both)!r} is named both as a member and as an external."
            )
        blocked = frozenset(_block_entry(b, canon) for b in blocklist)
        set_(self, "members", members_)
        set_(self, "externals", externals_)
        set_(self, "blocklist", blocked)
        set_(self, "sync_internal", bool(sync_internal))
        set_(self, "exclude_group_emails", bool(exclude_group_emails))
        set_(self, "canonicalization", canon)
        set_(self, "free_providers", providers)
        set_(self, "role_addresses", roles)
        set_(self, "institutions", institutions_)
        set_(self, "institutions_as_companies", bool(institutions_as_companies))

    def key(self, address: Address) -> str:
        """The key *address* is compared under, with this policy's canonicalisation."""
        return self.canonicalization.key(address)
