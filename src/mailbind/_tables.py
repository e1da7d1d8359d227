"""Header values read into participants, remembered in bounded tables per role.

Invariants:
- A table maps a header value to the participants it names, in order, each in the table's
  role; a value reads alike in every role, so a value read in one role is relabelled, not read
  again, for another.
- Tables are bounded: past their size they start afresh, and values longer than
  `_CACHEABLE_LENGTH` are not remembered. `Message.build` and mail read from bytes have tables
  of their own (`_PARSED`, `_READ`): build's hold `_CACHE_ENTRIES` values a role; the read
  tables hold `_READ_CHARACTERS` characters of header values in all, so that their memory is
  bounded however long the values are.
- Reading a value through a table gives what `mailbind.addresses` gives reading it afresh
  (property tests hold the two equal).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .addresses import Participant, Role, _read_header
from .errors import MessageTypeError, wrong_type

Recipients = str | Iterable[str] | None

#: Header values up to this length are remembered with their parsed participants.
_CACHEABLE_LENGTH = 1000
#: Entries remembered per role; past it the table starts afresh.
_CACHE_ENTRIES = 1 << 15
_PARSED: dict[Role, dict[str, tuple[Participant, ...]]] = {role: {} for role in Role}
#: Characters of header values the tables for mail read from bytes hold, all roles together;
#: past it they all start afresh. Mail as written repeats a whole header value less often than
#: records built from plain values do (display names vary, recipient lists combine), so a
#: mailbox holds many distinct values: the tables must hold a whole mailbox's worth for a
#: second sync of it to find them (4,096 values a role did not: a re-sync was as slow as the
#: first). 4 Mi characters are about 60,000 values of the sync benchmark's mail; with the
#: participants and addresses they hold, about 25 bytes a character were measured there, so
#: the tables stay under about 100 MB.
_READ_CHARACTERS = 1 << 22
_READ: dict[Role, dict[str, tuple[Participant, ...]]] = {role: {} for role in Role}
#: The characters the read tables hold now (one counter, in a list so it can change).
_READ_HELD = [0]
_BUILD_TABLES = tuple(_PARSED.values())
_FROM_TABLE, _TO_TABLE, _CC_TABLE, _BCC_TABLE, _SENDER_TABLE, _REPLY_TO_TABLE = (
    _PARSED[Role.FROM],
    _PARSED[Role.TO],
    _PARSED[Role.CC],
    _PARSED[Role.BCC],
    _PARSED[Role.SENDER],
    _PARSED[Role.REPLY_TO],
)


def _parse_header(value: str, role: Role) -> tuple[Participant, ...]:
    """`parse_participants`, remembered in a bounded table per role: a mailbox repeats itself."""
    table = _PARSED[role]
    found = table.get(value)
    return found if found is not None else _parse_new(value, role, table)


def _parse_new(
    value: str, role: Role, table: dict[str, tuple[Participant, ...]]
) -> tuple[Participant, ...]:
    """Parse *value* and remember it in *table*, which holds `_CACHE_ENTRIES` values."""
    found = _read_afresh(value, role)
    if len(value) <= _CACHEABLE_LENGTH:
        if len(table) >= _CACHE_ENTRIES:
            # Start afresh: dropping the oldest entry one at a time costs time in proportion
            # to the table (a dict skips the slots freed at its front), on every new value.
            table.clear()
        table[value] = found
    return found


def _read_afresh(value: str, role: Role) -> tuple[Participant, ...]:
    """The participants of *value*, relabelled from build's tables or read."""
    found = _read_before(value, role)
    if found is None:
        # Read past the parser's own table: the caller's remembers the value, and remembering
        # it twice would double what a long sync holds for headers seen once.
        found = _read_header(value, role)
    return found


def _read_before(value: str, role: Role) -> tuple[Participant, ...] | None:
    """The participants of *value* as `Message.build` read it in any role, now in *role*.

    A header value reads alike in every role (the role only labels each participant), and a
    mailbox names one person in From, To and Cc: relabelling is cheaper than reading again.
    None when no table holds the value.
    """
    for table in _BUILD_TABLES:
        found = table.get(value)
        if found is not None:
            if not found or found[0].role is role:
                return found
            return tuple(
                Participant(role, p.address, p.name, p.raw, p.problem, p.group) for p in found
            )
    return None


def _gather(
    value: Recipients, role: Role, table: dict[str, tuple[Participant, ...]]
) -> tuple[Participant, ...]:
    """The participants of one header value, or of a list of them, via *table*.

    A value, or a list of values, that the table holds (the common case) is answered from it
    directly, by joining the tuples it holds; anything else goes through `_collect`.
    """
    kind = value.__class__
    if kind is str:
        found = table.get(value)  # type: ignore[arg-type]
        if found is not None:
            return found
    elif kind is list:
        # Only text is a key of the table: any other item is found in none, or is no key at
        # all (TypeError), and `_collect` tells the caller what is wrong with it.
        get = table.get
        joined: tuple[Participant, ...] = ()
        try:
            for item in value:  # type: ignore[union-attr]
                found = get(item)
                if found is None:
                    break
                joined += found
            else:
                return joined
        except TypeError:
            pass
    out: list[Participant] = []
    _collect(out, value, role, table)
    return tuple(out)


def _collect(
    out: list[Participant],
    value: Recipients,
    role: Role,
    table: dict[str, tuple[Participant, ...]],
) -> None:
    """Add the participants of one header value, or of a list of them, to *out*, via *table*."""
    kind = value.__class__
    if kind is str:
        found = table.get(value)  # type: ignore[arg-type]
        if found is None:
            found = _parse_new(value, role, table) if value else ()  # type: ignore[arg-type]
        out += found
        return
    if kind is not list and kind is not tuple:
        if value is None:
            return
        if isinstance(value, bytes | str):
            if isinstance(value, str):  # a str subclass
                out += _parse_header(str(value), role)
                return
            # The value is not shown: a header may name many people.
            raise MessageTypeError(f"{role.value} must be text, not bytes.")
        if isinstance(value, Mapping) or not isinstance(value, Iterable):
            name = "sender" if role is Role.FROM else role.value
            raise wrong_type("Message.build()", name, "header text", value, MessageTypeError)
    get = table.get
    for item in value:  # type: ignore[union-attr]  # None returned above
        found = get(item) if item.__class__ is str else None
        if found is None:
            if not isinstance(item, str):
                raise MessageTypeError(
                    f"{role.value} must hold header values as text, not {type(item).__name__}."
                )
            found = _parse_new(item, role, table)
        out += found


def read_from_mail(value: str, role: Role) -> tuple[Participant, ...]:
    """The participants of a header value read from mail, via the tables `_READ`."""
    table = _READ[role]
    found = table.get(value)
    if found is None:
        found = _read_afresh(value, role)
        size = len(value)
        if size <= _CACHEABLE_LENGTH:
            held = _READ_HELD[0] + size
            if held > _READ_CHARACTERS:
                for each in _READ.values():
                    each.clear()
                held = size
            _READ_HELD[0] = held
            table[value] = found
    return found
