"""``mailbind sync``: sync mailboxes into the database, once or on the schedule.

Invariants:
- The time comes from `mailbind.cli.clock` (or ``--now``) and is passed to the engine; the
  engine reads no clock.
- Every source is opened (and every password asked for) before the database is opened, so a
  typo in a path creates no database.
- One mailbox failing does not stop the others: its error is reported in one line, its state
  is stored by the engine (back-off, or waiting for a reconnect), and the exit code is that of
  the first failure.
- The progress bar is drawn by ``rich`` when it is installed, only on a terminal and never with
  ``--quiet`` or ``--json``; the summary never depends on it.
- The database keeps the policy each mailbox last synced under. A pass under another policy
  first applies the change to the mail already stored (`apply_policy_change`), then records
  the new policy: applying the same change twice changes nothing, so a crash in between is
  safe.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from typing import TextIO

from ..engine import PolicyChange, SyncReport, apply_policy_change, sync_mailbox
from ..errors import SourceError
from ..policy import Policy
from ..schedule import Schedule, SyncStatus, next_run
from ..source import MessageSource
from ..stores.sqlite import SQLiteStore
from . import clock
from .exits import ExitCode, code_for
from .settings import (
    DEFAULT_DB,
    Target,
    load_setup,
    open_mail,
    open_store,
    policy_table,
    read_policy_table,
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
        mail = [(target, open_mail(target, stack)) for target in setup.targets]
        store = stack.enter_context(open_store(args.db, create=True))
        runner = _Runner(store, setup.policy, schedule, args, out, err)
        code = ExitCode.OK
        synced = False
        for target, source in mail:
            report, failed = runner.sync(target, source, now=args.now or clock.now())
            if report is not None:
                runner.summary(target, report)
                synced = True
            code = code or failed
        if args.watch:
            code = runner.watch(mail)
        elif synced:
            runner.finish(setup.sample)
    return code


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
        #: The policy as the database records it, compared with what each mailbox synced under.
        self.settings = json.dumps(policy_table(policy), sort_keys=True)
        #: What applying a changed policy did before the current pass, for its summary.
        self.change: PolicyChange | None = None

    def sync(
        self, target: Target, source: MessageSource, *, now: datetime
    ) -> tuple[SyncReport | None, ExitCode]:
        """One pass of *target*: its report, or None and the failure's code."""
        label = f"{target.mailbox.id} from {target.label}"
        self.change = self.apply_changed_policy(target)
        with _progress(self.out, clean(label), enabled=self.talk) as progress:
            try:
                report = sync_mailbox(
                    source,
                    self.store,
                    target.mailbox,
                    self.policy,
                    now=now,
                    batch_size=self.args.batch_size,
                    progress=progress,
                    schedule=self.schedule,
                )
            except SourceError as error:
                print(f"mailbind: error: {clean(str(error))}", file=self.err)
                return None, code_for(error)
        return report, ExitCode.OK

    def apply_changed_policy(self, target: Target) -> PolicyChange | None:
        """Apply the policy to the mail *target*'s mailbox holds, if it synced under another.

        Records the policy as the one the mailbox syncs under; None when it was already.
        """
        mailbox = target.mailbox
        recorded = self.store.policy_settings(mailbox.id)
        if recorded == self.settings:
            return None
        change = None
        if recorded is not None:
            shown = f"the database {self.args.db}, the policy recorded for {mailbox.id}"
            try:
                table = json.loads(recorded)
            except ValueError:
                table = recorded  # not a table: reading it says so
            old = read_policy_table(table, shown)
            if old != self.policy:
                change = apply_policy_change(self.store, mailbox, old, self.policy)
                if self.talk:
                    self._say_change(target, change)
        self.store.record_policy(mailbox.id, self.settings)
        return change

    def _say_change(self, target: Target, change: PolicyChange) -> None:
        count = len(change.removed)
        lines = [
            f"{clean(target.mailbox.id)}: the policy changed since the last sync.",
            f"  {counted(count, 'stored message')} no longer {'syncs' if count == 1 else 'sync'}"
            f" and {'was' if count == 1 else 'were'} removed; {change.unchanged:,} kept.",
        ]
        if change.resync:
            lines.append(
                "  The source is read again from the start for the mail the new policy lets in."
            )
        if self.printed:
            self.out.write("\n")
        self.out.write("\n".join(lines) + "\n")
        self.printed = ""  # the pass's summary follows these lines directly

    def summary(self, target: Target, report: SyncReport) -> None:
        """What one pass did, for a person, or as a JSON line with ``--json``."""
        if self.args.json:
            record = _record(target, report)
            change = self.change
            record["policy_change"] = (
                None
                if change is None
                else {
                    "removed": len(change.removed),
                    "kept": change.unchanged,
                    "resync": change.resync,
                }
            )
            print(json_line(record), file=self.out)
            return
        if self.args.quiet:
            return
        write = self.out.write
        name = clean(f"{target.mailbox.id} from {target.label}")
        block = report.seen > 0
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
        db = self.args.db
        contacts = len(self.store.contact_index())
        where = os.path.abspath(db)
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

    def watch(self, mail: list[tuple[Target, MessageSource]]) -> ExitCode:
        """Sync each mailbox when the schedule says, until Ctrl-C or until every one stopped."""
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
                    "mailbind: error: every mailbox is stopped; fix the problem above and run "
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
                    return ExitCode.OK
                continue
            for target, source in due:
                report, failed = self.sync(target, source, now=now)
                first_failure = first_failure or failed
                if report is not None:
                    self._line(target, report, now)
                else:
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


def _record(target: Target, report: SyncReport) -> dict[str, object]:
    """A pass's report as a JSON object."""
    return {
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


@contextmanager
def _progress(out: TextIO, label: str, *, enabled: bool) -> Iterator[_Progress | None]:
    """A progress callback drawing a ``rich`` bar on a terminal; None without one."""
    if not (enabled and out.isatty()):
        yield None
        return
    try:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    except ImportError:
        out.write(f"Syncing {label} ...\n")
        out.flush()
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}", markup=False), TimeElapsedColumn())
    with Progress(*columns, console=Console(file=out), transient=True) as bar:
        task = bar.add_task(f"Syncing {label}")

        def update(report: SyncReport) -> None:
            bar.update(
                task,
                description=f"Syncing {label}: {report.seen:,} messages, {report.synced:,} synced",
            )

        yield update
