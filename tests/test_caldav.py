"""Tests for the CalDAV source and the calendar sync end to end, against a real Radicale."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mailbind import Mailbox, Policy, SharingLevel
from mailbind.calendar_sync import sync_calendar
from mailbind.calendars import EventStore
from mailbind.cli import main
from mailbind.errors import AuthenticationError, SourceError, SourceSettingError
from mailbind.sources.caldav import CalDavSource
from mailbind.stores.sqlite import SQLiteStore
from mailbind.testing.store_contract import event_reads

NOW = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
POLICY = Policy(["acme.com"])
ANNA = Mailbox("anna@acme.com", incoming="subject", outgoing="subject")
_names = itertools.count()


def ics(uid: str, *lines: str, summary: str = "Renewal", attendees: int = 1) -> str:
    """A calendar object of kim@client.example inviting anna (and *attendees* - 1 guests)."""
    guests = [f"ATTENDEE:mailto:guest{i}@partner{i}.example" for i in range(attendees - 1)]
    return "\r\n".join(
        (
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//mailbind tests//EN",
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20250101T000000Z",
            "DTSTART:20250203T100000Z",
            "DTEND:20250203T110000Z",
            f"SUMMARY:{summary}",
            "DESCRIPTION:Pricing for 2026",
            "LOCATION:Room Elbe",
            "ORGANIZER;CN=Kim Lee:mailto:kim@client.example",
            "ATTENDEE;CN=Anna:mailto:anna@acme.com",
            *guests,
            *lines,
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        )
    )


def recurring() -> str:
    """A weekly series with one moved occurrence, in one object."""
    series = ics("weekly", "RRULE:FREQ=WEEKLY;COUNT=8", summary="Weekly call")
    moved = ics("weekly", "RECURRENCE-ID:20250210T100000Z", summary="Weekly call (moved)")
    inner = moved.split("BEGIN:VEVENT", 1)[1].split("END:VCALENDAR", 1)[0]
    return series.replace("END:VCALENDAR", "BEGIN:VEVENT" + inner + "END:VCALENDAR")


@pytest.fixture
def calendar(radicale: Any) -> str:
    """A new calendar collection of anna, filled with one event of each kind; its path."""
    path = f"/anna/cal{next(_names)}/"
    radicale.calendar(path)
    radicale.put(path + "plain.ics", ics("plain"))
    radicale.put(path + "weekly.ics", recurring())
    radicale.put(path + "private.ics", ics("private", "CLASS:PRIVATE", summary="Doctor"))
    radicale.put(path + "cancelled.ics", ics("gone", "STATUS:CANCELLED"))
    radicale.put(path + "large.ics", ics("town-hall", attendees=60, summary="Town hall"))
    return path


def test_a_radicale_calendar_syncs_with_every_kind_of_event(
    radicale: Any, calendar: str, tmp_path: Path
) -> None:
    """Ordinary, recurring, private, cancelled and large events sync as the rules say; changes
    at the server are read incrementally and end as a sync from scratch."""
    source = CalDavSource(radicale.base + calendar, username="anna", password="x")
    store = SQLiteStore(tmp_path / "crm.sqlite")
    report = sync_calendar(source, store, ANNA, POLICY, now=NOW)
    assert (report.resources, report.seen, report.cancelled, report.crowded) == (5, 6, 1, 1)
    assert report.contacts_created == 1  # kim; nobody from the town hall, nobody private
    keys = [s.event.key for s in store.mailbox_events(ANNA.id)]
    assert sorted(keys) == ["plain", "private", "town-hall", "weekly", "weekly#20250210T100000Z"]
    by_key = {s.event.key: s for s in store.mailbox_events(ANNA.id)}
    assert by_key["weekly"].event.recurrence == ("RRULE:FREQ=WEEKLY;COUNT=8",)
    private = by_key["private"]
    assert private.seen_by("carl@acme.com").busy
    assert private.seen_by("anna@acme.com").title == "Doctor"
    plain = by_key["plain"].seen_by("carl@acme.com")
    assert (plain.title, plain.location) == ("Renewal", None)
    # Changes at the server: an update, a cancellation, a deletion.
    radicale.put(calendar + "plain.ics", ics("plain", "SEQUENCE:1", summary="Renewal (moved)"))
    radicale.put(calendar + "weekly.ics", ics("weekly", "STATUS:CANCELLED", "SEQUENCE:2"))
    radicale.delete(calendar + "large.ics")
    again = sync_calendar(source, store, ANNA, POLICY, now=NOW)
    assert (again.resources, again.gone, again.full) == (2, 1, False)
    held = {s.event.key: s.event for s in store.mailbox_events(ANNA.id)}
    assert sorted(held) == ["plain", "private"]
    assert held["plain"].title == "Renewal (moved)"
    fresh = SQLiteStore(tmp_path / "fresh.sqlite")
    sync_calendar(
        CalDavSource(radicale.base + calendar, mode="query"), fresh, ANNA, POLICY, now=NOW
    )
    assert event_reads(store) == event_reads(fresh)
    nothing = sync_calendar(source, store, ANNA, POLICY, now=NOW)
    assert (nothing.resources, nothing.gone) == (0, 0)
    store.close()
    fresh.close()


def test_the_command_line_syncs_a_caldav_calendar_and_shows_it(
    radicale: Any, calendar: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mailbind sync caldav+http://...` then `mailbind events` show what colleagues may see."""
    db = str(tmp_path / "crm.sqlite")
    url = f"caldav+http://127.0.0.1:{radicale.port}{calendar}"
    code = main(["sync", url, "--owner", "anna@acme.com", "--incoming", "subject", "--db", db])
    out = capsys.readouterr().out
    assert code == 0
    assert "6 events read, 5 synced" in out
    assert "1 cancelled, 1 contacts created" in out
    assert (
        main(["events", "--contact", "kim@client.example", "--viewer", "carl@acme.com", "--db", db])
        == 0
    )
    shown = capsys.readouterr().out
    assert "Renewal" in shown
    assert "Doctor" not in shown
    assert "Location: (withheld)" in shown
    assert (
        main(["events", "--contact", "kim@client.example", "--viewer", "anna@acme.com", "--db", db])
        == 0
    )
    assert "Doctor" in capsys.readouterr().out
    assert isinstance(SQLiteStore(db, read_only=True), EventStore)


def test_caldav_errors_name_what_went_wrong(radicale: Any) -> None:
    """A missing calendar, a closed port and a password in the URL each say so."""
    with pytest.raises(SourceError, match="does not exist"):
        CalDavSource(radicale.base + "/anna/nowhere/", username="anna", password="x").fetch(None)
    with pytest.raises(SourceSettingError, match="may not hold a password"):
        CalDavSource("https://anna:secret@example.org/cal/")
    with pytest.raises(SourceSettingError, match="starts with https://"):
        CalDavSource("ftp://example.org/cal/")
    closed = CalDavSource(f"http://127.0.0.1:{_closed_port()}/anna/x/")
    with pytest.raises(SourceError) as failure:
        closed.fetch(None)
    assert not isinstance(failure.value, AuthenticationError)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_stale_sync_token_starts_over(radicale: Any, calendar: str) -> None:
    """A token the server does not know resets the cursor: everything is read again."""
    source = CalDavSource(radicale.base + calendar, username="anna", password="x")
    batch = source.fetch('{"mode": "sync", "token": "http://radicale.org/ns/sync/unknown"}')
    assert batch.reset
    assert len(batch.items) == 5
    assert SharingLevel.METADATA < SharingLevel.SUBJECT
