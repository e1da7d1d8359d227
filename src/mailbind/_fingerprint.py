"""The fingerprint: a message's key when it has no Message-ID.

Invariants:
- A ``sha256:`` digest (never ``hash()``) of what stays the same in every copy of one message,
  so that each mailbox holding a copy computes the same key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from ._kinds import Role
from .addresses import Participant

_BCC = Role.BCC


class Fingerprinted(Protocol):
    """What the fingerprint reads of a message (`mailbind.messages.Message` offers it)."""

    @property
    def sent_at(self) -> datetime | None: ...
    @property
    def participants(self) -> tuple[Participant, ...]: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def text(self) -> str | None: ...
    @property
    def html(self) -> str | None: ...


def fingerprint(message: Fingerprinted) -> str:
    """A ``sha256:`` digest of what stays the same in every copy of one message.

    Over the send time (in UTC), the From/To/Cc/Sender/Reply-To participants (role and identity
    key, or raw text when unreadable), the subject and both bodies with line endings and
    trailing white space normalised. Bcc is left out: only the sender's copy names it.
    """
    chunks = [b"mailbind-message-v1"]
    add = chunks.append
    sent_at = message.sent_at
    _feed(add, sent_at.astimezone(UTC).isoformat() if sent_at is not None else None)
    for p in message.participants:
        role = p.role
        if role is _BCC:
            continue
        add(_ROLE_FED[role])
        _feed(add, p.address.key if p.address is not None else p.raw)
    _feed(add, message.subject)
    _feed(add, _body(message.text))
    _feed(add, _body(message.html))
    return "sha256:" + hashlib.sha256(b"".join(chunks)).hexdigest()


def _feed(add: Callable[[bytes], None], value: str | None) -> None:
    """Add *value* to a fingerprint's input: its UTF-8 length and bytes, or ``-`` for None."""
    if value is None:
        add(b"-")
        return
    data = value.encode("utf-8", "surrogatepass")
    add(b"%d:" % len(data))
    add(data)


#: Each role as `_feed` gives it to a fingerprint.
_ROLE_FED = {role: b"%d:%s" % (len(role.value), role.value.encode()) for role in Role}


def _body(value: str | None) -> str | None:
    if not value:
        return value
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value.rstrip()
