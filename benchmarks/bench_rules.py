"""How fast the sync rules are, against the cost of reading the data and a naive baseline.

Run by hand from the project root:

    .venv/bin/python benchmarks/bench_rules.py [--messages 200000] [--naive 20000] [--profile]

It generates a deterministic synthetic corpus of JSON lines (Zipf-distributed over about
50,000 addresses: colleagues of one organisation, work addresses of other companies, 10%
free-provider senders, 5% role senders, a few internationalised and malformed addresses),
then measures, in one run:

1. the floor: ``json.loads`` of every line and nothing else;
2. the rules path: ``json.loads``, ``Message.build``, ``decide`` and ``redact`` at the level
   the decision gives, for every line: once with every cache cold (a backfill), then again
   with the caches warm (steady syncing), and step by step;
3. a naive baseline: the same decisions written plainly, calling
   ``email_validator.validate_email`` and a ``tldextract`` extractor on every address
   occurrence with no caching. It is slow, so it runs on the first ``--naive`` lines and its
   time is scaled to the whole corpus (the printout says so).

Times are CPU seconds of this process (see `timed`). The warm pass and the floor take turns
for ``--repeat`` rounds: the table shows the best of each, and the round-by-round ratios
(median and range) show how steady the machine was. The naive decisions are compared with
the library's; they agree except where the library is deliberately more lenient (RULES 1.3:
``j..kean@corp.com``).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from email.utils import getaddresses
from typing import Any

import tldextract
from email_validator import EmailNotValidError, validate_email

from mailbind import Decision, Mailbox, Message, Policy, decide, redact
from mailbind.providers import bundled_free_providers, bundled_role_addresses, normalize_role

ORG = "acme.com"
ORG_SUBDOMAINS = ("acme.com", "eu.acme.com", "us.acme.com")
FREE = (
    "gmail.com",
    "outlook.com",
    "hotmail.com",
    "yahoo.com",
    "gmx.de",
    "web.de",
    "t-online.de",
    "icloud.com",
    "proton.me",
    "googlemail.com",
)
ROLES = ("support", "noreply", "no-reply", "info", "billing", "notifications", "team", "news")
TLDS = ("com", "com", "com", "de", "io", "co.uk", "fr", "nl", "net", "com.au")
FIRST = [
    "anna",
    "paul",
    "jane",
    "kim",
    "lee",
    "sam",
    "alex",
    "maria",
    "jürgen",
    "chen",
    "omar",
    "lucía",
    "zoë",
    "noah",
    "emma",
    "lars",
    "nina",
    "tom",
    "ivan",
    "sara",
    "ali",
    "mia",
    "ben",
    "eva",
    "leo",
    "ida",
    "finn",
    "ada",
    "max",
    "lea",
]
LAST = [
    "berg",
    "doe",
    "schmidt",
    "müller",
    "smith",
    "garcía",
    "rossi",
    "tanaka",
    "novak",
    "kowalski",
    "jensen",
    "dubois",
    "silva",
    "kim",
    "wong",
    "patel",
    "meyer",
    "fischer",
    "weber",
    "wagner",
    "becker",
    "hoffmann",
    "schulz",
    "koch",
    "bauer",
    "richter",
]
WORDS = [
    "meeting",
    "proposal",
    "invoice",
    "contract",
    "follow",
    "up",
    "call",
    "next",
    "week",
    "thanks",
    "regards",
    "please",
    "find",
    "attached",
    "review",
    "draft",
    "update",
    "project",
    "timeline",
    "budget",
    "quote",
    "order",
    "delivery",
    "shipment",
    "question",
    "answer",
    "team",
    "schedule",
    "monday",
    "friday",
    "lunch",
    "offer",
    "price",
    "discount",
    "renewal",
    "licence",
    "support",
    "ticket",
    "issue",
    "resolved",
    "feedback",
    "workshop",
    "agenda",
    "notes",
    "minutes",
    "slides",
    "demo",
    "trial",
]
UNICODE = (
    "jürgen.müller{i}@bücher.de",
    "zoë{i}@café.fr",
    "josé{i}@españa.com",
    "пользователь{i}@почта.рф",
    "δοκιμή{i}@παράδειγμα.ελ",
)
MALFORMED = (
    "j..kean{i}@corp{i}.com",
    ".taylor{i}@corp{i}.com",
    "not an address {i}",
    "broken{i}@",
    "two{i}@@at.com",
)


# --- The corpus ----------------------------------------------------------------------------


def _name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST), rng.choice(LAST)


def _local(first: str, last: str, rng: random.Random) -> str:
    form = rng.random()
    if form < 0.6:
        return f"{first}.{last}"
    if form < 0.8:
        return f"{first[0]}{last}"
    return f"{first}{rng.randrange(100)}"


def _display(address: str, first: str, last: str, rng: random.Random) -> str:
    form = rng.random()
    if form < 0.5:
        return address
    if form < 0.8:
        return f"{first.title()} {last.title()} <{address}>"
    return f'"{last.title()}, {first.title()}" <{address}>'


def address_pools(rng: random.Random, size: int) -> dict[str, list[str]]:
    """Header entries by kind, about *size* of them in all, each unique."""
    seen: set[str] = set()
    pools: dict[str, list[str]] = {k: [] for k in ("colleague", "work", "free", "role", "odd")}
    companies = [
        f"{rng.choice(WORDS)}{rng.choice(WORDS)}{n}.{rng.choice(TLDS)}" for n in range(size // 8)
    ]
    shares = {"colleague": 0.05, "free": 0.15, "role": 0.04}
    for kind, share in shares.items():
        while len(pools[kind]) < int(size * share):
            first, last = _name(rng)
            if kind == "colleague":
                domain = rng.choice(ORG_SUBDOMAINS) if rng.random() < 0.3 else ORG
                local = _local(first, last, rng)
            elif kind == "free":
                domain, local = rng.choice(FREE), _local(first, last, rng)
            else:
                domain, local = rng.choice(companies), rng.choice(ROLES)
            address = f"{local}@{domain}"
            if address not in seen:
                seen.add(address)
                pools[kind].append(_display(address, first, last, rng))
    for n in range(10):
        pools["odd"] += [u.format(i=n) for u in UNICODE] + [m.format(i=n) for m in MALFORMED]
    while sum(map(len, pools.values())) < size:
        first, last = _name(rng)
        address = f"{_local(first, last, rng)}@{rng.choice(companies)}"
        if address not in seen:
            seen.add(address)
            pools["work"].append(_display(address, first, last, rng))
    return pools


class Zipf:
    """Draws from a list with Zipf weights (rank 1 most often), deterministically."""

    def __init__(self, values: list[str], rng: random.Random, s: float = 1.05) -> None:
        self.values = values[:]
        rng.shuffle(self.values)
        total, cumulative = 0.0, []
        for rank in range(1, len(values) + 1):
            total += 1 / rank**s
            cumulative.append(total)
        self.cumulative = cumulative
        self.rng = rng

    def draw(self, k: int = 1) -> list[str]:
        return self.rng.choices(self.values, cum_weights=self.cumulative, k=k)


def corpus(count: int, addresses: int, seed: int) -> tuple[list[str], list[str]]:
    """*count* JSON lines, and the owners of the mailboxes they belong to."""
    rng = random.Random(seed)
    pools = address_pools(rng, addresses)
    everyone = [a for pool in pools.values() for a in pool]
    draw = {kind: Zipf(pool, rng) for kind, pool in pools.items()}
    anyone = Zipf(everyone, rng)
    owners = [f"{first}.{last}@{ORG}" for first, last in zip(FIRST[:20], LAST[:20], strict=True)]
    lines = []
    for n in range(count):
        owner = owners[min(int(rng.paretovariate(1.2)) - 1, len(owners) - 1)]
        kind = rng.random()
        outgoing = kind < 0.30
        if outgoing:
            sender = owner
            to = anyone.draw(rng.randint(1, 3))
        else:
            if kind < 0.40:
                sender = draw["free"].draw()[0]
            elif kind < 0.45:
                sender = draw["role"].draw()[0]
            elif kind < 0.60:
                sender = draw["colleague"].draw()[0]
            elif kind < 0.602:
                sender = draw["odd"].draw()[0]
            else:
                sender = draw["work"].draw()[0]
            to = [owner, *anyone.draw(rng.randint(0, 2))]
        record: dict[str, Any] = {
            "mailbox": owner,
            "from": sender,
            "to": to,
            "cc": anyone.draw(rng.randint(1, 2)) if rng.random() < 0.3 else [],
            "subject": " ".join(rng.choices(WORDS, k=rng.randint(2, 8))).capitalize(),
            "text": " ".join(rng.choices(WORDS, k=rng.randint(20, 200))),
            "date": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00+0{rng.randint(0, 2)}:00",
        }
        if outgoing and rng.random() < 0.05:
            record["bcc"] = anyone.draw()
        if rng.random() < 0.2:
            record["html"] = f"<p>{record['text']}</p>"
        if rng.random() > 0.01:
            record["message_id"] = f"<{n}.{seed}@mail.acme-mx.net>"
        headers = {}
        if kind >= 0.40 and kind < 0.45 and rng.random() < 0.7:
            headers["List-Unsubscribe"] = "<mailto:leave@lists.acme-mx.net>"
        elif rng.random() < 0.03:
            headers["Precedence"] = rng.choice(["bulk", "list", "first-class"])
        elif rng.random() < 0.01:
            headers["Auto-Submitted"] = "auto-replied"
        if rng.random() < 0.05:
            headers["Thread-Topic"] = record["subject"]
        if headers:
            record["headers"] = headers
        flag = rng.random()
        if flag < 0.025:
            record["flags"] = [("draft", "spam", "trash")[int(flag * 120) % 3]]
        lines.append(json.dumps(record, ensure_ascii=False))
    return lines, owners


def distinct_entries(lines: list[str]) -> int:
    """How many different address entries the corpus names (each parsed once when cold)."""
    seen: set[str] = set()
    for line in lines:
        d = json.loads(line)
        seen.add(d["from"])
        seen.update(d["to"], d["cc"], d.get("bcc", ()))
    return len(seen)


# --- The policy ----------------------------------------------------------------------------

BLOCKLIST = ("@competitor-news.com", "spam@web.de", "@lists.acme-mx.net")
MEMBERS = ("anna.berg@gmail.com",)


def setup(owners: list[str]) -> tuple[Policy, dict[str, Mailbox]]:
    policy = Policy(org_domains=[ORG], members=MEMBERS, blocklist=BLOCKLIST)
    levels = ("metadata", "subject", "everything")
    mailboxes = {
        owner: Mailbox(owner=owner, incoming=levels[n % 3], outgoing=levels[(n + 1) % 3])
        for n, owner in enumerate(owners)
    }
    return policy, mailboxes


# --- The three measured paths --------------------------------------------------------------


def floor(lines: list[str]) -> int:
    n = 0
    loads = json.loads
    for line in lines:
        loads(line)
        n += 1
    return n


def build(d: dict[str, Any]) -> Message:
    """The message one JSON record describes."""
    return Message.build(
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


def rules_path(lines: list[str], policy: Policy, mailboxes: dict[str, Mailbox]) -> list[Decision]:
    """Every line read, built, decided and redacted at the level its decision gives."""
    out = []
    loads = json.loads
    for line in lines:
        d = loads(line)
        message = build(d)
        decision = decide(message, mailboxes[d["mailbox"]], policy)
        redact(message, decision.level)
        out.append(decision)
    return out


def stages(
    lines: list[str], policy: Policy, mailboxes: dict[str, Mailbox], repeat: int
) -> dict[str, float]:
    """CPU seconds each step of the rules path takes on its own, with every cache warm.

    Each step runs over inputs made beforehand and keeps nothing it makes, as in the path.
    """
    records = [json.loads(line) for line in lines]
    boxes = [mailboxes[d["mailbox"]] for d in records]
    messages = [build(d) for d in records]
    pairs = list(zip(messages, boxes, strict=True))
    levelled = [(m, decide(m, b, policy).level) for m, b in pairs]

    def building() -> None:
        for d in records:
            build(d)

    def deciding() -> None:
        for m, b in pairs:
            decide(m, b, policy)

    def redacting() -> None:
        for m, level in levelled:
            redact(m, level)

    return {
        "Message.build": best(building, repeat),
        "decide": best(deciding, repeat),
        "redact": best(redacting, repeat),
    }


class Naive:
    """The same decisions written plainly: parse and look up every address every time."""

    def __init__(self) -> None:
        self.extract = tldextract.TLDExtract(
            suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
        )
        self.free = bundled_free_providers()
        self.roles = bundled_role_addresses()
        self.blocked = {b for b in BLOCKLIST if not b.startswith("@")}
        self.blocked_domains = {b[1:] for b in BLOCKLIST if b.startswith("@")}
        self.members = {m.casefold() for m in MEMBERS}

    def parse(self, header: str | list[str]) -> list[tuple[str, str, str | None] | None]:
        """(key, ascii domain, registrable domain) per entry; None when unreadable."""
        values = [header] if isinstance(header, str) else header
        out: list[tuple[str, str, str | None] | None] = []
        for _, address in getaddresses(values):
            try:
                valid = validate_email(address, check_deliverability=False)
            except EmailNotValidError:
                out.append(None)
                continue
            domain = valid.ascii_domain.lower()
            key = f"{valid.local_part.casefold()}@{domain}"
            registrable = self.extract(domain).top_domain_under_public_suffix or None
            out.append((key, domain, registrable))
        return out

    def colleague(self, entry: tuple[str, str, str | None] | None) -> bool:
        return entry is not None and (entry[2] == ORG or entry[0] in self.members)

    def is_blocked(self, entry: tuple[str, str, str | None]) -> bool:
        labels = entry[1].split(".")
        domains = {".".join(labels[i:]) for i in range(len(labels))}
        return entry[0] in self.blocked or bool(domains & self.blocked_domains)

    def decide(self, d: dict[str, Any], owner: str) -> tuple[bool, frozenset[str]]:
        owner_entry = self.parse(owner)[0]
        assert owner_entry is not None
        senders = self.parse(d["from"])
        core = senders + self.parse(d["to"]) + self.parse(d["cc"]) + self.parse(d.get("bcc", []))
        reasons = set()
        outgoing = any(e is not None and e[0] == owner_entry[0] for e in senders)
        owner_free = owner_entry[1] in self.free or owner_entry[2] in self.free
        if any(e is None for e in core):
            reasons.add("unreadable_participant")
        if any(e is not None and not self.colleague(e) for e in core):
            reasons.add("external")
        if owner_free:
            reasons.add("owner_on_free_provider")
        if not core:
            reasons.add("no_participants")
        if core and all(self.colleague(e) for e in core) and not owner_free:
            reasons.add("internal")
        if any(e is not None and e[0] != owner_entry[0] and self.is_blocked(e) for e in core):
            reasons.add("blocklisted")
        if not outgoing:
            for e in senders:
                if e is not None:
                    role = normalize_role(e[0].rpartition("@")[0])
                    if role in self.roles or role.startswith(("noreply", "donotreply", "bounce")):
                        reasons.add("group_sender")
            headers = {k.lower(): v.strip().lower() for k, v in d.get("headers", {}).items()}
            if (
                "list-id" in headers
                or "list-unsubscribe" in headers
                or headers.get("precedence") in ("bulk", "list", "junk")
            ):
                reasons.add("bulk")
            if headers.get("auto-submitted", "no") != "no":
                reasons.add("auto_submitted")
        reasons.update(d.get("flags", ()))
        excluded = reasons & {"internal", "blocklisted", "group_sender", "bulk", "auto_submitted"}
        excluded |= reasons & {"draft", "spam", "trash"}
        return not excluded, frozenset(reasons)

    def run(self, lines: list[str], levels: dict[str, tuple[str, str]]) -> list[Any]:
        out = []
        for line in lines:
            d = json.loads(line)
            synced, reasons = self.decide(d, d["mailbox"])
            incoming, outgoing = levels[d["mailbox"]]
            level = outgoing if d["from"] == d["mailbox"] else incoming
            view = dict(d)
            if level != "everything":
                view["text"] = view["html"] = None
                if level == "metadata":
                    view["subject"] = None
            out.append((synced, reasons))
        return out


# --- Running -------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """The CPU seconds *fn* takes, and its result.

    CPU time rather than wall time: the work is single-threaded, so on an idle machine the two
    agree, and on a busy one CPU time does not count the waits for a core.
    """
    gc.collect()
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def best(fn: Callable[[], Any], repeat: int) -> float:
    """The shortest of *repeat* runs: the least disturbed by whatever else the machine does."""
    return min(timed(fn)[0] for _ in range(repeat))


def agreement(a: Iterable[Any], b: Iterable[Any]) -> tuple[int, int]:
    pairs = list(zip(a, b, strict=False))
    return sum(x == y for x, y in pairs), len(pairs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--addresses", type=int, default=50_000)
    parser.add_argument("--naive", type=int, default=20_000, help="lines the naive path runs on")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--write", metavar="PATH", help="also write the corpus to PATH")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of the warm measurements")
    parser.add_argument("--profile", action="store_true", help="profile the rules path")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    lines, owners = corpus(args.messages, args.addresses, args.seed)
    made = time.perf_counter() - start
    size = sum(map(len, lines))
    print(
        f"corpus: {len(lines):,} lines, {size / 1e6:.1f} MB ({size / len(lines):,.0f} characters"
        f" a line), made in {made:.1f} s; {distinct_entries(lines):,} distinct address entries"
    )
    if args.write:
        with open(args.write, "w", encoding="utf-8") as file:
            file.writelines(line + "\n" for line in lines)
    policy, mailboxes = setup(owners)
    levels = {o: (m.incoming.value, m.outgoing.value) for o, m in mailboxes.items()}

    first_floor_s = timed(lambda: floor(lines))[0]
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    cold_s, decisions = timed(lambda: rules_path(lines, policy, mailboxes))
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    # The floor and the warm pass take turns, so that both see the machine alike: each round
    # gives one ratio, and the spread of those says how steady the machine was.
    floor_runs, warm_runs = [first_floor_s], []
    for _ in range(args.repeat):
        warm_runs.append(timed(lambda: rules_path(lines, policy, mailboxes))[0])
        floor_runs.append(timed(lambda: floor(lines))[0])
    floor_s, warm_s = min(floor_runs), min(warm_runs)
    rounds = sorted(w / f for f, w in zip(floor_runs[1:], warm_runs, strict=True))
    parts = stages(lines, policy, mailboxes, args.repeat)
    sample = lines[: args.naive]
    naive_sample_s, naive = timed(lambda: Naive().run(sample, levels))
    naive_s = naive_sample_s * len(lines) / len(sample)
    ours = [(d.synced, frozenset(d.reasons)) for d in decisions]
    same, compared = agreement(ours, naive)
    synced = sum(d.synced for d in decisions)

    n = len(lines)
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {sys.version.split()[0]}")
    print(f"synced: {synced:,} of {n:,} messages")
    print(f"naive agrees with the rules on {same:,} of {compared:,} sampled messages")
    print()
    print("| path | CPU seconds | messages/s | × floor |")
    print("| --- | ---: | ---: | ---: |")
    rows = [
        ("floor: `json.loads`", floor_s),
        ("rules, caches cold (first pass)", cold_s),
        ("rules, caches warm (second pass)", warm_s),
        (f"naive ({len(sample):,} lines, scaled)", naive_s),
    ]
    for label, seconds in rows:
        print(f"| {label} | {seconds:.2f} | {n / seconds:,.0f} | {seconds / floor_s:.1f} |")
    print()
    print("warm, step by step (each over every message):")
    for label, seconds in parts.items():
        print(f"  {label}: {seconds:.2f} s, {seconds / n * 1e6:.1f} µs a message")
    print()
    print(f"rules / floor: {cold_s / floor_s:.2f}x cold, {warm_s / floor_s:.2f}x warm (goal: 3x)")
    print(
        f"warm / floor, round by round ({len(rounds)} rounds): median"
        f" {statistics.median(rounds):.2f}x, from {rounds[0]:.2f}x to {rounds[-1]:.2f}x"
        f" ({', '.join(f'{r:.2f}' for r in rounds)})"
    )
    print(f"naive / rules: {naive_s / cold_s:.1f}x cold, {naive_s / warm_s:.1f}x warm (goal: 10x)")


if __name__ == "__main__":
    main()
