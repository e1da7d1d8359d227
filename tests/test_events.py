"""Tests for calendar events: building, reading iCalendar, and the same rules as messages."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings

from mailbind import (
    Contact,
    ContactIndex,
    Event,
    EventError,
    Flag,
    Mailbox,
    Policy,
    Reason,
    Role,
    SharingLevel,
    decide,
    redact,
    resolve_contact,
)

from .strategies import events, levels

T0 = datetime(2024, 5, 6, 9, 30, tzinfo=UTC)
POLICY = Policy(org_domains=["acme.com"], blocklist=["@spam.example"])
MAILBOX = Mailbox("anna@acme.com", incoming="subject", outgoing="everything")

INVITE = """\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example//Calendar//EN
METHOD:REQUEST
BEGIN:VEVENT
UID:7kq2@calendar.example
DTSTAMP:20240501T120000Z
DTSTART;TZID=Europe/Berlin:20240506T100000
DTEND;TZID=Europe/Berlin:20240506T110000
SEQUENCE:2
SUMMARY:Contract renewal
DESCRIPTION:Pricing for 2025\\, see the attached sheet.
LOCATION:Room Elbe
ORGANIZER;CN="Doe, Jane":mailto:jane.doe@client.io
ATTENDEE;CN=Anna Berg;PARTSTAT=ACCEPTED:mailto:anna@acme.com
ATTENDEE;CN=Kim Lee;ROLE=OPT-PARTICIPANT:MAILTO:kim@client.io
ATTENDEE;CUTYPE=ROOM;CN=Elbe:mailto:c_elbe@resource.calendar.google.com
X-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij
END:VEVENT
END:VCALENDAR
"""


def invite(**replacements: str) -> str:
    """`INVITE` with some lines replaced (``old=new``)."""
    text = INVITE
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


# --- Building ----------------------------------------------------------------------------------


def test_build_from_plain_values() -> None:
    """An event built from plain values has the organiser as FROM and attendees as TO."""
    event = Event.build(
        uid=" ev-1 ",
        organizer="Jane Doe <jane@client.io>",
        attendees=["anna@acme.com", "Kim <kim@client.io>, lee@client.io", "x@"],
        start=T0,
        end=T0 + timedelta(hours=1),
        title="Kick-off",
    )
    assert event.key == "ev-1"
    assert event.sender is event.organizer
    assert [(p.role, p.raw) for p in event.participants] == [
        (Role.FROM, "Jane Doe <jane@client.io>"),
        (Role.TO, "anna@acme.com"),
        (Role.TO, "Kim <kim@client.io>"),
        (Role.TO, "lee@client.io"),
        (Role.TO, "x@"),
    ]
    assert event.participants[-1].address is None
    assert event.headers == ()
    assert event.header("List-Id") is None
    assert event.level is SharingLevel.EVERYTHING
    assert event.withheld == frozenset()


def test_an_event_without_uid_has_a_stable_fingerprint() -> None:
    """A blank UID falls back to a fingerprint of organiser, start and title."""
    one = Event.build(organizer="jane@client.io", start=T0, title="Call")
    two = Event.build(
        organizer="JANE@client.io",
        start=T0.astimezone(ZoneInfo("Asia/Tokyo")),
        title="Call",
        attendees="kim@client.io",
    )
    other = Event.build(organizer="jane@client.io", start=T0, title="Other call")
    assert one.key.startswith("sha256:")
    assert one.key == two.key != other.key


def test_a_changed_occurrence_has_its_own_key() -> None:
    """An occurrence of a recurring event is keyed by its UID and its recurrence id."""
    event = Event.build(uid="weekly@x", recurrence_id=T0, start=T0 + timedelta(hours=1))
    assert event.key == "weekly@x#20240506T093000Z"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"start": datetime(2024, 5, 6, 9)},
            "The event start is a naive datetime: datetime.datetime(2024, 5, 6, 9, 0); "
            "give a timezone.",
        ),
        (
            {"end": "2024-05-06"},
            "The event end must be a timezone-aware datetime, not str.",
        ),
        ({"title": None}, "The event title must be a string, not NoneType."),
        ({"attendees": 5}, "The event attendees must be addresses, not int."),
        ({"attendees": [5]}, "The event attendees must be addresses, not int items."),
        ({"sequence": "2"}, "The event sequence must be an integer, not '2'."),
        (
            {"flags": ["archived"]},
            "Event flags must be among draft, spam, trash, sent, not ['archived'].",
        ),
    ],
)
def test_bad_plain_values_are_refused(kwargs: dict[str, object], message: str) -> None:
    """A caller's mistake in the plain values is an `EventError` (a ValueError) saying which."""
    with pytest.raises(EventError) as info:
        Event.build(uid="x", **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


# --- iCalendar -----------------------------------------------------------------------------


def test_read_a_vevent() -> None:
    """A VEVENT gives its UID, times, names, people, resources and conference link."""
    (event,) = Event.from_ical(INVITE)
    assert event.key == event.uid == "7kq2@calendar.example"
    assert event.start == datetime(2024, 5, 6, 8, tzinfo=UTC)
    assert event.end == datetime(2024, 5, 6, 9, tzinfo=UTC)
    assert (event.title, event.location) == ("Contract renewal", "Room Elbe")
    assert event.description == "Pricing for 2025, see the attached sheet."
    assert event.conference_url == "https://meet.google.com/abc-defg-hij"
    assert event.sequence == 2
    assert not event.cancelled
    assert not event.all_day
    assert event.organizer is not None
    assert event.organizer.name == "Doe, Jane"
    assert [(p.role, p.address.key, p.name) for p in event.participants if p.address] == [
        (Role.FROM, "jane.doe@client.io", "Doe, Jane"),
        (Role.TO, "anna@acme.com", "Anna Berg"),
        (Role.TO, "kim@client.io", "Kim Lee"),
    ]
    assert [p.name for p in event.resources] == ["Elbe"]
    assert event.defects == ()


@pytest.mark.parametrize(
    "change",
    [
        {"METHOD:REQUEST": "METHOD:CANCEL"},
        {"SEQUENCE:2": "SEQUENCE:3\nSTATUS:CANCELLED"},
    ],
)
def test_cancelled_events_are_reported(change: dict[str, str]) -> None:
    """STATUS:CANCELLED or a CANCEL method marks the event cancelled, for the store to remove."""
    (event,) = Event.from_ical(invite(**change))
    assert event.cancelled


def test_all_day_and_floating_times_use_the_timezone_given() -> None:
    """All-day dates start at midnight and floating times are read in the timezone given."""
    zone = timezone(timedelta(hours=2))
    text = invite(
        **{
            "DTSTART;TZID=Europe/Berlin:20240506T100000": "DTSTART;VALUE=DATE:20240506",
            "DTEND;TZID=Europe/Berlin:20240506T110000": "DTEND:20240507T100000",
        }
    )
    (event,) = Event.from_ical(text, timezone=zone)
    assert event.all_day
    assert event.start == datetime(2024, 5, 6, tzinfo=zone)
    assert event.end == datetime(2024, 5, 7, 10, tzinfo=zone)


def test_duration_gives_the_end() -> None:
    """A DURATION stands in for a missing DTEND."""
    text = invite(**{"DTEND;TZID=Europe/Berlin:20240506T110000": "DURATION:PT45M"})
    (event,) = Event.from_ical(text.encode())
    assert event.end is not None
    assert event.start is not None
    assert event.end - event.start == timedelta(minutes=45)


def test_unreadable_fields_become_defects() -> None:
    """A field in a form that cannot be read is a defect, not an error; the rest is kept."""
    text = invite(
        **{
            "DTSTART;TZID=Europe/Berlin:20240506T100000": "DTSTART:tomorrow",
            "SEQUENCE:2": "SEQUENCE:two",
            "MAILTO:kim@client.io": "mailto:kim@",
        }
    )
    (event,) = Event.from_ical(text)
    assert event.start is None
    assert set(event.defects) == {"bad_start", "bad_sequence"}
    kim = event.attendees[1]
    assert kim.address is None
    assert kim.name == "Kim Lee"
    assert kim.raw == "mailto:kim@"
    assert kim.problem


def test_a_bare_vevent_and_several_events() -> None:
    """A VEVENT without a calendar around it, and a calendar with two, are read in order."""
    bare = "BEGIN:VEVENT\nUID:one\nSUMMARY:First\nEND:VEVENT\n"
    assert [e.uid for e in Event.from_ical(bare)] == ["one"]
    two = invite(**{"END:VEVENT\n": "END:VEVENT\n" + bare})
    assert [e.uid for e in Event.from_ical(two)] == ["7kq2@calendar.example", "one"]


@pytest.mark.parametrize("text", ["not a calendar", "END:VCALENDAR\n", b"\xff\xfe"])
def test_text_that_is_not_icalendar_is_refused(text: str | bytes) -> None:
    """Text that is not iCalendar at all is an `EventError` without the text in the message."""
    with pytest.raises(EventError, match=r"^The data is not readable iCalendar text\.$"):
        Event.from_ical(text)


def test_a_calendar_without_events_has_none() -> None:
    """Empty text, or a calendar holding only tasks, gives no events."""
    assert Event.from_ical("") == ()
    todo = "BEGIN:VCALENDAR\nBEGIN:VTODO\nUID:t\nEND:VTODO\nEND:VCALENDAR\n"
    assert Event.from_ical(todo) == ()


def test_the_optional_package_is_named_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the ``icalendar`` package, reading says how to install it."""
    monkeypatch.setitem(sys.modules, "icalendar", None)
    with pytest.raises(ImportError) as info:
        Event.from_ical(INVITE)
    assert str(info.value) == (
        "Reading iCalendar text needs the optional 'icalendar' package: "
        "pip install 'mailbind[ical]'."
    )


# --- The same rules ------------------------------------------------------------------------


def test_events_are_decided_like_messages() -> None:
    """Internal, blocklisted and external events get the same reasons as messages."""
    internal = Event.build(uid="i", organizer="anna@acme.com", attendees="paul@acme.com")
    blocked = Event.build(uid="b", organizer="anna@acme.com", attendees="x@spam.example")
    external = Event.build(uid="e", organizer="kim@client.io", attendees="anna@acme.com")
    mine = Event.build(uid="m", organizer="anna@acme.com", attendees="kim@client.io")
    trashed = Event.build(uid="t", organizer="kim@client.io", flags=[Flag.TRASH])
    assert decide(internal, MAILBOX, POLICY).reasons == (Reason.INTERNAL,)
    assert Reason.BLOCKLISTED in decide(blocked, MAILBOX, POLICY).reasons
    assert decide(external, MAILBOX, POLICY).synced
    assert decide(external, MAILBOX, POLICY).level is SharingLevel.SUBJECT
    assert decide(mine, MAILBOX, POLICY).level is SharingLevel.EVERYTHING
    assert Reason.TRASH in decide(trashed, MAILBOX, POLICY).reasons


def test_resources_never_make_an_event_external() -> None:
    """A booked room outside the organisation does not make a colleagues' meeting external."""
    text = invite(
        **{
            "mailto:jane.doe@client.io": "mailto:jane@acme.com",
            "MAILTO:kim@client.io": "mailto:paul@acme.com",
        }
    )
    (event,) = Event.from_ical(text)
    assert decide(event, MAILBOX, POLICY).reasons == (Reason.INTERNAL,)


def test_each_participant_resolves_to_at_most_one_contact() -> None:
    """Event participants resolve by the same rule as message participants."""
    (event,) = Event.from_ical(INVITE)
    contacts = [
        Contact(id="c2", primary="jane.doe@client.io", created_at=T0),
        Contact(
            id="c1",
            primary="other@client.io",
            additional=["jane.doe@client.io"],
            created_at=T0 - timedelta(days=9),
        ),
    ]
    index = ContactIndex(contacts)
    organizer = event.organizer
    assert organizer is not None
    assert organizer.address is not None
    assert resolve_contact(organizer.address, contacts) is contacts[0]
    assert index.resolve(organizer.address) is contacts[0]


@pytest.mark.parametrize(
    ("level", "title", "rest"),
    [
        (SharingLevel.METADATA, None, None),
        (SharingLevel.SUBJECT, "Contract renewal", None),
        (SharingLevel.EVERYTHING, "Contract renewal", "Room Elbe"),
    ],
)
def test_redaction_levels(level: SharingLevel, title: str | None, rest: str | None) -> None:
    """METADATA keeps times and people; SUBJECT adds the title; EVERYTHING the rest."""
    (event,) = Event.from_ical(INVITE)
    seen = redact(event, level)
    assert (seen.title, seen.location) == (title, rest)
    assert seen.description is None if rest is None else seen.description
    assert (seen.conference_url is None) == (rest is None)
    assert (seen.start, seen.participants, seen.key) == (event.start, event.participants, event.key)
    assert seen.level is level
    if level is SharingLevel.METADATA:
        assert seen.withheld == {"title", "description", "location", "conference_url"}
        assert "Contract" not in repr(seen)
        assert "meet.google" not in repr(seen)


@settings(max_examples=60)
@given(events(), levels(), levels())
def test_redaction_laws(event: Event, a: SharingLevel, b: SharingLevel) -> None:
    """Event redaction is idempotent, monotone and composes as the minimum."""
    once = redact(event, a)
    assert redact(once, a) == once
    assert redact(once, b) == redact(event, min(a, b))
    if a <= b:
        assert redact(event, a).withheld >= redact(event, b).withheld
    assert once.key == event.key
    assert once.participants == event.participants
