"""The store converges: after any history of mail, deletions, moves, setting changes and
contact changes, a store synced step by step reads exactly as a store synced once, from scratch,
from the sources as they are now and under the settings in force now; and no workspace ever
reads another's mail."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from mailbind import (
    Canonicalization,
    Contact,
    Flag,
    Mailbox,
    Message,
    Policy,
    SharingLevel,
)
from mailbind.codecs import encode_message
from mailbind.engine import (
    ConfirmationNeeded,
    destroy_contact,
    save_contact,
    soft_delete_contact,
    suppress_address,
    sync_mailbox,
)
from mailbind.source import SourceItem
from mailbind.store import ContactChange, Store
from mailbind.stores.sqlite import SQLiteStore
from mailbind.testing import InMemoryStore, ListSource

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SENT_AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _mail(
    n: int, sender: str, to: str, *, cc: str = "", mid: str | None = None, **more: object
) -> Message:
    """Message *n* of the universe."""
    return Message.build(
        sender=sender,
        to=to,
        cc=cc,
        subject=f"Subject {n}",
        text=f"Body {n}",
        message_id=mid or f"<m{n}@mail.example>",
        sent_at=SENT_AT + timedelta(minutes=n),
        **more,  # type: ignore[arg-type]
    )


#: Every message a history may deliver: customers, colleagues, automated and blockable senders,
#: a free-provider address with a sub-address, mail sent from an alias, and one message that
#: reuses another's Message-ID with other content.
UNIVERSE = (
    _mail(0, "Kim Lee <kim@client.example>", "anna@acme.com"),
    _mail(1, "anna@acme.com", "kim@client.example", cc="ben@acme.com"),
    _mail(2, "carl@acme.com", "anna@acme.com, ben@acme.com"),
    _mail(3, "noreply@shop.example", "anna@acme.com", headers=[("List-Id", "<n.shop.example>")]),
    _mail(4, "Jo <jo+news@gmail.com>", "anna@acme.com"),
    _mail(5, "x@blocked.example", "ben@acme.com", cc="kim@client.example"),
    _mail(6, "Eve <eve@evil.example>", "ben@acme.com", mid="<m0@mail.example>"),
    _mail(7, "anna@acme-labs.com", "Pat <pat@partner.example>"),
    _mail(8, "Kim Lee <kim@client.example>", "anna@acme.com, ben@acme.com"),
)
VIEWERS = ("anna@acme.com", "ben@acme.com", "carl@acme.com")
FOLDER_FLAGS: tuple[frozenset[Flag], ...] = (
    frozenset(),
    frozenset({Flag.TRASH}),
    frozenset({Flag.SENT}),
    frozenset({Flag.SPAM}),
)
LEVELS = tuple(SharingLevel)


def memory_store() -> Store:
    """A fresh in-memory store."""
    return InMemoryStore()


def sqlite_store() -> Store:
    """A fresh SQLite store in memory."""
    return SQLiteStore(":memory:")


STORES: dict[str, Callable[[], Store]] = {"memory": memory_store, "sqlite": sqlite_store}


def reads(store: Store, workspace: str = "default") -> dict[str, object]:
    """What every viewer reads of every contact and company, and what each mailbox holds."""
    index = store.contact_index(workspace=workspace)
    seen: dict[str, object] = {}
    for contact in sorted(index, key=lambda c: c.id):
        held = store.messages_for_contact(contact.id, workspace=workspace)
        for viewer in VIEWERS:
            seen[f"contact {contact.id} by {viewer}"] = sorted(
                encode_message(s.seen_by(viewer)) for s in held
            )
    for company in store.companies(workspace=workspace):
        held = store.messages_for_company(company.domain, workspace=workspace)
        for viewer in VIEWERS:
            seen[f"company {company.domain} by {viewer}"] = sorted(
                encode_message(s.seen_by(viewer)) for s in held
            )
    for mailbox in store.mailboxes(workspace=workspace):
        seen[f"mailbox {mailbox.id}"] = sorted(
            (s.message.key, tuple((h.mailbox.id, h.direction.value) for h in s.holdings))
            for s in store.mailbox_messages(mailbox.id, workspace=workspace)
        )
    return seen


def yes(_changes: object) -> bool:
    """Confirm every change of settings."""
    return True


class History(RuleBasedStateMachine):
    """Two mailboxes of one workspace, their sources, the settings and the user's contacts."""

    make_store: Callable[[], Store] = staticmethod(memory_store)

    def __init__(self) -> None:
        super().__init__()
        self.store = self.make_store()
        self.sources = {"anna": ListSource(name="anna"), "ben": ListSource(name="ben")}
        self.blocklist: frozenset[str] = frozenset()
        self.sync_internal = False
        self.exclude_group = True
        self.strip = False
        self.aliases: frozenset[str] = frozenset()
        self.levels = {
            "anna": (SharingLevel.SUBJECT, SharingLevel.EVERYTHING),
            "ben": (SharingLevel.METADATA, SharingLevel.METADATA),
        }
        self.clock = NOW

    # --- The settings now -----------------------------------------------------------------

    def policy(self) -> Policy:
        """The workspace policy in force."""
        return Policy(
            ["acme.com"],
            blocklist=sorted(self.blocklist),
            sync_internal=self.sync_internal,
            exclude_group_emails=self.exclude_group,
            canonicalization=Canonicalization(strip_subaddress=self.strip),
        )

    def mailbox(self, name: str) -> Mailbox:
        """The mailbox *name* with its settings in force."""
        incoming, outgoing = self.levels[name]
        aliases = sorted(self.aliases) if name == "anna" else ()
        return Mailbox(f"{name}@acme.com", aliases, incoming, outgoing, id=name)

    # --- Mail at the source -----------------------------------------------------------------

    @rule(
        name=st.sampled_from(["anna", "ben"]),
        n=st.integers(0, len(UNIVERSE) - 1),
        flags=st.sampled_from(FOLDER_FLAGS),
    )
    def arrive(self, name: str, n: int, flags: frozenset[Flag]) -> None:
        """Mail arrives, in some folder."""
        self.sources[name].append(SourceItem("", None, built=UNIVERSE[n], flags=flags))

    @precondition(lambda self: any(s.locations for s in self.sources.values()))
    @rule(data=st.data(), flags=st.sampled_from((None, *FOLDER_FLAGS)))
    def delete_or_move(self, data: st.DataObject, flags: frozenset[Flag] | None) -> None:
        """The owner deletes a copy at the source (no flags) or files it in another folder (the
        trash, the sent folder, ...)."""
        source = data.draw(st.sampled_from([s for s in self.sources.values() if s.locations]))
        location = data.draw(st.sampled_from(sorted(source.locations)))
        if flags is None:
            source.remove(location)
        else:
            source.move(location, flags)

    # --- Settings -----------------------------------------------------------------------------

    @rule(
        change=st.one_of(
            st.tuples(
                st.just("block"),
                st.sampled_from(["@blocked.example", "@client.example", "jo@gmail.com"]),
            ),
            st.tuples(
                st.just("switch"), st.sampled_from(["sync_internal", "exclude_group", "strip"])
            ),
            st.tuples(st.just("alias"), st.just("")),
            st.tuples(
                st.just("share"),
                st.tuples(
                    st.sampled_from(["anna", "ben"]),
                    st.sampled_from(LEVELS),
                    st.sampled_from(LEVELS),
                ),
            ),
        )
    )
    def change_setting(self, change: tuple[str, object]) -> None:
        """Change one setting: block or unblock, flip a switch, add or drop an alias, share more
        or less."""
        what, value = change
        if what == "block":
            self.blocklist = self.blocklist ^ {str(value)}
        elif what == "switch":
            setattr(self, str(value), not getattr(self, str(value)))
        elif what == "alias":
            self.aliases = self.aliases ^ {"anna@acme-labs.com"}
        else:
            assert isinstance(value, tuple)
            name, incoming, outgoing = value
            self.levels[name] = (incoming, outgoing)

    # --- The user's contacts ----------------------------------------------------------------

    @rule(
        data=st.data(),
        how=st.sampled_from(["soft_delete", "destroy", "suppress"]),
        address=st.sampled_from(["pat@partner.example", "kim@client.example", "jo@gmail.com"]),
    )
    def contact_change(self, data: st.DataObject, how: str, address: str) -> None:
        """The user deletes or destroys a contact, or asks never to create one for an address."""
        contacts = sorted(self.store.contact_index(), key=lambda c: c.id)
        if how == "suppress" or not contacts:
            suppress_address(self.store, address, policy=self.policy())
            return
        contact = data.draw(st.sampled_from(contacts))
        if how == "soft_delete":
            soft_delete_contact(self.store, contact.id, at=self.clock, policy=self.policy())
        else:
            destroy_contact(self.store, contact.id, policy=self.policy())

    # --- Syncing ------------------------------------------------------------------------------

    @rule(first=st.sampled_from(["sync", "refuse", "dry_run"]))
    def sync(self, first: str) -> None:
        """Sync both mailboxes (after a refused change or a dry run, which change nothing); then
        the store reads as one synced once from scratch."""
        if first == "refuse":
            self.refused_change_changes_nothing()
        elif first == "dry_run":
            self.dry_run_writes_nothing()
        self.clock += timedelta(minutes=10)
        for name in ("anna", "ben"):
            sync_mailbox(
                self.sources[name],
                self.store,
                self.mailbox(name),
                self.policy(),
                now=NOW,
                confirm=yes,
            )
        fresh = self.make_store()
        index = self.store.contact_index()
        fresh.apply_contact_change(
            ContactChange(
                saved=tuple(index),
                suppressed=tuple(index.suppressed.values()),
                companies=self.store.companies(),
            )
        )
        for name in ("anna", "ben"):
            source = ListSource(self.sources[name].held(), name=f"{name}-now")
            sync_mailbox(source, fresh, self.mailbox(name), self.policy(), now=NOW)
        assert reads(self.store) == reads(fresh)

    def refused_change_changes_nothing(self) -> None:
        """A change that needs confirming and is refused leaves the store as it was."""
        before = reads(self.store)
        for name in ("anna", "ben"):
            try:
                sync_mailbox(
                    self.sources[name],
                    self.store,
                    self.mailbox(name),
                    self.policy(),
                    now=NOW,
                    confirm=lambda _changes: False,
                )
            except ConfirmationNeeded:
                assert reads(self.store) == before
                return
            before = reads(self.store)

    def dry_run_writes_nothing(self) -> None:
        """A dry run, whatever it finds, leaves the store as it was."""
        before = reads(self.store)
        states = {n: self.store.load_state(n) for n in ("anna", "ben")}
        for name in ("anna", "ben"):
            sync_mailbox(
                self.sources[name],
                self.store,
                self.mailbox(name),
                self.policy(),
                now=NOW,
                dry_run=True,
            )
        assert reads(self.store) == before
        assert {n: self.store.load_state(n) for n in ("anna", "ben")} == states


History.TestCase.settings = settings(max_examples=100, stateful_step_count=30, deadline=None)


class SQLiteHistory(History):
    """The same histories against the SQLite store."""

    make_store = staticmethod(sqlite_store)


TestHistoryInMemory = History.TestCase
TestHistoryInSQLite = SQLiteHistory.TestCase


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
