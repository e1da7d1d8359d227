"""The engine keeps the store converged: deletions and moves at the source, a user changing
contacts while a sync runs, contact ids that never collide, and dry runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailbind import Contact, Flag, Mailbox, Message, Policy
from mailbind.engine import (
    destroy_contact,
    save_contact,
    suppress_address,
    sync_mailbox,
)
from mailbind.planner import auto_contact_id
from mailbind.source import Batch, Listing
from mailbind.store import Store
from mailbind.stores.sqlite import SQLiteStore
from mailbind.testing import InMemoryStore, ListSource

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
POLICY = Policy(["acme.com"])
ANNA = Mailbox("anna@acme.com", incoming="subject", id="anna")
BEN = Mailbox("ben@acme.com", id="ben")
KIM = "kim@client.example"


def mail(n: int, sender: str = f"Kim Lee <{KIM}>", to: str = "anna@acme.com") -> Message:
    """Message number *n*."""
    return Message.build(
        sender=sender,
        to=to,
        subject=f"Subject {n}",
        text=f"Body {n}",
        message_id=f"<m{n}@mail.example>",
        sent_at=datetime(2024, 5, 1, tzinfo=UTC) + timedelta(minutes=n),
    )


@pytest.fixture(params=["memory", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """The store a sync writes, and the store a user changes contacts through: the same object
    in memory, a second connection to the same file for SQLite (as another process would)."""
    if request.param == "memory":
        store = InMemoryStore()
        yield store, store
        return
    path = tmp_path / "crm.sqlite"
    with SQLiteStore(path) as syncing, SQLiteStore(path) as user:
        yield syncing, user


class Meddling:
    """A source that lets a user act between two of its batches."""

    def __init__(self, source: ListSource, act: Callable[[], None]) -> None:
        self.name = source.name
        self.source = source
        self.act = act
        self.fetched = 0

    def fetch(self, cursor: str | None, *, limit: int = 500) -> Batch:
        """The source's next batch; the user acts before the second one."""
        self.fetched += 1
        if self.fetched == 2:
            self.act()
        return self.source.fetch(cursor, limit=limit)

    def listing(self, token: str | None = None) -> Listing:
        """The source's listing."""
        return self.source.listing(token)


@pytest.mark.parametrize("how", ["destroy", "suppress"])
def test_a_user_deleting_a_contact_during_a_sync_wins(
    stores: tuple[Store, Store], how: str
) -> None:
    """A contact destroyed (or an address suppressed) while a sync runs is not brought back by
    that sync's later batches, and the sync ends without a storage error."""
    syncing, user = stores

    def act() -> None:
        kim = auto_contact_id(KIM)
        if how == "destroy":
            destroy_contact(user, kim, policy=POLICY)
        else:
            suppress_address(user, KIM, policy=POLICY)

    source = Meddling(ListSource([mail(1), mail(2), mail(3)]), act)
    report = sync_mailbox(source, syncing, ANNA, POLICY, now=NOW, batch_size=1)
    assert report.synced == 3
    assert report.replanned == 1
    index = syncing.contact_index()
    if how == "destroy":
        assert index.resolve(KIM) is None
        assert index.is_suppressed(KIM)
    else:
        assert index.resolve(KIM) is not None  # a suppression keeps existing contacts
    assert len(index) == (0 if how == "destroy" else 1)


def test_automatic_contact_ids_never_collide(tmp_path: Path) -> None:
    """A contact edited away from the address its id was made from keeps its id; the next
    contact created for that address gets another one, and neither is lost."""
    with SQLiteStore(tmp_path / "crm.sqlite") as store:
        sync_mailbox(ListSource([mail(1)]), store, ANNA, POLICY, now=NOW)
        first = store.contact_index().resolve(KIM)
        assert first is not None
        assert first.id == auto_contact_id(KIM)
        moved = Contact(first.id, "kim.lee@other.example", created_at=first.created_at)
        save_contact(store, moved, policy=POLICY)
        sync_mailbox(ListSource([mail(1), mail(2)]), store, ANNA, POLICY, now=NOW)
        index = store.contact_index()
        second = index.resolve(KIM)
        assert second is not None
        assert second.id != first.id
        assert index.get(first.id) == moved
        assert [s.message.message_id for s in store.messages_for_contact(second.id)] == [
            "m1@mail.example",
            "m2@mail.example",
        ]


def test_mail_deleted_at_the_source_leaves_the_store_and_moved_mail_stays(
    stores: tuple[Store, Store],
) -> None:
    """A copy deleted at the source goes (and its message with the last copy); a copy filed in
    another folder is not a deletion; a copy moved to the trash is kept out."""
    store, _ = stores
    anna = ListSource([mail(1), mail(2), mail(3)], name="anna")
    ben = ListSource([mail(3, to="anna@acme.com, ben@acme.com")], name="ben")
    sync_mailbox(anna, store, ANNA, POLICY, now=NOW)
    sync_mailbox(ben, store, BEN, POLICY, now=NOW)
    first, second, third = sorted(anna.locations)
    anna.remove(first)
    anna.move(second)
    anna.move(third, frozenset({Flag.TRASH}))
    report = sync_mailbox(anna, store, ANNA, POLICY, now=NOW)
    assert report.gone == 3
    held = sorted(s.message.message_id or "" for s in store.mailbox_messages("anna"))
    assert held == ["m2@mail.example"]
    (shared,) = store.mailbox_messages("ben")
    assert [h.mailbox.id for h in shared.holdings] == ["ben"]
    again = sync_mailbox(anna, store, ANNA, POLICY, now=NOW)
    assert (again.seen, again.gone) == (0, 0)


def test_a_dry_run_previews_every_copy_and_writes_nothing(stores: tuple[Store, Store]) -> None:
    """A dry run reports what it would store, keep out and remove; the store stays as it was."""
    store, _ = stores
    source = ListSource([mail(1), mail(2, sender="paul@acme.com")], name="anna")
    sync_mailbox(source, store, ANNA, POLICY, now=NOW)
    gone = min(source.locations)
    source.remove(gone)
    source.append(mail(3), mail(4, sender="noreply@shop.example"))
    state = store.load_state("anna")
    report = sync_mailbox(source, store, ANNA, POLICY, now=NOW, dry_run=True)
    assert report.dry_run
    assert sorted((p.action, p.key.split("#")[0]) for p in report.preview) == [
        ("remove", "m1@mail.example"),
        ("skip", "m4@mail.example"),
        ("store", "m3@mail.example"),
    ]
    assert store.load_state("anna") == state
    assert len(list(store.mailbox_messages("anna"))) == 1
