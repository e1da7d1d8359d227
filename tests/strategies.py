"""Hypothesis strategies shared by the test modules.

Each section belongs to one area; add to the section of the area you test.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from mailbind import (
    Attachment,
    Canonicalization,
    Contact,
    ContactScope,
    Event,
    Flag,
    Mailbox,
    Message,
    Policy,
    SharingLevel,
)

# --- Addresses -----------------------------------------------------------------------------

#: Characters of an unquoted (dot-atom) ASCII local part.
ATOM_CHARACTERS = string.ascii_letters + string.digits + "!#$%&'*+-/=?^_`{|}~"
#: Suffixes an address strategy ends its domains with: ICANN ones, a private-section one, an
#: internationalised one, and special-use names that real and sample mail uses.
DOMAIN_SUFFIXES = ("com", "org", "de", "co.uk", "io", "github.io", "рф", "example", "test")
#: Domain labels that are valid IDNA 2008 (some need punycode, one maps to lower case).
IDN_LABELS = ("bücher", "münchen", "пример", "例え", "ελληνικά", "café", "københavn", "ÖBB")
#: Characters that break address syntax, for hostile input: specials, controls, a surrogate,
#: bidirectional overrides and separators.
HOSTILE_CHARACTERS = '<>,;:"()[]\\@. \t\r\n\x00\x07\x1b\x7f\ud800\u202e\u2028\ufeff=?'


def ascii_local_parts() -> st.SearchStrategy[str]:
    """A dot-atom local part in ASCII (mixed case, some with a ``+tag``)."""
    atoms = st.text(ATOM_CHARACTERS, min_size=1, max_size=8)
    return st.lists(atoms, min_size=1, max_size=3).map(".".join)


def ascii_labels() -> st.SearchStrategy[str]:
    """One LDH domain label (no hyphen at either end, no ``ab--`` prefix)."""
    return st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?\Z").filter(
        lambda label: label[2:4] != "--"
    )


def ascii_domains() -> st.SearchStrategy[str]:
    """A lower-case ASCII domain of one to three labels over `DOMAIN_SUFFIXES`' ASCII ones."""
    suffixes = st.sampled_from([s for s in DOMAIN_SUFFIXES if s.isascii()])
    return st.tuples(st.lists(ascii_labels(), min_size=1, max_size=3), suffixes).map(
        lambda parts: ".".join([*parts[0], parts[1]])
    )


def ascii_addresses() -> st.SearchStrategy[str]:
    """A strictly valid ASCII address, ``local@domain``."""
    return st.tuples(ascii_local_parts(), ascii_domains()).map("@".join)


def unicode_local_parts() -> st.SearchStrategy[str]:
    """A local part of letters and digits from any script (an SMTPUTF8 address)."""
    letters = st.characters(categories=("Lu", "Ll", "Lo", "Nd"))
    return st.text(letters, min_size=1, max_size=10)


def idn_domains() -> st.SearchStrategy[str]:
    """A domain in Unicode with at least one internationalised label."""
    labels = st.lists(st.sampled_from(IDN_LABELS) | ascii_labels(), max_size=2)
    return st.tuples(labels, st.sampled_from(IDN_LABELS), st.sampled_from(DOMAIN_SUFFIXES)).map(
        lambda parts: ".".join([*parts[0], parts[1], parts[2]])
    )


def unicode_addresses() -> st.SearchStrategy[str]:
    """A strictly valid internationalised address: Unicode local part and/or IDN domain."""
    locals_ = unicode_local_parts() | ascii_local_parts()
    domains = idn_domains() | ascii_domains()
    return st.tuples(locals_, domains).filter(lambda p: not (p[0] + p[1]).isascii()).map("@".join)


def valid_addresses() -> st.SearchStrategy[str]:
    """A strictly valid address, ASCII or internationalised."""
    return ascii_addresses() | unicode_addresses()


def display_names() -> st.SearchStrategy[str]:
    """A display name as people write them: commas, quotes, an ``@``, Unicode."""
    words = st.text(
        st.characters(categories=("L", "N", "Zs"), include_characters=",.'@\"()-"),
        min_size=1,
        max_size=20,
    )
    return words.map(lambda name: " ".join(name.split())).filter(bool)


def quote_display_name(name: str) -> str:
    """*name* as an RFC 5322 quoted string."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def mailboxes_text() -> st.SearchStrategy[str]:
    """One header entry for a valid address: bare, or ``"Name" <address>``."""
    named = st.tuples(display_names(), valid_addresses()).map(
        lambda p: f"{quote_display_name(p[0])} <{p[1]}>"
    )
    return valid_addresses() | named


def hostile_texts() -> st.SearchStrategy[str]:
    """Arbitrary text biased towards what breaks parsers: specials, controls, surrogates."""
    anything = st.characters(exclude_categories=())
    return st.text(st.sampled_from(HOSTILE_CHARACTERS) | anything, max_size=60)


def header_values() -> st.SearchStrategy[str]:
    """An address header value: valid entries, hostile text, or both joined by commas."""
    entry = mailboxes_text() | hostile_texts()
    return st.lists(entry, max_size=4).map(", ".join)


# --- Messages ------------------------------------------------------------------------------

#: Header values a message strategy draws participants from: colleagues of ``acme.com``,
#: free-provider users, role addresses, an encoded name, an unreadable entry and a group.
MESSAGE_ADDRESSES = (
    "Anna Berg <anna@acme.com>",
    "paul@eu.acme.com",
    '"Doe, Jane" <jane.doe@gmail.com>',
    "bob@outlook.com",
    "noreply@shop.example",
    "support@vendor.io",
    "Kim Lee <kim@client.example.org>",
    "=?UTF-8?B?SsO8cmdlbg==?= <juergen@kunde.de>",
    "not an address",
    "undisclosed-recipients:;",
)

#: Extra header names, some of them read by the rules (bulk mail) and some withheld by redaction.
EXTRA_HEADER_NAMES = (
    "Thread-Topic",
    "X-Mailer",
    "List-Id",
    "List-Unsubscribe",
    "Precedence",
    "Auto-Submitted",
    "Subject",
    "In-Reply-To",
    "References",
    "X-Gmail-Labels",
)

_ZONES = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])


def address_headers() -> st.SearchStrategy[str]:
    """One address header value: up to three entries of `MESSAGE_ADDRESSES`."""
    return st.lists(st.sampled_from(MESSAGE_ADDRESSES), max_size=3).map(", ".join)


def recipients() -> st.SearchStrategy[str | list[str]]:
    """What ``Message.build`` takes for to/cc/bcc: one header value or a list of them."""
    return address_headers() | st.lists(address_headers(), max_size=2)


def sent_times() -> st.SearchStrategy[datetime | None]:
    """A timezone-aware send time, or None."""
    return st.none() | st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=_ZONES
    )


@st.composite
def messages(
    draw: st.DrawFn,
    *,
    texts: st.SearchStrategy[str] | None = None,
    senders: st.SearchStrategy[str] | None = None,
) -> Message:
    """A `Message` made by ``Message.build`` with random participants, content and flags.

    *texts* draws subjects, bodies, attachment names and header values (short Unicode text by
    default); *senders* draws the From value (one of `MESSAGE_ADDRESSES` by default).
    """
    text = texts if texts is not None else st.text(max_size=30)
    attachment = st.tuples(text, st.binary(max_size=20)) | st.builds(
        Attachment,
        text,
        st.sampled_from(["application/pdf", "image/png"]),
        st.just(0),
        st.binary(max_size=20),
    )
    header_value = text | st.sampled_from(["bulk", "list", "no", "auto-replied", "Spam"])
    return Message.build(
        sender=draw(senders if senders is not None else st.sampled_from(MESSAGE_ADDRESSES)),
        to=draw(recipients()),
        cc=draw(recipients()),
        bcc=draw(recipients()),
        subject=draw(text),
        text=draw(text),
        html=draw(text.map(lambda t: f"<p>{t}</p>") | st.just("")),
        attachments=draw(st.lists(attachment, max_size=2)),
        message_id=draw(
            st.none()
            | st.just("  ")
            | st.from_regex(r"<[a-z0-9]{1,12}@mail\.example>", fullmatch=True)
        ),
        sent_at=draw(sent_times()),
        headers=draw(
            st.lists(st.tuples(st.sampled_from(EXTRA_HEADER_NAMES), header_value), max_size=3)
        ),
        flags=draw(st.frozensets(st.sampled_from(list(Flag)), max_size=2)),
    )


# --- Policies and mailboxes ----------------------------------------------------------------

#: Organisation domains a policy strategy picks from (``eu.acme.com`` stands for ``acme.com``).
ORG_DOMAINS = ("acme.com", "eu.acme.com", "acme-corp.io", "kunde.de")
#: Colleagues on other domains, and external people on the organisation's domains (disjoint).
MEMBER_ADDRESSES = ("kim@client.example.org", "jane.doe@gmail.com", "Sam@acme.de")
EXTERNAL_ADDRESSES = ("paul@eu.acme.com", "contractor@acme.com")
#: Blocklist entries: addresses (some only equal under canonicalisation) and domains.
BLOCKLIST_ENTRIES = (
    "@vendor.io",
    "@example.org",
    "@acme.com",
    "bob@outlook.com",
    "jane.doe+news@gmail.com",
    "JaneDoe@googlemail.com",
    "noreply@shop.example",
    "anna@acme.com",
)
#: Mailbox owners (most of them also appear in `MESSAGE_ADDRESSES`) and aliases.
OWNER_ADDRESSES = ("anna@acme.com", "paul@eu.acme.com", "jane.doe@gmail.com", "bob@outlook.com")
ALIAS_ADDRESSES = ("Anna Berg <anna.berg@acme-corp.io>", "sam@acme.de", "j.a.n.e.doe@gmail.com")


def canonicalizations() -> st.SearchStrategy[Canonicalization]:
    """Any combination of the canonicalisation switches."""
    return st.builds(Canonicalization, st.booleans(), st.booleans())


def _subsets(values: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), unique=True, max_size=len(values))


def levels() -> st.SearchStrategy[SharingLevel]:
    """Any sharing level."""
    return st.sampled_from(list(SharingLevel))


# Built once: a strategy made inside every draw costs Hypothesis more than the draw itself.
_POLICIES = st.builds(
    Policy,
    org_domains=_subsets(ORG_DOMAINS),
    members=_subsets(MEMBER_ADDRESSES),
    externals=_subsets(EXTERNAL_ADDRESSES),
    blocklist=_subsets(BLOCKLIST_ENTRIES),
    sync_internal=st.booleans(),
    exclude_group_emails=st.booleans(),
    canonicalization=canonicalizations(),
)


def policies() -> st.SearchStrategy[Policy]:
    """A valid `Policy` over the strategy addresses, with every switch drawn."""
    return _POLICIES


def mailboxes(owners: tuple[str, ...] = OWNER_ADDRESSES) -> st.SearchStrategy[Mailbox]:
    """A `Mailbox` owned by one of *owners*, with aliases, levels and switches drawn."""
    return st.builds(
        Mailbox,
        owner=st.sampled_from(owners),
        aliases=_subsets(ALIAS_ADDRESSES),
        incoming=levels(),
        outgoing=levels(),
        create_contacts=st.booleans(),
        contact_scope=st.sampled_from(list(ContactScope)),
        skip_free_providers=st.booleans(),
    )


# --- Contacts ------------------------------------------------------------------------------

#: Addresses the contact strategies draw from. Several are one identity (case, trailing dot,
#: the two forms of an IDN domain); others meet only under canonicalisation (a ``+tag``, Gmail
#: dots, ``googlemail.com``); ``kim@`` is a member and ``paul@`` a colleague in `policies`.
CONTACT_ADDRESSES = (
    "jane@acme-corp.io",
    "Jane@ACME-CORP.io.",
    "jane+crm@acme-corp.io",
    "jane.doe@gmail.com",
    "janedoe@googlemail.com",
    "bob@bücher.de",
    "bob@xn--bcher-kva.de",
    "kim@client.example.org",
    "lee@kunde.example",
    "max@müller.example",
    "paul@eu.acme.com",
)
#: Contact ids; ``c10`` sorts before ``c2``, as strings do.
CONTACT_IDS = ("c1", "c2", "c3", "c10", "c20")
#: Creation and deletion times; the first two are one instant in two timezones (a tie).
CONTACT_TIMES = (
    datetime(2024, 1, 1, tzinfo=UTC),
    datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))),
    datetime(2024, 1, 2, tzinfo=UTC),
    datetime(2024, 3, 1, 12, tzinfo=timezone(timedelta(hours=-5))),
)


def contact_times() -> st.SearchStrategy[datetime]:
    """One of `CONTACT_TIMES` (few, so that ties happen)."""
    return st.sampled_from(CONTACT_TIMES)


@st.composite
def contacts(
    draw: st.DrawFn, ids: st.SearchStrategy[str] | None = None, *, deleted: bool | None = None
) -> Contact:
    """A `Contact` over `CONTACT_ADDRESSES`, soft-deleted as *deleted* says (None: either way)."""
    pool = st.sampled_from(CONTACT_ADDRESSES)
    if deleted is None:
        deleted_at = draw(st.none() | contact_times())
    else:
        deleted_at = draw(contact_times()) if deleted else None
    return Contact(
        id=draw(ids if ids is not None else st.sampled_from(CONTACT_IDS)),
        primary=draw(pool),
        additional=draw(st.lists(pool, max_size=3)),
        created_at=draw(contact_times()),
        deleted_at=deleted_at,
    )


def contact_sets(max_size: int = 6) -> st.SearchStrategy[list[Contact]]:
    """Contacts with distinct ids."""
    return st.lists(contacts(), unique_by=lambda c: c.id, max_size=max_size)


@st.composite
def events(draw: st.DrawFn, *, texts: st.SearchStrategy[str] | None = None) -> Event:
    """An `Event` made by ``Event.build``: participants from `MESSAGE_ADDRESSES`, text drawn."""
    text = texts if texts is not None else st.text(max_size=30)
    start = draw(sent_times())
    return Event.build(
        uid=draw(st.just("") | st.from_regex(r"[a-z0-9]{1,12}@calendar\.example", fullmatch=True)),
        organizer=draw(st.none() | st.sampled_from(MESSAGE_ADDRESSES)),
        attendees=draw(st.lists(st.sampled_from(MESSAGE_ADDRESSES), max_size=3)),
        start=start,
        end=None if start is None else start + draw(st.timedeltas(timedelta(0), timedelta(days=2))),
        title=draw(text),
        description=draw(text),
        location=draw(text),
        conference_url=draw(text.map(lambda t: f"https://meet.example/{t}") | st.just("")),
        cancelled=draw(st.booleans()),
        flags=draw(st.frozensets(st.sampled_from(list(Flag)), max_size=1)),
    )


__all__ = ["st"]
