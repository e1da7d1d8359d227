"""A sync into SQLite against storing exactly the rows it stores, and the bytes per message.

Run by hand from the project root:

    .venv/bin/python benchmarks/bench_store_floor.py [--messages 20000] [--rounds 3]
                                                     [--body-scale 1] [--tables]

It writes the deterministic synthetic mailbox of ``bench_sync.py`` (seed 2025) as an mbox, syncs
it once into a SQLite file and reads back every row of every table. Then, round by round and
taking turns: (a) the floor: a fresh file with the same schema and indexes (made before the
timer starts), and every one of those rows written with ``executemany`` in one transaction;
(b) a whole ``sync_mailbox`` pass of the mbox into a fresh file. Each round prints both CPU
times (this process, SQLite's work included) and wall times, and the ratio b ÷ a; last, the
median and range, and the database's bytes per message (the file after a checkpoint and
``VACUUM``) against the mail's own bytes, and the difference (the store's overhead).
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
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_sync import ALIAS, BLOCKLIST, NOW, ORG, OWNER, machine, write_mbox

from mailbind import Mailbox, Policy
from mailbind.engine import sync_mailbox
from mailbind.sources.mbox import MboxSource
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
        synced = sync(mbox, base)
        tables = rows_of(base)
        total = sum(len(rows) for _, _, rows in tables)
        print(f"machine: {machine()}, {platform.platform()}")
        print(
            f"{args.messages:,} messages ({mail_bytes / 1e6:.1f} MB), {synced:,} synced, "
            f"{total:,} rows in {len(tables)} tables"
        )
        print(
            "| round | floor CPU s | sync CPU s | sync ÷ floor (CPU) | floor wall s | sync wall s |"
        )
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        ratios, walls = [], []
        work = os.path.join(folder, "work.sqlite")
        for n in range(1, args.rounds + 1):
            fresh(work)
            a_cpu, a_wall = timed(lambda: floor(work, tables))
            fresh(work)
            b_cpu, b_wall = timed(lambda: sync(mbox, work))
            ratios.append(b_cpu / a_cpu)
            walls.append(b_wall / a_wall)
            print(
                f"| {n} | {a_cpu:.2f} | {b_cpu:.2f} | {b_cpu / a_cpu:.2f}× | {a_wall:.2f} | "
                f"{b_wall:.2f} |"
            )
        print(
            f"sync ÷ floor, CPU: median {statistics.median(ratios):.2f}× "
            f"(range {min(ratios):.2f}–{max(ratios):.2f}×); wall: median "
            f"{statistics.median(walls):.2f}×"
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
