"""A change of a mailbox's sharing levels alone: planned from the copies' counts, applied as one
update of the level column, and equal in every count, copy and read to deciding every stored
copy again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind import Mailbox, Message, Policy, SharingLevel
from mailbind.codecs import encode_message
from mailbind.engine import ConfirmationNeeded, apply_settings, sync_mailbox
from mailbind.errors import ArgumentTypeError
from mailbind.messages import Direction
from mailbind.planner import (
    Settings,
    level_moves,
    plan_relevel,
    plan_settings_change,
    relevel_copies,
)
from mailbind.store import CopyCount, Store
from mailbind.stores.sqlite import SQLiteStore
from mailbind.testing import InMemoryStore, ListSource

from .factories import numbered
from .strategies import levels, mailboxes, messages, policies

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
VIEWERS = ("paul@eu.acme.com", "anna@acme.com", "kim@client.example.org", "bob@outlook.com")


@contextmanager
def opened(kind: str) -> Iterator[Store]:
    """A new, empty store of *kind*."""
    if kind == "memory":
        yield InMemoryStore()
        return
    with SQLiteStore(":memory:") as store:
        yield store


def synced_decisions(store: Store, mailbox_id: str) -> list[tuple[str, str, object]]:
    """Each synced copy of the mailbox with its decision."""
    return [
        (d.key, d.location, d.decision) for d in store.decisions(mailbox_id) if d.decision.synced
    ]


def held(store: Store, mailbox_id: str) -> list[tuple[str, ...]]:
    """What each viewer reads of every message the mailbox holds."""
    return [
        tuple(encode_message(s.seen_by(v)) for v in VIEWERS)
        for s in store.mailbox_messages(mailbox_id)
    ]


def yes(_changes: object) -> bool:
    return True


@settings(max_examples=150, deadline=None)
@given(
    mail=st.lists(messages(), max_size=8),
    box=mailboxes(),
    policy=policies(),
    incoming=levels(),
    outgoing=levels(),
    kind=st.sampled_from(["memory", "sqlite"]),
)
def test_a_level_change_is_what_deciding_every_copy_again_gives(
    mail: list[Message],
    box: Mailbox,
    policy: Policy,
    incoming: SharingLevel,
    outgoing: SharingLevel,
    kind: str,
) -> None:
    """Counts, copies and the store after applying it: as the exact plan and as a fresh sync."""
    after = replace(box, incoming=incoming, outgoing=outgoing)
    with opened(kind) as store, opened(kind) as fresh:
        sync_mailbox(ListSource(mail, name="box"), store, box, policy, now=NOW)
        moves = level_moves(Settings(box, policy), Settings(after, policy))
        assert moves is not None
        fast = plan_relevel(box.id, moves, store.copy_counts(box.id))
        contents = {s.message.key: s.message for s in store.mailbox_messages(box.id)}
        exact = plan_settings_change(
            list(store.decisions(box.id)), contents, Settings(box, policy), Settings(after, policy)
        )
        assert list(relevel_copies(fast, store.decisions(box.id))) == list(exact.changes)
        assert (fast.dropped, fast.widened, fast.narrowed, fast.unchanged) == (
            exact.dropped,
            exact.widened,
            exact.narrowed,
            exact.unchanged,
        )
        assert (fast.resync, fast.may_return, fast.needs_confirmation) == (
            exact.resync,
            exact.may_return,
            exact.needs_confirmation,
        )
        changes = apply_settings(store, after, policy, now=NOW, confirm=yes)
        assert [c.levels for c in changes] == ([fast.levels] if fast.levels else [])
        sync_mailbox(ListSource(mail, name="box"), fresh, after, policy, now=NOW)
        assert synced_decisions(store, box.id) == synced_decisions(fresh, box.id)
        assert held(store, box.id) == held(fresh, box.id)
        assert apply_settings(store, after, policy, now=NOW) == ()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_copy_counts_count_the_decisions(kind: str) -> None:
    """One count per direction, level and synced state, ordered, none zero."""
    box = Mailbox("anna@acme.com", incoming="subject", outgoing="everything", id="anna")
    mail = [
        numbered(1),
        numbered(2),
        numbered(3, sender="anna@acme.com", to="kim@client.example"),
        numbered(4, sender="paul@acme.com"),
    ]
    with opened(kind) as store:
        assert store.copy_counts("anna") == ()
        sync_mailbox(ListSource(mail, name="anna"), store, box, Policy(["acme.com"]), now=NOW)
        counted = Counter(
            (d.decision.direction, d.decision.level, d.decision.synced)
            for d in store.decisions("anna")
        )
        counts = store.copy_counts("anna")
        assert counts == tuple(sorted(CopyCount(*group, n) for group, n in counted.items()))
        assert counts == (
            CopyCount(Direction.INCOMING, SharingLevel.SUBJECT, False, 1),
            CopyCount(Direction.INCOMING, SharingLevel.SUBJECT, True, 2),
            CopyCount(Direction.OUTGOING, SharingLevel.EVERYTHING, True, 1),
        )
        assert store.copy_counts("anna", workspace="other") == ()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_raising_a_level_asks_first_lowering_does_not(kind: str) -> None:
    """Colleagues reading more needs a yes; a dry run writes nothing; reading less needs none."""
    policy = Policy(["acme.com"])
    box = Mailbox("anna@acme.com", incoming="metadata", id="anna")
    raised = replace(box, incoming=SharingLevel.EVERYTHING)
    with opened(kind) as store:
        sync_mailbox(
            ListSource([numbered(1), numbered(2)], name="anna"), store, box, policy, now=NOW
        )
        before = held(store, "anna")
        (preview,) = apply_settings(store, raised, policy, now=NOW, dry_run=True)
        assert (preview.widened, preview.narrowed, preview.needs_confirmation) == (2, 0, True)
        with pytest.raises(ConfirmationNeeded):
            apply_settings(store, raised, policy, now=NOW, confirm=lambda _: False)
        assert held(store, "anna") == before
        assert store.recorded_mailbox("anna") is not None
        (applied,) = apply_settings(store, raised, policy, now=NOW, confirm=yes)
        assert applied.widened == 2
        assert {d.decision.level for d in store.decisions("anna")} == {SharingLevel.EVERYTHING}
        (lowered,) = apply_settings(store, box, policy, now=NOW)
        assert (lowered.widened, lowered.narrowed, lowered.needs_confirmation) == (0, 2, False)
        assert held(store, "anna") == before


def test_a_change_beyond_levels_is_decided_copy_by_copy() -> None:
    """Another alias, another policy or another contact switch is not a level change."""
    policy = Policy(["acme.com"])
    box = Mailbox("anna@acme.com", id="anna")
    same = Settings(box, policy)
    assert level_moves(same, same) == ()
    assert level_moves(same, Settings(replace(box, aliases=frozenset()), policy)) == ()
    assert (
        level_moves(same, Settings(Mailbox("anna@acme.com", ["a@acme.com"], id="anna"), policy))
        is None
    )
    assert level_moves(same, Settings(replace(box, create_contacts=False), policy)) is None
    assert level_moves(same, Settings(box, Policy(["acme.com"], sync_internal=True))) is None
    assert level_moves(same, Settings(replace(box, outgoing=SharingLevel.SUBJECT), policy)) == (
        (Direction.OUTGOING, SharingLevel.METADATA, SharingLevel.SUBJECT),
    )


@pytest.mark.parametrize(
    ("mailbox", "policy", "name"),
    [({"owner": "a@acme.com"}, Policy(["acme.com"]), "mailbox"), (None, {}, "policy")],
)
def test_apply_settings_names_a_wrong_argument(mailbox: object, policy: object, name: str) -> None:
    box = Mailbox("anna@acme.com") if mailbox is None else mailbox
    with pytest.raises(ArgumentTypeError, match=f"apply_settings\\(\\) takes a \\w+ as {name}"):
        apply_settings(InMemoryStore(), box, policy, now=NOW)  # type: ignore[arg-type]
