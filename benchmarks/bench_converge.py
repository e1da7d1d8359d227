"""How fast a pass converges a stored mailbox: a sync with nothing new, and a settings change.

Run by hand from the project root:

    .venv/bin/python benchmarks/bench_converge.py [--messages 100000] [--maildir 20000]
                                                  [--rounds 5] [--profile WHAT] [--keep DIR]

It writes the deterministic synthetic mailbox of ``bench_sync.py`` (seed 2025) as an mbox of
*--messages* messages and, unless ``--maildir 0``, as a Maildir of its first *--maildir*
messages, syncs each once into a SQLite store file (the seller's mailbox, incoming mail shared
at ``metadata``), and then measures, in rounds taken in turns so that both sides of each ratio
see the same load:

1. **Nothing new.** (a) ``source.listing()`` alone, on a fresh source object; (b) a whole
   ``sync_mailbox`` pass with the same mailbox, policy and stored cursor, on a fresh source and
   a freshly opened store: nothing to fetch, nothing gone. Goal: b ≤ 1.5 × a.
   The Maildir is measured twice: as it is once it held still for a while (its directories'
   modification times in the past: the pass and the listing read those times and no file),
   and with its directories just changed (their times set to now before each call, so both
   list every file; the pass stats each one too).
2. **A settings change** (the mbox's store only): the mailbox's incoming level raised from
   ``metadata`` to ``subject``, which changes the decision of every synced incoming copy and
   needs no re-read. (a) The floor: ``UPDATE copies SET level = 'subject'`` over exactly the
   rows the change rewrites (the synced incoming copies), in one ``BEGIN IMMEDIATE``
   transaction; (b) the dry run, ``apply_settings(..., dry_run=True)`` under the new settings
   (the settings step of a pass, without reading the source); (c) the apply,
   ``apply_settings(..., confirm=lambda _: True)``; and, for the record, (d) a whole
   ``sync_mailbox`` pass under the new settings, which reads the source's listing too. Each
   runs on its own fresh copy of the synced database, copied before its timer starts, so every
   round does the same work. Goal: b ≤ 2 × a and c ≤ 2 × a.

Times are CPU seconds of this process (``time.process_time``: SQLite's work included, other
load on the machine barely changes it) with wall-clock seconds beside them; each round's ratio
is printed, then the median and range of the ratios. ``--profile nothing-new|dry-run|apply``
prints a cProfile of one such pass instead.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_sync import ALIAS, BLOCKLIST, NOW, ORG, OWNER, machine, write_mbox

from mailbind import Mailbox, Policy
from mailbind.engine import SyncReport, apply_settings, sync_mailbox
from mailbind.planner import SettingsChange
from mailbind.sources.maildir import MaildirSource
from mailbind.sources.mbox import MboxSource
from mailbind.stores.sqlite import SQLiteStore

POLICY = Policy(org_domains=[ORG], blocklist=BLOCKLIST)
BEFORE = Mailbox(owner=OWNER, aliases=[ALIAS], incoming="metadata", outgoing="everything")
AFTER = Mailbox(owner=OWNER, aliases=[ALIAS], incoming="subject", outgoing="everything")

Source = Callable[[], Any]
#: When the benchmark's Maildir last changed, as far as its directories say (2025-01-01).
SETTLED_NS = 1_735_689_600 * 1_000_000_000


def write_maildir(folder: str, mbox_path: str, count: int) -> int:
    """The first *count* messages of *mbox_path*, one file each in *folder*'s ``cur``; bytes."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    total = n = 0
    with open(mbox_path, "rb") as file:
        data = file.read()
    start = 0
    while n < count and start < len(data):
        end = data.find(b"\nFrom ", start)
        end = len(data) if end < 0 else end + 1
        raw = data[start:end]
        raw = raw[raw.index(b"\n") + 1 :].replace(b"\n>From ", b"\nFrom ")
        with open(os.path.join(folder, "cur", f"{n:08d}.bench:2,S"), "wb") as out:
            out.write(raw)
        total += len(raw)
        n += 1
        start = end
    return total


def timed(run: Callable[[], Any]) -> tuple[float, float, Any]:
    """(CPU seconds, wall seconds, result) of *run*."""
    started, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.process_time() - cpu, time.perf_counter() - started, result


def fresh_copy(base: str, path: str) -> str:
    """*base* copied to *path* (a closed, checkpointed database: one file)."""
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    shutil.copyfile(base, path)
    return path


def first_sync(source: Any, db: str) -> SyncReport:
    with SQLiteStore(db) as store:
        return sync_mailbox(source, store, BEFORE, POLICY, now=NOW)


def nothing_new(make: Source, db: str) -> Callable[[], SyncReport]:
    """A pass over a freshly opened store, the store opened before the timer starts."""
    store = SQLiteStore(db)
    source = make()

    def run() -> SyncReport:
        try:
            report = sync_mailbox(source, store, BEFORE, POLICY, now=NOW)
        finally:
            store.close()
        if report.seen or report.gone or report.settings_changes:
            raise AssertionError(f"The pass was not empty: {report}")
        return report

    return run


def listing(make: Source) -> Callable[[], int]:
    source = make()

    def run() -> int:
        return len(source.listing().present or ())

    return run


def floor_update(db: str) -> Callable[[], int]:
    """The plain UPDATE of the rows the settings change rewrites."""
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")

    def run() -> int:
        try:
            connection.execute("BEGIN IMMEDIATE")
            changed = connection.execute(
                "UPDATE copies SET level = ? WHERE workspace = ? AND mailbox_id = ? "
                "AND direction = 'incoming' AND synced = 1",
                ("subject", "default", BEFORE.id),
            ).rowcount
            connection.execute("COMMIT")
        finally:
            connection.close()
        return int(changed)

    return run


def change(db: str, *, dry_run: bool) -> Callable[[], tuple[SettingsChange, ...]]:
    """The settings step alone (`apply_settings`), the store opened before the timer starts."""
    store = SQLiteStore(db)

    def run() -> tuple[SettingsChange, ...]:
        try:
            return apply_settings(
                store, AFTER, POLICY, now=NOW, dry_run=dry_run, confirm=lambda _: True
            )
        finally:
            store.close()

    return run


def change_pass(make: Source, db: str) -> Callable[[], SyncReport]:
    """A whole pass under the new settings: the settings step, then the source read again."""
    store = SQLiteStore(db)
    source = make()

    def run() -> SyncReport:
        try:
            return sync_mailbox(source, store, AFTER, POLICY, now=NOW, confirm=lambda _: True)
        finally:
            store.close()

    return run


def rewritten(changes: tuple[SettingsChange, ...]) -> int:
    """How many copies *changes* rewrites."""
    return sum(len(c.changes) + sum(r.copies for r in c.levels) for c in changes)


def summary(label: str, ratios: list[float]) -> str:
    return (
        f"{label}: median {statistics.median(ratios):.2f}× "
        f"(range {min(ratios):.2f}–{max(ratios):.2f}×, {len(ratios)} rounds)"
    )


def touch(folder: str, when_ns: int | None) -> None:
    """Set the modification time of *folder* and of its ``cur``, ``new`` and ``tmp`` to
    *when_ns* (None: now)."""
    for path in (folder, *(os.path.join(folder, sub) for sub in ("cur", "new", "tmp"))):
        if when_ns is None:
            os.utime(path)
        else:
            os.utime(path, ns=(when_ns, when_ns))


def bench_nothing_new(
    name: str, make: Source, db: str, rounds: int, before: Callable[[], None] | None = None
) -> list[str]:
    """*before*, when given, runs before each timed call (not timed)."""
    print(f"\n## {name}: a pass with nothing new against the listing alone")
    print("| round | listing CPU s | pass CPU s | pass ÷ listing | listing wall s | pass wall s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    cpu_ratios, wall_ratios = [], []
    for n in range(1, rounds + 1):
        if before is not None:
            before()
        a_cpu, a_wall, present = timed(listing(make))
        if before is not None:
            before()
        b_cpu, b_wall, _ = timed(nothing_new(make, db))
        cpu_ratios.append(b_cpu / a_cpu)
        wall_ratios.append(b_wall / a_wall)
        print(
            f"| {n} | {a_cpu:.3f} | {b_cpu:.3f} | {b_cpu / a_cpu:.2f}× | {a_wall:.3f} | "
            f"{b_wall:.3f} |"
        )
    print(f"({present:,} copies listed)")
    return [
        summary(f"{name}, nothing new, CPU", cpu_ratios),
        summary(f"{name}, nothing new, wall", wall_ratios),
    ]


def bench_change(make: Source, base: str, folder: str, rounds: int) -> list[str]:
    print("\n## mbox: incoming level raised, metadata -> subject")
    print(
        "| round | UPDATE CPU s | dry run CPU s | apply CPU s | dry ÷ UPDATE | apply ÷ UPDATE "
        "| UPDATE wall s | dry wall s | apply wall s | whole pass CPU s |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    work = os.path.join(folder, "work.sqlite")
    dry: list[float] = []
    apply: list[float] = []
    dry_wall: list[float] = []
    apply_wall: list[float] = []
    whole: list[float] = []
    for n in range(1, rounds + 1):
        a_cpu, a_wall, rows = timed(floor_update(fresh_copy(base, work)))
        b_cpu, b_wall, preview = timed(change(fresh_copy(base, work), dry_run=True))
        c_cpu, c_wall, applied = timed(change(fresh_copy(base, work), dry_run=False))
        d_cpu, _, passed = timed(change_pass(make, fresh_copy(base, work)))
        for said in (preview, applied, passed.settings_changes):
            if rewritten(said) != rows:
                raise AssertionError(
                    f"The change rewrote {rewritten(said):,}, the UPDATE {rows:,}."
                )
        dry.append(b_cpu / a_cpu)
        apply.append(c_cpu / a_cpu)
        dry_wall.append(b_wall / a_wall)
        apply_wall.append(c_wall / a_wall)
        whole.append(d_cpu / a_cpu)
        print(
            f"| {n} | {a_cpu:.3f} | {b_cpu:.3f} | {c_cpu:.3f} | {b_cpu / a_cpu:.2f}× | "
            f"{c_cpu / a_cpu:.2f}× | {a_wall:.3f} | {b_wall:.3f} | {c_wall:.3f} | {d_cpu:.3f} |"
        )
    print(f"({rows:,} copies change)")
    return [
        summary("settings change, dry run ÷ UPDATE, CPU", dry),
        summary("settings change, apply ÷ UPDATE, CPU", apply),
        summary("settings change, dry run ÷ UPDATE, wall", dry_wall),
        summary("settings change, apply ÷ UPDATE, wall", apply_wall),
        summary("settings change, a whole pass (source read too) ÷ UPDATE, CPU", whole),
    ]


def profile(what: str, make: Source, base: str, folder: str) -> None:
    work = fresh_copy(base, os.path.join(folder, "work.sqlite"))
    run: Callable[[], object] = (
        nothing_new(make, work)
        if what == "nothing-new"
        else change(work, dry_run=what == "dry-run")
    )
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--maildir", type=int, default=20_000, help="0: no Maildir")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", choices=("nothing-new", "dry-run", "apply"))
    parser.add_argument("--keep", metavar="DIR", help="write the files to DIR and keep them")
    args = parser.parse_args(argv)

    folder = args.keep or tempfile.mkdtemp(prefix="mailbind-converge-")
    os.makedirs(folder, exist_ok=True)
    try:
        mbox = os.path.join(folder, f"mail-{args.messages}.mbox")
        base = os.path.join(folder, f"synced-{args.messages}.sqlite")
        if not os.path.exists(base):
            started = time.perf_counter()
            size = write_mbox(mbox, args.messages, args.seed)
            print(f"mbox: {args.messages:,} messages, {size / 1e6:.1f} MB", end="")
            report = first_sync(MboxSource(mbox), base)
            print(
                f", synced once in {time.perf_counter() - started:.0f} s: "
                f"{report.synced:,} synced, {report.skipped:,} kept out"
            )

        def make_mbox() -> MboxSource:
            return MboxSource(mbox)

        if args.profile:
            profile(args.profile, make_mbox, base, folder)
            return
        print(f"machine: {machine()}, {platform.platform()}")
        results = bench_nothing_new("mbox", make_mbox, base, args.rounds)
        results += bench_change(make_mbox, base, folder, args.rounds)
        if args.maildir:
            maildir = os.path.join(folder, f"maildir-{args.maildir}")
            maildir_db = os.path.join(folder, f"synced-maildir-{args.maildir}.sqlite")
            if not os.path.exists(maildir_db):
                size = write_maildir(maildir, mbox, args.maildir)
                touch(maildir, SETTLED_NS)  # a Maildir that has held still for a while
                report = first_sync(MaildirSource(maildir, window=0.0), maildir_db)
                print(
                    f"\nMaildir: {args.maildir:,} messages, {size / 1e6:.1f} MB, "
                    f"{report.synced:,} synced"
                )

            def make_maildir() -> MaildirSource:
                return MaildirSource(maildir, window=0.0)

            results += bench_nothing_new("Maildir", make_maildir, maildir_db, args.rounds)
            results += bench_nothing_new(
                "Maildir just changed",
                make_maildir,
                maildir_db,
                args.rounds,
                before=lambda: touch(maildir, None),
            )
            touch(maildir, SETTLED_NS)
        print()
        for line in results:
            print(line)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
