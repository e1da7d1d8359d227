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
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from ..addresses import Address, Canonicalization
from ..codecs import (
    JSON,
    DocumentReader,
    address_from_record,
    address_record,
    decode_message,
    encode_document,
    encode_mailbox,
    encode_message,
)
from ..contacts import Contact, ContactIndex, OwnerChange, Suppression, SuppressionReason
from ..errors import StoreError
from ..identity import message_id_of, with_stored_key
from ..messages import Message
from ..planner import copy_location
from ..policy import Mailbox
from ..rethreading import (
    Beside,
    ThreadFacts,
    decode_facts,
    encode_facts,
    rethread,
    thread_facts,
    thread_query,
)
from ..rules import Reason
from ..schedule import SyncState, SyncStatus
from ..store import (
    DEFAULT_WORKSPACE,
    BatchItem,
    BatchResult,
    Company,
    CompanyChange,
    CompanyCount,
    ContactChange,
    MailboxState,
    Page,
    Recorded,
    StaleBatchError,
    StoredMessage,
    link_domain,
    message_order,
    page_after,
    page_cursor,
    sort_time,
)
from ._sql import SqlReads
from ._sql import workspace_name as _workspace
from ._sqlite_events import CALENDAR_STATE, EVENT_TABLES, SQLiteEvents, relink_events

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "SQLiteStore", "migrate"]

_T = TypeVar("_T")

#: Most messages read from the database at once.
_CHUNK = 500

#: The page size of a database file this store creates, in bytes.
_PAGE_SIZE = 16384

#: What a timeline page reads (`SQLiteStore._paged`): its rows, what joins them to their
#: message's key, and their workspace, time and message-key columns.
#: Where a paginated read finds its messages: the table (and its alias), its workspace, time
#: and message row id columns. The participants' rows name messages by row id; a thread's are the
#: message rows themselves.
_PARTICIPANTS = ("participant_rows p", "p.workspace", "p.sent_at", "p.message")
_MESSAGES = ("messages m", "m.workspace", "m.sent_at", "m.id")

#: The columns a read builds a `StoredMessage` from: the message row, who holds it (the
#: synced copies' mailbox and direction) and the participants' contacts (position to id), both
#: as JSON, or NULL when there are none; followed by a WHERE on ``m``.
_LOAD = (
    "SELECT m.key, m.id, m.document, m.thread_id, m.message_id, "
    "(SELECT json_group_array(json_array(c.mailbox_id, c.direction)) FROM copies c "
    "INDEXED BY copies_by_key WHERE c.workspace = m.workspace AND c.message_key = m.key "
    "AND c.synced = 1 HAVING count(*)), "
    "(SELECT json_group_object(p.position, p.contact_id) FROM participant_rows p "
    "WHERE p.message = m.id AND p.contact_id IS NOT NULL HAVING count(*)) "
    "FROM messages m "
)
_LOAD_BY_IDS = _LOAD + "WHERE m.id IN (SELECT value FROM json_each(?))"  # noqa: S608
_LOAD_BY_KEYS = (
    _LOAD + "WHERE m.workspace = ? AND m.key IN (SELECT value FROM json_each(?))"  # noqa: S608
)
#: The row ids of a page's messages, followed by a WHERE on ``m``.
_IDS = "SELECT m.id FROM messages m "


def _page_query(
    select: str,
    source: tuple[str, str, str, str],
    where: str,
    times: str,
    bound: str,
    order: str,
    limit: str = "",
) -> str:
    """The query of a page (*select*: `_LOAD` or `_IDS`): the messages of the rows of
    *source* matching *where* whose time ``IS NULL`` or ``IS NOT NULL`` and in range (*times*,
    on the source's time column), after the cursor (*bound*, on ``m``), by *order*, then
    *limit* (e.g. `` LIMIT ?``).

    Its parameters: the workspace, *where*'s, *times*', *bound*'s, *limit*'s."""
    table, workspace, sent_at, _ = source
    # Tables, columns and conditions are this module's constants; every value is a parameter.
    if table == _MESSAGES[0]:
        match = f"WHERE {workspace} = ? AND {where} AND {sent_at} {times}"
    else:
        match = (
            f"WHERE m.id IN (SELECT p.message FROM {table} WHERE {workspace} = ? "  # noqa: S608
            f"AND {where} AND {sent_at} {times})"
        )
    return f"{select}{match} {bound}ORDER BY {order}{limit}"


#: The most participant keys a store remembers the registrable domain of.
_DOMAIN_ENTRIES = 1 << 16


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: the statements that take a database to ``version``."""

    version: int
    description: str
    statements: tuple[str, ...]
    #: Run after the statements, in the same transaction: moves what SQL alone cannot.
    upgrade: Callable[[sqlite3.Connection], None] | None = None


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


def _rekey(db: sqlite3.Connection) -> None:
    """Move schema 3's rows into the workspace ``default``, keying messages by content too.

    A stored message gets its `stored_key`; each decision becomes the copy at its location
    (a decision stored before locations were kept stands at ``key:<key>``).
    """
    keys: dict[str, str] = {}
    flags: dict[str, str] = {}
    for key, message_id, sent_at, document in db.execute(
        "SELECT key, message_id, sent_at, document FROM messages"
    ).fetchall():
        message = with_stored_key(decode_message(document))
        keys[key] = message.key
        # Schema 3 kept the flags of the copy stored first inside the message; each copy keeps
        # its own now, so they move to that message's synced copies (the best knowledge left).
        flags[message.key] = " ".join(sorted(f.value for f in message.flags))
        message = replace(message, flags=frozenset())
        db.execute(
            "INSERT INTO messages4 (workspace, key, message_id, sent_at, document) "
            "VALUES ('default', ?, ?, ?, ?)",
            (message.key, message_id, sent_at, encode_message(message)),
        )
    db.executemany(
        "INSERT INTO participants4 (workspace, message_key, position, key, contact_id) "
        "VALUES ('default', ?, ?, ?, ?)",
        [
            (keys.get(message_key, message_key), position, key, contact_id)
            for message_key, position, key, contact_id in db.execute(
                "SELECT message_key, position, key, contact_id FROM participants"
            ).fetchall()
        ],
    )
    db.executemany(
        "INSERT INTO copies (workspace, mailbox_id, location, message_key, message_id, synced, "
        "reasons, direction, level, flags) VALUES ('default', ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [
            (
                mailbox_id,
                location or copy_location(message_key),
                keys.get(message_key, message_key),
                message_id_of(keys.get(message_key, message_key)),
                synced,
                reasons,
                direction,
                level,
                flags.get(keys.get(message_key, ""), "") if synced else "",
            )
            for mailbox_id, message_key, synced, reasons, direction, level, location in db.execute(
                "SELECT mailbox_id, message_key, synced, reasons, direction, level, location "
                "FROM decisions ORDER BY synced DESC"
            ).fetchall()
        ],
    )


_V4_TABLES = (
    """CREATE TABLE mailboxes4 (
        workspace TEXT NOT NULL,
        id TEXT NOT NULL,
        settings TEXT NOT NULL,
        version INTEGER NOT NULL,
        set_at TEXT,
        PRIMARY KEY (workspace, id)
    ) WITHOUT ROWID""",
    """CREATE TABLE policies4 (
        workspace TEXT PRIMARY KEY,
        settings TEXT NOT NULL,
        version INTEGER NOT NULL,
        set_at TEXT
    ) WITHOUT ROWID""",
    """CREATE TABLE settings_log (
        workspace TEXT NOT NULL,
        mailbox_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        set_at TEXT,
        settings TEXT NOT NULL,
        PRIMARY KEY (workspace, mailbox_id, version)
    ) WITHOUT ROWID""",
    """CREATE TABLE sync_state4 (
        workspace TEXT NOT NULL,
        mailbox_id TEXT NOT NULL,
        cursor TEXT,
        status TEXT NOT NULL,
        last_success TEXT,
        last_failure TEXT,
        failures INTEGER NOT NULL,
        error TEXT NOT NULL,
        requested INTEGER NOT NULL,
        listing TEXT,
        PRIMARY KEY (workspace, mailbox_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE messages4 (
        workspace TEXT NOT NULL,
        key TEXT NOT NULL,
        message_id TEXT,
        sent_at REAL,
        document TEXT NOT NULL,
        PRIMARY KEY (workspace, key)
    )""",
    """CREATE TABLE copies (
        workspace TEXT NOT NULL,
        mailbox_id TEXT NOT NULL,
        location TEXT NOT NULL,
        message_key TEXT NOT NULL,
        message_id TEXT,
        synced INTEGER NOT NULL,
        reasons TEXT NOT NULL,
        direction TEXT NOT NULL,
        level TEXT NOT NULL,
        flags TEXT NOT NULL,
        PRIMARY KEY (workspace, mailbox_id, location)
    ) WITHOUT ROWID""",
    "CREATE INDEX copies_by_key ON copies(workspace, message_key)",
    "CREATE INDEX copies_by_message_id ON copies(workspace, message_id)",
    """CREATE TABLE contacts4 (
        workspace TEXT NOT NULL,
        id TEXT NOT NULL,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        company_domain TEXT,
        created_at TEXT NOT NULL,
        deleted_at TEXT,
        PRIMARY KEY (workspace, id)
    ) WITHOUT ROWID""",
    "CREATE INDEX contacts4_by_company ON contacts4(workspace, company_domain)",
    """CREATE TABLE contact_addresses4 (
        workspace TEXT NOT NULL,
        contact_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        key TEXT NOT NULL,
        address TEXT NOT NULL,
        PRIMARY KEY (workspace, contact_id, position),
        FOREIGN KEY (workspace, contact_id) REFERENCES contacts4(workspace, id)
            ON DELETE CASCADE
    ) WITHOUT ROWID""",
    "CREATE INDEX contact_addresses4_by_key ON contact_addresses4(workspace, key)",
    """CREATE TABLE participants4 (
        workspace TEXT NOT NULL,
        message_key TEXT NOT NULL,
        position INTEGER NOT NULL,
        key TEXT NOT NULL,
        contact_id TEXT,
        PRIMARY KEY (workspace, message_key, position),
        FOREIGN KEY (workspace, message_key) REFERENCES messages4(workspace, key)
            ON DELETE CASCADE
    ) WITHOUT ROWID""",
    "CREATE INDEX participants4_by_key ON participants4(workspace, key)",
    "CREATE INDEX participants4_by_contact ON participants4(workspace, contact_id)",
    """CREATE TABLE companies4 (
        workspace TEXT NOT NULL,
        domain TEXT NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (workspace, domain)
    ) WITHOUT ROWID""",
    """CREATE TABLE suppressions4 (
        workspace TEXT NOT NULL,
        key TEXT NOT NULL,
        reason TEXT NOT NULL,
        contact_id TEXT,
        PRIMARY KEY (workspace, key)
    ) WITHOUT ROWID""",
    """CREATE TABLE contact_versions (
        workspace TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    ) WITHOUT ROWID""",
    "INSERT INTO mailboxes4 SELECT 'default', id, settings, 1, NULL FROM mailboxes",
    "INSERT INTO settings_log SELECT 'default', id, 1, NULL, settings FROM mailboxes",
    """INSERT INTO sync_state4 SELECT 'default', mailbox_id, cursor, status, last_success,
        last_failure, failures, error, requested, NULL FROM sync_state""",
    """INSERT INTO contacts4 SELECT 'default', id, first_name, last_name, company_domain,
        created_at, deleted_at FROM contacts""",
    """INSERT INTO contact_addresses4 SELECT 'default', contact_id, position, key, address
        FROM contact_addresses""",
    "INSERT INTO companies4 SELECT 'default', domain, name FROM companies",
    "INSERT INTO suppressions4 SELECT 'default', key, reason, contact_id FROM suppressions",
)

_V4_CLEANUP = (
    "DROP TABLE links",
    "DROP TABLE decisions",
    "DROP TABLE participants",
    "DROP TABLE contact_addresses",
    "DROP TABLE contacts",
    "DROP TABLE messages",
    "DROP TABLE sync_state",
    "DROP TABLE policies",
    "DROP TABLE mailboxes",
    "DROP TABLE companies",
    "DROP TABLE suppressions",
    "ALTER TABLE mailboxes4 RENAME TO mailboxes",
    "ALTER TABLE policies4 RENAME TO policies",
    "ALTER TABLE sync_state4 RENAME TO sync_state",
    "ALTER TABLE messages4 RENAME TO messages",
    "ALTER TABLE contacts4 RENAME TO contacts",
    "ALTER TABLE contact_addresses4 RENAME TO contact_addresses",
    "ALTER TABLE participants4 RENAME TO participants",
    "ALTER TABLE companies4 RENAME TO companies",
    "ALTER TABLE suppressions4 RENAME TO suppressions",
)


def _upgrade_4(db: sqlite3.Connection) -> None:
    _rekey(db)
    for statement in _V4_CLEANUP:
        db.execute(statement)


MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        4,
        "Workspaces; one decision per copy; messages keyed by Message-ID and content; recorded "
        "settings with versions; a contacts version (the policy text kept by schema 3 is not "
        "carried over: the next sync records the policy it runs under)",
        _V4_TABLES,
        _upgrade_4,
    ),
    Migration(
        5,
        "Calendar events: events, their copies per mailbox, calendar and resource, their "
        "participant links, each calendar's cursor, listing token and settings",
        EVENT_TABLES,
    ),
)


def _upgrade_threads(db: sqlite3.Connection) -> None:
    """Give every stored message its thread facts, nodes and thread id, and every participant
    its registrable domain and its message's time."""
    by_space: dict[str, dict[str, ThreadFacts]] = {}
    for ws, key, document in db.execute("SELECT workspace, key, document FROM messages"):
        by_space.setdefault(ws, {})[key] = thread_facts(decode_message(document))
    for ws, facts in by_space.items():
        ids = rethread({}, facts.values())
        db.executemany(
            "UPDATE messages SET thread_id = ?, thread_facts = ?, thread_subject = ? "
            "WHERE workspace = ? AND key = ?",
            [(ids[k], encode_facts(f), _fallback(f), ws, k) for k, f in facts.items()],
        )
        db.executemany(
            "INSERT OR IGNORE INTO thread_nodes (workspace, node, message_key) VALUES (?, ?, ?)",
            [(ws, node, f.key) for f in facts.values() for node in (f.node, *f.cited)],
        )
    keys = [key for (key,) in db.execute("SELECT DISTINCT key FROM participants")]
    db.executemany(
        "UPDATE participants SET domain = ? WHERE key = ?", [(link_domain(k), k) for k in keys]
    )
    db.execute(
        "UPDATE participants SET sent_at = (SELECT m.sent_at FROM messages m "
        "WHERE m.workspace = participants.workspace AND m.key = participants.message_key)"
    )


MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        6,
        "Threads: a thread id and the threading facts per message, the ids each message is at "
        "or cites; companies with several domains; participants by domain and time, for "
        "timelines read page by page",
        (
            "ALTER TABLE messages ADD COLUMN thread_id TEXT",
            "ALTER TABLE messages ADD COLUMN thread_facts TEXT",
            "ALTER TABLE messages ADD COLUMN thread_subject TEXT",
            """CREATE TABLE thread_nodes (
                workspace TEXT NOT NULL,
                node TEXT NOT NULL,
                message_key TEXT NOT NULL,
                PRIMARY KEY (workspace, node, message_key),
                FOREIGN KEY (workspace, message_key) REFERENCES messages(workspace, key)
                    ON DELETE CASCADE
            ) WITHOUT ROWID""",
            "CREATE INDEX thread_nodes_by_message ON thread_nodes(workspace, message_key)",
            "CREATE INDEX messages_by_thread ON messages(workspace, thread_id, sent_at, key)",
            "CREATE INDEX messages_by_thread_subject ON messages(workspace, thread_subject) "
            "WHERE thread_subject IS NOT NULL",
            "ALTER TABLE participants ADD COLUMN domain TEXT",
            "ALTER TABLE participants ADD COLUMN sent_at REAL",
            "DROP INDEX participants4_by_contact",
            "CREATE INDEX participants_by_contact ON participants"
            "(workspace, contact_id, sent_at, message_key)",
            "CREATE INDEX participants_by_domain ON participants"
            "(workspace, domain, sent_at, message_key)",
            """CREATE TABLE company_domains (
                workspace TEXT NOT NULL,
                domain TEXT NOT NULL,
                company TEXT NOT NULL,
                PRIMARY KEY (workspace, domain)
            ) WITHOUT ROWID""",
            "CREATE INDEX company_domains_by_company ON company_domains(workspace, company)",
            "INSERT INTO company_domains SELECT workspace, domain, domain FROM companies",
        ),
        _upgrade_threads,
    ),
)

#: Schema 8: messages get an integer id; participants and thread nodes refer to it (and to an
#: address by number) instead of repeating the message's key and the address's key in every
#: row and index entry; views keep the columns of schema 7 for people who query them.
_V8 = (
    "DROP INDEX copies_by_key",
    "CREATE INDEX copies_by_key ON copies(workspace, message_key) WHERE synced = 1",
    "DROP INDEX copies_by_message_id",
    """CREATE TABLE messages8 (
        id INTEGER PRIMARY KEY,
        workspace TEXT NOT NULL,
        key TEXT NOT NULL,
        message_id TEXT,
        sent_at REAL,
        document TEXT NOT NULL,
        thread_id TEXT,
        thread_facts TEXT,
        thread_subject TEXT,
        UNIQUE (workspace, key)
    )""",
    """INSERT INTO messages8 (id, workspace, key, message_id, sent_at, document, thread_id,
        thread_facts, thread_subject) SELECT rowid, workspace, key, message_id, sent_at,
        document, thread_id, thread_facts, thread_subject FROM messages ORDER BY rowid""",
    """CREATE TABLE addresses (
        id INTEGER PRIMARY KEY,
        workspace TEXT NOT NULL,
        key TEXT NOT NULL,
        UNIQUE (workspace, key)
    )""",
    """INSERT INTO addresses (workspace, key)
        SELECT DISTINCT workspace, key FROM participants ORDER BY workspace, key""",
    """CREATE TABLE participant_rows (
        message INTEGER NOT NULL REFERENCES messages8(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        workspace TEXT NOT NULL,
        address INTEGER NOT NULL REFERENCES addresses(id),
        contact_id TEXT,
        domain TEXT,
        sent_at REAL,
        PRIMARY KEY (message, position)
    ) WITHOUT ROWID""",
    """INSERT INTO participant_rows SELECT m.id, p.position, p.workspace, a.id, p.contact_id,
        p.domain, p.sent_at FROM participants p
        JOIN messages8 m ON m.workspace = p.workspace AND m.key = p.message_key
        JOIN addresses a ON a.workspace = p.workspace AND a.key = p.key""",
    """CREATE TABLE thread_node_rows (
        workspace TEXT NOT NULL,
        node TEXT NOT NULL,
        message INTEGER NOT NULL REFERENCES messages8(id) ON DELETE CASCADE,
        PRIMARY KEY (workspace, node, message)
    ) WITHOUT ROWID""",
    """INSERT INTO thread_node_rows SELECT n.workspace, n.node, m.id FROM thread_nodes n
        JOIN messages8 m ON m.workspace = n.workspace AND m.key = n.message_key""",
    "DROP TABLE participants",
    "DROP TABLE thread_nodes",
    "DROP TABLE messages",
    "ALTER TABLE messages8 RENAME TO messages",
    "CREATE INDEX messages_by_thread ON messages(workspace, thread_id, sent_at, key)",
    "CREATE INDEX messages_by_thread_subject ON messages(workspace, thread_subject) "
    "WHERE thread_subject IS NOT NULL",
    "CREATE INDEX participants_by_address ON participant_rows(address)",
    "CREATE INDEX participants_by_contact ON participant_rows"
    "(workspace, contact_id, sent_at, message) WHERE contact_id IS NOT NULL",
    "CREATE INDEX participants_by_domain ON participant_rows(workspace, domain, sent_at, message)",
    "CREATE INDEX thread_nodes_by_message ON thread_node_rows(message)",
    """CREATE VIEW participants AS SELECT p.workspace AS workspace, m.key AS message_key,
        p.position AS position, a.key AS key, p.contact_id AS contact_id, p.domain AS domain,
        p.sent_at AS sent_at FROM participant_rows p
        JOIN messages m ON m.id = p.message JOIN addresses a ON a.id = p.address""",
    """CREATE VIEW thread_nodes AS SELECT n.workspace AS workspace, n.node AS node,
        m.key AS message_key FROM thread_node_rows n JOIN messages m ON m.id = n.message""",
)

#: The schema version this mailbind writes.
MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        7,
        "A sync state for each calendar (back-off after a failed pass, as a mailbox's)",
        CALENDAR_STATE,
    ),
    Migration(
        8,
        "Fewer bytes a message: each message has an integer id, and its participants and "
        "thread nodes refer to it and to an address by number (the views participants and "
        "thread_nodes show them as before); participants by contact only where a contact is "
        "linked, copies by message only where synced, no index of copies by Message-ID",
        _V8,
    ),
    Migration(
        9,
        "Who holds a message is read from the index of copies by message alone: it also holds "
        "each synced copy's direction",
        (
            "DROP INDEX copies_by_key",
            "CREATE INDEX copies_by_key ON copies(workspace, message_key, synced, direction) "
            "WHERE synced = 1",
        ),
    ),
)
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
                if step.upgrade is not None:
                    step.upgrade(db)
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


def _open_read_only(path: str, timeout: float) -> sqlite3.Connection:
    """A connection that cannot write to the database at *path*, which must exist and be at
    this mailbind's schema version. A file nobody may write is opened as immutable, so that
    even a WAL database on a read-only disk can be read."""
    if not os.path.isfile(path):
        raise StoreError(f"The database {path!r} could not be opened: it does not exist.")
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    writable = os.access(path, os.W_OK)
    try:
        db = sqlite3.connect(
            uri if writable else uri + "&immutable=1",
            timeout=timeout,
            isolation_level=None,
            uri=True,
        )
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as err:
        raise StoreError(f"The database {path!r} could not be opened: {err}.") from err
    if "mailbind_schema" not in tables:
        db.close()
        raise StoreError(f"The database {path!r} is not a mailbind store.")
    current = db.execute("SELECT MAX(version) FROM mailbind_schema").fetchone()[0] or 0
    if current != SCHEMA_VERSION:
        db.close()
        newer = current > SCHEMA_VERSION
        raise StoreError(
            f"The database {path!r} has schema version {current}, "
            + (
                f"newer than this mailbind reads ({SCHEMA_VERSION}): upgrade mailbind."
                if newer
                else f"older than this mailbind reads ({SCHEMA_VERSION}): sync it once to "
                "upgrade it."
            )
        )
    db.execute("PRAGMA query_only = ON")
    return db


class SQLiteStore(SQLiteEvents, SqlReads):
    """A `Store` (and an `EventStore`) in one SQLite file: the embedded default.

    *path* is created when missing (``":memory:"`` keeps everything in memory). *timeout* is how
    long a write waits for another process's write to finish, in seconds. With *read_only* the
    file must exist at this version's schema and is never written (every write raises
    `StoreError`); a file the process may not write is read too. Every committed batch
    survives a crash of the process; with *durable* each commit also waits for the disk, so it
    survives a power cut too (SQLite's ``synchronous=FULL``), at some cost in speed.
    """

    PARAMETER = "?"
    COLLATE = ""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 30.0,
        durable: bool = False,
        read_only: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        self.read_only = read_only
        self._mailbox_cache: dict[tuple[str, str], tuple[str, Mailbox]] = {}
        # The domain of each participant key, remembered by the store that writes it: a
        # mailbox's mail has a few thousand addresses, each seen often.
        self._link_domain = lru_cache(maxsize=_DOMAIN_ENTRIES)(link_domain)
        if read_only:
            self._db = _open_read_only(self.path, timeout)
            return
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as err:
            raise StoreError(f"The database {self.path!r} could not be opened: {err}.") from err
        try:
            # A new file gets pages of 16 KiB (an existing one keeps its own): documents of a
            # few KiB fill them with far less unused space than SQLite's default 4 KiB pages.
            self._db.execute(f"PRAGMA page_size = {_PAGE_SIZE}")
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

    @staticmethod
    def _contacts_version_in(db: sqlite3.Connection, ws: str) -> int:
        return _version(db, ws)

    @staticmethod
    def _insert_new_contacts(db: sqlite3.Connection, ws: str, contacts: Sequence[Contact]) -> None:
        _insert_contacts(db, ws, contacts, replace=False)

    @staticmethod
    def _relink_in(db: sqlite3.Connection, ws: str, owners: Iterable[OwnerChange]) -> None:
        _relink(db, ws, owners)

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as err:
            raise StoreError(f"The database {self.path!r} could not be read: {err}.") from err

    # --- Progress -----------------------------------------------------------------------------

    def load_state(self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> MailboxState:
        rows = self._read(
            "SELECT cursor, status, last_success, last_failure, failures, error, requested, "
            "listing FROM sync_state WHERE workspace = ? AND mailbox_id = ?",
            (_workspace(workspace), mailbox_id),
        )
        if not rows:
            return MailboxState()
        cursor, status, success, failure, failures, error, requested, listing = rows[0]
        state = SyncState(
            SyncStatus(status),
            _parse_time(success),
            _parse_time(failure),
            failures,
            error,
            bool(requested),
        )
        return MailboxState(cursor, state, listing)

    def save_state(
        self, mailbox_id: str, state: MailboxState, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        ws = _workspace(workspace)
        with self._write() as db:
            _save_state(db, ws, mailbox_id, state.cursor, state.sync, state.listing)

    # --- Settings -----------------------------------------------------------------------------

    def recorded_policy(self, *, workspace: str = DEFAULT_WORKSPACE) -> Recorded | None:
        rows = self._read(
            "SELECT settings, version, set_at FROM policies WHERE workspace = ?",
            (_workspace(workspace),),
        )
        return _recorded(rows)

    def recorded_mailbox(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> Recorded | None:
        rows = self._read(
            "SELECT settings, version, set_at FROM mailboxes WHERE workspace = ? AND id = ?",
            (_workspace(workspace), mailbox_id),
        )
        return _recorded(rows)

    def settings_history(
        self, mailbox_id: str | None = None, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[Recorded, ...]:
        """Every settings version recorded for *mailbox_id* (None: the workspace policy)."""
        rows = self._read(
            "SELECT settings, version, set_at FROM settings_log "
            "WHERE workspace = ? AND mailbox_id = ? ORDER BY version",
            (_workspace(workspace), "" if mailbox_id is None else mailbox_id),
        )
        return tuple(Recorded(text, version, _parse_time(at)) for text, version, at in rows)

    def workspaces(self) -> tuple[str, ...]:
        rows = self._read("SELECT DISTINCT workspace FROM mailboxes ORDER BY workspace")
        return tuple(ws for (ws,) in rows)

    # --- Writing a batch ------------------------------------------------------------------------

    def apply_batch(self, batch: BatchResult, *, workspace: str = DEFAULT_WORKSPACE) -> None:
        ws = _workspace(workspace)
        mailbox = batch.mailbox
        with self._write() as db:
            if batch.contacts_version is not None and batch.contacts_version != _version(db, ws):
                raise StaleBatchError(
                    f"The contacts in {self.path!r} changed since the batch was planned."
                )
            _record_settings(db, ws, mailbox.id, "mailboxes", encode_mailbox(mailbox), batch.at)
            if batch.policy is not None:
                _record_settings(db, ws, "", "policies", batch.policy, batch.at)
            _insert_companies(db, ws, batch.companies)
            _insert_contacts(db, ws, batch.contacts, replace=False)
            db.executemany(
                "UPDATE copies SET level = ? WHERE workspace = ? AND mailbox_id = ? "
                "AND direction = ? AND synced = 1 AND level <> ?",
                [(lv.value, ws, mailbox.id, d.value, lv.value) for d, lv in batch.levels],
            )
            touched = self._copies(db, ws, mailbox.id, batch.items)
            self._hold(db, ws, [i for i in batch.items if i.decision.synced])
            _relink(db, ws, batch.owners)
            touched.update(self._let_go(db, ws, mailbox.id, batch.gone))
            # INDEXED BY: without statistics SQLite would rather walk the workspace's copies
            # by primary key than look the key up, once per message (as in `_load`).
            removed: list[tuple[ThreadFacts, str | None]] = []
            for chunk in _chunks(sorted(touched)):
                for key, facts, thread, *beside in db.execute(
                    "SELECT key, thread_facts, thread_id, coalesce(message_id, key), "
                    "thread_subject, sent_at FROM messages WHERE workspace = ? "
                    "AND key IN (SELECT value FROM json_each(?)) AND NOT EXISTS "
                    "(SELECT 1 FROM copies INDEXED BY copies_by_key "
                    "WHERE copies.workspace = messages.workspace "
                    "AND copies.message_key = messages.key AND synced = 1)",
                    (ws, json.dumps(list(chunk))),
                ).fetchall():
                    removed.append((decode_facts(key, facts, _beside(*beside)), thread))
            gone = json.dumps([f.key for f, _ in removed])
            unused = _addresses_of(db, ws, gone)
            db.execute(
                "DELETE FROM messages WHERE workspace = ? "
                "AND key IN (SELECT value FROM json_each(?))",
                (ws, gone),
            )
            _drop_unused_addresses(db, unused)
            if removed:
                _thread(db, ws, (), removed)
            listing = batch.listing
            if listing is None:
                row = db.execute(
                    "SELECT listing FROM sync_state WHERE workspace = ? AND mailbox_id = ?",
                    (ws, mailbox.id),
                ).fetchone()
                listing = None if row is None else row[0]
            _save_state(db, ws, mailbox.id, batch.cursor, batch.state, listing)

    @staticmethod
    def _copies(
        db: sqlite3.Connection, ws: str, mailbox_id: str, items: Sequence[BatchItem]
    ) -> set[str]:
        """Store each item's copy; the keys of messages a replaced synced copy held."""
        touched: set[str] = set()
        if not items:
            return touched
        locations = json.dumps([item.location for item in items])
        for (key,) in db.execute(
            "SELECT message_key FROM copies WHERE workspace = ? AND mailbox_id = ? AND synced = 1 "
            "AND location IN (SELECT value FROM json_each(?))",
            (ws, mailbox_id, locations),
        ):
            touched.add(key)
        db.executemany(
            "INSERT OR REPLACE INTO copies (workspace, mailbox_id, location, message_key, "
            "message_id, synced, reasons, direction, level, flags) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _copy_rows(ws, mailbox_id, items),
        )
        return touched

    @staticmethod
    def _let_go(
        db: sqlite3.Connection, ws: str, mailbox_id: str, locations: Sequence[str]
    ) -> set[str]:
        """Remove the copies at *locations*; the keys of the messages they were copies of."""
        touched: set[str] = set()
        for chunk in _chunks(locations):
            wanted = json.dumps(list(chunk))
            for (key,) in db.execute(
                "SELECT message_key FROM copies WHERE workspace = ? AND mailbox_id = ? "
                "AND location IN (SELECT value FROM json_each(?))",
                (ws, mailbox_id, wanted),
            ):
                touched.add(key)
            db.execute(
                "DELETE FROM copies WHERE workspace = ? AND mailbox_id = ? "
                "AND location IN (SELECT value FROM json_each(?))",
                (ws, mailbox_id, wanted),
            )
        return touched

    def _hold(self, db: sqlite3.Connection, ws: str, items: Sequence[BatchItem]) -> None:
        """Store the synced messages not yet stored, each with its thread id (rewriting the ids
        of stored messages they change), and their participants' links."""
        synced: dict[str, BatchItem] = {}
        for item in items:
            synced.setdefault(item.message.key, item)
        if not synced:
            return
        keys = json.dumps(list(synced))
        stored = {
            key
            for (key,) in db.execute(
                "SELECT key FROM messages WHERE workspace = ? "
                "AND key IN (SELECT value FROM json_each(?))",
                (ws, keys),
            )
        }
        added = [thread_facts(i.message) for key, i in synced.items() if key not in stored]
        # Threaded before they are stored, so each new message is written once, with its id.
        threads = _thread(db, ws, added, ())
        times = {key: sort_time(item.message) for key, item in synced.items()}
        rows = []
        for f in added:
            message = synced[f.key].message
            when, fallback = times[f.key], _fallback(f)
            node = message.key if message.message_id is None else message.message_id
            rows.append(
                (
                    ws,
                    f.key,
                    message.message_id,
                    when,
                    encode_document(message),
                    encode_facts(f, (node, fallback, when)),  # what the row holds beside
                    fallback,
                    threads.get(f.key),
                )
            )
        db.executemany(
            "INSERT INTO messages (workspace, key, message_id, sent_at, document, thread_facts, "
            "thread_subject, thread_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        ids: dict[str, int] = dict(
            db.execute(
                "SELECT key, id FROM messages WHERE workspace = ? "
                "AND key IN (SELECT value FROM json_each(?))",
                (ws, keys),
            )
        )
        db.executemany(
            "INSERT OR IGNORE INTO thread_node_rows (workspace, node, message) VALUES (?, ?, ?)",
            [(ws, node, ids[f.key]) for f in added for node in (f.node, *f.cited)],
        )
        unused: list[int] = []
        if stored:
            held = json.dumps(sorted(ids[key] for key in stored))
            unused = [
                address
                for (address,) in db.execute(
                    "SELECT DISTINCT address FROM participant_rows "
                    "WHERE message IN (SELECT value FROM json_each(?))",
                    (held,),
                )
            ]
            db.execute(
                "DELETE FROM participant_rows WHERE message IN (SELECT value FROM json_each(?))",
                (held,),
            )
        addresses = _address_ids(db, ws, {link.key for i in synced.values() for link in i.links})
        domain = self._link_domain
        db.executemany(
            "INSERT INTO participant_rows (message, position, workspace, address, contact_id, "
            "domain, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    message,
                    link.position,
                    ws,
                    addresses[link.key],
                    link.contact_id,
                    domain(link.key),
                    when,
                )
                for key, i in synced.items()
                for message, when in ((ids[key], times[key]),)
                for link in i.links
            ],
        )
        _drop_unused_addresses(db, unused)

    # --- Contacts -----------------------------------------------------------------------------

    def contacts_version(self, *, workspace: str = DEFAULT_WORKSPACE) -> int:
        rows = self._read(
            "SELECT version FROM contact_versions WHERE workspace = ?", (_workspace(workspace),)
        )
        return int(rows[0][0]) if rows else 0

    def contact_index(
        self,
        canonicalization: Canonicalization | None = None,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> ContactIndex:
        ws = _workspace(workspace)
        suppressed = [
            Suppression(key, SuppressionReason(reason), contact_id)
            for key, reason, contact_id in self._read(
                "SELECT key, reason, contact_id FROM suppressions WHERE workspace = ?", (ws,)
            )
        ]
        return ContactIndex(
            self._contacts(ws), canonicalization=canonicalization, suppressed=suppressed
        )

    def _contacts(self, ws: str, ids: Sequence[str] | None = None) -> list[Contact]:
        """The workspace's contacts (only those with *ids* when given), by id."""
        only, wanted = "", [ws]
        if ids is not None:
            only = "AND {} IN (SELECT value FROM json_each(?)) "
            wanted.append(json.dumps(list(ids)))
        addresses: dict[str, list[Address]] = {}
        for contact_id, address in self._read(
            "SELECT contact_id, address FROM contact_addresses WHERE workspace = ? "  # noqa: S608
            + only.format("contact_id")
            + "ORDER BY contact_id, position",
            wanted,
        ):
            addresses.setdefault(contact_id, []).append(_address_from_text(address))
        contacts = []
        for contact_id, first, last, company, created, deleted in self._read(
            "SELECT id, first_name, last_name, company_domain, created_at, deleted_at "
            "FROM contacts WHERE workspace = ? " + only.format("id") + "ORDER BY id",
            wanted,
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

    def apply_contact_change(
        self, change: ContactChange, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        ws = _workspace(workspace)
        with self._write() as db:
            db.execute(
                "INSERT INTO contact_versions (workspace, version) VALUES (?, 1) "
                "ON CONFLICT (workspace) DO UPDATE SET version = version + 1",
                (ws,),
            )
            _insert_companies(db, ws, change.companies)
            _insert_contacts(db, ws, change.saved, replace=True)
            _relink(db, ws, change.owners)
            db.executemany(
                "UPDATE participant_rows SET contact_id = NULL "
                "WHERE workspace = ? AND contact_id = ?",
                [(ws, cid) for cid in change.destroyed],
            )
            db.executemany(
                "UPDATE event_participants SET contact_id = NULL "
                "WHERE workspace = ? AND contact_id = ?",
                [(ws, cid) for cid in change.destroyed],
            )
            db.executemany(
                "DELETE FROM contacts WHERE workspace = ? AND id = ?",
                [(ws, cid) for cid in change.destroyed],
            )
            db.executemany(
                "DELETE FROM suppressions WHERE workspace = ? AND key = ?",
                [(ws, key) for key in change.lifted],
            )
            db.executemany(
                "INSERT INTO suppressions (workspace, key, reason, contact_id) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (workspace, key) DO UPDATE SET reason = excluded.reason, "
                "contact_id = excluded.contact_id",
                [(ws, s.key, s.reason.value, s.contact_id) for s in change.suppressed],
            )

    def companies(self, *, workspace: str = DEFAULT_WORKSPACE) -> tuple[Company, ...]:
        """Every stored company, ordered by domain."""
        ws = _workspace(workspace)
        further: dict[str, list[str]] = {}
        for domain, company in self._read(
            "SELECT domain, company FROM company_domains WHERE workspace = ? "
            "AND domain <> company ORDER BY domain",
            (ws,),
        ):
            further.setdefault(company, []).append(domain)
        rows = self._read(
            "SELECT domain, name FROM companies WHERE workspace = ? ORDER BY domain", (ws,)
        )
        return tuple(Company(d, name, tuple(further.get(d, ()))) for d, name in rows)

    def apply_company_change(
        self, change: CompanyChange, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        ws = _workspace(workspace)
        gone = [*change.removed, *(c.domain for c in change.saved)]
        with self._write() as db:
            db.executemany(
                "DELETE FROM company_domains WHERE workspace = ? AND company = ?",
                [(ws, d) for d in gone],
            )
            db.executemany(
                "DELETE FROM companies WHERE workspace = ? AND domain = ?",
                [(ws, d) for d in change.removed],
            )
            db.executemany(
                "INSERT INTO companies (workspace, domain, name) VALUES (?, ?, ?) "
                "ON CONFLICT (workspace, domain) DO UPDATE SET name = excluded.name",
                [(ws, c.domain, c.name) for c in change.saved],
            )
            try:
                db.executemany(
                    "INSERT INTO company_domains (workspace, domain, company) VALUES (?, ?, ?)",
                    [(ws, d, c.domain) for c in change.saved for d in c.all_domains],
                )
            except sqlite3.IntegrityError as err:
                raise StoreError(
                    f"The database {self.path!r} was not changed: two companies would hold one "
                    "domain."
                ) from err

    def company_counts(self, *, workspace: str = DEFAULT_WORKSPACE) -> tuple[CompanyCount, ...]:
        ws = _workspace(workspace)
        contacts = dict(
            self._read(
                "SELECT d.company, count(*) FROM contacts c JOIN company_domains d "
                "ON d.workspace = c.workspace AND d.domain = c.company_domain "
                "WHERE c.workspace = ? GROUP BY d.company",
                (ws,),
            )
        )
        messages = dict(
            self._read(
                "SELECT d.company, count(DISTINCT p.message) FROM company_domains d "
                "JOIN participant_rows p ON p.workspace = d.workspace AND p.domain = d.domain "
                "WHERE d.workspace = ? GROUP BY d.company",
                (ws,),
            )
        )
        return tuple(
            CompanyCount(c, contacts.get(c.domain, 0), messages.get(c.domain, 0))
            for c in self.companies(workspace=ws)
        )

    def contact(self, contact_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> Contact | None:
        found = self._contacts(_workspace(workspace), [contact_id])
        return found[0] if found else None

    def contacts_with_key(
        self, key: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[Contact, ...]:
        ws = _workspace(workspace)
        ids = [
            contact_id
            for (contact_id,) in self._read(
                "SELECT DISTINCT contact_id FROM contact_addresses WHERE workspace = ? "
                "AND key = ? ORDER BY contact_id",
                (ws, key),
            )
        ]
        return tuple(self._contacts(ws, ids)) if ids else ()

    # --- Reading ------------------------------------------------------------------------------

    def mailbox_messages(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> Iterator[StoredMessage]:
        ws = _workspace(workspace)
        keys = [
            key
            for (key,) in self._read(
                "SELECT DISTINCT message_key FROM copies WHERE workspace = ? AND mailbox_id = ? "
                "AND synced = 1 ORDER BY message_key",
                (ws, mailbox_id),
            )
        ]
        for chunk in _chunks(keys):
            yield from self._load(ws, chunk)

    def messages_for_contact(
        self, contact_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredMessage, ...]:
        ws = _workspace(workspace)
        return self._ordered(
            ws,
            # INDEXED BY: without statistics SQLite would rather walk the workspace's
            # participants in key order, for the DISTINCT, than look the contact up.
            "SELECT DISTINCT m.key FROM participant_rows p INDEXED BY participants_by_contact "
            "CROSS JOIN messages m ON m.id = p.message WHERE p.workspace = ? "
            "AND p.contact_id = ?",
            (ws, contact_id),
        )

    def messages_for_company(
        self, domain: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredMessage, ...]:
        ws = _workspace(workspace)
        domains = self._company_domains(ws, domain)
        return self._ordered(
            ws,
            "SELECT DISTINCT m.key FROM participant_rows p INDEXED BY participants_by_domain "
            "CROSS JOIN messages m ON m.id = p.message WHERE p.workspace = ? "
            "AND p.domain IN (SELECT value FROM json_each(?))",
            (ws, json.dumps(domains)),
        )

    def contact_messages(
        self,
        contact_id: str,
        *,
        limit: int = 50,
        after: str | None = None,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> Page:
        ws = _workspace(workspace)
        return self._paged(ws, _PARTICIPANTS, "p.contact_id = ?", [contact_id], limit, after)

    def company_messages(
        self,
        domain: str,
        *,
        limit: int = 50,
        after: str | None = None,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> Page:
        ws = _workspace(workspace)
        domains = self._company_domains(ws, domain)
        if len(domains) == 1:
            where, values = "p.domain = ?", [domains[0]]
        else:
            where, values = "p.domain IN (SELECT value FROM json_each(?))", [json.dumps(domains)]
        return self._paged(ws, _PARTICIPANTS, where, values, limit, after)

    def thread_messages(
        self,
        thread_id: str,
        *,
        limit: int = 50,
        after: str | None = None,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> Page:
        ws = _workspace(workspace)
        return self._paged(ws, _MESSAGES, "m.thread_id = ?", [thread_id], limit, after)

    def _paged(
        self,
        ws: str,
        source: tuple[str, str, str, str],
        where: str,
        values: list[Any],
        limit: int,
        after: str | None,
    ) -> Page:
        """A page of the messages of the rows of *source* (`_PARTICIPANTS`, `_MESSAGES`)
        matching *where*, by (time, key): the dated ones first, then the undated, each run
        read in index order."""
        count, start = page_after(limit, after)
        rows: list[Any] = []
        if start is None or start[0] is not None:
            rows = self._dated(ws, source, where, values, start, count)
        if len(rows) <= count:
            bound, params = "", [*values]
            if start is not None and start[0] is None:
                bound, params = "AND m.key > ? ", [*params, start[1]]
            rows += self._page_rows(
                ws, source, where, "IS NULL ", bound, "m.key", params, count + 1 - len(rows)
            )
        shown = self._build(ws, rows[:count])
        more = len(rows) > count and bool(shown)
        return Page(tuple(shown), page_cursor(shown[-1].message) if more else None)

    def _dated(
        self,
        ws: str,
        source: tuple[str, str, str, str],
        where: str,
        values: list[Any],
        start: tuple[float | None, str] | None,
        count: int,
    ) -> list[Any]:
        """The `_LOAD` rows of the first ``count + 1`` dated messages of a page after *start*.

        The times of the first messages after the cursor's time come from the time index
        alone (one a message); the page then reads, and orders by key, only the messages from
        the cursor's time up to the (``count + 1``)th of those times, so a long timeline costs
        no more than a short one, and the range holds at least ``count + 1`` messages after
        the cursor. Unless many messages share a time there, that range is read whole, with
        the documents, in one query."""
        table, workspace, sent_at, message = source
        since, later, bound, after = "", "", "", []
        if start is not None:
            since, later, after = f"AND {sent_at} >= ? ", f"AND {sent_at} > ? ", [start[0]]
            bound = "AND (m.sent_at, m.key) > (?, ?) "
        # Tables, columns and conditions are this module's constants; every value is a
        # parameter.
        matching = f"FROM {table} WHERE {workspace} = ? AND {where} AND {sent_at} "
        wanted = 2 * (count + 1)
        times = [
            t
            for t, _ in self._read(
                f"SELECT DISTINCT {sent_at}, {message} {matching}IS NOT NULL {later}"
                f"ORDER BY {sent_at}, {message} LIMIT ?",
                [ws, *values, *after, wanted],
            )
        ]
        cap, capped, crowded = "", [], False
        if len(times) > count:
            cap, capped = f"AND {sent_at} <= ? ", [times[count]]
            # Every time read is the cap's: more messages share it than a page holds.
            crowded = len(times) == wanted and times[-1] == times[count]
        if start is not None and not crowded:
            ((ties,),) = self._read(f"SELECT count(*) {matching}= ?", [ws, *values, start[0]])
            crowded = ties > count
        return self._page_rows(
            ws,
            source,
            where,
            f"IS NOT NULL {since}{cap}",
            bound,
            "m.sent_at, m.key",
            [*values, *after, *capped, *([] if start is None else list(start))],
            count + 1 if crowded else None,
        )

    def _page_rows(
        self,
        ws: str,
        source: tuple[str, str, str, str],
        where: str,
        times: str,
        bound: str,
        order: str,
        params: list[Any],
        limit: int | None,
    ) -> list[Any]:
        """The `_LOAD` rows of `_page_query`: every row of the range in one query when
        *limit* is None (the range holds few more than a page: SQLite sorts the documents of
        a range about twice as fast without a LIMIT), else the first *limit* row ids in
        order and then their rows (a range of many messages: only the ids are sorted)."""
        if limit is None:
            return self._read(_page_query(_LOAD, source, where, times, bound, order), [ws, *params])
        ids = [
            i
            for (i,) in self._read(
                _page_query(_IDS, source, where, times, bound, order, " LIMIT ?"),
                [ws, *params, limit],
            )
        ]
        found = {row[1]: row for row in self._read(_LOAD_BY_IDS, (json.dumps(ids),))}
        return [found[i] for i in ids if i in found]

    def _ordered(self, ws: str, sql: str, params: tuple[str, ...]) -> tuple[StoredMessage, ...]:
        keys = [key for (key,) in self._read(sql, params)]
        messages = [stored for chunk in _chunks(keys) for stored in self._load(ws, chunk)]
        messages.sort(key=lambda stored: message_order(stored.message))
        return tuple(messages)

    def _load(self, ws: str, keys: Sequence[str]) -> list[StoredMessage]:
        """The stored messages with *keys* (at most `_CHUNK`), in the order of *keys*."""
        rows = self._read(
            _LOAD_BY_KEYS,
            (ws, json.dumps(list(keys))),
        )
        found = {row[0]: row for row in rows}
        return self._build(ws, [found[key] for key in keys if key in found])

    def _decode(
        self, reader: DocumentReader, document: str, key: str, message_id: str | None
    ) -> Message:
        return reader.document(document, key, message_id)

    def _build(self, ws: str, rows: Sequence[Any]) -> list[StoredMessage]:
        """The stored messages of *rows* of `_LOAD`, in their order."""
        if not rows:
            return []
        settings = dict(self._read("SELECT id, settings FROM mailboxes WHERE workspace = ?", (ws,)))
        return self._stored(ws, rows, settings)


def _recorded(rows: list[Any]) -> Recorded | None:
    if not rows:
        return None
    settings, version, at = rows[0]
    return Recorded(settings, version, _parse_time(at))


def _version(db: sqlite3.Connection, ws: str) -> int:
    row = db.execute("SELECT version FROM contact_versions WHERE workspace = ?", (ws,)).fetchone()
    return 0 if row is None else int(row[0])


def _record_settings(
    db: sqlite3.Connection, ws: str, mailbox_id: str, table: str, settings: str, at: datetime | None
) -> None:
    """Record *settings* for the mailbox (table ``mailboxes``) or the workspace (``policies``),
    with the next version and its log entry, when they differ from the recorded ones."""
    if table == "mailboxes":
        row = db.execute(
            "SELECT settings, version FROM mailboxes WHERE workspace = ? AND id = ?",
            (ws, mailbox_id),
        ).fetchone()
    else:
        row = db.execute(
            "SELECT settings, version FROM policies WHERE workspace = ?", (ws,)
        ).fetchone()
    if row is not None and row[0] == settings:
        return
    version = 1 if row is None else int(row[1]) + 1
    if table == "mailboxes":
        db.execute(
            "INSERT OR REPLACE INTO mailboxes (workspace, id, settings, version, set_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (ws, mailbox_id, settings, version, _time(at)),
        )
    else:
        db.execute(
            "INSERT OR REPLACE INTO policies (workspace, settings, version, set_at) "
            "VALUES (?, ?, ?, ?)",
            (ws, settings, version, _time(at)),
        )
    db.execute(
        "INSERT OR REPLACE INTO settings_log (workspace, mailbox_id, version, set_at, settings) "
        "VALUES (?, ?, ?, ?, ?)",
        (ws, mailbox_id, version, _time(at), settings),
    )


def _address_text(address: Address) -> str:
    return JSON.encode(address_record(address))


def _address_from_text(text: str) -> Address:
    return address_from_record(json.loads(text))


def _insert_contacts(
    db: sqlite3.Connection, ws: str, contacts: Iterable[Contact], *, replace: bool
) -> None:
    contacts = list(contacts)
    if not contacts:
        return
    db.executemany(
        _UPSERT_CONTACT if replace else _INSERT_CONTACT,
        [
            (
                ws,
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
            "DELETE FROM contact_addresses WHERE workspace = ? AND contact_id = ?",
            [(ws, c.id) for c in contacts],
        )
    db.executemany(
        "INSERT INTO contact_addresses (workspace, contact_id, position, key, address) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            (ws, c.id, position, address.key, _address_text(address))
            for c in contacts
            for position, address in enumerate(c.addresses)
        ],
    )


_INSERT_CONTACT = """
    INSERT INTO contacts
        (workspace, id, first_name, last_name, company_domain, created_at, deleted_at)
    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workspace, id) DO NOTHING"""
_UPSERT_CONTACT = """
    INSERT INTO contacts
        (workspace, id, first_name, last_name, company_domain, created_at, deleted_at)
    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workspace, id) DO UPDATE SET
        first_name = excluded.first_name, last_name = excluded.last_name,
        company_domain = excluded.company_domain, created_at = excluded.created_at,
        deleted_at = excluded.deleted_at"""


def _beside(node: str, subject: str | None, sent: float | None) -> Beside:
    """What a message's row holds beside its thread facts (`encode_facts`)."""
    return (node, subject, sent)


def _fallback(facts: ThreadFacts) -> str | None:
    """The subject key a message takes part in the subject fallback with, or None."""
    return facts.subject if facts.kind is not None else None


def _insert_companies(db: sqlite3.Connection, ws: str, companies: Iterable[Company]) -> None:
    """Store the companies whose domain no stored company holds yet (nor one stored before
    it in *companies*): the domains held are read in one statement, the rows written with two."""
    companies = list(companies)
    if not companies:
        return
    held = {
        domain
        for (domain,) in db.execute(
            "SELECT domain FROM company_domains WHERE workspace = ? "
            "AND domain IN (SELECT value FROM json_each(?))",
            (ws, json.dumps(sorted({c.domain for c in companies}))),
        )
    }
    rows: list[tuple[str, str, str]] = []
    domains: list[tuple[str, str, str]] = []
    for company in companies:
        if company.domain in held:
            continue
        rows.append((ws, company.domain, company.name))
        for domain in company.all_domains:
            domains.append((ws, domain, company.domain))
            held.add(domain)
    db.executemany(
        "INSERT INTO companies (workspace, domain, name) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        rows,
    )
    db.executemany(
        "INSERT OR IGNORE INTO company_domains (workspace, domain, company) VALUES (?, ?, ?)",
        domains,
    )


def _thread(
    db: sqlite3.Connection,
    ws: str,
    added: Sequence[ThreadFacts],
    removed: Sequence[tuple[ThreadFacts, str | None]],
) -> dict[str, str]:
    """The thread id of every message the batch's *added* (not stored yet) and *removed*
    messages give a new one (`mailbind.rethreading`); stored messages among them are rewritten
    here, and the added ones' ids are for the caller to store with them."""
    if not added and not removed:
        return {}
    query = thread_query([*added, *(f for f, _ in removed)])
    threads = {thread for _, thread in removed if thread is not None}
    for chunk in _chunks(sorted(query.nodes)):
        threads.update(
            thread
            for (thread,) in db.execute(
                # CROSS JOIN: SQLite joins in the order written, from the ids given, so each
                # is one index look-up (it would rather walk every message's thread id).
                "SELECT DISTINCT m.thread_id FROM json_each(?) j CROSS JOIN thread_node_rows n "
                "CROSS JOIN messages m WHERE n.workspace = ? AND n.node = j.value "
                "AND m.id = n.message AND m.thread_id IS NOT NULL",
                (json.dumps(list(chunk)), ws),
            )
        )
    for chunk in _chunks(sorted(query.subjects)):
        threads.update(
            thread
            for (thread,) in db.execute(
                "SELECT DISTINCT m.thread_id FROM json_each(?) j CROSS JOIN messages m "
                "INDEXED BY messages_by_thread_subject WHERE m.workspace = ? "
                "AND m.thread_subject = j.value AND m.thread_subject IS NOT NULL "
                "AND m.thread_id IS NOT NULL",
                (json.dumps(list(chunk)), ws),
            )
        )
    context: dict[str, tuple[ThreadFacts, str | None]] = {}
    for chunk in _chunks(sorted(threads)):
        for key, facts, thread, *beside in db.execute(
            "SELECT m.key, m.thread_facts, m.thread_id, coalesce(m.message_id, m.key), "
            "m.thread_subject, m.sent_at FROM json_each(?) j CROSS JOIN messages m "
            "INDEXED BY messages_by_thread WHERE m.workspace = ? AND m.thread_id = j.value",
            (json.dumps(list(chunk)), ws),
        ):
            context[key] = (decode_facts(key, facts, _beside(*beside)), thread)
    changes = rethread(context, added, [f.key for f, _ in removed])
    new = {f.key for f in added}
    db.executemany(
        "UPDATE messages SET thread_id = ? WHERE workspace = ? AND key = ?",
        [(thread, ws, key) for key, thread in changes.items() if key not in new],
    )
    return changes


def _address_ids(db: sqlite3.Connection, ws: str, keys: set[str]) -> dict[str, int]:
    """The number of each participant key in *keys*, numbering the new ones."""
    if not keys:
        return {}
    wanted = sorted(keys)
    db.executemany(
        "INSERT OR IGNORE INTO addresses (workspace, key) VALUES (?, ?)", [(ws, k) for k in wanted]
    )
    return dict(
        db.execute(
            "SELECT key, id FROM addresses WHERE workspace = ? "
            "AND key IN (SELECT value FROM json_each(?))",
            (ws, json.dumps(wanted)),
        )
    )


def _addresses_of(db: sqlite3.Connection, ws: str, keys: str) -> list[int]:
    """The numbers of the addresses the messages with *keys* (a JSON list) have."""
    return [
        address
        for (address,) in db.execute(
            "SELECT DISTINCT p.address FROM messages m CROSS JOIN participant_rows p "
            "ON p.message = m.id WHERE m.workspace = ? "
            "AND m.key IN (SELECT value FROM json_each(?))",
            (ws, keys),
        )
    ]


def _drop_unused_addresses(db: sqlite3.Connection, candidates: Sequence[int]) -> None:
    """Delete the addresses among *candidates* that no participant has any more: a participant
    key stays in the database only as long as a stored message has it."""
    if candidates:
        db.execute(
            "DELETE FROM addresses WHERE id IN (SELECT value FROM json_each(?)) AND NOT EXISTS "
            "(SELECT 1 FROM participant_rows p WHERE p.address = addresses.id)",
            (json.dumps(sorted(set(candidates))),),
        )


def _relink(db: sqlite3.Connection, ws: str, owners: Iterable[OwnerChange]) -> None:
    changes = [(change.new, ws, change.key) for change in owners]
    db.executemany(
        "UPDATE participant_rows SET contact_id = ? WHERE address = "
        "(SELECT id FROM addresses WHERE workspace = ? AND key = ?)",
        changes,
    )
    relink_events(db, ws, ((new, key) for new, _, key in changes))


def _copy_rows(ws: str, mailbox_id: str, items: Iterable[BatchItem]) -> list[tuple[Any, ...]]:
    """The ``copies`` row of each item."""
    # Most copies of a batch share their reasons: each set is written out once.
    reasons: dict[tuple[Reason, ...], str] = {}
    rows = []
    for item in items:
        decision = item.decision
        text = reasons.get(decision.reasons)
        if text is None:
            text = reasons[decision.reasons] = " ".join(
                r.value for r in decision.reasons if r is not Reason.MESSAGE_ID_REUSED
            )
        rows.append(
            (
                ws,
                mailbox_id,
                item.location,
                item.message.key,
                item.message.message_id,
                int(decision.synced),
                text,
                decision.direction.value,
                decision.level.value,
                " ".join(sorted(f.value for f in item.flags)) if item.flags else "",
            )
        )
    return rows


def _save_state(
    db: sqlite3.Connection,
    ws: str,
    mailbox_id: str,
    cursor: str | None,
    state: SyncState,
    listing: str | None,
) -> None:
    db.execute(
        "INSERT OR REPLACE INTO sync_state (workspace, mailbox_id, cursor, status, last_success, "
        "last_failure, failures, error, requested, listing) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            ws,
            mailbox_id,
            cursor,
            state.status.value,
            _time(state.last_success),
            _time(state.last_failure),
            state.failures,
            state.error,
            int(state.requested),
            listing,
        ),
    )
