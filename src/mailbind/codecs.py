"""Lossless JSON text forms of a `Message`, an `Event` and a `Mailbox`, for stores that keep one
document each.

Invariants:
- ``decode_message(encode_message(m)) == m``, ``decode_event(encode_event(e)) == e`` and
  ``decode_mailbox(encode_mailbox(b)) == b`` for every value: no field is dropped, and the text
  is compact, with Unicode kept as it is. (Times keep their instant and UTC offset; a named
  zone reads back as its offset, which compares equal.)
- ``decode_document(encode_document(m), m.key, m.message_id) == m``: a store's document is the
  message's form without what the store keeps in columns beside it (key, Message-ID), and with
  each participant whose address is its key's own (as most are) written as the key alone.
  Every decoder reads both address forms.
- The forms are stable: stores written by earlier releases read back the same.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from ._kinds import Defect
from ._mime import in_utc_range, scrub_surrogates
from .addresses import Address, Canonicalization, Participant, Role
from .errors import MailbindError
from .events import Event
from .messages import Attachment, Flag, Message, SharingLevel
from .policy import Mailbox, Policy
from .providers import bundled_free_providers, bundled_institutions, bundled_role_addresses
from .schedule import SyncState, SyncStatus

__all__ = [
    "decode_event",
    "decode_mailbox",
    "decode_message",
    "decode_policy",
    "decode_sync_state",
    "encode_event",
    "encode_mailbox",
    "encode_message",
    "encode_policy",
    "encode_sync_state",
    "message_from_record",
]

# `encode_document` and `decode_document` are for the stores (`mailbind.stores`), not public.

#: One encoder for every document: compact, Unicode kept as it is.
JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def address_record(address: Address) -> list[Any]:
    return [
        address.key,
        address.local,
        address.domain,
        address.ascii_domain,
        address.registrable,
        address.strict,
    ]


def address_from_record(record: list[Any]) -> Address:
    key, local, domain, ascii_domain, registrable, strict = record
    return Address(key, local, domain, ascii_domain, registrable, strict)


def encode_mailbox(mailbox: Mailbox) -> str:
    """*mailbox* (owner, aliases, settings, id) as JSON text that `decode_mailbox` reads back."""
    record = {
        "id": mailbox.id,
        "owner": address_record(mailbox.owner),
        "aliases": [address_record(a) for a in sorted(mailbox.aliases, key=lambda a: a.key)],
        "incoming": mailbox.incoming.value,
        "outgoing": mailbox.outgoing.value,
        "create_contacts": mailbox.create_contacts,
        "contact_scope": mailbox.contact_scope.value,
        "skip_free_providers": mailbox.skip_free_providers,
    }
    return JSON.encode(record)


def decode_mailbox(text: str) -> Mailbox:
    """The mailbox `encode_mailbox` wrote as *text*."""
    record = json.loads(text)
    return Mailbox(
        address_from_record(record["owner"]),
        [address_from_record(a) for a in record["aliases"]],
        record["incoming"],
        record["outgoing"],
        create_contacts=record["create_contacts"],
        contact_scope=record["contact_scope"],
        skip_free_providers=record["skip_free_providers"],
        id=record["id"],
    )


def encode_sync_state(state: SyncState) -> str:
    """*state* (a mailbox's or a calendar's sync status) as JSON text `decode_sync_state` reads."""
    return JSON.encode(
        {
            "status": state.status.value,
            "last_success": None if state.last_success is None else state.last_success.isoformat(),
            "last_failure": None if state.last_failure is None else state.last_failure.isoformat(),
            "failures": state.failures,
            "error": state.error,
            "requested": state.requested,
        }
    )


def decode_sync_state(text: str | None) -> SyncState:
    """The state `encode_sync_state` wrote as *text*; a new `SyncState` for None."""
    if text is None:
        return SyncState()
    record = json.loads(text)
    success, failure = record["last_success"], record["last_failure"]
    return SyncState(
        SyncStatus(record["status"]),
        None if success is None else datetime.fromisoformat(success),
        None if failure is None else datetime.fromisoformat(failure),
        record["failures"],
        record["error"],
        record["requested"],
    )


def _listed(values: frozenset[str], bundled: frozenset[str]) -> list[str] | str:
    """*values* sorted, or ``"bundled"`` when they are the bundled list (which may grow)."""
    return "bundled" if values == bundled else sorted(values)


def encode_policy(policy: Policy) -> str:
    """*policy* (every setting) as JSON text that `decode_policy` reads back equal.

    Free-provider, role and institution lists equal to the bundled ones are written as
    ``"bundled"``.
    """
    canon = policy.canonicalization
    record = {
        "org_domains": sorted(policy.org_domains),
        "members": [address_record(a) for a in sorted(policy.members, key=lambda a: a.key)],
        "externals": [address_record(a) for a in sorted(policy.externals, key=lambda a: a.key)],
        "blocklist": sorted(policy.blocklist),
        "sync_internal": policy.sync_internal,
        "exclude_group_emails": policy.exclude_group_emails,
        "strip_subaddress": canon.strip_subaddress,
        "fold_gmail": canon.fold_gmail,
        "free_providers": _listed(policy.free_providers, bundled_free_providers()),
        "role_addresses": _listed(policy.role_addresses, bundled_role_addresses()),
        "institutions": _listed(policy.institutions, bundled_institutions()),
        "institutions_as_companies": policy.institutions_as_companies,
    }
    return JSON.encode(record)


def decode_policy(text: str) -> Policy:
    """The policy `encode_policy` wrote as *text*."""
    record = json.loads(text)
    providers, roles = record["free_providers"], record["role_addresses"]
    # Recorded before institutions were a setting: the defaults.
    institutions = record.get("institutions", "bundled")
    return Policy(
        record["org_domains"],
        [address_from_record(a) for a in record["members"]],
        [address_from_record(a) for a in record["externals"]],
        record["blocklist"],
        sync_internal=record["sync_internal"],
        exclude_group_emails=record["exclude_group_emails"],
        canonicalization=Canonicalization(record["strip_subaddress"], record["fold_gmail"]),
        free_providers=None if providers == "bundled" else providers,
        role_addresses=None if roles == "bundled" else roles,
        institutions=None if institutions == "bundled" else institutions,
        institutions_as_companies=record.get("institutions_as_companies", True),
    )


def _time_record(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time_from_record(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _party_address(address: Address) -> str | list[Any]:
    """*address* as a document's participant holds it: its key alone when every other field
    is the key's own (local part and domain as in the key, the domain its own ASCII form and
    registrable domain, strictly valid), else the six-field record."""
    key = address.key
    local, _, domain = key.rpartition("@")
    if (
        address.strict is True
        and address.local == local
        and address.domain == domain
        and address.ascii_domain == domain
        and address.registrable == domain
    ):
        return key
    return address_record(address)


def _party_address_from(value: str | list[Any]) -> Address:
    """The address `_party_address` wrote as *value*."""
    if isinstance(value, str):
        local, _, domain = value.rpartition("@")
        return Address(value, local, domain, domain, domain, True)
    return address_from_record(value)


def _participant_records(participants: tuple[Participant, ...]) -> list[list[Any]]:
    return [
        [
            p.role.value,
            None if p.address is None else address_record(p.address),
            p.name,
            p.raw,
            p.problem,
            p.group,
        ]
        for p in participants
    ]


def _raw_forms(name: str, address: Address) -> tuple[str, str, str]:
    """The texts a document writes as the numbers 0, 1 and 2 in a participant's place of *raw*:
    the address alone, and after its name bare or quoted."""
    spec = f"{address.local}@{address.domain}"
    return spec, f"{name} <{spec}>", f'"{name}" <{spec}>'


def _party_record(p: Participant) -> list[Any]:
    """*p* as a document holds it: the address as `_party_address` writes it; the entry's text
    as the number of its form in `_raw_forms` when it is one of them; no problem and group when
    it has none. `_party_from` reads it back."""
    raw: str | int = p.raw
    name = p.name
    where = p.address
    if where is None:
        address: str | list[Any] | None = None
    else:
        address = _party_address(where)
        # `_raw_forms`, compared one at a time: most entries are the first or second form.
        spec = f"{where.local}@{where.domain}"
        if raw == spec:
            raw = 0
        elif raw == f"{name} <{spec}>":
            raw = 1
        elif raw == f'"{name}" <{spec}>':
            raw = 2
    if p.problem is None and not p.group:
        return [p.role._value_, address, name, raw]
    return [p.role._value_, address, name, raw, p.problem, p.group]


def _party_from(record: list[Any]) -> Participant:
    """The participant `_party_record` (or `_participant_records`) wrote as *record*."""
    role, address, name, raw, *rest = record
    where = None if address is None else _party_address_from(address)
    if raw.__class__ is int and where is not None:
        raw = _raw_forms(name, where)[raw]
    return Participant(Role(role), where, name, raw, *rest)


def _participants(
    records: list[list[Any]], made: dict[tuple[Any, ...], Participant] | None = None
) -> tuple[Participant, ...]:
    """The participants of *records*; with *made*, a participant written in the plain form
    (four fields, the address as its key) is made once and found there again."""
    if made is None:
        return tuple(map(_party_from, records))
    parties = []
    for record in records:
        if len(record) == 4 and record[1].__class__ is str:
            found = (record[0], record[1], record[2], record[3])
            party = made.get(found)
            if party is None:
                party = made[found] = _party_from(record)
            parties.append(party)
        else:
            parties.append(_party_from(record))
    return tuple(parties)


def encode_event(event: Event) -> str:
    """*event* as compact JSON text that `decode_event` reads back equal, every field kept."""
    organizer = () if event.organizer is None else (event.organizer,)
    record = {
        "key": event.key,
        "uid": event.uid,
        "organizer": _participant_records(organizer),
        "attendees": _participant_records(event.attendees),
        "resources": _participant_records(event.resources),
        "start": _time_record(event.start),
        "end": _time_record(event.end),
        "title": event.title,
        "description": event.description,
        "location": event.location,
        "conference_url": event.conference_url,
        "cancelled": event.cancelled,
        "all_day": event.all_day,
        "recurrence_id": _time_record(event.recurrence_id),
        "sequence": event.sequence,
        "flags": sorted(flag.value for flag in event.flags),
        "defects": event.defects,
        "level": event.level.value,
        "private": event.private,
        "recurrence": event.recurrence,
    }
    return JSON.encode(record)


def decode_event(text: str) -> Event:
    """The event `encode_event` wrote as *text*."""
    record = json.loads(text)
    organizer = _participants(record["organizer"])
    return Event(
        uid=record["uid"],
        organizer=organizer[0] if organizer else None,
        attendees=_participants(record["attendees"]),
        start=_time_from_record(record["start"]),
        end=_time_from_record(record["end"]),
        title=record["title"],
        description=record["description"],
        location=record["location"],
        conference_url=record["conference_url"],
        cancelled=record["cancelled"],
        all_day=record["all_day"],
        recurrence_id=_time_from_record(record["recurrence_id"]),
        sequence=record["sequence"],
        resources=_participants(record["resources"]),
        flags=frozenset(Flag(flag) for flag in record["flags"]),
        defects=tuple(map(Defect, record["defects"])),
        level=SharingLevel(record["level"]),
        key=record["key"],
        private=record["private"],
        recurrence=tuple(record["recurrence"]),
    )


def _message_record(message: Message) -> dict[str, Any]:
    attachments = (
        None
        if message.attachments is None
        else [
            [a.filename, a.content_type, a.size, base64.b64encode(a.content).decode("ascii")]
            for a in message.attachments
        ]
    )
    return {
        "key": message.key,
        "message_id": message.message_id,
        "sent_at": _time_record(message.sent_at),
        "participants": _participant_records(message.participants),
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "attachments": attachments,
        "headers": message.headers,
        "flags": sorted(flag.value for flag in message.flags),
        "defects": message.defects,
        "level": message.level.value,
    }


#: The fields a document leaves out when they hold these values (most messages' own).
_DOCUMENT_DEFAULTS: dict[str, Any] = {
    "html": "",
    "attachments": [],
    "flags": [],
    "defects": (),
    "level": SharingLevel.EVERYTHING.value,
}


#: The participants a header of these names (lower case) lists, by role.
_HEADER_ROLES = {
    "from": Role.FROM,
    "to": Role.TO,
    "cc": Role.CC,
    "bcc": Role.BCC,
    "sender": Role.SENDER,
    "reply-to": Role.REPLY_TO,
}


def _header_form(
    number: int,
    name: str,
    fields: Mapping[str, Any],
    participants: tuple[Participant, ...],
    sent_at: datetime | None,
) -> str | None:
    """The text a document writes as *number* in place of the value of the header *name*: 0
    the subject, 1 the entries of the participants the header names (as ``", "`` joins them),
    2 the Message-ID in angle brackets, 3 the send time as RFC 5322 writes it; None where the
    message has none. *fields* holds ``subject`` and ``message_id``."""
    if number == 0:
        subject: str = fields["subject"]
        return subject
    if number == 1:
        role = _HEADER_ROLES.get(name.lower())
        return None if role is None else ", ".join(p.raw for p in participants if p.role is role)
    if number == 2:
        message_id = fields["message_id"]
        return None if message_id is None else f"<{message_id}>"
    if number == 3:
        return None if sent_at is None else format_datetime(sent_at)
    raise ValueError(f"A header's value is a text or a form from 0 to 3, not {number!r}.")


def _header_text(
    number: int,
    name: str,
    fields: Mapping[str, Any],
    participants: tuple[Participant, ...],
    sent_at: datetime | None,
) -> str:
    """The value of header *name* that a document wrote as form *number*."""
    text = _header_form(number, name, fields, participants, sent_at)
    if text is None:
        raise ValueError(f"The header {name!r} is written as form {number}, which it has not.")
    return text


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _date_form(sent_at: datetime) -> str:
    """Form 3 of `_header_form`: ``format_datetime`` of *sent_at* as the document reads it back
    (`_time_record`, then `_time_from_record`), made directly for an offset of whole minutes."""
    offset = sent_at.utcoffset()
    if offset is None:
        zone = "-0000"  # read back without an offset: a naive time
    else:
        seconds = offset.days * 86400 + offset.seconds
        if offset.microseconds or seconds % 60:
            return format_datetime(datetime.fromisoformat(sent_at.isoformat()))
        minutes = abs(seconds) // 60
        zone = f"{'-' if seconds < 0 else '+'}{minutes // 60:02d}{minutes % 60:02d}"
    return (
        f"{_DAYS[sent_at.weekday()]}, {sent_at.day:02d} {_MONTHS[sent_at.month - 1]} "
        f"{sent_at.year:04d} {sent_at.hour:02d}:{sent_at.minute:02d}:{sent_at.second:02d} {zone}"
    )


#: The headers (lower case) a document may write as a form's number.
_FORM_HEADERS = frozenset({*_HEADER_ROLES, "subject", "message-id", "date"})


def _header_records(message: Message) -> list[list[Any]]:
    """The headers of *message* as its document holds them: a Subject, From, To, Cc, Bcc,
    Sender, Reply-To, Message-ID or Date whose value is exactly its `_header_form` is written
    as that form's number (the decoder makes the same text from the same fields), every other
    value as it is.

    The forms are `_header_form`'s, each made at most once a message (a store encodes every
    message it keeps): the participants' entries of a role when a header of it comes, the
    time when a Date header does."""
    records: list[list[Any]] = []
    entries: dict[Role, str] = {}
    date: str | None = None
    for name, value in message.headers:
        lower = name.lower()
        if lower not in _FORM_HEADERS:
            records.append([name, value])
            continue
        role = _HEADER_ROLES.get(lower)
        if role is not None:
            form = entries.get(role)
            if form is None:
                form = entries[role] = ", ".join(
                    p.raw for p in message.participants if p.role is role
                )
            number = 1
        elif lower == "subject":
            form, number = message.subject, 0
        elif lower == "message-id":
            mid = message.message_id
            form, number = (None if mid is None else f"<{mid}>"), 2
        else:  # date
            if date is None and message.sent_at is not None:
                date = _date_form(message.sent_at)
            form, number = date, 3
        records.append([name, number] if value == form else [name, value])
    return records


def encode_message(message: Message) -> str:
    """*message* as compact JSON text that `decode_message` reads back equal, every field kept."""
    return JSON.encode(_message_record(message))


def encode_document(message: Message) -> str:
    """*message* as a store's document: `encode_message`'s form without the key and the
    Message-ID (the store keeps them in columns beside it), with each participant whose address
    is its key's own written as the key alone. `decode_document` reads it back."""
    return JSON.encode(_document_record(message))


def _document_record(message: Message) -> dict[str, Any]:
    """The record of a document: `_message_record`'s fields in the same order, without the key
    and the Message-ID, participants as `_party_record` and headers as `_header_records` write
    them, and leaving out each field that holds its `_DOCUMENT_DEFAULTS` value."""
    sent_at = message.sent_at
    record: dict[str, Any] = {
        "sent_at": None if sent_at is None else sent_at.isoformat(),
        "participants": [_party_record(p) for p in message.participants],
        "subject": message.subject,
        "text": message.text,
    }
    if message.html != "":
        record["html"] = message.html
    attachments = message.attachments
    if attachments is None:
        record["attachments"] = None
    elif attachments:
        record["attachments"] = [
            [a.filename, a.content_type, a.size, base64.b64encode(a.content).decode("ascii")]
            for a in attachments
        ]
    record["headers"] = _header_records(message)
    if message.flags:
        record["flags"] = sorted(flag.value for flag in message.flags)
    if message.defects != ():
        record["defects"] = message.defects
    if message.level is not SharingLevel.EVERYTHING:
        record["level"] = message.level.value
    return record


def decode_message(text: str) -> Message:
    """The message `encode_message` wrote as *text*."""
    return _message_from(json.loads(text))


def decode_document(text: str, key: str, message_id: str | None) -> Message:
    """The message with *key* and *message_id* whose document `encode_document` (or, before,
    `encode_message`) wrote as *text*."""
    return _document_from(text, key, message_id, None)


class DocumentReader:
    """Reads the documents of one read of a store (`decode_document`, `decode_message`),
    making each participant written in the plain form once: the messages of a timeline share
    most of their participants. It remembers every such participant it has made, so a store
    makes one for each read (a page, a chunk) and drops it after."""

    __slots__ = ("_made",)

    def __init__(self) -> None:
        self._made: dict[tuple[Any, ...], Participant] = {}

    def document(self, text: str, key: str, message_id: str | None) -> Message:
        """As `decode_document`."""
        return _document_from(text, key, message_id, self._made)

    def message(self, text: str) -> Message:
        """As `decode_message`."""
        return _message_from(json.loads(text), self._made)


def _document_from(
    text: str, key: str, message_id: str | None, made: dict[tuple[Any, ...], Participant] | None
) -> Message:
    record = json.loads(text)
    record.setdefault("key", key)
    record.setdefault("message_id", message_id)
    for name, value in _DOCUMENT_DEFAULTS.items():
        record.setdefault(name, value)
    return _message_from(record, made)


def _message_from(
    record: dict[str, Any], made: dict[tuple[Any, ...], Participant] | None = None
) -> Message:
    participants = _participants(record["participants"], made)
    attachments = record["attachments"]
    sent_at = _time_from_record(record["sent_at"])
    return Message(
        message_id=record["message_id"],
        sent_at=sent_at,
        participants=participants,
        subject=record["subject"],
        text=record["text"],
        html=record["html"],
        attachments=None
        if attachments is None
        else tuple(
            Attachment(name, kind, size, base64.b64decode(content))
            for name, kind, size, content in attachments
        ),
        headers=tuple(
            (
                name,
                value
                if value.__class__ is str
                else _header_text(value, name, record, participants, sent_at),
            )
            for name, value in record["headers"]
        ),
        flags=frozenset(Flag(flag) for flag in record["flags"]),
        defects=tuple(map(Defect, record["defects"])),
        level=SharingLevel(record["level"]),
        key=record["key"],
    )


# --- Messages from JSON-lines records ------------------------------------------------------
# The fields of `Message.build` as an ETL job writes them, one object a line.

#: Stands for a line that is not JSON (its record could not be decoded).
NOT_JSON = object()


def problem_message(text: str, defect: Defect | str) -> Message:
    """A message that only records a line the source could not read, keeping its text.

    *defect* is a `Defect` or its code.
    """
    found = [Defect(defect)]
    if not text.isascii():
        text = scrub_surrogates(text, found)
    return Message(message_id=None, sent_at=None, participants=(), text=text, defects=tuple(found))


def message_from_record(record: object, line: str | bytes | None = None) -> Message:
    """The message one decoded JSON-lines record describes (the fields above); never raises.

    *record* is the decoded JSON value of a line, *line* the line itself, kept as the text of a
    message that records a problem (the record written as JSON when not given): a value that
    is not an object gives a message whose defect is ``bad_json_line``, an object with a field
    of the wrong shape one whose defect is ``bad_json_record``. An unreadable or naive
    ``sent_at`` leaves the time out with ``bad_date``.
    """
    if not isinstance(record, dict):
        return problem_message(_line_text(record, line), Defect.BAD_JSON_LINE)
    fields: dict[str, Any] = record
    defects: list[Defect] = []
    sent_at = _sent_at(fields.get("sent_at"), defects)
    try:
        message = Message.build(
            sender=fields.get("sender") or "",
            to=fields.get("to") or (),
            cc=fields.get("cc") or (),
            bcc=fields.get("bcc") or (),
            subject=fields.get("subject"),
            text=fields.get("text"),
            html=fields.get("html"),
            message_id=fields.get("message_id"),
            sent_at=sent_at,
            headers=fields.get("headers") or (),
            flags=fields.get("flags") or (),
            reply_to=fields.get("reply_to") or (),
            sender_header=fields.get("sender_header") or (),
        )
    except (MailbindError, TypeError, AttributeError):
        return problem_message(_line_text(record, line), Defect.BAD_JSON_RECORD)
    if defects:
        return replace(message, defects=message.defects + tuple(defects))
    return message


def _line_text(record: object, line: str | bytes | None) -> str:
    """The text a problem message keeps: the line as read, or the record written as JSON."""
    if isinstance(line, bytes):
        return line.decode("utf-8", "replace").rstrip("\r\n")
    if isinstance(line, str):
        return line.rstrip("\r\n")
    if record is NOT_JSON:
        return ""
    return json.dumps(record, ensure_ascii=False, default=repr)


def _sent_at(value: Any, defects: list[Defect]) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
        if moment is not None and moment.utcoffset() is not None and in_utc_range(moment):
            return moment
    defects.append(Defect.BAD_DATE)
    return None
