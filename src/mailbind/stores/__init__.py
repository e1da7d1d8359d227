"""Stores: where synced mail, contacts and each mailbox's progress are kept.

The protocol and its records live in the core (`mailbind.store`) and the JSON forms in
`mailbind.codecs`; they are re-exported here for code written against earlier releases.
Importing this package loads no adapter: the SQLite store lives in ``mailbind.stores.sqlite``.
"""

from __future__ import annotations

from ..codecs import decode_mailbox, decode_message, encode_mailbox, encode_message
from ..store import (
    BatchItem,
    BatchResult,
    Company,
    ContactChange,
    MailboxState,
    ParticipantLink,
    Store,
    StoredDecision,
    StoredMessage,
    message_order,
    sort_time,
)

__all__ = [
    "BatchItem",
    "BatchResult",
    "Company",
    "ContactChange",
    "MailboxState",
    "ParticipantLink",
    "Store",
    "StoredDecision",
    "StoredMessage",
    "decode_mailbox",
    "decode_message",
    "encode_mailbox",
    "encode_message",
    "message_order",
    "sort_time",
]
