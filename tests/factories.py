"""Typed builders of the values the tests need, each with defaults for the plain case.

The plain case: Kim, at a client, writes to Anna, at Acme (org domain ``acme.com``). A test
names only what it is about and takes the rest from here; a file that needs other defaults binds
them once with `functools.partial` under the name its tests call (``mail``, ``contact``).

Nothing here reads the clock: every time is an argument or a fixed constant.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta

from mailbind import (
    Address,
    Attachment,
    Contact,
    Flag,
    Mailbox,
    Message,
    Policy,
    SharingLevel,
)
from mailbind.sources import SourceItem

__all__ = [
    "ANNA",
    "KIM",
    "T0",
    "contact",
    "mailbox",
    "mbox_mail",
    "message",
    "numbered",
    "policy",
    "raw_mail",
    "source_item",
    "tagged_mail",
]

#: The mailbox owner of the plain case.
ANNA = "anna@acme.com"
#: The external sender of the plain case.
KIM = "kim@client.example"
#: A fixed time, for values that need one and a test that does not care which.
T0 = datetime(2024, 1, 1, tzinfo=UTC)

#: A header value or several (``Message.build``'s *to*, *cc* and *bcc*).
Recipients = str | Iterable[str]
#: An attachment or its ``(filename, content[, content_type])`` tuple.
AttachmentLike = Attachment | tuple[str, bytes] | tuple[str, bytes, str]
#: Extra headers as pairs or a mapping.
Headers = Iterable[tuple[str, str]] | Mapping[str, str]


def message(
    sender: str = KIM,
    to: Recipients = ANNA,
    *,
    cc: Recipients = (),
    bcc: Recipients = (),
    subject: str | None = "",
    text: str | None = "",
    html: str | None = "",
    attachments: Iterable[AttachmentLike] = (),
    message_id: str | None = None,
    sent_at: datetime | str | None = None,
    headers: Headers = (),
    flags: Iterable[Flag | str] = (),
) -> Message:
    """A message built from plain values: from Kim to Anna unless told otherwise."""
    return Message.build(
        sender=sender,
        to=to,
        cc=cc,
        bcc=bcc,
        subject=subject,
        text=text,
        html=html,
        attachments=attachments,
        message_id=message_id,
        sent_at=sent_at,
        headers=headers,
        flags=flags,
    )


def numbered(
    n: int,
    sender: str = KIM,
    to: Recipients = ANNA,
    *,
    start: datetime = T0,
    step: timedelta = timedelta(minutes=1),
    domain: str = "client.example",
    cc: Recipients = (),
    headers: Headers = (),
    attachments: Iterable[AttachmentLike] = (),
) -> Message:
    """Message number *n*: subject ``Subject n``, body ``Body n``, Message-ID ``<mn@domain>``,
    sent *n* steps after *start* (a negative step counts back)."""
    return message(
        sender,
        to,
        cc=cc,
        subject=f"Subject {n}",
        text=f"Body {n}",
        message_id=f"<m{n}@{domain}>",
        sent_at=start + n * step,
        headers=headers,
        attachments=attachments,
    )


def raw_mail(*headers: str | bytes, body: bytes = b"Hello\r\n", crlf: bool = True) -> bytes:
    """RFC 5322 bytes from header lines and a body, lines ended by CRLF (or LF)."""
    eol = b"\r\n" if crlf else b"\n"
    lines = [h.encode() if isinstance(h, str) else h for h in headers]
    return eol.join([*lines, b"", b""]) + body


def tagged_mail(tag: str, size: int = 0) -> bytes:
    """A small message whose Message-ID and subject are *tag*, padded to about *size* bytes."""
    head = ("From: a@example.com", "To: b@example.org", f"Message-ID: <{tag}@example.com>")
    padding = "x" * max(0, size - sum(len(line) + 2 for line in head) - 40)
    return raw_mail(*head, f"Subject: {tag}", body=f"{padding}\r\n".encode())


def mbox_mail(subject: str, *, sender: str, to: str = ANNA, body: str = "Hello.") -> str:
    """One mbox entry (its ``From `` line included), the body in UTF-8, sent 2025-02-03."""
    return (
        f"From x@y Mon Feb  3 10:00:00 2025\n"
        f"From: {sender}\nTo: {to}\nSubject: {subject}\n"
        f"Date: Mon, 03 Feb 2025 10:00:00 +0000\n"
        f"Message-ID: <{subject.encode().hex()[:24]}@cli.test>\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        f"{body}\n\n"
    )


def mailbox(
    owner: str = ANNA,
    aliases: Iterable[Address | str] = (),
    incoming: SharingLevel | str = SharingLevel.METADATA,
    outgoing: SharingLevel | str = SharingLevel.METADATA,
) -> Mailbox:
    """Anna's mailbox unless told otherwise; other settings are the constructor's to give."""
    return Mailbox(owner, aliases, incoming, outgoing)


def policy(
    org_domains: Iterable[str] = ("acme.com",),
    members: Iterable[Address | str] = (),
    externals: Iterable[Address | str] = (),
    blocklist: Iterable[Address | str] = (),
) -> Policy:
    """Acme's policy (org domain ``acme.com``) with the bundled lists, unless told otherwise."""
    return Policy(org_domains, members, externals, blocklist)


def contact(
    contact_id: str,
    primary: Address | str = KIM,
    additional: Iterable[Address | str] = (),
    *,
    created_at: datetime = T0,
    deleted_at: datetime | None = None,
    first_name: str = "",
    last_name: str = "",
    company_domain: str | None = None,
) -> Contact:
    """A contact for Kim unless told otherwise, created at T0."""
    return Contact(
        contact_id,
        primary,
        additional,
        created_at=created_at,
        deleted_at=deleted_at,
        first_name=first_name,
        last_name=last_name,
        company_domain=company_domain,
    )


def source_item(
    held: Message | bytes,
    location: str = "#0",
    *,
    flags: Iterable[Flag] = (),
    truncated: bool = False,
) -> SourceItem:
    """A source's item holding *held*: RFC 5322 bytes, or a message already built."""
    if isinstance(held, bytes):
        return SourceItem(location, held, None, frozenset(flags), truncated)
    return SourceItem(location, None, held, frozenset(flags), truncated)


def calls_made(action: Callable[[], object]) -> int:
    """How many calls (Python and C functions, regular expressions among them) *action* makes:
    deterministic, unlike its time, so a test can show work that grows faster than its input."""
    count = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
    return count
