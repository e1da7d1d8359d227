"""An mbox listing scans the file only when it must: after fetches that read the whole file it
answers from what they found, and given the token of an unchanged file it answers that nothing
went. What a store keeps stays what a fetch from scratch gives, through any history.

A file "at rest" is played by setting its modification time to a moment in the past (a later
one at each step); no test reads the clock to decide anything.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from mailbind.sources import mbox
from mailbind.sources.mbox import MboxSource

from .factories import mbox_mail
from .listings import Kept, fetch_everything

#: A moment in the past (2021-01-01), in nanoseconds; each step is a second later.
PAST_NS = 1_609_459_200 * 1_000_000_000


def rest(path: Path, step: int = 0) -> None:
    """The file last modified *step* seconds after `PAST_NS`."""
    when = PAST_NS + step * 1_000_000_000
    os.utime(path, ns=(when, when))


def write(path: Path, numbers: list[int]) -> None:
    path.write_text(
        "".join(mbox_mail(f"Mail {n}", sender=f"kim{n}@client.example") for n in numbers),
        encoding="utf-8",
    )


def test_a_listing_after_a_whole_read_answers_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "inbox.mbox"
    write(path, [1, 2, 3, 4, 5])
    rest(path)
    source = MboxSource(path)
    items, _ = fetch_everything(source, None)
    expected = MboxSource(path).listing().present
    monkeypatch.setattr(mbox, "_messages", None)  # any scan would fail
    listing = source.listing()
    assert listing.present == expected == frozenset(i.location for i in items)
    assert listing.token is not None


def test_an_unchanged_file_answers_a_token_without_a_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "inbox.mbox"
    write(path, [1, 2])
    rest(path)
    first = MboxSource(path).listing()
    assert first.token is not None
    with monkeypatch.context() as patched:
        patched.setattr(mbox, "_messages", None)
        again = MboxSource(path).listing(first.token)
    assert (again.present, again.gone, again.token) == (None, frozenset(), first.token)
    write(path, [1])
    rest(path, 1)
    after = MboxSource(path).listing(first.token)
    assert after.present is not None
    assert len(after.present) == 1


def test_a_file_changed_lately_is_always_scanned(tmp_path: Path) -> None:
    """No token and no reuse for a file modified within the last seconds."""
    path = tmp_path / "inbox.mbox"
    write(path, [1, 2])
    source = MboxSource(path)
    fetch_everything(source, None)
    listing = source.listing()
    assert listing.token is None
    assert listing.present is not None
    assert len(listing.present) == 2


def test_a_read_from_a_cursor_or_of_a_changed_file_is_not_reused(tmp_path: Path) -> None:
    path = tmp_path / "inbox.mbox"
    write(path, [1, 2, 3])
    rest(path)
    source = MboxSource(path)
    _, cursor = fetch_everything(source, None)
    with path.open("a", encoding="utf-8") as file:
        file.write(mbox_mail("Mail 4", sender="kim4@client.example"))
    rest(path, 1)
    assert len(source.listing().present or ()) == 4  # the file changed since the read
    later = MboxSource(path)
    items, _ = fetch_everything(later, cursor)
    assert len(items) == 1
    assert len(later.listing().present or ()) == 4  # read from a cursor: the file is scanned


def test_a_bad_token_is_a_full_listing(tmp_path: Path) -> None:
    path = tmp_path / "inbox.mbox"
    write(path, [1])
    rest(path)
    for token in ("", "[]", '{"kind": "mbox", "v": 1, "file": [1, 2]}', '{"kind": "jsonl"}'):
        assert MboxSource(path).listing(token).present is not None


class MboxHistory(RuleBasedStateMachine):
    """Mail appended, mail deleted (the file rewritten), time passing or not; after every pass
    (fetch from the stored cursor, list from the stored token), the copies a store keeps are
    what a fetch from scratch gives."""

    def __init__(self) -> None:
        super().__init__()
        self.top = Path(tempfile.mkdtemp(prefix="mailbind-mbox-"))
        self.path = self.top / "inbox.mbox"
        self.numbers: list[int] = []
        self.next = 0
        self.step = 0
        write(self.path, [])
        self.kept = Kept()

    def teardown(self) -> None:
        shutil.rmtree(self.top, ignore_errors=True)

    @rule(count=st.integers(1, 3))
    def arrive(self, count: int) -> None:
        added = list(range(self.next, self.next + count))
        self.next += count
        with self.path.open("a", encoding="utf-8") as file:
            for n in added:
                file.write(mbox_mail(f"Mail {n}", sender=f"kim{n}@client.example"))
        self.numbers += added

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        if self.numbers:
            self.numbers.remove(data.draw(st.sampled_from(self.numbers)))
            write(self.path, self.numbers)

    @rule()
    def time_passes(self) -> None:
        self.step += 1
        rest(self.path, self.step)

    @rule()
    def sync(self) -> None:
        """A pass, then a pass with nothing new; the store is what a fetch from scratch gives."""
        self.kept.pass_(MboxSource(self.path))
        assert self.kept.is_from_scratch(MboxSource(self.path))
        assert self.kept.pass_(MboxSource(self.path)) == 0


MboxHistory.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestMboxHistory = MboxHistory.TestCase
