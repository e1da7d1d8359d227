"""The store contract, run against every store, and what SQLiteStore adds (schema, errors)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind import (
    Attachment,
    Contact,
    Decision,
    Direction,
    Mailbox,
    Message,
    Reason,
    SharingLevel,
    StoreError,
    decide,
)
from mailbind.contacts import OwnerChange, Suppression, SuppressionReason
from mailbind.engine import destroy_contact, save_contact, soft_delete_contact, suppress_address
from mailbind.identity import with_stored_key
from mailbind.schedule import SyncState, SyncStatus, failed
from mailbind.store import Recorded
from mailbind.stores import (
    BatchItem,
    BatchResult,
    Company,
    ContactChange,
    MailboxState,
    ParticipantLink,
    Store,
    decode_mailbox,
    decode_message,
    encode_mailbox,
    encode_message,
)
from mailbind.stores.sqlite import MIGRATIONS, SCHEMA_VERSION, SQLiteStore, migrate
from mailbind.testing import InMemoryStore, snapshot

from . import factories
from .strategies import messages

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
POLICY = factories.policy()
ANNA = factories.mailbox(incoming="subject", outgoing="everything")
BEN = factories.mailbox("ben@acme.com")
KIM = "kim@client.example"

SKIPPED = Decision(False, (Reason.INTERNAL,), Direction.INCOMING, SharingLevel.METADATA)


#: Message number *n* from Kim to Anna and Ben, sent *n* days before NOW, with an attachment.
mail = partial(
    factories.numbered,
    sender=f"Kim Lee <{KIM}>",
    to="anna@acme.com, ben@acme.com",
    start=NOW,
    step=-timedelta(days=1),
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
    **more: object,
) -> BatchResult:
    """A batch result for *mailbox* with *items*."""
    return BatchResult(mailbox, cursor, state or SyncState(), items, **more)  # type: ignore[arg-type]


#: A contact created at NOW unless told otherwise.
contact = partial(factories.contact, created_at=NOW)


# --- The contract --------------------------------------------------------------------------


def test_every_store_is_a_store(store: Store) -> None:
    """Each store satisfies the runtime-checkable protocol."""
    assert isinstance(store, Store)


def test_an_empty_store_knows_nothing(store: Store) -> None:
    """A new store has no mailboxes, messages, contacts, and a default state for any mailbox."""
    assert store.load_state("anyone") == MailboxState(None, SyncState())
    assert store.mailboxes() == ()
    assert list(store.decisions("anyone")) == []
    assert list(store.mailbox_messages("anyone")) == []
    assert store.messages_for_contact("c1") == ()
    assert store.messages_for_company("client.example") == ()
    assert len(store.contact_index()) == 0
    assert store.companies() == ()


def test_a_synced_message_is_stored_complete_with_its_link(store: Store) -> None:
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


def test_the_cursor_and_state_are_stored_with_the_batch(store: Store) -> None:
    """apply_batch stores the cursor and sync state it carries."""
    state = SyncState(SyncStatus.IDLE, last_success=NOW)
    store.apply_batch(batch(ANNA, item(store, mail(1)), cursor="offset:10", state=state))
    assert store.load_state(ANNA.id) == MailboxState("offset:10", state)
    assert store.load_state(BEN.id) == MailboxState()


def test_save_state_stores_cursor_and_state(store: Store) -> None:
    """A failure recorded outside a batch is read back, cursor included."""
    state = failed(SyncState(), NOW, "The server did not answer.")
    store.save_state(ANNA.id, MailboxState("c9", state))
    assert store.load_state(ANNA.id) == MailboxState("c9", state)


def test_a_skipped_message_keeps_its_decision_but_no_content(store: Store) -> None:
    """Every decision is kept, but a message that is not synced is not stored."""
    message = mail(1)
    store.apply_batch(batch(ANNA, skipped(message, "inbox#7")))
    assert list(store.mailbox_messages(ANNA.id)) == []
    (decision,) = store.decisions(ANNA.id)
    assert decision.decision == SKIPPED
    assert decision.location == "inbox#7"


def test_one_message_in_two_mailboxes_is_stored_once_with_two_links(store: Store) -> None:
    """The same Message-ID synced by two mailboxes is one message held twice."""
    message = mail(1)
    store.apply_batch(batch(ANNA, item(store, message)))
    store.apply_batch(batch(BEN, item(store, message, BEN)))
    (from_anna,) = store.mailbox_messages(ANNA.id)
    (from_ben,) = store.mailbox_messages(BEN.id)
    assert from_anna == from_ben
    assert [h.mailbox.id for h in from_anna.holdings] == [ANNA.id, BEN.id]
    assert len(snapshot(store)["messages"]) == 1  # type: ignore[arg-type]


def test_a_third_viewer_reads_the_most_permissive_level(store: Store) -> None:
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


def test_changing_a_mailbox_level_changes_what_others_read(store: Store) -> None:
    """Links follow the mailbox's current sharing levels."""
    message = mail(1)
    store.apply_batch(batch(BEN, item(store, message, BEN)))
    open_ben = Mailbox("ben@acme.com", incoming="everything")
    store.apply_batch(batch(open_ben))
    (stored,) = store.mailbox_messages(BEN.id)
    assert stored.level_for("carl@acme.com") is SharingLevel.EVERYTHING
    assert store.mailboxes() == (open_ben,)


def test_applying_a_batch_twice_is_applying_it_once(store: Store) -> None:
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
def test_a_synced_copy_wins_whatever_the_order(store: Store, synced_first: bool) -> None:
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

    other = InMemoryStore() if isinstance(store, SQLiteStore) else SQLiteStore(":memory:")
    for copy in copies:
        other.apply_batch(batch(ANNA, copy))
    assert snapshot(other) == one_batch


def test_a_skipped_copy_or_a_gone_one_lets_go_and_the_last_holder_takes_the_message(
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


def test_contacts_of_a_batch_are_stored_and_old_participants_relinked(store: Store) -> None:
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
    assert store.companies() == (Company("client.example", "Client"),)
    assert store.messages_for_contact("nobody") == ()


def test_an_automatic_contact_never_overwrites_a_stored_one(store: Store) -> None:
    """Re-creating a contact by id (a re-sync) keeps what the store holds."""
    edited = contact("auto-kim", KIM, first_name="Kimberly")
    store.apply_contact_change(ContactChange(saved=(edited,)))
    store.apply_batch(batch(ANNA, contacts=(contact("auto-kim", KIM, first_name="Kim"),)))
    assert store.contact_index().get("auto-kim") == edited


def test_messages_are_returned_oldest_first_undated_last(store: Store) -> None:
    """Reading a contact's messages gives them in time order, then by key."""
    kim = contact("kim", KIM)
    store.apply_contact_change(ContactChange(saved=(kim,)))
    undated = Message.build(sender=KIM, to="anna@acme.com", message_id="<a@x>")
    store.apply_batch(batch(ANNA, item(store, mail(1)), item(store, undated), item(store, mail(3))))
    keys = [s.message.key for s in store.messages_for_contact("kim")]
    assert keys == [mail(3).key, mail(1).key, undated.key]


def test_contact_changes_relink_exactly_the_changed_keys(store: Store) -> None:
    """Destroying a contact passes its messages to the next candidate, and records suppression."""
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


def test_soft_delete_keeps_messages_and_recreating_by_hand_lifts_suppression(store: Store) -> None:
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


def test_a_requested_suppression_is_stored(store: Store) -> None:
    """An erasure request suppresses an address no contact holds."""
    change = suppress_address(store, "Gone@Client.Example")
    assert change.suppressed == (Suppression("gone@client.example", SuppressionReason.REQUESTED),)
    assert "gone@client.example" in store.contact_index().suppressed


def test_contacts_keep_every_field(store: Store) -> None:
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


def test_hostile_keys_are_data(store: Store) -> None:
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


@settings(max_examples=60)
@given(messages())
def test_messages_survive_the_text_form(message: Message) -> None:
    """encode_message and decode_message keep every field of any message."""
    assert decode_message(encode_message(message)) == message
    again = decode_message(encode_message(message))
    assert [p.address and str(p.address) for p in again.participants] == [
        p.address and str(p.address) for p in message.participants
    ]


def test_the_text_form_knows_every_field() -> None:
    """A field added to Message or Participant must be added to the stored form too."""
    import dataclasses

    from mailbind import Participant

    assert [f.name for f in dataclasses.fields(Message)] == [
        "message_id",
        "sent_at",
        "participants",
        "subject",
        "text",
        "html",
        "attachments",
        "headers",
        "flags",
        "defects",
        "level",
        "key",
    ]
    assert [f.name for f in dataclasses.fields(Participant)] == [
        "role",
        "address",
        "name",
        "raw",
        "problem",
        "group",
    ]


def test_mailboxes_survive_the_text_form() -> None:
    """encode_mailbox and decode_mailbox keep every setting."""
    mailbox = Mailbox(
        "Anna@acme.com",
        ["anna.b@acme.de"],
        "subject",
        "everything",
        create_contacts=False,
        contact_scope="sent",
        skip_free_providers=False,
        id="mb-1",
    )
    assert decode_mailbox(encode_mailbox(mailbox)) == mailbox


# --- The two stores agree ------------------------------------------------------------------

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


def _run(store: Store, ops: list[tuple[str, int, object]]) -> None:
    for op, who, what in ops:
        if op == "batch":
            items = [
                item(store, _UNIVERSE[n], _OWNERS[who]) if keep else skipped(_UNIVERSE[n])
                for n, keep in what  # type: ignore[attr-defined]
            ]
            store.apply_batch(batch(_OWNERS[who], *items, cursor=f"c{len(items)}"))
        elif op == "remove":
            gone = tuple(f"inbox/{_UNIVERSE[n].key}" for n in what)  # type: ignore[attr-defined]
            store.apply_batch(batch(_OWNERS[who], gone=gone))
        else:
            contact_id = f"c{what}"
            index = store.contact_index()
            if op == "save":
                created_at = NOW - timedelta(days=int(what))  # type: ignore[call-overload]
                save_contact(store, contact(contact_id, _ADDRESSES[who], created_at=created_at))
            elif contact_id in index and op == "destroy":
                destroy_contact(store, contact_id)
            elif contact_id in index:
                soft_delete_contact(store, contact_id, at=NOW)


@settings(max_examples=40)
@given(operations)
def test_the_stores_agree(ops: list[tuple[str, int, object]]) -> None:
    """Any sequence of batches and contact changes leaves both stores answering alike."""
    memory = InMemoryStore()
    with SQLiteStore(":memory:") as sqlite:
        _run(memory, ops)
        _run(sqlite, ops)
        assert snapshot(sqlite) == snapshot(memory)


# --- SQLiteStore: the file -----------------------------------------------------------------


def test_the_database_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    """The pragmas a crash-safe store relies on are set."""
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        db = store._db
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_data_survives_reopening(tmp_path: Path) -> None:
    """Everything stored is there when the file is opened again."""
    path = tmp_path / "s.sqlite"
    with SQLiteStore(path) as store:
        save_contact(store, contact("kim", KIM))
        store.apply_batch(batch(ANNA, item(store, mail(1)), skipped(mail(2))))
        before = snapshot(store)
    with SQLiteStore(path) as store:
        assert snapshot(store) == before


def test_a_corrupt_file_is_one_clear_store_error(tmp_path: Path) -> None:
    """A file that is not a database names the path and the reason."""
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError) as info:
        SQLiteStore(path)
    assert (
        str(info.value)
        == f"The database {str(path)!r} could not be opened: file is not a database."
    )
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


def test_a_missing_directory_is_one_clear_store_error(tmp_path: Path) -> None:
    """A path in a directory that does not exist names the path."""
    path = tmp_path / "nowhere" / "s.sqlite"
    with pytest.raises(StoreError) as info:
        SQLiteStore(path)
    assert str(info.value) == (
        f"The database {str(path)!r} could not be opened: unable to open database file."
    )


def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    """An SQLite file of another program is never written to."""
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    db.close()
    with pytest.raises(StoreError) as info:
        SQLiteStore(path)
    assert str(info.value) == f"The database {str(path)!r} is not a mailbind store."


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer mailbind asks for an upgrade."""
    path = tmp_path / "new.sqlite"
    SQLiteStore(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO mailbind_schema (version, description) VALUES (99, 'future')")
    db.commit()
    db.close()
    with pytest.raises(StoreError) as info:
        SQLiteStore(path)
    assert str(info.value) == (
        f"The database {str(path)!r} has schema version 99, newer than this mailbind reads "
        f"({SCHEMA_VERSION}): upgrade mailbind."
    )


def test_settings_are_recorded_with_a_version_and_a_time(tmp_path: Path) -> None:
    """Each batch records the mailbox's settings and the policy; a change is a new version with
    its time, the history is kept, and it all survives reopening."""
    path = str(tmp_path / "settings.db")
    later = NOW + timedelta(hours=1)
    with SQLiteStore(path) as store:
        assert store.recorded_policy() is None
        assert store.recorded_mailbox(ANNA.id) is None
        store.apply_batch(batch(ANNA, policy='{"p": 1}', at=NOW))
        store.apply_batch(batch(ANNA, policy='{"p": 1}', at=later))
        assert store.recorded_policy() == Recorded('{"p": 1}', 1, NOW)
        store.apply_batch(batch(ANNA, policy='{"p": 2}', at=later))
        changed = replace(ANNA, incoming=SharingLevel.EVERYTHING)
        store.apply_batch(batch(changed, at=later))
    with SQLiteStore(path) as store:
        assert store.recorded_policy() == Recorded('{"p": 2}', 2, later)
        recorded = store.recorded_mailbox(ANNA.id)
        assert recorded is not None
        assert (decode_mailbox(recorded.settings), recorded.version) == (changed, 2)
        assert [r.settings for r in store.settings_history()] == ['{"p": 1}', '{"p": 2}']
        assert [r.version for r in store.settings_history(ANNA.id)] == [1, 2]
        assert store.recorded_policy(workspace="other") is None


def test_migrations_are_numbered_in_order() -> None:
    """Each step takes the schema one version further."""
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[-1].version == SCHEMA_VERSION


def test_a_version_1_database_is_upgraded_with_its_data(tmp_path: Path) -> None:
    """Opening a version 1 database applies the later steps and keeps every row."""
    path = tmp_path / "v1.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, str(path), upto=1) == 0
    message = mail(1)
    db.execute(
        "INSERT INTO mailboxes (id, settings) VALUES (?, ?)", (ANNA.id, encode_mailbox(ANNA))
    )
    db.execute(
        "INSERT INTO messages (key, message_id, sent_at, document) VALUES (?, ?, ?, ?)",
        (message.key, message.message_id, 0.0, encode_message(message)),
    )
    db.execute(
        "INSERT INTO links (mailbox_id, message_key, direction, level) VALUES (?, ?, ?, ?)",
        (ANNA.id, message.key, "incoming", "subject"),
    )
    db.execute(
        "INSERT INTO decisions (mailbox_id, message_key, synced, reasons, direction, level) "
        "VALUES (?, ?, 1, 'external', 'incoming', 'subject')",
        (ANNA.id, message.key),
    )
    db.close()
    with SQLiteStore(path) as store:
        versions = store._db.execute("SELECT version FROM mailbind_schema ORDER BY 1").fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        (stored,) = store.mailbox_messages(ANNA.id)
        assert stored.message == with_stored_key(message)
        (decision,) = store.decisions(ANNA.id)
        assert decision.location == f"key:{message.key}"
        assert decision.decision.reasons == (Reason.EXTERNAL,)
        store.apply_batch(batch(ANNA, item(store, with_stored_key(mail(2)), location="inbox#2")))
        assert [d.location for d in store.decisions(ANNA.id)] == [f"key:{message.key}", "inbox#2"]


def test_a_failed_batch_leaves_nothing_behind(tmp_path: Path) -> None:
    """A batch that fails half-way is rolled back whole, cursor included."""
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        store.apply_batch(batch(ANNA, item(store, mail(1)), cursor="c1"))
        before = snapshot(store)
        twice = (ParticipantLink(0, KIM, None), ParticipantLink(0, KIM, None))
        broken = BatchItem(mail(2), decide(mail(2), ANNA, POLICY), twice, "inbox/2")
        with pytest.raises(StoreError) as info:
            store.apply_batch(batch(ANNA, broken, cursor="c2"))
        assert "could not be written: UNIQUE constraint failed" in str(info.value)
        assert snapshot(store) == before
        assert store.load_state(ANNA.id).cursor == "c1"
