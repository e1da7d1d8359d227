"""``mailbind explain``: the privacy preview, a dry run that writes nothing.

Invariants:
- Nothing is written: the contacts a sync would create live in a `ContactIndex` in memory, and
  a database given with ``--db`` is only read (its contacts, suppressions and settings).
- With ``--db``, each mailbox is explained under the settings the database recorded for it and
  the workspace policy it recorded (what the stored mail was decided under), unless
  ``--as-given``; a note on stderr says so when those differ from the options given.
- The answers are the engine's: messages are read in the engine's batches, decided with
  `decide`, and contacts planned with `plan_contacts` from the synced messages of each batch,
  then created in the index under the engine's ids; each participant of a synced message shows
  the contact it would be linked to, or the `SkipReason` that kept it from getting one.
- A calendar source (as `mailbind sync` takes it) is explained event by event by
  `mailbind.cli.explain_events`, with the same contacts in memory, the same filters and forms.
- Every text from a message is printed through `clean` (tables) or `json_line` (JSON).
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, TextIO, cast

from ..addresses import parse_address
from ..calendars import EventSource
from ..contacts import ContactIndex
from ..engine import recorded_settings as store_settings
from ..errors import InvalidAddressError
from ..messages import Message
from ..planner import plan_batch
from ..planning import SkipReason
from ..policy import Mailbox, Policy
from ..rules import Decision, Reason
from ..source import MessageSource
from ..store import Store
from . import clock, style
from .exits import ExitCode, Failure
from .explain_events import (
    ExplainedEvent,
    _contact_name,
    _disabled,
    _Party,
    _party_record,
    _scoped,
    event_writer,
    explain_events,
    parties_of,
)
from .settings import (
    Setup,
    Target,
    calendar_format,
    load_setup,
    open_mail,
    open_store,
    recorded_policy,
)
from .text import (
    clean,
    counted,
    cut,
    json_line,
    not_one_of,
    pad,
    terminal_width,
    width,
    write_legends,
)

__all__ = ["ONLY", "explained", "only_choice", "run"]


@dataclass(frozen=True, slots=True)
class _Explained:
    """One message, its decision, and its participants."""

    location: str
    message: Message
    decision: Decision
    parties: tuple[_Party, ...]


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Explain every message of every mailbox (those ``--only`` and ``--contact`` ask for);
    the exit code."""
    wanted = _Filter(args)
    if args.summary:
        show: _Writer = _Summary(out)
    elif args.json:
        show = _JsonLines(out)
    elif args.csv:
        show = _Csv(out)
    else:
        show = _Table(out, colour=style.enabled(out, no_color=args.no_color))
    for target, items in _everything(args, "explain", err, calendars=True):
        if calendar_format(target):
            rows = show.rows if isinstance(show, _Csv) else None
            events = event_writer(args, out, rows)
            events.start(target)
            for item in items:
                if isinstance(item, ExplainedEvent) and wanted(item):
                    events.event(item)
            events.end()
            continue
        show.start(target)
        for item in items:
            if isinstance(item, _Explained) and wanted(item):
                show.message(item)
        show.end()
    return ExitCode.OK


def explained(
    args: argparse.Namespace, command: str, err: TextIO
) -> Iterator[tuple[Target, Iterator[_Explained]]]:
    """Each mailbox *args* name, with every message of it as a sync would see it (with
    ``--db``, under the settings the database recorded, unless ``--as-given``; a note on *err*
    says so). A calendar source is a usage error."""
    for target, items in _everything(args, command, err, calendars=False):
        yield target, (item for item in items if isinstance(item, _Explained))


def _everything(
    args: argparse.Namespace, command: str, err: TextIO, *, calendars: bool
) -> Iterator[tuple[Target, Iterator[_Explained | ExplainedEvent]]]:
    """As `explained`; with *calendars*, a calendar source gives its events (`ExplainedEvent`)."""
    now = args.now or clock.now()
    with ExitStack() as stack:
        setup = load_setup(args, command, stack)
        mail = [(target, _open(target, stack, command, calendars)) for target in setup.targets]
        canon = setup.policy.canonicalization
        if args.db is None and setup.db is not None:
            args.db = setup.db
        if args.db is not None:
            store = stack.enter_context(open_store(args.db, create=False, read_only=True))
            if not getattr(args, "as_given", False):
                setup = _as_recorded(setup, store, args, err)
                mail = [(t, source) for t, (_, source) in zip(setup.targets, mail, strict=True)]
                canon = setup.policy.canonicalization
            index = store.contact_index(canon, workspace=args.workspace)
        else:
            index = ContactIndex(canonicalization=canon)
        for target, source in mail:
            if not calendar_format(target):
                assert isinstance(source, MessageSource)
                yield (
                    target,
                    _explain(source, target.mailbox, setup.policy, index, now, args.batch_size),
                )
                continue
            yield (
                target,
                explain_events(
                    cast("EventSource", source),
                    target.mailbox,
                    setup.policy,
                    index,
                    now,
                    args.batch_size,
                    args.max_attendees,
                ),
            )


def _open(
    target: Target, stack: ExitStack, command: str, calendars: bool
) -> MessageSource | EventSource:
    """The mail source of *target*, or its calendar source when *calendars* allows one."""
    if not calendar_format(target):
        return open_mail(target, stack)
    if not calendars:
        raise Failure(
            ExitCode.USAGE,
            f"mailbind {command} reads mail, and {target.label!r} is a calendar: see its "
            "events with `mailbind explain`.",
        )
    from .calendar import open_calendar

    return open_calendar(target)


class _Writer(Protocol):
    def start(self, target: Target) -> None: ...
    def message(self, item: _Explained) -> None: ...
    def end(self) -> None: ...


#: What ``--only`` takes besides a reason code.
ONLY = ("synced", "skipped")


def only_choice(text: str) -> str:
    """An ``--only`` value: ``synced``, ``skipped`` or a `Reason` code."""
    if text in ONLY or text in {r.value for r in Reason}:
        return text
    raise argparse.ArgumentTypeError(
        not_one_of("it", [*ONLY, *(r.value for r in Reason)], text).removeprefix("it ")[:-1]
    )


class _Filter:
    """Which explained messages ``--only`` and ``--contact`` keep."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.only: str | None = args.only
        self.contact: str | None = None
        if args.contact is not None:
            try:
                self.contact = parse_address(args.contact).key
            except InvalidAddressError:
                raise Failure(
                    ExitCode.USAGE, f"--contact is not a readable address: {args.contact!r}."
                ) from None

    def __call__(self, item: _Explained | ExplainedEvent) -> bool:
        decision = item.decision
        only = self.only
        if decision is None:  # a cancelled event: kept out, for no reason of the rules
            return only in (None, "skipped") and self._has_contact(item)
        if only == "synced" and not decision.synced:
            return False
        if only == "skipped" and decision.synced:
            return False
        if only not in (None, *ONLY) and only not in {r.value for r in decision.reasons}:
            return False
        return self._has_contact(item)

    def _has_contact(self, item: _Explained | ExplainedEvent) -> bool:
        if self.contact is None:
            return True
        return any(
            (p.participant.address is not None and p.participant.address.key == self.contact)
            or (p.contact is not None and self.contact in {a.key for a in p.contact.addresses})
            for p in item.parties
        )


def _as_recorded(setup: Setup, store: Store, args: argparse.Namespace, err: TextIO) -> Setup:
    """*setup* with the settings the database recorded: each mailbox's own, and the policy."""
    policy = recorded_policy(store, args) or setup.policy
    targets = []
    for target in setup.targets:
        recorded = store_settings(store, target.mailbox.id, workspace=args.workspace)
        mailbox = target.mailbox if recorded is None else recorded.mailbox
        if mailbox != target.mailbox or policy != setup.policy:
            print(
                f"mailbind: {clean(target.mailbox.id)} is explained under the settings recorded "
                f"in {clean(args.db)}; --as-given explains it under the options given.",
                file=err,
            )
        targets.append(replace(target, mailbox=mailbox))
    return replace(setup, policy=policy, targets=tuple(targets))


def _explain(
    source: MessageSource,
    mailbox: Mailbox,
    policy: Policy,
    index: ContactIndex,
    now: datetime,
    batch_size: int,
) -> Iterator[_Explained]:
    """Every message of *source* as a sync would see it; *index* takes the contacts it creates.

    The batches are planned by the sync's own planner (`plan_batch`); nothing is stored.
    """
    cursor: str | None = None
    while True:
        batch = source.fetch(cursor, limit=batch_size)
        plan = plan_batch(batch.items, mailbox, policy, contacts=index, now=now)
        why_not: dict[str, SkipReason] = {}
        if plan.contact_plan is not None:
            why_not = {s.key: s.reason for s in plan.contact_plan.skipped if s.key is not None}
        for item in plan.items:
            message, decision = item.message, item.decision
            why: Callable[[str], SkipReason] = (
                _scoped(why_not) if mailbox.create_contacts else _disabled
            )
            parties = parties_of(
                message.participants,
                item.links,
                decision.synced,
                index,
                why,
                plan.introduced,
                message.key,
            )
            yield _Explained(item.location, message, decision, parties)
        cursor = batch.cursor
        if batch.done:
            return


# --- JSON lines -------------------------------------------------------------------------------


class _JsonLines:
    """One JSON object per message."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.mailbox = ""

    def start(self, target: Target) -> None:
        self.mailbox = target.mailbox.id

    def message(self, item: _Explained) -> None:
        message, decision = item.message, item.decision
        record = {
            "mailbox": self.mailbox,
            "location": item.location,
            "key": message.key,
            "message_id": message.message_id,
            "sent_at": None if message.sent_at is None else message.sent_at.isoformat(),
            "subject": message.subject,
            "synced": decision.synced,
            "reasons": [reason.value for reason in decision.reasons],
            "direction": decision.direction.value,
            "level": decision.level.value,
            "defects": list(message.defects),
            "participants": [_party_record(party) for party in item.parties],
        }
        self.out.write(json_line(record) + "\n")

    def end(self) -> None:
        self.out.flush()


# --- CSV and the summary ----------------------------------------------------------------------

_CSV_HEADER = (
    "mailbox",
    "location",
    "sent_at",
    "synced",
    "reasons",
    "direction",
    "level",
    "from",
    "subject",
)


class _Csv:
    """One CSV row per message, for spreadsheets and scripts."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.rows = csv.writer(out, lineterminator="\n")
        self.rows.writerow(_CSV_HEADER)
        self.mailbox = ""

    def start(self, target: Target) -> None:
        self.mailbox = target.mailbox.id

    def message(self, item: _Explained) -> None:
        message, decision = item.message, item.decision
        sender = next(
            (str(p.address) for p in message.participants if p.role.value == "from" and p.address),
            "",
        )
        self.rows.writerow(
            [
                self.mailbox,
                item.location,
                "" if message.sent_at is None else message.sent_at.isoformat(),
                "yes" if decision.synced else "no",
                " ".join(r.value for r in decision.reasons),
                decision.direction.value,
                decision.level.value,
                clean(sender),
                clean(message.subject or ""),
            ]
        )

    def end(self) -> None:
        self.out.flush()


class _Summary:
    """Counts by reason per mailbox, instead of a block per message."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0
        self.synced = 0
        self.reasons: Counter[Reason] = Counter()

    def start(self, target: Target) -> None:
        self.count = self.synced = 0
        self.reasons.clear()
        self.out.write(f"{clean(target.mailbox.id)} from {clean(target.label)}\n")

    def message(self, item: _Explained) -> None:
        self.count += 1
        self.synced += item.decision.synced
        self.reasons.update(item.decision.reasons)

    def end(self) -> None:
        write = self.out.write
        write(
            f"  {counted(self.count, 'message')}: {self.synced} would sync, "
            f"{self.count - self.synced} would be skipped.\n"
        )
        codes = [r for r in Reason if r in self.reasons]
        size = max((len(r.value) for r in codes), default=0)
        for title, excluding in (("kept out because", True), ("also noted", False)):
            shown = [r for r in codes if r.excludes is excluding]
            if shown:
                write(f"  {title}:\n")
            for code in shown:
                write(f"    {code.value:<{size}}  {self.reasons[code]:>6,}  {code.description}\n")
        write("\n")
        self.out.flush()


# --- The table --------------------------------------------------------------------------------

#: Width of the participant role column.
_ROLE = 9
#: Most cells the participant column takes.
_PARTY = 36
#: Cells always left for what becomes of a participant (``no contact: message_not_synced``).
_NOTE = 30


class _Table:
    """A readable block per message, laid out in the terminal's width."""

    def __init__(self, out: TextIO, *, colour: bool = False) -> None:
        self.out = out
        self.colour = colour
        self.total = terminal_width(out)
        self.number = 0
        self.decided: Counter[bool] = Counter()
        self.reasons: Counter[Reason] = Counter()
        self.why_not: Counter[SkipReason] = Counter()
        self.created = 0

    def start(self, target: Target) -> None:
        self.number = 0
        self.decided.clear()
        self.reasons.clear()
        self.why_not.clear()
        self.created = 0
        mailbox = target.mailbox
        self.out.write(
            f"{clean(mailbox.id)} from {clean(target.label)}: a dry run, nothing is written.\n"
            f"Sharing: received mail at level {mailbox.incoming}, sent mail at level "
            f"{mailbox.outgoing}.\n\n"
        )

    def message(self, item: _Explained) -> None:
        self.number += 1
        message, decision = item.message, item.decision
        self.decided[decision.synced] += 1
        self.reasons.update(decision.reasons)
        date = "(no date)" if message.sent_at is None else f"{message.sent_at:%Y-%m-%d %H:%M}"
        verdict = "synced" if decision.synced else "skipped"
        reasons = ", ".join(reason.value for reason in decision.reasons)
        colour = style.GREEN if decision.synced else style.RED
        painted = style.paint(f"{verdict:<7}", colour, on=self.colour)
        head = (
            f"{self.number:>4}  {date:<16}  {painted}  {decision.direction.value:<8}  "
            f"{decision.level.value:<10}  "
        )
        plain = len(head) - len(painted) + 7
        write = self.out.write
        if self.number > 1:
            write("\n")
        if plain + width(reasons) <= self.total:
            write(f"{head}{reasons}\n")
        else:
            write(f"{head.rstrip()}\n{'':6}reasons: {reasons}\n")
        subject = "(no subject)" if not message.subject else clean(message.subject)
        write(f"{'':6}{cut('subject: ' + subject, self.total - 6)}\n")
        if message.defects:
            defects = ", ".join(clean(d) for d in message.defects)
            write(f"{'':6}{cut('defects: ' + defects, self.total - 6)}\n")
        shown = [self._party(party) for party in item.parties]
        longest = max((width(text) for text, _ in shown), default=0)
        column = min(_PARTY, self.total - 6 - _ROLE - 2 - _NOTE, longest)
        rest = self.total - 6 - _ROLE - column - 2
        for (text, note), party in zip(shown, item.parties, strict=True):
            role = party.participant.role.value.replace("_", "-")
            write(f"{'':6}{pad(role, _ROLE)}{pad(text, column)}  {cut(note, rest)}".rstrip() + "\n")

    def _party(self, party: _Party) -> tuple[str, str]:
        """The participant and what becomes of it, as two clean cells."""
        participant, contact = party.participant, party.contact
        address = participant.address
        text = clean(participant.raw or "(empty)") if address is None else clean(str(address))
        if contact is not None:
            self.created += party.new
            state = " (deleted)" if contact.deleted else ""
            lead = "new contact" if party.new else "contact"
            return text, f"{lead}: {clean(_contact_name(contact))}{state}"
        if party.why_not is not None:
            self.why_not[party.why_not] += 1
            return text, f"no contact: {party.why_not.value}"
        return text, ""

    def end(self) -> None:
        write = self.out.write
        synced, skipped = self.decided[True], self.decided[False]
        write(
            f"\n{counted(self.number, 'message')}: {synced} would sync, {skipped} would be "
            f"skipped.\n{counted(self.created, 'contact')} would be created. Nothing was written.\n"
        )
        legends = (
            ("Why a message syncs or not:", [r for r in Reason if r in self.reasons]),
            ("Why a participant gets no contact:", [r for r in SkipReason if r in self.why_not]),
        )
        write_legends(write, self.total, legends)
        write("\n")
        self.out.flush()
