"""The Public Suffix List, read from tldextract's bundled snapshot without importing tldextract.

Invariants:
- The list is the snapshot file shipped inside the ``tldextract`` distribution, found with
  ``importlib.util.find_spec`` and read as text: tldextract's package is never imported, so
  its HTTP client (and the socket that client opens to probe for IPv6 when it is imported) is
  never loaded. Nothing is fetched, nothing is written.
- Both sections of the list count (ICANN and private), as tldextract's
  ``include_psl_private_domains=True`` reads them. Rules are kept as IDNA ASCII.
- Matching walks the rules' labels from the right exactly as tldextract does (so every answer
  stays as before): as far as rules name the labels, with a wildcard (``*.``) applying where no
  deeper rule names the next label and an exception (``!``) naming it; a name no rule matches
  has the implicit ``*`` rule.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import NamedTuple

import idna

__all__ = ["public_suffix", "suffix_rules"]

#: The snapshot's file name inside the tldextract package folder.
_SNAPSHOT = ".tld_set_snapshot"


class Rules(NamedTuple):
    """The list's rules, as IDNA ASCII names."""

    #: Plain rules (``co.uk``).
    exact: frozenset[str]
    #: The names under a wildcard rule (``ck`` for ``*.ck``).
    wildcards: frozenset[str]
    #: Exception rules without their ``!`` (``www.ck``).
    exceptions: frozenset[str]


class _Node:
    """One label of the rules' trie, read from the right."""

    __slots__ = ("children", "end")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.end = False

    def child(self, label: str) -> _Node:
        node = self.children.get(label)
        if node is None:
            node = self.children[label] = _Node()
        return node


def _ascii(rule: str) -> str | None:
    try:
        return idna.encode(rule, uts46=True).decode("ascii").lower()
    except idna.IDNAError:
        try:
            return rule.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return None


def _snapshot() -> str:
    spec = importlib.util.find_spec("tldextract")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("tldextract is not installed: mailbind needs its bundled list.")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return (folder / _SNAPSHOT).read_text(encoding="utf-8")


@functools.cache
def suffix_rules() -> Rules:
    """The rules of the bundled list, read once."""
    exact: set[str] = set()
    wildcards: set[str] = set()
    exceptions: set[str] = set()
    for line in _snapshot().splitlines():
        text = line.strip()
        if not text or text.startswith("//"):
            continue
        rule = text.split()[0]
        if rule.startswith("!"):
            name = _ascii(rule[1:])
            if name:
                exceptions.add(name)
        elif rule.startswith("*."):
            name = _ascii(rule[2:])
            if name:
                wildcards.add(name)
        else:
            name = _ascii(rule)
            if name:
                exact.add(name)
    return Rules(frozenset(exact), frozenset(wildcards), frozenset(exceptions))


@functools.cache
def _trie() -> _Node:
    """The rules as a trie of labels read from the right, as tldextract builds it."""
    rules = suffix_rules()
    root = _Node()
    for name in rules.exact:
        node = root
        for label in reversed(name.split(".")):
            node = node.child(label)
        node.end = True
    for name in rules.wildcards:
        node = root
        for label in reversed(name.split(".")):
            node = node.child(label)
        node.child("*").end = True
    for name in rules.exceptions:
        label, _, parent = name.partition(".")
        node = root
        for part in reversed(parent.split(".")):
            node = node.child(part)
        node.child("!" + label).end = True
    return root


def public_suffix(ascii_name: str) -> str:
    """The public suffix of *ascii_name* (lower-case IDNA ASCII, labels not empty), as
    tldextract finds it: the labels are followed from the right as far as rules name them; a
    wildcard applies where no deeper rule names the next label, unless an exception names it.
    The implicit ``*`` rule makes the last label the suffix when no rule matches.
    """
    labels = ascii_name.split(".")
    node = _trie()
    count = len(labels)
    start = cut = count
    for label in reversed(labels):
        child = node.children.get(label)
        if child is not None:
            cut -= 1
            node = child
            if node.end:
                start = cut
            continue
        if "*" in node.children:
            start = cut if "!" + label in node.children else cut - 1
        break
    if start == count:
        return labels[-1]
    return ".".join(labels[start:])
