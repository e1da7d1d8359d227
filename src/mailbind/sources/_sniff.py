"""Recognising a mail source from what it holds, never from its name alone.

Invariants:
- A file is read only at its head (`HEAD` bytes), a folder only by its listing and the heads of
  at most `SAMPLE` of its files: recognising a source costs the same whatever its size.
- Each answer is a format of `mailbind.sources.FORMATS`, or a `NotMailError` whose one sentence
  names the path and what was found there instead (an SQLite database, a PDF, a folder of
  other files), so that nothing that is not mail is ever imported as mail.
- A Maildir is a folder with ``cur``, ``new`` or ``tmp``; any other folder is a folder of
  ``.eml`` files only when its ``.eml`` files start with RFC 5322 header lines. Subfolders are
  looked into only when *recursive*.
"""

from __future__ import annotations

import json
import os
import re

from ..errors import SourceError
from . import NotMailError
from ._folders import scan_files

__all__ = ["HEAD", "SAMPLE", "file_kind", "sniff"]

#: Bytes read from the head of a file.
HEAD = 64 * 1024
#: Files of a folder whose heads are read.
SAMPLE = 20

#: A header field's first line: a name of printable characters without a colon, then a colon.
_FIELD = re.compile(rb"[!-9;-~]{1,76}:")
#: File signatures, and what a person calls such a file.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an export to unpack first?)"),
    (b"\x1f\x8b", "a gzip-compressed file (unpack it first)"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x7fELF", "a program"),
    (b"!BDN", "an Outlook PST file (export it as mbox or .eml first)"),
)


def sniff(path: str, *, recursive: bool = True) -> str:
    """The format of the mail at *path*, recognised from its content.

    Raises `SourceError` when nothing is at *path*, and `NotMailError` when what is there is
    not mail.
    """
    if os.path.isdir(path):
        return _folder(path, recursive=recursive)
    if not os.path.exists(path):
        raise SourceError(f"Cannot read the mail source {path!r}: it does not exist.")
    try:
        with open(path, "rb") as file:
            head = file.read(HEAD)
    except OSError as err:
        from ._files import source_error

        raise source_error("mail source", path, err) from err
    found = file_kind(head)
    if found in ("mbox", "jsonl"):
        return found
    if found == "message":
        return "mbox"  # the mbox source reads a lone message as a mailbox of one
    if found == "empty":
        return "jsonl" if path.lower().endswith((".jsonl", ".ndjson")) else "mbox"
    raise NotMailError(f"{path!r} is not a mailbox: it is {found}.")


def file_kind(head: bytes) -> str:
    """What the first bytes of a file are: ``mbox``, ``jsonl``, ``message``, ``empty``, or a
    phrase naming what else it is (``an SQLite database``)."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n\t ")
    if not text:
        return "empty"
    if b"\x00" in head:
        return "binary data, not text"
    if text.startswith(b"From "):
        return "mbox"
    if text.startswith(b"{") and _json_object(text):
        return "jsonl"
    if _headers(text):
        return "message"
    return (
        "text, but not mail: no line starts with 'From ' (mbox), it does not open with header "
        "lines (a message), and its first line is not a JSON object (JSON lines)"
    )


def _json_object(text: bytes) -> bool:
    line = text.split(b"\n", 1)[0]
    if len(line) >= HEAD - 1:  # a first line longer than the head: trust the brace
        return True
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _headers(text: bytes) -> bool:
    """True when *text* opens with at least two header lines (continuations allowed) and no
    line before the blank line that ends them is anything else."""
    fields = 0
    for line in text.split(b"\n")[:200]:
        line = line.rstrip(b"\r")
        if not line:
            return fields >= 2
        if line[:1] in (b" ", b"\t"):
            if not fields:
                return False
            continue
        if not _FIELD.match(line):
            return False
        fields += 1
    return fields >= 2


def _folder(path: str, *, recursive: bool) -> str:
    if any(os.path.isdir(os.path.join(path, sub)) for sub in ("cur", "new", "tmp")):
        return "maildir"
    emls: list[str] = []
    others = 0
    for entry, _name in scan_files(path, recursive=recursive):
        if entry.name.lower().endswith(".eml"):
            emls.append(entry.path)
        else:
            others += 1
    deeper = "" if recursive else " (subfolders are read only with --recursive)"
    if not emls:
        held = f"{others} other file{'s' if others != 1 else ''}" if others else "no files"
        raise NotMailError(
            f"{path!r} is not a mailbox: it is a folder with no .eml files and no Maildir "
            f"cur/new/tmp, holding {held}{deeper}."
        )
    looked = 0
    for name in sorted(emls)[:SAMPLE]:
        try:
            with open(name, "rb") as file:
                head = file.read(HEAD)
        except OSError:
            continue
        looked += 1
        if file_kind(head) in ("message", "mbox"):
            return "eml"
    raise NotMailError(
        f"{path!r} is not a mailbox: none of the {looked} .eml files looked at starts with "
        "header lines."
    )
