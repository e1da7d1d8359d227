"""The closed sets mailbind names: roles, flags, directions, sharing levels, defects, reasons.

Invariants:
- Each is a `StrEnum` whose values are stable strings, safe to store, show and compare with
  plain text (``Role.FROM == "from"``); the stored forms never change.
- This module imports nothing else from mailbind, so every other module can import from it
  without a cycle; `mailbind.addresses`, `mailbind.messages` and `mailbind.rules` re-export
  each set from where it was first defined.
- `SharingLevel` is ordered by its definition, METADATA < SUBJECT < EVERYTHING.
- `member` is the one reader of a choice among an enum's values, for the library, the config
  file and the command line alike: a wrong value is refused with one sentence
  (`not_one_of`) that lists the choices in the enum's order.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from functools import cached_property
from typing import TypeVar

__all__ = ["Defect", "Direction", "Flag", "Reason", "Role", "SharingLevel"]

_E = TypeVar("_E", bound=StrEnum)


def choices(kind: type[StrEnum] | Iterable[str]) -> list[str]:
    """What may be given for one value of *kind*: an enum's values in their order, or the
    names of a collection sorted.

    >>> choices(SharingLevel)
    ['metadata', 'subject', 'everything']
    >>> choices({"mbox": 1, "eml": 2})
    ['eml', 'mbox']
    """
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        return [m.value for m in kind]
    return sorted(kind)


def not_one_of(what: str, kind: type[StrEnum] | Iterable[str], value: object) -> str:
    """The sentence refusing *value* for *what*, which must be one of *kind*'s `choices`.

    >>> not_one_of("The format", ["mbox", "eml"], "pst")
    "The format must be one of eml, mbox, not 'pst'."
    """
    return f"{what} must be one of {', '.join(choices(kind))}, not {value!r}."


def member(
    kind: type[_E],
    value: object,
    what: str,
    error: type[Exception],
    type_error: type[Exception] | None = None,
    *,
    fold: bool = False,
) -> _E:
    """*value* (a member of *kind*, or its text; any case with *fold*) as a member of *kind*.

    Anything else raises *error* with `not_one_of`'s sentence naming *what*, or *type_error*,
    when given, for a value that is not text at all.

    >>> member(SharingLevel, "subject", "level", ValueError)
    <SharingLevel.SUBJECT: 'subject'>
    >>> member(SharingLevel, "all", "level", ValueError)
    Traceback (most recent call last):
    ...
    ValueError: level must be one of metadata, subject, everything, not 'all'.
    """
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value.lower() if fold else value)
        except ValueError:
            pass
    wrong = error if type_error is None or isinstance(value, str) else type_error
    raise wrong(not_one_of(what, kind, value))


class Role(StrEnum):
    """The header a participant was named in."""

    FROM = "from"
    TO = "to"
    CC = "cc"
    BCC = "bcc"
    SENDER = "sender"
    REPLY_TO = "reply_to"


class Direction(StrEnum):
    """Whether the mailbox owner sent the message or received it."""

    INCOMING = "incoming"
    OUTGOING = "outgoing"


class Flag(StrEnum):
    """What the source knows about a message's place (folder role, flags, labels)."""

    DRAFT = "draft"
    SPAM = "spam"
    TRASH = "trash"
    #: The source holds the message in the owner's sent folder: it is outgoing.
    SENT = "sent"


class SharingLevel(StrEnum):
    """How much of a message other users may read, ordered as defined: least first."""

    METADATA = "metadata"
    SUBJECT = "subject"
    EVERYTHING = "everything"

    @cached_property
    def rank(self) -> int:
        """0, 1 or 2: the position of the level in the order, which is its definition's."""
        return SharingLevel._member_names_.index(self._name_)

    # Every rule compares levels: each comparison reads the rank each member keeps after
    # its first use (a `cached_property` is an attribute of the member from then on).
    def __lt__(self, other: object) -> bool:
        if other.__class__ is not SharingLevel:
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if other.__class__ is not SharingLevel:
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if other.__class__ is not SharingLevel:
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if other.__class__ is not SharingLevel:
            return NotImplemented
        return self.rank >= other.rank

    # Hash as the string it equals (``"metadata" == SharingLevel.METADATA``), in C.
    __hash__ = str.__hash__


class Defect(StrEnum):
    """What could not be read of a message or an event: stable codes, safe to store and show."""

    #: Larger than ``Limits.max_bytes``: only the headers were read.
    TOO_LARGE = "too_large"
    #: MIME nesting deeper than ``Limits.max_depth``: the deeper parts were not read.
    TOO_DEEP = "too_deep"
    #: More MIME parts than ``Limits.max_parts``: the later parts were not read.
    TOO_MANY_PARTS = "too_many_parts"
    #: More header fields than ``Limits.max_headers``: the later ones were not read.
    TOO_MANY_HEADERS = "too_many_headers"
    #: A header value longer than ``Limits.max_header_length``: it was cut.
    HEADER_TOO_LONG = "header_too_long"
    #: The Date header (or a record's ``sent_at``) could not be read: ``sent_at`` is None.
    BAD_DATE = "bad_date"
    #: More than one Message-ID header: the first one counts.
    DUPLICATE_MESSAGE_ID = "duplicate_message_id"
    #: A header line that is neither a field nor a continuation was skipped.
    BAD_HEADER_LINE = "bad_header_line"
    #: The headers ended without a blank line: the rest was read as the body.
    MISSING_HEADER_BODY_SEPARATOR = "missing_header_body_separator"
    #: An RFC 2047 encoded word could not be decoded: its text was kept as written.
    BAD_ENCODED_WORD = "bad_encoded_word"
    #: A charset nobody knows: the text was read as UTF-8 (or Windows-1252).
    UNKNOWN_CHARSET = "unknown_charset"
    #: Text that is not in its declared charset: it was read as UTF-8 (or Windows-1252).
    BAD_CHARSET = "bad_charset"
    #: Base64 content with bad padding or stray characters: what could be read was kept.
    BAD_BASE64 = "bad_base64"
    #: A multipart part without a boundary: its body was read as plain text.
    NO_BOUNDARY = "no_boundary"
    #: A multipart body in which its boundary never occurs: it was read as plain text.
    START_BOUNDARY_NOT_FOUND = "start_boundary_not_found"
    #: A multipart body whose closing boundary is missing: it ends at the end of its parent.
    CLOSE_BOUNDARY_NOT_FOUND = "close_boundary_not_found"
    #: The message could not be read at all (a fault in mailbind; please report it).
    UNREADABLE = "unreadable"
    #: A JSON-lines line that is not a JSON object: the message keeps the line as its text.
    BAD_JSON_LINE = "bad_json_line"
    #: A JSON-lines object with a field of the wrong shape: the message keeps the line.
    BAD_JSON_RECORD = "bad_json_record"
    #: A file source held a symbolic link that leads outside its folder: it was never opened.
    REFUSED_SYMLINK = "refused_symlink"
    #: An IMAP server did not send the message's body, fetch after fetch, though it still
    #: holds the message: the source handed it out without it so the sync could go on.
    NOT_FETCHED = "not_fetched"
    #: Text held a lone surrogate (half of a UTF-16 pair, which is no Unicode character and
    #: which no file or database can hold): each was replaced by U+FFFD.
    LONE_SURROGATE = "lone_surrogate"
    #: The message ends its lines with a carriage return alone (old Mac style): its lines
    #: were read as such.
    CR_LINE_ENDINGS = "cr_line_endings"
    #: The From header names no address at all (``From: Jane Doe``): the message has no
    #: readable sender, and is judged on every address the header and the others still name.
    FROM_WITHOUT_ADDRESS = "from_without_address"
    #: An event's start could not be read: ``start`` is None.
    BAD_START = "bad_start"
    #: An event's end could not be read: ``end`` is None.
    BAD_END = "bad_end"
    #: The occurrence a changed event replaces could not be read: ``recurrence_id`` is None.
    BAD_RECURRENCE_ID = "bad_recurrence_id"
    #: An event's SEQUENCE is not a number: ``sequence`` is 0.
    BAD_SEQUENCE = "bad_sequence"
    #: An event names more than one organiser: the first one counts.
    SEVERAL_ORGANIZERS = "several_organizers"
    #: A calendar resource (an ``.ics`` file, a CalDAV object) is not readable iCalendar: it
    #: becomes an event without participants, named by its location, so the sync records it.
    BAD_ICAL = "bad_ical"


class Reason(StrEnum):
    """Why a message was or was not synced: stable codes, safe to store and show."""

    # Reasons that keep a message out of the CRM.
    INTERNAL = "internal"
    BLOCKLISTED = "blocklisted"
    GROUP_SENDER = "group_sender"
    BULK = "bulk"
    # Automated-sender signals (`mailbind.automated`), each its own reason.
    AUTO_SUBMITTED = "auto_submitted"
    BOUNCE_RETURN_PATH = "bounce_return_path"
    ERRORS_TO = "errors_to"
    LIST_ADDRESS = "list_address"
    BULK_MAILER = "bulk_mailer"
    FEEDBACK_ID = "feedback_id"
    AUTO_RESPONSE_SUPPRESS = "auto_response_suppress"
    ESP_SENDER_DOMAIN = "esp_sender_domain"
    DRAFT = "draft"
    SPAM = "spam"
    TRASH = "trash"
    # Reasons that explain why a message is synced.
    EXTERNAL = "external"
    INTERNAL_ALLOWED = "internal_allowed"
    OWNER_ON_FREE_PROVIDER = "owner_on_free_provider"
    UNREADABLE_PARTICIPANT = "unreadable_participant"
    NO_PARTICIPANTS = "no_participants"
    # Reasons a store adds to what it keeps.
    MESSAGE_ID_REUSED = "message_id_reused"

    @property
    def excludes(self) -> bool:
        """True when this reason keeps the message out of the CRM."""
        return self in _EXCLUDING

    @property
    def description(self) -> str:
        """One sentence for a person."""
        return _DESCRIPTIONS[self]


_EXCLUDING = frozenset(
    {
        Reason.INTERNAL,
        Reason.BLOCKLISTED,
        Reason.GROUP_SENDER,
        Reason.BULK,
        Reason.AUTO_SUBMITTED,
        Reason.BOUNCE_RETURN_PATH,
        Reason.ERRORS_TO,
        Reason.LIST_ADDRESS,
        Reason.BULK_MAILER,
        Reason.FEEDBACK_ID,
        Reason.AUTO_RESPONSE_SUPPRESS,
        Reason.ESP_SENDER_DOMAIN,
        Reason.DRAFT,
        Reason.SPAM,
        Reason.TRASH,
    }
)

_DESCRIPTIONS = {
    Reason.INTERNAL: "Every participant is a colleague.",
    Reason.BLOCKLISTED: "A participant is on the blocklist.",
    Reason.GROUP_SENDER: "The sender is a role or automated address.",
    Reason.BULK: "The message carries mailing-list or bulk headers.",
    Reason.AUTO_SUBMITTED: "The message says it was sent automatically (Auto-Submitted).",
    Reason.BOUNCE_RETURN_PATH: "Its Return-Path is a bounce or VERP address of bulk mail.",
    Reason.ERRORS_TO: "It carries Errors-To, which only list and bulk software writes.",
    Reason.LIST_ADDRESS: "It comes from a mailing list's own address (owner-, -request).",
    Reason.BULK_MAILER: "It was sent by list-manager or email-marketing software.",
    Reason.FEEDBACK_ID: "It carries a Feedback-ID, as bulk senders' mail does.",
    Reason.AUTO_RESPONSE_SUPPRESS: "It asks for no automatic replies, as automated mail does.",
    Reason.ESP_SENDER_DOMAIN: "It comes from a domain that exists only to send bulk mail.",
    Reason.DRAFT: "The message is a draft.",
    Reason.SPAM: "The source files the message as spam.",
    Reason.TRASH: "The source files the message as trash.",
    Reason.EXTERNAL: "At least one participant is outside the organisation.",
    Reason.INTERNAL_ALLOWED: "Every participant is a colleague, and internal mail syncs.",
    Reason.OWNER_ON_FREE_PROVIDER: "The owner's address is on a free provider: all mail syncs.",
    Reason.UNREADABLE_PARTICIPANT: "A participant's address could not be read.",
    Reason.NO_PARTICIPANTS: "The message names no sender and no recipient.",
    Reason.MESSAGE_ID_REUSED: (
        "Another message with other content has the same Message-ID: each is kept apart."
    ),
}
