"""Domains: IDNA normalisation and the registrable domain from the Public Suffix List.

Invariants:
- Domains are compared as lower-case IDNA ASCII (punycode) without a trailing dot.
- The registrable domain follows the Public Suffix List with its private section, through
  tldextract's bundled snapshot only: nothing is fetched over the network and nothing is
  written to disk. The list's own rules that tldextract does not apply are applied here: the
  implicit ``*`` rule for an unknown TLD, and no registrable domain for a name with an empty
  label. IP literals and single-label hosts have none.
- Results are cached in a bounded table.
"""

from __future__ import annotations

__all__ = ["registrable_domain", "to_ascii_domain"]


def to_ascii_domain(domain: str) -> str | None:
    """*domain* as lower-case IDNA ASCII without a trailing dot, or None when it is not valid."""
    raise NotImplementedError


def registrable_domain(domain: str) -> str | None:
    """The registrable (organisation) domain of *domain*, in ASCII, or None."""
    raise NotImplementedError
