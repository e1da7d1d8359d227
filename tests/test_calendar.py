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
from mailbind.calendar_sync import (
    CalendarConfirmationNeeded,
    EventSettingsChange,
    sync_calendar,
)
from mailbind.calendars import (
    EventBatch,
    EventStore,
    StoredEvent,
    colleague_view,
    invitations,
    plan_events,
)
from mailbind.codecs import decode_event, encode_event
from mailbind.errors import AuthenticationError, TemporaryError
from mailbind.rules import Holding
from mailbind.schedule import SyncStatus, next_run
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
    change at the source, once confirmed (it drops stored events)."""
    assert isinstance(store, EventStore)
    cal = ListCalendar("work")
    cal.put("r", *Event.from_ical(calendar(vevent("x"))))
    assert sync_calendar(cal, store, ANNA, POLICY, now=NOW).synced == 1
    assert not sync_calendar(cal, store, ANNA, POLICY, now=NOW).full
    blocked = Policy(["acme.com"], blocklist=["@client.example"])
    with pytest.raises(CalendarConfirmationNeeded) as refused:
        sync_calendar(cal, store, ANNA, blocked, now=NOW)
    assert (refused.value.change.dropped, refused.value.change.may_return) == (1, True)
    assert len(store.mailbox_events(ANNA.id)) == 1
    report = sync_calendar(cal, store, ANNA, blocked, now=NOW, confirm=lambda change: True)
    assert report.full
    assert report.skipped == 1
    assert store.mailbox_events(ANNA.id) == ()


# --- Sync state, dry runs, confirmation -------------------------------------------------------


class FailingCalendar(ListCalendar):
    """A calendar whose fetches fail with *error* while ``failing`` is set."""

    def __init__(self, error: Exception) -> None:
        super().__init__("work")
        self.error = error
        self.failing = True

    def fetch(self, cursor: str | None, *, limit: int = 100) -> EventBatch:
        if self.failing:
            raise self.error
        return super().fetch(cursor, limit=limit)


def test_a_failed_pass_backs_off_and_stops_as_a_mailbox_does(store: Store) -> None:
    """Each failure in a row is recorded with its back-off; the fifth marks the calendar
    failed; a pass that succeeds makes it idle again, failures forgotten."""
    assert isinstance(store, EventStore)
    cal = FailingCalendar(TemporaryError("The server did not answer."))
    cal.put("r", *Event.from_ical(calendar(vevent("x"))))
    for failures in range(1, 6):
        with pytest.raises(TemporaryError):
            sync_calendar(cal, store, ANNA, POLICY, now=NOW + timedelta(minutes=failures))
        state = store.load_calendar(ANNA.id, "work").sync
        assert (state.failures, state.error) == (failures, "The server did not answer.")
    assert state.status is SyncStatus.FAILED
    assert next_run(state, now=NOW) is None
    cal.failing = False
    report = sync_calendar(cal, store, ANNA, POLICY, now=NOW + timedelta(hours=1))
    assert report.state == store.load_calendar(ANNA.id, "work").sync
    assert (report.state.status, report.state.failures) == (SyncStatus.IDLE, 0)
    assert report.state.last_success == NOW + timedelta(hours=1)


def test_a_refused_login_waits_for_a_reconnect(store: Store) -> None:
    """An authentication failure stops the calendar and keeps the cursor it had reached."""
    assert isinstance(store, EventStore)
    cal = FailingCalendar(AuthenticationError("The server refused the login."))
    cal.failing = False
    cal.put("r", *Event.from_ical(calendar(vevent("x"))))
    sync_calendar(cal, store, ANNA, POLICY, now=NOW)
    cursor = store.load_calendar(ANNA.id, "work").cursor
    cal.failing = True
    with pytest.raises(AuthenticationError):
        sync_calendar(cal, store, ANNA, POLICY, now=NOW)
    state = store.load_calendar(ANNA.id, "work")
    assert (state.sync.status, state.cursor) == (SyncStatus.NEEDS_RECONNECT, cursor)
    assert len(store.mailbox_events(ANNA.id)) == 1


def test_a_dry_run_says_what_it_would_store_and_remove_and_writes_nothing(store: Store) -> None:
    """A dry run previews each copy stored, kept out and removed (a cancelled event, a resource
    gone), and leaves the store as it was."""
    assert isinstance(store, EventStore)
    cal = ListCalendar("work")
    cal.put("a", *Event.from_ical(calendar(vevent("a"))))
    cal.put("b", *Event.from_ical(calendar(vevent("b"))))
    sync_calendar(cal, store, ANNA, POLICY, now=NOW)
    before = (store.load_calendar(ANNA.id, "work"), store.mailbox_events(ANNA.id))
    cal.put("a", *Event.from_ical(calendar(vevent("a", "STATUS:CANCELLED", "SEQUENCE:1"))))
    cal.remove("b")
    cal.put("c", *Event.from_ical(calendar(vevent("c"))))
    internal = vevent("d").replace("kim@client.example", "ben@acme.com")
    cal.put("d", *Event.from_ical(calendar(internal)))
    report = sync_calendar(cal, store, ANNA, POLICY, now=NOW, dry_run=True)
    assert report.dry_run
    assert sorted((p.action, p.location, p.key) for p in report.preview) == [
        ("remove", "a", "a"),
        ("remove", "b", "b"),
        ("skip", "d", "d"),
        ("store", "c", "c"),
    ]
    assert (store.load_calendar(ANNA.id, "work"), store.mailbox_events(ANNA.id)) == before


def test_sharing_more_needs_confirmation_and_sharing_less_does_not(store: Store) -> None:
    """Raising the level colleagues read of stored events is refused unless confirmed, and
    changes nothing then; a private event's level changes nothing colleagues read; lowering it
    needs no confirmation."""
    assert isinstance(store, EventStore)
    cal = ListCalendar("work")
    cal.put("a", *Event.from_ical(calendar(vevent("a"))))
    cal.put("p", *Event.from_ical(calendar(vevent("p", "CLASS:PRIVATE"))))
    low = Mailbox("anna@acme.com", incoming="metadata")
    sync_calendar(cal, store, low, POLICY, now=NOW)
    high = Mailbox("anna@acme.com", incoming="everything")
    with pytest.raises(CalendarConfirmationNeeded) as refused:
        sync_calendar(cal, store, high, POLICY, now=NOW, confirm=lambda change: False)
    change = refused.value.change
    assert (change.widened, change.unchanged, change.dropped, change.may_return) == (
        1,
        1,
        0,
        False,
    )
    (stored,) = [s for s in store.mailbox_events(ANNA.id) if s.event.key == "a"]
    assert stored.seen_by("carl@acme.com").title is None
    asked: list[EventSettingsChange] = []

    def confirm(change: EventSettingsChange) -> bool:
        asked.append(change)
        return True

    sync_calendar(cal, store, high, POLICY, now=NOW, confirm=confirm)
    assert asked == [change]
    (stored,) = [s for s in store.mailbox_events(ANNA.id) if s.event.key == "a"]
    assert stored.seen_by("carl@acme.com").title == "Renewal"
    back = sync_calendar(cal, store, low, POLICY, now=NOW)
    assert back.settings_change is not None
    assert (back.settings_change.narrowed, back.settings_change.needs_confirmation) == (1, False)


@given(events(), st.sampled_from(SharingLevel))
def test_what_explain_shows_colleagues_is_what_they_read(event: Event, level: SharingLevel) -> None:
    """`colleague_view` is `StoredEvent.seen_by` for anyone who owns no holding mailbox."""
    mailbox = Mailbox("anna@acme.com", incoming=level, outgoing=level)
    from mailbind import Direction

    held = StoredEvent(event, (Holding(mailbox, Direction.INCOMING),), ())
    assert held.seen_by("carl@acme.com") == colleague_view(event, level)


def test_the_plan_says_why_events_create_no_contacts() -> None:
    """A private event and one over the attendee limit are held back, by key, with the reason;
    the contact the plan creates names the event that introduced it."""
    from mailbind import ContactIndex
    from mailbind.calendars import EventItem
    from mailbind.planning import SkipReason

    items = [
        EventItem("p", Event.from_ical(calendar(vevent("p", "CLASS:PRIVATE")))),
        EventItem(
            "big",
            Event.from_ical(calendar(vevent("big", "ATTENDEE:mailto:lee@partner.example"))),
        ),
        EventItem("ok", Event.from_ical(calendar(vevent("ok")))),
    ]
    plan = plan_events(items, ANNA, POLICY, contacts=ContactIndex(), now=NOW, max_attendees=1)
    assert plan.held_back == {"p": SkipReason.EVENT_PRIVATE, "big": SkipReason.TOO_MANY_ATTENDEES}
    (created,) = plan.contacts
    assert plan.introduced == {created.id: "ok"}
    assert plan.contact_plan is not None
