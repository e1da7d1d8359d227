"""Benchmark paginated reads: a first page of 50 and whole timelines, against the SQL floor.

It writes the deterministic synthetic mailbox of ``bench_sync.py`` (seed 2025) as an mbox,
syncs it once into a SQLite store (or reuses ``--db``), then measures, interleaved (store,
floor, store, floor, ...) and as the median of ``--rounds``:

1. **First page**: ``contact_messages``, ``company_messages`` and ``thread_messages`` with
   ``limit=50`` for the contact, the company and the thread with the most messages. Goal:
   at most 20 ms.
2. **Whole timeline**: every page (``limit=500``) of the largest contact's timeline, against
   two floors over the same rows in the same order: the plain SQL query of the documents
   (``floor sql``), and that query plus decoding each document into a `Message` (``floor
   decode``), the least any reader that returns messages does. Goal: at most 1.5x the floor.

With ``--rev REV`` it then also checks the revision out (``git worktree add``), syncs the same
mail into a store of that revision's own schema (``PATH.old`` beside ``--db``, kept, or a temp
file) with that revision's code, loads its package as ``mailbind_old`` beside this one, and
times the whole timeline with both stores and both floors taking turns: the old and the new
store, each against its own floor, and new ÷ old.

Usage: ``python benchmarks/bench_reads.py [--messages 100000] [--db PATH] [--rounds 7]
[--rev REV]``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))

from bench_converge import first_sync
from bench_sync import machine, write_mbox

from mailbind.codecs import decode_document
from mailbind.sources.mbox import MboxSource
from mailbind.stores.sqlite import SQLiteStore


def every_page(read: Callable[..., Any], limit: int = 500) -> int:
    """How many messages a paginated read gives, reading every page."""
    count, after = 0, None
    while True:
        page = read(limit=limit, after=after)
        count += len(page.messages)
        if page.next is None:
            return count
        after = page.next


def floor_sql(db: sqlite3.Connection, contact_id: str, *, decode: bool) -> Callable[[], int]:
    """The plain SQL read of the contact's documents, oldest first (decoded when asked)."""
    return floor_of(
        lambda: db.execute(
            "SELECT m.key, m.message_id, m.document FROM messages m WHERE m.id IN "
            "(SELECT message FROM participant_rows WHERE workspace = 'default' "
            "AND contact_id = ?) ORDER BY m.sent_at IS NULL, m.sent_at, m.key",
            (contact_id,),
        ).fetchall(),
        decode=decode,
    )


def floor_of(query: Callable[[], list[Any]], *, decode: bool) -> Callable[[], int]:
    """A floor: *query*'s rows of (key, Message-ID, document), each decoded when asked."""

    def run() -> int:
        rows = query()
        if decode:
            for key, message_id, document in rows:
                decode_document(document, key, message_id)
        return len(rows)

    return run


def interleaved(runs: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """The median seconds of each run, the runs taking turns *rounds* times."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--db", help="a store synced before (kept); default: built in a temp dir")
    parser.add_argument("--rev", help="also time the store of this git revision, in turns")
    args = parser.parse_args(argv)
    print(f"# Paginated reads\n\n{machine()}")
    with tempfile.TemporaryDirectory() as folder:
        db_path = args.db or os.path.join(folder, "reads.sqlite")
        if not os.path.exists(db_path):
            mbox = os.path.join(folder, "mail.mbox")
            write_mbox(mbox, args.messages, args.seed)
            start = time.perf_counter()
            report = first_sync(MboxSource(mbox), db_path)
            print(f"synced {report.synced:,} messages in {time.perf_counter() - start:.0f} s")
        raw = sqlite3.connect(db_path)
        (stored,) = raw.execute("SELECT count(*) FROM messages").fetchone()
        contact_id, contact_count = raw.execute(
            "SELECT contact_id, count(DISTINCT message_key) AS n FROM participants "
            "WHERE contact_id IS NOT NULL GROUP BY contact_id ORDER BY n DESC LIMIT 1"
        ).fetchone()
        domain, domain_count = raw.execute(
            "SELECT d.company, count(DISTINCT p.message_key) AS n FROM company_domains d "
            "JOIN participants p ON p.workspace = d.workspace AND p.domain = d.domain "
            "GROUP BY d.company ORDER BY n DESC LIMIT 1"
        ).fetchone()
        thread, thread_count = raw.execute(
            "SELECT thread_id, count(*) AS n FROM messages GROUP BY thread_id "
            "ORDER BY n DESC LIMIT 1"
        ).fetchone()
        print(
            f"store: {stored:,} messages; largest contact {contact_count:,}, company "
            f"{domain_count:,} ({domain}), thread {thread_count:,} messages\n"
        )
        store = SQLiteStore(db_path, read_only=True)
        report_first(
            {
                "contact": lambda: store.contact_messages(contact_id, limit=50),
                "company": lambda: store.company_messages(domain, limit=50),
                "thread": lambda: store.thread_messages(thread, limit=50),
            },
            args.rounds * 3,
        )
        whole = interleaved(
            {
                "store": lambda: every_page(
                    lambda **page: store.contact_messages(contact_id, **page)
                ),
                "floor sql": floor_sql(raw, contact_id, decode=False),
                "floor decode": floor_sql(raw, contact_id, decode=True),
            },
            args.rounds,
        )
        report_whole(contact_count, whole)
        if args.rev:
            old_db = f"{args.db}.old" if args.db else os.path.join(folder, "old.sqlite")
            against_old(args, folder, old_db, store, raw, contact_id)
        store.close()
        raw.close()


@contextlib.contextmanager
def old_tree(rev: str, folder: str) -> Iterator[str]:
    """The git revision *rev* checked out in *folder* (removed afterwards), its package also
    importable as ``mailbind_old`` (its folder put on ``sys.path``); the checkout's path."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tree = os.path.join(folder, "old-tree")
    subprocess.run(
        ["git", "-C", root, "worktree", "add", "--detach", tree, rev],
        check=True,
        capture_output=True,
    )
    try:
        packages = os.path.join(folder, "old-packages")
        shutil.copytree(
            os.path.join(tree, "src", "mailbind"), os.path.join(packages, "mailbind_old")
        )
        sys.path.insert(0, packages)
        yield tree
    finally:
        subprocess.run(
            ["git", "-C", root, "worktree", "remove", "--force", tree],
            check=False,
            capture_output=True,
        )


def against_old(
    args: argparse.Namespace,
    folder: str,
    old_db: str,
    store: SQLiteStore,
    raw: sqlite3.Connection,
    contact_id: str,
) -> None:
    """The whole timeline read by this store and by the store of ``args.rev``, in turns."""
    with old_tree(args.rev, folder) as tree:
        if not os.path.exists(old_db):
            subprocess.run(
                [
                    sys.executable,
                    os.path.join(tree, "benchmarks", "bench_reads.py"),
                    "--messages",
                    str(args.messages),
                    "--seed",
                    str(args.seed),
                    "--db",
                    old_db,
                    "--rounds",
                    "1",
                ],
                env=dict(os.environ, PYTHONPATH=os.path.join(tree, "src")),
                check=True,
                capture_output=True,
            )
        old_store = importlib.import_module("mailbind_old.stores.sqlite").SQLiteStore(
            old_db, read_only=True
        )
        old_raw = sqlite3.connect(old_db)
        whole = interleaved(
            {
                "this store": lambda: every_page(
                    lambda **page: store.contact_messages(contact_id, **page)
                ),
                f"store of {args.rev}": lambda: every_page(
                    lambda **page: old_store.contact_messages(contact_id, **page)
                ),
                "floor decode": floor_sql(raw, contact_id, decode=True),
                f"floor decode, {args.rev}'s file": floor_sql(old_raw, contact_id, decode=True),
            },
            args.rounds,
        )
        report_old(args.rev, *whole.values())
        old_store.close()
        old_raw.close()


def report_first(reads: dict[str, Callable[[], Any]], rounds: int) -> None:
    """Time each first-page read of *reads*, interleaved, and print their medians."""
    first = interleaved(reads, rounds)
    print("## First page of 50 (goal: <= 20 ms)\n\n| read | median |\n| --- | --- |")
    for name, seconds in first.items():
        print(f"| {name} | {seconds * 1000:.1f} ms |")


def report_whole(count: int, whole: dict[str, float]) -> None:
    """Print the whole timeline's read of *count* messages against its floors."""
    print(
        f"\n## Whole timeline of {count:,} messages, pages of 500 (goal: <= 1.5x)\n\n"
        "| read | median | store / this |\n| --- | --- | --- |"
    )
    for name, seconds in whole.items():
        print(f"| {name} | {seconds:.3f} s | {whole['store'] / seconds:.2f}x |")


def report_old(rev: str, new: float, old: float, new_floor: float, old_floor: float) -> None:
    """Print the whole timeline of this store and of *rev*'s, each against its floor."""
    print(f"\n## Against {rev}, in turns\n\n| read | median | ÷ its floor |\n| --- | --- | --- |")
    print(f"| this store | {new:.3f} s | {new / new_floor:.2f}x |")
    print(f"| store of {rev} | {old:.3f} s | {old / old_floor:.2f}x |")
    print(f"\nthis ÷ {rev}: {new / old:.2f}x")


if __name__ == "__main__":
    main()
