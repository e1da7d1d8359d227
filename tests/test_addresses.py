"""Tests for reading addresses and address headers (RULES 1, 9.3, 9.4)."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from email_validator import EmailNotValidError
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind import (
    Address,
    Canonicalization,
    InvalidAddressError,
    Participant,
    Role,
    addresses,
    parse_address,
    parse_participants,
)
from mailbind.addresses import decode_words, recover_addresses
from mailbind.domains import validate

from .strategies import (
    ascii_addresses,
    display_names,
    header_values,
    hostile_texts,
    mailboxes_text,
    quote_display_name,
    unicode_addresses,
    valid_addresses,
)

# The reason given for an entry only when reading it failed in an unforeseen way.
UNFORESEEN = "The entry could not be read."


def keys(header: str) -> list[str | None]:
    """The identity keys of a header's entries, None for an unreadable one."""
    return [p.address.key if p.address else None for p in parse_participants(header, Role.TO)]


def only(header: str) -> Participant:
    """The one participant *header* holds."""
    (participant,) = parse_participants(header, Role.TO)
    return participant


# --- One address -----------------------------------------------------------------------------


def test_an_address_has_its_forms() -> None:
    """Every field of an address is filled in by the parser."""
    address = parse_address("Jane Doe <Jane.Doe@Shop.Bücher.DE.>")
    assert address == Address(
        key="jane.doe@shop.xn--bcher-kva.de",
        local="Jane.Doe",
        domain="shop.bücher.de",
        ascii_domain="shop.xn--bcher-kva.de",
        registrable="xn--bcher-kva.de",
        strict=True,
    )
    assert address.local == "Jane.Doe"
    assert address.domain == "shop.bücher.de"
    assert address.registrable == "xn--bcher-kva.de"
    assert address.strict
    assert str(address) == "Jane.Doe@shop.bücher.de"


@pytest.mark.parametrize(
    "spelling",
    [
        "jane.doe@example.com",
        "Jane.Doe@EXAMPLE.com.",
        "JANE.DOE@example.COM",
        "<jane.doe@example.com>",
        "Jane <jane.doe@example.com>",
        "jane . doe @ example . com",
        '"jane.doe"@example.com',
        "jane.doe@example.com (Jane)",
        "<@relay.example:jane.doe@example.com>",
    ],
)
def test_spellings_of_one_address_are_equal(spelling: str) -> None:
    """Case, a trailing dot, quotes, names, comments and obsolete syntax do not change identity."""
    address = parse_address(spelling)
    assert address == parse_address("jane.doe@example.com")
    assert hash(address) == hash(parse_address("jane.doe@example.com"))
    assert address.key == "jane.doe@example.com"


@pytest.mark.parametrize(
    ("text", "key", "shown"),
    [
        ("jöhn@bücher.de", "jöhn@xn--bcher-kva.de", "jöhn@bücher.de"),
        ("JÖHN@XN--BCHER-KVA.DE", "jöhn@xn--bcher-kva.de", "JÖHN@bücher.de"),
        ("用户@例子.广告", "用户@xn--fsqu00a.xn--4rr70v", "用户@例子.广告"),
        ("Straße@example.com", "strasse@example.com", "Straße@example.com"),
        ('"john doe"@example.com', '"john doe"@example.com', '"john doe"@example.com'),
        ("Postmaster@Example.com", "postmaster@example.com", "Postmaster@example.com"),
        ("root@localhost", "root@localhost", "root@localhost"),
        ("jane@acme.local", "jane@acme.local", "jane@acme.local"),
        ("jane@mail.acme.test", "jane@mail.acme.test", "jane@mail.acme.test"),
        ("jane@[192.0.2.1]", "jane@[192.0.2.1]", "jane@[192.0.2.1]"),
        ("jane@[IPv6:2001:db8::1]", "jane@[IPv6:2001:db8::1]", "jane@[IPv6:2001:db8::1]"),
    ],
)
def test_internationalised_and_unusual_addresses_are_valid(text: str, key: str, shown: str) -> None:
    """SMTPUTF8 local parts, IDN domains, quoted local parts and special-use names are valid."""
    address = parse_address(text)
    assert address.strict
    assert address.key == key
    assert str(address) == shown


@pytest.mark.parametrize(
    ("text", "registrable"),
    [
        ("jane@eu.acme.co.uk", "acme.co.uk"),
        ("jane@a.github.io", "a.github.io"),
        ("root@localhost", None),
        ("jane@[192.0.2.1]", None),
        ("jane@b.example.example", "example.example"),
    ],
)
def test_the_registrable_domain_is_read_with_the_address(
    text: str, registrable: str | None
) -> None:
    """An address carries its organisation; IP literals and single labels have none."""
    assert parse_address(text).registrable == registrable


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("j..kean@corp.com", "j..kean@corp.com"),
        (".taylor@corp.com", ".taylor@corp.com"),
        ("taylor.@corp.com", "taylor.@corp.com"),
        ("J..Kean@Corp.COM.", "j..kean@corp.com"),
        ('jane"doe"@corp.com', 'jane"doe"@corp.com'),
        ("ja[ne]@corp.com", "ja[ne]@corp.com"),
        ("jäne..doe@corp.com", "jäne..doe@corp.com"),
        ("j..kean@[192.0.2.1]", "j..kean@[192.0.2.1]"),
    ],
)
def test_lenient_mode_accepts_real_participants(text: str, key: str) -> None:
    """Addresses that fail strict syntax but have one @, a clean local part and a valid domain."""
    address = parse_address(text)
    assert not address.strict
    assert address.key == key


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "jane doe@corp.com",
            "The email address contains invalid characters before the @-sign: SPACE.",
        ),
        (
            "jane\tdoe@corp.com",
            "The email address contains invalid characters before the @-sign: U+0009.",
        ),
        (
            "ja\x00ne@corp.com",
            "The email address contains invalid characters before the @-sign: U+0000.",
        ),
        (
            "ja\x1bne@corp.com",
            "The email address contains invalid characters before the @-sign: U+001B.",
        ),
        (
            "ja\u202ene@corp.com",
            "The email address contains unsafe characters: RIGHT-TO-LEFT OVERRIDE.",
        ),
        ("ja\ud800ne@corp.com", "The email address contains unsafe characters: U+D800."),
        ("ja\u200bne@corp.com", "The email address contains unsafe characters: ZERO WIDTH SPACE."),
        (
            "<ja,ne@corp.com>",
            "The email address contains invalid characters before the @-sign: ','.",
        ),
        ("a@b@corp.com", "An email address cannot have more than one @-sign outside quotes."),
        ('ja"ne@corp.com', "The quotes before the @-sign are not balanced."),
        ("@corp.com", "There must be something before the @-sign."),
        ("jane@", "There must be something after the @-sign."),
        ("jane", "An email address must have an @-sign."),
        ("jane@corp", None),
        ("jane@corp..com", "An email address cannot have two periods in a row."),
        ("jane@.corp.com", "An email address cannot have a period immediately after the @-sign."),
        (
            "jane@192.0.2.1",
            "The part after the @-sign is an IP address, which must be in brackets.",
        ),
        (
            "jane@[192.0.2.999]",
            "The address in brackets after the @-sign is not valid: It is not an IPv4 address "
            "(Octet 999 (> 255) not permitted in '192.0.2.999') or is missing an address "
            "literal tag.",
        ),
        ("j..kean@corp..com", "An email address cannot have two periods in a row."),
    ],
)
def test_rejected_addresses_say_why(text: str, problem: str | None) -> None:
    """Whitespace, controls, specials, two @-signs and bad domains make an address invalid."""
    participant = only(text)
    if problem is None:  # a single-label host is valid (it has no registrable domain)
        assert participant.readable
        return
    assert participant.address is None
    assert participant.problem == problem
    # A lone surrogate is no text a store can hold: the raw text keeps U+FFFD in its place.
    assert participant.raw == text.replace("\ud800", "\ufffd")


@pytest.mark.parametrize(
    "text",
    [
        "jane\r@corp.com",
        "ja\nne@corp.com",
        "jane@corp.com\x00",
        "jane@co\rrp.com",
        "jane\x7f@corp.com",
        "ja<ne@corp.com",
        "ja>ne@corp.com",
        "jane\u2028@corp.com",
    ],
)
def test_control_characters_and_brackets_are_never_accepted(text: str) -> None:
    """CR, LF, NUL and other controls, and stray angle brackets, make an entry unreadable."""
    assert all(p.address is None for p in parse_participants(text, Role.TO))
    with pytest.raises(InvalidAddressError):
        parse_address(text)


def test_parse_address_messages_show_the_value() -> None:
    """Each way of giving a bad address gets a one-sentence message showing it."""
    cases = {
        "jane doe@corp.com": (
            "'jane doe@corp.com' is not an email address: the email address contains invalid "
            "characters before the @-sign: SPACE."
        ),
        "undisclosed-recipients:;": "'undisclosed-recipients:;' holds no address.",
        "": "'' holds no address.",
        "a@x.com, b@y.com": "Expected one address, found 2 entries, the first being 'a@x.com'.",
        "Jane <a@x.com> <b@x.com>": (
            "'Jane <a@x.com> <b@x.com>' is not an email address: the entry holds more than one "
            "address in angle brackets."
        ),
    }
    for text, message in cases.items():
        with pytest.raises(InvalidAddressError) as caught:
            parse_address(text)
        assert str(caught.value) == message
        assert isinstance(caught.value, ValueError)


def test_parse_address_shortens_long_values_and_refuses_non_text() -> None:
    """A long bad value is cut in the message; a value that is not text is refused."""
    with pytest.raises(InvalidAddressError) as caught:
        parse_address("x" * 500)
    assert str(caught.value) == (
        f"{'x' * 100!r}… is not an email address: an email address must have an @-sign."
    )
    with pytest.raises(InvalidAddressError, match=r"^None is not an email address: it is not"):
        parse_address(None)  # type: ignore[arg-type]


# --- Identity properties ---------------------------------------------------------------------


@given(valid_addresses())
def test_valid_addresses_parse_strictly_and_round_trip(text: str) -> None:
    """A valid address is strict, and its display form and its key read back as itself."""
    address = parse_address(text)
    assert address.strict
    assert parse_address(str(address)) == address
    assert parse_address(address.key) == address
    assert parse_address(address.key).key == address.key


@given(ascii_addresses())
def test_case_and_a_trailing_dot_do_not_change_identity(text: str) -> None:
    """Upper case anywhere and a trailing dot on the domain give the same key."""
    address = parse_address(text)
    assert parse_address(text.upper()) == address
    assert parse_address(text.swapcase() + ".") == address
    assert address.key == address.key.lower()


@given(unicode_addresses())
def test_unicode_and_punycode_domains_are_one_identity(text: str) -> None:
    """An IDN domain in Unicode or punycode gives the same key; the display stays Unicode."""
    address = parse_address(text)
    punycode = parse_address(f"{address.local}@{address.ascii_domain}")
    assert punycode == address
    assert punycode.domain == address.domain
    assert address.ascii_domain.isascii()


@given(unicode_addresses())
def test_nfc_and_nfd_spellings_are_one_identity(text: str) -> None:
    """Composed and decomposed Unicode spell one address."""
    nfc = parse_address(unicodedata.normalize("NFC", text))
    nfd = parse_address(unicodedata.normalize("NFD", text))
    assert nfc == nfd
    assert nfc.key == unicodedata.normalize("NFC", nfc.key)
    assert nfd.local == unicodedata.normalize("NFC", nfd.local)


#: Characters that decide how email-validator reads a local part: ASCII atext and specials,
#: letters that NFC composes or decomposes, combining marks (first or not), the Kelvin sign
#: (NFC makes it ASCII), joiners, separators, controls and a surrogate.
LOCAL_PART_CHARACTERS = st.sampled_from(
    [
        *"aZ09.!#$%&'*+-/=?^_`{|}~\"@<>\\ ,;:()[]",
        *("ü", "é", "ß", "ж", "δ", "中", "😀", "e\u0301", "\u0301", "\u0338", "\u212a"),
        *("\u200d", "\u00a0", "\u2028", "\x00", "\ud800", "\ufb01", "\u0345", "\u00ad"),
        *("\U000e0001", "\u0378"),
    ]
)


def _validated_local(local: str) -> tuple[str, str] | str:
    """`_strict_local` as email-validator alone answers it, without the fast paths."""
    try:
        checked = validate(f"{local}@a")
    except (EmailNotValidError, ValueError) as err:
        return str(err)
    written = checked.local_part if local.startswith('"') else local
    return written, checked.local_part


@settings(max_examples=500)
@given(
    st.lists(LOCAL_PART_CHARACTERS, min_size=1, max_size=20).map("".join)
    | st.lists(st.sampled_from(["ü", "ж", "a", ".", "😀"]), min_size=60, max_size=130).map("".join)
    | st.text(st.characters(exclude_categories=()), min_size=1, max_size=30)
)
def test_the_internationalised_fast_path_agrees_with_email_validator(local: str) -> None:
    """A non-ASCII local part read without email-validator reads as email-validator reads it."""
    fast = addresses._intl_dot_atom(local)
    if fast is not None:
        assert _validated_local(local) == (local, fast)
    assert addresses._strict_local(local, "a") == _validated_local(local)


@pytest.mark.parametrize(
    ("local", "key_local"),
    [
        ("jürgen.müller", "jürgen.müller"),
        ("ju\u0308rgen", "jürgen"),  # decomposed: the key is composed
        ("пользователь", "пользователь"),
        ("δοκιμή", "δοκιμή"),
        ("用户", "用户"),
    ],
)
def test_internationalised_local_parts_read_without_email_validator(
    local: str, key_local: str
) -> None:
    """Common internationalised local parts take the fast path, with their NFC form as key."""
    assert addresses._intl_dot_atom(local) == key_local


@pytest.mark.parametrize(
    "local",
    [
        "\u0301abc",  # a combining mark first
        "ab\u200dc",  # a format character
        "\u212a",  # NFC makes it ASCII
        "jürgen..müller",  # not a dot-atom (lenient mode reads it)
        "ü" * 127,  # too long in UTF-8
    ],
)
def test_doubtful_local_parts_are_left_to_email_validator(local: str) -> None:
    """Local parts the fast path cannot vouch for are checked by email-validator itself."""
    assert addresses._intl_dot_atom(local) is None


#: Pieces of header values near the simple forms `_read_simple` takes: names plain and quoted,
#: angle brackets, spaces, encoded words, and everything that sends a value to `_scan`.
SIMPLE_FORM_PIECES = st.sampled_from(
    [
        *("Jane", " ", "\t", "Doe", '"Doe, Jane"', '"a\\"b"', "<", ">", "@", "jane", "x.com"),
        *("=?utf-8?q?J=C3=BCrgen?=", "(c)", ",", ";", ":", "\r\n ", "\\", "[1.2.3.4]", "ü"),
        *("\u2028", "\x00", '"', "..", "<@relay:", "Team:", "\ud800", "j..kean"),
    ]
)


@settings(max_examples=500)
@given(
    mailboxes_text()
    | header_values()
    | hostile_texts()
    | st.lists(SIMPLE_FORM_PIECES, max_size=8).map("".join)
)
def test_the_simple_reading_agrees_with_the_general_one(header: str) -> None:
    """A one-entry value read by `_read_simple` reads as `_scan` and `_read_entry` read it."""
    simple = addresses._read_simple(header, Role.CC)
    if simple is not None:
        assert simple == addresses._read_scanned(header, Role.CC)
    assert addresses._read_header(header, Role.CC) == addresses._read_scanned(header, Role.CC)


@pytest.mark.parametrize(
    "header",
    [
        "jane@x.com",
        "  Jane Doe <jane@x.com>  ",
        '"Doe, Jane" <jane@x.com>',
        'Jane "JJ" Doe <jane@x.com>',
        "=?utf-8?q?J=C3=BCrgen?= <j@x.com>",
        "<jane@x.com>",
    ],
)
def test_common_entries_take_the_simple_reading(header: str) -> None:
    """The common forms of one entry are read without the general scan."""
    assert addresses._read_simple(header, Role.TO) == parse_participants(header, Role.TO)


@given(ascii_addresses(), st.sampled_from(["..", "."]))
def test_lenient_addresses_keep_their_dots(text: str, dots: str) -> None:
    """A local part with stray dots is accepted leniently, and the dots stay in the key."""
    local, _, domain = text.rpartition("@")
    address = parse_address(f"{dots}{local}@{domain}")
    assert not address.strict
    assert address.key == f"{dots}{local.lower()}@{domain}"


# --- Headers ---------------------------------------------------------------------------------


@settings(max_examples=300)
@given(st.text(st.characters(exclude_categories=()), max_size=80) | hostile_texts())
def test_parse_participants_never_raises(header: str) -> None:
    """Any text at all, surrogates and controls included, reads as participants."""
    participants = parse_participants(header, Role.CC)
    assert isinstance(participants, tuple)
    for participant in participants:
        assert participant.role is Role.CC
        assert participant.raw.strip(" \t\r\n")
        assert (participant.address is None) == (participant.problem is not None)
        assert participant.problem != UNFORESEEN
        assert "\ud800" not in participant.name


@settings(max_examples=50)
@given(st.lists(mailboxes_text(), min_size=1, max_size=6))
def test_nothing_is_dropped_and_order_is_kept(entries: list[str]) -> None:
    """A comma-joined list of valid entries gives every address back, in order."""
    participants = parse_participants(",\r\n ".join(entries), Role.TO)
    assert [p.address for p in participants] == [parse_address(e) for e in entries]
    assert [p.raw for p in participants] == entries


@settings(max_examples=50)
@given(
    st.lists(
        st.sampled_from(["not an address", "jane doe@x.com", "<>", "@", "x"]) | mailboxes_text(),
        max_size=6,
    )
)
def test_unreadable_entries_keep_their_text(entries: list[str]) -> None:
    """Unreadable entries stay in place, with their raw text and a reason."""
    participants = parse_participants(", ".join(entries), Role.TO)
    assert [p.raw for p in participants] == entries
    for participant in participants:
        assert participant.readable or participant.problem


@settings(max_examples=50)
@given(header_values())
def test_headers_are_read_the_same_way_twice(header: str) -> None:
    """Reading is deterministic, and a header's result is remembered and reused."""
    first = parse_participants(header, Role.TO)
    assert parse_participants(header, Role.TO) is first or len(header) > 1024
    assert parse_participants(header, Role.FROM) == tuple(
        Participant(Role.FROM, p.address, p.name, p.raw, p.problem, p.group) for p in first
    )


@given(display_names(), valid_addresses())
def test_quoted_display_names_come_back_decoded(name: str, address: str) -> None:
    """A quoted display name holding commas, quotes or @ is the entry's name, not its address."""
    participant = only(f"{quote_display_name(name)} <{address}>")
    assert participant.name == name
    assert participant.address == parse_address(address)


@pytest.mark.parametrize(
    ("header", "name", "key"),
    [
        ('"Doe, Jane" <jane@x.com>', "Doe, Jane", "jane@x.com"),
        ('"support@acme.com" <evil@x.io>', "support@acme.com", "evil@x.io"),
        ("support@acme.com <evil@x.io>", "support@acme.com", "evil@x.io"),
        ("jane@x.com (Jane Doe)", "Jane Doe", "jane@x.com"),
        ("<jane@x.com> (Jane (the) Doe)", "Jane (the) Doe", "jane@x.com"),
        ("Jane (Sales) <jane@x.com>", "Jane", "jane@x.com"),
        ('"Jane" (Sales) <jane@x.com> (Support team)', "Jane", "jane@x.com"),
        ("(Jane) jane@x.com", "Jane", "jane@x.com"),
        ("jane@x.com (Support team)", "Support team", "jane@x.com"),
        ("Jane <jane@x.com> (Support team)", "Jane", "jane@x.com"),
        ("Jane <jane(work)@x.com>", "Jane", "jane@x.com"),
        ('"Jane \\"JD\\" Doe" <jane@x.com>', 'Jane "JD" Doe', "jane@x.com"),
        ("Jane\r\n Doe <jane@x.com>", "Jane Doe", "jane@x.com"),
        ('"Jane\u202e\x00Doe" <jane@x.com>', "Jane Doe", "jane@x.com"),
        ("Jäne Döe <jane@x.com>", "Jäne Döe", "jane@x.com"),
    ],
)
def test_display_names_are_read_but_never_trusted(header: str, name: str, key: str) -> None:
    """The name is cleaned for display; the address comes only from the address itself."""
    participant = only(header)
    assert participant.name == name
    assert participant.address is not None
    assert participant.address.key == key


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("=?utf-8?q?Doe=2C_J=C3=A4ne?= <jane@x.com>", "Doe, Jäne"),
        ("=?UTF-8?B?SsOkbmUgRG9l?= <jane@x.com>", "Jäne Doe"),
        ("=?iso-8859-1?q?J=E4ne?= Doe <jane@x.com>", "Jäne Doe"),
        ("=?utf-8?q?J=C3=A4ne?= =?utf-8?q?_Doe?= <jane@x.com>", "Jäne Doe"),
        ("=?utf-8?b?SsO=?= =?utf-8?b?pG5l?= <jane@x.com>", "Jäne"),
        ("=?utf-8*de?q?J=C3=A4ne?= <jane@x.com>", "Jäne"),
        ('"=?utf-8?q?J=C3=A4ne?=" <jane@x.com>', "Jäne"),
        ("=?x-unknown?q?J=C3=A4ne?= <jane@x.com>", "Jäne"),
        ("=?utf-8?b?!!!?= <jane@x.com>", "=?utf-8?b?!!!?="),
        ("=?utf-8?q?Jane=0D=0ABcc=3A_evil=40x.io?= <jane@x.com>", "Jane Bcc: evil@x.io"),
        ("Jane =?utf-8?q?unfinished <jane@x.com>", "Jane =?utf-8?q?unfinished"),
        # Read as message headers are: a space inside a word, bytes that are not UTF-8, and
        # the space after a broken word (which is text, not an encoded word).
        ("=?utf-8?q?J=C3=A4ne Doe?= <jane@x.com>", "Jäne Doe"),
        ("=?utf-8?q?J=E4ne?= <jane@x.com>", "Jäne"),
        ("=?utf-8?b?!!!?= =?utf-8?q?Doe?= <jane@x.com>", "=?utf-8?b?!!!?= Doe"),
    ],
)
def test_encoded_words_in_names_are_decoded(header: str, name: str) -> None:
    """RFC 2047 names are decoded, broken words stay as written, controls become spaces."""
    participant = only(header)
    assert participant.name == name
    assert participant.address is not None
    assert participant.address.key == "jane@x.com"


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("=?UTF-8?B?SmFuZSBEb2UgPGphbmVAeC5jb20+?=", "Jane Doe"),
        ("=?utf-8?q?jane=40x.com?=", ""),
    ],
)
def test_an_address_inside_encoded_words_is_never_the_identity(header: str, name: str) -> None:
    """An encoded word never holds an address: the entry is unreadable, its name decoded."""
    participant = only(header)
    assert participant.address is None
    assert participant.name == name
    assert participant.raw == header
    assert participant.problem == (
        "The address is inside an encoded word, which never holds an address."
    )
    assert [a.key for a in recover_addresses(header)] == ["jane@x.com"]


def test_an_encoded_name_that_is_an_address_is_only_a_name() -> None:
    """``=?utf-8?b?…?= <attacker@evil.example>``: the addr-spec is the identity, never the name."""
    participant = only("=?utf-8?b?c3VwcG9ydEBhY21lLmNvbQ==?= <attacker@evil.example>")
    assert participant.address == parse_address("attacker@evil.example")
    assert participant.name == "support@acme.com"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Jane <a@x.com> b@y.com", [("a@x.com", "Jane"), ("b@y.com", "")]),
        ("Jane <a@x.com> b@y.com c@z.com", [("a@x.com", "Jane"), ("b@y.com", ""), ("c@z.com", "")]),
        ("Jane <a@x.com> (Support) b@y.com", [("a@x.com", "Jane"), ("b@y.com", "")]),
        ("Jane <a@x.com> junk", [("a@x.com", "Jane"), (None, "")]),
        (
            "Jane <a@x.com> junk b@y.com, c@z.com",
            [("a@x.com", "Jane"), (None, ""), ("b@y.com", ""), ("c@z.com", "")],
        ),
        ("Jane <a@x.com> b@", [("a@x.com", "Jane"), (None, "")]),
    ],
)
def test_text_after_the_angle_brackets_is_read(
    header: str, expected: list[tuple[str | None, str]]
) -> None:
    """Every address after ``>`` is an entry of its own; other text there is an unreadable one."""
    participants = parse_participants(header, Role.TO)
    assert [(p.address.key if p.address else None, p.name) for p in participants] == expected
    for p in participants:
        if p.address is None:
            assert p.problem is not None


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Jane <a@x.com> <b@y.com>", ["a@x.com", "b@y.com"]),
        ("a@x.com b@y.com", ["a@x.com", "b@y.com"]),
        ("not an address", []),
        ("=?utf-8?q?evil=40spam.example?= <broken", ["evil@spam.example"]),
        ("'a@x.com'.", ["a@x.com"]),
        ("a@b@c.com", []),
    ],
)
def test_recover_addresses_finds_every_readable_word(text: str, found: list[str]) -> None:
    """The addresses a broken entry still names, in order, each once."""
    assert [a.key for a in recover_addresses(text)] == found


def test_recover_addresses_is_linear() -> None:
    """A long text without any separator is looked through once (sizes, not wall time)."""
    assert recover_addresses("a" * 200_000 + "@x.com") == ()
    assert recover_addresses("@" * 200_000) == ()


def test_decode_words_leaves_plain_text_alone() -> None:
    """Text without encoded words comes back unchanged, spaces between plain words kept."""
    assert decode_words("Jane  Doe") == "Jane  Doe"
    assert decode_words("a =?utf-8?q?b?= c") == "a b c"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Team: a@x.com, b@y.com;", [("a@x.com", "Team"), ("b@y.com", "Team")]),
        (
            "Team: a@x.com, b@y.com;, c@z.com",
            [("a@x.com", "Team"), ("b@y.com", "Team"), ("c@z.com", "")],
        ),
        ('"Sales, EU": a@x.com;', [("a@x.com", "Sales, EU")]),
        ("=?utf-8?q?Gr=C3=BCn?=: a@x.com;", [("a@x.com", "Grün")]),
        ("Team: a@x.com, b@y.com", [("a@x.com", "Team"), ("b@y.com", "Team")]),
        ("undisclosed-recipients:;", []),
        ("undisclosed-recipients:;, a@x.com", [("a@x.com", "")]),
        ("Empty:; Team: a@x.com;", [("a@x.com", "Team")]),
        ("a@x.com; b@y.com", [("a@x.com", ""), ("b@y.com", "")]),
        ("a@x.com,, b@y.com ,", [("a@x.com", ""), ("b@y.com", "")]),
    ],
)
def test_groups_and_list_separators(header: str, expected: list[tuple[str, str]]) -> None:
    """Group members are entries with their group's name; an empty group names nobody."""
    participants = parse_participants(header, Role.TO)
    assert [(p.address.key if p.address else None, p.group) for p in participants] == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Jane <a@x.com> <b@x.com>", [None]),
        ("Jane <>", [None]),
        ("(only a comment)", [None]),
        ("not an address, b@y.com", [None, "b@y.com"]),
        ("jane@x.com\r\nBcc: evil@y.io", [None]),
        ('"Doe, Jane <jane@x.com>, bob@y.com', [None, "jane@x.com", "bob@y.com"]),
        ('"Unclosed <jane@x.com>, bob@y.com', ["jane@x.com", "bob@y.com"]),
        ("Jane <jane@x.com, bob@y.com", [None, "bob@y.com"]),
        ("Jane <jane@x.com", [None]),
        ("jane@x.com (Jane :-(", ["jane@x.com"]),
        ("mailto:jane@x.com", ["jane@x.com"]),
    ],
)
def test_broken_headers_keep_every_entry(header: str, expected: list[str | None]) -> None:
    """Odd and broken entries are kept (unreadable when they must be), never merged away."""
    assert keys(header) == expected


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("Jane <a@x.com> <b@x.com>", "The entry holds more than one address in angle brackets."),
        ("Jane <>", "There is no address between the angle brackets."),
        ("(only a comment)", "The entry holds no address, only a comment."),
        ("Jane <jane@x.com", "The angle bracket before the address is not closed."),
        ("not an address", "An email address must have an @-sign."),
    ],
)
def test_unreadable_entries_give_the_reason(header: str, problem: str) -> None:
    """The reason for an unreadable entry is one sentence a person can act on."""
    participant = only(header)
    assert participant.problem == problem
    assert not participant.readable


def test_very_long_headers_are_read_whole() -> None:
    """A header of many thousand entries (and 200 KB) is read entirely, entry by entry."""
    header = ", ".join(f"user{i}@example.com" for i in range(10_000))
    assert len(header) > 200_000
    participants = parse_participants(header, Role.TO)
    assert len(participants) == 10_000
    assert participants[-1].address == parse_address("user9999@example.com")
    assert keys("x" * 200_000) == [None]


@pytest.mark.parametrize(
    ("header", "count"),
    [
        ("@" + ":" * 200_000, 1),
        (", " * 100_000, 0),
        ("(" * 200_000, 1),
        ('"' * 200_000, 1),
        ("<" * 200_000, 1),
        ("=?" * 100_000, 1),
        ('"' + "a@b.com," * 25_000, 25_000),
    ],
    ids=["colons", "commas", "comments", "quotes", "angles", "encoded", "open-quote"],
)
def test_hostile_200_kb_headers_are_read_in_linear_time(header: str, count: int) -> None:
    """Attack shapes of 200 KB are read in one linear pass (a quadratic one would not finish)."""
    assert len(parse_participants(header, Role.TO)) == count


def test_header_bytes_and_roles_given_as_text_are_accepted() -> None:
    """Bytes are read as UTF-8 and a role may be given by its value; a bad role is an error."""
    participants = parse_participants(b"J\xc3\xa4ne <jane@x.com>", "cc")  # type: ignore[arg-type]
    assert participants[0].name == "Jäne"
    assert participants[0].role is Role.CC
    with pytest.raises(ValueError, match="'nobody' is not a valid Role"):
        parse_participants("jane@x.com", "nobody")  # type: ignore[arg-type]


def test_invalid_results_are_remembered_too() -> None:
    """An unreadable header is read once and the same result is returned again."""
    header = "definitely not an address"
    assert parse_participants(header, Role.TO) is parse_participants(header, Role.TO)


# --- Canonicalisation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("switches", "address", "key"),
    [
        (Canonicalization(), "Jane.Doe+crm@gmail.com", "jane.doe+crm@gmail.com"),
        (Canonicalization(strip_subaddress=True), "jane+crm@x.com", "jane@x.com"),
        (Canonicalization(strip_subaddress=True), "jane+a+b@x.com", "jane@x.com"),
        (Canonicalization(strip_subaddress=True), "+tag@x.com", "+tag@x.com"),
        (Canonicalization(fold_gmail=True), "Jane.Doe@gmail.com", "janedoe@gmail.com"),
        (Canonicalization(fold_gmail=True), "jane.doe@googlemail.com", "janedoe@gmail.com"),
        (Canonicalization(fold_gmail=True), "jane.doe@x.com", "jane.doe@x.com"),
        (Canonicalization(fold_gmail=True), "jane.doe+crm@gmail.com", "janedoe+crm@gmail.com"),
        (Canonicalization(True, True), "J.Doe+crm@GoogleMail.com.", "jdoe@gmail.com"),
    ],
)
def test_canonicalisation_switches(switches: Canonicalization, address: str, key: str) -> None:
    """Each switch folds only what it names, and both are off by default."""
    assert switches.key(parse_address(address)) == key


@given(ascii_addresses(), st.booleans(), st.booleans())
def test_canonical_keys_are_stable(text: str, strip: bool, gmail: bool) -> None:
    """Reading a canonical key back and canonicalising it again changes nothing."""
    switches = Canonicalization(strip_subaddress=strip, fold_gmail=gmail)
    key = switches.key(parse_address(text))
    assert switches.key(parse_address(key)) == key


# --- The header-value scanner ----------------------------------------------------------------


def _scan_reference(value: str, literal: int = -1) -> tuple[list[addresses._Entry], int]:
    """The header-value scanner as first written: one state machine over every special."""
    entries: list[addresses._Entry] = []
    group: str | None = None
    angles: list[addresses._Span] = []
    comments: list[addresses._Span] = []
    start = skip = depth = 0
    free_to = 0  # the entry holds no @-sign before this index (-1: it holds one)
    in_quote = soft_angle = False
    angle_at = comment_at = quote_at = -1
    for match in addresses._SPECIALS.finditer(value):
        i = match.start()
        char = value[i]
        if i < skip or (i == literal and char != "<"):
            continue
        if char == "\\":
            skip = i + 2
        elif in_quote:
            in_quote = char != '"'
        elif depth:
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if not depth:
                    comments.append((comment_at, i + 1))
        elif char == '"':
            in_quote, quote_at = True, i
        elif char == "(":
            depth, comment_at = 1, i
        elif angle_at >= 0 and not (soft_angle and char in ",;"):
            if char == ">":
                angles.append((angle_at, i))
                angle_at = -1
        elif char == "<":
            angle_at, soft_angle = i, i == literal
        elif char in ",;":
            if angle_at >= 0:  # the angle bracket read literally closes with its entry
                angles.append((angle_at, i))
                angle_at = -1
            entries.append((start, i, group, angles, comments))
            start = free_to = i + 1
            angles, comments = [], []
            if char == ";":
                group = None
        elif char == ":" and group is None and not angles and free_to >= 0:
            if value.find("@", free_to, i) >= 0:
                free_to = -1  # an @-sign before the colon: the entry is no group's name
            else:
                group = value[start:i]
                start = free_to = i + 1
                comments = []
    end = len(value)
    if depth:
        comments.append((comment_at, end))
    if angle_at >= 0:
        angles.append((angle_at, end))
    entries.append((start, end, group, angles, comments))
    left_open = quote_at if in_quote else comment_at if depth else angle_at
    return entries, left_open


_SCANNED = st.text(alphabet=st.sampled_from(list('\\"(),:;<>@ a.b')), max_size=30)


@settings(max_examples=2000)
@given(_SCANNED)
def test_scan_matches_the_reference(value: str) -> None:
    """The scanner splits a value, and reads it again with what it left open, as first written
    (less the empty entries between two separators, which name nobody and are not kept)."""
    found = addresses._scan(value)
    assert found == _without_empty(value, _scan_reference(value))
    if found[1] >= 0:
        again = _scan_reference(value, found[1])
        assert addresses._scan(value, found[1]) == _without_empty(value, again)


def _without_empty(value: str, scanned: tuple[list[Any], int]) -> tuple[list[Any], int]:
    """*scanned* without its empty entries but the last (``a,,b``: the one between the commas)."""
    entries, left_open = scanned
    kept = [e for e in entries[:-1] if e[0] < e[1] or e[3] or e[4]] + entries[-1:]
    return kept, left_open
