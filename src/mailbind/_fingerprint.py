"""The fingerprint: a message's key when it has no Message-ID.

Invariants:
- A ``sha256:`` digest (never ``hash()``) of what stays the same in every copy of one message,
  so that each mailbox holding a copy computes the same key.
"""

from __future__ import annotations

import hashlib
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

    Each value is fed as its UTF-8 length, ``:`` and its text, or ``-`` for None; the whole is
    written as one text and encoded once (UTF-8 encodes a text as the concatenation of its
    parts' encodings, so the bytes hashed are those of feeding each part on its own).
    """
    sent_at = message.sent_at
    parts = ["mailbind-message-v1", _fed(sent_at.astimezone(UTC).isoformat() if sent_at else None)]
    add = parts.append
    for p in message.participants:
        role = p.role
        if role is _BCC:
            continue
        add(_ROLE_FED[role])
        address = p.address
        add(_fed(address.key if address is not None else p.raw))
    add(_fed(message.subject))
    add(_fed(_body(message.text)))
    add(_fed(_body(message.html)))
    data = "".join(parts).encode("utf-8", "surrogatepass")
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _fed(value: str | None) -> str:
    """*value* as a fingerprint's input takes it: its UTF-8 length, ``:`` and itself, or ``-``."""
    if value is None:
        return "-"
    size = len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    return f"{size}:{value}"


#: Each role as `_fed` gives it to a fingerprint.
_ROLE_FED = {role: f"{len(role.value)}:{role.value}" for role in Role}


def _body(value: str | None) -> str | None:
    if not value:
        return value
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value.rstrip()
