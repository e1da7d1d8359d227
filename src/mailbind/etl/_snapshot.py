"""The snapshot a backfill ships to every worker: mailboxes, the policy, the contacts' keys.

Invariants:
- A `Snapshot` is valid once it exists: mailboxes with distinct ids, a policy, a contact table
  whose keys are compared as the policy compares them; a mistake raises at once.
- Of the contacts it keeps only what participant links need: the key -> contact id table, each
  key answered as the `ContactIndex` resolves it (soft-deleted contacts stay bound).
- It pickles compactly and loads in one pass: the table as two columns of text, the policy and
  mailboxes without their caches. Pickling never changes an answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from .._kinds import member
from ..contacts import ContactIndex
from ..errors import ContactError, MailbindError
from ..messages import Limits
from ..policy import Mailbox, Policy

__all__ = ["BackfillError", "Snapshot", "View"]


class BackfillError(MailbindError, ValueError):
    """A backfill was given an item, a setting or a folder it cannot use."""


class View(StrEnum):
    """What a result holds of a synced message (`Result` ``view``); skipped ones hold nothing."""

    #: The message redacted to the mailbox's level, as others in the CRM may read it.
    REDACTED = "redacted"
    #: The whole message, as a store keeps it (see `batch_item`).
    COMPLETE = "complete"
    #: Nothing: decisions and links only.
    NONE = "none"


def _owners(contacts: ContactIndex | Mapping[str, str] | None, policy: Policy) -> dict[str, str]:
    """The key -> contact id table of *contacts*, as links need it."""
    if contacts is None:
        return {}
    if isinstance(contacts, ContactIndex):
        if contacts.canonicalization != policy.canonicalization:
            raise ContactError(
                "The contact index and the policy must use the same canonicalization: "
                f"{contacts.canonicalization!r} is not {policy.canonicalization!r}."
            )
        table: dict[str, str] = {}
        resolve, key_of = contacts.resolve, contacts.key
        for contact in contacts:
            for address in contact.addresses:
                key = key_of(address)
                if key not in table:
                    owner = resolve(address)
                    if owner is not None:
                        table[key] = owner.id
        return table
    if not isinstance(contacts, Mapping):
        raise BackfillError(
            "contacts must be a ContactIndex or a mapping of keys to contact ids, "
            f"not {type(contacts).__name__}."
        )
    table = dict(contacts)
    for key, contact_id in table.items():
        if not (isinstance(key, str) and isinstance(contact_id, str)):
            raise BackfillError(
                f"contacts must map keys to contact ids as strings, not {key!r} to {contact_id!r}."
            )
    return table


_SEPARATOR = "\x00"


def _column(values: Iterable[str]) -> str | list[str]:
    """Strings joined by NUL, which no identity key holds; a list when one of them does."""
    items = list(values)
    if any(_SEPARATOR in v for v in items):
        return items
    return _SEPARATOR.join(items)


def _uncolumn(value: str | list[str]) -> list[str]:
    if isinstance(value, list):
        return value
    return value.split(_SEPARATOR) if value else []


@dataclass(frozen=True, slots=True, init=False)
class Snapshot:
    """What every worker of a backfill reads: mailboxes, the policy, and the contacts' keys.

    *mailboxes* are `Mailbox` values (or a mapping of their ids to them); *contacts* is a
    `ContactIndex` (its canonicalisation must be the policy's) or a mapping of keys, as
    `Policy.key` gives them, to contact ids. *version* names the contact snapshot (a store's
    change number, a time) and is copied into every result, so that links made against an
    older snapshot can be found and refreshed. *view* says what results hold of synced mail;
    *limits* bound the reading of RFC 5322 bytes.
    """

    mailboxes: tuple[Mailbox, ...]
    policy: Policy
    #: The contact each key belongs to (soft-deleted contacts included), by key.
    owners: Mapping[str, str]
    version: str
    view: View
    limits: Limits
    _by_id: dict[str, Mailbox] = field(repr=False, compare=False)

    def __init__(
        self,
        mailboxes: Iterable[Mailbox] | Mapping[str, Mailbox],
        policy: Policy,
        contacts: ContactIndex | Mapping[str, str] | None = None,
        *,
        version: str = "",
        view: View | str = View.REDACTED,
        limits: Limits | None = None,
    ) -> None:
        if not isinstance(policy, Policy):
            raise BackfillError(f"policy must be a Policy, not {type(policy).__name__}.")
        if isinstance(mailboxes, Mapping):
            for given, mailbox in mailboxes.items():
                if isinstance(mailbox, Mailbox) and given != mailbox.id:
                    raise BackfillError(
                        f"The mailbox table names the mailbox {mailbox.id!r} as {given!r}."
                    )
            mailboxes = mailboxes.values()
        by_id: dict[str, Mailbox] = {}
        for mailbox in mailboxes:
            if not isinstance(mailbox, Mailbox):
                raise BackfillError(f"Expected a Mailbox, not {type(mailbox).__name__}.")
            if mailbox.id in by_id:
                raise BackfillError(f"Two mailboxes have the id {mailbox.id!r}.")
            by_id[mailbox.id] = mailbox
        if not isinstance(version, str):
            raise BackfillError(f"The snapshot version must be a string, not {version!r}.")
        view = member(View, view, "The view", BackfillError)
        if limits is not None and not isinstance(limits, Limits):
            raise BackfillError(f"limits must be Limits, not {type(limits).__name__}.")
        set_ = object.__setattr__
        set_(self, "mailboxes", tuple(by_id.values()))
        set_(self, "policy", policy)
        set_(self, "owners", MappingProxyType(_owners(contacts, policy)))
        set_(self, "version", version)
        set_(self, "view", view)
        set_(self, "limits", limits if limits is not None else Limits())
        set_(self, "_by_id", by_id)

    def mailbox(self, mailbox_id: str) -> Mailbox | None:
        """The mailbox with *mailbox_id*, or None."""
        return self._by_id.get(mailbox_id)

    # The owners table is the bulk of a snapshot: two columns of text (keys, contact ids)
    # pickle in a fraction of the size and time of a dict, and load back in one pass.
    def __getstate__(self) -> dict[str, Any]:
        owners = self.owners
        return {
            "mailboxes": self.mailboxes,
            "policy": self.policy,
            "keys": _column(owners.keys()),
            "ids": _column(owners.values()),
            "version": self.version,
            "view": self.view.value,
            "limits": self.limits,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        set_ = object.__setattr__
        owners = dict(zip(_uncolumn(state["keys"]), _uncolumn(state["ids"]), strict=True))
        set_(self, "mailboxes", state["mailboxes"])
        set_(self, "policy", state["policy"])
        set_(self, "owners", MappingProxyType(owners))
        set_(self, "version", state["version"])
        set_(self, "view", View(state["view"]))
        set_(self, "limits", state["limits"])
        set_(self, "_by_id", {m.id: m for m in state["mailboxes"]})
