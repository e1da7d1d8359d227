"""``mailbind sync``: sync mailboxes into the database, once or on the schedule.

Invariants:
- The time comes from `mailbind.cli.clock` (or ``--now``) and is passed to the engine; the
  engine reads no clock.
- Every source is opened (and every password asked for) before the database is opened, so a
  typo in a path creates no database.
- One mailbox failing does not stop the others: its error is reported in one line, its state
  is stored by the engine (back-off, or waiting for a reconnect), and the exit code is that of
  the first failure.
- The progress bar (`mailbind.cli.progress`) is drawn on stderr, only when it is a terminal,
  once a pass has run a second, and never with ``--quiet``, ``--json`` or ``--dry-run``; the
  summary never depends on it.
- The database records the settings each mailbox and the workspace synced under; the engine
  applies a change of them to the mail already stored. A change that removes stored mail or
  lets anyone read more is applied only with ``--yes`` or a "y" typed at the terminal;
  otherwise nothing is changed and the exit code is ``NOT_CONFIRMED``. With ``--dry-run``
  nothing is written at all.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from typing import TextIO

from ..engine import ConfirmationNeeded, SyncReport, sync_mailbox
from ..errors import MailbindError, SourceError
from ..planner import SettingsChange, relevel_copies
from ..policy import Policy
from ..rules import Decision
from ..schedule import Schedule, SyncStatus, next_run
from ..source import MessageSource
from ..store import Store
from ..stores.sqlite import SQLiteStore
from . import clock, style
from . import progress as progress_bar
from .exits import ExitCode, Failure, code_for
from .observed import Observed
from .settings import (
    DEFAULT_DB,
    Setup,
    Target,
    apply_companies,
    calendar_format,
    chosen_db,
    is_postgres,
    load_setup,
    open_mail,
    open_store,
    settings_text,
)
from .text import clean, counted, joined, json_line

__all__ = ["SAMPLE_CONTACT", "SAMPLE_VIEWER", "run"]

#: The sample's suggested next step: a Globex customer's mail as a colleague reads it.
SAMPLE_CONTACT = "frank.oconnor@globex.example"
SAMPLE_VIEWER = "tom.baker@acme.example"

_Progress = Callable[[SyncReport], None]


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Sync every mailbox once, then keep syncing with ``--watch``; the exit code."""
    schedule = Schedule(interval=timedelta(minutes=args.interval))
    with ExitStack() as stack:
        setup = load_setup(args, "sync", stack)
        if args.show_settings:
            out.write(settings_text(setup, args))
            return ExitCode.OK
        if setup.notes and not (args.quiet or args.json):
            for note in setup.notes:
                out.write(f"Note: {clean(note)}\n")
            out.write("\n")
        calendars = [t for t in setup.targets if calendar_format(t)]
        if calendars:
            from .calendar import sync_calendars

            store = stack.enter_context(open_store(chosen_db(args, setup), create=True))
            _companies(store, setup, args, out)
            code = sync_calendars(calendars, setup, args, store, out, err, stack)
            if len(calendars) == len(setup.targets):
                return code
            setup = dataclasses.replace(
                setup, targets=tuple(t for t in setup.targets if not calendar_format(t))
            )
        outcomes = _Outcomes(setup.targets, args, out, err)
        mail: list[tuple[Target, MessageSource]] = []
        for target in setup.targets:
            try:
                mail.append((target, open_mail(target, stack)))
            except (Failure, MailbindError) as failure:
                outcomes.failed(target, failure)
        if not mail:
            return outcomes.end()
        store = stack.enter_context(open_store(chosen_db(args, setup), create=True))
        _companies(store, setup, args, out)
        runner = _Runner(store, setup.policy, schedule, args, out, err)
        for target, source in mail:
            report, failed = runner.sync(target, source, now=args.now or clock.now())
            if report is not None:
                runner.summary(target, report)
                outcomes.synced(target)
            else:
                outcomes.failed(target, failed)
        if args.watch:
            return runner.watch(mail, outcomes)
        if outcomes.any_synced:
            outcomes.table()
            runner.finish(setup.sample)
        return outcomes.end()


def _companies(store: Store, setup: Setup, args: argparse.Namespace, out: TextIO) -> None:
    """Bring the config file's companies about before any mail is synced, and say what changed."""
    change = apply_companies(store, setup, args.workspace, dry_run=args.dry_run)
    if args.quiet or args.json or not (change.saved or change.removed):
        return
    verb = "would save" if args.dry_run else "saved"
    for company in change.saved:
        merged = [d for d in change.removed if d in company.domains]
        into = f", {', '.join(map(clean, merged))} merged in" if merged else ""
        domains = counted(len(company.all_domains), "domain")
        out.write(f"Companies from the config: {verb} {clean(company.domain)} ({domains}{into}).\n")
    out.write("\n")


class _Outcomes:
    """How each mailbox of a run ended, and the run's exit code.

    One mailbox: its own code. Several: 0 when all synced; `ExitCode.SOME_FAILED` when some
    synced and others failed (`ExitCode.NOT_CONFIRMED` when every failure was an unconfirmed
    change); the first failure's code when none synced.
    """

    def __init__(
        self, targets: tuple[Target, ...], args: argparse.Namespace, out: TextIO, err: TextIO
    ) -> None:
        self.many = len(targets) > 1
        self.args = args
        self.out = out
        self.err = err
        self.rows: list[tuple[Target, str]] = []
        self.codes: list[ExitCode] = []
        self.any_synced = False

    def _lead(self, kind: str = "error") -> str:
        return style.lead(kind, self.err, no_color=self.args.no_color)

    def synced(self, target: Target) -> None:
        self.rows.append((target, "synced"))
        self.any_synced = True

    def failed(self, target: Target, failure: Failure | MailbindError | ExitCode) -> None:
        """Record a failed mailbox; a *failure* not yet reported is printed in one line."""
        if isinstance(failure, ExitCode):
            code, message = failure, ""
        else:
            if isinstance(failure, Failure):
                code, message = failure.code, failure.message
            else:
                code, message = code_for(failure), str(failure)
            named = f"{clean(target.mailbox.id)}: " if self.many else ""
            print(f"{self._lead()} {named}{clean(message)}", file=self.err)
            if self.args.json:
                print(
                    json_line(
                        {
                            "mailbox": target.mailbox.id,
                            "source": target.label,
                            "status": "error",
                            "error": message,
                            "exit_code": int(code),
                        }
                    ),
                    file=self.out,
                )
        self.rows.append((target, f"failed (exit code {int(code)})"))
        self.codes.append(code)

    def table(self) -> None:
        """Each mailbox's outcome, when a run of several had a failure."""
        if not (self.many and self.codes) or self.args.quiet or self.args.json:
            return
        synced = len(self.rows) - len(self.codes)
        self.out.write(
            f"\n{counted(len(self.rows), 'mailbox', 'mailboxes')}: {synced} synced, "
            f"{len(self.codes)} failed (see the errors above).\n"
        )
        size = max(len(clean(t.mailbox.id)) for t, _ in self.rows)
        for target, outcome in self.rows:
            self.out.write(f"  {clean(target.mailbox.id):<{size}}  {outcome}\n")

    def end(self) -> int:
        if not self.codes:
            return ExitCode.OK
        if not self.many or not self.any_synced:
            return self.codes[0]
        if all(code is ExitCode.NOT_CONFIRMED for code in self.codes):
            return ExitCode.NOT_CONFIRMED
        return ExitCode.SOME_FAILED


class _Runner:
    """Runs passes over one store and reports them."""

    def __init__(
        self,
        store: SQLiteStore,
        policy: Policy,
        schedule: Schedule,
        args: argparse.Namespace,
        out: TextIO,
        err: TextIO,
    ) -> None:
        self.store = store
        self.policy = policy
        self.schedule = schedule
        self.args = args
        self.out = out
        self.err = err
        self.talk = not (args.quiet or args.json)
        #: What the last summary printed: "", "line" or "block".
        self.printed = ""

    def sync(
        self, target: Target, source: MessageSource, *, now: datetime
    ) -> tuple[SyncReport | None, ExitCode]:
        """One pass of *target*: its report, or None and the failure's code (reported)."""
        label = f"{target.mailbox.id} from {target.label}"
        enabled = self.talk and not self.args.dry_run
        first = self.store.load_state(target.mailbox.id, workspace=self.args.workspace).cursor
        observed = Observed(
            source,
            target.mailbox,
            label=target.label,
            first=first is None,
            strict=self.args.strict,
            where=target.where,
            measure=enabled and _bar_wanted(self.err),
        )
        delay = self.args.progress_after
        with _progress(self.err, clean(label), observed, enabled=enabled, delay=delay) as progress:
            try:
                report = sync_mailbox(
                    observed,
                    self.store,
                    target.mailbox,
                    self.policy,
                    now=now,
                    workspace=self.args.workspace,
                    batch_size=self.args.batch_size,
                    progress=progress,
                    schedule=self.schedule,
                    dry_run=self.args.dry_run,
                    confirm=self.confirm,
                )
            except ConfirmationNeeded as refused:
                self._say_changes(refused.changes, applied=False)
                print(
                    f"{self._lead()} the changed settings were not applied: run again with "
                    "--yes to apply them, or --dry-run to see every message they change.",
                    file=self.err,
                )
                return None, ExitCode.NOT_CONFIRMED
            except (SourceError, Failure) as error:
                message = error.message if isinstance(error, Failure) else str(error)
                code = error.code if isinstance(error, Failure) else code_for(error)
                print(f"{self._lead()} {clean(message)}", file=self.err)
                return None, code
        if observed.owner_missing:
            print(
                f"{self._lead('warning')} {observed.owner_sentence()}: is the address right? "
                "(--strict makes this an error.)",
                file=self.err,
            )
        return report, ExitCode.OK

    def _lead(self, kind: str = "error") -> str:
        return style.lead(kind, self.err, no_color=self.args.no_color)

    def confirm(self, changes: tuple[SettingsChange, ...]) -> bool:
        """True to apply *changes*: with ``--yes``, or "y" typed at a terminal."""
        if self.args.yes:
            return True
        if not (sys.stdin.isatty() and self.out.isatty()):
            return False
        self._say_changes(changes, applied=False)
        self.out.write("Apply these changes? [y/N] ")
        self.out.flush()
        try:
            answer = sys.stdin.readline()
        except (OSError, KeyboardInterrupt):
            return False
        return answer.strip().lower() in ("y", "yes")

    def _say_changes(self, changes: tuple[SettingsChange, ...], *, applied: bool) -> None:
        """What changed settings do (or would do) to the stored mail, one block per mailbox."""
        if self.args.json or self.args.quiet:
            return
        if self.printed:
            self.out.write("\n")
        for change in changes:
            self.out.write("\n".join(_change_lines(change, applied=applied)) + "\n")
        self.printed = ""

    def summary(self, target: Target, report: SyncReport) -> None:
        """What one pass did, for a person, or as a JSON line with ``--json``."""
        if self.args.json:
            if report.dry_run:
                for line in _preview_records(report, self.store, self.args.workspace):
                    print(json_line(line), file=self.out)
            print(json_line(_record(target, report)), file=self.out)
            return
        if self.args.quiet:
            return
        write = self.out.write
        if report.settings_changes:
            self._say_changes(report.settings_changes, applied=not report.dry_run)
        name = clean(f"{target.mailbox.id} from {target.label}")
        if report.dry_run:
            name = f"{name} (dry run: nothing was written)"
        block = report.seen > 0 or report.gone > 0 or report.dry_run
        if self.printed and (block or self.printed == "block"):
            write("\n")
        self.printed = "block" if block else "line"
        if not block:
            write(f"{name}: nothing new since the last sync.\n")
            return
        mailbox = target.mailbox
        write(
            f"{name}\n  sharing: received mail at level {mailbox.incoming}, "
            f"sent mail at level {mailbox.outgoing}\n"
        )
        rows = [("messages seen", report.seen, ""), ("synced", report.synced, "")]
        rows.append(
            (
                "skipped",
                report.skipped,
                "a message may have several reasons:" if report.skipped else "",
            )
        )
        rows.extend(
            (f"  {reason.value}", count, reason.description)
            for reason, count in report.skipped_by_reason
        )
        rows.append(("contacts created", report.contacts_created, ""))
        rows.append(("participants linked", report.participants_linked, "to contacts"))
        rows.append(("gone at the source", report.gone, "copies removed" if report.gone else ""))
        for label, count, note in rows:
            write(f"  {label:<22}{count:>6,}  {note}".rstrip() + "\n")
        defects = joined(f"{code} {count}" for code, count in report.defects)
        write(f"  {'defects':<22}{'':>6}  {defects}\n")
        if report.reset:
            write(
                "  The source changed since the last sync and was read again from the start;\n"
                "  nothing is stored twice.\n"
            )

    def finish(self, sample: bool) -> None:
        """Where the database is, and what to run next."""
        if not self.talk:
            return
        if self.args.dry_run:
            self.out.write(f"\nDry run: nothing was written to {clean(self.args.db)}.\n")
            return
        db = self.args.db
        contacts = len(self.store.contact_index())
        # A database file by its full path; a PostgreSQL URL as given (it holds no password).
        where = db if is_postgres(db) else os.path.abspath(db)
        self.out.write(f"\nDatabase: {clean(where)} ({counted(contacts, 'contact')})\n")
        option = "" if db == DEFAULT_DB else f" --db {shlex.quote(db)}"
        if sample:
            self.out.write(
                "Next, read a customer's emails as Maria's colleague Tom may see them:\n"
                f"  mailbind emails --contact {SAMPLE_CONTACT} --viewer {SAMPLE_VIEWER}{option}\n"
            )
        else:
            self.out.write(
                "Next, list the contacts, then read a contact's emails as a colleague would:\n"
                f"  mailbind contacts list{option}\n"
                f"  mailbind emails --contact ADDRESS --viewer ADDRESS{option}\n"
            )

    def watch(self, mail: list[tuple[Target, MessageSource]], outcomes: _Outcomes) -> int:
        """Sync each mailbox when the schedule says, until Ctrl-C or until every one stopped.

        Stopped with Ctrl-C, a run of several mailboxes ends with `ExitCode.SOME_FAILED` when
        some mailbox could not be opened or its last pass failed while another synced (as a run
        without ``--watch`` does); a run of one mailbox whose last pass failed ends with that
        failure's code; otherwise with 0.
        """
        failed_rows = [target for target, outcome in outcomes.rows if outcome != "synced"]
        failing = {target.mailbox.id for target in failed_rows}
        #: The code of each failing mailbox's last failed pass (rows and codes come in pairs).
        last = {t.mailbox.id: code for t, code in zip(failed_rows, outcomes.codes, strict=True)}
        minutes = self.args.interval
        if self.talk:
            self.out.write(
                f"\nWatching {counted(len(mail), 'mailbox', 'mailboxes')}: syncing every "
                f"{counted(minutes, 'minute')}. Press Ctrl-C to stop.\n"
            )
            self.out.flush()
        first_failure = ExitCode.OK
        while True:
            now = clock.now()
            due: list[tuple[Target, MessageSource]] = []
            wake: datetime | None = None
            for target, source in mail:
                state = self.store.load_state(target.mailbox.id).sync
                when = next_run(state, now=now, schedule=self.schedule)
                if when is None:
                    continue
                if when <= now:
                    due.append((target, source))
                wake = when if wake is None else min(wake, when)
            if wake is None:
                print(
                    f"{self._lead()} every mailbox is stopped; fix the problem above and run "
                    "`mailbind sync` again.",
                    file=self.err,
                )
                return first_failure or ExitCode.TEMPORARY
            if not due:
                try:
                    clock.sleep(max((wake - now).total_seconds(), 0.0))
                except KeyboardInterrupt:
                    if self.talk:
                        self.out.write("Stopped.\n")
                    if outcomes.many and failing and outcomes.any_synced:
                        return ExitCode.SOME_FAILED
                    if not outcomes.many and failing:
                        return last.get(min(failing), ExitCode.TEMPORARY)
                    return ExitCode.OK
                continue
            for target, source in due:
                report, failed = self.sync(target, source, now=now)
                first_failure = first_failure or failed
                if report is not None:
                    failing.discard(target.mailbox.id)
                    outcomes.any_synced = True
                    self._line(target, report, now)
                else:
                    failing.add(target.mailbox.id)
                    last[target.mailbox.id] = failed
                    self._failure_note(target, now)

    def _line(self, target: Target, report: SyncReport, now: datetime) -> None:
        """One line per pass while watching."""
        if self.args.json:
            print(json_line(_record(target, report)), file=self.out)
        elif not self.args.quiet:
            stamp = f"{now.astimezone():%H:%M:%S}"
            if report.seen == 0:
                text = "nothing new"
            else:
                text = (
                    f"{counted(report.seen, 'new message')}, {report.synced} synced, "
                    f"{report.skipped} skipped, {counted(report.contacts_created, 'contact')} "
                    "created"
                )
            self.out.write(f"{stamp} {clean(target.mailbox.id)}: {text}\n")
        self.out.flush()

    def _failure_note(self, target: Target, now: datetime) -> None:
        """What happens next to a mailbox whose pass failed."""
        state = self.store.load_state(target.mailbox.id).sync
        when = next_run(state, now=now, schedule=self.schedule)
        name = clean(target.mailbox.id)
        if state.status is SyncStatus.NEEDS_RECONNECT:
            note = f"{name} waits until the login works: run `mailbind sync` again to retry."
        elif when is None:
            note = (
                f"{name} stopped after {state.failures} failures in a row: "
                "run `mailbind sync` again to retry."
            )
        else:
            note = f"{name} retries at {when.astimezone():%H:%M:%S}."
        print(f"mailbind: {note}", file=self.err)


def _change_lines(change: SettingsChange, *, applied: bool) -> list[str]:
    """A settings change for a person: what it did (*applied*) or would do."""
    done = "were" if applied else "would be"
    lines = [f"{clean(change.mailbox_id)}: the settings changed since the last sync."]
    if change.dropped:
        lines.append(
            f"  {counted(change.dropped, 'stored message copy', 'stored message copies')} no "
            f"longer sync and {done} removed from the mailbox."
        )
    if change.widened:
        lines.append(
            f"  Colleagues {'may now' if applied else 'would'} read more of "
            f"{counted(change.widened, 'stored message copy', 'stored message copies')}."
        )
    if change.narrowed:
        lines.append(
            f"  Colleagues {'now' if applied else 'would'} read less of "
            f"{counted(change.narrowed, 'stored message copy', 'stored message copies')}."
        )
    if change.contacts:
        lines.append(
            f"  {counted(len(change.contacts), 'contact')} {done} created for stored mail."
        )
    if change.resync:
        lines.append(
            f"  {counted(change.may_return, 'message kept out', 'messages kept out')} may now "
            f"sync: the source {'is' if applied else 'would be'} read again from the start."
        )
    lines.append(f"  {counted(change.unchanged, 'copy', 'copies')} unchanged.")
    return lines


def _decision_record(decision: Decision | None) -> dict[str, object] | None:
    if decision is None:
        return None
    return {
        "synced": decision.synced,
        "reasons": [r.value for r in decision.reasons],
        "direction": decision.direction.value,
        "level": decision.level.value,
    }


def _preview_records(report: SyncReport, store: Store, ws: str) -> Iterator[dict[str, object]]:
    """One JSON object per message copy a dry run would change."""
    for change in report.settings_changes:
        copies = change.changes
        if change.levels:
            decisions = store.decisions(change.mailbox_id, workspace=ws)
            copies = (*copies, *relevel_copies(change, decisions))
        for copy in copies:
            yield {
                "mailbox": change.mailbox_id,
                "change": "settings",
                "location": copy.location,
                "key": copy.key,
                "before": _decision_record(copy.before),
                "after": _decision_record(copy.after),
            }
    for preview in report.preview:
        yield {
            "mailbox": report.mailbox_id,
            "change": preview.action,
            "location": preview.location,
            "key": preview.key,
            "before": None,
            "after": _decision_record(preview.decision),
        }


def _record(target: Target, report: SyncReport) -> dict[str, object]:
    """A pass's report as a JSON object."""
    return {
        "dry_run": report.dry_run,
        "gone": report.gone,
        "settings_changes": [
            {
                "mailbox": c.mailbox_id,
                "removed": c.dropped,
                "widened": c.widened,
                "narrowed": c.narrowed,
                "unchanged": c.unchanged,
                "resync": c.resync,
            }
            for c in report.settings_changes
        ],
        "mailbox": target.mailbox.id,
        "source": target.label,
        "seen": report.seen,
        "synced": report.synced,
        "skipped": report.skipped,
        "skipped_by_reason": {reason.value: count for reason, count in report.skipped_by_reason},
        "contacts_created": report.contacts_created,
        "participants_linked": report.participants_linked,
        "defects": dict(report.defects),
        "reset": report.reset,
        "status": report.state.status.value,
    }


def _bar_wanted(stream: TextIO) -> bool:
    return progress_bar.wanted(stream)


@contextmanager
def _progress(
    stream: TextIO, label: str, observed: Observed, *, enabled: bool, delay: float
) -> Iterator[_Progress | None]:
    """A progress callback drawing a bar on *stream* when it is a terminal; None otherwise."""
    if not (enabled and progress_bar.wanted(stream)):
        yield None
        return
    bar = progress_bar.Bar(stream, label, observed, delay=delay)
    try:
        yield bar.update
    finally:
        bar.close()
