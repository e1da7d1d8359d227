"""Tests for the command an admin trusts: sources recognised, safe settings, every mailbox of a
run, exit codes whatever the streams, output people read, help that travels (issue 16)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
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
    record = {"sender": FRANK, "to": MARIA, "subject": "As JSON", "id": "m1"}
    path = tmp_path / "export.txt"
    path.write_text(json.dumps(record) + "\n")
    code, out, err = run(capsys, "sync", str(path), "--owner", MARIA, "--db", db, "--json")
    assert (code, err) == (0, "")
    assert json_lines(out)[0]["seen"] == 1


def test_format_overrides_what_the_content_says(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--format reads the file as told, even one that would be refused (and then the owner
    is nowhere in it)."""
    path = tmp_path / "notes.txt"
    path.write_text("Dear diary,\n")
    code, _, err = run(
        capsys, "sync", str(path), "--owner", MARIA, "--db", db, "--format", "mbox", "--quiet"
    )
    assert code == 0
    assert err.startswith("mailbind: warning: The owner maria.lopez@acme.example appears in no ")


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


# --- 2. Safe settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("", "not ''; an empty name would sync into a temporary database that vanishes"),
        (":memory:", "not ':memory:', which keeps nothing after the command ends"),
    ],
)
def test_db_must_name_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], given: str, why: str
) -> None:
    """A --db that keeps nothing is a usage error, before anything is read."""
    code, out, err = run(capsys, "sync", "--sample", "--db", given)
    assert (code, out) == (2, "")
    assert err == (
        f"mailbind: error: argument --db: must name a database file (or a postgresql:// URL), "
        f"{why} (see `mailbind sync --help`).\n"
    )


def test_a_postgresql_url_is_taken_and_says_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--db postgresql://... goes to the PostgreSQL store, which needs its extra."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "mailbind.stores.postgres", None)
    code, out, err = run(capsys, "sync", "--sample", "--db", "postgresql://crm@db.example/crm")
    assert (code, out) == (4, "")
    assert err == (
        "mailbind: error: PostgreSQL support needs mailbind[postgres]: pip install "
        "'mailbind[postgres]', or give --db a file path.\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_owner_absent_from_the_mail_is_warned_about(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in --owner syncs with a warning on stderr naming the address."""
    source = str(DATA.joinpath("sample-tom.mbox"))
    code, _, err = run(capsys, "sync", source, "--owner", "tom.baker@acme.exmaple", "--db", db)
    assert code == 0
    assert err == (
        "mailbind: warning: The owner tom.baker@acme.exmaple appears in no From, To, Cc or Bcc "
        f"of the first 9 messages of {source}: is the address right? (--strict makes this an "
        "error.)\n"
    )
    code, _, err = run(capsys, "sync", source, "--owner", "tom.baker@acme.exmaple", "--db", db)
    assert (code, err) == (0, "")  # checked on the first sync only


def test_strict_makes_an_absent_owner_an_error_and_stores_nothing(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --strict the typo fails before the first batch is stored."""
    source = str(DATA.joinpath("sample-tom.mbox"))
    argv = ("sync", source, "--owner", "tom.baker@acme.exmaple", "--db", db, "--strict")
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err == (
        "mailbind: error: The owner tom.baker@acme.exmaple appears in no From, To, Cc or Bcc of "
        f"the first 9 messages of {source}, so nothing was stored: check the address, or sync "
        "without --strict.\n"
    )
    code, out, _ = run(capsys, "contacts", "list", "--db", db, "--json")
    assert (code, out) == (0, "")
    code, out, err = run(capsys, "sync", source, "--owner", TOM, "--db", db, "--strict", "--json")
    assert (code, err, json_lines(out)[0]["seen"]) == (0, "", 9)


def test_a_config_without_policy_gets_the_command_lines_defaults_and_says_so(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No [policy]: the owners' domains are the organisation, so colleagues stay colleagues."""
    config = tmp_path / "mailbind.toml"
    config.write_text(
        f'[[mailbox]]\nowner = "{MARIA}"\nsource = "{DATA.joinpath("sample.mbox")}"\n'
    )
    code, out, err = run(capsys, "sync", "--config", str(config), "--db", db)
    assert (code, err) == (0, "")
    assert out.splitlines()[:2] == [
        f"Note: {config} has no [policy]: using the command line's defaults: the organisation "
        "is acme.example (the owners' domains); mail among colleagues, bulk mail and mail from "
        "role addresses stay out.",
        "",
    ]
    assert "    internal                25  Every participant is a colleague." in out.splitlines()


def test_show_settings_prints_every_setting_as_a_config_that_reads_back(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--show-settings syncs nothing and prints a config file giving the same settings."""
    source = str(DATA.joinpath("sample-tom.mbox"))
    argv = ("sync", source, "--owner", TOM, "--incoming", "subject", "--block", "@x.example")
    code, out, err = run(capsys, *argv, "--db", db, "--show-settings")
    assert (code, err) == (0, "")
    assert out == (
        "# Every setting in effect; this file reads back as the same settings (--config).\n"
        f'# database: "{db}", workspace: "default", batch size: 500, dry run: false\n'
        "\n"
        "[policy]\n"
        'org_domains = ["acme.example"]\n'
        "members = []\n"
        "externals = []\n"
        'blocklist = ["@x.example"]\n'
        "sync_internal = false\n"
        "exclude_group_emails = true\n"
        "institutions_as_companies = true\n"
        "# free_providers: the bundled list (4900 entries)\n"
        "# role_addresses: the bundled list (888 entries)\n"
        "# institutions: the bundled list (580 entries)\n"
        "\n"
        "[policy.canonicalization]\n"
        "strip_subaddress = false\n"
        "fold_gmail = false\n"
        "\n"
        "[[mailbox]]\n"
        f'owner = "{TOM}"\n'
        "aliases = []\n"
        'incoming = "subject"\n'
        'outgoing = "metadata"\n'
        "create_contacts = true\n"
        'contact_scope = "sent_and_received"\n'
        "skip_free_providers = true\n"
        f'id = "{TOM}"\n'
        f'source = "{source}"\n'
        "# format: recognised from the content\n"
        "recursive = false\n"
    )
    assert not os.path.exists(db)
    config = tmp_path / "shown.toml"
    config.write_text(out)
    code, again, _ = run(capsys, "sync", "--config", str(config), "--db", db, "--show-settings")
    assert (code, again) == (0, out)


# --- 3. Every mailbox of a run ----------------------------------------------------------------


def _two_mailboxes(tmp_path: Path, second: str) -> Path:
    config = tmp_path / "two.toml"
    config.write_text(
        '[policy]\norg_domains = ["acme.example"]\n\n'
        f'[[mailbox]]\nowner = "{MARIA}"\nsource = "{second}"\n\n'
        f'[[mailbox]]\nowner = "{TOM}"\nsource = "{DATA.joinpath("sample-tom.mbox")}"\n'
    )
    return config


def test_one_missing_source_does_not_stop_the_others(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each mailbox is synced; the report lists each outcome; the exit code says some failed."""
    missing = str(tmp_path / "gone.mbox")
    config = _two_mailboxes(tmp_path, missing)
    code, out, err = run(capsys, "sync", "--config", str(config), "--db", db)
    assert code == 11
    assert err == (
        f"mailbind: error: {MARIA}: Cannot read the mail source {missing!r}: it does not exist.\n"
    )
    lines = out.splitlines()
    assert lines[0] == f"{TOM} from {DATA.joinpath('sample-tom.mbox')}"
    start = lines.index("2 mailboxes: 1 synced, 1 failed (see the errors above).")
    assert lines[start : start + 3] == [
        "2 mailboxes: 1 synced, 1 failed (see the errors above).",
        f"  {MARIA}  failed (exit code 3)",
        f"  {TOM}    synced",
    ]
    code, out, _ = run(capsys, "sync", "--config", str(config), "--db", db, "--json")
    assert code == 11
    records = json_lines(out)
    assert records[0] == {
        "mailbox": MARIA,
        "source": missing,
        "status": "error",
        "error": f"Cannot read the mail source {missing!r}: it does not exist.",
        "exit_code": 3,
    }
    assert records[1]["mailbox"] == TOM


def test_a_run_where_every_mailbox_fails_ends_with_the_first_failure(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing synced: the code of the first failure, and no database is made."""
    config = tmp_path / "none.toml"
    config.write_text(
        '[policy]\norg_domains = ["acme.example"]\n\n'
        f'[[mailbox]]\nowner = "{MARIA}"\nsource = "a.mbox"\n\n'
        f'[[mailbox]]\nowner = "{TOM}"\nsource = "{tmp_path}"\n'
    )
    code, out, err = run(capsys, "sync", "--config", str(config), "--db", db)
    assert (code, out) == (3, "")
    assert err.splitlines() == [
        f"mailbind: error: {MARIA}: Cannot read the mail source "
        f"{str(tmp_path / 'a.mbox')!r}: it does not exist.",
        f"mailbind: error: {TOM}: {str(tmp_path)!r} is not a mailbox: it is a folder with no "
        ".eml files and no Maildir cur/new/tmp, holding 1 other file (subfolders are read only "
        "with --recursive).",
    ]
    assert not os.path.exists(db)


# --- Under a pseudo-terminal ------------------------------------------------------------------


def on_a_terminal(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdout_too: bool = False,
    answer: bytes = b"",
) -> tuple[int, str, str]:
    """Run ``python -m mailbind *argv`` with stdin and stderr (and with *stdout_too* stdout) on a
    pseudo-terminal, typing *answer*; the exit code, what the terminal showed, and stdout when
    it was a pipe."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    environment.update({"PYTHONIOENCODING": "utf-8", "TERM": "xterm", **(env or {})})
    process = subprocess.Popen(
        [sys.executable, "-m", "mailbind", *argv],
        stdin=slave,
        stdout=slave if stdout_too else subprocess.PIPE,
        stderr=slave,
        cwd=cwd,
        env=environment,
    )
    os.close(slave)
    if answer:
        os.write(master, answer)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        shown += chunk
    piped = b""
    if process.stdout is not None:
        piped = process.stdout.read()
        process.stdout.close()
    code = process.wait(timeout=120)
    os.close(master)
    return code, shown.decode("utf-8"), piped.decode("utf-8")


def test_the_progress_bar_shows_count_percentage_rate_and_time_left_on_a_terminal(
    tmp_path: Path,
) -> None:
    """On a terminal the bar counts, says how far, how fast and how long; then it is wiped."""
    argv = ["sync", "--sample", "--db", "crm.sqlite", "--batch-size", "20"]
    code, shown, out = on_a_terminal([*argv, "--progress-after", "0"], cwd=tmp_path)
    assert code == 0
    bars = re.findall(r"\r(Syncing [^\r]*?)\x1b\[K", shown)
    assert bars, shown
    assert re.fullmatch(
        r"Syncing maria\.lopez@acme\.example from sample\.mbox:  \[#*\.*\] +\d+%  "
        r"20 messages, \d+ synced  [\d,]+/s  \d+:\d\d left",
        bars[0],
    ), bars[0]
    assert shown.endswith("\r\x1b[K")
    assert "\x1b" not in out
    assert "Syncing" not in out


def test_a_short_sync_draws_no_bar(tmp_path: Path) -> None:
    """A pass shorter than a second prints no bar, even on a terminal."""
    code, shown, _ = on_a_terminal(["sync", "--sample", "--db", "crm.sqlite"], cwd=tmp_path)
    assert (code, shown) == (0, "")


# --- 4. Exit codes and streams ----------------------------------------------------------------


@pytest.mark.parametrize("stdout", ["terminal", "file", "pipe"])
def test_a_failure_exits_non_zero_whatever_stdout_is(tmp_path: Path, stdout: str) -> None:
    """The code of a failure does not depend on where the output goes."""
    argv = [sys.executable, "-m", "mailbind", "sync", "gone.mbox", "--owner", MARIA]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    master = None
    if stdout == "terminal":
        master, target = pty.openpty()
        out: Any = target
    elif stdout == "file":
        out = (tmp_path / "out.txt").open("wb")
    else:
        out = subprocess.PIPE
    done = subprocess.run(
        argv, stdout=out, stderr=subprocess.PIPE, cwd=tmp_path, env=env, timeout=120, check=False
    )
    if master is not None:
        os.close(out)
        os.close(master)
    elif stdout == "file":
        out.close()
    assert done.returncode == 3
    assert done.stderr.decode() == (
        "mailbind: error: Cannot read the mail source 'gone.mbox': it does not exist.\n"
    )
    assert not (tmp_path / "mailbind.sqlite").exists()


@pytest.fixture
def synced(db: str, capsys: pytest.CaptureFixture[str]) -> str:
    """A database holding the bundled sample."""
    code, _, err = run(capsys, "sync", "--sample", "--db", db, "--quiet")
    assert (code, err) == (0, "")
    return db


def test_no_at_the_destroy_prompt_has_its_own_code_and_destroys_nothing(
    tmp_path: Path, synced: str
) -> None:
    """ "n" typed at the prompt ends with exit code 9 (not a usage error) and keeps the contact."""
    code, shown, _ = on_a_terminal(
        ["contacts", "destroy", FRANK, "--db", synced],
        cwd=tmp_path,
        stdout_too=True,
        answer=b"n\n",
    )
    assert code == 9
    assert shown.endswith(
        "[y/N] \x1b[1;31mmailbind: error:\x1b[0m Nothing destroyed: the answer was no.\r\n"
    )
    assert "Destroy contact auto-072c26a71be5e6f33ef1fe56 (Frank O'Connor" in shown
    assert main(["contacts", "edit", FRANK, "--db", synced, "--first", "Frank"]) == 0


def test_no_at_the_settings_prompt_exits_9_and_changes_nothing(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A raised sharing level answered "n" on a terminal is not applied."""
    source = str(DATA.joinpath("sample-tom.mbox"))
    assert run(capsys, "sync", source, "--owner", TOM, "--db", db, "--quiet")[0] == 0
    argv = ["sync", source, "--owner", TOM, "--db", db, "--incoming", "everything"]
    code, shown, _ = on_a_terminal(argv, cwd=tmp_path, stdout_too=True, answer=b"n\n")
    assert code == 9
    assert "Apply these changes? [y/N] " in shown
    code, out, _ = run(capsys, *argv, "--dry-run", "--json")
    assert code == 0
    assert json_lines(out)[-1]["settings_changes"][0]["widened"] > 0


def test_read_commands_work_on_a_read_only_database_and_never_write_it(
    synced: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """emails, contacts list and suppressed, and explain --db open the file read-only."""
    os.chmod(synced, 0o444)
    before = Path(synced).read_bytes()
    for argv in (
        ("emails", "--contact", FRANK, "--viewer", TOM, "--db", synced),
        ("contacts", "list", "--db", synced),
        ("contacts", "suppressed", "--db", synced),
        ("explain", "--sample", "--db", synced, "--json"),
    ):
        code, _, err = run(capsys, *argv)
        assert (code, err) == (0, ""), argv
    assert Path(synced).read_bytes() == before


def test_a_read_only_store_refuses_every_write(synced: str) -> None:
    """`SQLiteStore(read_only=True)` reads and never writes."""
    from mailbind.errors import StoreError
    from mailbind.store import MailboxState
    from mailbind.stores.sqlite import SQLiteStore

    with SQLiteStore(synced, read_only=True) as store:
        assert len(store.contact_index()) == 12
        with pytest.raises(StoreError) as caught:
            store.save_state(MARIA, MailboxState())
    assert str(caught.value).startswith(f"The database {synced!r} could not be written: ")


def test_an_address_held_by_two_contacts_names_neither(
    synced: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """edit (and delete, restore, destroy) by an ambiguous address fails listing the candidates."""
    later = "2025-03-01T00:00:00+00:00"
    argv = ("contacts", "add", "--primary", FRANK, "--id", "frank-2", "--db", synced)
    assert run(capsys, *argv, "--now", later)[0] == 0
    code, out, err = run(capsys, "contacts", "edit", FRANK, "--first", "F.", "--db", synced)
    assert (code, out) == (2, "")
    assert err == (
        f"mailbind: error: The address {FRANK!r} belongs to 2 contacts: "
        "auto-072c26a71be5e6f33ef1fe56 (Frank O'Connor <frank.oconnor@globex.example>, Globex "
        "(globex.example)); frank-2 (frank.oconnor@globex.example, Globex (globex.example)). "
        "Name the one you mean by its id.\n"
    )
    code, out, _ = run(capsys, "contacts", "edit", "frank-2", "--first", "F.", "--db", synced)
    assert code == 0


def test_delete_and_restore_twice_say_nothing_changed(
    synced: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Deleting a deleted contact, or restoring a live one, says so and succeeds."""
    shown = (
        "auto-072c26a71be5e6f33ef1fe56 (Frank O'Connor <frank.oconnor@globex.example>, Globex "
        "(globex.example))"
    )
    assert run(capsys, "contacts", "delete", FRANK, "--db", synced, "--now", NOW)[0] == 0
    code, out, _ = run(capsys, "contacts", "delete", FRANK, "--db", synced)
    assert (code, out) == (
        0,
        f"Contact {shown} is deleted already (since 2025-02-01 09:00): nothing changed.\n",
    )
    assert run(capsys, "contacts", "restore", FRANK, "--db", synced)[0] == 0
    code, out, _ = run(capsys, "contacts", "restore", FRANK, "--db", synced)
    assert (code, out) == (0, f"Contact {shown} is not deleted: nothing changed.\n")


# --- 5. Output people read --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "env", "lead"),
    [
        ((), {}, "\x1b[1;31mmailbind: error:\x1b[0m"),
        (("--no-color",), {}, "mailbind: error:"),
        ((), {"NO_COLOR": "1"}, "mailbind: error:"),
        ((), {"NO_COLOR": ""}, "\x1b[1;31mmailbind: error:\x1b[0m"),
        ((), {"TERM": "dumb"}, "mailbind: error:"),
    ],
)
def test_colour_on_a_terminal_honours_no_color(
    tmp_path: Path, extra: tuple[str, ...], env: dict[str, str], lead: str
) -> None:
    """An error is red on a terminal, plain with --no-color, NO_COLOR=1 or TERM=dumb."""
    argv = ["sync", "gone.mbox", "--owner", MARIA, *extra]
    code, shown, _ = on_a_terminal(argv, cwd=tmp_path, env=env)
    assert code == 3
    assert shown == f"{lead} Cannot read the mail source 'gone.mbox': it does not exist.\r\n"


def test_explain_colours_its_verdicts_on_a_terminal_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """synced in green and skipped in red on a terminal; a pipe gets plain text."""
    source = str(DATA.joinpath("sample-tom.mbox"))
    argv = ["explain", source, "--owner", TOM]
    code, shown, _ = on_a_terminal(argv, cwd=tmp_path, stdout_too=True)
    assert code == 0
    assert "\x1b[32msynced \x1b[0m" in shown
    assert "\x1b[31mskipped\x1b[0m" in shown
    code, out, _ = run(capsys, *argv)
    assert "\x1b" not in out


def test_explain_only_contact_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """--only, --contact and --summary narrow the preview and count it by reason."""
    code, out, _ = run(capsys, "explain", "--sample", "--summary", "--contact", FRANK)
    assert code == 0
    assert out == (
        f"{MARIA} from sample.mbox\n"
        "  5 messages: 4 would sync, 1 would be skipped.\n"
        "  kept out because:\n"
        "    trash          1  The source files the message as trash.\n"
        "  also noted:\n"
        "    external       5  At least one participant is outside the organisation.\n"
        "\n"
        f"{TOM} from sample-tom.mbox\n"
        "  0 messages: 0 would sync, 0 would be skipped.\n"
        "\n"
    )
    code, out, _ = run(capsys, "explain", "--sample", "--only", "bulk", "--json")
    records = json_lines(out)
    assert len(records) == 16
    assert all("bulk" in r["reasons"] for r in records)
    code, out, _ = run(capsys, "explain", "--sample", "--only", "auto_submitted", "--json")
    records = json_lines(out)
    assert len(records) == 14
    assert all("auto_submitted" in r["reasons"] for r in records)
    code, out, _ = run(capsys, "explain", "--sample", "--only", "synced", "--json")
    assert {r["synced"] for r in json_lines(out)} == {True}
    code, _, err = run(capsys, "explain", "--sample", "--only", "nope")
    assert code == 2
    assert err.startswith(
        "mailbind: error: argument --only: must be one of auto_response_suppress, auto_submitted, "
    )
    assert err.endswith(", unreadable_participant, not 'nope' (see `mailbind explain --help`).\n")


def test_explain_csv_is_one_row_per_message(capsys: pytest.CaptureFixture[str]) -> None:
    """--csv writes a header and one row per message, for a spreadsheet."""
    source = str(DATA.joinpath("sample-tom.mbox"))
    code, out, _ = run(capsys, "explain", source, "--owner", TOM, "--csv", "--only", "skipped")
    assert code == 0
    import csv
    import io

    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == [
        "mailbox",
        "location",
        "sent_at",
        "synced",
        "reasons",
        "direction",
        "level",
        "from",
        "subject",
    ]
    assert [row[3:8] for row in rows[1:]] == [
        ["no", "internal", "incoming", "metadata", "priya.natarajan@acme.example"],
        [
            "no",
            "group_sender bulk external",
            "incoming",
            "metadata",
            "newsletter@saasweekly.example",
        ],
    ]


def test_report_gives_one_page_per_mailbox(capsys: pytest.CaptureFixture[str]) -> None:
    """What syncs, what is kept out by reason with examples, and what colleagues read."""
    source = str(DATA.joinpath("sample-tom.mbox"))
    code, out, err = run(capsys, "report", source, "--owner", TOM, "--examples", "1")
    assert (code, err) == (0, "")
    assert out == (
        f"{TOM} from {source}\n" + "=" * len(f"{TOM} from {source}") + "\n"
        "9 messages: 7 would be synced, 2 kept out. Nothing was written.\n"
        "\n"
        "Kept out, by reason (a message may have several):\n"
        "  internal           1  Every participant is a colleague.\n"
        "                        2025-01-07 12:25  priya.natarajan@acme.example  Forecast Q1\n"
        "  group_sender       1  The sender is a role or automated address.\n"
        "                        2025-01-07 13:08  newsletter@saasweekly.example  SaaS Weekly "
        "#121: pricing …\n"
        "  bulk               1  The message carries mailing-list or bulk headers.\n"
        "                        2025-01-07 13:08  newsletter@saasweekly.example  SaaS Weekly "
        "#121: pricing …\n"
        "\n"
        "What colleagues can read of the 7 synced messages:\n"
        "       4 received at level metadata: the sender, the recipients, the date and time; "
        "not the subject,\n"
        "         the body or the attachments.\n"
        "       3 sent at level metadata: the sender, the recipients, the date and time; not "
        "the subject, the\n"
        "         body or the attachments.\n"
        "\n"
        "The owner reads all of their own mail. Run `mailbind explain` with the same settings "
        "and --only\n"
        "REASON to see every message kept out for REASON.\n"
    )


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_name_every_command(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mailbind completion SHELL` prints a script naming the commands and their options."""
    code, out, _ = run(capsys, "completion", shell)
    assert code == 0
    for word in ("sync", "explain", "report", "emails", "contacts", "completion", "show-settings"):
        assert word in out


def test_bash_completion_completes_commands_and_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bash script, sourced in bash, completes a command, an action and an option."""
    import shutil

    if shutil.which("bash") is None:
        pytest.skip("bash is not installed (apt-get install bash)")
    _, script, _ = run(capsys, "completion", "bash")
    (tmp_path / "c.bash").write_text(script)
    probe = (
        "source c.bash; "
        "COMP_WORDS=(mailbind re); COMP_CWORD=1; _mailbind; echo ${COMPREPLY[@]}; "
        "COMP_WORDS=(mailbind contacts ed); COMP_CWORD=2; _mailbind; echo ${COMPREPLY[@]}; "
        "COMP_WORDS=(mailbind sync --show); COMP_CWORD=2; _mailbind; echo ${COMPREPLY[@]}"
    )
    done = subprocess.run(
        ["bash", "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout == "report\nedit\n--show-settings\n"


def test_emails_and_contacts_as_csv(synced: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--csv: a header, then a row each; a withheld subject is empty and named as withheld."""
    code, out, _ = run(
        capsys, "emails", "--contact", FRANK, "--viewer", TOM, "--db", synced, "--csv"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "sent_at,level,held_by,from,to,cc,subject,withheld,thread"
    first, thread = lines[1].rsplit(",", 1)
    assert first == (
        "2025-01-20T12:56:00-05:00,subject,maria.lopez@acme.example:incoming,"
        "frank.oconnor@globex.example,maria.lopez@acme.example,hank.rearden@globex.example,"
        "Renewal of the Globex support contract – terms,text html attachments"
    )
    assert thread.startswith("thr-")
    code, out, _ = run(capsys, "contacts", "list", "--db", synced, "--csv")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        "id,first_name,last_name,primary,additional,company_domain,created_at,deleted_at"
    )
    assert len(lines) == 13


# --- 6. Help that travels ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [("sync",), ("explain",), ("report",), ("emails",), ("contacts",), ("completion",), ("docs",)],
)
def test_every_commands_help_ends_with_real_examples(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    """--help ends with two or three examples, and names no path of a checkout."""
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    tail = out[out.index("\nexamples:\n") :].splitlines()
    examples = [line for line in tail if line.startswith("  mailbind ")]
    assert 2 <= len(examples) <= 3
    assert "docs/" not in out


def test_docs_prints_the_installed_page(capsys: pytest.CaptureFixture[str]) -> None:
    """`mailbind docs cli` prints the CLI page; an unknown page names the pages there are."""
    code, out, _ = run(capsys, "docs", "cli")
    assert code == 0
    assert out.startswith("# The `mailbind` command\n")
    code, _, err = run(capsys, "docs", "nope")
    assert code == 2
    assert err == (
        "mailbind: error: No page 'nope'; the pages are: adapters, api, architecture, calendar, "
        "cli, config, contacts, convergence, data, embedding, imap, index, performance, "
        "remembers, rules, scale, schema, sync, threads, troubleshooting.\n"
    )


def test_the_troubleshooting_page_explains_every_exit_code() -> None:
    """docs/troubleshooting.md has one row for each exit code the command line can end with."""
    from mailbind.cli.exits import ExitCode

    page = Path(__file__).parents[1].joinpath("docs", "troubleshooting.md").read_text()
    rows = {line.split("|")[1].strip() for line in page.splitlines() if line.startswith("| ")}
    assert {str(int(code)) for code in ExitCode} <= rows


def test_pytest_says_why_tests_skip() -> None:
    """The pytest config reports skip reasons by default (-ra)."""
    import tomllib

    config = tomllib.loads(Path(__file__).parents[1].joinpath("pyproject.toml").read_text())
    assert "-ra" in config["tool"]["pytest"]["ini_options"]["addopts"].split()


def test_watch_ends_with_some_failed_when_a_mailbox_failed(
    tmp_path: Path, db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--watch over two mailboxes, one of whose sources is missing, exits 11 on Ctrl-C; once
    the source is back and synced, Ctrl-C exits 0."""
    from datetime import UTC, datetime

    from mailbind.cli import clock as cli_clock

    missing = tmp_path / "late.mbox"
    config = _two_mailboxes(tmp_path, str(missing))
    start = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_clock, "now", lambda: start)
    monkeypatch.setattr(cli_clock, "sleep", interrupt)
    code, out, err = run(capsys, "sync", "--config", str(config), "--db", db, "--watch")
    assert code == 11
    assert err.startswith(f"mailbind: error: {MARIA}: Cannot read the mail source ")
    assert out.splitlines()[-1] == "Stopped."

    missing.write_bytes(DATA.joinpath("sample.mbox").read_bytes())
    code, _, _ = run(capsys, "sync", "--config", str(config), "--db", db, "--watch", "--quiet")
    assert code == 0


def test_the_readme_commands_run_as_written(tmp_path: Path) -> None:
    """The README's two commands, read from the README, run after its install step against
    the console script of this environment, and show Tom's view of Frank's mail."""
    import shlex

    readme = Path(__file__).parents[1].joinpath("README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Two commands from a fresh clone") :]
    block = section[section.index("```sh\n") + 6 :]
    line = block[: block.index("\n```")].strip()
    steps = [step.strip() for step in line.split(" && ")]
    assert steps[:2] == ["python3 -m venv .venv", ".venv/bin/pip install -q '.[cli]'"]
    commands = [shlex.split(step) for step in steps[2:]]
    assert [argv[:2] for argv in commands] == [
        [".venv/bin/mailbind", "sync"],
        [".venv/bin/mailbind", "emails"],
    ]
    script = Path(sys.executable).with_name("mailbind")
    if not script.exists():
        pytest.skip(f"no console script at {script}: install mailbind with pip install -e .")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"}
    done = []
    for argv in commands:
        done.append(
            subprocess.run(
                [str(script), *argv[1:]],
                capture_output=True,
                text=True,
                encoding="utf-8",
                cwd=tmp_path,
                env=env,
                timeout=300,
                check=False,
            )
        )
    synced, shown = done
    assert (synced.returncode, synced.stderr) == (0, "")
    assert (tmp_path / "mailbind.sqlite").exists()
    assert (shown.returncode, shown.stderr) == (0, "")
    assert shown.stdout.splitlines()[:2] == [
        f"Frank O'Connor <{FRANK}>, Globex (globex.example)",
        f"4 messages as {TOM} may read them: 2 at level everything, 2 at level subject.",
    ]


@pytest.mark.slow
def test_the_readme_main_command_runs_whole_in_a_fresh_copy(tmp_path: Path) -> None:
    """The README's first command, exactly as written, in a copy of the project: a fresh
    virtual environment, the install from the local package indexes, the sample synced and
    Tom's view of Frank's mail shown."""
    root = Path(__file__).parents[1]
    readme = root.joinpath("README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Two commands from a fresh clone") :]
    block = section[section.index("```sh\n") + 6 :]
    line = block[: block.index("\n```")].strip()
    copy = tmp_path / "mailbind"
    shutil.copytree(
        root,
        copy,
        ignore=shutil.ignore_patterns(".venv", ".git", "*.sqlite*", "__pycache__", "build"),
    )
    done = subprocess.run(
        ["bash", "-c", line],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=copy,
        env={**os.environ, "NO_COLOR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "4 messages as tom.baker@acme.example may read them" in done.stdout
    assert (copy / "mailbind.sqlite").exists()
