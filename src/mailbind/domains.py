"""Domains: IDNA normalisation and the registrable domain from the Public Suffix List.

Invariants:
- Domains are compared as lower-case IDNA ASCII (punycode) without a trailing dot.
- A domain is valid when email-validator accepts it after an ``@``-sign, syntax only, with two
  additions: special-use names (``acme.local``, ``host.test``, ``localhost``) are accepted, as
  real and sample mail uses them, and a name whose last label is all digits (``1.2.3.4``, an IP
  address without brackets) is not. The global options of email-validator are neither read nor
  changed.
- The registrable domain follows the Public Suffix List with its private section, read from
  tldextract's bundled snapshot by `mailbind._suffixes` without importing tldextract (whose
  HTTP client opens a socket when imported): nothing is fetched over the network, nothing is
  written to disk, no socket is opened. The implicit ``*`` rule applies to an unknown TLD, and a
  name with an empty label has no registrable domain. IP literals and single-label hosts have
  none.
- Results are cached in bounded tables.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import email_validator
from email_validator.rfc_constants import (
    DNS_LABEL_LENGTH_LIMIT,
    DOMAIN_MAX_LENGTH,
    DOT_ATOM_TEXT_HOSTNAME,
)

from ._suffixes import public_suffix

__all__ = [
    "Domain",
    "check_domain",
    "registrable_domain",
    "to_ascii_domain",
    "to_unicode_domain",
]

#: Entries each cache keeps (one per distinct input); they are small strings and tuples.
CACHE_SIZE = 2**16


def validate(address: str) -> email_validator.ValidatedEmail:
    """Check *address* with email-validator, syntax only; raise `EmailNotValidError` if bad.

    Every option is given, so that email-validator's module-level defaults never apply: no
    DNS, single-label and ``.test`` domains allowed, quoted local parts and bracketed IP
    addresses allowed, no display name.
    """
    return email_validator.validate_email(
        address,
        check_deliverability=False,
        globally_deliverable=False,
        test_environment=True,
        allow_smtputf8=True,
        allow_empty_local=False,
        allow_quoted_local=True,
        allow_domain_literal=True,
        allow_display_name=False,
        strict=False,
    )


# Longer input is rejected before any work (email-validator allows 253 characters).
_MAX_DOMAIN_LENGTH = 255
# The dots UTS 46 treats as label separators (ideographic and full-width full stops).
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
# Characters no domain name holds: they would change how the probe address below is split.
_NOT_IN_NAMES = frozenset('@"\\<>()[],;: \t\r\n')
# A special-use TLD is checked as this one, which email-validator accepts with the options above.
_STAND_IN_TLD = "test"


class Domain(NamedTuple):
    """A valid domain name in its three forms."""

    #: Lower-case IDNA ASCII (punycode), no trailing dot: the form names are compared in.
    ascii: str
    #: Unicode, lower case, no trailing dot: the form shown to people.
    unicode: str
    #: The registrable domain (ASCII), or None (a single-label host, a public suffix).
    registrable: str | None


def check_domain(domain: str) -> Domain | str:
    """*domain*'s forms when it is a valid domain name, else why it is not, in one sentence."""
    if not isinstance(domain, str) or not domain:
        return "There must be something after the @-sign."
    if len(domain) > _MAX_DOMAIN_LENGTH:
        return "The email address is too long after the @-sign."
    if not _NOT_IN_NAMES.isdisjoint(domain):
        return "The part after the @-sign is not a domain name."
    return _check_cached(domain)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _check_cached(domain: str) -> Domain | str:
    name = domain.translate(_DOTS)
    if name.endswith("."):
        name = name[:-1]
    forms = _plain_forms(name) or _validated_forms(name)
    if isinstance(forms, str):
        return forms
    ascii_name, unicode_name = forms
    if ascii_name.rpartition(".")[2].isdigit():
        return "The part after the @-sign is an IP address, which must be in brackets."
    return Domain(ascii_name, unicode_name, _registrable(ascii_name))


def _plain_forms(name: str) -> tuple[str, str] | None:
    """The forms of a plain ASCII host name, by email-validator's own rule for one, else None.

    A name of letters, digits and inner hyphens, within the DNS length limits, needs no IDNA
    work: email-validator accepts it as it stands, in lower case. Names with ``--`` (punycode
    among them) are left to `_validated_forms`.
    """
    if not name.isascii() or "--" in name or len(name) > DOMAIN_MAX_LENGTH:
        return None
    name = name.lower()
    if not DOT_ATOM_TEXT_HOSTNAME.match(name):
        return None
    if any(len(label) > DNS_LABEL_LENGTH_LIMIT for label in name.split(".")):
        return None
    return name, name


def _validated_forms(name: str) -> tuple[str, str] | str:
    """The forms of any name, by email-validator, or why it is not valid.

    email-validator refuses special-use TLDs (``local``, ``localhost``, ``invalid``...);
    the name is checked with ``test`` in their place, and given back with its own TLD.
    """
    head, dot, last = name.rpartition(".")
    last = last.lower()
    special = last in email_validator.SPECIAL_USE_DOMAIN_NAMES
    probe = f"{head}{dot}{_STAND_IN_TLD}" if special else name
    try:
        checked = validate(f"a@{probe}")
    except (email_validator.EmailNotValidError, ValueError) as err:
        return str(err)
    ascii_name, unicode_name = checked.ascii_domain, checked.domain
    if special:
        cut = len(_STAND_IN_TLD)
        ascii_name, unicode_name = ascii_name[:-cut] + last, unicode_name[:-cut] + last
    return ascii_name, unicode_name


def to_ascii_domain(domain: str) -> str | None:
    """*domain* as lower-case IDNA ASCII without a trailing dot, or None when it is not valid.

    Unicode and punycode forms of one name give the same result; so do upper and lower case.
    """
    checked = check_domain(domain)
    return None if isinstance(checked, str) else checked.ascii


def to_unicode_domain(domain: str) -> str | None:
    """*domain* in Unicode for display (lower case, no trailing dot), or None when not valid."""
    checked = check_domain(domain)
    return None if isinstance(checked, str) else checked.unicode


def registrable_domain(domain: str) -> str | None:
    """The registrable (organisation) domain of *domain*, in ASCII, or None.

    Unicode or punycode input, any case, with or without a trailing dot. None for a name that
    is not valid (an empty label, a bracketed or bare IP address), a single-label host, and a
    name that is itself a public suffix (``co.uk``, ``github.io``).
    """
    checked = check_domain(domain)
    return None if isinstance(checked, str) else checked.registrable


def _registrable(ascii_name: str) -> str | None:
    if "." not in ascii_name:
        return None  # a single-label host
    suffix = public_suffix(ascii_name)
    if suffix == ascii_name:
        return None
    head = ascii_name[: -len(suffix) - 1]
    return f"{head.rsplit('.', 1)[-1]}.{suffix}"
