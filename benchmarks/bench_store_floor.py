"""A sync into SQLite against storing exactly the rows it stores, and the bytes per message.

Run by hand from the project root:

    .venv/bin/python benchmarks/bench_store_floor.py [--messages 20000] [--rounds 3]
                                                     [--body-scale 1] [--tables]

It writes the deterministic synthetic mailbox of ``bench_sync.py`` (seed 2025) as an mbox, syncs
it once into a SQLite file and reads back every row of every table. Then, round by round and
taking turns: (a) the floor: a fresh file with the same schema and indexes (made before the
timer starts), and every one of those rows written with ``executemany`` in one transaction;
(b) a whole ``sync_mailbox`` pass of the mbox into a fresh file; (c) the store alone: the
batches that first sync handed its store (``apply_batch`` and every other write, recorded as
they were made), applied again in the same order to a fresh ``SQLiteStore`` file (opened before
the timer starts), so that reading the mbox, deciding and planning cost nothing. The replay
must leave the same rows as the sync (checked after the first round). Each round prints the
CPU times (this process, SQLite's work included) and wall times, and the ratios b ÷ a and
c ÷ a; last, the medians and ranges, and the database's bytes per message (the file after a
checkpoint and ``VACUUM``) against the mail's own bytes, and the difference (the store's overhead).
``--body-scale`` multiplies the length of every body and attachment (0.25 makes mail of about
1.25 KB a message); ``--tables`` also prints each table's and index's bytes per message.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from functools import partial
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_sync import ALIAS, BLOCKLIST, NOW, ORG, OWNER, machine, write_mbox

from mailbind import Mailbox, Policy
from mailbind.engine import sync_mailbox
from mailbind.sources.mbox import MboxSource
from mailbind.store import BatchResult, ContactChange, MailboxState
from mailbind.stores.sqlite import SQLiteStore

POLICY = Policy(org_domains=[ORG], blocklist=BLOCKLIST)
MAILBOX = Mailbox(owner=OWNER, aliases=[ALIAS], incoming="subject", outgoing="everything")


def fresh(path: str) -> None:
    """An empty store at *path*: the schema and indexes a sync writes into."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    SQLiteStore(path).close()


def sync(mbox: str, db: str) -> int:
    with SQLiteStore(db) as store:
        return sync_mailbox(MboxSource(mbox), store, MAILBOX, POLICY, now=NOW).synced


#: One write a sync made to its store: the method's name, its argument(s) and the workspace.
Write = tuple[str, tuple[Any, ...], str]


class Recording:
    """A store that also records each write a sync makes, in order, for a replay: put before
    a store class in a subclass's bases."""

    writes: list[Write]

    def apply_batch(self, batch: BatchResult, *, workspace: str = "default") -> None:
        self.writes.append(("apply_batch", (batch,), workspace))
        super().apply_batch(batch, workspace=workspace)  # type: ignore[misc]

    def save_state(
        self, mailbox_id: str, state: MailboxState, *, workspace: str = "default"
    ) -> None:
        self.writes.append(("save_state", (mailbox_id, state), workspace))
        super().save_state(mailbox_id, state, workspace=workspace)  # type: ignore[misc]

    def apply_contact_change(self, change: ContactChange, *, workspace: str = "default") -> None:
        self.writes.append(("apply_contact_change", (change,), workspace))
        super().apply_contact_change(change, workspace=workspace)  # type: ignore[misc]


class RecordingStore(Recording, SQLiteStore):
    """A `SQLiteStore` that also records each write a sync makes, in order, for a replay."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.writes = []


def recorded_sync(mbox: str, db: str) -> tuple[int, list[Write]]:
    """Sync *mbox* into *db*; the number synced and every write the store was handed."""
    with RecordingStore(db) as store:
        synced = sync_mailbox(MboxSource(mbox), store, MAILBOX, POLICY, now=NOW).synced
        return synced, store.writes


def replay(store: SQLiteStore, writes: list[Write]) -> None:
    """Apply *writes* to *store* in order, then close it (as a sync's store is closed)."""
    for method, args, workspace in writes:
        getattr(store, method)(*args, workspace=workspace)
    store.close()


def rows_of(db: str) -> list[tuple[str, list[str], list[tuple[Any, ...]]]]:
    """Every table's name, columns and rows, tables in the order they were created."""
    connection = sqlite3.connect(db)
    try:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name <> 'mailbind_schema' ORDER BY rowid"
            )
        ]
        found = []
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            found.append((table, columns, cursor.fetchall()))
        return found
    finally:
        connection.close()


def floor(db: str, tables: list[tuple[str, list[str], list[tuple[Any, ...]]]]) -> None:
    """Write *tables*' rows into the empty store at *db*, in one transaction."""
    connection = sqlite3.connect(db, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = OFF")
        connection.execute("BEGIN IMMEDIATE")
        for table, columns, rows in tables:
            if not rows:
                continue
            names = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join("?" for _ in columns)
            # INSERT OR REPLACE: a fresh store may already hold a row the sync also wrote
            # (the schema's own bookkeeping).
            connection.executemany(
                f'INSERT OR REPLACE INTO "{table}" ({names}) VALUES ({marks})', rows
            )
        connection.execute("COMMIT")
    finally:
        connection.close()


def timed(run: Any) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    run()
    return time.process_time() - cpu, time.perf_counter() - started


def size_of(db: str) -> int:
    connection = sqlite3.connect(db)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("VACUUM")
    finally:
        connection.close()
    return os.path.getsize(db)


def table_sizes(db: str) -> list[tuple[str, int]]:
    """Each table's and index's bytes (its pages), largest first (SQLite's ``dbstat``)."""
    connection = sqlite3.connect(db)
    try:
        return connection.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC, 1"
        ).fetchall()
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--body-scale", type=float, default=1.0)
    parser.add_argument("--tables", action="store_true")
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="mailbind-floor-")
    try:
        mbox = os.path.join(folder, "mail.mbox")
        mail_bytes = write_mbox(mbox, args.messages, args.seed, args.body_scale)
        base = os.path.join(folder, "base.sqlite")
        fresh(base)
        synced, writes = recorded_sync(mbox, base)
        tables = rows_of(base)
        total = sum(len(rows) for _, _, rows in tables)
        print(f"machine: {machine()}, {platform.platform()}")
        print(
            f"{args.messages:,} messages ({mail_bytes / 1e6:.1f} MB), {synced:,} synced, "
            f"{total:,} rows in {len(tables)} tables, "
            f"{sum(w[0] == 'apply_batch' for w in writes)} batches"
        )
        print(
            "| round | floor CPU s | store CPU s | sync CPU s | store ÷ floor (CPU) "
            "| sync ÷ floor (CPU) | floor wall s | store wall s | sync wall s |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        ratios, walls, alone, alone_walls = [], [], [], []
        work = os.path.join(folder, "work.sqlite")
        for n in range(1, args.rounds + 1):
            fresh(work)
            a_cpu, a_wall = timed(lambda: floor(work, tables))
            fresh(work)
            c_cpu, c_wall = timed(partial(replay, SQLiteStore(work), writes))
            if n == 1:
                replayed = rows_of(work)
                counts = [(t, len(r)) for t, _, r in replayed]
                assert counts == [(t, len(r)) for t, _, r in tables], counts
                assert replayed == tables, "the replay left other rows than the sync"
            fresh(work)
            b_cpu, b_wall = timed(lambda: sync(mbox, work))
            ratios.append(b_cpu / a_cpu)
            walls.append(b_wall / a_wall)
            alone.append(c_cpu / a_cpu)
            alone_walls.append(c_wall / a_wall)
            print(
                f"| {n} | {a_cpu:.2f} | {c_cpu:.2f} | {b_cpu:.2f} | {c_cpu / a_cpu:.2f}× "
                f"| {b_cpu / a_cpu:.2f}× | {a_wall:.2f} | {c_wall:.2f} | {b_wall:.2f} |"
            )
        for what, cpu, wall in (("store alone", alone, alone_walls), ("sync", ratios, walls)):
            print(
                f"{what} ÷ floor, CPU: median {statistics.median(cpu):.2f}× "
                f"(range {min(cpu):.2f}–{max(cpu):.2f}×); wall: median "
                f"{statistics.median(wall):.2f}× (range {min(wall):.2f}–{max(wall):.2f}×)"
            )
        size = size_of(base)
        per, mail = size / args.messages, mail_bytes / args.messages
        print(
            f"database: {per:,.0f} bytes a message (of {args.messages:,}; "
            f"{size / synced:,.0f} a stored message), for {mail:,.0f} bytes of mail a message: "
            f"overhead {per - mail:,.0f} bytes a message"
        )
        if args.tables:
            for name, used in table_sizes(base):
                if used * 1000 >= size:
                    print(f"  {name}: {used / args.messages:,.0f} bytes a message")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
