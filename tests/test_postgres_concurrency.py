"""PostgresStore under concurrency, against a real server: workers syncing overlapping
mailboxes of one workspace end as a serial sync does, a worker killed mid-batch loses and
duplicates nothing, and a user's contact delete racing a sync holds."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.context import ForkProcess

import pytest

from mailbind import Mailbox, Message, Policy
from mailbind.engine import destroy_contact, sync_mailbox
from mailbind.planner import auto_contact_id
from mailbind.testing import ListSource
from mailbind.testing.store_contract import reads

from .postgres import Postgres

pytest.importorskip("psycopg")

from mailbind.stores.postgres import PostgresStore

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
POLICY = Policy(["acme.com"])
WORKERS = ("anna", "ben", "carl", "dana")
#: Customers every mailbox writes with: each worker links and creates the same contacts.
CUSTOMERS = [f"Customer {n} <c{n}@client{n % 7}.example>" for n in range(40)]


def mailbox(name: str) -> Mailbox:
    """The mailbox of *name* at Acme; Dana's creates no contacts, so her links to customers
    come only from contacts the other workers create, maybe while she syncs."""
    return Mailbox(
        f"{name}@acme.com",
        incoming="subject",
        outgoing="everything",
        create_contacts=name != "dana",
        id=name,
    )


def messages(name: str, count: int) -> list[Message]:
    """*name*'s mail: half its own, half shared with every other mailbox (one Message-ID, one
    content); every message has two customers from the shared pool."""
    found = []
    everyone = ", ".join(f"{w}@acme.com" for w in WORKERS)
    for n in range(count):
        shared = n % 2 == 0
        customers = (CUSTOMERS[(n * 7) % len(CUSTOMERS)], CUSTOMERS[(n * 3 + 1) % len(CUSTOMERS)])
        found.append(
            Message.build(
                sender=customers[0],
                to=everyone if shared else f"{name}@acme.com",
                cc=customers[1],
                subject=f"Subject {n}",
                text=f"Body {n}",
                message_id=f"<shared{n}@client.example>" if shared else f"<{name}{n}@x.example>",
                sent_at=NOW - timedelta(minutes=n),
            )
        )
    return found


def _sync(conninfo: str, name: str, count: int, batch_size: int) -> None:
    with PostgresStore(conninfo) as store:
        source = ListSource(messages(name, count), name=name)
        sync_mailbox(source, store, mailbox(name), POLICY, now=NOW, batch_size=batch_size)


def _serial(postgres: Postgres, dbname: str, count: int) -> dict[str, object]:
    conninfo = postgres.create_database(dbname)
    for name in WORKERS:
        _sync(conninfo, name, count, 25)
    with PostgresStore(conninfo) as store:
        return _everything(store)


def _everything(store: PostgresStore) -> dict[str, object]:
    index = store.contact_index()
    return {
        "reads": reads(store),
        "contacts": sorted((c.id, str(c.primary), c.first_name) for c in index),
        "links": sorted(
            (s.message.key, s.contacts) for w in WORKERS for s in store.mailbox_messages(w)
        ),
        "states": {w: store.load_state(w).cursor for w in WORKERS},
    }


def _start(conninfo: str, name: str, count: int, batch_size: int) -> ForkProcess:
    process = multiprocessing.get_context("fork").Process(
        target=_sync, args=(conninfo, name, count, batch_size)
    )
    process.start()
    return process


@pytest.mark.slow
def test_workers_on_overlapping_mailboxes_end_as_a_serial_sync(postgres: Postgres) -> None:
    """Four processes syncing four mailboxes that share messages and participants into one
    workspace, at once, leave exactly what one after the other leaves: no lost link, no
    duplicate contact or message, no deadlock."""
    count = 120
    expected = _serial(postgres, "serial", count)
    conninfo = postgres.create_database("parallel")
    workers = [_start(conninfo, name, count, 10) for name in WORKERS]
    for worker in workers:
        worker.join(timeout=300)
        assert worker.exitcode == 0
    with PostgresStore(conninfo) as store:
        assert _everything(store) == expected
        rows = store._read("SELECT count(*), count(DISTINCT key) FROM messages")
        assert rows[0][0] == rows[0][1]


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(postgres: Postgres) -> None:
    """SIGKILL a worker while it stores batches; the next pass ends as an uninterrupted sync."""
    count = 400
    expected = _serial(postgres, "uninterrupted", count)
    conninfo = postgres.create_database("killed")
    victim = _start(conninfo, "anna", count, 5)
    others = [_start(conninfo, name, count, 25) for name in WORKERS[1:]]
    with PostgresStore(conninfo) as store:
        deadline = time.monotonic() + 120
        while store.load_state("anna").cursor is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        victim.join()
        assert victim.exitcode == -signal.SIGKILL
        for worker in others:
            worker.join(timeout=300)
            assert worker.exitcode == 0
        stopped = store.load_state("anna").cursor
    assert stopped is not None
    _sync(conninfo, "anna", count, 25)
    with PostgresStore(conninfo) as store:
        assert _everything(store) == expected


@pytest.mark.slow
def test_a_contact_destroyed_while_workers_sync_stays_destroyed(postgres: Postgres) -> None:
    """A user destroys a contact while workers sync mail that names it: no worker brings it
    back, none links to it, and every message is stored."""
    count = 200
    conninfo = postgres.create_database("racing")
    _sync(conninfo, "anna", 20, 20)
    victim = auto_contact_id("c0@client0.example")
    with PostgresStore(conninfo) as user:
        assert user.contact_index().get(victim) is not None
        workers = [_start(conninfo, name, count, 5) for name in WORKERS[1:]]
        time.sleep(0.3)
        destroy_contact(user, victim, policy=POLICY)
        for worker in workers:
            worker.join(timeout=300)
            assert worker.exitcode == 0
        index = user.contact_index()
        assert index.get(victim) is None
        assert index.is_suppressed("c0@client0.example")
        assert user.messages_for_contact(victim) == ()
        for name in WORKERS[1:]:
            assert len(list(user.mailbox_messages(name))) == count
