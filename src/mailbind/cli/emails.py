"""``mailbind emails``: a contact's or a company's messages as one viewer may read them.

Invariants:
- Messages are read page by page (`Store.contact_messages`, `Store.company_messages`): JSON
  and CSV are written as each page arrives, and a contact named by an address is found
  through the contacts holding that address, never the whole contact index (unless a
  canonicalisation is in force, which can join addresses whose own keys differ).
- With ``--threads`` messages are shown by conversation (`StoredMessage.thread`); a
  conversation's subject is `thread_subject` over its messages *as the viewer may read them*,
  so it never shows a subject withheld from the viewer.
- Every message is shown through `StoredMessage.seen_by`: what the viewer may not read is
  withheld by `redact`, and shown as ``(withheld)`` (``null`` in JSON, named in ``withheld``),
  never as a blank.
- Every text from a message is printed through `clean` (text) or `json_line` (JSON).
- The default output is one aligned table row per message (date, level, who holds it, sender,
  subject) that fits the terminal; ``--full`` shows each message whole instead.
"""

from __future__ import annotations

import argparse
import csv
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC
from typing import TextIO

from ..addresses import Address, Canonicalization, Participant, Role, parse_address
from ..codecs import decode_policy
from ..contacts import Contact, resolve_contact
from ..domains import to_unicode_domain
from ..errors import InvalidAddressError
from ..messages import Direction, Message, SharingLevel
from ..rules import is_colleague
from ..store import Company, Page, StoredMessage, company_domain
from ..stores.sqlite import SQLiteStore
from ..threads import thread_subject
from .contacts import contact_line, find_contact
from .exits import ExitCode, Failure
from .settings import open_store, read_canonicalization
from .text import clean, counted, cut, json_line, table, terminal_width, when

__all__ = ["run"]

WITHHELD = "(withheld)"
#: The columns of the default table, and the widest a holder or sender cell gets.
TABLE_COLUMNS = ("sent (UTC)", "level", "held by", "from", "subject")
_HELD_CELL, _FROM_CELL = 26, 20
#: Width of the field labels (``Attachments: ``).
_LABEL = 13
_LABELS = {
    Role.FROM: "From",
    Role.TO: "To",
    Role.CC: "Cc",
    Role.BCC: "Bcc",
    Role.SENDER: "Sender",
    Role.REPLY_TO: "Reply-To",
}


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Show the messages; the exit code."""
    viewer = _viewer(args.viewer)
    with open_store(args.db, create=False, read_only=True) as store:
        check_member(store, args.workspace, viewer, args.db)
        title, messages = _find(store, args)
        if getattr(args, "threads", False):
            conversations = _conversations(messages)
            if args.json:
                for thread, held in conversations:
                    out.write(json_line(_thread_record(thread, held, viewer)) + "\n")
                return ExitCode.OK
            if args.csv:
                _csv(out, (s for _, held in conversations for s in held), viewer)
                return ExitCode.OK
            _show_threads(out, title, conversations, viewer, full=args.full)
            return ExitCode.OK
        if args.json:
            for stored in messages:
                out.write(json_line(_record(stored, viewer)) + "\n")
            return ExitCode.OK
        if args.csv:
            _csv(out, messages, viewer)
            return ExitCode.OK
        _show(out, title, tuple(messages), viewer, full=args.full)
    return ExitCode.OK


#: Messages read from the store at once.
PAGE = 200


def _pages(read: Callable[..., Page]) -> Iterator[StoredMessage]:
    """Every message of a paginated read, one page in memory at a time."""
    after: str | None = None
    while True:
        page = read(limit=PAGE, after=after)
        yield from page.messages
        if page.next is None:
            return
        after = page.next


def _rows(seen: list[tuple[StoredMessage, Message]]) -> list[list[str]]:
    """One table row per message as the viewer reads it."""
    rows = []
    for stored, message in seen:
        senders = [p for p in message.participants if p.role is Role.FROM]
        sender = _sender(senders[0]) if senders else "(no sender)"
        more = f" +{len(senders) - 1}" if len(senders) > 1 else ""
        # In one zone, UTC, so that the rows (in order of the moment sent) read in order.
        sent = (
            "(no date)"
            if message.sent_at is None
            else f"{message.sent_at.astimezone(UTC):%Y-%m-%d %H:%M}"
        )
        rows.append(
            [
                sent,
                str(message.level),
                _held(stored),
                cut(sender, _FROM_CELL - len(more)) + more,
                _subject(message),
            ]
        )
    return rows


def _held(stored: StoredMessage) -> str:
    """The mailboxes holding *stored* in a table cell: ids, `` (sent)`` kept when cut."""
    cells = []
    for holding in stored.holdings:
        mark = " (sent)" if holding.direction is Direction.OUTGOING else ""
        cells.append(cut(clean(holding.mailbox.id), _HELD_CELL - len(mark)) + mark)
    return cut(", ".join(cells), _HELD_CELL) if cells else "(none)"


def _sender(participant: Participant) -> str:
    """A sender in a table cell: the display name, else the address (the raw text if unread)."""
    if participant.address is None:
        return f"{clean(participant.raw)} (unreadable)"
    return clean(participant.name) or clean(str(participant.address))


def _subject(message: Message) -> str:
    if message.subject is None:
        return WITHHELD
    return clean(message.subject) if message.subject else "(no subject)"


def _viewer(text: str) -> Address:
    try:
        return parse_address(text)
    except InvalidAddressError:
        raise Failure(ExitCode.USAGE, f"The viewer is not a readable address: {text!r}.") from None


def _find(store: SQLiteStore, args: argparse.Namespace) -> tuple[str, Iterator[StoredMessage]]:
    """A title and the messages of the contact or company asked for, oldest first."""
    ws = args.workspace
    if args.contact is not None:
        contact = _contact(store, args.contact, read_canonicalization(store, args), ws)
        names = {c.domain: c for c in store.companies(workspace=ws)}
        messages = _pages(lambda **page: store.contact_messages(contact.id, workspace=ws, **page))
        return contact_line(contact, names), messages
    company = _company(store, args.company, ws)
    shown = f"{clean(company.name)} ({clean(to_unicode_domain(company.domain) or company.domain)})"
    if company.domains:
        shown += ", also " + ", ".join(clean(to_unicode_domain(d) or d) for d in company.domains)
    messages = _pages(lambda **page: store.company_messages(company.domain, workspace=ws, **page))
    return shown, messages


def _contact(
    store: SQLiteStore, text: str, canonicalization: Canonicalization | None, ws: str
) -> Contact:
    """The contact with id *text*, or the one the rules link the address *text* to."""
    found = store.contact(text, workspace=ws)
    if found is not None:
        return found
    if canonicalization is not None and (
        canonicalization.strip_subaddress or canonicalization.fold_gmail
    ):
        index = store.contact_index(canonicalization, workspace=ws)
        return find_contact(index, text, resolve=True)
    contact = None
    if "@" in text:
        try:
            address = parse_address(text)
        except InvalidAddressError:
            address = None
        if address is not None:
            contact = resolve_contact(address, store.contacts_with_key(address.key, workspace=ws))
    if contact is None:
        raise Failure(ExitCode.NOT_FOUND, f"No contact has the id or address {text!r}.")
    return contact


def check_member(store: SQLiteStore, workspace: str, viewer: Address, db: str) -> None:
    """Raise `Failure` (``NOT_A_MEMBER``) unless *viewer* belongs to *workspace*.

    A member owns one of the workspace's mailboxes (or is an alias of its owner), or is a
    colleague under the workspace's recorded policy (an organisation domain, or a member
    named in it). Anyone else is shown nothing: never the level colleagues may read.
    """
    mailboxes = store.mailboxes(workspace=workspace)
    if any(mailbox.owns(viewer) for mailbox in mailboxes):
        return
    recorded = store.recorded_policy(workspace=workspace)
    if recorded is not None and is_colleague(viewer, decode_policy(recorded.settings)):
        return
    if not mailboxes:
        raise Failure(
            ExitCode.NOT_FOUND, f"The workspace {workspace!r} in {db!r} holds no mailbox."
        )
    raise Failure(
        ExitCode.NOT_A_MEMBER,
        f"The viewer {str(viewer)!r} is not a member of the workspace {workspace!r}: only its "
        "mailboxes' owners and the organisation's colleagues may read its mail.",
    )


def _company(store: SQLiteStore, text: str, ws: str) -> Company:
    domain = company_domain(text)
    for company in store.companies(workspace=ws):
        if domain in company.all_domains:
            return company
    raise Failure(ExitCode.NOT_FOUND, f"No company has the domain {text!r}.")


def _withheld(message: Message) -> list[str]:
    fields = ("subject", "text", "html", "attachments")
    return [name for name in fields if getattr(message, name) is None]


def _record(stored: StoredMessage, viewer: Address) -> dict[str, object]:
    """A message as *viewer* may read it, as a JSON object."""
    message = stored.seen_by(viewer)
    attachments = message.attachments
    return {
        "key": message.key,
        "thread": stored.thread,
        "message_id": message.message_id,
        "sent_at": None if message.sent_at is None else message.sent_at.isoformat(),
        "level": message.level.value,
        "held_by": [
            {"mailbox": holding.mailbox.id, "direction": holding.direction.value}
            for holding in stored.holdings
        ],
        "participants": [
            {
                "role": p.role.value,
                "address": None if p.address is None else str(p.address),
                "name": p.name,
                "raw": None if p.address is not None else p.raw,
            }
            for p in message.participants
        ],
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "attachments": None
        if attachments is None
        else [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in attachments
        ],
        "withheld": _withheld(message),
    }


#: The columns of ``--csv``; a withheld field is empty and named in ``withheld``.
CSV_COLUMNS = ("sent_at", "level", "held_by", "from", "to", "cc", "subject", "withheld", "thread")


def _csv(out: TextIO, messages: Iterable[StoredMessage], viewer: Address) -> None:
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(CSV_COLUMNS)
    for stored in messages:
        record = _record(stored, viewer)
        parties = record["participants"]
        assert isinstance(parties, list)

        def of(role: str, parties: list[dict[str, object]] = parties) -> str:
            return " ".join(str(p["address"]) for p in parties if p["role"] == role)

        held = record["held_by"]
        assert isinstance(held, list)
        withheld = record["withheld"]
        assert isinstance(withheld, list)
        rows.writerow(
            [
                clean(str(record["sent_at"] or "")),
                record["level"],
                " ".join(f"{h['mailbox']}:{h['direction']}" for h in held),
                clean(of("from")),
                clean(of("to")),
                clean(of("cc")),
                clean(str(record["subject"] or "")),
                " ".join(withheld),
                stored.thread or "",
            ]
        )


def _show(
    out: TextIO, title: str, messages: tuple[StoredMessage, ...], viewer: Address, *, full: bool
) -> None:
    write = out.write
    seen = [(stored, stored.seen_by(viewer)) for stored in messages]
    levels = Counter(message.level for _, message in seen)
    shown = ", ".join(
        f"{levels[level]} at level {level}" for level in reversed(SharingLevel) if levels[level]
    )
    write(f"{title}\n{counted(len(messages), 'message')} as {clean(str(viewer))} may read them")
    write(f": {shown}.\n" if shown else ".\n")
    if levels[SharingLevel.SUBJECT] or levels[SharingLevel.METADATA]:
        write(
            "At level subject the body and attachments are withheld; at level metadata the "
            "subject too.\n"
        )
    _messages(out, seen, full=full)
    out.flush()


def _messages(out: TextIO, seen: list[tuple[StoredMessage, Message]], *, full: bool) -> None:
    """Each message as the viewer may read it."""
    write = out.write
    width = terminal_width(out)
    if not full:
        if seen:
            write("\n")
            rows = _rows(seen)
            for line in table(rows, TABLE_COLUMNS, total=width, flexible=len(TABLE_COLUMNS) - 1):
                write(line + "\n")
        out.flush()
        return
    for stored, message in seen:
        write(f"\n{when(message.sent_at)}  ·  {_holders(stored)}  ·  level {message.level}\n")
        for role, names in _by_role(message.participants):
            label = f"{_LABELS[role]}:"
            for name in names:
                write(f"  {label:<{_LABEL}}{name}\n")
                label = ""
        write(f"  {'Subject:':<{_LABEL}}{_subject(message)}\n")
        for line in _body(message, width=width - 2 - _LABEL):
            write(f"  {line}".rstrip() + "\n")
        if message.attachments is None:
            write(f"  {'Attachments:':<{_LABEL}}{WITHHELD}\n")
        elif message.attachments:
            files = ", ".join(
                f"{clean(a.filename) or '(no name)'} ({_size(a.size)})" for a in message.attachments
            )
            write(f"  {'Attachments:':<{_LABEL}}{files}\n")


def _conversations(
    messages: Iterable[StoredMessage],
) -> list[tuple[str, list[StoredMessage]]]:
    """The messages by thread, each oldest first, threads in the order of their first one."""
    threads: dict[str, list[StoredMessage]] = {}
    for stored in messages:
        threads.setdefault(stored.thread or stored.message.key, []).append(stored)
    return list(threads.items())


def _thread_record(thread: str, held: list[StoredMessage], viewer: Address) -> dict[str, object]:
    """A conversation as *viewer* may read it, as a JSON object."""
    seen = [stored.seen_by(viewer) for stored in held]
    return {
        "thread": thread,
        "subject": thread_subject(seen),
        "messages": [_record(stored, viewer) for stored in held],
    }


def _show_threads(
    out: TextIO,
    title: str,
    conversations: list[tuple[str, list[StoredMessage]]],
    viewer: Address,
    *,
    full: bool,
) -> None:
    """Each conversation: its subject as the viewer may read it, then its messages."""
    write = out.write
    count = sum(len(held) for _, held in conversations)
    write(
        f"{title}\n{counted(len(conversations), 'conversation')}, "
        f"{counted(count, 'message')} as {clean(str(viewer))} may read them.\n"
    )
    for thread, held in conversations:
        seen = [(stored, stored.seen_by(viewer)) for stored in held]
        subject = thread_subject(message for _, message in seen)
        shown = WITHHELD if subject is None else clean(subject) or "(no subject)"
        first, last = seen[0][1].sent_at, seen[-1][1].sent_at
        span = when(first) if first == last else f"{when(first)} to {when(last)}"
        write(f"\n== {shown}  ·  {counted(len(held), 'message')}  ·  {span}  ·  {thread}\n")
        _messages(out, seen, full=full)
    out.flush()


def _holders(stored: StoredMessage) -> str:
    """``received by anna@acme.com``, ``sent by tom@acme.com, received by anna@acme.com``."""
    parts = []
    for direction in Direction:
        ids = [clean(h.mailbox.id) for h in stored.holdings if h.direction is direction]
        if ids:
            verb = "sent by" if direction is Direction.OUTGOING else "received by"
            parts.append(f"{verb} {' and '.join(ids)}")
    return ", ".join(parts) or "held by no mailbox"


def _by_role(participants: tuple[Participant, ...]) -> list[tuple[Role, list[str]]]:
    """The participants grouped by role, in the order the roles first appear."""
    groups: dict[Role, list[str]] = {}
    for participant in participants:
        groups.setdefault(participant.role, []).append(_party(participant))
    return list(groups.items())


def _party(participant: Participant) -> str:
    address = participant.address
    if address is None:
        return f"{clean(participant.raw)} (unreadable)"
    name = clean(participant.name)
    return f"{name} <{clean(str(address))}>" if name else clean(str(address))


def _body(message: Message, *, width: int) -> list[str]:
    """The body lines to show, labelled, wrapped to *width* cells."""
    label = f"{'Body:':<{_LABEL}}"
    if message.text is None:
        return [label + WITHHELD]
    text = message.text.strip("\n")
    if not text:
        if message.html:
            return [label + f"(HTML only, {len(message.html):,} characters; not shown)"]
        return [label + "(empty)"]
    lines = [
        wrapped
        for line in text.splitlines()
        for wrapped in (textwrap.wrap(clean(line), max(width, 40)) or [""])
    ]
    return [label + lines[0], *(" " * _LABEL + line for line in lines[1:])]


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
