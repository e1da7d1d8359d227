"""SQLiteStore: the embedded default store, on the standard library's ``sqlite3``.

Invariants:
- Every query is parameterised: nothing read from a message ever becomes SQL text.
- The database runs in WAL mode with foreign keys on; each `apply_batch` and each
  `apply_contact_change` is one ``BEGIN IMMEDIATE`` transaction, the cursor included, so a
  crash at any point leaves either the whole batch or none of it.
- The schema carries its version in ``mailbind_schema``; opening a database applies the
  missing steps of `MIGRATIONS` in order, each in its own transaction. A newer or foreign
  database is refused.
- Every ``sqlite3`` failure surfaces as a `StoreError` naming the database path, raised from the
  original error.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from ..addresses import Address, Canonicalization
from ..codecs import (
    JSON,
    address_from_record,
    address_record,
    decode_mailbox,
    decode_message,
    encode_mailbox,
    encode_message,
)
from ..contacts import Contact, ContactIndex, OwnerChange, Suppression, SuppressionReason
from ..errors import StoreError
from ..messages import Direction, SharingLevel
from ..policy import Mailbox
from ..rules import Decision, Holding, Reason
from ..schedule import SyncState, SyncStatus
from ..store import (
    BatchItem,
    BatchResult,
    Company,
    ContactChange,
    MailboxState,
    StoredDecision,
    StoredMessage,
    message_order,
    sort_time,
)

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "SQLiteStore", "migrate"]

_T = TypeVar("_T")

#: Most messages read from the database at once.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: the statements that take a database to ``version``."""

    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "Messages, links, decisions, participants, contacts, companies, suppressions, state",
        (
            """CREATE TABLE mailboxes (
                id TEXT PRIMARY KEY,
                settings TEXT NOT NULL
            )""",
            """CREATE TABLE sync_state (
                mailbox_id TEXT PRIMARY KEY,
                cursor TEXT,
                status TEXT NOT NULL,
                last_success TEXT,
                last_failure TEXT,
                failures INTEGER NOT NULL,
                error TEXT NOT NULL,
                requested INTEGER NOT NULL
            )""",
            """CREATE TABLE messages (
                key TEXT PRIMARY KEY,
                message_id TEXT,
                sent_at REAL,
                document TEXT NOT NULL
            )""",
            """CREATE TABLE links (
                mailbox_id TEXT NOT NULL REFERENCES mailboxes(id),
                message_key TEXT NOT NULL REFERENCES messages(key) ON DELETE CASCADE,
                direction TEXT NOT NULL,
                level TEXT NOT NULL,
                PRIMARY KEY (mailbox_id, message_key)
            ) WITHOUT ROWID""",
            "CREATE INDEX links_by_message ON links(message_key)",
            """CREATE TABLE decisions (
                mailbox_id TEXT NOT NULL REFERENCES mailboxes(id),
                message_key TEXT NOT NULL,
                synced INTEGER NOT NULL,
                reasons TEXT NOT NULL,
                direction TEXT NOT NULL,
                level TEXT NOT NULL,
                PRIMARY KEY (mailbox_id, message_key)
            ) WITHOUT ROWID""",
            """CREATE TABLE companies (
                domain TEXT PRIMARY KEY,
                name TEXT NOT NULL
            )""",
            """CREATE TABLE contacts (
                id TEXT PRIMARY KEY,
                first_name TEXT NOT NULL,
                last_name TEXT NOT NULL,
                company_domain TEXT,
                created_at TEXT NOT NULL,
                deleted_at TEXT
            )""",
            """CREATE TABLE contact_addresses (
                contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
                position INTEGER NOT NULL,
                key TEXT NOT NULL,
                address TEXT NOT NULL,
                PRIMARY KEY (contact_id, position)
            ) WITHOUT ROWID""",
            "CREATE INDEX contact_addresses_by_key ON contact_addresses(key)",
            """CREATE TABLE participants (
                message_key TEXT NOT NULL REFERENCES messages(key) ON DELETE CASCADE,
                position INTEGER NOT NULL,
                key TEXT NOT NULL,
                contact_id TEXT REFERENCES contacts(id) ON DELETE SET NULL,
                PRIMARY KEY (message_key, position)
            ) WITHOUT ROWID""",
            "CREATE INDEX participants_by_key ON participants(key)",
            "CREATE INDEX participants_by_contact ON participants(contact_id)",
            """CREATE TABLE suppressions (
                key TEXT PRIMARY KEY,
                reason TEXT NOT NULL,
                contact_id TEXT
            )""",
        ),
    ),
    Migration(
        2,
        "Where each decided message stands in its source; contacts found by company",
        (
            "ALTER TABLE decisions ADD COLUMN location TEXT NOT NULL DEFAULT ''",
            "CREATE INDEX contacts_by_company ON contacts(company_domain)",
        ),
    ),
    Migration(
        3,
        "The policy each mailbox last synced under",
        (
            """CREATE TABLE policies (
                mailbox_id TEXT PRIMARY KEY,
                settings TEXT NOT NULL
            )""",
        ),
    ),
)

#: The schema version this mailbind writes.
SCHEMA_VERSION = MIGRATIONS[-1].version


def _chunks(values: Sequence[_T], size: int = _CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def migrate(db: sqlite3.Connection, path: str, *, upto: int = SCHEMA_VERSION) -> int:
    """Bring the database on *db* (an autocommit connection) to schema version *upto*.

    Returns the version it was at before. Raises `StoreError` for a database newer than this
    mailbind or one that is not a mailbind store.
    """
    with _transaction(db, path, "upgraded"):
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "mailbind_schema" in tables:
            current = db.execute("SELECT MAX(version) FROM mailbind_schema").fetchone()[0] or 0
        elif tables:
            raise StoreError(f"The database {path!r} is not a mailbind store.")
        else:
            db.execute(
                "CREATE TABLE mailbind_schema (version INTEGER PRIMARY KEY, description TEXT)"
            )
            current = 0
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"The database {path!r} has schema version {current}, newer than this "
                f"mailbind reads ({SCHEMA_VERSION}): upgrade mailbind."
            )
        for step in MIGRATIONS:
            if current < step.version <= upto:
                for statement in step.statements:
                    db.execute(statement)
                db.execute(
                    "INSERT INTO mailbind_schema (version, description) VALUES (?, ?)",
                    (step.version, step.description),
                )
    return int(current)


@contextmanager
def _transaction(db: sqlite3.Connection, path: str, what: str) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` transaction; sqlite3 errors become `StoreError`."""
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as err:
        raise StoreError(f"The database {path!r} could not be {what}: {err}.") from err
    try:
        yield db
    except BaseException as failure:
        with suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        if isinstance(failure, sqlite3.Error):
            raise StoreError(f"The database {path!r} could not be {what}: {failure}.") from failure
        raise
    try:
        db.execute("COMMIT")
    except sqlite3.Error as err:
        raise StoreError(f"The database {path!r} could not be {what}: {err}.") from err


class SQLiteStore:
    """A `Store` in one SQLite file: the embedded default.

    *path* is created when missing (``":memory:"`` keeps everything in memory). *timeout* is how
    long a write waits for another process's write to finish, in seconds. Every committed batch
    survives a crash of the process; with *durable* each commit also waits for the disk, so it
    survives a power cut too (SQLite's ``synchronous=FULL``), at some cost in speed.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, timeout: float = 30.0, durable: bool = False
    ) -> None:
        self.path = os.fspath(path)
        self._mailbox_cache: dict[str, tuple[str, Mailbox]] = {}
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as err:
            raise StoreError(f"The database {self.path!r} could not be opened: {err}.") from err
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            migrate(self._db, self.path)
        except sqlite3.Error as err:
            self._db.close()
            raise StoreError(f"The database {self.path!r} could not be opened: {err}.") from err
        except StoreError:
            self._db.close()
            raise

    def __repr__(self) -> str:
        return f"<SQLiteStore {self.path!r}>"

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self) -> Any:
        return _transaction(self._db, self.path, "written")

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as err:
            raise StoreError(f"The database {self.path!r} could not be read: {err}.") from err

    # --- Progress -----------------------------------------------------------------------------

    def load_state(self, mailbox_id: str) -> MailboxState:
        rows = self._read(
            "SELECT cursor, status, last_success, last_failure, failures, error, requested "
            "FROM sync_state WHERE mailbox_id = ?",
            (mailbox_id,),
        )
        if not rows:
            return MailboxState()
        cursor, status, success, failure, failures, error, requested = rows[0]
        state = SyncState(
            SyncStatus(status),
            _parse_time(success),
            _parse_time(failure),
            failures,
            error,
            bool(requested),
        )
        return MailboxState(cursor, state)

    def save_state(self, mailbox_id: str, state: MailboxState) -> None:
        with self._write() as db:
            _save_state(db, mailbox_id, state.cursor, state.sync)

    # --- The policy a mailbox synced under ------------------------------------------------------

    def policy_settings(self, mailbox_id: str) -> str | None:
        """The text `record_policy` last kept for *mailbox_id*, or None.

        The store does not read it: the command line keeps there the ``[policy]`` table a
        mailbox synced under, to apply a changed policy to the mail already stored.
        """
        rows = self._read("SELECT settings FROM policies WHERE mailbox_id = ?", (mailbox_id,))
        return str(rows[0][0]) if rows else None

    def record_policy(self, mailbox_id: str, settings: str) -> None:
        """Keep *settings* as the policy *mailbox_id* synced under (see `policy_settings`)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO policies (mailbox_id, settings) VALUES (?, ?) "
                "ON CONFLICT (mailbox_id) DO UPDATE SET settings = excluded.settings",
                (mailbox_id, settings),
            )

    # --- Writing a batch ------------------------------------------------------------------------

    def apply_batch(self, batch: BatchResult) -> None:
        mailbox = batch.mailbox
        with self._write() as db:
            self._save_mailbox(db, mailbox)
            db.executemany(
                "INSERT INTO companies (domain, name) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(c.domain, c.name) for c in batch.companies],
            )
            _insert_contacts(db, batch.contacts, replace=False)
            self._hold(db, mailbox.id, batch.items)
            _relink(db, batch.owners)
            db.executemany(
                """INSERT INTO decisions
                       (mailbox_id, message_key, synced, reasons, direction, level, location)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (mailbox_id, message_key) DO UPDATE SET
                       synced = excluded.synced, reasons = excluded.reasons,
                       direction = excluded.direction, level = excluded.level,
                       location = excluded.location
                   WHERE decisions.synced = 0""",
                [_decision_row(mailbox.id, i) for i in batch.items if not i.decision.synced],
            )
            _put_decisions(db, mailbox.id, [i for i in batch.items if i.decision.synced])
            _put_decisions(db, mailbox.id, batch.removed)
            keys = [(mailbox.id, item.message.key) for item in batch.removed]
            db.executemany("DELETE FROM links WHERE mailbox_id = ? AND message_key = ?", keys)
            db.executemany(
                "DELETE FROM messages WHERE key = ? AND NOT EXISTS "
                "(SELECT 1 FROM links WHERE message_key = ?)",
                [(key, key) for _, key in keys],
            )
            _save_state(db, mailbox.id, batch.cursor, batch.state)

    def _save_mailbox(self, db: sqlite3.Connection, mailbox: Mailbox) -> None:
        settings = encode_mailbox(mailbox)
        row = db.execute("SELECT settings FROM mailboxes WHERE id = ?", (mailbox.id,)).fetchone()
        if row is not None and row[0] == settings:
            return
        db.execute(
            "INSERT INTO mailboxes (id, settings) VALUES (?, ?) "
            "ON CONFLICT (id) DO UPDATE SET settings = excluded.settings",
            (mailbox.id, settings),
        )
        if row is not None:
            # The sharing levels may have changed: every link follows the mailbox's settings.
            db.execute(
                "UPDATE links SET level = CASE direction WHEN ? THEN ? ELSE ? END "
                "WHERE mailbox_id = ?",
                (
                    Direction.OUTGOING.value,
                    mailbox.outgoing.value,
                    mailbox.incoming.value,
                    mailbox.id,
                ),
            )

    def _hold(self, db: sqlite3.Connection, mailbox_id: str, items: Sequence[BatchItem]) -> None:
        """Store the synced messages not yet stored, with their participants, and link them."""
        synced: dict[str, BatchItem] = {}
        for item in items:
            if item.decision.synced:
                synced.setdefault(item.message.key, item)
        if not synced:
            return
        for (key,) in db.execute(
            "SELECT key FROM messages WHERE key IN (SELECT value FROM json_each(?))",
            (json.dumps(list(synced)),),
        ):
            del synced[key]
        fresh = list(synced.values())
        db.executemany(
            "INSERT INTO messages (key, message_id, sent_at, document) VALUES (?, ?, ?, ?)",
            [
                (
                    i.message.key,
                    i.message.message_id,
                    sort_time(i.message),
                    encode_message(i.message),
                )
                for i in fresh
            ],
        )
        db.executemany(
            "INSERT INTO participants (message_key, position, key, contact_id) VALUES (?, ?, ?, ?)",
            [(i.message.key, *link) for i in fresh for link in i.links],
        )
        db.executemany(
            """INSERT INTO links (mailbox_id, message_key, direction, level) VALUES (?, ?, ?, ?)
               ON CONFLICT (mailbox_id, message_key) DO UPDATE SET
                   direction = excluded.direction, level = excluded.level""",
            [
                (mailbox_id, i.message.key, i.decision.direction.value, i.decision.level.value)
                for i in items
                if i.decision.synced
            ],
        )

    # --- Contacts -----------------------------------------------------------------------------

    def contact_index(self, canonicalization: Canonicalization | None = None) -> ContactIndex:
        suppressed = [
            Suppression(key, SuppressionReason(reason), contact_id)
            for key, reason, contact_id in self._read(
                "SELECT key, reason, contact_id FROM suppressions"
            )
        ]
        return ContactIndex(
            self._contacts(), canonicalization=canonicalization, suppressed=suppressed
        )

    def _contacts(self) -> list[Contact]:
        addresses: dict[str, list[Address]] = {}
        for contact_id, address in self._read(
            "SELECT contact_id, address FROM contact_addresses ORDER BY contact_id, position"
        ):
            addresses.setdefault(contact_id, []).append(_address_from_text(address))
        contacts = []
        for contact_id, first, last, company, created, deleted in self._read(
            "SELECT id, first_name, last_name, company_domain, created_at, deleted_at "
            "FROM contacts ORDER BY id"
        ):
            primary, *additional = addresses[contact_id]
            contacts.append(
                Contact(
                    contact_id,
                    primary,
                    additional,
                    created_at=datetime.fromisoformat(created),
                    deleted_at=_parse_time(deleted),
                    first_name=first,
                    last_name=last,
                    company_domain=company,
                )
            )
        return contacts

    def apply_contact_change(self, change: ContactChange) -> None:
        with self._write() as db:
            db.executemany(
                "INSERT INTO companies (domain, name) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(c.domain, c.name) for c in change.companies],
            )
            _insert_contacts(db, change.saved, replace=True)
            _relink(db, change.owners)
            db.executemany(
                "DELETE FROM contacts WHERE id = ?", [(cid,) for cid in change.destroyed]
            )
            db.executemany(
                "DELETE FROM suppressions WHERE key = ?", [(key,) for key in change.lifted]
            )
            db.executemany(
                "INSERT INTO suppressions (key, reason, contact_id) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET reason = excluded.reason, "
                "contact_id = excluded.contact_id",
                [(s.key, s.reason.value, s.contact_id) for s in change.suppressed],
            )

    def companies(self) -> tuple[Company, ...]:
        """Every stored company, ordered by domain."""
        rows = self._read("SELECT domain, name FROM companies ORDER BY domain")
        return tuple(Company(domain, name) for domain, name in rows)

    # --- Reading ------------------------------------------------------------------------------

    def _mailbox(self, mailbox_id: str, settings: str) -> Mailbox:
        cached = self._mailbox_cache.get(mailbox_id)
        if cached is not None and cached[0] == settings:
            return cached[1]
        mailbox = decode_mailbox(settings)
        self._mailbox_cache[mailbox_id] = (settings, mailbox)
        return mailbox

    def mailboxes(self) -> tuple[Mailbox, ...]:
        rows = self._read("SELECT id, settings FROM mailboxes ORDER BY id")
        return tuple(self._mailbox(mailbox_id, settings) for mailbox_id, settings in rows)

    def decisions(self, mailbox_id: str) -> Iterator[StoredDecision]:
        rows = self._read(
            "SELECT message_key, synced, reasons, direction, level, location FROM decisions "
            "WHERE mailbox_id = ? ORDER BY message_key",
            (mailbox_id,),
        )
        for key, synced, reasons, direction, level, location in rows:
            decision = Decision(
                bool(synced),
                tuple(Reason(r) for r in reasons.split()),
                Direction(direction),
                SharingLevel(level),
            )
            yield StoredDecision(mailbox_id, key, decision, location)

    def mailbox_messages(self, mailbox_id: str) -> Iterator[StoredMessage]:
        keys = [
            key
            for (key,) in self._read(
                "SELECT message_key FROM links WHERE mailbox_id = ? ORDER BY message_key",
                (mailbox_id,),
            )
        ]
        for chunk in _chunks(keys):
            yield from self._load(chunk)

    def messages_for_contact(self, contact_id: str) -> tuple[StoredMessage, ...]:
        return self._ordered(
            "SELECT DISTINCT p.message_key FROM participants p WHERE p.contact_id = ?",
            (contact_id,),
        )

    def messages_for_company(self, domain: str) -> tuple[StoredMessage, ...]:
        return self._ordered(
            "SELECT DISTINCT p.message_key FROM participants p "
            "JOIN contacts c ON c.id = p.contact_id WHERE c.company_domain = ?",
            (domain.lower(),),
        )

    def _ordered(self, sql: str, params: tuple[str, ...]) -> tuple[StoredMessage, ...]:
        keys = [key for (key,) in self._read(sql, params)]
        messages = [stored for chunk in _chunks(keys) for stored in self._load(chunk)]
        messages.sort(key=lambda stored: message_order(stored.message))
        return tuple(messages)

    def _load(self, keys: Sequence[str]) -> list[StoredMessage]:
        """The stored messages with *keys* (at most `_CHUNK`), in the order of *keys*."""
        wanted = (json.dumps(list(keys)),)
        documents = dict(
            self._read(
                "SELECT key, document FROM messages WHERE key IN (SELECT value FROM json_each(?))",
                wanted,
            )
        )
        holders: dict[str, list[Holding]] = {}
        settings = dict(self._read("SELECT id, settings FROM mailboxes"))
        for key, mailbox_id, direction in self._read(
            "SELECT message_key, mailbox_id, direction FROM links "
            "WHERE message_key IN (SELECT value FROM json_each(?)) ORDER BY mailbox_id",
            wanted,
        ):
            mailbox = self._mailbox(mailbox_id, settings[mailbox_id])
            holders.setdefault(key, []).append(Holding(mailbox, Direction(direction)))
        owners: dict[str, dict[int, str | None]] = {}
        for key, position, contact_id in self._read(
            "SELECT message_key, position, contact_id FROM participants "
            "WHERE message_key IN (SELECT value FROM json_each(?))",
            wanted,
        ):
            owners.setdefault(key, {})[position] = contact_id
        loaded = []
        for key in keys:
            document = documents.get(key)
            if document is None:
                continue
            message = decode_message(document)
            links = owners.get(key, {})
            contacts = tuple(links.get(i) for i in range(len(message.participants)))
            loaded.append(StoredMessage(message, tuple(holders.get(key, ())), contacts))
        return loaded


def _address_text(address: Address) -> str:
    return JSON.encode(address_record(address))


def _address_from_text(text: str) -> Address:
    return address_from_record(json.loads(text))


def _insert_contacts(db: sqlite3.Connection, contacts: Iterable[Contact], *, replace: bool) -> None:
    contacts = list(contacts)
    if not contacts:
        return
    db.executemany(
        _UPSERT_CONTACT if replace else _INSERT_CONTACT,
        [
            (
                c.id,
                c.first_name,
                c.last_name,
                c.company_domain,
                _time(c.created_at),
                _time(c.deleted_at),
            )
            for c in contacts
        ],
    )
    if replace:
        db.executemany(
            "DELETE FROM contact_addresses WHERE contact_id = ?", [(c.id,) for c in contacts]
        )
    db.executemany(
        "INSERT INTO contact_addresses (contact_id, position, key, address) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [
            (c.id, position, address.key, _address_text(address))
            for c in contacts
            for position, address in enumerate(c.addresses)
        ],
    )


_INSERT_CONTACT = """
    INSERT INTO contacts (id, first_name, last_name, company_domain, created_at, deleted_at)
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING"""
_UPSERT_CONTACT = """
    INSERT INTO contacts (id, first_name, last_name, company_domain, created_at, deleted_at)
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET
        first_name = excluded.first_name, last_name = excluded.last_name,
        company_domain = excluded.company_domain, created_at = excluded.created_at,
        deleted_at = excluded.deleted_at"""


def _relink(db: sqlite3.Connection, owners: Iterable[OwnerChange]) -> None:
    db.executemany(
        "UPDATE participants SET contact_id = ? WHERE key = ?",
        [(change.new, change.key) for change in owners],
    )


def _decision_row(mailbox_id: str, item: BatchItem) -> tuple[Any, ...]:
    decision = item.decision
    return (
        mailbox_id,
        item.message.key,
        int(decision.synced),
        " ".join(r.value for r in decision.reasons),
        decision.direction.value,
        decision.level.value,
        item.location,
    )


def _put_decisions(db: sqlite3.Connection, mailbox_id: str, items: Iterable[BatchItem]) -> None:
    db.executemany(
        "INSERT OR REPLACE INTO decisions "
        "(mailbox_id, message_key, synced, reasons, direction, level, location) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [_decision_row(mailbox_id, item) for item in items],
    )


def _save_state(
    db: sqlite3.Connection, mailbox_id: str, cursor: str | None, state: SyncState
) -> None:
    db.execute(
        "INSERT OR REPLACE INTO sync_state "
        "(mailbox_id, cursor, status, last_success, last_failure, failures, error, requested) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            mailbox_id,
            cursor,
            state.status.value,
            _time(state.last_success),
            _time(state.last_failure),
            state.failures,
            state.error,
            int(state.requested),
        ),
    )
