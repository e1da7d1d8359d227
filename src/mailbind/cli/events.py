"""``mailbind events``: a contact's or a company's calendar events as one viewer may see them.

Invariants:
- Every event is shown through `StoredEvent.seen_by` and only when `StoredEvent.listed_for`
  allows: another user's private event is never listed under a contact or a company (listing it
  would tell who attended), and an event's withheld fields show as ``(withheld)`` (``null`` in
  JSON, named in ``withheld``).
- Only members of the workspace are shown anything (as for `mailbind emails`).
- Every text from an event is printed through `clean` (text) or `json_line` (JSON).
"""

from __future__ import annotations

import argparse
from typing import TextIO

from ..addresses import Participant
from ..calendars import StoredEvent
from ..domains import to_unicode_domain
from ..events import Event
from .contacts import contact_line, find_contact
from .emails import _company, _viewer, check_member
from .exits import ExitCode, Failure
from .settings import open_store, read_canonicalization
from .text import clean, json_line

__all__ = ["run"]

WITHHELD = "(withheld)"


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Show the events; the exit code."""
    viewer = _viewer(args.viewer)
    with open_store(args.db, create=False, read_only=True) as store:
        if not hasattr(store, "events_for_contact"):
            raise Failure(ExitCode.USAGE, "This database keeps no calendar events.")
        check_member(store, args.workspace, viewer, args.db)
        ws = args.workspace
        if args.contact is not None:
            index = store.contact_index(read_canonicalization(store, args), workspace=ws)
            contact = find_contact(index, args.contact, resolve=True)
            names = {c.domain: c for c in store.companies(workspace=ws)}
            title = contact_line(contact, names)
            found = store.events_for_contact(contact.id, workspace=ws)
        else:
            company = _company(store, args.company, ws)
            shown = to_unicode_domain(company.domain) or company.domain
            title = f"{clean(company.name)} ({clean(shown)})"
            found = store.events_for_company(company.domain, workspace=ws)
        listed = [stored for stored in found if stored.listed_for(viewer)]
        if args.json:
            for stored in listed:
                out.write(json_line(_json(stored, viewer)) + "\n")
            return ExitCode.OK
        out.write(f"{title}: {len(listed)} events, as {clean(str(viewer))} sees them\n")
        for stored in listed:
            out.write("\n" + _text(stored.seen_by(viewer)))
    return ExitCode.OK


def _when(event: Event) -> str:
    if event.start is None:
        return "(no time)"
    start = event.start.date().isoformat() if event.all_day else event.start.isoformat()
    if event.end is None or event.all_day:
        return start
    return f"{start} - {event.end.isoformat()}"


def _person(participant: Participant) -> str:
    address = participant.address
    text = participant.raw if address is None else f"{address.local}@{address.domain}"
    return clean(f"{participant.name} <{text}>" if participant.name else text)


def _shown(value: str | None) -> str:
    return WITHHELD if value is None else clean(value)


def _text(event: Event) -> str:
    lines = [f"{_when(event)}  {'busy' if event.busy else _shown(event.title)}"]
    if event.busy:
        lines.append("  (a private event: only that its owner is busy is shown)")
    else:
        if event.organizer is not None:
            lines.append(f"  Organiser: {_person(event.organizer)}")
        if event.attendees:
            lines.append("  Attendees: " + ", ".join(_person(a) for a in event.attendees))
        lines.append(f"  Location: {_shown(event.location)}")
        if event.description is None or event.description:
            lines.append(f"  Description: {_shown(event.description)}")
    if event.recurrence:
        lines.append("  Repeats: " + "; ".join(clean(r) for r in event.recurrence))
    return "\n".join(lines) + "\n"


def _json(stored: StoredEvent, viewer: object) -> dict[str, object]:
    event = stored.seen_by(str(viewer))
    return {
        "key": event.key,
        "start": None if event.start is None else event.start.isoformat(),
        "end": None if event.end is None else event.end.isoformat(),
        "all_day": event.all_day,
        "busy": event.busy,
        "title": event.title,
        "description": event.description,
        "location": event.location,
        "conference_url": event.conference_url,
        "organizer": None if event.organizer is None else _person(event.organizer),
        "attendees": [_person(a) for a in event.attendees],
        "recurrence": list(event.recurrence),
        "level": event.level.value,
        "withheld": sorted(event.withheld),
    }
