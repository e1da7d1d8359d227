"""Tests for the bundled data files: headers, form, and the curation the build script records."""

from __future__ import annotations

import importlib.util
import re
import sys
from importlib import resources
from pathlib import Path
from types import ModuleType

import pytest

from mailbind.providers import bundled_free_providers, bundled_role_addresses, normalize_role

from .test_providers import LISTED_PROVIDERS, LISTED_ROLES, PERSONS, UNLISTED_DOMAINS

DATA = resources.files("mailbind") / "data"
FILES = ("free_providers.txt", "role_addresses.txt", "institutions.txt")
HEADER_KEYS = {"Source", "Version", "Snapshot", "Licence", "Curation", "Entries"}


def _load_build_script() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "scripts" / "build_data.py"
    spec = importlib.util.spec_from_file_location("build_data", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_data", module)
    spec.loader.exec_module(module)
    return module


build_data = _load_build_script()


def _split(name: str) -> tuple[list[str], list[str]]:
    lines = (DATA / name).read_text(encoding="ascii").splitlines()
    header = [line for line in lines if line.startswith("#")]
    entries = [line for line in lines if not line.startswith("#")]
    return header, entries


def _fields(header: list[str]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for line in header:
        match = re.match(r"# (\w+): (.+)", line)
        if match:
            fields.setdefault(match.group(1), []).append(match.group(2))
    return fields


@pytest.mark.parametrize("name", FILES)
def test_file_opens_with_its_provenance(name: str) -> None:
    """Every bundled file starts with # lines naming source, version, date, licence, curation."""
    header, _ = _split(name)
    lines = (DATA / name).read_text(encoding="ascii").splitlines()
    assert lines[: len(header)] == header, "header lines come first"
    fields = _fields(header)
    assert set(fields) >= HEADER_KEYS
    assert len(fields["Source"]) == len(fields["Licence"]) == len(fields["Snapshot"])
    assert "do not edit by hand" in "\n".join(header)
    assert all("LICENSES.md" in licence for licence in fields["Licence"])


@pytest.mark.parametrize("name", FILES)
def test_entries_are_sorted_unique_lower_case_ascii(name: str) -> None:
    """Entries come one a line, sorted, unique, lower-case ASCII, as many as the header says."""
    header, entries = _split(name)
    assert entries == sorted(set(entries))
    assert all(entry and entry == entry.strip().lower() and entry.isascii() for entry in entries)
    assert _fields(header)["Entries"] == [str(len(entries))]


def test_provider_entries_are_ascii_domain_names() -> None:
    """Each provider entry is an IDNA ASCII domain name of at least two labels."""
    label = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
    for entry in bundled_free_providers():
        labels = entry.split(".")
        assert len(labels) >= 2, entry
        assert all(label.fullmatch(part) for part in labels), entry


def test_role_entries_are_normalised() -> None:
    """Each role entry is stored the way `normalize_role` normalises, and the script agrees."""
    for entry in bundled_role_addresses():
        assert normalize_role(entry) == entry
        assert re.fullmatch(r"[a-z0-9]+", entry)
    samples = ["No_Reply+x", "do-not-reply", "Straße.Team", "a+b+c", ""]
    assert [build_data.normalize_role(s) for s in samples] == [normalize_role(s) for s in samples]


def test_loaded_lists_match_the_files() -> None:
    """The loaders return exactly the files' entries."""
    assert bundled_free_providers() == frozenset(_split("free_providers.txt")[1])
    assert bundled_role_addresses() == frozenset(_split("role_addresses.txt")[1])


@pytest.mark.parametrize("domain", LISTED_PROVIDERS)
def test_major_providers_are_listed(domain: str) -> None:
    """The providers every user meets are in the bundled list."""
    assert domain in bundled_free_providers()


@pytest.mark.parametrize("domain", UNLISTED_DOMAINS)
def test_companies_are_not_listed(domain: str) -> None:
    """Companies, sending hosts and institutions are not in the bundled list."""
    assert domain not in bundled_free_providers()


@pytest.mark.parametrize("role", LISTED_ROLES)
def test_common_roles_are_listed(role: str) -> None:
    """The common role and automated local parts are in the bundled list."""
    assert role in bundled_role_addresses()


@pytest.mark.parametrize("local", PERSONS)
def test_people_are_not_listed(local: str) -> None:
    """Posts held by one person, names, initials and numbers are not in the bundled list."""
    assert normalize_role(local) not in bundled_role_addresses()


def test_script_curation_is_applied() -> None:
    """Every exclusion the build script names is absent, every addition present."""
    providers, roles = bundled_free_providers(), bundled_role_addresses()
    assert providers.isdisjoint(build_data.FREE_EXCLUDED)
    assert set(build_data.FREE_ADDED) <= providers
    for domains in build_data.SPAMASSASSIN_GLOBS.values():
        assert set(domains) <= providers
    assert roles.isdisjoint(normalize_role(entry) for entry in build_data.ROLE_EXCLUDED)
    assert {normalize_role(entry) for entry in build_data.ROLE_ADDED} <= roles
    assert not any(build_data.role_dropped_by_rule(entry) for entry in roles)


def test_every_curation_entry_gives_a_reason() -> None:
    """Each exclusion and addition in the build script says why."""
    for table in (
        build_data.FREE_EXCLUDED,
        build_data.FREE_ADDED,
        build_data.SPAMASSASSIN_GLOBS_SKIPPED,
        build_data.ROLE_EXCLUDED,
        build_data.ROLE_ADDED,
    ):
        assert all(isinstance(why, str) and why.strip() for why in table.values())


def test_spamassassin_glob_semantics() -> None:
    """A SpamAssassin glob's ``*`` stays within one label, as SpamAssassin reads it."""
    glob = build_data.spamassassin_glob("yahoo.*")
    assert glob.fullmatch("yahoo.de")
    assert not glob.fullmatch("yahoo.co.uk")
    assert build_data.spamassassin_glob("yahoo.co*.*").fullmatch("yahoo.com.br")


def test_licences_are_shipped() -> None:
    """The package data carries every upstream licence and the Apache attribution."""
    text = (DATA / "LICENSES.md").read_text(encoding="utf-8")
    assert "Copyright © 2017 Kiko Beats" in text
    assert "Copyright (c) 2015 Mixmax, Inc" in text
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "Apache SpamAssassin" in text


# --- Institutions: chosen by rule from the Public Suffix List -------------------------------------

PSL = """// VERSION: 2025-04-07_15-51-09_UTC
// COMMIT: 5fc8d12
// ===BEGIN ICANN DOMAINS===
edu
com
uk
ac.uk
co.uk
*.sch.uk
!city.sch.uk
gouv.fr
go.it
go.jp
edu.example
k12.ca.us
lib.ny.us
ca.us
// ===END ICANN DOMAINS===
// ===BEGIN PRIVATE DOMAINS===
gov.example.net
// ===END PRIVATE DOMAINS===
"""


def test_institutions_are_chosen_by_rule_from_the_icann_section() -> None:
    """The top-level domains, a country's institutional labels and a US state's public bodies
    count; open suffixes, longer TLDs, exceptions, private entries and the named exclusions do
    not. The header names the list's version and date."""
    built = build_data.build_institutions(PSL)
    assert built.entries == (
        "ac.uk",
        "edu",
        "go.jp",
        "gouv.fr",
        "k12.ca.us",
        "lib.ny.us",
        "sch.uk",
    )
    header = "\n".join(built.header)
    assert "# Snapshot: 2025-04-07" in header
    assert "# Version: commit 5fc8d12" in header
    assert "MPL-2.0" in header


def test_an_institution_exclusion_gone_from_the_list_stops_the_build() -> None:
    """A named exclusion the list no longer chooses must be removed from the curation."""
    with pytest.raises(build_data.BuildError, match=r"go\.it"):
        build_data.build_institutions(PSL.replace("go.it\n", ""))


def test_the_bundled_institutions_name_their_snapshot() -> None:
    """The committed list was built from a dated snapshot of the Public Suffix List."""
    header, entries = _split("institutions.txt")
    assert re.search(r"# Snapshot: \d{4}-\d{2}-\d{2} ", "\n".join(header))
    assert {"edu", "gov", "ac.uk", "gouv.fr", "k12.ca.us"} <= set(entries)
    assert "go.it" not in entries
