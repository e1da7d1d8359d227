"""Benchmark paginated reads of the PostgreSQL store: a first page of 50 and whole timelines.

The same measurements as ``bench_reads.py``, against a scratch PostgreSQL server
(tests/postgres.py: initdb + pg_ctl on a loopback port, fsync off): it writes the synthetic
mailbox of ``bench_sync.py`` (seed 2025) as an mbox, syncs it once into a ``PostgresStore``
(in a child process, so that the reads are timed in a process holding none of the sync's
tables), then times, interleaved and as medians of wall seconds (the server's work included):

1. **First page**: ``contact_messages`` and ``company_messages`` with ``limit=50`` for the
   contact and the company with the most messages. Goal: at most 20 ms.
2. **Whole timeline**: every page (``limit=500``) of the largest contact's timeline, against
   the plain SQL query of its documents in the same order (``floor sql``) and that query plus
   `decode_document` of each document (``floor decode``). Goal: at most 1.5x the floor.

With ``--rev REV`` the code of that revision also syncs the same mail into a database of its
own schema (in a child process), and its store reads that database in turns with this store
reading this one, each against the floor over its own database.

Usage: ``python benchmarks/bench_reads_postgres.py [--messages 100000] [--rounds 7] [--rev REV]``.
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import psycopg
from bench_converge import BEFORE, POLICY
from bench_reads import (
    every_page,
    floor_of,
    interleaved,
    old_tree,
    report_first,
    report_old,
    report_whole,
)
from bench_sync import ALIAS, BLOCKLIST, NOW, ORG, OWNER, machine, write_mbox
from tests.postgres import Postgres

from mailbind.engine import sync_mailbox
from mailbind.sources.mbox import MboxSource
from mailbind.stores.postgres import PostgresStore


def floor_sql(conninfo: str, contact_id: str, *, decode: bool) -> Callable[[], int]:
    """The plain SQL read of the contact's documents in page order (decoded when asked)."""
    conn = psycopg.connect(conninfo, autocommit=True)
    return floor_of(
        lambda: conn.execute(
            "SELECT m.key, m.message_id, m.document FROM messages m "
            "WHERE m.workspace = 'default' AND m.key IN "
            "(SELECT message_key FROM participants WHERE workspace = 'default' "
            'AND contact_id = %s) ORDER BY m.sent_at IS NULL, m.sent_at, m.key COLLATE "C"',
            (contact_id,),
        ).fetchall(),
        decode=decode,
    )


def sync_into(mbox: str, conninfo: str) -> int:
    """Sync the mailbox *mbox* into the store at *conninfo*; how many messages it stored."""
    with PostgresStore(conninfo) as store:
        return sync_mailbox(MboxSource(mbox), store, BEFORE, POLICY, now=NOW).synced


def largest(conninfo: str) -> tuple[str, int, str, int]:
    """The contact and the company domain with the most messages, and their counts."""
    with psycopg.connect(conninfo) as conn:
        contact_id, contacts = conn.execute(
            "SELECT contact_id, count(DISTINCT message_key) AS n FROM participants "
            "WHERE contact_id IS NOT NULL GROUP BY contact_id ORDER BY n DESC LIMIT 1"
        ).fetchone() or ("", 0)
        domain, domains = conn.execute(
            "SELECT d.company, count(DISTINCT p.message_key) AS n FROM company_domains d "
            "JOIN participants p ON p.workspace = d.workspace AND p.domain = d.domain "
            "GROUP BY d.company ORDER BY n DESC LIMIT 1"
        ).fetchone() or ("", 0)
    return contact_id, contacts, domain, domains


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rev", help="also time the store of this git revision, in turns")
    args = parser.parse_args(argv)
    print(f"# Paginated reads, PostgreSQL\n\n{machine()}")
    server = Postgres.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            mbox = os.path.join(folder, "mail.mbox")
            write_mbox(mbox, args.messages, args.seed)
            conninfo = server.create_database("reads")
            start = time.perf_counter()
            # The sync runs in a child process, so that the reads are timed in a process that
            # holds none of its tables, as a backend's request handler would.
            context = multiprocessing.get_context("fork")
            with context.Pool(1) as pool:
                synced = pool.apply(sync_into, (mbox, conninfo))
            print(f"synced {synced:,} messages in {time.perf_counter() - start:.0f} s")
            contact_id, contacts, domain, domains = largest(conninfo)
            print(f"largest contact {contacts:,} messages, company {domains:,} ({domain})\n")
            measure(args, conninfo, contact_id, domain, contacts)
            if args.rev:
                with old_tree(args.rev, folder):
                    old_conninfo = server.create_database("reads_old")
                    with context.Pool(1) as pool:
                        pool.apply(old_sync_into, (mbox, old_conninfo))
                    against_old(args, conninfo, old_conninfo, contact_id)
    finally:
        server.stop()


def measure(
    args: argparse.Namespace,
    conninfo: str,
    contact_id: str,
    domain: str,
    contacts: int,
) -> None:
    """Time the first pages and the whole timeline."""
    store = PostgresStore(conninfo)
    report_first(
        {
            "contact": lambda: store.contact_messages(contact_id, limit=50),
            "company": lambda: store.company_messages(domain, limit=50),
        },
        args.rounds * 3,
    )

    whole = interleaved(
        {
            "store": read_all(store, contact_id),
            "floor sql": floor_sql(conninfo, contact_id, decode=False),
            "floor decode": floor_sql(conninfo, contact_id, decode=True),
        },
        args.rounds,
    )
    report_whole(contacts, whole)
    store.close()


def read_all(store: Any, contact_id: str) -> Callable[[], int]:
    """A read of every page of the contact's timeline in *store*."""
    return lambda: every_page(lambda **page: store.contact_messages(contact_id, **page))


def old_sync_into(mbox: str, conninfo: str) -> int:
    """`sync_into` with the code of the old revision (``mailbind_old``), into its own schema."""
    old = importlib.import_module("mailbind_old")
    engine = importlib.import_module("mailbind_old.engine")
    sources = importlib.import_module("mailbind_old.sources.mbox")
    stores = importlib.import_module("mailbind_old.stores.postgres")
    mailbox = old.Mailbox(owner=OWNER, aliases=[ALIAS], incoming="metadata", outgoing="everything")
    policy = old.Policy(org_domains=[ORG], blocklist=BLOCKLIST)
    with stores.PostgresStore(conninfo) as store:
        report = engine.sync_mailbox(sources.MboxSource(mbox), store, mailbox, policy, now=NOW)
    return int(report.synced)


def against_old(
    args: argparse.Namespace, conninfo: str, old_conninfo: str, contact_id: str
) -> None:
    """The whole timeline read by this store and by the old revision's, each over the database
    its own code synced, taking turns."""
    store = PostgresStore(conninfo)
    old_store = importlib.import_module("mailbind_old.stores.postgres").PostgresStore(old_conninfo)
    times = interleaved(
        {
            "new": read_all(store, contact_id),
            "old": read_all(old_store, contact_id),
            "floor": floor_sql(conninfo, contact_id, decode=True),
            "old floor": floor_sql(old_conninfo, contact_id, decode=True),
        },
        args.rounds,
    )
    report_old(args.rev, *times.values())
    old_store.close()
    store.close()


if __name__ == "__main__":
    main()
