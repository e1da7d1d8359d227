"""PostgresStore: the store for CRM backends, on PostgreSQL through psycopg 3.

Invariants:
- Every query is parameterised: nothing read from a message ever becomes SQL text.
- Every table has the workspace as the first column of its primary key; no statement reads
  or writes a row of another workspace.
- Each `apply_batch` and each `apply_contact_change` is one transaction (READ COMMITTED), the
  cursor included: a crash or a killed worker leaves either the whole batch or none of it.
- Several workers may apply batches of different mailboxes of one workspace at once. All the
  Python a batch needs (its rows encoded, its lock ids) is worked out before its transaction
  opens. The transaction then takes, in this order and each set in ascending order of lock id,
  so no two batches can wait on each other in a cycle:
  1. a share lock on its workspace's ``contact_versions`` row (a contact change takes it
     exclusively, so user changes and batches never interleave, and a batch planned against
     an older version is refused with `StaleBatchError`). Under it no stored contact goes,
     and batches only add contacts, so the contacts a batch finds stored stay stored;
  2. transaction-scoped advisory locks, one per contact key (by the key's *stem*, its most
     folded form) and one per message. A contact key is locked *exclusively* when the batch
     may change its owner: a key of a contact it creates that is not stored yet, or of an
     owner change to such a contact. A key the batch only links is locked *shared*, so
     batches linking the same customers run side by side. A message it stores, replaces or
     lets go of is locked exclusively;
  3. the rows it writes, table by table in a fixed order, each table's rows in key order;
  4. last, the workspace's thread lock (exclusive), for the messages it deletes and the
     thread ids (below); the participants of the messages it deletes go before it, since a
     batch waiting for this lock may have re-linked one of them.
  Holding the key locks it reads, once, the owner of each of its keys over the stored
  contacts. A key it locked exclusively is re-linked to that owner wherever it is stored (mail
  and event participants); its own participants are written linked to those owners. So no
  link is lost: a contact is only created under its keys' exclusive locks, by a batch that
  re-links every participant stored before it, and every batch storing a participant later
  holds the key's lock (shared at least) and reads the owner after that creator committed.
  Contact ids are derived from addresses, so two batches creating one contact store it once.
- A batch stores its new messages with the thread ids they have among themselves; under the
  thread lock it reads the stored threads they reach and rewrites the ids that changed (none
  when they start new conversations).
- The schema carries its version in ``mailbind_schema``; the first use applies the missing
  steps of `MIGRATIONS` in order, in one transaction under an advisory lock (so workers
  starting together migrate once). A newer schema is refused.
- A batch looks up the keys, ids, nodes and subjects it holds one at a time through an index
  (a ``LATERAL`` subquery per value of an ``unnest``), never with ``= ANY`` over a
  batch's worth of values: without statistics (a new database or workspace, before
  autovacuum has analysed it) the planner takes such a list for unselective and scans the
  workspace's rows instead, so each batch would cost more than the one before.
- Every psycopg failure surfaces as a `StoreError` naming the database (never its password),
  raised from the original error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

try:
    import psycopg
    from psycopg import errors as pg_errors
except ImportError as err:  # pragma: no cover - the extra is missing
    raise ImportError(
        "mailbind.stores.postgres needs psycopg 3: pip install 'mailbind[postgres]'"
    ) from err

from ..addresses import Address, Canonicalization
from ..calendars import EventBatchResult
from ..codecs import (
    JSON,
    DocumentReader,
    address_from_record,
    address_record,
    decode_message,
    decode_policy,
    encode_document,
    encode_mailbox,
)
from ..contacts import Contact, ContactIndex, OwnerChange, Suppression, SuppressionReason
from ..errors import StoreError
from ..messages import Message
from ..policy import Mailbox
from ..rethreading import (
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
from ._postgres_events import (
    CALENDAR_STATE,
    EVENT_TABLES,
    PostgresEvents,
    relink_by_key,
    relink_events,
)
from ._sql import SqlReads
from ._sql import workspace_name as _workspace

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "PostgresStore", "migrate"]

#: Most messages read from the database at once.
_CHUNK = 500
#: How often a batch is tried again after the server broke a deadlock or a serialisation
#: conflict (neither should happen under the lock order above; this is a safety net), or after
#: a row it copied in was stored by another transaction since it looked (it looks again).
_RETRIES = 5
#: The folding every stem is made with: any canonicalisation's key folds to the same stem.
_STEM = Canonicalization(strip_subaddress=True, fold_gmail=True)
#: The advisory lock that serialises migrations (``mailbind`` in ASCII).
_MIGRATION_LOCK = 0x6D61696C62696E64


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: the statements that take a database to ``version``."""

    version: int
    description: str
    statements: tuple[str, ...]
    #: Run after the statements, in the same transaction: moves what SQL alone cannot.
    upgrade: Callable[[psycopg.Cursor[Any]], None] | None = None


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "Workspaces, mailboxes and recorded settings, sync state, messages, copies, "
        "participants, contacts, companies, suppressions, contacts versions",
        (
            """CREATE TABLE mailboxes (
                workspace text NOT NULL,
                id text NOT NULL,
                settings text NOT NULL,
                version integer NOT NULL,
                set_at text,
                PRIMARY KEY (workspace, id)
            )""",
            """CREATE TABLE policies (
                workspace text PRIMARY KEY,
                settings text NOT NULL,
                version integer NOT NULL,
                set_at text
            )""",
            """CREATE TABLE settings_log (
                workspace text NOT NULL,
                mailbox_id text NOT NULL,
                version integer NOT NULL,
                set_at text,
                settings text NOT NULL,
                PRIMARY KEY (workspace, mailbox_id, version)
            )""",
            """CREATE TABLE sync_state (
                workspace text NOT NULL,
                mailbox_id text NOT NULL,
                cursor text,
                status text NOT NULL,
                last_success text,
                last_failure text,
                failures integer NOT NULL,
                error text NOT NULL,
                requested boolean NOT NULL,
                listing text,
                PRIMARY KEY (workspace, mailbox_id)
            )""",
            """CREATE TABLE messages (
                workspace text NOT NULL,
                key text NOT NULL,
                message_id text,
                sent_at double precision,
                document text NOT NULL,
                PRIMARY KEY (workspace, key)
            )""",
            """CREATE TABLE copies (
                workspace text NOT NULL,
                mailbox_id text NOT NULL,
                location text NOT NULL,
                message_key text NOT NULL,
                message_id text,
                synced boolean NOT NULL,
                reasons text NOT NULL,
                direction text NOT NULL,
                level text NOT NULL,
                flags text NOT NULL,
                PRIMARY KEY (workspace, mailbox_id, location)
            )""",
            "CREATE INDEX copies_by_key ON copies (workspace, message_key) WHERE synced",
            "CREATE INDEX copies_by_message_id ON copies (workspace, message_id)",
            """CREATE TABLE contacts (
                workspace text NOT NULL,
                id text NOT NULL,
                first_name text NOT NULL,
                last_name text NOT NULL,
                company_domain text,
                created_at text NOT NULL,
                deleted_at text,
                PRIMARY KEY (workspace, id)
            )""",
            "CREATE INDEX contacts_by_company ON contacts (workspace, company_domain)",
            """CREATE TABLE contact_addresses (
                workspace text NOT NULL,
                contact_id text NOT NULL,
                position integer NOT NULL,
                key text NOT NULL,
                stem text NOT NULL,
                address text NOT NULL,
                PRIMARY KEY (workspace, contact_id, position),
                FOREIGN KEY (workspace, contact_id) REFERENCES contacts (workspace, id)
                    ON DELETE CASCADE
            )""",
            "CREATE INDEX contact_addresses_by_stem ON contact_addresses (workspace, stem)",
            """CREATE TABLE participants (
                workspace text NOT NULL,
                message_key text NOT NULL,
                position integer NOT NULL,
                key text NOT NULL,
                contact_id text,
                PRIMARY KEY (workspace, message_key, position),
                FOREIGN KEY (workspace, message_key) REFERENCES messages (workspace, key)
                    ON DELETE CASCADE
            )""",
            "CREATE INDEX participants_by_key ON participants (workspace, key)",
            "CREATE INDEX participants_by_contact ON participants (workspace, contact_id)",
            """CREATE TABLE companies (
                workspace text NOT NULL,
                domain text NOT NULL,
                name text NOT NULL,
                PRIMARY KEY (workspace, domain)
            )""",
            """CREATE TABLE suppressions (
                workspace text NOT NULL,
                key text NOT NULL,
                reason text NOT NULL,
                contact_id text,
                PRIMARY KEY (workspace, key)
            )""",
            """CREATE TABLE contact_versions (
                workspace text PRIMARY KEY,
                version bigint NOT NULL
            )""",
        ),
    ),
    Migration(
        2,
        "Calendar events: events, their copies per mailbox, calendar and resource, their "
        "participant links, each calendar's cursor, listing token and settings",
        EVENT_TABLES,
    ),
)


def _upgrade_threads(cur: psycopg.Cursor[Any]) -> None:
    """Give every stored message its thread facts, nodes and thread id, and every participant
    its registrable domain and its message's time."""
    by_space: dict[str, dict[str, ThreadFacts]] = {}
    for ws, key, document in cur.execute(
        "SELECT workspace, key, document FROM messages"
    ).fetchall():
        by_space.setdefault(ws, {})[key] = thread_facts(decode_message(document))
    for ws, facts in by_space.items():
        ids = rethread({}, facts.values())
        cur.executemany(
            "UPDATE messages SET thread_id = %s, thread_facts = %s, thread_subject = %s "
            "WHERE workspace = %s AND key = %s",
            [(ids[k], encode_facts(f), _fallback(f), ws, k) for k, f in facts.items()],
        )
        cur.executemany(
            "INSERT INTO thread_nodes (workspace, node, message_key) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            [(ws, node, f.key) for f in facts.values() for node in (f.node, *f.cited)],
        )
    keys = [key for (key,) in cur.execute("SELECT DISTINCT key FROM participants").fetchall()]
    cur.executemany(
        "UPDATE participants SET domain = %s WHERE key = %s", [(link_domain(k), k) for k in keys]
    )
    cur.execute(
        "UPDATE participants p SET sent_at = m.sent_at FROM messages m "
        "WHERE m.workspace = p.workspace AND m.key = p.message_key"
    )


MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        3,
        "Threads: a thread id and the threading facts per message, the ids each message is at "
        "or cites; companies with several domains; participants by domain and time, for "
        "timelines read page by page",
        (
            "ALTER TABLE messages ADD COLUMN thread_id text",
            "ALTER TABLE messages ADD COLUMN thread_facts text",
            "ALTER TABLE messages ADD COLUMN thread_subject text",
            """CREATE TABLE thread_nodes (
                workspace text NOT NULL,
                node text NOT NULL,
                message_key text NOT NULL,
                PRIMARY KEY (workspace, node, message_key),
                FOREIGN KEY (workspace, message_key) REFERENCES messages (workspace, key)
                    ON DELETE CASCADE
            )""",
            "CREATE INDEX thread_nodes_by_message ON thread_nodes (workspace, message_key)",
            "CREATE INDEX messages_by_thread ON messages "
            '(workspace, thread_id, sent_at, key COLLATE "C")',
            "CREATE INDEX messages_by_thread_subject ON messages (workspace, thread_subject) "
            "WHERE thread_subject IS NOT NULL",
            "ALTER TABLE participants ADD COLUMN domain text",
            "ALTER TABLE participants ADD COLUMN sent_at double precision",
            "DROP INDEX participants_by_contact",
            "CREATE INDEX participants_by_contact ON participants "
            '(workspace, contact_id, sent_at, message_key COLLATE "C")',
            "CREATE INDEX participants_by_domain ON participants "
            '(workspace, domain, sent_at, message_key COLLATE "C")',
            """CREATE TABLE company_domains (
                workspace text NOT NULL,
                domain text NOT NULL,
                company text NOT NULL,
                PRIMARY KEY (workspace, domain)
            )""",
            "CREATE INDEX company_domains_by_company ON company_domains (workspace, company)",
            "INSERT INTO company_domains SELECT workspace, domain, domain FROM companies",
        ),
        _upgrade_threads,
    ),
)

#: The schema version this mailbind writes.
MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        4,
        "A sync state for each calendar (back-off after a failed pass, as a mailbox's)",
        CALENDAR_STATE,
    ),
    # No statement: the documents stored before stay as they are, and both forms read back
    # (`decode_document`); the version keeps a mailbind that reads only the full form away.
    Migration(
        5,
        "Documents of messages stored from now on in the compact form of SQLite's (no key or "
        "Message-ID, no text twice: mailbind.codecs.encode_document); those stored before keep "
        "the full form, and both read back",
        (),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version

#: The tables of the schema: one of them without ``mailbind_schema`` is not a mailbind store.
_TABLES = (
    "mailboxes",
    "policies",
    "settings_log",
    "sync_state",
    "messages",
    "copies",
    "contacts",
    "contact_addresses",
    "participants",
    "companies",
    "suppressions",
    "contact_versions",
    "calendars",
    "event_mailboxes",
    "events",
    "event_copies",
    "event_participants",
    "thread_nodes",
    "company_domains",
)


class _Pool(Protocol):
    """What the store needs of a ``psycopg_pool.ConnectionPool``."""

    def connection(self) -> Any: ...


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _lock_id(kind: str, ws: str, value: str) -> int:
    """A signed 64-bit advisory lock id for one contact key stem or message key."""
    digest = hashlib.blake2b(f"{kind}\x00{ws}\x00{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _describe(conn: psycopg.Connection[Any]) -> str:
    """The database as error messages name it: ``dbname on host:port`` (never a password)."""
    info = conn.info
    return f"{info.dbname} on {info.host}:{info.port}"


def migrate(conn: psycopg.Connection[Any], *, upto: int = SCHEMA_VERSION) -> int:
    """Bring the database on *conn* to schema version *upto*, in one transaction.

    Returns the version it was at before. Raises `StoreError` for a database newer than this
    mailbind, or one holding a table of the schema without the schema's version table.
    """
    name = _describe(conn)
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            cur.execute("SELECT to_regclass('mailbind_schema') IS NOT NULL")
            row = cur.fetchone()
            if row is not None and row[0]:
                cur.execute("SELECT COALESCE(MAX(version), 0) FROM mailbind_schema")
                found = cur.fetchone()
                current = int(found[0]) if found else 0
            else:
                cur.execute(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                    "AND c.relname = ANY(%s)",
                    (list(_TABLES),),
                )
                clash = [r[0] for r in cur.fetchall()]
                if clash:
                    raise StoreError(
                        f"The database {name!r} has a table {sorted(clash)[0]!r} but is not a "
                        "mailbind store."
                    )
                cur.execute(
                    "CREATE TABLE mailbind_schema (version integer PRIMARY KEY, "
                    "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                current = 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"The database {name!r} has schema version {current}, newer than this "
                    f"mailbind reads ({SCHEMA_VERSION}): upgrade mailbind."
                )
            for step in MIGRATIONS:
                if current < step.version <= upto:
                    for statement in step.statements:
                        cur.execute(statement)
                    if step.upgrade is not None:
                        step.upgrade(cur)
                    cur.execute(
                        "INSERT INTO mailbind_schema (version, description) VALUES (%s, %s)",
                        (step.version, step.description),
                    )
    except psycopg.Error as err:
        raise StoreError(f"The database {name!r} could not be upgraded: {err}.") from err
    return current


class PostgresStore(PostgresEvents, SqlReads):
    """A `Store` (and an `EventStore`) in a PostgreSQL database: for CRM backends with many users
    and workers.

    *database* is a connection string (``"postgresql://crm@db/crm"`` or
    ``"host=db dbname=crm"``; a password comes from ``PGPASSWORD`` or ``~/.pgpass`` as libpq
    reads them), an open ``psycopg.Connection`` (the caller keeps it and closes it), or a
    ``psycopg_pool.ConnectionPool`` (each call borrows a connection). The tables live in the
    connection's current schema (``options=-csearch_path=...`` in the connection string picks
    another). The schema is created or upgraded on first use.
    """

    PARAMETER = "%s"
    COLLATE = ' COLLATE "C"'

    def __init__(self, database: str | psycopg.Connection[Any] | _Pool) -> None:
        self._mailbox_cache: dict[tuple[str, str], tuple[str, Mailbox]] = {}
        self._canon_cache: dict[str, Canonicalization] = {}
        #: The workspaces whose ``contact_versions`` row is known to exist.
        self._versioned: set[str] = set()
        self._own: psycopg.Connection[Any] | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._pool: _Pool | None = None
        if isinstance(database, str):
            try:
                self._own = psycopg.connect(database, autocommit=True)
            except psycopg.Error as err:
                raise StoreError(f"The database could not be opened: {err}.") from err
            self._conn = self._own
        elif isinstance(database, psycopg.Connection):
            self._conn = database
        elif callable(getattr(database, "connection", None)):
            self._pool = database
        else:
            raise TypeError(
                "database must be a connection string, a psycopg Connection or a "
                f"ConnectionPool, not {type(database).__name__}."
            )
        try:
            with self._connection() as conn:
                self.name = _describe(conn)
                migrate(conn)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"<PostgresStore {getattr(self, 'name', '?')!r}>"

    def close(self) -> None:
        """Close the connection the store opened (a connection or pool passed in stays open)."""
        if self._own is not None:
            self._own.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        if self._pool is not None:
            with self._pool.connection() as conn:
                yield conn
        else:
            assert self._conn is not None
            yield self._conn

    @contextmanager
    def _write(self, what: str = "written") -> Iterator[psycopg.Cursor[Any]]:
        """One transaction; psycopg errors become `StoreError`."""
        with self._connection() as conn:
            try:
                with conn.transaction(), conn.cursor() as cur:
                    yield cur
            except psycopg.Error as err:
                raise StoreError(f"The database {self.name!r} could not be {what}: {err}.") from err

    @contextmanager
    def _snapshot(self) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor whose statements all read one snapshot (a read-only REPEATABLE READ
        transaction), for reads that join what several statements return."""
        with self._connection() as conn:
            try:
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    yield cur
            except psycopg.Error as err:
                raise StoreError(f"The database {self.name!r} could not be read: {err}.") from err

    @staticmethod
    def _shared_version_in(cur: psycopg.Cursor[Any], ws: str) -> int:
        return _shared_version(cur, ws)

    @staticmethod
    def _insert_new(cur: psycopg.Cursor[Any], ws: str, batch: EventBatchResult) -> None:
        _insert_companies(cur, ws, batch.companies)
        _insert_contacts(cur, ws, _contact_rows(batch.contacts), replace=False)

    @staticmethod
    def _relink_in(cur: psycopg.Cursor[Any], ws: str, owners: Iterable[OwnerChange]) -> None:
        _relink(cur, ws, owners)

    @staticmethod
    def _lock_ids(ws: str, event_keys: Iterable[str], contact_keys: Iterable[str]) -> list[int]:
        return sorted(
            {_lock_id("e", ws, key) for key in event_keys}
            | {_lock_id("c", ws, _STEM.fold(key)) for key in contact_keys}
        )

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._connection() as conn:
            try:
                if conn.autocommit:
                    return conn.execute(sql, params).fetchall()
                with conn.transaction():
                    return conn.execute(sql, params).fetchall()
            except psycopg.Error as err:
                raise StoreError(f"The database {self.name!r} could not be read: {err}.") from err

    # --- Progress -----------------------------------------------------------------------------

    def load_state(self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> MailboxState:
        rows = self._read(
            "SELECT cursor, status, last_success, last_failure, failures, error, requested, "
            "listing FROM sync_state WHERE workspace = %s AND mailbox_id = %s",
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
        with self._write() as cur:
            _save_state(cur, ws, mailbox_id, state.cursor, state.sync, state.listing, keep=False)

    # --- Settings -----------------------------------------------------------------------------

    def recorded_policy(self, *, workspace: str = DEFAULT_WORKSPACE) -> Recorded | None:
        rows = self._read(
            "SELECT settings, version, set_at FROM policies WHERE workspace = %s",
            (_workspace(workspace),),
        )
        return _recorded(rows)

    def recorded_mailbox(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> Recorded | None:
        rows = self._read(
            "SELECT settings, version, set_at FROM mailboxes WHERE workspace = %s AND id = %s",
            (_workspace(workspace), mailbox_id),
        )
        return _recorded(rows)

    def settings_history(
        self, mailbox_id: str | None = None, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[Recorded, ...]:
        """Every settings version recorded for *mailbox_id* (None: the workspace policy)."""
        rows = self._read(
            "SELECT settings, version, set_at FROM settings_log "
            "WHERE workspace = %s AND mailbox_id = %s ORDER BY version",
            (_workspace(workspace), "" if mailbox_id is None else mailbox_id),
        )
        return tuple(Recorded(text, version, _parse_time(at)) for text, version, at in rows)

    def workspaces(self) -> tuple[str, ...]:
        rows = self._read("SELECT DISTINCT workspace FROM mailboxes ORDER BY workspace")
        return tuple(ws for (ws,) in rows)

    # --- Writing a batch ----------------------------------------------------------------------

    def apply_batch(self, batch: BatchResult, *, workspace: str = DEFAULT_WORKSPACE) -> None:
        ws = _workspace(workspace)
        # Everything Python works out of the batch, before any lock is taken.
        canon = self._canonicalization(ws, batch.policy)
        rows = _prepare(batch, ws, canon, self._stored_among(ws, batch))
        self._ensure_version_row(ws)
        for attempt in range(_RETRIES):
            try:
                self._apply_batch(batch, ws, canon, rows)
                return
            except StoreError as err:
                cause = err.__cause__
                retry = isinstance(
                    cause, pg_errors.DeadlockDetected | pg_errors.SerializationFailure
                ) or (
                    # A contact or copy it took for new was stored since it looked.
                    isinstance(cause, pg_errors.UniqueViolation)
                    and cause.diag.table_name in ("contacts", "copies")
                )
                if not retry or attempt == _RETRIES - 1:
                    raise

    def _stored_among(self, ws: str, batch: BatchResult) -> set[str]:
        """Which of the batch's synced messages are stored already: a hint read before the
        transaction (so that only new messages are encoded), checked again under the locks."""
        keys = sorted({item.message.key for item in batch.items if item.decision.synced})
        if not keys:
            return set()
        found = self._read(_STORED_KEYS, (keys, ws))
        return {key for (key,) in found}

    def _ensure_version_row(self, ws: str) -> None:
        """Make the workspace's ``contact_versions`` row in a transaction of its own, once:
        made inside a batch, it would stay locked by that batch, and every other batch starting
        at the same time would wait for it whole."""
        if ws in self._versioned:
            return
        with self._write() as cur:
            cur.execute(
                "INSERT INTO contact_versions (workspace, version) VALUES (%s, 0) "
                "ON CONFLICT DO NOTHING",
                (ws,),
            )
        self._versioned.add(ws)

    def _apply_batch(
        self, batch: BatchResult, ws: str, canon: Canonicalization, rows: _Rows
    ) -> None:
        mailbox = batch.mailbox
        synced = rows.synced
        with self._write() as cur:
            # 1. The contacts version, shared: no contact change runs while this batch does.
            version = _shared_version(cur, ws)
            if batch.contacts_version is not None and batch.contacts_version != version:
                raise StaleBatchError(
                    f"The contacts in {self.name!r} changed since the batch was planned."
                )
            # What this mailbox holds at the batch's locations (its own rows: no lock needed),
            # and which of the contacts the batch proposes are stored already. Under the
            # shared version row no stored contact can go, and contacts are only ever added,
            # so a contact found here is there for the whole batch.
            before: dict[str, tuple[str, bool]] = {}
            if rows.locations:
                cur.execute(
                    "SELECT location, message_key, synced FROM copies WHERE workspace = %s "
                    "AND mailbox_id = %s AND location = ANY(%b)",
                    (ws, mailbox.id, rows.locations),
                )
                before = {loc: (key, held) for loc, key, held in cur.fetchall()}
            existing: set[str] = set()
            if rows.contact_keys:
                cur.execute(_STORED_CONTACTS, (sorted(rows.contact_keys), ws))
                existing = {cid for (cid,) in cur.fetchall()}
            # 2. The key locks, in ascending order of their ids. Exclusive for the keys whose
            # owner this batch may change (the keys of the contacts it creates, the keys of
            # its owner changes to a contact not stored yet); shared for the keys it only
            # links, so batches that link the same customers run side by side; exclusive for
            # the messages it stores, replaces or lets go of.
            created = [c for c in rows.contacts if c.id not in existing]
            owners = [change for change in batch.owners if change.new not in existing]
            changing = {key for c in created for key in rows.contact_keys[c.id]}
            changing.update(change.key for change in owners)
            linked = rows.link_keys - changing
            message_keys = set(synced) | {key for key, _ in before.values()}
            locks: dict[int, bool] = {_lock_id("c", ws, _STEM.fold(k)): False for k in linked}
            locks.update((_lock_id("c", ws, _STEM.fold(k)), True) for k in changing)
            locks.update((_lock_id("m", ws, key), True) for key in message_keys)
            if locks:
                ids = sorted(locks)
                cur.execute(
                    "SELECT count(CASE WHEN x THEN pg_advisory_xact_lock(id) "
                    "ELSE pg_advisory_xact_lock_shared(id) END) "
                    "FROM unnest(%b::bigint[], %b::boolean[]) AS t(id, x)",
                    (ids, [locks[i] for i in ids]),
                )
            # 3. The rows, table by table.
            _record_settings(cur, ws, mailbox.id, "mailboxes", encode_mailbox(mailbox), batch.at)
            if batch.policy is not None:
                _record_settings(cur, ws, "", "policies", batch.policy, batch.at)
            _insert_companies(cur, ws, batch.companies)
            if created:
                # A contact another batch stored while this one waited for the keys' locks
                # stays as stored; the others are new, and copied in.
                cur.execute(_STORED_CONTACTS, (sorted(c.id for c in created), ws))
                stored_now = {cid for (cid,) in cur.fetchall()}
                _copy_contacts(
                    cur, ws, [rows.contact_rows[c.id] for c in created if c.id not in stored_now]
                )
            for direction, level in batch.levels:
                cur.execute(
                    "UPDATE copies SET level = %s WHERE workspace = %s AND mailbox_id = %s "
                    "AND direction = %s AND synced AND level <> %s",
                    (level.value, ws, mailbox.id, direction.value, level.value),
                )
            touched = {
                before[item.location][0]
                for item in batch.items
                if item.location in before and before[item.location][1]
            }
            _write_copies(cur, ws, mailbox.id, rows.copies, before)
            # Holding the key locks: every key's owner over the stored contacts. The keys whose
            # owner this batch may change are re-linked wherever they are stored; the batch's
            # own participants are written with their owners (see `_owners`).
            owner = _owners(cur, ws, canon, changing | linked)
            final = {key: owner.get(key) for key in changing}
            _relink_participants(cur, ws, final)
            relink_events(cur, ws, final)
            added, alone = _hold(cur, ws, rows, owner)
            if batch.gone:
                touched.update(before[loc][0] for loc in batch.gone if loc in before)
                cur.execute(
                    "DELETE FROM copies WHERE workspace = %s AND mailbox_id = %s "
                    "AND location = ANY(%b)",
                    (ws, mailbox.id, list(batch.gone)),
                )
            # The messages the batch lets go of for good: no mailbox holds a synced copy of
            # them any more (stable under their key locks: a synced copy needs the lock). Their
            # participants go now, before the thread lock: a batch holding a key's lock may
            # have re-linked one of them and be waiting for the thread lock, so the cascade of
            # the DELETE below, past the thread lock, would close a cycle.
            doomed: list[str] = []
            if touched:
                cur.execute(
                    "SELECT m.key FROM messages m WHERE m.workspace = %s AND m.key = ANY(%b) "
                    "AND NOT EXISTS (SELECT 1 FROM copies c WHERE c.workspace = m.workspace "
                    "AND c.message_key = m.key AND c.synced)",
                    (ws, sorted(touched)),
                )
                doomed = sorted(key for (key,) in cur.fetchall())
            if doomed:
                cur.execute(
                    "DELETE FROM participants WHERE workspace = %s AND message_key = ANY(%b)",
                    (ws, doomed),
                )
            # 4. The workspace's thread lock, last: threads change whole, one batch at a time.
            # Past it a batch deletes messages (under their key locks, their participants
            # gone already) and rewrites thread ids: rows no batch waiting for this lock has
            # locked, so no wait here closes a cycle.
            removed: list[tuple[ThreadFacts, str | None]] = []
            if added or doomed:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_id("t", ws, ""),))
            if doomed:
                cur.execute(
                    "DELETE FROM messages m WHERE m.workspace = %s AND m.key = ANY(%b) "
                    "AND NOT EXISTS (SELECT 1 FROM copies c WHERE c.workspace = m.workspace "
                    "AND c.message_key = m.key AND c.synced) "
                    "RETURNING m.key, m.thread_facts, m.thread_id",
                    (ws, doomed),
                )
                removed = [(decode_facts(k, f), t) for k, f, t in cur.fetchall()]
            _thread(cur, ws, added, removed, alone)
            _save_state(cur, ws, mailbox.id, batch.cursor, batch.state, batch.listing, keep=True)

    def _canonicalization(self, ws: str, policy: str | None) -> Canonicalization:
        """The canonicalisation of the batch's policy (else the recorded one, else none)."""
        if policy is None:
            found = self._read("SELECT settings FROM policies WHERE workspace = %s", (ws,))
            if not found:
                return Canonicalization()
            policy = str(found[0][0])
        canon = self._canon_cache.get(policy)
        if canon is None:
            try:
                canon = decode_policy(policy).canonicalization
            except (ValueError, KeyError, TypeError):
                canon = Canonicalization()
            if len(self._canon_cache) > 16:
                self._canon_cache.clear()
            self._canon_cache[policy] = canon
        return canon

    # --- Contacts -----------------------------------------------------------------------------

    def contacts_version(self, *, workspace: str = DEFAULT_WORKSPACE) -> int:
        rows = self._read(
            "SELECT version FROM contact_versions WHERE workspace = %s", (_workspace(workspace),)
        )
        return int(rows[0][0]) if rows else 0

    def contact_index(
        self,
        canonicalization: Canonicalization | None = None,
        *,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> ContactIndex:
        ws = _workspace(workspace)
        with self._snapshot() as cur:
            suppressed = [
                Suppression(key, SuppressionReason(reason), contact_id)
                for key, reason, contact_id in cur.execute(
                    "SELECT key, reason, contact_id FROM suppressions WHERE workspace = %s", (ws,)
                ).fetchall()
            ]
            address_rows = cur.execute(
                "SELECT contact_id, address FROM contact_addresses WHERE workspace = %s "
                "ORDER BY contact_id, position",
                (ws,),
            ).fetchall()
            contact_rows = cur.execute(
                "SELECT id, first_name, last_name, company_domain, created_at, deleted_at "
                "FROM contacts WHERE workspace = %s ORDER BY id",
                (ws,),
            ).fetchall()
        addresses: dict[str, list[Address]] = {}
        for contact_id, address in address_rows:
            addresses.setdefault(contact_id, []).append(_address_from_text(address))
        contacts = []
        for contact_id, first, last, company, created, deleted in contact_rows:
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
        return ContactIndex(contacts, canonicalization=canonicalization, suppressed=suppressed)

    def apply_contact_change(
        self, change: ContactChange, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        ws = _workspace(workspace)
        with self._write() as cur:
            # Exclusive on the version row: waits for the batches in flight, and refuses
            # (StaleBatchError) the ones planned before it.
            cur.execute(
                "INSERT INTO contact_versions (workspace, version) VALUES (%s, 1) "
                "ON CONFLICT (workspace) DO UPDATE SET version = contact_versions.version + 1",
                (ws,),
            )
            _insert_companies(cur, ws, change.companies)
            _insert_contacts(cur, ws, _contact_rows(change.saved), replace=True)
            _relink(cur, ws, change.owners)
            if change.destroyed:
                destroyed = sorted(change.destroyed)
                cur.execute(
                    "UPDATE participants SET contact_id = NULL WHERE workspace = %s "
                    "AND contact_id = ANY(%b)",
                    (ws, destroyed),
                )
                cur.execute(
                    "UPDATE event_participants SET contact_id = NULL WHERE workspace = %s "
                    "AND contact_id = ANY(%b)",
                    (ws, destroyed),
                )
                cur.execute(
                    "DELETE FROM contacts WHERE workspace = %s AND id = ANY(%b)", (ws, destroyed)
                )
            if change.lifted:
                cur.execute(
                    "DELETE FROM suppressions WHERE workspace = %s AND key = ANY(%b)",
                    (ws, list(change.lifted)),
                )
            if change.suppressed:
                cur.executemany(
                    "INSERT INTO suppressions (workspace, key, reason, contact_id) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (workspace, key) DO UPDATE SET "
                    "reason = excluded.reason, contact_id = excluded.contact_id",
                    [(ws, s.key, s.reason.value, s.contact_id) for s in change.suppressed],
                )

    def companies(self, *, workspace: str = DEFAULT_WORKSPACE) -> tuple[Company, ...]:
        """Every stored company, ordered by domain."""
        ws = _workspace(workspace)
        with self._snapshot() as cur:
            further: dict[str, list[str]] = {}
            for domain, company in cur.execute(
                "SELECT domain, company FROM company_domains WHERE workspace = %s "
                'AND domain <> company ORDER BY domain COLLATE "C"',
                (ws,),
            ).fetchall():
                further.setdefault(company, []).append(domain)
            rows = cur.execute(
                "SELECT domain, name FROM companies WHERE workspace = %s "
                'ORDER BY domain COLLATE "C"',
                (ws,),
            ).fetchall()
        return tuple(Company(d, name, tuple(further.get(d, ()))) for d, name in rows)

    def apply_company_change(
        self, change: CompanyChange, *, workspace: str = DEFAULT_WORKSPACE
    ) -> None:
        ws = _workspace(workspace)
        gone = sorted({*change.removed, *(c.domain for c in change.saved)})
        pairs = sorted({(d, c.domain) for c in change.saved for d in c.all_domains})
        try:
            with self._write() as cur:
                cur.execute(
                    "DELETE FROM company_domains WHERE workspace = %s AND company = ANY(%s)",
                    (ws, gone),
                )
                cur.execute(
                    "DELETE FROM companies WHERE workspace = %s AND domain = ANY(%s)",
                    (ws, sorted(change.removed)),
                )
                for company in change.saved:
                    cur.execute(
                        "INSERT INTO companies (workspace, domain, name) VALUES (%s, %s, %s) "
                        "ON CONFLICT (workspace, domain) DO UPDATE SET name = excluded.name",
                        (ws, company.domain, company.name),
                    )
                if pairs:
                    cur.execute(
                        "INSERT INTO company_domains (workspace, domain, company) "
                        "SELECT %s, d, c FROM unnest(%s::text[], %s::text[]) AS t(d, c)",
                        (ws, [d for d, _ in pairs], [c for _, c in pairs]),
                    )
        except StoreError as err:
            if isinstance(err.__cause__, pg_errors.UniqueViolation):
                raise StoreError(
                    f"The database {self.name!r} was not changed: two companies would hold "
                    "one domain."
                ) from err.__cause__
            raise

    def company_counts(self, *, workspace: str = DEFAULT_WORKSPACE) -> tuple[CompanyCount, ...]:
        ws = _workspace(workspace)
        contacts = dict(
            self._read(
                "SELECT d.company, count(*) FROM contacts c JOIN company_domains d "
                "ON d.workspace = c.workspace AND d.domain = c.company_domain "
                "WHERE c.workspace = %s GROUP BY d.company",
                (ws,),
            )
        )
        messages = dict(
            self._read(
                "SELECT d.company, count(DISTINCT p.message_key) FROM company_domains d "
                "JOIN participants p ON p.workspace = d.workspace AND p.domain = d.domain "
                "WHERE d.workspace = %s GROUP BY d.company",
                (ws,),
            )
        )
        return tuple(
            CompanyCount(c, contacts.get(c.domain, 0), messages.get(c.domain, 0))
            for c in self.companies(workspace=ws)
        )

    def contact(self, contact_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> Contact | None:
        found = self._some_contacts(_workspace(workspace), [contact_id])
        return found[0] if found else None

    def contacts_with_key(
        self, key: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[Contact, ...]:
        ws = _workspace(workspace)
        ids = [
            cid
            for (cid,) in self._read(
                "SELECT DISTINCT contact_id FROM contact_addresses WHERE workspace = %s "
                "AND stem = %s AND key = %s",
                (ws, _STEM.fold(key), key),
            )
        ]
        return tuple(self._some_contacts(ws, ids)) if ids else ()

    def _some_contacts(self, ws: str, ids: list[str]) -> list[Contact]:
        """The contacts with *ids*, by id (read in one snapshot)."""
        with self._snapshot() as cur:
            address_rows = cur.execute(
                "SELECT contact_id, address FROM contact_addresses WHERE workspace = %s "
                "AND contact_id = ANY(%s) ORDER BY contact_id, position",
                (ws, ids),
            ).fetchall()
            contact_rows = cur.execute(
                "SELECT id, first_name, last_name, company_domain, created_at, deleted_at "
                'FROM contacts WHERE workspace = %s AND id = ANY(%s) ORDER BY id COLLATE "C"',
                (ws, ids),
            ).fetchall()
        addresses: dict[str, list[Address]] = {}
        for contact_id, address in address_rows:
            addresses.setdefault(contact_id, []).append(_address_from_text(address))
        found = []
        for contact_id, first, last, company, created, deleted in contact_rows:
            primary, *additional = addresses[contact_id]
            found.append(
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
        return found

    # --- Reading ------------------------------------------------------------------------------

    def mailbox_messages(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> Iterator[StoredMessage]:
        ws = _workspace(workspace)
        keys = [
            key
            for (key,) in self._read(
                'SELECT DISTINCT message_key COLLATE "C" FROM copies WHERE workspace = %s '
                "AND mailbox_id = %s AND synced ORDER BY 1",
                (ws, mailbox_id),
            )
        ]
        for start in range(0, len(keys), _CHUNK):
            yield from self._load(ws, keys[start : start + _CHUNK])

    def messages_for_contact(
        self, contact_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredMessage, ...]:
        ws = _workspace(workspace)
        return self._ordered(
            ws,
            "SELECT DISTINCT message_key FROM participants WHERE workspace = %s "
            "AND contact_id = %s",
            (ws, contact_id),
        )

    def messages_for_company(
        self, domain: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[StoredMessage, ...]:
        ws = _workspace(workspace)
        return self._ordered(
            ws,
            "SELECT DISTINCT message_key FROM participants WHERE workspace = %s "
            "AND domain = ANY(%s)",
            (ws, self._company_domains(ws, domain)),
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
        return self._paged(
            ws, "participants", "contact_id = %s", [contact_id], "message_key", limit, after
        )

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
        return self._paged(
            ws, "participants", "domain = ANY(%s)", [domains], "message_key", limit, after
        )

    def thread_messages(
        self,
        thread_id: str,
        *,
        limit: int = 50,
        after: str | None = None,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> Page:
        ws = _workspace(workspace)
        return self._paged(ws, "messages", "thread_id = %s", [thread_id], "key", limit, after)

    def _paged(
        self,
        ws: str,
        table: str,
        where: str,
        values: list[Any],
        key: str,
        limit: int,
        after: str | None,
    ) -> Page:
        """A page of the messages of *table* rows matching *where*, by (sent_at, key) with
        keys compared as code points: the dated ones first, then the undated."""
        count, start = page_after(limit, after)
        ordered = f'{key} COLLATE "C"'
        # Table, column and condition are this module's constants; every value is a parameter.
        select = (
            f"SELECT DISTINCT sent_at, {ordered} FROM {table} WHERE workspace = %s AND {where} "  # noqa: S608
        )
        keys: list[str] = []
        if start is None or start[0] is not None:
            bound, params = "", [ws, *values]
            if start is not None:
                bound = f"AND (sent_at, {ordered}) > (%s, %s) "
                params += [start[0], start[1]]
            keys = [
                k
                for _, k in self._read(
                    select + "AND sent_at IS NOT NULL " + bound + f"ORDER BY sent_at, {ordered} "
                    "LIMIT %s",
                    [*params, count + 1],
                )
            ]
        if len(keys) <= count:
            bound, params = "", [ws, *values]
            if start is not None and start[0] is None:
                bound, params = f"AND {ordered} > %s ", [*params, start[1]]
            keys += [
                k
                for _, k in self._read(
                    select + "AND sent_at IS NULL " + bound + f"ORDER BY {ordered} LIMIT %s",
                    [*params, count + 1 - len(keys)],
                )
            ]
        shown = self._load(ws, keys[:count])
        more = len(keys) > count and bool(shown)
        return Page(tuple(shown), page_cursor(shown[-1].message) if more else None)

    def _ordered(self, ws: str, sql: str, params: tuple[Any, ...]) -> tuple[StoredMessage, ...]:
        keys = [key for (key,) in self._read(sql, params)]
        messages = [
            stored
            for start in range(0, len(keys), _CHUNK)
            for stored in self._load(ws, keys[start : start + _CHUNK])
        ]
        messages.sort(key=lambda stored: message_order(stored.message))
        return tuple(messages)

    def _decode(
        self, reader: DocumentReader, document: str, key: str, message_id: str | None
    ) -> Message:
        return reader.document(document, key, message_id)

    def _load(self, ws: str, keys: Sequence[str]) -> list[StoredMessage]:
        """The stored messages with *keys* (at most `_CHUNK`), in the order of *keys*."""
        with self._snapshot() as cur:
            rows = cur.execute(_LOAD, (ws, list(keys))).fetchall()
            settings = dict(
                cur.execute(
                    "SELECT id, settings FROM mailboxes WHERE workspace = %s", (ws,)
                ).fetchall()
            )
        found = {row[0]: row for row in rows}
        return self._stored(ws, [found[key] for key in keys if key in found], settings)


#: The rows `SqlReads._stored` builds stored messages from, for the messages of a workspace
#: (first parameter) whose keys are in a list (second): who holds each message and the
#: participants' contacts come as JSON text beside the document, NULL when there are none.
_LOAD = (
    "SELECT m.key, NULL, m.document, m.thread_id, m.message_id, "
    "(SELECT json_agg(json_build_array(c.mailbox_id, c.direction))::text FROM copies c "
    "WHERE c.workspace = m.workspace AND c.message_key = m.key AND c.synced), "
    "(SELECT json_object_agg(p.position, p.contact_id)::text FROM participants p "
    "WHERE p.workspace = m.workspace AND p.message_key = m.key AND p.contact_id IS NOT NULL) "
    "FROM messages m WHERE m.workspace = %s AND m.key = ANY(%s)"
)


# --- The statements of a batch -------------------------------------------------------------------


def _recorded(rows: list[Any]) -> Recorded | None:
    if not rows:
        return None
    settings, version, at = rows[0]
    return Recorded(settings, version, _parse_time(at))


def _shared_version(cur: psycopg.Cursor[Any], ws: str) -> int:
    """The workspace's contacts version, its row locked in share mode (made when missing)."""
    query = "SELECT version FROM contact_versions WHERE workspace = %s FOR SHARE"
    row = cur.execute(query, (ws,)).fetchone()
    if row is None:
        cur.execute(
            "INSERT INTO contact_versions (workspace, version) VALUES (%s, 0) "
            "ON CONFLICT DO NOTHING",
            (ws,),
        )
        row = cur.execute(query, (ws,)).fetchone()
    assert row is not None
    return int(row[0])


def _record_settings(
    cur: psycopg.Cursor[Any],
    ws: str,
    mailbox_id: str,
    table: str,
    settings: str,
    at: datetime | None,
) -> None:
    """Record *settings* for the mailbox (table ``mailboxes``) or the workspace (``policies``),
    with the next version and its log entry, when they differ from the recorded ones.

    The recorded row is read first without a lock: most batches change nothing, and the
    workspace's one ``policies`` row must not serialise them.
    """
    if table == "mailboxes":
        where = "workspace = %s AND id = %s"
        key: tuple[str, ...] = (ws, mailbox_id)
        insert = (
            "INSERT INTO mailboxes (workspace, id, settings, version, set_at) "
            "VALUES (%s, %s, %s, 1, %s) ON CONFLICT (workspace, id) DO UPDATE SET "
            "settings = excluded.settings, version = mailboxes.version + 1, "
            "set_at = excluded.set_at WHERE mailboxes.settings <> excluded.settings "
            "RETURNING version"
        )
        values: tuple[Any, ...] = (ws, mailbox_id, settings, _time(at))
    else:
        where, key = "workspace = %s", (ws,)
        insert = (
            "INSERT INTO policies (workspace, settings, version, set_at) "
            "VALUES (%s, %s, 1, %s) ON CONFLICT (workspace) DO UPDATE SET "
            "settings = excluded.settings, version = policies.version + 1, "
            "set_at = excluded.set_at WHERE policies.settings <> excluded.settings "
            "RETURNING version"
        )
        values = (ws, settings, _time(at))
    # The table and condition are one of the two fixed pairs above, never data.
    recorded = f"SELECT settings FROM {table} WHERE {where}"  # noqa: S608
    row = cur.execute(recorded, key).fetchone()
    if row is not None and row[0] == settings:
        return
    done = cur.execute(insert, values).fetchone()
    if done is None:  # another worker recorded the same settings meanwhile
        return
    cur.execute(
        "INSERT INTO settings_log (workspace, mailbox_id, version, set_at, settings) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (workspace, mailbox_id, version) DO UPDATE SET "
        "set_at = excluded.set_at, settings = excluded.settings",
        (ws, mailbox_id, int(done[0]), _time(at), settings),
    )


def _address_text(address: Address) -> str:
    return JSON.encode(address_record(address))


def _address_from_text(text: str) -> Address:
    return address_from_record(json.loads(text))


def _insert_companies(cur: psycopg.Cursor[Any], ws: str, companies: Iterable[Company]) -> None:
    """Store the companies whose domain no stored company holds yet."""
    given = {c.domain: c for c in reversed(list(companies))}
    if not given:
        return
    cur.execute(
        "SELECT domain FROM company_domains WHERE workspace = %s AND domain = ANY(%b)",
        (ws, sorted(given)),
    )
    held = {d for (d,) in cur.fetchall()}
    rows = sorted((d, c) for d, c in given.items() if d not in held)
    if rows:
        cur.execute(
            "INSERT INTO companies (workspace, domain, name) "
            "SELECT %s, d, n FROM unnest(%b::text[], %b::text[]) AS t(d, n) "
            "ON CONFLICT DO NOTHING",
            (ws, [d for d, _ in rows], [c.name for _, c in rows]),
        )
        pairs = sorted({(d, c.domain) for _, c in rows for d in c.all_domains})
        cur.execute(
            "INSERT INTO company_domains (workspace, domain, company) "
            "SELECT %s, d, c FROM unnest(%b::text[], %b::text[]) AS t(d, c) "
            "ON CONFLICT DO NOTHING",
            (ws, [d for d, _ in pairs], [c for _, c in pairs]),
        )


@dataclass(frozen=True, slots=True)
class _Rows:
    """What a batch writes, worked out by `_prepare` before its transaction opens, so that no
    lock is held while Python decides, encodes or formats a row."""

    #: The first synced item of each message key.
    synced: dict[str, BatchItem]
    #: The locations the batch writes or lets go of.
    locations: list[str]
    #: Every contact key the batch's participants link.
    link_keys: frozenset[str]
    #: The contacts the batch proposes, one per id, in id order.
    contacts: tuple[Contact, ...]
    #: Each proposed contact's keys under the batch's canonicalisation.
    contact_keys: dict[str, frozenset[str]]
    #: Each proposed contact's ``contacts`` row and ``contact_addresses`` rows.
    contact_rows: dict[str, tuple[tuple[Any, ...], list[tuple[Any, ...]]]]
    #: The ``copies`` rows from ``location`` on, by location (the last item at a location
    #: wins, as a replace in SQLite does).
    copies: list[tuple[Any, ...]]
    #: The facts and the ``messages`` row of each synced message not known to be stored.
    messages: dict[str, tuple[ThreadFacts, tuple[Any, ...]]]
    #: The thread id each of those messages has in the batch alone (`rethread` of them).
    alone: dict[str, str]
    #: The ``participants`` rows of each synced message, in position order.
    participants: dict[str, list[tuple[Any, ...]]]
    #: The contact each linked key was planned with.
    planned: dict[str, str | None]


def _prepare(batch: BatchResult, ws: str, canon: Canonicalization, stored: set[str]) -> _Rows:
    """The rows of *batch*, messages in *stored* (known to be stored) left unencoded."""
    synced: dict[str, BatchItem] = {}
    for item in batch.items:
        if item.decision.synced:
            synced.setdefault(item.message.key, item)
    latest = {item.location: item for item in batch.items}
    # Most copies of a batch share their reasons: each set is written out once.
    reasons: dict[tuple[Reason, ...], str] = {}
    rows = []
    for location in sorted(latest):
        item = latest[location]
        decision = item.decision
        text = reasons.get(decision.reasons)
        if text is None:
            text = reasons[decision.reasons] = _reasons_text(decision.reasons)
        rows.append(
            (
                location,
                item.message.key,
                item.message.message_id,
                decision.synced,
                text,
                decision.direction.value,
                decision.level.value,
                " ".join(sorted(f.value for f in item.flags)) if item.flags else "",
            )
        )
    messages = {
        key: _message_row(ws, item.message) for key, item in synced.items() if key not in stored
    }
    planned: dict[str, str | None] = {}
    participants: dict[str, list[tuple[Any, ...]]] = {}
    domains: dict[str, str | None] = {}
    for key, item in synced.items():
        when = sort_time(item.message)
        found = participants[key] = []
        for link in item.links:
            planned[link.key] = link.contact_id
            domain = domains.get(link.key, "")
            if domain == "":
                domain = domains[link.key] = link_domain(link.key)
            found.append((ws, key, link.position, link.key, link.contact_id, domain, when))
    contacts = tuple(sorted({c.id: c for c in batch.contacts}.values(), key=lambda c: c.id))
    return _Rows(
        synced,
        [item.location for item in batch.items] + list(batch.gone),
        frozenset(planned),
        contacts,
        {c.id: frozenset(canon.key(a) for a in c.addresses) for c in contacts},
        _contact_rows(contacts),
        rows,
        messages,
        rethread({}, [f for f, _ in messages.values()]) if messages else {},
        participants,
        planned,
    )


def _reasons_text(reasons: Iterable[Reason]) -> str:
    """The ``reasons`` column of a copy: its decision's reasons, but the reuse of a Message-ID."""
    return " ".join(r.value for r in reasons if r is not Reason.MESSAGE_ID_REUSED)


def _message_row(ws: str, message: Message) -> tuple[ThreadFacts, tuple[Any, ...]]:
    """A new message's thread facts and its ``messages`` row (without a thread id yet)."""
    facts = thread_facts(message)
    return facts, (
        ws,
        message.key,
        message.message_id,
        sort_time(message),
        encode_document(message),
        encode_facts(facts),
        _fallback(facts),
    )


def _contact_rows(
    contacts: Iterable[Contact],
) -> dict[str, tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """Each contact's ``contacts`` row (without the workspace) and ``contact_addresses`` rows."""
    return {
        c.id: (
            (
                c.id,
                c.first_name,
                c.last_name,
                c.company_domain,
                _time(c.created_at),
                _time(c.deleted_at),
            ),
            [
                (c.id, position, address.key, _STEM.fold(address.key), _address_text(address))
                for position, address in enumerate(c.addresses)
            ],
        )
        for c in contacts
    }


def _insert_contacts(
    cur: psycopg.Cursor[Any],
    ws: str,
    rows: dict[str, tuple[tuple[Any, ...], list[tuple[Any, ...]]]],
    *,
    replace: bool,
) -> None:
    """Store the contacts of *rows* (`_contact_rows`); with *replace*, over the stored ones."""
    if not rows:
        return
    ordered = [rows[cid] for cid in sorted(rows)]
    conflict = (
        "DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name, "
        "company_domain = excluded.company_domain, created_at = excluded.created_at, "
        "deleted_at = excluded.deleted_at"
        if replace
        else "DO NOTHING"
    )
    cur.execute(
        "INSERT INTO contacts (workspace, id, first_name, last_name, company_domain, "  # noqa: S608
        "created_at, deleted_at) SELECT %s, * FROM unnest(%b::text[], %b::text[], %b::text[], "
        f"%b::text[], %b::text[], %b::text[]) ON CONFLICT (workspace, id) {conflict} "
        "RETURNING id",
        (ws, *(list(column) for column in zip(*(row for row, _ in ordered), strict=True))),
    )
    written = {cid for (cid,) in cur.fetchall()}
    if replace:
        cur.execute(
            "DELETE FROM contact_addresses WHERE workspace = %s AND contact_id = ANY(%b)",
            (ws, sorted(rows)),
        )
    # The addresses of the contacts just written (or replaced) have no row yet: COPY them. A
    # contact stored before keeps its addresses, and gains only positions it lacked.
    if written:
        with cur.copy(
            "COPY contact_addresses (workspace, contact_id, position, key, stem, address) "
            "FROM STDIN"
        ) as copy:
            for cid in sorted(written):
                for address in rows[cid][1]:
                    copy.write_row((ws, *address))
    others = [address for cid in sorted(rows) if cid not in written for address in rows[cid][1]]
    if others:
        cur.execute(
            "INSERT INTO contact_addresses (workspace, contact_id, position, key, stem, address) "
            "SELECT %s, * FROM unnest(%b::text[], %b::integer[], %b::text[], %b::text[], "
            "%b::text[]) ON CONFLICT DO NOTHING",
            (ws, *(list(column) for column in zip(*others, strict=True))),
        )


def _relink(cur: psycopg.Cursor[Any], ws: str, owners: Iterable[OwnerChange]) -> None:
    """Link every stored participant (and event participant) with each key to its new owner."""
    final = {change.key: change.new for change in owners}
    relink_events(cur, ws, final)
    _relink_participants(cur, ws, final)


def _copy_contacts(
    cur: psycopg.Cursor[Any], ws: str, rows: list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]
) -> None:
    """Store contacts not stored yet (`_contact_rows`, looked up under their keys' locks) and
    their addresses, by COPY."""
    if not rows:
        return
    with cur.copy(
        "COPY contacts (workspace, id, first_name, last_name, company_domain, created_at, "
        "deleted_at) FROM STDIN"
    ) as copy:
        for row, _ in rows:
            copy.write_row((ws, *row))
    with cur.copy(
        "COPY contact_addresses (workspace, contact_id, position, key, stem, address) FROM STDIN"
    ) as copy:
        for _, addresses in rows:
            for address in addresses:
                copy.write_row((ws, *address))


def _write_copies(
    cur: psycopg.Cursor[Any],
    ws: str,
    mailbox_id: str,
    rows: list[tuple[Any, ...]],
    before: dict[str, tuple[str, bool]],
) -> None:
    """Store the copy *rows* (`_Rows.copies`): the ones at a location the mailbox had a copy at
    (*before*) replace it; the others are new, and copied in. (Only this mailbox writes its
    copies; one written by another sync of it since *before* was read makes the copy fail,
    and the batch is tried again.)"""
    new = [row for row in rows if row[0] not in before]
    if new:
        with cur.copy(
            "COPY copies (workspace, mailbox_id, location, message_key, message_id, synced, "
            "reasons, direction, level, flags) FROM STDIN"
        ) as copy:
            for row in new:
                copy.write_row((ws, mailbox_id, *row))
    if len(new) == len(rows):
        return
    columns = [list(column) for column in zip(*(r for r in rows if r[0] in before), strict=True)]
    cur.execute(
        "INSERT INTO copies (workspace, mailbox_id, location, message_key, message_id, synced, "
        "reasons, direction, level, flags) SELECT %s, %s, * FROM unnest(%b::text[], %b::text[], "
        "%b::text[], %b::boolean[], %b::text[], %b::text[], %b::text[], %b::text[]) "
        "ON CONFLICT (workspace, mailbox_id, location) DO UPDATE SET "
        "message_key = excluded.message_key, message_id = excluded.message_id, "
        "synced = excluded.synced, reasons = excluded.reasons, direction = excluded.direction, "
        "level = excluded.level, flags = excluded.flags",
        (ws, mailbox_id, *columns),
    )


def _hold(
    cur: psycopg.Cursor[Any], ws: str, rows: _Rows, owner: dict[str, str | None]
) -> tuple[list[ThreadFacts], dict[str, str]]:
    """Store the synced messages not yet stored, and their participants linked to *owner*
    (by COPY); the thread facts of the new messages and the thread ids they were stored with.

    A new message is stored with the thread id its batch alone gives it; `_thread`, under the
    thread lock, rewrites the ones that join a stored thread.
    """
    synced = rows.synced
    if not synced:
        return [], {}
    keys = sorted(synced)
    cur.execute(_STORED_KEYS, (keys, ws))
    stored = {key for (key,) in cur.fetchall()}
    new = [
        rows.messages.get(key) or _message_row(ws, synced[key].message)
        for key in keys
        if key not in stored
    ]
    threads = rows.alone
    if len(new) != len(rows.messages) or any(f.key not in threads for f, _ in new):
        threads = rethread({}, [f for f, _ in new]) if new else {}  # the hint was stale
    if new:
        with cur.copy(
            "COPY messages (workspace, key, message_id, sent_at, document, thread_facts, "
            "thread_subject, thread_id) FROM STDIN"
        ) as copy:
            for f, row in new:
                copy.write_row((*row, threads[f.key]))
        with cur.copy("COPY thread_nodes (workspace, node, message_key) FROM STDIN") as copy:
            for f, _ in new:
                for node in dict.fromkeys((f.node, *f.cited)):
                    copy.write_row((ws, node, f.key))
    if stored:
        cur.execute(
            "DELETE FROM participants WHERE workspace = %s AND message_key = ANY(%b)",
            (ws, sorted(stored)),
        )
    # Links planned before another batch created a contact for their key take its owner.
    moved = {key: found for key, found in owner.items() if found != rows.planned.get(key)}
    with cur.copy(
        "COPY participants (workspace, message_key, position, key, contact_id, domain, sent_at) "
        "FROM STDIN"
    ) as copy:
        for key in keys:
            for row in rows.participants[key]:
                if moved and row[3] in moved:
                    row = (*row[:4], moved[row[3]], *row[5:])
                copy.write_row(row)
    return [f for f, _ in new], threads


def _fallback(facts: ThreadFacts) -> str | None:
    """The subject key a message takes part in the subject fallback with, or None."""
    return facts.subject if facts.kind is not None else None


#: Which of the ids given (a text array, then the workspace) are stored contacts: id by id
#: through the primary key (see the module's invariants).
_STORED_CONTACTS = (
    "SELECT c.id FROM unnest(%b::text[]) AS v(id) CROSS JOIN LATERAL "
    "(SELECT id FROM contacts WHERE workspace = %s AND id = v.id OFFSET 0) c"
)
#: Which of the keys given (a text array, then the workspace) are stored messages: key by key
#: through the primary key (see the module's invariants).
_STORED_KEYS = (
    "SELECT m.key FROM unnest(%b::text[]) AS v(key) CROSS JOIN LATERAL "
    "(SELECT key FROM messages WHERE workspace = %s AND key = v.key OFFSET 0) m"
)


def _thread(
    cur: psycopg.Cursor[Any],
    ws: str,
    added: Sequence[ThreadFacts],
    removed: Sequence[tuple[ThreadFacts, str | None]],
    alone: dict[str, str],
) -> None:
    """Rewrite every thread id the batch's new and removed messages changed
    (`mailbind.rethreading`), its new messages' included (stored by `_hold` with the ids
    *alone* the batch gives them)."""
    if not added and not removed:
        return
    ours = alone.keys()
    query = thread_query([*added, *(f for f, _ in removed)])
    threads = {thread for _, thread in removed if thread is not None}
    cur.execute(
        "SELECT m.thread_id, m.key FROM unnest(%b::text[]) AS v(node) CROSS JOIN LATERAL "
        "(SELECT m.thread_id, m.key FROM thread_nodes n JOIN messages m "
        "ON m.workspace = n.workspace AND m.key = n.message_key "
        "WHERE n.workspace = %s AND n.node = v.node AND m.thread_id IS NOT NULL OFFSET 0) m",
        (sorted(query.nodes), ws),
    )
    threads.update(t for t, k in cur.fetchall() if k not in ours)
    if query.subjects:
        cur.execute(
            "SELECT m.thread_id, m.key FROM unnest(%b::text[]) AS v(subject) CROSS JOIN LATERAL "
            "(SELECT thread_id, key FROM messages WHERE workspace = %s "
            "AND thread_subject = v.subject AND thread_subject IS NOT NULL "
            "AND thread_id IS NOT NULL OFFSET 0) m",
            (sorted(query.subjects), ws),
        )
        threads.update(t for t, k in cur.fetchall() if k not in ours)
    context: dict[str, tuple[ThreadFacts, str | None]] = {}
    if threads:
        cur.execute(
            "SELECT m.key, m.thread_facts, m.thread_id FROM unnest(%b::text[]) AS v(thread) "
            "CROSS JOIN LATERAL (SELECT key, thread_facts, thread_id FROM messages "
            "WHERE workspace = %s AND thread_id = v.thread OFFSET 0) m",
            (sorted(threads), ws),
        )
        context = {k: (decode_facts(k, f), t) for k, f, t in cur.fetchall() if k not in ours}
    if not context and not removed:
        return  # the new messages reach no stored thread: they keep their ids
    changes = {
        key: thread
        for key, thread in rethread(context, added, [f.key for f, _ in removed]).items()
        if alone.get(key) != thread
    }
    if changes:
        ordered = sorted(changes)
        cur.execute(
            "UPDATE messages m SET thread_id = c.thread "
            "FROM unnest(%b::text[], %b::text[]) AS c(key, thread) "
            "WHERE m.workspace = %s AND m.key = c.key",
            (ordered, [changes[k] for k in ordered], ws),
        )


def _owners(
    cur: psycopg.Cursor[Any], ws: str, canon: Canonicalization, keys: set[str]
) -> dict[str, str | None]:
    """The owner of each of *keys* over the stored contacts, as `resolve_contact` names it.

    Read holding the keys' locks, so every contact that claims one of them is seen: the owner
    differs from the one the batch was planned with only when another batch, committed after
    this one was planned, created a contact for the key.
    """
    if not keys:
        return {}
    cur.execute(
        "SELECT a.contact_id, a.position, a.key, a.created_at "
        "FROM unnest(%b::text[]) AS v(stem) CROSS JOIN LATERAL "
        "(SELECT a.contact_id, a.position, a.key, c.created_at "
        "FROM contact_addresses a JOIN contacts c "
        "ON c.workspace = a.workspace AND c.id = a.contact_id "
        "WHERE a.workspace = %s AND a.stem = v.stem OFFSET 0) a",
        (sorted({_STEM.fold(key) for key in keys}), ws),
    )
    primary: dict[str, str] = {}
    claims: dict[str, set[str]] = {}
    created: dict[str, datetime] = {}
    for contact_id, position, key, created_at in cur.fetchall():
        folded = canon.fold(key)
        if contact_id not in created:
            created[contact_id] = datetime.fromisoformat(created_at)
        if position == 0:
            primary[contact_id] = folded
        if folded in keys:
            claims.setdefault(folded, set()).add(contact_id)
    found: dict[str, str | None] = dict.fromkeys(keys)
    for key, candidates in claims.items():
        found[key] = min(candidates, key=lambda cid: (primary.get(cid) != key, created[cid], cid))
    return found


def _relink_participants(cur: psycopg.Cursor[Any], ws: str, owner: dict[str, str | None]) -> None:
    """Link every stored participant with a key of *owner* to that key's owner."""
    relink_by_key(cur, ws, "participants", "message_key", owner)


def _save_state(
    cur: psycopg.Cursor[Any],
    ws: str,
    mailbox_id: str,
    cursor: str | None,
    state: SyncState,
    listing: str | None,
    *,
    keep: bool,
) -> None:
    """Store the mailbox's state; with *keep*, a None *listing* keeps the stored one."""
    kept = "COALESCE(excluded.listing, sync_state.listing)" if keep else "excluded.listing"
    cur.execute(
        "INSERT INTO sync_state (workspace, mailbox_id, cursor, status, last_success, "  # noqa: S608
        "last_failure, failures, error, requested, listing) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (workspace, mailbox_id) DO UPDATE SET cursor = excluded.cursor, "
        "status = excluded.status, last_success = excluded.last_success, "
        "last_failure = excluded.last_failure, failures = excluded.failures, "
        f"error = excluded.error, requested = excluded.requested, listing = {kept}",
        (
            ws,
            mailbox_id,
            cursor,
            state.status.value,
            _time(state.last_success),
            _time(state.last_failure),
            state.failures,
            state.error,
            state.requested,
            listing,
        ),
    )
