"""A database written by an earlier release opens, migrates and reads as before."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

from mailbind import Event, Mailbox, Policy
from mailbind.calendar_sync import sync_calendar
from mailbind.cli import main
from mailbind.schedule import SyncStatus
from mailbind.stores.sqlite import SCHEMA_VERSION, SQLiteStore, migrate
from mailbind.testing import ListCalendar
from mailbind.testing.store_contract import reads

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_schema_3_database_migrates_and_reads_as_a_fresh_sync(tmp_path: Path) -> None:
    """The committed schema-3 database (the sample, synced by release 0.1.0.dev0) opens at the
    current schema, keeps every message, copy, contact and state, and reads exactly as the same
    sample synced into a new database."""
    old = tmp_path / "old.sqlite"
    shutil.copyfile(FIXTURES / "schema-v3-sample.sqlite", old)
    with SQLiteStore(old) as store:
        versions = store._db.execute("SELECT version FROM mailbind_schema ORDER BY 1").fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        assert store.workspaces() == ("default",)
        assert [m.id for m in store.mailboxes()] == [
            "maria.lopez@acme.example",
            "tom.baker@acme.example",
        ]
        assert len(store.contact_index()) == 12
        assert store.load_state("maria.lopez@acme.example").cursor is not None
        migrated = reads(store)
    new = tmp_path / "new.sqlite"
    sample = files("mailbind") / "data"
    assert sample.is_dir()
    assert main(["sync", "--sample", "--db", str(new), "--quiet"]) == 0
    with SQLiteStore(new) as store:
        assert reads(store) == migrated


def test_a_migrated_database_syncs_on_with_nothing_new(tmp_path: Path) -> None:
    """After the migration, the next sync of the same mail finds nothing new and records the
    settings it runs under."""
    old = tmp_path / "old.sqlite"
    shutil.copyfile(FIXTURES / "schema-v3-sample.sqlite", old)
    assert main(["sync", "--sample", "--db", str(old), "--quiet"]) == 0
    with SQLiteStore(old) as store:
        assert store.recorded_policy() is not None
        assert len(store.contact_index()) == 12


def test_a_database_from_before_the_event_tables_stores_and_reads_events(tmp_path: Path) -> None:
    """A schema-4 database (the sample, migrated no further) has no event tables; it opens at
    the current schema, keeps its mail, and then stores events that link to its contacts,
    with each calendar's sync state."""
    old = tmp_path / "old.sqlite"
    shutil.copyfile(FIXTURES / "schema-v3-sample.sqlite", old)
    db = sqlite3.connect(old, isolation_level=None)
    assert migrate(db, str(old), upto=4) == 3
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"messages", "copies", "contacts"} <= tables
    assert not {"events", "event_copies", "event_participants", "calendars"} & tables
    db.close()
    frank = "frank.oconnor@globex.example"
    maria = Mailbox("maria.lopez@acme.example", incoming="subject")
    text = "\r\n".join(
        (
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//mailbind tests//EN",
            "BEGIN:VEVENT",
            "UID:globex-review",
            "DTSTAMP:20250101T000000Z",
            "DTSTART:20250203T100000Z",
            f"ORGANIZER:mailto:{frank}",
            "ATTENDEE:mailto:maria.lopez@acme.example",
            "SUMMARY:Review",
            "END:VEVENT",
            "END:VCALENDAR",
        )
    )
    calendar = ListCalendar("work")
    calendar.put("review.ics", *Event.from_ical(text))
    now = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    with SQLiteStore(old) as store:
        versions = store._db.execute("SELECT version FROM mailbind_schema ORDER BY 1").fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        before = reads(store)
        report = sync_calendar(calendar, store, maria, Policy(["acme.example"]), now=now)
        assert (report.synced, report.contacts_created) == (1, 0)
        (contact,) = [c for c in store.contact_index() if str(c.primary) == frank]
        (held,) = store.events_for_contact(contact.id)
        assert held.event.title == "Review"
        assert held.seen_by("tom.baker@acme.example").title == "Review"
        assert store.load_calendar(maria.id, "work").sync.status is SyncStatus.IDLE
        assert reads(store) == before


#: Schema 7's indexes that step 8 narrows or drops, as schema 7 made them.
SCHEMA_7_INDEXES = (
    "CREATE INDEX participants_by_contact ON participants"
    "(workspace, contact_id, sent_at, message_key)",
    "CREATE INDEX copies_by_key ON copies(workspace, message_key)",
    "CREATE INDEX copies_by_message_id ON copies(workspace, message_id)",
)


def _indexes(path: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "ORDER BY name"
        ).fetchall()
    finally:
        db.close()


def test_a_schema_7_database_with_mail_migrates_with_nothing_lost(tmp_path: Path) -> None:
    """The sample synced, its indexes put back as schema 7 had them and its version set back to
    7, opens at the current schema with every read unchanged and the indexes of a new
    database (participants by contact where linked, copies by message where synced)."""
    path = tmp_path / "v7.sqlite"
    assert main(["sync", "--sample", "--db", str(path), "--quiet"]) == 0
    with SQLiteStore(path) as store:
        before = reads(store)
        decisions = {m.id: sorted(map(repr, store.decisions(m.id))) for m in store.mailboxes()}
    fresh = _indexes(path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP INDEX participants_by_contact")
    db.execute("DROP INDEX copies_by_key")
    for statement in SCHEMA_7_INDEXES:
        db.execute(statement)
    db.execute("DELETE FROM mailbind_schema WHERE version > 7")
    db.close()
    assert _indexes(path) != fresh
    with SQLiteStore(path) as store:
        versions = store._db.execute("SELECT version FROM mailbind_schema ORDER BY 1").fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        assert reads(store) == before
        assert {
            m.id: sorted(map(repr, store.decisions(m.id))) for m in store.mailboxes()
        } == decisions
    assert _indexes(path) == fresh


def test_a_new_database_has_pages_of_16_kib_and_an_old_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    """A file the store creates gets 16 KiB pages; a database made with SQLite's default
    4 KiB pages keeps them through the migration."""
    new = tmp_path / "new.sqlite"
    with SQLiteStore(new) as store:
        assert store._db.execute("PRAGMA page_size").fetchone() == (16384,)
    old = tmp_path / "old.sqlite"
    shutil.copyfile(FIXTURES / "schema-v3-sample.sqlite", old)
    db = sqlite3.connect(old)
    assert db.execute("PRAGMA page_size").fetchone() == (4096,)
    db.close()
    with SQLiteStore(old) as store:
        assert store._db.execute("PRAGMA page_size").fetchone() == (4096,)
