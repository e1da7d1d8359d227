"""Tests for mailbind.etl: the partition function, the snapshot, result files and loading."""

from __future__ import annotations

import itertools
import json
import pickle
import random
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind import (
    Canonicalization,
    Contact,
    ContactError,
    ContactIndex,
    Mailbox,
    Policy,
    SharingLevel,
    decide,
    redact,
)
from mailbind.engine import save_contact, sync_mailbox
from mailbind.etl import (
    MANIFEST,
    RESULT_FIELDS,
    BackfillError,
    Item,
    RawMessage,
    Result,
    Snapshot,
    View,
    batch_item,
    process_partition,
    read_results,
    run_local,
    to_dask_bag,
    write_results,
)
from mailbind.identity import message_id_of, with_stored_key
from mailbind.schedule import SyncState, succeeded
from mailbind.sources.jsonl import message_from_record
from mailbind.stores import BatchResult, decode_message
from mailbind.testing import InMemoryStore, ListSource, snapshot

from .factories import source_item
from .strategies import (
    EXTRA_HEADER_NAMES,
    MESSAGE_ADDRESSES,
    contact_sets,
    policies,
    recipients,
    sent_times,
)

CREATED = datetime(2023, 1, 1, tzinfo=UTC)
POLICY = Policy(["acme.com"])
ANNA = Mailbox("anna@acme.com", incoming="subject", outgoing="everything")
BEN = Mailbox("ben@acme.com")
KIM = Contact("c-kim", "Kim Lee <kim@client.example>", created_at=CREATED)
SNAPSHOT = Snapshot([ANNA, BEN], POLICY, ContactIndex([KIM]), version="v7")


def line(**fields: Any) -> str:
    """One JSON line of the JSON-lines message form."""
    return json.dumps(fields, ensure_ascii=False)


def only(results: Any) -> Result:
    """The one result of *results*, which must hold exactly one."""
    found: list[Result] = list(results)
    assert len(found) == 1, found
    return found[0]


# --- A generated corpus, shared with the Dask and Spark tests --------------------------------

ORG = "acme.com"
OWNERS = ("anna", "ben", "carla", "dev", "emil", "fay")
COMPANIES = ("client.example", "vendor.io", "bücher.de", "kunde.co.uk", "partner.fr")
PEOPLE = ("kim", "lee", "jürgen", "sam.o", "zoë", "max", "ana+crm", "j..kean")
FREE = ("gmail.com", "web.de", "outlook.com")
ROLES = ("noreply", "support", "info")
EXTERNALS = tuple(f"{p}@{c}" for p in PEOPLE for c in (*COMPANIES, *FREE))


def corpus_contacts() -> list[Contact]:
    """Contacts for most external corpus addresses; some soft-deleted, some with two keys."""
    found = []
    for n, address in enumerate(EXTERNALS):
        if n % 4 == 3:
            continue  # no contact: links to nobody happen too
        local, _, domain = address.partition("@")
        found.append(
            Contact(
                f"c{n}",
                address,
                [f"{local}.alt@{domain}"] if n % 5 == 0 else [],
                created_at=CREATED + timedelta(days=n),
                deleted_at=CREATED + timedelta(days=400) if n % 7 == 0 else None,
            )
        )
    return found


def corpus_snapshot(view: View | str = View.REDACTED) -> Snapshot:
    """The snapshot the corpus is decided under: six mailboxes at three levels, the contacts."""
    levels = list(SharingLevel)
    mailboxes = [
        Mailbox(
            f"{owner}@{ORG}",
            aliases=[f"{owner}@acme.de"] if n == 0 else [],
            incoming=levels[n % 3],
            outgoing=levels[(n + 1) % 3],
            create_contacts=False,
        )
        for n, owner in enumerate(OWNERS)
    ]
    policy = Policy([ORG], blocklist=["@vendor.io"])
    index = ContactIndex(corpus_contacts())
    return Snapshot(mailboxes, policy, index, version="corpus-1", view=view)


def corpus_record(n: int, rng: random.Random) -> dict[str, Any]:
    """Message *n* of the corpus in the JSON-lines form, held by one mailbox."""
    owner = f"{rng.choice(OWNERS)}@{ORG}"
    colleagues = [f"{o}@{ORG}" for o in OWNERS] + ["boss@eu.acme.com"]
    kind = rng.random()
    if kind < 0.3:
        sender, to = owner, rng.sample(EXTERNALS + tuple(colleagues), rng.randint(1, 3))
    elif kind < 0.4:
        sender, to = f"{rng.choice(ROLES)}@{rng.choice(COMPANIES)}", [owner]
    elif kind < 0.55:
        sender, to = rng.choice(colleagues), [owner]
    else:
        sender, to = rng.choice(EXTERNALS), [owner, *rng.sample(EXTERNALS, rng.randint(0, 2))]
    record: dict[str, Any] = {
        "mailbox": owner,
        "sender": sender,
        "to": to,
        "subject": f"Subject {n} für {rng.choice(PEOPLE)}",
        "text": f"Body {n}",
        "sent_at": (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=n)).isoformat(),
    }
    if rng.random() < 0.97:
        record["message_id"] = f"<{n}@corpus.example>"
    if rng.random() < 0.1:
        record["cc"] = rng.sample(EXTERNALS, 1)
    if rng.random() < 0.05:
        record["headers"] = [["List-Id", "<news.vendor.io>"], ["Thread-Topic", "topic"]]
    if rng.random() < 0.03:
        record["flags"] = ["draft"]
    return record


def corpus(count: int, seed: int = 0) -> list[Item]:
    """*count* backfill items of every shape, deterministic for *seed*.

    Mostly JSON lines naming one or two mailboxes; also decoded records, RFC 5322 bytes and
    JSON lines in `RawMessage` values (some from a spam folder), items naming an unknown
    mailbox or none, lines that are not JSON, and blank lines.
    """
    rng = random.Random(seed)
    items: list[Item] = []
    for n in range(count):
        record = corpus_record(n, rng)
        owner = record["mailbox"]
        shape = rng.random()
        if shape < 0.08:
            record["mailbox"] = [owner, f"{rng.choice(OWNERS)}@{ORG}"]
        elif shape < 0.10:
            record["mailbox"] = "nobody@acme.com"
        elif shape < 0.11:
            del record["mailbox"]
        form = rng.random()
        if form < 0.7:
            items.append(json.dumps(record, ensure_ascii=False))
        elif form < 0.8:
            items.append(record)
        elif form < 0.9:
            items.append(RawMessage(owner, rfc5322(record), location=f"archive.mbox#{n}"))
        elif form < 0.95:
            items.append(RawMessage(owner, json.dumps(record), f"Spam.jsonl:{n}", ["spam"]))
        elif form < 0.98:
            items.append(f'{{"mailbox": "{owner}", "sender": ')
        else:
            items.append("  \n")
    return items


def rfc5322(record: dict[str, Any]) -> bytes:
    """The record as RFC 5322 bytes (UTF-8 headers, as much real mail has)."""
    lines = [f"From: {record['sender']}", f"To: {', '.join(record['to'])}"]
    if "message_id" in record:
        lines.append(f"Message-ID: {record['message_id']}")
    lines += ["Date: Mon, 01 Jan 2024 10:00:00 +0000", f"Subject: {record['subject']}", ""]
    text: str = record["text"]
    return ("\r\n".join(lines) + "\r\n" + text).encode("utf-8")


CORPUS = corpus(600)
CORPUS_SNAPSHOT = corpus_snapshot()
CORPUS_RESULTS = list(run_local(CORPUS, CORPUS_SNAPSHOT))


# --- One message, one mailbox ----------------------------------------------------------------


def test_an_external_message_gives_its_decision_links_and_redacted_view() -> None:
    """A received message syncs with its reasons, links each participant and hides the body."""
    item = line(
        mailbox="anna@acme.com",
        sender="Kim Lee <kim@client.example>",
        to="anna@acme.com, Pat <pat@other.example>",
        subject="Prices",
        text="The body",
        message_id="<m1@client.example>",
        sent_at="2024-05-01T10:00:00+02:00",
    )
    result = only(process_partition([item], SNAPSHOT))
    view = result.pop("view")
    assert message_id_of(result["key"]) == "m1@client.example"
    assert result == {
        "mailbox": "anna@acme.com",
        "key": result["key"],
        "message_id": "m1@client.example",
        "sent_at": "2024-05-01T10:00:00+02:00",
        "location": "",
        "snapshot": "v7",
        "synced": True,
        "direction": "incoming",
        "level": "subject",
        "reasons": ["external"],
        "defects": [],
        "flags": [],
        "problem": None,
        "links": [
            {"position": 0, "key": "kim@client.example", "contact_id": "c-kim"},
            {"position": 1, "key": "anna@acme.com", "contact_id": None},
            {"position": 2, "key": "pat@other.example", "contact_id": None},
        ],
    }
    seen = decode_message(view)
    assert (seen.level, seen.subject, seen.text) == (SharingLevel.SUBJECT, "Prices", None)


def test_every_result_has_the_same_fields_in_order() -> None:
    """Synced, skipped and problem results all carry exactly `RESULT_FIELDS`, in that order."""
    assert {tuple(result) for result in CORPUS_RESULTS} == {RESULT_FIELDS}
    assert {r["synced"] for r in CORPUS_RESULTS} == {True, False}
    assert {r["problem"] for r in CORPUS_RESULTS} == {None, "no_mailbox", "unknown_mailbox"}


def test_results_are_plain_json() -> None:
    """A result written as JSON and read back is equal to itself."""
    assert json.loads(json.dumps(CORPUS_RESULTS)) == CORPUS_RESULTS


def test_internal_mail_is_skipped_without_links_or_view() -> None:
    """A skipped message keeps its decision and reasons but no links and no content."""
    item = {"mailbox": "anna@acme.com", "sender": "ben@acme.com", "to": "anna@acme.com"}
    result = only(run_local([item], SNAPSHOT))
    assert (result["synced"], result["reasons"], result["links"], result["view"]) == (
        False,
        ["internal"],
        [],
        None,
    )


def test_one_item_gives_one_result_per_mailbox_in_the_order_named() -> None:
    """A message two mailboxes hold is decided for each, with its own direction and level."""
    item = line(
        mailbox=["ben@acme.com", "anna@acme.com", "ben@acme.com"],
        sender="anna@acme.com",
        to="kim@client.example",
    )
    results = process_partition([item], SNAPSHOT)
    assert [(r["mailbox"], r["direction"], r["level"]) for r in results] == [
        ("ben@acme.com", "incoming", "metadata"),
        ("anna@acme.com", "outgoing", "everything"),
    ]


@pytest.mark.parametrize(
    ("item", "mailbox", "problem", "defects"),
    [
        (line(sender="kim@client.example"), None, "no_mailbox", []),
        (line(mailbox="  ", sender="kim@client.example"), None, "no_mailbox", []),
        (line(mailbox=7, sender="kim@client.example"), None, "no_mailbox", []),
        (line(mailbox="x@acme.com", sender="k@c.example"), "x@acme.com", "unknown_mailbox", []),
        ('{"mailbox": "anna@acme.com", "sender": ', None, "no_mailbox", ["bad_json_line"]),
        ("[1, 2]", None, "no_mailbox", ["bad_json_line"]),
        (line(mailbox="anna@acme.com", sender=5), "anna@acme.com", None, ["bad_json_record"]),
        (line(mailbox="anna@acme.com", sent_at="soon"), "anna@acme.com", None, ["bad_date"]),
    ],
    ids=["no-field", "blank", "number", "unknown", "cut", "not-object", "bad-field", "bad-date"],
)
def test_no_item_is_lost(
    item: str, mailbox: str | None, problem: str | None, defects: list[str]
) -> None:
    """Every odd item still gives a result that says what was wrong with it."""
    result = only(process_partition([item], SNAPSHOT))
    assert (result["mailbox"], result["problem"], result["defects"]) == (mailbox, problem, defects)
    if problem is not None:
        assert (result["synced"], result["direction"], result["reasons"]) == (False, None, [])


def test_blank_lines_give_no_result() -> None:
    """Blank lines of a JSON lines file are not messages."""
    assert process_partition(["", "  \n", "\r\n", RawMessage("a@x.example", " ")], SNAPSHOT) == []


def test_rfc5322_bytes_are_read_with_the_archive_flags_and_location() -> None:
    """Raw bytes from a spam folder are read as mail, flagged spam, and keep their location."""
    raw = b"From: kim@client.example\r\nTo: anna@acme.com\r\nMessage-ID: <r1@x.example>\r\n\r\nHi"
    result = only(run_local([RawMessage("anna@acme.com", raw, "Spam.mbox#3", ["Spam"])], SNAPSHOT))
    assert (
        message_id_of(result["key"]),
        result["location"],
        result["synced"],
        result["reasons"],
    ) == (
        "r1@x.example",
        "Spam.mbox#3",
        False,
        ["spam", "external"],
    )


def test_the_snapshot_limits_bound_rfc5322_reading() -> None:
    """A message over the snapshot's size limit is still decided, marked too large."""
    raw = b"From: kim@client.example\r\nTo: anna@acme.com\r\n\r\n" + b"x" * 500
    snap = Snapshot([ANNA], POLICY, limits=replace(SNAPSHOT.limits, max_bytes=100))
    result = only(run_local([RawMessage("anna@acme.com", raw)], snap))
    assert (result["defects"], result["synced"]) == (["too_large"], True)


def test_a_json_line_over_the_size_limit_is_recorded_not_read() -> None:
    """A line longer than the snapshot's size limit keeps its start and the defect too_large."""
    snap = Snapshot([ANNA], POLICY, limits=replace(SNAPSHOT.limits, max_bytes=2000))
    huge = line(mailbox="anna@acme.com", sender="kim@client.example", text="x" * 5000)
    lost, kept = run_local([huge, RawMessage("anna@acme.com", huge)], snap)
    assert (lost["problem"], lost["defects"], kept["problem"], kept["defects"]) == (
        "no_mailbox",
        ["too_large"],
        None,
        ["too_large"],
    )


def test_a_raw_message_names_mailboxes_over_the_record() -> None:
    """The mailboxes of a `RawMessage` win over the ``mailbox`` field of the record it holds."""
    record = {"mailbox": "nobody@acme.com", "sender": "kim@client.example"}
    results = run_local([RawMessage(["ben@acme.com"], record), RawMessage([], record)], SNAPSHOT)
    assert [(r["mailbox"], r["problem"]) for r in results] == [
        ("ben@acme.com", None),
        ("nobody@acme.com", "unknown_mailbox"),
    ]


@pytest.mark.parametrize(
    ("view", "level"),
    [("redacted", SharingLevel.SUBJECT), ("complete", SharingLevel.EVERYTHING), ("none", None)],
)
def test_the_view_holds_what_the_snapshot_asks_for(view: str, level: SharingLevel | None) -> None:
    """A synced message's view is redacted, complete, or left out, as the snapshot says."""
    snap = Snapshot([ANNA], POLICY, view=view)
    item = line(mailbox="anna@acme.com", sender="kim@client.example", text="t")
    result = only(run_local([item], snap))
    seen = None if result["view"] is None else decode_message(result["view"]).level
    assert seen == level


# --- The same answers as the rules and the engine --------------------------------------------


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A record of the JSON-lines form with random participants, headers and flags."""
    sent_at = draw(sent_times())
    return {
        "sender": draw(st.sampled_from(MESSAGE_ADDRESSES)),
        "to": draw(recipients()),
        "cc": draw(recipients()),
        "bcc": draw(recipients()),
        "subject": draw(st.text(max_size=20)),
        "text": draw(st.text(max_size=20)),
        "message_id": draw(st.none() | st.from_regex(r"<[a-z]{1,6}@m\.example>", fullmatch=True)),
        "sent_at": None if sent_at is None else sent_at.isoformat(),
        "headers": draw(
            st.lists(
                st.tuples(
                    st.sampled_from(EXTRA_HEADER_NAMES),
                    st.sampled_from(["bulk", "list", "no", "Spam", "Re: x"]),
                ).map(list),
                max_size=2,
            )
        ),
        "flags": draw(st.lists(st.sampled_from(["draft", "spam", "trash", "sent"]), max_size=2)),
    }


@settings(max_examples=60)
@given(record=records(), policy=policies(), contacts=contact_sets())
def test_results_are_the_rules_answers(
    record: dict[str, Any], policy: Policy, contacts: list[Contact]
) -> None:
    """Decision, links and view are what `decide`, the contact index and `redact` say."""
    index = ContactIndex(contacts, canonicalization=policy.canonicalization)
    snap = Snapshot([ANNA, BEN], policy, index)
    message = with_stored_key(message_from_record(record))
    results = list(run_local([RawMessage([ANNA.id, BEN.id], record)], snap))
    assert [r["mailbox"] for r in results] == [ANNA.id, BEN.id]
    for result, mailbox in zip(results, (ANNA, BEN), strict=True):
        decision = decide(message, mailbox, policy)
        assert (result["synced"], result["direction"], result["level"], result["reasons"]) == (
            decision.synced,
            decision.direction.value,
            decision.level.value,
            [reason.value for reason in decision.reasons],
        )
        links = [
            {"position": n, "key": policy.key(p.address), "contact_id": owner_id(index, p.address)}
            for n, p in enumerate(message.participants)
            if p.address is not None
        ]
        assert result["links"] == (links if decision.synced else [])
        view = None if not decision.synced else redact(message, decision.level)
        assert (None if result["view"] is None else decode_message(result["view"])) == view


def owner_id(index: ContactIndex, address: Any) -> str | None:
    """The id of the contact *address* resolves to in *index*, or None."""
    contact = index.resolve(address)
    return None if contact is None else contact.id


def test_loaded_results_store_what_the_engine_stores() -> None:
    """Back-filling, then loading the results, leaves a store as a sync pass of the same mail."""
    snap = corpus_snapshot(View.COMPLETE)
    rng = random.Random(5)
    now = datetime(2024, 6, 1, tzinfo=UTC)
    synced_by_engine, loaded = InMemoryStore(), InMemoryStore()
    for store in (synced_by_engine, loaded):
        for contact in corpus_contacts():
            save_contact(store, contact, policy=snap.policy)
    for mailbox in snap.mailboxes:
        mine = [
            r for r in (corpus_record(n, rng) for n in range(300)) if r["mailbox"] == mailbox.id
        ]
        items = [RawMessage(mailbox.id, r, f"#{n}") for n, r in enumerate(mine)]
        source = ListSource(
            [source_item(message_from_record(r), f"#{n}") for n, r in enumerate(mine)]
        )
        sync_mailbox(source, synced_by_engine, mailbox, snap.policy, now=now)
        batch = tuple(batch_item(result) for result in run_local(items, snap))
        loaded.apply_batch(
            BatchResult(mailbox, source.fetch(None).cursor, succeeded(SyncState(), now), batch)
        )
    expected, got = snapshot(synced_by_engine), snapshot(loaded)
    assert got == expected
    held = expected["messages"]
    assert isinstance(held, dict)
    linked = [c for stored in held.values() for c in stored.contacts if c is not None]
    assert len(linked) > 50


def test_only_complete_results_without_problems_can_be_stored() -> None:
    """Loading a redacted view or a problem result into a store is refused with a reason."""
    external = line(mailbox="anna@acme.com", sender="kim@client.example")
    redacted = only(run_local([external], SNAPSHOT))
    with pytest.raises(BackfillError) as caught:
        batch_item(redacted)
    assert str(caught.value) == (
        "Storing a synced result needs the whole message: back-fill with "
        "Snapshot(..., view='complete')."
    )
    lost = only(run_local([line(sender="kim@client.example")], SNAPSHOT))
    with pytest.raises(BackfillError) as caught:
        batch_item(lost)
    assert str(caught.value) == "A result with the problem 'no_mailbox' cannot be stored."


def test_a_skipped_result_is_stored_without_content() -> None:
    """A skipped result becomes a batch item that keeps its key, decision and no content."""
    item = RawMessage("anna@acme.com", {"sender": "ben@acme.com", "message_id": "<i@x>"}, "#4")
    stored = batch_item(only(run_local([item], SNAPSHOT)))
    assert (
        message_id_of(stored.message.key),
        stored.decision.synced,
        stored.links,
        stored.location,
    ) == (
        "i@x",
        False,
        (),
        "#4",
    )
    assert (stored.message.subject, stored.message.text, stored.message.participants) == (
        None,
        None,
        (),
    )


# --- Partitions and determinism --------------------------------------------------------------


@settings(max_examples=25)
@given(cuts=st.lists(st.integers(0, len(CORPUS)), max_size=6))
def test_partitioning_never_changes_the_results(cuts: list[int]) -> None:
    """However the items are cut into partitions, the parts one after another equal one pass."""
    bounds = [0, *sorted(cuts), len(CORPUS)]
    parts = [process_partition(CORPUS[a:b], CORPUS_SNAPSHOT) for a, b in itertools.pairwise(bounds)]
    assert [result for part in parts for result in part] == CORPUS_RESULTS


def test_a_pickled_snapshot_gives_the_same_results() -> None:
    """A snapshot shipped to a worker (pickled, loaded with cold caches) decides alike."""
    shipped = pickle.loads(pickle.dumps(CORPUS_SNAPSHOT))
    assert shipped == CORPUS_SNAPSHOT
    assert shipped.mailbox("ben@acme.com") == CORPUS_SNAPSHOT.mailbox("ben@acme.com")
    assert list(run_local(CORPUS, shipped)) == CORPUS_RESULTS


# --- The snapshot ----------------------------------------------------------------------------


@settings(max_examples=60)
@given(contacts=contact_sets(), strip=st.booleans(), fold=st.booleans())
def test_the_snapshot_links_each_key_as_the_index_resolves_it(
    contacts: list[Contact], strip: bool, fold: bool
) -> None:
    """Each key of each contact maps to the contact the index resolves it to, and no other key."""
    canon = Canonicalization(strip, fold)
    index = ContactIndex(contacts, canonicalization=canon)
    if contacts:
        index.destroy(contacts[0].id)
    snap = Snapshot([ANNA], Policy(canonicalization=canon), index)
    expected = {index.key(a): owner_id(index, a) for contact in index for a in contact.addresses}
    assert dict(snap.owners) == expected
    assert dict(pickle.loads(pickle.dumps(snap)).owners) == expected


def test_the_snapshot_pickles_contacts_as_little_more_than_their_text() -> None:
    """Each contact costs the pickled snapshot its key and id and a few bytes, no more."""
    contacts = [
        Contact(f"id{n}", f"Person {n} <person{n}@company{n % 50}.example>", created_at=CREATED)
        for n in range(2000)
    ]
    snap = Snapshot([ANNA], POLICY, ContactIndex(contacts))
    bare = len(pickle.dumps(Snapshot([ANNA], POLICY)))
    text = sum(len(c.primary.key) + len(c.id) for c in contacts)
    assert len(pickle.dumps(snap)) - bare < text + 4 * len(contacts)


def test_contact_ids_holding_a_nul_still_pickle() -> None:
    """A contact id the text columns cannot join is kept as a list, and comes back equal."""
    snap = Snapshot([ANNA], POLICY, {"kim@client.example": "odd\x00id"})
    assert pickle.loads(pickle.dumps(snap)).owners == {"kim@client.example": "odd\x00id"}


def test_a_mapping_of_mailboxes_is_taken_by_id() -> None:
    """A mailbox table keyed by id gives the same snapshot as the mailboxes in a list."""
    assert Snapshot({ANNA.id: ANNA, BEN.id: BEN}, POLICY) == Snapshot([ANNA, BEN], POLICY)


def test_an_item_of_no_known_kind_is_reported_and_the_rest_is_done() -> None:
    """An item that is no RawMessage, JSON line or record is data, not a mistake: it gives one
    result with the problem ``bad_item`` (its kind as the text) and the other items go on."""
    good = line(mailbox="anna@acme.com", sender="kim@client.example")
    results = list(run_local([good, 12, good], SNAPSHOT))  # type: ignore[list-item]
    assert [r["problem"] for r in results] == [None, "bad_item", None]
    assert (results[1]["synced"], results[1]["defects"], results[1]["mailbox"]) == (
        False,
        ["unreadable"],
        None,
    )


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (
            lambda: Snapshot([ANNA, ANNA], POLICY),
            BackfillError,
            "Two mailboxes have the id 'anna@acme.com'.",
        ),
        (
            lambda: Snapshot({"anna": ANNA}, POLICY),
            BackfillError,
            "The mailbox table names the mailbox 'anna@acme.com' as 'anna'.",
        ),
        (
            lambda: Snapshot(["anna@acme.com"], POLICY),  # type: ignore[list-item]
            BackfillError,
            "Expected a Mailbox, not str.",
        ),
        (
            lambda: Snapshot([ANNA], "acme.com"),  # type: ignore[arg-type]
            BackfillError,
            "policy must be a Policy, not str.",
        ),
        (
            lambda: Snapshot([ANNA], POLICY, view="full"),
            BackfillError,
            "The view must be one of redacted, complete, none, not 'full'.",
        ),
        (
            lambda: Snapshot([ANNA], POLICY, version=3),  # type: ignore[arg-type]
            BackfillError,
            "The snapshot version must be a string, not 3.",
        ),
        (
            lambda: Snapshot([ANNA], POLICY, {"kim@client.example": 7}),  # type: ignore[dict-item]
            BackfillError,
            "contacts must map keys to contact ids as strings, not 'kim@client.example' to 7.",
        ),
        (
            lambda: Snapshot([ANNA], POLICY, [KIM]),  # type: ignore[arg-type]
            BackfillError,
            "contacts must be a ContactIndex or a mapping of keys to contact ids, not list.",
        ),
        (
            lambda: Snapshot(
                [ANNA], POLICY, ContactIndex(canonicalization=Canonicalization(True, False))
            ),
            ContactError,
            "The contact index and the policy must use the same canonicalization: "
            "Canonicalization(strip_subaddress=True, fold_gmail=False) is not "
            "Canonicalization(strip_subaddress=False, fold_gmail=False).",
        ),
        (
            lambda: RawMessage([7], b""),  # type: ignore[list-item]
            BackfillError,
            "A mailbox id must be a string, not 7.",
        ),
        (
            lambda: RawMessage("anna@acme.com", 12),  # type: ignore[arg-type]
            BackfillError,
            "A raw message must be RFC 5322 bytes, a JSON line or a record, not int.",
        ),
        (
            lambda: RawMessage("anna@acme.com", b"", flags=["urgent"]),
            BackfillError,
            "A flag must be one of draft, spam, trash, sent, not 'urgent'.",
        ),
        (
            lambda: write_results([], "out.csv", "csv"),
            BackfillError,
            "The result format must be 'jsonl' or 'parquet', not 'csv'.",
        ),
    ],
    ids=[
        "duplicate",
        "misnamed",
        "not-mailbox",
        "not-policy",
        "view",
        "version",
        "contact-id",
        "contacts",
        "canonicalization",
        "raw-mailbox",
        "raw-data",
        "raw-flag",
        "format",
    ],
)
def test_caller_mistakes_are_refused_at_once(make: Any, error: type, message: str) -> None:
    """A wrongly shaped setting or item raises a `ValueError` with one sentence showing it."""
    with pytest.raises(error) as caught:
        make()
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) == message


# --- Result files ----------------------------------------------------------------------------


def test_results_written_as_json_lines_read_back_equal(tmp_path: Path) -> None:
    """Results go to a JSON lines file and come back equal, in order; no temporary is left."""
    path = tmp_path / "part.jsonl"
    assert write_results(iter(CORPUS_RESULTS), path) == len(CORPUS_RESULTS)
    assert list(read_results(path)) == CORPUS_RESULTS
    assert [p.name for p in tmp_path.iterdir()] == ["part.jsonl"]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_lone_surrogate_in_mail_text_round_trips(tmp_path: Path, fmt: str) -> None:
    """Text that is not valid Unicode (a lone surrogate from a JSON escape) holds U+FFFD in its
    place, with the defect ``lone_surrogate``, and is written and read back as such."""
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    item = '{"mailbox": "anna@acme.com", "sender": "kim@client.example", "subject": "a\\ud800b"}'
    results = list(run_local([item], SNAPSHOT))
    write_results(results, tmp_path / f"odd.{fmt}", fmt)
    [back] = read_results(tmp_path / f"odd.{fmt}")
    assert decode_message(back["view"]).subject == "a\ufffdb"
    assert back["defects"] == ["lone_surrogate"]
    assert {**back, "view": None} == {**results[0], "view": None}


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    """When the results fail midway, neither the file nor a temporary one is left behind."""

    def failing() -> Any:
        yield CORPUS_RESULTS[0]
        raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError):
        write_results(failing(), tmp_path / "part.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_an_unfinished_backfill_folder_is_refused(tmp_path: Path) -> None:
    """A folder without its manifest is not read as results."""
    write_results(CORPUS_RESULTS, tmp_path / "part-00000.jsonl")
    with pytest.raises(BackfillError) as caught:
        list(read_results(tmp_path))
    assert str(caught.value) == (
        f"The folder {str(tmp_path)!r} holds no {MANIFEST}: its backfill did not finish."
    )


def test_parquet_results_read_back_equal(tmp_path: Path) -> None:
    """With pyarrow installed, results written as Parquet come back equal."""
    pytest.importorskip("pyarrow")
    path = tmp_path / "part.parquet"
    assert write_results(CORPUS_RESULTS, path, "parquet") == len(CORPUS_RESULTS)
    assert list(read_results(path)) == CORPUS_RESULTS


def test_importing_loads_neither_dask_nor_pyarrow() -> None:
    """``import mailbind.etl`` and a local run work without loading Dask or pyarrow."""
    script = textwrap.dedent(
        """
        import json, sys
        from mailbind import Mailbox, Policy
        from mailbind.etl import Snapshot, run_local
        snap = Snapshot([Mailbox("anna@acme.com")], Policy(["acme.com"]))
        list(run_local(['{"mailbox": "anna@acme.com", "sender": "kim@c.example"}'], snap))
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in
                                ("dask", "distributed", "pyarrow", "pyspark"))))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_dask_missing_is_said_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Dask installed, a Dask backfill says which extra to install."""
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(ImportError) as caught:
        to_dask_bag(["archive.jsonl"])
    assert str(caught.value) == (
        "Backfills on Dask need the optional 'dask' package: pip install 'mailbind[dask]'."
    )
