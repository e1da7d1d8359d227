"""Names for new contacts, from display names, local parts and domains (RULES 6.4).

Invariants:
- Every function is pure and total: odd input gives None (or an empty name), never an error.
- A display name containing ``@`` is ignored: it is an address, not a name.
- Case is kept as written unless the whole text is in one case (``JANE DOE``, ``jane doe``);
  then each word is capitalised. Name particles (``van``, ``de la``) stay with the last name.
- Digits, ``+tags`` and separators never become part of a name taken from a local part.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata

from ._mime import decode_words as _decode_words

__all__ = ["company_name", "name_from_display", "name_from_local"]

#: Words that join the last name: "Ludwig van Beethoven" -> Ludwig / van Beethoven.
_PARTICLES = frozenset(
    [
        "al",
        "bin",
        "da",
        "das",
        "de",
        "dei",
        "del",
        "della",
        "der",
        "des",
        "di",
        "do",
        "dos",
        "du",
        "el",
        "la",
        "le",
        "lo",
        "san",
        "ten",
        "ter",
        "van",
        "von",
        "zu",
    ]
)
#: Courtesy titles dropped before a name.
_TITLES = frozenset(
    ["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "herr", "frau", "mme", "mlle", "sir", "dame"]
)
#: Suffixes dropped after a comma ("Jane Doe, PhD") or at the end.
_SUFFIXES = frozenset(
    [
        "jr",
        "sr",
        "ii",
        "iii",
        "iv",
        "phd",
        "md",
        "mba",
        "msc",
        "bsc",
        "dds",
        "esq",
        "cpa",
        "inc",
        "ltd",
        "llc",
        "gmbh",
        "ag",
        "plc",
    ]
)
#: What separates a name from a trailing company or channel ("Jane Doe | Acme").
_TRAILER = re.compile(r"\s+(?:[|/\u2013\u2014]|-|via|at)\s+.*$", re.IGNORECASE)
#: Bracketed remarks: "Jane Doe (Acme)", "Jane Doe [EXTERNAL]".
_BRACKETS = re.compile(r"\s*[(\[{<][^)\]}>]*[)\]}>]\s*")
#: One word of letters joined by dots or underscores, as local parts are written.
_LOCAL_LIKE = re.compile(r"[^\W\d_]+(?:[._][^\W\d_]+)+")
#: The first letter of a word and of each part after ``-``, ``.`` or an apostrophe.
_PART_START = re.compile(r"(?:^|(?<=[-.'’]))[^\W\d_]")
_QUOTES = "\"'`\u2018\u2019\u201c\u201d\u00ab\u00bb"
#: A bracketed remark holding an address: "Jane Doe (jane@x.com)", "Jane Doe <jane@x.com>".
_AT_BRACKETS = re.compile(r"[(\[{<][^)\]}>@]*@[^)\]}>]*[)\]}>]")
#: What is left of "jane@x.com via Docs" once the address is gone: no name.
_LEFT_TRAILER = re.compile(r"[\s\"'`\u2018\u2019\u201c\u201d]*(?:via|at|[|/\u2013\u2014-])\s", re.I)
#: A word holding an @-sign.
_AT_WORD = re.compile(r"\S*@\S*")


def decode_words(text: str) -> str:
    """*text* with its RFC 2047 encoded words decoded (a name a caller passed undecoded)."""
    return _decode_words(text, [])


def _has_letter(word: str) -> bool:
    return any(ch.isalpha() for ch in word)


def _words(text: str) -> list[str]:
    """The words of *text* that hold a letter, without quotes around them."""
    return [w for w in (w.strip(_QUOTES) for w in text.split()) if _has_letter(w)]


def _bare(word: str) -> str:
    """*word* lower-cased without dots, for table lookups."""
    return word.replace(".", "").casefold()


def _capitalise(word: str) -> str:
    """*word* in lower case with each part's first letter upper-case (``Jean-Luc``, ``O'Brien``)."""
    return _PART_START.sub(lambda m: m.group(0).upper(), word.lower())


def _split(words: list[str]) -> tuple[str, str] | None:
    """First and last name from words in reading order."""
    while len(words) > 1 and _bare(words[0]) in _TITLES:
        words = words[1:]
    while len(words) > 1 and _bare(words[-1]) in _SUFFIXES:
        words = words[:-1]
    if not words:
        return None
    if len(words) == 1:
        return words[0], ""
    start = len(words) - 1
    while start > 1 and words[start - 1].casefold() in _PARTICLES:
        start -= 1
    return " ".join(words[:start]), " ".join(words[start:])


def name_from_display(display: str) -> tuple[str, str] | None:
    """First and last name from a display name, or None when it holds no usable name.

    ``"Doe, Jane"`` is Jane Doe; a display name containing ``@`` is ignored.
    """
    if not isinstance(display, str):
        return None
    if "=?" in display:
        display = decode_words(display)
    if "@" in display:
        # "Jane Doe (jane@x.com)", "Jane Doe jane@x.com": the address repeated beside the
        # name is dropped; a name that is only an address is none.
        display = _AT_WORD.sub(" ", _AT_BRACKETS.sub(" ", display))
        if "@" in display or _LEFT_TRAILER.match(display):
            return None
    text = unicodedata.normalize("NFC", " ".join(display.split()))
    if _LOCAL_LIKE.fullmatch(text):
        # "jane.doe" or "jane_doe": a local part used as a display name.
        return name_from_local(text)
    text = text.strip(_QUOTES + " ")
    text = _BRACKETS.sub(" ", text).strip(_QUOTES + " ")
    text = _TRAILER.sub("", text)
    if "," in text:
        # "Doe, Jane": the part before the comma is the last name, kept whole.
        before, _, after = text.partition(",")
        last_words = _words(before)
        first_words = [w for w in _words(after.replace(",", " ")) if _bare(w) not in _SUFFIXES]
        if first_words and last_words:
            return _recase(" ".join(first_words), " ".join(last_words))
        text = before if last_words else after
    parts = _split(_words(text))
    return None if parts is None else _recase(*parts)


def _shouting(word: str) -> bool:
    """True when *word* is written in capitals only, with two letters or more (``DOE``)."""
    return word.isupper() and sum(ch.isalpha() for ch in word) > 1 and "." not in word


def _proper(words: list[str], *, surname: bool = False) -> list[str]:
    """Each word capitalised, but a particle inside the name (``van``, ``de``) in lower case."""
    return [
        w.casefold()
        if w.casefold() in _PARTICLES and i + 1 < len(words) and (surname or i > 0)
        else _capitalise(w)
        for i, w in enumerate(words)
    ]


def _recase(first: str, last: str) -> tuple[str, str]:
    """Capitalise each word when the whole name is in one case; keep it otherwise."""
    whole = f"{first}{last}"
    if whole == whole.lower() or whole == whole.upper():
        first = " ".join(_proper(first.split()))
        last = " ".join(_proper(last.split(), surname=True))
    elif any(_shouting(w) for w in f"{first} {last}".split()):
        # "Jane DOE", "Jean-Luc PICARD": a name in capitals beside one that is not.
        first = " ".join(_capitalise(w) if _shouting(w) else w for w in first.split())
        last = " ".join(_capitalise(w) if _shouting(w) else w for w in last.split())
    return first, last


def name_from_local(local: str) -> tuple[str, str] | None:
    """First and last name from an address's local part, or None when it holds no letters.

    ``jane.doe+crm`` is Jane Doe, ``j.doe`` is J. Doe; digits and ``+tags`` are dropped.
    """
    if not isinstance(local, str):
        return None
    text = unicodedata.normalize("NFC", local).strip('"').split("+", 1)[0]
    text = "".join(" " if ch.isdigit() else ch for ch in text)
    separators = "._ " if re.search(r"[._\s]", text) else "-._ "
    for sep in separators:
        text = text.replace(sep, " ")
    words = [w.strip("-") for w in text.split()]
    words = [w for w in words if _has_letter(w)]
    if not words:
        return None
    words = _proper(words)
    words = [w + "." if len(w) == 1 and w.isalpha() and w.isupper() else w for w in words]
    return _split(words)


def company_name(registrable_domain: str) -> str:
    """The company name a registrable domain suggests: its first label, capitalised.

    ``acme.co.uk`` is Acme; an IDN label is shown in Unicode (``xn--mller-kva.de`` is Müller).
    """
    if not isinstance(registrable_domain, str):
        return ""
    label = registrable_domain.strip().strip(".").split(".", 1)[0]
    if label.lower().startswith("xn--"):
        with contextlib.suppress(UnicodeError):
            label = label.encode("ascii").decode("idna")
    return _capitalise(label.lower())
