"""Tests for the command line with calendars: explain, config files, dry runs, confirmation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailbind.cli import main
from mailbind.stores.sqlite import SQLiteStore

NOW = ["--now", "2025-01-06T09:00:00+00:00"]


def vevent(uid: str, *lines: str, summary: str = "Renewal", guests: int = 0) -> str:
    """One VEVENT of kim@client.example inviting anna@acme.com (and *guests* partners)."""
    return "\r\n".join(
        (
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20250101T000000Z",
            "DTSTART:20250203T100000Z",
            "DTEND:20250203T110000Z",
            f"SUMMARY:{summary}",
            "ORGANIZER;CN=Kim Lee:mailto:kim@client.example",
            "ATTENDEE;CN=Anna:mailto:anna@acme.com",
            *(f"ATTENDEE:mailto:guest{i}@partner{i}.example" for i in range(guests)),
            *lines,
            "END:VEVENT",
        )
    )


def ics(*vevents: str) -> str:
    return "\r\n".join(
        (
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//mailbind tests//EN",
            *vevents,
            "END:VCALENDAR",
        )
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder of .ics files: an ordinary, a private, a cancelled, an internal and a large
    event."""
    cal = tmp_path / "cal"
    cal.mkdir()
    (cal / "plain.ics").write_text(ics(vevent("plain")), encoding="utf-8")
    (cal / "private.ics").write_text(
        ics(vevent("private", "CLASS:PRIVATE", summary="Doctor")), encoding="utf-8"
    )
    (cal / "gone.ics").write_text(ics(vevent("gone", "STATUS:CANCELLED")), encoding="utf-8")
    internal = vevent("team", summary="Team").replace("kim@client.example", "ben@acme.com")
    (cal / "team.ics").write_text(ics(internal), encoding="utf-8")
    (cal / "big.ics").write_text(
        ics(vevent("big", summary="Town hall", guests=3)), encoding="utf-8"
    )
    return cal


def explain(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``mailbind explain``; the exit code, stdout and stderr."""
    code = main(["explain", *args, *NOW])
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_shows_each_event_its_privacy_and_why_no_contact(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table shows every event with its decision, what colleagues see, the attendee
    limit, and each participant's contact or why none."""
    code, out, err = explain(
        capsys, str(folder), "--format", "ics", "--owner", "anna@acme.com",
        "--incoming", "subject", "--max-attendees", "2",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "Events with more than 2 attendees create no contacts." in " ".join(out.split())
    blocks = {b.split("title: ")[1].split("\n")[0]: b for b in out.split("\n\n") if "title: " in b}
    assert set(blocks) == {"Renewal", "Doctor", "Team", "Town hall"}
    assert "synced     incoming  subject     external" in blocks["Renewal"]
    assert "new contact: Kim Lee" in blocks["Renewal"]
    assert "synced     incoming  busy        external" in blocks["Doctor"]
    assert "private: colleagues see only that the owner is busy (the times)" in blocks["Doctor"]
    assert "no contact: event_private" in blocks["Doctor"]
    assert (
        "4 attendees, more than the limit of 2: no contacts from this event" in blocks["Town hall"]
    )
    assert "no contact: too_many_attendees" in blocks["Town hall"]
    assert "skipped    incoming  subject     internal" in blocks["Team"]
    assert "cancelled  cancelled: never stored, and a stored copy is removed" in out
    assert "5 events: 3 would sync, 1 would be skipped, 1 cancelled." in out
    assert "1 contact would be created. Nothing was written." in out


def test_explain_json_has_one_object_per_event(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each line names the event, its decision, level and privacy, and its participants."""
    code, out, _ = explain(
        capsys, str(folder), "--format", "ics", "--owner", "anna@acme.com", "--json",
        "--max-attendees", "2",
    )  # fmt: skip
    assert code == 0
    records = {r["key"]: r for r in map(json.loads, out.splitlines())}
    assert set(records) == {"plain", "private", "gone", "team", "big"}
    private = records["private"]
    assert (private["synced"], private["private"], private["colleagues_see"]) == (
        True,
        True,
        "busy",
    )
    kim, anna = private["participants"]
    assert (kim["contact"]["name"], kim["contact"]["new"]) == ("Kim Lee", False)
    assert anna["no_contact"] == "event_private"
    assert records["gone"]["cancelled"] is True
    assert records["big"]["crowded"] is True
    assert (records["big"]["attendees"], records["big"]["max_attendees"]) == (4, 2)
    kim = records["plain"]["participants"][0]
    assert (kim["role"], kim["contact"]["new"]) == ("organizer", True)
    assert records["plain"]["participants"][1]["no_contact"] == "self"


def test_explain_filters_events_and_writes_nothing(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--only and --contact pick events as they pick messages (a cancelled event is kept
    out); with --db the database is only read."""
    base = [str(folder), "--format", "ics", "--owner", "anna@acme.com", "--json"]
    _, out, _ = explain(capsys, *base, "--only", "skipped")
    assert sorted(json.loads(line)["key"] for line in out.splitlines()) == ["gone", "team"]
    _, out, _ = explain(capsys, *base, "--contact", "ben@acme.com")
    assert [json.loads(line)["key"] for line in out.splitlines()] == ["team"]
    db = tmp_path / "crm.sqlite"
    assert main(["sync", *base[:-1], "--db", str(db), "--quiet", *NOW]) == 0
    before = db.read_bytes()
    _, out, _ = explain(capsys, *base, "--db", str(db), "--only", "synced")
    kim = json.loads(out.splitlines()[0])["participants"][0]
    assert kim["contact"]["new"] is False
    assert db.read_bytes() == before


def test_explain_summary_and_csv_cover_events(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The summary counts events; CSV rows take the mail's columns."""
    base = [str(folder), "--format", "ics", "--owner", "anna@acme.com"]
    _, out, _ = explain(capsys, *base, "--summary")
    assert (
        "5 events: 3 would sync (1 private, shown as busy), 1 would be skipped, 1 cancelled; "
        "0 over the attendee limit." in out
    )
    _, out, _ = explain(capsys, *base, "--csv")
    lines = out.splitlines()
    assert lines[0] == "mailbox,location,sent_at,synced,reasons,direction,level,from,subject"
    assert f"anna@acme.com,{folder / 'private.ics'},2025-02-03T10:00:00+00:00,yes,external," \
        "incoming,busy,kim@client.example,Doctor" in lines  # fmt: skip


def test_report_refuses_a_calendar(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """report reads mail only, and says where a calendar's events are explained."""
    code = main(["report", str(folder), "--format", "ics", "--owner", "anna@acme.com", *NOW])
    err = capsys.readouterr().err
    assert code == 2
    assert "is a calendar: see its events with `mailbind explain`." in err


# --- Config files --------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["ics", "invitations", "caldav"])
def test_a_config_file_takes_the_calendar_formats(
    form: str, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """format = "ics", "invitations" and "caldav" are read (shown back by --show-settings)."""
    source = "https://cal.acme.example/anna/" if form == "caldav" else str(folder)
    config = tmp_path / "mailbind.toml"
    config.write_text(
        f'[[mailbox]]\nowner = "anna@acme.com"\nsource = "{source}"\nformat = "{form}"\n',
        encoding="utf-8",
    )
    code = main(["sync", "--config", str(config), "--show-settings"])
    assert code == 0
    assert f'format = "{form}"' in capsys.readouterr().out


def test_a_config_file_syncs_mail_and_the_calendar_of_one_mailbox(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A calendar may take its mailbox's id when its settings are the same; other settings
    under one id are refused."""
    mbox = tmp_path / "anna.mbox"
    mbox.write_bytes(
        b"From kim@client.example Mon Jan  6 09:00:00 2025\n"
        b"From: Kim <kim@client.example>\nTo: anna@acme.com\nSubject: Hi\n"
        b"Message-ID: <m1@client.example>\n\nHello\n"
    )
    table = '[[mailbox]]\nowner = "anna@acme.com"\nincoming = "subject"\nsource = "{}"\n'
    config = tmp_path / "mailbind.toml"
    db = tmp_path / "crm.sqlite"
    config.write_text(
        table.format(mbox) + table.format(folder) + 'format = "ics"\n', encoding="utf-8"
    )
    assert main(["sync", "--config", str(config), "--db", str(db), "--quiet", *NOW]) == 0
    with SQLiteStore(db, read_only=True) as store:
        assert [m.id for m in store.mailboxes()] == ["anna@acme.com"]
        assert len(store.mailbox_events("anna@acme.com")) == 3
    config.write_text(
        table.format(mbox)
        + table.format(folder).replace("subject", "everything")
        + 'format = "ics"\n',
        encoding="utf-8",
    )
    code = main(["sync", "--config", str(config), "--db", str(db), "--quiet", *NOW])
    err = capsys.readouterr().err
    assert code == 5
    assert "[[mailbox]] 2: The mailbox id 'anna@acme.com' is used twice with different" in err


# --- Dry runs and confirmation ---------------------------------------------------------------


def sync(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``mailbind sync``; the exit code, stdout and stderr."""
    code = main(["sync", *args, *NOW])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_dry_run_says_what_it_would_store_and_remove(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run prints what would be stored, kept out and removed, and changes nothing."""
    db = str(tmp_path / "crm.sqlite")
    base = [str(folder), "--format", "ics", "--owner", "anna@acme.com", "--db", db]
    assert sync(capsys, *base, "--dry-run")[1].startswith(
        f"Calendar {folder} of anna@acme.com (dry run: nothing was written): 5 events read; "
        "3 would be stored, 1 kept out, 1 cancelled, 0 stored copies removed"
    )
    with SQLiteStore(db, read_only=True) as store:
        assert store.mailbox_events("anna@acme.com") == ()
        assert store.mailboxes() == ()
    assert sync(capsys, *base)[0] == 0
    (folder / "plain.ics").unlink()
    code, out, _ = sync(capsys, *base, "--dry-run", "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(r["change"], r["key"]) for r in records if r.get("change") == "remove"] == [
        ("remove", "plain")
    ]
    assert records[-1]["dry_run"] is True
    with SQLiteStore(db, read_only=True) as store:
        assert len(store.mailbox_events("anna@acme.com")) == 3


def test_sharing_more_of_stored_events_needs_yes(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A raised level is refused with exit code 9 and changes nothing; --yes applies it;
    a lowered one needs no --yes."""
    db = str(tmp_path / "crm.sqlite")
    base = [str(folder), "--format", "ics", "--owner", "anna@acme.com", "--db", db]
    assert sync(capsys, *base, "--quiet")[0] == 0
    code, out, err = sync(capsys, *base, "--incoming", "everything")
    assert code == 9
    assert out == (
        f"anna@acme.com ({folder}): the calendar's settings changed since its last sync.\n"
        "  Colleagues would read more of 2 stored events.\n"
        "  1 stored events unchanged.\n"
    )
    assert err == (
        f"mailbind: error: {folder}: the changed settings were not applied: run again with "
        "--yes to apply them, or --dry-run to see what they change.\n"
    )
    with SQLiteStore(db, read_only=True) as store:
        assert store.load_calendar("anna@acme.com", str(folder)).settings is not None
        plain = [s for s in store.mailbox_events("anna@acme.com") if s.event.key == "plain"]
        assert plain[0].seen_by("carl@acme.com").title is None
    assert sync(capsys, *base, "--incoming", "everything", "--yes")[0] == 0
    with SQLiteStore(db, read_only=True) as store:
        plain = [s for s in store.mailbox_events("anna@acme.com") if s.event.key == "plain"]
        assert plain[0].seen_by("carl@acme.com").title == "Renewal"
    assert sync(capsys, *base, "--quiet")[0] == 0


def test_a_failed_calendar_pass_is_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CalDAV server that does not answer backs the calendar off."""
    db = str(tmp_path / "crm.sqlite")
    url = "caldav+http://127.0.0.1:9/anna/work/"
    code, _, err = sync(capsys, url, "--owner", "anna@acme.com", "--db", db)
    assert code != 0
    assert err.startswith(f"mailbind: error: {url}: ")
    with SQLiteStore(db, read_only=True) as store:
        state = store.load_calendar("anna@acme.com", "http://127.0.0.1:9/anna/work/")
        assert (state.sync.status.value, state.sync.failures) == ("backing_off", 1)
