"""How fast a mailbox syncs from an mbox file into SQLite, against the cost of the I/O alone.

Run by hand from the project root:

    .venv/bin/python benchmarks/bench_sync.py [--messages 100000] [--small 10000] [--repeat 2]
                                              [--profile] [--keep DIR]

It writes two deterministic synthetic mbox files into a temporary folder: *--small* messages
(10,000) and *--messages* (100,000; the small one is the first part of the big one). The mail is
one seller's at ``acme.com``: customers on work domains, prospects on free providers, colleagues
(some on a subdomain), newsletters with list headers, role senders (``noreply@``,
``notifications@``), mail the seller sent, RFC 2047 names, a few messages without a Message-ID,
HTML alternatives and a few attachments. Then, for each file, it measures:

1. the floor: the standard ``mailbox`` module reads the file, the standard ``email`` package
   gives each message's Message-ID, date, participants (``getaddresses``), subject, bodies and
   attachments, and ``sqlite3`` ``executemany`` stores the same rows the SQLite store keeps
   (the message as a JSON document, one row per participant, a link and a decision per
   message) in the same schema, 500 messages a transaction; no rules;
2. mailbind: ``sync_mailbox(MboxSource(path), SQLiteStore(db), mailbox, policy, now=...)``,
   which also decides every message, links participants to contacts and creates contacts;
3. the reading step of each alone: iterating ``mailbox.mbox`` (which parses each message's
   MIME structure, and decodes nothing), and ``MboxSource`` batches made into messages with
   ``Message.from_bytes`` (bodies decoded, participants read).

Each measurement runs in a fresh subprocess, so its peak memory is that process's own
``ru_maxrss`` (resident set size, imports included; the figure after imports is shown too).
Times exclude starting Python and importing. Each is reported as CPU time (``process_time``:
the process's own work, SQLite's included, which other load on the machine barely changes) and
as wall-clock time (which it does); the run with the least CPU time of *--repeat* counts, with
the floor and mailbind runs interleaved so both see the same load. ``--profile`` prints a
cProfile of mailbind syncing the small file instead.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import json
import os
import platform
import pstats
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime
from typing import Any

OWNER = "sam.seller@acme.com"
ALIAS = "sales@acme.com"
ORG = "acme.com"
BLOCKLIST = ("@competitor-news.com",)
NOW = datetime(2025, 1, 1, tzinfo=UTC)
BATCH = 500


def _words(text: str) -> list[str]:
    return text.split()


FREE = ("gmail.com", "gmx.de", "outlook.com", "yahoo.com", "web.de", "icloud.com", "proton.me")
TLDS = ("com", "com", "com", "de", "io", "co.uk", "fr", "nl", "net")
FIRST = _words(
    "anna paul jane kim lee sam alex maria jürgen chen omar lucía zoë noah emma lars nina "
    "tom ivan sara ali mia ben eva leo ida finn ada max lea"
)
LAST = _words(
    "berg doe schmidt müller smith garcía rossi tanaka novak kowalski jensen dubois silva "
    "kim wong patel meyer fischer weber wagner becker hoffmann schulz koch bauer richter"
)
WORDS = _words(
    "meeting proposal invoice contract follow up call next week thanks regards please "
    "find attached review draft update project timeline budget quote order delivery "
    "shipment question answer team schedule monday friday lunch offer price discount "
    "renewal licence support ticket issue resolved feedback workshop agenda notes minutes "
    "slides demo trial"
)
SYLLABLES = _words("bo ka ri to mex lan dor vi sen tra qu il nor pe zu fin gal ro")


# --- The mailbox ---------------------------------------------------------------------------


class Zipf:
    """Draws from a list with Zipf weights (rank 1 most often), deterministically."""

    def __init__(self, values: list[Any], rng: random.Random, s: float = 1.1) -> None:
        self.values = values[:]
        rng.shuffle(self.values)
        total, self.cumulative = 0.0, []
        for rank in range(1, len(values) + 1):
            total += 1 / rank**s
            self.cumulative.append(total)
        self.rng = rng

    def draw(self, k: int = 1) -> list[Any]:
        return self.rng.choices(self.values, cum_weights=self.cumulative, k=k)


def _person(rng: random.Random, domain: str) -> tuple[str, str]:
    """(display name, address) of someone at *domain*."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    form = rng.random()
    local = f"{first}.{last}" if form < 0.7 else f"{first[0]}{last}" if form < 0.9 else first
    return f"{first.title()} {last.title()}", f"{local}@{domain}"


def _entry(name: str, address: str, rng: random.Random) -> str:
    """One address-header entry, as mail programs write them."""
    form = rng.random()
    if form < 0.25:
        return address
    if not name.isascii() and form < 0.6:
        return f"{Header(name, 'utf-8').encode()} <{address}>"
    if form < 0.85:
        return f"{name} <{address}>"
    first, _, last = name.partition(" ")
    return f'"{last}, {first}" <{address}>'


def people(rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    """The people one seller writes with, by kind: a few thousand, as a real mailbox holds."""
    companies = [
        f"{''.join(rng.choices(SYLLABLES, k=rng.randint(2, 3)))}{n}.{rng.choice(TLDS)}"
        for n in range(1500)
    ]
    kinds: dict[str, list[tuple[str, str]]] = {
        "customer": [_person(rng, rng.choice(companies)) for _ in range(6000)],
        "prospect": [_person(rng, rng.choice(FREE)) for _ in range(2500)],
        "colleague": [
            _person(rng, "eu.acme.com" if rng.random() < 0.2 else ORG) for _ in range(150)
        ],
        "newsletter": [
            (f"{w.title()} News", f"news@{c}")
            for w, c in zip(rng.choices(WORDS, k=80), rng.sample(companies, 80), strict=True)
        ],
        "role": [
            (f"{c.split('.')[0].title()} {r.title()}", f"{r}@{c}")
            for r, c in zip(
                rng.choices(("noreply", "notifications", "support", "billing", "no-reply"), k=200),
                rng.sample(companies, 200),
                strict=True,
            )
        ],
        "blocked": [_person(rng, "competitor-news.com") for _ in range(5)],
    }
    return kinds


def _body(rng: random.Random, words: int) -> str:
    lines, line = [], []
    for word in rng.choices(WORDS, k=words):
        line.append(word)
        if len(line) >= 12:
            lines.append(" ".join(line))
            line = []
    lines.append(" ".join(line))
    return "\n".join(lines)


def message(
    n: int, rng: random.Random, who: dict[str, Zipf], start: datetime, scale: float = 1.0
) -> bytes:
    """The *n*-th message of the mailbox, as mbox bytes (with its ``From `` line); *scale*
    multiplies the length of its body and of its attachment."""
    kind = rng.random()
    owner = ("Sam Seller", OWNER)
    headers: list[tuple[str, str]] = []
    cc: list[tuple[str, str]] = []
    if kind < 0.25:  # sent by the seller
        sender = owner if rng.random() < 0.9 else ("Sam Seller", ALIAS)
        to = who["customer"].draw(rng.randint(1, 2)) + (
            who["prospect"].draw() if rng.random() < 0.3 else []
        )
        if rng.random() < 0.3:
            cc = who["colleague"].draw()
    elif kind < 0.55:  # a customer writes
        sender, to = who["customer"].draw()[0], [owner]
        if rng.random() < 0.3:
            cc = who["customer"].draw(rng.randint(1, 2)) + who["colleague"].draw()
    elif kind < 0.67:  # a prospect on a free provider
        sender, to = who["prospect"].draw()[0], [owner]
    elif kind < 0.82:  # colleagues among themselves (internal), now and then a customer in Cc
        sender, to = who["colleague"].draw()[0], [owner, *who["colleague"].draw(rng.randint(0, 3))]
        if rng.random() < 0.1:
            cc = who["customer"].draw()
    elif kind < 0.92:  # a newsletter
        sender, to = who["newsletter"].draw()[0], [owner]
        headers += [
            ("List-Id", f"<news.{sender[1].split('@')[1]}>"),
            ("List-Unsubscribe", f"<mailto:leave@{sender[1].split('@')[1]}>"),
        ]
        if rng.random() < 0.5:
            headers.append(("Precedence", "bulk"))
    elif kind < 0.995:  # a role sender
        sender, to = who["role"].draw()[0], [owner]
        if rng.random() < 0.3:
            headers.append(("Auto-Submitted", "auto-generated"))
    else:  # a blocked competitor
        sender, to = who["blocked"].draw()[0], [owner]
    when = start + timedelta(minutes=7 * n + rng.randint(0, 6))
    zone = timedelta(hours=rng.choice((0, 1, 2, -5)))
    date = format_datetime(when.astimezone(timezone(zone)))
    subject = " ".join(rng.choices(WORDS, k=rng.randint(3, 9))).capitalize()
    if rng.random() < 0.05:
        subject = Header(subject + " — Grüße", "utf-8").encode()
    top = [
        ("From", _entry(*sender, rng)),
        ("To", ", ".join(_entry(*p, rng) for p in to)),
        *([("Cc", ", ".join(_entry(*p, rng) for p in cc))] if cc else []),
        ("Subject", subject),
        ("Date", date),
        *([("Message-ID", f"<{n}.{rng.getrandbits(40):x}@mail.example.net>")] if n % 97 else []),
        ("MIME-Version", "1.0"),
        *headers,
    ]
    received = [
        ("Received", f"from mx{rng.randint(1, 9)}.example.net by mail.acme.com; {date}")
        for _ in range(rng.randint(1, 3))
    ]
    text = _body(rng, max(1, round(rng.randint(30, 300) * scale)))
    html = rng.random() < 0.35
    attach = rng.random() < 0.02
    lines = [f"{k}: {v}" for k, v in received + top]
    if not html and not attach:
        lines += ["Content-Type: text/plain; charset=utf-8", "", text]
    else:
        outer = f"=_outer{n}"
        lines += [f'Content-Type: multipart/mixed; boundary="{outer}"', "", f"--{outer}"]
        if html:
            inner = f"=_alt{n}"
            lines += [
                f'Content-Type: multipart/alternative; boundary="{inner}"',
                "",
                f"--{inner}",
                "Content-Type: text/plain; charset=utf-8",
                "",
                text,
                f"--{inner}",
                "Content-Type: text/html; charset=utf-8",
                "",
                "<html><body><p>" + text.replace("\n", "</p>\n<p>") + "</p></body></html>",
                f"--{inner}--",
            ]
        else:
            lines += ["Content-Type: text/plain; charset=utf-8", "", text]
        if attach:
            data = rng.randbytes(max(1, round(rng.randint(4_000, 60_000) * scale)))
            encoded = base64.encodebytes(data).decode("ascii").rstrip("\n")
            lines += [
                f"--{outer}",
                'Content-Type: application/pdf; name="offer.pdf"',
                'Content-Disposition: attachment; filename="offer.pdf"',
                "Content-Transfer-Encoding: base64",
                "",
                encoded,
            ]
        lines.append(f"--{outer}--")
    body = "\n".join(lines).replace("\nFrom ", "\n>From ")
    envelope = f"From - {when.strftime('%a %b %d %H:%M:%S %Y')}\n"
    return (envelope + body + "\n\n").encode("utf-8")


def write_mbox(path: str, count: int, seed: int, scale: float = 1.0) -> int:
    """Write the first *count* messages of the mailbox with *seed* to *path*; its size.

    *scale* multiplies the length of each body and attachment (1: the benchmarks' mailbox).
    """
    rng = random.Random(seed)
    who = {kind: Zipf(values, rng) for kind, values in people(rng).items()}
    start = datetime(2023, 1, 1, 8, tzinfo=UTC)
    with open(path, "wb") as file:
        for n in range(count):
            file.write(message(n, rng, who, start, scale))
    return os.path.getsize(path)


# --- The two measured paths, each run in its own process -------------------------------------


def floor(mbox_path: str, db_path: str) -> dict[str, Any]:
    """Read with ``mailbox`` and ``email``, store the same rows with ``executemany``."""
    import hashlib
    import mailbox
    import sqlite3
    from email.header import decode_header, make_header
    from email.utils import getaddresses, parsedate_to_datetime

    base = _rss()
    started, cpu = time.perf_counter(), time.process_time()
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("INSERT OR IGNORE INTO mailboxes (id, settings) VALUES (?, ?)", (OWNER, "{}"))
    roles = (("from", "From"), ("to", "To"), ("cc", "Cc"), ("bcc", "Bcc"))
    roles += (("sender", "Sender"), ("reply_to", "Reply-To"))
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    def text(value: Any) -> str:
        value = str(value or "")
        return str(make_header(decode_header(value))) if "=?" in value else value

    def flush(rows: list[tuple[Any, ...]], people: list[tuple[Any, ...]], offset: int) -> None:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT OR IGNORE INTO messages (key, message_id, sent_at, document) "
            "VALUES (?, ?, ?, ?)",
            [r[:4] for r in rows],
        )
        db.executemany(
            "INSERT OR IGNORE INTO participants (message_key, position, key, contact_id) "
            "VALUES (?, ?, ?, NULL)",
            people,
        )
        db.executemany(
            "INSERT OR REPLACE INTO links (mailbox_id, message_key, direction, level) "
            "VALUES (?, ?, ?, 'everything')",
            [(OWNER, r[0], r[4]) for r in rows],
        )
        db.executemany(
            "INSERT OR REPLACE INTO decisions (mailbox_id, message_key, synced, reasons, "
            "direction, level, location) VALUES (?, ?, 1, '', ?, 'everything', ?)",
            [(OWNER, r[0], r[4], r[5]) for r in rows],
        )
        db.execute(
            "INSERT OR REPLACE INTO sync_state (mailbox_id, cursor, status, failures, error, "
            "requested) VALUES (?, ?, 'ok', 0, '', 0)",
            (OWNER, str(offset)),
        )
        db.execute("COMMIT")

    count = 0
    rows: list[tuple[Any, ...]] = []
    people: list[tuple[Any, ...]] = []
    box = mailbox.mbox(mbox_path, create=False)
    for location, msg in box.iteritems():
        count += 1
        message_id = (msg.get("Message-ID") or "").strip().strip("<>") or None
        try:
            sent = parsedate_to_datetime(msg.get("Date")).timestamp()
        except (TypeError, ValueError):
            sent = None
        participants = [
            (role, name, address)
            for role, header in roles
            for name, address in getaddresses(msg.get_all(header, []))
        ]
        body: dict[str, Any] = {"text": "", "html": "", "attachments": []}
        for part in msg.walk():
            if part.is_multipart():
                continue
            payload = part.get_payload(decode=True) or b""
            kind = part.get_content_type()
            charset = part.get_content_charset() or "utf-8"
            if kind == "text/plain" and not part.get_filename() and not body["text"]:
                body["text"] = payload.decode(charset, "replace")
            elif kind == "text/html" and not part.get_filename() and not body["html"]:
                body["html"] = payload.decode(charset, "replace")
            else:
                encoded = base64.b64encode(payload).decode("ascii")
                body["attachments"].append([part.get_filename(), kind, len(payload), encoded])
        subject = text(msg.get("Subject"))
        key = (
            message_id
            or "sha256:"
            + hashlib.sha256(repr((sent, participants, subject, body["text"])).encode()).hexdigest()
        )
        document = {
            "key": key,
            "message_id": message_id,
            "sent_at": sent,
            "participants": [[r, text(n), a] for r, n, a in participants],
            "subject": subject,
            **body,
            "headers": [[k, text(v)] for k, v in msg.items()],
        }
        outgoing = any(r == "from" and a.lower() in (OWNER, ALIAS) for r, _, a in participants)
        direction = "outgoing" if outgoing else "incoming"
        rows.append((key, message_id, sent, encoder.encode(document), direction, str(location)))
        people += [(key, i, p[2].lower()) for i, p in enumerate(participants)]
        if len(rows) >= BATCH:
            flush(rows, people, count)
            rows, people = [], []
    flush(rows, people, count)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    db.close()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "seen": count,
        "stored": count,
        "rss_base": base,
        "rss": _rss(),
    }


def sync(mbox_path: str, db_path: str, profile: bool = False) -> dict[str, Any]:
    """Sync with mailbind: decide, link, create contacts, store."""
    from mailbind import Mailbox, Policy
    from mailbind.engine import sync_mailbox
    from mailbind.sources.mbox import MboxSource
    from mailbind.stores.sqlite import SQLiteStore

    base = _rss()
    profiler = cProfile.Profile() if profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    policy = Policy(org_domains=[ORG], blocklist=BLOCKLIST)
    mailbox = Mailbox(owner=OWNER, aliases=[ALIAS], incoming="subject", outgoing="everything")
    with SQLiteStore(db_path) as store:
        report = sync_mailbox(MboxSource(mbox_path), store, mailbox, policy, now=NOW)
    if profiler is not None:
        profiler.disable()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    return {
        "seconds": seconds,
        "cpu": cpu,
        "seen": report.seen,
        "stored": report.synced,
        "contacts": report.contacts_created,
        "linked": report.participants_linked,
        "skipped": {reason.value: n for reason, n in report.skipped_by_reason},
        "rss_base": base,
        "rss": _rss(),
    }


def floor_reading(mbox_path: str, db_path: str) -> dict[str, Any]:
    """The floor's first step alone: iterate ``mailbox.mbox`` (each message parsed)."""
    import mailbox

    base = _rss()
    started, cpu = time.perf_counter(), time.process_time()
    count = sum(1 for _ in mailbox.mbox(mbox_path, create=False))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": seconds, "cpu": cpu, "seen": count, "rss_base": base, "rss": _rss()}


def reading(mbox_path: str, db_path: str) -> dict[str, Any]:
    """mailbind's first step alone: ``MboxSource`` batches, each item made a `Message`."""
    from mailbind.sources.mbox import MboxSource

    base = _rss()
    started, cpu = time.perf_counter(), time.process_time()
    source, cursor, count = MboxSource(mbox_path), None, 0
    while True:
        batch = source.fetch(cursor, limit=BATCH)
        count += sum(1 for item in batch.items if item.message() is not None)
        cursor = batch.cursor
        if batch.done:
            break
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": seconds, "cpu": cpu, "seen": count, "rss_base": base, "rss": _rss()}


CHILDREN = {"floor": floor, "floor-reading": floor_reading, "sync": sync, "reading": reading}
LABELS = {
    "floor": "floor: `mailbox` + `email` + `executemany`",
    "floor-reading": "floor, reading alone: iterating `mailbox.mbox`",
    "sync": "mailbind: `sync_mailbox`",
    "reading": "mailbind, reading alone: `MboxSource` + `Message.from_bytes`",
}


def _rss() -> int:
    """This process's peak resident set size so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


# --- Running it ----------------------------------------------------------------------------


def empty_store(path: str) -> None:
    """A fresh SQLite store at *path*: the floor writes into the same schema."""
    from mailbind.stores.sqlite import SQLiteStore

    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    SQLiteStore(path).close()


def run_child(what: str, mbox_path: str, db_path: str) -> dict[str, Any]:
    empty_store(db_path)
    command = [sys.executable, __file__, "--child", what, mbox_path, db_path]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def best_of(repeat: int, runs: list[Callable[[], dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each run's best result (least CPU time) over *repeat* interleaved rounds."""
    results: list[list[dict[str, Any]]] = [[] for _ in runs]
    for _ in range(repeat):
        for kept, run in zip(results, runs, strict=True):
            kept.append(run())
    return [min(kept, key=lambda r: r["cpu"]) for kept in results]


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            model = next(
                line.split(":", 1)[1].strip() for line in file if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved runs of each path")
    parser.add_argument("--profile", action="store_true", help="profile mailbind on --small")
    parser.add_argument("--keep", metavar="DIR", help="write the files to DIR and keep them")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        what, mbox_path, db_path = args.child
        print(json.dumps(CHILDREN[what](mbox_path, db_path)))
        return

    folder = args.keep or tempfile.mkdtemp(prefix="mailbind-bench-")
    os.makedirs(folder, exist_ok=True)
    try:
        sizes = sorted({args.small} if args.profile else {args.small, args.messages})
        files = {}
        for count in sizes:
            path = os.path.join(folder, f"mail-{count}.mbox")
            started = time.perf_counter()
            size = write_mbox(path, count, args.seed)
            made = time.perf_counter() - started
            print(f"mbox: {count:,} messages, {size / 1e6:.1f} MB, written in {made:.1f} s")
            files[count] = path
        if args.profile:
            db = os.path.join(folder, "profile.sqlite")
            empty_store(db)
            print(json.dumps(sync(files[args.small], db, profile=True)))
            return
        print(f"machine: {machine()}")
        print()
        rows = []
        for count, path in files.items():
            db = os.path.join(folder, f"bench-{count}.sqlite")
            results = dict(
                zip(
                    CHILDREN,
                    best_of(
                        args.repeat,
                        [lambda w=what, p=path, d=db: run_child(w, p, d) for what in CHILDREN],
                    ),
                    strict=True,
                )
            )
            rows.append((count, results))
            ours = results["sync"]
            skipped = ", ".join(f"{k} {v:,}" for k, v in ours["skipped"].items())
            print(
                f"{count:,} messages: mailbind synced {ours['stored']:,}, created "
                f"{ours['contacts']:,} contacts, linked {ours['linked']:,} participants; "
                f"skipped: {skipped}"
            )
        print()
        print(
            "| messages | path | CPU s | messages/s | × floor | wall s | × floor (wall) "
            "| peak RSS | RSS after imports |"
        )
        print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for count, results in rows:
            base = results["floor"]
            for what in ("floor", "sync", "floor-reading", "reading"):
                r = results[what]
                print(
                    f"| {count:,} | {LABELS[what]} | {r['cpu']:.1f} | {count / r['cpu']:,.0f} | "
                    f"{r['cpu'] / base['cpu']:.2f} | {r['seconds']:.1f} | "
                    f"{r['seconds'] / base['seconds']:.2f} | "
                    f"{r['rss'] / 2**20:.0f} MiB | {r['rss_base'] / 2**20:.0f} MiB |"
                )
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
