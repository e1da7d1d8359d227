"""Tests for free providers and impersonal addresses (RULES 2.2 and 2.3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind import Policy, parse_address
from mailbind.providers import (
    AUTOMATED_PREFIXES,
    AUTOMATED_SUFFIXES,
    bundled_free_providers,
    bundled_institutions,
    bundled_role_addresses,
    is_free_provider,
    is_impersonal,
    is_institution,
    normalize_role,
)

from .strategies import hostile_texts, valid_addresses

# --- normalize_role ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("support", "support"),
        ("No_Reply", "noreply"),
        ("do-not-reply", "donotreply"),
        ("no.reply", "noreply"),
        ("NOREPLY+bounce", "noreply"),
        ("Mailer-Daemon", "mailerdaemon"),
        ("jane.doe+crm", "janedoe"),
        ("+tag", ""),
        ("STRASSE", "strasse"),
        ("straße", "strasse"),
        ("", ""),
    ],
)
def test_normalize_role_table(local: str, expected: str) -> None:
    """A local part loses case, its +tag and the separators . - _, and nothing else."""
    assert normalize_role(local) == expected


@given(st.text())
def test_normalize_role_is_idempotent(local: str) -> None:
    """Normalising twice gives what normalising once gives."""
    once = normalize_role(local)
    assert normalize_role(once) == once


# --- is_impersonal: examples -------------------------------------------------------------------

#: Role local parts the bundled list holds as they stand (test_data checks the list itself).
LISTED_ROLES = [
    "team",
    "support",
    "info",
    "noreply",
    "donotreply",
    "mailerdaemon",
    "postmaster",
    "notifications",
    "billing",
    "sales",
    "hello",
    "contact",
    "admin",
    "help",
    "newsletter",
    "bounce",
    "bounces",
    "abuse",
    "hr",
]

ROLES = [
    *LISTED_ROLES,
    # Other spellings.
    "no-reply",
    "No_Reply",
    "no.reply",
    "NOREPLY+bounce",
    "do-not-reply",
    "mailer-daemon",
    "MAILER-DAEMON",
    "all-staff",
    # Automated senders recognised by a prefix or a suffix.
    "noreply-billing",
    "no-reply-7f3a",
    "donotreply.alerts",
    "bounces-4711-jane=example.com",
    "bounce-mc.us5_123",
    "calendar-notification",
    "calendar-noreply",
    "drive-shares-noreply",
    "mylist-bounces",
]

#: People's local parts: none of them is impersonal, and none is on the bundled list.
PERSONS = [
    "ceo",
    "CEO",
    "president",
    "founders",
    "director",
    "principal",
    "anna",
    "paul",
    "paul.sales",
    "sales.paul",
    "jane.doe",
    "j.doe",
    "jd",
    "md",
    "gm",
    "per",
    "alexa",
    "sem",
    "paris",
    "2024",
    "123",
    "asdf",
    "info.anna",
    "anna.support",
    "noel",
    "bouncy",
]


@pytest.mark.parametrize("local", ROLES)
def test_role_local_parts_are_impersonal(local: str) -> None:
    """Role and automated local parts are impersonal, whatever their case and separators."""
    assert is_impersonal(local)


@pytest.mark.parametrize("local", PERSONS)
def test_person_local_parts_are_not_impersonal(local: str) -> None:
    """A person's local part (a name, one person's post, initials, noise) is not caught."""
    assert not is_impersonal(local)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("noreply@github.com", True),
        ("No_Reply@Example.com", True),
        ("notifications+abc@example.com", True),
        ("MAILER-DAEMON@mx.example.org", True),
        ('"GitHub" <noreply@github.com>', True),
        ("support@acme.co.uk", True),
        ("ceo@acme.com", False),
        ("anna@acme.com", False),
        ("paul.sales@acme.com", False),
        ("Jane Doe <jane.doe@acme.com>", False),
    ],
)
def test_impersonal_addresses(address: str, expected: bool) -> None:
    """An address string or an `Address` is judged by its local part only."""
    assert is_impersonal(address) is expected
    assert is_impersonal(parse_address(address)) is expected


@pytest.mark.parametrize("value", [None, "", "@", "@example.com", "not an address@", "a@@b"])
def test_unreadable_input_is_not_impersonal(value: str | None) -> None:
    """None and text that is not a readable address are not impersonal, and do not raise."""
    assert is_impersonal(value) is False


def test_automated_patterns_are_normalised() -> None:
    """The prefixes and suffixes are in normalised form, so they can match at all."""
    for pattern in (*AUTOMATED_PREFIXES, *AUTOMATED_SUFFIXES):
        assert normalize_role(pattern) == pattern


# --- is_impersonal: properties -----------------------------------------------------------------

FIRST_NAMES = ("anna", "paul", "jane", "lena", "omar", "yuki", "noah", "sofia")
DEPARTMENTS = ("sales", "support", "info", "billing", "team", "hello", "admin", "marketing")
SEPARATORS = ".-_"

base_locals = st.one_of(
    st.sampled_from(sorted(bundled_role_addresses())),
    st.sampled_from(ROLES + PERSONS),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_", min_size=1, max_size=20),
)


@st.composite
def spelling_variants(draw: st.DrawFn, local: str) -> str:
    """*local* with ASCII letters' case changed, separators inserted and perhaps a +tag."""
    chars = [c.swapcase() if c.isascii() and draw(st.booleans()) else c for c in local]
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(chars)))
        chars.insert(position, draw(st.sampled_from(SEPARATORS)))
    variant = "".join(chars)
    if "+" not in local and draw(st.booleans()):
        variant += "+" + draw(st.text(alphabet="abcXYZ019.-_+", max_size=8))
    return variant


@given(st.data(), base_locals)
def test_impersonal_ignores_case_separators_and_tags(data: st.DataObject, local: str) -> None:
    """Changing case, inserting separators or adding a +tag never changes the answer."""
    variant = data.draw(spelling_variants(local))
    assert is_impersonal(variant) == is_impersonal(local)


@given(st.sampled_from(sorted(bundled_role_addresses())), st.data())
def test_every_bundled_role_is_impersonal_in_any_spelling(role: str, data: st.DataObject) -> None:
    """Every bundled role, however it is spelt, is impersonal."""
    assert is_impersonal(data.draw(spelling_variants(role)))


@given(st.sampled_from(FIRST_NAMES), st.sampled_from(DEPARTMENTS), st.sampled_from(SEPARATORS))
def test_a_name_with_a_department_is_a_person(name: str, department: str, sep: str) -> None:
    """``paul.sales`` and ``sales.paul`` are people, though ``sales`` alone is a role."""
    assert is_impersonal(department)
    assert not is_impersonal(f"{name}{sep}{department}")
    assert not is_impersonal(f"{department}{sep}{name}")


@settings(max_examples=200)
@given(hostile_texts())
def test_predicates_never_raise_on_text(text: str) -> None:
    """Any string gives an answer, never an exception: mail is messy."""
    assert isinstance(is_impersonal(text), bool)
    assert isinstance(is_free_provider(text), bool)
    assert isinstance(is_institution(text), bool)


# --- is_institution ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "mit.edu",
        "jane@cs.mit.edu",
        "Prof. Jane Doe <jane.doe@ox.ac.uk>",
        "@ox.ac.uk",
        "tokyo.ac.jp",
        "unimelb.edu.au",
        "jane@service-public.gouv.fr",
        "cabinetoffice.gov.uk",
        "nasa.gov",
        "army.mil",
        "who.int",
        "leeds.nhs.uk",
        "met.police.uk",
        "lausd.k12.ca.us",
        "eps.lea.sch.uk",
        "mof.go.jp",
        "bmf.gv.at",
        "mec.gub.uy",
        "sat.gob.mx",
    ],
)
def test_institutions(value: str) -> None:
    """Universities, schools and public bodies, under the bundled suffixes, at any depth."""
    assert is_institution(value)


@pytest.mark.parametrize(
    "value",
    [
        "acme.com",
        "jane@client.co.uk",
        "charity.org.uk",
        # ``ac`` and ``edu`` count only as a country's second level.
        "ac.com",
        "edu.example",
        "academy.ac",
        # go.it is the province of Gorizia, open to anyone there.
        "comune.go.it",
        "gmail.com",
        "",
        "not a domain",
        None,
    ],
)
def test_not_institutions(value: str | None) -> None:
    """Companies, open suffixes and unreadable text are not institutions."""
    assert not is_institution(value)


def test_an_institution_list_may_name_whole_domains() -> None:
    """A caller's list replaces the bundled one and may name domains under an open suffix."""
    own = Policy(institutions=["ethz.ch", "@Uni-Heidelberg.DE"]).institutions
    assert own == {"ethz.ch", "uni-heidelberg.de"}
    assert is_institution("jane@inf.ethz.ch", own)
    assert is_institution(parse_address("jane@uni-heidelberg.de"), own)
    assert not is_institution("jane@mit.edu", own)
    assert Policy().institutions == bundled_institutions()
    assert {"edu", "ac.uk", "gouv.fr"} <= bundled_institutions()


# --- is_free_provider --------------------------------------------------------------------------

#: Provider domains the bundled list holds as they stand (test_data checks the list itself).
LISTED_PROVIDERS = [
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.de",
    "hotmail.co.uk",
    "live.com",
    "msn.com",
    "yahoo.com",
    "yahoo.de",
    "yahoo.co.uk",
    "yahoo.co.jp",
    "ymail.com",
    "gmx.de",
    "gmx.net",
    "gmx.com",
    "web.de",
    "t-online.de",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "aol.com",
    "mail.ru",
    "yandex.ru",
    "yandex.com",
    "zoho.com",
    "fastmail.com",
    "hey.com",
    "tutanota.com",
    "tuta.io",
    "mailbox.org",
    "posteo.de",
    "qq.com",
    "naver.com",
]

FREE = [
    *LISTED_PROVIDERS,
    # Other spellings.
    "GMAIL.COM",
    "gmail.com.",
    "@gmail.com",
    "jane@gmail.com",
    "Jane Doe <Jane.Doe@GMail.com>",
    # A subdomain of a provider belongs to the provider.
    "mail.gmx.net",
    "eu.mail.yahoo.com",
    "jane@austin.rr.com",
    # IDNA: full-width letters map to the same domain.
    "ｇｍａｉｌ.com",
]

#: Company domains and sending hosts: none is a free provider, none is on the bundled list.
UNLISTED_DOMAINS = [
    "acme.com",
    "github.com",
    "google.com",
    "microsoft.com",
    "apple.com",
    "facebook.com",
    "alibaba.com",
    "amazonses.com",
    "docs.google.com",
    "cox.com",
    "nus.edu.sg",
    "onmicrosoft.com",
]

NOT_FREE = [
    *UNLISTED_DOMAINS,
    "jane@acme.co.uk",
    # Look-alikes are other domains.
    "gmail.com.evil.io",
    "gmail-com.io",
    "gmäil.com",
    "xn--gmil-6na.com",
    # Unreadable input.
    "",
    "not a domain",
    "jane@",
    "[192.0.2.1]",
]


@pytest.mark.parametrize("value", FREE)
def test_free_providers(value: str) -> None:
    """Consumer mailbox domains, their subdomains and addresses on them are free providers."""
    assert is_free_provider(value)


@pytest.mark.parametrize("value", NOT_FREE)
def test_not_free_providers(value: str) -> None:
    """Company domains, look-alikes and unreadable text are not free providers."""
    assert not is_free_provider(value)


def test_free_provider_accepts_an_address() -> None:
    """An `Address` is judged by its domain."""
    assert is_free_provider(parse_address("jane@gmail.com"))
    assert not is_free_provider(parse_address("jane@acme.com"))
    assert not is_free_provider(None)


@settings(max_examples=100)
@given(valid_addresses())
def test_address_and_its_domain_agree(text: str) -> None:
    """An address is on a free provider exactly when its domain is one."""
    address = parse_address(text)
    assert is_free_provider(address) == is_free_provider(address.ascii_domain)
    assert is_free_provider(text) == is_free_provider(address)


@settings(max_examples=100)
@given(
    st.sampled_from(["gmail.com", "gmx.de", "yahoo.co.uk", "web.de", "proton.me"]),
    st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True),
)
def test_subdomains_of_a_provider_are_free(provider: str, label: str) -> None:
    """Any subdomain of a provider, in any case, belongs to the provider."""
    assert is_free_provider(f"{label}.{provider}")
    assert is_free_provider(f"{label}.{provider}".upper())


# --- extending and replacing the lists ---------------------------------------------------------


def test_extended_provider_list() -> None:
    """A caller's list, the bundled one plus its own domains, is used instead of the bundled."""
    providers = bundled_free_providers() | {"mail.example", "xn--mller-kva.de"}
    assert is_free_provider("jane@mail.example", providers)
    assert is_free_provider("jane@müller.de", providers)
    assert is_free_provider("gmail.com", providers)
    assert not is_free_provider("jane@mail.example")


def test_replaced_provider_list() -> None:
    """A replacement list is the only one consulted."""
    providers = frozenset({"example.net"})
    assert is_free_provider("sub.example.net", providers)
    assert not is_free_provider("gmail.com", providers)


def test_extended_role_list() -> None:
    """A caller's role list adds its own roles, normalised."""
    roles = bundled_role_addresses() | {normalize_role("CRM-Bot")}
    assert is_impersonal("crm_bot@acme.com", roles)
    assert is_impersonal("support@acme.com", roles)
    assert not is_impersonal("crm_bot@acme.com")


def test_replaced_role_list_keeps_the_automated_patterns() -> None:
    """A replacement role list is the only list consulted; the noreply patterns still apply."""
    roles = frozenset({"desk"})
    assert is_impersonal("Desk@acme.com", roles)
    assert not is_impersonal("support@acme.com", roles)
    assert is_impersonal("no-reply@acme.com", roles)


def test_policy_carries_extended_lists() -> None:
    """Lists given to a `Policy` are normalised there and used through its fields."""
    policy = Policy(
        free_providers=[*bundled_free_providers(), "Mail.Example."],
        role_addresses=[*bundled_role_addresses(), "CRM-Bot"],
    )
    assert is_free_provider("jane@mail.example", policy.free_providers)
    assert is_impersonal("crm.bot@acme.com", policy.role_addresses)
    assert Policy().free_providers is bundled_free_providers()
    assert Policy().role_addresses is bundled_role_addresses()


def test_bundled_lists_are_loaded_once() -> None:
    """The bundled lists are the same object on every call."""
    assert bundled_free_providers() is bundled_free_providers()
    assert bundled_role_addresses() is bundled_role_addresses()
