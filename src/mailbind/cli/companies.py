"""``mailbind companies``: list companies with their counts, add a domain, merge two.

Invariants:
- Every change is planned by the pure `mailbind.companies` (`plan_add_domain`, `plan_merge`)
  and stored by `Store.apply_company_change` in one transaction; a free-provider domain is
  never a company's, with the workspace policy's free-provider list when one is recorded.
- Listing reads the store only (``--db`` opened read-only); counts come from
  `Store.company_counts`: contacts of the company, and messages with a participant on any of
  its domains.
"""

from __future__ import annotations

import argparse
import csv
from typing import TextIO

from ..codecs import decode_policy
from ..companies import CompanyError, plan_add_domain, plan_merge
from ..domains import to_unicode_domain
from ..store import Company, CompanyCount
from .exits import ExitCode, Failure
from .settings import open_store
from .text import clean, counted, cut, json_line, table, terminal_width

__all__ = ["run"]

#: The columns of ``companies list --csv``: the keys of ``--json``.
CSV_COLUMNS = ("domain", "name", "domains", "contacts", "messages")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``companies ACTION``; the exit code."""
    action = args.action
    with open_store(args.db, create=False, read_only=action == "list") as store:
        ws = args.workspace
        if action == "list":
            counts = store.company_counts(workspace=ws)
            _list(counts, out, as_json=args.json, as_csv=args.csv, db=args.db)
            return ExitCode.OK
        companies = store.companies(workspace=ws)
        try:
            if action == "add-domain":
                recorded = store.recorded_policy(workspace=ws)
                free = None if recorded is None else decode_policy(recorded.settings).free_providers
                change = plan_add_domain(companies, args.company, args.domain, free_providers=free)
            else:
                change = plan_merge(companies, args.into, args.other)
        except CompanyError as error:
            raise Failure(ExitCode.USAGE, str(error)) from None
        if not change.saved and not change.removed:
            out.write(f"Nothing changed: {clean(args.domain)} is a domain of that company.\n")
            return ExitCode.OK
        store.apply_company_change(change, workspace=ws)
        (company,) = change.saved
        if action == "add-domain":
            out.write(f"{_line(company)}: its timeline now holds mail on every domain.\n")
        else:
            out.write(f"Merged {clean(change.removed[0])} into {_line(company)}.\n")
    return ExitCode.OK


def _shown(domain: str) -> str:
    return clean(to_unicode_domain(domain) or domain)


def _line(company: Company) -> str:
    """``Globex (globex.example, globex.co.uk)``, clean."""
    return f"{clean(company.name)} ({', '.join(_shown(d) for d in company.all_domains)})"


def _record(count: CompanyCount) -> dict[str, object]:
    company = count.company
    return {
        "domain": company.domain,
        "name": company.name,
        "domains": list(company.domains),
        "contacts": count.contacts,
        "messages": count.messages,
    }


def _list(
    counts: tuple[CompanyCount, ...], out: TextIO, *, as_json: bool, as_csv: bool, db: str
) -> None:
    ordered = sorted(counts, key=lambda c: (c.company.name.casefold(), c.company.domain))
    if as_json:
        for count in ordered:
            out.write(json_line(_record(count)) + "\n")
        return
    if as_csv:
        rows = csv.writer(out, lineterminator="\n")
        rows.writerow(CSV_COLUMNS)
        for count in ordered:
            record = _record(count)
            rows.writerow(
                [
                    clean(" ".join(v) if isinstance(v, list) else str(v))
                    for v in (record[c] for c in CSV_COLUMNS)
                ]
            )
        return
    out.write(f"{counted(len(ordered), 'company', 'companies')} in {clean(db)}\n")
    if not ordered:
        return
    out.write("\n")
    for line in table(_rows(ordered), LIST_COLUMNS, total=terminal_width(out), flexible=1):
        out.write(line + "\n")


#: The columns of ``companies list``; the domains are cut to fit the width.
LIST_COLUMNS = ("name", "domains", "contacts", "messages")


def _rows(ordered: list[CompanyCount]) -> list[list[str]]:
    """The rows of ``companies list``, every cell clean, the counts aligned on the right."""
    contacts = [str(c.contacts) for c in ordered]
    messages = [str(c.messages) for c in ordered]
    wide = (
        max(map(len, [LIST_COLUMNS[2], *contacts])),
        max(map(len, [LIST_COLUMNS[3], *messages])),
    )
    return [
        [
            cut(clean(count.company.name), 32),
            ", ".join(_shown(d) for d in count.company.all_domains),
            contact.rjust(wide[0]),
            message.rjust(wide[1]),
        ]
        for count, contact, message in zip(ordered, contacts, messages, strict=True)
    ]
