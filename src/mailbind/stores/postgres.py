"""PostgresStore: the store for CRM backends, on PostgreSQL through psycopg 3.

Invariants:
- Every query is parameterised: nothing read from a message ever becomes SQL text.
- Every table has the workspace as the first column of its primary key; no statement reads
  or writes a row of another workspace.
- Each `apply_batch` and each `apply_contact_change` is one transaction (READ COMMITTED), the
  cursor included: a crash or a killed worker leaves either the whole batch or none of it.
- Several workers may apply batches of different mailboxes of one workspace at once. A batch
  takes, in this order and each set in ascending order, so no two batches can wait on each
  other in a cycle:
  1. a share lock on its workspace's ``contact_versions`` row (a contact change takes it
     exclusively, so user changes and batches never interleave, and a batch planned against
     an older version is refused with `StaleBatchError`);
  2. transaction-scoped advisory locks, one per contact key it links, re-links or creates a
     contact for (by the key's *stem*, its most folded form) and one per message it stores,
     replaces or lets go of;
  3. the rows it writes, table by table in a fixed order, each table's rows in key order.
  Under the key locks it re-reads the contacts that claim its keys and re-links any key whose
  owner another batch changed after this one was planned, so no link is lost; contact ids are
  derived from addresses, so two batches creating one contact store it once.
- The schema carries its version in ``mailbind_schema``; the first use applies the missing
  steps of `MIGRATIONS` in order, in one transaction under an advisory lock (so workers
  starting together migrate once). A newer schema is refused.
- Every psycopg failure surfaces as a `StoreError` naming the database (never its password),
  raised from the original error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
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
    address_from_record,
    address_record,
    decode_mailbox,
    decode_message,
    decode_policy,
    encode_mailbox,
    encode_message,
)
from ..contacts import Contact, ContactIndex, OwnerChange, Suppression, SuppressionReason
from ..errors import StoreError
from ..identity import with_reuse
from ..messages import Direction, Flag, SharingLevel
from ..policy import Mailbox
from ..rules import Decision, Holding, Reason
from ..schedule import SyncState, SyncStatus
from ..store import (
    DEFAULT_WORKSPACE,
    BatchItem,
    BatchResult,
    Company,
    ContactChange,
    CopyCount,
    MailboxState,
    Recorded,
    StaleBatchError,
    StoredDecision,
    StoredMessage,
    holding_direction,
    message_order,
    sort_time,
)
from ._postgres_events import CALENDAR_STATE, EVENT_TABLES, PostgresEvents, relink_events

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "PostgresStore", "migrate"]

#: Most messages read from the database at once.
_CHUNK = 500
#: How often a batch is tried again after the server broke a deadlock or a serialisation
#: conflict (neither should happen under the lock order above; this is a safety net).
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
    Migration(
        3,
        "A sync state for each calendar (back-off after a failed pass, as a mailbox's)",
        CALENDAR_STATE,
    ),
)

#: The schema version this mailbind writes.
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
                    cur.execute(
                        "INSERT INTO mailbind_schema (version, description) VALUES (%s, %s)",
                        (step.version, step.description),
                    )
    except psycopg.Error as err:
        raise StoreError(f"The database {name!r} could not be upgraded: {err}.") from err
    return current


class PostgresStore(PostgresEvents):
    """A `Store` (and an `EventStore`) in a PostgreSQL database: for CRM backends with many users
    and workers.

    *database* is a connection string (``"postgresql://crm@db/crm"`` or
    ``"host=db dbname=crm"``; a password comes from ``PGPASSWORD`` or ``~/.pgpass`` as libpq
    reads them), an open ``psycopg.Connection`` (the caller keeps it and closes it), or a
    ``psycopg_pool.ConnectionPool`` (each call borrows a connection). The tables live in the
    connection's current schema (``options=-csearch_path=...`` in the connection string picks
    another). The schema is created or upgraded on first use.
    """

    def __init__(self, database: str | psycopg.Connection[Any] | _Pool) -> None:
        self._mailbox_cache: dict[tuple[str, str], tuple[str, Mailbox]] = {}
        self._canon_cache: dict[str, Canonicalization] = {}
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
        _insert_contacts(cur, ws, batch.contacts, replace=False)

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
        for attempt in range(_RETRIES):
            try:
                self._apply_batch(batch, ws)
                return
            except StoreError as err:
                retry = isinstance(
                    err.__cause__, pg_errors.DeadlockDetected | pg_errors.SerializationFailure
                )
                if not retry or attempt == _RETRIES - 1:
                    raise

    def _apply_batch(self, batch: BatchResult, ws: str) -> None:
        mailbox = batch.mailbox
        synced: dict[str, BatchItem] = {}
        for item in batch.items:
            if item.decision.synced:
                synced.setdefault(item.message.key, item)
        with self._write() as cur:
            # 1. The contacts version, shared: no contact change runs while this batch does.
            version = _shared_version(cur, ws)
            if batch.contacts_version is not None and batch.contacts_version != version:
                raise StaleBatchError(
                    f"The contacts in {self.name!r} changed since the batch was planned."
                )
            # What this mailbox holds at the batch's locations (its own rows: no lock needed).
            wanted = [item.location for item in batch.items] + list(batch.gone)
            before: dict[str, tuple[str, bool]] = {}
            if wanted:
                cur.execute(
                    "SELECT location, message_key, synced FROM copies WHERE workspace = %s "
                    "AND mailbox_id = %s AND location = ANY(%s)",
                    (ws, mailbox.id, wanted),
                )
                before = {loc: (key, held) for loc, key, held in cur.fetchall()}
            canon = self._canonicalization(cur, ws, batch.policy)
            # 2. The key locks, in ascending order.
            keys = {link.key for item in synced.values() for link in item.links}
            keys.update(change.key for change in batch.owners)
            keys.update(canon.key(a) for c in batch.contacts for a in c.addresses)
            message_keys = set(synced) | {key for key, _ in before.values()}
            locks = sorted(
                {_lock_id("c", ws, _STEM.fold(key)) for key in keys}
                | {_lock_id("m", ws, key) for key in message_keys}
            )
            if locks:
                cur.execute(
                    "SELECT count(pg_advisory_xact_lock(id)) FROM unnest(%s::bigint[]) AS id",
                    (locks,),
                )
            # 3. The rows, table by table.
            _record_settings(cur, ws, mailbox.id, "mailboxes", encode_mailbox(mailbox), batch.at)
            if batch.policy is not None:
                _record_settings(cur, ws, "", "policies", batch.policy, batch.at)
            _insert_companies(cur, ws, batch.companies)
            _insert_contacts(cur, ws, batch.contacts, replace=False)
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
            _upsert_copies(cur, ws, mailbox.id, batch.items)
            _hold(cur, ws, synced)
            _relink(cur, ws, batch.owners)
            if batch.gone:
                touched.update(before[loc][0] for loc in batch.gone if loc in before)
                cur.execute(
                    "DELETE FROM copies WHERE workspace = %s AND mailbox_id = %s "
                    "AND location = ANY(%s)",
                    (ws, mailbox.id, list(batch.gone)),
                )
            if touched:
                cur.execute(
                    "DELETE FROM messages m WHERE m.workspace = %s AND m.key = ANY(%s) "
                    "AND NOT EXISTS (SELECT 1 FROM copies c WHERE c.workspace = m.workspace "
                    "AND c.message_key = m.key AND c.synced)",
                    (ws, sorted(touched)),
                )
            _reconcile(cur, ws, canon, keys, synced, batch.owners)
            _save_state(cur, ws, mailbox.id, batch.cursor, batch.state, batch.listing, keep=True)

    def _canonicalization(
        self, cur: psycopg.Cursor[Any], ws: str, policy: str | None
    ) -> Canonicalization:
        """The canonicalisation of the batch's policy (else the recorded one, else none)."""
        if policy is None:
            cur.execute("SELECT settings FROM policies WHERE workspace = %s", (ws,))
            row = cur.fetchone()
            if row is None:
                return Canonicalization()
            policy = str(row[0])
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
            _insert_contacts(cur, ws, change.saved, replace=True)
            _relink(cur, ws, change.owners)
            if change.destroyed:
                destroyed = sorted(change.destroyed)
                cur.execute(
                    "UPDATE participants SET contact_id = NULL WHERE workspace = %s "
                    "AND contact_id = ANY(%s)",
                    (ws, destroyed),
                )
                cur.execute(
                    "UPDATE event_participants SET contact_id = NULL WHERE workspace = %s "
                    "AND contact_id = ANY(%s)",
                    (ws, destroyed),
                )
                cur.execute(
                    "DELETE FROM contacts WHERE workspace = %s AND id = ANY(%s)", (ws, destroyed)
                )
            if change.lifted:
                cur.execute(
                    "DELETE FROM suppressions WHERE workspace = %s AND key = ANY(%s)",
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
        rows = self._read(
            'SELECT domain, name FROM companies WHERE workspace = %s ORDER BY domain COLLATE "C"',
            (_workspace(workspace),),
        )
        return tuple(Company(domain, name) for domain, name in rows)

    # --- Reading ------------------------------------------------------------------------------

    def _mailbox(self, ws: str, mailbox_id: str, settings: str) -> Mailbox:
        cached = self._mailbox_cache.get((ws, mailbox_id))
        if cached is not None and cached[0] == settings:
            return cached[1]
        mailbox = decode_mailbox(settings)
        self._mailbox_cache[(ws, mailbox_id)] = (settings, mailbox)
        return mailbox

    def mailboxes(self, *, workspace: str = DEFAULT_WORKSPACE) -> tuple[Mailbox, ...]:
        ws = _workspace(workspace)
        rows = self._read(
            'SELECT id, settings FROM mailboxes WHERE workspace = %s ORDER BY id COLLATE "C"',
            (ws,),
        )
        return tuple(self._mailbox(ws, mailbox_id, settings) for mailbox_id, settings in rows)

    def decisions(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> Iterator[StoredDecision]:
        ws = _workspace(workspace)
        reused = frozenset(
            message_id
            for (message_id,) in self._read(
                "SELECT message_id FROM copies WHERE workspace = %s AND message_id IS NOT NULL "
                "GROUP BY message_id HAVING COUNT(DISTINCT message_key) > 1",
                (ws,),
            )
        )
        rows = self._read(
            "SELECT message_key, synced, reasons, direction, level, location, flags FROM copies "
            "WHERE workspace = %s AND mailbox_id = %s "
            'ORDER BY message_key COLLATE "C", location COLLATE "C"',
            (ws, mailbox_id),
        )
        for key, synced, reasons, direction, level, location, flags in rows:
            decision = Decision(
                bool(synced),
                tuple(Reason(r) for r in reasons.split()),
                Direction(direction),
                SharingLevel(level),
            )
            copy = StoredDecision(
                mailbox_id, key, decision, location, frozenset(Flag(f) for f in flags.split())
            )
            yield with_reuse(copy, reused)

    def copy_counts(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[CopyCount, ...]:
        counts = [
            CopyCount(Direction(direction), SharingLevel(level), bool(synced), count)
            for direction, level, synced, count in self._read(
                "SELECT direction, level, synced, count(*) FROM copies "
                "WHERE workspace = %s AND mailbox_id = %s GROUP BY direction, level, synced",
                (_workspace(workspace), mailbox_id),
            )
        ]
        return tuple(sorted(counts))

    def locations(self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> dict[str, str]:
        return dict(
            self._read(
                "SELECT location, message_key FROM copies WHERE workspace = %s AND mailbox_id = %s",
                (_workspace(workspace), mailbox_id),
            )
        )

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
            "SELECT DISTINCT p.message_key FROM participants p "
            "JOIN contacts c ON c.workspace = p.workspace AND c.id = p.contact_id "
            "WHERE p.workspace = %s AND c.company_domain = %s",
            (ws, domain.lower()),
        )

    def _ordered(self, ws: str, sql: str, params: tuple[str, ...]) -> tuple[StoredMessage, ...]:
        keys = [key for (key,) in self._read(sql, params)]
        messages = [
            stored
            for start in range(0, len(keys), _CHUNK)
            for stored in self._load(ws, keys[start : start + _CHUNK])
        ]
        messages.sort(key=lambda stored: message_order(stored.message))
        return tuple(messages)

    def _load(self, ws: str, keys: Sequence[str]) -> list[StoredMessage]:
        """The stored messages with *keys* (at most `_CHUNK`), in the order of *keys*."""
        wanted = (ws, list(keys))
        with self._snapshot() as cur:
            documents = dict(
                cur.execute(
                    "SELECT key, document FROM messages WHERE workspace = %s AND key = ANY(%s)",
                    wanted,
                ).fetchall()
            )
            copies = cur.execute(
                "SELECT DISTINCT message_key, mailbox_id, direction FROM copies "
                "WHERE workspace = %s AND synced AND message_key = ANY(%s)",
                wanted,
            ).fetchall()
            settings = dict(
                cur.execute(
                    "SELECT id, settings FROM mailboxes WHERE workspace = %s", (ws,)
                ).fetchall()
            )
            links = cur.execute(
                "SELECT message_key, position, contact_id FROM participants WHERE workspace = %s "
                "AND message_key = ANY(%s)",
                wanted,
            ).fetchall()
        directions: dict[str, dict[str, set[Direction]]] = {}
        for key, mailbox_id, direction in copies:
            directions.setdefault(key, {}).setdefault(mailbox_id, set()).add(Direction(direction))
        owners: dict[str, dict[int, str | None]] = {}
        for key, position, contact_id in links:
            owners.setdefault(key, {})[position] = contact_id
        loaded = []
        for key in keys:
            document = documents.get(key)
            if document is None:
                continue
            message = decode_message(document)
            holdings = []
            for mailbox_id, held in sorted(directions.get(key, {}).items()):
                mailbox = self._mailbox(ws, mailbox_id, settings[mailbox_id])
                holdings.append(Holding(mailbox, holding_direction(mailbox, held)))
            linked = owners.get(key, {})
            contacts = tuple(linked.get(i) for i in range(len(message.participants)))
            loaded.append(StoredMessage(message, tuple(holdings), contacts))
        return loaded


# --- The statements of a batch -------------------------------------------------------------------


def _workspace(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise StoreError(f"A workspace must be a non-empty string, not {value!r}.")
    return value


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
    rows = sorted({c.domain: c.name for c in reversed(list(companies))}.items())
    if rows:
        cur.execute(
            "INSERT INTO companies (workspace, domain, name) "
            "SELECT %s, d, n FROM unnest(%s::text[], %s::text[]) AS t(d, n) "
            "ON CONFLICT DO NOTHING",
            (ws, [d for d, _ in rows], [n for _, n in rows]),
        )


def _insert_contacts(
    cur: psycopg.Cursor[Any], ws: str, contacts: Iterable[Contact], *, replace: bool
) -> None:
    ordered = sorted({c.id: c for c in contacts}.values(), key=lambda c: c.id)
    if not ordered:
        return
    columns = (
        [c.id for c in ordered],
        [c.first_name for c in ordered],
        [c.last_name for c in ordered],
        [c.company_domain for c in ordered],
        [_time(c.created_at) for c in ordered],
        [_time(c.deleted_at) for c in ordered],
    )
    conflict = (
        "DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name, "
        "company_domain = excluded.company_domain, created_at = excluded.created_at, "
        "deleted_at = excluded.deleted_at"
        if replace
        else "DO NOTHING"
    )
    cur.execute(
        "INSERT INTO contacts (workspace, id, first_name, last_name, company_domain, "  # noqa: S608
        "created_at, deleted_at) SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::text[], "
        f"%s::text[], %s::text[], %s::text[]) ON CONFLICT (workspace, id) {conflict}",
        (ws, *columns),
    )
    if replace:
        cur.execute(
            "DELETE FROM contact_addresses WHERE workspace = %s AND contact_id = ANY(%s)",
            (ws, columns[0]),
        )
    rows = [
        (c.id, position, address.key, _STEM.fold(address.key), _address_text(address))
        for c in ordered
        for position, address in enumerate(c.addresses)
    ]
    cur.execute(
        "INSERT INTO contact_addresses (workspace, contact_id, position, key, stem, address) "
        "SELECT %s, * FROM unnest(%s::text[], %s::integer[], %s::text[], %s::text[], %s::text[]) "
        "ON CONFLICT DO NOTHING",
        (ws, *(list(column) for column in zip(*rows, strict=True))),
    )


def _relink(cur: psycopg.Cursor[Any], ws: str, owners: Iterable[OwnerChange]) -> None:
    final = {change.key: change.new for change in owners}
    relink_events(cur, ws, final)
    if final:
        keys = sorted(final)
        cur.execute(
            "UPDATE participants p SET contact_id = o.owner "
            "FROM unnest(%s::text[], %s::text[]) AS o(key, owner) "
            "WHERE p.workspace = %s AND p.key = o.key",
            (keys, [final[k] for k in keys], ws),
        )


def _upsert_copies(
    cur: psycopg.Cursor[Any], ws: str, mailbox_id: str, items: Sequence[BatchItem]
) -> None:
    if not items:
        return
    # The last item at a location wins, as a replace in SQLite does.
    latest = {item.location: item for item in items}
    ordered = [latest[loc] for loc in sorted(latest)]
    columns: list[list[Any]] = [[] for _ in range(8)]
    for item in ordered:
        decision = item.decision
        row = (
            item.location,
            item.message.key,
            item.message.message_id,
            decision.synced,
            " ".join(r.value for r in decision.reasons if r is not Reason.MESSAGE_ID_REUSED),
            decision.direction.value,
            decision.level.value,
            " ".join(sorted(f.value for f in item.flags)),
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    cur.execute(
        "INSERT INTO copies (workspace, mailbox_id, location, message_key, message_id, synced, "
        "reasons, direction, level, flags) SELECT %s, %s, * FROM unnest(%s::text[], %s::text[], "
        "%s::text[], %s::boolean[], %s::text[], %s::text[], %s::text[], %s::text[]) "
        "ON CONFLICT (workspace, mailbox_id, location) DO UPDATE SET "
        "message_key = excluded.message_key, message_id = excluded.message_id, "
        "synced = excluded.synced, reasons = excluded.reasons, direction = excluded.direction, "
        "level = excluded.level, flags = excluded.flags",
        (ws, mailbox_id, *columns),
    )


def _hold(cur: psycopg.Cursor[Any], ws: str, synced: dict[str, BatchItem]) -> None:
    """Store the synced messages not yet stored, and their participants' links (by COPY)."""
    if not synced:
        return
    keys = sorted(synced)
    cur.execute("SELECT key FROM messages WHERE workspace = %s AND key = ANY(%s)", (ws, keys))
    stored = {key for (key,) in cur.fetchall()}
    new = [key for key in keys if key not in stored]
    if new:
        with cur.copy(
            "COPY messages (workspace, key, message_id, sent_at, document) FROM STDIN"
        ) as copy:
            for key in new:
                message = synced[key].message
                copy.write_row(
                    (ws, key, message.message_id, sort_time(message), encode_message(message))
                )
    if stored:
        cur.execute(
            "DELETE FROM participants WHERE workspace = %s AND message_key = ANY(%s)",
            (ws, sorted(stored)),
        )
    with cur.copy(
        "COPY participants (workspace, message_key, position, key, contact_id) FROM STDIN"
    ) as copy:
        for key in keys:
            for link in synced[key].links:
                copy.write_row((ws, key, link.position, link.key, link.contact_id))


def _reconcile(
    cur: psycopg.Cursor[Any],
    ws: str,
    canon: Canonicalization,
    keys: set[str],
    synced: dict[str, BatchItem],
    owners: Sequence[OwnerChange],
) -> None:
    """Re-link the batch's keys whose owner differs from the one it was planned with.

    Holding the keys' locks, the contacts read here are every contact that claims them, so the
    owner found is the owner `resolve_contact` names over the stored contacts. It differs from
    the planned one only when another batch, committed after this one was planned, created a
    contact for the key; then every participant with the key is re-linked to it.
    """
    if not keys:
        return
    planned: dict[str, str | None] = {}
    for item in synced.values():
        for link in item.links:
            planned[link.key] = link.contact_id
    for change in owners:
        planned[change.key] = change.new
    cur.execute(
        "SELECT a.contact_id, a.position, a.key, c.created_at FROM contact_addresses a "
        "JOIN contacts c ON c.workspace = a.workspace AND c.id = a.contact_id "
        "WHERE a.workspace = %s AND a.stem = ANY(%s)",
        (ws, sorted({_STEM.fold(key) for key in keys})),
    )
    primary: dict[str, str] = {}
    claims: dict[str, set[str]] = {}
    created: dict[str, datetime] = {}
    for contact_id, position, key, created_at in cur.fetchall():
        folded = canon.fold(key)
        created[contact_id] = datetime.fromisoformat(created_at)
        if position == 0:
            primary[contact_id] = folded
        if folded in keys:
            claims.setdefault(folded, set()).add(contact_id)
    fixed: dict[str, str | None] = {}
    for key in keys:
        candidates = claims.get(key, set())
        best = min(
            candidates,
            key=lambda cid: (primary.get(cid) != key, created[cid], cid),
            default=None,
        )
        if best != planned.get(key):
            fixed[key] = best
    if fixed:
        ordered = sorted(fixed)
        cur.execute(
            "UPDATE participants p SET contact_id = o.owner "
            "FROM unnest(%s::text[], %s::text[]) AS o(key, owner) "
            "WHERE p.workspace = %s AND p.key = o.key "
            "AND p.contact_id IS DISTINCT FROM o.owner",
            (ordered, [fixed[k] for k in ordered], ws),
        )


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
