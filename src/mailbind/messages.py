"""Messages: the record every rule reads, built from RFC 5322 bytes or from plain values.

Invariants:
- A `Message` is immutable; its tuples hold every participant in header order, none dropped.
- ``Message.from_bytes`` never raises on any bytes: what it could not read becomes a `Defect`
  code in ``defects``, and every limit in `Limits` is enforced (by `mailbind._mime`) so hostile
  input finishes in time and memory proportional to its size.
- A field that redaction removed is ``None`` (withheld), never emptied: a blank subject is ``""``.
  ``level`` says how much of the message the record holds; a record below ``EVERYTHING`` that
  holds a field its level withholds cannot be made.
- ``key`` identifies the message across mailboxes: its Message-ID, or a stable ``sha256:``
  fingerprint (never ``hash()``) when the Message-ID is missing or blank. It is computed once,
  at construction.
- `Message` is a plain frozen dataclass: its slots are exactly its fields, and its
  constructor, ``__init__`` (written out for speed), checks the level and fills an empty key.
  `Message.build` and `mailbind.redaction` make their records with `_message`, which fills the
  same slots the same way without the level check their values pass by construction.
- ``Message.build`` and ``Message.from_bytes`` remember parsed header values per role in
  bounded tables (see `mailbind._tables`), which hand out one shared tuple of participants
  for a value seen before; the key's fingerprint is `mailbind._fingerprint`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from . import _mime
from ._fingerprint import fingerprint
from ._kinds import Defect, Direction, Flag, Role, SharingLevel, member
from ._limits import Limits
from ._tables import (
    _BCC_TABLE,
    _CC_TABLE,
    _FROM_TABLE,
    _REPLY_TO_TABLE,
    _SENDER_TABLE,
    _TO_TABLE,
    Recipients,
    _gather,
    read_from_mail,
)
from .addresses import Participant
from .errors import MessageError, MessageTypeError, wrong_type

__all__ = [
    "Attachment",
    "Defect",
    "Direction",
    "Flag",
    "Limits",
    "Message",
    "MessageError",
    "SharingLevel",
    "normalize_message_id",
]

_OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attached file. Its name is data: it never becomes a path."""

    filename: str
    content_type: str = _OCTET_STREAM
    #: The size in bytes; taken from *content* when left at 0.
    size: int = 0
    content: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        for name, types, described in _ATTACHMENT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, types) or value.__class__ is bool:
                raise wrong_type("Attachment()", name, described, value, MessageTypeError)
        if not self.size and self.content:
            object.__setattr__(self, "size", len(self.content))


_ATTACHMENT_FIELDS: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("filename", str, "text"),
    ("content_type", str, "text"),
    ("size", int, "a whole number"),
    ("content", bytes, "bytes"),
)


@dataclass(frozen=True, slots=True, init=False)
class Message:
    """One email as the rules see it."""

    #: The Message-ID without angle brackets, or None when missing or blank.
    message_id: str | None
    #: When it was sent (timezone-aware), or None when the date could not be read.
    sent_at: datetime | None
    #: Every participant (From, To, Cc, Bcc, Sender, Reply-To) in header order.
    participants: tuple[Participant, ...]
    #: The subject; None when withheld by redaction, ``""`` when blank.
    subject: str | None = ""
    #: The plain-text body; None when withheld.
    text: str | None = ""
    #: The HTML body; None when withheld.
    html: str | None = ""
    #: The attachments; None when withheld.
    attachments: tuple[Attachment, ...] | None = ()
    #: Every header as (name, decoded value), in order; redaction keeps only the allowed ones.
    headers: tuple[tuple[str, str], ...] = ()
    #: What the source knows: draft, spam, trash, sent.
    flags: frozenset[Flag] = frozenset()
    #: What could not be read (``too_large``, ``too_deep``, ``bad_date``, ...).
    defects: tuple[Defect, ...] = ()
    #: How much of the message this record holds.
    level: SharingLevel = SharingLevel.EVERYTHING
    #: The identity across mailboxes: ``message_id`` or a ``sha256:`` fingerprint.
    key: str = ""

    # Written out rather than generated: the generated __init__ of a frozen dataclass calls
    # ``object.__setattr__`` for every field, which makes a message (built, or redacted) cost
    # 1.9 µs instead of 1.1 µs on the rules' hot path; this one calls the slots' own setters.
    # It must take every field above, in order, with the same defaults (a test checks).
    def __init__(
        self,
        message_id: str | None,
        sent_at: datetime | None,
        participants: tuple[Participant, ...],
        subject: str | None = "",
        text: str | None = "",
        html: str | None = "",
        attachments: tuple[Attachment, ...] | None = (),
        headers: tuple[tuple[str, str], ...] = (),
        flags: frozenset[Flag] = frozenset(),
        defects: tuple[Defect, ...] = (),
        level: SharingLevel = SharingLevel.EVERYTHING,
        key: str = "",
    ) -> None:
        if level is not _EVERYTHING and (
            level.__class__ is not SharingLevel
            or text is not None
            or html is not None
            or attachments is not None
            or (subject is not None and level is _METADATA)
        ):
            level = _checked_level(level, subject, text, html, attachments)
        _set_message_id(self, message_id)
        _set_sent_at(self, sent_at)
        _set_participants(self, participants)
        _set_subject(self, subject)
        _set_text(self, text)
        _set_html(self, html)
        _set_attachments(self, attachments)
        _set_headers(self, headers)
        _set_flags(self, flags)
        _set_defects(self, defects)
        _set_level(self, level)
        _set_key(self, key or message_id or fingerprint(self))

    @property
    def sender(self) -> Participant | None:
        """The first From participant, or None."""
        for p in self.participants:
            if p.role is Role.FROM:
                return p
        return None

    def header(self, name: str) -> str | None:
        """The first header called *name* (case-insensitive), or None."""
        lower = name.lower()
        for n, v in self.headers:
            if n.lower() == lower:
                return v
        return None

    @property
    def withheld(self) -> frozenset[str]:
        """The names of the fields redaction removed (each of them is None).

        Below ``EVERYTHING`` the headers are also cut down to the metadata set; ``headers``
        itself is never None, so it is not named here.
        """
        return _WITHHELD[self.level]

    @classmethod
    def from_bytes(
        cls,
        raw: bytes,
        *,
        limits: Limits | None = None,
        flags: Iterable[Flag | str] = frozenset(),
    ) -> Message:
        """Read an RFC 5322 message (as a file, an IMAP fetch or an mbox entry holds it).

        Never raises on any bytes: what could not be read is a `Defect` code in ``defects``,
        and *limits* bound the work (see `Limits`). Google Takeout's ``X-Gmail-Labels``
        (Draft, Spam, Trash, Sent) become flags, merged with the caller's *flags*.

        Raises `MessageError` only for a caller mistake: *raw* that is not bytes, or an
        unknown flag.
        """
        if not isinstance(raw, bytes):
            if not isinstance(raw, bytearray | memoryview):
                raise MessageTypeError(f"raw must be bytes, not {type(raw).__name__}.")
            raw = bytes(raw)
        if limits is not None and limits.__class__ is not Limits and not isinstance(limits, Limits):
            raise wrong_type("Message.from_bytes()", "limits", "a Limits", limits, MessageTypeError)
        mail = _mime.read(raw, limits if limits is not None else _DEFAULT_LIMITS)
        participants: list[Participant] = []
        for value, role_value in mail.address_headers:
            participants.extend(read_from_mail(value, Role(role_value)))
        if participants and _no_from_address(participants):
            mail.defects.append(Defect.FROM_WITHOUT_ADDRESS)
        found_flags = frozenset(Flag(name) for name in mail.flags) if mail.flags else _NO_FLAGS
        if flags:
            found_flags |= _flags(flags)
        mid = normalize_message_id(mail.message_id)
        return cls(
            message_id=mid,
            sent_at=mail.sent_at,
            participants=tuple(participants),
            subject=mail.subject,
            text=mail.text or "",
            html=mail.html or "",
            attachments=tuple(
                Attachment(name, ctype, len(data), data) for name, ctype, data in mail.attachments
            ),
            headers=tuple(mail.headers),
            flags=found_flags,
            defects=tuple(dict.fromkeys(mail.defects)),
            key=mid or "",
        )

    @classmethod
    def build(
        cls,
        *,
        sender: str,
        to: Recipients = (),
        cc: Recipients = (),
        bcc: Recipients = (),
        subject: str | None = "",
        text: str | None = "",
        html: str | None = "",
        attachments: Iterable[AttachmentLike] = (),
        message_id: str | None = None,
        sent_at: datetime | str | None = None,
        headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
        flags: Iterable[Flag | str] = (),
        reply_to: Recipients = (),
        sender_header: Recipients = (),
    ) -> Message:
        """Build a message from plain values, as an ETL job holds them.

        *sender*, *to*, *cc* and *bcc* are header values (``"Jane <jane@x.com>, b@y.com"``);
        *to*, *cc* and *bcc* may also be iterables of them. Unreadable entries become
        participants without an address, as in real mail. *attachments* are `Attachment`
        values or ``(filename, content)`` / ``(filename, content, content_type)`` tuples.
        *sent_at* is a timezone-aware datetime or ISO 8601 text with an offset. *headers* are
        the extra headers (``List-Id``, ``Thread-Topic``, ...) as pairs or a mapping; *flags*
        are `Flag` values or their names. A ``None`` subject or body counts as blank; line
        endings in the bodies are written as LF, as `from_bytes` gives them.
        *reply_to* and *sender_header* are the ``Reply-To`` and ``Sender`` header values;
        when not given, a ``Reply-To`` or ``Sender`` among *headers* is read instead, so that
        their participants are judged (a blocked ``Reply-To`` keeps the message out) as in
        mail read from bytes. Participants come in the order From, To, Cc, Bcc, Sender,
        Reply-To.

        Raises `MessageError` (a `ValueError`) for a value of the wrong shape, a naive or
        unreadable *sent_at*, or an unknown flag.
        """
        # The hot path of every ETL job: module constants instead of enum attribute look-ups,
        # and each header value's participants as its table holds them (one shared tuple),
        # joined by concatenation.
        try:
            participants = _FROM_TABLE[sender]
        except (KeyError, TypeError):  # a value not held yet, or no text
            participants = _gather(sender, _FROM, _FROM_TABLE)
        # The first participant is the first From entry when there is one: readable, no loop.
        no_from_address = (
            participants[0].address is None and _no_from_address(participants)
            if participants
            else False
        )
        # A list of values the tables hold (the common case) is joined here, in line: a value
        # not held yet (KeyError), or no text at all (TypeError), goes the general way.
        if to:
            if to.__class__ is list:
                joined = participants
                try:
                    for item in to:
                        joined += _TO_TABLE[item]
                except (KeyError, TypeError):
                    joined = participants + _gather(to, _TO, _TO_TABLE)
                participants = joined
            else:
                participants += _gather(to, _TO, _TO_TABLE)
        if cc:
            if cc.__class__ is list:
                joined = participants
                try:
                    for item in cc:
                        joined += _CC_TABLE[item]
                except (KeyError, TypeError):
                    joined = participants + _gather(cc, _CC, _CC_TABLE)
                participants = joined
            else:
                participants += _gather(cc, _CC, _CC_TABLE)
        if bcc:
            participants += _gather(bcc, _BCC, _BCC_TABLE)
        # Headers as JSON gives them (a dict of text) are read in one pass here; any other
        # form is read where it was before, by `_replying` and then `_headers`.
        found_headers: tuple[tuple[str, str], ...] | None = None
        plain_headers = True
        if headers:
            named: tuple[str, str] | None = None
            if headers.__class__ is dict:
                read = _dict_headers(headers)
                if read is not None:
                    found_headers, plain_headers, named = read
            elif not isinstance(headers, tuple | list | Mapping):
                # An iterator is read once: the look for Sender and Reply-To would use it up.
                found_headers = headers = _headers(headers)
                plain_headers = not found_headers
            if not (reply_to or sender_header):
                sender_header, reply_to = named if named is not None else _replying(headers)
        if sender_header:
            participants += _gather(sender_header, _SENDER, _SENDER_TABLE)
        if reply_to:
            participants += _gather(reply_to, _REPLY_TO, _REPLY_TO_TABLE)
        if subject.__class__ is not str:
            subject = _text("subject", subject)
        if text.__class__ is not str:
            text = _text("text", text)
        if html.__class__ is not str:
            html = _text("html", html)
        mid = (
            normalize_message_id(message_id)
            if message_id.__class__ is str
            else _message_id(message_id)
        )
        if "\r" in text:
            text = _mime.lines(text)
        if "\r" in html:
            html = _mime.lines(html)
        if found_headers is None:
            found_headers = _headers(headers) if headers else ()
            plain_headers = not found_headers
        found_attachments = _attachments(attachments) if attachments else ()
        defects: tuple[Defect, ...] = ()
        # Only text that is not plain ASCII can hold a lone surrogate; `isascii` reads a flag.
        if not (
            subject.isascii()
            and text.isascii()
            and html.isascii()
            and (mid is None or mid.isascii())
            and plain_headers
            and not found_attachments
        ) and not _all_ascii(subject, text, html, mid, found_headers, found_attachments):
            subject, text, html, mid, found_headers, found_attachments, defects = _scrubbed(
                subject, text, html, mid, found_headers, found_attachments
            )
        if no_from_address:
            defects = (*defects, Defect.FROM_WITHOUT_ADDRESS)
        return (_message if cls is Message else cls)(
            mid,
            _sent_at(sent_at) if sent_at is not None else None,
            participants,
            subject,
            text,
            html,
            found_attachments,
            found_headers,
            _flags(flags) if flags else _NO_FLAGS,
            defects,
            _EVERYTHING,
            mid or "",
        )


def _scrubbed(
    subject: str,
    text: str,
    html: str,
    mid: str | None,
    headers: tuple[tuple[str, str], ...],
    attachments: tuple[Attachment, ...],
) -> tuple[
    str,
    str,
    str,
    str | None,
    tuple[tuple[str, str], ...],
    tuple[Attachment, ...],
    tuple[Defect, ...],
]:
    """`Message.build`'s texts with every lone surrogate replaced, and the defects that says."""
    found: list[Defect] = []
    scrub = _mime.scrub_surrogates
    subject, text, html = (scrub(t, found) for t in (subject, text, html))
    if mid is not None:
        mid = scrub(mid, found)
    if headers:
        headers = tuple((scrub(n, found), scrub(v, found)) for n, v in headers)
    if attachments:
        attachments = tuple(_scrubbed_attachment(a, found) for a in attachments)
    return subject, text, html, mid, headers, attachments, tuple(dict.fromkeys(found))


def _all_ascii(
    subject: str,
    text: str,
    html: str,
    mid: str | None,
    headers: tuple[tuple[str, str], ...],
    attachments: tuple[Attachment, ...],
) -> bool:
    """True when every text `Message.build` was given is plain ASCII (no surrogate to scrub)."""
    return (
        subject.isascii()
        and text.isascii()
        and html.isascii()
        and (mid is None or mid.isascii())
        and (not headers or _ascii_pairs(headers))
        and (not attachments or all(a.filename.isascii() for a in attachments))
    )


def _no_from_address(participants: Iterable[Participant]) -> bool:
    """True when *participants* hold From entries and none of them has an address."""
    seen = False
    for p in participants:
        if p.role is _FROM:
            if p.address is not None:
                return False
            seen = True
    return seen


def _dict_headers(
    values: dict[str, str],
) -> tuple[tuple[tuple[str, str], ...], bool, tuple[str, str]] | None:
    """A dict of headers in one pass: its pairs (as `_headers` gives them), whether they are all
    plain ASCII, and its ``Sender`` and ``Reply-To`` values (as `_replying` gives them).

    None when a name or a value is not plain text: `_headers` and `_replying` read it then.
    """
    pairs = tuple(values.items())
    plain = True
    sender = reply_to = ""
    for name, value in pairs:
        if name.__class__ is not str or value.__class__ is not str:
            return None
        if plain and not (name.isascii() and value.isascii()):
            plain = False
        if len(name) in (6, 8):
            lower = name.lower()
            if lower == "sender":
                if not sender:
                    sender = value
            elif lower == "reply-to" and not reply_to:
                reply_to = value
    return pairs, plain, (sender, reply_to)


def _replying(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> tuple[str, str]:
    """The ``Sender`` and ``Reply-To`` values among *headers* (each the first), or ``""``."""
    sender = reply_to = ""
    if headers.__class__ is dict:  # the common form, as JSON gives it: names alone are looked at
        for name in headers:
            if name.__class__ is str and len(name) in (6, 8):
                lower = name.lower()
                if lower == "sender" or lower == "reply-to":
                    return _replying(list(headers.items()))
        return sender, reply_to
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    if not isinstance(pairs, Iterable) or isinstance(pairs, str | bytes):
        return sender, reply_to  # `_headers` refuses it
    for pair in pairs:
        if isinstance(pair, tuple | list) and len(pair) == 2 and isinstance(pair[0], str):
            name, value = pair[0].lower(), pair[1]
            if isinstance(value, str):
                if name == "sender" and not sender:
                    sender = value
                elif name == "reply-to" and not reply_to:
                    reply_to = value
    return sender, reply_to


def _ascii_pairs(pairs: tuple[tuple[str, str], ...]) -> bool:
    """True when every name and value of *pairs* is plain ASCII."""
    return all(name.isascii() and value.isascii() for name, value in pairs)


def _scrubbed_attachment(attachment: Attachment, found: list[Defect]) -> Attachment:
    """*attachment* with the lone surrogates of its name and type replaced (see `Defect`)."""
    name = _mime.scrub_surrogates(attachment.filename, found)
    ctype = _mime.scrub_surrogates(attachment.content_type, found)
    if name is attachment.filename and ctype is attachment.content_type:
        return attachment
    return Attachment(name, ctype, attachment.size, attachment.content)


#: The slots' setters of `Message`, in field order, for its ``__init__`` and `_message`.
_SETTERS: tuple[Callable[[Message, Any], None], ...] = tuple(
    getattr(Message, f.name).__set__ for f in fields(Message)
)
(
    _set_message_id,
    _set_sent_at,
    _set_participants,
    _set_subject,
    _set_text,
    _set_html,
    _set_attachments,
    _set_headers,
    _set_flags,
    _set_defects,
    _set_level,
    _set_key,
) = _SETTERS
_new = object.__new__


def _message(
    message_id: str | None,
    sent_at: datetime | None,
    participants: tuple[Participant, ...],
    subject: str | None,
    text: str | None,
    html: str | None,
    attachments: tuple[Attachment, ...] | None,
    headers: tuple[tuple[str, str], ...],
    flags: frozenset[Flag],
    defects: tuple[Defect, ...],
    level: SharingLevel,
    key: str,
) -> Message:
    """``Message(...)`` for values its ``__init__`` would accept unchanged, made without it.

    For the hot paths (`Message.build`, redaction) whose values are right by construction:
    *level* a `SharingLevel` whose withheld fields are None. The record is made as
    ``__init__`` makes it, every slot filled by its own setter before anyone sees it (an
    empty *key* filled as ``__init__`` fills it); what this spares is the class call, which
    runs ``__init__`` through the type's slots, and the level check.
    """
    made: Message = _new(Message)
    _set_message_id(made, message_id)
    _set_sent_at(made, sent_at)
    _set_participants(made, participants)
    _set_subject(made, subject)
    _set_text(made, text)
    _set_html(made, html)
    _set_attachments(made, attachments)
    _set_headers(made, headers)
    _set_flags(made, flags)
    _set_defects(made, defects)
    _set_level(made, level)
    _set_key(made, key or message_id or fingerprint(made))
    return made


AttachmentLike = Attachment | tuple[str, bytes] | tuple[str, bytes, str]

_NO_FLAGS: frozenset[Flag] = frozenset()
_FROM_ISO = datetime.fromisoformat
_EVERYTHING = SharingLevel.EVERYTHING
_METADATA = SharingLevel.METADATA
_FROM, _TO, _CC, _BCC = Role.FROM, Role.TO, Role.CC, Role.BCC
_SENDER, _REPLY_TO = Role.SENDER, Role.REPLY_TO

_DEFAULT_LIMITS = Limits()
_WITHHELD = {
    SharingLevel.EVERYTHING: frozenset(),
    SharingLevel.SUBJECT: frozenset({"text", "html", "attachments"}),
    SharingLevel.METADATA: frozenset({"subject", "text", "html", "attachments"}),
}


def _checked_level(
    level: SharingLevel,
    subject: str | None,
    text: str | None,
    html: str | None,
    attachments: tuple[Attachment, ...] | None,
) -> SharingLevel:
    """*level* as a `SharingLevel`, after checking that the fields it withholds are None."""
    if level.__class__ is not SharingLevel:
        level = member(SharingLevel, level, "level", MessageError)
    if level is _EVERYTHING:
        return level
    held = (
        ("subject", subject if level is _METADATA else None),
        ("text", text),
        ("html", html),
        ("attachments", attachments),
    )
    for name, value in held:
        if value is not None:
            raise MessageError(
                f"a message at level {level.value!r} must hold {name} as None (withheld)."
            )
    return level


def normalize_message_id(value: str | None) -> str | None:
    """The Message-ID as mailbind keys it: trimmed, without its angle brackets; None if blank.

    Text after the closing bracket (a comment some servers append) is dropped.

    >>> normalize_message_id("  <abc@mail.example.com>  ")
    'abc@mail.example.com'
    >>> normalize_message_id("<>") is None
    True
    """
    if not value:
        return None
    if value[0] == "<" and value[-1] == ">":
        inner = value[1:-1]
        if ">" not in inner:  # the common form: one bracketed identifier
            return inner.strip() or None
    value = value.strip()
    if value.startswith("<"):
        end = value.find(">")
        value = value[1:end].strip() if end > 0 else value[1:].strip()
    return value or None


# --- Building from plain values ------------------------------------------------------------


def _message_id(value: object) -> str | None:
    """A Message-ID given to `Message.build` that is not a plain str: None, or a str subclass."""
    if value is None:
        return None
    if isinstance(value, str):
        return normalize_message_id(str(value))
    raise wrong_type("Message.build()", "message_id", "text or None", value, MessageTypeError)


def _text(name: str, value: object) -> str:
    """*value* when it is text, ``""`` for None; anything else is a caller mistake."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise MessageTypeError(f"{name} must be text, not {type(value).__name__}.")


def _sent_at(value: datetime | str) -> datetime:
    if isinstance(value, str):
        try:
            value = _FROM_ISO(value)
        except ValueError:
            raise MessageError(
                f"sent_at must be an ISO 8601 date and time, not {value!r}."
            ) from None
        if value.tzinfo is not None:
            # A fixed offset, whose `utcoffset` is never None.
            return value if 1 < value.year < 9999 else _in_range(value)
    elif not isinstance(value, datetime):
        raise MessageTypeError(f"sent_at must be a datetime, not {type(value).__name__}.")
    if value.utcoffset() is None:
        raise MessageError(
            f"sent_at must carry its time zone (a naive time is ambiguous), not {value!r}."
        )
    return value if 1 < value.year < 9999 else _in_range(value)


def _in_range(value: datetime) -> datetime:
    """*value* when it can be told in UTC; `MessageError` otherwise."""
    if not _mime.in_utc_range(value):
        raise MessageError(f"sent_at must be a time that UTC can hold, not {value!r}.")
    return value


def _attachments(values: Iterable[AttachmentLike]) -> tuple[Attachment, ...]:
    if not isinstance(values, Iterable) or isinstance(values, str | bytes | Attachment):
        raise wrong_type(
            "Message.build()", "attachments", "a list of attachments", values, MessageTypeError
        )
    found: list[Attachment] = []
    for value in values:
        if isinstance(value, Attachment):
            found.append(value)
            continue
        if (
            isinstance(value, tuple)
            and len(value) in (2, 3)
            and isinstance(value[0], str)
            and isinstance(value[1], bytes)
            and (len(value) == 2 or isinstance(value[2], str))
        ):
            content = value[1]
            ctype = value[2] if len(value) == 3 else _OCTET_STREAM
            found.append(Attachment(value[0], ctype, len(content), content))
            continue
        raise MessageTypeError(
            "an attachment must be an Attachment or a (filename, bytes[, content type]) "
            f"tuple, not {type(value).__name__}."
        )
    return tuple(found)


def _headers(values: Iterable[tuple[str, str]] | Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    if values.__class__ is dict:  # the common form, as JSON gives it
        items = tuple(values.items())
        if all(name.__class__ is str and value.__class__ is str for name, value in items):
            return items
    if not isinstance(values, Iterable):
        raise wrong_type(
            "Message.build()",
            "headers",
            "(name, value) pairs or a mapping",
            values,
            MessageTypeError,
        )
    pairs = values.items() if isinstance(values, Mapping) else values
    found: list[tuple[str, str]] = []
    for pair in pairs:
        if not (
            isinstance(pair, tuple | list)
            and len(pair) == 2
            and isinstance(pair[0], str)
            and isinstance(pair[1], str)
        ):
            raise MessageTypeError(
                f"a header must be a (name, value) pair of text, not {type(pair).__name__}."
            )
        found.append((pair[0], pair[1]))
    return tuple(found)


def _flags(values: Iterable[Flag | str]) -> frozenset[Flag]:
    if isinstance(values, str):
        values = (values,)
    elif not isinstance(values, Iterable):
        raise wrong_type("Message.build()", "flags", "a list of flags", values, MessageTypeError)
    found: set[Flag] = set()
    named = _FLAG_NAMES.get
    for value in values:
        # A flag's own name (as JSON gives it), or a `Flag`, which equals its name.
        flag = named(value) if value.__class__ is str or value.__class__ is Flag else None
        if flag is None:
            flag = member(Flag, value, "a flag", MessageError, MessageTypeError, fold=True)
        found.add(flag)
    return frozenset(found)


_FLAG_NAMES = {flag.value: flag for flag in Flag}
