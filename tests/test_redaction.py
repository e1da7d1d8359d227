"""Tests for mailbind.redaction: what a reader below EVERYTHING may see of a message."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind import Message, MessageError, SharingLevel, redact
from mailbind.redaction import METADATA_HEADERS, SUBJECT_HEADERS
from tests.strategies import EXTRA_HEADER_NAMES, messages

LEVELS = list(SharingLevel)

FULL = Message.build(
    sender="Jane <jane@client.example>",
    to="anna@acme.com",
    cc="kim@x.example",
    subject="Offer for Q3",
    text="The price is 42.",
    html="<p>The price is 42.</p>",
    attachments=[("offer.pdf", b"%PDF-1.7")],
    message_id="<m1@client.example>",
    sent_at=datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
    headers=[
        ("From", "Jane <jane@client.example>"),
        ("Subject", "Offer for Q3"),
        ("Thread-Topic", "Offer for Q3"),
        ("Message-ID", "<m1@client.example>"),
        ("In-Reply-To", "<m0@acme.com>"),
        ("X-Mailer", "Mail 16.0"),
        ("DATE", "Fri, 01 Mar 2024 09:30:00 +0000"),
    ],
    flags=["sent"],
)


def test_metadata_keeps_only_metadata() -> None:
    """At METADATA the subject, bodies, attachments and other headers are withheld."""
    m = redact(FULL, SharingLevel.METADATA)
    assert (m.subject, m.text, m.html, m.attachments) == (None, None, None, None)
    assert m.headers == (
        ("From", "Jane <jane@client.example>"),
        ("Message-ID", "<m1@client.example>"),
        ("In-Reply-To", "<m0@acme.com>"),
        ("DATE", "Fri, 01 Mar 2024 09:30:00 +0000"),
    )
    assert m.level is SharingLevel.METADATA
    assert m.withheld == frozenset({"subject", "text", "html", "attachments"})
    kept = ("participants", "sent_at", "message_id", "key", "flags", "defects")
    assert [getattr(m, name) for name in kept] == [getattr(FULL, name) for name in kept]


def test_subject_keeps_the_subject() -> None:
    """At SUBJECT the subject and its header stay; Thread-Topic and the rest go."""
    m = redact(FULL, SharingLevel.SUBJECT)
    assert m.subject == "Offer for Q3"
    assert (m.text, m.html, m.attachments) == (None, None, None)
    assert [name for name, _ in m.headers] == [
        "From",
        "Subject",
        "Message-ID",
        "In-Reply-To",
        "DATE",
    ]
    assert m.withheld == frozenset({"text", "html", "attachments"})


def test_blank_and_withheld_differ() -> None:
    """A blank subject stays ``""`` at SUBJECT; a withheld one is None."""
    blank = Message.build(sender="a@x.com", subject="")
    assert redact(blank, SharingLevel.SUBJECT).subject == ""
    assert redact(blank, SharingLevel.METADATA).subject is None


@pytest.mark.parametrize("level", LEVELS)
def test_nothing_to_remove_returns_the_same_object(level: SharingLevel) -> None:
    """Redacting to the message's own level or above returns the message itself."""
    assert redact(FULL, SharingLevel.EVERYTHING) is FULL
    lowered = redact(FULL, level)
    assert redact(lowered, level) is lowered
    assert redact(lowered, SharingLevel.EVERYTHING) is lowered


def test_level_as_text() -> None:
    """A level may be given by its stored name."""
    assert redact(FULL, "metadata") == redact(FULL, SharingLevel.METADATA)


def test_unknown_level() -> None:
    """A level that does not exist is a caller mistake, named in the message."""
    with pytest.raises(MessageError) as caught:
        redact(FULL, "public")
    assert str(caught.value) == "level must be one of metadata, subject, everything, not 'public'."


def test_header_sets() -> None:
    """The subject set is the metadata set and ``subject``, all lower-case."""
    assert METADATA_HEADERS | {"subject"} == SUBJECT_HEADERS
    assert all(name == name.lower() for name in SUBJECT_HEADERS)
    assert "thread-topic" not in SUBJECT_HEADERS


# --- Properties ----------------------------------------------------------------------------


def shown(message: Message) -> set[tuple[object, ...]]:
    """Everything a reader can see in *message*, as a set of facts."""
    facts: set[tuple[object, ...]] = {("header", name, value) for name, value in message.headers}
    for f in dataclasses.fields(message):
        value = getattr(message, f.name)
        if f.name not in ("headers", "level") and value is not None:
            facts.add((f.name, value))
    return facts


@settings(max_examples=60)
@given(messages(), st.sampled_from(LEVELS))
def test_idempotent(message: Message, level: SharingLevel) -> None:
    """Redacting twice to one level is redacting once."""
    once = redact(message, level)
    assert redact(once, level) == once


@settings(max_examples=60)
@given(messages(), st.sampled_from(LEVELS), st.sampled_from(LEVELS))
def test_composition(message: Message, a: SharingLevel, b: SharingLevel) -> None:
    """``redact(redact(m, a), b) == redact(m, min(a, b))``."""
    assert redact(redact(message, a), b) == redact(message, min(a, b))


@settings(max_examples=60)
@given(messages(), st.sampled_from(LEVELS), st.sampled_from(LEVELS))
def test_monotone(message: Message, a: SharingLevel, b: SharingLevel) -> None:
    """What a lower level shows, a higher level shows too."""
    low, high = min(a, b), max(a, b)
    assert shown(redact(message, low)) <= shown(redact(message, high))


@settings(max_examples=60)
@given(messages(), st.sampled_from(LEVELS))
def test_withheld_is_none_and_the_rest_untouched(message: Message, level: SharingLevel) -> None:
    """Withheld fields are None, never emptied; kept fields equal the original's."""
    result = redact(message, level)
    assert result.level == min(level, message.level)
    for name in ("subject", "text", "html", "attachments"):
        if name in result.withheld:
            assert getattr(result, name) is None
        else:
            assert getattr(result, name) == getattr(message, name)
    for name in ("participants", "sent_at", "message_id", "key", "flags", "defects"):
        assert getattr(result, name) == getattr(message, name)
    allowed = {SharingLevel.METADATA: METADATA_HEADERS, SharingLevel.SUBJECT: SUBJECT_HEADERS}
    if level in allowed:
        assert all(name.lower() in allowed[level] for name, _ in result.headers)
        assert [h for h in message.headers if h[0].lower() in allowed[level]] == list(
            result.headers
        )


def texts_in(value: object) -> Iterator[str]:
    """Every string held anywhere in *value* (records, tuples, sets, bytes as Latin-1)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("latin-1")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from texts_in(getattr(value, f.name))
    elif isinstance(value, tuple | list | frozenset | set):
        for item in value:
            yield from texts_in(item)


#: Extra headers that no level below EVERYTHING shows.
WITHHELD_HEADER_NAMES = [n for n in EXTRA_HEADER_NAMES if n.lower() not in SUBJECT_HEADERS]

#: Unique tokens: none of them can occur in an address of the message strategy.
tokens = st.integers(min_value=0, max_value=2**40).map(lambda n: f"QZ{n:011x}ZQ")


@settings(max_examples=100)
@given(
    messages(),
    st.sampled_from([SharingLevel.METADATA, SharingLevel.SUBJECT]),
    st.lists(tokens, min_size=8, max_size=8, unique=True),
    st.lists(st.sampled_from(WITHHELD_HEADER_NAMES), min_size=1),
)
def test_nothing_removed_survives(
    base: Message, level: SharingLevel, words: list[str], extra_names: list[str]
) -> None:
    """No text of a removed field appears anywhere in the result, headers and names included."""
    subject, text, html, filename, content, topic, header_value, name_token = words
    message = Message.build(
        sender="a@x.com",
        subject=f"Re: {subject}",
        text=f"body {text}",
        html=f"<p>{html}</p>",
        attachments=[(f"{filename}.pdf", content.encode())],
        headers=[
            ("Subject", f"Re: {subject}"),
            ("Thread-Topic", topic),
            *((name, header_value) for name in extra_names),
            (f"X-{name_token}", "v"),
            *base.headers,
        ],
    )
    result = redact(message, level)
    removed = [text, html, filename, content, topic, header_value, name_token]
    if level is SharingLevel.METADATA:
        removed.append(subject)
    everything = [repr(result), *texts_in(result)]
    for token in removed:
        assert not any(token in found for found in everything)
    if level is SharingLevel.SUBJECT:
        assert result.subject == f"Re: {subject}"
