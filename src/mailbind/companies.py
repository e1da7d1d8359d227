"""Companies with several domains: which company a domain belongs to, adding a domain, merging.

Pure: values in, values out; a store applies the `CompanyChange` these functions plan.

Invariants:
- Every domain is a registrable domain in lower-case ASCII (`company_domain`), held by at most
  one company; a company's own domain comes first (`Company.all_domains`).
- A free-provider domain (``gmail.com``) is never a company's domain: two Gmail users are not
  one company.
- Merging company B into A gives A every domain of B (so A's timeline is exactly the union of
  both: a timeline is found by domain) and removes B; contacts keep their company domain, which
  now names A.
- Companies a configuration names (`plan_companies`) are brought about by the same moves: made
  when missing, given their further domains, and a stored company holding one of those domains
  is merged in. Only additions: a domain a user added is never taken away. Planning again
  after the change is applied changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import MailbindError
from .names import company_name
from .providers import is_free_provider
from .store import Company, CompanyChange, company_domain

__all__ = ["CompanyError", "find_company", "plan_add_domain", "plan_companies", "plan_merge"]


class CompanyError(MailbindError, ValueError):
    """A company operation asked for something impossible (an unknown company, a free-provider
    domain, a domain another company holds)."""


def _domain(value: str, what: str, free_providers: frozenset[str] | None) -> str:
    domain = company_domain(value)
    if domain is None:
        raise CompanyError(f"{what} must be a domain, not {value!r}.")
    if is_free_provider(domain, free_providers):
        raise CompanyError(
            f"{what} must not be a free-provider domain ({domain!r}): its users are not one "
            "company."
        )
    return domain


def find_company(companies: Iterable[Company], domain: str) -> Company | None:
    """The company holding *domain* (any of its domains, in any form `company_domain` reads)."""
    wanted = company_domain(domain)
    for company in companies:
        if wanted in company.all_domains:
            return company
    return None


def _named(companies: list[Company], text: str, what: str) -> Company:
    found = find_company(companies, text)
    if found is None:
        raise CompanyError(f"{what} must name a stored company, not {text!r}.")
    return found


def plan_add_domain(
    companies: Iterable[Company],
    company: str,
    domain: str,
    *,
    free_providers: frozenset[str] | None = None,
) -> CompanyChange:
    """Give the company holding *company* the further domain *domain*.

    Nothing changes when it holds the domain already. Raises `CompanyError` when no company
    holds *company*, when *domain* is not a domain, is a free provider's, or is held by another
    company (merge the two instead).
    """
    known = list(companies)
    target = _named(known, company, "company")
    new = _domain(domain, "domain", free_providers)
    if new in target.all_domains:
        return CompanyChange()
    holder = find_company(known, new)
    if holder is not None:
        raise CompanyError(
            f"domain {new!r} belongs to the company {holder.domain!r}: merge the two companies "
            "instead."
        )
    saved = Company(target.domain, target.name, tuple(sorted({*target.domains, new})))
    return CompanyChange(saved=(saved,))


def plan_merge(companies: Iterable[Company], into: str, other: str) -> CompanyChange:
    """Merge the company holding *other* into the one holding *into*.

    The merged company keeps *into*'s domain and name and gains every domain of *other*; the
    other company is removed. Raises `CompanyError` when either names no company or both name
    the same one.
    """
    known = list(companies)
    keep = _named(known, into, "into")
    gone = _named(known, other, "other")
    if keep == gone:
        raise CompanyError(f"other must be another company than into, not {other!r}.")
    domains = tuple(sorted({*keep.domains, *gone.all_domains}))
    return CompanyChange(saved=(Company(keep.domain, keep.name, domains),), removed=(gone.domain,))


def plan_companies(
    companies: Iterable[Company],
    wanted: Iterable[Company],
    *,
    free_providers: frozenset[str] | None = None,
) -> CompanyChange:
    """The change that makes every company of *wanted* hold its domains among *companies*.

    Each wanted company (a domain, a name, further domains, as a configuration names it) is the
    stored company holding its domain, or a new one named *name* or after its domain. It gains
    every further domain; a stored company holding one of them is merged into it (its domains
    come along, it is removed). A wanted name replaces the stored one; an empty name keeps it.
    Nothing is taken away, so planning again once the change is applied gives no change.

    Raises `CompanyError` when a domain is not a domain or is a free provider's, or when two
    wanted companies would be one (a domain named twice, or held by one stored company).
    """
    stored = list(companies)
    saved: dict[str, Company] = {}
    #: Stored companies merged away, each with the company it is merged into.
    removed: dict[str, str] = {}
    #: Every domain a wanted company will hold, with that company.
    claimed: dict[str, str] = {}
    for want in wanted:
        main = _domain(want.domain, "domain", free_providers)
        extra = [_domain(d, "a further domain", free_providers) for d in want.domains]
        target = find_company(stored, main) or Company(main, want.name or company_name(main))
        if target.domain in saved:
            raise CompanyError(
                f"domain {main!r} names the company {target.domain!r} a second time: name each "
                "company once, with all its domains."
            )
        domains = set(target.domains)
        for domain in (main, *extra):
            held = claimed.setdefault(domain, target.domain)
            if held != target.domain:
                raise CompanyError(f"domain {domain!r} is named for two companies.")
            holder = find_company(stored, domain)
            if holder is not None and holder.domain != target.domain:
                if holder.domain in saved or removed.get(holder.domain, target.domain) != (
                    target.domain
                ):
                    raise CompanyError(
                        f"domain {domain!r} belongs to the company {holder.domain!r}, which "
                        "is named on its own too."
                    )
                removed[holder.domain] = target.domain
                for other in holder.all_domains:
                    if claimed.setdefault(other, target.domain) != target.domain:
                        raise CompanyError(f"domain {other!r} is named for two companies.")
                domains.update(holder.all_domains)
            domains.add(domain)
        domains.discard(target.domain)
        after = Company(target.domain, want.name or target.name, tuple(sorted(domains)))
        saved[target.domain] = after
    if removed.keys() & saved.keys():
        both = min(removed.keys() & saved.keys())
        raise CompanyError(f"the company {both!r} is named on its own and within another.")
    changed = tuple(c for c in saved.values() if c not in stored)
    return CompanyChange(saved=changed, removed=tuple(sorted(removed)))
