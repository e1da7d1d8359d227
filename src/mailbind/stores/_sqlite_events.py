"""The calendar half of `SQLiteStore`: events, their copies and links, and calendar states.

Invariants:
- The tables are those of schema version 5 (`EVENT_TABLES`) with the ``sync`` column schema
  version 6 adds to ``calendars`` (`CALENDAR_STATE`: the calendar's `SyncState` as JSON):
  ``events`` (one row per
  workspace and event key, the newest ``sequence`` kept), ``event_copies`` (one per mailbox,
  calendar, resource and key, synced or not), ``event_participants`` (the links of each stored
  event), ``calendars`` (cursor, listing token and settings of each calendar) and
  ``event_mailboxes`` (the settings each mailbox's last calendar batch came with, which make
  the holdings of its events).
- `apply_event_batch` is one ``BEGIN IMMEDIATE`` transaction, in the order of
  `mailbind.calendars.EventBatchResult`. Every query is parameterised.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..calendars import CalendarState, EventBatchResult, EventCopy, StoredEvent, event_order
from ..codecs import (
    decode_event,
    decode_mailbox,
    decode_sync_state,
    encode_event,
    encode_mailbox,
    encode_sync_state,
)
from ..errors import StoreError
from ..messages import Direction
from ..policy import Mailbox
from ..rules import Holding
from ..store import DEFAULT_WORKSPACE, StaleBatchError, holding_direction

__all__ = ["CALENDAR_STATE", "EVENT_TABLES", "SQLiteEvents", "relink_events"]

#: The statements of the schema step that adds events (schema version 5).
EVENT_TABLES = (
    """CREATE TABLE calendars (
        workspace TEXT NOT NULL,
        mailbox_id TEXT NOT NULL,
        calendar TEXT NOT NULL,
        cursor TEXT,
        listing TEXT,
        settings TEXT,
        PRIMARY KEY (workspace, mailbox_id, calendar)
    ) WITHOUT ROWID""",
    """CREATE TABLE event_mailboxes (
        workspace TEXT NOT NULL,
        mailbox_id TEXT NOT NULL,
        settings TEXT NOT NULL,
        PRIMARY KEY (workspace, mailbox_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE events (
        workspace TEXT NOT NULL,
        key TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        start REAL,
        document TEXT NOT NULL,
        PRIMARY KEY (workspace, key)
    ) WITHOUT ROWID""",
    """CREATE TABLE event_copies (
        workspace TEXT NOT NULL,
        mailbox_id TEXT NOT NULL,
        calendar TEXT NOT NULL,
        resource TEXT NOT NULL,
        event_key TEXT NOT NULL,
        synced INTEGER NOT NULL,
        reasons TEXT NOT NULL,
        direction TEXT NOT NULL,
        level TEXT NOT NULL,
        PRIMARY KEY (workspace, mailbox_id, calendar, resource, event_key)
    ) WITHOUT ROWID""",
    "CREATE INDEX event_copies_by_key ON event_copies(workspace, event_key)",
    """CREATE TABLE event_participants (
        workspace TEXT NOT NULL,
        event_key TEXT NOT NULL,
        position INTEGER NOT NULL,
        key TEXT NOT NULL,
        contact_id TEXT,
        PRIMARY KEY (workspace, event_key, position),
        FOREIGN KEY (workspace, event_key) REFERENCES events(workspace, key) ON DELETE CASCADE
    ) WITHOUT ROWID""",
    "CREATE INDEX event_participants_by_key ON event_participants(workspace, key)",
    "CREATE INDEX event_participants_by_contact ON event_participants(workspace, contact_id)",
)


#: The statements of the schema step that gives each calendar a sync state (schema version 6).
CALENDAR_STATE = ("ALTER TABLE calendars ADD COLUMN sync TEXT",)


def relink_events(db: sqlite3.Connection, ws: str, pairs: Iterable[tuple[str | None, str]]) -> None:
    """Set the contact of every stored event participant with each key: (new owner, key)."""
    db.executemany(
        "UPDATE event_participants SET contact_id = ? WHERE workspace = ? AND key = ?",
        [(new, ws, key) for new, key in pairs],
    )


def _copy_row(ws: str, mailbox_id: str, calendar: str, item: EventCopy) -> tuple[Any, ...]:
    d = item.decision
    return (
        ws,
        mailbox_id,
        calendar,
        item.location,
        item.event.key,
        int(d.synced),
        " ".join(r.value for r in d.reasons),
        d.direction.value,
        d.level.value,
    )


class SQLiteEvents:
    """The `mailbind.calendars.EventStore` methods of `SQLiteStore`."""

    path: str
    _write: Callable[[], Any]
    _read: Callable[..., list[Any]]
    #: Set by `SQLiteStore`: the workspace's contacts version, storing new contacts, and
    #: re-linking mail and event participants.
    _contacts_version_in: Callable[[sqlite3.Connection, str], int]
    _insert_new_contacts: Callable[[sqlite3.Connection, str, Sequence[Any]], None]
    _relink_in: Callable[[sqlite3.Connection, str, Iterable[Any]], None]

    def load_calendar(
        self, mailbox_id: str, calendar: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> CalendarState:
        rows = self._read(
            "SELECT cursor, listing, settings, sync FROM calendars "
            "WHERE workspace = ? AND mailbox_id = ? AND calendar = ?",
            (_ws(workspace), mailbox_id, calendar),
        )
        if not rows:
            return CalendarState()
        cursor, listing, settings, sync = rows[0]
        return CalendarState(cursor, listing, settings, decode_sync_state(sync))

    def apply_event_batch(
        self, batch: EventBatchResult, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        ws = _ws(workspace)
        mailbox = batch.mailbox
        with self._write() as db:
            version = self._contacts_version_in(db, ws)
            if batch.contacts_version is not None and batch.contacts_version != version:
                raise StaleBatchError(
                    f"The contacts in {self.path!r} changed since the batch was planned."
                )
            db.execute(
                "INSERT OR REPLACE INTO event_mailboxes (workspace, mailbox_id, settings) "
                "VALUES (?, ?, ?)",
                (ws, mailbox.id, encode_mailbox(mailbox)),
            )
            db.executemany(
                "INSERT INTO companies (workspace, domain, name) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [(ws, c.domain, c.name) for c in batch.companies],
            )
            self._insert_new_contacts(db, ws, batch.contacts)
            resources = sorted(set(batch.read) | set(batch.gone))
            touched = {
                key
                for chunk in _chunks(resources)
                for (key,) in db.execute(
                    "SELECT event_key FROM event_copies WHERE workspace = ? AND mailbox_id = ? "
                    "AND calendar = ? AND resource IN (SELECT value FROM json_each(?))",
                    (ws, mailbox.id, batch.calendar, json.dumps(list(chunk))),
                )
            }
            db.executemany(
                "DELETE FROM event_copies WHERE workspace = ? AND mailbox_id = ? "
                "AND calendar = ? AND resource = ?",
                [(ws, mailbox.id, batch.calendar, r) for r in resources],
            )
            db.executemany(
                "INSERT OR REPLACE INTO event_copies (workspace, mailbox_id, calendar, resource, "
                "event_key, synced, reasons, direction, level) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_copy_row(ws, mailbox.id, batch.calendar, item) for item in batch.items],
            )
            for item in batch.items:
                if item.decision.synced:
                    _keep(db, ws, item)
            self._relink_in(db, ws, batch.owners)
            db.executemany(
                "DELETE FROM events WHERE workspace = ? AND key = ? AND NOT EXISTS "
                "(SELECT 1 FROM event_copies WHERE workspace = ? AND event_key = ? "
                "AND synced = 1)",
                [(ws, key, ws, key) for key in sorted(touched)],
            )
            old = db.execute(
                "SELECT listing, settings, sync FROM calendars "
                "WHERE workspace = ? AND mailbox_id = ? AND calendar = ?",
                (ws, mailbox.id, batch.calendar),
            ).fetchone()
            listing, settings, sync = old if old is not None else (None, None, None)
            db.execute(
                "INSERT OR REPLACE INTO calendars (workspace, mailbox_id, calendar, cursor, "
                "listing, settings, sync) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    ws,
                    mailbox.id,
                    batch.calendar,
                    batch.cursor,
                    listing if batch.listing is None else batch.listing,
                    settings if batch.settings is None else batch.settings,
                    sync if batch.state is None else encode_sync_state(batch.state),
                ),
            )

    def event_resources(
        self, mailbox_id: str, calendar: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> dict[str, tuple[str, ...]]:
        found: dict[str, list[str]] = {}
        for resource, key in self._read(
            "SELECT resource, event_key FROM event_copies WHERE workspace = ? "
            "AND mailbox_id = ? AND calendar = ? ORDER BY resource, event_key",
            (_ws(workspace), mailbox_id, calendar),
        ):
            found.setdefault(resource, []).append(key)
        return {resource: tuple(keys) for resource, keys in found.items()}

    def mailbox_events(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredEvent, ...]:
        ws = _ws(workspace)
        return self._events(
            ws,
            "SELECT DISTINCT event_key FROM event_copies WHERE workspace = ? AND mailbox_id = ? "
            "AND synced = 1",
            (ws, mailbox_id),
        )

    def events_for_contact(
        self, contact_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredEvent, ...]:
        ws = _ws(workspace)
        return self._events(
            ws,
            "SELECT DISTINCT event_key FROM event_participants "
            "WHERE workspace = ? AND contact_id = ?",
            (ws, contact_id),
        )

    def events_for_company(
        self, domain: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredEvent, ...]:
        ws = _ws(workspace)
        return self._events(
            ws,
            "SELECT DISTINCT p.event_key FROM event_participants p "
            "JOIN contacts c ON c.workspace = p.workspace AND c.id = p.contact_id "
            "WHERE p.workspace = ? AND c.company_domain = ?",
            (ws, domain.lower()),
        )

    def _events(self, ws: str, sql: str, params: tuple[str, ...]) -> tuple[StoredEvent, ...]:
        keys = [key for (key,) in self._read(sql, params)]
        mailboxes = {
            mailbox_id: decode_mailbox(settings)
            for mailbox_id, settings in self._read(
                "SELECT mailbox_id, settings FROM event_mailboxes WHERE workspace = ?", (ws,)
            )
        }
        found: list[StoredEvent] = []
        for chunk in _chunks(keys):
            wanted = (ws, json.dumps(list(chunk)))
            documents = dict(
                self._read(
                    "SELECT key, document FROM events WHERE workspace = ? "
                    "AND key IN (SELECT value FROM json_each(?))",
                    wanted,
                )
            )
            directions: dict[str, dict[str, list[Direction]]] = {}
            for key, mailbox_id, direction in self._read(
                "SELECT event_key, mailbox_id, direction FROM event_copies "
                "WHERE workspace = ? AND synced = 1 "
                "AND event_key IN (SELECT value FROM json_each(?))",
                wanted,
            ):
                directions.setdefault(key, {}).setdefault(mailbox_id, []).append(
                    Direction(direction)
                )
            owners: dict[str, dict[int, str | None]] = {}
            for key, position, contact_id in self._read(
                "SELECT event_key, position, contact_id FROM event_participants "
                "WHERE workspace = ? AND event_key IN (SELECT value FROM json_each(?))",
                wanted,
            ):
                owners.setdefault(key, {})[position] = contact_id
            for key in chunk:
                document = documents.get(key)
                if document is None:
                    continue
                event = decode_event(document)
                holdings = tuple(
                    Holding(mailbox, holding_direction(mailbox, held))
                    for mailbox_id, held in sorted(directions.get(key, {}).items())
                    for mailbox in (_mailbox(mailboxes, mailbox_id),)
                )
                links = owners.get(key, {})
                contacts = tuple(links.get(i) for i in range(len(event.participants)))
                found.append(StoredEvent(event, holdings, contacts))
        found.sort(key=lambda stored: event_order(stored.event))
        return tuple(found)


def _mailbox(mailboxes: dict[str, Mailbox], mailbox_id: str) -> Mailbox:
    mailbox = mailboxes.get(mailbox_id)
    if mailbox is None:
        raise StoreError(f"The calendar settings of the mailbox {mailbox_id!r} are missing.")
    return mailbox


def _keep(db: sqlite3.Connection, ws: str, item: EventCopy) -> None:
    """Store the item's event unless a higher ``sequence`` is stored; with it, its links."""
    event = item.event
    row = db.execute(
        "SELECT sequence FROM events WHERE workspace = ? AND key = ?", (ws, event.key)
    ).fetchone()
    if row is not None and row[0] > event.sequence:
        return
    start = None if event.start is None else event.start.timestamp()
    db.execute(
        "INSERT INTO events (workspace, key, sequence, start, document) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (workspace, key) DO UPDATE SET sequence = excluded.sequence, "
        "start = excluded.start, document = excluded.document",
        (ws, event.key, event.sequence, start, encode_event(event)),
    )
    db.execute(
        "DELETE FROM event_participants WHERE workspace = ? AND event_key = ?", (ws, event.key)
    )
    db.executemany(
        "INSERT INTO event_participants (workspace, event_key, position, key, contact_id) "
        "VALUES (?, ?, ?, ?, ?)",
        [(ws, event.key, link.position, link.key, link.contact_id) for link in item.links],
    )


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _ws(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise StoreError(f"A workspace must be a non-empty string, not {value!r}.")
    return value
