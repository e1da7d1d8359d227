"""Tests for the sync rules: direction, colleagues, internal mail, bulk mail, decisions,
visibility and re-evaluation (RULES 2, 3 and 4.3)."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind import (
    Address,
    Canonicalization,
    Decision,
    Direction,
    Event,
    Flag,
    Holding,
    InvalidAddressError,
    Mailbox,
    Message,
    Participant,
    Policy,
    PolicyError,
    Reason,
    Role,
    SharingLevel,
    decide,
    direction,
    is_blocked,
    is_bulk,
    is_colleague,
    is_free_provider,
    is_impersonal,
    is_internal,
    parse_address,
    reevaluate,
    visible_level,
)
from mailbind.addresses import recover_addresses
from tests import factories
from tests.oracles import bulk_plainly, signals_plainly
from tests.strategies import (
    ALIAS_ADDRESSES,
    MESSAGE_ADDRESSES,
    levels,
    mailboxes,
    messages,
    policies,
)

ACME = factories.policy()
ANNA = factories.mailbox()

#: Senders for property tests: the message strategy's, plus the mailbox aliases, so that some
#: messages are outgoing. Texts are few and short (content does not matter to these rules),
#: some of them bulk markers and Takeout labels for the header values.
SENDERS = st.sampled_from(MESSAGE_ADDRESSES + ALIAS_ADDRESSES)
TEXTS = st.sampled_from(["", "hello", "bulk (weekly)", "no", "Inbox,Spam", "Draft, Sent"])
MESSAGES = messages(texts=TEXTS, senders=SENDERS)
CORE_ROLES = (Role.FROM, Role.TO, Role.CC, Role.BCC)


#: A message built from plain values, from Kim to Anna by default.
mail = factories.message


def raw_message(*entries: tuple[Role, str | None]) -> Message:
    """A message holding exactly the participants given (None: an unreadable entry)."""
    participants = tuple(
        Participant(role, parse_address(text) if text else None, raw=text or "?")
        for role, text in entries
    )
    return Message(message_id="m@example.net", sent_at=None, participants=participants)


# --- Direction -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "flags", "expected"),
    [
        ("anna@acme.com", (), Direction.OUTGOING),
        ("Anna Berg <ANNA@Acme.COM.>", (), Direction.OUTGOING),
        ("anna.berg@acme-corp.io", (), Direction.OUTGOING),
        ("kim@client.example", (), Direction.INCOMING),
        ("kim@client.example", (Flag.SENT,), Direction.OUTGOING),
        ("not an address", (), Direction.INCOMING),
        ('"anna@acme.com" <evil@x.io>', (), Direction.INCOMING),
    ],
)
def test_direction_table(sender: str, flags: tuple[Flag, ...], expected: Direction) -> None:
    """The owner or an alias in From, or the sent flag, makes a message outgoing."""
    mailbox = Mailbox(owner="anna@acme.com", aliases=["anna.berg@acme-corp.io"])
    assert direction(mail(sender, flags=flags), mailbox) is expected


def test_direction_reads_the_takeout_sent_label() -> None:
    """A Google Takeout ``Sent`` label makes a message outgoing, like the sent flag."""
    message = mail("kim@client.example", headers=[("X-Gmail-Labels", "Sent,Opened")])
    assert direction(message, ANNA) is Direction.OUTGOING


def test_direction_uses_the_policy_canonicalisation_when_given() -> None:
    """Without a policy addresses compare by identity key; with one, under its folding."""
    mailbox = Mailbox(owner="jane.doe@gmail.com")
    message = mail("j.a.n.e.doe+crm@googlemail.com", to="kim@client.example")
    folding = Policy(canonicalization=Canonicalization(strip_subaddress=True, fold_gmail=True))
    assert direction(message, mailbox) is Direction.INCOMING
    assert direction(message, mailbox, folding) is Direction.OUTGOING
    assert decide(message, mailbox, folding).direction is Direction.OUTGOING


# --- Colleagues ----------------------------------------------------------------------------

COLLEAGUE_POLICY = Policy(
    org_domains=["acme.com", "acme-corp.io"],
    members=["kim@client.example"],
    externals=["contractor@acme.com"],
)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("anna@acme.com", True),
        ("ANNA@ACME.COM.", True),
        ("paul@eu.acme.com", True),
        ("x@deep.eu.acme.com", True),
        ("x@acme-corp.io", True),
        ("kim@client.example", True),
        ("KIM@Client.Example", True),
        ("other@client.example", False),
        ("contractor@acme.com", False),
        ("Contractor@ACME.com", False),
        ("x@acme.com.evil.io", False),
        ("x@acme-com.io", False),
        ("x@acme.co", False),
        ("x@notacme.com", False),
        ("x@acme.com.au", False),
        ("x@\u0430cme.com", False),  # Cyrillic a: a different domain after IDNA
        ("x@gmail.com", False),
    ],
)
def test_is_colleague_table(address: str, expected: bool) -> None:
    """Registrable-domain equality, named members and named externals decide colleagues."""
    assert is_colleague(parse_address(address), COLLEAGUE_POLICY) is expected
    assert is_colleague(address, COLLEAGUE_POLICY) is expected


def test_unreadable_address_is_never_a_colleague() -> None:
    """None (an entry that could not be read) is not a colleague."""
    assert is_colleague(None, COLLEAGUE_POLICY) is False


def test_is_colleague_rejects_an_unreadable_string() -> None:
    """A string that is not an address is the caller's mistake."""
    with pytest.raises(InvalidAddressError) as info:
        is_colleague("not an address", COLLEAGUE_POLICY)
    assert str(info.value) == "The address is not a readable address: 'not an address'."


def test_members_and_externals_compare_under_canonicalisation() -> None:
    """With sub-addresses stripped, a tagged address is the member or external it tags."""
    plain = Policy(
        members=["kim@client.example"], externals=["con@acme.com"], org_domains="acme.com"
    )
    strip = Policy(
        members=["kim@client.example"],
        externals=["con@acme.com"],
        org_domains="acme.com",
        canonicalization=Canonicalization(strip_subaddress=True),
    )
    assert is_colleague("kim+crm@client.example", plain) is False
    assert is_colleague("kim+crm@client.example", strip) is True
    assert is_colleague("con+x@acme.com", plain) is True
    assert is_colleague("con+x@acme.com", strip) is False


# --- Blocklist -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "canonicalization", "address", "expected"),
    [
        (["kim@client.example"], Canonicalization(), "KIM@client.example.", True),
        (["kim@client.example"], Canonicalization(), "kim2@client.example", False),
        (["@vendor.io"], Canonicalization(), "x@vendor.io", True),
        (["@vendor.io"], Canonicalization(), "x@mail.eu.vendor.io", True),
        (["@vendor.io"], Canonicalization(), "x@notvendor.io", False),
        (["@vendor.io"], Canonicalization(), "x@vendor.io.evil.com", False),
        (["@mail.vendor.io"], Canonicalization(), "x@vendor.io", False),
        (["@bücher.de"], Canonicalization(), "x@xn--bcher-kva.de", True),
        (["kim+news@client.example"], Canonicalization(), "kim@client.example", False),
        (["kim+news@client.example"], Canonicalization(True, False), "kim@client.example", True),
        (["kim@client.example"], Canonicalization(True, False), "kim+x@client.example", True),
        (["jane.doe@gmail.com"], Canonicalization(), "janedoe@googlemail.com", False),
        (["jane.doe@gmail.com"], Canonicalization(False, True), "janedoe@googlemail.com", True),
        (["@googlemail.com"], Canonicalization(False, True), "x@gmail.com", True),
        (["@googlemail.com"], Canonicalization(), "x@gmail.com", False),
    ],
)
def test_is_blocked_table(
    entries: list[str], canonicalization: Canonicalization, address: str, expected: bool
) -> None:
    """Blocklist entries match by identity key, domains cover subdomains, folding applies."""
    policy = Policy(blocklist=entries, canonicalization=canonicalization)
    assert is_blocked(address, policy) is expected


def test_unreadable_address_is_never_blocked() -> None:
    """None is not on any blocklist."""
    assert is_blocked(None, Policy(blocklist=["@vendor.io"])) is False


# --- Bulk mail -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("List-Id", "<news.shop.example>", True),
        ("list-id", "Shop news <news.shop.example>", True),
        ("List-Id", "   ", False),
        ("List-Unsubscribe", "<mailto:unsubscribe@shop.example>", True),
        ("LIST-UNSUBSCRIBE", "<https://shop.example/u>", True),
        ("Precedence", "bulk", True),
        ("Precedence", "BULK", True),
        ("Precedence", "  list  ", True),
        ("Precedence", "junk (sent by a robot)", True),
        ("Precedence", "(note) bulk", True),
        ("Precedence", '"bulk"', True),
        ("Precedence", "first-class", False),
        ("Precedence", "normal", False),
        ("Precedence", "bulky", False),
        ("Precedence", "", False),
        ("Auto-Submitted", "no", False),
        ("Auto-Submitted", "No", False),
        ("Auto-Submitted", " no (a person wrote this)", False),
        ("Auto-Submitted", "NO; reason=none", False),
        ("Auto-Submitted", "auto-replied", True),
        ("Auto-Submitted", "auto-generated", True),
        ("Auto-Submitted", "Auto-Notified; owner-email=list@x.example", True),
        ("Auto-Submitted", "(only (a nested) comment)", False),
        ("Auto-Submitted", "", False),
        ("Auto-Submitted", "(no) auto-replied", True),
        ("X-Mailer", "bulk", False),
        ("Thread-Topic", "List-Id", False),
    ],
)
def test_is_bulk_table(name: str, value: str, expected: bool) -> None:
    """Bulk headers are recognised whatever their case, spacing, comments or parameters."""
    assert is_bulk(mail(headers=[(name, value)])) is expected


def test_is_bulk_is_false_without_headers() -> None:
    """A message with no extra headers is not bulk."""
    assert is_bulk(mail()) is False


def test_is_bulk_reads_a_huge_header_quickly() -> None:
    """A hostile megabyte of parentheses is read in bounded time, as not bulk."""
    assert is_bulk(mail(headers=[("Precedence", "(" * 1_000_000)])) is False


# --- Internal mail -------------------------------------------------------------------------


def test_internal_needs_every_role_to_be_a_colleague() -> None:
    """An external in To, Cc or Bcc makes a message not internal."""
    assert is_internal(mail("boss@acme.com"), ANNA, ACME)
    assert not is_internal(mail("boss@acme.com", cc="kim@client.example"), ANNA, ACME)
    assert not is_internal(mail("boss@acme.com", bcc="kim@client.example"), ANNA, ACME)
    assert not is_internal(mail("boss@acme.com", to="kim@client.example"), ANNA, ACME)


def test_subdomain_colleagues_are_internal() -> None:
    """Mail between ``acme.com`` and ``eu.acme.com`` is internal."""
    assert is_internal(mail("paul@eu.acme.com"), ANNA, ACME)


def test_unreadable_participant_makes_a_message_not_internal() -> None:
    """An entry that could not be read is not a colleague."""
    assert not is_internal(mail("boss@acme.com", cc="not an address"), ANNA, ACME)


def test_free_provider_owner_makes_nothing_internal() -> None:
    """When the owner's own address is on a free provider, all mail syncs."""
    policy = Policy(org_domains=["acme.com"], members=["jane.doe@gmail.com"])
    owner = Mailbox(owner="jane.doe@gmail.com")
    message = mail("boss@acme.com", to="jane.doe@gmail.com")
    assert is_internal(message, ANNA, policy)
    assert not is_internal(message, owner, policy)
    decision = decide(message, owner, policy)
    assert decision.synced
    assert decision.reasons == (Reason.OWNER_ON_FREE_PROVIDER,)


def test_a_message_naming_nobody_is_not_internal() -> None:
    """No From, To, Cc or Bcc at all: nothing shows colleague chatter, so the message syncs."""
    message = raw_message()
    assert not is_internal(message, ANNA, ACME)
    assert decide(message, ANNA, ACME).reasons == (Reason.NO_PARTICIPANTS,)


def test_sender_and_reply_to_do_not_count_for_internal() -> None:
    """Only From, To, Cc and Bcc decide whether a message is internal."""
    message = raw_message(
        (Role.FROM, "boss@acme.com"),
        (Role.TO, "anna@acme.com"),
        (Role.REPLY_TO, "kim@client.example"),
        (Role.SENDER, None),
    )
    assert is_internal(message, ANNA, ACME)


# --- Decisions: a table of real-world cases ------------------------------------------------

R = Reason


@pytest.mark.parametrize(
    ("policy", "mailbox", "message", "reasons"),
    [
        pytest.param(ACME, ANNA, mail("boss@acme.com"), (R.INTERNAL,), id="internal"),
        pytest.param(ACME, ANNA, mail("kim@client.example"), (R.EXTERNAL,), id="external"),
        pytest.param(
            Policy(org_domains="acme.com", sync_internal=True),
            ANNA,
            mail("boss@acme.com"),
            (R.INTERNAL_ALLOWED,),
            id="internal-allowed",
        ),
        pytest.param(ACME, ANNA, mail("x@acme.com.evil.io"), (R.EXTERNAL,), id="look-alike"),
        pytest.param(
            ACME,
            ANNA,
            mail("boss@acme.com", cc="not an address"),
            (R.UNREADABLE_PARTICIPANT,),
            id="unreadable",
        ),
        pytest.param(
            Policy(org_domains="acme.com", blocklist=["kim@client.example"]),
            ANNA,
            mail("Kim <KIM@client.example>"),
            (R.BLOCKLISTED, R.EXTERNAL),
            id="blocked-address",
        ),
        pytest.param(
            Policy(org_domains="acme.com", blocklist=["@vendor.io"]),
            ANNA,
            mail("kim@client.example", cc="x@sub.vendor.io"),
            (R.BLOCKLISTED, R.EXTERNAL),
            id="blocked-subdomain-in-cc",
        ),
        pytest.param(
            Policy(org_domains="acme.com", blocklist=["@vendor.io"]),
            ANNA,
            raw_message(
                (Role.FROM, "kim@client.example"),
                (Role.TO, "anna@acme.com"),
                (Role.REPLY_TO, "sales@vendor.io"),
            ),
            (R.BLOCKLISTED, R.EXTERNAL),
            id="blocked-reply-to",
        ),
        pytest.param(
            Policy(org_domains="acme.com", blocklist=["@acme.com", "anna@acme.com"]),
            ANNA,
            mail("anna@acme.com", to="kim@client.example"),
            (R.EXTERNAL,),
            id="owner-never-blocked",
        ),
        pytest.param(
            Policy(org_domains="acme.com", blocklist=["@acme.com"]),
            ANNA,
            mail("anna@acme.com", to="kim@client.example", cc="boss@acme.com"),
            (R.BLOCKLISTED, R.EXTERNAL),
            id="colleague-blocked-by-domain",
        ),
        pytest.param(
            ACME, ANNA, mail("noreply@shop.example"), (R.GROUP_SENDER, R.EXTERNAL), id="role"
        ),
        pytest.param(
            ACME,
            ANNA,
            mail("anna@acme.com", to="support@vendor.io"),
            (R.EXTERNAL,),
            id="to-role-address",
        ),
        pytest.param(
            ACME,
            ANNA,
            mail("support@acme.com"),
            (R.INTERNAL, R.GROUP_SENDER),
            id="internal-role-sender",
        ),
        pytest.param(
            ACME,
            ANNA,
            mail(headers={"List-Id": "<news.shop.example>"}),
            (R.BULK, R.EXTERNAL),
            id="bulk",
        ),
        pytest.param(
            ACME,
            ANNA,
            mail("anna@acme.com", to="kim@client.example", headers={"Precedence": "bulk"}),
            (R.EXTERNAL,),
            id="outgoing-bulk-passes",
        ),
        pytest.param(
            Policy(org_domains="acme.com", exclude_group_emails=False),
            ANNA,
            mail("noreply@shop.example", headers={"List-Id": "<x>"}),
            (R.EXTERNAL,),
            id="group-switch-off",
        ),
        pytest.param(
            ACME,
            ANNA,
            mail("noreply@shop.example", flags=[Flag.SENT]),
            (R.EXTERNAL,),
            id="sent-flag-passes",
        ),
        pytest.param(ACME, ANNA, mail(flags=[Flag.DRAFT]), (R.DRAFT, R.EXTERNAL), id="draft"),
        pytest.param(ACME, ANNA, mail(flags=[Flag.SPAM]), (R.SPAM, R.EXTERNAL), id="spam"),
        pytest.param(ACME, ANNA, mail(flags=[Flag.TRASH]), (R.TRASH, R.EXTERNAL), id="trash"),
        pytest.param(
            ACME,
            ANNA,
            mail(headers=[("X-Gmail-Labels", "Inbox, Spam,Category Promotions")]),
            (R.SPAM, R.EXTERNAL),
            id="takeout-spam",
        ),
        pytest.param(
            ACME,
            ANNA,
            mail(headers=[("X-Gmail-Labels", "Draft,Trash")]),
            (R.DRAFT, R.TRASH, R.EXTERNAL),
            id="takeout-draft-trash",
        ),
        pytest.param(
            ACME,
            ANNA,
            mail(headers=[("X-Gmail-Labels", "Spammy,Trash can,Drafts")]),
            (R.EXTERNAL,),
            id="takeout-user-labels",
        ),
        pytest.param(
            Policy(org_domains="acme.com", members=["kim@client.example"]),
            ANNA,
            mail("kim@client.example"),
            (R.INTERNAL,),
            id="member",
        ),
        pytest.param(
            Policy(org_domains="acme.com", externals=["contractor@acme.com"]),
            ANNA,
            mail("contractor@acme.com"),
            (R.EXTERNAL,),
            id="external-exception",
        ),
        pytest.param(
            Policy(org_domains="acme.com", blocklist=["@shop.example"]),
            ANNA,
            mail(
                "noreply@shop.example",
                cc="not an address",
                headers={"Auto-Submitted": "auto-generated", "Precedence": "bulk"},
                flags=[Flag.DRAFT, Flag.SPAM, Flag.TRASH],
            ),
            (
                R.BLOCKLISTED,
                R.GROUP_SENDER,
                R.BULK,
                R.AUTO_SUBMITTED,
                R.DRAFT,
                R.SPAM,
                R.TRASH,
                R.EXTERNAL,
                R.UNREADABLE_PARTICIPANT,
            ),
            id="every-reason-at-once",
        ),
        pytest.param(
            Policy(),
            ANNA,
            mail("boss@acme.com"),
            (R.EXTERNAL,),
            id="no-organisation-domains",
        ),
    ],
)
def test_decide_table(
    policy: Policy, mailbox: Mailbox, message: Message, reasons: tuple[Reason, ...]
) -> None:
    """Each real-world case gets exactly its reasons, and syncs when none excludes it."""
    decision = decide(message, mailbox, policy)
    assert decision.reasons == reasons
    assert decision.synced is not any(reason.excludes for reason in reasons)


def test_decision_level_follows_the_direction() -> None:
    """The decision carries the mailbox's level for the message's direction."""
    mailbox = Mailbox(owner="anna@acme.com", incoming="subject", outgoing="everything")
    incoming = decide(mail("kim@client.example"), mailbox, ACME)
    outgoing = decide(mail("anna@acme.com", to="kim@client.example"), mailbox, ACME)
    assert (incoming.direction, incoming.level) == (Direction.INCOMING, SharingLevel.SUBJECT)
    assert (outgoing.direction, outgoing.level) == (Direction.OUTGOING, SharingLevel.EVERYTHING)


def test_reason_codes_are_stable_strings() -> None:
    """The codes stored and shown to users never change."""
    assert [reason.value for reason in Reason] == [
        "internal",
        "blocklisted",
        "group_sender",
        "bulk",
        "auto_submitted",
        "bounce_return_path",
        "errors_to",
        "list_address",
        "bulk_mailer",
        "feedback_id",
        "auto_response_suppress",
        "esp_sender_domain",
        "draft",
        "spam",
        "trash",
        "external",
        "internal_allowed",
        "owner_on_free_provider",
        "unreadable_participant",
        "no_participants",
        "message_id_reused",
    ]


def test_every_reason_has_a_description() -> None:
    """Every reason explains itself in one sentence."""
    for reason in Reason:
        assert reason.description.endswith(".")
        assert reason.description[0].isupper()


# --- Decisions: properties -----------------------------------------------------------------


def _core(message: Message) -> list[Participant]:
    return [p for p in message.participants if p.role in CORE_ROLES]


def _own_keys(mailbox: Mailbox, policy: Policy) -> set[str]:
    return {policy.key(a) for a in mailbox.addresses}


def _labels(message: Message) -> set[str]:
    return {
        label.strip().lower()
        for name, value in message.headers
        if name.lower() == "x-gmail-labels"
        for label in value.split(",")
    }


def _outgoing(message: Message, mailbox: Mailbox, policy: Policy) -> bool:
    own = _own_keys(mailbox, policy)
    return _flagged(message, Flag.SENT) or any(
        p.address is not None and policy.key(p.address) in own
        for p in message.participants
        if p.role is Role.FROM
    )


def _flagged(message: Message, flag: Flag) -> bool:
    return flag in message.flags or flag.value in _labels(message)


def _blocked_plainly(address: Address, policy: Policy) -> bool:
    key = policy.key(address)
    labels = key.rpartition("@")[2].split(".")
    domains = {"@" + ".".join(labels[i:]) for i in range(len(labels))}
    return key in policy.blocklist or bool(domains & policy.blocklist)


def _inside(address: Address | None, mailbox: Mailbox, policy: Policy) -> bool:
    """A colleague, or one of the mailbox's own addresses when the owner is a colleague."""
    if address is None:
        return False
    return is_colleague(address, policy) or (
        policy.key(address) in _own_keys(mailbox, policy) and is_colleague(mailbox.owner, policy)
    )


def _recovered_blocked(participant: Participant, mailbox: Mailbox, policy: Policy) -> bool:
    """An unreadable entry whose first blocked recovered address is not the mailbox's."""
    if participant.address is not None:
        return False
    for address in recover_addresses(participant.raw):
        if _blocked_plainly(address, policy):
            return policy.key(address) not in _own_keys(mailbox, policy)
    return False


def _internal_plainly(message: Message, mailbox: Mailbox, policy: Policy) -> bool:
    core = _core(message)
    return (
        bool(core)
        and all(_inside(p.address, mailbox, policy) for p in core)
        and not is_free_provider(mailbox.owner, policy.free_providers)
    )


def _group_rule(message: Message, mailbox: Mailbox, policy: Policy) -> bool:
    return policy.exclude_group_emails and not _outgoing(message, mailbox, policy)


#: The automated-sender reasons, each its own signal.
SIGNAL_REASONS = (
    Reason.AUTO_SUBMITTED,
    Reason.BOUNCE_RETURN_PATH,
    Reason.ERRORS_TO,
    Reason.LIST_ADDRESS,
    Reason.BULK_MAILER,
    Reason.FEEDBACK_ID,
    Reason.AUTO_RESPONSE_SUPPRESS,
    Reason.ESP_SENDER_DOMAIN,
)


#: For every reason, when it must apply, written plainly from the public predicates.
ORACLES: dict[Reason, Callable[[Message, Mailbox, Policy], bool]] = {
    Reason.INTERNAL: lambda m, b, p: _internal_plainly(m, b, p) and not p.sync_internal,
    Reason.BLOCKLISTED: lambda m, b, p: (
        any(
            x.address is not None
            and p.key(x.address) not in _own_keys(b, p)
            and _blocked_plainly(x.address, p)
            for x in m.participants
        )
        or any(_recovered_blocked(x, b, p) for x in m.participants)
    ),
    Reason.GROUP_SENDER: lambda m, b, p: (
        _group_rule(m, b, p)
        and any(
            x.address is not None and is_impersonal(x.address, p.role_addresses)
            for x in m.participants
            if x.role is Role.FROM
        )
    ),
    Reason.BULK: lambda m, b, p: _group_rule(m, b, p) and bulk_plainly(m),
    **{
        reason: (lambda r: lambda m, b, p: _group_rule(m, b, p) and r in signals_plainly(m))(reason)
        for reason in SIGNAL_REASONS
    },
    Reason.DRAFT: lambda m, b, p: _flagged(m, Flag.DRAFT),
    Reason.SPAM: lambda m, b, p: _flagged(m, Flag.SPAM),
    Reason.TRASH: lambda m, b, p: _flagged(m, Flag.TRASH),
    Reason.EXTERNAL: lambda m, b, p: any(
        x.address is not None and not _inside(x.address, b, p) for x in _core(m)
    ),
    Reason.INTERNAL_ALLOWED: lambda m, b, p: _internal_plainly(m, b, p) and p.sync_internal,
    Reason.OWNER_ON_FREE_PROVIDER: lambda m, b, p: is_free_provider(b.owner, p.free_providers),
    Reason.UNREADABLE_PARTICIPANT: lambda m, b, p: any(x.address is None for x in _core(m)),
    Reason.NO_PARTICIPANTS: lambda m, b, p: not _core(m),
    # Added by a store to what it keeps, never by `decide`.
    Reason.MESSAGE_ID_REUSED: lambda m, b, p: False,
}


def test_every_reason_has_an_oracle() -> None:
    """The property below checks every reason code there is."""
    assert set(ORACLES) == set(Reason)


@settings(max_examples=200)
@given(message=MESSAGES, mailbox=mailboxes(), policy=policies())
def test_each_reason_applies_exactly_when_its_rule_holds(
    message: Message, mailbox: Mailbox, policy: Policy
) -> None:
    """Each reason, checked on its own, is present exactly when its rule written plainly holds."""
    reasons = decide(message, mailbox, policy).reasons
    wrong = [
        r for r, rule in ORACLES.items() if (r in reasons) is not rule(message, mailbox, policy)
    ]
    assert wrong == []


@settings(max_examples=100)
@given(message=MESSAGES, mailbox=mailboxes(), policy=policies())
def test_decision_is_consistent(message: Message, mailbox: Mailbox, policy: Policy) -> None:
    """Reasons come once each in `Reason` order; synced exactly when none excludes."""
    decision = decide(message, mailbox, policy)
    order = list(Reason)
    assert list(decision.reasons) == sorted(set(decision.reasons), key=order.index)
    assert decision.synced is not any(reason.excludes for reason in decision.reasons)
    assert decision.direction is direction(message, mailbox, policy)
    assert decision.level is mailbox.level_for(decision.direction)
    assert (Reason.INTERNAL in decision.reasons or Reason.INTERNAL_ALLOWED in decision.reasons) is (
        is_internal(message, mailbox, policy)
    )
    if decision.direction is Direction.OUTGOING:
        assert Reason.GROUP_SENDER not in decision.reasons
        assert Reason.BULK not in decision.reasons


@settings(max_examples=50)
@given(message=MESSAGES, mailbox=mailboxes(), policy=policies())
def test_decide_is_deterministic(message: Message, mailbox: Mailbox, policy: Policy) -> None:
    """The same inputs give the same decision, whatever the caches hold."""
    first = decide(message, mailbox, policy)
    again = decide(message, mailbox, policy)
    fresh = decide(
        pickle.loads(pickle.dumps(message)),
        pickle.loads(pickle.dumps(mailbox)),
        pickle.loads(pickle.dumps(policy)),
    )
    assert first == again == fresh


@settings(max_examples=50)
@given(message=MESSAGES, mailbox=mailboxes(), first=policies(), second=policies())
def test_policies_taking_turns_decide_as_fresh_ones(
    message: Message, mailbox: Mailbox, first: Policy, second: Policy
) -> None:
    """Facts an address keeps for one policy never answer for another (as in `reevaluate`)."""
    turns = [decide(message, mailbox, policy) for policy in (first, second, first, second)]
    fresh = [decide(message, mailbox, pickle.loads(pickle.dumps(p))) for p in (first, second)]
    assert turns == fresh * 2


def test_a_participant_keeps_nothing_of_a_policy() -> None:
    """Deciding leaves a participant and its address plain values: slots exactly the fields.

    What a policy makes of them is the judge's (`mailbind.judge`), never theirs.
    """
    message = mail(to="Paul <paul@client.example>")
    decide(message, ANNA, ACME)
    (participant,) = [p for p in message.participants if p.role is Role.TO]
    plain = Participant(
        Role.TO, parse_address("paul@client.example"), "Paul", "Paul <paul@client.example>"
    )
    assert participant == plain
    assert hash(participant) == hash(plain)
    assert repr(participant) == repr(plain)
    assert pickle.loads(pickle.dumps(participant)) == participant
    assert [
        slot for cls in type(participant).__mro__ for slot in getattr(cls, "__slots__", ())
    ] == [f.name for f in dataclasses.fields(Participant)]
    assert not hasattr(participant.address, "__dict__")
    assert [
        slot for cls in type(participant.address).__mro__ for slot in getattr(cls, "__slots__", ())
    ] == [f.name for f in dataclasses.fields(Address)]


FREE_OWNERS = ("jane.doe@gmail.com", "bob@outlook.com")


@settings(max_examples=50)
@given(message=MESSAGES, mailbox=mailboxes(FREE_OWNERS), policy=policies())
def test_free_provider_owner_never_has_internal_mail(
    message: Message, mailbox: Mailbox, policy: Policy
) -> None:
    """Whatever the message and policy, a free-provider owner's mail is never internal."""
    assert is_free_provider(mailbox.owner)
    assert not is_internal(message, mailbox, policy)
    reasons = decide(message, mailbox, policy).reasons
    assert Reason.OWNER_ON_FREE_PROVIDER in reasons
    assert Reason.INTERNAL not in reasons


@settings(max_examples=50)
@given(message=MESSAGES, mailbox=mailboxes(), policy=policies())
def test_owner_addresses_are_never_blocked(
    message: Message, mailbox: Mailbox, policy: Policy
) -> None:
    """Blocking every address and domain of the owner blocks only other participants."""
    own = [str(a) for a in mailbox.addresses]
    domains = ["@" + a.ascii_domain for a in mailbox.addresses]
    blocking = Policy(
        org_domains=policy.org_domains,
        members=policy.members,
        externals=policy.externals,
        blocklist=own + domains,
        canonicalization=policy.canonicalization,
    )
    others = [
        p.address
        for p in message.participants
        if p.address is not None and blocking.key(p.address) not in _own_keys(mailbox, blocking)
    ]
    blocked = Reason.BLOCKLISTED in decide(message, mailbox, blocking).reasons
    assert blocked is any(is_blocked(a, blocking) for a in others)


# --- Visibility ----------------------------------------------------------------------------


def test_owner_of_a_holding_mailbox_sees_everything() -> None:
    """The owner, or an alias, of any mailbox holding the message reads all of it."""
    anna = Mailbox(owner="anna@acme.com", aliases=["anna.berg@acme.de"])
    paul = Mailbox(owner="paul@acme.com", incoming="subject")
    holdings = [Holding(paul, Direction.INCOMING), Holding(anna, Direction.INCOMING)]
    assert visible_level("anna@acme.com", holdings) is SharingLevel.EVERYTHING
    assert visible_level("ANNA.BERG@acme.de", holdings) is SharingLevel.EVERYTHING
    assert visible_level(parse_address("anna@acme.com"), holdings) is SharingLevel.EVERYTHING


def test_others_see_the_most_permissive_level_for_each_direction() -> None:
    """Each holding counts with its own direction; the highest level wins."""
    anna = Mailbox(owner="anna@acme.com", incoming="metadata", outgoing="everything")
    paul = Mailbox(owner="paul@acme.com", incoming="subject", outgoing="metadata")
    holdings = [Holding(anna, Direction.INCOMING), Holding(paul, Direction.INCOMING)]
    assert visible_level("boss@acme.com", holdings) is SharingLevel.SUBJECT
    holdings = [Holding(anna, Direction.OUTGOING), Holding(paul, Direction.INCOMING)]
    assert visible_level("boss@acme.com", holdings) is SharingLevel.EVERYTHING
    holdings = [Holding(paul, Direction.OUTGOING)]
    assert visible_level("boss@acme.com", holdings) is SharingLevel.METADATA


def test_no_holdings_is_an_error() -> None:
    """A message no mailbox holds is visible to nobody: asking is a mistake."""
    with pytest.raises(PolicyError) as info:
        visible_level("boss@acme.com", [])
    assert str(info.value) == ("A message held by no mailbox has no visible level: give a holding.")


def test_visible_level_rejects_an_unreadable_viewer() -> None:
    """The viewer must be an address."""
    holdings = [Holding(ANNA, Direction.INCOMING)]
    with pytest.raises(InvalidAddressError) as info:
        visible_level("nobody", holdings)
    assert str(info.value) == "The viewer is not a readable address: 'nobody'."


@given(
    holdings=st.lists(
        st.builds(Holding, mailboxes(), st.sampled_from(list(Direction))), min_size=1, max_size=4
    ),
    viewer=st.sampled_from(["boss@acme.com", "anna@acme.com", "sam@acme.de"]),
    data=st.data(),
)
def test_visible_level_property(holdings: list[Holding], viewer: str, data: st.DataObject) -> None:
    """Owners see everything; others the maximum level by direction, in any order."""
    level = visible_level(viewer, holdings)
    if any(h.mailbox.owns(viewer) for h in holdings):
        assert level is SharingLevel.EVERYTHING
    else:
        assert level is max(h.mailbox.level_for(h.direction) for h in holdings)
    shuffled = data.draw(st.permutations(holdings))
    assert visible_level(viewer, shuffled) is level


@given(level=levels())
def test_visible_level_of_one_holding_is_its_level(level: SharingLevel) -> None:
    """A viewer who owns nothing sees exactly the one holding mailbox's level."""
    mailbox = Mailbox(owner="anna@acme.com", incoming=level, outgoing=level)
    assert visible_level("boss@acme.com", [Holding(mailbox, Direction.OUTGOING)]) is level


# --- Re-evaluation -------------------------------------------------------------------------


def test_allowing_internal_mail_restores_it() -> None:
    """Turning internal sync on brings internal mail back and removes nothing."""
    internal = mail("boss@acme.com")
    external = mail("kim@client.example")
    allowing = Policy(org_domains="acme.com", sync_internal=True)
    result = reevaluate([internal, external], ANNA, ACME, allowing)
    assert [c.message for c in result.restore] == [internal]
    assert result.remove == ()
    assert result.unchanged == 1
    change = result.restore[0]
    assert change.before.reasons == (Reason.INTERNAL,)
    assert change.after.reasons == (Reason.INTERNAL_ALLOWED,)


def test_blocking_a_domain_removes_its_mail() -> None:
    """A new blocklist entry removes the messages it now matches."""
    kim = mail("kim@client.example")
    other = mail("lee@other.example")
    blocking = Policy(org_domains="acme.com", blocklist=["@client.example"])
    result = reevaluate(iter([kim, other]), ANNA, ACME, blocking)
    assert [c.message for c in result.remove] == [kim]
    assert (result.restore, result.unchanged) == ((), 1)


def test_reevaluate_reads_each_message_once() -> None:
    """A one-shot iterator is enough: each message is read exactly once."""
    reads: list[Message] = []
    stored = [mail("kim@client.example"), mail("boss@acme.com")]

    def stream() -> Iterator[Message]:
        for message in stored:
            reads.append(message)
            yield message

    reevaluate(stream(), ANNA, ACME, ACME)
    assert reads == stored


@settings(max_examples=40)
@given(
    stored=st.lists(MESSAGES, max_size=5),
    mailbox=mailboxes(),
    old=policies(),
    new=policies(),
)
def test_reevaluate_agrees_with_decide(
    stored: list[Message], mailbox: Mailbox, old: Policy, new: Policy
) -> None:
    """Remove and restore are exactly the messages whose decision flips, in order."""
    result = reevaluate(stored, mailbox, old, new)
    before = [decide(m, mailbox, old) for m in stored]
    after = [decide(m, mailbox, new) for m in stored]
    flips = list(zip(stored, before, after, strict=True))
    assert [(c.message, c.before, c.after) for c in result.remove] == [
        (m, b, a) for m, b, a in flips if b.synced and not a.synced
    ]
    assert [(c.message, c.before, c.after) for c in result.restore] == [
        (m, b, a) for m, b, a in flips if a.synced and not b.synced
    ]
    assert result.unchanged == sum(b.synced == a.synced for _, b, a in flips)


@settings(max_examples=20)
@given(stored=st.lists(MESSAGES, max_size=4), mailbox=mailboxes(), policy=policies())
def test_reevaluate_under_the_same_policy_changes_nothing(
    stored: list[Message], mailbox: Mailbox, policy: Policy
) -> None:
    """An unchanged policy removes and restores nothing."""
    result = reevaluate(stored, mailbox, policy, policy)
    assert (result.remove, result.restore, result.unchanged) == ((), (), len(stored))


def test_reevaluate_takes_events() -> None:
    """Calendar events go through the same re-evaluation and come back as events."""
    internal = Event.build(uid="standup", organizer="boss@acme.com", attendees=["anna@acme.com"])
    allowing = Policy(org_domains="acme.com", sync_internal=True)
    result = reevaluate([internal], ANNA, ACME, allowing)
    assert [change.message for change in result.restore] == [internal]
    assert result.restore[0].before.reasons == (Reason.INTERNAL,)


def test_decision_is_a_frozen_record() -> None:
    """Decisions are values: equal when their fields are, and immutable."""
    decision = decide(mail(), ANNA, ACME)
    assert decision == Decision(True, (Reason.EXTERNAL,), Direction.INCOMING, SharingLevel.METADATA)
    with pytest.raises(AttributeError):
        decision.synced = False  # type: ignore[misc]
