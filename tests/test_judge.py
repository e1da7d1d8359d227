"""Tests for mailbind.judge: one judge remembers, and its answers are the rules' read plainly."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mailbind
import mailbind.judge as judge_module
from mailbind import (
    Address,
    ArgumentTypeError,
    Decision,
    Direction,
    Event,
    Flag,
    Judge,
    Mailbox,
    Message,
    Participant,
    Policy,
    Reason,
    Role,
    SharingLevel,
    decide,
    direction,
    is_free_provider,
    is_impersonal,
    is_internal,
    parse_address,
)
from mailbind.addresses import recover_addresses
from tests.oracles import bulk_plainly, signals_plainly
from tests.strategies import mailboxes, messages, policies

ACME = Policy(org_domains=["acme.com"], blocklist=["@vendor.io"])
ANNA = Mailbox(owner="anna@acme.com", incoming="subject")

_EXCLUDING = {
    Reason.INTERNAL,
    Reason.BLOCKLISTED,
    Reason.GROUP_SENDER,
    Reason.BULK,
    Reason.DRAFT,
    Reason.SPAM,
    Reason.TRASH,
    # The automated-sender signals.
    Reason.AUTO_SUBMITTED,
    Reason.BOUNCE_RETURN_PATH,
    Reason.ERRORS_TO,
    Reason.LIST_ADDRESS,
    Reason.BULK_MAILER,
    Reason.FEEDBACK_ID,
    Reason.AUTO_RESPONSE_SUPPRESS,
    Reason.ESP_SENDER_DOMAIN,
}


# --- The rules read plainly, as the oracle -----------------------------------------------------


def _blocked(key: str, policy: Policy) -> bool:
    domain = key.rpartition("@")[2]
    labels = domain.split(".")
    domains = {".".join(labels[n:]) for n in range(len(labels))}
    return key in policy.blocklist or any("@" + d in policy.blocklist for d in domains)


def _colleague(address: Address, policy: Policy) -> bool:
    key = policy.key(address)
    if key in {policy.key(a) for a in policy.externals}:
        return False
    return key in {policy.key(a) for a in policy.members} or (
        address.registrable in policy.org_domains
    )


def _recovered_blocked(participant: Participant, own: frozenset[str], policy: Policy) -> bool:
    """An unreadable entry whose first blocked recovered address is not the owner's."""
    if participant.address is not None:
        return False
    for address in recover_addresses(participant.raw):
        key = policy.key(address)
        if _blocked(key, policy):
            return key not in own
    return False


def plainly(message: Message, mailbox: Mailbox, policy: Policy) -> Decision:
    """The decision RULES 2 and 3 give, computed from scratch with no memo.

    Bulk headers are read by `is_bulk`, which remembers nothing.
    """
    flags = set(message.flags)
    for name, value in message.headers:
        if name.lower() == "x-gmail-labels":
            labels = {label.strip().strip('"').lower() for label in value.split(",")}
            flags |= {Flag(label) for label in labels if label in {f.value for f in Flag}}
    own = mailbox.keys_under(policy.canonicalization)
    main = [p for p in message.participants if p.role not in (Role.SENDER, Role.REPLY_TO)]
    outgoing = Flag.SENT in flags or any(
        p.role is Role.FROM and p.address is not None and policy.key(p.address) in own
        for p in message.participants
    )
    owner_free = is_free_provider(mailbox.owner, policy.free_providers)
    unreadable = any(p.address is None for p in main)
    external = any(
        p.address is not None
        and not _colleague(p.address, policy)
        and (policy.key(p.address) not in own or not _colleague(mailbox.owner, policy))
        for p in main
    )
    internal = bool(main) and not external and not unreadable and not owner_free
    impersonal = any(
        p.role is Role.FROM
        and p.address is not None
        and policy.key(p.address) not in own
        and is_impersonal(p.address, policy.role_addresses)
        for p in message.participants
    )
    blocked = any(
        p.address is not None
        and policy.key(p.address) not in own
        and _blocked(policy.key(p.address), policy)
        for p in message.participants
    ) or any(_recovered_blocked(p, own, policy) for p in message.participants)
    group_rule = policy.exclude_group_emails and not outgoing
    applies = {
        Reason.INTERNAL: internal and not policy.sync_internal,
        Reason.BLOCKLISTED: blocked,
        Reason.GROUP_SENDER: group_rule and impersonal,
        Reason.BULK: group_rule and bulk_plainly(message),
        **dict.fromkeys(signals_plainly(message), group_rule),
        Reason.DRAFT: Flag.DRAFT in flags,
        Reason.SPAM: Flag.SPAM in flags,
        Reason.TRASH: Flag.TRASH in flags,
        Reason.EXTERNAL: external,
        Reason.INTERNAL_ALLOWED: internal and policy.sync_internal,
        Reason.OWNER_ON_FREE_PROVIDER: owner_free,
        Reason.UNREADABLE_PARTICIPANT: unreadable,
        Reason.NO_PARTICIPANTS: not main,
    }
    reasons = tuple(reason for reason in Reason if applies.get(reason, False))
    way = Direction.OUTGOING if outgoing else Direction.INCOMING
    return Decision(
        synced=not any(reason in _EXCLUDING for reason in reasons),
        reasons=reasons,
        direction=way,
        level=mailbox.level_for(way),
    )


# --- A judge answers as the rules do --------------------------------------------------------


@given(policy=policies(), mailbox=mailboxes(), batch=st.lists(messages(), max_size=6))
@settings(max_examples=150)
def test_a_judge_decides_as_decide_does(
    policy: Policy, mailbox: Mailbox, batch: list[Message]
) -> None:
    """``Judge(policy, mailbox).decide(m)`` is ``decide(m, mailbox, policy)``, for each message."""
    judge = Judge(policy, mailbox)
    for message in batch:
        decision = judge.decide(message)
        assert decision == decide(message, mailbox, policy)
        assert judge.is_internal(message) is is_internal(message, mailbox, policy)
        assert judge.direction(message) is direction(message, mailbox, policy)
        assert judge.direction(message) is decision.direction
        assert judge.level(message) is decision.level


@given(policy=policies(), mailbox=mailboxes(), batch=st.lists(messages(), max_size=6))
@settings(max_examples=150)
def test_a_judge_decides_as_the_rules_read_plainly(
    policy: Policy, mailbox: Mailbox, batch: list[Message]
) -> None:
    """What a judge remembers never changes an answer: it equals the rules computed afresh."""
    judge = Judge(policy, mailbox)
    for message in batch:
        assert judge.decide(message) == plainly(message, mailbox, policy)


@given(
    policy=policies(),
    mailbox=mailboxes(),
    batch=st.lists(messages(), min_size=1, max_size=6),
    data=st.data(),
)
@settings(max_examples=100)
def test_repeated_decisions_of_one_judge_do_not_change(
    policy: Policy, mailbox: Mailbox, batch: list[Message], data: st.DataObject
) -> None:
    """Deciding again, in any order, on one judge gives each message the same decision."""
    judge = Judge(policy, mailbox)
    first = [judge.decide(m) for m in batch]
    assert [judge.decide(m) for m in batch] == first
    order = data.draw(st.permutations(range(len(batch))))
    assert [judge.decide(batch[n]) for n in order] == [first[n] for n in order]
    assert [Judge(policy, mailbox).decide(m) for m in batch] == first


@given(policy=policies(), boxes=st.lists(mailboxes(), min_size=2, max_size=3), m=messages())
def test_judges_sharing_a_policys_tables_answer_as_fresh_ones(
    policy: Policy, boxes: list[Mailbox], m: Message
) -> None:
    """A judge made by `Judge.for_mailbox` decides as a judge of its own would."""
    judge = Judge(policy, boxes[0])
    for mailbox in boxes:
        assert judge.for_mailbox(mailbox).decide(m) == Judge(policy, mailbox).decide(m)


@given(old=policies(), new=policies(), mailbox=mailboxes(), m=messages())
def test_policies_taking_turns_keep_their_own_answers(
    old: Policy, new: Policy, mailbox: Mailbox, m: Message
) -> None:
    """One message decided under two policies in turns gets each policy's own decision."""
    expected = [Judge(old, mailbox).decide(m), Judge(new, mailbox).decide(m)]
    turns = [decide(m, mailbox, p) for p in (old, new, old, new)]
    assert turns == expected * 2


def test_a_judge_reads_events_as_messages() -> None:
    """A calendar event is decided through the same judge, its organiser as the sender."""
    event = Event.build(uid="u1", organizer="kim@client.example", attendees=["anna@acme.com"])
    judge = Judge(ACME, ANNA)
    assert judge.decide(event) == decide(event, ANNA, ACME)
    assert judge.decide(event).synced


def test_a_judge_refuses_what_is_no_policy_or_mailbox() -> None:
    """The constructor names the parameter given the wrong thing."""
    with pytest.raises(ArgumentTypeError) as caught:
        Judge("acme.com", ANNA)  # type: ignore[arg-type]
    assert str(caught.value) == "Judge() takes a Policy as policy, not a str."
    with pytest.raises(ArgumentTypeError) as caught:
        Judge(ACME, "anna@acme.com")  # type: ignore[arg-type]
    assert str(caught.value) == "Judge() takes a Mailbox as mailbox, not a str."


def test_judge_is_exported() -> None:
    """`Judge` is part of the package's public names."""
    assert "Judge" in mailbind.__all__
    assert mailbind.Judge is Judge


# --- Bounded memory -------------------------------------------------------------------------


def test_a_judges_marks_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """However many participants pass, a judge remembers at most the bound, and answers alike."""
    monkeypatch.setattr(judge_module, "MARKS_CACHE_SIZE", 4)
    monkeypatch.setattr(judge_module, "FACTS_CACHE_SIZE", 3)
    judge = Judge(ACME, ANNA)
    for n in range(20):
        m = Message.build(sender=f"user{n}@client{n}.example", to="anna@acme.com")
        assert judge.decide(m) == plainly(m, ANNA, ACME)
        assert len(judge._tables.marks) <= 4
        assert len(judge._tables.facts) <= 3


def test_a_judges_header_blocks_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short blocks of headers are remembered up to the bound; a block read before answers as
    read afresh, with each message's own flags beside its labels; an unhashable block, and a
    long one, is read each time."""
    monkeypatch.setattr(judge_module, "HEADERS_CACHE_SIZE", 3)
    judge = Judge(ACME, ANNA)
    blocks = [
        {"Precedence": "bulk"},
        {"X-Gmail-Labels": "Inbox,Spam"},
        {"Auto-Submitted": "auto-replied", "Thread-Topic": "Hi"},
        {"List-Id": "<news.shop.example>"},
        {"Thread-Topic": "Hello"},
    ]
    for _ in range(2):
        for headers in blocks:
            for flags in ((), ("draft",), ("sent",)):
                m = Message.build(
                    sender="news@shop.example", to="anna@acme.com", headers=headers, flags=flags
                )
                assert judge.decide(m) == plainly(m, ANNA, ACME)
                assert len(judge._tables.headers) <= 3
    m = Message.build(sender="news@shop.example", to="anna@acme.com")
    by_hand = dataclasses.replace(m, headers=(["Precedence", "bulk"],))  # type: ignore[arg-type]
    assert Reason.BULK in judge.decide(by_hand).reasons
    judge._tables.headers.clear()
    many = {f"X-{n}": "v" for n in range(4)} | {"Precedence": "bulk"}
    long = {"Thread-Topic": "t" * 2000, "Precedence": "bulk"}
    for headers in (many, long):
        m = Message.build(sender="news@shop.example", to="anna@acme.com", headers=headers)
        assert judge.decide(m) == plainly(m, ANNA, ACME)
        assert Reason.BULK in judge.decide(m).reasons
    assert not judge._tables.headers  # long blocks are read each time, never remembered


def test_a_judge_sharing_tables_finds_its_own_addresses_others_judged_before() -> None:
    """A participant judged for one mailbox is judged afresh for a mailbox whose own it is.

    Marks are shared by the judges of a policy; a new mailbox's own addresses (its owner,
    an alias outside the organisation) change what those participants add to its decisions.
    """
    kim = Mailbox(owner="kim@acme.com", aliases=["kim@home.example"])
    from_kim = Message.build(sender="kim@acme.com", to="client@client.example")
    to_alias = Message.build(sender="anna@acme.com", to="kim@home.example")
    first = Judge(ACME, ANNA)
    assert first.decide(from_kim).direction is Direction.INCOMING
    assert Reason.EXTERNAL in first.decide(to_alias).reasons
    second = first.for_mailbox(kim)
    assert second.decide(from_kim) == plainly(from_kim, kim, ACME)
    assert second.decide(from_kim).direction is Direction.OUTGOING
    assert second.decide(to_alias) == plainly(to_alias, kim, ACME)
    assert Reason.INTERNAL in second.decide(to_alias).reasons
    for judge, mailbox in ((first, ANNA), (second, kim)):
        for m in (from_kim, to_alias):
            assert judge.decide(m) == plainly(m, mailbox, ACME)


def test_tables_admit_a_bounded_number_of_own_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past `OWN_KEYS` own addresses, a new mailbox's judge gets tables of its own."""
    monkeypatch.setattr(judge_module, "OWN_KEYS", 2)
    judge = Judge(ACME, ANNA)
    m = Message.build(sender="owner3@acme.com", to="kim@client.example")
    for n in range(6):
        mailbox = Mailbox(owner=f"owner{n}@acme.com")
        other = judge.for_mailbox(mailbox)
        assert other.decide(m) == plainly(m, mailbox, ACME)
        assert len(other._tables.own_keys) <= 2
        assert judge.decide(m) == plainly(m, ANNA, ACME)


def test_the_table_of_judges_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rules keep at most `JUDGES` judges of `POLICIES` policies, and start afresh past it."""
    monkeypatch.setattr(judge_module, "JUDGES", 3)
    monkeypatch.setattr(judge_module, "POLICIES", 2)
    judge_module._forget()
    m = Message.build(sender="kim@client.example", to="anna@acme.com")
    boxes = [Mailbox(owner=f"owner{n}@acme.com") for n in range(10)]
    for mailbox in boxes:
        assert decide(m, mailbox, ACME) == plainly(m, mailbox, ACME)
        assert len(judge_module._JUDGES) <= 3
    assert judge_module.judge_for(ACME, boxes[-1]) is judge_module.judge_for(ACME, boxes[-1])
    for n in range(5):
        policy = Policy(org_domains=[f"org{n}.example"])
        assert decide(m, boxes[0], policy) == plainly(m, boxes[0], policy)
        assert len(judge_module._TABLES) <= 2


# --- The values a judge reads are plain data ------------------------------------------------


def _slots(cls: type) -> list[str]:
    return [slot for klass in reversed(cls.__mro__) for slot in getattr(klass, "__slots__", ())]


def _samples() -> list[Any]:
    message = Message.build(sender="Kim <kim@client.example>", to="anna@acme.com", subject="Hi")
    return [
        ACME,
        ANNA,
        parse_address("kim@client.example"),
        message.participants[0],
        message,
        mailbind.redact(message, SharingLevel.METADATA),
    ]


@pytest.mark.parametrize("value", _samples(), ids=lambda v: type(v).__name__)
def test_values_hold_exactly_their_fields(value: Any) -> None:
    """Policy, Mailbox, Address, Participant and Message have slots for their fields only."""
    names = [f.name for f in dataclasses.fields(value)]
    assert _slots(type(value)) == names
    assert not hasattr(value, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, names[0], None)


@pytest.mark.parametrize("value", _samples(), ids=lambda v: type(v).__name__)
def test_values_pickle_and_compare_as_plain_data(value: Any) -> None:
    """Deciding writes nothing into a value: it pickles to the same bytes, loads equal."""
    before = pickle.dumps(value)
    m = Message.build(sender="kim@client.example", to="anna@acme.com", cc="x@vendor.io")
    decide(m, ANNA, ACME)
    Judge(ACME, ANNA).decide(_samples()[4])
    assert pickle.dumps(value) == before
    loaded = pickle.loads(before)
    assert loaded == value
    assert hash(loaded) == hash(value)
    assert copy.copy(value) == value
    assert dataclasses.replace(value) == value
    assert {f.name: getattr(loaded, f.name) for f in dataclasses.fields(value)} == {
        f.name: getattr(value, f.name) for f in dataclasses.fields(value)
    }


def test_a_participant_is_judged_by_what_it_is_not_by_where_it_was_seen() -> None:
    """Equal participants made apart get equal decisions from one judge."""
    judge = Judge(ACME, ANNA)
    made = Participant(Role.FROM, parse_address("noreply@shop.example"), raw="noreply@shop.example")
    built = Message.build(sender="noreply@shop.example", to="anna@acme.com")
    by_hand = dataclasses.replace(built, participants=(made, *built.participants[1:]))
    assert judge.decide(by_hand) == judge.decide(built)
    assert Reason.GROUP_SENDER in judge.decide(built).reasons
