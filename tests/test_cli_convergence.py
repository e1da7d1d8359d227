"""End to end through the command line: a Maildir whose history has ordinary steps (mail
arrives, the owner deletes some, an alias comes and goes, sharing goes up and down, a domain is
blocked and unblocked), each followed by ``mailbind sync``, reads for every viewer exactly as a
database synced once from the final Maildir under the final settings."""

from __future__ import annotations

import json
import mailbox
import shlex
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbind.cli import main
from mailbind.cli.exits import ExitCode
from mailbind.stores.sqlite import SQLiteStore

OWNER = "maria@acme.example"
VIEWERS = (OWNER, "tom@acme.example")


def letter(n: int, sender: str, to: str = OWNER) -> EmailMessage:
    """Message *n* as a mail program writes it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"Quote {n}"
    message["Date"] = f"Mon, 03 Feb 2025 10:{n:02d}:00 +0000"
    message["Message-ID"] = f"<q{n}@mail.example>"
    message.set_content(f"Body of quote {n}.")
    return message


LETTERS = (
    letter(0, "Frank <frank@globex.example>"),
    letter(1, "Hank <hank@rearden.example>"),
    letter(2, "tom@acme.example"),
    letter(3, "maria@acme-labs.example", to="Pat <pat@partner.example>"),
    letter(4, "noreply@shop.example"),
    letter(5, "Frank <frank@globex.example>", to=f"{OWNER}, tom@acme.example"),
)


class Setting:
    """The command-line settings of the mailbox and its policy."""

    def __init__(self) -> None:
        self.alias = False
        self.incoming = "metadata"
        self.blocked = False

    def options(self) -> str:
        """The options that say these settings."""
        words = [f"--owner {OWNER}", "--org-domain acme.example", f"--incoming {self.incoming}"]
        if self.alias:
            words.append("--alias maria@acme-labs.example")
        if self.blocked:
            words.append("--block @globex.example")
        return " ".join(words)


def cli(capsys: pytest.CaptureFixture[str], line: str) -> tuple[int, str]:
    """Run ``mailbind`` with the words of *line*; its exit code and stdout."""
    code = main(shlex.split(line))
    return code, capsys.readouterr().out


def targets(capsys: pytest.CaptureFixture[str], db: str) -> list[tuple[str, str]]:
    """Every contact (by its primary address) and company of *db*, as ``emails`` options."""
    code, out = cli(capsys, f"contacts list --json --db {db}")
    assert code == 0
    contacts = [json.loads(line) for line in out.splitlines()]
    found = [("--contact", str(c["primary"])) for c in contacts]
    found += sorted(
        {("--company", str(c["company_domain"])) for c in contacts if c["company_domain"]}
    )
    return found


def reads(
    capsys: pytest.CaptureFixture[str], db: str, wanted: list[tuple[str, str]]
) -> dict[str, list[str]]:
    """What every viewer reads of each of *wanted*, through ``mailbind emails --json``."""
    seen: dict[str, list[str]] = {}
    for option, value in wanted:
        for viewer in VIEWERS:
            code, out = cli(capsys, f"emails {option} {value} --viewer {viewer} --json --db {db}")
            assert code in (ExitCode.OK, ExitCode.NOT_FOUND)
            seen[f"{option} {value} by {viewer}"] = sorted(out.splitlines())
    return seen


def converged(
    capsys: pytest.CaptureFixture[str], folder: Path, tmp_path: Path, db: str, setting: Setting
) -> None:
    """*db* reads as a database synced once from *folder* under *setting*.

    Every contact and company of the fresh database reads alike in both. A contact the history
    created from mail that is gone or now belongs to the owner stays (contacts are never
    dropped by a sync), but shows only mail the fresh database holds, at the same level.
    """
    fresh = str(tmp_path / f"fresh-{len(list(tmp_path.iterdir()))}.sqlite")
    code, _ = cli(capsys, f"sync {folder} {setting.options()} --db {fresh} --quiet")
    assert code == 0
    common = targets(capsys, fresh)
    assert reads(capsys, db, common) == reads(capsys, fresh, common)
    with SQLiteStore(fresh) as store:
        held = {s.message.key: s for m in store.mailboxes() for s in store.mailbox_messages(m.id)}
    extra = [t for t in targets(capsys, db) if t not in common]
    for name, lines in reads(capsys, db, extra).items():
        viewer = name.rsplit(" by ", 1)[1]
        for line in lines:
            record = json.loads(line)
            assert record["key"] in held, name
            assert record["level"] == held[record["key"]].level_for(viewer).value, name


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("arrive"), st.integers(0, len(LETTERS) - 1)),
        st.tuples(st.just("delete"), st.integers(0, 5)),
        st.tuples(st.just("alias"), st.just(0)),
        st.tuples(st.just("share"), st.integers(0, 2)),
        st.tuples(st.just("block"), st.just(0)),
    ),
    min_size=1,
    max_size=10,
)

#: The history users lived through: ten ordinary steps.
ORDINARY = [
    ("arrive", 0),
    ("arrive", 1),
    ("arrive", 3),
    ("share", 2),
    ("delete", 1),
    ("alias", 0),
    ("arrive", 5),
    ("block", 0),
    ("share", 0),
    ("block", 0),
]


def replay(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, steps: list[tuple[str, int]]
) -> None:
    """Apply *steps* to a Maildir, syncing after each; check convergence after every sync."""
    folder = tmp_path / "Maildir"
    box = mailbox.Maildir(folder, create=True)
    db = str(tmp_path / "crm.sqlite")
    setting = Setting()
    for step, value in steps:
        if step == "arrive":
            box.add(LETTERS[value])
        elif step == "delete" and box.keys():
            box.remove(sorted(box.keys())[value % len(box.keys())])
        elif step == "alias":
            setting.alias = not setting.alias
        elif step == "share":
            setting.incoming = ("metadata", "subject", "everything")[value]
        elif step == "block":
            setting.blocked = not setting.blocked
        code, _ = cli(capsys, f"sync {folder} {setting.options()} --db {db} --quiet --yes")
        assert code == ExitCode.OK
        converged(capsys, folder, tmp_path, db, setting)


def test_ten_ordinary_steps_end_as_a_sync_from_scratch(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The history users reported, step by step."""
    replay(capsys, tmp_path, ORDINARY)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS)
def test_any_history_ends_as_a_sync_from_scratch(
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
    steps: list[tuple[str, int]],
) -> None:
    """Random histories through the command line converge too."""
    replay(capsys, tmp_path_factory.mktemp("history"), steps)


def test_a_viewer_outside_the_workspace_reads_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Two organisations in one database: each reads only its own; an outsider, or a member of
    the other workspace, is refused with its own exit code."""
    folder = tmp_path / "Maildir"
    box = mailbox.Maildir(folder, create=True)
    box.add(LETTERS[0])
    db = str(tmp_path / "crm.sqlite")
    code, _ = cli(capsys, f"sync {folder} --owner {OWNER} --db {db} --quiet")
    assert code == 0
    code, _ = cli(
        capsys, f"sync {folder} --owner boss@globex.example --workspace globex --db {db} --quiet"
    )
    assert code == 0
    code, out = cli(
        capsys, f"emails --contact frank@globex.example --viewer tom@acme.example --db {db} --json"
    )
    assert code == 0
    assert len(out.splitlines()) == 1
    for viewer, workspace in (
        ("stranger@evil.example", "default"),
        ("boss@globex.example", "default"),
        (OWNER, "globex"),
    ):
        code = main(
            shlex.split(
                f"emails --company globex.example --viewer {viewer} --workspace {workspace} "
                f"--db {db}"
            )
        )
        captured = capsys.readouterr()
        assert (code, captured.out) == (ExitCode.NOT_A_MEMBER, "")
        assert captured.err == (
            f"mailbind: error: The viewer {viewer!r} is not a member of the workspace "
            f"{workspace!r}: only its mailboxes' owners and the organisation's colleagues may "
            "read its mail.\n"
        )
    for workspace, contacts in (("default", ["frank@globex.example"]), ("globex", [OWNER])):
        code, out = cli(capsys, f"contacts list --json --workspace {workspace} --db {db}")
        assert code == 0
        assert [json.loads(line)["primary"] for line in out.splitlines()] == contacts
