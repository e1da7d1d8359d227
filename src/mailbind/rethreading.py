"""Threads as a store keeps them: what each stored message tells threading, and how a change
of the stored messages changes their thread ids. Pure: values in, values out.

A store keeps, per workspace and message, its thread id and its `ThreadFacts` (as the text
`encode_facts` gives), and can find the messages that touch an id (their own node or an id
they cite) and the messages whose subject takes part in the subject fallback. When a batch
stores new messages or lets messages go, the store asks `thread_query` what the change reaches,
reads every stored message of the threads it reaches (the *context*), and `rethread` answers
the new thread id of every message whose id changed.

Invariants:
- ``rethread(context, added, removed)`` equals `mailbind.threads.thread_ids` over every stored
  message after the change, for every message it names, as long as *context* holds every
  stored message of every thread the query reaches: a thread not reached shares no id and no
  subject-fallback candidate with what changed, so its ids stay right. So a store that keeps
  ids this way holds, after any sequence of batches in any order, the ids a threading of all
  its messages from scratch gives (docs/threads.md, "Threads in a store").
- `decode_facts` reads back exactly what `encode_facts` wrote, except that a message taking no
  part in the subject fallback (one that cites an id, or has no readable subject) keeps no
  sender and no participants: threading never reads them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .messages import Message
from .threads import _REPLY, _STARTER, ThreadError, _thread_ids_of
from .threads import _Facts as ThreadFacts
from .threads import _facts as _message_facts

__all__ = [
    "Beside",
    "ThreadFacts",
    "ThreadQuery",
    "decode_facts",
    "encode_facts",
    "rethread",
    "thread_facts",
    "thread_query",
]


def thread_facts(message: Message) -> ThreadFacts:
    """What threading reads of *message*: its node, the ids it cites, its subject fallback.

    Raises `ThreadError` (a `ValueError`) when *message* is not a `Message`.
    """
    return _message_facts(message)


#: What a store keeps of a message beside its facts: the node (its Message-ID, or its key when
#: it has none), the subject it takes part in the subject fallback with, and its time.
Beside = tuple[str | None, str | None, float | None]


def encode_facts(facts: ThreadFacts, beside: Beside | None = None) -> str:
    """*facts* as compact JSON text, without the key (a store keeps it beside).

    With *beside* (what the store keeps in the message's own columns), the node, subject and
    time equal to theirs are written as ``false``; `decode_facts` given the same *beside*
    reads them back.
    """
    node: object = facts.node
    subject: object = facts.subject
    sent: object = facts.sent
    if beside is not None:
        node = False if node == beside[0] else node
        subject = False if subject == beside[1] else subject
        sent = False if sent == beside[2] and beside[2] is not None else sent
    return json.dumps(
        [
            node,
            list(facts.cited),
            facts.kind,
            subject,
            facts.sender if facts.kind is not None else None,
            sorted(facts.parties) if facts.kind is not None else [],
            sent,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode_facts(key: str, text: str, beside: Beside | None = None) -> ThreadFacts:
    """The facts of the message with *key* that `encode_facts` wrote as *text* (with the same
    *beside*, when it was given one).

    Raises `ThreadError` when *text* is not such text.
    """
    try:
        node, cited, kind, subject, sender, parties, sent = json.loads(text)
    except (ValueError, TypeError) as err:
        raise ThreadError(f"text must be facts written by encode_facts, not {text!r}.") from err
    if node is False or subject is False or sent is False:
        if beside is None:
            raise ThreadError(f"text must be decoded with what it was written beside: {text!r}.")
        node = beside[0] if node is False else node
        subject = beside[1] if subject is False else subject
        sent = beside[2] if sent is False else sent
    return ThreadFacts(
        key=key,
        node=node,
        cited=tuple(cited),
        kind=_STARTER if kind == _STARTER else _REPLY if kind == _REPLY else None,
        subject=subject,
        sender=sender,
        parties=frozenset(parties),
        sent=None if sent is None else float(sent),
    )


@dataclass(frozen=True, slots=True)
class ThreadQuery:
    """What a change reaches: the context is every stored message of every thread that holds
    one of ``nodes``, or a message whose fallback subject is one of ``subjects``, or one of
    ``threads``."""

    #: The ids the changed messages are at or cite.
    nodes: frozenset[str]
    #: The subject keys of changed messages that take part in the subject fallback.
    subjects: frozenset[str]


def thread_query(changed: Iterable[ThreadFacts]) -> ThreadQuery:
    """What adding or removing the messages with *changed* facts reaches."""
    nodes: set[str] = set()
    subjects: set[str] = set()
    for f in changed:
        nodes.add(f.node)
        nodes.update(f.cited)
        if f.kind is not None:
            subjects.add(f.subject)
    return ThreadQuery(frozenset(nodes), frozenset(subjects))


def rethread(
    context: Mapping[str, tuple[ThreadFacts, str | None]],
    added: Iterable[ThreadFacts] = (),
    removed: Iterable[str] = (),
) -> dict[str, str]:
    """The new thread id of every message of *context* or *added* whose id changed, by key.

    *context* maps the key of every stored message of the threads the change reaches (see
    `thread_query`) to its facts and its stored thread id; *added* are the facts of the
    messages the change stores, *removed* the keys of those it lets go. A message both added
    and removed is removed.
    """
    gone = set(removed)
    facts = {key: f for key, (f, _) in context.items() if key not in gone}
    for f in added:
        if f.key not in gone:
            facts[f.key] = f
    ids = _thread_ids_of(facts)
    return {
        key: thread
        for key, thread in ids.items()
        if key not in context or context[key][1] != thread
    }
