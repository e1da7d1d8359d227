"""Tests for mailbind.engine: sync passes, crash and re-sync safety, policy and contact changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind import (
    AuthenticationError,
    Canonicalization,
    Contact,
    ContactError,
    Defect,
    Flag,
    Mailbox,
    Message,
    Policy,
    Reason,
    SharingLevel,
    SourceError,
    TemporaryError,
)
from mailbind.engine import (
    SyncReport,
    apply_policy_change,
    auto_contact_id,
    destroy_contact,
    restore_contact,
    save_contact,
    soft_delete_contact,
    sync_mailbox,
)
from mailbind.identity import message_id_of
from mailbind.schedule import SyncState, SyncStatus
from mailbind.sources import Batch, Listing, SourceSettingError
from mailbind.stores import BatchResult, MailboxState, Store
from mailbind.stores.sqlite import SQLiteStore
from mailbind.testing import InMemoryStore, ListSource, flagged, snapshot

from . import factories
from .strategies import messages

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
POLICY = factories.policy()
ANNA = factories.mailbox(incoming="subject", outgoing="everything")
BEN = factories.mailbox("ben@acme.com")


#: Message number *n* from the sender given, sent *n* minutes after 2024-05-01.
mail = partial(
    factories.numbered,
    start=datetime(2024, 5, 1, tzinfo=UTC),
    step=timedelta(minutes=1),
    domain="mail.example",
)


def mixed_mailbox() -> list[Message]:
    """Customers, a colleague thread, a newsletter, a no-reply notification, a reply sent."""
    return [
        mail(1, "Kim Lee <kim@client.example>"),
        mail(2, "Paul <paul@eu.acme.com>"),
        mail(3, "news@shop.example", headers=[("List-Id", "<news.shop.example>")]),
        mail(4, "noreply@service.example"),
        mail(5, "anna@acme.com", to="Kim Lee <kim@client.example>, Jo <jo@other.example>"),
        mail(6, "Kim Lee <kim@client.example>", cc="x@gmail.com"),
    ]


def test_a_pass_reports_what_it_did(store: Store) -> None:
    """The report counts messages seen, synced, skipped by reason, contacts and links."""
    source = ListSource(mixed_mailbox())
    report = sync_mailbox(source, store, ANNA, POLICY, now=NOW, batch_size=4)
    assert report == SyncReport(
        mailbox_id=ANNA.id,
        seen=6,
        synced=3,
        skipped=3,
        skipped_by_reason=((Reason.INTERNAL, 1), (Reason.GROUP_SENDER, 2), (Reason.BULK, 1)),
        contacts_created=2,
        participants_linked=4,
        defects=(),
        batches=2,
        reset=False,
        cursor="0:6",
        state=SyncState(SyncStatus.IDLE, last_success=NOW),
    )
    index = store.contact_index()
    kim = index.resolve("kim@client.example")
    assert kim is not None
    assert kim.id == auto_contact_id("kim@client.example")
    assert (kim.first_name, kim.last_name, kim.created_at) == ("Kim", "Lee", NOW)
    assert index.resolve("x@gmail.com") is None
    assert [s.message.message_id for s in store.messages_for_contact(kim.id)] == [
        "m1@mail.example",
        "m5@mail.example",
        "m6@mail.example",
    ]
    assert store.load_state(ANNA.id) == MailboxState("0:6", SyncState(SyncStatus.IDLE, NOW))


def test_every_decision_is_kept(store: Store) -> None:
    """Skipped messages keep their reasons and where they stood in the source."""
    sync_mailbox(ListSource(mixed_mailbox()), store, ANNA, POLICY, now=NOW)
    decisions = {message_id_of(d.key): d for d in store.decisions(ANNA.id)}
    assert len(decisions) == 6
    assert decisions["m3@mail.example"].decision.reasons == (
        Reason.GROUP_SENDER,
        Reason.BULK,
        Reason.EXTERNAL,
    )
    assert decisions["m3@mail.example"].location == "list#2"
    assert not decisions["m2@mail.example"].decision.synced


def test_drafts_spam_and_trash_are_not_synced(store: Store) -> None:
    """What the source flags is decided on like any other rule."""
    source = ListSource(
        [
            flagged(mail(1, "kim@client.example"), Flag.DRAFT),
            flagged(mail(2, "kim@client.example"), Flag.TRASH),
        ]
    )
    report = sync_mailbox(source, store, ANNA, POLICY, now=NOW)
    assert report.skipped_by_reason == ((Reason.DRAFT, 1), (Reason.TRASH, 1))
    assert report.contacts_created == 0


def test_a_second_pass_reads_only_new_mail(store: Store) -> None:
    """After the first import, a pass fetches from the stored cursor."""
    source = ListSource(mixed_mailbox())
    sync_mailbox(source, store, ANNA, POLICY, now=NOW)
    source.append(mail(7, "kim@client.example"))
    report = sync_mailbox(source, store, ANNA, POLICY, now=LATER)
    assert (report.seen, report.synced, report.contacts_created) == (1, 1, 0)
    assert report.state == SyncState(SyncStatus.IDLE, last_success=LATER)
    assert report.participants_linked == 1


def test_a_rewritten_source_resyncs_idempotently(store: Store) -> None:
    """A source that changed underneath starts again; the store ends as after one clean pass."""
    source = ListSource(mixed_mailbox())
    sync_mailbox(source, store, ANNA, POLICY, now=NOW)
    source.replace(mixed_mailbox())
    report = sync_mailbox(source, store, ANNA, POLICY, now=NOW)
    assert report.reset
    assert report.seen == 6
    assert report.contacts_created == 0

    fresh = InMemoryStore()
    clean = ListSource(mixed_mailbox())
    clean.replace(mixed_mailbox())
    sync_mailbox(clean, fresh, ANNA, POLICY, now=NOW)
    assert snapshot(store) == snapshot(fresh)


def test_progress_is_reported_after_each_batch(store: Store) -> None:
    """The callback sees the running totals once per committed batch."""
    seen: list[tuple[int, str | None]] = []
    sync_mailbox(
        ListSource(mixed_mailbox()),
        store,
        ANNA,
        POLICY,
        now=NOW,
        batch_size=2,
        progress=lambda r: seen.append((r.seen, r.cursor)),
    )
    assert seen == [(2, "0:2"), (4, "0:4"), (6, "0:6")]


class Crashing:
    """A store that fails on its n-th batch, as a process killed mid-way would."""

    def __init__(self, store: Store, at: int) -> None:
        self.store = store
        self.left = at

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def apply_batch(self, batch: BatchResult, *, workspace: str = "default") -> None:
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt
        self.store.apply_batch(batch, workspace=workspace)


@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_a_pass_stopped_at_any_batch_finishes_as_an_uninterrupted_one(crash_at: int) -> None:
    """Stop, restart: the store ends exactly as after one pass."""
    store = InMemoryStore()
    with pytest.raises(KeyboardInterrupt):
        sync_mailbox(
            ListSource(mixed_mailbox()),
            Crashing(store, crash_at),  # type: ignore[arg-type]
            ANNA,
            POLICY,
            now=NOW,
            batch_size=2,
        )
    sync_mailbox(ListSource(mixed_mailbox()), store, ANNA, POLICY, now=NOW, batch_size=2)
    clean = InMemoryStore()
    sync_mailbox(ListSource(mixed_mailbox()), clean, ANNA, POLICY, now=NOW, batch_size=2)
    assert snapshot(store) == snapshot(clean)


@settings(max_examples=25)
@given(st.lists(messages(), max_size=12), st.integers(min_value=1, max_value=5))
def test_the_batch_size_changes_nothing_stored(batch: list[Message], size: int) -> None:
    """Messages, links and decisions do not depend on how the source splits its batches."""
    one, many = InMemoryStore(), InMemoryStore()
    sync_mailbox(ListSource(batch), one, ANNA, POLICY, now=NOW, batch_size=len(batch) + 1)
    sync_mailbox(ListSource(batch), many, ANNA, POLICY, now=NOW, batch_size=size)
    first, second = snapshot(one), snapshot(many)
    for part in ("messages", "decisions", "states"):
        assert first[part] == second[part]
    ids = [c.id for c in first["contacts"]]  # type: ignore[attr-defined]
    assert ids == [c.id for c in second["contacts"]]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (TemporaryError("The server did not answer."), SyncStatus.BACKING_OFF),
        (SourceError("The file is gone."), SyncStatus.BACKING_OFF),
        (AuthenticationError("The password was refused."), SyncStatus.NEEDS_RECONNECT),
    ],
)
def test_a_source_failure_is_recorded_and_raised(
    store: Store, error: SourceError, status: SyncStatus
) -> None:
    """The state records the failure, the cursor stays, and the error reaches the caller."""
    source = ListSource(mixed_mailbox())
    sync_mailbox(source, store, ANNA, POLICY, now=NOW)
    source.fail_next(error)
    with pytest.raises(SourceError) as info:
        sync_mailbox(source, store, ANNA, POLICY, now=LATER)
    assert info.value is error
    state = store.load_state(ANNA.id)
    assert state.cursor == "0:6"
    assert state.sync.status is status
    assert state.sync.last_failure == LATER
    assert state.sync.error == str(error)


def test_a_source_that_does_not_move_on_is_an_error(store: Store) -> None:
    """An empty, unfinished batch with the same cursor would loop for ever."""

    class Stuck:
        name = "stuck"

        def fetch(self, cursor: str | None, *, limit: int = 500) -> Batch:
            return Batch((), cursor or "", done=False)

        def listing(self, token: str | None = None) -> Listing:
            raise AssertionError("a pass that never ends never lists")

    store.save_state(ANNA.id, MailboxState("here"))
    with pytest.raises(SourceError) as info:
        sync_mailbox(Stuck(), store, ANNA, POLICY, now=NOW)
    assert str(info.value) == "The source 'stuck' returned an empty batch without moving on."


def test_a_batch_size_below_one_is_refused(store: Store) -> None:
    """The batch size is checked before anything is fetched."""
    with pytest.raises(SourceSettingError) as info:
        sync_mailbox(ListSource(), store, ANNA, POLICY, now=NOW, batch_size=0)
    assert str(info.value) == "The batch size must be at least 1, not 0."


def test_two_mailboxes_share_one_copy(store: Store) -> None:
    """A message synced by two mailboxes is stored once, with two links; others read the best."""
    shared = mail(1, "Kim Lee <kim@client.example>", to="anna@acme.com, ben@acme.com")
    sync_mailbox(ListSource([shared]), store, ANNA, POLICY, now=NOW)
    sync_mailbox(ListSource([shared]), store, BEN, POLICY, now=NOW)
    (stored,) = store.mailbox_messages(BEN.id)
    assert [h.mailbox.id for h in stored.holdings] == [ANNA.id, BEN.id]
    assert len(snapshot(store)["messages"]) == 1  # type: ignore[arg-type]
    assert stored.level_for("carl@acme.com") is SharingLevel.SUBJECT
    assert stored.seen_by("carl@acme.com").text is None
    assert stored.seen_by("ben@acme.com").text == "Body 1"
    assert len(store.contact_index()) == 1


def test_a_stricter_policy_removes_messages_and_a_looser_one_brings_them_back(
    store: Store,
) -> None:
    """Blocking a domain drops its mail; unblocking re-reads the source and restores it."""
    source = ListSource(mixed_mailbox())
    sync_mailbox(source, store, ANNA, POLICY, now=NOW)
    strict = Policy(["acme.com"], blocklist=["@client.example"])
    change = apply_policy_change(store, ANNA, POLICY, strict)
    assert tuple(map(message_id_of, change.removed)) == (
        "m1@mail.example",
        "m5@mail.example",
        "m6@mail.example",
    )
    assert (change.unchanged, change.resync) == (0, False)
    assert list(store.mailbox_messages(ANNA.id)) == []
    blocked = {message_id_of(d.key): d.decision for d in store.decisions(ANNA.id)}
    assert Reason.BLOCKLISTED in blocked["m1@mail.example"].reasons
    assert store.load_state(ANNA.id).cursor == "0:6"

    back = apply_policy_change(store, ANNA, strict, POLICY)
    assert (back.removed, back.resync) == ((), True)
    state = store.load_state(ANNA.id)
    assert state.cursor is None
    assert state.sync.requested
    report = sync_mailbox(source, store, ANNA, POLICY, now=LATER)
    assert report.synced == 3
    assert not report.state.requested
    fresh = InMemoryStore()
    sync_mailbox(ListSource(mixed_mailbox()), fresh, ANNA, POLICY, now=NOW)
    assert snapshot(store)["messages"] == snapshot(fresh)["messages"]


def test_a_policy_change_keeps_messages_another_mailbox_holds(store: Store) -> None:
    """Only this mailbox's link goes; the message stays for the other holder."""
    shared = mail(1, "kim@client.example", to="anna@acme.com, ben@acme.com")
    sync_mailbox(ListSource([shared]), store, ANNA, POLICY, now=NOW)
    sync_mailbox(ListSource([shared]), store, BEN, POLICY, now=NOW)
    apply_policy_change(store, ANNA, POLICY, Policy(["acme.com"], blocklist=["kim@client.example"]))
    (stored,) = store.mailbox_messages(BEN.id)
    assert [h.mailbox.id for h in stored.holdings] == [BEN.id]


def test_flags_alone_never_ask_for_a_resync(store: Store) -> None:
    """A draft stays a draft under any policy: no re-read is scheduled for it."""
    source = ListSource([flagged(mail(1, "kim@client.example"), Flag.DRAFT)])
    sync_mailbox(source, store, ANNA, POLICY, now=NOW)
    change = apply_policy_change(store, ANNA, POLICY, Policy(["acme.com"], sync_internal=True))
    assert not change.resync


def test_a_contact_made_by_hand_owns_earlier_mail(store: Store) -> None:
    """Creating a contact for an address already in stored mail links that mail."""
    sync_mailbox(ListSource(mixed_mailbox()), store, ANNA, POLICY, now=NOW)
    jo = Contact("jo", "jo@other.example", created_at=NOW - timedelta(days=400))
    change = save_contact(store, jo)
    assert [(c.key, c.new) for c in change.owners] == [("jo@other.example", "jo")]
    assert [s.message.message_id for s in store.messages_for_contact("jo")] == ["m5@mail.example"]
    assert store.messages_for_contact(auto_contact_id("jo@other.example")) == ()


def test_deleted_contacts_are_never_created_again(store: Store) -> None:
    """After a soft delete or a destroy, new mail from the address creates no contact."""
    source = ListSource(mixed_mailbox())
    sync_mailbox(source, store, ANNA, POLICY, now=NOW)
    kim = auto_contact_id("kim@client.example")
    jo = auto_contact_id("jo@other.example")
    soft_delete_contact(store, kim, at=NOW)
    destroy_contact(store, jo)
    source.append(
        mail(10, "kim@client.example"),
        mail(11, "jo@other.example"),
        mail(12, "anna@acme.com", to="jo@other.example"),
    )
    report = sync_mailbox(source, store, ANNA, POLICY, now=LATER)
    assert (report.seen, report.synced, report.contacts_created) == (3, 3, 0)
    index = store.contact_index()
    assert index.resolve("jo@other.example") is None
    still = index.get(kim)
    assert still is not None
    assert still.deleted_at == NOW
    assert [s.message.message_id for s in store.messages_for_contact(kim)][-1] == "m10@mail.example"


def test_a_kept_index_serves_several_passes_and_learns_their_contacts(store: Store) -> None:
    """Passes given one index store what passes that load it would, and add their contacts."""
    index = store.contact_index(POLICY.canonicalization)
    source = ListSource(mixed_mailbox())
    first = sync_mailbox(source, store, ANNA, POLICY, now=NOW, index=index)
    assert first.contacts_created == 2
    assert sorted(c.id for c in index) == sorted(c.id for c in store.contact_index())
    source.append(mail(7, "kim@client.example"), mail(8, "new@client.example"))
    second = sync_mailbox(source, store, ANNA, POLICY, now=LATER, index=index)
    assert (second.seen, second.contacts_created, second.participants_linked) == (2, 1, 2)
    assert index.resolve("new@client.example") is not None
    assert sorted(c.id for c in index) == sorted(c.id for c in store.contact_index())


def test_an_index_under_another_canonicalization_is_refused(store: Store) -> None:
    """A kept index must compare addresses as the policy does; nothing is stored otherwise."""
    index = store.contact_index(Canonicalization(strip_subaddress=True))
    with pytest.raises(ContactError) as caught:
        sync_mailbox(ListSource(mixed_mailbox()), store, ANNA, POLICY, now=NOW, index=index)
    assert str(caught.value) == (
        "The contact index and the policy must use the same canonicalization: "
        "Canonicalization(strip_subaddress=True, fold_gmail=False) is not "
        "Canonicalization(strip_subaddress=False, fold_gmail=False)."
    )
    assert store.load_state(ANNA.id) == MailboxState()


def test_contact_creation_follows_the_mailbox_switch(store: Store) -> None:
    """A mailbox with automatic creation off links known contacts but creates none."""
    quiet = Mailbox("anna@acme.com", create_contacts=False)
    save_contact(store, Contact("kim", "kim@client.example", created_at=NOW))
    report = sync_mailbox(ListSource(mixed_mailbox()), store, quiet, POLICY, now=NOW)
    assert report.contacts_created == 0
    assert report.participants_linked == 3
    assert len(store.contact_index()) == 1


def test_defects_are_counted_by_code(store: Store) -> None:
    """Messages over a limit are still recorded, and the report counts their defects."""
    broken = replace(mail(1, "kim@client.example"), defects=(Defect.BAD_DATE, Defect.TOO_LARGE))
    report = sync_mailbox(ListSource([broken, broken]), store, ANNA, POLICY, now=NOW)
    assert report.defects == (("bad_date", 2), ("too_large", 2))
    assert report.synced == 2
    assert len(list(store.mailbox_messages(ANNA.id))) == 1


@pytest.mark.parametrize(
    ("new", "resync"),
    [
        (Policy(["acme.com"], sync_internal=True), True),
        (Policy(["acme.com", "client.example"]), False),
        (Policy(["acme.com"], exclude_group_emails=False), True),
        (Policy(["acme.com"], blocklist=["@shop.example"]), False),
        (Policy(["acme.com"], externals=["paul@eu.acme.com"]), True),
        (Policy(["acme.com"], role_addresses=["support"]), True),
        (POLICY, False),
    ],
)
def test_a_resync_is_asked_only_when_skipped_mail_may_come_back(
    store: Store, new: Policy, resync: bool
) -> None:
    """Only a change that may lift a reason a skipped message has clears the cursor."""
    sync_mailbox(ListSource(mixed_mailbox()), store, ANNA, POLICY, now=NOW)
    change = apply_policy_change(store, ANNA, POLICY, new)
    assert change.resync is resync
    assert (store.load_state(ANNA.id).cursor is None) is resync


_ADDRESSES = ["kim@client.example", "jo@other.example", "x@gmail.com", "paul@eu.acme.com"]
contact_operations = st.lists(
    st.tuples(
        st.sampled_from(["save", "soft_delete", "restore", "destroy"]),
        st.sampled_from(["c1", "c2", "c3"]),
        st.sampled_from(_ADDRESSES),
        st.lists(st.sampled_from(_ADDRESSES), max_size=2),
        st.integers(min_value=0, max_value=3),
    ),
    max_size=10,
)


@settings(max_examples=30)
@given(contact_operations, st.sampled_from(["memory", "sqlite"]))
def test_stored_links_always_equal_resolving_from_scratch(
    operations: list[tuple[str, str, str, list[str], int]], kind: str
) -> None:
    """After any contact changes, each stored participant's contact is the one resolution picks."""
    from mailbind.contacts import resolve_contact

    store: Store = InMemoryStore() if kind == "memory" else SQLiteStore(":memory:")
    sync_mailbox(ListSource(mixed_mailbox()), store, ANNA, POLICY, now=NOW)
    for op, contact_id, primary, additional, days in operations:
        index = store.contact_index()
        if op == "save":
            created = NOW - timedelta(days=days)
            save_contact(store, Contact(contact_id, primary, additional, created_at=created))
        elif contact_id not in index:
            continue
        elif op == "soft_delete":
            soft_delete_contact(store, contact_id, at=NOW)
        elif op == "restore":
            restore_contact(store, contact_id)
        else:
            destroy_contact(store, contact_id)
        contacts = list(store.contact_index())
        for stored in store.mailbox_messages(ANNA.id):
            for participant, linked in zip(
                stored.message.participants, stored.contacts, strict=True
            ):
                if participant.address is not None:
                    owner = resolve_contact(participant.address, contacts)
                    assert linked == (owner and owner.id)
