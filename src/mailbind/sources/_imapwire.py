"""The IMAP text the source sends and reads, as pure functions over `imaplib`'s values.

Invariants:
- Nothing here does I/O: each function takes the bytes `imaplib` hands back (a list of lines
  and ``(line, literal)`` pairs) and returns plain values, so every quirk is testable offline.
- Parsing never raises on what a server sends: what cannot be read is skipped (a LIST line) or
  left as it is (a folder name that is not valid modified UTF-7).
- Strings sent to the server are always quoted, so a folder or user name with spaces, quotes
  or backslashes stays one argument.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..messages import Flag

__all__ = [
    "MESSAGE_FLAGS",
    "ROLE_ATTRIBUTES",
    "UNSELECTABLE",
    "VIRTUAL",
    "Fetched",
    "decode_folder_name",
    "fetch_records",
    "fetched_body",
    "fetched_messages",
    "fetched_number",
    "list_entry",
    "message_flags",
    "quote",
    "role_flags",
    "search_uids",
    "status_entries",
    "status_numbers",
    "temporary_code",
    "uid_set",
    "vanished_uids",
    "xoauth2",
]

#: SPECIAL-USE folder attributes (RFC 6154), lower-cased, and the flag each gives its mail.
ROLE_ATTRIBUTES = {
    "\\sent": Flag.SENT,
    "\\drafts": Flag.DRAFT,
    "\\junk": Flag.SPAM,
    "\\trash": Flag.TRASH,
}
#: Folders that show mail held in other folders (Gmail's All Mail, Starred, Important).
VIRTUAL = frozenset({"\\all", "\\flagged", "\\important"})
#: Folders that hold no mail of their own.
UNSELECTABLE = frozenset({"\\noselect", "\\nonexistent"})
#: Message flags, lower-cased, and what they mean to the rules.
MESSAGE_FLAGS = {"\\draft": Flag.DRAFT, "\\deleted": Flag.TRASH}

#: Response codes (RFC 5530 and common ones) that say a refusal will pass by itself.
_TEMPORARY_CODES = re.compile(r"\[(UNAVAILABLE|INUSE|LIMIT|SERVERBUG|THROTTLED)\b", re.IGNORECASE)
_LIST_LINE = re.compile(rb'^\((?P<attrs>[^)]*)\) (?P<delim>NIL|"(?:[^"\\]|\\.)*") ?(?P<name>.*)$')
_QUOTED = re.compile(rb'"((?:[^"\\]|\\.)*)"')
_FETCH_START = re.compile(rb"^\d+ \(")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")
_EMPTY_BODY = re.compile(rb'\bBODY\[\](?:<\d+>)? (?:""|NIL)')
_STATUS_ITEMS = re.compile(rb"\(([^()]*)\)\s*$")
_MUTF7_RUN = re.compile(r"&([A-Za-z0-9+,]*)-")


def quote(text: str) -> str:
    """*text* as an IMAP quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(text: bytes) -> bytes:
    match = _QUOTED.match(text)
    body = match[1] if match else text.strip(b'"')
    return re.sub(rb"\\(.)", rb"\1", body)


def uid_set(uids: Iterable[int]) -> str:
    """A UID set for ascending *uids*: ``1:3,7,9:10`` for 1, 2, 3, 7, 9, 10."""
    runs: list[list[int]] = []
    for uid in uids:
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in runs)


def temporary_code(text: str) -> bool:
    """Whether a refusal's text carries a response code that says to try again later."""
    return _TEMPORARY_CODES.search(text) is not None


def decode_folder_name(wire: str) -> str:
    """*wire* decoded from IMAP's modified UTF-7 (RFC 3501, 5.1.3); as it is when not valid."""

    def decode(match: re.Match[str]) -> str:
        body = match[1].replace(",", "/")
        if not body:
            return "&"
        data = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
        return data.decode("utf-16-be")

    try:
        return _MUTF7_RUN.sub(decode, wire)
    except (ValueError, UnicodeDecodeError):
        return wire


def list_entry(part: Any) -> tuple[str, frozenset[str], str] | None:
    """(wire name, lower-cased attributes, separator) of one LIST response, or None."""
    if isinstance(part, tuple):
        line, literal = part[0], part[1]
    elif isinstance(part, bytes):
        line, literal = part, None
    else:
        return None
    match = _LIST_LINE.match(line)
    if match is None:
        return None
    attrs = frozenset(match["attrs"].decode("ascii", "replace").lower().split())
    delim = match["delim"]
    separator = "" if delim == b"NIL" else _unquote(delim).decode("ascii", "replace")
    if literal is not None:
        raw = literal
    else:
        raw = match["name"].strip()
        raw = _unquote(raw) if raw.startswith(b'"') else raw.split(b" ")[0]
    return raw.decode("utf-8", "replace"), attrs, separator


def role_flags(attrs: frozenset[str]) -> frozenset[Flag]:
    """The flags the SPECIAL-USE attributes among *attrs* give a folder's mail."""
    return frozenset(ROLE_ATTRIBUTES[a] for a in attrs if a in ROLE_ATTRIBUTES)


def status_numbers(data: list[Any]) -> dict[str, int]:
    """The numbers of a STATUS response (``UIDVALIDITY``, ``UIDNEXT``...), by name."""
    last = data[-1] if data else b""
    match = _STATUS_ITEMS.search(last if isinstance(last, bytes) else b"")
    if match is None:
        return {}
    return {name.decode(): int(n) for name, n in re.findall(rb"([\w.]+) (\d+)", match[1])}


def status_entries(data: list[Any]) -> dict[str, dict[str, int]]:
    """Every STATUS response's numbers (as LIST-STATUS sends them), by wire folder name."""
    entries: dict[str, dict[str, int]] = {}
    name: bytes | None = None
    for part in data:
        if isinstance(part, tuple):
            name = part[1]  # A name sent as a literal; its numbers follow on the next line.
            continue
        if not isinstance(part, bytes):
            continue
        if name is None:
            text = part.strip()
            name = _unquote(text) if text.startswith(b'"') else text.split(b" ")[0]
        entries[name.decode("utf-8", "replace")] = status_numbers([part])
        name = None
    return entries


def search_uids(data: list[Any], after: int) -> tuple[int, ...]:
    """The UIDs of a SEARCH response above *after*, ascending.

    ``UID n:*`` means ``*:n`` when n is past the last UID, so a server answers it with the last
    message: UIDs at or below *after* are dropped here.
    """
    found = {int(n) for line in data if isinstance(line, bytes) for n in line.split()}
    return tuple(sorted(uid for uid in found if uid > after))


def vanished_uids(data: list[Any]) -> Iterator[int]:
    """Each UID a ``VANISHED`` response names (``(EARLIER) 3:5,9``), ascending per response.

    A part that is not a UID or a range of them is skipped; ``*`` never appears here.
    """
    for line in data:
        if not isinstance(line, bytes):
            continue
        text = line.strip()
        if text[:1] == b"(":
            text = text.partition(b")")[2].strip()
        for part in text.split(b","):
            first, _, last = part.strip().partition(b":")
            if not first.isdigit() or (last and not last.isdigit()):
                continue
            low, high = sorted((int(first), int(last or first)))
            yield from range(low, high + 1)


def fetch_records(data: list[Any]) -> Iterator[tuple[bytes, bytes | None]]:
    """Each FETCH response as (its text without the literal, the literal or None).

    A response's items may come on both sides of its literal (``FLAGS`` after ``BODY[]``), and
    unsolicited responses (another client's flag change) may be mixed in without a literal.
    """
    head: bytes | None = None
    literal: bytes | None = None
    for part in data:
        if isinstance(part, tuple):
            text, value = part[0], part[1]
            if head is not None and not _FETCH_START.match(text):
                head, literal = head + text, value
                continue
            if head is not None:
                yield head, literal
            head, literal = text, value
        elif isinstance(part, bytes):
            if _FETCH_START.match(part):
                if head is not None:
                    yield head, literal
                head, literal = part, None
            elif head is not None:
                head += part
    if head is not None:
        yield head, literal


def fetched_number(head: bytes, item: str) -> int | None:
    """The number after *item* (``UID``, ``RFC822.SIZE``) in a FETCH response's text."""
    match = re.search(rb"(?:^|[ (])" + re.escape(item.encode()) + rb" (\d+)", head)
    return int(match[1]) if match else None


def fetched_body(head: bytes, literal: bytes | None) -> bytes | None:
    """The message a FETCH response holds: its literal, ``b""`` for an empty one, else None."""
    if literal is not None:
        return literal
    return b"" if _EMPTY_BODY.search(head) else None


def message_flags(head: bytes) -> frozenset[Flag]:
    """The flags a FETCH response's ``FLAGS`` give the message (``\\Draft``, ``\\Deleted``)."""
    match = _FLAGS.search(head)
    if match is None:
        return frozenset()
    names = match[1].decode("ascii", "replace").lower().split()
    return frozenset(MESSAGE_FLAGS[name] for name in names if name in MESSAGE_FLAGS)


@dataclass(slots=True)
class Fetched:
    """What the FETCH responses of one message said, put together from all its pieces."""

    uid: int | None = None
    size: int | None = None
    body: bytes | None = None
    flags: frozenset[Flag] = frozenset()


def fetched_messages(data: list[Any]) -> dict[int, Fetched]:
    """Every message a FETCH answer names, by UID, with its pieces put together.

    A server may answer for one message in several responses (``UID`` and ``FLAGS`` in one,
    ``BODY[]`` in another), and name the UID in only one of them: the pieces are joined by the
    message's sequence number. A message whose UID is never named is left out.
    """
    by_number: dict[int, Fetched] = {}
    for head, literal in fetch_records(data):
        number = int(head.split(b" ", 1)[0])
        seen = by_number.setdefault(number, Fetched())
        uid, size = fetched_number(head, "UID"), fetched_number(head, "RFC822.SIZE")
        body = fetched_body(head, literal)
        if uid is not None:
            seen.uid = uid
        if size is not None:
            seen.size = size
        if body is not None:
            seen.body = body
        seen.flags |= message_flags(head)
    return {seen.uid: seen for seen in by_number.values() if seen.uid is not None}


def xoauth2(username: str, token: str) -> Callable[[bytes], bytes]:
    """The SASL XOAUTH2 answers: the token first, then an empty line after a server's error."""
    first = f"user={username}\x01auth=Bearer {token}\x01\x01".encode()
    answers = iter([first])

    def answer(_challenge: bytes) -> bytes:
        return next(answers, b"")

    return answer
