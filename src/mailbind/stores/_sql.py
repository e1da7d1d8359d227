"""What the SQLite and the PostgreSQL store read alike, written once.

Invariants:
- Each query is written once, with ``{p}`` for a parameter and ``{c}`` after a text column that
  orders rows; a store says what those stand for in its dialect (`SqlReads.PARAMETER`,
  `SqlReads.COLLATE`), so both stores order text byte by byte and answer alike.
- A store runs the text through its own `SqlReads._read` (one read transaction, its errors
  turned into `StoreError`); nothing here opens a connection.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from ..codecs import DocumentReader, decode_mailbox
from ..errors import StoreError
from ..identity import with_reuse
from ..messages import Direction, Flag, Message, SharingLevel
from ..policy import Mailbox
from ..rules import Decision, Holding, Reason
from ..store import (
    DEFAULT_WORKSPACE,
    CopyCount,
    StoredDecision,
    StoredMessage,
    company_domain,
    holding_direction,
)

__all__ = ["SqlReads", "workspace_name"]


def workspace_name(value: object) -> str:
    """*value* as a workspace name; `StoreError` when it is none."""
    if not isinstance(value, str) or not value:
        raise StoreError(f"A workspace must be a non-empty string, not {value!r}.")
    return value


class SqlReads:
    """The reads of `mailbind.store.Store` that are the same SQL in both stores."""

    #: A query parameter in the store's dialect.
    PARAMETER: ClassVar[str]
    #: What follows a text column that orders rows (empty when the default order is bytes).
    COLLATE: ClassVar[str]

    _mailbox_cache: dict[tuple[str, str], tuple[str, Mailbox]]

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        """*text* in the store's dialect (see the module's invariants)."""
        return text.format(p=self.PARAMETER, c=self.COLLATE)

    def _mailbox(self, ws: str, mailbox_id: str, settings: str) -> Mailbox:
        """The mailbox *settings* encode, decoded once for as long as they stay the same."""
        cached = self._mailbox_cache.get((ws, mailbox_id))
        if cached is not None and cached[0] == settings:
            return cached[1]
        mailbox = decode_mailbox(settings)
        self._mailbox_cache[(ws, mailbox_id)] = (settings, mailbox)
        return mailbox

    def _decode(
        self, reader: DocumentReader, document: str, key: str, message_id: str | None
    ) -> Message:
        """The message a stored *document* holds, read with *reader*."""
        raise NotImplementedError

    def _stored(
        self, ws: str, rows: Sequence[Sequence[Any]], settings: dict[str, str]
    ) -> list[StoredMessage]:
        """The stored messages of message *rows*, in their order, each row (key, id, document,
        thread id, Message-ID, copies, links): *copies* the synced copies as a JSON array of
        ``[mailbox, direction]`` pairs, *links* the participants' contacts as a JSON object
        from position to contact id, each None when there are none. *settings* are the
        workspace's mailboxes' settings, by id."""
        # Most messages of a read are held alike (one mailbox, one direction), and a contact's
        # messages mostly link their participants alike: each shape is made once, as is each
        # participant the documents share (`DocumentReader`).
        holdings_of: dict[str | None, tuple[Holding, ...]] = {}
        contacts_of: dict[tuple[str | None, int], tuple[str | None, ...]] = {}
        reader = DocumentReader()
        loaded = []
        for key, _, document, thread, message_id, copies, links in rows:
            message = self._decode(reader, document, key, message_id)
            holdings = holdings_of.get(copies)
            if holdings is None:
                holdings = holdings_of[copies] = self._holdings(ws, copies, settings)
            shape = (links, len(message.participants))
            contacts = contacts_of.get(shape)
            if contacts is None:
                contacts = contacts_of[shape] = _contacts_of(*shape)
            loaded.append(StoredMessage(message, holdings, contacts, thread))
        return loaded

    def _holdings(
        self, ws: str, copies: str | None, settings: dict[str, str]
    ) -> tuple[Holding, ...]:
        """The holdings of a message's synced *copies* (see `_stored`), by mailbox."""
        directions: dict[str, set[Direction]] = {}
        for mailbox_id, direction in json.loads(copies) if copies else ():
            directions.setdefault(mailbox_id, set()).add(Direction(direction))
        holdings = []
        for mailbox_id, each in sorted(directions.items()):
            mailbox = self._mailbox(ws, mailbox_id, settings[mailbox_id])
            holdings.append(Holding(mailbox, holding_direction(mailbox, each)))
        return tuple(holdings)

    def mailboxes(self, *, workspace: str = DEFAULT_WORKSPACE) -> tuple[Mailbox, ...]:
        ws = workspace_name(workspace)
        rows = self._read(
            self._sql("SELECT id, settings FROM mailboxes WHERE workspace = {p} ORDER BY id{c}"),
            (ws,),
        )
        return tuple(self._mailbox(ws, mailbox_id, settings) for mailbox_id, settings in rows)

    def decisions(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> Iterator[StoredDecision]:
        ws = workspace_name(workspace)
        reused = frozenset(
            message_id
            for (message_id,) in self._read(
                self._sql(
                    "SELECT message_id FROM copies WHERE workspace = {p} "
                    "AND message_id IS NOT NULL "
                    "GROUP BY message_id HAVING COUNT(DISTINCT message_key) > 1"
                ),
                (ws,),
            )
        )
        rows = self._read(
            self._sql(
                "SELECT message_key, synced, reasons, direction, level, location, flags "
                "FROM copies WHERE workspace = {p} AND mailbox_id = {p} "
                "ORDER BY message_key{c}, location{c}"
            ),
            (ws, mailbox_id),
        )
        for key, synced, reasons, direction, level, location, flags in rows:
            decision = Decision(
                bool(synced),
                tuple(Reason(r) for r in reasons.split()),
                Direction(direction),
                SharingLevel(level),
            )
            copy = StoredDecision(
                mailbox_id, key, decision, location, frozenset(Flag(f) for f in flags.split())
            )
            yield with_reuse(copy, reused)

    def copy_counts(
        self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE
    ) -> tuple[CopyCount, ...]:
        counts = [
            CopyCount(Direction(direction), SharingLevel(level), bool(synced), count)
            for direction, level, synced, count in self._read(
                self._sql(
                    "SELECT direction, level, synced, count(*) FROM copies "
                    "WHERE workspace = {p} AND mailbox_id = {p} GROUP BY direction, level, synced"
                ),
                (workspace_name(workspace), mailbox_id),
            )
        ]
        return tuple(sorted(counts))

    def _company_domains(self, ws: str, domain: str) -> list[str]:
        """Every domain of the company holding *domain* (none when no company holds it)."""
        return [
            d
            for (d,) in self._read(
                self._sql(
                    "SELECT domain FROM company_domains WHERE workspace = {p} AND company = "
                    "(SELECT company FROM company_domains WHERE workspace = {p} AND domain = {p})"
                ),
                (ws, ws, company_domain(domain)),
            )
        ]

    def locations(self, mailbox_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> dict[str, str]:
        return dict(
            self._read(
                self._sql(
                    "SELECT location, message_key FROM copies "
                    "WHERE workspace = {p} AND mailbox_id = {p}"
                ),
                (workspace_name(workspace), mailbox_id),
            )
        )


def _contacts_of(links: str | None, count: int) -> tuple[str | None, ...]:
    """The contact of each of *count* participants, from a row's links (see
    `SqlReads._stored`)."""
    if links is None:
        return (None,) * count
    linked = json.loads(links)
    return tuple(linked.get(str(i)) for i in range(count))
