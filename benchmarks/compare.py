"""The code of a git revision against the working tree, measured side by side in turns.

Run by hand from the project root:

    .venv/bin/python benchmarks/compare.py [--rev main] [--rounds 5] [--only jsonl,raw,sync]

The revision (``main`` unless given) is checked out with ``git worktree add`` into a temporary
directory, which is removed at the end. The corpora are made once, by this tree's generators:

- **jsonl**: the JSON lines of `bench_rules.corpus` (``--jsonl`` lines), run through the rules
  path of `bench_rules.rules_path`: ``json.loads``, ``Message.build``, ``decide`` and
  ``redact`` at the level the decision gives;
- **raw**: ``--raw`` RFC 5322 messages of `bench_sync.message` (without their mbox ``From``
  line), each read with ``Message.from_bytes``;
- **sync**: an mbox of ``--sync`` of those messages, synced with
  ``mailbind.engine.sync_mailbox`` into a fresh ``mailbind.stores.sqlite.SQLiteStore``.

Each round runs every measurement once for the old code and once for the new, each in a fresh
process that imports ``mailbind`` from that tree's ``src`` (``PYTHONPATH``), the order of the
two sides alternating from round to round. In its process a path runs cold (every table
empty), then warm (``--passes`` times, the best kept): the warm run is what a re-sync of the
same mail costs. Times are CPU seconds of the child (``time.process_time``). The printout
gives, for each measurement, every round's ratio new ÷ old and their median; and, measured by
the new side's processes in the same rounds, the JSONL path against its floor (``json.loads``
of each line plus one dict probe for each header value that names participants) and the raw
path against ``email.parser.BytesParser(policy=...).parsebytes(data, headersonly=True)``,
with ``email.policy.compat32`` (the parser's default) and with ``email.policy.default``.

With ``--only steps`` (alone or with the others) it also times each step of the JSONL path
(``Message.build``, ``decide``, ``redact``, over records made beforehand) with the old tree's
package copied in as ``mailbind_old`` and loaded beside the new one in a single process, the
two taking turns. Stopped early (Ctrl-C, SIGTERM), it still removes the temporary worktree.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import pickle
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KINDS = ("jsonl", "raw", "sync")
#: What ``--only steps`` adds: the JSONL path's steps, old and new side by side in one process.
STEPS = "steps"


# --- In a child: one side's measurements ------------------------------------------------------


def _cpu(fn: Callable[[], Any]) -> float:
    gc.collect()
    started = time.process_time()
    fn()
    return time.process_time() - started


def _cold_and_warm(fn: Callable[[], Any], passes: int) -> dict[str, float]:
    cold = _cpu(fn)
    return {"cold": cold, "warm": min(_cpu(fn) for _ in range(passes))}


def child_jsonl(data: Path, passes: int) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    import bench_rules

    lines, owners = pickle.loads(data.read_bytes())
    policy, mailboxes = bench_rules.setup(owners)
    result = _cold_and_warm(lambda: bench_rules.rules_path(lines, policy, mailboxes), passes)

    loads = json.loads
    probe: dict[str, int] = {}
    for line in lines:
        d = loads(line)
        for value in (d["from"], *d["to"], *d["cc"], *d.get("bcc", ())):
            probe[value] = 0

    def floor() -> None:
        get = probe.get
        for line in lines:
            d = loads(line)
            get(d["from"])
            for value in d["to"]:
                get(value)
            for value in d["cc"]:
                get(value)
            for value in d.get("bcc", ()):
                get(value)

    result["floor"] = min(_cpu(floor) for _ in range(passes))
    return result


def child_raw(data: Path, passes: int) -> dict[str, Any]:
    import email.parser
    import email.policy

    from mailbind import Message

    raws: list[bytes] = pickle.loads(data.read_bytes())
    from_bytes = Message.from_bytes

    def read() -> None:
        for raw in raws:
            from_bytes(raw)

    result = _cold_and_warm(read, passes)
    for name, policy in (("floor", email.policy.compat32), ("floor_default", email.policy.default)):
        parse = email.parser.BytesParser(policy=policy).parsebytes

        def floor(parse: Callable[..., Any] = parse) -> None:
            for raw in raws:
                parse(raw, headersonly=True)

        result[name] = min(_cpu(floor) for _ in range(passes))
    return result


def child_sync(data: Path, passes: int) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    import bench_sync

    directory = Path(tempfile.mkdtemp(prefix="mailbind-compare-"))
    try:
        times: list[float] = []
        for n in range(1 + passes):
            db = str(directory / f"sync{n}.sqlite")
            bench_sync.empty_store(db)
            times.append(_cpu(functools.partial(bench_sync.sync, str(data), db)))
    finally:
        for path in directory.iterdir():
            path.unlink()
        directory.rmdir()
    return {"cold": times[0], "warm": min(times[1:])}


def child_steps(data: Path, passes: int) -> dict[str, Any]:
    """Each step of the JSONL path, for ``mailbind_old`` and ``mailbind`` in turns."""
    import importlib
    import statistics as stats

    sys.path.insert(0, str(HERE))
    import bench_rules

    lines, owners = pickle.loads(data.read_bytes())
    records = [json.loads(line) for line in lines]
    steps: dict[str, dict[str, Callable[[], Any]]] = {}
    for side, name in (("old", "mailbind_old"), ("new", "mailbind")):
        mod = importlib.import_module(name)
        policy = mod.Policy(
            org_domains=[bench_rules.ORG],
            members=bench_rules.MEMBERS,
            blocklist=bench_rules.BLOCKLIST,
        )
        levels = ("metadata", "subject", "everything")
        boxes = {
            owner: mod.Mailbox(owner=owner, incoming=levels[n % 3], outgoing=levels[(n + 1) % 3])
            for n, owner in enumerate(owners)
        }
        build = functools.partial(_build, mod.Message)
        made = [(build(d), boxes[d["mailbox"]]) for d in records]
        levelled = [(m, mod.decide(m, box, policy).level) for m, box in made]
        steps[side] = {
            "Message.build": functools.partial(_each, build, [(d,) for d in records]),
            "decide": functools.partial(_each, mod.decide, [(m, b, policy) for m, b in made]),
            "redact": functools.partial(_each, mod.redact, levelled),
        }
    result: dict[str, Any] = {}
    for step in steps["new"]:
        old, new = steps["old"][step], steps["new"][step]
        olds: list[float] = []
        news: list[float] = []
        for n in range(passes):
            if n % 2:
                news.append(_cpu(new))
                olds.append(_cpu(old))
            else:
                olds.append(_cpu(old))
                news.append(_cpu(new))
        ratios = [b / a for a, b in zip(olds, news, strict=True)]
        result[step] = {
            "old_us": min(olds) / len(records) * 1e6,
            "new_us": min(news) / len(records) * 1e6,
            "ratio": stats.median(ratios),
        }
    return result


def _build(message: Any, d: dict[str, Any]) -> Any:
    return message.build(
        sender=d["from"],
        to=d["to"],
        cc=d["cc"],
        bcc=d.get("bcc", ()),
        subject=d["subject"],
        text=d["text"],
        html=d.get("html", ""),
        message_id=d.get("message_id"),
        sent_at=d["date"],
        headers=d.get("headers", ()),
        flags=d.get("flags", ()),
    )


def _each(fn: Callable[..., Any], arguments: list[tuple[Any, ...]]) -> None:
    for args in arguments:
        fn(*args)


CHILDREN = {"jsonl": child_jsonl, "raw": child_raw, "sync": child_sync, STEPS: child_steps}


# --- In the parent: the corpora, the rounds, the printout ------------------------------------


def make_corpora(directory: Path, kinds: list[str], args: argparse.Namespace) -> dict[str, Path]:
    sys.path.insert(0, str(HERE))
    import random
    from datetime import UTC, datetime

    import bench_rules
    import bench_sync

    paths: dict[str, Path] = {}
    if "jsonl" in kinds:
        lines, owners = bench_rules.corpus(args.jsonl, 50_000, 2024)
        paths["jsonl"] = directory / "corpus.pickle"
        paths["jsonl"].write_bytes(pickle.dumps((lines, owners)))
    if "raw" in kinds:
        rng = random.Random(2025)
        pools = bench_sync.people(rng)
        who = {kind: bench_sync.Zipf(values, rng) for kind, values in pools.items()}
        start = datetime(2023, 1, 1, 8, tzinfo=UTC)
        raws = [bench_sync.message(n, rng, who, start).split(b"\n", 1)[1] for n in range(args.raw)]
        paths["raw"] = directory / "raw.pickle"
        paths["raw"].write_bytes(pickle.dumps(raws))
    if "sync" in kinds:
        paths["sync"] = directory / "mail.mbox"
        bench_sync.write_mbox(str(paths["sync"]), args.sync, 2025)
    return paths


def run_child(tree: Path, kind: str, data: Path, passes: int) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(tree / "src"), PYTHONHASHSEED="0")
    command = [sys.executable, __file__, "--child", kind, str(data), str(passes)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{kind} on {tree} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if Path(result["mailbind"]).resolve() != (tree / "src" / "mailbind").resolve():
        raise SystemExit(f"{kind} imported mailbind from {result['mailbind']}, not {tree}.")
    return result


def run_steps(old_tree: Path, temp: Path, args: argparse.Namespace) -> None:
    """The JSONL path's steps, the old tree's package loaded as ``mailbind_old`` beside the new."""
    packages = temp / "packages"
    shutil.copytree(old_tree / "src" / "mailbind", packages / "mailbind_old")
    data = temp / "steps.pickle"
    if not data.exists():
        sys.path.insert(0, str(HERE))
        import bench_rules

        data.write_bytes(pickle.dumps(bench_rules.corpus(args.jsonl, 50_000, 2024)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(packages), str(ROOT / "src")]))
    rounds = str(max(args.rounds, 3))
    command = [sys.executable, __file__, "--child", STEPS, str(data), rounds]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"the steps failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print()
    print(f"JSONL steps, old and new in one process taking turns ({rounds} turns, best of each):")
    for step, figures in result.items():
        if step == "mailbind":
            continue
        print(
            f"  {step}: old {figures['old_us']:.2f} µs, new {figures['new_us']:.2f} µs a message,"
            f" new ÷ old median {figures['ratio']:.3f}×"
        )


def machine() -> str:
    model = platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            model = next(line.split(":", 1)[1].strip() for line in file if "model name" in line)
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}"


def _ratios(values: list[float]) -> str:
    shown = ", ".join(f"{v:.3f}" for v in values)
    return f"median {statistics.median(values):.3f}× ({shown})"


def report(kinds: list[str], rounds: list[dict[str, dict[str, dict[str, Any]]]]) -> None:
    print()
    print("| measurement | old s (median) | new s (median) | new ÷ old, median (each round) |")
    print("| --- | ---: | ---: | --- |")
    for kind in kinds:
        for phase in ("warm", "cold"):
            old = [r[kind]["old"][phase] for r in rounds]
            new = [r[kind]["new"][phase] for r in rounds]
            ratios = [n / o for n, o in zip(new, old, strict=True)]
            print(
                f"| {kind}, {phase} | {statistics.median(old):.3f} | "
                f"{statistics.median(new):.3f} | {_ratios(ratios)} |"
            )
    print()
    floors = {
        ("jsonl", "floor"): "json.loads + a dict probe a participant",
        ("raw", "floor"): "BytesParser(policy=compat32) headersonly",
        ("raw", "floor_default"): "BytesParser(policy=default) headersonly",
    }
    for (kind, floor), name in floors.items():
        if kind not in kinds:
            continue
        for side in ("old", "new"):
            ratios = [r[kind][side]["warm"] / r[kind][side][floor] for r in rounds]
            print(f"{kind} warm ÷ {name} ({side}): {_ratios(ratios)}")


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="main", help="the old code's git revision")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--passes", type=int, default=3, help="warm passes in each process")
    parser.add_argument("--jsonl", type=int, default=50_000, help="JSON lines")
    parser.add_argument("--raw", type=int, default=20_000, help="RFC 5322 messages")
    parser.add_argument("--sync", type=int, default=20_000, help="messages in the mbox")
    parser.add_argument("--only", default=",".join(KINDS), help="which of jsonl,raw,sync")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, data, passes = args.child
        result = CHILDREN[kind](Path(data), int(passes))
        import mailbind

        result["mailbind"] = str(Path(mailbind.__file__).parent)
        print(json.dumps(result))
        return
    kinds = [kind for kind in args.only.split(",") if kind]
    steps = STEPS in kinds
    kinds = [kind for kind in kinds if kind != STEPS]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"--only takes {', '.join(KINDS)}, not {', '.join(sorted(unknown))}")
    revision = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.rev],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    signal.signal(signal.SIGTERM, _stop)
    with tempfile.TemporaryDirectory(prefix="mailbind-compare-") as temp:
        old_tree = Path(temp) / "old"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old_tree), args.rev],
            capture_output=True,
            check=True,
        )
        try:
            print(f"old: {args.rev} ({revision}); new: the working tree at {ROOT}")
            print(f"machine: {machine()}")
            print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
            paths = make_corpora(Path(temp), kinds, args)
            sides = {"old": old_tree, "new": ROOT}
            rounds: list[dict[str, dict[str, dict[str, Any]]]] = []
            for number in range(args.rounds if kinds else 0):
                order = ("old", "new") if number % 2 == 0 else ("new", "old")
                results: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in kinds}
                for kind in kinds:
                    for side in order:
                        results[kind][side] = run_child(sides[side], kind, paths[kind], args.passes)
                rounds.append(results)
                line = ", ".join(
                    f"{kind} {results[kind]['new']['warm'] / results[kind]['old']['warm']:.3f}"
                    for kind in kinds
                )
                print(f"round {number + 1}: new ÷ old warm: {line}", flush=True)
            if kinds:
                report(kinds, rounds)
            if steps:
                run_steps(old_tree, Path(temp), args)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old_tree)],
                capture_output=True,
                check=False,
            )


if __name__ == "__main__":
    main()
