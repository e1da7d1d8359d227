"""Tests for the message sources: one contract for every source, then each source's own cases."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tomllib
import tracemalloc
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mailbind
from mailbind import Flag, Limits, Mailbox, Policy, SourceError
from mailbind.sources import (
    Batch,
    Listing,
    MessageSource,
    SourceItem,
    SourceSettingError,
    flags_for_folder,
    open_source,
)
from mailbind.sources._folders import SEEN_CAP, FolderState
from mailbind.sources.eml import EmlFolderSource
from mailbind.sources.jsonl import JsonLinesSource
from mailbind.sources.maildir import MaildirSource, split_name
from mailbind.sources.mbox import MboxSource

# --- Generated mail --------------------------------------------------------------------------

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Mail:
    """One generated message, which every layout writes in its own form."""

    number: int
    tag: str = "a"

    @property
    def message_id(self) -> str:
        return f"{self.tag}{self.number:05d}@mail.example"

    @property
    def subject(self) -> str:
        return f"Message {self.number} ({self.tag})"

    @property
    def body(self) -> str:
        lines = [f"Hello number {self.number}."]
        if self.number % 3 == 0:
            lines += ["From the start, a body line that looks like an mbox separator.", ""]
        if self.number % 4 == 1:
            lines += [">From an already quoted line", ">>From twice quoted"]
        return "\n".join([*lines, "Bye."]) + "\n"

    @property
    def sent_at(self) -> datetime:
        return START + timedelta(minutes=self.number)

    @property
    def raw(self) -> bytes:
        return (
            f"From: Sender {self.number} <s{self.number}@customer.example>\n"
            f"To: Maria <maria.lopez@acme.example>\n"
            f"Subject: {self.subject}\n"
            f"Date: {self.sent_at:%a, %d %b %Y %H:%M:%S +0000}\n"
            f"Message-ID: <{self.message_id}>\n"
            f"\n{self.body}"
        ).encode()

    @property
    def record(self) -> dict[str, object]:
        return {
            "sender": f"Sender {self.number} <s{self.number}@customer.example>",
            "to": ["Maria <maria.lopez@acme.example>"],
            "subject": self.subject,
            "text": self.body,
            "message_id": f"<{self.message_id}>",
            "sent_at": self.sent_at.isoformat(),
        }


def mails(count: int, *, first: int = 0, tag: str = "a") -> list[Mail]:
    """*count* generated messages numbered from *first*."""
    return [Mail(n, tag) for n in range(first, first + count)]


def mbox_quote(raw: bytes) -> bytes:
    """*raw* quoted as mboxrd writers do: ``>`` before every ``>*From `` line."""
    lines = raw.split(b"\n")
    return b"\n".join(b">" + ln if ln.lstrip(b">").startswith(b"From ") else ln for ln in lines)


def mbox_entry(mail: Mail) -> bytes:
    return b"From sender@customer.example Sat Mar  1 09:00:00 2025\n" + mbox_quote(mail.raw) + b"\n"


class Layout:
    """Writes generated mail in one source's form: create, append, rewrite underneath."""

    kind = ""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def path(self) -> Path:
        raise NotImplementedError

    def source(self) -> MessageSource:
        raise NotImplementedError

    def create(self, batch: Sequence[Mail]) -> MessageSource:
        self.append(batch)
        return self.source()

    def append(self, batch: Sequence[Mail]) -> None:
        raise NotImplementedError

    def rewrite(self, batch: Sequence[Mail]) -> None:
        raise NotImplementedError


class MboxLayout(Layout):
    kind = "mbox"

    @property
    def path(self) -> Path:
        return self.root / "mail.mbox"

    def source(self) -> MessageSource:
        return MboxSource(self.path)

    def append(self, batch: Sequence[Mail]) -> None:
        with self.path.open("ab") as file:
            file.write(b"".join(mbox_entry(m) for m in batch))

    def rewrite(self, batch: Sequence[Mail]) -> None:
        self.path.unlink()
        self.append(batch)


class JsonLinesLayout(Layout):
    kind = "jsonl"

    @property
    def path(self) -> Path:
        return self.root / "mail.jsonl"

    def source(self) -> MessageSource:
        return JsonLinesSource(self.path)

    def append(self, batch: Sequence[Mail]) -> None:
        with self.path.open("a", encoding="utf-8") as file:
            file.writelines(json.dumps(m.record, ensure_ascii=False) + "\n" for m in batch)

    def rewrite(self, batch: Sequence[Mail]) -> None:
        self.path.unlink()
        self.append(batch)


class FolderLayout(Layout):
    """A folder of one file per message; rewriting replaces the folder with a new one."""

    def file_name(self, mail: Mail) -> str:
        raise NotImplementedError

    def prepare(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def path(self) -> Path:
        return self.root / "mail"

    def append(self, batch: Sequence[Mail], folder: Path | None = None) -> None:
        folder = folder or self.path
        self.prepare(folder)
        for mail in batch:
            target = folder / self.file_name(mail)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(mail.raw)

    def rewrite(self, batch: Sequence[Mail]) -> None:
        fresh = self.root / "fresh"
        self.append(batch, fresh)
        shutil.rmtree(self.path)
        fresh.rename(self.path)


class MaildirLayout(FolderLayout):
    kind = "maildir"

    def prepare(self, folder: Path) -> None:
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)

    def file_name(self, mail: Mail) -> str:
        unique = f"{1740819600 + mail.number}.M{mail.number:06d}P1.{mail.tag}.host"
        return f"cur/{unique}:2,S" if mail.number % 2 else f"new/{unique}"

    def source(self) -> MessageSource:
        return MaildirSource(self.path)


class EmlLayout(FolderLayout):
    kind = "eml"

    def file_name(self, mail: Mail) -> str:
        return f"{mail.tag}{mail.number // 4:03d}/{mail.number:05d}.eml"

    def source(self) -> MessageSource:
        return EmlFolderSource(self.path)


LAYOUTS: list[type[Layout]] = [MboxLayout, MaildirLayout, EmlLayout, JsonLinesLayout]
KINDS = [layout.kind for layout in LAYOUTS]


@pytest.fixture(params=LAYOUTS, ids=KINDS)
def layout(request: pytest.FixtureRequest, tmp_path: Path) -> Layout:
    """An empty place for one source's mail."""
    cls: type[Layout] = request.param
    return cls(tmp_path)


def message_id(item: SourceItem) -> str:
    """The Message-ID an item holds, read without mailbind's own parser."""
    if item.built is not None:
        return item.built.message_id or ""
    header = BytesHeaderParser().parsebytes(item.raw or b"")["Message-ID"] or ""
    return header.strip().strip("<>")


def fetch_all(
    source: MessageSource, sizes: Sequence[int] = (500,), cursor: str | None = None
) -> tuple[list[SourceItem], str, list[Batch]]:
    """Every item after *cursor*, fetched with batch limits cycling through *sizes*."""
    items: list[SourceItem] = []
    batches: list[Batch] = []
    for turn in range(10_000):
        batch = source.fetch(cursor, limit=sizes[turn % len(sizes)])
        batches.append(batch)
        items.extend(batch.items)
        cursor = batch.cursor
        if batch.done:
            return items, cursor, batches
    raise AssertionError("the source never said it was done")


def ids(batch: Sequence[Mail]) -> list[str]:
    return [m.message_id for m in batch]


# --- The contract every source keeps ---------------------------------------------------------


def test_every_source_is_a_message_source(layout: Layout) -> None:
    """Each file source satisfies the `MessageSource` protocol and names its path."""
    source = layout.create(mails(1))
    assert isinstance(source, MessageSource)
    assert source.name == str(layout.path)


@pytest.mark.parametrize("sizes", [(1,), (2,), (3,), (7,), (500,), (4, 1, 2)])
def test_fetches_every_message_once_in_order(layout: Layout, sizes: tuple[int, ...]) -> None:
    """Fetching in batches of any size yields every message exactly once, in order."""
    written = mails(23)
    items, _cursor, batches = fetch_all(layout.create(written), sizes)
    assert [message_id(item) for item in items] == ids(written)
    assert all(len(b.items) <= sizes[i % len(sizes)] for i, b in enumerate(batches))
    assert not any(b.reset for b in batches)


def test_fetch_from_the_final_cursor_yields_nothing(layout: Layout) -> None:
    """Fetching again from the last cursor yields no message and keeps the cursor usable."""
    source = layout.create(mails(5))
    _items, cursor, _batches = fetch_all(source, (2,))
    again = source.fetch(cursor)
    assert again.items == ()
    assert again.done
    assert not again.reset
    assert source.fetch(again.cursor).items == ()


def test_a_new_source_object_continues_from_a_stored_cursor(layout: Layout) -> None:
    """A cursor is all the state a source needs: a new source object continues from it."""
    written = mails(9)
    first = layout.create(written).fetch(None, limit=4)
    rest, _cursor, _batches = fetch_all(layout.source(), (3,), first.cursor)
    assert [message_id(i) for i in first.items + tuple(rest)] == ids(written)


def test_appended_mail_alone_is_fetched_after_the_cursor(layout: Layout) -> None:
    """Mail added after a sync is all that the next sync from the cursor yields."""
    source = layout.create(mails(6))
    _items, cursor, _batches = fetch_all(source, (4,))
    added = mails(4, first=6)
    layout.append(added)
    items, _cursor, batches = fetch_all(source, (3,), cursor)
    assert [message_id(i) for i in items] == ids(added)
    assert not any(b.reset for b in batches)


def test_a_source_rewritten_underneath_resets_and_yields_everything(layout: Layout) -> None:
    """A source replaced by other mail answers with ``reset`` and then yields all of it."""
    source = layout.create(mails(6))
    _items, cursor, _batches = fetch_all(source, (4,))
    replacement = mails(3, tag="b")
    layout.rewrite(replacement)
    items, _cursor, batches = fetch_all(source, (2,), cursor)
    assert batches[0].reset
    assert not any(b.reset for b in batches[1:])
    assert [message_id(i) for i in items] == ids(replacement)


@pytest.mark.parametrize("cursor", ["", "not json", "[]", '{"kind": "other", "v": 1}', "{}"])
def test_an_unreadable_cursor_starts_over_with_reset(layout: Layout, cursor: str) -> None:
    """A cursor the source did not make is no error: the source starts over and says so."""
    written = mails(3)
    batch = layout.create(written).fetch(cursor)
    assert batch.reset
    assert [message_id(i) for i in batch.items] == ids(written)


def test_items_say_where_they_stand(layout: Layout) -> None:
    """Every item names its place in the source, distinct from every other item's."""
    items, _cursor, _batches = fetch_all(layout.create(mails(8)), (3,))
    locations = [item.location for item in items]
    assert all(loc.startswith(str(layout.path)) for loc in locations)
    assert len(set(locations)) == len(locations)


def test_a_listing_names_what_a_fetch_from_scratch_gives(layout: Layout) -> None:
    """A listing without a token is complete: exactly the locations a full fetch yields."""
    source = layout.create(mails(7))
    items, _cursor, _batches = fetch_all(source, (3,))
    listing = source.listing()
    assert held(listing) == {item.location for item in items}
    assert listing.gone == frozenset()


def test_items_hold_the_message_as_written(layout: Layout) -> None:
    """Raw items hold the exact bytes of each message; built ones its values."""
    written = mails(9)
    items, _cursor, _batches = fetch_all(layout.create(written), (4,))
    for mail, item in zip(written, items, strict=True):
        if item.built is not None:
            assert (item.built.subject, item.built.text) == (mail.subject, mail.body)
        else:
            assert item.raw == mail.raw


def test_an_empty_source_is_done_at_once(layout: Layout) -> None:
    """A source without mail yields an empty, finished batch, and later mail after it."""
    source = layout.create([])
    batch = source.fetch(None)
    assert (batch.items, batch.done, batch.reset) == ((), True, False)
    layout.append(mails(2))
    assert [message_id(i) for i in source.fetch(batch.cursor).items] == ids(mails(2))


def test_a_batch_ends_early_when_it_holds_enough_bytes(layout: Layout) -> None:
    """With a small byte budget every batch holds one message, and none is lost."""
    layout.create(mails(4))
    source = type(layout.source())(layout.path, batch_bytes=1)  # type: ignore[call-arg]
    items, _cursor, batches = fetch_all(source, (10,))
    assert [len(b.items) for b in batches if b.items] == [1, 1, 1, 1]
    assert [message_id(i) for i in items] == ids(mails(4))


@pytest.mark.parametrize("limit", [0, -1, 1.5, "3", True])
def test_a_limit_below_one_is_refused(layout: Layout, limit: object) -> None:
    """A batch limit that is not a whole number of at least one raises at once."""
    source = layout.create(mails(1))
    with pytest.raises(SourceSettingError) as caught:
        source.fetch(None, limit=limit)  # type: ignore[arg-type]
    assert str(caught.value) == f"The batch limit must be at least 1, not {limit!r}."


MISSING = {
    "mbox": "Cannot read the mbox file {path!r}: it does not exist.",
    "maildir": "Cannot read the Maildir folder {path!r}: it does not exist.",
    "eml": "Cannot read the folder of .eml files {path!r}: it does not exist.",
    "jsonl": "Cannot read the JSON lines file {path!r}: it does not exist.",
}


def test_a_missing_path_raises_source_error(layout: Layout) -> None:
    """A path with nothing at it raises `SourceError` naming it, from the `OSError`."""
    source = layout.source()
    with pytest.raises(SourceError) as caught:
        source.fetch(None)
    assert str(caught.value) == MISSING[layout.kind].format(path=str(layout.path))
    assert isinstance(caught.value.__cause__, OSError)


def test_a_missing_path_is_an_error_for_a_listing_too(layout: Layout) -> None:
    """A listing never takes a missing source for an empty one: it raises as a fetch does."""
    with pytest.raises(SourceError) as caught:
        layout.source().listing()
    assert str(caught.value) == MISSING[layout.kind].format(path=str(layout.path))


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads anything")
def test_an_unreadable_path_raises_source_error(layout: Layout) -> None:
    """A file or folder without read permission raises `SourceError` naming it."""
    source = layout.create(mails(2))
    layout.path.chmod(0)
    try:
        with pytest.raises(SourceError, match="permission denied"):
            source.fetch(None)
    finally:
        layout.path.chmod(0o755)


def test_a_permission_error_names_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An `OSError` while opening becomes one sentence with the path and the reason."""
    path = tmp_path / "mail.mbox"
    path.write_bytes(mbox_entry(Mail(1)))

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("mailbind.sources._files.open", refuse, raising=False)
    with pytest.raises(SourceError) as caught:
        MboxSource(path).fetch(None)
    assert str(caught.value) == f"Cannot read the mbox file {str(path)!r}: permission denied."
    assert isinstance(caught.value.__cause__, PermissionError)


@pytest.fixture(scope="module")
def stored_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MessageSource]:
    """One source of each kind holding the same 17 messages, made once for the properties."""
    made = {}
    for cls in LAYOUTS:
        made[cls.kind] = cls(tmp_path_factory.mktemp(cls.kind)).create(mails(17))
    return made


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 6), min_size=1, max_size=5))
def test_any_batch_sizes_yield_every_message_once(
    stored_sources: dict[str, MessageSource], kind: str, sizes: list[int]
) -> None:
    """Property: whatever the sequence of batch limits, every message comes once, in order."""
    items, cursor, _batches = fetch_all(stored_sources[kind], sizes)
    assert [message_id(i) for i in items] == ids(mails(17))
    assert stored_sources[kind].fetch(cursor).items == ()


# --- open_source -----------------------------------------------------------------------------


def test_open_source_guesses_the_format_from_the_path(layout: Layout) -> None:
    """`open_source` picks the adapter that fits what is at the path."""
    layout.create(mails(2))
    source = open_source(layout.path)
    assert type(source) is type(layout.source())
    assert [message_id(i) for i in source.fetch(None).items] == ids(mails(2))


def test_open_source_takes_a_named_format(tmp_path: Path) -> None:
    """A named format wins over the content: a ``.txt`` file of JSON lines is recognised as
    such, and read as an mbox when told."""
    path = tmp_path / "export.txt"
    path.write_text(json.dumps(Mail(1).record) + "\n", encoding="utf-8")
    assert isinstance(open_source(path), JsonLinesSource)
    assert isinstance(open_source(path, "mbox"), MboxSource)


def test_open_source_refuses_an_unknown_format(tmp_path: Path) -> None:
    """An unknown format name is a caller's mistake, told with the choices."""
    with pytest.raises(SourceSettingError) as caught:
        open_source(tmp_path, "pst")
    assert str(caught.value) == (
        "The source format must be one of mbox, maildir, eml, jsonl, not 'pst'."
    )


def test_open_source_reports_a_missing_path(tmp_path: Path) -> None:
    """A path with nothing at it cannot be guessed and says so."""
    path = str(tmp_path / "nowhere")
    with pytest.raises(SourceError) as caught:
        open_source(path)
    assert str(caught.value) == f"Cannot read the mail source {path!r}: it does not exist."


def test_importing_mailbind_loads_no_adapter() -> None:
    """The core imports no source adapter and none of their standard-library modules."""
    code = (
        "import sys, mailbind, mailbind.sources; "
        "bad = [m for m in ('mailbox', 'sqlite3', 'mailbind.sources.mbox', "
        "'mailbind.sources.maildir', 'mailbind.sources.eml', 'mailbind.sources.jsonl', "
        "'imaplib', 'mailbind.sources.imap') "
        "if m in sys.modules]; print(bad)"
    )
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
    assert "sources" not in mailbind.__all__


# --- Settings and folder roles ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (".Junk", {Flag.SPAM}),
        (".INBOX.Spam", {Flag.SPAM}),
        ("Junk E-mail", {Flag.SPAM}),
        (".Trash", {Flag.TRASH}),
        ("Deleted Items", {Flag.TRASH}),
        (".Drafts", {Flag.DRAFT}),
        ("Sent", {Flag.SENT}),
        ("Sent Items", {Flag.SENT}),
        ("sent.mbox", {Flag.SENT}),
        ("/home/maria/Mail/.Sent/", {Flag.SENT}),
        ("INBOX", set()),
        ("Clients.mbox", set()),
        (".Sent.2019", set()),
        ("Trashy novels", set()),
    ],
)
def test_folder_names_imply_flags(name: str, expected: set[Flag]) -> None:
    """Well-known folder names imply their role; every other name implies nothing."""
    assert flags_for_folder(name) == expected


def test_a_source_takes_flags_from_its_name_unless_given(tmp_path: Path) -> None:
    """An mbox called ``Sent`` marks its mail as sent; explicit flags replace the guess."""
    path = tmp_path / "Sent"
    path.write_bytes(mbox_entry(Mail(1)))
    assert MboxSource(path).fetch(None).items[0].flags == {Flag.SENT}
    assert MboxSource(path, flags=()).fetch(None).items[0].flags == frozenset()
    assert MboxSource(path, flags=["spam"]).fetch(None).items[0].flags == {Flag.SPAM}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"flags": ["bogus"]}, "A flag must be one of draft, spam, trash, sent, not 'bogus'."),
        ({"max_message_bytes": 0}, "max_message_bytes must be a positive whole number, not 0."),
        ({"batch_bytes": -5}, "batch_bytes must be a positive whole number, not -5."),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, setting: dict[str, object], message: str) -> None:
    """A setting a source cannot use raises `SourceSettingError` with the bad value."""
    with pytest.raises(SourceSettingError) as caught:
        MboxSource(tmp_path / "x.mbox", **setting)  # type: ignore[arg-type]
    assert str(caught.value) == message


@pytest.mark.parametrize("window", [-1, float("nan"), "10", True])
def test_a_bad_window_is_refused(tmp_path: Path, window: object) -> None:
    """A folder source's settling window must be zero or more seconds."""
    with pytest.raises(SourceSettingError) as caught:
        MaildirSource(tmp_path, window=window)  # type: ignore[arg-type]
    assert str(caught.value) == f"window must be zero or more seconds, not {window!r}."


def test_a_message_over_the_size_limit_is_kept_cut_and_read_as_too_large(tmp_path: Path) -> None:
    """A message larger than the source reads keeps its first bytes and is ``too_large``."""
    mail = Mail(1)
    path = tmp_path / "big.mbox"
    path.write_bytes(mbox_entry(mail) + mbox_entry(Mail(2)))
    items = MboxSource(path, max_message_bytes=100).fetch(None).items
    assert [len(i.raw or b"") for i in items] == [101, 101]
    assert all(i.truncated for i in items)
    message = items[0].message(Limits())
    assert "too_large" in message.defects
    assert message.message_id is None or message.message_id == mail.message_id


# --- mbox ------------------------------------------------------------------------------------


def mbox_items(tmp_path: Path, data: bytes, **kw: object) -> list[SourceItem]:
    path = tmp_path / "mail.mbox"
    path.write_bytes(data)
    items, _cursor, _batches = fetch_all(MboxSource(path, **kw), (3,))  # type: ignore[arg-type]
    return items


@pytest.mark.parametrize(
    ("line", "read"),
    [
        (b">From here", b"From here"),
        (b">>From here", b">From here"),
        (b">>>From here", b">>From here"),
        (b"> From here", b"> From here"),
        (b">Fromage", b">Fromage"),
        (b"x >From here", b"x >From here"),
        (b">From", b">From"),
    ],
)
def test_mbox_unquotes_from_lines_as_mboxrd(tmp_path: Path, line: bytes, read: bytes) -> None:
    """One ``>`` goes from lines that read ``>*From ``; other lines stay as written."""
    data = b"From a@b.example Sat Mar  1 09:00:00 2025\nSubject: q\n\n" + line + b"\nend\n"
    [item] = mbox_items(tmp_path, data)
    assert item.raw == b"Subject: q\n\n" + read + b"\nend\n"


@pytest.mark.parametrize(
    ("data", "raws"),
    [
        # The last message without a line end.
        (b"From a\nS: 1\n\none\n\nFrom b\nS: 2\n\ntwo", [b"S: 1\n\none\n", b"S: 2\n\ntwo"]),
        # CRLF line ends: the separating blank line goes, CRLF stays.
        (
            b"From a\r\nS: 1\r\n\r\none\r\n\r\nFrom b\r\nS: 2\r\n",
            [b"S: 1\r\n\r\none\r\n", b"S: 2\r\n"],
        ),
        # Text before the first From line is a message too (an .eml read as an mbox).
        (b"S: 0\n\nzero\n\nFrom a\nS: 1\n", [b"S: 0\n\nzero\n", b"S: 1\n"]),
        # ...but blank lines before it are not.
        (b"\n\n\nFrom a\nS: 1\n", [b"S: 1\n"]),
        # A message with nothing after its From line is still a message.
        (b"From a\nFrom b\nS: 2\n", [b"", b"S: 2\n"]),
        # An empty file holds nothing.
        (b"", []),
    ],
    ids=["no-final-newline", "crlf", "leading-text", "leading-blanks", "empty-message", "empty"],
)
def test_mbox_splits_real_world_files(tmp_path: Path, data: bytes, raws: list[bytes]) -> None:
    """Table of mbox framings found in real files, each read without losing a message."""
    assert [i.raw for i in mbox_items(tmp_path, data)] == raws


def test_mbox_from_inside_a_long_line_is_not_a_separator(tmp_path: Path) -> None:
    """``From `` where a long line is split into pieces does not start a message."""
    from mailbind.sources._files import PIECE

    long_line = b"x" * PIECE + b"From here\n"
    envelope = b"From " + b"e" * (PIECE + 10) + b"\n"
    data = envelope + b"S: 1\n\n" + long_line + b"From b\nS: 2\n"
    items = mbox_items(tmp_path, data)
    assert [i.raw for i in items] == [b"S: 1\n\n" + long_line, b"S: 2\n"]


def test_mbox_appended_after_a_last_message_without_newline(tmp_path: Path) -> None:
    """Mail appended after a final message that lacked a line end is read without a reset."""
    path = tmp_path / "mail.mbox"
    path.write_bytes(b"From a\nS: 1\n\nno end")
    source = MboxSource(path)
    first = source.fetch(None)
    with path.open("ab") as file:
        file.write(b"\n\nFrom b\nS: 2\n")
    second = source.fetch(first.cursor)
    assert (second.reset, [i.raw for i in second.items]) == (False, [b"S: 2\n"])


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d.replace(b"Message 0", b"Massage 0"), id="head-changed"),
        pytest.param(lambda d: d.replace(b"Message 4", b"Massage 4"), id="before-offset"),
        pytest.param(lambda d: d[: len(d) // 3], id="shrank"),
        pytest.param(lambda d: d + b"more text of the last message\n", id="last-message-grew"),
    ],
)
def test_mbox_change_before_the_cursor_resets(
    tmp_path: Path, change: Callable[[bytes], bytes]
) -> None:
    """A change to what the cursor stands on makes the next fetch start over with ``reset``."""
    path = tmp_path / "mail.mbox"
    path.write_bytes(b"".join(mbox_entry(m) for m in mails(5)).rstrip(b"\n"))
    source = MboxSource(path)
    _items, cursor, _batches = fetch_all(source)
    path.write_bytes(change(path.read_bytes()))
    assert source.fetch(cursor).reset


def test_mbox_change_after_the_cursor_is_read_without_reset(tmp_path: Path) -> None:
    """Mail removed after the cursor's offset is simply not read; no reset is needed."""
    path = tmp_path / "mail.mbox"
    entries = [mbox_entry(m) for m in mails(6)]
    path.write_bytes(b"".join(entries))
    source = MboxSource(path)
    first = source.fetch(None, limit=2)
    path.write_bytes(b"".join(entries[:3]))
    batch = source.fetch(first.cursor)
    assert (batch.reset, [message_id(i) for i in batch.items]) == (False, ids(mails(1, first=2)))


# --- Streaming memory ------------------------------------------------------------------------


#: The body of a message in the memory tests: long lines, as HTML mail has them (fewer lines
#: keep the test quick under tracemalloc, which slows every allocation).
BIG_BODY = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 18 + "\n") * 8


def big_mbox(path: Path, size: int) -> int:
    """Write an mbox of about *size* bytes; return how many messages it holds."""
    body = BIG_BODY.encode()
    count = 0
    with path.open("wb") as file:
        while file.tell() < size:
            file.write(mbox_entry(Mail(count))[:-1] + body + b"\n")
            count += 1
    return count


def big_jsonl(path: Path, size: int) -> int:
    """Write a JSON lines file of about *size* bytes; return how many records it holds."""
    count = 0
    with path.open("w", encoding="utf-8") as file:
        while file.tell() < size:
            # Few senders, as in real mail: the parsers' bounded caches stay small.
            record = Mail(count).record | {"text": BIG_BODY, "sender": f"s{count % 50}@x.example"}
            file.write(json.dumps(record) + "\n")
            count += 1
    return count


@pytest.mark.parametrize(
    ("writer", "cls"), [(big_mbox, MboxSource), (big_jsonl, JsonLinesSource)], ids=["mbox", "jsonl"]
)
def test_streaming_memory_stays_flat(
    tmp_path: Path, writer: Callable[[Path, int], int], cls: type[MessageSource]
) -> None:
    """Reading a 20 MB file in batches of 100 peaks at a few MB, not at the file's size."""
    path = tmp_path / "big"
    count = writer(path, 20 * 1024 * 1024)
    source = cls(path)  # type: ignore[call-arg]
    # A first batch loads what is loaded once (the Public Suffix List, lazy imports).
    first = source.fetch(None, limit=100)
    seen, cursor = len(first.items), first.cursor
    del first
    tracemalloc.start()
    try:
        while True:
            batch = source.fetch(cursor, limit=100)
            seen += len(batch.items)
            cursor = batch.cursor
            del batch
            if seen >= count:
                break
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == count
    assert peak < 3 * 1024 * 1024, f"peak {peak} bytes"


# --- Maildir ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "unique", "flags"),
    [
        ("1740819600.M1P2.host", "1740819600.M1P2.host", set()),
        ("1740819600.M1P2.host:2,S", "1740819600.M1P2.host", set()),
        ("1740819600.M1P2.host:2,DS", "1740819600.M1P2.host", {Flag.DRAFT}),
        ("1740819600.M1P2.host:2,ST", "1740819600.M1P2.host", {Flag.TRASH}),
        ("1740819600.M1P2.host!2,DT", "1740819600.M1P2.host", {Flag.DRAFT, Flag.TRASH}),
        ("1740819600.M1P2.host,S=1234:2,FRS", "1740819600.M1P2.host,S=1234", set()),
        ("1740819600.M1P2.host:1,experimental", "1740819600.M1P2.host", set()),
    ],
)
def test_maildir_names_give_unique_name_and_flags(
    name: str, unique: str, flags: AbstractSet[Flag]
) -> None:
    """The unique name is the part before the info suffix; ``D`` and ``T`` become flags."""
    assert split_name(name) == (unique, flags)


def test_maildir_reads_new_and_cur_but_not_tmp_or_hidden_files(tmp_path: Path) -> None:
    """Deliveries in ``tmp/`` and dot files are not messages; ``new/`` and ``cur/`` are."""
    layout = MaildirLayout(tmp_path)
    source = layout.create(mails(2))
    (layout.path / "tmp" / "1.M1.host").write_bytes(Mail(7).raw)
    (layout.path / "cur" / ".hidden").write_bytes(Mail(8).raw)
    assert [message_id(i) for i in source.fetch(None).items] == ids(mails(2))


def test_maildir_items_carry_their_flags(tmp_path: Path) -> None:
    """Flags come from the file name and from the folder's name together."""
    folder = tmp_path / ".Junk"
    MaildirLayout(tmp_path).prepare(folder)
    (folder / "cur" / "1.M1.host:2,DS").write_bytes(Mail(1).raw)
    [item] = MaildirSource(folder).fetch(None).items
    assert item.flags == {Flag.SPAM, Flag.DRAFT}
    assert item.location == str(folder / "1.M1.host")


def test_maildir_finds_a_message_renamed_after_it_was_listed(tmp_path: Path) -> None:
    """A message moved from ``new/`` to ``cur/`` between listing and reading is still read."""
    layout = MaildirLayout(tmp_path)
    source = layout.create(mails(4))
    first = source.fetch(None, limit=1)  # lists all four, reads one
    old = layout.path / "new" / layout.file_name(Mail(2)).split("/")[1]
    old.rename(layout.path / "cur" / (old.name + ":2,T"))
    rest, _cursor, _batches = fetch_all(source, (5,), first.cursor)
    assert [message_id(i) for i in rest] == ids(mails(3, first=1))
    assert rest[1].flags == {Flag.TRASH}


def test_maildir_without_cur_or_new_is_refused(tmp_path: Path) -> None:
    """A folder that is not a Maildir says so in one sentence."""
    with pytest.raises(SourceError) as caught:
        MaildirSource(tmp_path).fetch(None)
    assert str(caught.value) == (
        f"Cannot read the Maildir folder {str(tmp_path)!r}: it has no cur or new folder."
    )


def test_a_file_where_a_folder_belongs_is_refused(tmp_path: Path) -> None:
    """A folder source given a file says it is not a folder."""
    path = tmp_path / "mail.mbox"
    path.write_bytes(b"")
    with pytest.raises(SourceError) as caught:
        EmlFolderSource(path).fetch(None)
    assert str(caught.value) == (
        f"Cannot read the folder of .eml files {str(path)!r}: it is not a folder."
    )


# --- The folder cursor -----------------------------------------------------------------------


def entry(changed: int, name: str) -> tuple[int, str, str]:
    return (changed, name, f"/m/{name}")


def test_folder_cursor_fetches_a_late_file_inside_the_window_once() -> None:
    """A file that appears below the mark but inside the window is wanted, then not again."""
    state = FolderState([1, 2])
    state.advance([entry(100, "a"), entry(200, "c")], window_ns=50)
    late, old = entry(160, "b"), entry(140, "z")
    assert state.wants(late)
    assert not state.wants(old)  # below the window: the documented limit
    assert not state.wants(entry(200, "c"))
    state.advance([late], window_ns=50)
    assert not state.wants(late)
    assert state.wants(entry(200, "d"))


def test_folder_cursor_round_trips_through_its_text() -> None:
    """A folder cursor decodes to the state it was made from."""
    state = FolderState([3, 4])
    state.advance([entry(10, "x"), entry(12, "y")], window_ns=5)
    again = FolderState.decode(state.encode("eml"), "eml")
    assert again is not None
    assert (again.folder, again.mark, again.floor, again.seen) == (
        state.folder,
        state.mark,
        state.floor,
        state.seen,
    )
    assert FolderState.decode(state.encode("eml"), "maildir") is None


@settings(max_examples=50)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3_000)), max_size=400),
        max_size=8,
    )
)
def test_folder_cursor_stays_bounded_and_never_refetches(
    rounds: list[list[tuple[int, int]]],
) -> None:
    """Property: the window keeps at most `SEEN_CAP` names, and no fetched entry is wanted again."""
    state = FolderState([0, 0])
    fetched: set[tuple[int, str]] = set()
    for batch in rounds:
        entries = [entry(t, f"n{n}") for t, n in batch]
        state.advance([e for e in entries if state.wants(e)], window_ns=2_000)
        fetched.update((e[0], e[1]) for e in entries)
        assert len(state.seen) <= SEEN_CAP
        assert not any(state.wants(entry(t, n)) for t, n in fetched)


# --- .eml folders ----------------------------------------------------------------------------


def test_eml_folder_reads_eml_files_in_subfolders_only(tmp_path: Path) -> None:
    """Every ``.eml`` file counts, in any case and subfolder; other and hidden files do not."""
    (tmp_path / "2025" / "03").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    (tmp_path / "2025" / "03" / "a.eml").write_bytes(Mail(1).raw)
    (tmp_path / "2025" / "b.EML").write_bytes(Mail(2).raw)
    (tmp_path / "notes.txt").write_bytes(Mail(3).raw)
    (tmp_path / ".git" / "c.eml").write_bytes(Mail(4).raw)
    (tmp_path / ".d.eml").write_bytes(Mail(5).raw)
    items = EmlFolderSource(tmp_path).fetch(None).items
    assert sorted(message_id(i) for i in items) == ids(mails(2, first=1))


def test_eml_folder_sees_a_file_moved_in_with_an_old_time(tmp_path: Path) -> None:
    """A file moved into the folder with an old modification time is still new mail."""
    folder = tmp_path / "mail"
    source = EmlLayout(tmp_path).create(mails(2))
    _items, cursor, _batches = fetch_all(source)
    outside = tmp_path / "old.eml"
    outside.write_bytes(Mail(9).raw)
    os.utime(outside, (0, 0))
    outside.rename(folder / "old.eml")
    assert [message_id(i) for i in source.fetch(cursor).items] == [Mail(9).message_id]


# --- JSON lines ------------------------------------------------------------------------------


def jsonl_items(tmp_path: Path, text: str, **kw: object) -> list[SourceItem]:
    path = tmp_path / "mail.jsonl"
    path.write_text(text, encoding="utf-8")
    items, _cursor, _batches = fetch_all(JsonLinesSource(path, **kw), (2,))  # type: ignore[arg-type]
    return items


def test_jsonl_builds_messages_from_records(tmp_path: Path) -> None:
    """A record becomes the message ``Message.build`` makes of its fields."""
    record = {
        "sender": "Zoë Brontë <zoe.bronte@globex.example>",
        "to": ["María <maria.lopez@acme.example>"],
        "cc": "tom.baker@acme.example",
        "subject": "Renewal",
        "text": "See attached.",
        "html": "<p>See attached.</p>",
        "message_id": "<r1@globex.example>",
        "sent_at": "2025-03-01T09:30:00-05:00",
        "headers": [["List-Id", "<partners.globex.example>"]],
        "flags": ["draft"],
        "extra": "ignored",
    }
    [item] = jsonl_items(tmp_path, json.dumps(record, ensure_ascii=False) + "\n")
    message = item.message()
    assert message.message_id == "r1@globex.example"
    assert message.sent_at == datetime.fromisoformat("2025-03-01T09:30:00-05:00")
    assert [p.address.key for p in message.participants if p.address] == [
        "zoe.bronte@globex.example",
        "maria.lopez@acme.example",
        "tom.baker@acme.example",
    ]
    assert message.header("List-Id") == "<partners.globex.example>"
    assert message.flags == {Flag.DRAFT}
    assert message.defects == ()
    assert item.location == f"{tmp_path / 'mail.jsonl'}:1"


@pytest.mark.parametrize(
    ("line", "defect", "readable"),
    [
        ("not json", "bad_json_line", False),
        ("[1, 2]", "bad_json_line", False),
        ('"a string"', "bad_json_line", False),
        ("[" * 100_000, "bad_json_line", False),
        ('{"sender": 5}', "bad_json_record", False),
        ('{"sender": "a@b.example", "to": [1]}', "bad_json_record", False),
        ('{"sender": "a@b.example", "flags": ["urgent"]}', "bad_json_record", False),
        ('{"sender": "a@b.example", "headers": [["X-Only-Name"]]}', "bad_json_record", False),
        ('{"sender": "a@b.example", "sent_at": "yesterday"}', "bad_date", True),
        ('{"sender": "a@b.example", "sent_at": "2025-03-01T09:30:00"}', "bad_date", True),
        ('{"sender": "a@b.example", "sent_at": 1740821400}', "bad_date", True),
    ],
)
def test_jsonl_records_every_bad_line(
    tmp_path: Path, line: str, defect: str, readable: bool
) -> None:
    """A bad line is never dropped and never raises: it becomes a message with a defect."""
    good = json.dumps(Mail(1).record)
    items = jsonl_items(tmp_path, f"{good}\n{line}\n{good}\n")
    assert [i.location.rsplit(":", 1)[1] for i in items] == ["1", "2", "3"]
    message = items[1].message()
    assert defect in message.defects
    assert bool(message.participants) is readable
    if not readable:
        assert message.text == line
        assert message.participants == ()


def test_jsonl_distinct_bad_lines_stay_distinct(tmp_path: Path) -> None:
    """Two different unreadable lines are two messages with different keys."""
    items = jsonl_items(tmp_path, "oops one\noops two\n")
    assert len({i.message().key for i in items}) == 2


def test_jsonl_skips_blank_lines_but_counts_them(tmp_path: Path) -> None:
    """Blank lines are no records; line numbers in locations still count them."""
    good = json.dumps(Mail(1).record)
    items = jsonl_items(tmp_path, f"\n{good}\n   \n\n{good}")
    assert [i.location.rsplit(":", 1)[1] for i in items] == ["2", "5"]


def test_jsonl_waits_for_an_unfinished_last_line(tmp_path: Path) -> None:
    """A last line without an end that is not yet JSON is read once it is complete."""
    path = tmp_path / "mail.jsonl"
    text = json.dumps(Mail(1).record) + "\n" + json.dumps(Mail(2).record)
    path.write_text(text[:-10], encoding="utf-8")
    source = JsonLinesSource(path)
    first = source.fetch(None)
    assert [message_id(i) for i in first.items] == ids(mails(1, first=1))
    path.write_text(text, encoding="utf-8")
    second = source.fetch(first.cursor)
    assert (second.reset, [message_id(i) for i in second.items]) == (False, ids(mails(1, first=2)))


def test_jsonl_a_line_over_the_size_limit_is_too_large(tmp_path: Path) -> None:
    """A line longer than the source reads is recorded as ``too_large``, and reading goes on."""
    big = json.dumps(Mail(1).record | {"text": "x" * 5000})
    items = jsonl_items(tmp_path, f"{big}\n{json.dumps(Mail(2).record)}\n", max_message_bytes=1000)
    assert items[0].message().defects == ("too_large",)
    assert message_id(items[1]) == Mail(2).message_id


# --- The bundled sample ----------------------------------------------------------------------

DATA = resources.files("mailbind") / "data"


@pytest.fixture(scope="module")
def sample_items() -> list[SourceItem]:
    """Every message of the sample mailbox."""
    with resources.as_file(DATA / "sample.mbox") as path:
        items, _cursor, _batches = fetch_all(MboxSource(path))
    return items


def test_the_sample_files_are_what_the_script_writes() -> None:
    """The committed sample files are exactly the output of ``scripts/make_sample.py``."""
    import importlib.util

    script = Path(__file__).resolve().parent.parent / "scripts" / "make_sample.py"
    spec = importlib.util.spec_from_file_location("make_sample", script)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_sample"] = module
    try:
        spec.loader.exec_module(module)
        for name, data in module.outputs().items():
            assert (DATA / name).read_bytes() == data, f"{name} is out of date"
    finally:
        del sys.modules["make_sample"]


def test_the_sample_holds_at_least_200_readable_messages(sample_items: list[SourceItem]) -> None:
    """The sample mailbox has 200 or more messages, each with a sender and a distinct key."""
    messages = [item.message() for item in sample_items]
    assert len(messages) >= 200
    assert len({m.key for m in messages}) == len(messages)
    assert all(m.participants for m in messages)


def test_the_sample_shows_every_kind_of_mail(sample_items: list[SourceItem]) -> None:
    """The sample holds each case the README and docs point at."""
    messages = [item.message() for item in sample_items]
    domains = {p.address.registrable for m in messages for p in m.participants if p.address}
    assert {"globex.example", "initech.example", "gmail.com", "gmx.de"} <= domains
    assert {"spammy.example", "xn--bcher-kva.example", "acme-labs.example"} <= domains
    assert any(
        p.address and p.address.domain == "eu.acme.example"
        for m in messages
        for p in m.participants
    )
    assert any(p.name == "Zoë Brontë" for m in messages for p in m.participants)
    assert any(p.name == "高橋 直子" for m in messages for p in m.participants)
    assert sum(1 for m in messages if m.header("List-Id")) >= 10
    assert any(
        m.sender and m.sender.address and m.sender.address.local == "noreply" for m in messages
    )
    assert {Flag.DRAFT, Flag.SPAM, Flag.TRASH} <= {f for m in messages for f in m.flags}
    assert any(m.header("In-Reply-To") for m in messages)
    assert sum(1 for m in messages if m.attachments) >= 2
    assert any(m.message_id is None for m in messages)
    assert any(m.sent_at is None for m in messages)
    assert any(not p.readable for m in messages for p in m.participants)


def test_the_second_sample_mailbox_shares_one_message(sample_items: list[SourceItem]) -> None:
    """Exactly one message of Maria's mailbox is also in Tom's."""
    with resources.as_file(DATA / "sample-tom.mbox") as path:
        tom, _cursor, _batches = fetch_all(MboxSource(path))
    maria_keys = {i.message().key for i in sample_items}
    assert len({i.message().key for i in tom} & maria_keys) == 1


def test_the_sample_config_builds_a_policy_and_mailboxes() -> None:
    """``sample.toml`` holds a `Policy` and one `Mailbox` per sample file, by parameter name."""
    config = tomllib.loads((DATA / "sample.toml").read_text(encoding="utf-8"))
    policy = Policy(**config["policy"])
    assert policy.blocklist == {"@spammy.example"}
    boxes = []
    for table in config["mailbox"]:
        settings_ = {k: v for k, v in table.items() if k not in ("source", "format")}
        boxes.append(Mailbox(**settings_))
        assert (DATA / table["source"]).is_file()
    assert [str(b.owner) for b in boxes] == ["maria.lopez@acme.example", "tom.baker@acme.example"]


def test_sample_addresses_parse(sample_items: list[SourceItem]) -> None:
    """Every participant of the sample reads as an address but the one broken on purpose."""
    unreadable = [
        p.raw for item in sample_items for p in item.message().participants if not p.readable
    ]
    assert unreadable == ["Milan <milan.horvat at initech dot example>"]


def test_generated_mail_helpers_agree() -> None:
    """The test's mbox writer quotes exactly the lines an mbox reader unquotes."""
    assert mbox_quote(b"From x\n>From y\nnot From\n") == b">From x\n>>From y\nnot From\n"


# --- Listings: which copies a source still holds ---------------------------------------------


def locations(items: Sequence[SourceItem]) -> set[str]:
    """The locations of *items*."""
    return {item.location for item in items}


def held(listing: Listing) -> set[str]:
    """The locations a complete *listing* names."""
    assert listing.present is not None, "a complete listing was expected"
    return set(listing.present)


class History:
    """A source's mail changed step by step, as a mail program would, with a model of it.

    ``expected`` is where every copy the model holds should stand; each step is followed by an
    incremental fetch from the last cursor, whose locations are all remembered in ``fetched``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cursor: str | None = None
        self.fetched: set[str] = set()
        #: Number -> the location it was first fetched at, for copies never moved.
        self.first: dict[int, str] = {}
        self.moved: set[int] = set()
        self.added = 0

    def new_number(self) -> int:
        """A number no message of this history had."""
        self.added += 1
        return 100 + self.added

    def source(self) -> MessageSource:
        raise NotImplementedError

    def expected(self) -> dict[int, str]:
        raise NotImplementedError

    def sync(self, source: MessageSource) -> None:
        """Fetch what came since the last step, remembering where each copy stood."""
        items, self.cursor, _batches = fetch_all(source, (3,), self.cursor)
        self.fetched |= locations(items)
        for number, location in self.expected().items():
            self.first.setdefault(number, location)

    def check(self, source: MessageSource) -> None:
        """The listing, a fetch from scratch and the model agree; untouched copies stayed put."""
        expected = self.expected()
        fresh, _cursor, _batches = fetch_all(self.source(), (4,))
        listing = source.listing()
        assert held(listing) == set(expected.values()) == locations(fresh)
        assert held(listing) <= self.fetched
        for number, location in expected.items():
            if number not in self.moved:
                assert self.first[number] == location


class MaildirHistory(History):
    """Messages delivered to ``new/``, read into ``cur/``, flagged, moved and deleted."""

    folders = ("", ".Archive", ".Sent")

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        for folder in self.folders:
            MaildirLayout(root).prepare(root / folder if folder else root)
        #: Number -> (folder, "new" or "cur", info suffix).
        self.live: dict[int, tuple[str, str, str]] = {}

    def source(self) -> MessageSource:
        return MaildirSource(self.root)

    @staticmethod
    def unique(number: int) -> str:
        return f"{1740819600 + number}.M{number:06d}P1.host"

    def path(self, number: int) -> Path:
        folder, sub, info = self.live[number]
        return self.root / folder / sub / (self.unique(number) + info)

    def expected(self) -> dict[int, str]:
        return {
            n: os.path.join(str(self.root), folder, self.unique(n))
            for n, (folder, _sub, _info) in self.live.items()
        }

    def step(self, action: str, pick: int, folder: str) -> None:
        keys = sorted(self.live)
        if action == "add" or not keys:
            number = self.new_number()
            self.live[number] = (folder, "new", "")
            self.path(number).write_bytes(Mail(number).raw)
            return
        number = keys[pick % len(keys)]
        old = self.path(number)
        was, _sub, info = self.live[number]
        if action == "delete":
            old.unlink()
            del self.live[number]
            return
        if action == "move" and folder != was:
            self.live[number] = (folder, "cur", info or ":2,S")
            self.moved.add(number)
        else:  # read or flag it: a new info suffix, in cur/
            self.live[number] = (was, "cur", ":2,RS" if info == ":2,S" else ":2,S")
        old.rename(self.path(number))


class EmlHistory(History):
    """``.eml`` files saved, rewritten, moved between subfolders and deleted."""

    folders = ("", "2025", "clients/globex")

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.live: dict[int, str] = {}

    def source(self) -> MessageSource:
        return EmlFolderSource(self.root)

    def expected(self) -> dict[int, str]:
        return {n: os.path.join(str(self.root), relative) for n, relative in self.live.items()}

    def step(self, action: str, pick: int, folder: str) -> None:
        keys = sorted(self.live)
        if action == "add" or not keys:
            number = self.new_number()
            self.live[number] = f"{folder}/{number}.eml".lstrip("/")
            (self.root / self.live[number]).parent.mkdir(parents=True, exist_ok=True)
            (self.root / self.live[number]).write_bytes(Mail(number).raw)
            return
        number = keys[pick % len(keys)]
        old = self.root / self.live[number]
        moved = f"{folder}/{number}.eml".lstrip("/")
        if action == "delete":
            old.unlink()
            del self.live[number]
        elif action == "move" and moved != self.live[number]:
            self.live[number] = moved
            (self.root / moved).parent.mkdir(parents=True, exist_ok=True)
            old.rename(self.root / moved)
            self.moved.add(number)
        else:  # saved again with other content
            old.write_bytes(Mail(number, tag="edited").raw)


_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["add", "add", "delete", "move", "flag"]),
        st.integers(0, 1000),
        st.sampled_from([0, 1, 2]),
    ),
    max_size=14,
)


@pytest.mark.parametrize("history", [MaildirHistory, EmlHistory], ids=["maildir", "eml"])
@settings(max_examples=30, deadline=None)
@given(steps=_STEPS)
def test_folder_listings_follow_any_history(
    tmp_path_factory: pytest.TempPathFactory,
    history: type[MaildirHistory | EmlHistory],
    steps: list[tuple[str, int, int]],
) -> None:
    """Property: after any adds, deletes, moves and flag changes, the listing is what a fetch
    from scratch gives, every copy was fetched where it stands, and untouched copies kept
    their locations."""
    model = history(tmp_path_factory.mktemp(history.__name__))
    source = model.source()
    for action, pick, folder in steps:
        model.step(action, pick, model.folders[folder])
        model.sync(source)
        model.check(source)


def mbox_with_status(entries: Sequence[tuple[int, str]]) -> bytes:
    """An mbox of the numbered messages, each with the read status a mail program writes."""
    out = []
    for number, status in entries:
        mozilla = "0001" if "R" in status else "0000"
        headers = f"Status: {status}\nX-Mozilla-Status: {mozilla}\n".encode()
        out.append(mbox_entry(Mail(number)).replace(b"\nFrom: ", b"\n" + headers + b"From: ", 1))
    return b"".join(out)


class MboxHistory(History):
    """Messages appended, deleted (the file rewritten) and marked read (their status changed)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.path = root / "mail.mbox"
        self.path.write_bytes(b"")
        self.live: list[tuple[int, str]] = []

    def source(self) -> MessageSource:
        return MboxSource(self.path)

    def expected(self) -> dict[int, str]:
        items, _cursor, _batches = fetch_all(self.source())
        return {int(message_id(i)[1:6]): i.location for i in items}

    def step(self, action: str, pick: int) -> None:
        if action == "add" or not self.live:
            self.live.append((self.new_number(), "O"))
            with self.path.open("ab") as file:
                file.write(mbox_with_status(self.live[-1:]))
            return
        at = pick % len(self.live)
        if action == "delete":
            del self.live[at]
        else:
            number, status = self.live[at]
            self.live[at] = (number, "RO" if status == "O" else "O")
        self.path.write_bytes(mbox_with_status(self.live))

    def check(self, source: MessageSource) -> None:
        super().check(source)
        assert sorted(self.expected()) == sorted(n for n, _status in self.live)


@settings(max_examples=40, deadline=None)
@given(steps=_STEPS)
def test_mbox_listing_follows_any_history(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int, int]]
) -> None:
    """Property: after any appends, deletions and status changes, the listing is what a fetch
    from scratch gives and a message's location never changes while it stays."""
    model = MboxHistory(tmp_path_factory.mktemp("mbox"))
    source = model.source()
    for action, pick, _folder in steps:
        model.step(action, pick)
        model.sync(source)
        model.check(source)


def test_mbox_locations_survive_a_rewrite_without_an_earlier_message(tmp_path: Path) -> None:
    """Deleting the first message moves every other one in the file, but not its location."""
    path = tmp_path / "mail.mbox"
    entries = [(n, "O") for n in range(4)]
    path.write_bytes(mbox_with_status(entries))
    source = MboxSource(path)
    first, cursor, _batches = fetch_all(source)
    path.write_bytes(mbox_with_status(entries[1:]))
    again, _cursor, batches = fetch_all(source, (500,), cursor)
    assert batches[0].reset
    assert [i.location for i in again] == [i.location for i in first[1:]]
    assert held(source.listing()) == {i.location for i in first[1:]}
    assert all(i.location.startswith(f"{path}#") for i in first)


def test_mbox_copies_alike_in_envelope_and_identity_share_a_location(tmp_path: Path) -> None:
    """Two copies with the same From line and identity headers are one location, listed once."""
    path = tmp_path / "mail.mbox"
    path.write_bytes(mbox_entry(Mail(1)) + mbox_entry(Mail(1)) + mbox_entry(Mail(2)))
    source = MboxSource(path)
    items, _cursor, _batches = fetch_all(source)
    assert len(items) == 3
    assert items[0].location == items[1].location != items[2].location
    assert held(source.listing()) == {items[0].location, items[2].location}


class JsonLinesHistory(History):
    """A log of records (some with an ``id``, one reused after its tombstone) and tombstones."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.path = root / "mail.jsonl"
        self.path.write_bytes(b"")
        self.lines = 0
        #: Number -> location, for the records not tombstoned.
        self.live: dict[int, str] = {}
        self.token: str | None = None
        #: What the listings said, change by change: the copies held.
        self.held: set[str] = set()

    def source(self) -> MessageSource:
        return JsonLinesSource(self.path)

    def expected(self) -> dict[int, str]:
        return dict(self.live)

    def write(self, record: dict[str, object]) -> None:
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
        self.lines += 1

    def step(self, action: str, pick: int, with_id: int) -> None:
        with_ids = [n for n, location in self.live.items() if location.startswith("id-")]
        if action == "delete" and with_ids:
            number = sorted(with_ids)[pick % len(with_ids)]
            self.write({"id": self.live.pop(number), "deleted": True})
            return
        number = pick % 20 if with_id else 1000 + self.lines
        ident = f"id-{number}"
        self.write(Mail(number).record | ({"id": ident} if with_id else {}))
        for old in [n for n, location in self.live.items() if with_id and location == ident]:
            del self.live[old]
        self.live[number] = ident if with_id else f"{self.path}:{self.lines}"

    def sync(self, source: MessageSource) -> None:
        items, self.cursor, _batches = fetch_all(source, (3,), self.cursor)
        self.fetched |= locations(items)
        for number, location in self.expected().items():
            self.first.setdefault(number, location)
        listing = source.listing(self.token)
        if listing.present is None:
            self.held = (self.held | locations(items)) - listing.gone
        else:
            self.held = held(listing)
        self.token = listing.token
        assert self.held == set(self.live.values())


@settings(max_examples=40, deadline=None)
@given(steps=_STEPS)
def test_jsonl_listing_follows_any_log(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, int, int]]
) -> None:
    """Property: a log's listing, complete or as changes since a token, holds every record
    appended and not tombstoned since, by its id or line."""
    model = JsonLinesHistory(tmp_path_factory.mktemp("jsonl"))
    source = model.source()
    for action, pick, with_id in steps:
        model.step(action, pick, with_id % 2)
        model.sync(source)
        listing = source.listing()
        assert held(listing) == set(model.live.values())


@settings(max_examples=40, deadline=None)
@given(
    records=st.lists(st.tuples(st.integers(0, 30), st.booleans()), max_size=12),
    removed=st.sets(st.integers(0, 11)),
)
def test_jsonl_snapshot_listing_is_every_record_in_the_file(
    tmp_path_factory: pytest.TempPathFactory, records: list[tuple[int, bool]], removed: set[int]
) -> None:
    """Property: a snapshot's listing is every location in the file, and a record whose line
    went is gone, while the others keep their ids."""
    path = tmp_path_factory.mktemp("snapshot") / "state.jsonl"

    def write(kept: list[tuple[int, bool]]) -> None:
        lines = [Mail(n).record | ({"id": f"r{n}"} if has else {}) for n, has in kept]
        path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    source = JsonLinesSource(path, snapshot=True)
    write(records)
    before, _cursor, _batches = fetch_all(source)
    kept = [r for i, r in enumerate(records) if i not in removed]
    write(kept)
    after, _cursor, _batches = fetch_all(source)
    listing = source.listing(source.listing().token)
    assert held(listing) == locations(after)
    assert listing.token is None
    with_ids = {f"r{n}" for n, has in kept if has}
    assert with_ids <= locations(before) & locations(after)


def test_jsonl_records_stand_at_their_id(tmp_path: Path) -> None:
    """A record with an ``id`` stands there; one without it, or with a bad one, at its line."""
    lines = [
        Mail(1).record | {"id": "crm-1"},
        Mail(2).record,
        Mail(3).record | {"id": 3},
        Mail(4).record | {"id": {"nested": True}},
        Mail(5).record | {"id": ""},
        Mail(6).record | {"id": None},
    ]
    items = jsonl_items(tmp_path, "".join(json.dumps(r) + "\n" for r in lines))
    name = str(tmp_path / "mail.jsonl")
    assert [i.location for i in items] == ["crm-1", *(f"{name}:{n}" for n in range(2, 7))]
    assert [i.message().defects for i in items] == [
        (),
        (),
        ("bad_json_record",),
        ("bad_json_record",),
        ("bad_json_record",),
        (),
    ]
    assert [message_id(i) for i in items] == ids(mails(6, first=1))
    assert held(JsonLinesSource(tmp_path / "mail.jsonl").listing()) == locations(items)


def test_jsonl_a_tombstone_removes_its_copy_and_is_no_message(tmp_path: Path) -> None:
    """A tombstone line is not fetched; it takes its id out of the listing, until it comes back."""
    path = tmp_path / "mail.jsonl"
    source = JsonLinesSource(path)
    path.write_text(
        json.dumps(Mail(1).record | {"id": "a"})
        + "\n"
        + json.dumps(Mail(2).record | {"id": "b"})
        + "\n",
        encoding="utf-8",
    )
    _first, cursor, _batches = fetch_all(source)
    complete = source.listing()
    assert (held(complete), complete.gone) == ({"a", "b"}, frozenset())
    with path.open("a", encoding="utf-8") as file:
        file.write('{"id": "a", "deleted": true}\n{"id": "zzz", "deleted": true, "extra": 1}\n')
    later, cursor, _batches = fetch_all(source, (500,), cursor)
    assert later == []
    change = source.listing(complete.token)
    assert change.present is None
    assert change.gone == frozenset({"a", "zzz"})
    assert held(source.listing()) == {"b"}
    with path.open("a", encoding="utf-8") as file:
        file.write(json.dumps(Mail(3).record | {"id": "a"}) + "\n")
    back, _cursor, _batches = fetch_all(source, (500,), cursor)
    assert [i.location for i in back] == ["a"]
    assert source.listing(change.token).gone == frozenset()
    assert held(source.listing()) == {"a", "b"}


def test_jsonl_a_token_that_no_longer_fits_gives_a_complete_listing(tmp_path: Path) -> None:
    """A log rewritten since the token (or a token of another kind) is listed completely."""
    path = tmp_path / "mail.jsonl"
    path.write_text(json.dumps(Mail(1).record | {"id": "a"}) + "\n", encoding="utf-8")
    source = JsonLinesSource(path)
    token = source.listing().token
    assert token is not None
    path.write_text(json.dumps(Mail(2).record | {"id": "b"}) + "\n", encoding="utf-8")
    for stale in (token, "not a token", '{"kind": "jsonl", "v": 1, "offset": 0}'):
        listing = source.listing(stale)
        assert (held(listing), listing.gone) == ({"b"}, frozenset())


def test_jsonl_snapshot_must_be_a_boolean(tmp_path: Path) -> None:
    """``snapshot`` is a yes or no; anything else is a setting mistake."""
    with pytest.raises(SourceSettingError) as caught:
        JsonLinesSource(tmp_path / "x.jsonl", snapshot="yes")  # type: ignore[arg-type]
    assert str(caught.value) == "snapshot must be True or False, not 'yes'."
    assert open_source(tmp_path, "jsonl", snapshot=True).snapshot  # type: ignore[attr-defined]


def test_maildir_reads_its_subfolders_with_their_roles(tmp_path: Path) -> None:
    """Maildir++ subfolders are read with the flags their names imply; symlinked ones are not."""
    layout = MaildirLayout(tmp_path)
    layout.create([])
    for folder, number in ((".Sent", 1), (".INBOX.Junk", 2), (".Archive", 3)):
        layout.prepare(layout.path / folder)
        (layout.path / folder / "new" / f"{number}.M1.host").write_bytes(Mail(number).raw)
    (layout.path / "new" / "4.M1.host").write_bytes(Mail(4).raw)
    (layout.path / ".notes").mkdir()  # not a Maildir
    elsewhere = tmp_path / "elsewhere"
    layout.prepare(elsewhere)
    (elsewhere / "new" / "5.M1.host").write_bytes(Mail(5).raw)
    (layout.path / ".Linked").symlink_to(elsewhere)
    linked = layout.path / ".Half"
    (linked / "new").mkdir(parents=True)
    (linked / "cur").symlink_to(elsewhere / "new")
    items, _cursor, _batches = fetch_all(MaildirSource(layout.path))
    found = {message_id(i): (i.location, i.flags) for i in items}
    root = str(layout.path)
    assert found == {
        Mail(1).message_id: (f"{root}/.Sent/1.M1.host", {Flag.SENT}),
        Mail(2).message_id: (f"{root}/.INBOX.Junk/2.M1.host", {Flag.SPAM}),
        Mail(3).message_id: (f"{root}/.Archive/3.M1.host", frozenset()),
        Mail(4).message_id: (f"{root}/4.M1.host", frozenset()),
    }
    only = MaildirSource(layout.path, subfolders=False, flags=["spam"])
    assert [(i.location, i.flags) for i in only.fetch(None).items] == [
        (f"{root}/4.M1.host", frozenset({Flag.SPAM}))
    ]
    assert held(only.listing()) == {f"{root}/4.M1.host"}


def test_maildir_a_message_moved_to_another_folder_is_fetched_there(tmp_path: Path) -> None:
    """A move keeps the file's modification time, yet the next fetch yields it at its new place."""
    layout = MaildirLayout(tmp_path)
    source = layout.create(mails(3))
    layout.prepare(layout.path / ".Archive")
    _items, cursor, _batches = fetch_all(source)
    old = layout.path / layout.file_name(Mail(1))
    os.utime(old, (0, 0))
    old.rename(layout.path / ".Archive" / "cur" / old.name)
    moved = source.fetch(cursor).items
    unique = old.name.split(":")[0]
    assert [(message_id(i), i.location) for i in moved] == [
        (Mail(1).message_id, str(layout.path / ".Archive" / unique))
    ]
    assert str(layout.path / unique) not in held(source.listing())


def test_maildir_location_ignores_new_cur_and_flags(tmp_path: Path) -> None:
    """Reading a message (new/ to cur/) and flagging it keep its location."""
    layout = MaildirLayout(tmp_path)
    source = layout.create([Mail(2)])
    [before] = source.fetch(None).items
    path = layout.path / layout.file_name(Mail(2))
    path.rename(layout.path / "cur" / (path.name + ":2,FRS"))
    [after] = source.fetch(None).items
    assert before.location == after.location == str(layout.path / path.name)


@pytest.mark.parametrize("kind", ["maildir", "eml"])
def test_a_symbolic_link_out_of_the_folder_is_recorded_never_read(
    tmp_path: Path, kind: str
) -> None:
    """A link to a file outside the folder becomes an item with ``refused_symlink``, unread;
    a link to a file inside the folder is read as that file."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"Subject: not mail\n\nprivate")
    folder = tmp_path / "mail"
    if kind == "maildir":
        MaildirLayout(tmp_path).prepare(folder)
        inside, outside, dangling = (folder / "cur" / n for n in ("1.M1.h", "2.M1.h:2,S", "3.M1.h"))
        source: MessageSource = MaildirSource(folder)
    else:
        folder.mkdir()
        inside, outside, dangling = (folder / n for n in ("1.eml", "2.eml", "3.eml"))
        source = EmlFolderSource(folder)
    real = folder / "real.txt" if kind == "eml" else folder / "cur" / "0.M1.h"
    real.write_bytes(Mail(1).raw)
    inside.symlink_to(real)
    outside.symlink_to(secret)
    dangling.symlink_to(tmp_path / "nothing")
    items = {i.location: i for i in fetch_all(source)[0]}
    assert held(source.listing()) == set(items)
    for link in (outside, dangling):
        location = next(loc for loc in items if loc.endswith(link.name.split(":")[0]))
        refused = items.pop(location)
        assert refused.raw is None
        message = refused.message()
        assert message.defects == ("refused_symlink",)
        assert message.participants == ()
        assert "private" not in (message.text or "")
    assert sorted(message_id(i) for i in items.values()) == [Mail(1).message_id] * len(items)
