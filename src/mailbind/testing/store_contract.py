"""The Store contract as a test suite any store can run: subclass `StoreContract`.

A store passes when every test of `StoreContract` passes against it::

    # tests/test_my_store.py
    from mailbind.testing.store_contract import StoreContract

    class TestMyStore(StoreContract):
        def make_store(self):
            return MyStore()          # a new, empty store each call

pytest collects the subclass (its name starts with ``Test``) and runs every contract test
against the stores it makes: examples of each method of `mailbind.store.Store`, a property
comparing the store with `mailbind.testing.InMemoryStore` over any sequence of batches and
contact changes, and the stateful convergence property (`History`): after any history of mail,
deletions, moves, setting changes and contact changes, the store synced step by step reads as a
store synced once from scratch.

Invariants:
- Every test asks `StoreContract.make_store` for the stores it needs, and never assumes more
  than the `Store` protocol of them; a store with a ``close()`` method is closed after use
  (`StoreContract.close_store`).
- ``make_store`` must return a store that is empty and independent of every other store it
  returned: the properties keep two alive at once.
- The properties' example counts are class attributes (`StoreContract.examples`,
  `StoreContract.history_examples`), so a slow store can run fewer.

This module needs pytest and Hypothesis (``pip install 'mailbind[test]'``); importing
`mailbind.testing` does not load it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from ..addresses import Canonicalization
from ..calendar_sync import sync_calendar
from ..calendars import EventStore
from ..codecs import encode_event, encode_message
from ..companies import plan_add_domain, plan_merge
from ..contacts import Contact, OwnerChange, Suppression, SuppressionReason
from ..engine import (
    ConfirmationNeeded,
    destroy_contact,
    save_contact,
    soft_delete_contact,
    suppress_address,
    sync_mailbox,
)
from ..errors import StoreError
from ..events import Event
from ..identity import with_stored_key
from ..messages import Attachment, Direction, Flag, Message, SharingLevel
from ..policy import Mailbox, Policy
from ..rules import Decision, Reason, decide
from ..schedule import SyncState, SyncStatus, failed
from ..source import SourceItem
from ..store import (
    BatchItem,
    BatchResult,
    Company,
    CompanyCount,
    ContactChange,
    CopyCount,
    MailboxState,
    Page,
    PageError,
    ParticipantLink,
    StaleBatchError,
    Store,
    StoredMessage,
)
from ..threads import thread_ids
from . import InMemoryStore, ListCalendar, ListSource, snapshot

__all__ = ["EventHistory", "History", "StoreContract", "close_store", "event_reads", "reads"]

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
POLICY = Policy(["acme.com"])
ANNA = Mailbox("anna@acme.com", incoming="subject", outgoing="everything")
BEN = Mailbox("ben@acme.com")
KIM = "kim@client.example"

SKIPPED = Decision(False, (Reason.INTERNAL,), Direction.INCOMING, SharingLevel.METADATA)


def mail(n: int, *, to: str = "anna@acme.com, ben@acme.com") -> Message:
    """Message number *n* from Kim to Anna and Ben, sent *n* days before NOW, with an attachment."""
    return Message.build(
        sender=f"Kim Lee <{KIM}>",
        to=to,
        subject=f"Subject {n}",
        text=f"Body {n}",
        message_id=f"<m{n}@client.example>",
        sent_at=NOW - n * timedelta(days=1),
        attachments=[Attachment("offer.pdf", "application/pdf", 3, b"pdf")],
    )


def item(
    store: Store, message: Message, mailbox: Mailbox = ANNA, location: str | None = None
) -> BatchItem:
    """*message* decided for *mailbox*, its participants resolved against *store*'s contacts."""
    decision = decide(message, mailbox, POLICY)
    index = store.contact_index(POLICY.canonicalization)
    links = []
    if decision.synced:
        for position, participant in enumerate(message.participants):
            if participant.address is not None:
                owner = index.resolve(participant.address)
                owner_id = owner.id if owner is not None else None
                links.append(ParticipantLink(position, POLICY.key(participant.address), owner_id))
    return BatchItem(message, decision, tuple(links), location or f"inbox/{message.key}")


def skipped(message: Message, location: str | None = None) -> BatchItem:
    """*message* as a mailbox skipped it (internal)."""
    return BatchItem(message, SKIPPED, (), location or f"inbox/{message.key}")


def batch(
    mailbox: Mailbox,
    *items: BatchItem,
    cursor: str | None = "c1",
    state: SyncState | None = None,
    **more: Any,
) -> BatchResult:
    """A batch result for *mailbox* with *items*."""
    return BatchResult(mailbox, cursor, state or SyncState(), items, **more)


def contact(
    contact_id: str,
    primary: str = KIM,
    additional: tuple[str, ...] | list[str] = (),
    *,
    created_at: datetime = NOW,
    first_name: str = "",
    company_domain: str | None = None,
) -> Contact:
    """A contact for Kim unless told otherwise, created at NOW."""
    return Contact(
        contact_id,
        primary,
        additional,
        created_at=created_at,
        first_name=first_name,
        company_domain=company_domain,
    )


def close_store(store: Store) -> None:
    """Close *store* when it has a ``close()`` method."""
    close = getattr(store, "close", None)
    if callable(close):
        close()


class StoreContract:
    """Every contract test of the `Store` protocol, against the stores `make_store` makes."""

    #: Examples of the property comparing the store with `InMemoryStore`.
    examples: ClassVar[int] = 40
    #: Histories the stateful convergence property tries, and steps in each.
    history_examples: ClassVar[int] = 60
    history_steps: ClassVar[int] = 30

    def make_store(self) -> Store:
        """A new, empty store, independent of every other one made. Override this."""
        raise NotImplementedError(f"{type(self).__name__} must define make_store()")

    def close_store(self, store: Store) -> None:
        """Release *store* after a test (by default: its ``close()`` when it has one)."""
        close_store(store)

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """A new, empty store, released after the test."""
        made = self.make_store()
        try:
            yield made
        finally:
            self.close_store(made)

    def test_every_store_is_a_store(self, store: Store) -> None:
        """Each store satisfies the runtime-checkable protocol."""
        assert isinstance(store, Store)

    def test_an_empty_store_knows_nothing(self, store: Store) -> None:
        """A new store has no mailboxes, messages, contacts, and a default state for any mailbox."""
        assert store.load_state("anyone") == MailboxState(None, SyncState())
        assert store.mailboxes() == ()
        assert list(store.decisions("anyone")) == []
        assert list(store.mailbox_messages("anyone")) == []
        assert store.messages_for_contact("c1") == ()
        assert store.messages_for_company("client.example") == ()
        assert len(store.contact_index()) == 0
        assert store.companies() == ()

    def test_a_synced_message_is_stored_complete_with_its_link(self, store: Store) -> None:
        """The owner's copy is kept whole: subject, body, attachments, every participant."""
        message = mail(1)
        store.apply_batch(batch(ANNA, item(store, message, location="inbox#1")))
        (stored,) = store.mailbox_messages(ANNA.id)
        assert stored.message == message
        assert stored.message.text == "Body 1"
        assert stored.message.attachments == message.attachments
        assert [(h.mailbox, h.direction) for h in stored.holdings] == [(ANNA, Direction.INCOMING)]
        assert store.mailboxes() == (ANNA,)
        (decision,) = store.decisions(ANNA.id)
        assert decision.key == message.key
        assert decision.decision == decide(message, ANNA, POLICY)
        assert decision.location == "inbox#1"

    def test_the_cursor_and_state_are_stored_with_the_batch(self, store: Store) -> None:
        """apply_batch stores the cursor and sync state it carries."""
        state = SyncState(SyncStatus.IDLE, last_success=NOW)
        store.apply_batch(batch(ANNA, item(store, mail(1)), cursor="offset:10", state=state))
        assert store.load_state(ANNA.id) == MailboxState("offset:10", state)
        assert store.load_state(BEN.id) == MailboxState()

    def test_save_state_stores_cursor_and_state(self, store: Store) -> None:
        """A failure recorded outside a batch is read back, cursor included."""
        state = failed(SyncState(), NOW, "The server did not answer.")
        store.save_state(ANNA.id, MailboxState("c9", state))
        assert store.load_state(ANNA.id) == MailboxState("c9", state)

    def test_a_skipped_message_keeps_its_decision_but_no_content(self, store: Store) -> None:
        """Every decision is kept, but a message that is not synced is not stored."""
        message = mail(1)
        store.apply_batch(batch(ANNA, skipped(message, "inbox#7")))
        assert list(store.mailbox_messages(ANNA.id)) == []
        (decision,) = store.decisions(ANNA.id)
        assert decision.decision == SKIPPED
        assert decision.location == "inbox#7"

    def test_one_message_in_two_mailboxes_is_stored_once_with_two_links(self, store: Store) -> None:
        """The same Message-ID synced by two mailboxes is one message held twice."""
        message = mail(1)
        store.apply_batch(batch(ANNA, item(store, message)))
        store.apply_batch(batch(BEN, item(store, message, BEN)))
        (from_anna,) = store.mailbox_messages(ANNA.id)
        (from_ben,) = store.mailbox_messages(BEN.id)
        assert from_anna == from_ben
        assert [h.mailbox.id for h in from_anna.holdings] == [ANNA.id, BEN.id]
        assert len(snapshot(store)["messages"]) == 1  # type: ignore[arg-type]

    def test_a_third_viewer_reads_the_most_permissive_level(self, store: Store) -> None:
        """A colleague holding no copy sees the best level among the holders; owners see all."""
        message = mail(1)
        store.apply_batch(batch(BEN, item(store, message, BEN)))
        (stored,) = store.mailbox_messages(BEN.id)
        assert stored.level_for("carl@acme.com") is SharingLevel.METADATA
        assert stored.seen_by("carl@acme.com").subject is None
        store.apply_batch(batch(ANNA, item(store, message)))
        (stored,) = store.mailbox_messages(BEN.id)
        assert stored.level_for("carl@acme.com") is SharingLevel.SUBJECT
        seen = stored.seen_by("carl@acme.com")
        assert seen.subject == "Subject 1"
        assert seen.text is None
        assert seen.attachments is None
        assert stored.seen_by("ben@acme.com") == message

    def test_changing_a_mailbox_level_changes_what_others_read(self, store: Store) -> None:
        """Links follow the mailbox's current sharing levels."""
        message = mail(1)
        store.apply_batch(batch(BEN, item(store, message, BEN)))
        open_ben = Mailbox("ben@acme.com", incoming="everything")
        store.apply_batch(batch(open_ben))
        (stored,) = store.mailbox_messages(BEN.id)
        assert stored.level_for("carl@acme.com") is SharingLevel.EVERYTHING
        assert store.mailboxes() == (open_ben,)

    def test_applying_a_batch_twice_is_applying_it_once(self, store: Store) -> None:
        """A re-sync is idempotent: the second application changes nothing."""
        new = contact("auto-kim", KIM)
        result = batch(
            ANNA,
            item(store, mail(1)),
            skipped(mail(2)),
            contacts=(new,),
            companies=(Company("client.example", "Client"),),
            owners=(OwnerChange(KIM, None, "auto-kim"),),
        )
        store.apply_batch(result)
        once = snapshot(store)
        store.apply_batch(result)
        assert snapshot(store) == once

    @pytest.mark.parametrize("synced_first", [True, False])
    def test_a_synced_copy_wins_whatever_the_order(self, store: Store, synced_first: bool) -> None:
        """Two copies of one message (inbox and trash): the mailbox holds it if either syncs."""
        message = mail(1)
        copies = [item(store, message), skipped(message, f"trash/{message.key}")]
        if not synced_first:
            copies.reverse()
        store.apply_batch(batch(ANNA, *copies))
        one_batch = snapshot(store)
        assert [s.message for s in store.mailbox_messages(ANNA.id)] == [message]
        decisions = {d.location: d.decision.synced for d in store.decisions(ANNA.id)}
        assert decisions == {f"inbox/{message.key}": True, f"trash/{message.key}": False}

        other = InMemoryStore()
        for copy in copies:
            other.apply_batch(batch(ANNA, copy))
        assert snapshot(other) == one_batch

    def test_a_skipped_copy_or_a_gone_one_lets_go_and_the_last_holder_takes_the_message(
        self,
        store: Store,
    ) -> None:
        """A copy decided again as skipped, or gone at the source, lets go of its message; the
        message goes with the last mailbox holding it."""
        message = mail(1)
        store.apply_batch(batch(ANNA, item(store, message)))
        store.apply_batch(batch(BEN, item(store, message, BEN)))
        store.apply_batch(batch(ANNA, skipped(message)))
        assert list(store.mailbox_messages(ANNA.id)) == []
        (held,) = store.mailbox_messages(BEN.id)
        assert [h.mailbox.id for h in held.holdings] == [BEN.id]
        assert [d.decision for d in store.decisions(ANNA.id)] == [SKIPPED]
        store.apply_batch(batch(BEN, gone=(f"inbox/{message.key}",)))
        assert list(store.mailbox_messages(BEN.id)) == []
        assert list(store.decisions(BEN.id)) == []
        assert snapshot(store)["messages"] == {}

    def test_contacts_of_a_batch_are_stored_and_old_participants_relinked(
        self, store: Store
    ) -> None:
        """A contact created later owns the participants of messages stored before it."""
        first = mail(2)
        store.apply_batch(batch(ANNA, item(store, first)))
        (before,) = store.mailbox_messages(ANNA.id)
        assert before.contacts[0] is None
        kim = contact("auto-kim", KIM, first_name="Kim", company_domain="client.example")
        store.apply_batch(
            batch(
                ANNA,
                contacts=(kim,),
                companies=(Company("client.example", "Client"),),
                owners=(OwnerChange(KIM, None, kim.id),),
            )
        )
        second = mail(1)
        store.apply_batch(batch(ANNA, item(store, second)))
        assert store.contact_index().get(kim.id) == kim
        assert [s.message for s in store.messages_for_contact(kim.id)] == [first, second]
        assert [s.message for s in store.messages_for_company("Client.Example")] == [first, second]
        for named in (" @CLIENT.example. ", "client.example.", "Client.Example\n"):
            assert [s.message for s in store.messages_for_company(named)] == [first, second]
        assert store.companies() == (Company("client.example", "Client"),)
        assert store.messages_for_contact("nobody") == ()

    def test_an_automatic_contact_never_overwrites_a_stored_one(self, store: Store) -> None:
        """Re-creating a contact by id (a re-sync) keeps what the store holds."""
        edited = contact("auto-kim", KIM, first_name="Kimberly")
        store.apply_contact_change(ContactChange(saved=(edited,)))
        store.apply_batch(batch(ANNA, contacts=(contact("auto-kim", KIM, first_name="Kim"),)))
        assert store.contact_index().get("auto-kim") == edited

    def test_messages_are_returned_oldest_first_undated_last(self, store: Store) -> None:
        """Reading a contact's messages gives them in time order, then by key."""
        kim = contact("kim", KIM)
        store.apply_contact_change(ContactChange(saved=(kim,)))
        undated = Message.build(sender=KIM, to="anna@acme.com", message_id="<a@x>")
        store.apply_batch(
            batch(ANNA, item(store, mail(1)), item(store, undated), item(store, mail(3)))
        )
        keys = [s.message.key for s in store.messages_for_contact("kim")]
        assert keys == [mail(3).key, mail(1).key, undated.key]

    def test_contact_changes_relink_exactly_the_changed_keys(self, store: Store) -> None:
        """Destroying a contact passes its messages to the next candidate, and records
        suppression."""
        old = contact("old", KIM, created_at=NOW - timedelta(days=10))
        young = contact("young", "other@client.example", [KIM], created_at=NOW - timedelta(days=1))
        save_contact(store, old)
        save_contact(store, young)
        store.apply_batch(batch(ANNA, item(store, mail(1))))
        assert [s.contacts[0] for s in store.mailbox_messages(ANNA.id)] == ["old"]
        change = destroy_contact(store, "old")
        assert change.owners == (OwnerChange(KIM, "old", "young"),)
        assert change.suppressed == (Suppression(KIM, SuppressionReason.DESTROYED, "old"),)
        assert [s.contacts[0] for s in store.mailbox_messages(ANNA.id)] == ["young"]
        index = store.contact_index()
        assert index.get("old") is None
        assert index.suppressed[KIM] == Suppression(KIM, SuppressionReason.DESTROYED, "old")
        destroy_contact(store, "young")
        assert [s.contacts[0] for s in store.mailbox_messages(ANNA.id)] == [None]

    def test_soft_delete_keeps_messages_and_recreating_by_hand_lifts_suppression(
        self, store: Store
    ) -> None:
        """A soft-deleted contact keeps its messages; saving it live again lifts its suppression."""
        kim = contact("kim", KIM)
        save_contact(store, kim)
        store.apply_batch(batch(ANNA, item(store, mail(1))))
        change = soft_delete_contact(store, "kim", at=NOW)
        assert change.owners == ()
        assert change.saved[0].deleted_at == NOW
        assert [s.message.key for s in store.messages_for_contact("kim")] == [mail(1).key]
        assert KIM in store.contact_index().suppressed
        lifted = save_contact(store, kim)
        assert lifted.lifted == (KIM,)
        assert KIM not in store.contact_index().suppressed

    def test_a_requested_suppression_is_stored(self, store: Store) -> None:
        """An erasure request suppresses an address no contact holds."""
        change = suppress_address(store, "Gone@Client.Example")
        assert change.suppressed == (
            Suppression("gone@client.example", SuppressionReason.REQUESTED),
        )
        assert "gone@client.example" in store.contact_index().suppressed

    def test_contacts_keep_every_field(self, store: Store) -> None:
        """A stored contact reads back equal: addresses, names, company, times."""
        kim = Contact(
            "kim",
            "Kim@Client.Example",
            ["kim.lee@client.example", "kim@xn--bcher-kva.example"],
            created_at=datetime(2020, 1, 1, tzinfo=UTC),
            deleted_at=datetime(2021, 1, 1, 12, tzinfo=UTC),
            first_name="Kim",
            last_name="Lee",
            company_domain="client.example",
        )
        store.apply_contact_change(ContactChange(saved=(kim,)))
        stored = store.contact_index().get("kim")
        assert stored == kim
        assert stored is not None
        assert [str(a) for a in stored.addresses] == [str(a) for a in kim.addresses]

    def test_hostile_keys_are_data(self, store: Store) -> None:
        """A Message-ID made of SQL is stored and read back as text."""
        message = Message.build(
            sender=KIM,
            to="anna@acme.com",
            message_id="<x'); DROP TABLE messages; --@evil.example>",
            subject="'; DELETE FROM contacts; --",
        )
        store.apply_batch(batch(ANNA, item(store, message)))
        (stored,) = store.mailbox_messages(ANNA.id)
        assert stored.message == message

    # --- Workspaces, settings, locations, staleness ---------------------------------------

    def test_workspaces_keep_apart(self, store: Store) -> None:
        """One mailbox id in two workspaces: each reads only its own mail, state and contacts."""
        store.apply_batch(batch(ANNA, item(store, mail(1)), cursor="a"), workspace="one")
        store.apply_contact_change(ContactChange(saved=(contact("kim"),)), workspace="two")
        assert store.workspaces() == ("one", "two") or store.workspaces() == ("one",)
        assert [s.message.key for s in store.mailbox_messages(ANNA.id, workspace="one")] == [
            mail(1).key
        ]
        assert list(store.mailbox_messages(ANNA.id, workspace="two")) == []
        assert list(store.mailbox_messages(ANNA.id)) == []
        assert store.load_state(ANNA.id, workspace="one").cursor == "a"
        assert store.load_state(ANNA.id, workspace="two") == MailboxState()
        assert len(store.contact_index(workspace="one")) == 0
        assert len(store.contact_index(workspace="two")) == 1
        assert store.contacts_version(workspace="two") > store.contacts_version(workspace="one")

    def test_an_empty_workspace_name_is_a_store_error(self, store: Store) -> None:
        """A workspace must be a non-empty string."""
        with pytest.raises(StoreError):
            store.load_state(ANNA.id, workspace="")

    def test_settings_are_recorded_with_a_version_and_a_time(self, store: Store) -> None:
        """Each batch records the mailbox's settings and the policy; a change is a new version
        with its time; the same settings again change nothing."""
        later = NOW + timedelta(hours=1)
        assert store.recorded_policy() is None
        assert store.recorded_mailbox(ANNA.id) is None
        store.apply_batch(batch(ANNA, policy='{"p": 1}', at=NOW))
        store.apply_batch(batch(ANNA, policy='{"p": 1}', at=later))
        recorded = store.recorded_policy()
        assert recorded is not None
        assert (recorded.settings, recorded.version, recorded.set_at) == ('{"p": 1}', 1, NOW)
        store.apply_batch(batch(ANNA, policy='{"p": 2}', at=later))
        changed = Mailbox(ANNA.owner, incoming="everything")
        store.apply_batch(batch(changed, at=later))
        recorded = store.recorded_policy()
        assert recorded is not None
        assert (recorded.settings, recorded.version, recorded.set_at) == ('{"p": 2}', 2, later)
        own = store.recorded_mailbox(ANNA.id)
        assert own is not None
        assert (own.version, own.set_at) == (2, later)
        assert store.mailboxes() == (changed,)
        assert store.recorded_policy(workspace="other") is None

    def test_locations_name_every_copy(self, store: Store) -> None:
        """locations() maps each copy's location to its message key, synced or not."""
        store.apply_batch(batch(ANNA, item(store, mail(1), location="a"), skipped(mail(2), "b")))
        assert store.locations(ANNA.id) == {"a": mail(1).key, "b": mail(2).key}
        assert store.locations(BEN.id) == {}

    def test_copy_counts_count_every_copy_by_direction_level_and_state(self, store: Store) -> None:
        """copy_counts() groups the mailbox's copies, synced or not, with no zero counts."""
        assert store.copy_counts(ANNA.id) == ()
        store.apply_batch(
            batch(
                ANNA,
                item(store, mail(1), location="a"),
                item(store, mail(2), location="b"),
                skipped(mail(3), "c"),
            )
        )
        level = decide(mail(1), ANNA, POLICY).level
        assert store.copy_counts(ANNA.id) == tuple(
            sorted(
                [
                    CopyCount(Direction.INCOMING, level, True, 2),
                    CopyCount(SKIPPED.direction, SKIPPED.level, False, 1),
                ]
            )
        )
        assert store.copy_counts(BEN.id) == ()
        assert store.copy_counts(ANNA.id, workspace="other") == ()

    def test_levels_set_the_level_of_every_synced_copy_of_a_direction(self, store: Store) -> None:
        """BatchResult.levels rewrites the level of the mailbox's synced copies in a direction,
        before its items are stored; copies kept out, other directions and other mailboxes keep
        theirs."""
        store.apply_batch(batch(ANNA, item(store, mail(1), location="a"), skipped(mail(2), "b")))
        store.apply_batch(batch(BEN, item(store, mail(1), BEN, location="a")))
        store.apply_batch(
            batch(ANNA, levels=((Direction.INCOMING, SharingLevel.EVERYTHING),)),
        )
        levels = {
            d.location: (d.decision.synced, d.decision.level) for d in store.decisions(ANNA.id)
        }
        assert levels["a"] == (True, SharingLevel.EVERYTHING)
        assert levels["b"] == (False, SKIPPED.level)
        (ben,) = store.decisions(BEN.id)
        assert ben.decision.level == decide(mail(1), BEN, POLICY).level

    def test_a_reused_message_id_is_named_on_every_copy(self, store: Store) -> None:
        """Two messages with one Message-ID but other content are kept apart, and each copy's
        decision says message_id_reused."""
        first = with_stored_key(mail(1))
        forged = with_stored_key(
            Message.build(
                sender="eve@evil.example", to="anna@acme.com", message_id=first.message_id, text="x"
            )
        )
        store.apply_batch(batch(ANNA, item(store, first, location="a")))
        store.apply_batch(batch(BEN, item(store, forged, BEN, location="b")))
        assert first.key != forged.key
        for mailbox_id in (ANNA.id, BEN.id):
            (copy,) = store.decisions(mailbox_id)
            assert Reason.MESSAGE_ID_REUSED in copy.decision.reasons

    def test_a_batch_planned_against_old_contacts_is_refused_whole(self, store: Store) -> None:
        """A batch carrying an older contacts version raises StaleBatchError and stores nothing,
        its cursor included; the current version passes."""
        version = store.contacts_version()
        store.apply_contact_change(ContactChange(saved=(contact("kim"),)))
        assert store.contacts_version() > version
        before = snapshot(store)
        stale = batch(ANNA, item(store, mail(1)), cursor="c9", contacts_version=version)
        with pytest.raises(StaleBatchError):
            store.apply_batch(stale)
        assert snapshot(store) == before
        assert store.load_state(ANNA.id) == MailboxState()
        fresh = batch(
            ANNA, item(store, mail(1)), cursor="c9", contacts_version=store.contacts_version()
        )
        store.apply_batch(fresh)
        assert store.load_state(ANNA.id).cursor == "c9"
        assert [s.contacts[0] for s in store.mailbox_messages(ANNA.id)] == ["kim"]

    def test_a_batch_keeps_the_stored_listing_unless_it_brings_one(self, store: Store) -> None:
        """A batch without a listing token keeps the stored one; one with a token replaces it."""
        store.save_state(ANNA.id, MailboxState("c1", SyncState(), "token-1"))
        store.apply_batch(batch(ANNA, item(store, mail(1)), cursor="c2"))
        assert store.load_state(ANNA.id) == MailboxState("c2", SyncState(), "token-1")
        store.apply_batch(batch(ANNA, cursor="c3", listing="token-2"))
        assert store.load_state(ANNA.id).listing == "token-2"

    # --- Threads ----------------------------------------------------------------------------

    def test_every_stored_message_has_its_thread_id(self, store: Store) -> None:
        """A reply shares its parent's thread; an unrelated message has its own; a thread's
        messages are read page by page, oldest first."""
        root, reply, other = _conversation()[0], _conversation()[1], mail(9)
        store.apply_batch(batch(ANNA, item(store, reply), item(store, root), item(store, other)))
        stored = {s.message.key: s.thread for s in store.mailbox_messages(ANNA.id)}
        assert stored == thread_ids([root, reply, other])
        assert stored[root.key] == stored[reply.key] != stored[other.key]
        page = store.thread_messages(str(stored[root.key]))
        assert [s.message.key for s in page.messages] == [root.key, reply.key]
        assert page.next is None

    def test_a_missing_parent_arriving_later_joins_the_thread(self, store: Store) -> None:
        """Two replies whose common parent is missing are two threads until it arrives in a
        later batch, then one; the parent leaving splits them again."""
        root, left, right = _split_conversation()
        store.apply_batch(batch(ANNA, item(store, left), item(store, right)))
        before = {s.message.key: s.thread for s in store.mailbox_messages(ANNA.id)}
        assert before[left.key] != before[right.key]
        store.apply_batch(batch(ANNA, item(store, root)))
        joined = {s.message.key: s.thread for s in store.mailbox_messages(ANNA.id)}
        assert joined == thread_ids([root, left, right])
        assert len(set(joined.values())) == 1
        store.apply_batch(batch(ANNA, gone=(f"inbox/{root.key}",)))
        after = {s.message.key: s.thread for s in store.mailbox_messages(ANNA.id)}
        assert after == thread_ids([left, right]) == before

    def test_threads_do_not_depend_on_the_order_mail_arrives_in(self) -> None:
        """Whatever batches and order the conversation arrives in, and whichever messages
        leave again, the stored thread ids are those of threading the stored set at once."""

        @settings(
            max_examples=self.examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(st.permutations(range(len(_THREADED))), st.integers(1, 4), st.data())
        def same(order: list[int], size: int, data: st.DataObject) -> None:
            store = self.make_store()
            try:
                messages = [_THREADED[i] for i in order]
                for start in range(0, len(messages), size):
                    chunk = messages[start : start + size]
                    store.apply_batch(batch(ANNA, *(item(store, m) for m in chunk)))
                gone = data.draw(st.sets(st.sampled_from(order), max_size=3))
                locations = tuple(f"inbox/{_THREADED[i].key}" for i in sorted(gone))
                store.apply_batch(batch(ANNA, gone=locations))
                kept = [_THREADED[i] for i in order if i not in gone]
                stored = {s.message.key: s.thread for s in store.mailbox_messages(ANNA.id)}
                assert stored == thread_ids(kept)
            finally:
                self.close_store(store)

        same()

    # --- Pages --------------------------------------------------------------------------------

    def test_pages_read_every_message_once_in_order(self, store: Store) -> None:
        """A contact's, a company's and a thread's messages come page by page, oldest first,
        undated last; the pages together are the whole read, whatever the limit."""
        kim = contact("kim", KIM, company_domain="client.example")
        store.apply_contact_change(
            ContactChange(saved=(kim,), companies=(Company("client.example", "Client"),))
        )
        undated = Message.build(sender=KIM, to="anna@acme.com", message_id="<u1@x>")
        undated2 = Message.build(sender=KIM, to="anna@acme.com", message_id="<u2@x>", text="2")
        same_time = [
            mail(2),
            Message.build(
                sender=KIM,
                to="anna@acme.com",
                subject="T",
                message_id="<t@x>",
                sent_at=mail(2).sent_at,
            ),
        ]
        messages = [mail(1), mail(3), *same_time, undated, undated2, mail(5)]
        store.apply_batch(batch(ANNA, *(item(store, m) for m in messages)))
        whole = [s.message.key for s in store.messages_for_contact("kim")]
        assert len(whole) == len(messages)
        for limit in (1, 2, 3, 50):
            assert _keys(partial(store.contact_messages, "kim", limit=limit)) == whole
            assert _keys(partial(store.company_messages, "client.example", limit=limit)) == whole
        assert store.contact_messages("nobody") == Page(())

    def test_pages_are_the_whole_read_whatever_the_mail(self) -> None:
        """Mail at few distinct times (many ties), some undated, naming the contact once or
        twice and in two mailboxes: every limit's pages, joined, are exactly the stored
        messages of the whole read (holdings, contacts and threads included), in order."""

        @settings(
            max_examples=self.examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(
            st.lists(
                st.tuples(st.none() | st.integers(0, 3), st.booleans(), st.booleans()),
                min_size=1,
                max_size=12,
            ),
            st.integers(1, 5),
        )
        def whole(shapes: list[tuple[int | None, bool, bool]], limit: int) -> None:
            store = self.make_store()
            try:
                kim = contact("kim", KIM, company_domain="client.example")
                store.apply_contact_change(
                    ContactChange(saved=(kim,), companies=(Company("client.example", "Kim"),))
                )
                for n, (day, twice, both) in enumerate(shapes):
                    message = Message.build(
                        sender=f"Kim Lee <{KIM}>",
                        to="anna@acme.com, ben@acme.com",
                        cc=KIM if twice else (),
                        subject=f"S{n}",
                        message_id=f"<p{n}@client.example>",
                        sent_at=None if day is None else NOW - day * timedelta(days=1),
                    )
                    items = [batch(ANNA, item(store, message))]
                    if both:
                        items.append(batch(BEN, item(store, message, BEN)))
                    for each in items:
                        store.apply_batch(each)
                for read, everything in (
                    (partial(store.contact_messages, "kim"), store.messages_for_contact("kim")),
                    (
                        partial(store.company_messages, "client.example"),
                        store.messages_for_company("client.example"),
                    ),
                ):
                    assert _pages(partial(read, limit=limit)) == list(everything)
                    assert len(everything) == len(shapes)
            finally:
                self.close_store(store)

        whole()

    def test_a_cursor_stays_put_while_mail_arrives(self, store: Store) -> None:
        """Mail stored between two pages before the cursor is not read; after it, it is."""
        kim = contact("kim", KIM)
        store.apply_contact_change(ContactChange(saved=(kim,)))
        store.apply_batch(batch(ANNA, *(item(store, mail(n)) for n in (5, 4, 2, 1))))
        first = store.contact_messages("kim", limit=2)
        assert [s.message.key for s in first.messages] == [mail(5).key, mail(4).key]
        store.apply_batch(batch(ANNA, item(store, mail(6)), item(store, mail(3))))
        second = store.contact_messages("kim", limit=10, after=first.next)
        assert [s.message.key for s in second.messages] == [mail(n).key for n in (3, 2, 1)]
        assert second.next is None

    def test_a_page_limit_below_one_or_a_foreign_cursor_is_refused(self, store: Store) -> None:
        """A limit below one and a cursor no page gave raise PageError naming the parameter."""
        with pytest.raises(PageError, match=r"^limit must be at least 1, not 0\.$"):
            store.contact_messages("kim", limit=0)
        with pytest.raises(PageError, match=r"^after must be a cursor a page gave"):
            store.thread_messages("thr-1", after="page 2")

    # --- Companies ----------------------------------------------------------------------------

    def test_a_company_timeline_holds_every_message_on_its_domains(self, store: Store) -> None:
        """Impersonal senders and people who are no contact count, on every domain of the
        company; the domain is read in any form; merging re-links exactly both timelines."""
        store.apply_contact_change(
            ContactChange(
                saved=(contact("kim", KIM, company_domain="client.example"),),
                companies=(Company("client.example", "Client"), Company("other.example", "O")),
            )
        )
        support = Message.build(  # Anna writes to a role address: synced, never a contact
            sender="anna@acme.com",
            to="support@client.example",
            subject="Ticket",
            message_id="<s1@client.example>",
        )
        stranger = Message.build(
            sender="lee@eu.client.example", to="anna@acme.com", message_id="<s2@x>", sent_at=NOW
        )
        uk = Message.build(
            sender="pat@client.co.uk", to="anna@acme.com", message_id="<s3@x>", sent_at=NOW
        )
        other = Message.build(
            sender="joe@other.example", to="anna@acme.com", message_id="<s4@x>", sent_at=NOW
        )
        store.apply_batch(
            batch(ANNA, *(item(store, m) for m in (mail(1), support, stranger, uk, other)))
        )
        keys = {s.message.key for s in store.messages_for_company("Client.EXAMPLE.")}
        assert keys == {mail(1).key, support.key, stranger.key}
        store.apply_company_change(
            plan_add_domain(store.companies(), "client.example", "client.co.uk")
        )
        assert store.companies()[0] == Company("client.example", "Client", ("client.co.uk",))
        keys = {s.message.key for s in store.messages_for_company("client.co.uk")}
        assert keys == {mail(1).key, support.key, stranger.key, uk.key}
        store.apply_company_change(plan_merge(store.companies(), "client.example", "other.example"))
        merged = {s.message.key for s in store.messages_for_company("@other.example")}
        assert merged == keys | {other.key}
        assert store.company_counts() == (
            CompanyCount(
                Company("client.example", "Client", ("client.co.uk", "other.example")), 1, 5
            ),
        )
        assert store.messages_for_company("gmail.com") == ()

    def test_a_company_holding_a_domain_is_not_created_again(self, store: Store) -> None:
        """A batch bringing a company for a domain another company holds stores none."""
        store.apply_contact_change(
            ContactChange(companies=(Company("client.example", "Client", ("client.de",)),))
        )
        store.apply_batch(batch(ANNA, companies=(Company("client.de", "Client GmbH"),)))
        assert store.companies() == (Company("client.example", "Client", ("client.de",)),)

    def test_contacts_are_found_by_id_and_by_key(self, store: Store) -> None:
        """`contact` and `contacts_with_key` answer one contact without the whole index."""
        kim = contact("kim", KIM, ["kim.lee@client.example"])
        old = contact("old", "kim.lee@client.example", created_at=NOW - timedelta(days=3))
        store.apply_contact_change(ContactChange(saved=(kim, old)))
        assert store.contact("kim") == kim
        assert store.contact("nobody") is None
        assert store.contacts_with_key("kim.lee@client.example") == (kim, old)
        assert store.contacts_with_key("nobody@client.example") == ()

    # --- Properties -----------------------------------------------------------------------

    def test_the_store_agrees_with_the_in_memory_store(self) -> None:
        """Any sequence of batches and contact changes leaves the store answering as
        `InMemoryStore` does."""

        @settings(
            max_examples=self.examples,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(operations)
        def agree(ops: list[tuple[str, int, object]]) -> None:
            memory = InMemoryStore()
            store = self.make_store()
            try:
                _run(memory, ops)
                _run(store, ops)
                assert snapshot(store) == snapshot(memory)
            finally:
                self.close_store(store)

        agree()

    # --- Events (mailbind.calendars.EventStore) --------------------------------------------

    def test_every_store_keeps_events(self, store: Store) -> None:
        """Each store is also an `EventStore`, with nothing in it at first."""
        assert isinstance(store, EventStore)
        assert store.mailbox_events("anna") == ()
        assert store.events_for_contact("c1") == ()
        assert store.event_resources("anna", "work") == {}

    def test_an_event_is_stored_once_with_links_and_withheld_when_private(
        self, store: Store
    ) -> None:
        """Two calendars holding one event store it once; its participants link to contacts;
        a private event reads as busy to anyone but its owner."""
        assert isinstance(store, EventStore)
        calendar = ListCalendar("work")
        calendar.put("r1", _event(1))
        calendar.put("r2", _event(2, private=True))
        sync_calendar(calendar, store, ANNA, POLICY, now=NOW)
        sync_calendar(calendar, store, BEN, POLICY, now=NOW, calendar="ben-work")
        held = store.mailbox_events(ANNA.id)
        assert [s.event.key for s in held] == ["uid-1", "uid-2"]
        assert [len(s.holdings) for s in held] == [2, 2]
        (kim,) = store.contact_index()
        assert [s.event.key for s in store.events_for_contact(kim.id)] == ["uid-1", "uid-2"]
        assert store.events_for_company("client.example") == store.events_for_contact(kim.id)
        private = held[1]
        assert private.seen_by("anna@acme.com") == private.event
        busy = private.seen_by("carl@acme.com")
        assert busy.busy
        assert (busy.title, busy.attendees, busy.organizer) == (None, (), None)
        assert not private.listed_for("carl@acme.com")
        assert private.listed_for("ben@acme.com")

    def test_a_resource_read_again_or_gone_replaces_its_copies(self, store: Store) -> None:
        """A changed resource replaces its copies (a newer sequence wins); a cancelled event and
        a deleted resource leave nothing."""
        assert isinstance(store, EventStore)
        calendar = ListCalendar("work")
        calendar.put("r1", _event(1))
        calendar.put("r2", _event(2))
        sync_calendar(calendar, store, ANNA, POLICY, now=NOW)
        calendar.put("r1", _event(1, sequence=1, title="Moved"))
        calendar.put("r2", _event(2, sequence=1, cancelled=True))
        report = sync_calendar(calendar, store, ANNA, POLICY, now=NOW)
        assert report.cancelled == 1
        (only,) = store.mailbox_events(ANNA.id)
        assert (only.event.title, only.event.sequence) == ("Moved", 1)
        assert store.event_resources(ANNA.id, "work") == {"r1": ("uid-1",)}
        calendar.remove("r1")
        assert sync_calendar(calendar, store, ANNA, POLICY, now=NOW).gone == 1
        assert store.mailbox_events(ANNA.id) == ()

    def test_contact_changes_relink_events(self, store: Store) -> None:
        """Destroying a contact unlinks its event participants, as it does mail's."""
        assert isinstance(store, EventStore)
        calendar = ListCalendar("work")
        calendar.put("r1", _event(1))
        sync_calendar(calendar, store, ANNA, POLICY, now=NOW)
        (kim,) = store.contact_index()
        destroy_contact(store, kim.id, policy=POLICY)
        (held,) = store.mailbox_events(ANNA.id)
        assert set(held.contacts) == {None}

    def test_an_event_history_ends_as_a_sync_from_scratch(self) -> None:
        """The stateful convergence property for calendars (`EventHistory`) holds."""
        factory = self.make_store
        release = self.close_store

        class Bound(EventHistory):
            make_store = staticmethod(factory)
            close_store = staticmethod(release)

        run_state_machine_as_test(
            Bound,
            settings=settings(
                max_examples=self.history_examples,
                stateful_step_count=self.history_steps,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )

    def test_a_history_ends_as_a_sync_from_scratch(self) -> None:
        """The stateful convergence property (`History`) holds for the store."""
        factory = self.make_store
        release = self.close_store

        class Bound(History):
            make_store = staticmethod(factory)
            close_store = staticmethod(release)

        run_state_machine_as_test(
            Bound,
            settings=settings(
                max_examples=self.history_examples,
                stateful_step_count=self.history_steps,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )


# --- Threads and pages -----------------------------------------------------------------------


def _threaded(
    n: int,
    subject: str,
    *,
    cites: str = "",
    sender: str = KIM,
    to: str = "anna@acme.com",
    mid: str | None = None,
) -> Message:
    """Message *n* of a conversation, citing *cites* (ids, In-Reply-To the last of them)."""
    ids = cites.split()
    headers = [("References", " ".join(f"<{i}>" for i in ids))] if ids else []
    if ids:
        headers.append(("In-Reply-To", f"<{ids[-1]}>"))
    return Message.build(
        sender=sender,
        to=to,
        subject=subject,
        headers=headers,
        message_id=mid or f"<t{n}@client.example>",
        sent_at=NOW - timedelta(hours=10 - n),
    )


def _conversation() -> tuple[Message, Message]:
    """A message and its reply."""
    return _threaded(0, "Offer"), _threaded(
        1, "Re: Offer", cites="t0@client.example", sender="anna@acme.com", to=KIM
    )


def _split_conversation() -> tuple[Message, Message, Message]:
    """A parent citing a root, and two replies: one citing the root, one only the parent."""
    root = _threaded(2, "Plan", cites="t1@client.example")
    left = _threaded(3, "Re: Plan", cites="t1@client.example", sender="anna@acme.com", to=KIM)
    right = _threaded(4, "Re: Plan", cites="t2@client.example", sender="anna@acme.com", to=KIM)
    return root, left, right


#: Messages whose threads change with what is stored: a chain with a missing parent, replies
#: joining by subject alone, a later starter of the same subject, two conversations with one
#: subject.
_THREADED = (
    _threaded(0, "Quote"),
    _threaded(1, "Re: Quote", cites="t0@client.example", sender="anna@acme.com", to=KIM),
    _threaded(2, "Re: Quote", cites="t0@client.example t1@client.example"),
    _threaded(3, "RE: quote", sender="anna@acme.com", to=KIM),
    _threaded(4, "Quote", sender="anna@acme.com", to=KIM),
    _threaded(5, "Re: Quote", cites="t9@client.example", sender="lee@client.example"),
    _threaded(6, "Quote", sender="joe@other.example"),
    _threaded(7, "Fwd: Quote", sender="anna@acme.com", to="joe@other.example"),
)


def _pages(read: Callable[..., Page]) -> list[StoredMessage]:
    """Every stored message a paginated read gives, page after page."""
    messages: list[StoredMessage] = []
    after: str | None = None
    while True:
        page = read(after=after)
        messages += page.messages
        if page.next is None:
            return messages
        after = page.next


def _keys(read: Callable[..., Page]) -> list[str]:
    """Every key a paginated read gives, page after page."""
    keys: list[str] = []
    after: str | None = None
    while True:
        page = read(after=after)
        keys += [s.message.key for s in page.messages]
        if page.next is None:
            return keys
        after = page.next


# --- The property against InMemoryStore --------------------------------------------------------

_UNIVERSE = [mail(n, to=to) for n, to in enumerate(["anna@acme.com", "ben@acme.com, x@y.io"], 1)]
_OWNERS = [ANNA, BEN]
_ADDRESSES = [KIM, "x@y.io"]

operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("batch"),
            st.integers(0, 1),
            st.lists(st.tuples(st.integers(0, 1), st.booleans()), max_size=3),
        ),
        st.tuples(st.just("remove"), st.integers(0, 1), st.lists(st.integers(0, 1), max_size=2)),
        st.tuples(st.just("save"), st.integers(0, 1), st.integers(0, 3)),
        st.tuples(st.just("destroy"), st.integers(0, 1), st.integers(0, 3)),
        st.tuples(st.just("soft_delete"), st.integers(0, 1), st.integers(0, 3)),
    ),
    max_size=8,
)


def _run(store: Store, ops: list[tuple[str, int, Any]]) -> None:
    for op, who, what in ops:
        if op == "batch":
            items = [
                item(store, _UNIVERSE[n], _OWNERS[who]) if keep else skipped(_UNIVERSE[n])
                for n, keep in what
            ]
            store.apply_batch(batch(_OWNERS[who], *items, cursor=f"c{len(items)}"))
        elif op == "remove":
            gone = tuple(f"inbox/{_UNIVERSE[n].key}" for n in what)
            store.apply_batch(batch(_OWNERS[who], gone=gone))
        else:
            contact_id = f"c{what}"
            index = store.contact_index()
            if op == "save":
                created_at = NOW - timedelta(days=int(what))
                save_contact(store, contact(contact_id, _ADDRESSES[who], created_at=created_at))
            elif contact_id in index and op == "destroy":
                destroy_contact(store, contact_id)
            elif contact_id in index:
                soft_delete_contact(store, contact_id, at=NOW)


# --- The stateful convergence property ----------------------------------------------------------

HISTORY_NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HISTORY_SENT_AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


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
        sent_at=HISTORY_SENT_AT + timedelta(minutes=n),
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
    _mail(
        9,
        "anna@acme.com",
        "kim@client.example",
        headers=[("References", "<m0@mail.example> <m8@mail.example>")],
    ),
)
VIEWERS = ("anna@acme.com", "ben@acme.com", "carl@acme.com")
FOLDER_FLAGS: tuple[frozenset[Flag], ...] = (
    frozenset(),
    frozenset({Flag.TRASH}),
    frozenset({Flag.SENT}),
    frozenset({Flag.SPAM}),
)
LEVELS = tuple(SharingLevel)


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
            (
                s.message.key,
                s.thread or "",
                tuple((h.mailbox.id, h.direction.value) for h in s.holdings),
            )
            for s in store.mailbox_messages(mailbox.id, workspace=workspace)
        )
    return seen


def yes(_changes: object) -> bool:
    """Confirm every change of settings."""
    return True


class History(RuleBasedStateMachine):
    """Two mailboxes of one workspace, their sources, the settings and the user's contacts."""

    #: Makes each store the history uses; `StoreContract` binds its own ``make_store``.
    make_store: Callable[[], Store] = staticmethod(InMemoryStore)
    #: Releases a store the history is done with.
    close_store: Callable[[Store], None] = staticmethod(close_store)

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
        self.clock = HISTORY_NOW

    def teardown(self) -> None:
        """Release the history's store."""
        self.close_store(self.store)

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
                now=HISTORY_NOW,
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
            sync_mailbox(source, fresh, self.mailbox(name), self.policy(), now=HISTORY_NOW)
        try:
            assert reads(self.store) == reads(fresh)
        finally:
            self.close_store(fresh)

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
                    now=HISTORY_NOW,
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
                now=HISTORY_NOW,
                dry_run=True,
            )
        assert reads(self.store) == before
        assert {n: self.store.load_state(n) for n in ("anna", "ben")} == states


# --- Calendars -------------------------------------------------------------------------------

_WHEN = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


def _event(
    n: int,
    *,
    sequence: int = 0,
    title: str | None = None,
    private: bool = False,
    cancelled: bool = False,
    attendees: tuple[str, ...] = ("anna@acme.com",),
    organizer: str = KIM,
) -> Event:
    """Event ``uid-n``: organised by *organizer*, with *attendees*."""
    return Event.build(
        uid=f"uid-{n}",
        organizer=organizer,
        attendees=attendees,
        start=_WHEN + timedelta(days=n),
        end=_WHEN + timedelta(days=n, hours=1),
        title=title if title is not None else f"Meeting {n} v{sequence}",
        description=f"Agenda {n} v{sequence}",
        location=f"Room {n}",
        sequence=sequence,
        private=private,
        cancelled=cancelled,
    )


#: Who an event of the history may involve, by index.
_EVENT_PEOPLE = (
    (KIM, ("anna@acme.com",)),
    ("carl@acme.com", ("anna@acme.com", "ben@acme.com")),
    ("anna@acme.com", ("pat@partner.example", "jo@gmail.com")),
    ("ben@acme.com", tuple(f"guest{i}@crowd.example" for i in range(4))),
)


def event_reads(store: Store, workspace: str = "default") -> dict[str, object]:
    """What every viewer reads of every contact's, company's and mailbox's events."""
    assert isinstance(store, EventStore)
    index = store.contact_index(workspace=workspace)
    seen: dict[str, object] = {}
    for contact in sorted(index, key=lambda c: c.id):
        held = store.events_for_contact(contact.id, workspace=workspace)
        for viewer in VIEWERS:
            seen[f"contact {contact.id} by {viewer}"] = sorted(
                encode_event(s.seen_by(viewer)) for s in held if s.listed_for(viewer)
            )
    for company in store.companies(workspace=workspace):
        held = store.events_for_company(company.domain, workspace=workspace)
        seen[f"company {company.domain}"] = sorted(s.event.key for s in held)
    for name in ("anna", "ben"):
        for viewer in VIEWERS:
            seen[f"calendar {name} by {viewer}"] = sorted(
                (encode_event(s.seen_by(viewer)), tuple(h.mailbox.id for h in s.holdings))
                for s in store.mailbox_events(name, workspace=workspace)
            )
    seen["contacts"] = sorted((c.id, c.deleted_at is not None) for c in index)
    return seen


class EventHistory(RuleBasedStateMachine):
    """Two calendars of one workspace, the settings and the user's contacts.

    An organiser's change reaches every calendar holding the event (as invitations do), so the
    calendars hold one version of each event when they sync.
    """

    make_store: Callable[[], Store] = staticmethod(InMemoryStore)
    close_store: Callable[[Store], None] = staticmethod(close_store)

    def __init__(self) -> None:
        super().__init__()
        self.store = self.make_store()
        self.calendars = {"anna": ListCalendar("anna-cal"), "ben": ListCalendar("ben-cal")}
        self.versions: dict[int, Event] = {}
        self.blocklist: frozenset[str] = frozenset()
        self.levels = {
            "anna": (SharingLevel.SUBJECT, SharingLevel.EVERYTHING),
            "ben": (SharingLevel.METADATA, SharingLevel.METADATA),
        }
        self.max_attendees = 50

    def teardown(self) -> None:
        self.close_store(self.store)

    def policy(self) -> Policy:
        return Policy(["acme.com"], blocklist=sorted(self.blocklist))

    def mailbox(self, name: str) -> Mailbox:
        incoming, outgoing = self.levels[name]
        return Mailbox(f"{name}@acme.com", (), incoming, outgoing, id=name)

    @rule(
        name=st.sampled_from(["anna", "ben"]),
        n=st.integers(0, 5),
        people=st.integers(0, len(_EVENT_PEOPLE) - 1),
        private=st.booleans(),
    )
    def invite(self, name: str, n: int, people: int, private: bool) -> None:
        """An invitation lands in a calendar (the event as it stands, or a new one)."""
        event = self.versions.get(n)
        if event is None:
            organizer, attendees = _EVENT_PEOPLE[people]
            event = _event(n, organizer=organizer, attendees=attendees, private=private)
            self.versions[n] = event
        self.calendars[name].put(f"{name}/{n}.ics", event)

    @precondition(lambda self: bool(self.versions))
    @rule(data=st.data(), cancel=st.booleans())
    def organiser_changes(self, data: st.DataObject, cancel: bool) -> None:
        """The organiser moves or cancels an event: every calendar holding it gets the news."""
        n = data.draw(st.sampled_from(sorted(self.versions)))
        old = self.versions[n]
        new = Event.build(
            uid=old.uid,
            organizer=old.organizer,
            attendees=old.attendees,
            start=old.start,
            end=old.end,
            title=f"Meeting {n} v{old.sequence + 1}",
            sequence=old.sequence + 1,
            private=old.private,
            cancelled=cancel,
        )
        self.versions[n] = new
        for name, calendar in self.calendars.items():
            if f"{name}/{n}.ics" in calendar.held():
                calendar.put(f"{name}/{n}.ics", new)

    @precondition(lambda self: any(c.held() for c in self.calendars.values()))
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        """The owner deletes an event from a calendar."""
        calendar = data.draw(st.sampled_from([c for c in self.calendars.values() if c.held()]))
        calendar.remove(data.draw(st.sampled_from(sorted(calendar.held()))))

    @rule(
        change=st.one_of(
            st.tuples(st.just("block"), st.sampled_from(["@client.example", "jo@gmail.com"])),
            st.tuples(st.just("crowd"), st.sampled_from([2, 3, 50])),
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
        """Block or unblock, change the attendee limit, share more or less."""
        what, value = change
        if what == "block":
            self.blocklist = self.blocklist ^ {str(value)}
        elif what == "crowd":
            assert isinstance(value, int)
            self.max_attendees = value
        else:
            assert isinstance(value, tuple)
            name, incoming, outgoing = value
            self.levels[name] = (incoming, outgoing)

    @rule(data=st.data(), how=st.sampled_from(["soft_delete", "destroy", "suppress"]))
    def contact_change(self, data: st.DataObject, how: str) -> None:
        """The user deletes or destroys a contact, or suppresses an address."""
        contacts = sorted(self.store.contact_index(), key=lambda c: c.id)
        if how == "suppress" or not contacts:
            suppress_address(self.store, "pat@partner.example", policy=self.policy())
            return
        contact = data.draw(st.sampled_from(contacts))
        if how == "soft_delete":
            soft_delete_contact(self.store, contact.id, at=HISTORY_NOW, policy=self.policy())
        else:
            destroy_contact(self.store, contact.id, policy=self.policy())

    @rule()
    def sync(self) -> None:
        """Sync both calendars, the changed settings confirmed; the store then reads as one
        synced once from scratch."""
        for name in ("anna", "ben"):
            sync_calendar(
                self.calendars[name],
                self.store,  # type: ignore[arg-type]
                self.mailbox(name),
                self.policy(),
                now=HISTORY_NOW,
                max_attendees=self.max_attendees,
                confirm=lambda change: True,
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
            now = ListCalendar(f"{name}-cal")
            for location, events in sorted(self.calendars[name].held().items()):
                now.put(location, *events)
            sync_calendar(
                now,
                fresh,  # type: ignore[arg-type]
                self.mailbox(name),
                self.policy(),
                now=HISTORY_NOW,
                max_attendees=self.max_attendees,
            )
        try:
            assert event_reads(self.store) == event_reads(fresh)
        finally:
            self.close_store(fresh)
