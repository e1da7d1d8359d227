"""The store converges: after any history of mail, deletions, moves, setting changes and
contact changes, a store synced step by step reads exactly as a store synced once, from scratch,
from the sources as they are now and under the settings in force now; and no workspace ever
reads another's mail. (The stateful property itself is public,
`mailbind.testing.store_contract.History`, and `StoreContract` runs it against every store.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind import (
    Contact,
    Flag,
    Mailbox,
    Message,
    Policy,
    SharingLevel,
)
from mailbind.engine import (
    destroy_contact,
    save_contact,
    soft_delete_contact,
    sync_mailbox,
)
from mailbind.store import Store
from mailbind.stores.sqlite import SQLiteStore
from mailbind.testing import InMemoryStore, ListSource
from mailbind.testing.store_contract import (
    HISTORY_NOW,
    HISTORY_SENT_AT,
    UNIVERSE,
    History,
    _mail,
    reads,
)

NOW = HISTORY_NOW
SENT_AT = HISTORY_SENT_AT


def memory_store() -> Store:
    """A fresh in-memory store."""
    return InMemoryStore()


def sqlite_store() -> Store:
    """A fresh SQLite store in memory."""
    return SQLiteStore(":memory:")


STORES: dict[str, Callable[[], Store]] = {"memory": memory_store, "sqlite": sqlite_store}


# --- Histories users lived through ----------------------------------------------------------

#: Short histories, each step a method of `History` with its arguments; a sync follows each.
HISTORIES: dict[str, list[tuple[Any, ...]]] = {
    "group mail allowed later comes back": [
        ("arrive", "anna", 3, frozenset()),
        ("change_setting", ("switch", "exclude_group")),
    ],
    "internal mail allowed later comes back, and goes again": [
        ("arrive", "anna", 2, frozenset()),
        ("arrive", "ben", 2, frozenset()),
        ("change_setting", ("switch", "sync_internal")),
        ("change_setting", ("switch", "sync_internal")),
    ],
    "an alias added later makes sent mail outgoing": [
        ("arrive", "anna", 7, frozenset()),
        ("change_setting", ("alias", "")),
        ("change_setting", ("share", ("anna", SharingLevel.METADATA, SharingLevel.SUBJECT))),
    ],
    "an alias dropped later makes its mail incoming, and its sender a contact": [
        ("change_setting", ("alias", "")),
        ("arrive", "anna", 7, frozenset()),
        ("change_setting", ("alias", "")),
    ],
    "a domain blocked, then unblocked": [
        ("arrive", "anna", 0, frozenset()),
        ("arrive", "ben", 5, frozenset()),
        ("change_setting", ("block", "@client.example")),
        ("change_setting", ("block", "@client.example")),
    ],
    "a shared level lowered, then raised": [
        ("arrive", "anna", 8, frozenset()),
        ("arrive", "ben", 8, frozenset()),
        ("change_setting", ("share", ("anna", SharingLevel.METADATA, SharingLevel.METADATA))),
        ("change_setting", ("share", ("anna", SharingLevel.EVERYTHING, SharingLevel.METADATA))),
    ],
    "a copy moved to the trash leaves, a reused Message-ID stays apart": [
        ("arrive", "anna", 0, frozenset()),
        ("arrive", "ben", 6, frozenset()),
        ("move_first", "anna", frozenset({Flag.TRASH})),
    ],
    "canonicalisation switched on and off with a deleted contact": [
        ("arrive", "anna", 0, frozenset()),
        ("arrive", "anna", 4, frozenset()),
        ("contact_change_by_hand", "jo+news@gmail.com"),
        ("delete_first_contact", "destroy"),
        ("change_setting", ("switch", "strip")),
        ("change_setting", ("switch", "strip")),
    ],
}


class Replay(History):
    """`History` with the steps a replayed history needs."""

    def contact_change_by_hand(self, address: str) -> None:
        """The user creates a contact for *address* by hand."""
        contact = Contact("by-hand", address, created_at=NOW)
        save_contact(self.store, contact, policy=self.policy())

    def move_first(self, name: str, flags: frozenset[Flag]) -> None:
        """File the first copy *name* holds in another folder."""
        source = self.sources[name]
        source.move(sorted(source.locations)[0], flags)

    def delete_first_contact(self, how: str) -> None:
        """Destroy or delete the contact with the smallest id."""
        contact = min(self.store.contact_index(), key=lambda c: c.id)
        if how == "destroy":
            destroy_contact(self.store, contact.id, policy=self.policy())
        else:
            soft_delete_contact(self.store, contact.id, at=self.clock, policy=self.policy())


@pytest.mark.parametrize("kind", sorted(STORES))
@pytest.mark.parametrize("name", sorted(HISTORIES))
def test_a_history_ends_as_a_sync_from_scratch(kind: str, name: str) -> None:
    """Each step, synced, leaves the store reading as a store synced once from scratch."""
    replay = Replay()
    replay.store = STORES[kind]()
    replay.make_store = STORES[kind]
    for step, *arguments in HISTORIES[name]:
        getattr(replay, step)(*arguments)
        replay.sync("sync")


# --- Workspaces ---------------------------------------------------------------------------


@contextmanager
def opened(kind: str) -> Iterator[Store]:
    """A fresh store of *kind*."""
    yield STORES[kind]()


@pytest.mark.parametrize("kind", sorted(STORES))
@settings(max_examples=25, deadline=None)
@given(
    first=st.lists(st.integers(0, len(UNIVERSE) - 1), max_size=6),
    second=st.lists(st.integers(0, len(UNIVERSE) - 1), max_size=6),
    names=st.sampled_from([("default", "globex"), ("a", "b"), ("acme", "acme-2")]),
)
def test_nothing_of_one_workspace_is_readable_from_another(
    kind: str, first: list[int], second: list[int], names: tuple[str, str]
) -> None:
    """Two organisations in one store, even with the same mailbox ids and the same mail, each
    read exactly what they would read alone."""
    one, two = names
    mailbox = Mailbox("anna@acme.com", incoming="everything", id="anna")
    policy = Policy(["acme.com"])
    with opened(kind) as store, opened(kind) as alone_one, opened(kind) as alone_two:
        for workspace, picks, alone in ((one, first, alone_one), (two, second, alone_two)):
            for target, ws in ((store, workspace), (alone, "default")):
                source = ListSource([UNIVERSE[n] for n in picks])
                sync_mailbox(source, target, mailbox, policy, now=NOW, workspace=ws)
        assert reads(store, one) == reads(alone_one)
        assert reads(store, two) == reads(alone_two)
        assert set(store.workspaces()) == {w for w, p in ((one, first), (two, second))} | set()


def test_a_reused_message_id_never_opens_another_users_private_mail() -> None:
    """An outsider reusing the Message-ID of a colleague's private mail gets a message of its
    own: the private body stays at its mailbox's level, and both copies say message_id_reused."""
    store = InMemoryStore()
    policy = Policy(["acme.com"])
    private = _mail(0, "kim@client.example", "ben@acme.com")
    forged = Message.build(
        sender="eve@evil.example",
        to="anna@acme.com",
        subject="Hello",
        text="Look",
        message_id=f"<{private.message_id}>",
        sent_at=SENT_AT,
    )
    ben = Mailbox("ben@acme.com", incoming="metadata", id="ben")
    anna = Mailbox("anna@acme.com", incoming="everything", id="anna")
    for order in ((ben, private, anna, forged), (anna, forged, ben, private)):
        store = InMemoryStore()
        for mailbox, message in ((order[0], order[1]), (order[2], order[3])):
            sync_mailbox(ListSource([message]), store, mailbox, policy, now=NOW)
        (held,) = store.mailbox_messages("ben")
        assert held.message.text == "Body 0"
        assert held.seen_by("carl@acme.com").text is None
        (other,) = store.mailbox_messages("anna")
        assert other.message.key != held.message.key
        assert other.seen_by("carl@acme.com").text == "Look"
        for mailbox_id in ("ben", "anna"):
            (copy,) = store.decisions(mailbox_id)
            assert "message_id_reused" in [r.value for r in copy.decision.reasons]
