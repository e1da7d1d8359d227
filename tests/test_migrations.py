"""A database written by an earlier release opens, migrates and reads as before."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

from mailbind import Event, Mailbox, Policy
from mailbind.calendar_sync import sync_calendar
from mailbind.cli import main
from mailbind.schedule import SyncStatus
from mailbind.store import BatchResult
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


def _rows(path: Path, *queries: str) -> list[list[tuple[object, ...]]]:
    db = sqlite3.connect(path)
    try:
        return [db.execute(query).fetchall() for query in queries]
    finally:
        db.close()


def _schema(path: Path) -> list[tuple[str, str, str]]:
    db = sqlite3.connect(path)
    try:
        return db.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
        ).fetchall()
    finally:
        db.close()


#: Every row of the tables step 8 rebuilds, as schema 7 kept them and as schema 8 shows them
#: (the views participants and thread_nodes have the columns of schema 7's tables).
KEPT = (
    "SELECT workspace, message_key, position, key, contact_id, domain, sent_at "
    "FROM participants ORDER BY 1, 2, 3",
    "SELECT workspace, node, message_key FROM thread_nodes ORDER BY 1, 2, 3",
    "SELECT workspace, key, message_id, sent_at, document, thread_id, thread_facts, "
    "thread_subject FROM messages ORDER BY 1, 2",
    "SELECT * FROM copies ORDER BY 1, 2, 3",
    "SELECT * FROM contacts ORDER BY 1, 2",
)


def test_a_schema_7_database_migrates_with_every_row_kept(tmp_path: Path) -> None:
    """The committed schema-7 database (the sample synced by the code of schema 7) opens at the
    current schema with every message, copy, contact, participant and thread node kept (the
    views show the participants and thread nodes exactly as schema 7's tables held them),
    the schema of a new database, and the reads of the same sample synced afresh."""
    old = tmp_path / "v7.sqlite"
    shutil.copyfile(FIXTURES / "schema-v7-sample.sqlite", old)
    before = _rows(old, *KEPT)
    assert all(before)
    with SQLiteStore(old) as store:
        versions = store._db.execute("SELECT version FROM mailbind_schema ORDER BY 1").fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        assert store._db.execute("PRAGMA foreign_key_check").fetchall() == []
        migrated = reads(store)
    assert _rows(old, *KEPT) == before
    new = tmp_path / "new.sqlite"
    assert main(["sync", "--sample", "--db", str(new), "--quiet"]) == 0
    without_steps = [row for row in _schema(new) if row[1] != "mailbind_schema"]
    assert [row for row in _schema(old) if row[1] != "mailbind_schema"] == without_steps
    with SQLiteStore(new) as store:
        assert reads(store) == migrated


def test_an_address_stays_only_while_a_stored_message_has_it(tmp_path: Path) -> None:
    """When the last stored message with a participant goes (its copies gone at the source),
    the participant's address goes with it; the addresses of messages still stored stay."""
    path = tmp_path / "v7.sqlite"
    shutil.copyfile(FIXTURES / "schema-v7-sample.sqlite", path)
    with SQLiteStore(path) as store:
        db = store._db
        (address,) = db.execute(
            "SELECT key FROM participants GROUP BY key ORDER BY count(*), key LIMIT 1"
        ).fetchone()
        keys = {
            k
            for (k,) in db.execute("SELECT message_key FROM participants WHERE key = ?", (address,))
        }
        for mailbox in store.mailboxes():
            gone = tuple(loc for loc, k in store.locations(mailbox.id).items() if k in keys)
            state = store.load_state(mailbox.id)
            store.apply_batch(BatchResult(mailbox, state.cursor, state.sync, gone=gone))
        assert db.execute(
            "SELECT count(*) FROM messages WHERE key IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(keys)),),
        ).fetchone() == (0,)
        assert db.execute("SELECT 1 FROM addresses WHERE key = ?", (address,)).fetchall() == []
        held = db.execute("SELECT count(DISTINCT key) FROM participants").fetchone()
        assert db.execute("SELECT count(*) FROM addresses").fetchone() == held


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
