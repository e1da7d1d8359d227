"""Fuzzing: hostile mail, every kind of it combined, through every file source and both stores.

Each example is a mailbox of a few hostile messages (lone surrogates, dates UTC cannot hold,
carriage returns alone, long runs of blanks and folding in address headers, thousands of folded
lines, text after ``>``, encoded words that decode to addresses) between two good ones, written
as an mbox, a Maildir and a folder of ``.eml`` files; and of JSON-lines records with fields of
the wrong types. Nothing raises, every message is stored and decided, each recorded with the
defects its hostile parts imply, and the next sync finds nothing new. The work one message takes
is bounded by its size, counted in calls and bytes, never by the clock (issue 13).
"""

from __future__ import annotations

import base64
import json
import tempfile
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbind import Defect, Message
from mailbind.engine import sync_mailbox
from mailbind.source import MessageSource
from mailbind.sources.eml import EmlFolderSource
from mailbind.sources.jsonl import JsonLinesSource
from mailbind.sources.maildir import MaildirSource
from mailbind.sources.mbox import MboxSource
from mailbind.store import Store
from mailbind.stores.sqlite import SQLiteStore
from mailbind.testing import InMemoryStore
from tests import factories

NOW = datetime(2025, 2, 1, 9, tzinfo=UTC)
OWNER = "anna@acme.com"
FUZZ = settings(
    max_examples=5,
    deadline=None,
    # `scratch` makes a fresh folder per example, so a function-scoped fixture is safe here.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@dataclass(frozen=True)
class Hostile:
    """One hostile message: its bytes (lines ended by LF, CR or CRLF), and the defects its
    parts must leave on its record."""

    raw: bytes
    defects: frozenset[Defect]


def _b64_word(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


#: Address header values: text after ``>``, an encoded word that decodes to an address,
#: comments, no addr-spec at all, raw bytes that are no UTF-8 (an encoded surrogate).
ADDRESSES = st.sampled_from(
    [
        b"Kim <kim@client.example>",
        b"Jane <jane@client.example> b@blocked.example",
        f"{_b64_word('attacker@evil.example')} <kim@client.example>".encode(),
        b"(Jane) kim@client.example",
        b"kim@client.example (Support team)",
        b"Kim Doe",
        b"K\xed\xa0\x80m <kim@client.example>",
        b'"Doe, Jane" <jane@client.example>, <a@x.example> trailing',
        b"undisclosed-recipients:;",
    ]
)
#: Blanks and folding put inside an address header.
PADDING = st.one_of(
    st.just(b""),
    st.integers(1, 6000).map(lambda n: b" " * n),
    st.integers(1, 600).map(lambda n: b"\n " * n),
    st.integers(1, 300).map(lambda n: b" \n\t" * n),
)
#: Dates, with the defect each must leave (None: none).
DATES: st.SearchStrategy[tuple[bytes | None, Defect | None]] = st.sampled_from(
    [
        (b"Mon, 03 Feb 2025 10:00:00 +0000", None),
        (b"Fri, 31 Dec 9999 23:59:59 -1200", Defect.BAD_DATE),
        (b"Fri, 31 Dec 2020 23:59:59 +9999", Defect.BAD_DATE),
        # A four-digit year below 100: never read as a two-digit one (2001).
        (b"Mon, 01 Jan 0001 00:00:00 +1400", Defect.BAD_DATE),
        (None, None),
    ]
)
#: Subjects, with the defect each must leave.
SUBJECTS: st.SearchStrategy[tuple[bytes, Defect | None]] = st.one_of(
    st.just((b"Hello", None)),
    st.just((b"=?utf-7?q?+2AA-?=", Defect.LONE_SURROGATE)),
    st.just(("Grüße".encode(), None)),
    st.integers(1, 3000).map(lambda n: (b"x" + b"\n y" * n, None)),
)
#: Bodies: extra headers and the body, with the defect each must leave.
BODIES: st.SearchStrategy[tuple[bytes, bytes, Defect | None]] = st.sampled_from(
    [
        (b"", b"Hello\n", None),
        (b"Content-Type: text/plain; charset=utf-7", b"a +2AA- b\n", Defect.LONE_SURROGATE),
        (b"Content-Type: text/plain; charset=utf-8", b"\xed\xb0\x80 half a pair\n", None),
        (b"Content-Type: multipart/mixed", b"no boundary\n", None),
        (b"", b"", None),
    ]
)
LINE_ENDS = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def hostile_mail(draw: st.DrawFn, number: int) -> Hostile:
    """A message with the Message-ID ``<fuzz{number}@client.example>`` and hostile parts."""
    header = draw(st.sampled_from([b"From", b"To", b"Cc", b"Reply-To", b"Sender"]))
    padding, address = draw(PADDING), draw(ADDRESSES)
    date, date_defect = draw(DATES)
    subject, subject_defect = draw(SUBJECTS)
    extra, body, body_defect = draw(BODIES)
    end = draw(LINE_ENDS)
    lines = [
        f"Message-ID: <fuzz{number}@client.example>".encode(),
        *([b"From: Kim <kim@client.example>"] if header != b"From" else []),
        f"To: {OWNER}".encode(),
        header + b": " + padding + address,
        *([b"Date: " + date] if date is not None else []),
        b"Subject: " + subject,
        *([extra] if extra else []),
    ]
    raw = b"\n".join([*lines, b"", b""]) + body
    raw = raw.replace(b"\n", end)
    defects = {d for d in (date_defect, subject_defect, body_defect) if d is not None}
    if end == b"\r":
        defects.add(Defect.CR_LINE_ENDINGS)
    return Hostile(raw, frozenset(defects))


@st.composite
def hostile_mailboxes(draw: st.DrawFn) -> list[Hostile]:
    """One to four hostile messages, each with its own Message-ID."""
    count = draw(st.integers(1, 4))
    return [draw(hostile_mail(number)) for number in range(count)]


def good(n: int) -> bytes:
    """A plain message from Kim to Anna, number *n*."""
    return factories.raw_mail(
        "From: Kim <kim@client.example>",
        f"To: {OWNER}",
        f"Message-ID: <good{n}@client.example>",
        "Subject: Good",
        "Date: Mon, 03 Feb 2025 10:00:00 +0000",
        crlf=False,
    )


# --- Sources and stores ---------------------------------------------------------------------------


def write_mbox(folder: Path, raws: list[bytes]) -> MessageSource:
    """An mbox holding *raws* (a ``From `` line quoted with ``>`` inside a message)."""
    path = folder / "a.mbox"
    with path.open("wb") as out:
        for raw in raws:
            quoted = raw.replace(b"\nFrom ", b"\n>From ")
            out.write(b"From x@y Mon Feb  3 10:00:00 2025\n" + quoted + b"\n\n")
    return MboxSource(path)


def write_maildir(folder: Path, raws: list[bytes]) -> MessageSource:
    """A Maildir whose ``cur`` holds *raws*."""
    root = folder / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    for n, raw in enumerate(raws):
        (root / "cur" / f"{1700000000 + n}.M{n}P1.host:2,S").write_bytes(raw)
    return MaildirSource(root, window=0)


def write_eml(folder: Path, raws: list[bytes]) -> MessageSource:
    """A folder of one ``.eml`` file per message."""
    root = folder / "eml"
    root.mkdir()
    for n, raw in enumerate(raws):
        (root / f"{n:03}.eml").write_bytes(raw)
    return EmlFolderSource(root, window=0)


SOURCES: dict[str, Callable[[Path, list[bytes]], MessageSource]] = {
    "mbox": write_mbox,
    "maildir": write_maildir,
    "eml": write_eml,
}
STORES: dict[str, Callable[[Path], Store]] = {
    "memory": lambda _path: InMemoryStore(),
    "sqlite": lambda path: SQLiteStore(str(path / "crm.sqlite")),
}


@pytest.fixture
def scratch() -> Iterator[Callable[[], Path]]:
    """Fresh folders, one per example (Hypothesis runs many examples in one test)."""
    made: list[tempfile.TemporaryDirectory[str]] = []

    def new() -> Path:
        made.append(tempfile.TemporaryDirectory())
        return Path(made[-1].name)

    yield new
    for folder in made:
        folder.cleanup()


def sync_twice(source: MessageSource, store: Store, expected: int) -> tuple[Counter[str], int]:
    """Sync *source* into *store* twice; check that all *expected* copies were decided the
    first time (each synced one stored, each other with its reasons) and nothing is new the
    second. The defect counts of the first pass, and how many messages it stored."""
    mailbox, policy = factories.mailbox(), factories.policy()
    try:
        first = sync_mailbox(source, store, mailbox, policy, now=NOW, batch_size=3)
        assert first.seen == expected
        decisions = list(store.decisions(mailbox.id))
        assert len(decisions) == expected
        # Every copy is decided: synced and stored, or kept out with at least one reason.
        assert all(d.decision.synced or d.decision.reasons for d in decisions)
        synced = {d.key for d in decisions if d.decision.synced}
        held = list(store.mailbox_messages(mailbox.id))
        assert len(held) == len(synced) == first.synced
        again = sync_mailbox(source, store, mailbox, policy, now=NOW)
        assert (again.seen, again.synced) == (0, 0)
        return Counter(dict(first.defects)), len(held)
    finally:
        if isinstance(store, SQLiteStore):
            store.close()


@pytest.mark.parametrize("store_kind", sorted(STORES))
@pytest.mark.parametrize("source_kind", sorted(SOURCES))
@FUZZ
@given(mailbox=hostile_mailboxes())
def test_hostile_mail_is_stored_or_recorded_by_every_source_and_store(
    scratch: Callable[[], Path], source_kind: str, store_kind: str, mailbox: list[Hostile]
) -> None:
    """Property: hostile messages between two good ones, in any file source and either store,
    are all decided and stored, each with the defects its parts imply; nothing raises, and the
    next sync finds nothing new."""
    folder = scratch()
    raws = [good(1), *(m.raw for m in mailbox), good(2)]
    source = SOURCES[source_kind](folder, raws)
    defects, _ = sync_twice(source, STORES[store_kind](folder), len(raws))
    wanted = Counter(str(d) for m in mailbox for d in m.defects)
    for code, count in wanted.items():
        assert defects[code] >= count, code


# --- JSON lines -----------------------------------------------------------------------------------

#: Values of the wrong type (and right ones) for each field of a record.
WRONG = st.one_of(
    st.integers(-5, 5),
    st.none(),
    st.booleans(),
    st.just({"a": 1}),
    st.just([1, "x"]),
    st.just("x\ud800"),
)
FIELDS: dict[str, st.SearchStrategy[object]] = {
    "id": st.one_of(st.just("r"), WRONG),
    "sender": st.one_of(
        st.sampled_from(["kim@client.example", "K\ud800 <kim@client.example>"]), WRONG
    ),
    "to": st.one_of(st.just(["anna@acme.com"]), st.just("anna@acme.com"), WRONG),
    "cc": st.one_of(st.just(["Jane <j@x.example> b@y.example"]), WRONG),
    "sent_at": st.one_of(
        st.sampled_from(
            ["2025-02-03T10:00:00+00:00", "9999-12-31T23:59:59-12:00", "2025-02-03", "soon"]
        ),
        WRONG,
    ),
    "subject": st.one_of(st.just("s\udfff"), st.text(max_size=5), WRONG),
    "headers": st.one_of(st.just([["X-A", "\ud800"]]), st.just({"X-B": "1"}), WRONG),
}


@st.composite
def hostile_lines(draw: st.DrawFn) -> list[str]:
    """One to six JSON lines: records with fields of the wrong types, or not objects at all;
    each line unlike the others (its own ``message_id``, or its own text)."""
    lines = []
    for number in range(draw(st.integers(1, 6))):
        if draw(st.integers(0, 5)) == 0:
            lines.append(draw(st.sampled_from([f"[{number}]", f"{number}", f"not json {number}"])))
            continue
        chosen = draw(st.sets(st.sampled_from(sorted(FIELDS)), max_size=len(FIELDS)))
        record = {name: draw(FIELDS[name]) for name in sorted(chosen)}
        if isinstance(record.get("id"), str):
            # Two records with one id are one copy, the later one: keep them apart.
            record["id"] = f"{record['id']}{number}"
        record["message_id"] = f"<rec{number}@client.example>"
        lines.append(json.dumps(record))
    return lines


@pytest.mark.parametrize("store_kind", sorted(STORES))
@FUZZ
@given(lines=hostile_lines())
def test_hostile_json_lines_are_stored_or_recorded_in_either_store(
    scratch: Callable[[], Path], store_kind: str, lines: list[str]
) -> None:
    """Property: JSON lines with wrong types (ids that are objects or numbers, ``to`` as a
    string, lone surrogates, times UTC cannot hold) are all decided and stored; nothing raises,
    and the next sync finds nothing new."""
    folder = scratch()
    path = folder / "a.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    sync_twice(JsonLinesSource(path), STORES[store_kind](folder), len(lines))


# --- The work one message takes -------------------------------------------------------------------


def calls(raw: bytes) -> int:
    """How many calls (Python and C functions) reading *raw* makes: deterministic."""
    return factories.calls_made(lambda: Message.from_bytes(raw))


def peak(raw: bytes) -> int:
    """The most memory reading *raw* holds at once, in bytes."""
    tracemalloc.start()
    try:
        Message.from_bytes(raw)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=hostile_mail(0))
def test_each_hostile_message_takes_work_bounded_by_its_size(message: Hostile) -> None:
    """Property: reading one hostile message makes calls and holds memory within a bound of
    its size (a few calls per byte, at most 5 times its bytes over a fixed base): a header that
    makes the reading quadratic breaks it. Sizes and counts, never the clock."""
    Message.from_bytes(good(0))  # the Public Suffix List and the codecs load once
    size = len(message.raw)
    assert calls(message.raw) <= 2 * size + 20_000
    assert peak(message.raw) <= 5 * size + 512 * 1024
