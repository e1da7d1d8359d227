"""Calendar events: the record the rules read for a meeting, like a message (RULES 8).

Invariants:
- An `Event` offers the same surface the rules read of a `Message` (``participants``,
  ``sender``, ``flags``, ``headers``, ``key``, ``level``), so `decide`, `redact`,
  `resolve_contact` and `plan_contacts` treat it through the very same predicates: the
  organiser stands in the sender's place (`Role.FROM`), attendees as recipients (`Role.TO`).
- Rooms and other resources are kept apart in ``resources``: they are not people, so they never
  decide whether an event is internal and never become contacts.
- Times are timezone-aware. An all-day event starts at midnight of its first day in the
  timezone given (UTC unless told otherwise), with ``all_day`` set.
- A field that redaction removed is ``None`` (withheld), never emptied.
- A private event (``CLASS:PRIVATE`` or ``CLASS:CONFIDENTIAL``) redacted below EVERYTHING is
  *busy* only: its times and recurrence stay, and its title, description, location, link,
  organiser, attendees and resources are all withheld, whatever the level (RULES 8, the private
  rule of docs/calendar.md).
- A recurring event is one record for the series (its ``RRULE``, ``RDATE`` and ``EXDATE`` lines
  in ``recurrence``), and one more per changed occurrence (``recurrence_id`` set): series are
  never expanded, so nothing depends on a window or a clock.
- ``key`` identifies the event across mailboxes: its UID (with the recurrence id of a changed
  occurrence), or a stable fingerprint when the UID is blank. It is computed once.
- Reading iCalendar text uses the optional ``icalendar`` package, imported only when needed.
  Fields a VEVENT holds in a form that cannot be read become codes in ``defects``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from ._kinds import Defect, Flag, Role, SharingLevel
from .addresses import Participant, parse_participants
from .errors import EventError, EventTypeError, wrong_type

__all__ = ["Event", "EventError", "redact_event"]


def _aware(value: object, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise EventTypeError(
            f"The event {what} must be a timezone-aware datetime, not {type(value).__name__}."
        )
    if value.utcoffset() is None:
        raise EventError(f"The event {what} is a naive datetime: {value!r}; give a timezone.")
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise EventTypeError(f"The event {what} must be a string, not {type(value).__name__}.")
    return value


def _people(value: object, role: Role, what: str) -> tuple[Participant, ...]:
    """Participants from a header-like string, a Participant, or an iterable of either."""
    if value is None:
        return ()
    if isinstance(value, str):
        return parse_participants(value, role)
    if isinstance(value, Participant):
        return (replace(value, role=role),)
    if not isinstance(value, Iterable):
        raise EventTypeError(f"The event {what} must be addresses, not {type(value).__name__}.")
    out: list[Participant] = []
    for item in value:
        if isinstance(item, Participant):
            out.append(replace(item, role=role))
        elif isinstance(item, str):
            out.extend(parse_participants(item, role))
        else:
            raise EventTypeError(
                f"The event {what} must be addresses, not {type(item).__name__} items."
            )
    return tuple(out)


def _flags(flags: Iterable[Flag | str]) -> frozenset[Flag]:
    if not isinstance(flags, Iterable):
        raise wrong_type("Event.build()", "flags", "a list of flags", flags, EventTypeError)
    try:
        return frozenset(Flag(f) for f in ((flags,) if isinstance(flags, str) else flags))
    except ValueError:
        choices = ", ".join(f.value for f in Flag)
        raise EventError(f"Event flags must be among {choices}, not {flags!r}.") from None


@dataclass(frozen=True, slots=True)
class Event:
    """One calendar event as the rules see it."""

    #: The iCalendar UID ("" when the source had none).
    uid: str
    #: Who organised it (`Role.FROM`), or None.
    organizer: Participant | None
    #: Who was invited (`Role.TO`), rooms and resources excluded.
    attendees: tuple[Participant, ...]
    start: datetime | None
    end: datetime | None
    #: The title (SUMMARY); None when withheld by redaction.
    title: str | None = ""
    #: None when withheld.
    description: str | None = ""
    #: None when withheld.
    location: str | None = ""
    #: The video-conference link; None when withheld, ``""`` when there is none.
    conference_url: str | None = ""
    #: True when the event is cancelled: a store removes it.
    cancelled: bool = False
    #: True for an all-day event (``start`` is then midnight of its first day).
    all_day: bool = False
    #: The occurrence a changed instance of a recurring event replaces, or None.
    recurrence_id: datetime | None = None
    #: The iCalendar SEQUENCE: a higher number is a newer version of the same event.
    sequence: int = 0
    #: Rooms and other resources booked for the event (never people, never contacts).
    resources: tuple[Participant, ...] = ()
    #: What the source knows: draft, spam, trash.
    flags: frozenset[Flag] = frozenset()
    #: What could not be read of the event's fields (``bad_start``, ``several_organizers``, ...).
    defects: tuple[Defect, ...] = ()
    #: How much of the event this record holds.
    level: SharingLevel = SharingLevel.EVERYTHING
    #: The identity across mailboxes: the UID, or a ``sha256:`` fingerprint.
    key: str = ""
    #: Events have no mail headers; the rules read this as they read a message's.
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: True for ``CLASS:PRIVATE`` and ``CLASS:CONFIDENTIAL``: only its owner reads more than
    #: its times.
    private: bool = False
    #: The series' ``RRULE``, ``RDATE`` and ``EXDATE`` lines, as iCalendar content lines
    #: (``"RRULE:FREQ=WEEKLY;COUNT=10"``); empty for a single event or a changed occurrence.
    recurrence: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, types, described in _EVENT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, types):
                raise wrong_type("Event()", name, described, value, EventTypeError)
        if self.key:
            return
        if self.uid.strip():
            key = self.uid.strip()
            if self.recurrence_id is not None:
                key = f"{key}#{self.recurrence_id.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        else:
            key = _fingerprint(self)
        object.__setattr__(self, "key", key)

    @property
    def participants(self) -> tuple[Participant, ...]:
        """The organiser (as `Role.FROM`) followed by the attendees (as `Role.TO`)."""
        if self.organizer is None:
            return self.attendees
        return (self.organizer, *self.attendees)

    @property
    def sender(self) -> Participant | None:
        """The organiser, standing in the sender's place."""
        return self.organizer

    def header(self, name: str) -> str | None:
        """Always None: events have no mail headers."""
        return None

    @property
    def withheld(self) -> frozenset[str]:
        """The names of the fields redaction removed."""
        names = ("title", "description", "location", "conference_url")
        withheld = {n for n in names if getattr(self, n) is None}
        if self.busy:
            withheld.update(("organizer", "attendees", "resources"))
        return frozenset(withheld)

    @property
    def busy(self) -> bool:
        """True when this record shows only that its owner is busy: a private event redacted."""
        return self.private and self.level < SharingLevel.EVERYTHING

    @classmethod
    def build(
        cls,
        *,
        uid: str = "",
        organizer: str | Participant | None = None,
        attendees: str | Participant | Iterable[str | Participant] = (),
        start: datetime | None = None,
        end: datetime | None = None,
        title: str = "",
        description: str = "",
        location: str = "",
        conference_url: str = "",
        cancelled: bool = False,
        all_day: bool = False,
        recurrence_id: datetime | None = None,
        sequence: int = 0,
        resources: str | Participant | Iterable[str | Participant] = (),
        flags: Iterable[Flag | str] = (),
        private: bool = False,
        recurrence: Iterable[str] = (),
    ) -> Event:
        """Build an event from plain values (for ETL).

        Addresses are read like header values (``"Jane Doe <jane@example.com>"``): one that
        cannot be read becomes an unreadable participant, as in mail. A mistake in the other
        values (a naive datetime, a flag that does not exist) is an `EventError`.
        """
        organizers = _people(organizer, Role.FROM, "organizer")
        defects: list[Defect] = []
        if len(organizers) > 1:
            defects.append(Defect.SEVERAL_ORGANIZERS)
        flag_set = _flags(flags)
        if not isinstance(sequence, int):
            raise EventTypeError(f"The event sequence must be an integer, not {sequence!r}.")
        if isinstance(recurrence, str) or not isinstance(recurrence, Iterable):
            raise wrong_type(
                "Event.build()", "recurrence", "a list of lines", recurrence, EventTypeError
            )
        rules = tuple(_text(line, "recurrence") for line in recurrence)
        return cls(
            uid=_text(uid, "uid"),
            organizer=organizers[0] if organizers else None,
            attendees=_people(attendees, Role.TO, "attendees"),
            start=_aware(start, "start"),
            end=_aware(end, "end"),
            title=_text(title, "title"),
            description=_text(description, "description"),
            location=_text(location, "location"),
            conference_url=_text(conference_url, "conference_url"),
            cancelled=bool(cancelled),
            all_day=bool(all_day),
            recurrence_id=_aware(recurrence_id, "recurrence_id"),
            sequence=sequence,
            resources=_people(resources, Role.TO, "resources"),
            flags=flag_set,
            defects=tuple(defects),
            private=bool(private),
            recurrence=rules,
        )

    @classmethod
    def from_ical(
        cls,
        data: str | bytes,
        *,
        timezone: tzinfo = UTC,
        flags: Iterable[Flag | str] = (),
    ) -> tuple[Event, ...]:
        """Every VEVENT in iCalendar text (a VCALENDAR, or a bare VEVENT), in order.

        Floating times and all-day dates are read in *timezone*. Text that is not iCalendar at
        all is an `EventError`; a VEVENT field that cannot be read becomes a defect code.
        Needs the optional ``icalendar`` package (``pip install 'mailbind[ical]'``).
        """
        try:
            import icalendar
        except ImportError as err:
            raise ImportError(
                "Reading iCalendar text needs the optional 'icalendar' package: "
                "pip install 'mailbind[ical]'."
            ) from err
        if not isinstance(data, str | bytes):
            raise EventTypeError(
                f"iCalendar data must be text or bytes, not {type(data).__name__}."
            )
        try:
            calendars = icalendar.Component.from_ical(data, multiple=True)
        except ValueError:
            raise EventError("The data is not readable iCalendar text.") from None
        flag_set = _flags(flags)
        events: list[Event] = []
        for calendar in calendars:
            method = _plain(calendar.get("METHOD")).upper()
            for component in calendar.walk("VEVENT"):
                events.append(_from_vevent(component, method, timezone, flag_set))
        return tuple(events)


# --- Reading a VEVENT ------------------------------------------------------------------------

#: Properties that may carry a video-conference link, best first.
_CONFERENCE_PROPERTIES = (
    "CONFERENCE",
    "X-GOOGLE-CONFERENCE",
    "X-MICROSOFT-SKYPETEAMSMEETINGURL",
    "X-MICROSOFT-ONLINEMEETINGEXTERNALLINK",
    "X-MICROSOFT-ONLINEMEETINGCONFLINK",
    "URL",
)
_RESOURCE_TYPES = frozenset({"ROOM", "RESOURCE"})


def _first(value: Any) -> Any:
    """A property that occurs more than once arrives as a list: take the first."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _plain(value: Any) -> str:
    value = _first(value)
    return "" if value is None else str(value)


def _dt(prop: Any) -> Any:
    """The value of a date, time or duration property; None when it is missing or broken."""
    try:
        return getattr(prop, "dt", None)
    except ValueError:  # icalendar's BrokenCalendarProperty
        return None


def _moment(prop: Any, zone: tzinfo) -> tuple[datetime | None, bool, bool]:
    """(time, all day, readable) from a DTSTART-like property."""
    prop = _first(prop)
    if prop is None:
        return None, False, True
    value = _dt(prop)
    if isinstance(value, datetime):
        return (value if value.utcoffset() is not None else value.replace(tzinfo=zone)), False, True
    if isinstance(value, date):
        return datetime.combine(value, time(), zone), True, True
    return None, False, False


def _participant(prop: Any, role: Role) -> Participant:
    """A participant from an ORGANIZER or ATTENDEE value (``mailto:`` URI with a CN)."""
    raw = str(prop)
    text = raw.strip()
    if text[:7].lower() == "mailto:":
        text = text[7:]
    params = getattr(prop, "params", {}) or {}
    name = str(params.get("CN", "") or "").strip().strip('"')
    entries = parse_participants(text, role) if text and "," not in text else ()
    if len(entries) == 1 and entries[0].address is not None:
        return replace(entries[0], name=name or entries[0].name, raw=raw)
    if len(entries) == 1 and entries[0].problem:
        problem = entries[0].problem
    else:
        problem = "The calendar entry does not hold one address." if text else "No address."
    return Participant(role=role, address=None, name=name, raw=raw, problem=problem)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _from_vevent(component: Any, method: str, zone: tzinfo, flags: frozenset[Flag]) -> Event:
    defects: list[Defect] = []
    start, all_day, ok = _moment(component.get("DTSTART"), zone)
    if not ok:
        defects.append(Defect.BAD_START)
    end, _, ok = _moment(component.get("DTEND"), zone)
    if not ok:
        defects.append(Defect.BAD_END)
    if end is None and start is not None:
        duration = _dt(_first(component.get("DURATION")))
        if duration is not None and hasattr(duration, "total_seconds"):
            end = start + duration
    recurrence, _, ok = _moment(component.get("RECURRENCE-ID"), zone)
    if not ok:
        defects.append(Defect.BAD_RECURRENCE_ID)
    organizers = _list(component.get("ORGANIZER"))
    if len(organizers) > 1:
        defects.append(Defect.SEVERAL_ORGANIZERS)
    organizer = _participant(organizers[0], Role.FROM) if organizers else None
    attendees: list[Participant] = []
    resources: list[Participant] = []
    for prop in _list(component.get("ATTENDEE")):
        params = getattr(prop, "params", {}) or {}
        kind = str(params.get("CUTYPE", "")).upper()
        (resources if kind in _RESOURCE_TYPES else attendees).append(_participant(prop, Role.TO))
    try:
        sequence = int(_plain(component.get("SEQUENCE")) or 0)
    except ValueError:
        sequence = 0
        defects.append(Defect.BAD_SEQUENCE)
    conference = ""
    for name in _CONFERENCE_PROPERTIES:
        conference = _plain(component.get(name)).strip()
        if conference:
            break
    status = _plain(component.get("STATUS")).upper()
    classification = _plain(component.get("CLASS")).strip().upper()
    series: list[str] = []
    if recurrence_id_absent(component):
        for name in _RECURRENCE_PROPERTIES:
            for prop in _list(component.get(name)):
                series.append(_content_line(component, name, prop))
    return Event(
        uid=_plain(component.get("UID")),
        organizer=organizer,
        attendees=tuple(attendees),
        start=start,
        end=end,
        title=_plain(component.get("SUMMARY")),
        description=_plain(component.get("DESCRIPTION")),
        location=_plain(component.get("LOCATION")),
        conference_url=conference,
        cancelled=status == "CANCELLED" or method == "CANCEL",
        all_day=all_day,
        recurrence_id=recurrence,
        sequence=sequence,
        resources=tuple(resources),
        flags=flags,
        defects=tuple(defects),
        # Anything but PUBLIC (or no CLASS) is withheld: RFC 5545 treats an unknown class as
        # PRIVATE, and so does mailbind.
        private=classification not in ("", "PUBLIC"),
        recurrence=tuple(series),
    )


_RECURRENCE_PROPERTIES = ("RRULE", "RDATE", "EXDATE")


def recurrence_id_absent(component: Any) -> bool:
    """True for a series or a single event; False for a changed occurrence."""
    return component.get("RECURRENCE-ID") is None


def _content_line(component: Any, name: str, prop: Any) -> str:
    """*prop* of *component* as one iCalendar content line, parameters included."""
    try:
        line = component.content_line(name, prop)
        return str(line.decode("utf-8") if isinstance(line, bytes) else line)
    except (ValueError, TypeError, AttributeError):  # pragma: no cover - icalendar's own
        return f"{name}:{prop}"


_MOMENT = (datetime, type(None))
_TEXT_OR_NONE = (str, type(None))
#: What each field of an `Event` takes: (name, the types allowed, how a message says so).
_EVENT_FIELDS: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("uid", str, "text"),
    ("organizer", (Participant, type(None)), "a Participant or None"),
    ("attendees", tuple, "a tuple of Participants"),
    ("start", _MOMENT, "a datetime or None"),
    ("end", _MOMENT, "a datetime or None"),
    ("title", _TEXT_OR_NONE, "text or None"),
    ("description", _TEXT_OR_NONE, "text or None"),
    ("location", _TEXT_OR_NONE, "text or None"),
    ("conference_url", _TEXT_OR_NONE, "text or None"),
    ("cancelled", bool, "True or False"),
    ("all_day", bool, "True or False"),
    ("recurrence_id", _MOMENT, "a datetime or None"),
    ("sequence", int, "a whole number"),
    ("resources", tuple, "a tuple of Participants"),
    ("flags", frozenset, "a frozenset of Flags"),
    ("defects", tuple, "a tuple of Defects"),
    ("level", SharingLevel, "a SharingLevel"),
    ("key", str, "text"),
    ("headers", tuple, "a tuple of (name, value) pairs"),
    ("private", bool, "True or False"),
    ("recurrence", tuple, "a tuple of iCalendar lines"),
)


def _fingerprint(event: Event) -> str:
    """A stable key for an event without a UID: organiser, start and title."""
    organizer = event.organizer
    who = organizer.address.key if organizer and organizer.address else ""
    when = event.start.astimezone(UTC).isoformat() if event.start else ""
    text = "\n".join((who, when, event.title or ""))
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# --- Redaction -------------------------------------------------------------------------------


def redact_event(event: Event, level: SharingLevel) -> Event:
    """*event* as a reader at *level* may see it (RULES 8).

    METADATA keeps times and participants; SUBJECT adds the title; EVERYTHING adds the
    description, the location and the conference link. `redact` calls this for events.
    A private event redacted below EVERYTHING keeps only its times (`Event.busy`), at METADATA.
    """
    target = min(event.level, SharingLevel(level))
    if target == event.level:
        return event
    if event.private:
        return replace(
            event,
            level=SharingLevel.METADATA,
            title=None,
            description=None,
            location=None,
            conference_url=None,
            organizer=None,
            attendees=(),
            resources=(),
        )
    changes: dict[str, Any] = {"level": target}
    if target < SharingLevel.EVERYTHING:
        changes.update(description=None, location=None, conference_url=None)
    if target < SharingLevel.SUBJECT:
        changes["title"] = None
    return replace(event, **changes)
