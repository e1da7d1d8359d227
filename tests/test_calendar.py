"""Tests for calendars: private events, the attendee limit, invitations in mail, the .ics source,
and the calendar sync against each store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import icalendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbind import Defect, Event, Mailbox, Message, Policy, Reason, SharingLevel, redact
from mailbind.calendar_sync import sync_calendar
from mailbind.calendars import EventStore, StoredEvent, invitations, plan_events
from mailbind.codecs import decode_event, encode_event
from mailbind.rules import Holding
from mailbind.sources.ics import IcsSource
from mailbind.sources.invitations import InvitationSource
from mailbind.stores import Store
from mailbind.testing import InMemoryStore, ListCalendar, ListSource

from .strategies import events

NOW = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
POLICY = Policy(["acme.com"], blocklist=["@spam.example"])
ANNA = Mailbox("anna@acme.com", incoming="everything", outgoing="everything")
START = datetime(2025, 2, 3, 10, 0, tzinfo=UTC)

private_events = events().map(lambda e: replace(e, private=True))


def holdings(levels: tuple[SharingLevel, SharingLevel]) -> tuple[Holding, ...]:
    """Anna's mailbox sharing at *levels* holds the event (incoming)."""
    from mailbind import Direction

    mailbox = Mailbox("anna@acme.com", incoming=levels[0], outgoing=levels[1])
    return (Holding(mailbox, Direction.INCOMING),)


secret_texts = st.text(min_size=1, max_size=20)
level_pairs = st.tuples(st.sampled_from(SharingLevel), st.sampled_from(SharingLevel))


@given(private_events, secret_texts, secret_texts, level_pairs, st.sampled_from(SharingLevel))
def test_a_private_event_leaks_nothing_below_its_owner(
    event: Event,
    title: str,
    description: str,
    levels: tuple[SharingLevel, SharingLevel],
    level: SharingLevel,
) -> None:
    """Whatever the sharing levels, anyone but the owner reads the same busy view of two private
    events that differ only in title, description, location, link and participants; so does
    redaction to any level below EVERYTHING."""
    other = replace(
        event,
        title=title,
        description=description,
        location=title,
        conference_url=description,
        organizer=None,
        attendees=(),
        resources=(),
    )
    for viewer in ("carl@acme.com", "kim@client.example"):
        seen = StoredEvent(event, holdings(levels), ()).seen_by(viewer)
        assert seen == StoredEvent(other, holdings(levels), ()).seen_by(viewer)
        assert seen.busy
        assert seen.withheld == {
            "title",
            "description",
            "location",
            "conference_url",
            "organizer",
            "attendees",
            "resources",
        }
        assert (seen.start, seen.end, seen.key) == (event.start, event.end, event.key)
    assert StoredEvent(event, holdings(levels), ()).seen_by("anna@acme.com") == event
    if level < SharingLevel.EVERYTHING:
        assert redact(event, level) == redact(other, level)


@given(events(), level_pairs)
def test_an_event_that_is_not_private_is_redacted_by_level(
    event: Event, levels: tuple[SharingLevel, SharingLevel]
) -> None:
    """A public event reads at the visible level, as mail does."""
    stored = StoredEvent(event, holdings(levels), ())
    assert stored.seen_by("carl@acme.com") == redact(event, levels[0])
    assert stored.listed_for("carl@acme.com")


@given(events())
def test_events_read_back_equal_from_their_json(event: Event) -> None:
    """encode_event and decode_event lose nothing."""
    assert decode_event(encode_event(event)) == event


def test_private_and_confidential_are_read_from_class() -> None:
    """CLASS:PRIVATE and CLASS:CONFIDENTIAL (and an unknown class) are private; PUBLIC is not."""
    for cls, private in (("PRIVATE", True), ("CONFIDENTIAL", True), ("X-ODD", True)):
        (event,) = Event.from_ical(vevent("c1", f"CLASS:{cls}"))
        assert event.private is private
    (public,) = Event.from_ical(vevent("c1", "CLASS:PUBLIC"))
    (plain,) = Event.from_ical(vevent("c1"))
    assert not public.private
    assert not plain.private


def test_a_series_is_one_record_and_a_changed_occurrence_another() -> None:
    """Recurring events are stored as a series: the RRULE and EXDATE lines are kept, never
    expanded; a changed occurrence has its own key."""
    text = calendar(
        vevent("s1", "RRULE:FREQ=WEEKLY;COUNT=10", "EXDATE:20250217T100000Z"),
        vevent("s1", "RECURRENCE-ID:20250210T100000Z", summary="Moved once"),
    )
    series, moved = Event.from_ical(text)
    assert series.recurrence == ("RRULE:FREQ=WEEKLY;COUNT=10", "EXDATE:20250217T100000Z")
    assert (series.key, moved.key) == ("s1", "s1#20250210T100000Z")
    assert moved.recurrence == ()


# --- Planning --------------------------------------------------------------------------------


def crowd(n: int) -> Event:
    """An event of kim@client.example with *n* external attendees."""
    return Event.build(
        uid=f"crowd-{n}",
        organizer="kim@client.example",
        attendees=["anna@acme.com", *(f"guest{i}@partner{i}.example" for i in range(n - 1))],
        start=START,
    )


@pytest.mark.parametrize(("attendees", "limit", "created"), [(50, 50, 50), (51, 50, 0), (3, 2, 0)])
def test_events_with_too_many_attendees_create_no_contacts(
    attendees: int, limit: int, created: int
) -> None:
    """Up to the limit every external participant becomes a contact; above it nobody does,
    though the event still syncs and links."""
    from mailbind import ContactIndex
    from mailbind.calendars import EventItem

    plan = plan_events(
        [EventItem("r", (crowd(attendees),))],
        ANNA,
        POLICY,
        contacts=ContactIndex([]),
        now=NOW,
        max_attendees=limit,
    )
    assert len(plan.contacts) == created
    assert plan.items[0].decision.synced
    assert plan.crowded == (() if created else ("crowd-" + str(attendees),))


def test_the_mail_rules_decide_events() -> None:
    """Internal events and blocklisted attendees stay out; colleagues and roles never become
    contacts; private events create none either."""
    from mailbind import ContactIndex
    from mailbind.calendars import EventItem

    internal = Event.build(uid="i", organizer="anna@acme.com", attendees="ben@eu.acme.com")
    blocked = Event.build(uid="b", organizer="kim@client.example", attendees="x@spam.example")
    mixed = Event.build(
        uid="m",
        organizer="kim@client.example",
        attendees=["ben@acme.com", "support@client.example"],
    )
    secret = Event.build(uid="p", organizer="pat@partner.example", private=True)
    plan = plan_events(
        [EventItem("r", (internal, blocked, mixed, secret))],
        ANNA,
        POLICY,
        contacts=ContactIndex([]),
        now=NOW,
    )
    decided = {c.event.key: c.decision for c in plan.items}
    assert Reason.INTERNAL in decided["i"].reasons
    assert not decided["i"].synced
    assert Reason.BLOCKLISTED in decided["b"].reasons
    assert decided["m"].synced
    assert decided["p"].synced
    assert [c.primary.key for c in plan.contacts] == ["kim@client.example"]


# --- Invitations in mail ---------------------------------------------------------------------


def vevent(uid: str, *lines: str, summary: str = "Renewal") -> str:
    """One VEVENT of kim@client.example inviting anna@acme.com."""
    return "\r\n".join(
        (
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20250101T000000Z",
            "DTSTART:20250203T100000Z",
            "DTEND:20250203T110000Z",
            f"SUMMARY:{summary}",
            "ORGANIZER;CN=Kim Lee:mailto:kim@client.example",
            "ATTENDEE;CN=Anna:mailto:anna@acme.com",
            *lines,
            "END:VEVENT",
        )
    )


def calendar(*vevents: str, method: str = "") -> str:
    """A VCALENDAR around *vevents*."""
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//mailbind tests//EN"]
    if method:
        head.append(f"METHOD:{method}")
    return "\r\n".join((*head, *vevents, "END:VCALENDAR", ""))


def invitation_mail(ical: str, method: str = "REQUEST") -> bytes:
    """A mail from Kim with *ical* as a text/calendar part, as calendar programs send it."""
    mail = EmailMessage()
    mail["From"] = "Kim Lee <kim@client.example>"
    mail["To"] = "anna@acme.com"
    mail["Subject"] = "Invitation: Renewal"
    mail["Message-ID"] = "<invite-1@client.example>"
    mail.set_content("You are invited.")
    mail.add_alternative(
        ical.encode("utf-8"),
        maintype="text",
        subtype="calendar",
        params={"method": method},
    )
    return mail.as_bytes()


calendar_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40
)


@given(
    title=calendar_text,
    description=calendar_text,
    location=calendar_text,
    sequence=st.integers(0, 20),
    private=st.booleans(),
    attendees=st.lists(
        st.sampled_from(["anna@acme.com", "ben@acme.com", "pat@partner.example", "jo@gmail.com"]),
        unique=True,
        max_size=3,
    ),
)
def test_an_invitation_mail_gives_the_event_the_calendar_holds(
    title: str,
    description: str,
    location: str,
    sequence: int,
    private: bool,
    attendees: list[str],
) -> None:
    """The event read from a CalDAV copy and the one read from the invitation mail carrying the
    same VEVENT are equal."""
    component = icalendar.Event()
    component.add("uid", "prop-1@client.example")
    component.add("dtstamp", NOW)
    component.add("dtstart", START)
    component.add("dtend", START + timedelta(hours=1))
    component.add("summary", title)
    component.add("description", description)
    component.add("location", location)
    component.add("sequence", sequence)
    if private:
        component.add("class", "PRIVATE")
    organizer = icalendar.vCalAddress("mailto:kim@client.example")
    organizer.params["cn"] = icalendar.vText("Kim Lee")
    component.add("organizer", organizer)
    for address in attendees:
        component.add("attendee", icalendar.vCalAddress(f"mailto:{address}"))
    cal = icalendar.Calendar()
    cal.add("prodid", "-//mailbind tests//EN")
    cal.add("version", "2.0")
    cal.add_component(component)
    stored_copy = cal.to_ical().decode("utf-8")
    cal.add("method", "REQUEST")
    sent = cal.to_ical().decode("utf-8")
    (from_calendar,) = Event.from_ical(stored_copy)
    (from_mail,) = invitations(Message.from_bytes(invitation_mail(sent)))
    assert from_mail == from_calendar


def test_an_invitation_and_the_calendar_copy_are_stored_once(store: Store) -> None:
    """Syncing the calendar and the mailbox's invitations keeps one event with two copies; a
    CANCEL mail removes the mail's copy only."""
    assert isinstance(store, EventStore)
    text = calendar(vevent("once-1"))
    cal = ListCalendar("work")
    cal.put("work/once-1.ics", *Event.from_ical(text))
    mail = ListSource(name="inbox")
    mail.append(Message.from_bytes(invitation_mail(calendar(vevent("once-1"), method="REQUEST"))))
    sync_calendar(cal, store, ANNA, POLICY, now=NOW)
    report = sync_calendar(InvitationSource(mail), store, ANNA, POLICY, now=NOW)
    assert report.synced == 1
    (held,) = store.mailbox_events(ANNA.id)
    assert held.event.key == "once-1"
    assert len(store.event_resources(ANNA.id, "work")) == 1
    assert len(store.event_resources(ANNA.id, "invitations:inbox")) == 1


# --- The .ics source -------------------------------------------------------------------------


def test_an_ics_folder_reads_changes_only_and_lists_what_is_gone(tmp_path: Path) -> None:
    """A fetch reads new and changed files; the listing is every file there."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.ics").write_text(calendar(vevent("a")), encoding="utf-8")
    (tmp_path / "sub" / "b.ICS").write_text(calendar(vevent("b")), encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a calendar", encoding="utf-8")
    (tmp_path / ".hidden.ics").write_text(calendar(vevent("h")), encoding="utf-8")
    source = IcsSource(tmp_path)
    first = source.fetch(None, limit=1)
    assert [i.location for i in first.items] == [str(tmp_path / "a.ics")]
    assert not first.done
    second = source.fetch(first.cursor)
    assert [e.uid for i in second.items for e in i.events] == ["b"]
    assert second.done
    assert source.fetch(second.cursor).items == ()
    (tmp_path / "a.ics").write_text(calendar(vevent("a", "SEQUENCE:1")), encoding="utf-8")
    (tmp_path / "sub" / "b.ICS").unlink()
    again = source.fetch(second.cursor)
    assert [e.sequence for i in again.items for e in i.events] == [1]
    assert source.listing().present == frozenset({str(tmp_path / "a.ics")})


def test_an_unreadable_ics_file_is_recorded_not_fatal(tmp_path: Path) -> None:
    """A file that is not iCalendar becomes an event with the defect bad_ical; a cursor that is
    not ours resets."""
    (tmp_path / "bad.ics").write_bytes(b"\x00\xffnot ical")
    source = IcsSource(tmp_path)
    batch = source.fetch("garbage")
    assert batch.reset
    ((event,),) = [i.events for i in batch.items]
    assert event.defects == (Defect.BAD_ICAL,)
    store = InMemoryStore()
    assert sync_calendar(source, store, ANNA, POLICY, now=NOW).synced == 1
    (held,) = store.mailbox_events(ANNA.id)
    assert (held.event.title, held.event.defects) == (str(tmp_path / "bad.ics"), (Defect.BAD_ICAL,))


def test_a_missing_ics_path_is_a_source_error(tmp_path: Path) -> None:
    """The sentence names the path."""
    from mailbind.errors import SourceError

    with pytest.raises(SourceError, match="it does not exist"):
        IcsSource(tmp_path / "nowhere.ics").fetch(None)


def test_a_changed_setting_makes_the_next_pass_read_everything(store: Store) -> None:
    """Blocking an address after a sync removes its events at the next pass, without any
    change at the source."""
    assert isinstance(store, EventStore)
    cal = ListCalendar("work")
    cal.put("r", *Event.from_ical(calendar(vevent("x"))))
    assert sync_calendar(cal, store, ANNA, POLICY, now=NOW).synced == 1
    assert not sync_calendar(cal, store, ANNA, POLICY, now=NOW).full
    blocked = Policy(["acme.com"], blocklist=["@client.example"])
    report = sync_calendar(cal, store, ANNA, blocked, now=NOW)
    assert report.full
    assert report.skipped == 1
    assert store.mailbox_events(ANNA.id) == ()
