"""Threads: which conversation each message belongs to, read from its headers.

Invariants:
- Pure: values in, values out. A thread id depends only on the *set* of messages, never on
  their order: ``thr-`` and the smallest of the SHA-256 digests (16 hex digits) of the ids in
  the thread, counting the ids its messages cite that are not (yet) there.
- Two messages share a thread exactly when a chain of citations (``References``,
  ``In-Reply-To``, JWZ's id table) links them, or when the subject fallback links a reply that
  cites nothing to the message that started its conversation (see docs/threads.md).
- `Threader` answers exactly what `thread_ids` answers over its current messages, and every
  ``add`` and ``remove`` reports exactly the keys whose thread id changed.
- Reading headers and subjects never raises and takes time linear in their length; at most
  `MAX_CITED` ids of a message count. Nothing recurses: cycles and chains of any length finish.
- `thread_subject` reads ``Message.subject`` only: a withheld subject (None) never shows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from hashlib import sha256
from operator import attrgetter

from .errors import MailbindError
from .messages import Message, normalize_message_id

__all__ = [
    "FORWARD_PREFIXES",
    "MAX_CITED",
    "REPLY_PREFIXES",
    "ParsedSubject",
    "ThreadChange",
    "ThreadError",
    "Threader",
    "cited_ids",
    "parse_subject",
    "thread_ids",
    "thread_subject",
]

#: At most this many ids of one message are used: the first (the thread's start) and the last.
MAX_CITED = 100


class ThreadError(MailbindError, ValueError):
    """A value given to the threading functions has the wrong shape."""


# --- Cited ids -----------------------------------------------------------------------------

_BRACKETED = re.compile(r"<([^<>]*)>")


def _uncommented(value: str) -> str:
    """*value* without its (nested) comments and quoted strings; ``<...>`` is kept verbatim."""
    kept: list[str] = []
    depth, quoted, angle, escaped = 0, False, False, False
    for ch in value:
        if escaped:
            escaped = False
        elif angle:
            kept.append(ch)
            angle = ch != ">"
        elif ch == "\\" and (depth or quoted):
            escaped = True
        elif quoted:
            quoted = ch != '"'
        elif depth:
            depth += (ch == "(") - (ch == ")")
        elif ch == "(":
            depth = 1
        elif ch == '"':
            quoted = True
        else:
            kept.append(ch)
            angle = ch == "<"
    return "".join(kept)


def _ids(value: str | None) -> list[str]:
    """The message ids in a ``References`` or ``In-Reply-To`` value, in order; never raises.

    An id has an ``@`` and no white space, as every RFC 5322 id does: anything else (``<>``,
    ``<your message of Monday>``) is no id, so messages citing the same garbage do not merge.
    Without angle brackets the value counts only when every word of it has an ``@``.
    """
    if not value:
        return []
    if "(" in value or '"' in value:
        value = _uncommented(value)
    found = _BRACKETED.findall(value)
    if not found and "<" not in value and ">" not in value:
        words = value.replace(",", " ").split()
        found = words if all("@" in word for word in words) else []
    ids: list[str] = []
    for raw in found:
        mid = normalize_message_id(f"<{raw.strip()}>")
        if mid and "@" in mid and not any(ch.isspace() for ch in mid):
            ids.append(mid)
    return ids


def cited_ids(message: Message) -> tuple[str, ...]:
    """The ids *message* cites: ``References`` in order, then the first of ``In-Reply-To``.

    Each once, never the message's own id, at most `MAX_CITED` (the first and the last ones).

    >>> m = Message.build(sender="a@x.com", headers=[
    ...     ("References", "<1@x.com> <2@x.com>"), ("In-Reply-To", "<3@x.com> (Jane's)")])
    >>> cited_ids(m)
    ('1@x.com', '2@x.com', '3@x.com')
    """
    ids = _ids(message.header("References")) + _ids(message.header("In-Reply-To"))[:1]
    cited = [mid for mid in dict.fromkeys(ids) if mid != message.message_id]
    if len(cited) > MAX_CITED:
        cited = cited[:1] + cited[1 - MAX_CITED :]
    return tuple(cited)


# --- Subjects ------------------------------------------------------------------------------

#: Reply prefixes (case-insensitive): English, German, Scandinavian, Dutch, Italian,
#: Portuguese, Greek, Polish, Turkish, Chinese.
REPLY_PREFIXES = (
    "re", "aw", "antwort", "sv", "antw", "rif", "r", "res", "απ", "σχετ", "odp", "ynt",
    "回复", "答复", "回覆",
)  # fmt: skip
#: Forward prefixes. ``VS:`` is a forward in Danish and Norwegian (a reply in Finnish): as it
#: is ambiguous it counts as a forward, which never joins a thread by its subject.
FORWARD_PREFIXES = (
    "fwd", "fw", "wg", "tr", "enc", "doorst", "rv", "pd", "vs", "vb", "vl", "πρθ",
    "转发", "轉寄", "轉發",
)  # fmt: skip

_WORDS = "|".join(sorted(map(re.escape, REPLY_PREFIXES + FORWARD_PREFIXES), key=len)[::-1])
# Possessive quantifiers (``*+``): a blank run is never backtracked into, so a failed match
# costs time linear in the subject.
_PREFIX = re.compile(
    rf"\s*+(?:\[[^\[\]]{{0,60}}\]|({_WORDS})\s*+"
    r"(?:\[(\d{1,4})\]|\((\d{1,4})\)|\^(\d{1,4}))?\s*+[:：])",
    re.IGNORECASE,
)
_REPLIES = frozenset(REPLY_PREFIXES)


@dataclass(frozen=True, slots=True)
class ParsedSubject:
    """A subject split into its reply and forward prefixes and the text they precede."""

    #: The subject without prefixes, list tags and a ``(fwd)`` suffix; white space folded.
    text: str
    #: The text Unicode-NFKC-normalised and case-folded: what subjects are compared by.
    key: str
    #: How many replies the prefixes count (``Re: Re[3]:`` counts 4).
    replies: int = 0
    #: How many forwards they count.
    forwards: int = 0
    #: True when the first prefix is a reply prefix: the message answers another.
    reply: bool = False


def parse_subject(subject: str) -> ParsedSubject:
    """Split *subject* into its prefixes and its text.

    >>> parsed = parse_subject("[crm-list] RE: AW: Fwd: Re[2]:  Quarterly   numbers")
    >>> parsed.text, parsed.key, parsed.replies, parsed.forwards, parsed.reply
    ('Quarterly numbers', 'quarterly numbers', 4, 1, True)

    Raises `ThreadError` (a `ValueError`) when *subject* is not text.
    """
    if not isinstance(subject, str):
        raise ThreadError(f"subject must be text, not {type(subject).__name__}.")
    replies = forwards = pos = 0
    first: bool | None = None  # whether the first prefix is a reply prefix
    while (match := _PREFIX.match(subject, pos)) and match.end() > pos:
        pos = match.end()
        word, *counts = match.groups()
        if word is None:
            continue  # a [list-tag]
        count = int(next((c for c in counts if c is not None), "1"))
        is_reply = word.casefold() in _REPLIES
        first = is_reply if first is None else first
        if is_reply:
            replies += count
        else:
            forwards += count
    end = len(subject)
    while True:  # a trailing "(fwd)" or "(fw)", as old clients added, counts as a forward
        while end > pos and subject[end - 1].isspace():
            end -= 1
        tail = subject[max(pos, end - 5) : end].casefold()
        size = 5 if tail == "(fwd)" else 4 if tail.endswith("(fw)") else 0
        if not size:
            break
        end, forwards = end - size, forwards + 1
    text = " ".join(subject[pos:end].split())
    key = unicodedata.normalize("NFKC", text).casefold()
    return ParsedSubject(text, " ".join(key.split()), replies, forwards, first is True)


# --- What threading reads of a message ----------------------------------------------------

_STARTER, _REPLY = "starter", "reply"


@dataclass(frozen=True, slots=True)
class _Facts:
    key: str
    #: Its place in the id table: the Message-ID, or the key when there is none.
    node: str
    cited: tuple[str, ...]
    #: _STARTER or _REPLY for a message citing nothing with a readable subject; else None.
    kind: str | None
    subject: str
    sender: str | None
    parties: frozenset[str]
    sent: float | None


def _facts(message: object) -> _Facts:
    if not isinstance(message, Message):
        raise ThreadError(f"a message must be a Message, not {type(message).__name__}.")
    node = message.message_id or message.key
    cited = tuple(mid for mid in cited_ids(message) if mid != node)
    kind, subject = None, ""
    if not cited and message.subject is not None:
        parsed = parse_subject(message.subject)
        if parsed.key:
            kind, subject = (_REPLY if parsed.reply else _STARTER), parsed.key
    sender = message.sender
    return _Facts(
        key=message.key,
        node=node,
        cited=cited,
        kind=kind,
        subject=subject,
        sender=sender.address.key if sender is not None and sender.address is not None else None,
        parties=frozenset(p.address.key for p in message.participants if p.address is not None),
        sent=message.sent_at.timestamp() if message.sent_at is not None else None,
    )


def _answered(reply: _Facts, starters: Iterable[_Facts]) -> _Facts | None:
    """The starter a reply citing nothing answers, by the subject fallback; None for none.

    A candidate has the same subject key, was not sent after the reply (when both times are
    known), counts the reply's sender among its participants and one more of the reply's. The
    latest sent wins (a known time beats an unknown one), then the smallest key.
    """
    best: _Facts | None = None
    best_rank: tuple[bool, float, str] | None = None
    for s in starters:
        if reply.sender not in s.parties or len(reply.parties & s.parties) < 2:
            continue
        if s.sent is not None and reply.sent is not None and s.sent > reply.sent:
            continue
        rank = (s.sent is None, -(s.sent or 0.0), s.key)
        if best_rank is None or rank < best_rank:
            best, best_rank = s, rank
    return best


def _digest(node: str) -> str:
    """16 hex digits of the SHA-256 of *node*: a thread is named by its nodes' smallest."""
    return sha256(node.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# --- From scratch --------------------------------------------------------------------------


def thread_ids(messages: Iterable[Message]) -> dict[str, str]:
    """The thread id of every message, by key; independent of the order of *messages*.

    Raises `ThreadError` (a `ValueError`) for an item that is not a `Message`, or for two
    different messages with one key.
    """
    seen: dict[str, Message] = {}
    facts: dict[str, _Facts] = {}
    for message in messages:
        f = _facts(message)
        if seen.setdefault(f.key, message) != message:
            raise ThreadError(f"messages holds two different messages with the key {f.key!r}.")
        facts[f.key] = f
    return _thread_ids_of(facts)


def _thread_ids_of(facts: dict[str, _Facts]) -> dict[str, str]:
    """The thread id of every message whose facts are given, by key."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        parent.setdefault(node, node)
        while (up := parent[node]) != node:
            parent[node] = node = parent[up]  # path halving: no recursion
        return node

    starters: dict[str, list[_Facts]] = {}
    for f in facts.values():
        root = find(f.node)
        for mid in f.cited:
            parent[find(mid)] = root = find(root)
        if f.kind is _STARTER:
            starters.setdefault(f.subject, []).append(f)
    for f in facts.values():
        if f.kind is _REPLY and (s := _answered(f, starters.get(f.subject, ()))) is not None:
            parent[find(f.node)] = find(s.node)
    low: dict[str, str] = {}
    for node in list(parent):
        root, digest = find(node), _digest(node)
        if (least := low.get(root)) is None or digest < least:
            low[root] = digest
    return {key: "thr-" + low[find(f.node)] for key, f in facts.items()}


# --- Step by step --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThreadChange:
    """One message whose thread id changed: store its new one."""

    key: str
    #: Its thread id before, or None when it was not there.
    old: str | None
    #: Its thread id now, or None when it was removed.
    new: str | None


class _Part:
    """One thread: a connected set of nodes, their smallest digest and the thread id."""

    __slots__ = ("id", "low", "nodes")

    def __init__(self, nodes: set[str], low: str) -> None:
        self.nodes, self.low, self.id = nodes, low, "thr-" + low


class Threader:
    """The threads of one workspace, changed message by message.

    After any sequence of `add` and `remove`, `thread_ids` equals the function `thread_ids`
    over the current messages. Adding costs about the size of the smaller of the threads it
    joins; removing, about the size of its thread.
    """

    def __init__(self, messages: Iterable[Message] = ()) -> None:
        self._facts: dict[str, _Facts] = {}
        self._uses: dict[str, int] = {}  # node -> the messages and links naming it
        self._links: dict[str, dict[str, int]] = {}  # node -> linked node -> how many links
        self._part: dict[str, _Part] = {}
        self._digests: dict[str, str] = {}
        self._holders: dict[str, set[str]] = {}  # node -> keys of the messages at it
        self._starters: dict[str, dict[str, _Facts]] = {}  # subject key -> key -> facts
        self._replies: dict[str, dict[str, _Facts]] = {}
        self._answered: dict[str, _Facts] = {}  # reply key -> the starter it joined
        self._old: dict[str, str | None] = {}
        for message in messages:
            self.add(message)

    def __len__(self) -> int:
        return len(self._facts)

    def __contains__(self, key: object) -> bool:
        return key in self._facts

    def thread_id(self, key: str) -> str | None:
        """The thread id of the message with *key*, or None when there is none."""
        f = self._facts.get(key)
        return self._part[f.node].id if f is not None else None

    def thread_ids(self) -> dict[str, str]:
        """The thread id of every message, by key."""
        return {key: self._part[f.node].id for key, f in self._facts.items()}

    def add(self, message: Message) -> tuple[ThreadChange, ...]:
        """Add *message* (replacing the one with its key) and report what changed, by key.

        Raises `ThreadError` (a `ValueError`) when *message* is not a `Message`.
        """
        f = _facts(message)
        if f.key in self._facts:
            self._drop(f.key)
        self._old.setdefault(f.key, None)
        self._put(f)
        return self._changes()

    def remove(self, key: str) -> tuple[ThreadChange, ...]:
        """Remove the message with *key* and report what changed, by key.

        Raises `ThreadError` (a `ValueError`) when no message has *key*.
        """
        if key not in self._facts:
            raise ThreadError(f"key must be the key of a message here, not {key!r}.")
        self._drop(key)
        return self._changes()

    # --- Messages ---------------------------------------------------------------------------

    def _put(self, f: _Facts) -> None:
        self._facts[f.key] = f
        self._hold(f.node)
        self._holders.setdefault(f.node, set()).add(f.key)
        for mid in f.cited:
            self._link(f.node, mid)
        if f.kind is _REPLY:
            self._replies.setdefault(f.subject, {})[f.key] = f
            self._rejoin(f)
        elif f.kind is _STARTER:
            self._starters.setdefault(f.subject, {})[f.key] = f
            for reply in list(self._replies.get(f.subject, {}).values()):
                self._rejoin(reply)

    def _drop(self, key: str) -> None:
        f = self._facts.pop(key)
        self._old.setdefault(key, self._part[f.node].id)
        if f.kind is _REPLY:
            del self._replies[f.subject][key]
            if (starter := self._answered.pop(key, None)) is not None:
                self._unlink(f.node, starter.node)
        elif f.kind is _STARTER:
            del self._starters[f.subject][key]
            for reply in list(self._replies.get(f.subject, {}).values()):
                self._rejoin(reply)
        for mid in f.cited:
            self._unlink(f.node, mid)
        self._holders[f.node].discard(key)
        self._release(f.node)

    def _rejoin(self, reply: _Facts) -> None:
        """Link *reply* to the starter the subject fallback now gives it."""
        new = _answered(reply, self._starters.get(reply.subject, {}).values())
        old = self._answered.get(reply.key)
        if new is old:
            return
        if old is not None:
            del self._answered[reply.key]
            self._unlink(reply.node, old.node)
        if new is not None:
            self._answered[reply.key] = new
            self._link(reply.node, new.node)

    def _changes(self) -> tuple[ThreadChange, ...]:
        changes = [
            ThreadChange(key, old, new)
            for key, old in self._old.items()
            if (new := self.thread_id(key)) != old
        ]
        self._old = {}
        return tuple(sorted(changes, key=attrgetter("key")))

    # --- Nodes and links --------------------------------------------------------------------

    def _note(self, nodes: Iterable[str], thread: str) -> None:
        """Remember *thread* as the id of the messages at *nodes*, before it changes."""
        for node in nodes:
            for key in self._holders.get(node, ()):
                self._old.setdefault(key, thread)

    def _hold(self, node: str) -> None:
        if node in self._uses:
            self._uses[node] += 1
        else:
            self._uses[node], self._links[node] = 1, {}
            self._digests[node] = digest = _digest(node)
            self._part[node] = _Part({node}, digest)

    def _release(self, node: str) -> None:
        self._uses[node] -= 1
        if not self._uses[node]:  # nothing names it, so nothing links it: a part of its own
            del self._uses[node], self._links[node], self._part[node], self._digests[node]
            self._holders.pop(node, None)

    def _link(self, a: str, b: str) -> None:
        if a == b:
            return
        self._hold(a)
        self._hold(b)
        self._links[a][b] = self._links[a].get(b, 0) + 1
        self._links[b][a] = self._links[b].get(a, 0) + 1
        p, q = self._part[a], self._part[b]
        if p is q:
            return
        big, small = (p, q) if len(p.nodes) >= len(q.nodes) else (q, p)
        low = min(p.low, q.low)
        for part in (big, small):
            if part.low != low:
                self._note(part.nodes, part.id)
        for node in small.nodes:
            self._part[node] = big
        big.nodes |= small.nodes
        big.low, big.id = low, "thr-" + low

    def _unlink(self, a: str, b: str) -> None:
        if a == b:
            return
        for x, y in ((a, b), (b, a)):
            self._links[x][y] -= 1
            if not self._links[x][y]:
                del self._links[x][y]
        if b not in self._links[a]:
            self._split(a, b)
        self._release(a)
        self._release(b)

    def _split(self, a: str, b: str) -> None:
        """Split the part of *a* in two when *a* no longer reaches *b*."""
        seen, todo = {a}, [a]
        while todo:
            for node in self._links[todo.pop()]:
                if node == b:
                    return
                if node not in seen:
                    seen.add(node)
                    todo.append(node)
        part = self._part[a]
        rest = part.nodes - seen
        # The side holding the smallest digest keeps the thread id; the other gets a new one.
        if any(self._digests[node] == part.low for node in seen):
            keep, moved = seen, rest
        else:
            keep, moved = rest, seen
        self._note(moved, part.id)
        part.nodes = keep
        new = _Part(moved, min(self._digests[node] for node in moved))
        for node in moved:
            self._part[node] = new


def thread_subject(messages: Iterable[Message]) -> str | None:
    """The subject to show for a thread, from the messages of it a viewer sees.

    The first sent message whose subject the viewer may read gives it, without prefixes (a
    blank one only when no other is readable); None when every subject is withheld. A
    withheld subject is None, so none of its text can show.

    Raises `ThreadError` (a `ValueError`) for an item that is not a `Message`.
    """
    best: str | None = None
    best_rank: tuple[bool, bool, float, str] | None = None
    for message in messages:
        if not isinstance(message, Message):
            raise ThreadError(f"a message must be a Message, not {type(message).__name__}.")
        if message.subject is None:
            continue
        text = parse_subject(message.subject).text
        sent = message.sent_at
        rank = (not text, sent is None, sent.timestamp() if sent else 0.0, message.key)
        if best_rank is None or rank < best_rank:
            best, best_rank = text, rank
    return best
