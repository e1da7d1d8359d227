"""Tests for the command an admin trusts: sources recognised, safe settings, every mailbox of a
run, exit codes whatever the streams, output people read, help that travels (issue 16)."""

from __future__ import annotations

import json
import os
from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from mailbind.cli import main
from tests import factories

NOW = "2025-02-01T09:00:00+00:00"
DATA = files("mailbind").joinpath("data")
MARIA = "maria.lopez@acme.example"
FRANK = "frank.oconnor@globex.example"
TOM = "tom.baker@acme.example"

mail = partial(factories.mbox_mail, to=MARIA)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``mailbind *argv`` in this process; the exit code, stdout and stderr."""
    code = main([*argv, "--now", NOW] if argv and argv[0] in _TIMED else [*argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


_TIMED = {"sync", "explain", "report"}


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of *text* read as a JSON object."""
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A database path in a scratch folder (not created)."""
    return str(tmp_path / "crm.sqlite")


def eml(subject: str, sender: str = FRANK) -> str:
    """One message as an ``.eml`` file holds it: `mail` without its ``From `` line."""
    return mail(subject, sender=sender).split("\n", 1)[1]


# --- 1. Sources are recognised, not guessed ---------------------------------------------------


def test_a_scratch_folder_is_refused_naming_what_it_holds(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder of other files is not read as mail, and its subfolders are not descended."""
    scratch = tmp_path / "scratch"
    (scratch / "deep").mkdir(parents=True)
    (scratch / "notes.txt").write_text("shopping list\n")
    (scratch / "build.log").write_text("ok\n")
    (scratch / "deep" / "a.eml").write_text(eml("Deep"))
    code, out, err = run(capsys, "sync", str(scratch), "--owner", MARIA, "--db", db)
    assert (code, out) == (3, "")
    assert err == (
        f"mailbind: error: {str(scratch)!r} is not a mailbox: it is a folder with no .eml files "
        "and no Maildir cur/new/tmp, holding 2 other files (subfolders are read only with "
        "--recursive).\n"
    )
    assert not os.path.exists(db)


def test_recursive_reads_the_eml_files_of_subfolders(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --recursive the .eml files below the folder are read; without, only its own."""
    folder = tmp_path / "export"
    (folder / "2024").mkdir(parents=True)
    (folder / "top.eml").write_text(eml("Top"))
    (folder / "2024" / "deep.eml").write_text(eml("Deep"))
    code, out, _ = run(capsys, "sync", str(folder), "--owner", MARIA, "--db", db, "--json")
    assert (code, json_lines(out)[0]["seen"]) == (0, 1)
    other = db + "2"
    argv = ("sync", str(folder), "--owner", MARIA, "--db", other, "--json", "--recursive")
    code, out, _ = run(capsys, *argv)
    assert (code, json_lines(out)[0]["seen"]) == (0, 2)


def test_eml_files_that_are_not_mail_are_refused(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Files named .eml whose content is not mail do not make a folder of mail."""
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "a.eml").write_text("just some words\n")
    code, _, err = run(capsys, "sync", str(folder), "--owner", MARIA, "--db", db)
    assert code == 3
    assert err == (
        f"mailbind: error: {str(folder)!r} is not a mailbox: none of the 1 .eml files looked at "
        "starts with header lines.\n"
    )


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"SQLite format 3\x00" + bytes(100), "an SQLite database"),
        (b"%PDF-1.7\n", "a PDF document"),
        (b"PK\x03\x04rest", "a ZIP archive (an export to unpack first?)"),
        (b"\x00\x01\x02binary", "binary data, not text"),
        (
            b"Dear diary,\ntoday I wrote a file.\n",
            "text, but not mail: no line starts with 'From ' (mbox), it does not open with "
            "header lines (a message), and its first line is not a JSON object (JSON lines)",
        ),
    ],
)
def test_a_file_that_is_not_mail_is_refused_with_what_was_found(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str], content: bytes, found: str
) -> None:
    """Any file is no longer read as an mbox: the sentence names what it is."""
    path = tmp_path / "inbox"
    path.write_bytes(content)
    code, out, err = run(capsys, "sync", str(path), "--owner", MARIA, "--db", db)
    assert (code, out) == (3, "")
    assert err == f"mailbind: error: {str(path)!r} is not a mailbox: it is {found}.\n"


@pytest.mark.parametrize(
    ("content", "seen"),
    [
        (mail("One", sender=FRANK) + mail("Two", sender=FRANK), 2),
        (eml("Alone"), 1),
        ("\n" + mail("After a blank line", sender=FRANK), 1),
    ],
)
def test_mbox_and_a_lone_message_are_recognised_whatever_the_name(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str], content: str, seen: int
) -> None:
    """``From `` lines make an mbox and header lines one message, with any file name."""
    path = tmp_path / "export.dat"
    path.write_text(content)
    code, out, err = run(capsys, "sync", str(path), "--owner", MARIA, "--db", db, "--json")
    assert (code, err) == (0, "")
    assert json_lines(out)[0]["seen"] == seen


def test_json_lines_are_recognised_without_their_extension(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSON lines export named .txt is read as JSON lines."""
    record = {"raw": eml("As JSON"), "id": "m1"}
    path = tmp_path / "export.txt"
    path.write_text(json.dumps(record) + "\n")
    code, out, err = run(capsys, "sync", str(path), "--owner", MARIA, "--db", db, "--json")
    assert (code, err) == (0, "")
    assert json_lines(out)[0]["seen"] == 1


def test_format_overrides_what_the_content_says(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--format reads the file as told, even one that would be refused."""
    path = tmp_path / "notes.txt"
    path.write_text("Dear diary,\n")
    code, _, err = run(
        capsys, "sync", str(path), "--owner", MARIA, "--db", db, "--format", "mbox", "--quiet"
    )
    assert (code, err) == (0, "")


def test_a_half_made_maildir_is_told_as_one(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder with only ``tmp`` is recognised as a Maildir, and refused as an unfinished one."""
    (tmp_path / "md" / "tmp").mkdir(parents=True)
    code, out, err = run(capsys, "sync", str(tmp_path / "md"), "--owner", MARIA, "--db", db)
    assert (code, out) == (3, "")
    assert err == (
        f"mailbind: error: Cannot read the Maildir folder {str(tmp_path / 'md')!r}: it has no "
        "cur or new folder.\n"
    )
