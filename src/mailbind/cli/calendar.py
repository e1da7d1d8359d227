"""``mailbind sync`` for calendars: a CalDAV collection, ``.ics`` files, or mail's invitations.

Invariants:
- A calendar target is synced with `mailbind.calendar_sync.sync_calendar` into the same
  database as mail, under the mailbox's id; its summary is one paragraph (or one JSON line).
- A CalDAV password comes from the environment variable ``--password-env`` names
  (``MAILBIND_CALDAV_PASSWORD`` unless told), or a prompt on a terminal; never from the URL.
- The first calendar sync of a mailbox that never synced mail records the mailbox and the
  policy (an empty mail batch), so `mailbind events` knows who belongs to the workspace. Why
  not in the event batch itself: membership is read from the mail side's recorded mailboxes
  and workspace policy (`Store.mailboxes`, `Store.recorded_policy`), which only mail batches
  write in every store; an event batch writing them too would be a second writer of the
  settings mail's changes are planned from. The empty batch is that one writer's own path.
- Changed settings that drop stored events, let colleagues read more, or may let in events
  kept out are applied only with ``--yes`` or a "y" typed at the terminal; otherwise nothing
  is changed and the exit code is ``NOT_CONFIRMED``, as for mail. With ``--dry-run`` nothing
  is written: the summary (or one JSON line per event copy) says what would be stored, kept
  out and removed.
- A failed pass stores the calendar's state (back-off, or a stop after a refused login).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections import Counter
from contextlib import ExitStack
from datetime import datetime
from typing import TextIO
from urllib.parse import urlsplit

from ..calendar_sync import (
    CalendarConfirmationNeeded,
    CalendarReport,
    EventSettingsChange,
    sync_calendar,
)
from ..calendars import EventSource, EventStore
from ..codecs import encode_policy
from ..engine import Preview
from ..errors import MailbindError
from ..sources import open_source
from ..store import BatchResult, Store
from . import clock
from .exits import ExitCode, Failure, code_for
from .settings import DEFAULT_PASSWORD_ENV, Setup, Target, calendar_format
from .text import clean, json_line

__all__ = ["CALDAV_PASSWORD_ENV", "open_calendar", "sync_calendars"]

#: Where a CalDAV password is read from unless ``--password-env`` names another variable.
CALDAV_PASSWORD_ENV = "MAILBIND_CALDAV_PASSWORD"  # noqa: S105 - a variable's name


def open_calendar(target: Target) -> EventSource:
    """The calendar source of *target*. Raises `Failure` for a missing file or password."""
    kind = calendar_format(target)
    if kind == "caldav":
        from ..sources.caldav import CalDavSource

        url = target.source
        parts = urlsplit(url)
        env = (
            CALDAV_PASSWORD_ENV
            if target.password_env == DEFAULT_PASSWORD_ENV
            else target.password_env
        )
        password = os.environ.get(env)
        if password is None and parts.username:
            if not sys.stdin.isatty():
                raise Failure(
                    ExitCode.AUTHENTICATION,
                    f"No password for {parts.username}@{parts.hostname}: set the environment "
                    f"variable {env}, or run mailbind in a terminal to be asked for it.",
                )
            password = getpass.getpass(f"CalDAV password for {parts.username}@{parts.hostname}: ")
        return CalDavSource(url, password=password)
    if not os.path.exists(target.source):
        raise Failure(
            ExitCode.INPUT, f"Cannot read the calendar {target.source!r}: it does not exist."
        )
    if kind == "invitations":
        from ..sources.invitations import InvitationSource

        return InvitationSource(open_source(target.source, None, recursive=target.recursive))
    from ..sources.ics import IcsSource

    return IcsSource(target.source)


def sync_calendars(
    targets: list[Target],
    setup: Setup,
    args: argparse.Namespace,
    store: Store,
    out: TextIO,
    err: TextIO,
    stack: ExitStack,
) -> ExitCode:
    """Sync each calendar target; the exit code of the first failure, else OK."""
    code = ExitCode.OK
    for target in targets:
        try:
            source = open_calendar(target)
            if not isinstance(store, EventStore):
                raise Failure(ExitCode.USAGE, "This database keeps no calendar events.")
            now = args.now or clock.now()
            if not args.dry_run:
                _record_first(store, target, setup, now, args.workspace)
            report = sync_calendar(
                source,
                store,
                target.mailbox,
                setup.policy,
                now=now,
                workspace=args.workspace,
                max_attendees=args.max_attendees,
                dry_run=args.dry_run,
                confirm=lambda change: _confirm(change, args, out),
            )
        except CalendarConfirmationNeeded as refused:
            if not (args.json or args.quiet):
                out.write(_change_text(target, refused.change, applied=False))
            print(
                f"mailbind: error: {clean(target.label)}: the changed settings were not applied: "
                "run again with --yes to apply them, or --dry-run to see what they change.",
                file=err,
            )
            code = code if code is not ExitCode.OK else ExitCode.NOT_CONFIRMED
            continue
        except Failure as failure:
            print(f"mailbind: error: {clean(target.label)}: {clean(failure.message)}", file=err)
            code = code if code is not ExitCode.OK else failure.code
            continue
        except MailbindError as error:
            print(f"mailbind: error: {clean(target.label)}: {clean(str(error))}", file=err)
            code = code if code is not ExitCode.OK else code_for(error)
            continue
        if args.json:
            for preview in report.preview:
                out.write(json_line(_preview_record(target, preview)) + "\n")
            out.write(json_line(_record(target, report)) + "\n")
        elif not args.quiet:
            if report.settings_change is not None:
                out.write(_change_text(target, report.settings_change, applied=not args.dry_run))
            out.write(_summary(target, report))
    return code


def _confirm(change: EventSettingsChange, args: argparse.Namespace, out: TextIO) -> bool:
    """True to apply *change*: with ``--yes``, or "y" typed at a terminal."""
    if args.yes:
        return True
    if not (sys.stdin.isatty() and out.isatty()):
        return False
    out.write(_change_text(None, change, applied=False) + "Apply these changes? [y/N] ")
    out.flush()
    try:
        answer = sys.stdin.readline()
    except (OSError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")


def _change_text(target: Target | None, change: EventSettingsChange, *, applied: bool) -> str:
    """What changed settings do (or would do) to the mailbox's stored events."""
    done = "were" if applied else "would be"
    name = clean(change.mailbox_id if target is None else f"{change.mailbox_id} ({target.label})")
    lines = [f"{name}: the calendar's settings changed since its last sync."]
    if change.dropped:
        lines.append(f"  {change.dropped} stored events no longer sync and {done} removed.")
    if change.widened:
        lines.append(
            f"  Colleagues {'may now' if applied else 'would'} read more of {change.widened} "
            "stored events."
        )
    if change.narrowed:
        lines.append(
            f"  Colleagues {'now' if applied else 'would'} read less of {change.narrowed} "
            "stored events."
        )
    if change.may_return:
        lines.append(
            "  Events kept out may now sync: the calendar "
            f"{'is' if applied else 'would be'} read again from the start."
        )
    lines.append(f"  {change.unchanged} stored events unchanged.")
    return "\n".join(lines) + "\n"


def _preview_record(target: Target, preview: Preview) -> dict[str, object]:
    decision = preview.decision
    return {
        "calendar": target.label,
        "mailbox": target.mailbox.id,
        "change": preview.action,
        "location": preview.location,
        "key": preview.key,
        "synced": None if decision is None else decision.synced,
        "reasons": None if decision is None else [r.value for r in decision.reasons],
        "level": None if decision is None else decision.level.value,
    }


def _record_first(store: Store, target: Target, setup: Setup, now: datetime, ws: str) -> None:
    """Record the mailbox and the policy when the database has never seen the mailbox."""
    if store.recorded_mailbox(target.mailbox.id, workspace=ws) is not None:
        return
    state = store.load_state(target.mailbox.id, workspace=ws)
    batch = BatchResult(
        target.mailbox, state.cursor, state.sync, policy=encode_policy(setup.policy), at=now
    )
    store.apply_batch(batch, workspace=ws)


def _summary(target: Target, report: CalendarReport) -> str:
    if report.dry_run:
        actions = Counter(p.action for p in report.preview)
        lines = [
            f"Calendar {clean(target.label)} of {clean(target.mailbox.id)} (dry run: nothing "
            f"was written): {report.seen} events read; {actions['store']} would be stored, "
            f"{actions['skip']} kept out, {report.cancelled} cancelled, "
            f"{actions['remove']} stored copies removed, {report.contacts_created} contacts "
            "created."
        ]
    else:
        lines = [
            f"Calendar {clean(target.label)} of {clean(target.mailbox.id)}: "
            f"{report.seen} events read, {report.synced} synced, {report.skipped} kept out, "
            f"{report.cancelled} cancelled, {report.contacts_created} contacts created, "
            f"{report.gone} removed at the source."
        ]
    for reason, count in report.skipped_by_reason:
        lines.append(f"  kept out, {reason.value}: {count}")
    if report.crowded:
        lines.append(
            f"  {report.crowded} events have more attendees than the limit: no contacts from them"
        )
    return "\n".join(lines) + "\n"


def _record(target: Target, report: CalendarReport) -> dict[str, object]:
    return {
        "calendar": target.label,
        "mailbox": report.mailbox_id,
        "resources": report.resources,
        "seen": report.seen,
        "synced": report.synced,
        "skipped": report.skipped,
        "skipped_by_reason": {r.value: n for r, n in report.skipped_by_reason},
        "cancelled": report.cancelled,
        "crowded": report.crowded,
        "contacts_created": report.contacts_created,
        "gone": report.gone,
        "dry_run": report.dry_run,
        "status": report.state.status.value,
        "settings_change": None
        if report.settings_change is None
        else {
            "removed": report.settings_change.dropped,
            "widened": report.settings_change.widened,
            "narrowed": report.settings_change.narrowed,
            "unchanged": report.settings_change.unchanged,
            "may_return": report.settings_change.may_return,
        },
    }
