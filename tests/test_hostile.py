"""Mail that must never stop a mailbox: one bad message among good ones is stored or recorded
with its reason, shown by ``explain``, and the next sync moves past it (issue 13)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind import Defect, Message, Role, parse_participants
from mailbind.cli import main
from mailbind.engine import sync_mailbox
from mailbind.source import MessageSource
from mailbind.sources.jsonl import JsonLinesSource
from mailbind.sources.mbox import MboxSource
from mailbind.store import Store
from mailbind.stores.sqlite import SQLiteStore
from mailbind.testing import InMemoryStore
from tests import factories

NOW = datetime(2025, 2, 1, 9, tzinfo=UTC)
OWNER = "anna@acme.com"


def good(n: int) -> bytes:
    """A plain message from Kim to Anna, number *n*."""
    return factories.raw_mail(
        "From: Kim <kim@client.example>",
        f"To: {OWNER}",
        f"Message-ID: <good{n}@client.example>",
        f"Subject: Good {n}",
        "Date: Mon, 03 Feb 2025 10:00:00 +0000",
        crlf=False,
    )


def hostile(*headers: str | bytes, body: bytes = b"Hello\n") -> bytes:
    """A message from Kim to Anna with the Message-ID ``<bad@client.example>`` and *headers*."""
    return factories.raw_mail(
        "From: Kim <kim@client.example>",
        f"To: {OWNER}",
        "Message-ID: <bad@client.example>",
        *headers,
        body=body,
        crlf=False,
    )


#: Each bad message as RFC 5322 bytes, and the defect its record must carry (None: none).
RAW_CASES: dict[str, tuple[bytes, Defect | None]] = {
    # UTF-7 decodes "+2AA-" to a lone surrogate, which SQLite cannot store.
    "lone surrogate in a body": (
        hostile("Content-Type: text/plain; charset=utf-7", body=b"a +2AA- b\n"),
        Defect.LONE_SURROGATE,
    ),
    "lone surrogate in an encoded word": (
        hostile("Subject: =?utf-7?q?+2AA-?="),
        Defect.LONE_SURROGATE,
    ),
    "year 9999 west of UTC": (hostile("Date: Fri, 31 Dec 9999 23:59:59 -1200"), Defect.BAD_DATE),
    "an offset that overflows": (hostile("Date: Fri, 31 Dec 2020 23:59:59 +9999"), Defect.BAD_DATE),
    "thousands of folded lines": (hostile(b"Subject: x" + b"\n y" * 20000), None),
    "a long run of blanks in To": (
        hostile("Cc: a" + " " * 60000 + "b@client.example"),
        None,
    ),
}

#: Each bad JSON line, and the defect its record must carry.
JSONL_CASES: dict[str, tuple[str, Defect | None]] = {
    "an id that is an object": (
        '{"id": {"a": 1}, "sender": "kim@client.example", "to": ["anna@acme.com"]}',
        Defect.BAD_JSON_RECORD,
    ),
    "an id that is a number": (
        '{"id": 7, "sender": "kim@client.example", "to": ["anna@acme.com"]}',
        Defect.BAD_JSON_RECORD,
    ),
    "to as a string": ('{"sender": "kim@client.example", "to": "anna@acme.com"}', None),
    "a lone surrogate everywhere": (
        '{"id": "x\\ud800", "message_id": "m\\udc00@x", "sender": "K\\ud800 <kim@client.example>",'
        ' "to": ["anna\\ud800@acme.com", "anna@acme.com"], "subject": "s\\udfff",'
        ' "headers": [["X-A", "\\ud800"]]}',
        Defect.LONE_SURROGATE,
    ),
    "a time UTC cannot hold": (
        '{"sender": "kim@client.example", "to": "anna@acme.com",'
        ' "sent_at": "9999-12-31T23:59:59-12:00"}',
        Defect.BAD_DATE,
    ),
}

STORES: dict[str, Callable[[Path], Store]] = {
    "memory": lambda _path: InMemoryStore(),
    "sqlite": lambda path: SQLiteStore(str(path / "crm.sqlite")),
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each store, empty."""
    made = STORES[request.param](tmp_path)
    yield made
    if isinstance(made, SQLiteStore):
        made.close()


def mbox_of(path: Path, *raws: bytes) -> Path:
    """An mbox file at *path* holding *raws*."""
    path.write_bytes(b"".join(b"From x@y Mon Feb  3 10:00:00 2025\n" + raw + b"\n" for raw in raws))
    return path


def check_recorded(source: MessageSource, store: Store, defect: Defect | None) -> None:
    """Sync *source* twice: every copy is recorded, the bad one with *defect*, and the second
    pass finds nothing new."""
    mailbox, policy = factories.mailbox(), factories.policy()
    first = sync_mailbox(source, store, mailbox, policy, now=NOW)
    assert first.seen == 3
    decisions = list(store.decisions(mailbox.id))
    assert len(decisions) == 3
    held = [s.message for s in store.mailbox_messages(mailbox.id)]
    assert len(held) == 3
    if defect is not None:
        assert [m for m in held if defect in m.defects]
    again = sync_mailbox(source, store, mailbox, policy, now=NOW)
    assert (again.seen, again.synced) == (0, 0)


@pytest.mark.parametrize("case", sorted(RAW_CASES))
def test_a_bad_message_in_an_mbox_is_recorded_and_passed(
    tmp_path: Path, store: Store, case: str
) -> None:
    """Both good messages are stored, the bad one is stored with its defect, and the next
    sync moves past it."""
    raw, defect = RAW_CASES[case]
    path = mbox_of(tmp_path / "a.mbox", good(1), raw, good(2))
    check_recorded(MboxSource(path), store, defect)


@pytest.mark.parametrize("case", sorted(JSONL_CASES))
def test_a_bad_json_line_is_recorded_and_passed(tmp_path: Path, store: Store, case: str) -> None:
    """A JSON line with an odd id, a string ``to``, lone surrogates or an impossible time is
    recorded among good lines, and the next sync moves past it."""
    line, defect = JSONL_CASES[case]
    good_line = '{{"sender": "kim@client.example", "to": ["anna@acme.com"], "subject": "g{}"}}'
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join([good_line.format(1), line, good_line.format(2)]) + "\n")
    check_recorded(JsonLinesSource(path), store, defect)


def test_explain_shows_the_bad_message_with_its_defect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``explain --json`` lists the bad message beside the good ones, with its defect."""
    raws = [raw for raw, _ in RAW_CASES.values()]
    path = mbox_of(tmp_path / "a.mbox", good(1), *raws, good(2))
    code = main(["explain", str(path), "--owner", OWNER, "--json"])
    out = capsys.readouterr().out
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == len(raws) + 2
    defects = {d for r in records for d in r["defects"]}
    assert {Defect.LONE_SURROGATE, Defect.BAD_DATE} <= defects


# --- The readings themselves -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"Content-Type: text/plain; charset=utf-7\n\na +2AA- b\n", "a \ufffd b\n"),
        (b"Content-Type: text/plain; charset=unicode-escape\n\na \\udfff b\n", "a \ufffd b\n"),
    ],
)
def test_a_codec_that_gives_lone_surrogates_gives_replacement_characters(
    raw: bytes, text: str
) -> None:
    """No text of a message holds a lone surrogate: each is U+FFFD, with ``lone_surrogate``."""
    message = Message.from_bytes(b"From: kim@client.example\n" + raw)
    assert (message.text, message.defects) == (text, (Defect.LONE_SURROGATE,))


def test_build_replaces_lone_surrogates_everywhere() -> None:
    """Message.build holds no lone surrogate in any text: subject, bodies, headers, the
    Message-ID, attachment names and participants' raw text."""
    message = Message.build(
        sender="K\ud800 <kim@client.example>",
        to="x\udc00@acme.com",
        subject="a\ud800",
        text="b\udfff",
        html="c\udbff",
        message_id="<m\ud800@x>",
        headers=[("X-\ud800", "v\udc00")],
        attachments=[("f\ud800.pdf", b"%PDF")],
    )
    assert message.defects == (Defect.LONE_SURROGATE,)
    texts = [message.subject, message.text, message.html, message.message_id, message.key]
    texts += [t for pair in message.headers for t in pair]
    texts += [a.filename for a in message.attachments or ()]
    texts += [p.raw for p in message.participants] + [p.name for p in message.participants]
    texts += [p.problem or "" for p in message.participants]
    assert all(isinstance(t, str) for t in texts)
    assert not any(0xD800 <= ord(c) <= 0xDFFF for t in texts if t for c in t)
    assert message.sender is not None
    assert message.sender.address is not None
    assert [p.readable for p in message.participants] == [True, False]


def test_build_refuses_a_time_utc_cannot_hold() -> None:
    """A caller's ``sent_at`` in year 9999 west of UTC is a mistake named as one."""
    with pytest.raises(ValueError, match="sent_at must be a time that UTC can hold"):
        Message.build(sender="kim@client.example", sent_at="9999-12-31T23:59:59-12:00")
    late = Message.build(sender="kim@client.example", sent_at="9999-12-31T11:59:59-12:00")
    assert late.sent_at is not None


@pytest.mark.parametrize("crlf", [b"\r", b"\r\n", b"\n"])
def test_cr_only_line_endings_read_as_lines(crlf: bytes) -> None:
    """A message whose lines end with CR alone reads as the same message does with LF or CRLF,
    and says so with ``cr_line_endings``."""
    lines = [b"From: kim@client.example", b"To: anna@acme.com", b"Subject: Hi", b"", b"Body"]
    message = Message.from_bytes(crlf.join(lines) + crlf)
    assert [p.address.key for p in message.participants if p.address] == [
        "kim@client.example",
        "anna@acme.com",
    ]
    assert message.subject == "Hi"
    assert message.text is not None
    assert message.text.strip() == "Body"
    assert (Defect.CR_LINE_ENDINGS in message.defects) is (crlf == b"\r")


def test_a_lone_cr_after_lf_lines_is_no_cr_message() -> None:
    """A carriage return inside a value of a message with LF line ends changes nothing."""
    message = Message.from_bytes(b"From: kim@client.example\nSubject: a\rb\n\nx\n")
    assert Defect.CR_LINE_ENDINGS not in message.defects
    assert message.subject == "a\rb"


# --- Linear work ------------------------------------------------------------------------------

#: Shapes of hostile address headers, each repeated to fill a header.
SHAPES = [
    " ",
    "\t",
    " \t",
    "\r\n ",
    "\n ",
    " .",
    ",",
    ";",
    ":",
    "@",
    ".",
    "(",
    ")",
    "(a)",
    "<",
    ">",
    "<a@x.com>",
    '"',
    '" ',
    "\\",
    "=?",
    "=?utf-8?q?a?= ",
    "a@x.com ",
    "Jane ",
    "a.",
]


def _work(value: str) -> int:
    """The memory a header value's reading takes at its peak, in bytes: a stand-in for the
    work done that does not depend on the clock (a quadratic reading makes quadratic lists)."""
    tracemalloc.start()
    try:
        parse_participants(value, Role.TO)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _steps(value: str) -> int:
    """How many calls the reading of *value* makes: deterministic, it shows a reading that
    loops too often."""
    return factories.calls_made(lambda: parse_participants(value, Role.TO))


def _cpu(value: str) -> float:
    """The least processor time (this thread's, not the clock's) of five readings of *value*:
    it shows a regular expression that scans the rest of the value from every position."""
    best = float("inf")
    for _ in range(5):
        start = time.thread_time()
        parse_participants(value, Role.TO)
        best = min(best, time.thread_time() - start)
    return best


@settings(max_examples=40, deadline=None)
@given(
    prefix=st.sampled_from(["", "a", "Jane ", "a@x.com (", '"', "<", "Team:"]),
    shape=st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3).map("".join),
    suffix=st.sampled_from(["", "b@y.com", "<b@y.com>", ")", '"', ">"]),
)
def test_reading_a_header_is_linear_in_its_size(prefix: str, shape: str, suffix: str) -> None:
    """A header 8 times as long makes at most about 16 times the calls (8, twice); its calls,
    memory and processor time grow by far less than the 64 times of a quadratic reading
    (sizes are compared with sizes, never a time with a bound)."""
    small = prefix + shape * (2000 // len(shape)) + suffix
    large = prefix + shape * (16000 // len(shape)) + suffix
    parse_participants("warm@up.example", Role.TO)  # the Public Suffix List loads once
    # A quote left open makes a second reading, which one size may need and the other not.
    assert _steps(large) <= 20 * _steps(small) + 1000
    # Memory grows in steps (a list's room doubles), so its bound is looser.
    assert _work(large) <= 20 * _work(small) + 64 * 1024
    assert _cpu(large) <= 30 * _cpu(small) + 0.002


@pytest.mark.parametrize("shape", SHAPES)
def test_a_64_kb_header_of_any_shape_is_read(shape: str) -> None:
    """Every hostile shape filling 64 KB reads into participants without raising."""
    value = "Jane " + shape * (64 * 1024 // len(shape)) + " b@y.com"
    assert isinstance(parse_participants(value, Role.TO), tuple)


@pytest.mark.parametrize(
    "header",
    [b"Subject: x" + b"\n y" * 50000, b"To: a@x.com" + b"\n " * 50000, b"X-A:" + b"\n\t" * 50000],
)
def test_thousands_of_folded_lines_take_little_memory(header: bytes) -> None:
    """A header folded over 50,000 lines reads in at most 5 times the message's size."""
    raw = b"From: kim@client.example\n" + header + b"\n\nbody\n"
    tracemalloc.start()
    try:
        message = Message.from_bytes(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message.sender is not None
    assert peak <= 5 * len(raw)


# --- The command line: no socket, nothing raw on the terminal ---------------------------------

#: Run the command with every way of opening a socket refused.
NO_SOCKET = """
import socket, sys

def refuse(*args, **kwargs):
    raise SystemExit("a socket was opened")

class NoSocket(socket.socket):
    def __init__(self, *args, **kwargs):
        refuse()

socket.socket = NoSocket
socket.create_connection = socket.socketpair = socket.getaddrinfo = refuse
from mailbind.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["sync", "--sample", "--db", "crm.sqlite", "--now", "2025-02-01T09:00:00+00:00"],
        ["explain", "--sample", "--json", "--now", "2025-02-01T09:00:00+00:00"],
    ],
)
def test_the_command_opens_no_socket(tmp_path: Path, argv: list[str]) -> None:
    """Syncing and explaining the sample open no socket at all (no probe from an import)."""
    done = subprocess.run(
        [sys.executable, "-c", NO_SOCKET, *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize("name", ["x\x1b[31mred.mbox", "b\x9bidi\u202e.mbox", "t\x1b]0;x\x07.mbox"])
def test_control_characters_in_a_path_never_reach_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """A source path holding escape sequences is shown escaped by sync, explain and errors."""
    path = mbox_of(tmp_path / name, good(1))
    db = str(tmp_path / "crm.sqlite")
    runs = [
        ["sync", str(path), "--owner", OWNER, "--db", db],
        ["explain", str(path), "--owner", OWNER],
        ["explain", str(path), "--owner", OWNER, "--json"],
        ["sync", str(tmp_path / ("gone" + name)), "--owner", OWNER, "--db", db],
    ]
    for argv in runs:
        main(argv)
        captured = capsys.readouterr()
        for text in (captured.out, captured.err):
            assert not any(ch in text for ch in "\x1b\x07\x9b\u202e"), (argv, text)


@pytest.mark.parametrize(
    ("date", "year"),
    [
        ("Mon, 01 Jan 0001 00:00:00 +1400", None),
        ("Mon, 01 Jan 0099 10:00:00 +0000", None),
        ("Mon, 01 Jan 01 10:00:00 +0000", 2001),
        ("Mon, 01 Jan 1999 00:00:00 +0000", 1999),
        ("Sat, 01 Jan 2000 00:00:00 +0000", 2000),
    ],
)
def test_a_four_digit_year_below_100_is_a_bad_date(date: str, year: int | None) -> None:
    """A year written ``0001`` is not the two-digit year ``01``: it is recorded as a bad date."""
    message = Message.from_bytes(f"From: a@x.example\r\nDate: {date}\r\n\r\nHi\r\n".encode())
    assert (message.sent_at.year if message.sent_at else None) == year
    assert (Defect.BAD_DATE in message.defects) is (year is None)
