"""Tests for automatic contact creation: `plan_contacts` and its reason codes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mailbind import (
    Canonicalization,
    Contact,
    ContactError,
    ContactIndex,
    ContactPlan,
    ContactScope,
    Event,
    Flag,
    Mailbox,
    Message,
    Policy,
    SkipReason,
    decide,
    is_colleague,
    is_free_provider,
    is_impersonal,
    plan_contacts,
)
from mailbind.errors import ArgumentTypeError
from mailbind.planning import auto_contact_id

from . import factories
from .strategies import mailboxes, messages, policies

T0 = datetime(2024, 1, 1, tzinfo=UTC)
POLICY = factories.policy()
MAILBOX = factories.mailbox(aliases=["anna.berg@acme-corp.io"])


#: A message sent at T0 unless told otherwise.
mail = partial(factories.message, sent_at=T0)


def plan(
    items: list[Message | Event],
    mailbox: Mailbox = MAILBOX,
    policy: Policy = POLICY,
    index: ContactIndex | None = None,
) -> ContactPlan:
    """The plan over *items* with an empty index unless one is given."""
    return plan_contacts(items, mailbox, policy, index or ContactIndex())


def reasons(result: ContactPlan) -> dict[str | None, SkipReason]:
    """Each skipped key (or raw text, for unreadable entries) with its reason."""
    return {s.key if s.key is not None else s.raw: s.reason for s in result.skipped}


# --- Proposals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "first", "last", "company", "company_name"),
    [
        ('"Doe, Jane" <jane.doe@client.io>', "Jane", "Doe", "client.io", "Client"),
        ("Jane Doe <jdoe@client.co.uk>", "Jane", "Doe", "client.co.uk", "Client"),
        ("jane.doe+crm@sales.client.co.uk", "Jane", "Doe", "client.co.uk", "Client"),
        ('"jane.doe@client.io" <jane.doe@client.io>', "Jane", "Doe", "client.io", "Client"),
        ("j.doe@müller.de", "J.", "Doe", "xn--mller-kva.de", "Müller"),
        ("Zoë Saldaña <zoe@bücher.example>", "Zoë", "Saldaña", "xn--bcher-kva.example", "Bücher"),
        ("42@client.io", "", "", "client.io", "Client"),
    ],
)
def test_a_new_sender_becomes_a_proposal(
    sender: str, first: str, last: str, company: str, company_name: str
) -> None:
    """An unknown external sender is proposed with names and the company of a work address."""
    message = mail(sender, "anna@acme.com", message_id="<m1@x>")
    (new,) = plan([message]).new
    assert (new.first_name, new.last_name) == (first, last)
    assert (new.company_domain, new.company_name) == (company, company_name)
    assert new.message_key == "m1@x"
    assert new.key == new.address.key


def test_institutions_are_companies_unless_the_policy_says_not() -> None:
    """A professor at a university gets the university as company by default; with
    ``institutions_as_companies=False`` each person there stands alone, as on a free provider
    (still proposed: an institution's people are people)."""
    message = mail("Prof. Jane Doe <jane.doe@cs.ox.ac.uk>", "anna@acme.com")
    (new,) = plan([message]).new
    assert (new.company_domain, new.company_name) == ("ox.ac.uk", "Ox")
    alone = Policy(["acme.com"], institutions_as_companies=False)
    (new,) = plan([message], policy=alone).new
    assert (new.first_name, new.last_name) == ("Jane", "Doe")
    assert (new.company_domain, new.company_name) == (None, None)
    # A domain the caller names counts too; a company stays one.
    own = Policy(["acme.com"], institutions=["ethz.ch"], institutions_as_companies=False)
    messages: list[Message | Event] = [
        mail("jane@ethz.ch", "anna@acme.com"),
        mail("bob@client.io", "anna@acme.com"),
    ]
    assert {(n.address.key, n.company_domain) for n in plan(messages, policy=own).new} == {
        ("jane@ethz.ch", None),
        ("bob@client.io", "client.io"),
    }


#: Suffixes of the bundled institutions list, and registrable labels under them.
INSTITUTION_SUFFIXES = ("edu", "ac.uk", "gov", "gouv.fr", "k12.ca.us", "edu.au")
LABELS = st.from_regex(r"[a-z][a-z0-9]{1,10}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(
    label=LABELS,
    sub=st.one_of(st.none(), LABELS),
    suffix=st.sampled_from(INSTITUTION_SUFFIXES),
    company=LABELS,
    as_companies=st.booleans(),
)
def test_the_institution_setting_decides_an_institutions_company_and_nothing_else(
    label: str, sub: str | None, suffix: str, company: str, as_companies: bool
) -> None:
    """Whatever the names: a person at an institution is proposed either way, with the
    institution's registrable domain as company exactly when the policy says so; a person at
    a company keeps their company either way; the setting changes no other field."""
    host = f"{label}.{suffix}" if sub is None else f"{sub}.{label}.{suffix}"
    assume(not is_free_provider(host))  # a few free providers sit under .edu
    there, elsewhere = f"jane.doe@{host}", f"bob.ray@{company}-works.io"
    items: list[Message | Event] = [mail(there, "anna@acme.com"), mail(elsewhere, "anna@acme.com")]
    policy = Policy(["acme.com"], institutions_as_companies=as_companies)
    other = Policy(["acme.com"], institutions_as_companies=not as_companies)
    new = {n.address.key: n for n in plan(items, policy=policy).new}
    flipped = {n.address.key: n for n in plan(items, policy=other).new}
    assert set(new) == set(flipped) == {there, elsewhere}
    institution = f"{label}.{suffix}"
    assert new[there].company_domain == (institution if as_companies else None)
    assert new[elsewhere].company_domain == f"{company}-works.io"
    assert new[elsewhere] == flipped[elsewhere]
    assert (new[there].first_name, new[there].last_name) == ("Jane", "Doe")
    assert (new[there].key, new[there].message_key) == (
        flipped[there].key,
        flipped[there].message_key,
    )


def test_free_provider_addresses_are_skipped_unless_allowed() -> None:
    """A Gmail sender is skipped by default; allowed, it is proposed without a company."""
    message = mail("Jane Doe <jane.doe@gmail.com>", "anna@acme.com")
    assert reasons(plan([message])) == {
        "anna@acme.com": SkipReason.SELF,
        "jane.doe@gmail.com": SkipReason.FREE_PROVIDER,
    }
    allowing = Mailbox("anna@acme.com", skip_free_providers=False)
    (new,) = plan([message], allowing).new
    assert (new.first_name, new.company_domain, new.company_name) == ("Jane", None, None)


@pytest.mark.parametrize(
    ("participant", "reason"),
    [
        ("anna@acme.com", SkipReason.SELF),
        ("Anna.Berg@ACME-corp.io", SkipReason.SELF),
        ("paul@eu.acme.com", SkipReason.COLLEAGUE),
        ("support@client.io", SkipReason.IMPERSONAL),
        ("No-Reply+x@client.io", SkipReason.IMPERSONAL),
        ("bob@outlook.com", SkipReason.FREE_PROVIDER),
        ("x@", SkipReason.UNREADABLE),
    ],
)
def test_participants_who_never_qualify(participant: str, reason: SkipReason) -> None:
    """The owner, aliases, colleagues, role, free-provider and unreadable addresses are skipped."""
    message = mail("anna@acme.com", ["kim@client.io", participant])
    result = plan([message])
    assert [n.key for n in result.new] == ["kim@client.io"]
    skipped = [s for s in result.skipped if s.raw == participant]
    assert [s.reason for s in skipped] == [reason]


def test_known_and_deleted_addresses_are_not_proposed() -> None:
    """Addresses of contacts, soft-deleted or destroyed, are never proposed again."""
    index = ContactIndex(
        [
            Contact(id="c1", primary="kim@client.io", created_at=T0),
            Contact(id="c2", primary="lee@client.io", created_at=T0),
            Contact(id="c3", primary="max@client.io", created_at=T0),
        ]
    )
    index.soft_delete("c2", T0)
    index.destroy("c3")
    index.suppress("erased@client.io")
    message = mail(
        "anna@acme.com", ["kim@client.io", "lee@client.io", "max@client.io", "erased@client.io"]
    )
    result = plan([message], index=index)
    assert result.new == ()
    assert reasons(result) == {
        "anna@acme.com": SkipReason.SELF,
        "kim@client.io": SkipReason.ALREADY_KNOWN,
        "lee@client.io": SkipReason.SUPPRESSED,
        "max@client.io": SkipReason.SUPPRESSED,
        "erased@client.io": SkipReason.SUPPRESSED,
    }


def test_creating_by_hand_lets_an_address_be_known_again() -> None:
    """After a destroyed contact's address is created by hand, it is known, not suppressed."""
    index = ContactIndex([Contact(id="c1", primary="kim@client.io", created_at=T0)])
    index.destroy("c1")
    index.upsert(Contact(id="c2", primary="kim@client.io", created_at=T0))
    result = plan([mail("kim@client.io", "anna@acme.com")], index=index)
    assert reasons(result)["kim@client.io"] is SkipReason.ALREADY_KNOWN


def test_disabled_mailbox_proposes_nothing() -> None:
    """A mailbox with automatic creation off proposes nothing and says so for everyone."""
    off = Mailbox("anna@acme.com", create_contacts=False)
    result = plan([mail("kim@client.io", ["anna@acme.com", "x@"])], off)
    assert result.new == ()
    assert set(reasons(result).values()) == {SkipReason.DISABLED}
    assert len(result.skipped) == 3


def test_unsynced_messages_create_nothing() -> None:
    """Participants of a message that does not sync get ``message_not_synced``."""
    draft = mail("anna@acme.com", "kim@client.io", flags=[Flag.DRAFT])
    blocked = mail("lee@client.io", "anna@acme.com")
    policy = Policy(org_domains=["acme.com"], blocklist=["lee@client.io"])
    result = plan([draft, blocked], policy=policy)
    assert result.new == ()
    assert reasons(result) == {
        "anna@acme.com": SkipReason.SELF,
        "kim@client.io": SkipReason.MESSAGE_NOT_SYNCED,
        "lee@client.io": SkipReason.MESSAGE_NOT_SYNCED,
    }


def test_sent_scope_takes_only_recipients_of_outgoing_mail() -> None:
    """With the SENT scope only recipients of sent mail qualify; senders are outside it."""
    sent_only = Mailbox("anna@acme.com", contact_scope=ContactScope.SENT)
    incoming = mail("kim@client.io", ["anna@acme.com", "lee@client.io"])
    outgoing = mail(
        "anna@acme.com", "max@client.io", cc="lee@client.io", sent_at=T0 + timedelta(hours=1)
    )
    result = plan([incoming, outgoing], sent_only)
    assert [n.key for n in result.new] == ["max@client.io", "lee@client.io"]
    assert reasons(result)["kim@client.io"] is SkipReason.OUTSIDE_SCOPE


def test_reply_to_and_sender_headers_never_create_contacts() -> None:
    """A Reply-To address (often a list or a ticket system) is outside every scope."""
    raw = (
        b"From: Kim <kim@client.io>\r\nTo: anna@acme.com\r\nReply-To: desk@tickets.example\r\n"
        b"Message-ID: <m1@x>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nHello\r\n"
    )
    result = plan([Message.from_bytes(raw)])
    assert [n.key for n in result.new] == ["kim@client.io"]
    assert reasons(result)["desk@tickets.example"] is SkipReason.OUTSIDE_SCOPE


def test_one_proposal_per_key_from_the_earliest_message() -> None:
    """An address in many messages is proposed once, from the earliest, with the first name seen."""
    later = mail(
        "kim@client.io", "anna@acme.com", sent_at=T0 + timedelta(hours=5), message_id="<late@x>"
    )
    earlier = mail(
        "KIM@client.io", "anna@acme.com", sent_at=T0 + timedelta(hours=1), message_id="<early@x>"
    )
    named = mail(
        "Kim Lee <kim@client.io>",
        "anna@acme.com",
        sent_at=T0 + timedelta(hours=3),
        message_id="<named@x>",
    )
    for order in ([later, earlier, named], [named, later, earlier]):
        (new,) = plan(list(order)).new
        assert (new.message_key, new.first_name, new.last_name) == ("early@x", "Kim", "Lee")
        assert str(new.address) == "KIM@client.io"


def test_canonicalisation_merges_proposals() -> None:
    """Under canonicalisation two ``+tag`` forms make one proposal."""
    canon = Canonicalization(strip_subaddress=True)
    policy = Policy(org_domains=["acme.com"], canonicalization=canon)
    messages_ = [mail("kim+a@client.io", "anna@acme.com"), mail("kim+b@client.io", "anna@acme.com")]
    result = plan_contacts(messages_, MAILBOX, policy, ContactIndex(canonicalization=canon))
    assert [n.key for n in result.new] == ["kim@client.io"]


def test_index_and_policy_must_canonicalise_alike() -> None:
    """An index folding addresses differently from the policy is a `ContactError`."""
    with pytest.raises(ContactError) as info:
        plan_contacts([], MAILBOX, POLICY, ContactIndex(canonicalization=Canonicalization(True)))
    assert str(info.value) == (
        "The contact index and the policy must use the same canonicalization: "
        "Canonicalization(strip_subaddress=True, fold_gmail=False) is not "
        "Canonicalization(strip_subaddress=False, fold_gmail=False)."
    )


def test_given_decisions_are_used() -> None:
    """Decisions a caller already made are taken instead of deciding again."""
    message = mail("kim@client.io", "anna@acme.com")
    decision = decide(message, MAILBOX, POLICY)
    assert plan_contacts([message], MAILBOX, POLICY, ContactIndex(), decisions=[decision]) == (
        plan([message])
    )
    excluded = decide(mail("anna@acme.com", (), flags=[Flag.DRAFT]), MAILBOX, POLICY)
    result = plan_contacts([message], MAILBOX, POLICY, ContactIndex(), decisions=[excluded])
    assert reasons(result)["kim@client.io"] is SkipReason.MESSAGE_NOT_SYNCED


def test_every_reason_has_a_description() -> None:
    """Each reason code explains itself in one sentence."""
    for reason in SkipReason:
        assert reason.description.endswith(".")


# --- Events ----------------------------------------------------------------------------------


def test_events_create_contacts_through_the_same_rules() -> None:
    """An event's organiser and attendees qualify like a sender and recipients."""
    event = Event.build(
        uid="ev1",
        organizer="Kim Lee <kim@client.io>",
        attendees=["anna@acme.com", "paul@acme.com", "support@client.io", "lee@client.io"],
        start=T0,
    )
    result = plan([event])
    assert [(n.key, n.first_name, n.message_key) for n in result.new] == [
        ("kim@client.io", "Kim", "ev1"),
        ("lee@client.io", "Lee", "ev1"),
    ]
    assert reasons(result)["paul@acme.com"] is SkipReason.COLLEAGUE


def test_event_scope_sent_means_events_the_owner_organised() -> None:
    """With the SENT scope only attendees of events the owner organised qualify."""
    sent_only = Mailbox("anna@acme.com", contact_scope=ContactScope.SENT)
    mine = Event.build(uid="a", organizer="anna@acme.com", attendees="kim@client.io", start=T0)
    theirs = Event.build(uid="b", organizer="lee@client.io", attendees="anna@acme.com", start=T0)
    result = plan([mine, theirs], sent_only)
    assert [n.key for n in result.new] == ["kim@client.io"]
    assert reasons(result)["lee@client.io"] is SkipReason.OUTSIDE_SCOPE


def test_cancelled_events_create_nothing() -> None:
    """Participants of a cancelled event are reported, not proposed."""
    event = Event.build(
        uid="c", organizer="kim@client.io", attendees="anna@acme.com", cancelled=True
    )
    assert reasons(plan([event]))["kim@client.io"] is SkipReason.EVENT_CANCELLED


def test_internal_events_create_nothing() -> None:
    """An event whose participants are all colleagues does not sync."""
    event = Event.build(uid="i", organizer="anna@acme.com", attendees="paul@acme.com")
    assert decide(event, MAILBOX, POLICY).synced is False
    assert plan([event]).new == ()


# --- Properties ------------------------------------------------------------------------------

SETTINGS = settings(max_examples=40)


@SETTINGS
@given(
    st.lists(messages(), max_size=6),
    mailboxes(),
    policies(),
    st.randoms(use_true_random=False),
)
def test_plan_is_deterministic_and_order_independent(
    items: list[Message], mailbox: Mailbox, policy: Policy, rnd: random.Random
) -> None:
    """The same messages in any order give the same plan."""
    index = ContactIndex(canonicalization=policy.canonicalization)
    first = plan_contacts(items, mailbox, policy, index)
    shuffled = items[:]
    rnd.shuffle(shuffled)
    assert plan_contacts(shuffled, mailbox, policy, index) == first
    assert plan_contacts(items * 2, mailbox, policy, index) == first


@SETTINGS
@given(st.lists(messages(), max_size=6), mailboxes(), policies())
def test_proposals_always_qualify(items: list[Message], mailbox: Mailbox, policy: Policy) -> None:
    """One proposal per key; never the owner, an alias, a colleague or an impersonal address;
    always from a synced message that names the address; every participant accounted for."""
    result = plan_contacts(
        items, mailbox, policy, ContactIndex(canonicalization=policy.canonicalization)
    )
    keys = [n.key for n in result.new]
    assert len(keys) == len(set(keys))
    own = {policy.key(a) for a in mailbox.addresses}
    for new in result.new:
        assert new.key not in own
        assert not is_colleague(new.address, policy)
        assert not is_impersonal(new.address, policy.role_addresses)
        assert mailbox.create_contacts
        # Messages may share a key (a Message-ID): one of them is the proposal's source.
        sources = [m for m in items if m.key == new.message_key]
        assert any(
            decide(source, mailbox, policy).synced
            and new.key in {policy.key(p.address) for p in source.participants if p.address}
            for source in sources
        )
    skipped = {s.key for s in result.skipped if s.key is not None}
    assert not skipped & set(keys)
    for message in items:
        for participant in message.participants:
            if participant.address is None:
                assert participant.raw in {s.raw for s in result.skipped if s.key is None}
            else:
                assert policy.key(participant.address) in skipped | set(keys)


@SETTINGS
@given(st.lists(messages(), min_size=1, max_size=5), mailboxes(), policies(), st.data())
def test_deleted_means_never_recreated(
    items: list[Message], mailbox: Mailbox, policy: Policy, data: st.DataObject
) -> None:
    """After any history of deletions, later mail never proposes a suppressed address."""
    canon = policy.canonicalization
    seen = {policy.key(p.address): p.address for m in items for p in m.participants if p.address}
    index = ContactIndex(canonicalization=canon)
    for n, address in enumerate(sorted(seen.values(), key=lambda a: a.key)):
        contact = Contact(id=f"c{n}", primary=address, created_at=T0)
        index.upsert(contact)
        step = data.draw(st.sampled_from(["soft", "destroy", "both", "request", "keep"]))
        if step in ("soft", "both"):
            index.soft_delete(contact.id, T0)
        if step in ("destroy", "both"):
            index.destroy(contact.id)
        if step == "request":
            index.suppress(address)
            index.destroy(contact.id)
    later = data.draw(st.lists(messages(), max_size=4))
    result = plan_contacts([*items, *later], mailbox, policy, index)
    for new in result.new:
        assert not index.is_suppressed(new.address)
        assert index.resolve(new.address) is None
    for key in index.suppressed:
        assert key not in {n.key for n in result.new}


def test_without_an_index_the_plan_is_that_of_an_empty_index() -> None:
    """`plan_contacts` with no index plans as with an empty one under the policy's rules."""
    policy = Policy(["acme.com"], canonicalization=Canonicalization(strip_subaddress=True))
    mailbox = Mailbox("anna@acme.com")
    mail = [
        Message.build(sender="Kim Lee <kim@client.example>", to="anna@acme.com"),
        Message.build(sender="Jane.Doe@gmail.com", to="anna@acme.com"),
    ]
    empty = ContactIndex(canonicalization=Canonicalization(strip_subaddress=True))
    assert plan_contacts(mail, mailbox, policy) == plan_contacts(mail, mailbox, policy, empty)
    assert [new.key for new in plan_contacts(mail, mailbox, policy).new] == ["kim@client.example"]


def test_a_proposal_becomes_the_contact_a_sync_creates() -> None:
    """`NewContact.to_contact` gives the proposal's address, names, company and derived id."""
    mail = [Message.build(sender="Kim Lee <kim@client.example>", to="anna@acme.com")]
    (new,) = plan_contacts(mail, Mailbox("anna@acme.com"), Policy(["acme.com"])).new
    now = datetime(2026, 1, 5, tzinfo=UTC)
    contact = new.to_contact(now)
    assert contact == Contact(
        auto_contact_id("kim@client.example"),
        "kim@client.example",
        created_at=now,
        first_name="Kim",
        last_name="Lee",
        company_domain="client.example",
    )
    assert (contact.first_name, contact.last_name, contact.company_domain) == (
        "Kim",
        "Lee",
        "client.example",
    )
    assert (contact.deleted_at, contact.additional) == (None, ())
    assert new.to_contact(now, id="crm-42").id == "crm-42"


def test_an_index_of_the_wrong_type_names_the_parameter() -> None:
    """An index that is not a `ContactIndex` (nor None) is refused naming ``index``."""
    with pytest.raises(ArgumentTypeError) as raised:
        plan_contacts([], Mailbox("anna@acme.com"), Policy(["acme.com"]), [])  # type: ignore[arg-type]
    assert str(raised.value) == (
        "plan_contacts() takes a ContactIndex or None as index, not a list."
    )
