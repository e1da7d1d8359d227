"""Tests for `mailbind.sources.guess_format`: a source recognised from what it holds."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbind.sources import NotMailError, guess_format
from mailbind.sources._sniff import file_kind


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"From a@b Mon Feb  3 10:00:00 2025\nFrom: a@b\n", "mbox"),
        (b"\xef\xbb\xbfFrom a@b Mon Feb  3 10:00:00 2025\n", "mbox"),
        (b"\r\n\r\nFrom a@b Mon Feb  3 10:00:00 2025\n", "mbox"),
        (b'{"raw": "From: a@b"}\n{"raw": "x"}\n', "jsonl"),
        (b"Return-Path: <a@b>\nReceived: from x\n\tby y\nFrom: a@b\n\nHi\n", "message"),
        (b"", "empty"),
        (b"\n\n", "empty"),
        (
            b"Subject: only one header\n\nbody\n",
            "text, but not mail: no line starts with 'From ' "
            "(mbox), it does not open with header lines (a message), and its first line is not a "
            "JSON object (JSON lines)",
        ),
        (
            b"[1, 2, 3]\n",
            "text, but not mail: no line starts with 'From ' (mbox), it does not "
            "open with header lines (a message), and its first line is not a JSON object (JSON "
            "lines)",
        ),
        (b"SQLite format 3\x00", "an SQLite database"),
        (b"\x1f\x8b\x08", "a gzip-compressed file (unpack it first)"),
        (b"!BDN\x00", "an Outlook PST file (export it as mbox or .eml first)"),
    ],
)
def test_file_kinds(head: bytes, kind: str) -> None:
    """Real heads of files and what they are recognised as."""
    assert file_kind(head) == kind


@given(st.binary(max_size=300))
def test_any_bytes_get_an_answer(head: bytes) -> None:
    """Property: recognising a file never raises, whatever its bytes."""
    assert isinstance(file_kind(head), str)


def test_an_empty_file_is_an_empty_mailbox_of_its_kind(tmp_path: Path) -> None:
    """A new, empty mailbox file is accepted: an mbox, or JSON lines by its extension."""
    (tmp_path / "inbox").write_bytes(b"")
    (tmp_path / "export.jsonl").write_bytes(b"")
    assert guess_format(tmp_path / "inbox") == "mbox"
    assert guess_format(tmp_path / "export.jsonl") == "jsonl"


def test_a_folder_is_looked_into_only_as_deep_as_asked(tmp_path: Path) -> None:
    """The .eml files of subfolders count only when recursive."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.eml").write_bytes(b"From: a@b.example\nTo: c@d.example\n\nHi\n")
    assert guess_format(tmp_path) == "eml"
    with pytest.raises(NotMailError) as caught:
        guess_format(tmp_path, recursive=False)
    assert str(caught.value) == (
        f"{str(tmp_path)!r} is not a mailbox: it is a folder with no .eml files and no Maildir "
        "cur/new/tmp, holding no files (subfolders are read only with --recursive)."
    )
