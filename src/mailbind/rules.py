"""The sync rules: which messages belong in the CRM, in which direction, and who may read them.

Invariants:
- Every function here is pure: values in, values out; no clock, no environment, no I/O.
- `decide` returns *every* reason that applied, in the order of `Reason`, so a user can always
  be told why; a message is synced exactly when no excluding reason applied.
- The same predicates serve importing, `reevaluate` and explaining, and calendar events as
  well as messages: an `Event` offers the same participants, flags and headers.
- Speed without changing an answer: what a policy says of an address (colleague, blocked,
  impersonal, free provider) is computed once per identity key and kept in the policy's
  bounded cache, and also in the `Address` itself, tagged with the policy, so that judging a
  participant needs no look-up; a message is read in one pass into a few bits; equal
  decisions are one shared `Decision` value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ._kinds import _EXCLUDING, Reason
from .addresses import Address, Participant, Role, _set_mark, parse_address
from .errors import ArgumentTypeError, InvalidAddressError, PolicyError, wrong_type
from .events import Event
from .messages import Direction, Flag, Message, SharingLevel
from .policy import FACTS_CACHE_SIZE, Mailbox, Policy
from .providers import is_free_provider, is_impersonal

__all__ = [
    "Change",
    "Decision",
    "Holding",
    "Reason",
    "Reevaluation",
    "decide",
    "direction",
    "is_blocked",
    "is_bulk",
    "is_colleague",
    "is_internal",
    "reevaluate",
    "visible_level",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a message syncs into one mailbox, and every reason why."""

    synced: bool
    reasons: tuple[Reason, ...]
    direction: Direction
    #: What others may read of the message in this mailbox.
    level: SharingLevel


@dataclass(frozen=True, slots=True)
class Holding:
    """One mailbox holding a message, with the direction the message has there."""

    mailbox: Mailbox
    direction: Direction


#: What the rules read: a message or a calendar event.
Mail = TypeVar("Mail", bound=Message | Event)


@dataclass(frozen=True, slots=True)
class Change(Generic[Mail]):
    """A stored message (or event) whose decision differs under a new policy."""

    message: Mail
    before: Decision
    after: Decision


@dataclass(frozen=True, slots=True)
class Reevaluation(Generic[Mail]):
    """The exact effect of a policy change on one mailbox's messages (or events)."""

    #: Synced before, excluded now: remove from the mailbox.
    remove: tuple[Change[Mail], ...]
    #: Excluded before, synced now: bring back.
    restore: tuple[Change[Mail], ...]
    #: How many messages keep their synced-or-not state.
    unchanged: int


#: Longest part of a header value read for its token: a bulk marker is one short word.
_MAX_TOKEN_TEXT = 998

_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
_LABEL_FLAGS = {"draft": Flag.DRAFT, "spam": Flag.SPAM, "trash": Flag.TRASH, "sent": Flag.SENT}
#: The headers the rules read (lower-case).
_RULE_HEADERS = frozenset(
    {"list-id", "list-unsubscribe", "precedence", "auto-submitted", "x-gmail-labels"}
)


def _strip_comments(value: str) -> str:
    """*value* without RFC 5322 comments (nested, escaped); quoted strings are kept."""
    if "(" not in value:
        return value
    out: list[str] = []
    depth = 0
    quoted = escaped = False
    for ch in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
        elif ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
        elif quoted:
            quoted = ch != '"'
            out.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            quoted = ch == '"'
            out.append(ch)
    return "".join(out)


def _token(value: str) -> str:
    """The first token of a structured header value: comments, parameters and quotes gone."""
    text = _strip_comments(value[:_MAX_TOKEN_TEXT]).split(";", 1)[0]
    return text.strip().strip('"').strip().lower()


def _bulk_header(name: str, value: str) -> bool:
    """True when the header *name* (lower-case) with *value* marks bulk mail."""
    if name == "list-id" or name == "list-unsubscribe":
        return bool(value.strip())
    if name == "precedence":
        return _token(value) in _BULK_PRECEDENCE
    if name == "auto-submitted":
        word = _token(value)
        return bool(word) and word != "no"
    return False


def _label_flags(value: str) -> frozenset[Flag]:
    """The flags named by a Google Takeout ``X-Gmail-Labels`` value (``Inbox,Spam``)."""
    flags = (_LABEL_FLAGS.get(label.strip().strip('"').lower()) for label in value.split(","))
    return frozenset(flag for flag in flags if flag is not None)


def _header_facts(message: Message | Event) -> tuple[bool, frozenset[Flag]]:
    """One pass over the headers: whether they mark bulk mail, and the message's flags."""
    bulk = False
    flags = message.flags
    for name, value in message.headers:
        lower = name.lower()
        if lower not in _RULE_HEADERS:
            continue
        if lower == "x-gmail-labels":
            flags = flags | _label_flags(value)
        elif not bulk:
            bulk = _bulk_header(lower, value)
    return bulk, flags


def is_bulk(message: Message | Event) -> bool:
    """True when the message carries mailing-list or bulk headers (RULES 2.4).

    ``List-Id`` or ``List-Unsubscribe`` with a value, ``Precedence: bulk``, ``list`` or
    ``junk``, or ``Auto-Submitted`` with any value but ``no``; case, whitespace, comments and
    parameters do not matter.
    """
    return _header_facts(message)[0]


def _source_flags(message: Message | Event) -> frozenset[Flag]:
    """What the source knows of *message*: its flags, with a Takeout ``X-Gmail-Labels`` read."""
    return _header_facts(message)[1]


# --- Facts about one address under one policy ----------------------------------------------

#: (comparison key, colleague, blocked, impersonal, free provider)
_Facts = tuple[str, bool, bool, bool, bool]


def _domain_blocked(key: str, domains: frozenset[str]) -> bool:
    """True when the key's domain, or a domain it is under, is a blocked domain."""
    if not domains:
        return False
    domain = key.rpartition("@")[2]
    while True:
        if domain in domains:
            return True
        dot = domain.find(".")
        if dot < 0:
            return False
        domain = domain[dot + 1 :]


def _compute_facts(address: Address, policy: Policy) -> _Facts:
    key = policy.canonicalization.key(address)
    colleague = key not in policy._external_keys and (
        key in policy._member_keys or address.registrable in policy.org_domains
    )
    blocked = key in policy.blocklist or _domain_blocked(key, policy._blocked_domains)
    return (
        key,
        colleague,
        blocked,
        is_impersonal(address, policy.role_addresses),
        is_free_provider(address, policy.free_providers),
    )


def _facts(address: Address, policy: Policy) -> _Facts:
    """What *policy* says of *address*, from the policy's bounded cache."""
    cache = policy._facts
    facts: _Facts | None = cache.get(address.key)
    if facts is None:
        facts = _compute_facts(address, policy)
        if len(cache) >= FACTS_CACHE_SIZE:
            cache.clear()
        cache[address.key] = facts
    return facts


def _as_address(value: Address | str, what: str) -> Address:
    if isinstance(value, Address):
        return value
    try:
        return parse_address(value)
    except InvalidAddressError:
        raise InvalidAddressError(f"{what} is not a readable address: {value!r}.") from None


#: Stands for a policy `_check_arguments` is not to check.
_UNCHECKED = object()


def _check_arguments(
    call: str,
    message: object,
    mailbox: object,
    policy: object = _UNCHECKED,
    *,
    plural: bool = False,
) -> None:
    """Raise `ArgumentTypeError` naming the first argument of *call* of a wrong type.

    The rules read their arguments without asking their types, so this runs only once reading
    them failed (or, for the functions that read many messages, once a call). A *policy* left
    out is not checked; *plural* says *message* is one of the messages a call was given.
    """
    if not isinstance(message, Message | Event):
        param, expected = ("messages", "Messages or Events") if plural else ("message", "")
        raise wrong_type(
            call, param, expected or "a Message or an Event", message, ArgumentTypeError
        )
    if not isinstance(mailbox, Mailbox):
        raise wrong_type(call, "mailbox", "a Mailbox", mailbox, ArgumentTypeError)
    if policy is not _UNCHECKED and not isinstance(policy, Policy):
        raise wrong_type(call, "policy", "a Policy", policy, ArgumentTypeError)


# --- The predicates ------------------------------------------------------------------------


def is_colleague(address: Address | str | None, policy: Policy) -> bool:
    """True when *address* belongs to the organisation (RULES 2.1).

    Its registrable domain is one of the organisation's (subdomains count), or it is a named
    member; a named external never is, nor is an unreadable address (None). Only
    registrable-domain equality counts: ``acme.com.evil.io`` is not ``acme.com``.
    """
    if address is None:
        return False
    return _facts(_as_address(address, "The address"), policy)[1]


def is_blocked(address: Address | str | None, policy: Policy) -> bool:
    """True when *address* is on the policy's blocklist, itself or by one of its domains."""
    if address is None:
        return False
    return _facts(_as_address(address, "The address"), policy)[2]


# --- One pass over a message ----------------------------------------------------------------
# `_observe` reads a message once and answers with bits saying what it found; `decide` turns
# the bits and the policy's switches into a `Decision`. Both `decide` and the predicates below
# read the same bits, so no rule is written twice.

_OUTGOING = 1 << 0  # a From address is the owner's or an alias, or the source says "sent"
_PRESENT = 1 << 1  # at least one From, To, Cc or Bcc entry
_EXTERNAL = 1 << 2  # a readable From/To/Cc/Bcc participant who is not a colleague
_UNREADABLE = 1 << 3  # an unreadable From/To/Cc/Bcc entry
_BLOCKED = 1 << 4  # a blocked participant in any role, not one of the owner's addresses
_IMPERSONAL = 1 << 5  # a readable From address that is impersonal
_OWNER_FREE = 1 << 6  # the owner's address is on a free provider
_BULK = 1 << 7  # bulk headers
_DRAFT = 1 << 8
_SPAM = 1 << 9
_TRASH = 1 << 10
_SYNC_INTERNAL = 1 << 11  # the policy's switches, so that bits and switches make one key
_EXCLUDE_GROUP = 1 << 12

_FROM, _SENDER, _REPLY_TO = Role.FROM, Role.SENDER, Role.REPLY_TO
_FLAG_BITS = ((Flag.DRAFT, _DRAFT), (Flag.SPAM, _SPAM), (Flag.TRASH, _TRASH))

#: What one participant adds to `_observe`'s bits under one policy: (the policy's token, bits
#: it always adds, the comparison key when the mailbox's own addresses matter or None, bits
#: it adds when that key is not the mailbox's, bits it adds when it is).
_Mark = tuple[object, int, str | None, int, int]
#: What a participant that holds no mark yet is read as: the mark of no policy.
_NO_MARK: _Mark = (None, 0, None, 0, 0)


def _mark(participant: Participant, policy: Policy) -> _Mark:
    """What *participant* adds to a message's bits under *policy*, kept on the participant.

    Only a From address (outgoing or impersonal) and a blocked address (never the owner's)
    depend on the mailbox: those keep their key, for `_observe` to compare with the mailbox's.
    """
    address = participant.address
    role = participant.role
    other = role is _SENDER or role is _REPLY_TO
    mark: _Mark
    if address is None:
        mark = (policy._token, 0 if other else _PRESENT | _UNREADABLE, None, 0, 0)
    else:
        key, colleague, blocked, impersonal, _ = _facts(address, policy)
        blocked_bit = _BLOCKED if blocked else 0
        if other:
            mark = (policy._token, 0, key if blocked else None, blocked_bit, 0)
        else:
            always = _PRESENT if colleague else _PRESENT | _EXTERNAL
            if role is _FROM:
                impersonal_bit = _IMPERSONAL if impersonal else 0
                mark = (policy._token, always, key, blocked_bit | impersonal_bit, _OUTGOING)
            else:
                mark = (policy._token, always, key if blocked else None, blocked_bit, 0)
    _set_mark(participant, mark)
    return mark


def _observe(message: Message | Event, mailbox: Mailbox, policy: Policy) -> int:
    """What one pass over the message's participants, headers and flags found, as bits."""
    canon = policy.canonicalization
    own = mailbox.keys_under(canon) if canon.strip_subaddress or canon.fold_gmail else mailbox._keys
    token = policy._token
    bits = 0
    if message.headers:
        bulk, flags = _header_facts(message)
        if bulk:
            bits = _BULK
    else:
        flags = message.flags
    if flags:
        if Flag.SENT in flags:
            bits |= _OUTGOING
        for flag, bit in _FLAG_BITS:
            if flag in flags:
                bits |= bit
    for participant in message.participants:
        try:
            mark = participant._mark
        except AttributeError:
            mark = _NO_MARK
        if mark[0] is not token:
            mark = _mark(participant, policy)
        bits |= mark[1]
        key = mark[2]
        if key is not None:
            bits |= mark[4] if key in own else mark[3]
    owner = policy._facts.get(mailbox.owner.key)
    if owner is None:
        owner = _facts(mailbox.owner, policy)
    if owner[4]:
        bits |= _OWNER_FREE
    return bits


def _is_internal(bits: int) -> bool:
    return bits & (_PRESENT | _EXTERNAL | _UNREADABLE | _OWNER_FREE) == _PRESENT


def is_internal(message: Message | Event, mailbox: Mailbox, policy: Policy) -> bool:
    """True when every From, To, Cc and Bcc participant is a colleague (RULES 3.2).

    An unreadable participant is not a colleague; a message naming nobody at all is not
    internal; when the owner's address is on a free provider, no message is internal.
    """
    try:
        bits = _observe(message, mailbox, policy)
    except (AttributeError, TypeError):
        _check_arguments("is_internal()", message, mailbox, policy)
        raise
    return _is_internal(bits)


def direction(
    message: Message | Event, mailbox: Mailbox, policy: Policy | None = None
) -> Direction:
    """OUTGOING when the owner sent the message, INCOMING otherwise (RULES 3.1).

    The owner sent it when a From address is the owner's or an alias, or the source files it
    as sent (`Flag.SENT`, or the Takeout label ``Sent``). Addresses are compared by identity
    key, or under *policy*'s canonicalisation when a policy is given (as `decide` does).
    """
    if (
        message.__class__ is not Message
        or mailbox.__class__ is not Mailbox
        or (policy is not None and policy.__class__ is not Policy)
    ):
        _check_arguments("direction()", message, mailbox, _UNCHECKED if policy is None else policy)
    if Flag.SENT in _source_flags(message):
        return Direction.OUTGOING
    if policy is None:
        own = mailbox._keys
        outgoing = any(
            p.role is _FROM and p.address is not None and p.address.key in own
            for p in message.participants
        )
    else:
        outgoing = bool(_observe(message, mailbox, policy) & _OUTGOING)
    return Direction.OUTGOING if outgoing else Direction.INCOMING


def _reasons(key: int) -> tuple[Reason, ...]:
    """The reasons, in the order of `Reason`, for what `_observe` found and the switches."""
    internal = _is_internal(key)
    group_rule = bool(key & _EXCLUDE_GROUP) and not key & _OUTGOING
    sync_internal = bool(key & _SYNC_INTERNAL)
    applies = {
        Reason.INTERNAL: internal and not sync_internal,
        Reason.BLOCKLISTED: bool(key & _BLOCKED),
        Reason.GROUP_SENDER: group_rule and bool(key & _IMPERSONAL),
        Reason.BULK: group_rule and bool(key & _BULK),
        Reason.DRAFT: bool(key & _DRAFT),
        Reason.SPAM: bool(key & _SPAM),
        Reason.TRASH: bool(key & _TRASH),
        Reason.EXTERNAL: bool(key & _EXTERNAL),
        Reason.INTERNAL_ALLOWED: internal and sync_internal,
        Reason.OWNER_ON_FREE_PROVIDER: bool(key & _OWNER_FREE),
        Reason.UNREADABLE_PARTICIPANT: bool(key & _UNREADABLE),
        Reason.NO_PARTICIPANTS: not key & _PRESENT,
    }
    return tuple(reason for reason in Reason if applies.get(reason, False))


#: Decisions are values, and few distinct ones exist (at most 2**13 keys for each level):
#: each is made once and shared.
_DECISIONS: dict[SharingLevel, dict[int, Decision]] = {level: {} for level in SharingLevel}


def _decision(key: int, level: SharingLevel) -> Decision:
    reasons = _reasons(key)
    made = Decision(
        synced=not any(reason in _EXCLUDING for reason in reasons),
        reasons=reasons,
        direction=Direction.OUTGOING if key & _OUTGOING else Direction.INCOMING,
        level=level,
    )
    _DECISIONS[level][key] = made
    return made


def decide(message: Message | Event, mailbox: Mailbox, policy: Policy) -> Decision:
    """Whether *message* syncs into *mailbox* under *policy*, with every reason that applied.

    A pure function of its arguments: the same inputs always give the same decision.
    """
    try:
        key = _observe(message, mailbox, policy)
    except (AttributeError, TypeError):
        _check_arguments("decide()", message, mailbox, policy)
        raise
    if policy.sync_internal:
        key |= _SYNC_INTERNAL
    if policy.exclude_group_emails:
        key |= _EXCLUDE_GROUP
    level = mailbox.outgoing if key & _OUTGOING else mailbox.incoming
    decision = _DECISIONS[level].get(key)
    return decision if decision is not None else _decision(key, level)


def visible_level(viewer: Address | str, holdings: Iterable[Holding]) -> SharingLevel:
    """How much of a message *viewer* may read, given every mailbox that holds it (RULES 4.3).

    The owner (or an alias) of any holding mailbox sees EVERYTHING; anyone else sees the most
    permissive level among the holdings, each taken for the message's direction there.
    Addresses are compared by identity key. A message no mailbox holds is visible to nobody:
    no holdings is a `PolicyError`.
    """
    if not isinstance(viewer, Address | str):
        raise wrong_type("visible_level()", "viewer", "an address", viewer, ArgumentTypeError)
    key = _as_address(viewer, "The viewer").key
    best: SharingLevel | None = None
    for holding in _holdings(holdings):
        if key in holding.mailbox._keys:
            return SharingLevel.EVERYTHING
        level = holding.mailbox.level_for(holding.direction)
        if best is None or level > best:
            best = level
    if best is None:
        raise PolicyError("A message held by no mailbox has no visible level: give a holding.")
    return best


def _holdings(holdings: Iterable[Holding]) -> Iterable[Holding]:
    """*holdings*, each checked to be a `Holding` (`visible_level` reads them)."""
    if not isinstance(holdings, Iterable) or isinstance(holdings, Holding):
        raise wrong_type("visible_level()", "holdings", "Holdings", holdings, ArgumentTypeError)
    for holding in holdings:
        if holding.__class__ is not Holding and not isinstance(holding, Holding):
            raise wrong_type("visible_level()", "holdings", "Holdings", holding, ArgumentTypeError)
        yield holding


def reevaluate(
    messages: Iterable[Mail], mailbox: Mailbox, old_policy: Policy, new_policy: Policy
) -> Reevaluation[Mail]:
    """The exact effect on *mailbox* of changing *old_policy* to *new_policy*.

    Each message is decided under both policies with `decide`: synced before and not now means
    remove; the reverse means restore. Messages are read once, in order.
    """
    if not isinstance(mailbox, Mailbox):
        raise wrong_type("reevaluate()", "mailbox", "a Mailbox", mailbox, ArgumentTypeError)
    for name, policy in (("old_policy", old_policy), ("new_policy", new_policy)):
        if not isinstance(policy, Policy):
            raise wrong_type("reevaluate()", name, "a Policy", policy, ArgumentTypeError)
    if not isinstance(messages, Iterable):
        raise wrong_type(
            "reevaluate()", "messages", "Messages or Events", messages, ArgumentTypeError
        )
    remove: list[Change[Mail]] = []
    restore: list[Change[Mail]] = []
    unchanged = 0
    for message in messages:
        if message.__class__ is not Message and message.__class__ is not Event:
            _check_arguments("reevaluate()", message, mailbox, plural=True)
        before = decide(message, mailbox, old_policy)
        after = decide(message, mailbox, new_policy)
        if before.synced == after.synced:
            unchanged += 1
        elif before.synced:
            remove.append(Change(message, before, after))
        else:
            restore.append(Change(message, before, after))
    return Reevaluation(tuple(remove), tuple(restore), unchanged)
