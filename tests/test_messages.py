"""Tests for mailbind.messages: building messages, reading RFC 5322 bytes, keys and limits."""

from __future__ import annotations

import dataclasses
import inspect
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mailbind._tables as tables_module
import mailbind.addresses as addresses_module
import mailbind.messages as messages_module
from mailbind import (
    Attachment,
    Defect,
    Flag,
    Limits,
    Message,
    MessageError,
    Role,
    SharingLevel,
    normalize_message_id,
)
from tests import factories
from tests.strategies import header_values, messages

# --- Building from plain values --------------------------------------------------------------


def keys(message: Message, role: Role | None = None) -> list[str]:
    """The identity keys of the readable participants, in order (of one role if given)."""
    return [
        p.address.key
        for p in message.participants
        if p.address is not None and (role is None or p.role is role)
    ]


def test_build_reads_every_participant_in_order() -> None:
    """From, To, Cc and Bcc become participants in that order, each with its role."""
    m = Message.build(
        sender="Jane <jane@client.example>",
        to="anna@acme.com, Paul <paul@acme.com>",
        cc=["kim@x.example"],
        bcc="boss@acme.com",
    )
    assert [(p.role, p.address.key if p.address else None) for p in m.participants] == [
        (Role.FROM, "jane@client.example"),
        (Role.TO, "anna@acme.com"),
        (Role.TO, "paul@acme.com"),
        (Role.CC, "kim@x.example"),
        (Role.BCC, "boss@acme.com"),
    ]
    assert m.sender is not None
    assert m.sender.name == "Jane"


def test_build_takes_a_header_or_a_list_of_headers_alike() -> None:
    """``to="a, b"`` and ``to=["a", "b"]`` give the same participants."""
    one = Message.build(sender="a@x.com", to="b@y.com, c@z.com")
    many = Message.build(sender="a@x.com", to=["b@y.com", "c@z.com"])
    assert one.participants == many.participants


def test_build_keeps_unreadable_entries() -> None:
    """An entry that is no address stays as a participant without an address."""
    m = Message.build(sender="a@x.com", to="not an address")
    (to,) = [p for p in m.participants if p.role is Role.TO]
    assert to.address is None
    assert to.raw == "not an address"


def test_build_reuses_parsed_header_values() -> None:
    """A header value seen before is not parsed again: the participants are the same objects."""
    first = Message.build(sender="Repeat Sender <repeat@cache.example>")
    second = Message.build(sender="Repeat Sender <repeat@cache.example>")
    assert first.participants[0] is second.participants[0]


def test_a_value_read_in_one_role_is_relabelled_for_another() -> None:
    """A header value seen in From is not read again for To: its participants are relabelled."""
    value = "Relabelled Person <relabelled@cache.example>, odd entry"
    first = Message.build(sender=value)
    second = Message.build(sender="a@x.com", to=value)
    to = [p for p in second.participants if p.role is Role.TO]
    assert [p.role for p in to] == [Role.TO, Role.TO]
    assert to[0].address is first.participants[0].address
    assert to == [dataclasses.replace(p, role=Role.TO) for p in first.participants]


def addressed(role: Role, value: str | list[str]) -> Message:
    """A message from nobody whose *role* header (To, Cc or Bcc) holds *value*."""
    fields: dict[str, Any] = {role.value: value}
    return Message.build(sender="", **fields)


@settings(max_examples=60)
@given(header_values(), st.permutations([Role.FROM, Role.TO, Role.CC, Role.BCC]))
def test_relabelled_participants_equal_a_fresh_reading(value: str, roles: list[Role]) -> None:
    """Whichever role reads a header value first, every role gets what reading it afresh gives."""
    for table in tables_module._PARSED.values():
        table.pop(value, None)
    for role in roles:
        built = Message.build(sender=value) if role is Role.FROM else addressed(role, value)
        fresh = addresses_module._read_header(value, role)
        assert tuple(p for p in built.participants if p.role is role) == fresh


@settings(max_examples=80)
@given(
    st.lists(header_values(), max_size=4),
    st.sets(st.integers(min_value=0, max_value=3)),
    st.sampled_from([Role.TO, Role.CC, Role.BCC]),
)
def test_a_list_of_header_values_reads_as_each_value_read_alone(
    values: list[str], seen: set[int], role: Role
) -> None:
    """Lists of header values, each seen before or not, give every value's reading in order.

    A list whose values were all seen before is answered from the table directly; this holds
    that shortcut, and the general loop, to what reading each value afresh gives.
    """
    table = tables_module._PARSED[role]
    for n, value in enumerate(values):
        if n in seen:
            addressed(role, value)
        else:
            for each in tables_module._PARSED.values():
                each.pop(value, None)
    built = addressed(role, list(values))
    expected = tuple(p for value in values for p in addresses_module._read_header(value, role))
    assert built.participants == expected
    assert all(value in table for value in values if value and len(value) <= 1000)


@settings(max_examples=80)
@given(
    st.dictionaries(
        st.sampled_from(["Sender", "sender", "Reply-To", "REPLY-TO", "List-Id", "X-\ud800", "Ünï"]),
        st.sampled_from(["", "kim@client.example", "a\udc00@x.com", "Zoë <z@x.com>", "bulk"]),
        max_size=5,
    ),
    st.sampled_from(["", "given@client.example"]),
)
def test_headers_as_a_dict_read_as_the_same_pairs(headers: dict[str, str], given: str) -> None:
    """A dict of headers (as JSON gives them) builds what its pairs build, and so does a
    one-shot iterator of them: the same headers, the same Sender and Reply-To participants,
    the same lone surrogates replaced."""
    pairs = list(headers.items())
    for reply_to in ("", given):
        by_dict = Message.build(sender="a@x.com", headers=headers, reply_to=reply_to)
        by_pairs = Message.build(sender="a@x.com", headers=pairs, reply_to=reply_to)
        by_iterator = Message.build(sender="a@x.com", headers=iter(pairs), reply_to=reply_to)
        assert by_dict == by_pairs == by_iterator


def test_headers_given_as_an_iterator_are_all_kept() -> None:
    """Headers passed as a one-shot iterator are read once: the Reply-To among them is read
    and every header is kept, as from a list."""
    pairs = [("List-Id", "<news.x.com>"), ("Reply-To", "desk@client.example")]
    message = Message.build(sender="a@x.com", headers=(pair for pair in pairs))
    assert message.headers == tuple(pairs)
    assert message == Message.build(sender="a@x.com", headers=pairs)
    assert [p.address and p.address.key for p in message.participants][-1] == (
        "desk@client.example"
    )


def test_headers_as_a_dict_holding_no_text_are_a_caller_mistake() -> None:
    """A dict of headers with a value that is not text is refused as the pairs are."""
    headers: Any = {"Sender": "k@x.com", "X-N": 5}
    with pytest.raises(MessageError, match="a header must be a"):
        Message.build(sender="a@x.com", headers=headers)


@pytest.mark.parametrize(
    "recipients", [["a@x.com", b"b@y.com"], [b"b@y.com"], ["a@x.com", None], [["a@x.com"]]]
)
def test_a_list_holding_anything_but_text_is_a_caller_mistake(recipients: list[object]) -> None:
    """A list item that is not text is named in a `MessageError`, in the short lists too."""
    Message.build(sender="", to=["a@x.com"])  # the text items are seen before
    with pytest.raises(MessageError, match="must hold header values as text"):
        Message.build(sender="", to=recipients)  # type: ignore[arg-type]


def test_parse_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table of parsed header values never grows past its bound, and long values stay out."""
    monkeypatch.setattr(tables_module, "_CACHE_ENTRIES", 8)
    table = tables_module._PARSED[Role.CC]
    table.clear()
    for n in range(50):
        Message.build(sender="", cc=f"person{n}@bounded.example")
    # Full at eight, the table starts afresh: it ends holding what came after the last start.
    assert list(table) == ["person48@bounded.example", "person49@bounded.example"]
    long_value = "x" * 2000 + "@long.example"
    Message.build(sender="", cc=long_value)
    assert long_value not in table


def test_headers_read_from_bytes_have_tables_of_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Header values of mail read from bytes fill their own tables, bounded in characters."""
    monkeypatch.setattr(tables_module, "_READ_CHARACTERS", 4 * len("reader0@own.example"))
    for each in tables_module._READ.values():
        each.clear()
    monkeypatch.setattr(tables_module, "_READ_HELD", [0])
    for n in range(6):
        Message.from_bytes(b"To: reader%d@own.example\r\n\r\n" % n)
    # Full at four values, the tables start afresh: they end holding what came after.
    assert list(tables_module._READ[Role.TO]) == ["reader4@own.example", "reader5@own.example"]
    assert tables_module._READ_HELD[0] == 2 * len("reader0@own.example")
    assert "reader5@own.example" not in tables_module._PARSED[Role.TO]


def test_message_headers_are_remembered_once() -> None:
    """Header values read for messages stay out of `parse_participants`' own table."""
    from mailbind.addresses import _read_header_cached

    before = _read_header_cached.cache_info().currsize
    Message.from_bytes(b"From: Once Only <once.only@remembered.example>\r\n\r\nbody")
    assert _read_header_cached.cache_info().currsize == before


def test_build_fields() -> None:
    """Subject, bodies, headers and flags are kept as given; None text counts as blank."""
    m = Message.build(
        sender="a@x.com",
        subject="Quote",
        text=None,
        html="<p>Hi</p>",
        headers={"List-Id": "<news.x.com>"},
        flags=["Draft", Flag.SPAM],
    )
    assert (m.subject, m.text, m.html) == ("Quote", "", "<p>Hi</p>")
    assert m.headers == (("List-Id", "<news.x.com>"),)
    assert m.header("list-id") == "<news.x.com>"
    assert m.header("X-Missing") is None
    assert m.flags == frozenset({Flag.DRAFT, Flag.SPAM})
    assert m.level is SharingLevel.EVERYTHING
    assert m.defects == ()


def test_build_attachments_from_tuples_and_values() -> None:
    """Attachments may be given as (name, bytes[, type]) tuples or `Attachment` values."""
    given_value = Attachment("b.png", "image/png", content=b"\x89PNG")
    m = Message.build(
        sender="a@x.com",
        attachments=[("a.pdf", b"%PDF-1.7"), ("c.txt", b"hi", "text/plain"), given_value],
    )
    assert m.attachments == (
        Attachment("a.pdf", "application/octet-stream", 8, b"%PDF-1.7"),
        Attachment("c.txt", "text/plain", 2, b"hi"),
        given_value,
    )
    assert given_value.size == 4


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2024, 3, 1, 9, 30, tzinfo=UTC), datetime(2024, 3, 1, 9, 30, tzinfo=UTC)),
        ("2024-03-01T09:30:00Z", datetime(2024, 3, 1, 9, 30, tzinfo=UTC)),
        (
            "2024-03-01T10:30:00+01:00",
            datetime(2024, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=1))),
        ),
        (None, None),
    ],
)
def test_build_send_times(value: datetime | str | None, expected: datetime | None) -> None:
    """A send time is an aware datetime or ISO 8601 text with an offset."""
    assert Message.build(sender="a@x.com", sent_at=value).sent_at == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"sent_at": datetime(2024, 3, 1, 9, 30)},
            "sent_at must carry its time zone (a naive time is ambiguous), "
            "not datetime.datetime(2024, 3, 1, 9, 30).",
        ),
        (
            {"sent_at": "2024-03-01 09:30"},
            "sent_at must carry its time zone (a naive time is ambiguous), "
            "not datetime.datetime(2024, 3, 1, 9, 30).",
        ),
        (
            {"sent_at": "yesterday"},
            "sent_at must be an ISO 8601 date and time, not 'yesterday'.",
        ),
        ({"sent_at": 1709285400}, "sent_at must be a datetime, not int."),
        (
            {"flags": ["important"]},
            "a flag must be one of draft, spam, trash, sent, not 'important'.",
        ),
        ({"flags": [3]}, "a flag must be one of draft, spam, trash, sent, not 3."),
        ({"subject": b"Quote"}, "subject must be text, not bytes."),
        ({"text": 3}, "text must be text, not int."),
        ({"html": ["<p>"]}, "html must be text, not list."),
        ({"to": b"b@y.com, c@z.com"}, "to must be text, not bytes."),
        ({"cc": [None]}, "cc must hold header values as text, not NoneType."),
        (
            {"attachments": [("a.pdf", "not bytes")]},
            "an attachment must be an Attachment or a (filename, bytes[, content type]) tuple, "
            "not tuple.",
        ),
        (
            {"headers": [("X-Only-Name",)]},
            "a header must be a (name, value) pair of text, not tuple.",
        ),
    ],
)
def test_build_rejects_caller_mistakes(kwargs: dict[str, object], message: str) -> None:
    """A value of the wrong shape raises `MessageError`, a ValueError, saying what was wrong."""
    with pytest.raises(MessageError) as caught:
        Message.build(sender="a@x.com", **kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


# --- Message-ID and key --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<abc@mail.example>", "abc@mail.example"),
        ("  <abc@mail.example>\t", "abc@mail.example"),
        ("abc@mail.example", "abc@mail.example"),
        ("< abc@mail.example >", "abc@mail.example"),
        ("<abc@mail.example> (added by the relay)", "abc@mail.example"),
        ("<abc@mail.example", "abc@mail.example"),
        ("<>", None),
        ("   ", None),
        ("", None),
        (None, None),
    ],
)
def test_message_id_normalisation(value: str | None, expected: str | None) -> None:
    """White space and one pair of angle brackets go; a blank Message-ID is None."""
    assert normalize_message_id(value) == expected
    assert Message.build(sender="a@x.com", message_id=value).message_id == expected


def test_key_is_the_message_id() -> None:
    """A message with a Message-ID is keyed by it."""
    assert Message.build(sender="a@x.com", message_id="<m1@x.com>").key == "m1@x.com"


FINGERPRINTED = {
    "sender": "Jane <jane@client.example>",
    "to": "anna@acme.com",
    "subject": "Quote",
    "text": "Hello\r\n",
    "sent_at": "2024-03-01T09:30:00+01:00",
}
FINGERPRINT = "sha256:02d700470bd45703fc7940bf2cf482fb6343557d60f16bd7f3ef7faea8aa53e4"


def test_fingerprint_is_fixed() -> None:
    """Without a Message-ID the key is a sha256 fingerprint that never changes between versions."""
    assert Message.build(**FINGERPRINTED).key == FINGERPRINT  # type: ignore[arg-type]


def test_fingerprint_is_the_same_in_another_process() -> None:
    """The fingerprint does not depend on the process (no ``hash()``, no randomised seed)."""
    code = f"from mailbind import Message\nprint(Message.build(**{FINGERPRINTED!r}).key)\n"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == FINGERPRINT


def test_fingerprint_ignores_what_copies_differ_in() -> None:
    """Bcc (only in the sender's copy), the send time's zone, line endings and display names."""
    base = Message.build(**FINGERPRINTED)  # type: ignore[arg-type]
    other = Message.build(
        sender="J. Doe <JANE@client.example>",
        to="anna@acme.com",
        bcc="boss@acme.com",
        subject="Quote",
        text="Hello\n",
        sent_at="2024-03-01T08:30:00+00:00",
    )
    assert other.key == base.key


@pytest.mark.parametrize(
    "change",
    [
        {"subject": "Quote 2"},
        {"text": "Hello again"},
        {"html": "<p>Hello</p>"},
        {"to": "paul@acme.com"},
        {"sent_at": "2024-03-01T09:31:00+01:00"},
        {"sent_at": None},
    ],
)
def test_fingerprint_tells_messages_apart(change: dict[str, object]) -> None:
    """A different subject, body, recipient or send time gives a different fingerprint."""
    changed = Message.build(**{**FINGERPRINTED, **change})  # type: ignore[arg-type]
    assert changed.key.startswith("sha256:")
    assert changed.key != FINGERPRINT


@settings(max_examples=60)
@given(messages())
def test_every_message_has_a_key(message: Message) -> None:
    """Every message is keyed: by its Message-ID when it has one, else by a fingerprint."""
    if message.message_id:
        assert message.key == message.message_id
    else:
        assert message.key.startswith("sha256:")
        assert len(message.key) == len("sha256:") + 64


def test_withheld_by_level() -> None:
    """``withheld`` names the fields a level removes."""
    m = Message.build(sender="a@x.com")
    assert m.withheld == frozenset()
    metadata = Message(
        message_id=None,
        sent_at=None,
        participants=(),
        subject=None,
        text=None,
        html=None,
        attachments=None,
        level=SharingLevel.METADATA,
    )
    assert metadata.withheld == frozenset({"subject", "text", "html", "attachments"})


def test_a_record_below_everything_must_withhold() -> None:
    """A record that claims a lower level but holds a withheld field cannot exist."""
    with pytest.raises(MessageError) as caught:
        Message(
            message_id=None,
            sent_at=None,
            participants=(),
            subject=None,
            text="secret",
            html=None,
            attachments=None,
            level=SharingLevel.SUBJECT,
        )
    assert str(caught.value) == "a message at level 'subject' must hold text as None (withheld)."


def test_init_takes_every_field() -> None:
    """The hand-written ``Message.__init__`` takes every field, with the declared defaults."""
    parameters = inspect.signature(Message.__init__).parameters
    for f in dataclasses.fields(Message):
        assert f.name in parameters
        if f.default is not dataclasses.MISSING:
            assert parameters[f.name].default == f.default
    values = {f.name: object() for f in dataclasses.fields(Message)}
    values["level"] = SharingLevel.EVERYTHING
    made = Message(**values)  # type: ignore[arg-type]
    assert all(getattr(made, name) is value for name, value in values.items())
    m = Message.build(sender="a@x.com", subject="s", message_id="<m@x>")
    assert dataclasses.replace(m, subject="t") == Message.build(
        sender="a@x.com", subject="t", message_id="<m@x>"
    )


def test_the_internal_constructor_makes_what_init_makes() -> None:
    """`_message`, which build and redact use, fills every slot as ``__init__`` does."""
    values: dict[str, Any] = {f.name: object() for f in dataclasses.fields(Message)}
    values["level"] = SharingLevel.EVERYTHING
    made = messages_module._message(**values)
    assert type(made) is Message
    assert all(getattr(made, name) is value for name, value in values.items())
    m = Message.build(sender="a@x.com", subject="s", text="t")
    for level in SharingLevel:
        held: dict[str, Any] = {
            f.name: getattr(m, f.name) if f.name not in _WITHHELD_AT[level] else None
            for f in dataclasses.fields(Message)
        }
        fields = {**held, "level": level, "key": ""}  # the key filled as __init__ fills it
        made = messages_module._message(**fields)
        assert made == Message(**fields)
        assert repr(made) == repr(Message(**fields))
        assert hash(made) == hash(Message(**fields))
        assert (made.key == m.key) is (level is SharingLevel.EVERYTHING)


_WITHHELD_AT = {
    SharingLevel.EVERYTHING: frozenset[str](),
    SharingLevel.SUBJECT: frozenset({"text", "html", "attachments"}),
    SharingLevel.METADATA: frozenset({"subject", "text", "html", "attachments"}),
}


def test_a_record_needs_a_real_level() -> None:
    """A level that is no `SharingLevel` is refused."""
    with pytest.raises(MessageError) as caught:
        Message(message_id=None, sent_at=None, participants=(), level="public")  # type: ignore[arg-type]
    assert str(caught.value) == "level must be one of metadata, subject, everything, not 'public'."


# --- Reading bytes: real-world oddities ------------------------------------------------------


mail = factories.raw_mail


BASIC = (
    "From: Jane Doe <jane@client.example>",
    "To: anna@acme.com",
    "Message-ID: <m1@client.example>",
    "Date: Fri, 01 Mar 2024 09:30:00 +0100",
    "Subject: Quote",
)


def test_reads_a_plain_message() -> None:
    """A simple message gives its participants, identifiers, date, subject and body."""
    m = Message.from_bytes(mail(*BASIC))
    assert keys(m) == ["jane@client.example", "anna@acme.com"]
    assert m.message_id == "m1@client.example"
    assert m.key == "m1@client.example"
    assert m.sent_at == datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    assert m.subject == "Quote"
    assert m.text == "Hello\n"
    assert m.html == ""
    assert m.attachments == ()
    assert m.defects == ()
    assert [name for name, _ in m.headers] == ["From", "To", "Message-ID", "Date", "Subject"]


def test_line_endings_do_not_matter() -> None:
    """CRLF and bare LF line endings read alike."""
    crlf = Message.from_bytes(mail(*BASIC, body=b""))
    lf = Message.from_bytes(mail(*BASIC, body=b"", crlf=False))
    assert crlf == lf


@pytest.mark.parametrize(
    ("header", "subject", "defects"),
    [
        ("Subject: =?UTF-8?B?R3LDvMOfZQ==?=", "Grüße", ()),
        ("Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=", "Grüße aus Köln", ()),
        ("Subject: =?utf-8?q?a?= =?utf-8?q?b?= c", "ab c", ()),
        ("Subject: Re: =?utf-8?Q?Gr=C3=BC=C3=9Fe?= again", "Re: Grüße again", ()),
        # One character split across two encoded words, as some clients write it.
        ("Subject: =?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?=", "éé", ()),
        ("Subject: =?UTF-8?B?ww==?= =?UTF-8?B?qQ==?=", "é", ()),
        ("Subject: =?utf-8*en?Q?Hello?=", "Hello", ()),
        ("Subject: =?utf-8?B?####?=", "=?utf-8?B?####?=", ("bad_encoded_word",)),
        ("Subject: =?x-no-such-charset?Q?abc?=", "abc", ("unknown_charset",)),
        ("Subject: =?utf-8?Q?=FF?=", "ÿ", ("bad_charset",)),
        ("Subject: =?utf-8?Q?unterminated", "=?utf-8?Q?unterminated", ()),
        (b"Subject: Gr\xc3\xbc\xc3\x9fe", "Grüße", ()),
        (b"Subject: Gr\xfc\xdfe \x93quoted\x94", "Grüße “quoted”", ()),
        (b"Subject: \x81\x8d", "\x81\x8d", ()),
        ("Subject:    ", "", ()),
        ("Subject: folded\r\n  over two lines", "folded  over two lines", ()),
    ],
)
def test_subjects(header: str | bytes, subject: str, defects: tuple[str, ...]) -> None:
    """Encoded words, 8-bit bytes and folding are decoded; broken words stay as written."""
    m = Message.from_bytes(mail("From: a@x.com", header))
    assert m.subject == subject
    assert m.header("Subject") == subject
    assert m.defects == defects


@pytest.mark.parametrize(
    ("header", "name", "key"),
    [
        ("From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <j@x.de>", "Jörg Müller", "j@x.de"),
        ("From: =?UTF-8?B?SsO8cmdlbg==?= <j@x.de>", "Jürgen", "j@x.de"),
        ('From: "Doe, Jane" <Jane.Doe@Client.Example>', "Doe, Jane", "jane.doe@client.example"),
        (b"From: J\xc3\xb6rg <j@x.de>", "Jörg", "j@x.de"),
        ('From: "support@acme.com" <evil@x.io>', "support@acme.com", "evil@x.io"),
    ],
)
def test_sender_names(header: str | bytes, name: str, key: str) -> None:
    """Display names are decoded; identity comes from the address alone."""
    m = Message.from_bytes(mail(header))
    assert m.sender is not None
    assert m.sender.name == name
    assert m.sender.address is not None
    assert m.sender.address.key == key


def test_groups_and_undisclosed_recipients() -> None:
    """Group members are participants; an empty group adds none and loses nothing else."""
    m = Message.from_bytes(
        mail(
            "From: a@x.com",
            "To: undisclosed-recipients:;",
            "Cc: Team: b@y.com, c@z.com;",
        )
    )
    assert keys(m, Role.CC) == ["b@y.com", "c@z.com"]
    assert keys(m) == ["a@x.com", "b@y.com", "c@z.com"]


def test_every_address_header_is_read() -> None:
    """Sender, Reply-To and repeated To headers all give participants, in header order."""
    m = Message.from_bytes(
        mail(
            "From: a@x.com",
            "Sender: assistant@x.com",
            "Reply-To: replies@x.com",
            "To: b@y.com",
            "To: c@z.com",
            "Bcc: d@w.com",
        )
    )
    assert [(p.role, p.address.key if p.address else None) for p in m.participants] == [
        (Role.FROM, "a@x.com"),
        (Role.SENDER, "assistant@x.com"),
        (Role.REPLY_TO, "replies@x.com"),
        (Role.TO, "b@y.com"),
        (Role.TO, "c@z.com"),
        (Role.BCC, "d@w.com"),
    ]


@pytest.mark.parametrize(
    ("headers", "message_id", "defects"),
    [
        ((), None, ()),
        (("Message-ID:",), None, ()),
        (("Message-ID:   ",), None, ()),
        (("Message-ID: <>",), None, ()),
        (("Message-Id: <a@x>",), "a@x", ()),
        (("Message-ID: <a@x>", "Message-ID: <b@x>"), "a@x", ("duplicate_message_id",)),
        (("Message-ID:\r\n <folded@x>",), "folded@x", ()),
    ],
)
def test_message_ids(
    headers: tuple[str, ...], message_id: str | None, defects: tuple[str, ...]
) -> None:
    """Missing, blank, duplicate and folded Message-IDs; the key falls back to a fingerprint."""
    m = Message.from_bytes(mail("From: a@x.com", *headers))
    assert m.message_id == message_id
    assert m.defects == defects
    if message_id is None:
        assert m.key.startswith("sha256:")
    else:
        assert m.key == message_id


def test_copies_without_message_id_share_a_key() -> None:
    """Two mailboxes' copies of one message without Message-ID get the same key."""
    sender_copy = mail(
        "From: a@x.com",
        "To: b@y.com",
        "Bcc: c@z.com",
        "Date: Fri, 1 Mar 2024 09:30:00 +0000",
        "Subject: Hi",
    )
    recipient_copy = mail(
        "From: a@x.com",
        "To: b@y.com",
        "Date: Fri, 1 Mar 2024 10:30:00 +0100",
        "Subject: Hi",
        crlf=False,
    )
    assert Message.from_bytes(sender_copy).key == Message.from_bytes(recipient_copy).key


@pytest.mark.parametrize(
    ("header", "sent_at", "defects"),
    [
        ("Date: Fri, 01 Mar 2024 09:30:00 +0100", datetime(2024, 3, 1, 8, 30, tzinfo=UTC), ()),
        ("Date: 1 Mar 2024 09:30 GMT", datetime(2024, 3, 1, 9, 30, tzinfo=UTC), ()),
        ("Date: Fri, 01 Mar 2024 09:30:00 -0000", datetime(2024, 3, 1, 9, 30, tzinfo=UTC), ()),
        ("Date: Fri, 01 Mar 2024 09:30:00 EST", datetime(2024, 3, 1, 14, 30, tzinfo=UTC), ()),
        ("Date: sometime last week", None, ("bad_date",)),
        ("Date: Fri, 31 Feb 2024 09:30:00 +0000", None, ("bad_date",)),
        ("Date:", None, ("bad_date",)),
        ("X-No-Date: here", None, ()),
    ],
)
def test_dates(header: str, sent_at: datetime | None, defects: tuple[str, ...]) -> None:
    """A readable Date is an aware time; an unreadable one is None with ``bad_date``."""
    m = Message.from_bytes(mail("From: a@x.com", header))
    assert m.sent_at == sent_at
    assert m.sent_at is None or m.sent_at.tzinfo is not None
    assert m.defects == defects


@pytest.mark.parametrize(
    ("labels", "flags"),
    [
        ("Inbox,Important", set()),
        ("Spam", {Flag.SPAM}),
        ("Opened,Trash", {Flag.TRASH}),
        ("Draft,Opened", {Flag.DRAFT}),
        ("Sent,IMAP_Sent", {Flag.SENT}),
        ("  spam , TRASH ", {Flag.SPAM, Flag.TRASH}),
        ('"Category Promotions",Spam', {Flag.SPAM}),
        ("=?UTF-8?Q?Posteingang?=,=?UTF-8?Q?Spam?=", {Flag.SPAM}),
        ("Drafts,Spammy", set()),
    ],
)
def test_gmail_labels(labels: str, flags: set[Flag]) -> None:
    """Google Takeout's X-Gmail-Labels name drafts, spam, trash and sent mail."""
    m = Message.from_bytes(mail("From: a@x.com", f"X-Gmail-Labels: {labels}"))
    assert m.flags == flags


def test_caller_flags_are_merged() -> None:
    """Flags the caller knows are added to the ones the message names."""
    raw = mail("From: a@x.com", "X-Gmail-Labels: Spam")
    assert Message.from_bytes(raw, flags={Flag.DRAFT}).flags == {Flag.DRAFT, Flag.SPAM}
    assert Message.from_bytes(raw, flags=["trash"]).flags == {Flag.TRASH, Flag.SPAM}


ALTERNATIVE = mail(
    *BASIC,
    'Content-Type: multipart/alternative; boundary="alt"',
    body=(
        b"This is a multi-part message.\r\n"
        b"--alt\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"\r\n"
        b"Gr=C3=BC=C3=9Fe\r\n"
        b"--alt\r\n"
        b"Content-Type: text/html; charset=iso-8859-1\r\n"
        b"\r\n"
        b"<p>Gr\xfc\xdfe</p>\r\n"
        b"--alt--\r\n"
        b"epilogue\r\n"
    ),
)

NESTED = mail(
    *BASIC,
    "Content-Type: multipart/mixed; boundary=outer",
    body=(
        b"--outer\r\n"
        b'Content-Type: multipart/alternative; boundary="inner"\r\n'
        b"\r\n"
        b"--inner\r\n"
        b"Content-Type: text/plain\r\n"
        b"\r\n"
        b"Plain body\r\n"
        b"--inner\r\n"
        b"Content-Type: text/html\r\n"
        b"\r\n"
        b"<b>HTML body</b>\r\n"
        b"--inner--\r\n"
        b"--outer\r\n"
        b'Content-Type: application/pdf; name="quote.pdf"\r\n'
        b"Content-Disposition: attachment\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n"
        b"JVBERi0xLjcK\r\n"
        b"--outer\r\n"
        b"Content-Type: text/plain\r\n"
        b'Content-Disposition: attachment; filename="../../etc/passwd"\r\n'
        b"\r\n"
        b"not a path\r\n"
        b"--outer\r\n"
        b"Content-Type: image/png\r\n"
        b"Content-ID: <logo>\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n"
        b"iVBORw==\r\n"
        b"--outer--\r\n"
    ),
)


def test_multipart_alternative() -> None:
    """The first text/plain and text/html parts are the bodies, each in its charset."""
    m = Message.from_bytes(ALTERNATIVE)
    assert m.text == "Grüße"
    assert m.html == "<p>Grüße</p>"
    assert m.attachments == ()
    assert m.defects == ()


def test_nested_multipart_with_attachments() -> None:
    """Nested parts are walked in order; names are data, never paths; inline images count."""
    m = Message.from_bytes(NESTED)
    assert m.text == "Plain body"
    assert m.html == "<b>HTML body</b>"
    assert m.attachments == (
        Attachment("quote.pdf", "application/pdf", 9, b"%PDF-1.7\n"),
        Attachment("../../etc/passwd", "text/plain", 10, b"not a path"),
        Attachment("", "image/png", 4, b"\x89PNG"),
    )
    assert m.defects == ()


def attachment_with(*part_headers: str) -> Attachment:
    """The single attachment of a message whose one part has *part_headers*."""
    raw = mail(
        "From: a@x.com",
        "Content-Type: multipart/mixed; boundary=b",
        body=b"--b\r\n" + "\r\n".join(part_headers).encode() + b"\r\n\r\ndata\r\n--b--\r\n",
    )
    attachments = Message.from_bytes(raw).attachments
    assert attachments is not None
    (attachment,) = attachments
    return attachment


@pytest.mark.parametrize(
    ("headers", "filename"),
    [
        (("Content-Disposition: attachment; filename=report.pdf",), "report.pdf"),
        (('Content-Disposition: attachment; filename="a; b.pdf"',), "a; b.pdf"),
        (('Content-Disposition: attachment; filename="say \\"hi\\".txt"',), 'say "hi".txt'),
        (
            ("Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20Rechnung.pdf",),
            "€ Rechnung.pdf",
        ),
        (("Content-Disposition: attachment; filename*=iso-8859-1'de'Gr%FC%DFe.txt",), "Grüße.txt"),
        (
            (
                "Content-Disposition: attachment;",
                "  filename*0*=UTF-8''%C3%9Cbersicht%20;",
                '  filename*1="Q1 2024.xlsx"',
            ),
            "Übersicht Q1 2024.xlsx",
        ),
        (
            ('Content-Disposition: attachment; filename="=?UTF-8?B?UmVjaG51bmcucGRm?="',),
            "Rechnung.pdf",
        ),
        (('Content-Type: application/pdf; name="by-name.pdf"',), "by-name.pdf"),
        (("Content-Disposition: attachment; filename*=x-unknown''abc",), "abc"),
        (("Content-Disposition: attachment",), ""),
    ],
)
def test_attachment_filenames(headers: tuple[str, ...], filename: str) -> None:
    """Filenames in plain, quoted, RFC 2231 and RFC 2047 form are decoded."""
    assert attachment_with(*headers).filename == filename


@pytest.mark.parametrize(
    ("body_headers", "body", "text", "defects"),
    [
        (("Content-Type: text/plain; charset=iso-8859-1",), b"Gr\xfc\xdfe", "Grüße", ()),
        (("Content-Type: text/plain; charset=windows-1252",), b"\x93hi\x94", "“hi”", ()),
        (("Content-Type: text/plain; charset=us-ascii",), b"Gr\xc3\xbc\xc3\x9fe", "Grüße", ()),
        (
            ("Content-Type: text/plain; charset=x-martian",),
            b"Gr\xc3\xbc\xc3\x9fe",
            "Grüße",
            ("unknown_charset",),
        ),
        (("Content-Type: text/plain; charset=utf-8",), b"Gr\xfc\xdfe", "Grüße", ("bad_charset",)),
        (("Content-Type: text/plain; charset=base64",), b"abc", "abc", ("bad_charset",)),
        (("Content-Transfer-Encoding: base64",), b"SGVsbG8", "Hello", ("bad_base64",)),
        (("Content-Transfer-Encoding: BASE64",), b"SGVs\r\nbG8=\r\n", "Hello", ()),
        (("Content-Transfer-Encoding: quoted-printable",), b"a=3Db=\r\nc", "a=bc", ()),
        (("Content-Transfer-Encoding: x-uuencode",), b"raw", "raw", ()),
        (("Content-Type: multipart/mixed",), b"no boundary", "no boundary", ("no_boundary",)),
        (
            ("Content-Type: multipart/mixed; boundary=zz",),
            b"the boundary never comes",
            "the boundary never comes",
            ("start_boundary_not_found",),
        ),
        (("Content-Type: garbage",), b"text", "text", ()),
    ],
)
def test_bodies(
    body_headers: tuple[str, ...], body: bytes, text: str, defects: tuple[str, ...]
) -> None:
    """Charsets fall back to UTF-8 and Windows-1252; transfer encodings are undone tolerantly."""
    m = Message.from_bytes(mail("From: a@x.com", *body_headers, body=body))
    assert m.text == text
    assert m.defects == defects


def test_missing_close_boundary() -> None:
    """A multipart body without its closing boundary ends at the end of the message."""
    raw = mail(
        "From: a@x.com",
        "Content-Type: multipart/mixed; boundary=b",
        body=b"--b\r\nContent-Type: text/plain\r\n\r\nunfinished",
    )
    m = Message.from_bytes(raw)
    assert m.text == "unfinished"
    assert m.defects == ("close_boundary_not_found",)


def test_longer_boundary_is_not_this_one() -> None:
    """A line starting with the boundary but continuing is content, not a delimiter."""
    raw = mail(
        "From: a@x.com",
        "Content-Type: multipart/mixed; boundary=b",
        body=b"--b\r\n\r\nline one\r\n--bb not a boundary\r\n--b--\r\n",
    )
    assert Message.from_bytes(raw).text == "line one\n--bb not a boundary"


def test_forwarded_message_is_an_attachment() -> None:
    """An attached message/rfc822 is kept whole as an attachment, its body not mixed in."""
    raw = mail(
        "From: a@x.com",
        "Content-Type: multipart/mixed; boundary=b",
        body=(
            b"--b\r\n\r\nSee below.\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
            b"From: c@z.com\r\nSubject: Old\r\n\r\nold body\r\n--b--\r\n"
        ),
    )
    m = Message.from_bytes(raw)
    assert m.text == "See below."
    assert keys(m) == ["a@x.com"]
    assert m.attachments is not None
    (forwarded,) = m.attachments
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.content.endswith(b"old body")


@pytest.mark.parametrize(
    ("raw", "defects", "from_key"),
    [
        (b"From sender@x.com Fri Mar  1 09:30:00 2024\nFrom: a@x.com\n\nbody", (), "a@x.com"),
        (b"From: a@x.com\nthis line is body\n", ("missing_header_body_separator",), "a@x.com"),
        (b"  leading continuation\nFrom: a@x.com\n\n", ("bad_header_line",), "a@x.com"),
        (b"From: a@x.com", (), "a@x.com"),
        (b"", (), None),
        (b"\r\n\r\nonly a body", (), None),
        (b"X-\xff\xfe: odd name\nFrom: a@x.com\n\n", (), "a@x.com"),
    ],
)
def test_odd_header_blocks(raw: bytes, defects: tuple[str, ...], from_key: str | None) -> None:
    """mbox separators, missing blank lines, stray continuations and 8-bit field names."""
    m = Message.from_bytes(raw)
    assert m.defects == defects
    assert (m.sender.address.key if m.sender and m.sender.address else None) == from_key


def test_headers_keep_order_and_decoded_values() -> None:
    """Every header is kept as (name, decoded value), in order, repeated ones included."""
    m = Message.from_bytes(
        mail(
            "Received: from a by b",
            "Received: from c by d",
            "From: a@x.com",
            "Thread-Topic: =?utf-8?Q?Gr=C3=BC=C3=9Fe?=",
        )
    )
    assert m.headers == (
        ("Received", "from a by b"),
        ("Received", "from c by d"),
        ("From", "a@x.com"),
        ("Thread-Topic", "Grüße"),
    )


def test_raw_must_be_bytes() -> None:
    """Text is refused: a message is read from its bytes."""
    with pytest.raises(MessageError) as caught:
        Message.from_bytes("From: a@x.com\n\n")  # type: ignore[arg-type]
    assert str(caught.value) == "raw must be bytes, not str."
    read = Message.from_bytes(bytearray(b"From: a@x.com\n\n"))  # type: ignore[arg-type]
    assert read.sender is not None


# --- Limits and attack shapes ----------------------------------------------------------------

IDENTIFIED = (
    "From: Jane <jane@client.example>",
    "To: anna@acme.com",
    "Message-ID: <attack@client.example>",
)


def assert_identified(m: Message) -> None:
    """The participants and the Message-ID were read despite the attack."""
    assert keys(m) == ["jane@client.example", "anna@acme.com"]
    assert m.key == "attack@client.example"


def test_mime_bomb_of_many_parts() -> None:
    """Parts past ``max_parts`` are not read; the message is still recorded."""
    parts = b"".join(b"--b\r\nContent-Type: image/png\r\n\r\nx\r\n" for _ in range(20_000))
    raw = mail(*IDENTIFIED, "Content-Type: multipart/mixed; boundary=b", body=parts + b"--b--\r\n")
    m = Message.from_bytes(raw)
    assert m.defects == ("too_many_parts",)
    assert m.attachments is not None
    assert len(m.attachments) == Limits().max_parts - 1
    assert_identified(m)


def test_endless_nesting() -> None:
    """Nesting past ``max_depth`` is not followed (a thousand levels, no recursion error)."""
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (n, n)
        for n in range(1, 1000)
    )
    closing = b"".join(b"\r\n--b%d--" % n for n in reversed(range(1000)))
    raw = mail(
        *IDENTIFIED,
        "Content-Type: multipart/mixed; boundary=b0",
        body=b"--b0\r\n" + opening + b"Content-Type: text/plain\r\n\r\ndeep" + closing,
    )
    m = Message.from_bytes(raw)
    assert m.defects == ("too_deep",)
    assert m.text == ""
    assert_identified(m)
    shallow = Message.from_bytes(raw, limits=Limits(max_depth=2000, max_parts=2000))
    assert shallow.text == "deep"
    assert shallow.defects == ()


def test_huge_header() -> None:
    """A 200 KB header is cut to ``max_header_length``."""
    raw = mail(*IDENTIFIED, "Subject: " + "a" * 200_000)
    m = Message.from_bytes(raw)
    assert m.defects == ("header_too_long",)
    assert m.subject == "a" * Limits().max_header_length
    assert_identified(m)


def test_huge_folded_header() -> None:
    """A header folded over a hundred thousand lines is cut as well."""
    raw = mail(*IDENTIFIED, "Subject: a" + "\r\n a" * 100_000)
    m = Message.from_bytes(raw, limits=Limits(max_header_length=1000))
    assert m.defects == ("header_too_long",)
    assert len(m.subject or "") <= 1000
    assert_identified(m)


@pytest.mark.parametrize("where", ["body", "header", "everything"])
def test_megabytes_without_a_line_break(where: str) -> None:
    """Several megabytes on one line are read once; a header is cut, the body kept."""
    blob = b"x" * 4_000_000
    if where == "body":
        m = Message.from_bytes(mail(*IDENTIFIED, body=blob))
        assert m.defects == ()
        assert m.text == blob.decode()
        assert_identified(m)
    elif where == "header":
        m = Message.from_bytes(mail(*IDENTIFIED, b"X-Junk: " + blob))
        assert m.defects == ("header_too_long",)
        assert_identified(m)
    else:
        m = Message.from_bytes(blob)
        assert m.defects == ("missing_header_body_separator",)
        assert m.participants == ()


def test_too_large_keeps_the_headers() -> None:
    """A message over ``max_bytes`` keeps the participants and identifiers it starts with."""
    raw = mail(*IDENTIFIED, "Subject: Big", body=b"x" * 10_000)
    m = Message.from_bytes(raw, limits=Limits(max_bytes=1000))
    assert m.defects == ("too_large",)
    assert (m.subject, m.text, m.attachments) == ("Big", "", ())
    assert_identified(m)


def test_too_large_headers_are_read_as_far_as_they_go() -> None:
    """When even the headers pass ``max_bytes``, those before the cut are kept."""
    raw = mail(*IDENTIFIED, *(f"X-Filler-{n}: {'y' * 50}" for n in range(100)))
    m = Message.from_bytes(raw, limits=Limits(max_bytes=300))
    assert m.defects == ("too_large",)
    assert_identified(m)


def test_too_many_headers() -> None:
    """Headers past ``max_headers`` are not read; the body still is."""
    raw = mail(*IDENTIFIED, *(f"X-Filler: {n}" for n in range(100_000)), body=b"still here")
    m = Message.from_bytes(raw, limits=Limits(max_headers=10))
    assert m.defects == ("too_many_headers",)
    assert len(m.headers) == 10
    assert m.text == "still here"
    assert_identified(m)


def test_parameter_bomb() -> None:
    """A Content-Type of thousands of parameters costs no more than its first hundred."""
    params = "; ".join(f"p{n}=v" for n in range(5000))
    raw = mail(*IDENTIFIED, f"Content-Type: text/plain; {params}; charset=latin-1", body=b"\xe9")
    m = Message.from_bytes(raw)
    assert m.defects == ("header_too_long",)
    assert m.text == "é"
    assert_identified(m)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_bytes": 0}, "max_bytes must be a positive whole number, not 0."),
        ({"max_depth": -1}, "max_depth must be a positive whole number, not -1."),
        ({"max_parts": 1.5}, "max_parts must be a positive whole number, not 1.5."),
        ({"max_headers": "10"}, "max_headers must be a positive whole number, not '10'."),
        (
            {"max_header_length": True},
            "max_header_length must be a positive whole number, not True.",
        ),
    ],
)
def test_limits_are_checked(kwargs: dict[str, object], message: str) -> None:
    """A limit that is not a positive whole number is a caller mistake."""
    with pytest.raises(MessageError) as caught:
        Limits(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


# --- Never raises --------------------------------------------------------------------------

SAMPLES = [mail(*BASIC), ALTERNATIVE, NESTED]


def check_read(raw: bytes) -> Message:
    """Read *raw* and check the invariants every result holds."""
    m = Message.from_bytes(raw, limits=Limits(max_parts=50, max_depth=5, max_header_length=500))
    assert Defect.UNREADABLE not in m.defects
    assert all(isinstance(d, Defect) for d in m.defects)
    assert len(set(m.defects)) == len(m.defects)
    assert m.key
    assert m.sent_at is None or m.sent_at.tzinfo is not None
    assert isinstance(m.subject, str)
    assert isinstance(m.text, str)
    assert isinstance(m.html, str)
    return m


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_any_bytes_are_read(raw: bytes) -> None:
    """Arbitrary bytes never raise and never reach the last-resort fallback."""
    check_read(raw)


MIME_LINES = [
    b"From: a@x.com",
    b"To: =?utf-8?B?w6k=?= <b@y.com>, bad",
    b"Subject: =?iso-8859-1?q?caf=E9?=",
    b"Content-Type: multipart/mixed; boundary=b",
    b"Content-Type: multipart/alternative; boundary=b",
    b"Content-Type: text/plain; charset=utf-8",
    b"Content-Type: text/html; charset*=x''y",
    b"Content-Disposition: attachment; filename*0*=utf-8''%E2; filename*1*=%82%AC",
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable",
    b"Date: Fri, 01 Mar 2024 09:30:00 +0100",
    b"Message-ID: <m@x>",
    b"X-Gmail-Labels: Spam",
    b"--b",
    b"--b--",
    b"",
    b" continued",
    b"SGVsbG8=",
    b"=C3=A9=",
    b"\xff\xfe",
]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(MIME_LINES), max_size=40), st.sampled_from([b"\r\n", b"\n"]))
def test_mime_shaped_input_is_read(lines: list[bytes], eol: bytes) -> None:
    """Random arrangements of MIME lines (boundaries, encodings, parameters) never raise."""
    check_read(eol.join(lines))


@settings(max_examples=300)
@given(
    st.sampled_from(SAMPLES),
    st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 20), st.binary(max_size=12)), max_size=6
    ),
)
def test_mutated_real_messages_are_read(sample: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    """Real messages with bytes cut, replaced and inserted never raise."""
    raw = sample
    for at, cut, insert in edits:
        at %= len(raw) + 1
        raw = raw[:at] + insert + raw[at + cut :]
    check_read(raw)


@settings(max_examples=100)
@given(message=messages())
def test_a_stored_key_changes_the_key_alone(message: Message) -> None:
    """`with_stored_key` is `dataclasses.replace` of the key, field for field."""
    from mailbind.identity import stored_key, with_stored_key

    keyed = with_stored_key(message)
    assert keyed == dataclasses.replace(message, key=stored_key(message))
    assert with_stored_key(keyed) is keyed


def _reference_fingerprint(message: Message) -> str:
    """The fingerprint as first written: each value encoded and fed on its own."""
    import hashlib

    chunks = [b"mailbind-message-v1"]

    def feed(value: str | None) -> None:
        if value is None:
            chunks.append(b"-")
            return
        data = value.encode("utf-8", "surrogatepass")
        chunks.append(b"%d:" % len(data))
        chunks.append(data)

    def body(value: str | None) -> str | None:
        if not value:
            return value
        return value.replace("\r\n", "\n").replace("\r", "\n").rstrip()

    sent = message.sent_at
    feed(sent.astimezone(UTC).isoformat() if sent is not None else None)
    for p in message.participants:
        if p.role is Role.BCC:
            continue
        chunks.append(b"%d:%s" % (len(p.role.value), p.role.value.encode()))
        feed(p.address.key if p.address is not None else p.raw)
    feed(message.subject)
    feed(body(message.text))
    feed(body(message.html))
    return "sha256:" + hashlib.sha256(b"".join(chunks)).hexdigest()


@settings(max_examples=200)
@given(message=messages(texts=st.text(max_size=20)))
def test_the_fingerprint_hashes_what_it_was_first_written_to_hash(message: Message) -> None:
    """Written as one text and encoded once, it hashes the bytes of feeding each part alone."""
    from mailbind._fingerprint import fingerprint

    assert fingerprint(message) == _reference_fingerprint(message)
