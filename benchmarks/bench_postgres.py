"""PostgresStore: a sync against a COPY floor, four workers against one, and bytes per message.

Run by hand from the project root (needs PostgreSQL's binaries, as the tests do):

    .venv/bin/python benchmarks/bench_postgres.py [--messages 20000] [--repeat 2]

It starts a scratch PostgreSQL server (tests/postgres.py: initdb + pg_ctl on a loopback port,
fsync off) and builds *--messages* deterministic messages in memory (customers on work
domains, colleagues, two customers per message, a tenth of them shared by two mailboxes), so
that reading mail costs nothing and only planning and storing are measured. Each message has
two customers (an address seen about once in the corpus, so a sync creates about two contacts
per message) on one of 900 client domains shared by every mailbox; some customers write to two
mailboxes. Then, interleaved *--repeat* times (the best wall time counts):

1. sync: ``sync_mailbox`` of the messages, split over four mailboxes, one after the other,
   into an empty database;
2. floor: the rows that sync stored (every table, dumped with ``COPY TO``) written into an
   empty database of the same schema and indexes with ``COPY FROM`` in one transaction;
2a. store: the store alone: the writes the first sync handed its stores (``apply_batch`` and
   every other write, recorded as they were made), applied again in the same order, one
   ``PostgresStore`` a mailbox as the sync has, to an empty database of the same schema, so
   that deciding and planning cost nothing (the replay must leave the same rows as the sync:
   checked in the first round);
3. workers: the same four mailboxes synced by four processes at once, into an empty database;
   the ratio is (1)'s time over (3)'s;
4. sync and workers again on a corpus whose mailboxes share no correspondent (each mailbox's
   customers on client domains of its own), so that the workers contend for the CPUs only;
5. bytes: ``pg_total_relation_size`` of every table (indexes and TOAST included) per stored
   message, and the SQLite file (``SQLiteStore``, after a checkpoint) per message.

Beside each wall time it prints the CPU seconds spent by the benchmark's processes (client)
and by the PostgreSQL server (its backends, read from ``/proc``), so that a figure taken on a
machine shared with other work can be told apart from the load. Last come the ratios sync ÷
floor and store ÷ floor of each round (wall, and CPU: client and server together), their
medians and ranges.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from benchmarks.bench_store_floor import Recording, Write
from tests.postgres import Postgres

from mailbind import Mailbox, Message, Policy
from mailbind.engine import sync_mailbox
from mailbind.stores.postgres import PostgresStore
from mailbind.stores.sqlite import SQLiteStore
from mailbind.testing import ListSource

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
POLICY = Policy(["acme.com"])
OWNERS = ("anna", "ben", "carl", "dana")
TABLES = (
    "mailboxes",
    "policies",
    "settings_log",
    "sync_state",
    "messages",
    "thread_nodes",
    "copies",
    "contacts",
    "contact_addresses",
    "participants",
    "companies",
    "company_domains",
    "suppressions",
    "contact_versions",
)


def mailbox(name: str) -> Mailbox:
    return Mailbox(f"{name}@acme.com", incoming="subject", outgoing="everything", id=name)


def mail(name: str, count: int, offset: int, *, disjoint: bool = False) -> list[Message]:
    """*name*'s share of the corpus: *count* messages starting at number *offset*; with
    *disjoint*, its customers are on client domains no other mailbox writes with."""
    found = []
    clients = f"{name}-client" if disjoint else "client"
    for n in range(offset, offset + count):
        customer = f"Customer {n % 5000} <c{n % 5000}@{clients}{n % 900}.example>"
        other = f"c{(n * 7) % 5000}@{clients}{(n * 7) % 900}.example"
        shared = n % 10 == 0
        found.append(
            Message.build(
                sender=customer,
                to=f"{name}@acme.com" + (", carl@acme.com" if shared else ""),
                cc=other,
                subject=f"Re: order {n}",
                text=f"Hello {name},\n\nabout order {n}: " + "the details follow. " * 40,
                message_id=f"<m{n}@client.example>",
                sent_at=NOW - timedelta(minutes=n),
            )
        )
    return found


def corpus(total: int, *, disjoint: bool = False) -> dict[str, list[Message]]:
    share = total // len(OWNERS)
    return {name: mail(name, share, i * share, disjoint=disjoint) for i, name in enumerate(OWNERS)}


def client_cpu() -> float:
    """CPU seconds of this process and of its children that ended."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + ended.ru_utime + ended.ru_stime


def server_cpu(server: Postgres) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster, its live children and the ended
    ones it waited for (Linux ``/proc``; 0 elsewhere)."""
    try:
        pid = (server.scratch / "data" / "postmaster.pid").read_text().split()[0]
        ticks = 0
        for proc in [pid, *Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class RecordingStore(Recording, PostgresStore):
    """A `PostgresStore` that also records each write a sync makes, in order, for a replay."""

    def __init__(self, database: str, writes: list[Write]) -> None:
        super().__init__(database)
        self.writes = writes


def sync_one(
    conninfo: str, name: str, messages: list[Message], writes: list[Write] | None = None
) -> None:
    store = PostgresStore(conninfo) if writes is None else RecordingStore(conninfo, writes)
    with store:
        sync_mailbox(ListSource(messages, name=name), store, mailbox(name), POLICY, now=NOW)


def serial(
    conninfo: str,
    mail_of: dict[str, list[Message]],
    record: dict[str, list[Write]] | None = None,
) -> float:
    """Sync each mailbox in turn; with *record*, each one's writes are recorded in it."""
    start = time.perf_counter()
    for name in OWNERS:
        writes = None if record is None else record.setdefault(name, [])
        sync_one(conninfo, name, mail_of[name], writes)
    return time.perf_counter() - start


def replay(conninfo: str, record: dict[str, list[Write]]) -> float:
    """Apply each mailbox's recorded writes, in turn, with a store of its own, as `serial`."""
    start = time.perf_counter()
    for name in OWNERS:
        with PostgresStore(conninfo) as store:
            for method, args, workspace in record[name]:
                getattr(store, method)(*args, workspace=workspace)
    return time.perf_counter() - start


def parallel(conninfo: str, mail_of: dict[str, list[Message]]) -> float:
    context = multiprocessing.get_context("fork")
    start = time.perf_counter()
    workers = [
        context.Process(target=sync_one, args=(conninfo, name, mail_of[name])) for name in OWNERS
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    return time.perf_counter() - start


def dump(conninfo: str) -> dict[str, bytes]:
    rows: dict[str, bytes] = {}
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        for table in TABLES:
            buffer = io.BytesIO()
            with cur.copy(f"COPY {table} TO STDOUT") as copy:
                for data in copy:
                    buffer.write(data)
            rows[table] = buffer.getvalue()
    return rows


def floor(conninfo: str, rows: dict[str, bytes]) -> float:
    """Write *rows* into the empty schema at *conninfo* with COPY, in one transaction."""
    start = time.perf_counter()
    with psycopg.connect(conninfo) as conn, conn.transaction(), conn.cursor() as cur:
        # Parents before children (the foreign keys).
        for table in TABLES:
            with cur.copy(f"COPY {table} FROM STDIN") as copy:
                copy.write(rows[table])
    return time.perf_counter() - start


def pg_bytes(conninfo: str) -> tuple[int, int]:
    """The bytes of every table (indexes and TOAST included) and the stored messages."""
    with psycopg.connect(conninfo) as conn:
        (size,) = conn.execute(
            "SELECT sum(pg_total_relation_size(t))::bigint FROM unnest(%s::text[]) AS t",
            (list(TABLES),),
        ).fetchall()[0]
        (count,) = conn.execute("SELECT count(*) FROM messages").fetchall()[0]
    return int(size), int(count)


def sqlite_bytes(mail_of: dict[str, list[Message]]) -> tuple[int, int, float]:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "s.sqlite")
        start = time.perf_counter()
        with SQLiteStore(path) as store:
            for name in OWNERS:
                sync_mailbox(
                    ListSource(mail_of[name], name=name), store, mailbox(name), POLICY, now=NOW
                )
            store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            count = int(store._db.execute("SELECT count(*) FROM messages").fetchone()[0])
        took = time.perf_counter() - start
        return os.path.getsize(path), count, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--no-workers", action="store_true", help="only the sync, the floor and the store alone"
    )
    args = parser.parse_args()
    kinds = ["sync", "floor", "store"]
    if not args.no_workers:
        kinds += ["workers", "sync apart", "workers apart"]
    mail_of = corpus(args.messages)
    apart = corpus(args.messages, disjoint=True)
    server = Postgres.start()
    try:
        best: dict[str, tuple[float, float, float]] = {}
        rounds: list[dict[str, tuple[float, float, float]]] = []
        rows: dict[str, bytes] = {}
        record: dict[str, list[Write]] = {}
        size = count = 0
        n = 0
        for _ in range(args.repeat):
            rounds.append({})
            for kind in kinds:
                n += 1
                db = server.create_database(f"b{n}")
                if kind in ("floor", "store"):
                    PostgresStore(db).close()  # the schema, empty
                client, served = client_cpu(), server_cpu(server)
                if kind == "sync":
                    took = serial(db, mail_of, None if record else record)
                elif kind == "floor":
                    took = floor(db, rows)
                elif kind == "store":
                    took = replay(db, record)
                elif kind == "workers":
                    took = parallel(db, mail_of)
                elif kind == "sync apart":
                    took = serial(db, apart)
                else:
                    took = parallel(db, apart)
                spent = (took, client_cpu() - client, server_cpu(server) - served)
                rounds[-1][kind] = spent
                if kind == "sync":
                    rows = dump(db)
                    size, count = pg_bytes(db)
                if kind == "store" and len(rounds) == 1:
                    replayed = dump(db)
                    for table in TABLES:
                        assert replayed[table].count(b"\n") == rows[table].count(b"\n"), table
                        assert sorted(replayed[table].splitlines()) == sorted(
                            rows[table].splitlines()
                        ), f"the replay left other rows in {table} than the sync"
                if kind not in best or took < best[kind][0]:
                    best[kind] = spent
                print(
                    f"{kind:14} {took:8.2f} s  (CPU: client {spent[1]:6.2f} s, "
                    f"server {spent[2]:6.2f} s)",
                    flush=True,
                )
        sq_size, sq_count, sq_took = sqlite_bytes(mail_of)
        total = args.messages // len(OWNERS) * len(OWNERS)
        wall = {kind: spent[0] for kind, spent in best.items()}
        cpu = {kind: spent[1] + spent[2] for kind, spent in best.items()}
        print(f"\nmessages synced: {total} ({count} stored)")
        print(f"sync (1 worker):   {wall['sync']:.2f} s  {total / wall['sync']:.0f} msg/s")
        print(f"COPY floor:        {wall['floor']:.2f} s")
        print(
            f"sync / floor:      {wall['sync'] / wall['floor']:.1f}x wall, "
            f"{cpu['sync'] / cpu['floor']:.1f}x CPU"
        )
        for what in ("store", "sync"):
            walls = [r[what][0] / r["floor"][0] for r in rounds]
            cpus = [(r[what][1] + r[what][2]) / (r["floor"][1] + r["floor"][2]) for r in rounds]
            print(
                f"{what} / floor, rounds: wall median {statistics.median(walls):.2f}x "
                f"({min(walls):.2f}-{max(walls):.2f}x), CPU median {statistics.median(cpus):.2f}x "
                f"({min(cpus):.2f}-{max(cpus):.2f}x)"
            )
        if not args.no_workers:
            print(
                f"4 workers:         {wall['workers']:.2f} s  {total / wall['workers']:.0f} msg/s"
            )
            print(f"4 workers vs 1:    {wall['sync'] / wall['workers']:.2f}x throughput")
            print(
                f"apart, 4 vs 1:     {wall['sync apart'] / wall['workers apart']:.2f}x throughput "
                f"({wall['sync apart']:.2f} s vs {wall['workers apart']:.2f} s)"
            )
        print(f"PostgreSQL bytes per message: {size / count:.0f}")
        print(f"SQLite bytes per message:     {sq_size / sq_count:.0f} (sync took {sq_took:.1f} s)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
