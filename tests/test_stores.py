"""The store contract, run against every store, and what SQLiteStore adds (schema, errors)."""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta, timezone, tzinfo
from email.utils import format_datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind import (
    Defect,
    Flag,
    Mailbox,
    Message,
    Reason,
    SharingLevel,
    StoreError,
    codecs,
    decide,
    redact,
)
from mailbind.addresses import Role, parse_participants
from mailbind.codecs import (
    DocumentReader,
    address_record,
    decode_document,
    encode_document,
)
from mailbind.engine import save_contact
from mailbind.identity import with_stored_key
from mailbind.store import Recorded
from mailbind.stores import (
    BatchItem,
    ParticipantLink,
    Store,
    decode_mailbox,
    decode_message,
    encode_mailbox,
    encode_message,
)
from mailbind.stores.sqlite import MIGRATIONS, SCHEMA_VERSION, SQLiteStore, migrate
from mailbind.testing import InMemoryStore, snapshot
from mailbind.testing import store_contract as contract
from mailbind.testing.store_contract import StoreContract

from . import factories
from .strategies import levels, messages

# The contract suite's own examples serve the tests of what SQLiteStore adds.
NOW, POLICY, ANNA, BEN, KIM = (
    contract.NOW,
    contract.POLICY,
    contract.ANNA,
    contract.BEN,
    contract.KIM,
)
mail, item, skipped, batch = contract.mail, contract.item, contract.skipped, contract.batch


#: A contact created at NOW unless told otherwise.
contact = partial(factories.contact, created_at=NOW)


# --- The contract ------------------------------------------------------------------------


class TestInMemoryStore(StoreContract):
    """The public contract suite against the in-memory store."""

    def make_store(self) -> Store:
        """A new in-memory store."""
        return InMemoryStore()


class TestSQLiteStore(StoreContract):
    """The public contract suite against SQLite (in memory: each store its own database)."""

    history_examples = 40

    def make_store(self) -> Store:
        """A new SQLite store in memory."""
        return SQLiteStore(":memory:")


# --- The text forms ------------------------------------------------------------------------


@settings(max_examples=60)
@given(messages())
def test_messages_survive_the_text_form(message: Message) -> None:
    """encode_message and decode_message keep every field of any message."""
    assert decode_message(encode_message(message)) == message
    again = decode_message(encode_message(message))
    assert [p.address and str(p.address) for p in again.participants] == [
        p.address and str(p.address) for p in message.participants
    ]


def reference_document(message: Message) -> str:
    """A store's document as `encode_document` defines it, written the plain way (every field
    made, then the defaults left out): the text its faster form must give exactly."""

    def party(p: Any) -> list[Any]:
        raw: str | int = p.raw
        address = None
        if p.address is not None:
            address = codecs._party_address(p.address)
            forms = codecs._raw_forms(p.name, p.address)
            if raw in forms:
                raw = forms.index(raw)
        if p.problem is None and not p.group:
            return [p.role.value, address, p.name, raw]
        return [p.role.value, address, p.name, raw, p.problem, p.group]

    fields = {"subject": message.subject, "message_id": message.message_id}
    sent_at = codecs._time_from_record(codecs._time_record(message.sent_at))
    numbers = {"subject": 0, "message-id": 2, "date": 3}
    headers: list[list[Any]] = []
    for name, value in message.headers:
        lower = name.lower()
        number = 1 if lower in codecs._HEADER_ROLES else numbers.get(lower)
        same = number is not None and value == codecs._header_form(
            number, name, fields, message.participants, sent_at
        )
        headers.append([name, number if same else value])
    record = codecs._message_record(message)
    record.update(
        participants=[party(p) for p in message.participants],
        headers=headers,
    )
    del record["key"], record["message_id"]
    for name, value in codecs._DOCUMENT_DEFAULTS.items():
        if record[name] == value:
            del record[name]
    return codecs.JSON.encode(record)


@settings(max_examples=80)
@given(messages(), levels(), st.lists(st.sampled_from(list(Defect)), max_size=2))
def test_documents_are_the_text_their_definition_gives(
    message: Message, level: SharingLevel, defects: list[Defect]
) -> None:
    """A document is exactly the text of its plain definition (`reference_document`) for a
    message at any level (withheld fields as None) and with any defects."""
    seen = replace(redact(message, level), defects=tuple(defects))
    assert encode_document(seen) == reference_document(seen)
    assert decode_document(encode_document(seen), seen.key, seen.message_id) == seen


_ANY_ZONE: st.SearchStrategy[tzinfo | None] = st.one_of(
    st.none(),
    st.timezones(),
    st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23))),
)


@given(st.datetimes(timezones=_ANY_ZONE))
def test_a_documents_date_form_is_the_time_as_read_back(when: datetime) -> None:
    """The Date form a document compares with is ``format_datetime`` of the send time as the
    document reads it back, for any time and any offset (seconds and microseconds included)."""
    back = codecs._time_from_record(codecs._time_record(when))
    assert back is not None
    assert codecs._date_form(when) == format_datetime(back)


@settings(max_examples=60)
@given(messages())
def test_messages_survive_the_document_form(message: Message) -> None:
    """A store's document (without key and Message-ID, addresses compact where they follow
    from their key) reads back every field of any message, every address field included, and
    so does a document written in the form of encode_message (schema 7 and before)."""
    text = encode_document(message)
    assert text == reference_document(message)
    assert "key" not in json.loads(text)
    assert "message_id" not in json.loads(text)
    for written in (text, encode_message(message)):
        back = decode_document(written, message.key, message.message_id)
        assert back == message
        assert [p.address and address_record(p.address) for p in back.participants] == [
            p.address and address_record(p.address) for p in message.participants
        ]
    assert len(text) <= len(encode_message(message))


@settings(max_examples=40)
@given(st.lists(messages(), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_one_reader_reads_many_documents_as_each_alone(
    batch: list[Message], rng: random.Random
) -> None:
    """A `DocumentReader` that makes each shared participant once reads every document of a
    read, in any order and each form, exactly as `decode_document` and `decode_message` read
    it alone: what one document shares with another never changes what either says."""
    reader = DocumentReader()
    written = [(m, form) for m in batch for form in ("document", "message")] * 2
    rng.shuffle(written)
    for message, form in written:
        if form == "document":
            text = encode_document(message)
            back = reader.document(text, message.key, message.message_id)
            assert back == decode_document(text, message.key, message.message_id) == message
        else:
            back = reader.message(encode_message(message))
            assert back == decode_message(encode_message(message)) == message
        assert [p.address and address_record(p.address) for p in back.participants] == [
            p.address and address_record(p.address) for p in message.participants
        ]


@pytest.mark.parametrize(
    ("headers", "forms"),
    [
        # The usual shape: every participant header, the subject, the Message-ID and the
        # date are what the message's fields give, and are written as form numbers.
        (
            (
                'From: "Doe, Jane" <Jane.Doe@client.example>',
                "To: sam@acme.example, Eva García <eva@eu.acme.example>",
                "Cc: kim@client.example",
                "Subject: Quote for May",
                "Date: Mon, 01 Jan 2024 01:19:00 +0100",
                "Message-ID: <m1@client.example>",
            ),
            {"From": 1, "To": 1, "Cc": 1, "Subject": 0, "Date": 3, "Message-ID": 2},
        ),
        # Text the fields do not give back exactly is kept as it is: a date without its
        # leading zero, a To split over two headers (one a group). The From entry with its
        # comment, the decoded subject and the Message-ID (its spaces gone) are the fields'.
        (
            (
                "From: jane@client.example (Jane at work)",
                "To: sam@acme.example",
                "To: Team: kim@client.example, bo@client.example;",
                "Subject: =?utf-8?q?Caf=C3=A9?=",
                "Date: Mon, 1 Jan 2024 01:19:00 +0100",
                "Message-ID:   <m2@client.example>",
            ),
            {"From": 1, "Subject": 0, "Message-ID": 2},
        ),
        # Names in any case; a date in UTC; no Message-ID header at all.
        (
            (
                "FROM: Jane Doe <jane@client.example>",
                "reply-to: help@client.example",
                "SUBJECT: Re: hello",
                "date: Tue, 02 Jan 2024 09:00:00 +0000",
            ),
            {"FROM": 1, "reply-to": 1, "SUBJECT": 0, "date": 3},
        ),
    ],
)
def test_a_document_writes_header_values_its_fields_give_as_numbers(
    headers: tuple[str, ...], forms: dict[str, int]
) -> None:
    """A header value the message's own fields make again exactly is written as the number of
    its form; any other value as it is; and the document reads back the very same headers."""
    message = Message.from_bytes(factories.raw_mail(*headers))
    record = json.loads(encode_document(message))
    written = {name: value for name, value in record["headers"] if isinstance(value, int)}
    assert written == forms
    back = decode_document(encode_document(message), message.key, message.message_id)
    assert back.headers == message.headers
    assert back == message


@settings(max_examples=80)
@given(messages(), st.data())
def test_documents_keep_headers_made_from_the_messages_own_fields(
    message: Message, data: st.DataObject
) -> None:
    """Whatever headers a message has, and however many of them are exactly what its fields
    give (its subject, its participants' entries, its Message-ID, its time) or nearly so, and
    whatever form its participants' entries take, its document reads back every header and
    every participant as it was, in order."""
    parties = tuple(
        p
        if p.address is None
        else replace(
            p,
            raw=data.draw(
                st.sampled_from(
                    [
                        f"{p.address.local}@{p.address.domain}",
                        f"{p.name} <{p.address.local}@{p.address.domain}>",
                        f'"{p.name}" <{p.address.local}@{p.address.domain}>',
                        p.raw,
                    ]
                )
            ),
        )
        for p in message.participants
    )
    near = [
        message.subject or "",
        (message.subject or "") + " ",
        ", ".join(p.raw for p in parties),
        ", ".join(p.raw for p in parties if p.role is Role.TO),
        f"<{message.message_id}>",
        "" if message.sent_at is None else format_datetime(message.sent_at),
    ]
    names = st.sampled_from(
        ["Subject", "From", "to", "CC", "Reply-To", "Message-ID", "Date", "X-A"]
    )
    headers = data.draw(st.lists(st.tuples(names, st.sampled_from(near) | st.text(max_size=8))))
    message = replace(message, headers=tuple(headers), participants=parties)
    assert encode_document(message) == reference_document(message)
    back = decode_document(encode_document(message), message.key, message.message_id)
    assert back.headers == message.headers
    assert back == message


def test_a_document_writes_an_entry_its_name_and_address_give_as_a_number() -> None:
    """A participant's entry that is its address, or its name and address in one of the two
    usual forms, is written as a number; any other entry (a comment, odd spacing) as it is."""
    message = Message.from_bytes(
        factories.raw_mail(
            'From: "Doe, Jane" <jane@client.example>',
            "To: sam@acme.example, Eva García <eva@acme.example>,  bo@client.example (Bo)",
        )
    )
    record = json.loads(encode_document(message))
    assert [p[3] for p in record["participants"]] == [2, 0, 1, "bo@client.example (Bo)"]
    assert all(len(p) == 4 for p in record["participants"]), "no problem and no group"
    assert decode_document(encode_document(message), message.key, message.message_id) == message


def test_a_document_leaves_out_the_fields_most_messages_hold_alike() -> None:
    """No HTML body, attachments, flags or defects, and the level `everything`, are left out of
    a document and read back; a message with any of them keeps that field (the other levels
    are kept too: `test_messages_survive_the_document_form`)."""
    plain = Message.from_bytes(factories.raw_mail("From: jane@client.example"))
    assert (plain.html, plain.attachments, plain.flags, plain.defects) == ("", (), frozenset(), ())
    record = json.loads(encode_document(plain))
    assert not {"html", "attachments", "flags", "defects", "level"} & set(record)
    assert decode_document(encode_document(plain), plain.key, plain.message_id) == plain
    marked = replace(plain, html="<p>Hi</p>", flags=frozenset({Flag.SENT}))
    record = json.loads(encode_document(marked))
    assert (record["html"], record["flags"]) == ("<p>Hi</p>", ["sent"])
    assert decode_document(encode_document(marked), marked.key, marked.message_id) == marked


def test_a_document_with_a_form_its_message_cannot_give_is_refused() -> None:
    """A hand-edited document naming a form the message has not (a Message-ID where there is
    none) is refused with a ValueError, not read as some other text."""
    message = Message.from_bytes(factories.raw_mail("From: jane@client.example"))
    record = json.loads(encode_document(message))
    record["headers"].append(["Message-ID", 2])
    with pytest.raises(ValueError, match="Message-ID"):
        decode_document(json.dumps(record), message.key, None)


def test_a_document_writes_an_address_its_key_gives_as_the_key_alone() -> None:
    """A participant whose address is its key's own is written as the key; one with capitals,
    a subdomain, a Unicode domain or lenient syntax keeps the six-field record."""
    parties = json.loads(encode_document(contract.mail(1)))["participants"]
    assert any(isinstance(p[1], str) for p in parties)
    for text in (
        "Jane.Doe@client.example",
        "jane@eu.client.example",
        "jürgen@bücher.example",
        "j..kean@client.example",
    ):
        message = replace(mail(1), participants=parse_participants(text, Role.FROM))
        (party,) = json.loads(encode_document(message))["participants"]
        assert isinstance(party[1], list), text
        back = decode_document(encode_document(message), message.key, message.message_id)
        assert back == message


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


#: Tables of a row a mailbox or a company: reading all of a workspace's is no walk.
SMALL_TABLES = ("mailboxes", "companies", "company_domains")


def test_the_reads_by_contact_company_and_thread_are_index_driven(tmp_path: Path) -> None:
    """Every query behind a timeline page (the first and the next), a whole contact's or
    company's mail and the company counts finds its rows by index: no table is scanned."""
    with SQLiteStore(tmp_path / "s.sqlite") as store:
        save_contact(store, contact("kim", KIM))
        store.apply_batch(batch(ANNA, item(store, mail(1)), item(store, mail(2))))
        (kim,) = store.contact_index()
        (company,) = store.companies() or (None,)
        domain = "example.com" if company is None else company.domain
        seen: list[str] = []
        store._db.set_trace_callback(seen.append)
        page = store.contact_messages(kim.id, limit=1)
        store.contact_messages(kim.id, limit=1, after=page.next)
        store.company_messages(domain, limit=1)
        store.thread_messages("thr-0", limit=1)
        store.messages_for_contact(kim.id)
        store.messages_for_company(domain)
        store.company_counts()
        store._db.set_trace_callback(None)
        plans = {
            sql: [row[-1] for row in store._db.execute("EXPLAIN QUERY PLAN " + sql)]
            for sql in dict.fromkeys(seen)
            if sql.startswith("SELECT")
        }
    assert page.next is not None
    assert any("participants_by_contact" in line for lines in plans.values() for line in lines)
    assert any("participants_by_domain" in line for lines in plans.values() for line in lines)
    for sql, lines in plans.items():
        # A scan, or a search by the workspace alone, walks every row of the workspace (the
        # tables of one row a mailbox or a company excepted).
        walks = [
            line
            for line in lines
            if not any(small in line for small in SMALL_TABLES)
            and (line.startswith("SCAN") or line.endswith("(workspace=?)"))
            and "json_each" not in line
        ]
        assert not walks, (sql, lines)


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
