"""Tests for `mailbind.json`: the stable JSON forms of messages, decisions and contacts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbind import Contact, Decision, Event, Mailbox, Message, Policy, decide, parse_address
from mailbind.codecs import address_record
from mailbind.errors import ArgumentTypeError, JSONFormError
from mailbind.json import (
    decode_contact,
    decode_decision,
    decode_event,
    decode_mailbox,
    decode_message,
    decode_policy,
    encode_contact,
    encode_decision,
    encode_event,
    encode_mailbox,
    encode_message,
    encode_policy,
)
from tests.strategies import (
    contact_times,
    display_names,
    events,
    mailboxes,
    messages,
    policies,
    valid_addresses,
)

#: The example every pinned form is written from.
OFFER = Message.build(
    sender="Kim Lee <kim@client.example>",
    to="anna@acme.com",
    subject="Offer",
    message_id="<7@client.example>",
    sent_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
    text="Hello",
)
KIM = Contact(
    "c1",
    "kim@client.example",
    ["kim.lee@client.example"],
    created_at=datetime(2026, 1, 5, tzinfo=UTC),
    first_name="Kim",
    last_name="Lee",
    company_domain="client.example",
)
KIM_RECORD = ["kim@client.example", "kim", "client.example", "client.example", "client.example"]


@st.composite
def named_contacts(draw: st.DrawFn) -> Contact:
    """A `Contact` over any valid address (Unicode ones included), with names and a company."""
    name = st.text(max_size=12) | display_names()
    return Contact(
        draw(st.text(min_size=1, max_size=12)),
        draw(valid_addresses()),
        draw(st.lists(valid_addresses(), max_size=3)),
        created_at=draw(contact_times()),
        deleted_at=draw(st.none() | contact_times()),
        first_name=draw(name),
        last_name=draw(name),
        company_domain=draw(st.none() | st.sampled_from(["client.example", "bücher.de"])),
    )


@st.composite
def decisions(draw: st.DrawFn) -> Decision:
    """A `Decision` as `decide` makes it, for a drawn message, mailbox and policy."""
    return decide(draw(messages()), draw(mailboxes()), draw(policies()))


# --- Round trips -----------------------------------------------------------------------------


@given(messages())
def test_a_message_reads_back_equal(message: Message) -> None:
    """Every message decodes from its JSON text equal to what was encoded."""
    back = decode_message(encode_message(message))
    assert back == message
    assert back.key == message.key


@given(events())
def test_an_event_reads_back_equal(event: Event) -> None:
    """Every event decodes from its JSON text equal to what was encoded."""
    assert decode_event(encode_event(event)) == event


@given(decisions())
def test_a_decision_reads_back_equal(decision: Decision) -> None:
    """Every decision decodes from its JSON text equal to what was encoded."""
    assert decode_decision(encode_decision(decision)) == decision


@given(named_contacts())
def test_a_contact_reads_back_equal_to_every_address_field(contact: Contact) -> None:
    """Every contact decodes equal, and each address keeps every field, not only its key."""
    back = decode_contact(encode_contact(contact))
    assert back == contact
    assert [address_record(a) for a in (back.primary, *back.additional)] == [
        address_record(a) for a in (contact.primary, *contact.additional)
    ]
    assert back.created_at.utcoffset() == contact.created_at.utcoffset()


@given(mailboxes(), policies())
def test_settings_read_back_equal(mailbox: Mailbox, policy: Policy) -> None:
    """A mailbox and a policy decode from their JSON text equal to what was encoded."""
    assert decode_mailbox(encode_mailbox(mailbox)) == mailbox
    assert decode_policy(encode_policy(policy)) == policy


@given(named_contacts())
def test_the_text_is_compact_json_with_unicode_kept(contact: Contact) -> None:
    """The text is one JSON object without whitespace between tokens, Unicode as it is."""
    text = encode_contact(contact)
    assert isinstance(json.loads(text), dict)
    assert text == json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))


# --- The pinned forms ------------------------------------------------------------------------


def test_the_stable_form_of_a_message() -> None:
    """A message is written in this form, which later releases keep reading."""
    assert encode_message(OFFER) == (
        '{"key":"7@client.example","message_id":"7@client.example",'
        '"sent_at":"2026-01-05T09:30:00+00:00","participants":['
        '["from",["kim@client.example","kim","client.example","client.example",'
        '"client.example",true],"Kim Lee","Kim Lee <kim@client.example>",null,""],'
        '["to",["anna@acme.com","anna","acme.com","acme.com","acme.com",true],"",'
        '"anna@acme.com",null,""]],"subject":"Offer","text":"Hello","html":"",'
        '"attachments":[],"headers":[],"flags":[],"defects":[],"level":"everything"}'
    )


def test_the_stable_form_of_a_decision() -> None:
    """A decision is written in this form: codes and enum values as stable strings."""
    decision = decide(OFFER, Mailbox("anna@acme.com"), Policy(["acme.com"]))
    assert encode_decision(decision) == (
        '{"synced":true,"reasons":["external"],"direction":"incoming","level":"metadata"}'
    )


def test_the_stable_form_of_a_contact() -> None:
    """A contact is written in this form: addresses as the stores' six-field records."""
    assert encode_contact(KIM) == (
        '{"id":"c1","primary":["kim@client.example","kim","client.example","client.example",'
        '"client.example",true],"additional":[["kim.lee@client.example","kim.lee",'
        '"client.example","client.example","client.example",true]],'
        '"created_at":"2026-01-05T00:00:00+00:00","deleted_at":null,"first_name":"Kim",'
        '"last_name":"Lee","company_domain":"client.example"}'
    )


def test_a_contact_written_without_the_optional_fields_reads_with_their_defaults() -> None:
    """Only ``id``, ``primary`` and ``created_at`` are required: the rest have defaults."""
    text = json.dumps(
        {"id": "c1", "primary": [*KIM_RECORD, True], "created_at": "2026-01-05T00:00:00+00:00"}
    )
    contact = decode_contact(text)
    assert contact == Contact(
        "c1", "kim@client.example", created_at=datetime(2026, 1, 5, tzinfo=UTC)
    )
    assert (contact.first_name, contact.deleted_at, contact.additional) == ("", None, ())


def test_bytes_decode_as_utf8_text() -> None:
    """A decoder also takes the UTF-8 bytes of the form (an HTTP body as received)."""
    assert decode_contact(encode_contact(KIM).encode("utf-8")) == KIM


# --- Text that is not the form ---------------------------------------------------------------

NOT_A_DECISION = [
    (
        "{",
        "The text is not JSON (Expecting property name enclosed in double quotes), so it is "
        "not a decision.",
    ),
    ("[]", "The text is JSON but not the stable form of a decision."),
    ("{}", "The text is JSON but not the stable form of a decision."),
    (
        '{"synced":1,"reasons":[],"direction":"incoming","level":"metadata"}',
        "The text is JSON but not the stable form of a decision.",
    ),
    (
        '{"synced":true,"reasons":["nice"],"direction":"incoming","level":"metadata"}',
        "The text is JSON but not the stable form of a decision.",
    ),
    (
        '{"synced":true,"reasons":"external","direction":"incoming","level":"metadata"}',
        "The text is JSON but not the stable form of a decision.",
    ),
]


@pytest.mark.parametrize(("text", "message"), NOT_A_DECISION)
def test_text_that_is_not_a_decision_is_refused(text: str, message: str) -> None:
    """Text that is not the form raises `JSONFormError` with a sentence naming the form."""
    with pytest.raises(JSONFormError) as raised:
        decode_decision(text)
    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    "text",
    [
        '{"id":"","primary":["kim@client.example"],"created_at":"2026-01-05T00:00:00+00:00"}',
        '{"id":"c1","primary":"kim@client.example","created_at":"2026-01-05T00:00:00+00:00"}',
        '{"id":"c1","primary":["k","k","c","c","c",true],"created_at":"2026-01-05T00:00:00"}',
        '{"id":"c1","primary":["k","k","c","c","c",true],"created_at":null}',
        '{"id":"c1","primary":["k","k","c","c","c",true],"created_at":"yesterday"}',
        '{"id":7,"primary":["k","k","c","c","c",true],"created_at":"2026-01-05T00:00:00Z"}',
    ],
)
def test_text_that_is_not_a_contact_is_refused(text: str) -> None:
    """A contact with a missing, empty or wrongly typed field, or a naive time, is refused."""
    with pytest.raises(
        JSONFormError, match=r"^The text is JSON but not the stable form of a contact\.$"
    ):
        decode_contact(text)


def test_bytes_that_are_not_utf8_are_refused() -> None:
    """Bytes that are not UTF-8 are refused with a sentence saying so."""
    with pytest.raises(JSONFormError, match=r"^The text is not UTF-8, so it is not a message\.$"):
        decode_message(b"\xff{}")


def test_a_value_of_the_wrong_kind_is_a_type_error_naming_the_parameter() -> None:
    """Encoding a value of another kind, or decoding a non-text, names the parameter."""
    with pytest.raises(ArgumentTypeError) as raised:
        encode_contact(parse_address("kim@client.example"))  # type: ignore[arg-type]
    assert str(raised.value) == "encode_contact() takes a Contact as value, not an Address."
    with pytest.raises(ArgumentTypeError) as raised:
        decode_message({"key": "x"})  # type: ignore[arg-type]
    assert str(raised.value) == "decode_message() takes JSON text as text, not a dict."
