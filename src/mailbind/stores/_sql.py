"""What the SQLite and the PostgreSQL store read alike, written once.

Invariants:
- Each query is written once, with ``{p}`` for a parameter and ``{c}`` after a text column that
  orders rows; a store says what those stand for in its dialect (`SqlReads.PARAMETER`,
  `SqlReads.COLLATE`), so both stores order text byte by byte and answer alike.
- A store runs the text through its own `SqlReads._read` (one read transaction, its errors
  turned into `StoreError`); nothing here opens a connection.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from ..codecs import decode_mailbox
from ..errors import StoreError
from ..identity import with_reuse
from ..messages import Direction, Flag, SharingLevel
from ..policy import Mailbox
from ..rules import Decision, Reason
from ..store import DEFAULT_WORKSPACE, CopyCount, StoredDecision, company_domain

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
