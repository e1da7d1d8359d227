"""A real sync process killed at random points (SIGKILL) and restarted ends as if never stopped."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from mailbind.stores.sqlite import SQLiteStore
from mailbind.testing import snapshot

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is a POSIX signal")

#: The sync is killed at most this many times, and must have been killed at least the second
#: number of times before it finishes; the seed fixes the waits before each kill.
MAX_KILLS, MIN_KILLS = 20, 12
SEED = 20240601

SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime

    from mailbind import Mailbox, Policy
    from mailbind.engine import sync_mailbox
    from mailbind.sources.mbox import MboxSource
    from mailbind.stores.sqlite import SQLiteStore

    anna_mbox, ben_mbox, db = sys.argv[1:4]
    policy = Policy(["acme.com"])
    now = datetime(2024, 6, 1, tzinfo=UTC)
    store = SQLiteStore(db)
    print("ready", flush=True)
    for owner, path in (("anna@acme.com", anna_mbox), ("ben@acme.com", ben_mbox)):
        mailbox = Mailbox(owner, incoming="subject")
        sync_mailbox(MboxSource(path), store, mailbox, policy, now=now, batch_size=7)
    store.close()
    print("done", flush=True)
    """
)

CUSTOMERS = [f"Customer {i} <person{i}@client{i % 9}.example>" for i in range(40)]
OTHERS = [
    "Paul <paul@eu.acme.com>",
    "news@shop.example",
    "noreply@service.example",
    "Jo <jo{n}@gmail.com>",
]


def message(rng: random.Random, n: int, owner: str) -> bytes:
    """One generated message for *owner*: mostly customers, some colleagues and bulk mail."""
    sender = rng.choice(CUSTOMERS + OTHERS).format(n=n % 5)
    to = owner
    if rng.random() < 0.2:
        sender, to = owner, rng.choice(CUSTOMERS)
    headers = [
        f"From: {sender}",
        f"To: {to}",
        f"Cc: {rng.choice(CUSTOMERS)}" if rng.random() < 0.3 else "",
        f"Subject: Message {n}",
        f"Date: Mon, {1 + n % 28:02d} Apr 2024 10:{n % 60:02d}:00 +0000",
        # A few messages have no Message-ID and are stored under their fingerprint.
        f"Message-ID: <m{n}@mail.example>" if n % 17 else "",
        "List-Id: <news.shop.example>" if "shop" in sender else "",
    ]
    head = "\n".join(h for h in headers if h)
    return f"{head}\n\nBody of message {n}.\nFrom the desk of someone.\n".encode()


def without_listing(taken: dict[str, object]) -> dict[str, object]:
    """*taken* without the sources' listing tokens: whether a listing left one depends on how
    long the file had been at rest (a token answers the next listing sooner, and nothing else)."""
    states = taken["states"]
    assert isinstance(states, dict)
    return {**taken, "states": {k: replace(v, listing=None) for k, v in states.items()}}


def write_mbox(path: Path, messages: list[bytes]) -> None:
    """Write *messages* as an mbox file (``>From`` quoting as mboxrd does)."""
    with path.open("wb") as out:
        for raw in messages:
            out.write(b"From MAILER-DAEMON Mon Apr  1 10:00:00 2024\n")
            out.write(raw.replace(b"\nFrom ", b"\n>From "))
            out.write(b"\n")


def start(script: Path, anna: Path, ben: Path, db: Path) -> subprocess.Popen[str]:
    """Start the sync process and wait until it has opened the store."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(anna), str(ben), str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line != "ready\n":
        _, err = proc.communicate()
        pytest.fail(f"the sync process did not start: {err}")
    return proc


def finish(proc: subprocess.Popen[str]) -> None:
    """Wait for *proc* and fail the test with its error output if it failed."""
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


def test_a_killed_sync_restarted_ends_as_an_uninterrupted_one(tmp_path: Path) -> None:
    """SIGKILL at many random points, restart until done: every message and contact once."""
    rng = random.Random(SEED)
    anna_mail = [message(rng, n, "anna@acme.com") for n in range(300)]
    # Ben holds a quarter of Anna's mail too (the same Message-IDs) and some of his own.
    ben_mail = anna_mail[::4] + [message(rng, n, "ben@acme.com") for n in range(300, 380)]
    anna, ben = tmp_path / "anna.mbox", tmp_path / "ben.mbox"
    write_mbox(anna, anna_mail)
    write_mbox(ben, ben_mail)
    script = tmp_path / "sync.py"
    script.write_text(SCRIPT)

    clean = tmp_path / "clean.sqlite"
    began = time.monotonic()
    proc = start(script, anna, ben, clean)
    ready = time.monotonic()
    finish(proc)
    sync_time = time.monotonic() - ready
    assert time.monotonic() - began < 30

    crashed = tmp_path / "crashed.sqlite"
    kills = 0
    runs = 0
    while True:
        runs += 1
        proc = start(script, anna, ben, crashed)
        if kills < MAX_KILLS:
            # On average the kills spread over one whole uninterrupted sync.
            time.sleep(rng.uniform(0, 2 * sync_time / MAX_KILLS))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
                assert proc.returncode == -signal.SIGKILL
                kills += 1
                continue
        finish(proc)
        break
    assert kills >= MIN_KILLS, f"only {kills} kills landed in {runs} runs"

    db = sqlite3.connect(crashed)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    db.close()
    with SQLiteStore(clean) as one, SQLiteStore(crashed) as other:
        expected, got = without_listing(snapshot(one)), without_listing(snapshot(other))
        assert got == expected
        contacts = expected["contacts"]
        assert isinstance(contacts, tuple)
        assert len({c.primary.key for c in contacts}) == len(contacts)
        messages = expected["messages"]
        assert isinstance(messages, dict)
        held_by_both = [s for s in messages.values() if len(s.holdings) == 2]
        assert held_by_both
        assert len(contacts) > 30
