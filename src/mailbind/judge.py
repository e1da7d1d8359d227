"""The judge: the one object that remembers what the rules need while deciding for a mailbox.

Invariants:
- A `Judge` answers exactly as the rules read plainly: ``Judge(policy, mailbox).decide(m)`` is
  ``decide(m, mailbox, policy)``, however many messages it has judged before and in whatever
  order (property tests hold the two equal). What it remembers only saves recomputing.
- Everything the rules remember lives here, and nowhere else: `Policy`, `Mailbox`,
  `Participant`, `Address` and `Message` are plain values. A judge holds, for its policy,
  the facts of each address by identity key, what each participant adds to a message's
  verdict and what each block of headers says, by the block (all bounded: past their size
  they start afresh), and, for its mailbox, the owner's keys and the decisions already made
  (at most 2**21, one per bit pattern).
- A participant's mark is found by the participant's identity (`id`), and the tables hold
  every participant they keep a mark for, so that no other object can take that identity
  while the entry lives. Participants are shared: `Message.build` and `Message.from_bytes`
  hand out the same tuple of them for a header value seen before, so one mark serves every
  message that names them.
- A mark is the participant's bits themselves (one shared `int`), the same for every judge
  of the policy, unless the participant's address is one of the own addresses (owner or
  alias) of a mailbox whose judge shares the tables: only such a mark is a tuple that the
  judge compares with its own keys. A judge that brings own addresses the tables have not
  seen starts their marks afresh.
- The rules' public functions (`mailbind.rules.decide` and its kin) take their judges from
  `judge_for`, the one table of judges, bounded (`JUDGES` judges, `POLICIES` policies) and
  keyed by the identity of the policy and the mailbox; judges of one policy share that
  policy's tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._kinds import _EXCLUDING, Direction, Flag, Reason, Role, SharingLevel
from .addresses import Address, Participant, recover_addresses
from .automated import (
    AUTO_RESPONSE_SUPPRESS,
    AUTO_SUBMITTED,
    BOUNCE_PATH,
    BULK_MAILER,
    ERRORS_TO,
    ESP_DOMAIN,
    FEEDBACK_ID,
    LIST_ADDRESS,
    SIGNAL_HEADERS,
    header_signal,
    is_esp_domain,
    is_list_address,
    strip_comments,
)
from .errors import ArgumentTypeError, wrong_type
from .events import Event
from .messages import Message
from .policy import Mailbox, Policy
from .providers import is_free_provider, is_impersonal

__all__ = ["Decision", "Judge"]

#: Most addresses whose facts one policy's tables remember; past it they start afresh.
FACTS_CACHE_SIZE = 1 << 17
#: Most header blocks whose signals one policy's tables remember; past it they start afresh.
#: Only short blocks are remembered, as records built from plain values carry them (a list's
#: markers, a Thread-Topic): at most `_BLOCK_PAIRS` headers of `_BLOCK_CHARACTERS` characters
#: in all, so the table holds about 10 MB at most for ASCII text (four times that for text
#: beyond Latin-1). The long blocks of mail read from bytes
#: (Received lines, ...) are read each time, as hashing them would cost what reading does.
HEADERS_CACHE_SIZE = 1 << 13
_BLOCK_PAIRS = 4
_BLOCK_CHARACTERS = 1024
#: Most participants whose marks one policy's tables remember; past it they start afresh.
#: Each entry holds its participant (a few hundred bytes with its texts; the address is
#: shared): at most about 20 MB a policy.
MARKS_CACHE_SIZE = 1 << 16
#: Most own addresses (owners' and aliases' keys) of the mailboxes whose judges share one
#: policy's tables; a judge whose mailbox would bring more gets tables of its own.
OWN_KEYS = 1 << 14
#: Most judges `judge_for` keeps; past it the table starts afresh. A process deciding for
#: more mailboxes than this at once should hold its own judges.
JUDGES = 256
#: Most policies whose tables `judge_for` keeps (each up to the two sizes above); past it the
#: table of judges starts afresh. A process holds one policy, or two while one replaces the
#: other (`reevaluate`): the tables of policies no one uses any more are soon dropped.
POLICIES = 8


# --- Reading the headers the rules read -----------------------------------------------------

#: Longest part of a header value read for its token: a bulk marker is one short word.
_MAX_TOKEN_TEXT = 998

_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
_LABEL_FLAGS = {"draft": Flag.DRAFT, "spam": Flag.SPAM, "trash": Flag.TRASH, "sent": Flag.SENT}
#: The headers the rules read (lower-case): bulk markers, labels, automated-sender signals.
_RULE_HEADERS = frozenset({"list-id", "list-unsubscribe", "precedence", "x-gmail-labels"}) | (
    SIGNAL_HEADERS
)


def _token(value: str) -> str:
    """The first token of a structured header value: comments, parameters and quotes gone."""
    text = strip_comments(value[:_MAX_TOKEN_TEXT]).split(";", 1)[0]
    return text.strip().strip('"').strip().lower()


def _bulk_header(name: str, value: str) -> bool:
    """True when the header *name* (lower-case) with *value* marks bulk mail."""
    if name == "list-id" or name == "list-unsubscribe":
        return bool(value.strip())
    if name == "precedence":
        return _token(value) in _BULK_PRECEDENCE
    return False


def _label_flags(value: str) -> frozenset[Flag]:
    """The flags named by a Google Takeout ``X-Gmail-Labels`` value (``Inbox,Spam``)."""
    flags = (_LABEL_FLAGS.get(label.strip().strip('"').lower()) for label in value.split(","))
    return frozenset(flag for flag in flags if flag is not None)


def header_facts(message: Message | Event) -> tuple[bool, frozenset[Flag]]:
    """One pass over the headers: whether they mark bulk mail (RULES 2.4), and the flags."""
    bits, flags = header_bits(message)
    return bool(bits & (BULK | AUTO_SUBMITTED)), flags


def header_bits(message: Message | Event) -> tuple[int, frozenset[Flag]]:
    """One pass over the headers: the bits of their bulk and automated-sender signals
    (`BULK` and those of `mailbind.automated`), and the message's flags."""
    bits, labels = _header_scan(message.headers)
    return bits, message.flags | labels if labels else message.flags


def _header_scan(headers: tuple[tuple[str, str], ...]) -> tuple[int, frozenset[Flag]]:
    """What a block of headers says by itself: their signal bits (as `header_bits`), and the
    flags their Takeout labels name."""
    bits = 0
    labels = _NO_FLAGS
    for name, value in headers:
        lower = name.lower()
        if lower not in _RULE_HEADERS:
            continue
        if lower == "x-gmail-labels":
            labels = labels | _label_flags(value)
        elif lower in SIGNAL_HEADERS:
            bits |= header_signal(lower, value)
        elif not bits & BULK and _bulk_header(lower, value):
            bits |= BULK
    return bits, labels


_NO_FLAGS: frozenset[Flag] = frozenset()


# --- What one pass over a message finds, as bits --------------------------------------------
# `Judge._bits` reads a message once and answers with bits saying what it found; `_decision`
# turns the bits into a `Decision`. `decide` and the predicates read the same bits, so no rule
# is written twice.

OUTGOING = 1 << 0  # a From address is the owner's or an alias, or the source says "sent"
PRESENT = 1 << 1  # at least one From, To, Cc or Bcc entry
EXTERNAL = 1 << 2  # a readable From/To/Cc/Bcc participant not a colleague nor the mailbox's
UNREADABLE = 1 << 3  # an unreadable From/To/Cc/Bcc entry
BLOCKED = 1 << 4  # a blocked participant in any role, not one of the owner's addresses
IMPERSONAL = 1 << 5  # a readable From address that is impersonal
OWNER_FREE = 1 << 6  # the owner's address is on a free provider
BULK = 1 << 7  # bulk headers
DRAFT = 1 << 8
SPAM = 1 << 9
TRASH = 1 << 10
SYNC_INTERNAL = 1 << 11  # the policy's switches, so that bits and switches make one key
EXCLUDE_GROUP = 1 << 12
# Bits 13 to 20: the automated-sender signals of `mailbind.automated`, one reason each.
_SIGNAL_REASONS = (
    (AUTO_SUBMITTED, Reason.AUTO_SUBMITTED),
    (BOUNCE_PATH, Reason.BOUNCE_RETURN_PATH),
    (ERRORS_TO, Reason.ERRORS_TO),
    (LIST_ADDRESS, Reason.LIST_ADDRESS),
    (BULK_MAILER, Reason.BULK_MAILER),
    (FEEDBACK_ID, Reason.FEEDBACK_ID),
    (AUTO_RESPONSE_SUPPRESS, Reason.AUTO_RESPONSE_SUPPRESS),
    (ESP_DOMAIN, Reason.ESP_SENDER_DOMAIN),
)

_FROM, _SENDER, _REPLY_TO = Role.FROM, Role.SENDER, Role.REPLY_TO
_FLAG_BITS = ((Flag.DRAFT, DRAFT), (Flag.SPAM, SPAM), (Flag.TRASH, TRASH))


def is_internal_bits(bits: int) -> bool:
    """True when the bits say every From/To/Cc/Bcc participant is a colleague (RULES 3.2)."""
    return bits & (PRESENT | EXTERNAL | UNREADABLE | OWNER_FREE) == PRESENT


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a message syncs into one mailbox, and every reason why."""

    synced: bool
    reasons: tuple[Reason, ...]
    direction: Direction
    #: What others may read of the message in this mailbox.
    level: SharingLevel


def _reasons(key: int) -> tuple[Reason, ...]:
    """The reasons, in the order of `Reason`, for what a judge's bits found and the switches."""
    internal = is_internal_bits(key)
    group_rule = bool(key & EXCLUDE_GROUP) and not key & OUTGOING
    sync_internal = bool(key & SYNC_INTERNAL)
    applies = {
        Reason.INTERNAL: internal and not sync_internal,
        Reason.BLOCKLISTED: bool(key & BLOCKED),
        Reason.GROUP_SENDER: group_rule and bool(key & IMPERSONAL),
        Reason.BULK: group_rule and bool(key & BULK),
        Reason.DRAFT: bool(key & DRAFT),
        Reason.SPAM: bool(key & SPAM),
        Reason.TRASH: bool(key & TRASH),
        Reason.EXTERNAL: bool(key & EXTERNAL),
        Reason.INTERNAL_ALLOWED: internal and sync_internal,
        Reason.OWNER_ON_FREE_PROVIDER: bool(key & OWNER_FREE),
        Reason.UNREADABLE_PARTICIPANT: bool(key & UNREADABLE),
        Reason.NO_PARTICIPANTS: not key & PRESENT,
    }
    if group_rule:
        for bit, reason in _SIGNAL_REASONS:
            if key & bit:
                applies[reason] = True
    return tuple(reason for reason in Reason if applies.get(reason, False))


def _decision(key: int, level: SharingLevel) -> Decision:
    """The decision for what a judge's bits found, at the level of the message's direction."""
    reasons = _reasons(key)
    return Decision(
        synced=not any(reason in _EXCLUDING for reason in reasons),
        reasons=reasons,
        direction=Direction.OUTGOING if key & OUTGOING else Direction.INCOMING,
        level=level,
    )


#: What the policy says of one address: (comparison key, colleague, blocked, impersonal,
#: free provider).
Facts = tuple[str, bool, bool, bool, bool]
#: What one participant adds to a message's bits under one policy when its address is a
#: mailbox's own: (the comparison key, bits it adds when that key is not the judge's mailbox's,
#: bits it adds when it is, bits of EXTERNAL among them that the mailbox's own addresses keep
#: only when the owner is no colleague).
_OwnMark = tuple[str, int, int, int]
#: A participant's mark: its bits, whatever the mailbox, or an `_OwnMark`.
_Mark = int | _OwnMark


def _sender_signals(address: Address) -> int:
    """The automated-sender bits a From or Sender address carries by itself."""
    bits = LIST_ADDRESS if is_list_address(address.local.lower()) else 0
    if is_esp_domain(address.ascii_domain):
        bits |= ESP_DOMAIN
    return bits


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


class _PolicyTables:
    """What one policy says of addresses and participants, computed once each (bounded)."""

    __slots__ = (
        "_bits",
        "_blocked_domains",
        "_external_keys",
        "_held",
        "_member_keys",
        "facts",
        "headers",
        "marks",
        "own_keys",
        "policy",
    )

    def __init__(self, policy: Policy) -> None:
        canon = policy.canonicalization
        self.policy = policy
        self._member_keys = frozenset(canon.key(a) for a in policy.members)
        self._external_keys = frozenset(canon.key(a) for a in policy.externals)
        #: The blocked domains (ASCII, without ``@``).
        self._blocked_domains = frozenset(e[1:] for e in policy.blocklist if e.startswith("@"))
        #: Facts by identity key.
        self.facts: dict[str, Facts] = {}
        #: What each block of headers says (`_header_scan`), by the block: mail from one
        #: sender, a list or an autoresponder repeats its headers.
        self.headers: dict[tuple[tuple[str, str], ...], tuple[int, frozenset[Flag]]] = {}
        #: Marks by participant identity.
        self.marks: dict[int, _Mark] = {}
        #: The participants `marks` holds marks for, so that none of their identities is reused.
        self._held: list[Participant] = []
        #: The own addresses' keys of every mailbox whose judge shares these tables.
        self.own_keys: frozenset[str] = frozenset()
        #: One `int` for each pattern of bits a mark is, so that marks share them.
        self._bits: dict[int, int] = {}

    def admit(self, own: frozenset[str]) -> bool:
        """Take a judge whose mailbox's own keys are *own*; False when it must have its own.

        New own keys start the marks afresh: a participant with one of them is no longer
        the same for every judge. Past `OWN_KEYS` keys the tables admit no new ones.
        """
        if own <= self.own_keys:
            return True
        if len(self.own_keys) + len(own) > OWN_KEYS:
            return False
        self.own_keys |= own
        self.marks.clear()
        self._held.clear()
        return True

    def facts_of(self, address: Address) -> Facts:
        """What the policy says of *address*."""
        found = self.facts.get(address.key)
        if found is None:
            policy = self.policy
            key = policy.canonicalization.key(address)
            colleague = key not in self._external_keys and (
                key in self._member_keys or address.registrable in policy.org_domains
            )
            blocked = key in policy.blocklist or _domain_blocked(key, self._blocked_domains)
            found = (
                key,
                colleague,
                blocked,
                is_impersonal(address, policy.role_addresses),
                is_free_provider(address, policy.free_providers),
            )
            if len(self.facts) >= FACTS_CACHE_SIZE:
                self.facts.clear()
            self.facts[address.key] = found
        return found

    def headers_of(self, headers: tuple[tuple[str, str], ...]) -> tuple[int, frozenset[Flag]]:
        """What the short block *headers* (hashable) says (`_header_scan`), remembered by it
        when it holds at most `_BLOCK_CHARACTERS` characters."""
        found = _header_scan(headers)
        size = 0
        for name, value in headers:
            if name.__class__ is not str or value.__class__ is not str:
                return found  # made by hand: not remembered
            size += len(name) + len(value)
        if size <= _BLOCK_CHARACTERS:
            memo = self.headers
            if len(memo) >= HEADERS_CACHE_SIZE:
                memo.clear()
            memo[headers] = found
        return found

    def _recovered_blocked(self, participant: Participant) -> str | None:
        """The comparison key of a blocked address an unreadable entry still names, or None."""
        for address in recover_addresses(participant.raw):
            key, _, blocked, _, _ = self.facts_of(address)
            if blocked:
                return key
        return None

    def mark_of(self, participant: Participant) -> _Mark:
        """What *participant* adds to a message's bits, remembered by its identity.

        Only a From address (outgoing or impersonal), a blocked address (never the owner's)
        and an address outside the organisation (an alias there is the owner) depend on the
        mailbox, and only when the address is a mailbox's own: `_keep` makes those a tuple.
        """
        address = participant.address
        role = participant.role
        other = role is _SENDER or role is _REPLY_TO
        if address is None:
            # Unreadable, but a blocked address it still names must not pass that way.
            blocked_key = self._recovered_blocked(participant)
            return self._keep(
                participant,
                0 if other else PRESENT | UNREADABLE,
                blocked_key,
                0 if blocked_key is None else BLOCKED,
                0,
            )
        key, colleague, blocked, impersonal, _ = self.facts_of(address)
        blocked_bit = BLOCKED if blocked else 0
        if role is _FROM or role is _SENDER:
            blocked_bit |= _sender_signals(address)
        if other:
            return self._keep(participant, 0, key if blocked_bit else None, blocked_bit, 0)
        # The mailbox's own addresses count as colleagues wherever they are (an alias on a
        # domain outside the organisation is the owner): EXTERNAL then depends on the
        # mailbox, like BLOCKED.
        external = 0 if colleague else EXTERNAL
        if role is _FROM:
            impersonal_bit = IMPERSONAL if impersonal else 0
            return self._keep(
                participant, PRESENT, key, blocked_bit | impersonal_bit | external, OUTGOING
            )
        keyed = blocked or not colleague
        return self._keep(participant, PRESENT, key if keyed else None, blocked_bit | external, 0)

    def _keep(
        self, participant: Participant, always: int, key: str | None, other: int, own: int
    ) -> _Mark:
        """Remember the mark of *participant*: the bits it *always* adds, and, when *key* (its
        comparison key) is not None, the bits it adds when the key is not the judge's mailbox's
        (*other*) or is (*own*, with EXTERNAL of *other* when the owner is no colleague)."""
        mark: _Mark
        if key is None or key not in self.own_keys:
            bits = always | other
            mark = self._bits.setdefault(bits, bits)
        else:
            mark = (key, always | other, always | own, other & EXTERNAL)
        marks = self.marks
        if len(marks) >= MARKS_CACHE_SIZE:
            marks.clear()
            self._held.clear()
        marks[id(participant)] = mark
        self._held.append(participant)
        return mark


class Judge:
    """Decides for one mailbox under one policy, remembering what it worked out.

    ``Judge(policy, mailbox).decide(message)`` is ``decide(message, mailbox, policy)``; a
    caller that decides many messages for one mailbox may hold a judge and spare the rules'
    table of judges one look-up a message. A judge is not safe to share between threads that
    decide at the same time (its tables are plain dicts); it never changes its policy or
    mailbox, and holds only what they determine.
    """

    __slots__ = (
        "_base",
        "_decisions",
        "_headers",
        "_levels",
        "_marks",
        "_own",
        "_own_external",
        "_tables",
        "mailbox",
        "policy",
    )

    policy: Policy
    mailbox: Mailbox

    def __init__(self, policy: Policy, mailbox: Mailbox) -> None:
        if not isinstance(policy, Policy):
            raise wrong_type("Judge()", "policy", "a Policy", policy, ArgumentTypeError)
        if not isinstance(mailbox, Mailbox):
            raise wrong_type("Judge()", "mailbox", "a Mailbox", mailbox, ArgumentTypeError)
        self._setup(policy, mailbox, _PolicyTables(policy))

    def _setup(self, policy: Policy, mailbox: Mailbox, tables: _PolicyTables) -> None:
        self.policy = policy
        self.mailbox = mailbox
        #: The owner's and aliases' keys, under the policy's canonicalisation.
        self._own = own = mailbox.keys_under(policy.canonicalization)
        if not tables.admit(own):
            tables = _PolicyTables(policy)
            tables.admit(own)
        self._tables = tables
        self._marks = tables.marks
        self._headers = tables.headers
        owner_facts = tables.facts_of(mailbox.owner)
        #: What the mailbox's own addresses keep of EXTERNAL: nothing when the owner is a
        #: colleague (each alias is the owner, wherever its domain), else EXTERNAL.
        self._own_external = 0 if owner_facts[1] else EXTERNAL
        base = OWNER_FREE if owner_facts[4] else 0
        if policy.sync_internal:
            base |= SYNC_INTERNAL
        if policy.exclude_group_emails:
            base |= EXCLUDE_GROUP
        #: The bits every message starts with: the owner's provider and the policy's switches.
        self._base = base
        #: The level of mail in each direction, by the OUTGOING bit.
        self._levels = (mailbox.incoming, mailbox.outgoing)
        #: Decisions by bits.
        self._decisions: dict[int, Decision] = {}

    def for_mailbox(self, mailbox: Mailbox) -> Judge:
        """A judge for *mailbox* under the same policy, sharing what this one knows of it."""
        judge = Judge.__new__(Judge)
        judge._setup(self.policy, mailbox, self._tables)
        return judge

    def __repr__(self) -> str:
        return f"Judge(policy=..., mailbox={self.mailbox.id!r})"

    def bits(self, message: Message | Event) -> int:
        """What one pass over the message's participants, headers and flags found."""
        bits = self._base
        flags = message.flags
        headers = message.headers
        if headers:
            known: tuple[int, frozenset[Flag]] | None
            if len(headers) > _BLOCK_PAIRS:
                known = _header_scan(headers)
            else:
                try:
                    known = self._headers.get(headers)
                except TypeError:  # a block holding something unhashable, made by hand
                    known = _header_scan(headers)
            found, labels = known if known is not None else self._tables.headers_of(headers)
            bits |= found
            if labels:
                flags = flags | labels
        if flags:
            if Flag.SENT in flags:
                bits |= OUTGOING
            for flag, bit in _FLAG_BITS:
                if flag in flags:
                    bits |= bit
        marks = self._marks
        for participant in message.participants:
            try:
                mark = marks[id(participant)]
            except KeyError:
                mark = self._tables.mark_of(participant)
            if mark.__class__ is int:
                bits |= mark  # the common case: no own address
            elif mark[0] in self._own:  # type: ignore[index]
                bits |= mark[2] | (mark[3] & self._own_external)  # type: ignore[index]
            else:
                bits |= mark[1]  # type: ignore[index]
        return bits

    def decide(self, message: Message | Event) -> Decision:
        """Whether *message* syncs into the mailbox under the policy, with every reason."""
        try:
            bits = self.bits(message)
        except (AttributeError, TypeError):
            _check_message("Judge.decide()", message)
            raise
        decision = self._decisions.get(bits)
        return decision if decision is not None else self._new_decision(bits)

    def _new_decision(self, bits: int) -> Decision:
        decision = self._decisions[bits] = _decision(bits, self._levels[bits & OUTGOING])
        return decision

    def is_internal(self, message: Message | Event) -> bool:
        """True when every From, To, Cc and Bcc participant is a colleague (RULES 3.2)."""
        try:
            return is_internal_bits(self.bits(message))
        except (AttributeError, TypeError):
            _check_message("Judge.is_internal()", message)
            raise

    def direction(self, message: Message | Event) -> Direction:
        """OUTGOING when the owner sent the message, INCOMING otherwise (RULES 3.1)."""
        try:
            return Direction.OUTGOING if self.bits(message) & OUTGOING else Direction.INCOMING
        except (AttributeError, TypeError):
            _check_message("Judge.direction()", message)
            raise

    def level(self, message: Message | Event) -> SharingLevel:
        """What other users may read of *message* in the mailbox (its direction's level)."""
        try:
            return self._levels[self.bits(message) & OUTGOING]
        except (AttributeError, TypeError):
            _check_message("Judge.level()", message)
            raise

    def facts(self, address: Address) -> Facts:
        """What the policy says of *address*: (key, colleague, blocked, impersonal, free)."""
        return self._tables.facts_of(address)


def _check_message(call: str, message: object) -> None:
    """Raise `ArgumentTypeError` when *message*, given to *call*, is no Message or Event."""
    if not isinstance(message, Message | Event):
        raise wrong_type(call, "message", "a Message or an Event", message, ArgumentTypeError)


# --- The rules' table of judges -------------------------------------------------------------

#: Judges by (id(policy), id(mailbox)); each holds its policy and mailbox, so no other object
#: takes either identity while it is here.
_JUDGES: dict[tuple[int, int], Judge] = {}
#: The judge last asked for each mailbox, by id(mailbox): one look-up with no key to build,
#: for a caller that decides many messages of one mailbox under one policy.
_LAST: dict[int, Judge] = {}
#: The tables of each policy in `_JUDGES`, by id(policy) (they hold the policy): the judges of
#: one policy share them.
_TABLES: dict[int, _PolicyTables] = {}


def decide_with_judge(message: Message | Event, mailbox: Mailbox, policy: Policy) -> Decision:
    """`Judge.decide` with the judge `judge_for` gives, in one call: the hot path of
    `mailbind.rules.decide`. Raises `AttributeError` or `TypeError` for arguments of the wrong
    type (the caller names them)."""
    judge = _LAST.get(id(mailbox))
    if judge is None or judge.policy is not policy:
        judge = judge_for(policy, mailbox)
    bits = judge.bits(message)
    decision = judge._decisions.get(bits)
    return decision if decision is not None else judge._new_decision(bits)


def judge_for(policy: Policy, mailbox: Mailbox) -> Judge:
    """The judge the rules' public functions use for *policy* and *mailbox*.

    Bounded (`JUDGES`): past its size the table starts afresh, dropping every judge.
    """
    judge = _LAST.get(id(mailbox))
    if judge is None or judge.policy is not policy:
        judge = _JUDGES.get((id(policy), id(mailbox)))
        if judge is None:
            if len(_JUDGES) >= JUDGES:
                _forget()
            judge = Judge.__new__(Judge)
            judge._setup(policy, mailbox, tables_for(policy))
            _JUDGES[id(policy), id(mailbox)] = judge
        _LAST[id(mailbox)] = judge
    return judge


def tables_for(policy: Policy) -> _PolicyTables:
    """What the rules know of *policy*, shared by its judges in `judge_for`."""
    tables = _TABLES.get(id(policy))
    if tables is None:
        if len(_TABLES) >= POLICIES:
            _forget()
        tables = _TABLES[id(policy)] = _PolicyTables(policy)
    return tables


def _forget() -> None:
    """Start the table of judges afresh."""
    _JUDGES.clear()
    _LAST.clear()
    _TABLES.clear()
