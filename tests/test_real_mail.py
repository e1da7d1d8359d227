"""Real mail's addresses and bodies: every address read, Reply-To and Sender kept, one text.

Each test holds one promise of issue 13's "Addresses and names": what a broken header still
names is judged, a message built from values equals the one read from its bytes, and a body
reads alike whatever the source's line endings.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from mailbind import Message, Policy, Reason, Role, decide
from mailbind._kinds import Defect
from tests.factories import ANNA, mailbox
from tests.strategies import ascii_addresses, quote_display_name

POLICY = Policy(org_domains="acme.com", blocklist=["@spam.example", "evil@bad.example"])
MAILBOX = mailbox(ANNA)

_WORDS = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=8)
_NAMES = st.lists(_WORDS, min_size=1, max_size=3).map(" ".join)
_ENTRIES = ascii_addresses() | st.tuples(_NAMES, ascii_addresses()).map(
    lambda p: f"{quote_display_name(p[0])} <{p[1]}>"
)
_VALUES = st.lists(_ENTRIES, min_size=1, max_size=3).map(", ".join)
_LINES = st.lists(st.text(st.characters(codec="ascii", categories=("L", "N", "Zs")), max_size=20))


#: The order `Message.build` gives participants in, which rendered headers follow.
_ORDER = ("From", "To", "Cc", "Bcc", "Sender", "Reply-To")


def render(fields: dict[str, str], lines: list[str], ending: bytes) -> bytes:
    """RFC 5322 bytes of a message with these header *fields* and body *lines*."""
    order = {name: i for i, name in enumerate(_ORDER)}
    named = sorted(fields.items(), key=lambda item: order.get(item[0], len(order)))
    head = [f"{name}: {value}".encode() for name, value in named]
    body = [line.encode() for line in lines]
    return ending.join([*head, b"", *body, b""])


def fields_of(message: Message) -> dict[str, object]:
    """What `Message.build` takes to make *message* again, read from the message itself."""
    return {
        "sender": message.header("From") or "",
        "to": message.header("To") or (),
        "cc": message.header("Cc") or (),
        "sender_header": message.header("Sender") or (),
        "reply_to": message.header("Reply-To") or (),
        "subject": message.subject,
        "text": message.text,
        "message_id": message.message_id,
        "sent_at": message.sent_at,
        "headers": message.headers,
    }


_HEADERS = st.fixed_dictionaries(
    {"From": _VALUES, "To": _VALUES},
    optional={"Cc": _VALUES, "Sender": _ENTRIES, "Reply-To": _VALUES, "Subject": _NAMES},
)


@given(_HEADERS, _LINES, st.sampled_from([b"\n", b"\r\n"]))
def test_a_message_built_from_its_fields_equals_the_one_read(
    headers: dict[str, str], lines: list[str], ending: bytes
) -> None:
    """``Message.from_bytes(render(m)) == Message.build(**fields(m))``, Reply-To and Sender too."""
    headers = {**headers, "Message-ID": "<m1@x.example>", "Date": "Fri, 1 Mar 2024 09:30:00 +0000"}
    read = Message.from_bytes(render(headers, lines, ending))
    assert Message.build(**fields_of(read)) == read  # type: ignore[arg-type]
    roles = {p.role for p in read.participants}
    assert (Role.SENDER in roles) == ("Sender" in headers)
    assert (Role.REPLY_TO in roles) == ("Reply-To" in headers)


@given(_HEADERS, _LINES)
def test_a_body_reads_alike_with_lf_crlf_or_cr(headers: dict[str, str], lines: list[str]) -> None:
    """The same message as LF, CRLF (IMAP, .eml) or CR lines gives one text: LF line ends."""
    headers = {**headers, "Message-ID": "<m2@x.example>"}
    lf, crlf = (Message.from_bytes(render(headers, lines, e)) for e in (b"\n", b"\r\n"))
    assert lf == crlf
    assert "\r" not in (lf.text or "")
    cr = Message.from_bytes(render(headers, lines, b"\r"))
    assert cr.text == lf.text
    assert Defect.CR_LINE_ENDINGS in cr.defects or not lines


def test_build_writes_body_line_ends_as_lf() -> None:
    """Text and HTML given with CRLF or CR line ends are kept with LF, as bytes give them."""
    m = Message.build(sender="a@x.com", text="one\r\ntwo\rthree", html="<p>\r\n</p>")
    assert (m.text, m.html) == ("one\ntwo\nthree", "<p>\n</p>")


def test_a_blocked_reply_to_keeps_a_built_message_out() -> None:
    """Reply-To is a participant of a built message, given alone or among the headers."""
    for built in (
        Message.build(sender="kim@client.example", to=ANNA, reply_to="x@spam.example"),
        Message.build(sender="kim@client.example", to=ANNA, headers={"Reply-To": "x@spam.example"}),
        Message.build(sender="kim@client.example", to=ANNA, sender_header="evil@bad.example"),
    ):
        assert Reason.BLOCKLISTED in decide(built, MAILBOX, POLICY).reasons


def test_jsonl_records_keep_reply_to_and_sender() -> None:
    """A JSON-lines record's ``reply_to`` and ``sender_header`` are participants."""
    from mailbind.codecs import message_from_record

    m = message_from_record(
        {
            "sender": "kim@client.example",
            "to": ANNA,
            "reply_to": "x@spam.example",
            "sender_header": "Kim's Assistant <pa@client.example>",
        }
    )
    assert [(p.role, str(p.address)) for p in m.participants] == [
        (Role.FROM, "kim@client.example"),
        (Role.TO, ANNA),
        (Role.SENDER, "pa@client.example"),
        (Role.REPLY_TO, "x@spam.example"),
    ]
    assert not decide(m, MAILBOX, POLICY).synced


# --- A blocked sender never passes through a header that cannot be read ---------------------

BLOCKED_FROMS = [
    "Jane <jane@client.example> evil@bad.example",
    "Jane <jane@client.example> <evil@bad.example>",
    "=?utf-8?q?evil=40bad.example?=",
    "=?UTF-8?B?RXZpbCA8ZXZpbEBiYWQuZXhhbXBsZT4=?=",
    "evil@bad.example jane@client.example",
    "Evil <evil@spam.example",
    "Evil <<evil@mail.spam.example>>",
]


def test_a_blocked_sender_does_not_pass_by_an_unreadable_from() -> None:
    """Every address a broken From still names is held against the blocklist."""
    for value in BLOCKED_FROMS:
        m = Message.from_bytes(render({"From": value, "To": ANNA}, ["hi"], b"\r\n"))
        decision = decide(m, MAILBOX, POLICY)
        assert not decision.synced, value
        assert Reason.BLOCKLISTED in decision.reasons, value


def test_the_owner_is_never_blocked_by_a_recovered_address() -> None:
    """An owner's address recovered from a broken entry is still never blocked."""
    policy = Policy(org_domains="acme.com", blocklist=["@acme.com"])
    m = Message.build(sender="kim@client.example", to=f"Anna <{ANNA}> <{ANNA}>")
    assert Reason.BLOCKLISTED not in decide(m, MAILBOX, policy).reasons


def test_a_from_with_no_address_is_a_defect() -> None:
    """``From: Jane Doe`` names nobody: the message records ``from_without_address``."""
    m = Message.from_bytes(render({"From": "Jane Doe", "To": ANNA}, ["hi"], b"\r\n"))
    assert Defect.FROM_WITHOUT_ADDRESS in m.defects
    ok = Message.from_bytes(render({"From": "jane@x.com", "To": ANNA}, ["hi"], b"\r\n"))
    assert Defect.FROM_WITHOUT_ADDRESS not in ok.defects


def test_sent_at_is_kept_by_the_round_trip() -> None:
    """The fixed Date of the round trip reads as the moment it names."""
    headers = {"From": "a@x.com", "Date": "Fri, 1 Mar 2024 09:30:00 +0000"}
    assert Message.from_bytes(render(headers, [], b"\n")).sent_at == datetime(
        2024, 3, 1, 9, 30, tzinfo=UTC
    )


def test_an_alias_outside_the_organisation_is_the_owner() -> None:
    """Anna's alias on a personal domain is Anna: mail between her and a colleague is internal."""
    box = mailbox(ANNA, aliases=["anna@anna-home.example"])
    colleague = "bo@acme.com"
    to_alias = Message.build(sender=colleague, to="anna@anna-home.example")
    assert decide(to_alias, box, POLICY).reasons == (Reason.INTERNAL,)
    from_alias = Message.build(sender="anna@anna-home.example", to=colleague)
    assert Reason.INTERNAL in decide(from_alias, box, POLICY).reasons
    # Someone else on that domain is still outside.
    other = Message.build(sender=colleague, to="tom@anna-home.example")
    assert decide(other, box, POLICY).synced


def test_an_owner_outside_the_organisation_gains_no_colleagues() -> None:
    """When the owner is not a colleague, the owner's own addresses make no mail internal."""
    box = mailbox("anna@elsewhere.example")
    m = Message.build(sender="anna@elsewhere.example", to="bo@acme.com")
    assert Reason.EXTERNAL in decide(m, box, POLICY).reasons
