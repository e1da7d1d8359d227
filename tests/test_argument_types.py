"""An argument of the wrong type is refused at once with a `TypeError` naming the parameter.

Each row calls a public constructor or rule function with one wrong-typed argument and names
the error class raised (each an `ArgumentTypeError`, which is a `TypeError`, and where the
family has an error of its own, that error too) with its exact message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from mailbind import (
    Address,
    AddressTypeError,
    ArgumentTypeError,
    Attachment,
    Contact,
    ContactError,
    ContactIndex,
    ContactTypeError,
    Event,
    EventError,
    EventTypeError,
    InvalidAddressError,
    Judge,
    Limits,
    MailbindError,
    Mailbox,
    Message,
    MessageError,
    MessageTypeError,
    Participant,
    Policy,
    PolicyError,
    PolicyTypeError,
    Role,
    decide,
    direction,
    is_internal,
    parse_address,
    parse_participants,
    plan_contacts,
    redact,
    reevaluate,
    visible_level,
)

#: Values of the wrong type, typed ``Any`` so that the calls below type-check.
DICT: Any = {"sender": "jane@x.com"}
INT: Any = 5
TEXT: Any = "jane@x.com"
NONE: Any = None

MESSAGE = Message.build(sender="jane@globex.example", to="anna@acme.com")
MAILBOX = Mailbox("anna@acme.com")
POLICY = Policy(org_domains=["acme.com"])
INDEX = ContactIndex()
WHEN = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
POLICY_ANY: Any = POLICY
MAILBOX_ANY: Any = MAILBOX

Case = tuple[Callable[[], object], type[ArgumentTypeError], str]

CASES: dict[str, Case] = {
    # --- addresses
    "Address key": (
        lambda: Address(INT, "jane", "x.com", "x.com", "x.com"),
        AddressTypeError,
        "Address() takes text as key, not an int.",
    ),
    "parse_address text": (
        lambda: parse_address(INT),
        AddressTypeError,
        "5 is not an email address: it is not text.",
    ),
    "parse_participants header_value": (
        lambda: parse_participants(DICT, Role.TO),
        AddressTypeError,
        "parse_participants() takes text as header_value, not a dict.",
    ),
    "parse_participants role": (
        lambda: parse_participants("jane@x.com", INT),
        AddressTypeError,
        "parse_participants() takes a Role as role, not an int.",
    ),
    "Participant role": (
        lambda: Participant(TEXT, None),
        AddressTypeError,
        "Participant() takes a Role as role, not a str.",
    ),
    "Participant address": (
        lambda: Participant(Role.FROM, TEXT),
        AddressTypeError,
        "Participant() takes an Address or None as address, not a str.",
    ),
    # --- the judge
    "Judge policy": (
        lambda: Judge(TEXT, MAILBOX),
        ArgumentTypeError,
        "Judge() takes a Policy as policy, not a str.",
    ),
    "Judge mailbox": (
        lambda: Judge(POLICY, DICT),
        ArgumentTypeError,
        "Judge() takes a Mailbox as mailbox, not a dict.",
    ),
    "Judge.decide message": (
        lambda: Judge(POLICY, MAILBOX).decide(DICT),
        ArgumentTypeError,
        "Judge.decide() takes a Message or an Event as message, not a dict.",
    ),
    # --- messages
    "Message.build sender": (
        lambda: Message.build(sender=DICT),
        MessageTypeError,
        "Message.build() takes header text as sender, not a dict.",
    ),
    "Message.build to": (
        lambda: Message.build(sender="jane@x.com", to=INT),
        MessageTypeError,
        "Message.build() takes header text as to, not an int.",
    ),
    "Message.build swapped sent_at": (
        lambda: Message.build(sender="jane@x.com", sent_at=MAILBOX_ANY),
        MessageTypeError,
        "sent_at must be a datetime, not Mailbox.",
    ),
    "Message.build message_id": (
        lambda: Message.build(sender="jane@x.com", message_id=INT),
        MessageTypeError,
        "Message.build() takes text or None as message_id, not an int.",
    ),
    "Message.build subject": (
        lambda: Message.build(sender="jane@x.com", subject=INT),
        MessageTypeError,
        "subject must be text, not int.",
    ),
    "Message.build attachments": (
        lambda: Message.build(sender="jane@x.com", attachments=INT),
        MessageTypeError,
        "Message.build() takes a list of attachments as attachments, not an int.",
    ),
    "Message.build headers": (
        lambda: Message.build(sender="jane@x.com", headers=INT),
        MessageTypeError,
        "Message.build() takes (name, value) pairs or a mapping as headers, not an int.",
    ),
    "Message.build flags": (
        lambda: Message.build(sender="jane@x.com", flags=INT),
        MessageTypeError,
        "Message.build() takes a list of flags as flags, not an int.",
    ),
    "Message.from_bytes raw": (
        lambda: Message.from_bytes(TEXT),
        MessageTypeError,
        "raw must be bytes, not str.",
    ),
    "Message.from_bytes limits": (
        lambda: Message.from_bytes(b"From: jane@x.com\r\n\r\n", limits=DICT),
        MessageTypeError,
        "Message.from_bytes() takes a Limits as limits, not a dict.",
    ),
    "Attachment filename": (
        lambda: Attachment(INT),
        MessageTypeError,
        "Attachment() takes text as filename, not an int.",
    ),
    "Attachment content": (
        lambda: Attachment("offer.pdf", content=TEXT),
        MessageTypeError,
        "Attachment() takes bytes as content, not a str.",
    ),
    "Limits max_parts": (
        lambda: Limits(max_parts=TEXT),
        MessageTypeError,
        "max_parts must be a positive whole number, not 'jane@x.com'.",
    ),
    # --- policy and mailbox
    "Policy org_domains": (
        lambda: Policy(org_domains=INT),
        PolicyTypeError,
        "Policy() takes text or a list of it as org_domains, not an int.",
    ),
    "Policy members": (
        lambda: Policy(members=INT),
        PolicyTypeError,
        "Policy() takes addresses as members, not an int.",
    ),
    "Policy blocklist": (
        lambda: Policy(blocklist=INT),
        PolicyTypeError,
        "Policy() takes addresses as blocklist, not an int.",
    ),
    "Policy canonicalization": (
        lambda: Policy(canonicalization=DICT),
        PolicyTypeError,
        "The canonicalization must be a Canonicalization, not dict.",
    ),
    "Mailbox owner": (
        lambda: Mailbox(DICT),
        PolicyTypeError,
        "The mailbox owner must be an address string, not dict.",
    ),
    "Mailbox aliases": (
        lambda: Mailbox("anna@acme.com", aliases=INT),
        PolicyTypeError,
        "Mailbox() takes addresses as aliases, not an int.",
    ),
    "Mailbox incoming": (
        lambda: Mailbox("anna@acme.com", incoming=INT),
        PolicyTypeError,
        "The incoming sharing level must be one of metadata, subject, everything, not 5.",
    ),
    # --- contacts
    "Contact id": (
        lambda: Contact(INT, "jane@x.com", created_at=WHEN),
        ContactTypeError,
        "A contact id must be a non-empty string, not 5.",
    ),
    "Contact additional": (
        lambda: Contact("c1", "jane@x.com", INT, created_at=WHEN),
        ContactTypeError,
        "Contact() takes addresses as additional, not an int.",
    ),
    "Contact created_at": (
        lambda: Contact("c1", "jane@x.com", created_at=TEXT),
        ContactTypeError,
        "Contact 'c1' has a created_at of type str; give a timezone-aware datetime.",
    ),
    "ContactIndex contacts": (
        lambda: ContactIndex(INT),
        ContactTypeError,
        "ContactIndex() takes Contacts as contacts, not an int.",
    ),
    "ContactIndex contact": (
        lambda: ContactIndex([DICT]),
        ContactTypeError,
        "Expected a Contact, not dict.",
    ),
    "ContactIndex suppressed": (
        lambda: ContactIndex(suppressed=INT),
        ContactTypeError,
        "ContactIndex() takes Suppressions as suppressed, not an int.",
    ),
    # --- the rules
    "decide message": (
        lambda: decide(DICT, MAILBOX, POLICY),
        ArgumentTypeError,
        "decide() takes a Message or an Event as message, not a dict.",
    ),
    "decide swapped": (
        lambda: decide(MESSAGE, POLICY_ANY, MAILBOX_ANY),
        ArgumentTypeError,
        "decide() takes a Mailbox as mailbox, not a Policy.",
    ),
    "decide policy": (
        lambda: decide(MESSAGE, MAILBOX, NONE),
        ArgumentTypeError,
        "decide() takes a Policy as policy, not None.",
    ),
    "is_internal mailbox": (
        lambda: is_internal(MESSAGE, TEXT, POLICY),
        ArgumentTypeError,
        "is_internal() takes a Mailbox as mailbox, not a str.",
    ),
    "direction message": (
        lambda: direction(TEXT, MAILBOX),
        ArgumentTypeError,
        "direction() takes a Message or an Event as message, not a str.",
    ),
    "direction policy": (
        lambda: direction(MESSAGE, MAILBOX, DICT),
        ArgumentTypeError,
        "direction() takes a Policy as policy, not a dict.",
    ),
    "redact message": (
        lambda: redact(DICT, "metadata"),
        MessageTypeError,
        "redact() takes a Message or an Event as message, not a dict.",
    ),
    "redact level": (
        lambda: redact(MESSAGE, INT),
        MessageTypeError,
        "level must be one of metadata, subject, everything, not 5.",
    ),
    "visible_level viewer": (
        lambda: visible_level(INT, []),
        ArgumentTypeError,
        "visible_level() takes an address as viewer, not an int.",
    ),
    "visible_level holdings": (
        lambda: visible_level("anna@acme.com", [MAILBOX_ANY]),
        ArgumentTypeError,
        "visible_level() takes Holdings as holdings, not a Mailbox.",
    ),
    "reevaluate messages": (
        lambda: reevaluate([DICT], MAILBOX, POLICY, POLICY),
        ArgumentTypeError,
        "reevaluate() takes Messages or Events as messages, not a dict.",
    ),
    "reevaluate new_policy": (
        lambda: reevaluate([MESSAGE], MAILBOX, POLICY, DICT),
        ArgumentTypeError,
        "reevaluate() takes a Policy as new_policy, not a dict.",
    ),
    "plan_contacts index": (
        lambda: plan_contacts([MESSAGE], MAILBOX, POLICY, DICT),
        ArgumentTypeError,
        "plan_contacts() takes a ContactIndex or None as index, not a dict.",
    ),
    "plan_contacts messages": (
        lambda: plan_contacts([DICT], MAILBOX, POLICY, INDEX),
        ArgumentTypeError,
        "plan_contacts() takes Messages or Events as messages, not a dict.",
    ),
    # --- events
    "Event organizer": (
        lambda: Event("u1", TEXT, (), None, None),
        EventTypeError,
        "Event() takes a Participant or None as organizer, not a str.",
    ),
    "Event start": (
        lambda: Event("u1", None, (), TEXT, None),
        EventTypeError,
        "Event() takes a datetime or None as start, not a str.",
    ),
    "Event.build attendees": (
        lambda: Event.build(uid="u1", organizer=None, attendees=INT, start=WHEN, end=WHEN),
        EventTypeError,
        "The event attendees must be addresses, not int.",
    ),
}

#: The family error each type error also is.
FAMILIES: dict[type[ArgumentTypeError], type[MailbindError]] = {
    AddressTypeError: InvalidAddressError,
    MessageTypeError: MessageError,
    PolicyTypeError: PolicyError,
    ContactTypeError: ContactError,
    EventTypeError: EventError,
    ArgumentTypeError: MailbindError,
}


@pytest.mark.parametrize(("call", "error", "message"), CASES.values(), ids=CASES.keys())
def test_a_wrong_type_is_a_type_error_naming_the_parameter(
    call: Callable[[], object], error: type[ArgumentTypeError], message: str
) -> None:
    """The call raises exactly *error* (a `TypeError` and its family's error) with *message*."""
    with pytest.raises(TypeError) as caught:
        call()
    assert type(caught.value) is error
    assert isinstance(caught.value, FAMILIES[error])
    assert str(caught.value) == message


def test_duck_typed_values_still_reach_the_rules() -> None:
    """Only a call that fails is checked: a value the rules can read is read, whatever its type."""

    class Copy:
        participants = MESSAGE.participants
        headers = MESSAGE.headers
        flags = MESSAGE.flags
        level = MESSAGE.level

    assert decide(Copy(), MAILBOX, POLICY) == decide(MESSAGE, MAILBOX, POLICY)  # type: ignore[arg-type]
