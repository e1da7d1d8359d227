"""``mailbind contacts``: list, add, edit, delete, restore and destroy contacts by hand.

Invariants:
- Every change goes through the engine's helpers (`save_contact`, `soft_delete_contact`,
  `restore_contact`, `destroy_contact`, `suppress_address`), so the participants whose contact
  changed are re-linked and deletions are recorded as suppressions, exactly as in the library.
- A contact is named by its id or by one of its addresses (resolved as the rules resolve it).
- Times come from `mailbind.cli.clock` (or ``--now``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from collections.abc import Mapping
from typing import TextIO

from ..addresses import parse_address
from ..contacts import Contact, ContactIndex
from ..domains import to_ascii_domain, to_unicode_domain
from ..engine import destroy_contact, restore_contact, save_contact, soft_delete_contact
from ..engine import suppress_address as suppress
from ..errors import InvalidAddressError
from ..names import company_name
from ..providers import is_free_provider
from ..store import Company, ContactChange
from ..stores.sqlite import SQLiteStore
from . import clock
from .exits import ExitCode, Failure
from .settings import open_store, read_canonicalization
from .text import clean, counted, cut, json_line, table, terminal_width

__all__ = ["contact_line", "find_contact", "run"]


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``contacts ACTION``; the exit code."""
    action = args.action
    read_only = action in ("list", "suppressed")
    with open_store(args.db, create=action == "add", read_only=read_only) as store:
        ws = args.workspace
        index = store.contact_index(read_canonicalization(store, args), workspace=ws)
        if action == "list":
            _list(store, index, out, as_json=args.json, as_csv=args.csv, workspace=ws, db=args.db)
        elif action == "suppressed":
            _suppressed(index, out, as_json=args.json)
        elif action == "add":
            _add(store, index, args, out)
        elif action == "suppress":
            change = suppress(store, _address(args.address, "address"), index=index, workspace=ws)
            done = "Suppressed" if change.suppressed else "Already suppressed:"
            out.write(f"{done} {clean(args.address)}: it is never created automatically.\n")
        else:
            _change(store, index, args, out)
    return ExitCode.OK


def _address(text: str, what: str) -> str:
    try:
        parse_address(text)
    except InvalidAddressError:
        raise Failure(ExitCode.USAGE, f"The {what} is not a readable address: {text!r}.") from None
    return text


def find_contact(
    index: ContactIndex,
    text: str,
    companies: Mapping[str, Company] | None = None,
    *,
    resolve: bool = False,
) -> Contact:
    """The contact with id *text*, or the one contact holding the address *text*.

    An address that several contacts hold (a deleted one among them) names none: a `Failure`
    lists them, so that the user picks one by its id. With *resolve* the address names the
    contact the rules link it to instead (reading mail).
    """
    contact = index.get(text)
    if contact is None and "@" in text and resolve:
        try:
            contact = index.resolve(text)
        except InvalidAddressError:
            contact = None
    elif contact is None and "@" in text:
        try:
            key = index.key(text)
        except InvalidAddressError:
            key = None
        holders = [] if key is None else _holders(index, key)
        if len(holders) > 1:
            listed = "; ".join(
                f"{clean(c.id)} ({contact_line(c, companies or {})}"
                f"{', deleted' if c.deleted else ''})"
                for c in holders
            )
            raise Failure(
                ExitCode.USAGE,
                f"The address {text!r} belongs to {len(holders)} contacts: {listed}. Name the "
                "one you mean by its id.",
            )
        contact = holders[0] if holders else None
    if contact is None:
        raise Failure(ExitCode.NOT_FOUND, f"No contact has the id or address {text!r}.")
    return contact


def _holders(index: ContactIndex, key: str) -> list[Contact]:
    """Every contact, deleted ones included, with an address whose key is *key*, by id."""
    found = [c for c in index if any(index.key(a) == key for a in c.addresses)]
    return sorted(found, key=lambda c: c.id)


def contact_line(contact: Contact, companies: Mapping[str, Company]) -> str:
    """``Frank O'Connor <frank@globex.example>, Globex (globex.example)``, clean."""
    name = f"{contact.first_name} {contact.last_name}".strip()
    address = clean(str(contact.primary))
    line = f"{clean(name)} <{address}>" if name else address
    domain = contact.company_domain
    if domain is not None:
        shown = to_unicode_domain(domain) or domain
        company = companies.get(domain)
        line += f", {clean(company.name)} ({clean(shown)})" if company else f", {clean(shown)}"
    return line


# --- Reading --------------------------------------------------------------------------------


#: The columns of ``contacts list --csv``: the keys of ``--json``.
CSV_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "primary",
    "additional",
    "company_domain",
    "created_at",
    "deleted_at",
)


def _list(
    store: SQLiteStore,
    index: ContactIndex,
    out: TextIO,
    *,
    as_json: bool,
    as_csv: bool,
    workspace: str,
    db: str,
) -> None:
    contacts = sorted(index, key=lambda c: (c.last_name.casefold(), c.first_name.casefold(), c.id))
    if as_json:
        for contact in contacts:
            out.write(json_line(_record(contact)) + "\n")
        return
    if as_csv:
        rows = csv.writer(out, lineterminator="\n")
        rows.writerow(CSV_COLUMNS)
        for contact in contacts:
            record = _record(contact)
            rows.writerow(
                [
                    clean(" ".join(v) if isinstance(v, list) else "" if v is None else str(v))
                    for v in (record[c] for c in CSV_COLUMNS)
                ]
            )
        return
    companies = {c.domain: c for c in store.companies(workspace=workspace)}
    deleted = sum(contact.deleted for contact in contacts)
    note = f" ({deleted} deleted)" if deleted else ""
    out.write(f"{counted(len(contacts), 'contact')}{note} in {clean(db)}\n")
    if not contacts:
        return
    table_rows = [_row(contact, companies) for contact in contacts]
    out.write("\n")
    for line in table(table_rows, LIST_COLUMNS, total=terminal_width(out), flexible=2):
        out.write(line + "\n")
    if deleted:
        out.write(
            "\nA deleted contact keeps its messages and is never created again "
            "(restore or destroy it).\n"
        )


#: The columns of ``contacts list``; the company is cut to fit the width.
LIST_COLUMNS = ("name", "address", "company", "id")


def _row(contact: Contact, companies: Mapping[str, Company]) -> list[str]:
    """One row of ``contacts list``, every cell clean: a deleted contact is marked by its name,
    further addresses are counted after the primary one (``--json`` lists them)."""
    domain = contact.company_domain
    company = ""
    if domain is not None:
        known = companies.get(domain)
        company = clean(known.name) if known else clean(to_unicode_domain(domain) or domain)
    name = cut(clean(f"{contact.first_name} {contact.last_name}".strip()) or "(no name)", 24)
    more = f" +{len(contact.additional)}" if contact.additional else ""
    return [
        name + (" (deleted)" if contact.deleted else ""),
        clean(str(contact.primary)) + more,
        company,
        clean(contact.id),
    ]


def _record(contact: Contact) -> dict[str, object]:
    return {
        "id": contact.id,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "primary": str(contact.primary),
        "additional": [str(a) for a in contact.additional],
        "company_domain": contact.company_domain,
        "created_at": contact.created_at.isoformat(),
        "deleted_at": None if contact.deleted_at is None else contact.deleted_at.isoformat(),
    }


def _suppressed(index: ContactIndex, out: TextIO, *, as_json: bool) -> None:
    records = sorted(index.suppressed.values(), key=lambda s: s.key)
    if as_json:
        for s in records:
            out.write(
                json_line({"key": s.key, "reason": s.reason.value, "contact_id": s.contact_id})
                + "\n"
            )
        return
    out.write(f"{counted(len(records), 'suppressed address', 'suppressed addresses')}\n")
    for s in records:
        by = f" (contact {clean(s.contact_id)})" if s.contact_id else ""
        out.write(f"  {clean(s.key)}  {s.reason.value}{by}\n")


# --- Changing -------------------------------------------------------------------------------


def _company(domain: str | None) -> Company | None:
    if domain is None:
        return None
    return Company(domain, company_name(domain))


def _company_domain(text: str | None, primary: str) -> str | None:
    """The company asked for with ``--company``, else the primary address's work domain."""
    if text is not None:
        if not text.strip():
            return None
        domain = to_ascii_domain(text.strip().removeprefix("@"))
        if domain is None:
            raise Failure(ExitCode.USAGE, f"The company domain is not readable: {text!r}.")
        return domain
    address = parse_address(primary)
    if address.registrable is None or is_free_provider(address):
        return None
    return address.registrable


def _add(store: SQLiteStore, index: ContactIndex, args: argparse.Namespace, out: TextIO) -> None:
    now = args.now or clock.now()
    primary = _address(args.primary, "primary address")
    for extra in args.additional or ():
        _address(extra, "additional address")
    contact_id = (
        args.id
        or "contact-"
        + hashlib.sha256(f"{index.key(primary)} {now.isoformat()}".encode()).hexdigest()[:16]
    )
    if contact_id in index:
        raise Failure(ExitCode.USAGE, f"A contact with the id {contact_id!r} exists already.")
    domain = _company_domain(args.company, primary)
    contact = Contact(
        contact_id,
        primary,
        args.additional or (),
        created_at=now,
        first_name=args.first or "",
        last_name=args.last or "",
        company_domain=domain,
    )
    ws = args.workspace
    change = save_contact(store, contact, index=index, company=_company(domain), workspace=ws)
    companies = {c.domain: c for c in store.companies(workspace=ws)}
    out.write(f"Added contact {clean(contact_id)}: {contact_line(contact, companies)}.\n")
    _report(change, index, contact, out)
    owner = index.resolve(primary)
    if owner is not None and owner.id != contact_id:
        out.write(
            f"  {clean(primary)} still belongs to the older contact {clean(owner.id)}, which "
            "keeps its messages.\n"
        )


def _change(store: SQLiteStore, index: ContactIndex, args: argparse.Namespace, out: TextIO) -> None:
    action = args.action
    ws = args.workspace
    companies = {c.domain: c for c in store.companies(workspace=ws)}
    contact = find_contact(index, args.contact, companies)
    shown = f"{clean(contact.id)} ({contact_line(contact, companies)})"
    if action == "delete" and contact.deleted_at is not None:
        out.write(
            f"Contact {shown} is deleted already (since {contact.deleted_at:%Y-%m-%d %H:%M}): "
            "nothing changed.\n"
        )
        return
    if action == "restore" and contact.deleted_at is None:
        out.write(f"Contact {shown} is not deleted: nothing changed.\n")
        return
    if action == "edit":
        edited = _edited(contact, args)
        company = _company(edited.company_domain) if args.company is not None else None
        change = save_contact(store, edited, index=index, company=company, workspace=ws)
        companies = {c.domain: c for c in store.companies(workspace=ws)}
        out.write(f"Changed contact {clean(contact.id)}: {contact_line(edited, companies)}.\n")
        _report(change, index, edited, out)
    elif action == "delete":
        at = args.now or clock.now()
        change = soft_delete_contact(store, contact.id, at=at, index=index, workspace=ws)
        out.write(
            f"Deleted contact {shown}.\n  It keeps its messages; "
            f"`mailbind contacts restore {clean(contact.id)}` undoes this.\n"
        )
        _report(change, index, contact, out)
    elif action == "restore":
        change = restore_contact(store, contact.id, index=index, workspace=ws)
        out.write(f"Restored contact {shown}.\n")
        _report(change, index, contact, out)
    else:
        if not args.yes:
            if not sys.stdin.isatty():
                raise Failure(
                    ExitCode.USAGE, "Nothing destroyed: confirm with --yes to destroy a contact."
                )
            if not _confirm(f"Destroy contact {shown} for good? [y/N] "):
                raise Failure(ExitCode.NOT_CONFIRMED, "Nothing destroyed: the answer was no.")
        change = destroy_contact(store, contact.id, index=index, workspace=ws)
        out.write(f"Destroyed contact {shown}.\n")
        _report(change, index, contact, out)


def _edited(contact: Contact, args: argparse.Namespace) -> Contact:
    """*contact* with the changes the options ask for.

    A new primary address keeps the old one as an additional address (``--remove-address``
    drops it).
    """
    primary = contact.primary
    additional = list(contact.additional)
    if args.primary:
        primary = parse_address(_address(args.primary, "primary address"))
        additional.insert(0, contact.primary)
    additional.extend(parse_address(_address(a, "address to add")) for a in args.add_address or ())
    for text in args.remove_address or ():
        key = parse_address(_address(text, "address to remove")).key
        kept = [a for a in additional if a.key != key]
        if len(kept) == len(additional):
            raise Failure(
                ExitCode.USAGE,
                f"The contact {contact.id!r} has no additional address {text!r} to remove.",
            )
        additional = kept
    domain = contact.company_domain
    if args.company is not None:
        domain = _company_domain(args.company, str(primary))
    return Contact(
        contact.id,
        primary,
        [a for a in additional if a.key != primary.key],
        created_at=contact.created_at,
        deleted_at=contact.deleted_at,
        first_name=contact.first_name if args.first is None else args.first,
        last_name=contact.last_name if args.last is None else args.last,
        company_domain=domain,
    )


def _confirm(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _report(change: ContactChange, index: ContactIndex, contact: Contact, out: TextIO) -> None:
    """What else the change did: messages re-linked, suppressions recorded or lifted."""
    for owner in change.owners:
        now = index.get(owner.new) if owner.new else None
        to = "nobody" if now is None else clean(now.id)
        out.write(f"  Messages with {clean(owner.key)} now belong to {to}.\n")
    if change.suppressed:
        keys = ", ".join(clean(s.key) for s in change.suppressed)
        out.write(f"  Never created automatically again: {keys}.\n")
    if change.lifted:
        keys = ", ".join(clean(key) for key in change.lifted)
        out.write(f"  No longer suppressed: {keys}.\n")
