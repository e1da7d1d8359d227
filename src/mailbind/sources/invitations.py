"""A calendar source over the invitations in a mail source: its ``text/calendar`` parts.

Invariants:
- Each mail copy that holds an iCalendar part is one resource, located by the mail copy's own
  location; it holds the events of its iCalendar parts (`mailbind.calendars.invitations`).
  ``METHOD:REQUEST`` gives the event as the organiser's calendar has it (the same `Event` as the
  CalDAV copy, so the store keeps it once); ``METHOD:CANCEL`` gives it cancelled, which removes
  this copy.
- Cursors and listings are the mail source's own: the invitations read are those of the mail
  fetched, and a mail copy deleted at the source takes its invitation with it.
- Mail without an iCalendar part is skipped (not a resource).
"""

from __future__ import annotations

from ..calendars import EventBatch, EventItem, invitations
from ..messages import Limits
from ..source import Listing, MessageSource

__all__ = ["InvitationSource"]


class InvitationSource:
    """The invitations (``text/calendar`` parts) of the mail in *mail*, as an `EventSource`."""

    def __init__(self, mail: MessageSource, *, limits: Limits | None = None) -> None:
        self.mail = mail
        self.name = f"invitations:{mail.name}"
        self.limits = limits

    def __repr__(self) -> str:
        return f"InvitationSource({self.mail!r})"

    def fetch(self, cursor: str | None, *, limit: int = 100) -> EventBatch:
        batch = self.mail.fetch(cursor, limit=limit)
        items = []
        for item in batch.items:
            events = invitations(item.message(self.limits))
            if events:
                items.append(EventItem(item.location, events))
        return EventBatch(tuple(items), batch.cursor, reset=batch.reset, done=batch.done)

    def listing(self, token: str | None = None) -> Listing:
        return self.mail.listing(token)
