"""PostgresStore: the public contract suite against a real server, and what it adds (the
schema and its migrations, connections, errors)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from mailbind import Message, StoreError
from mailbind.store import Store
from mailbind.testing import snapshot
from mailbind.testing.store_contract import (
    ANNA,
    KIM,
    StoreContract,
    batch,
    close_store,
    contact,
    item,
    mail,
    skipped,
)

from .postgres import Postgres

psycopg = pytest.importorskip("psycopg")

from mailbind.stores.postgres import SCHEMA_VERSION, PostgresStore  # noqa: E402

_schemas = itertools.count()


@pytest.fixture(scope="module")
def database(postgres: Postgres) -> str:
    """An empty database for this module's stores; its connection string."""
    return postgres.create_database("contract")


def fresh_store(database: str) -> PostgresStore:
    """A new, empty store: its own schema in *database*, so several can be open at once."""
    name = f"s{next(_schemas)}"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return PostgresStore(f"{database} options=-csearch_path={name}")


class TestPostgresStore(StoreContract):
    """The public contract suite against PostgreSQL."""

    examples = 25
    history_examples = 15
    history_steps = 20

    @pytest.fixture(autouse=True)
    def _database(self, database: str) -> None:
        self.database = database

    def make_store(self) -> Store:
        """A new store in a schema of its own."""
        return fresh_store(self.database)


@pytest.fixture
def store(database: str) -> Iterator[PostgresStore]:
    """A new, empty PostgresStore."""
    made = fresh_store(database)
    yield made
    made.close()


def test_the_schema_is_versioned_and_reopening_keeps_everything(database: str) -> None:
    """The first use creates the schema at SCHEMA_VERSION; opening again migrates nothing and
    reads the same data."""
    first = fresh_store(database)
    first.apply_contact_change(__import__("mailbind").store.ContactChange(saved=(contact("kim"),)))
    first.apply_batch(batch(ANNA, item(first, mail(1)), skipped(mail(2))))
    before = snapshot(first)
    dsn = first._conn.info.dsn if first._conn is not None else ""
    first.close()
    again = PostgresStore(dsn)
    try:
        assert snapshot(again) == before
        rows = again._read("SELECT version FROM mailbind_schema ORDER BY version")
        assert rows == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    finally:
        again.close()


def test_a_connection_or_a_pool_can_be_passed_in(database: str, store: PostgresStore) -> None:
    """A caller's connection is used and left open; a pool is borrowed from per call."""
    dsn = store._conn.info.dsn if store._conn is not None else ""
    with psycopg.connect(dsn) as conn:
        given = PostgresStore(conn)
        given.apply_batch(batch(ANNA, item(given, mail(1))))
        given.close()
        assert not conn.closed
        assert [s.message.key for s in given.mailbox_messages(ANNA.id)] == [mail(1).key]

    class Pool:
        """The least a pool offers: a context manager lending a connection."""

        def __init__(self) -> None:
            self.lent = 0

        def connection(self) -> Any:
            self.lent += 1
            return psycopg.connect(dsn, autocommit=True)

    pool = Pool()
    pooled = PostgresStore(pool)
    assert [s.message.key for s in pooled.mailbox_messages(ANNA.id)] == [mail(1).key]
    assert pool.lent >= 2


def test_a_newer_schema_is_refused(store: PostgresStore) -> None:
    """A database written by a newer mailbind asks for an upgrade."""
    dsn = store._conn.info.dsn if store._conn is not None else ""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO mailbind_schema (version, description) VALUES (99, 'future')")
    with pytest.raises(StoreError) as info:
        PostgresStore(dsn)
    assert "has schema version 99, newer than this mailbind reads" in str(info.value)
    assert str(info.value).endswith(f"({SCHEMA_VERSION}): upgrade mailbind.")


def test_a_foreign_table_of_the_same_name_is_refused(database: str) -> None:
    """A schema that holds a table named as one of the store's, but no mailbind_schema, is
    never written to."""
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA foreign_one")
        conn.execute("CREATE TABLE foreign_one.messages (id integer)")
    with pytest.raises(StoreError) as info:
        PostgresStore(f"{database} options=-csearch_path=foreign_one")
    assert str(info.value).endswith("has a table 'messages' but is not a mailbind store.")


def test_an_unreachable_server_is_one_clear_store_error(postgres: Postgres) -> None:
    """A server that does not answer is a StoreError raised from psycopg's."""
    with pytest.raises(StoreError) as info:
        PostgresStore("host=127.0.0.1 port=1 user=x dbname=x connect_timeout=2")
    assert str(info.value).startswith("The database could not be opened: ")
    assert isinstance(info.value.__cause__, psycopg.Error)


def test_a_failed_batch_leaves_nothing_behind(store: PostgresStore) -> None:
    """A batch that fails half-way is rolled back whole, cursor included."""
    from mailbind import decide
    from mailbind.store import BatchItem, ParticipantLink
    from mailbind.testing.store_contract import KIM, POLICY

    store.apply_batch(batch(ANNA, item(store, mail(1)), cursor="c1"))
    before = snapshot(store)
    twice = (ParticipantLink(0, KIM, None), ParticipantLink(0, KIM, None))
    broken = BatchItem(mail(2), decide(mail(2), ANNA, POLICY), twice, "inbox/2")
    with pytest.raises(StoreError) as info:
        store.apply_batch(batch(ANNA, broken, cursor="c2"))
    assert "could not be written: duplicate key value violates unique constraint" in str(info.value)
    assert snapshot(store) == before
    assert store.load_state(ANNA.id).cursor == "c1"
    close_store(store)


# --- The command line ----------------------------------------------------------------------


def test_the_command_line_syncs_into_postgresql_and_reads_it_back(
    postgres: Postgres, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--db postgresql://...`` works on sync, contacts and emails, as SQLite does."""
    from mailbind.cli import main

    url = postgres.url("cli")
    postgres.create_database("cli")
    assert main(["sync", "--sample", "--db", url, "--now", "2024-06-01T12:00:00+00:00"]) == 0
    # The summary names the database by its URL, not as a file path.
    assert f"\nDatabase: {url} (12 contacts)\n" in capsys.readouterr().out
    assert main(["contacts", "list", "--json", "--db", url]) == 0
    listed = capsys.readouterr().out
    assert "frank.oconnor@globex.example" in listed
    # The plain listings name the database as given, as for a SQLite file.
    assert main(["contacts", "list", "--db", url]) == 0
    assert capsys.readouterr().out.startswith(f"12 contacts in {url}\n")
    assert main(["companies", "--db", url]) == 0
    assert capsys.readouterr().out.startswith(f"6 companies in {url}\n")
    code = main(
        [
            *("emails", "--contact", "frank.oconnor@globex.example"),
            *("--viewer", "tom.baker@acme.example", "--db", url),
        ]
    )
    assert code == 0
    assert capsys.readouterr().out.strip() != ""


def test_a_password_in_the_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """A password on the command line would show in ps and shell history: it is refused."""
    from mailbind.cli import main

    code = main(["contacts", "list", "--db", "postgresql://crm:secret@localhost/crm"])
    err = capsys.readouterr().err
    assert code != 0
    assert "The --db URL holds a password; give it in the environment variable PGPASSWORD" in err
    assert "secret" not in err


def test_the_config_file_names_the_database(
    postgres: Postgres, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """``[store] db = "postgresql://..."`` in the config file is used when --db is not given."""
    from importlib.resources import files

    from mailbind.cli import main

    url = postgres.url("configured")
    postgres.create_database("configured")
    data = files("mailbind").joinpath("data")
    for name in ("sample.mbox", "sample-tom.mbox"):
        (tmp_path / name).write_bytes(data.joinpath(name).read_bytes())
    config = data.joinpath("sample.toml").read_text() + f'\n[store]\ndb = "{url}"\n'
    (tmp_path / "mailbind.toml").write_text(config)
    code = main(
        ["sync", "--config", str(tmp_path / "mailbind.toml"), "--now", "2024-06-01T12:00:00Z"]
    )
    assert code == 0, capsys.readouterr().err
    with PostgresStore(postgres.conninfo_for("configured")) as store:
        assert len(store.mailboxes()) == 2


def test_schema_2_threads_and_dates_the_mail_a_schema_1_database_holds(database: str) -> None:
    """Migrating from schema 1 gives every stored message the thread id a fresh threading gives,
    and every participant its registrable domain, so timelines and threads read it at once."""
    from mailbind.codecs import encode_message
    from mailbind.stores.postgres import migrate
    from mailbind.threads import thread_ids

    name = f"s{next(_schemas)}"
    root = Message.build(sender="kim@eu.client.example", to="anna@acme.com", message_id="<r@x>")
    reply = Message.build(
        sender="anna@acme.com",
        to="kim@eu.client.example",
        message_id="<a@x>",
        headers=[("In-Reply-To", "<r@x>")],
    )
    with psycopg.connect(f"{database} options=-csearch_path={name}", autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
        assert migrate(conn, upto=1) == 0
        for message in (root, reply):
            conn.execute(
                "INSERT INTO messages (workspace, key, message_id, sent_at, document) "
                "VALUES ('default', %s, %s, NULL, %s)",
                (message.key, message.message_id, encode_message(message)),
            )
            conn.execute(
                "INSERT INTO participants (workspace, message_key, position, key, contact_id) "
                "VALUES ('default', %s, 0, %s, NULL)",
                (message.key, "kim@eu.client.example"),
            )
        assert migrate(conn) == 1
        threads = dict(conn.execute("SELECT key, thread_id FROM messages").fetchall())
        domains = {d for (d,) in conn.execute("SELECT domain FROM participants").fetchall()}
    assert threads == thread_ids([root, reply])
    assert domains == {"client.example"}


def test_schema_5_reads_the_full_documents_stored_before_beside_the_compact_ones(
    database: str,
) -> None:
    """From schema 5 new messages are stored in the compact document form; a database migrated
    from schema 4 keeps its full-form documents, and a store reads both back exactly."""
    from mailbind.codecs import encode_document, encode_message
    from mailbind.stores.postgres import migrate

    name = f"s{next(_schemas)}"
    old = mail(1)
    with psycopg.connect(f"{database} options=-csearch_path={name}", autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
        assert migrate(conn, upto=4) == 0
        store = PostgresStore(conn)
        store.apply_batch(batch(ANNA, item(store, old), item(store, mail(2))))
        conn.execute(
            "UPDATE messages SET document = %s WHERE key = %s", (encode_message(old), old.key)
        )
        documents = dict(conn.execute("SELECT key, document FROM messages").fetchall())
        assert documents == {old.key: encode_message(old), mail(2).key: encode_document(mail(2))}
        stored = {s.message.key: s.message for s in store.mailbox_messages(ANNA.id)}
        assert stored == {old.key: old, mail(2).key: mail(2)}
        store.close()


# --- Locks -------------------------------------------------------------------------------------


def _stem_lock(key: str) -> int:
    """The id of the advisory lock a batch takes for contact key *key* (default workspace)."""
    from mailbind.stores.postgres import _STEM, _lock_id

    return _lock_id("c", "default", _STEM.fold(key))


def _applied_while_locked(database: str, lock: int, work: Any) -> bool:
    """Whether *work* (a batch applied to *store*) finishes while another transaction holds
    the advisory lock *lock* shared; the lock is let go of after two seconds either way."""
    import threading

    done = threading.Event()

    def apply() -> None:
        work()
        done.set()

    with psycopg.connect(database) as holder, holder.transaction():
        holder.execute("SELECT pg_advisory_xact_lock_shared(%s)", (lock,))
        worker = threading.Thread(target=apply)
        worker.start()
        finished = done.wait(2)
    worker.join(timeout=30)
    assert done.is_set()
    return finished


def test_a_batch_that_only_links_a_key_shares_its_lock(database: str) -> None:
    """A batch linking Kim, who has a contact already, runs while another transaction holds
    Kim's key lock shared; a batch creating Kim's contact waits for that transaction."""
    store = fresh_store(database)
    conninfo = f"{database} options=-csearch_path={store._read('SELECT current_schema()')[0][0]}"
    kim = contact("auto-kim", KIM, first_name="Kim")
    lock = _stem_lock(KIM)
    creating = batch(ANNA, item(store, mail(1)), contacts=(kim,))
    assert not _applied_while_locked(conninfo, lock, lambda: store.apply_batch(creating))
    linking = batch(ANNA, item(store, mail(2)), contacts=(kim,))
    assert _applied_while_locked(conninfo, lock, lambda: store.apply_batch(linking))
    assert [s.contacts[0] for s in store.mailbox_messages(ANNA.id)] == [kim.id, kim.id]
    close_store(store)


def test_a_batch_planned_before_a_contact_was_created_links_to_it(store: PostgresStore) -> None:
    """A batch planned when Kim had no contact, stored after another batch created one, links
    its participant to that contact."""
    from mailbind.contacts import OwnerChange

    planned = batch(ANNA, item(store, mail(1)))
    assert planned.items[0].links[0].contact_id is None
    kim = contact("auto-kim", KIM, first_name="Kim")
    store.apply_batch(batch(ANNA, contacts=(kim,), owners=(OwnerChange(KIM, None, kim.id),)))
    store.apply_batch(planned)
    (stored,) = store.mailbox_messages(ANNA.id)
    assert stored.contacts[0] == kim.id
    assert [s.message for s in store.messages_for_contact(kim.id)] == [mail(1)]
    close_store(store)


def test_a_message_let_go_of_while_its_key_is_re_linked_is_no_deadlock(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anna lets go of a message with Kim while Ben's batch creates Kim's contact: Ben's batch
    re-links that message's participant and waits for the thread lock Anna's batch holds. Anna's
    batch drops the participants before taking the thread lock, so the two take turns instead of
    deadlocking (each is applied once, not retried after the server broke a cycle)."""
    import threading
    import time

    from mailbind.contacts import OwnerChange
    from mailbind.store import BatchResult
    from mailbind.stores.postgres import _lock_id
    from mailbind.testing.store_contract import BEN

    store = fresh_store(database)
    conninfo = f"{database} options=-csearch_path={store._read('SELECT current_schema()')[0][0]}"
    stored = item(store, mail(1))
    store.apply_batch(batch(ANNA, stored))
    kim = contact("auto-kim", KIM, first_name="Kim")
    creating = batch(
        BEN, item(store, mail(2), BEN), contacts=(kim,), owners=(OwnerChange(KIM, None, kim.id),)
    )
    letting_go = batch(ANNA, gone=(stored.location,))
    tries: list[str] = []
    real = PostgresStore._apply_batch

    def counted(self: PostgresStore, result: BatchResult, *args: Any) -> None:
        tries.append(result.mailbox.id)
        real(self, result, *args)

    monkeypatch.setattr(PostgresStore, "_apply_batch", counted)
    anna, ben = PostgresStore(conninfo), PostgresStore(conninfo)
    errors: list[BaseException] = []

    def run(target: PostgresStore, result: BatchResult) -> None:
        try:
            target.apply_batch(result)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    def waiting(count: int) -> None:
        for _ in range(200):
            found = store._read(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            )
            if found[0][0] >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"fewer than {count} transactions wait")  # pragma: no cover

    workers = [
        threading.Thread(target=run, args=(anna, letting_go)),
        threading.Thread(target=run, args=(ben, creating)),
    ]
    with psycopg.connect(conninfo) as holder, holder.transaction():
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_id("t", "default", ""),))
        for worker in workers:
            worker.start()
            waiting(workers.index(worker) + 1)
    for worker in workers:
        worker.join(timeout=60)
    assert not errors
    assert sorted(tries) == sorted([ANNA.id, BEN.id])
    assert [s.contacts[0] for s in store.mailbox_messages(BEN.id)] == [kim.id]
    assert list(store.mailbox_messages(ANNA.id)) == []
    for opened in (anna, ben, store):
        close_store(opened)


def _stored_while_waiting(
    database: str,
    store: PostgresStore,
    lock: int,
    result: Any,
    statements: list[tuple[str, tuple[Any, ...]]],
) -> list[str]:
    """Apply *result* to *store* while another transaction holds the advisory lock *lock*:
    once the batch waits for it, that transaction runs *statements* and commits. The mailbox
    of each try of the batch (one, unless the batch was tried again)."""
    import threading
    import time

    from mailbind.store import BatchResult

    schema = store._read("SELECT current_schema()")[0][0]
    conninfo = f"{database} options=-csearch_path={schema}"
    tries: list[str] = []
    real = PostgresStore._apply_batch

    def counted(self: PostgresStore, batch: BatchResult, *args: Any) -> None:
        tries.append(batch.mailbox.id)
        real(self, batch, *args)

    errors: list[BaseException] = []

    def run() -> None:
        try:
            store.apply_batch(result)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PostgresStore, "_apply_batch", counted)
        worker = threading.Thread(target=run)
        with psycopg.connect(conninfo) as holder, holder.transaction():
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            worker.start()
            for _ in range(200):
                (waits,) = holder.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                ).fetchone()
                if waits:
                    break
                time.sleep(0.05)
            else:  # pragma: no cover
                raise AssertionError("the batch never waited for the lock")
            for sql, params in statements:
                holder.execute(sql, params)
        worker.join(timeout=60)
    assert not errors, errors
    return tries


def test_a_contact_stored_while_a_batch_waited_for_its_key_is_left_as_stored(
    database: str, store: PostgresStore
) -> None:
    """Anna's batch creates Kim's contact; another transaction stores that contact (as
    "Kimberly") while the batch waits for Kim's key lock. The batch looks again under the lock,
    leaves the contact as stored and links to it, in one try."""
    from mailbind.contacts import OwnerChange

    kim = contact("auto-kim", KIM, first_name="Kim")
    creating = batch(
        ANNA, item(store, mail(1)), contacts=(kim,), owners=(OwnerChange(KIM, None, kim.id),)
    )
    from mailbind.stores.postgres import _contact_rows

    kimberly = contact("auto-kim", KIM, first_name="Kimberly")
    ((row, addresses),) = _contact_rows([kimberly]).values()
    rows = [
        (
            "INSERT INTO contacts (workspace, id, first_name, last_name, company_domain, "
            "created_at, deleted_at) VALUES ('default', %s, %s, %s, %s, %s, %s)",
            row,
        ),
        *(
            (
                "INSERT INTO contact_addresses (workspace, contact_id, position, key, stem, "
                "address) VALUES ('default', %s, %s, %s, %s, %s)",
                address,
            )
            for address in addresses
        ),
    ]
    assert _stored_while_waiting(database, store, _stem_lock(KIM), creating, rows) == [ANNA.id]
    stored = store.contact(kim.id)
    assert stored is not None
    assert stored.first_name == "Kimberly"
    assert [s.contacts[0] for s in store.mailbox_messages(ANNA.id)] == [kim.id]
    assert len(store.contact_index()) == 1


def test_a_copy_stored_while_its_batch_waited_is_replaced_by_the_batch(
    database: str, store: PostgresStore
) -> None:
    """Another transaction stores a copy at the location of Anna's batch while the batch waits
    for its message's lock: the batch's copy, taken for new, fails, and the batch is tried
    again, replacing that copy with its own decision."""
    from mailbind.stores.postgres import _lock_id

    synced = item(store, mail(1))
    rows = [
        (
            "INSERT INTO copies (workspace, mailbox_id, location, message_key, message_id, "
            "synced, reasons, direction, level, flags) "
            "VALUES ('default', %s, %s, %s, NULL, false, 'internal', 'incoming', 'subject', '')",
            (ANNA.id, synced.location, "elsewhere"),
        )
    ]
    lock = _lock_id("m", "default", synced.message.key)
    assert _stored_while_waiting(database, store, lock, batch(ANNA, synced), rows) == [
        ANNA.id,
        ANNA.id,
    ]
    (decision,) = store.decisions(ANNA.id)
    assert (decision.key, decision.location) == (synced.message.key, synced.location)
    assert decision.decision == synced.decision
    assert [s.message for s in store.mailbox_messages(ANNA.id)] == [mail(1)]


def test_a_late_owner_takes_the_event_participants_of_its_key_too(store: PostgresStore) -> None:
    """A batch planned to create contact C for Kim, stored after another batch created an
    older contact D for Kim, re-links Kim's stored event participants to D (the owner read
    under the key lock), as it does Kim's mail participants, not to the planned C."""
    from datetime import timedelta

    from mailbind import Mailbox
    from mailbind.calendar_sync import sync_calendar
    from mailbind.contacts import OwnerChange
    from mailbind.testing import ListCalendar
    from mailbind.testing.store_contract import BEN, NOW, POLICY, _event

    quiet = Mailbox("anna@acme.com", create_contacts=False)
    calendar = ListCalendar("work")
    calendar.put("r1", _event(1))
    sync_calendar(calendar, store, quiet, POLICY, now=NOW)
    older = contact("auto-kim-d", KIM, created_at=NOW - timedelta(days=1))
    planned = contact("auto-kim-c", KIM)
    late = batch(
        BEN,
        item(store, mail(2), BEN),
        contacts=(planned,),
        owners=(OwnerChange(KIM, None, planned.id),),
    )
    store.apply_batch(batch(ANNA, contacts=(older,), owners=(OwnerChange(KIM, None, older.id),)))
    store.apply_batch(late)
    assert [s.event.key for s in store.events_for_contact(older.id)] == ["uid-1"]
    assert store.events_for_contact(planned.id) == ()
    assert [s.contacts[0] for s in store.mailbox_messages(BEN.id)] == [older.id]
