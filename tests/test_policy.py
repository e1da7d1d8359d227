"""Tests for the settings the rules read: `Policy` and `Mailbox`."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import mailbind.judge
from mailbind import (
    Canonicalization,
    ContactScope,
    Direction,
    Mailbox,
    Message,
    Policy,
    PolicyError,
    Reason,
    SharingLevel,
    decide,
    is_colleague,
    parse_address,
)
from mailbind.providers import bundled_free_providers
from tests.strategies import mailboxes, policies

# --- Errors: the exact text a caller reads -------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"org_domains": ["gmail.com"]},
            "The organisation domain 'gmail.com' is a free mail provider, "
            "whose users are not colleagues.",
        ),
        (
            {"org_domains": ["mail.GMX.de"]},
            "The organisation domain 'mail.GMX.de' is a free mail provider, "
            "whose users are not colleagues.",
        ),
        (
            {"org_domains": ["not a domain"]},
            "The organisation domain 'not a domain' is not a readable domain.",
        ),
        ({"org_domains": ["com"]}, "The organisation domain 'com' has no registrable domain."),
        ({"org_domains": [42]}, "An organisation domain must be a string, not int."),
        ({"members": ["jane"]}, "A member address is not a readable address: 'jane'."),
        ({"members": [None]}, "A member address must be an address string, not NoneType."),
        ({"externals": ["x@"]}, "An external address is not a readable address: 'x@'."),
        (
            {"members": ["Kim@client.example"], "externals": ["kim@CLIENT.example"]},
            "The address 'kim@client.example' is named both as a member and as an external.",
        ),
        (
            {
                "members": ["kim+a@client.example"],
                "externals": ["kim+b@client.example"],
                "canonicalization": Canonicalization(strip_subaddress=True),
            },
            "The address 'kim@client.example' is named both as a member and as an external.",
        ),
        (
            {"blocklist": ["client.example"]},
            "The blocklist entry 'client.example' is neither an address nor an @domain "
            "(write '@example.com' to block a domain).",
        ),
        ({"blocklist": ["@"]}, "The blocklist entry '@' is not a readable domain."),
        (
            {"blocklist": ["@not a domain"]},
            "The blocklist entry '@not a domain' is not a readable domain.",
        ),
        ({"blocklist": ["a b@x.com"]}, "A blocklist entry is not a readable address: 'a b@x.com'."),
        ({"blocklist": [7]}, "A blocklist entry must be a string, not int."),
        (
            {"canonicalization": {"fold_gmail": True}},
            "The canonicalization must be a Canonicalization, not dict.",
        ),
        (
            {"free_providers": ["not a domain"]},
            "The free-provider domain 'not a domain' is not a readable domain.",
        ),
        ({"free_providers": [1]}, "A free-provider domain must be a string, not int."),
        ({"role_addresses": ["@x.com"]}, "The role address '@x.com' has no local part."),
        ({"role_addresses": [None]}, "A role address must be a string, not NoneType."),
    ],
)
def test_policy_errors(kwargs: dict[str, Any], message: str) -> None:
    """Every contradictory or malformed policy raises a PolicyError saying what is wrong."""
    with pytest.raises(PolicyError) as info:
        Policy(**kwargs)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"owner": "nobody"}, "The mailbox owner is not a readable address: 'nobody'."),
        ({"owner": 5}, "The mailbox owner must be an address string, not int."),
        (
            {"owner": "anna@acme.com", "aliases": ["anna at acme"]},
            "A mailbox alias is not a readable address: 'anna at acme'.",
        ),
        (
            {"owner": "anna@acme.com", "incoming": "all"},
            "The incoming sharing level must be one of metadata, subject, everything, not 'all'.",
        ),
        (
            {"owner": "anna@acme.com", "outgoing": 2},
            "The outgoing sharing level must be one of metadata, subject, everything, not 2.",
        ),
        (
            {"owner": "anna@acme.com", "contact_scope": "received"},
            "The contact scope must be 'sent_and_received' or 'sent', not 'received'.",
        ),
        (
            {"owner": "anna@acme.com", "id": "  "},
            "The mailbox id must be a non-blank string, not '  '.",
        ),
        (
            {"owner": "anna@acme.com", "id": 12},
            "The mailbox id must be a non-blank string, not 12.",
        ),
    ],
)
def test_mailbox_errors(kwargs: dict[str, Any], message: str) -> None:
    """Every malformed mailbox setting raises a PolicyError saying what is wrong."""
    with pytest.raises(PolicyError) as info:
        Mailbox(**kwargs)
    assert str(info.value) == message


# --- Normalisation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_domain", "stored"),
    [
        ("acme.com", "acme.com"),
        ("EU.Acme.COM.", "acme.com"),
        ("@acme.com", "acme.com"),
        (" acme.com ", "acme.com"),
        ("eu.acme.co.uk", "acme.co.uk"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("shop.github.io", "shop.github.io"),
    ],
)
def test_org_domains_are_stored_as_registrable_domains(given_domain: str, stored: str) -> None:
    """An organisation domain is kept as its registrable domain in ASCII."""
    assert Policy(org_domains=[given_domain]).org_domains == {stored}


def test_one_string_is_one_entry() -> None:
    """A single string is one domain or address, never a sequence of characters."""
    policy = Policy(
        org_domains="acme.com",
        members="kim@client.example",
        externals="con@acme.com",
        blocklist="@vendor.io",
    )
    assert policy.org_domains == {"acme.com"}
    assert policy.members == {parse_address("kim@client.example")}
    assert policy.externals == {parse_address("con@acme.com")}
    assert policy.blocklist == {"@vendor.io"}
    assert Policy(free_providers="mail.example").free_providers == {"mail.example"}
    assert Policy(role_addresses="Sales").role_addresses == {"sales"}


def test_addresses_may_be_strings_or_address_values() -> None:
    """Every address setting takes plain strings or `Address` values alike."""
    kim = parse_address("kim@client.example")
    from_strings = Policy(members=["Kim <kim@client.example>"], blocklist=["kim@client.example"])
    from_values = Policy(members=[kim], blocklist=[kim])
    assert from_strings == from_values
    assert Mailbox(owner=kim, aliases=[kim]) == Mailbox(owner="kim@client.example")


@pytest.mark.parametrize(
    ("entry", "canonicalization", "stored"),
    [
        ("Kim <KIM@Client.Example.>", Canonicalization(), "kim@client.example"),
        ("kim+news@client.example", Canonicalization(), "kim+news@client.example"),
        ("kim+news@client.example", Canonicalization(strip_subaddress=True), "kim@client.example"),
        ("J.Ane@googlemail.com", Canonicalization(fold_gmail=True), "jane@gmail.com"),
        ("J.Ane@googlemail.com", Canonicalization(), "j.ane@googlemail.com"),
        ("@GoogleMail.COM", Canonicalization(fold_gmail=True), "@gmail.com"),
        ("@Bücher.de.", Canonicalization(), "@xn--bcher-kva.de"),
        (" @Vendor.IO ", Canonicalization(), "@vendor.io"),
    ],
)
def test_blocklist_entries_are_stored_by_key(
    entry: str, canonicalization: Canonicalization, stored: str
) -> None:
    """Blocklist entries become identity keys or ``@domain``, folded as the policy says."""
    assert Policy(blocklist=[entry], canonicalization=canonicalization).blocklist == {stored}


def test_mailbox_defaults_and_aliases() -> None:
    """A mailbox shares metadata by default, drops the owner from its aliases, keys by owner."""
    mailbox = Mailbox(owner="Anna@ACME.com", aliases=["anna@acme.com", "anna.berg@acme.de"])
    assert mailbox.aliases == {parse_address("anna.berg@acme.de")}
    assert mailbox.addresses == {parse_address("anna@acme.com"), parse_address("anna.berg@acme.de")}
    assert (mailbox.incoming, mailbox.outgoing) == (SharingLevel.METADATA, SharingLevel.METADATA)
    assert mailbox.contact_scope is ContactScope.SENT_AND_RECEIVED
    assert mailbox.create_contacts
    assert mailbox.skip_free_providers
    assert mailbox.id == "anna@acme.com"
    assert mailbox.owns("ANNA.BERG@acme.de")
    assert not mailbox.owns("boss@acme.com")


def test_mailbox_levels_by_direction() -> None:
    """Levels are read from strings and chosen by direction."""
    mailbox = Mailbox(owner="anna@acme.com", incoming="subject", outgoing="everything", id="mb-1")
    assert mailbox.level_for(Direction.INCOMING) is SharingLevel.SUBJECT
    assert mailbox.level_for(Direction.OUTGOING) is SharingLevel.EVERYTHING
    assert mailbox.id == "mb-1"


def test_mailbox_keys_under_canonicalisation() -> None:
    """The owner's keys fold like every other address when a canonicalisation is on."""
    mailbox = Mailbox(owner="J.Doe+crm@googlemail.com")
    assert mailbox.keys_under(Canonicalization()) == {"j.doe+crm@googlemail.com"}
    both = Canonicalization(strip_subaddress=True, fold_gmail=True)
    assert mailbox.keys_under(both) == {"jdoe@gmail.com"}


# --- Extending and replacing the bundled lists ---------------------------------------------


def test_free_providers_can_be_replaced_or_extended() -> None:
    """An empty provider list allows any domain; an extended one refuses the new provider."""
    assert Policy(org_domains="gmail.com", free_providers=()).org_domains == {"gmail.com"}
    extended = bundled_free_providers() | {"mail.example"}
    with pytest.raises(PolicyError):
        Policy(org_domains="mail.example", free_providers=extended)
    with pytest.raises(PolicyError):
        Policy(org_domains="gmail.com", free_providers=extended)


def test_role_addresses_can_be_replaced() -> None:
    """A policy's own role list decides which senders are group senders."""
    own_roles = Policy(org_domains="acme.com", role_addresses=["Sales", "info@"])
    anna = Mailbox(owner="anna@acme.com")
    sales = Message.build(sender="sales@vendor.example", to="anna@acme.com")
    support = Message.build(sender="support@vendor.example", to="anna@acme.com")
    assert Reason.GROUP_SENDER in decide(sales, anna, own_roles).reasons
    assert Reason.GROUP_SENDER not in decide(support, anna, own_roles).reasons
    assert Reason.GROUP_SENDER in decide(support, anna, Policy(org_domains="acme.com")).reasons


# --- Values: equality, pickling, replace, caches -------------------------------------------


def test_caches_do_not_change_equality_hash_or_repr() -> None:
    """A policy that has answered questions equals a fresh one and shows no cache."""
    used = Policy(org_domains="acme.com")
    fresh = Policy(org_domains="acme.com")
    assert is_colleague("anna@acme.com", used)
    assert used == fresh
    assert hash(used) == hash(fresh)
    assert repr(used) == repr(fresh)
    assert "_facts" not in repr(used)


@given(policy=policies())
def test_policy_survives_pickling(policy: Policy) -> None:
    """A pickled policy loads equal and answers alike."""
    is_colleague("anna@acme.com", policy)
    loaded = pickle.loads(pickle.dumps(policy))
    assert loaded == policy
    assert is_colleague("anna@acme.com", loaded) is is_colleague("anna@acme.com", policy)


@given(mailbox=mailboxes())
def test_mailbox_survives_pickling(mailbox: Mailbox) -> None:
    """A pickled mailbox loads equal and still knows its owner's keys."""
    loaded = pickle.loads(pickle.dumps(mailbox))
    assert loaded == mailbox
    assert loaded.owns(mailbox.owner)


@given(policy=policies(), sync_internal=st.booleans())
def test_replace_rebuilds_an_equal_policy(policy: Policy, sync_internal: bool) -> None:
    """``dataclasses.replace`` gives the policy the constructor would give."""
    changed = dataclasses.replace(policy, sync_internal=sync_internal)
    assert changed == Policy(
        org_domains=policy.org_domains,
        members=policy.members,
        externals=policy.externals,
        blocklist=policy.blocklist,
        sync_internal=sync_internal,
        exclude_group_emails=policy.exclude_group_emails,
        canonicalization=policy.canonicalization,
        free_providers=policy.free_providers,
        role_addresses=policy.role_addresses,
    )
    assert dataclasses.replace(policy) == policy


def test_replace_validates_like_the_constructor() -> None:
    """A replaced value is checked again: a free-provider domain is still refused."""
    with pytest.raises(PolicyError):
        dataclasses.replace(Policy(), org_domains=["gmail.com"])  # type: ignore[arg-type]
    mailbox = dataclasses.replace(Mailbox(owner="anna@acme.com"), incoming="subject")  # type: ignore[arg-type]
    assert mailbox.incoming is SharingLevel.SUBJECT


def test_address_facts_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """However many addresses pass, the rules remember at most the bound for a policy."""
    monkeypatch.setattr(mailbind.judge, "FACTS_CACHE_SIZE", 3)
    policy = Policy(org_domains="acme.com")
    for n in range(10):
        assert is_colleague(f"user{n}@acme.com", policy)
        assert len(mailbind.judge.tables_for(policy).facts) <= 3
