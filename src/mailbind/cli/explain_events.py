"""``mailbind explain`` for calendars: every event of a calendar source as a sync would see it.

Invariants:
- Nothing is written, and the answers are the calendar sync's: resources are read in batches
  and planned by `mailbind.calendars.plan_events`, the one planner for events, against the
  contacts `mailbind.cli.explain` holds in memory (which take the contacts it would create).
- Each event shows its decision, what colleagues read of it (`colleague_view`: its level, or
  only that the owner is busy for a private event), whether it is over the attendee limit, and
  for every participant the contact it would be linked to or the `SkipReason` it gets none. A
  cancelled event shows as cancelled: a sync stores none and removes a stored copy.
- Every text from an event is printed through `clean` (tables, CSV) or `json_line` (JSON).
"""

from __future__ import annotations

import argparse
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TextIO

from ..addresses import Participant, Role
from ..calendars import EventSource, colleague_view, plan_events
from ..contacts import Contact, ContactIndex
from ..events import Event
from ..planning import SkipReason
from ..policy import Mailbox, Policy
from ..rules import Decision, Reason
from ..store import ParticipantLink
from . import style
from .settings import Target
from .text import clean, counted, cut, json_line, pad, terminal_width, width, write_legends

__all__ = ["ExplainedEvent", "event_writer", "explain_events"]


@dataclass(frozen=True, slots=True)
class _Party:
    """One participant of a message or an event (``explain`` shows both with it) and the
    contact a sync would link it to, or why none."""

    participant: Participant
    contact: Contact | None
    #: True when the sync would create the contact for this very message or event.
    new: bool
    why_not: SkipReason | None


def _contact_name(contact: Contact) -> str:
    name = f"{contact.first_name} {contact.last_name}".strip()
    return name or str(contact.primary)


def _disabled(_key: str) -> SkipReason:
    return SkipReason.DISABLED


def _always(reason: SkipReason) -> Callable[[str], SkipReason]:
    return lambda _key: reason


def _scoped(why_not: Mapping[str, SkipReason]) -> Callable[[str], SkipReason]:
    """The reason the contact plan gave a key, or `OUTSIDE_SCOPE` when it gave none."""
    return lambda key: why_not.get(key, SkipReason.OUTSIDE_SCOPE)


def parties_of(
    participants: Sequence[Participant],
    links: Iterable[ParticipantLink],
    synced: bool,
    index: ContactIndex,
    why: Callable[[str], SkipReason],
    introduced: Mapping[str, str],
    key: str,
) -> tuple[_Party, ...]:
    """Each participant of a message or an event (known by *key*) with the contact a sync
    would link it to, whether that contact is new with it, or why it gets none (*why* gives
    the reason for a linked key left without a contact)."""
    by_position = {link.position: link for link in links}
    parties = []
    for position, participant in enumerate(participants):
        contact: Contact | None = None
        reason: SkipReason | None = None
        link = by_position.get(position)
        if participant.address is None:
            reason = SkipReason.UNREADABLE
        elif not synced or link is None:
            reason = SkipReason.MESSAGE_NOT_SYNCED
        else:
            contact = None if link.contact_id is None else index.get(link.contact_id)
            if contact is None:
                reason = why(link.key)
        new = contact is not None and introduced.get(contact.id) == key
        parties.append(_Party(participant, contact, new, reason))
    return tuple(parties)


def _party_record(party: _Party) -> dict[str, object]:
    participant, contact = party.participant, party.contact
    address = participant.address
    return {
        "role": participant.role.value,
        "address": None if address is None else str(address),
        "name": participant.name,
        "raw": participant.raw if address is None else None,
        "problem": participant.problem,
        "contact": None
        if contact is None
        else {
            "id": contact.id,
            "name": _contact_name(contact),
            "new": party.new,
            "deleted": contact.deleted,
        },
        "no_contact": None if party.why_not is None else party.why_not.value,
    }


@dataclass(frozen=True, slots=True)
class ExplainedEvent:
    """One event of a calendar resource, its decision, and its participants."""

    location: str
    event: Event
    #: None for a cancelled event: it is never stored, so nothing is decided.
    decision: Decision | None
    parties: tuple[_Party, ...]
    #: True when the event has more attendees than the limit (it creates no contacts).
    crowded: bool
    #: The attendee limit the event was planned under.
    limit: int

    @property
    def shared(self) -> Event | None:
        """The event as a colleague would read it (None when it is not stored)."""
        if self.decision is None or not self.decision.synced:
            return None
        return colleague_view(self.event, self.decision.level)


def explain_events(
    source: EventSource,
    mailbox: Mailbox,
    policy: Policy,
    index: ContactIndex,
    now: datetime,
    batch_size: int,
    max_attendees: int,
) -> Iterator[ExplainedEvent]:
    """Every event of *source* as a calendar sync would see it; *index* takes the contacts it
    would create. Resources come in the source's order, the events of each by key."""
    cursor: str | None = None
    while True:
        batch = source.fetch(cursor, limit=batch_size)
        plan = plan_events(
            batch.items, mailbox, policy, contacts=index, now=now, max_attendees=max_attendees
        )
        why_not: dict[str, SkipReason] = {}
        if plan.contact_plan is not None:
            why_not = {s.key: s.reason for s in plan.contact_plan.skipped if s.key is not None}
        crowded = set(plan.crowded)
        shown: dict[str, list[ExplainedEvent]] = {location: [] for location in plan.read}
        for copy in plan.items:
            event, decision = copy.event, copy.decision
            why: Callable[[str], SkipReason]
            if not mailbox.create_contacts:
                why = _disabled
            else:
                held = plan.held_back.get(event.key)
                why = _scoped(why_not) if held is None else _always(held)
            linked = parties_of(
                event.participants,
                copy.links,
                decision.synced,
                index,
                why,
                plan.introduced,
                event.key,
            )
            shown[copy.location].append(
                ExplainedEvent(
                    copy.location,
                    event,
                    decision,
                    linked,
                    event.key in crowded,
                    max_attendees,
                )
            )
        for location, key in plan.cancelled:
            event = next(
                e
                for item in batch.items
                if item.location == location
                for e in item.events
                if e.key == key and e.cancelled
            )
            parties = [
                _Party(
                    p,
                    None,
                    False,
                    SkipReason.UNREADABLE if p.address is None else SkipReason.EVENT_CANCELLED,
                )
                for p in event.participants
            ]
            shown[location].append(
                ExplainedEvent(location, event, None, tuple(parties), False, max_attendees)
            )
        for location in plan.read:
            yield from sorted(shown[location], key=lambda e: e.event.key)
        cursor = batch.cursor
        if batch.done:
            return


def _role(party: _Party) -> str:
    return "organiser" if party.participant.role is Role.FROM else "attendee"


def _when(event: Event) -> str:
    if event.start is None:
        return "(no time)"
    return f"{event.start:%Y-%m-%d}" if event.all_day else f"{event.start:%Y-%m-%d %H:%M}"


def _verdict(item: ExplainedEvent) -> str:
    if item.decision is None:
        return "cancelled"
    return "synced" if item.decision.synced else "skipped"


def _seen(item: ExplainedEvent) -> str:
    """What colleagues read: ``busy`` for a private event, else the level; "" when not stored."""
    shared = item.shared
    if shared is None or item.decision is None:
        return ""
    return "busy" if shared.busy else item.decision.level.value


class _EventWriter(Protocol):
    def start(self, target: Target) -> None: ...
    def event(self, item: ExplainedEvent) -> None: ...
    def end(self) -> None: ...


def event_writer(args: argparse.Namespace, out: TextIO, rows: Any | None) -> _EventWriter:
    """The writer of explained events for the form *args* ask for; with ``--csv``, *rows* is
    the mail's `csv.writer`, so that events and messages share one header."""
    if args.summary:
        return _EventSummary(out)
    if args.json:
        return _EventJson(out)
    if args.csv and rows is not None:
        return _EventCsv(out, rows)
    return _EventTable(
        out, colour=style.enabled(out, no_color=args.no_color), limit=args.max_attendees
    )


def _sharing(mailbox: Mailbox, limit: int) -> str:
    return (
        f"Sharing: events the owner is invited to at level {mailbox.incoming}, events the "
        f"owner organised at level {mailbox.outgoing}; colleagues see only that the owner is "
        f"busy at a private event. Events with more than {counted(limit, 'attendee')} create "
        "no contacts."
    )


# --- JSON lines -------------------------------------------------------------------------------


class _EventJson:
    """One JSON object per event."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.target: Target | None = None

    def start(self, target: Target) -> None:
        self.target = target

    def event(self, item: ExplainedEvent) -> None:
        event, decision = item.event, item.decision
        assert self.target is not None
        parties = []
        for party in item.parties:
            entry = _party_record(party)
            entry["role"] = "organizer" if party.participant.role is Role.FROM else "attendee"
            parties.append(entry)
        record: dict[str, object] = {
            "mailbox": self.target.mailbox.id,
            "calendar": self.target.label,
            "location": item.location,
            "key": event.key,
            "uid": event.uid,
            "start": None if event.start is None else event.start.isoformat(),
            "end": None if event.end is None else event.end.isoformat(),
            "title": event.title,
            "synced": False if decision is None else decision.synced,
            "cancelled": decision is None,
            "reasons": [] if decision is None else [r.value for r in decision.reasons],
            "direction": None if decision is None else decision.direction.value,
            "level": None if decision is None else decision.level.value,
            "private": event.private,
            "colleagues_see": _seen(item) or None,
            "attendees": len(event.attendees),
            "max_attendees": item.limit,
            "crowded": item.crowded,
            "defects": list(event.defects),
            "participants": parties,
        }
        self.out.write(json_line(record) + "\n")

    def end(self) -> None:
        self.out.flush()


# --- CSV and the summary ----------------------------------------------------------------------


class _EventCsv:
    """One CSV row per event, in the columns of the mail's rows (start, organiser, title)."""

    def __init__(self, out: TextIO, rows: Any) -> None:
        self.out = out
        self.rows = rows
        self.mailbox = ""

    def start(self, target: Target) -> None:
        self.mailbox = target.mailbox.id

    def event(self, item: ExplainedEvent) -> None:
        event, decision = item.event, item.decision
        organizer = event.organizer
        sender = "" if organizer is None or organizer.address is None else str(organizer.address)
        self.rows.writerow(
            [
                self.mailbox,
                item.location,
                "" if event.start is None else event.start.isoformat(),
                "yes" if decision is not None and decision.synced else "no",
                "cancelled" if decision is None else " ".join(r.value for r in decision.reasons),
                "" if decision is None else decision.direction.value,
                _seen(item),
                clean(sender),
                clean(event.title or ""),
            ]
        )

    def end(self) -> None:
        self.out.flush()


class _EventSummary:
    """Counts by reason per calendar, instead of a block per event."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.verdicts: Counter[str] = Counter()
        self.reasons: Counter[Reason] = Counter()

    def start(self, target: Target) -> None:
        self.verdicts.clear()
        self.reasons.clear()
        self.out.write(f"{clean(target.mailbox.id)} from {clean(target.label)}\n")

    def event(self, item: ExplainedEvent) -> None:
        self.verdicts[_verdict(item)] += 1
        self.verdicts["private"] += bool(_seen(item) == "busy")
        self.verdicts["crowded"] += item.crowded
        if item.decision is not None:
            self.reasons.update(item.decision.reasons)

    def end(self) -> None:
        write, v = self.out.write, self.verdicts
        total = v["synced"] + v["skipped"] + v["cancelled"]
        write(
            f"  {counted(total, 'event')}: {v['synced']} would sync ({v['private']} private, "
            f"shown as busy), {v['skipped']} would be skipped, {v['cancelled']} cancelled; "
            f"{v['crowded']} over the attendee limit.\n"
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
_ROLE = 10
#: Most cells the participant column takes.
_PARTY = 36
#: Cells always left for what becomes of a participant.
_NOTE = 30


class _EventTable:
    """A readable block per event, laid out in the terminal's width."""

    def __init__(self, out: TextIO, *, colour: bool, limit: int) -> None:
        self.out = out
        self.colour = colour
        self.limit = limit
        self.total = terminal_width(out)
        self.number = 0
        self.verdicts: Counter[str] = Counter()
        self.reasons: Counter[Reason] = Counter()
        self.why_not: Counter[SkipReason] = Counter()
        self.created = 0

    def start(self, target: Target) -> None:
        self.number = self.created = 0
        self.verdicts.clear()
        self.reasons.clear()
        self.why_not.clear()
        write = self.out.write
        write(
            f"{clean(target.mailbox.id)} from {clean(target.label)}: a dry run, nothing is "
            "written.\n"
        )
        for line in textwrap.wrap(_sharing(target.mailbox, self.limit), self.total):
            write(line + "\n")
        write("\n")

    def event(self, item: ExplainedEvent) -> None:
        write = self.out.write
        self.number += 1
        event, decision = item.event, item.decision
        verdict = _verdict(item)
        self.verdicts[verdict] += 1
        colour = {"synced": style.GREEN}.get(verdict, style.RED)
        painted = style.paint(f"{verdict:<9}", colour, on=self.colour)
        if decision is None:
            rest, reasons = "", "cancelled: never stored, and a stored copy is removed"
        else:
            self.reasons.update(decision.reasons)
            seen = _seen(item) or decision.level.value
            rest = f"{decision.direction.value:<8}  {seen:<10}  "
            reasons = ", ".join(reason.value for reason in decision.reasons)
        head = f"{self.number:>4}  {_when(event):<16}  {painted}  {rest}"
        plain = len(head) - len(painted) + 9
        if self.number > 1:
            write("\n")
        if plain + width(reasons) <= self.total:
            write(f"{head}{reasons}\n")
        else:
            write(f"{head.rstrip()}\n{'':6}reasons: {reasons}\n")
        title = "(no title)" if not event.title else clean(event.title)
        write(f"{'':6}{cut('title: ' + title, self.total - 6)}\n")
        if event.recurrence:
            write(f"{'':6}{cut('repeats: ' + clean(' '.join(event.recurrence)), self.total - 6)}\n")
        if _seen(item) == "busy":
            write(f"{'':6}private: colleagues see only that the owner is busy (the times)\n")
        if item.crowded:
            write(
                f"{'':6}{counted(len(event.attendees), 'attendee')}, more than the limit of "
                f"{item.limit}: no contacts from this event\n"
            )
        if event.defects:
            defects = ", ".join(clean(d) for d in event.defects)
            write(f"{'':6}{cut('defects: ' + defects, self.total - 6)}\n")
        shown = [self._party(party) for party in item.parties]
        longest = max((width(text) for text, _ in shown), default=0)
        column = min(_PARTY, self.total - 6 - _ROLE - 2 - _NOTE, longest)
        rest_width = self.total - 6 - _ROLE - column - 2
        for (text, note), party in zip(shown, item.parties, strict=True):
            line = f"{'':6}{pad(_role(party), _ROLE)}{pad(text, column)}  {cut(note, rest_width)}"
            write(line.rstrip() + "\n")

    def _party(self, party: _Party) -> tuple[str, str]:
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
        write, v = self.out.write, self.verdicts
        write(
            f"\n{counted(self.number, 'event')}: {v['synced']} would sync, {v['skipped']} would "
            f"be skipped, {v['cancelled']} cancelled.\n"
            f"{counted(self.created, 'contact')} would be created. Nothing was written.\n"
        )
        legends = (
            ("Why an event syncs or not:", [r for r in Reason if r in self.reasons]),
            ("Why a participant gets no contact:", [r for r in SkipReason if r in self.why_not]),
        )
        write_legends(write, self.total, legends)
        write("\n")
        self.out.flush()
