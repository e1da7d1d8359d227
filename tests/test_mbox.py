"""Tests for the mbox source's block reader, against the line-by-line rule it implements."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbind.sources import mbox
from mailbind.sources.mbox import MboxSource


def read_by_lines(data: bytes, keep: int) -> list[tuple[int, bytes, bool]]:
    """The messages of *data* as (offset, raw, truncated), read one line at a time.

    The rule the block reader must follow: a line starting ``From `` begins a message (and is
    not part of it); lines reading ``>*From `` lose one ``>``; a message keeps its first *keep*
    bytes; text before the first ``From `` line is a message when it is not blank; the blank
    line before a ``From `` line is not part of the message.
    """
    found: list[tuple[int, bytes, bool]] = []
    parts: list[bytes] = []
    size = begin = pos = 0
    framed = False

    def close() -> None:
        if framed or any(p.strip() for p in parts):
            raw = b"".join(parts)
            truncated = size >= keep
            if not truncated:
                if raw.endswith(b"\r\n\r\n"):
                    raw = raw[:-2]
                elif raw.endswith(b"\n\n"):
                    raw = raw[:-1]
            found.append((begin, raw, truncated))

    for line in data.splitlines(keepends=True):
        start, pos = pos, pos + len(line)
        if line.startswith(b"From "):
            close()
            parts, size, begin, framed = [], 0, start, True
        elif size < keep:
            if line[:1] == b">" and line.lstrip(b">").startswith(b"From "):
                line = line[1:]
            line = line[: keep - size]
            parts.append(line)
            size += len(line)
    close()
    return found


_lines = st.lists(
    st.sampled_from(
        [
            b"From a@b Sat Mar  1 09:00:00 2025\n",
            b"From x\r\n",
            b"From ",
            b">From here\n",
            b">>From here\n",
            b">Fromage\n",
            b"Subject: hi\n",
            b"\n",
            b"\r\n",
            b"body text that runs on",
            b" and on\n",
            b"x" * 40,
            b"From",
            b">",
        ]
    ),
    max_size=30,
).map(b"".join)


def read_by_blocks(path: Path, keep: int, limit: int) -> list[tuple[bytes, bool]]:
    """The messages of the mbox at *path* as (raw, truncated), fetched in batches of *limit*.

    The locations of the messages are checked on the way: exactly those a listing gives.
    """
    source = MboxSource(path, max_message_bytes=keep - 1)
    found: list[tuple[bytes, bool]] = []
    locations: set[str] = set()
    cursor = None
    while True:
        batch = source.fetch(cursor, limit=limit)
        assert not batch.reset
        found += [(i.raw or b"", i.truncated) for i in batch.items]
        locations.update(i.location for i in batch.items)
        cursor = batch.cursor
        if batch.done:
            assert source.listing().present == frozenset(locations)
            return found


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=_lines,
    keep=st.integers(2, 120),
    chunk=st.integers(5, 64),
    limit=st.integers(1, 4),
)
def test_blocks_read_what_lines_read(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
    keep: int,
    chunk: int,
    limit: int,
) -> None:
    """Reading in blocks of any size, in batches of any size, gives the line-by-line messages."""
    monkeypatch.setattr(mbox, "CHUNK", chunk)
    path = tmp_path / "mail.mbox"
    path.write_bytes(data)
    expected = [(raw, truncated) for _, raw, truncated in read_by_lines(data, keep)]
    assert read_by_blocks(path, keep, limit) == expected


def test_a_line_longer_than_a_block_is_content_and_never_a_separator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``From `` inside a line that spans several blocks does not start a message."""
    monkeypatch.setattr(mbox, "CHUNK", 16)
    line = b">From " + b"x" * 50 + b"From here " + b"y" * 30 + b"\n"
    data = b"From a\n" + line + b">From b\nFrom " + b"e" * 40 + b"\nS: 2\n"
    path = tmp_path / "mail.mbox"
    path.write_bytes(data)
    assert [raw for raw, _ in read_by_blocks(path, 10_000, 10)] == [
        line[1:] + b"From b\n",
        b"S: 2\n",
    ]


@settings(max_examples=300)
@given(
    head=st.binary(max_size=40).map(
        lambda b: bytes(b"a\r\n"[x % 3] for x in b)  # only the bytes that matter
    ),
    start=st.integers(0, 40),
)
def test_the_head_end_is_found_as_the_expression_finds_it(head: bytes, start: int) -> None:
    """`_head_end` gives what ``_HEAD_END`` gives, from any start."""
    start = min(start, len(head))
    found = mbox._HEAD_END.search(head, start)
    assert mbox._head_end(bytearray(head), start) == (-1 if found is None else found.end())
