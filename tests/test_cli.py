"""Tests for the ``mailbind`` command: every command, every exit code and its exact line."""

from __future__ import annotations

import base64
import io
import json
import os
import shlex
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mailbind.cli.sync as cli_sync
from mailbind.cli import ExitCode, main
from mailbind.cli import clock as cli_clock
from mailbind.cli.observed import Observed
from mailbind.cli.settings import policy_table, read_policy_table
from mailbind.cli.text import clean, cut, json_line, width
from mailbind.engine import auto_contact_id
from mailbind.policy import Policy
from mailbind.stores.sqlite import SQLiteStore
from mailbind.testing import ListSource
from tests import factories
from tests.strategies import policies

NOW = "2025-02-01T09:00:00+00:00"
DATA = files("mailbind").joinpath("data")
FRANK = "frank.oconnor@globex.example"
TOM = "tom.baker@acme.example"
MARIA = "maria.lopez@acme.example"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run ``mailbind *argv`` in this process; the exit code, stdout and stderr."""
    code = main([*argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def sh(capsys: pytest.CaptureFixture[str], line: str) -> tuple[int, str, str]:
    """Run the command *line* (words split as a shell would) in this process."""
    return run(capsys, *shlex.split(line))


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of *text* read as a JSON object."""
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A database path in a scratch folder (not created)."""
    return str(tmp_path / "crm.sqlite")


@pytest.fixture
def synced(db: str, capsys: pytest.CaptureFixture[str]) -> str:
    """A database holding the bundled sample, synced at `NOW`."""
    code, _, err = run(capsys, "sync", "--sample", "--db", db, "--now", NOW)
    assert (code, err) == (0, "")
    return db


@pytest.fixture
def mbox(tmp_path: Path) -> Path:
    """A copy of the sample mailbox that a test may change."""
    path = tmp_path / "maria.mbox"
    path.write_bytes(DATA.joinpath("sample.mbox").read_bytes())
    return path


#: One mbox entry addressed to Maria unless told otherwise.
mail = partial(factories.mbox_mail, to=MARIA)


# --- sync -----------------------------------------------------------------------------------


def test_sample_sync_prints_a_summary_where_the_database_is_and_what_to_run_next(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sync --sample` reports each mailbox, the database's path and the next command."""
    code, out, err = run(capsys, "sync", "--sample", "--db", db, "--now", NOW)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:4] == [
        f"{MARIA} from sample.mbox",
        "  sharing: received mail at level subject, sent mail at level everything",
        "  messages seen            220",
        "  synced                   140",
    ]
    assert "    blocklisted              8  A participant is on the blocklist." in lines
    assert "  contacts created          12" in lines
    assert "  defects                       bad_charset 1, unknown_charset 1" in lines
    assert f"{TOM} from sample-tom.mbox" in lines
    assert lines[-3:] == [
        f"Database: {os.path.abspath(db)} (12 contacts)",
        "Next, read a customer's emails as Maria's colleague Tom may see them:",
        f"  mailbind emails --contact {FRANK} --viewer {TOM} --db {db}",
    ]


def test_second_sync_finds_nothing_new_and_changes_nothing(
    synced: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Syncing again imports nothing: the same contacts and messages, a one-line report each."""
    _, before, _ = run(capsys, "contacts", "list", "--json", "--db", synced)
    _, mails_before, _ = run(
        capsys, "emails", "--company", "globex.example", "--viewer", TOM, "--json", "--db", synced
    )
    code, out, err = run(capsys, "sync", "--sample", "--db", synced, "--now", NOW)
    assert (code, err) == (0, "")
    assert out.splitlines()[:2] == [
        f"{MARIA} from sample.mbox: nothing new since the last sync.",
        f"{TOM} from sample-tom.mbox: nothing new since the last sync.",
    ]
    _, after, _ = run(capsys, "contacts", "list", "--json", "--db", synced)
    _, mails_after, _ = run(
        capsys, "emails", "--company", "globex.example", "--viewer", TOM, "--json", "--db", synced
    )
    assert (after, mails_after) == (before, mails_before)
    code, out, _ = run(capsys, "sync", "--sample", "--db", synced, "--json", "--now", NOW)
    assert [(r["mailbox"], r["seen"], r["synced"]) for r in json_lines(out)] == [
        (MARIA, 0, 0),
        (TOM, 0, 0),
    ]


def test_sync_json_reports_counts_by_reason(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--json`` prints one report per mailbox and nothing else."""
    code, out, _ = run(capsys, "sync", "--sample", "--db", db, "--json", "--now", NOW)
    maria, tom = json_lines(out)
    assert code == 0
    assert maria["skipped_by_reason"] == {
        "internal": 32,
        "blocklisted": 8,
        "group_sender": 38,
        "bulk": 15,
        "auto_submitted": 14,
        "draft": 4,
        "spam": 2,
        "trash": 2,
    }
    assert (maria["seen"], maria["synced"], maria["contacts_created"]) == (220, 140, 12)
    assert (tom["status"], tom["source"]) == ("idle", "sample-tom.mbox")


def test_quiet_prints_nothing(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--quiet`` syncs and prints nothing."""
    assert run(capsys, "sync", "--sample", "--db", db, "--quiet", "--now", NOW) == (0, "", "")


def test_sync_from_options_defaults_the_organisation_to_the_owners_domain(
    mbox: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --org-domain the owner's domain is the organisation: colleague mail is internal."""
    code, out, _ = sh(
        capsys,
        f"sync {mbox} --owner {MARIA} --alias maria@acme-labs.example --db {db} --json --now {NOW}",
    )
    (report,) = json_lines(out)
    assert code == 0
    assert report["mailbox"] == MARIA
    assert report["skipped_by_reason"]["internal"] > 0


def test_blocked_domain_and_switches_change_the_decisions(
    mbox: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--block, --sync-internal and --include-group-emails reach the policy."""
    code, out, _ = sh(
        capsys,
        f"sync {mbox} --owner {MARIA} --org-domain acme.example --org-domain acme-labs.example "
        "--block @globex.example --sync-internal --include-group-emails --no-create-contacts "
        f"--db {db} --json --now {NOW}",
    )
    (report,) = json_lines(out)
    assert code == 0
    reasons = report["skipped_by_reason"]
    assert isinstance(reasons, dict)
    assert reasons["blocklisted"] > 8
    assert "internal" not in reasons
    assert "group_sender" not in reasons
    assert report["contacts_created"] == 0


def test_a_changed_policy_applies_to_the_mail_already_stored(
    mbox: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sync under another policy first removes what it excludes, and lets back what it allows;
    a change that removes mail or lets mail back needs --yes, and without it changes nothing."""
    options = f"sync {mbox} --owner {MARIA} --org-domain acme.example --db {db} --json --now {NOW}"
    (first,) = json_lines(sh(capsys, options)[1])
    assert first["settings_changes"] == []
    code, out, err = sh(capsys, options + " --block @globex.example")
    assert (code, out) == (ExitCode.NOT_CONFIRMED, "")
    assert err == (
        "mailbind: error: the changed settings were not applied: run again with --yes to apply "
        "them, or --dry-run to see every message they change.\n"
    )
    code, out, _ = sh(capsys, f"emails --contact {FRANK} --viewer {MARIA} --db {db}")
    assert code == 0
    assert out.splitlines()[1].split(" as ")[0] != "0 messages"
    code, out, _ = sh(capsys, options + " --block @globex.example --yes")
    (blocked,) = json_lines(out)
    (change,) = blocked["settings_changes"]
    assert code == 0
    assert change["removed"] > 0
    assert change["resync"] is False  # blocking lets nothing in
    code, out, _ = sh(capsys, f"emails --contact {FRANK} --viewer {MARIA} --db {db}")
    assert (code, "0 messages") == (0, out.splitlines()[1].split(" as ")[0])
    (unblocked,) = json_lines(sh(capsys, options + " --yes")[1])
    (back,) = unblocked["settings_changes"]
    assert (back["removed"], back["resync"]) == (0, True)
    assert unblocked["seen"] == first["seen"]  # read again from the start
    assert unblocked["synced"] == first["synced"]
    (again,) = json_lines(sh(capsys, options)[1])
    assert (again["settings_changes"], again["seen"]) == ([], 0)


def test_a_policy_change_is_said_before_the_pass(
    mbox: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --json the change is said in sentences naming the mailbox and the counts."""
    options = f"sync {mbox} --owner {MARIA} --org-domain acme.example --db {db} --now {NOW}"
    sh(capsys, options)
    _, out, _ = sh(capsys, options + " --block @globex.example --yes")
    lines = out.splitlines()
    assert lines[0] == f"{MARIA}: the settings changed since the last sync."
    assert lines[1].startswith("  ")
    assert lines[1].endswith(
        " stored message copies no longer sync and were removed from the mailbox."
    )
    assert lines[2].endswith(" copies unchanged.")
    assert lines[3] == f"{MARIA} from {mbox}: nothing new since the last sync."


def test_a_dry_run_says_what_a_change_would_do_and_writes_nothing(
    mbox: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run prints the change (one JSON line per copy with --json) and stores nothing."""
    options = f"sync {mbox} --owner {MARIA} --org-domain acme.example --db {db} --now {NOW}"
    sh(capsys, options)
    before = Path(db).read_bytes()
    code, out, _ = sh(capsys, options + " --block @globex.example --dry-run --json")
    assert code == 0
    *changes, report = json_lines(out)
    assert report["dry_run"] is True
    assert changes
    assert {c["change"] for c in changes} == {"settings"}
    assert all(c["before"]["synced"] and not c["after"]["synced"] for c in changes)
    assert all("blocklisted" in c["after"]["reasons"] for c in changes)
    assert Path(db).read_bytes() == before
    code, out, _ = sh(capsys, options + " --block @globex.example --dry-run")
    assert code == 0
    assert f"{MARIA} from {mbox} (dry run: nothing was written)" in out.splitlines()


def test_a_raised_level_is_previewed_copy_by_copy_and_asks_first(
    mbox: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Raising --incoming changes only levels: the dry run lists each synced incoming copy with
    its new level, the change needs --yes, and lowering it again needs none."""
    options = f"sync {mbox} --owner {MARIA} --org-domain acme.example --db {db} --now {NOW}"
    sh(capsys, options)
    before = Path(db).read_bytes()
    code, out, _ = sh(capsys, options + " --incoming everything --dry-run --json")
    *changes, report = json_lines(out)
    assert code == 0
    assert Path(db).read_bytes() == before
    (change,) = report["settings_changes"]
    assert change["widened"] == len(changes) > 0
    assert all(c["change"] == "settings" for c in changes)
    assert all(c["before"]["level"] == "metadata" for c in changes)
    assert all(c["after"] == {**c["before"], "level": "everything"} for c in changes)
    assert {c["before"]["direction"] for c in changes} == {"incoming"}
    code, _, _ = sh(capsys, options + " --incoming everything")
    assert code == ExitCode.NOT_CONFIRMED
    code, out, _ = sh(capsys, options + " --incoming everything --yes")
    assert code == 0
    assert out.splitlines()[1] == (
        f"  Colleagues may now read more of {len(changes)} stored message copies."
    )
    code, out, _ = sh(capsys, options)
    assert code == 0
    assert (
        out.splitlines()[1]
        == f"  Colleagues now read less of {len(changes)} stored message copies."
    )


def test_an_unreadable_recorded_policy_is_a_database_error(
    mbox: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recorded policy that no longer reads stops the pass and names the mailbox."""
    options = f"sync {mbox} --owner {MARIA} --db {db} --now {NOW}"
    sh(capsys, options)
    with SQLiteStore(db) as store:
        store._db.execute("UPDATE policies SET settings = '{\"org_domain\": 1}'")
    code, _, err = sh(capsys, options)
    assert code == ExitCode.DATABASE
    assert f"The settings recorded for the mailbox {MARIA!r} cannot be read" in err


@settings(max_examples=60)
@given(policy=policies())
def test_the_recorded_policy_reads_back_as_the_policy(policy: Policy) -> None:
    """The table kept in the database, through JSON, is the same policy again."""
    table = json.loads(json.dumps(policy_table(policy), sort_keys=True))
    assert read_policy_table(table, "test") == policy


def test_appended_mail_is_synced_alone(
    mbox: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Mail appended to the mbox is the only mail the next sync imports."""
    argv = ("sync", str(mbox), "--owner", MARIA, "--db", db, "--json", "--now", NOW)
    run(capsys, *argv)
    with mbox.open("a") as file:
        file.write(mail("New order", sender="Kim Lee <kim@newco.example>"))
    code, out, _ = run(capsys, *argv)
    (report,) = json_lines(out)
    assert (code, report["seen"], report["synced"], report["contacts_created"]) == (0, 1, 1, 1)


def test_config_sources_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A relative ``source`` in a config file starts at the file's folder, not the cwd."""
    folder = tmp_path / "conf"
    (folder / "mail").mkdir(parents=True)
    shutil.copy(str(DATA.joinpath("sample-tom.mbox")), folder / "mail" / "tom.mbox")
    (folder / "mailbind.toml").write_text(
        '[policy]\norg_domains = ["acme.example"]\n\n'
        "[policy.canonicalization]\nstrip_subaddress = true\n\n"
        '[[mailbox]]\nowner = "tom.baker@acme.example"\nsource = "mail/tom.mbox"\n'
        'incoming = "subject"\n',
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = run(
        capsys, "sync", "--config", str(folder / "mailbind.toml"), "--json", "--now", NOW
    )
    assert (code, err) == (0, "")
    (report,) = json_lines(out)
    assert (report["source"], report["seen"]) == ("mail/tom.mbox", 9)
    assert (elsewhere / "mailbind.sqlite").exists()


# --- watch ----------------------------------------------------------------------------------


class FakeClock:
    """A clock that moves only when the command sleeps; the n-th sleep runs *actions[n]*."""

    def __init__(self, start: datetime, *actions: object) -> None:
        self.time = start
        self.sleeps: list[float] = []
        self.actions = list(actions)

    def now(self) -> datetime:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        action = self.actions.pop(0) if self.actions else KeyboardInterrupt
        if action is KeyboardInterrupt:
            raise KeyboardInterrupt
        self.time += timedelta(seconds=seconds)
        if callable(action):
            action()


def test_watch_syncs_on_the_schedule_and_stops_cleanly_on_ctrl_c(
    mbox: Path, db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--watch waits one interval between passes, imports what arrived, and stops on Ctrl-C."""

    def arrive() -> None:
        with mbox.open("a") as file:
            file.write(mail("Quote please", sender="Kim Lee <kim@newco.example>"))

    fake = FakeClock(datetime(2025, 2, 1, 9, 0, tzinfo=UTC), arrive, None)
    monkeypatch.setattr(cli_clock, "now", fake.now)
    monkeypatch.setattr(cli_clock, "sleep", fake.sleep)
    code, out, err = run(
        capsys, "sync", str(mbox), "--owner", MARIA, "--db", db, "--watch", "--interval", "5"
    )
    assert (code, err) == (0, "")
    assert fake.sleeps == [300.0, 300.0, 300.0]
    lines = out.splitlines()
    assert "Watching 1 mailbox: syncing every 5 minutes. Press Ctrl-C to stop." in lines
    passes = [line.split(" ", 1)[1] for line in lines if line[:2].isdigit()]
    assert passes == [
        f"{MARIA}: 1 new message, 1 synced, 0 skipped, 1 contact created",
        f"{MARIA}: nothing new",
    ]
    assert lines[-1] == "Stopped."


def test_watch_backs_off_after_a_failure_and_recovers(
    mbox: Path, db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mailbox whose source fails is retried after a one-minute back-off, not the interval."""
    away = mbox.with_suffix(".away")
    fake = FakeClock(
        datetime(2025, 2, 1, 9, 0, tzinfo=UTC),
        lambda: mbox.rename(away),
        lambda: away.rename(mbox),
    )
    monkeypatch.setattr(cli_clock, "now", fake.now)
    monkeypatch.setattr(cli_clock, "sleep", fake.sleep)
    code, out, err = run(
        capsys, "sync", str(mbox), "--owner", MARIA, "--db", db, "--watch", "--quiet"
    )
    assert (code, out) == (0, "")
    first, second = err.splitlines()
    assert first == f"mailbind: error: Cannot read the mbox file '{mbox}': it does not exist."
    assert second.startswith(f"mailbind: {MARIA} retries at ")
    assert fake.sleeps == [600.0, 60.0, 600.0]


# --- explain --------------------------------------------------------------------------------


def test_explain_json_gives_every_decision_with_reasons_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``explain --json`` prints one parseable line per message, with reasons; no file appears."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "explain", "--sample", "--json", "--now", NOW)
    assert (code, err) == (0, "")
    records = json_lines(out)
    assert len(records) == 229
    assert all(record["reasons"] for record in records)
    assert list(tmp_path.iterdir()) == []
    news = next(
        r for r in records if r["subject"] == "SaaS Weekly #121: pricing pages that convert"
    )
    assert (news["synced"], news["reasons"]) == (False, ["group_sender", "bulk", "external"])
    assert {p["no_contact"] for p in news["participants"]} == {"message_not_synced"}
    first = records[0]
    assert (first["synced"], first["direction"], first["level"]) == (True, "incoming", "subject")
    hank, owner, _zoe = first["participants"]
    assert hank["contact"] == {
        "id": auto_contact_id("hank.rearden@globex.example"),
        "name": "Hank Rearden",
        "new": True,
        "deleted": False,
    }
    assert (owner["contact"], owner["no_contact"]) == (None, "self")
    created = {
        p["contact"]["id"]
        for r in records
        for p in r["participants"]
        if p["contact"] and p["contact"]["new"]
    }
    assert len(created) == 12


def test_explain_matches_what_sync_then_stores(
    synced: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --db the contacts are the stored ones: nothing new, and every link agrees."""
    code, out, _ = run(capsys, "explain", "--sample", "--json", "--db", synced)
    records = json_lines(out)
    linked = [p["contact"] for r in records for p in r["participants"] if p["contact"]]
    assert code == 0
    assert linked
    assert not any(c["new"] for c in linked)
    _, listed, _ = run(capsys, "contacts", "list", "--json", "--db", synced)
    assert {c["id"] for c in linked} == {c["id"] for c in json_lines(listed)}


def test_explain_reads_the_settings_the_database_recorded(
    mbox: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --db, explain decides under the recorded settings and says so; --as-given decides
    under the options on the command line."""
    sh(
        capsys,
        f"sync {mbox} --owner {MARIA} --org-domain acme.example --incoming everything "
        f"--db {db} --now {NOW}",
    )
    options = f"explain {mbox} --owner {MARIA} --org-domain acme.example --db {db} --json"
    code, out, err = sh(capsys, options)
    assert code == 0
    assert err == (
        f"mailbind: {MARIA} is explained under the settings recorded in {db}; --as-given "
        "explains it under the options given.\n"
    )
    incoming = {r["level"] for r in json_lines(out) if r["direction"] == "incoming"}
    assert incoming == {"everything"}
    code, out, err = sh(capsys, options + " --as-given")
    assert (code, err) == (0, "")
    assert {r["level"] for r in json_lines(out) if r["direction"] == "incoming"} == {"metadata"}
    code, out, err = sh(capsys, options + " --incoming everything")
    assert (code, err) == (0, "")


def test_explain_table_fits_the_terminal_and_explains_the_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The readable table keeps every line within 100 columns and ends with a legend."""
    code, out, _ = run(capsys, "explain", "--sample", "--now", NOW)
    lines = out.splitlines()
    assert code == 0
    assert lines[:2] == [
        f"{MARIA} from sample.mbox: a dry run, nothing is written.",
        "Sharing: received mail at level subject, sent mail at level everything.",
    ]
    assert lines[3].split() == [
        "1",
        "2025-01-06",
        "05:48",
        "synced",
        "incoming",
        "subject",
        "external",
    ]
    assert lines[5].split() == [
        "from",
        "hank.rearden@globex.example",
        "new",
        "contact:",
        "Hank",
        "Rearden",
    ]
    assert max(width(line) for line in lines) <= 100
    assert "220 messages: 140 would sync, 80 would be skipped." in lines
    assert "12 contacts would be created. Nothing was written." in lines
    legend = lines.index("Why a participant gets no contact:")
    assert lines[legend + 4].split(maxsplit=1) == [
        "free_provider",
        "The address is on a free mail provider, which the mailbox skips.",
    ]


def test_explain_table_fits_80_columns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On an 80-column terminal no line of the table is wider."""
    monkeypatch.setattr("mailbind.cli.text.terminal_width", lambda stream: 80)
    monkeypatch.setattr("mailbind.cli.explain.terminal_width", lambda stream: 80)
    code, out, _ = run(capsys, "explain", "--sample", "--now", NOW)
    assert code == 0
    assert max(width(line) for line in out.splitlines()) <= 80


# --- emails ---------------------------------------------------------------------------------


def test_emails_show_a_colleague_what_each_mailbox_shares(
    synced: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tom reads Maria's received mail to the subject and her sent mail in full."""
    code, out, err = run(capsys, "emails", "--contact", FRANK, "--viewer", TOM, "--db", synced)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:3] == [
        f"Frank O'Connor <{FRANK}>, Globex (globex.example)",
        f"4 messages as {TOM} may read them: 2 at level everything, 2 at level subject.",
        "At level subject the body and attachments are withheld; at level metadata the subject "
        "too.",
    ]
    assert lines[3:] == [
        "",
        "sent (UTC)        level       held by                     from            subject",
        "2025-01-20 17:56  subject     maria.lopez@acme.example    Frank O'Connor  Renewal of "
        "the Globex sup…",
        "2025-01-21 07:59  everything  maria.lopez@acme.e… (sent)  María López     Re: Renewal "
        "of the Globex…",
        "2025-01-21 08:42  subject     maria.lopez@acme.example    Frank O'Connor  Re: Renewal "
        "of the Globex…",
        "2025-01-21 10:21  everything  maria.lopez@acme.e… (sent)  María López     Re: Renewal "
        "of the Globex…",
    ]


def test_emails_full_shows_each_message_whole(
    synced: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --full each message is shown with its participants, whole body and attachments;
    what the viewer may not read shows as (withheld)."""
    code, out, err = run(
        capsys, "emails", "--contact", FRANK, "--viewer", TOM, "--db", synced, "--full"
    )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[4] == f"2025-01-20 12:56 -05:00  ·  received by {MARIA}  ·  level subject"
    assert lines[8:11] == [
        "  Subject:     Renewal of the Globex support contract – terms",
        "  Body:        (withheld)",
        "  Attachments: (withheld)",
    ]
    assert lines.count("  Body:        (withheld)") == 2
    assert "  Body:        Dear Frank," in lines
    assert not any("--full shows them" in line for line in lines)


def test_emails_owner_reads_everything(synced: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The owner of the mailbox that holds a message reads all of it."""
    code, out, _ = run(
        capsys, "emails", "--contact", FRANK, "--viewer", MARIA, "--db", synced, "--json"
    )
    assert code == 0
    assert {r["level"] for r in json_lines(out)} == {"everything"}


def test_emails_json_marks_withheld_fields(synced: str, capsys: pytest.CaptureFixture[str]) -> None:
    """In JSON a withheld field is null and named in ``withheld``; a visible one is kept."""
    code, out, _ = run(
        capsys, "emails", "--contact", FRANK, "--viewer", TOM, "--db", synced, "--json"
    )
    first = json_lines(out)[0]
    assert code == 0
    assert first["subject"] == "Renewal of the Globex support contract – terms"
    assert (first["text"], first["attachments"]) == (None, None)
    assert first["withheld"] == ["text", "html", "attachments"]
    assert first["held_by"] == [{"mailbox": MARIA, "direction": "incoming"}]


def test_emails_by_company_and_at_metadata(synced: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A company's mail includes every contact's; Tom's received mail shows no subject to Maria."""
    code, out, _ = sh(
        capsys, f"emails --company initech.example --viewer {MARIA} --db {synced} --json"
    )
    records = json_lines(out)
    assert code == 0
    toms = [r for r in records if r["held_by"] == [{"mailbox": TOM, "direction": "incoming"}]]
    assert toms
    assert all(r["subject"] is None for r in toms)
    assert all(r["withheld"] == ["subject", "text", "html", "attachments"] for r in toms)
    code, out, _ = run(
        capsys, "emails", "--company", "initech.example", "--viewer", MARIA, "--db", synced
    )
    rows = out.splitlines()[4:]
    assert (
        "2025-01-06 07:58  metadata    tom.baker@acme.example      Peter Novak    (withheld)"
        in rows
    )


# --- contacts -------------------------------------------------------------------------------


def test_contacts_lifecycle_relinks_and_suppresses(
    synced: str, mbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Delete, restore, destroy and add by hand: messages follow, deletions are never undone
    by automatic creation, and adding by hand lifts the suppression."""
    frank_id = auto_contact_id(FRANK)
    shown = f"{frank_id} (Frank O'Connor <{FRANK}>, Globex (globex.example))"
    code, out, _ = run(capsys, "contacts", "delete", FRANK, "--db", synced, "--now", NOW)
    assert (code, out.splitlines()) == (
        0,
        [
            f"Deleted contact {shown}.",
            f"  It keeps its messages; `mailbind contacts restore {frank_id}` undoes this.",
            f"  Never created automatically again: {FRANK}.",
        ],
    )
    _, out, _ = run(capsys, "contacts", "suppressed", "--db", synced)
    assert out.splitlines() == [
        "1 suppressed address",
        f"  {FRANK}  soft_deleted (contact {frank_id})",
    ]
    _, out, _ = run(capsys, "emails", "--contact", FRANK, "--viewer", TOM, "--db", synced)
    assert out.splitlines()[1].startswith("4 messages")
    _, out, _ = run(capsys, "contacts", "list", "--db", synced)
    lines = out.splitlines()
    assert lines[:3] == [
        f"12 contacts (1 deleted) in {synced}",
        "",
        "name                      address                                 company   id",
    ]
    assert f"Frank O'Connor (deleted)  {FRANK}            Globex    {frank_id}" in lines
    assert lines[-2:] == [
        "",
        "A deleted contact keeps its messages and is never created again (restore or destroy it).",
    ]

    code, out, _ = run(capsys, "contacts", "restore", frank_id, "--db", synced)
    assert out.splitlines() == [f"Restored contact {shown}.", f"  No longer suppressed: {FRANK}."]

    code, out, _ = run(capsys, "contacts", "destroy", FRANK, "--yes", "--db", synced)
    assert (code, out.splitlines()) == (
        0,
        [
            f"Destroyed contact {shown}.",
            f"  Messages with {FRANK} now belong to nobody.",
            f"  Never created automatically again: {FRANK}.",
        ],
    )
    code, _, err = run(capsys, "emails", "--contact", FRANK, "--viewer", TOM, "--db", synced)
    assert (code, err) == (8, f"mailbind: error: No contact has the id or address '{FRANK}'.\n")

    # Another mailbox reads the same mail from the start: Frank is not created again.
    code, out, _ = sh(
        capsys,
        f"sync {mbox} --owner hr@acme.example --org-domain acme.example --org-domain "
        f"acme-labs.example --block @spammy.example --db {synced} --json --now {NOW}",
    )
    (report,) = json_lines(out)
    assert (code, report["contacts_created"]) == (0, 0)
    assert report["synced"] > 100

    code, out, _ = sh(
        capsys,
        f'contacts add --primary {FRANK} --first Frank --last "O\'Connor" --id frank '
        f"--db {synced} --now {NOW}",
    )
    assert (code, out.splitlines()) == (
        0,
        [
            f"Added contact frank: Frank O'Connor <{FRANK}>, Globex (globex.example).",
            f"  Messages with {FRANK} now belong to frank.",
            f"  No longer suppressed: {FRANK}.",
        ],
    )
    code, out, _ = run(capsys, "emails", "--contact", FRANK, "--viewer", TOM, "--db", synced)
    assert out.splitlines()[1].startswith("4 messages")


def test_contacts_edit_adds_an_address_and_relinks_its_mail(
    synced: str, mbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An address added to a contact takes its messages along."""
    with mbox.open("a") as file:
        file.write(mail("From my phone", sender="Hank <hank@rearden-metal.example>"))
    code, _, _ = sh(
        capsys,
        f"sync {mbox} --owner {MARIA} --mailbox-id copy --db {synced} --no-create-contacts "
        "--org-domain acme.example --org-domain acme-labs.example --block @spammy.example "
        f"--now {NOW}",
    )
    assert code == 0
    hank = auto_contact_id("hank.rearden@globex.example")
    code, out, _ = sh(
        capsys,
        "contacts edit hank.rearden@globex.example --add-address hank@rearden-metal.example "
        f"--first Henry --db {synced}",
    )
    assert (code, out.splitlines()) == (
        0,
        [
            f"Changed contact {hank}: Henry Rearden <hank.rearden@globex.example>, Globex "
            "(globex.example).",
            f"  Messages with hank@rearden-metal.example now belong to {hank}.",
        ],
    )
    _, out, _ = sh(
        capsys, f"emails --contact hank@rearden-metal.example --viewer {MARIA} --db {synced} --json"
    )
    assert "From my phone" in {r["subject"] for r in json_lines(out)}
    _, out, _ = run(capsys, "contacts", "list", "--db", synced)
    (row,) = [line for line in out.splitlines() if line.startswith("Henry Rearden ")]
    assert row.split() == ["Henry", "Rearden", "hank.rearden@globex.example", "+1", "Globex", hank]


def test_contacts_add_notes_an_older_owner_and_suppress_records(
    synced: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adding a second contact for a known address says the older one keeps its mail."""
    code, out, _ = sh(
        capsys, f"contacts add --primary {FRANK} --db {synced} --now 2025-03-01T00:00:00+00:00"
    )
    assert code == 0
    assert out.splitlines()[-1] == (
        f"  {FRANK} still belongs to the older contact {auto_contact_id(FRANK)}, which keeps "
        "its messages."
    )
    code, out, _ = run(capsys, "contacts", "suppress", "kim@newco.example", "--db", synced)
    assert (code, out) == (0, "Suppressed kim@newco.example: it is never created automatically.\n")


def test_destroy_asks_for_confirmation(
    synced: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --yes and without a terminal to ask on, nothing is destroyed."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code, _, err = run(capsys, "contacts", "destroy", FRANK, "--db", synced)
    assert (code, err) == (
        2,
        "mailbind: error: Nothing destroyed: confirm with --yes to destroy a contact.\n",
    )
    _, out, _ = run(capsys, "contacts", "list", "--json", "--db", synced)
    assert auto_contact_id(FRANK) in {c["id"] for c in json_lines(out)}


# --- Errors and exit codes --------------------------------------------------------------------


def write(path: Path, text: str) -> str:
    """Write *text* to *path*; the path as a string."""
    path.write_text(text, encoding="utf-8")
    return str(path)


MAILBOX = '[[mailbox]]\nowner = "a@acme.example"\nsource = "x.mbox"\n'


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            '[policy]\norg_domain = ["acme.example"]\n' + MAILBOX,
            "[policy]: Unknown key 'org_domain'; did you mean 'org_domains'?",
        ),
        (
            '[policy]\norg_domains = ["gmail.com"]\n' + MAILBOX,
            "[policy]: The organisation domain 'gmail.com' is a free mail provider, whose users "
            "are not colleagues.",
        ),
        (
            "[policy]\nsync_internal = 'yes'\n" + MAILBOX,
            "[policy]: sync_internal must be true or false, not 'yes'.",
        ),
        (
            MAILBOX + 'incoming = "full"\n',
            "[[mailbox]] 1: The incoming sharing level must be one of metadata, subject, "
            "everything, not 'full'.",
        ),
        (
            MAILBOX + 'format = "pst"\n',
            "[[mailbox]] 1: The format must be one of caldav, eml, ics, invitations, jsonl, "
            "maildir, mbox, not 'pst'.",
        ),
        (MAILBOX + MAILBOX, "[[mailbox]] 2: The mailbox id 'a@acme.example' is used twice."),
        (
            '[[mailbox]]\nsource = "x.mbox"\n',
            "[[mailbox]] 1: Every mailbox needs an owner address.",
        ),
        (
            "[mailboxes]\n",
            "[mailboxes]: Unknown table; the file takes [policy], [[mailbox]], [[company]] and "
            "[store].",
        ),
        (
            MAILBOX + '[[company]]\nname = "Globex"\n',
            "[[company]] 1: Every company needs a domain.",
        ),
        (
            MAILBOX + '[[company]]\ndomain = "globex.example"\ndomain_names = []\n',
            "[[company]] 1: Unknown key 'domain_names'; did you mean 'domains'?",
        ),
        (
            MAILBOX + '[[company]]\ndomain = "globex.example"\ndomains = ["gmail.com"]\n',
            "[[company]] 1: A further domain must not be a free-provider domain ('gmail.com'): "
            "its users are not one company.",
        ),
        (
            MAILBOX + '[[company]]\ndomain = "globex.example"\ndomains = [1]\n',
            "[[company]] 1: domains must be a list of domains, not [1].",
        ),
        (
            MAILBOX + '[[company]]\ndomain = "globex.example"\n'
            '[[company]]\ndomain = "initech.example"\ndomains = ["eu.globex.example"]\n',
            "[[company]]: Domain 'globex.example' is named for two companies.",
        ),
    ],
)
def test_config_mistakes_exit_5_naming_file_and_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, message: str
) -> None:
    """A wrong config file gives one line naming the file and the table, and exit code 5."""
    path = write(tmp_path / "mailbind.toml", config)
    code, out, err = run(capsys, "sync", "--config", path, "--db", str(tmp_path / "db"))
    assert (code, out, err) == (5, "", f"mailbind: error: {path}, {message}\n")
    assert not (tmp_path / "db").exists()


def test_invalid_toml_exits_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that is not TOML says where it breaks."""
    path = write(tmp_path / "bad.toml", "[policy\n")
    assert run(capsys, "sync", "--config", path) == (
        5,
        "",
        f"mailbind: error: {path} is not a valid TOML file: Expected ']' at the end of a table "
        "declaration (at line 1, column 8).\n",
    )


def test_no_mailbox_in_config_exits_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config file without a mailbox is refused."""
    path = write(tmp_path / "empty.toml", "[policy]\n")
    assert run(capsys, "sync", "--config", path)[::2] == (
        5,
        f"mailbind: error: {path} names no [[mailbox]].\n",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("sync",), "Give a SOURCE, --config FILE or --sample (see `mailbind sync --help`)."),
        (
            ("sync", "x.mbox"),
            "--owner is required with a SOURCE: the address of the mailbox's owner.",
        ),
        (
            ("sync", "--sample", "--block", "@x.example"),
            "--block cannot be combined with --sample: the file sets the mailboxes and the policy.",
        ),
        (
            ("sync", "x.mbox", "--sample"),
            "Give a SOURCE or --sample, not both (see `mailbind sync --help`).",
        ),
        (
            ("sync", "--sample", "--interval", "0"),
            "argument --interval: must be a whole number of at least 1, not '0' "
            "(see `mailbind sync --help`).",
        ),
        (
            ("explain", "--sample", "--now", "2025-02-01T09:00"),
            "argument --now: the time needs a UTC offset: '2025-02-01T09:00' "
            "(see `mailbind explain --help`).",
        ),
        (
            ("frobnicate",),
            "argument COMMAND: invalid choice: 'frobnicate' (choose from 'sync', 'explain', "
            "'report', 'emails', 'events', 'contacts', 'companies', 'completion', 'docs') "
            "(see `mailbind --help`).",
        ),
        (
            ("emails", "--contact", FRANK),
            "the following arguments are required: --viewer (see `mailbind emails --help`).",
        ),
    ],
)
def test_usage_mistakes_exit_2_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    """A wrong command line gives one line, no usage dump, and exit code 2."""
    assert run(capsys, *argv) == (2, "", f"mailbind: error: {message}\n")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ("--org-domain", "gmail.com"),
            "The organisation domain 'gmail.com' is a free mail provider, whose users are not "
            "colleagues.",
        ),
        (
            ("--alias", "not an address"),
            "A mailbox alias is not a readable address: 'not an address'.",
        ),
        (
            ("--block", "globex.example"),
            "The blocklist entry 'globex.example' is neither an address nor an @domain "
            "(write '@example.com' to block a domain).",
        ),
    ],
)
def test_bad_policy_options_exit_2(
    mbox: Path,
    db: str,
    capsys: pytest.CaptureFixture[str],
    options: tuple[str, ...],
    message: str,
) -> None:
    """A setting given as an option that the rules refuse is a usage mistake, and writes nothing."""
    code, out, err = run(capsys, "sync", str(mbox), "--owner", MARIA, *options, "--db", db)
    assert (code, out, err) == (2, "", f"mailbind: error: {message}\n")
    assert not os.path.exists(db)


def test_missing_source_exits_3_before_any_database_exists(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mail source that is not there is reported, and no database is created."""
    missing = str(tmp_path / "nope.mbox")
    assert run(capsys, "sync", missing, "--owner", MARIA, "--db", db) == (
        3,
        "",
        f"mailbind: error: Cannot read the mail source '{missing}': it does not exist.\n",
    )
    assert not os.path.exists(db)


def test_missing_config_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config file that is not there is an input error."""
    missing = str(tmp_path / "nope.toml")
    assert run(capsys, "explain", "--config", missing) == (
        3,
        "",
        f"mailbind: error: Cannot read the config file '{missing}': it does not exist.\n",
    )


def test_database_problems_exit_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that is not a database, a folder, and a missing database each give exit code 4."""
    garbage = write(tmp_path / "garbage.sqlite", "not a database, just text\n" * 100)
    assert run(capsys, "sync", "--sample", "--db", garbage) == (
        4,
        "",
        f"mailbind: error: The database '{garbage}' could not be opened: file is not a database.\n",
    )
    assert run(capsys, "contacts", "list", "--db", str(tmp_path)) == (
        4,
        "",
        f"mailbind: error: The database '{tmp_path}' is a folder, not a file.\n",
    )
    missing = str(tmp_path / "none.sqlite")
    assert run(capsys, "emails", "--company", "x.example", "--viewer", TOM, "--db", missing) == (
        4,
        "",
        f"mailbind: error: No database at '{missing}': run `mailbind sync` first, or give "
        "--db PATH.\n",
    )
    assert not os.path.exists(missing)


class _RefusingImap(socketserver.StreamRequestHandler):
    """An IMAP server that greets, then refuses every login."""

    def handle(self) -> None:
        self.wfile.write(b"* OK [CAPABILITY IMAP4rev1] ready\r\n")
        for line in self.rfile:
            tag, _, command = line.decode().partition(" ")
            verb = command.split(" ", 1)[0].strip().upper()
            if verb == "CAPABILITY":
                self.wfile.write(f"* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n".encode())
            elif verb == "LOGOUT":
                self.wfile.write(f"* BYE\r\n{tag} OK bye\r\n".encode())
                return
            else:
                self.wfile.write(f"{tag} NO [AUTHENTICATIONFAILED] Nope.\r\n".encode())


@pytest.fixture
def refusing_imap() -> Iterator[int]:
    """The port of a loopback IMAP server that refuses every login."""
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _RefusingImap) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield server.server_address[1]
        server.shutdown()


def test_refused_login_exits_6(
    refusing_imap: int,
    db: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A login the server refuses is an authentication failure, and the password stays hidden."""
    monkeypatch.setenv("CRM_PASSWORD", "hunter2-secret")
    url = f"imap://kim@127.0.0.1:{refusing_imap}/?security=plain"
    code, out, err = sh(
        capsys, f"sync {url} --owner kim@acme.example --db {db} --password-env CRM_PASSWORD"
    )
    assert (code, out) == (6, "")
    assert err == (
        f"mailbind: error: The IMAP server imap://kim@127.0.0.1:{refusing_imap}/ rejected the "
        "login of 'kim'.\n"
    )
    assert "hunter2" not in err


def test_no_password_without_a_terminal_exits_6(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no password variable and no terminal to ask on, mailbind says how to give one."""
    monkeypatch.delenv("MAILBIND_IMAP_PASSWORD", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert run(
        capsys, "sync", "imap://kim@mail.example/", "--owner", "kim@acme.example", "--db", db
    ) == (
        6,
        "",
        "mailbind: error: No password for kim@mail.example: set the environment variable "
        "MAILBIND_IMAP_PASSWORD, or run mailbind in a terminal to be asked for it.\n",
    )


def test_imap_mailboxes_in_a_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A config mailbox may read IMAP with its own password variable; a bad URL is exit 5."""
    monkeypatch.delenv("CRM_PW", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    imap = '[[mailbox]]\nowner = "kim@acme.example"\nsource = "imap://kim@mail.example/'
    path = write(tmp_path / "imap.toml", imap + '"\npassword_env = "CRM_PW"\n')
    assert run(capsys, "sync", "--config", path)[::2] == (
        6,
        "mailbind: error: No password for kim@mail.example: set the environment variable "
        "CRM_PW, or run mailbind in a terminal to be asked for it.\n",
    )
    monkeypatch.setenv("CRM_PW", "pw")
    path = write(tmp_path / "imap.toml", imap + '?tls=yes"\npassword_env = "CRM_PW"\n')
    assert run(capsys, "sync", "--config", path)[::2] == (
        5,
        f"mailbind: error: {path}, [[mailbox]] 1: An IMAP URL takes security, folders and skip, "
        "not 'tls'.\n",
    )


def test_password_in_the_url_is_refused(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A password written into the URL is refused without being echoed."""
    code, _, err = run(
        capsys, "sync", "imap://kim:s3cret@mail.example/", "--owner", "kim@acme.example", "--db", db
    )
    assert (code, err) == (
        2,
        "mailbind: error: An IMAP URL may not hold a password; set the environment variable "
        "MAILBIND_IMAP_PASSWORD instead.\n",
    )


def test_unreachable_server_exits_7(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server that cannot be reached is a temporary failure, stored as a back-off."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MAILBIND_IMAP_PASSWORD", "pw")
    code, out, err = run(
        capsys,
        "sync",
        f"imap://kim@127.0.0.1:{port}/?security=plain",
        "--owner",
        "kim@acme.example",
        "--db",
        db,
    )
    assert (code, out) == (7, "")
    assert err == (
        f"mailbind: error: Cannot connect to the IMAP server imap://kim@127.0.0.1:{port}/: "
        "connection refused.\n"
    )


def test_unknown_contact_exits_8(synced: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Naming a contact or company that does not exist is exit code 8."""
    assert run(capsys, "contacts", "delete", "nobody@x.example", "--db", synced) == (
        8,
        "",
        "mailbind: error: No contact has the id or address 'nobody@x.example'.\n",
    )
    assert run(
        capsys, "emails", "--company", "nowhere.example", "--viewer", TOM, "--db", synced
    ) == (8, "", "mailbind: error: No company has the domain 'nowhere.example'.\n")


def test_ctrl_c_exits_130_without_a_traceback(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C during a pass ends with one line and exit code 130."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_sync, "sync_mailbox", interrupted)
    assert run(capsys, "sync", "--sample", "--db", db) == (
        130,
        "",
        "\nmailbind: interrupted; everything stored before is kept.\n",
    )


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    """--help and --version print and succeed."""
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "Start with `mailbind sync --sample`." in out
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.startswith("mailbind ")
    assert [code.value for code in ExitCode] == [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 130]


# --- Hostile mail -----------------------------------------------------------------------------


def test_control_characters_from_mail_never_reach_the_terminal(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Escape sequences and bidirectional overrides in names, subjects and bodies are shown
    escaped by explain and emails, in text and in JSON."""
    hostile = tmp_path / "hostile.mbox"
    hostile.write_text(
        mail(
            "=?utf-8?b?"
            + base64.b64encode("Read me\x1b[2J now \u202egenop".encode()).decode()
            + "?=",
            sender='"Eve\x1b]0;pwned\x07" <eve@evil.example>',
            body="Line one\x1b[31m red\nand \u202e reversed \x9b",
        ),
        encoding="utf-8",
    )
    sh(capsys, f"sync {hostile} --owner {MARIA} --incoming everything --db {db} --now {NOW}")
    outputs = [
        run(capsys, "explain", str(hostile), "--owner", MARIA, "--now", NOW)[1],
        run(capsys, "explain", str(hostile), "--owner", MARIA, "--json")[1],
        run(
            capsys, "emails", "--contact", "eve@evil.example", "--viewer", TOM, "--db", db, "--full"
        )[1],
        run(capsys, "emails", "--contact", "eve@evil.example", "--viewer", TOM, "--db", db)[1],
        run(
            capsys, "emails", "--contact", "eve@evil.example", "--viewer", TOM, "--db", db, "--json"
        )[1],
    ]
    for text in outputs:
        assert not any(ch in text for ch in "\x1b\x07\x9b\u202e"), text
    assert "Read me\\x1b[2J now \\u202egenop" in outputs[0]
    assert "Line one\\x1b[31m red" in outputs[2]
    assert "Read me\\x1b[2J now \\u202egenop" in outputs[3]
    assert json_lines(outputs[4])[0]["text"] == "Line one\x1b[31m red\nand \u202e reversed \x9b\n"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain", "plain"),
        ("Jörg Weiß, 高橋 直子", "Jörg Weiß, 高橋 直子"),
        ("a\x1b[2Jb", "a\\x1b[2Jb"),
        ("tab\there", "tab\\x09here"),
        ("c1\x9bd", "c1\\x9bd"),
        ("bidi\u202etxt", "bidi\\u202etxt"),
        ("line\u2028sep", "line\\u2028sep"),
        ("lone\udc80", "lone\\udc80"),
        ("family 👩\u200d👩\u200d👧", "family 👩\u200d👩\u200d👧"),
    ],
)
def test_clean_escapes_exactly_what_is_unsafe(text: str, shown: str) -> None:
    """Control, separator, surrogate and format characters are escaped; text and joiners stay."""
    assert clean(text) == shown


def test_json_lines_stay_valid_and_safe() -> None:
    """A JSON line escapes unsafe characters as \\u escapes and reads back equal."""
    record = {"s": "x\x1b\u202e\x9b\U000e0041 ü 高"}
    line = json_line(record)
    assert line.isprintable()
    assert json.loads(line) == record
    assert "ü 高" in line


def _unsafe_left(text: str) -> list[str]:
    """The characters of *text* a terminal could act on."""
    return [
        c
        for c in text
        if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") and c not in "\u200c\u200d"
    ]


@given(st.text())
def test_cleaned_text_holds_nothing_a_terminal_acts_on(text: str) -> None:
    """Whatever a message holds, `clean` leaves no control, separator or format character."""
    assert _unsafe_left(clean(text)) == []


@given(st.text())
def test_json_lines_round_trip_and_hold_nothing_a_terminal_acts_on(text: str) -> None:
    """Whatever a message holds, its JSON line reads back equal and is safe to print."""
    line = json_line({"text": text})
    assert json.loads(line) == {"text": text}
    assert _unsafe_left(line) == []


@given(st.text(), st.integers(min_value=0, max_value=120))
def test_cut_never_overflows(text: str, cells: int) -> None:
    """`cut` keeps a cell within its width, and keeps short text whole."""
    shown = cut(clean(text), cells)
    assert width(shown) <= cells
    if width(clean(text)) <= cells:
        assert shown == clean(text)


def test_widths_count_terminal_cells() -> None:
    """Wide characters take two cells, combining marks none; cut never overflows."""
    assert width("高橋") == 4
    assert width("e\u0301") == 1
    assert cut("高橋直子さん", 7) == "高橋直…"
    assert width(cut("高橋直子さん", 7)) <= 7
    assert cut("short", 10) == "short"


# --- The progress bar -------------------------------------------------------------------------


class _Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """No bar off a terminal, when quiet or with TERM=dumb; a callback on a terminal."""
    source = Observed(ListSource([]), factories.mailbox(), label="x", first=False)
    with cli_sync._progress(io.StringIO(), "x", source, enabled=True, delay=0) as update:
        assert update is None
    with cli_sync._progress(_Terminal(), "x", source, enabled=False, delay=0) as update:
        assert update is None
    with cli_sync._progress(_Terminal(), "x", source, enabled=True, delay=0) as update:
        assert callable(update)
    monkeypatch.setenv("TERM", "dumb")
    with cli_sync._progress(_Terminal(), "x", source, enabled=True, delay=0) as update:
        assert update is None


# --- A real process ---------------------------------------------------------------------------


def test_python_m_mailbind_syncs_the_sample_and_shows_a_colleagues_view(tmp_path: Path) -> None:
    """``python -m mailbind`` runs the main job end to end in a fresh process."""
    db = str(tmp_path / "crm.sqlite")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}

    def mailbind(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mailbind", *argv],
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )

    done = mailbind("sync", "--sample", "--db", db)
    assert (done.returncode, done.stderr) == (0, "")
    assert f"  mailbind emails --contact {FRANK} --viewer {TOM} --db {db}" in done.stdout
    shown = mailbind("emails", "--contact", FRANK, "--viewer", TOM, "--db", db)
    assert (shown.returncode, shown.stderr) == (0, "")
    lines = shown.stdout.splitlines()
    assert [line.split()[2] for line in lines[5:]] == ["subject", "everything"] * 2
    whole = mailbind("emails", "--contact", FRANK, "--viewer", TOM, "--db", db, "--full")
    lines = whole.stdout.splitlines()
    assert lines.count("  Body:        (withheld)") == 2
    assert lines.count("  Subject:     Re: Renewal of the Globex support contract – terms") == 3
    assert "  Body:        Hi Frank," in lines
    failed = mailbind("emails", "--contact", FRANK, "--viewer", TOM, "--db", str(tmp_path / "no"))
    assert (failed.returncode, failed.stdout) == (4, "")
    assert failed.stderr.count("\n") == 1
    assert "Traceback" not in failed.stderr


def test_institutions_as_companies_from_an_option_and_a_config_file(
    tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--no-institution-companies and ``institutions_as_companies = false`` reach the policy,
    and a config file may name its own institutions."""
    source = tmp_path / "uni.mbox"
    source.write_bytes(
        b"From x Mon Jan  1 00:00:00 2024\n"
        b"From: Prof. Jane Doe <jane.doe@cs.ox.ac.uk>\nTo: maria@acme.example\n"
        b"Subject: Guest lecture\nMessage-ID: <lecture@ox.ac.uk>\n"
        b"Date: Mon, 01 Jan 2024 10:00:00 +0000\n\nShall we?\n"
    )
    option = "--no-institution-companies"
    code, out, _ = sh(capsys, f"sync {source} --owner {MARIA} {option} --db {db} --show-settings")
    assert code == 0
    assert "institutions_as_companies = false\n" in out
    config = tmp_path / "mailbind.toml"
    config.write_text(
        "[policy]\norg_domains = ['acme.example']\ninstitutions_as_companies = false\n"
        "institutions = ['ox.ac.uk', 'ethz.ch']\n\n"
        f"[[mailbox]]\nowner = '{MARIA}'\nsource = '{source}'\n"
    )
    code, out, _ = sh(capsys, f"sync --config {config} --db {db} --show-settings")
    assert code == 0
    assert "institutions_as_companies = false\n" in out
    assert 'institutions = ["ethz.ch", "ox.ac.uk"]\n' in out
    code, _, _ = sh(capsys, f"sync --config {config} --db {db} --json --now {NOW}")
    assert code == 0
    code, out, _ = sh(capsys, f"contacts list --db {db} --json")
    (contact,) = json_lines(out)
    assert (contact["primary"], contact["company_domain"]) == ("jane.doe@cs.ox.ac.uk", None)


def test_companies_in_the_config_file_are_saved_before_the_sync(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``[[company]]`` tables make a company hold several domains: a stored company on one of
    them is merged in, the timeline reads mail on all of them, a second run changes nothing,
    a dry run saves nothing, and --show-settings writes the tables back."""
    db = str(tmp_path / "crm.sqlite")
    assert main(["sync", "--sample", "--db", db, "--quiet", "--now", NOW]) == 0
    _, out, _ = run(capsys, "companies", "list", "--db", db, "--json")
    before = {r["domain"]: r for r in json_lines(out)}
    sample = DATA.joinpath("sample.toml").read_text()
    folder = DATA.joinpath("sample.mbox")
    config = write(
        tmp_path / "mailbind.toml",
        sample.replace('"sample.mbox"', json.dumps(str(folder))).replace(
            '"sample-tom.mbox"', json.dumps(str(DATA.joinpath("sample-tom.mbox")))
        )
        + '\n[[company]]\ndomain = "globex.example"\nname = "Globex Corporation"\n'
        'domains = ["initech.example", "globex.co.uk"]\n',
    )
    code, out, _ = run(capsys, "sync", "--config", config, "--db", db, "--now", NOW, "--dry-run")
    assert code == 0
    assert out.startswith(
        "Companies from the config: would save globex.example (3 domains, initech.example "
        "merged in).\n"
    )
    code, out, _ = run(capsys, "sync", "--config", config, "--db", db, "--now", NOW)
    assert code == 0
    assert out.startswith(
        "Companies from the config: saved globex.example (3 domains, initech.example merged in).\n"
    )
    _, out, _ = run(capsys, "companies", "list", "--db", db, "--json")
    after = {r["domain"]: r for r in json_lines(out)}
    assert "initech.example" not in after
    globex = after["globex.example"]
    assert (globex["name"], globex["domains"]) == (
        "Globex Corporation",
        ["globex.co.uk", "initech.example"],
    )
    assert globex["contacts"] == (
        before["globex.example"]["contacts"] + before["initech.example"]["contacts"]
    )
    code, out, _ = run(capsys, "sync", "--config", config, "--db", db, "--now", NOW)
    assert code == 0
    assert "Companies from the config" not in out
    code, shown, _ = run(capsys, "sync", "--config", config, "--db", db, "--show-settings")
    assert shown.endswith(
        '[[company]]\ndomain = "globex.example"\nname = "Globex Corporation"\n'
        'domains = ["globex.co.uk", "initech.example"]\n'
    )


def test_watch_of_one_mailbox_ends_with_the_code_of_its_failed_last_pass(
    mbox: Path, db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stopped with Ctrl-C after its last pass failed, one watched mailbox exits with that
    failure's code, as a run without --watch does."""
    away = mbox.with_suffix(".away")
    fake = FakeClock(datetime(2025, 2, 1, 9, 0, tzinfo=UTC), lambda: mbox.rename(away))
    monkeypatch.setattr(cli_clock, "now", fake.now)
    monkeypatch.setattr(cli_clock, "sleep", fake.sleep)
    argv = ("sync", str(mbox), "--owner", MARIA, "--db", db, "--watch", "--quiet")
    code, _, err = run(capsys, *argv)
    assert err.startswith(f"mailbind: error: Cannot read the mbox file '{mbox}'")
    assert code == ExitCode.INPUT
    # A pass that recovers ends the watch with 0 (test_watch_backs_off_after_a_failure_...).


def test_companies_list_is_a_table_as_contacts_list_is(
    synced: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``companies list`` names the database, then one row a company: its name, its domains
    and its counts, the counts aligned on the right."""
    code, out, _ = run(capsys, "companies", "list", "--db", synced)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].endswith(f" in {synced}")
    assert lines[1] == ""
    assert lines[2].split() == ["name", "domains", "contacts", "messages"]
    globex = next(line for line in lines[3:] if line.startswith("Globex "))
    assert globex.split()[1] == "globex.example"
    ends = {len(line) for line in lines[2:]}
    assert len(ends) == 1, "the counts end in one column"


@pytest.mark.parametrize("command", ["contacts", "companies"])
def test_contacts_and_companies_list_when_no_action_is_given(
    command: str, synced: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``mailbind contacts --db PATH`` lists, as ``contacts list --db PATH`` does."""
    assert run(capsys, command, "--db", synced, "--json") == run(
        capsys, command, "list", "--db", synced, "--json"
    )
    code, _, err = run(capsys, command, "--help")
    assert (code, err) == (0, "")
