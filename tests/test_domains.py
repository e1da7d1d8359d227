"""Tests for domain normalisation and registrable domains (RULES 1.4, 1.6, 9.4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind import registrable_domain, to_ascii_domain, to_unicode_domain
from mailbind._suffixes import suffix_rules
from mailbind.domains import _plain_forms, _validated_forms, check_domain

from .strategies import ascii_domains, idn_domains


@pytest.mark.parametrize(
    ("domain", "ascii", "display"),
    [
        ("example.com", "example.com", "example.com"),
        ("EXAMPLE.Com", "example.com", "example.com"),
        ("example.com.", "example.com", "example.com"),
        ("bücher.de", "xn--bcher-kva.de", "bücher.de"),
        ("XN--BCHER-KVA.DE", "xn--bcher-kva.de", "bücher.de"),
        ("Bücher.DE.", "xn--bcher-kva.de", "bücher.de"),
        ("ÖBB.at", "xn--bb-eka.at", "öbb.at"),
        ("пример.рф", "xn--e1afmkfd.xn--p1ai", "пример.рф"),
        ("a。b．com", "a.b.com", "a.b.com"),
        ("localhost", "localhost", "localhost"),
        ("acme.local", "acme.local", "acme.local"),
        ("mail.ACME.test", "mail.acme.test", "mail.acme.test"),
        ("nowhere.invalid", "nowhere.invalid", "nowhere.invalid"),
        ("acme.example", "acme.example", "acme.example"),
    ],
)
def test_valid_domains_have_an_ascii_and_a_unicode_form(
    domain: str, ascii: str, display: str
) -> None:
    """A valid name is lower-case IDNA ASCII without its trailing dot, and Unicode for display."""
    assert to_ascii_domain(domain) == ascii
    assert to_unicode_domain(domain) == display


@pytest.mark.parametrize(
    ("domain", "problem"),
    [
        ("", "There must be something after the @-sign."),
        (".", "There must be something after the @-sign."),
        (".example.com", "An email address cannot have a period immediately after the @-sign."),
        ("a..b.com", "An email address cannot have two periods in a row."),
        ("example.com..", "An email address cannot end with a period."),
        ("-acme.com", "An email address cannot have a hyphen immediately after the @-sign."),
        ("exa_mple.com", "The part after the @-sign contains invalid characters: '_'."),
        ("a\x00b.com", "The part after the @-sign contains invalid characters: U+0000."),
        ("a\ud800.com", "The email address contains unsafe characters: U+D800."),
        ("exa mple.com", "The part after the @-sign is not a domain name."),
        ("example.com\r\n", "The part after the @-sign is not a domain name."),
        ("[192.0.2.1]", "The part after the @-sign is not a domain name."),
        ("jane@example.com", "The part after the @-sign is not a domain name."),
        ("192.0.2.1", "The part after the @-sign is an IP address, which must be in brackets."),
        ("x" * 300 + ".com", "The email address is too long after the @-sign."),
    ],
)
def test_invalid_domains_say_why(domain: str, problem: str) -> None:
    """An invalid name has no forms, and the reason reads as one sentence."""
    assert check_domain(domain) == problem
    assert to_ascii_domain(domain) is None
    assert to_unicode_domain(domain) is None
    assert registrable_domain(domain) is None


@pytest.mark.parametrize("domain", ["xn--zz.com", "xn--a-ecp.ru", "ab--cd.com", "a.xn--.com"])
def test_bad_idna_is_invalid(domain: str) -> None:
    """Labels that look like punycode but are not valid IDNA are rejected."""
    assert to_ascii_domain(domain) is None


@pytest.mark.parametrize(
    ("domain", "registrable"),
    [
        ("acme.com", "acme.com"),
        ("eu.acme.com", "acme.com"),
        ("EU.Acme.COM.", "acme.com"),
        ("eu.acme.co.uk", "acme.co.uk"),
        ("acme.co.uk", "acme.co.uk"),
        ("co.uk", None),
        ("com", None),
        # The private section: each github.io site is its own organisation.
        ("a.github.io", "a.github.io"),
        ("b.github.io", "b.github.io"),
        ("docs.a.github.io", "a.github.io"),
        ("github.io", None),
        # Wildcard rules and their exceptions (*.ck, !www.ck).
        ("a.b.ck", "a.b.ck"),
        ("www.ck", "www.ck"),
        # The implicit "*" rule for a TLD the list does not know.
        ("b.example.example", "example.example"),
        ("acme.example", "acme.example"),
        ("mail.acme.local", "acme.local"),
        ("host.test", "host.test"),
        # Internationalised names, given in Unicode or punycode, come back in ASCII.
        ("shop.bücher.de", "xn--bcher-kva.de"),
        ("shop.xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
        # No registrable domain: empty labels, IP addresses, single labels.
        (".example.com", None),
        ("a..b.com", None),
        ("[192.0.2.1]", None),
        ("[IPv6:2001:db8::1]", None),
        ("192.0.2.1", None),
        ("localhost", None),
        ("intranet", None),
    ],
)
def test_registrable_domains_follow_the_public_suffix_list(
    domain: str, registrable: str | None
) -> None:
    """The registrable domain is the public suffix plus one label, or None."""
    assert registrable_domain(domain) == registrable


@pytest.mark.parametrize(
    "look_alike",
    ["acme.com.evil.io", "acme-com.io", "acmecom.io", "xn--cme-8cd.com", "аcme.com", "acme.co"],
)
def test_look_alike_domains_are_other_organisations(look_alike: str) -> None:
    """A domain that only looks like acme.com has a registrable domain of its own."""
    assert registrable_domain(look_alike) is not None
    assert registrable_domain(look_alike) != registrable_domain("acme.com")


@given(ascii_domains())
def test_case_and_trailing_dot_do_not_matter(domain: str) -> None:
    """Upper case and a trailing dot give the same ASCII form and registrable domain."""
    for variant in (domain.upper(), domain + ".", domain.title() + "."):
        assert to_ascii_domain(variant) == to_ascii_domain(domain) == domain
        assert registrable_domain(variant) == registrable_domain(domain)


@given(idn_domains())
def test_unicode_and_punycode_forms_agree(domain: str) -> None:
    """A Unicode name and its punycode form have one ASCII form, Unicode form and organisation."""
    ascii = to_ascii_domain(domain)
    assert ascii is not None
    assert ascii.isascii()
    assert to_ascii_domain(ascii) == ascii
    assert to_unicode_domain(ascii) == to_unicode_domain(domain)
    assert registrable_domain(ascii) == registrable_domain(domain)


@given(ascii_domains() | idn_domains(), st.sampled_from(["www", "eu", "mail.eu"]))
def test_subdomains_share_their_registrable_domain(domain: str, prefix: str) -> None:
    """A name and its subdomains belong to one organisation, and that is a fixed point."""
    registrable = registrable_domain(domain)
    if registrable is not None:
        assert registrable_domain(f"{prefix}.{domain}") == registrable
        assert registrable_domain(registrable) == registrable
        ascii = to_ascii_domain(domain)
        assert ascii is not None
        assert ascii == registrable or ascii.endswith("." + registrable)


@given(ascii_domains().map(str.upper) | st.text("aZ09-.x", max_size=70))
def test_the_plain_name_shortcut_agrees_with_email_validator(name: str) -> None:
    """Plain ASCII names skip email-validator only where it would accept them unchanged."""
    plain = _plain_forms(name)
    if plain is not None:
        assert _validated_forms(name) == plain


@given(st.text(st.characters(exclude_categories=()), max_size=40))
def test_any_text_gives_a_result_or_none(text: str) -> None:
    """No text makes the domain functions raise; a result is always lower-case ASCII."""
    ascii = to_ascii_domain(text)
    registrable = registrable_domain(text)
    assert ascii is None or (ascii.isascii() and ascii == ascii.lower())
    assert registrable is None or (ascii is not None and ascii.endswith(registrable))


def test_the_suffix_list_is_read_offline_and_nothing_is_written(tmp_path: Path) -> None:
    """In a fresh process without sockets, the bundled list answers and the home stays empty."""
    home = tmp_path / "home"
    home.mkdir()
    script = textwrap.dedent(
        """
        import json, socket, sys

        def refuse(*args, **kwargs):
            raise OSError("no network in this test")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        import mailbind
        loaded_early = "tldextract" in sys.modules
        from mailbind import registrable_domain
        names = ["eu.acme.co.uk", "a.github.io", "b.example.example", "bücher.de"]
        print(json.dumps([loaded_early, [registrable_domain(n) for n in names]]))
        """
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("XDG_CACHE_HOME", "TLDEXTRACT_CACHE", "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS")
    }
    env["HOME"] = str(home)
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    loaded_early, found = json.loads(result.stdout)
    assert found == ["acme.co.uk", "a.github.io", "example.example", "xn--bcher-kva.de"]
    assert not loaded_early, "tldextract should load on first use, not on import"
    assert result.stderr == ""
    assert list(home.rglob("*")) == []


def _tldextract_registrable(name: str) -> str | None:
    """The registrable domain tldextract's own extractor gives, with the list's implicit rule."""
    import tldextract

    extract = tldextract.TLDExtract(
        suffix_list_urls=(),
        cache_dir=None,
        fallback_to_snapshot=True,
        include_psl_private_domains=True,
    )
    if "." not in name:
        return None
    parts = extract.extract_str(name)
    if parts.suffix:
        return parts.top_domain_under_public_suffix or None
    return ".".join(name.rsplit(".", 2)[-2:])


_RULE_SAMPLE = sorted(
    {*suffix_rules().exact, *suffix_rules().wildcards, *suffix_rules().exceptions}
)


@settings(max_examples=300)
@given(
    rule=st.sampled_from(_RULE_SAMPLE),
    head=st.lists(st.sampled_from(["a", "www", "mail", "x1", "city", "b-c"]), max_size=3),
)
def test_the_offline_list_answers_as_tldextract(rule: str, head: list[str]) -> None:
    """The list read without importing tldextract gives tldextract's registrable domain, for
    names under plain, wildcard and exception rules of both sections."""
    name = ".".join([*head, rule])
    assert registrable_domain(name) == _tldextract_registrable(name)
