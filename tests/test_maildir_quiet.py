"""A Maildir whose directories held still is answered from their modification times: a pass
with nothing new lists no file, and what a store keeps stays what a fetch from scratch gives.

Time passing is played by setting every directory's modification time to a moment in the past,
a later one at each step (a real file system moves it forward with each change); no test reads
the clock to decide anything.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from mailbind.sources.eml import EmlFolderSource
from mailbind.sources.maildir import MaildirSource

from .factories import tagged_mail
from .listings import Kept, fetch_everything

#: A moment in the past (2021-01-01), in nanoseconds; each settling step is a second later.
PAST_NS = 1_609_459_200 * 1_000_000_000


def directories(root: Path) -> Iterator[Path]:
    """The Maildir, its subfolders, and every ``new``, ``cur`` and ``tmp`` in them."""
    yield root
    for folder in [root, *(p for p in root.iterdir() if p.name.startswith("."))]:
        yield folder
        for sub in ("new", "cur", "tmp"):
            yield folder / sub


def settle(root: Path, step: int) -> None:
    """Every directory last changed *step* seconds after `PAST_NS`."""
    when = PAST_NS + step * 1_000_000_000
    for path in directories(root):
        os.utime(path, ns=(when, when))


def make_maildir(root: Path, *folders: str) -> None:
    for folder in ("", *folders):
        for sub in ("new", "cur", "tmp"):
            (root / folder / sub).mkdir(parents=True, exist_ok=True)


def deliver(root: Path, number: int, folder: str = "") -> str:
    """Mail *number* written into ``new/`` the way a delivery agent does (through ``tmp/``)."""
    name = f"{1740819600 + number}.M{number:06d}P1.host"
    temporary = root / folder / "tmp" / name
    temporary.write_bytes(tagged_mail(f"m{number}"))
    temporary.rename(root / folder / "new" / name)
    return name


class Forbidden(AssertionError):
    pass


def no_scan(self: MaildirSource) -> Iterator[tuple[os.DirEntry[str], str]]:
    raise Forbidden("the Maildir was listed")


def test_a_quiet_maildir_is_answered_without_listing_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once every file was fetched from settled directories, fetching and listing again read
    four directories' times and no file; a delivery makes the next fetch list them again."""
    make_maildir(tmp_path)
    for number in range(5):
        deliver(tmp_path, number)
    settle(tmp_path, 0)
    source = MaildirSource(tmp_path, window=0.0)
    items, cursor = fetch_everything(source, None)
    assert len(items) == 5
    first = source.listing()
    assert first.present is not None
    assert len(first.present) == 5
    assert first.token is not None
    with monkeypatch.context() as patched:
        patched.setattr(MaildirSource, "_scan", no_scan)
        again = MaildirSource(tmp_path, window=0.0)
        batch = again.fetch(cursor)
        assert (batch.items, batch.cursor, batch.done) == ((), cursor, True)
        listing = again.listing(first.token)
        assert (listing.present, listing.gone, listing.token) == (None, frozenset(), first.token)
    deliver(tmp_path, 9)
    settle(tmp_path, 1)
    items, cursor = fetch_everything(MaildirSource(tmp_path, window=0.0), cursor)
    assert [i.raw for i in items] == [tagged_mail("m9")]


def test_directories_that_changed_lately_are_always_listed(tmp_path: Path) -> None:
    """Directories changed within the settling window (or three seconds) are not trusted."""
    make_maildir(tmp_path)
    deliver(tmp_path, 1)
    source = MaildirSource(tmp_path)
    _, cursor = fetch_everything(source, None)
    assert source.listing().token is None
    assert '"quiet":null' in cursor


def test_a_folder_of_eml_files_is_always_listed(tmp_path: Path) -> None:
    """``.eml`` files may be rewritten in place, which moves no directory's time."""
    (tmp_path / "a.eml").write_bytes(tagged_mail("a"))
    settle_eml = PAST_NS
    os.utime(tmp_path, ns=(settle_eml, settle_eml))
    source = EmlFolderSource(tmp_path, window=0.0)
    batch = source.fetch(None)
    assert batch.done
    assert source.listing().token is None
    (tmp_path / "a.eml").write_bytes(tagged_mail("b"))
    os.utime(tmp_path, ns=(settle_eml, settle_eml))
    assert [i.raw for i in source.fetch(batch.cursor).items] == [tagged_mail("b")]


class QuietHistory(RuleBasedStateMachine):
    """Deliveries, flag renames, moves to a subfolder and deletions, with time passing or not
    between them; after every sync, the copies a store keeps are a fetch from scratch's."""

    def __init__(self) -> None:
        super().__init__()
        self.top = Path(tempfile.mkdtemp(prefix="mailbind-quiet-"))
        self.root = self.top / "Maildir"
        make_maildir(self.root, ".Archive")
        self.step = 0
        self.number = 0
        #: Where each message file is now, relative to the Maildir.
        self.files: list[Path] = []
        self.kept = Kept()

    def teardown(self) -> None:
        shutil.rmtree(self.top, ignore_errors=True)

    @rule(folder=st.sampled_from(["", ".Archive"]))
    def arrive(self, folder: str) -> None:
        self.number += 1
        name = deliver(self.root, self.number, folder)
        self.files.append(Path(folder, "new", name))

    @rule(data=st.data())
    def mark_seen(self, data: st.DataObject) -> None:
        """A mail client moves a message to ``cur/`` with the Seen flag (a rename)."""
        fresh = [f for f in self.files if f.parent.name == "new"]
        if not fresh:
            return
        old = data.draw(st.sampled_from(fresh))
        new = old.parent.parent / "cur" / f"{old.name}:2,S"
        (self.root / old).rename(self.root / new)
        self.files[self.files.index(old)] = new

    @rule(data=st.data())
    def move_to_archive(self, data: st.DataObject) -> None:
        inbox = [f for f in self.files if f.parts[0] in ("new", "cur")]
        if not inbox:
            return
        old = data.draw(st.sampled_from(inbox))
        new = Path(".Archive", "cur", old.name)
        (self.root / old).rename(self.root / new)
        self.files[self.files.index(old)] = new

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        if not self.files:
            return
        gone = data.draw(st.sampled_from(self.files))
        (self.root / gone).unlink()
        self.files.remove(gone)

    @rule()
    def time_passes(self) -> None:
        self.step += 1
        settle(self.root, self.step)

    @rule()
    def sync(self) -> None:
        """A pass, then a pass with nothing new; the store is what a fetch from scratch gives."""
        self.kept.pass_(MaildirSource(self.root, window=0.0))
        assert self.kept.is_from_scratch(MaildirSource(self.root, window=0.0))
        assert self.kept.pass_(MaildirSource(self.root, window=0.0)) == 0

    @invariant()
    def files_are_where_the_model_says(self) -> None:
        assert all((self.root / f).exists() for f in self.files)


QuietHistory.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestQuietHistory = QuietHistory.TestCase
