"""Tests for the MIME reader's internals that the message tests do not reach directly."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind._mime import Defect, _split


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
