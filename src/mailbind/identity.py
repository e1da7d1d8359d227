"""Which copies are one message: the key a store keeps a message under.

Invariants:
- Two copies are one stored message exactly when their Message-IDs *and* their content
  fingerprints agree, so a reused Message-ID (an outsider copying another's, an archive that
  numbers its mail anew) never merges two contents, and never lets one copy's sharing level
  open the other's text.
- The fingerprint (`mailbind._fingerprint`) reads only what every delivered copy shares: the
  send time, the From/To/Cc/Sender/Reply-To participants, the subject and both bodies with line
  endings and trailing white space normalised. ``Received``, ``Delivered-To``, the Bcc line, the
  folder and the flags are left out: one mail delivered to two mailboxes is one message.
- A message without a Message-ID is keyed by its fingerprint alone, as `Message.key` is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from ._fingerprint import fingerprint
from .messages import Message
from .rules import Reason
from .store import StoredDecision

__all__ = ["message_id_of", "reused_message_ids", "stored_key", "with_reuse", "with_stored_key"]

#: Hex digits of the fingerprint a stored key carries after the Message-ID.
_DIGEST = 16


def stored_key(message: Message) -> str:
    """The key a store keeps *message* under: ``<Message-ID>#<content digest>``.

    A message without a Message-ID keeps its key (already its fingerprint).

    >>> from mailbind import Message
    >>> a = Message.build(sender="a@x.com", to="b@y.com", subject="Hi", message_id="<1@x.com>")
    >>> b = Message.build(sender="a@x.com", to="b@y.com", subject="Ho", message_id="<1@x.com>")
    >>> stored_key(a).startswith("1@x.com#"), stored_key(a) == stored_key(b)
    (True, False)
    """
    if message.message_id is None or not message.key.startswith(message.message_id):
        return message.key
    if message.key != message.message_id:
        return message.key  # already a stored key
    return f"{message.key}#{fingerprint(message)[7 : 7 + _DIGEST]}"


def with_stored_key(message: Message) -> Message:
    """*message* with its `stored_key` as ``key``."""
    key = stored_key(message)
    if key == message.key:
        return message
    m = message  # every field in order, as `dataclasses.replace` would pass them, at a third
    return Message(
        m.message_id,
        m.sent_at,
        m.participants,
        m.subject,
        m.text,
        m.html,
        m.attachments,
        m.headers,
        m.flags,
        m.defects,
        m.level,
        key,
    )


def message_id_of(key: str) -> str | None:
    """The Message-ID a `stored_key` carries, or None for a key made of a fingerprint alone."""
    if key.startswith("sha256:"):
        return None
    head, sep, digest = key.rpartition("#")
    return head if sep and len(digest) == _DIGEST else key


def reused_message_ids(keys: Iterable[str]) -> frozenset[str]:
    """The Message-IDs that more than one of the stored *keys* carries."""
    seen: dict[str, str] = {}
    reused: set[str] = set()
    for key in keys:
        message_id = message_id_of(key)
        if message_id is None:
            continue
        first = seen.setdefault(message_id, key)
        if first != key:
            reused.add(message_id)
    return frozenset(reused)


def with_reuse(copy: StoredDecision, reused: frozenset[str]) -> StoredDecision:
    """*copy* with the reason ``message_id_reused`` when its Message-ID is in *reused*."""
    if not reused or message_id_of(copy.key) not in reused:
        return copy
    decision = copy.decision
    if Reason.MESSAGE_ID_REUSED in decision.reasons:
        return copy
    reasons = (*decision.reasons, Reason.MESSAGE_ID_REUSED)
    return replace(copy, decision=replace(decision, reasons=reasons))
