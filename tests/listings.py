"""What a store keeps of one source through passes: the model the listing histories check."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailbind.source import MessageSource, SourceItem


def fetch_everything(
    source: MessageSource, cursor: str | None, *, limit: int = 3
) -> tuple[list[SourceItem], str]:
    """Every item *source* gives after *cursor*, in small batches, and the last cursor."""
    items: list[SourceItem] = []
    while True:
        batch = source.fetch(cursor, limit=limit)
        items.extend(batch.items)
        assert batch.cursor is not None
        cursor = batch.cursor
        if batch.done:
            return items, cursor


@dataclass
class Kept:
    """A store's copies of one source (location -> raw bytes), its cursor and listing token."""

    stored: dict[str, bytes | None] = field(default_factory=dict)
    cursor: str | None = None
    token: str | None = None

    def pass_(self, source: MessageSource) -> int:
        """One pass of a sync: fetch from the cursor, then list from the token; the number of
        copies fetched or removed."""
        items, self.cursor = fetch_everything(source, self.cursor)
        for item in items:
            self.stored[item.location] = item.raw
        listing = source.listing(self.token)
        gone = set(listing.gone)
        if listing.present is not None:
            gone |= set(self.stored) - listing.present
        for location in gone:
            self.stored.pop(location, None)
        self.token = listing.token
        return len(items) + len(gone)

    def is_from_scratch(self, scratch: MessageSource) -> bool:
        """True when the copies kept are what a fetch of *scratch* from no cursor gives."""
        fresh, _ = fetch_everything(scratch, None)
        return self.stored == {item.location: item.raw for item in fresh}
