"""Benchmark the contact index: build, lookups, lifecycle operations, memory and pickled size.

Run by hand (it takes a minute or two and about 3 GB of memory at the default size):

    .venv/bin/python benchmarks/bench_contacts.py [--contacts 1000000] [--seed 1]

The data: N contacts with 1.5 addresses each on average (half have one additional address), 2%
of all address slots shared between contacts (an additional address that is another contact's
primary), and 1% soft-deleted. Every creation time is distinct.

Every time is CPU time of this process (`time.process_time`, best of several runs): on a machine
shared with other work it stays close to what a free core takes, where wall-clock time does
not. Ratios compare measurements of the same run.

What is timed, precisely:
- *contacts*: making the `Contact` records from `Address` values made directly with the
  dataclass constructor. Reading 1.5M address strings through the validator is the parser's
  cost (cached and benchmarked with the rules) and would dominate; it is not part of the index.
- *build*: ``ContactIndex(contacts)`` over those already-made contacts.
- *lookups*: 1,000,000 ``index.resolve(address)`` calls with `Address` values, 80% of them
  hits, against ``dict.get(key)`` on a plain dict holding the same keys, with the same keys
  as strings, in the same run (the ratio is what counts on a shared machine).
- *operations*: 10,000 mixed lifecycle operations (create, edit, soft delete, restore,
  destroy, suppress), generated beforehand, on indexes of 10% and of 100% of N contacts; the
  best of five rounds, the two sizes taking turns so that both see the same machine.
- *memory*: what building the index allocates (tracemalloc), divided by the number of
  address slots (primary plus additional addresses). The contacts and their addresses are the
  caller's and are not counted; the figure is the index's own cost per address.
- *pickle*: ``pickle.dumps(index)`` size per address slot, with dump and load times; the
  pickled contacts list alone is given for comparison.
"""

from __future__ import annotations

import argparse
import gc
import pickle
import random
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from mailbind import Address, Contact, ContactIndex

T0 = datetime(2020, 1, 1, tzinfo=UTC)
FIRST = ["anna", "ben", "chloe", "david", "emma", "felix", "greta", "hugo", "ida", "jonas"]
LAST = ["berg", "costa", "dubois", "eriksen", "fischer", "garcia", "hansen", "ito", "jones"]


def address(local: str, domain: str) -> Address:
    """An ASCII address made directly (the parser's result for ``local@domain``)."""
    return Address(
        key=f"{local}@{domain}",
        local=local,
        domain=domain,
        ascii_domain=domain,
        registrable=domain,
        strict=True,
    )


def make_contacts(count: int, rnd: random.Random) -> list[Contact]:
    """*count* contacts: half with one additional address; 2% of slots shared; 1% deleted."""
    domains = [f"company{i}.example" for i in range(max(1, count // 20))]
    primaries = [
        address(f"{rnd.choice(FIRST)}.{rnd.choice(LAST)}{i}", rnd.choice(domains))
        for i in range(count)
    ]
    # 1.5 slots per contact; 2% of all slots (3% of contacts) point at another's primary.
    shared_slots = int(0.02 * 1.5 * count)
    contacts = []
    for i, primary in enumerate(primaries):
        additional: tuple[Address, ...] = ()
        if i % 2 == 0:
            if i % 100 < 6 and shared_slots > 0:
                shared_slots -= 1
                other = primaries[rnd.randrange(count)]
                additional = () if other is primary else (other,)
            else:
                additional = (address(f"p{i}", rnd.choice(domains)),)
        created = T0 + timedelta(seconds=i)
        contacts.append(
            Contact(
                id=f"c{i:07d}",
                primary=primary,
                additional=additional,
                created_at=created,
                deleted_at=created + timedelta(days=1) if i % 100 == 99 else None,
            )
        )
    return contacts


def timed(run: Callable[[], object]) -> tuple[float, object]:
    """CPU seconds *run* took in this process, with the collector off, and its result."""
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        result = run()
        return time.process_time() - start, result
    finally:
        gc.enable()


def lookups(index: ContactIndex, contacts: list[Contact], rnd: random.Random, n: int) -> None:
    """Time *n* lookups (80% hits) against dict.get on the same keys."""
    known = [a for c in contacts for a in c.addresses]
    queries = [
        rnd.choice(known) if rnd.random() < 0.8 else address(f"nobody{i}", "nowhere.example")
        for i in range(n)
    ]
    keys = [a.key for a in queries]
    plain = {a.key: c for c in contacts for a in c.addresses}

    def resolve_all() -> None:
        resolve = index.resolve
        for a in queries:
            resolve(a)

    def get_all() -> None:
        get = plain.get
        for k in keys:
            get(k)

    best_resolve = min(timed(resolve_all)[0] for _ in range(3))
    best_get = min(timed(get_all)[0] for _ in range(3))
    hits = sum(index.resolve(a) is not None for a in queries)
    print(f"lookups:      {n:,} ({hits / n:.0%} hits)")
    print(f"  resolve:    {best_resolve:.3f} s  ({n / best_resolve / 1e6:.2f} M/s)")
    print(f"  dict.get:   {best_get:.3f} s  ({n / best_get / 1e6:.2f} M/s)")
    print(f"  ratio:      {best_resolve / best_get:.2f}x dict.get")


def plan_operations(contacts: list[Contact], rnd: random.Random, n: int) -> list[tuple[str, Any]]:
    """*n* mixed lifecycle operations over *contacts*, made before anything is timed."""
    plan: list[tuple[str, Any]] = []
    for i in range(n):
        roll = rnd.random()
        contact = contacts[rnd.randrange(len(contacts))]
        if roll < 0.2:
            new = Contact(
                id=f"n{rnd.random()}",
                primary=address(f"new{i}.{rnd.random()}", "fresh.example"),
                additional=(rnd.choice(contacts).primary,),
                created_at=T0 + timedelta(days=3000, seconds=i),
            )
            plan.append(("upsert", new))
        elif roll < 0.4:
            edited = Contact(
                id=contact.id,
                primary=contact.primary,
                additional=(address(f"edit{i}", "fresh.example"), rnd.choice(contacts).primary),
                created_at=contact.created_at,
            )
            plan.append(("upsert", edited))
        elif roll < 0.6:
            plan.append(("soft_delete", contact.id))
        elif roll < 0.75:
            plan.append(("restore", contact.id))
        elif roll < 0.9:
            plan.append(("destroy", contact.id))
        else:
            plan.append(("suppress", contact.primary))
    return plan


def apply(index: ContactIndex, plan: list[tuple[str, Any]]) -> int:
    """Apply *plan* to *index*; the number of owner changes reported."""
    at = T0 + timedelta(days=4000)
    changed = 0
    for op, arg in plan:
        if op == "upsert":
            changed += len(index.upsert(arg))
        elif op == "suppress":
            index.suppress(arg)
        elif arg in index:
            if op == "soft_delete":
                changed += len(index.soft_delete(arg, at))
            elif op == "restore":
                changed += len(index.restore(arg))
            else:
                changed += len(index.destroy(arg))
    return changed


def operations(contacts: list[Contact], rnd: random.Random, n: int, rounds: int = 5) -> None:
    """*n* operations on an index of 10% and of 100% of *contacts*, rounds interleaved."""
    sizes = {"small": contacts[: len(contacts) // 10], "large": contacts}
    indexes = {name: ContactIndex(group) for name, group in sizes.items()}
    best = {name: float("inf") for name in sizes}
    changes = dict.fromkeys(sizes, 0)
    for _ in range(rounds):
        for name, group in sizes.items():
            plan = plan_operations(group, rnd, n)
            seconds, changed = timed(lambda: apply(indexes[name], plan))  # noqa: B023
            best[name] = min(best[name], seconds)
            changes[name] += changed  # type: ignore[operator]
    for name, group in sizes.items():
        seconds = best[name]
        print(
            f"operations:   {n:,} at {len(group):,} contacts: best of {rounds} {seconds:.3f} s "
            f"({n / seconds:,.0f} ops/s, {seconds / n * 1e6:.1f} µs/op; "
            f"{changes[name] / rounds:,.0f} owner changes a round)"
        )
    print(f"  cost ratio: {best['large'] / best['small']:.2f} (1.00 = independent of size)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=1_000_000)
    parser.add_argument("--operations", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    loop = timed(lambda: sum(range(10_000_000)))[0]
    print(f"machine:      sum(range(10**7)) in {loop:.3f} s (a reference for the figures below)")

    seconds, made = timed(lambda: make_contacts(args.contacts, rnd))
    contacts: list[Contact] = made  # type: ignore[assignment]
    slots = sum(1 + len(c.additional) for c in contacts)
    keys = len({a.key for c in contacts for a in c.addresses})
    deleted = sum(c.deleted_at is not None for c in contacts)
    print(f"contacts:     {len(contacts):,} ({slots:,} address slots, {keys:,} distinct keys,")
    print(f"              {slots - keys:,} slots shared, {deleted:,} soft-deleted)")
    print(f"  made in:    {seconds:.2f} s (not part of the build)")

    wall = time.perf_counter()
    builds = [timed(lambda: ContactIndex(contacts)) for _ in range(3)]
    wall = (time.perf_counter() - wall) / 3
    index: ContactIndex = builds[-1][1]  # type: ignore[assignment]
    best = min(s for s, _ in builds)
    runs = ", ".join(f"{s:.2f}" for s, _ in builds)
    print(f"build:        {best:.2f} s best of 3 ({runs}; wall-clock {wall:.2f} s on average)")
    del builds
    floor = min(
        timed(lambda: {a.key: c for c in contacts for a in (c.primary, *c.additional)})[0]
        for _ in range(3)
    )
    print(f"  a dict of the same keys: {floor:.2f} s; the build takes {best / floor:.1f}x that")

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    traced = ContactIndex(contacts)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del traced
    used = after - before
    print(f"memory:       {used / 1e6:.1f} MB for the index: {used / slots:.0f} bytes per address")

    lookups(index, contacts, rnd, args.lookups)

    operations(contacts, random.Random(args.seed), args.operations)

    seconds, data = timed(lambda: pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL))
    blob: bytes = data  # type: ignore[assignment]
    load_seconds, _ = timed(lambda: pickle.loads(blob))
    plain = len(pickle.dumps(contacts, protocol=pickle.HIGHEST_PROTOCOL))
    print(
        f"pickle:       {len(blob) / 1e6:.1f} MB ({len(blob) / slots:.0f} bytes per address; "
        f"the contacts list alone: {plain / 1e6:.1f} MB)"
    )
    print(f"  dump:       {seconds:.2f} s, load (rebuilds the index): {load_seconds:.2f} s")


if __name__ == "__main__":
    main()
