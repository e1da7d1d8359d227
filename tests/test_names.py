"""Tests for names of new contacts: display names, local parts, company names."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbind import company_name, name_from_display, name_from_local

from .strategies import display_names


@pytest.mark.parametrize(
    ("display", "expected"),
    [
        ("Jane Doe", ("Jane", "Doe")),
        ("Doe, Jane", ("Jane", "Doe")),
        ('"Doe, Jane"', ("Jane", "Doe")),
        ("'Jane Doe'", ("Jane", "Doe")),
        ("\u201cJane Doe\u201d", ("Jane", "Doe")),
        ("  Jane   Doe  ", ("Jane", "Doe")),
        ("Jane", ("Jane", "")),
        ("Jane Mary Doe", ("Jane Mary", "Doe")),
        ("Doe, Jane Mary", ("Jane Mary", "Doe")),
        ("jane doe", ("Jane", "Doe")),
        ("JANE DOE", ("Jane", "Doe")),
        ("McDonald, Ronald", ("Ronald", "McDonald")),
        ("Ludwig van Beethoven", ("Ludwig", "van Beethoven")),
        ("Maria de la Cruz", ("Maria", "de la Cruz")),
        ("LUDWIG VAN BEETHOVEN", ("Ludwig", "van Beethoven")),
        ("Jean-Luc Picard", ("Jean-Luc", "Picard")),
        ("jean-luc picard", ("Jean-Luc", "Picard")),
        ("Dr. Jane Doe", ("Jane", "Doe")),
        ("Jane Doe, PhD", ("Jane", "Doe")),
        ("Doe, Jane, PhD", ("Jane", "Doe")),
        ("Jane Doe (Acme)", ("Jane", "Doe")),
        ("Jane Doe [EXTERNAL]", ("Jane", "Doe")),
        ("Jane Doe | Acme Ltd", ("Jane", "Doe")),
        ("Jane Doe via LinkedIn", ("Jane", "Doe")),
        ("O'Brien, Seán", ("Seán", "O'Brien")),
        ("José Álvarez", ("José", "Álvarez")),
        ("Jürgen Müller", ("Jürgen", "Müller")),
        ("Zoë Saldaña", ("Zoë", "Saldaña")),
        ("Ζωή Παππά", ("Ζωή", "Παππά")),
        ("Анна Иванова", ("Анна", "Иванова")),
        ("山田 太郎", ("山田", "太郎")),
        ("王小明", ("王小明", "")),
        ("Acme, Inc.", ("Acme", "")),
        ("jane.doe", ("Jane", "Doe")),
        ("j_doe", ("J.", "Doe")),
        ("J.R.R. Tolkien", ("J.R.R.", "Tolkien")),
        ("O'BRIEN, SEAN", ("Sean", "O'Brien")),
        ("JEAN-LUC PICARD", ("Jean-Luc", "Picard")),
    ],
)
def test_name_from_display(display: str, expected: tuple[str, str]) -> None:
    """Display names as people write them give the expected first and last name."""
    assert name_from_display(display) == expected


#: The repairs mail clients make of display names, each as real mail writes it.
REPAIRS = [
    # quotes, single, double, typographic, doubled
    ('"Jane Doe"', ("Jane", "Doe")),
    ("'Jane Doe'", ("Jane", "Doe")),
    ("\"'Jane Doe'\"", ("Jane", "Doe")),
    ("\u00abJane Doe\u00bb", ("Jane", "Doe")),
    # last name first
    ('"Doe, Jane"', ("Jane", "Doe")),
    ("DOE, Jane", ("Jane", "Doe")),
    # a service sending on a person's behalf
    ("Jane Doe via Service", ("Jane", "Doe")),
    ("Jane Doe (via Google Docs)", ("Jane", "Doe")),
    ("'Jane Doe' via Dropbox", ("Jane", "Doe")),
    ("Jane Doe - Acme", ("Jane", "Doe")),
    # the address repeated as (or beside) the name
    ("Jane Doe (jane@example.com)", ("Jane", "Doe")),
    ("Jane Doe <jane@example.com>", ("Jane", "Doe")),
    ("Jane Doe jane@example.com", ("Jane", "Doe")),
    ("jane.doe", ("Jane", "Doe")),
    # encoded words a caller passed undecoded
    ("=?utf-8?q?J=C3=A4ne_Doe?=", ("Jäne", "Doe")),
    ("=?UTF-8?B?RG9lLCBKYW5l?=", ("Jane", "Doe")),
    # capitals
    ("JANE DOE", ("Jane", "Doe")),
    ("Jane DOE", ("Jane", "Doe")),
    ("Jean-Luc PICARD", ("Jean-Luc", "Picard")),
    ("Maria DE LA CRUZ", ("Maria", "De La Cruz")),
    ("J.R.R. Tolkien", ("J.R.R.", "Tolkien")),
]


@pytest.mark.parametrize(("display", "expected"), REPAIRS)
def test_display_name_repairs(display: str, expected: tuple[str, str]) -> None:
    """The repairs clients make: quotes, last name first, "via", the address, words, capitals."""
    assert name_from_display(display) == expected


@pytest.mark.parametrize(
    "display",
    [
        "",
        "   ",
        "jane@example.com",
        "'jane.doe@example.com'",
        '"jane.doe@example.com" via Docs',
        "=?utf-8?q?jane=40example.com?=",
        "@",
        "123 456",
        "---",
        '""',
    ],
)
def test_display_names_without_a_name_are_ignored(display: str) -> None:
    """A display name with an ``@``, or with no letter at all, gives no name."""
    assert name_from_display(display) is None


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("jane.doe", ("Jane", "Doe")),
        ("jane.doe+crm", ("Jane", "Doe")),
        ("Jane.Doe", ("Jane", "Doe")),
        ("JANE.DOE", ("Jane", "Doe")),
        ("j.doe", ("J.", "Doe")),
        ("jane_doe", ("Jane", "Doe")),
        ("jane-doe", ("Jane", "Doe")),
        ("mary-jane.smith", ("Mary-Jane", "Smith")),
        ("jane.doe2", ("Jane", "Doe")),
        ("jane.doe.1984", ("Jane", "Doe")),
        ("jane", ("Jane", "")),
        ("jdoe84", ("Jdoe", "")),
        ("jane.m.doe", ("Jane M.", "Doe")),
        ("ludwig.van.beethoven", ("Ludwig", "van Beethoven")),
        ("josé.álvarez", ("José", "Álvarez")),
        ("jürgen", ("Jürgen", "")),
        ('"jane doe"', ("Jane", "Doe")),
    ],
)
def test_name_from_local(local: str, expected: tuple[str, str]) -> None:
    """Local parts give names: separators split, digits and ``+tags`` are dropped."""
    assert name_from_local(local) == expected


@pytest.mark.parametrize("local", ["", "1234", "_", "+crm", "--", "..."])
def test_local_parts_without_letters_give_no_name(local: str) -> None:
    """A local part without a letter gives no name."""
    assert name_from_local(local) is None


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("acme.com", "Acme"),
        ("acme.co.uk", "Acme"),
        ("ACME.com", "Acme"),
        ("acme-corp.io", "Acme-Corp"),
        ("acme2go.com", "Acme2go"),
        ("xn--mller-kva.de", "Müller"),
        ("müller.de", "Müller"),
        ("xn--e1afmkfd.xn--p1ai", "Пример"),
        ("", ""),
    ],
)
def test_company_name(domain: str, expected: str) -> None:
    """A registrable domain names its company from its first label, in Unicode."""
    assert company_name(domain) == expected


@given(display_names())
def test_name_from_display_is_total_and_clean(display: str) -> None:
    """Any display name gives None or stripped names holding no ``@``."""
    name = name_from_display(display)
    if name is not None:
        first, last = name
        assert first
        assert first == first.strip()
        assert last == last.strip()
        assert "@" not in first + last


@given(st.text(max_size=40))
def test_name_from_local_never_keeps_digits_or_tags(local: str) -> None:
    """A name from any local part has no digit, no ``+tag`` and no separator."""
    name = name_from_local(local)
    if name is not None:
        text = " ".join(name)
        tagless = unicodedata.normalize("NFC", local.split("+", 1)[0])
        assert not any(ch.isdigit() for ch in text)
        assert not any(ch in text for ch in "_+")
        assert all(ch in tagless.casefold() or not ch.isalpha() for ch in text.casefold())
