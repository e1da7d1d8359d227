"""The function every engine maps over a partition: raw messages in, plain results out.

Invariants:
- `process_partition` and `run_local` read no clock, no environment and no file: results are a
  function of the items and the snapshot alone, in the order of the items and, within an item,
  of the mailboxes it names. Every engine runs this one function, so all give the same results.
- A result is a plain JSON value (a dict of str, int, bool, None and lists) with the keys of
  `RESULT_FIELDS`, so it streams to JSON lines or Parquet and compares equal after a round trip.
- No item is lost: one naming no mailbox, or one the snapshot does not hold, still gives a
  result, with a `Problem` code; unreadable mail is a defect, as everywhere in mailbind. An item
  of the wrong type is the caller's mistake and raises `BackfillError`.
- Links and views follow the engine: a synced message links each readable participant to the
  contact its key belongs to; a skipped one keeps neither links nor content.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from .._kinds import member
from ..codecs import decode_message, encode_message, message_from_record
from ..identity import with_stored_key
from ..messages import Defect, Direction, Flag, Limits, Message, SharingLevel
from ..planner import copy_location, plan_batch
from ..redaction import redact
from ..rules import Decision, Reason
from ..source import SourceItem
from ..store import BatchItem, ParticipantLink
from ._snapshot import BackfillError, Snapshot, View

__all__ = [
    "RESULT_FIELDS",
    "Item",
    "Problem",
    "RawMessage",
    "Result",
    "batch_item",
    "process_partition",
    "run_local",
]


#: One result: a JSON object with the keys of `RESULT_FIELDS`.
Result = dict[str, Any]

#: The keys of every result, in the order they are written.
RESULT_FIELDS = (
    "mailbox",
    "key",
    "message_id",
    "sent_at",
    "location",
    "snapshot",
    "synced",
    "direction",
    "level",
    "reasons",
    "defects",
    "flags",
    "problem",
    "links",
    "view",
)


class Problem(StrEnum):
    """Why an item gave a result without a decision: stable codes, safe to store and show."""

    #: The item names no mailbox.
    NO_MAILBOX = "no_mailbox"
    #: The item names a mailbox id the snapshot does not hold.
    UNKNOWN_MAILBOX = "unknown_mailbox"
    #: The item is no `RawMessage`, JSON line or record: nothing of it was read.
    BAD_ITEM = "bad_item"
    #: Reading or deciding the item failed (a fault in mailbind; please report it): the rest
    #: of the backfill goes on.
    FAILED = "failed"


@dataclass(frozen=True, slots=True, init=False)
class RawMessage:
    """One archived message and the mailboxes that hold it.

    *data* is RFC 5322 bytes, one JSON line (text) or a decoded JSON-lines record; the
    mailboxes given here win over a record's own ``mailbox`` field. *flags* say what the
    archive knows (a ``Spam`` folder, a ``Sent`` folder).
    """

    #: The ids of the mailboxes holding the message (`Mailbox.id`).
    mailboxes: tuple[str, ...]
    data: bytes | str | Mapping[str, Any]
    #: Where the message came from (a file and offset), copied into its results.
    location: str
    flags: frozenset[Flag]

    def __init__(
        self,
        mailboxes: str | Iterable[str],
        data: bytes | str | Mapping[str, Any],
        location: str = "",
        flags: Iterable[Flag | str] = (),
    ) -> None:
        ids = (mailboxes,) if isinstance(mailboxes, str) else tuple(mailboxes)
        for value in ids:
            if not isinstance(value, str):
                raise BackfillError(f"A mailbox id must be a string, not {value!r}.")
        if not isinstance(data, bytes | str | Mapping):
            raise BackfillError(
                "A raw message must be RFC 5322 bytes, a JSON line or a record, "
                f"not {type(data).__name__}."
            )
        if not isinstance(location, str):
            raise BackfillError(f"A location must be a string, not {location!r}.")
        found = frozenset(_flag(flag) for flag in ((flags,) if isinstance(flags, str) else flags))
        set_ = object.__setattr__
        set_(self, "mailboxes", tuple(dict.fromkeys(ids)))
        set_(self, "data", data)
        set_(self, "location", location)
        set_(self, "flags", found)


def _flag(value: object) -> Flag:
    return member(Flag, value, "A flag", BackfillError, fold=True)


#: What `process_partition` reads: a `RawMessage`, a JSON line, or a decoded JSON-lines record
#: (the last two name their mailboxes in a ``mailbox`` field: an id or a list of ids).
Item = RawMessage | str | Mapping[str, Any]


def _mailbox_ids(value: object) -> tuple[str, ...]:
    """The mailbox ids a record's ``mailbox`` field names: an id or a list of ids."""
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, list | tuple):
        return tuple(dict.fromkeys(v for v in value if isinstance(v, str) and v.strip()))
    return ()


def _loads(line: str) -> object:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


#: Text of an over-long line kept in its message, so that it can be found.
_SHOWN = 1024


def _too_large(line: str) -> Message:
    """A message recording a JSON line longer than `Limits.max_bytes`, as the source does."""
    return Message(None, None, (), text=line[:_SHOWN], defects=(Defect.TOO_LARGE,))


def _read(item: Item, limits: Limits) -> tuple[Message, tuple[str, ...], str] | None:
    """The message *item* holds, the ids of its mailboxes and its location; None when blank."""
    if isinstance(item, str):
        if not item.strip():
            return None
        if len(item) > limits.max_bytes:
            return _too_large(item), (), ""
        fields = _loads(item)
        ids = _mailbox_ids(fields.get("mailbox")) if isinstance(fields, dict) else ()
        return message_from_record(fields, item), ids, ""
    if isinstance(item, RawMessage):
        data = item.data
        if isinstance(data, bytes):
            message = Message.from_bytes(data, limits=limits, flags=item.flags)
            return message, item.mailboxes, item.location
        found = _read(data, limits)
        if found is None:
            return None
        message, ids, _ = found
        if item.flags - message.flags:
            message = replace(message, flags=message.flags | item.flags)
        return message, item.mailboxes or ids, item.location
    if isinstance(item, Mapping):
        record = item if isinstance(item, dict) else dict(item)
        return message_from_record(record), _mailbox_ids(record.get("mailbox")), ""
    raise BackfillError(
        "A backfill item must be a RawMessage, a JSON line or a decoded record, "
        f"not {type(item).__name__}."
    )


# --- Results -----------------------------------------------------------------------------------


def _result(
    message: Message,
    mailbox_id: str | None,
    location: str,
    snapshot: Snapshot,
    planned: BatchItem | None,
    problem: Problem | None,
) -> Result:
    sent_at = message.sent_at
    decision = None if planned is None else planned.decision
    view: str | None = None
    if decision is not None and decision.synced:
        if snapshot.view is View.REDACTED:
            view = encode_message(redact(message, decision.level))
        elif snapshot.view is View.COMPLETE:
            view = encode_message(message)
    return {
        "mailbox": mailbox_id,
        "key": message.key,
        "message_id": message.message_id,
        "sent_at": None if sent_at is None else sent_at.isoformat(),
        "location": location,
        "snapshot": snapshot.version,
        "synced": False if decision is None else decision.synced,
        "direction": None if decision is None else decision.direction.value,
        "level": None if decision is None else decision.level.value,
        "reasons": [] if decision is None else [reason.value for reason in decision.reasons],
        "defects": list(message.defects),
        "flags": sorted(flag.value for flag in message.flags),
        "problem": None if problem is None else problem.value,
        "links": []
        if planned is None
        else [
            {"position": link.position, "key": link.key, "contact_id": link.contact_id}
            for link in planned.links
        ],
        "view": view,
    }


def _item_results(item: Item, snapshot: Snapshot) -> list[Result]:
    """The results of one item; one with a `Problem` when the item cannot be read at all."""
    try:
        return _read_results(item, snapshot)
    except BackfillError:
        return [_problem_result(item, snapshot, Problem.BAD_ITEM)]
    except Exception:  # one item must not end the backfill: it is reported, the rest is done
        return [_problem_result(item, snapshot, Problem.FAILED)]


def _problem_result(item: object, snapshot: Snapshot, problem: Problem) -> Result:
    """The result of an item that gave no message: its kind as the text, its location."""
    location = item.location if isinstance(item, RawMessage) else ""
    message = Message(None, None, (), text=type(item).__name__, defects=(Defect.UNREADABLE,))
    return _result(message, None, location, snapshot, None, problem)


def _read_results(item: Item, snapshot: Snapshot) -> list[Result]:
    found = _read(item, snapshot.limits)
    if found is None:
        return []
    message, ids, location = found
    message = with_stored_key(message)
    if not ids:
        return [_result(message, None, location, snapshot, None, Problem.NO_MAILBOX)]
    results = []
    policy, by_id = snapshot.policy, snapshot._by_id
    copy = (SourceItem(location, None, built=message),)
    for mailbox_id in ids:
        mailbox = by_id.get(mailbox_id)
        if mailbox is None:
            results.append(
                _result(message, mailbox_id, location, snapshot, None, Problem.UNKNOWN_MAILBOX)
            )
        else:
            (planned,) = plan_batch(copy, mailbox, policy, contacts=snapshot.owners).items
            results.append(_result(message, mailbox_id, location, snapshot, planned, None))
    return results


def run_local(items: Iterable[Item], snapshot: Snapshot) -> Iterator[Result]:
    """The results of *items* under *snapshot*, one process, streaming, in order.

    The same results as `process_partition` gives for the items as one partition.
    """
    for item in items:
        yield from _item_results(item, snapshot)


def process_partition(items: Iterable[Item], snapshot: Snapshot) -> list[Result]:
    """The results of one partition of *items*: the function every engine maps over its data.

    One result per message and mailbox, in the order of the items (blank lines give none).
    Pure: its output depends on its arguments alone.
    """
    return list(run_local(items, snapshot))


def batch_item(result: Result) -> BatchItem:
    """The `BatchItem` a store's ``apply_batch`` takes for *result*, to load a backfill.

    A synced result must hold the whole message (a snapshot with ``view="complete"``); a
    skipped one keeps no content, as stores keep none. A result with a problem is a
    `BackfillError`.
    """
    if result["problem"] is not None:
        raise BackfillError(f"A result with the problem {result['problem']!r} cannot be stored.")
    decision = Decision(
        result["synced"],
        tuple(Reason(reason) for reason in result["reasons"]),
        Direction(result["direction"]),
        SharingLevel(result["level"]),
    )
    if decision.synced:
        view = result["view"]
        message = decode_message(view) if view is not None else None
        if message is None or message.level is not SharingLevel.EVERYTHING:
            raise BackfillError(
                "Storing a synced result needs the whole message: back-fill with "
                "Snapshot(..., view='complete')."
            )
        links = tuple(
            ParticipantLink(link["position"], link["key"], link["contact_id"])
            for link in result["links"]
        )
    else:
        sent_at = result["sent_at"]
        message = Message(
            result["message_id"],
            None if sent_at is None else datetime.fromisoformat(sent_at),
            (),
            None,
            None,
            None,
            None,
            level=SharingLevel.METADATA,
            key=result["key"],
        )
        links = ()
    flags = frozenset(Flag(flag) for flag in result.get("flags", ()))
    if message.flags:
        message = replace(message, flags=frozenset())
    location = result["location"] or copy_location(result["key"])
    return BatchItem(message, decision, links, location, flags)
