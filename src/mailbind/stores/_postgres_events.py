"""The calendar half of `PostgresStore`: events, their copies and links, and calendar states.

Invariants:
- The tables are those of PostgreSQL schema version 2 (`EVENT_TABLES`), the same as SQLite's
  schema 5: ``events``, ``event_copies``, ``event_participants``, ``calendars`` and
  ``event_mailboxes``.
- `apply_event_batch` is one READ COMMITTED transaction that first takes the workspace's
  ``contact_versions`` row ``FOR SHARE`` (a contact change waits for it, and a batch planned
  before a contact change is refused with `StaleBatchError`), then transaction-scoped advisory
  locks on the batch's event keys and contact key stems in ascending order (the same ids as
  mail batches use for contact keys), then writes the rows. Every query is parameterised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import psycopg

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
from ..rules import Holding
from ..store import DEFAULT_WORKSPACE, StaleBatchError, holding_direction

#: The statements of the schema step that gives each calendar a sync state (schema version 3).
CALENDAR_STATE = ("ALTER TABLE calendars ADD COLUMN sync text",)

__all__ = ["CALENDAR_STATE", "EVENT_TABLES", "PostgresEvents", "relink_by_key", "relink_events"]

#: The statements of the schema step that gives each calendar a sync state (schema version 3).
CALENDAR_STATE = ("ALTER TABLE calendars ADD COLUMN sync text",)

EVENT_TABLES = (
    """CREATE TABLE calendars (
        workspace text NOT NULL,
        mailbox_id text NOT NULL,
        calendar text NOT NULL,
        cursor text,
        listing text,
        settings text,
        PRIMARY KEY (workspace, mailbox_id, calendar)
    )""",
    """CREATE TABLE event_mailboxes (
        workspace text NOT NULL,
        mailbox_id text NOT NULL,
        settings text NOT NULL,
        PRIMARY KEY (workspace, mailbox_id)
    )""",
    """CREATE TABLE events (
        workspace text NOT NULL,
        key text NOT NULL,
        sequence bigint NOT NULL,
        start double precision,
        document text NOT NULL,
        PRIMARY KEY (workspace, key)
    )""",
    """CREATE TABLE event_copies (
        workspace text NOT NULL,
        mailbox_id text NOT NULL,
        calendar text NOT NULL,
        resource text NOT NULL,
        event_key text NOT NULL,
        synced boolean NOT NULL,
        reasons text NOT NULL,
        direction text NOT NULL,
        level text NOT NULL,
        PRIMARY KEY (workspace, mailbox_id, calendar, resource, event_key)
    )""",
    "CREATE INDEX event_copies_by_key ON event_copies (workspace, event_key)",
    """CREATE TABLE event_participants (
        workspace text NOT NULL,
        event_key text NOT NULL,
        position integer NOT NULL,
        key text NOT NULL,
        contact_id text,
        PRIMARY KEY (workspace, event_key, position),
        FOREIGN KEY (workspace, event_key) REFERENCES events (workspace, key) ON DELETE CASCADE
    )""",
    "CREATE INDEX event_participants_by_key ON event_participants (workspace, key)",
    "CREATE INDEX event_participants_by_contact ON event_participants (workspace, contact_id)",
)


def relink_by_key(
    cur: psycopg.Cursor[Any], ws: str, table: str, parent: str, owner: dict[str, str | None]
) -> None:
    """Link every row of *table* (``participants``, whose parent column is ``message_key``, or
    ``event_participants``, ``event_key``) with a key of *owner* to that key's owner.

    The rows linked otherwise are found key by key first (most keys have none), then updated by
    their primary key: no join over a batch's worth of keys (see `mailbind.stores.postgres`).
    The caller holds these keys' locks exclusively, or the contacts version row, so nothing
    links or adds a row with one of them in between."""
    if not owner:
        return
    keys = sorted(owner)
    cur.execute(
        f"SELECT p.{parent}, p.position, o.owner "  # noqa: S608 - two fixed names
        "FROM unnest(%b::text[], %b::text[]) AS o(key, owner) CROSS JOIN LATERAL "
        f"(SELECT {parent}, position FROM {table} WHERE workspace = %s AND key = o.key "
        "AND contact_id IS DISTINCT FROM o.owner OFFSET 0) p",
        (keys, [owner[k] for k in keys], ws),
    )
    moved = sorted(cur.fetchall())
    if moved:
        columns = [list(column) for column in zip(*moved, strict=True)]
        cur.execute(
            f"UPDATE {table} p SET contact_id = m.owner "  # noqa: S608 - two fixed names
            f"FROM unnest(%b::text[], %b::integer[], %b::text[]) AS m({parent}, position, owner) "
            f"WHERE p.workspace = %s AND p.{parent} = m.{parent} AND p.position = m.position",
            (*columns, ws),
        )


def relink_events(cur: psycopg.Cursor[Any], ws: str, final: dict[str, str | None]) -> None:
    """Set the contact of every stored event participant with each key to its new owner."""
    relink_by_key(cur, ws, "event_participants", "event_key", final)


class PostgresEvents:
    """The `mailbind.calendars.EventStore` methods of `PostgresStore`."""

    name: str
    _write: Callable[..., Any]
    _read: Callable[..., list[Any]]
    _snapshot: Callable[[], Any]
    #: Set by `PostgresStore`.
    _shared_version_in: Callable[[psycopg.Cursor[Any], str], int]
    _insert_new: Callable[[psycopg.Cursor[Any], str, EventBatchResult], None]
    _relink_in: Callable[[psycopg.Cursor[Any], str, Iterable[Any]], None]
    _lock_ids: Callable[[str, Iterable[str], Iterable[str]], list[int]]

    def load_calendar(
        self, mailbox_id: str, calendar: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> CalendarState:
        rows = self._read(
            "SELECT cursor, listing, settings, sync FROM calendars "
            "WHERE workspace = %s AND mailbox_id = %s AND calendar = %s",
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
        resources = sorted(set(batch.read) | set(batch.gone))
        with self._write() as cur:
            version = self._shared_version_in(cur, ws)
            if batch.contacts_version is not None and batch.contacts_version != version:
                raise StaleBatchError(
                    f"The contacts in {self.name!r} changed since the batch was planned."
                )
            touched: set[str] = set()
            if resources:
                cur.execute(
                    "SELECT event_key FROM event_copies WHERE workspace = %s AND mailbox_id = %s "
                    "AND calendar = %s AND resource = ANY(%s)",
                    (ws, mailbox.id, batch.calendar, resources),
                )
                touched = {key for (key,) in cur.fetchall()}
            event_keys = touched | {item.event.key for item in batch.items}
            contact_keys = {link.key for item in batch.items for link in item.links}
            contact_keys.update(change.key for change in batch.owners)
            locks = self._lock_ids(ws, event_keys, contact_keys)
            if locks:
                cur.execute(
                    "SELECT count(pg_advisory_xact_lock(id)) FROM unnest(%s::bigint[]) AS id",
                    (locks,),
                )
            cur.execute(
                "INSERT INTO event_mailboxes (workspace, mailbox_id, settings) "
                "VALUES (%s, %s, %s) ON CONFLICT (workspace, mailbox_id) "
                "DO UPDATE SET settings = excluded.settings",
                (ws, mailbox.id, encode_mailbox(mailbox)),
            )
            self._insert_new(cur, ws, batch)
            if resources:
                cur.execute(
                    "DELETE FROM event_copies WHERE workspace = %s AND mailbox_id = %s "
                    "AND calendar = %s AND resource = ANY(%s)",
                    (ws, mailbox.id, batch.calendar, resources),
                )
            if batch.items:
                cur.executemany(
                    "INSERT INTO event_copies (workspace, mailbox_id, calendar, resource, "
                    "event_key, synced, reasons, direction, level) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT "
                    "(workspace, mailbox_id, calendar, resource, event_key) DO UPDATE SET "
                    "synced = excluded.synced, reasons = excluded.reasons, "
                    "direction = excluded.direction, level = excluded.level",
                    [_copy_row(ws, mailbox.id, batch.calendar, item) for item in batch.items],
                )
            for item in batch.items:
                if item.decision.synced:
                    _keep(cur, ws, item)
            self._relink_in(cur, ws, batch.owners)
            if touched:
                cur.execute(
                    "DELETE FROM events e WHERE e.workspace = %s AND e.key = ANY(%s) "
                    "AND NOT EXISTS (SELECT 1 FROM event_copies c WHERE c.workspace = e.workspace "
                    "AND c.event_key = e.key AND c.synced)",
                    (ws, sorted(touched)),
                )
            cur.execute(
                "INSERT INTO calendars (workspace, mailbox_id, calendar, cursor, listing, "
                "settings, sync) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (workspace, mailbox_id, calendar) DO UPDATE SET "
                "cursor = excluded.cursor, "
                "listing = COALESCE(excluded.listing, calendars.listing), "
                "settings = COALESCE(excluded.settings, calendars.settings), "
                "sync = COALESCE(excluded.sync, calendars.sync)",
                (
                    ws,
                    mailbox.id,
                    batch.calendar,
                    batch.cursor,
                    batch.listing,
                    batch.settings,
                    None if batch.state is None else encode_sync_state(batch.state),
                ),
            )

    def event_resources(
        self, mailbox_id: str, calendar: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> dict[str, tuple[str, ...]]:
        found: dict[str, list[str]] = {}
        for resource, key in self._read(
            "SELECT resource, event_key FROM event_copies WHERE workspace = %s "
            "AND mailbox_id = %s AND calendar = %s ORDER BY resource, event_key",
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
            "SELECT DISTINCT event_key FROM event_copies WHERE workspace = %s "
            "AND mailbox_id = %s AND synced",
            (ws, mailbox_id),
        )

    def events_for_contact(
        self, contact_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredEvent, ...]:
        ws = _ws(workspace)
        return self._events(
            ws,
            "SELECT DISTINCT event_key FROM event_participants "
            "WHERE workspace = %s AND contact_id = %s",
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
            "WHERE p.workspace = %s AND c.company_domain = %s",
            (ws, domain.lower()),
        )

    def _events(self, ws: str, sql: str, params: tuple[str, ...]) -> tuple[StoredEvent, ...]:
        with self._snapshot() as cur:
            keys = [key for (key,) in cur.execute(sql, params).fetchall()]
            if not keys:
                return ()
            mailboxes = {
                mailbox_id: decode_mailbox(settings)
                for mailbox_id, settings in cur.execute(
                    "SELECT mailbox_id, settings FROM event_mailboxes WHERE workspace = %s",
                    (ws,),
                ).fetchall()
            }
            documents = dict(
                cur.execute(
                    "SELECT key, document FROM events WHERE workspace = %s AND key = ANY(%s)",
                    (ws, keys),
                ).fetchall()
            )
            directions: dict[str, dict[str, list[Direction]]] = {}
            for key, mailbox_id, direction in cur.execute(
                "SELECT event_key, mailbox_id, direction FROM event_copies "
                "WHERE workspace = %s AND synced AND event_key = ANY(%s)",
                (ws, keys),
            ).fetchall():
                directions.setdefault(key, {}).setdefault(mailbox_id, []).append(
                    Direction(direction)
                )
            owners: dict[str, dict[int, str | None]] = {}
            for key, position, contact_id in cur.execute(
                "SELECT event_key, position, contact_id FROM event_participants "
                "WHERE workspace = %s AND event_key = ANY(%s)",
                (ws, keys),
            ).fetchall():
                owners.setdefault(key, {})[position] = contact_id
        found: list[StoredEvent] = []
        for key in keys:
            document = documents.get(key)
            if document is None:
                continue
            event = decode_event(document)
            holdings = []
            for mailbox_id, held in sorted(directions.get(key, {}).items()):
                mailbox = mailboxes.get(mailbox_id)
                if mailbox is None:
                    raise StoreError(
                        f"The calendar settings of the mailbox {mailbox_id!r} are missing."
                    )
                holdings.append(Holding(mailbox, holding_direction(mailbox, held)))
            links = owners.get(key, {})
            contacts = tuple(links.get(i) for i in range(len(event.participants)))
            found.append(StoredEvent(event, tuple(holdings), contacts))
        found.sort(key=lambda stored: event_order(stored.event))
        return tuple(found)


def _copy_row(ws: str, mailbox_id: str, calendar: str, item: EventCopy) -> tuple[Any, ...]:
    d = item.decision
    return (
        ws,
        mailbox_id,
        calendar,
        item.location,
        item.event.key,
        d.synced,
        " ".join(r.value for r in d.reasons),
        d.direction.value,
        d.level.value,
    )


def _keep(cur: psycopg.Cursor[Any], ws: str, item: EventCopy) -> None:
    """Store the item's event unless a higher ``sequence`` is stored; with it, its links."""
    event = item.event
    start = None if event.start is None else event.start.timestamp()
    row = cur.execute(
        "INSERT INTO events (workspace, key, sequence, start, document) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (workspace, key) DO UPDATE SET "
        "sequence = excluded.sequence, start = excluded.start, document = excluded.document "
        "WHERE events.sequence <= excluded.sequence RETURNING key",
        (ws, event.key, event.sequence, start, encode_event(event)),
    ).fetchone()
    if row is None:
        return
    cur.execute(
        "DELETE FROM event_participants WHERE workspace = %s AND event_key = %s", (ws, event.key)
    )
    if item.links:
        cur.executemany(
            "INSERT INTO event_participants (workspace, event_key, position, key, contact_id) "
            "VALUES (%s, %s, %s, %s, %s)",
            [(ws, event.key, link.position, link.key, link.contact_id) for link in item.links],
        )


def _ws(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise StoreError(f"A workspace must be a non-empty string, not {value!r}.")
    return value
