"""Stable JSON forms of the values a backend passes around: `Message`, `Event`, `Decision`,
`Contact`, `Mailbox` and `Policy`.

Each ``encode_*`` writes compact JSON text (one object, Unicode kept as it is, no whitespace) and
the matching ``decode_*`` reads it back *equal*, every field kept. A backend can put the text in
a queue, a cache or an HTTP body and rebuild the value in another process.

Invariants:
- ``decode_x(encode_x(v)) == v`` for every value ``v`` of each kind.
- The forms are stable: text written by an earlier release reads back the same. A form only
  ever gains fields, and a decoder gives a field missing from older text its default.
- A decoder given text that is not its form raises `JSONFormError` (a `ValueError`) naming the
  form, never a bare `KeyError` or `TypeError`; it never returns a half-read value.
- Addresses are written as the six-field record the stores keep (identity key, local part,
  Unicode domain, ASCII domain, registrable domain, strict), so that a lenient address reads back
  exactly as it was accepted; times as ISO 8601 with their UTC offset.

Pure: no I/O, no clock. The message, event, mailbox and policy forms are those of
`mailbind.codecs`, which the stores use.
"""

from __future__ import annotations

import json as _json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from . import codecs
from ._kinds import Reason
from .codecs import JSON, address_from_record, address_record
from .contacts import Contact
from .errors import ArgumentTypeError, JSONFormError, MailbindError, wrong_type
from .events import Event
from .judge import Decision
from .messages import Direction, Message, SharingLevel
from .policy import Mailbox, Policy

__all__ = [
    "JSONFormError",
    "decode_contact",
    "decode_decision",
    "decode_event",
    "decode_mailbox",
    "decode_message",
    "decode_policy",
    "encode_contact",
    "encode_decision",
    "encode_event",
    "encode_mailbox",
    "encode_message",
    "encode_policy",
]

_T = TypeVar("_T")


def _checked(value: object, kind: type, function: str, described: str) -> None:
    if not isinstance(value, kind):
        raise wrong_type(function, "value", described, value, ArgumentTypeError)


def _decoded(text: object, form: str, read: Callable[[str], _T]) -> _T:
    """*read* applied to *text*, with every way the text can be wrong as one `JSONFormError`."""
    if not isinstance(text, str | bytes | bytearray):
        raise wrong_type(f"decode_{form}()", "text", "JSON text", text, ArgumentTypeError)
    if not isinstance(text, str):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise JSONFormError(f"The text is not UTF-8, so it is not a {form}.") from None
    try:
        return read(text)
    except _json.JSONDecodeError as err:
        raise JSONFormError(f"The text is not JSON ({err.msg}), so it is not a {form}.") from None
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, MailbindError):
        raise JSONFormError(f"The text is JSON but not the stable form of a {form}.") from None


# --- Messages, events, mailboxes and policies: the codecs' forms ------------------------------


def encode_message(value: Message) -> str:
    """*value* as the stable JSON text of a message (the form `mailbind.codecs` writes)."""
    _checked(value, Message, "encode_message()", "a Message")
    return codecs.encode_message(value)


def decode_message(text: str | bytes) -> Message:
    """The message `encode_message` wrote as *text*."""
    return _decoded(text, "message", codecs.decode_message)


def encode_event(value: Event) -> str:
    """*value* as the stable JSON text of an event."""
    _checked(value, Event, "encode_event()", "an Event")
    return codecs.encode_event(value)


def decode_event(text: str | bytes) -> Event:
    """The event `encode_event` wrote as *text*."""
    return _decoded(text, "event", codecs.decode_event)


def encode_mailbox(value: Mailbox) -> str:
    """*value* as the stable JSON text of a mailbox's settings."""
    _checked(value, Mailbox, "encode_mailbox()", "a Mailbox")
    return codecs.encode_mailbox(value)


def decode_mailbox(text: str | bytes) -> Mailbox:
    """The mailbox `encode_mailbox` wrote as *text*."""
    return _decoded(text, "mailbox", codecs.decode_mailbox)


def encode_policy(value: Policy) -> str:
    """*value* as the stable JSON text of a policy (bundled lists written as ``"bundled"``)."""
    _checked(value, Policy, "encode_policy()", "a Policy")
    return codecs.encode_policy(value)


def decode_policy(text: str | bytes) -> Policy:
    """The policy `encode_policy` wrote as *text*."""
    return _decoded(text, "policy", codecs.decode_policy)


# --- Decisions -------------------------------------------------------------------------------


def encode_decision(value: Decision) -> str:
    """*value* as stable JSON text: ``synced``, ``reasons`` (codes, in order), ``direction``,
    ``level``."""
    _checked(value, Decision, "encode_decision()", "a Decision")
    return JSON.encode(
        {
            "synced": value.synced,
            "reasons": [reason.value for reason in value.reasons],
            "direction": value.direction.value,
            "level": value.level.value,
        }
    )


def _read_decision(text: str) -> Decision:
    record: dict[str, Any] = _json.loads(text)
    synced = record["synced"]
    if synced.__class__ is not bool:
        raise ValueError("synced")
    reasons = record["reasons"]
    if not isinstance(reasons, list):
        raise ValueError("reasons")
    return Decision(
        synced=synced,
        reasons=tuple(Reason(reason) for reason in reasons),
        direction=Direction(record["direction"]),
        level=SharingLevel(record["level"]),
    )


def decode_decision(text: str | bytes) -> Decision:
    """The decision `encode_decision` wrote as *text*."""
    return _decoded(text, "decision", _read_decision)


# --- Contacts --------------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _moment(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("time")
    return datetime.fromisoformat(value)


def encode_contact(value: Contact) -> str:
    """*value* as stable JSON text: ``id``, ``primary``, ``additional`` (address records),
    ``created_at``, ``deleted_at`` (ISO 8601 or null), ``first_name``, ``last_name``,
    ``company_domain``."""
    _checked(value, Contact, "encode_contact()", "a Contact")
    return JSON.encode(
        {
            "id": value.id,
            "primary": address_record(value.primary),
            "additional": [address_record(address) for address in value.additional],
            "created_at": _time(value.created_at),
            "deleted_at": _time(value.deleted_at),
            "first_name": value.first_name,
            "last_name": value.last_name,
            "company_domain": value.company_domain,
        }
    )


def _read_contact(text: str) -> Contact:
    record: dict[str, Any] = _json.loads(text)
    created_at = _moment(record["created_at"])
    if created_at is None:
        raise ValueError("created_at")
    return Contact(
        record["id"],
        address_from_record(record["primary"]),
        [address_from_record(address) for address in record.get("additional", [])],
        created_at=created_at,
        deleted_at=_moment(record.get("deleted_at")),
        first_name=record.get("first_name", ""),
        last_name=record.get("last_name", ""),
        company_domain=record.get("company_domain"),
    )


def decode_contact(text: str | bytes) -> Contact:
    """The contact `encode_contact` wrote as *text*."""
    return _decoded(text, "contact", _read_contact)
