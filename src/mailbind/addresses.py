"""Email addresses: parsing, validation, identity.

Invariants:
- An `Address` is only made by `parse_address` (or the parser behind `parse_participants`);
  every `Address` that exists has a valid domain and a non-empty local part.
- Two addresses are equal, and hash alike, exactly when their identity keys are equal
  (RULES 1.4): local part NFC and case-folded, ``@``, domain as lower-case IDNA ASCII without a
  trailing dot. Display form (``str(address)``) keeps the original local part and shows the
  Unicode domain.
- `parse_participants` never raises and never drops an entry: an entry that cannot be read is a
  `Participant` whose ``address`` is ``None``, keeping its raw text and the reason.
- Validation is syntax only: no DNS, no network, ever. email-validator decides; the fast paths
  that spare its cost (plain ASCII and internationalised dot-atom local parts, one-entry
  header values in a common form) replay its rules and the general reading, and property
  tests hold their answers equal.
- Parsing is cached in a bounded table, valid and invalid results alike.
- `Address` and `Participant` are plain values: their slots are exactly their fields. What a
  policy makes of them is remembered by a `mailbind.judge.Judge`, never on them.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from dataclasses import dataclass, field

from email_validator import EmailNotValidError
from email_validator.rfc_constants import DOT_ATOM_TEXT, DOT_ATOM_TEXT_INTL, EMAIL_MAX_LENGTH

from ._kinds import Role
from ._mime import decode_words as _decode_words
from .domains import CACHE_SIZE, Domain, check_domain, validate
from .errors import AddressTypeError, InvalidAddressError, wrong_type

__all__ = [
    "Address",
    "Canonicalization",
    "Participant",
    "Role",
    "parse_address",
    "parse_participants",
    "recover_addresses",
]


@dataclass(frozen=True, slots=True)
class Address:
    """One email address, compared by its identity key.

    Make one with `parse_address`; the fields are filled by the parser.
    """

    #: The identity key: local part NFC and case-folded, ``@``, lower-case IDNA ASCII domain.
    key: str
    #: The local part as written (NFC-normalised).
    local: str = field(compare=False)
    #: The domain in Unicode, lower-case, without a trailing dot (for display).
    domain: str = field(compare=False)
    #: The domain as lower-case IDNA ASCII (punycode), without a trailing dot.
    ascii_domain: str = field(compare=False)
    #: The registrable domain (ASCII) from the Public Suffix List, or None (IP literal,
    #: single-label host).
    registrable: str | None = field(compare=False)
    #: False when the address was accepted only by the lenient rules (RULES 1.3).
    strict: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        if not (
            self.key.__class__ is str
            and self.local.__class__ is str
            and self.domain.__class__ is str
            and self.ascii_domain.__class__ is str
            and (self.registrable is None or self.registrable.__class__ is str)
            and self.strict.__class__ is bool
        ):
            _check_fields("Address()", self, _ADDRESS_FIELDS)

    def __str__(self) -> str:
        return f"{self.local}@{self.domain}"


@dataclass(frozen=True, slots=True)
class Participant:
    """One entry of an address header: who, in which role, and whether it could be read."""

    role: Role
    #: The address, or None when the entry could not be read (see ``problem``).
    address: Address | None
    #: The display name, decoded (RFC 2047); never used for identity.
    name: str = ""
    #: The entry's text as it stood in the header.
    raw: str = ""
    #: Why the address could not be read; None when it could.
    problem: str | None = None
    #: The name of the group the entry belongs to (``Team: a@x.com, b@y.com;``), decoded.
    group: str = ""

    @property
    def readable(self) -> bool:
        """True when the entry has an address."""
        return self.address is not None

    def __post_init__(self) -> None:
        if not (
            self.role.__class__ is Role
            and (self.address is None or self.address.__class__ is Address)
            and self.name.__class__ is str
            and self.raw.__class__ is str
            and (self.problem is None or self.problem.__class__ is str)
            and self.group.__class__ is str
        ):
            _check_fields("Participant()", self, _PARTICIPANT_FIELDS)


#: What each field of a record takes: (name, the types allowed, how a message says so).
_Fields = tuple[tuple[str, type | tuple[type, ...], str], ...]
_ADDRESS_FIELDS: _Fields = (
    ("key", str, "text"),
    ("local", str, "text"),
    ("domain", str, "text"),
    ("ascii_domain", str, "text"),
    ("registrable", (str, type(None)), "text or None"),
    ("strict", bool, "True or False"),
)
_PARTICIPANT_FIELDS: _Fields = (
    ("role", Role, "a Role"),
    ("address", (Address, type(None)), "an Address or None"),
    ("name", str, "text"),
    ("raw", str, "text"),
    ("problem", (str, type(None)), "text or None"),
    ("group", str, "text"),
)


def _check_fields(call: str, record: object, expected: _Fields) -> None:
    """Raise `AddressTypeError` for the first field of *record* of a type *expected* refuses."""
    for name, types, described in expected:
        value = getattr(record, name)
        if not isinstance(value, types):
            raise wrong_type(call, name, described, value, AddressTypeError)


@dataclass(frozen=True, slots=True)
class Canonicalization:
    """Optional folding applied wherever addresses are compared (RULES 1.5). Off by default."""

    #: Drop a ``+tag`` sub-address: ``jane+crm@x.com`` matches ``jane@x.com``.
    strip_subaddress: bool = False
    #: Ignore dots in Gmail local parts and treat ``googlemail.com`` as ``gmail.com``.
    fold_gmail: bool = False

    def key(self, address: Address) -> str:
        """The key under which *address* is compared with these switches."""
        if not (self.strip_subaddress or self.fold_gmail):
            return address.key
        return self.fold(address.key)

    def fold(self, key: str) -> str:
        """The identity key *key* (``Address.key``) with these switches applied."""
        if not (self.strip_subaddress or self.fold_gmail):
            return key
        local, _, domain = key.rpartition("@")
        if self.strip_subaddress and "+" in local:
            local = local.split("+", 1)[0] or local
        if self.fold_gmail and domain in ("gmail.com", "googlemail.com"):
            domain = "gmail.com"
            local = local.replace(".", "") or local
        return f"{local}@{domain}"


# --- Reading one address (addr-spec) ---------------------------------------------------------

#: The domain a local part is validated with: the domain is checked on its own, and cached.
_STAND_IN_DOMAIN = "a"
#: RFC 5321's limit on a whole address, checked on the real domain.
_MAX_ADDRESS_LENGTH = 254
#: Longer address texts are read without being remembered (they are never strictly valid).
_MAX_CACHED_ADDRESS = 512
#: What a lenient local part must not hold: white space, controls, ``<``, ``>`` and ``,``
#: (for non-ASCII text, every Unicode control, format, surrogate, unassigned and separator
#: character too).
_NOT_LENIENT_ASCII = re.compile(r"[\x00-\x20\x7f<>,]")
_NOT_LENIENT_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})

_NO_AT_SIGN = "An email address must have an @-sign."
_NO_LOCAL_PART = "There must be something before the @-sign."
_TWO_AT_SIGNS = "An email address cannot have more than one @-sign outside quotes."
_OPEN_QUOTE = "The quotes before the @-sign are not balanced."
_TOO_LONG = "The email address is too long."


def _domain(text: str) -> Domain | str:
    """The forms of an address's domain (a name or a bracketed IP address), or the problem."""
    if text.startswith("["):
        try:
            checked = validate(f"a@{text}")
        except (EmailNotValidError, ValueError) as err:
            return str(err)
        return Domain(checked.ascii_domain, checked.domain, None)
    return check_domain(text)


def _quote_problem(local: str) -> str | None:
    """Why *local* breaks the one-@-sign rule (an @-sign outside quotes, an open quote)."""
    in_quote = escaped = False
    for char in local:
        if escaped:
            escaped = False
        elif in_quote:
            if char == "\\":
                escaped = True
            elif char == '"':
                in_quote = False
        elif char == '"':
            in_quote = True
        elif char == "@":
            return _TWO_AT_SIGNS
    return _OPEN_QUOTE if in_quote else None


def _lenient_local(local: str) -> bool:
    """True when *local* passes RULES 1.3: no white space, controls, ``<``, ``>`` or ``,``."""
    if _NOT_LENIENT_ASCII.search(local):
        return False
    return local.isascii() or not any(
        unicodedata.category(char) in _NOT_LENIENT_CATEGORIES for char in local
    )


def _fold(local: str) -> str:
    """The identity form of a local part: NFC and case-folded."""
    if local.isascii():
        return local.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", local).casefold())


def _safe_characters(text: str) -> bool:
    """True when email-validator finds no unsafe character in *text* (spaces not allowed).

    Its rule: letters, numbers, punctuation and symbols anywhere, combining marks anywhere but
    first, nothing else (no separators, controls, format or unassigned characters).
    """
    category = unicodedata.category
    for index, char in enumerate(text):
        kind = category(char)[0]
        if kind not in "LNPS" and (kind != "M" or index == 0):
            return False
    return True


def _intl_dot_atom(local: str) -> str | None:
    """*local* in NFC when email-validator surely accepts it as an internationalised dot-atom.

    None when it might not: email-validator must then be asked. This replays, in a few
    microseconds rather than a hundred, what email-validator checks of such a local part with
    the stand-in domain after it: the RFC 6531 dot-atom syntax and safe characters, before and
    after NFC, and the whole address's length in UTF-8 (254 bytes). A local part whose NFC
    form is plain ASCII is left to email-validator, which treats that form as an ASCII one.
    A property test holds the two answers equal.
    """
    if not DOT_ATOM_TEXT_INTL.match(local) or not _safe_characters(local):
        return None
    normal = unicodedata.normalize("NFC", local)
    if normal != local and (
        normal.isascii() or not DOT_ATOM_TEXT_INTL.match(normal) or not _safe_characters(normal)
    ):
        return None
    longest = max(len(local.encode()), len(normal.encode()))
    if longest + 1 + len(_STAND_IN_DOMAIN) > EMAIL_MAX_LENGTH:
        return None
    return normal


def _strict_local(local: str, ascii_domain: str) -> tuple[str, str] | str:
    """(local part as written, local part for the key) when strictly valid, else the problem."""
    if DOT_ATOM_TEXT.match(local):
        # email-validator's own first test: a plain ASCII local part is valid as it stands.
        written = key_local = local
    elif (intl := _intl_dot_atom(local)) is not None:
        written, key_local = local, intl
    else:
        try:
            checked = validate(f"{local}@{_STAND_IN_DOMAIN}")
        except (EmailNotValidError, ValueError) as err:
            return str(err)
        # email-validator drops needless quotes; a quoted local part is shown its way.
        written = checked.local_part if local.startswith('"') else local
        key_local = checked.local_part
    if len(key_local) + 1 + len(ascii_domain) > _MAX_ADDRESS_LENGTH:
        return _TOO_LONG
    return written, key_local


def _read_addr_spec(text: str) -> Address | str:
    """The address *text* names (``local@domain``, nothing else), or why it cannot be read."""
    local, at, domain_text = text.rpartition("@")
    if not at:
        return _NO_AT_SIGN
    if not local:
        return _NO_LOCAL_PART
    domain = _domain(domain_text)
    if isinstance(domain, str):
        return domain
    ascii_domain, display_domain, registrable = domain
    if "@" in local or '"' in local:
        quote_problem = _quote_problem(local)
        if quote_problem is not None:
            return quote_problem
    strict = _strict_local(local, ascii_domain)
    if isinstance(strict, tuple):
        written, key_local = strict
    elif _lenient_local(local):
        written = key_local = local
    else:
        return strict
    if not written.isascii():
        written = unicodedata.normalize("NFC", written)
    return Address(
        key=f"{_fold(key_local)}@{ascii_domain}",
        local=written,
        domain=display_domain,
        ascii_domain=ascii_domain,
        registrable=registrable,
        strict=isinstance(strict, tuple),
    )


_read_addr_spec_cached = functools.lru_cache(maxsize=CACHE_SIZE)(_read_addr_spec)


def _addr_spec(text: str) -> Address | str:
    if len(text) > _MAX_CACHED_ADDRESS:
        return _read_addr_spec(text)
    return _read_addr_spec_cached(text)


# --- Display names and RFC 2047 encoded words ------------------------------------------------

# Controls, bidirectional and zero-width format characters, line and paragraph separators.
_UNSAFE_IN_NAMES = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


def decode_words(text: str) -> str:
    """*text* with its RFC 2047 encoded words decoded; a broken word stays as written.

    The reading `Message.from_bytes` gives header values (`mailbind._mime.decode_words`),
    without the defects it records for a message.
    """
    return _decode_words(text, []) if "=?" in text else text


def _unquote(text: str) -> str:
    """*text* with the quotes of its quoted strings removed and quoted pairs resolved."""
    if '"' not in text and "\\" not in text:
        return text
    out: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char != '"':
            out.append(char)
    return "".join(out)


def _clean_name(text: str) -> str:
    """A display (or group) name as shown to people: unquoted, decoded, on one line."""
    name = decode_words(_unquote(text))
    if not name.isascii() or not name.isprintable():
        name = _SURROGATES.sub("\ufffd", _UNSAFE_IN_NAMES.sub(" ", name))
    return " ".join(name.split())


# --- Reading a header value ------------------------------------------------------------------

_SPECIALS = re.compile(r'[\\"(),:;<>]')
_HEADER_SPACE = " \t\r\n"
# Obsolete syntax allows white space around the dots and the @-sign of an address.
_BLANK_RUN = re.compile(r"[ \t]+")
# An obsolete source route before the address in angle brackets: <@relay.example:jane@x.com>.
_ROUTE = re.compile(r"\A@[^:]*:")
#: Header values up to this length are remembered with their participants.
_MAX_CACHED_HEADER = 1024

_MANY_ANGLES = "The entry holds more than one address in angle brackets."
_NOTHING_IN_ANGLES = "There is no address between the angle brackets."
_OPEN_ANGLE = "The angle bracket before the address is not closed."
_NO_ADDRESS = "The entry holds no address, only a comment."
_UNEXPECTED = "The entry could not be read."
_AFTER_ANGLES = "Text after the address in angle brackets is no address."
_ENCODED_ADDRESS = "The address is inside an encoded word, which never holds an address."

# One entry of a header: its span, its group name (None outside a group), the spans of its
# top-level angle brackets and of its comments, all as indexes into the header value.
_Span = tuple[int, int]
_Entry = tuple[int, int, str | None, list[_Span], list[_Span]]


def _scan(value: str, literal: int = -1) -> tuple[list[_Entry], int]:
    """Split a header value into entries, in one pass over its special characters.

    Commas separate entries, and so does a semicolon (it ends a group, and some mail programs
    separate addresses with it). A colon opens a group when the text before it could be a
    group's name. Quoted strings, comments (nested) and angle brackets hide their commas;
    a backslash hides the next character. What is left open at the end runs to the end, and
    its opening character is returned (-1 when nothing was left open), so that the value can
    be read again with that character *literal*: a quote or parenthesis then counts as text,
    and an angle bracket then closes at the end of its entry.
    """
    entries: list[_Entry] = []
    group: str | None = None
    angles: list[_Span] = []
    comments: list[_Span] = []
    start = skip = 0
    free_to = 0  # the entry holds no @-sign before this index (-1: it holds one)
    passing = ""  # what an open angle bracket lets through: ",;" when read literally
    angle_at = left_open = -1
    end = len(value)
    # A quote or a parenthesis at *literal* is text: it falls through every branch below.
    for match in _SPECIALS.finditer(value):
        i = match.start()
        if i < skip:
            continue
        char = value[i]
        if char == "\\":
            skip = i + 2
        elif char in _OPENERS and i != literal:
            skip = _closed_at(value, i, comments)
            if skip < 0:  # left open: it runs to the end
                left_open = i
                break
        elif angle_at >= 0 and char not in passing:
            if char == ">":
                angles.append((angle_at, i))
                angle_at = -1
        elif char == "<":
            angle_at, passing = i, _LITERAL_PASSING[i == literal]
        elif char in ",;":
            if angle_at >= 0:  # the angle bracket read literally closes with its entry
                angles.append((angle_at, i))
                angle_at = -1
            if i > start or angles or comments:  # an empty one names nobody: not kept
                entries.append((start, i, group, angles, comments))
                angles, comments = [], []
            start = free_to = i + 1
            if char == ";":
                group = None
        elif char == ":":
            group, start, free_to, comments = _colon(
                value, i, start, free_to, group, angles, comments
            )
    if angle_at >= 0:
        angles.append((angle_at, end))
    entries.append((start, end, group, angles, comments))
    return entries, (left_open if left_open >= 0 else angle_at)


#: What opens a quoted string or a comment.
_OPENERS = frozenset('"(')


def _closed_at(value: str, at: int, comments: list[_Span]) -> int:
    """Where the quoted string or the comment opening at *at* ends (a comment's span is added
    to *comments*); -1 when it is left open."""
    if value[at] == '"':
        string = _QUOTED.match(value, at)
        return -1 if string is None else string.end()
    return _comment_end(value, at, comments)


def _colon(
    value: str,
    at: int,
    start: int,
    free_to: int,
    group: str | None,
    angles: list[_Span],
    comments: list[_Span],
) -> tuple[str | None, int, int, list[_Span]]:
    """`_scan` at a colon: (group, entry start, free_to, comments) after it.

    Outside a group, before any angle bracket of its entry, a colon opens a group when the
    entry holds no @-sign before it: the text before it is the group's name and the entry
    starts again after it. *free_to* is the index before which the entry is known to hold no
    @-sign, or -1 when it holds one.
    """
    if group is not None or angles or free_to < 0:
        return group, start, free_to, comments
    if value.find("@", free_to, at) >= 0:
        return None, start, -1, comments  # an @-sign before the colon: no group's name
    return value[start:at], at + 1, at + 1, []


#: A quoted string, from its opening quote to its closing one; backslashes escape.
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_COMMENT_SPECIALS = re.compile(r"[\\()]")
#: A comment holding no other comment.
_FLAT_COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)", re.DOTALL)


def _comment_end(value: str, at: int, comments: list[_Span]) -> int:
    """Where the comment opening at *at* ends (after its parenthesis), noted in *comments*.

    Comments nest, and a backslash escapes the next character. One that never closes runs to
    the end of *value*: it is noted so, and -1 is returned.
    """
    flat = _FLAT_COMMENT.match(value, at)
    if flat is not None:  # the common case: no comment inside it
        comments.append((at, flat.end()))
        return flat.end()
    depth = skip = 0
    for match in _COMMENT_SPECIALS.finditer(value, at):
        i = match.start()
        if i < skip:
            continue
        char = value[i]
        if char == "\\":
            skip = i + 2
        elif char == "(":
            depth += 1
        else:
            depth -= 1
            if not depth:
                comments.append((at, i + 1))
                return i + 1
    comments.append((at, len(value)))
    return -1


#: What an open angle bracket lets through to close its entry: nothing, or (when the bracket
#: is read literally) the entry's end.
_LITERAL_PASSING = ("", ",;")


def _cut_comments(value: str, start: int, end: int, comments: list[_Span]) -> str:
    """value[start:end] with each comment inside it replaced by a space."""
    inside = [(s, e) for s, e in comments if start <= s < end] if comments else None
    if not inside:
        return value[start:end]
    pieces, pos = [], start
    for s, e in inside:
        pieces.append(value[pos:s])
        pos = min(e, end)
    pieces.append(value[pos:end])
    return " ".join(pieces)


def _tidy(addr: str) -> str:
    """An address text without the white space obsolete syntax allows around dots and ``@``."""
    addr = addr.strip(_HEADER_SPACE)
    if '"' not in addr and (" " in addr or "\t" in addr):
        addr = _BLANK_RUN.sub(_obsolete_blank, addr)
    return addr


def _obsolete_blank(match: re.Match[str]) -> str:
    """A run of blanks in an address: gone beside a dot or an ``@``-sign, else kept.

    One pass over the runs, so linear: a pattern such as ``[ \t]*[.@]`` would be tried at
    every blank of a long run and scan the rest of it each time.
    """
    text, start, end = match.string, match.start(), match.end()
    if (start and text[start - 1] in ".@") or text[end : end + 1] in (".", "@"):
        return ""
    return match.group()


def _read_entry(value: str, entry: _Entry, role: Role) -> Participant:
    """One entry of a header as a participant: its address, name, raw text and group."""
    start, end, group, angles, comments = entry
    raw = value[start:end].strip(_HEADER_SPACE)
    group_name = "" if group is None else _clean_name(group.strip(_HEADER_SPACE))
    if len(angles) > 1:
        return Participant(role, None, "", raw, _MANY_ANGLES, group_name)
    if angles:
        lt, gt = angles[0]
        if value[gt : gt + 1] != ">":
            return Participant(role, None, "", raw, _OPEN_ANGLE, group_name)
        # Comments are no part of a display name: "Jane (Sales) <jane@x.com>" is Jane.
        name, after = _cut_comments(value, start, lt, comments), gt
        addr = _tidy(_cut_comments(value, lt + 1, gt, comments))
        if addr.startswith("@"):
            addr = _ROUTE.sub("", addr)
    else:
        name, after = "", start
        addr = _tidy(_cut_comments(value, start, end, comments))
    if comments and not name.strip(_HEADER_SPACE):
        # "jane@example.com (Jane Doe)": the old way to give a name.
        name = next((value[s + 1 : e] for s, e in comments if s >= after), "").removesuffix(")")
    name = _clean_name(name)
    if not addr:
        problem = _NOTHING_IN_ANGLES if angles else _NO_ADDRESS
        return Participant(role, None, name, raw, problem, group_name)
    found = _addr_spec(addr)
    if isinstance(found, str):
        return Participant(role, None, name, raw, found, group_name)
    return Participant(role, found, name, raw, None, group_name)


def _after_angles(value: str, entry: _Entry, role: Role) -> list[Participant]:
    """What follows the closed angle brackets of an entry, other than comments, as entries.

    ``Jane <a@x.com> b@y.com`` names two people: each word after the brackets that holds an
    @-sign is an entry of its own (readable or not), and other text there is kept as one
    unreadable entry, so that nothing after ``>`` is lost.
    """
    _, end, group, angles, comments = entry
    if len(angles) != 1 or value[angles[0][1] : angles[0][1] + 1] != ">":
        return []
    rest = _cut_comments(value, angles[0][1] + 1, end, comments).strip(_HEADER_SPACE)
    if not rest:
        return []
    group_name = "" if group is None else _clean_name(group.strip(_HEADER_SPACE))
    found: list[Participant] = []
    other: list[str] = []
    for word in rest.split():
        if "@" not in word:
            other.append(word)
            continue
        if other:
            found.append(Participant(role, None, "", " ".join(other), _AFTER_ANGLES, group_name))
            other = []
        address = _addr_spec(word)
        if isinstance(address, str):
            found.append(Participant(role, None, "", word, address, group_name))
        else:
            found.append(Participant(role, address, "", word, None, group_name))
    if other:
        found.append(Participant(role, None, "", " ".join(other), _AFTER_ANGLES, group_name))
    return found


def _read_encoded_entry(participant: Participant) -> Participant:
    """An unreadable entry written wholly as encoded words: its name decoded, still unreadable.

    An encoded word never holds an address (RFC 2047, section 5), so the address it decodes
    to is never the participant's identity: ``=?utf-8?q?a=40b.com?=`` is nobody. The rules
    still judge the blocklist on it (see `recover_addresses`).
    """
    decoded = decode_words(participant.raw)
    if decoded == participant.raw:
        return participant
    again = _read_header(decoded, participant.role, decode_entries=False)
    if len(again) != 1 or again[0].address is None:
        return participant
    return dataclasses.replace(
        participant, name=again[0].name, problem=_ENCODED_ADDRESS, address=None
    )


#: What ends a word that might be an address inside text: white space and the specials that
#: never stand in an unquoted address.
_NOT_IN_WORD = re.compile(r"[\s<>(),;:\"\[\]]+")
#: Longest text `recover_addresses` looks through (an address header is never longer).
_MAX_RECOVERED_TEXT = 1 << 16


def recover_addresses(text: str) -> tuple[Address, ...]:
    """Every address that can be read in *text*, an entry that could not be read as a whole.

    For the blocklist only, never for identity: ``Jane <a@x.com> <b@y.com>`` and an address
    hidden in an encoded word (``=?utf-8?q?b=40y.com?=``) name ``b@y.com`` to no one, but a
    blocked ``b@y.com`` must not pass that way. Each word of the text (and of its decoded
    form) that holds an @-sign is read as an address; at most the first 64 KB are looked at,
    in one pass, so this costs time linear in the text. Never raises.
    """
    if text.__class__ is not str or ("@" not in text and "=?" not in text):
        return ()
    text = text[:_MAX_RECOVERED_TEXT]
    try:
        decoded = decode_words(text)
    except Exception:  # a last resort: reading mail never raises
        decoded = text
    found: dict[str, Address] = {}
    for source in (text, decoded) if decoded != text else (text,):
        for word in _NOT_IN_WORD.split(source):
            word = word.strip(".'`")
            if "@" not in word or (word.count("@") > 1 and '"' not in word):
                continue
            address = _addr_spec(word)
            if not isinstance(address, str):
                found.setdefault(address.key, address)
    return tuple(found.values())


#: A header value of one entry in a common form, where the general reading (`_scan` and
#: `_read_entry`) has nothing to do but cut out the address and the name: a bare address, or
#: a name (plain words and whole quoted strings) and an address in angle brackets, with no
#: comment, group, escape, line break or second entry anywhere.
#: The blanks before the entry are taken possessively: given back one by one to the name, a
#: value of blanks alone would be read once per blank.
_SIMPLE_ENTRY = re.compile(
    r'[ \t]*+(?:(?P<bare>[^\s\\"(),:;<>]+)'
    r'|(?P<name>(?:"[^"\\\r\n]*"|[^\\"(),:;<>\r\n])*)<(?P<addr>[^\s\\"(),:;<>@][^\s\\"(),:;<>]*)>)'
    r"[ \t]*\Z"
)


def _read_simple(value: str, role: Role) -> tuple[Participant, ...] | None:
    """The participant of a value `_SIMPLE_ENTRY` matches, as the general reading reads it.

    None when the value is not of that form or its address cannot be read: the general
    reading then says why (and tries encoded words).
    """
    match = _SIMPLE_ENTRY.match(value)
    if match is None:
        return None
    bare = match["bare"]
    if bare is not None:
        name, addr = "", bare
    else:
        name, addr = _clean_name(value[: match.start("addr") - 1]), match["addr"]
    found = _addr_spec(addr)
    if isinstance(found, str):
        return None
    return _scrubbed(value, (Participant(role, found, name, value.strip(_HEADER_SPACE), None, ""),))


def _read_header(value: str, role: Role, *, decode_entries: bool = True) -> tuple[Participant, ...]:
    if role.__class__ is not Role:
        role = Role(role)
    simple = _read_simple(value, role)
    return simple if simple is not None else _read_scanned(value, role, decode_entries)


def _scrubbed(value: str, found: tuple[Participant, ...]) -> tuple[Participant, ...]:
    """*found*, read from *value*, with U+FFFD for each lone surrogate in its texts.

    A lone surrogate (half a UTF-16 pair) is no text a store can hold: the raw text keeps
    U+FFFD in its place, as names do, and so does a problem that quotes it. An address never
    holds one: an entry holding one is unreadable.
    """
    if value.isascii() or _SURROGATES.search(value) is None:
        return found
    return tuple(
        dataclasses.replace(
            p,
            raw=_SURROGATES.sub("\ufffd", p.raw),
            problem=None if p.problem is None else _SURROGATES.sub("\ufffd", p.problem),
        )
        for p in found
    )


def _unfold(value: str) -> str:
    """*value* without the line breaks of its folding (those before a blank).

    Not a regular expression: its list of pieces, one per line, costs dozens of times the
    value's size for a value folded over thousands of lines.
    """
    for fold, blank in (("\r\n ", " "), ("\r\n\t", "\t"), ("\n ", " "), ("\n\t", "\t")):
        if fold in value:
            value = value.replace(fold, blank)
    return value


def _read_scanned(value: str, role: Role, decode_entries: bool = True) -> tuple[Participant, ...]:
    """Every entry of a header value, by the general reading (see `_scan`)."""
    if "\n" in value:
        value = _unfold(value)
    entries, left_open = _scan(value)
    found = _read_entries(value, entries, role, decode_entries)
    if left_open >= 0:
        # A quote, comment or angle bracket never closed: read again with it taken literally,
        # and keep the reading that finds more addresses.
        again = _read_entries(value, _scan(value, left_open)[0], role, decode_entries)
        if _count_readable(again) > _count_readable(found):
            found = again
    return _scrubbed(value, found)


def _count_readable(participants: tuple[Participant, ...]) -> int:
    return sum(p.address is not None for p in participants)


def _read_entries(
    value: str, entries: list[_Entry], role: Role, decode_entries: bool
) -> tuple[Participant, ...]:
    found: list[Participant] = []
    for entry in entries:
        raw = value[entry[0] : entry[1]].strip(_HEADER_SPACE)
        if not raw:
            continue  # an empty list element ("a@x.com,,b@y.com"): nobody is named
        extra: list[Participant] = []
        try:
            participant = _read_entry(value, entry, role)
            if decode_entries and participant.address is None and "=?" in raw:
                participant = _read_encoded_entry(participant)
            if entry[3] and participant.address is not None:
                extra = _after_angles(value, entry, role)
        except Exception:  # a last resort: reading mail never raises
            participant = Participant(role, None, "", raw, _UNEXPECTED)
        found.append(participant)
        if extra:
            found.extend(extra)
    return tuple(found)


_read_header_cached = functools.lru_cache(maxsize=CACHE_SIZE)(_read_header)


# --- The public functions --------------------------------------------------------------------

_SHOWN_LENGTH = 100


def _shown(text: str) -> str:
    """*text* for an error message: its repr, shortened when long."""
    if len(text) <= _SHOWN_LENGTH:
        return repr(text)
    return f"{text[:_SHOWN_LENGTH]!r}…"


def parse_address(text: str) -> Address:
    """Read one address, optionally with a display name (``Jane Doe <jane@example.com>``).

    Raises `InvalidAddressError` (a `ValueError`) when *text* is not one readable address.
    """
    if not isinstance(text, str):
        raise AddressTypeError(f"{text!r} is not an email address: it is not text.")
    participants = parse_participants(text, Role.FROM)
    if not participants:
        raise InvalidAddressError(f"{_shown(text)} holds no address.")
    if len(participants) > 1:
        raise InvalidAddressError(
            f"Expected one address, found {len(participants)} entries, the first being "
            f"{_shown(participants[0].raw)}."
        )
    (participant,) = participants
    if participant.address is None:
        reason = (participant.problem or _UNEXPECTED).rstrip(".")
        reason = reason[:1].lower() + reason[1:]
        raise InvalidAddressError(f"{_shown(text)} is not an email address: {reason}.")
    return participant.address


def parse_participants(header_value: str, role: Role) -> tuple[Participant, ...]:
    """Read every entry of an address header value, in order. Never raises.

    Each entry becomes a `Participant`: readable ones carry their `Address` and decoded
    display name; unreadable ones carry ``address=None``, their text and the reason. Members
    of a group (``Team: a@x.com, b@y.com;``) are entries of their own; an empty group
    (``undisclosed-recipients:;``) names nobody and yields nothing. Only the caller's mistakes
    raise: a *role* that is no `Role` (a `ValueError`), or a *header_value* that is neither
    text nor bytes (an `AddressTypeError`, also a `TypeError`).
    """
    if role.__class__ is not Role and not isinstance(role, str):
        raise wrong_type("parse_participants()", "role", "a Role", role, AddressTypeError)
    if not isinstance(header_value, str):
        if not isinstance(header_value, bytes | bytearray):
            raise wrong_type(
                "parse_participants()", "header_value", "text", header_value, AddressTypeError
            )
        header_value = header_value.decode("utf-8", "replace")
    if len(header_value) > _MAX_CACHED_HEADER:
        return _read_header(header_value, role)
    return _read_header_cached(header_value, role)
