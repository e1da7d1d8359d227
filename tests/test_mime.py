"""Tests for the MIME reader's internals that the message tests do not reach directly."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind import _mime
from mailbind._mime import Defect, _read_headers, _split
from mailbind.messages import Limits


def _split_by_regex(
    raw: bytes, start: int, end: int, boundary: str, room: int
) -> tuple[list[tuple[int, int]] | None, list[Defect]]:
    """The delimiter rule as one regular expression: the reference `_split` must agree with."""
    defects: list[Defect] = []
    delimiter = re.compile(
        rb"^--" + re.escape(boundary.encode("utf-8", "surrogatepass")) + rb"(--)?[ \t]*\r?$",
        re.MULTILINE,
    )
    spans: list[tuple[int, int]] = []
    part_start = -1
    for match in delimiter.finditer(raw, start, end):
        found = match.start()
        if part_start >= 0:
            if len(spans) >= room:
                defects.append(Defect.TOO_MANY_PARTS)
                return spans, defects
            part_end = found
            if part_end > part_start and raw[part_end - 1] == 10:
                part_end -= 1
                if part_end > part_start and raw[part_end - 1] == 13:
                    part_end -= 1
            spans.append((part_start, part_end))
        if match.group(1):
            return spans, defects
        part_start = min(match.end() + 1, end)
    if part_start < 0:
        defects.append(Defect.START_BOUNDARY_NOT_FOUND)
        return None, defects
    defects.append(Defect.CLOSE_BOUNDARY_NOT_FOUND)
    if len(spans) >= room:
        defects.append(Defect.TOO_MANY_PARTS)
    else:
        spans.append((part_start, end))
    return spans, defects


def _split_with_defects(
    raw: bytes, start: int, end: int, boundary: str, room: int
) -> tuple[list[tuple[int, int]] | None, list[Defect]]:
    defects: list[Defect] = []
    return _split(raw, start, end, boundary, room, defects), defects


# Few distinct bytes, so that boundaries, dashes, blanks and line ends meet often.
_bodies = st.lists(
    st.sampled_from([b"--b", b"--b-", b"--", b"b", b"-", b" ", b"\t", b"\r", b"\n", b"x", b"\xc3"]),
    max_size=40,
).map(b"".join)


@settings(max_examples=600)
@given(
    raw=_bodies,
    boundary=st.sampled_from(["b", "b-", "b--", "-", "bb", "b b", "é"]),
    cut=st.tuples(st.integers(0, 50), st.integers(0, 50)),
    room=st.integers(1, 4),
)
def test_split_finds_the_delimiters_the_rule_names(
    raw: bytes, boundary: str, cut: tuple[int, int], room: int
) -> None:
    """Scanning with ``bytes.find`` finds exactly the parts the delimiter expression finds."""
    start, end = sorted((min(cut[0], len(raw)), min(cut[1], len(raw))))
    assert _split_with_defects(raw, start, end, boundary, room) == _split_by_regex(
        raw, start, end, boundary, room
    )


@pytest.mark.parametrize(
    ("raw", "start", "expected"),
    [
        (b"--b\npart\n--b--\n", 0, ([(4, 8)], [])),
        (b"--b \t\r\npart\r\n--b-- \r\n", 0, ([(7, 11)], [])),
        (b"x--b\npart\n--b--\n", 1, ([], [])),
        (b"--bb\n--b-x\n", 0, (None, [Defect.START_BOUNDARY_NOT_FOUND])),
        (b"--b\none\n--b\ntwo", 0, ([(4, 7), (12, 15)], [Defect.CLOSE_BOUNDARY_NOT_FOUND])),
    ],
)
def test_split_examples(
    raw: bytes, start: int, expected: tuple[list[tuple[int, int]] | None, list[Defect]]
) -> None:
    """Delimiters start a line, may end in blanks and a CR, and ``--`` closes the list."""
    assert _split_with_defects(raw, start, len(raw), "b", 10) == expected


def _read_headers_reference(
    raw: bytes, pos: int, end: int, limits: Limits, defects: list[Defect], *, top: bool
) -> tuple[list[tuple[str, str]], int]:
    """The header reader as first written, one regular expression call per step."""
    fields: list[tuple[str, str]] = []
    max_length = limits.max_header_length
    if top and raw.startswith(b"From ", pos, end):  # an mbox separator line
        newline = raw.find(b"\n", pos, end)
        pos = end if newline < 0 else newline + 1
    while pos < end:
        newline = raw.find(b"\n", pos, end)
        stop = end if newline < 0 else newline
        if stop > pos and raw[stop - 1] == 13:  # CR of CRLF
            stop -= 1
        if stop == pos:  # the blank line
            return fields, (end if newline < 0 else newline + 1)
        if raw[pos] in (32, 9):  # a continuation with no field before it
            defects.append(Defect.BAD_HEADER_LINE)
            pos = _mime._continued_end(raw, pos, end)
            continue
        colon = raw.find(b":", pos, min(stop, pos + 256))
        name = raw[pos:colon].rstrip(b" \t") if colon > pos else b""
        if not name or not _mime._FIELD_NAME.fullmatch(name):
            defects.append(Defect.MISSING_HEADER_BODY_SEPARATOR)
            return fields, pos
        if len(fields) >= limits.max_headers:
            defects.append(Defect.TOO_MANY_HEADERS)
            blank = _mime._BLANK_LINE.search(raw, pos - 1, end)
            return fields, (end if blank is None else blank.end())
        field_end = end if newline < 0 else _mime._continued_end(raw, newline + 1, end)
        value_end = field_end
        if value_end > colon and raw[value_end - 1] == 10:
            value_end -= 1
            if value_end > colon and raw[value_end - 1] == 13:
                value_end -= 1
        blanks = _mime._BLANKS.match(raw, colon + 1, stop)
        start = colon + 1 if blanks is None else blanks.end()
        if value_end - start > max_length:
            defects.append(Defect.HEADER_TOO_LONG)
            value_end = start + max_length
        value = raw[start:value_end]
        if b"\n" in value:
            value = re.sub(rb"\r?\n", b"", value)
        fields.append((_mime._bytes_text(name), _mime._bytes_text(value).strip()))
        pos = field_end
    return fields, end


_header_bytes = st.lists(
    st.sampled_from(
        [
            b"From: a@x.example",
            b"From ",
            b"Subject:",
            b"To :",
            b"X-\xc3\xa9:",
            b"\xff",
            b"Bad Name: x",
            b": no name",
            b" ",
            b"\t",
            b"  value",
            b"\r",
            b"\n",
            b"\r\n",
            b"text",
            b"caf\xc3\xa9",
            b"\x96",
            b":",
        ]
    ),
    max_size=30,
).map(b"".join)


@settings(max_examples=1000)
@given(
    raw=_header_bytes,
    top=st.booleans(),
    max_headers=st.integers(1, 6),
    max_length=st.integers(1, 40),
)
def test_read_headers_matches_the_reference(
    raw: bytes, top: bool, max_headers: int, max_length: int
) -> None:
    """The header reader's shortcuts change nothing it reads, where the body starts or a defect."""
    limits = Limits(max_headers=max_headers, max_header_length=max_length)
    ours: list[Defect] = []
    theirs: list[Defect] = []
    assert _read_headers(raw, 0, len(raw), limits, ours, top=top) == _read_headers_reference(
        raw, 0, len(raw), limits, theirs, top=top
    )
    assert ours == theirs
