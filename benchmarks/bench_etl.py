"""Backfill throughput: one process against Dask with one and two workers; the snapshot's size.

Run by hand from the project root (needs the dask extra, ``pip install -e '.[dask]'``):

    .venv/bin/python benchmarks/bench_etl.py [--messages 200000] [--contacts 1000000]
        [--files 8] [--workers 1 2]

The corpus is the rules benchmark's (`bench_rules.corpus`: Zipf-distributed over about 50,000
addresses, colleagues, other companies, free providers, role senders, internationalised and
malformed addresses, 20 mailboxes), in the JSON-lines form with a ``mailbox`` field, written as
``--files`` files. The contacts are ``--contacts`` made by the contact benchmark's
`bench_contacts.make_contacts`, plus one contact for three of every four external addresses of
the corpus, so that links find contacts as in a real CRM.

What is timed, precisely:
- *snapshot*: ``pickle.dumps`` and ``pickle.loads`` of the `ContactIndex` and of the
  `Snapshot` made from it (and the time to make it), with sizes, raw and zlib level 1.
- *single process*: a fresh interpreter (spawned, so its caches start cold as a worker's do)
  loads the pickled snapshot, then runs `run_local` and `write_results` over each file in turn.
  Loading is timed apart; the throughput counts reading, deciding, linking, redacting,
  encoding and writing.
- *Dask*: a ``LocalCluster`` of N worker processes of one thread each, started before the
  clock, then `backfill_dask` over the files (blocks of ``--blocksize``); the time covers
  scattering the snapshot to every worker, loading it there and the whole backfill.
CPU seconds count every process that does the work: the single process, or the Dask workers,
the scheduler and the client together. Messages per CPU second do not depend on how busy the
machine is; messages per second do. Every path writes the same results: the benchmark checks
that their digests agree. At the start
and the end it also measures how much two busy Python processes get done at once against one
(2.0 on two free cores), since a shared machine gives less and that bounds any speed-up.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import multiprocessing
import os
import pickle
import platform
import random
import resource
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_contacts import make_contacts
from bench_rules import ORG, corpus, setup

from mailbind import Contact, ContactIndex, Role, parse_participants
from mailbind.etl import Snapshot, backfill_dask, read_results, run_local, write_results

CREATED = make_contacts(1, random.Random(0))[0].created_at


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def jsonl_corpus(count: int, seed: int) -> tuple[list[str], list[str]]:
    """The rules benchmark's corpus in the JSON-lines form (``sender``, ``sent_at``)."""
    lines, owners = corpus(count, 50_000, seed)
    out = []
    for line in lines:
        record = json.loads(line)
        record["sender"] = record.pop("from")
        record["sent_at"] = record.pop("date")
        out.append(json.dumps(record, ensure_ascii=False))
    return out, owners


def corpus_contacts(lines: list[str]) -> list[Contact]:
    """A contact for three of every four readable external addresses of the corpus."""
    keys: dict[str, Any] = {}
    for line in lines:
        record = json.loads(line)
        for field in ("sender", "to", "cc", "bcc"):
            value = record.get(field) or []
            for header in [value] if isinstance(value, str) else value:
                for participant in parse_participants(header, Role.TO):
                    address = participant.address
                    if address is not None and address.registrable != ORG:
                        keys.setdefault(address.key, address)
    return [
        Contact(f"corpus-{n}", address, created_at=CREATED)
        for n, address in enumerate(keys.values())
        if n % 4 != 3
    ]


def cpu_seconds() -> float:
    """The CPU time this process has used, user and system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cluster_cpu_seconds(client: Any) -> float:
    """The CPU time the workers, the scheduler and this client process have used."""
    workers = client.run(cpu_seconds)
    return sum(workers.values()) + client.run_on_scheduler(cpu_seconds) + cpu_seconds()


def single_process(
    snapshot_path: str, files: list[str], out: str
) -> tuple[float, float, float, int]:
    """In a fresh process: load the snapshot, then back-fill every file.

    The seconds loading took, the seconds and CPU seconds the backfill took, and its results.
    """
    load_s, snapshot = timed(lambda: pickle.loads(Path(snapshot_path).read_bytes()))
    cpu_before = cpu_seconds()

    def run() -> int:
        count = 0
        for n, path in enumerate(files):
            with open(path, encoding="utf-8") as lines:
                count += write_results(run_local(lines, snapshot), f"{out}/part-{n:05d}.jsonl")
        return count

    run_s, count = timed(run)
    return load_s, run_s, cpu_seconds() - cpu_before, count


def burn(rounds: int) -> float:
    """Seconds a busy loop of plain Python takes: the machine's speed for one process."""
    start = time.perf_counter()
    total = 0
    for n in range(rounds):
        total += n * n
    return time.perf_counter() - start


def parallel_capacity(rounds: int = 20_000_000) -> float:
    """How many processes' worth of Python work the machine runs at once, with two processes."""
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(2) as pool:
        alone = pool.apply(burn, (rounds,))
        together = pool.map(burn, [rounds, rounds])
    return 2 * alone / max(together)


def digest(results: Any) -> str:
    """A digest of results in order, to check that two paths wrote the same."""
    hashed = hashlib.sha256()
    for result in results:
        hashed.update(json.dumps(result, sort_keys=True).encode("utf-8", "backslashreplace"))
    return hashed.hexdigest()[:16]


def mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def snapshot_sizes(
    count: int, seed: int, lines: list[str], policy: Any, mailboxes: Any
) -> tuple[Snapshot, bytes]:
    """Make the contacts and the snapshot, print what they pickle to; the snapshot and bytes."""
    contacts = make_contacts(count, random.Random(seed)) + corpus_contacts(lines)
    index = ContactIndex(contacts)
    print(f"contacts: {len(index):,} ({count:,} made, the rest from the corpus)")
    dump_s, index_bytes = timed(lambda: pickle.dumps(index, protocol=5))
    load_s, _ = timed(lambda: pickle.loads(index_bytes))
    make_s, snapshot = timed(lambda: Snapshot(mailboxes, policy, index, version="bench"))
    snap_dump_s, snap_bytes = timed(lambda: pickle.dumps(snapshot, protocol=5))
    snap_load_s, _ = timed(lambda: pickle.loads(snap_bytes))
    bare = len(pickle.dumps(Snapshot(mailboxes, policy), protocol=5))
    print()
    print("| pickled | size | zlib -1 | dumps | loads |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, data, dump, load in (
        (f"`ContactIndex`, {len(index):,} contacts", index_bytes, dump_s, load_s),
        (f"`Snapshot` of it (made in {make_s:.1f} s)", snap_bytes, snap_dump_s, snap_load_s),
    ):
        packed = len(zlib.compress(data, 1))
        print(f"| {label} | {mb(len(data))} | {mb(packed)} | {dump:.1f} s | {load:.1f} s |")
    print(f"(a snapshot without contacts: {bare / 1e3:.0f} kB: the policy and the mailboxes)")
    return snapshot, snap_bytes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--blocksize", default="8MiB", help="Dask partition size")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster

    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {sys.version.split()[0]}")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"two busy Python processes run at {parallel_capacity():.2f}x the work of one")
    made_s, (lines, owners) = timed(lambda: jsonl_corpus(args.messages, args.seed))
    print(f"corpus: {len(lines):,} messages, {mb(sum(map(len, lines)))}, made in {made_s:.1f} s")

    policy, mailboxes = setup(owners)
    snapshot, snap_bytes = snapshot_sizes(args.contacts, args.seed, lines, policy, mailboxes)

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-etl-") as tmp:
        root = Path(tmp)
        files = []
        for n in range(args.files):
            path = root / f"mail-{n:02d}.jsonl"
            path.write_text("".join(line + "\n" for line in lines[n :: args.files]), "utf-8")
            files.append(str(path))
        snapshot_path = root / "snapshot.pickle"
        snapshot_path.write_bytes(snap_bytes)

        out = root / "single"
        out.mkdir()
        spawn = multiprocessing.get_context("spawn")
        with spawn.Pool(1) as pool:
            wall_s, (load_one_s, run_s, run_cpu_s, results) = timed(
                lambda: pool.apply(single_process, (str(snapshot_path), files, str(out)))
            )
        single_results = [
            r for n in range(args.files) for r in read_results(out / f"part-{n:05d}.jsonl")
        ]
        expected = digest(single_results)
        synced = sum(r["synced"] for r in single_results)
        del single_results
        rows.append(
            (
                "single process",
                run_s,
                run_cpu_s,
                f"snapshot loaded in {load_one_s:.1f} s; {wall_s:.1f} s in all",
            )
        )
        bare_path = root / "snapshot-none.pickle"
        bare = Snapshot(mailboxes, policy, snapshot.owners, version="bench", view="none")
        bare_path.write_bytes(pickle.dumps(bare, protocol=5))
        (root / "single-none").mkdir()
        with spawn.Pool(1) as pool:
            _, (_, none_s, none_cpu_s, _) = timed(
                lambda: pool.apply(
                    single_process, (str(bare_path), files, str(root / "single-none"))
                )
            )
        rows.append(
            ('single process, `view="none"`', none_s, none_cpu_s, "decisions and links only")
        )

        for workers in args.workers:
            start_s, cluster = timed(
                lambda workers=workers: LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                    local_directory=tmp,
                )
            )
            with cluster, Client(cluster, set_as_default=False) as client:
                target = root / f"dask-{workers}"
                cpu_before = cluster_cpu_seconds(client)
                run_dask_s, report = timed(
                    lambda client=client, target=target: backfill_dask(
                        files, snapshot, target, client=client, blocksize=args.blocksize
                    )
                )
                dask_cpu_s = cluster_cpu_seconds(client) - cpu_before
            same = digest(read_results(target)) == expected
            rows.append(
                (
                    f"Dask, {workers} worker{'s' if workers > 1 else ''}",
                    run_dask_s,
                    dask_cpu_s,
                    f"{len(report.parts)} partitions; cluster started in {start_s:.1f} s; "
                    f"results {'equal' if same else 'DIFFER'}",
                )
            )

    n = len(lines)
    print()
    print(f"results: {results:,} ({synced:,} synced), view redacted, JSON lines")
    print()
    print("| path | seconds | messages/s | CPU seconds | messages per CPU second | notes |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for label, seconds, cpu, note in rows:
        print(
            f"| {label} | {seconds:.1f} | {n / seconds:,.0f} | {cpu:.1f} | {n / cpu:,.0f} "
            f"| {note} |"
        )
    print()
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"two busy Python processes run at {parallel_capacity():.2f}x the work of one")


if __name__ == "__main__":
    main()
