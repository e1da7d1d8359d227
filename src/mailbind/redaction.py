"""Redaction: what a reader below EVERYTHING may see of a message.

Invariants:
- ``redact(m, level)`` removes every field above *level*: nothing of a removed field survives
  anywhere in the result (headers such as ``Thread-Topic`` and attachment names included).
- A removed field is withheld (``None``), not emptied.
- Idempotent, monotone, and ``redact(redact(m, a), b) == redact(m, min(a, b))``.
"""

from __future__ import annotations

from typing import overload

from ._kinds import member
from .errors import MessageTypeError, wrong_type
from .events import Event, redact_event
from .messages import Message, MessageError, SharingLevel, _message

__all__ = ["METADATA_HEADERS", "SUBJECT_HEADERS", "redact"]

#: Header names (lower-case) kept at every level.
METADATA_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "sender",
        "reply-to",
        "date",
        "message-id",
        "in-reply-to",
        "references",
    }
)

#: Header names (lower-case) kept at ``SUBJECT``: the metadata set and ``Subject``.
SUBJECT_HEADERS = METADATA_HEADERS | {"subject"}

_KEPT_HEADERS = {SharingLevel.METADATA: METADATA_HEADERS, SharingLevel.SUBJECT: SUBJECT_HEADERS}


@overload
def redact(message: Message, level: SharingLevel | str) -> Message: ...


@overload
def redact(message: Event, level: SharingLevel | str) -> Event: ...


def redact(message: Message | Event, level: SharingLevel | str) -> Message | Event:
    """*message* as a reader at *level* may see it; the same object when nothing is removed.

    At ``METADATA`` the participants, the send time, the identifiers (Message-ID, key), the
    flags, the defects and the `METADATA_HEADERS` stay; the subject, both bodies and the
    attachments are withheld (None) and every other header is gone. ``SUBJECT`` also keeps the
    subject and the ``Subject`` header. ``EVERYTHING`` keeps everything. A calendar `Event`
    is redacted by `redact_event` (RULES 8).

    Raises `MessageError` (a `ValueError`) when *level* is not a sharing level.
    """
    if level.__class__ is not SharingLevel:
        level = _level(level)
    try:
        held = message.level.rank
    except AttributeError:
        raise wrong_type(
            "redact()", "message", "a Message or an Event", message, MessageTypeError
        ) from None
    if level.rank >= held:
        return message
    if message.__class__ is not Message and isinstance(message, Event):
        return redact_event(message, level)
    # The hot path of every ETL job, written out here: one new record, its headers cut down.
    headers = message.headers
    if headers:
        kept = _KEPT_HEADERS[level]
        headers = tuple(pair for pair in headers if pair[0].lower() in kept)
    return _message(
        message.message_id,
        message.sent_at,
        message.participants,
        message.subject if level is _SUBJECT else None,
        None,
        None,
        None,
        headers,
        message.flags,
        message.defects,
        level,
        message.key,
    )


def _level(value: object) -> SharingLevel:
    return member(SharingLevel, value, "level", MessageError, MessageTypeError)


_SUBJECT = SharingLevel.SUBJECT
