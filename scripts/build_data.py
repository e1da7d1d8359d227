#!/usr/bin/env python3
"""Rebuild mailbind's bundled lists from the upstream lists.

    python scripts/build_data.py [--upstream PATH] [--check] [--report]

Reads the third-party lists in ``<repo>/../shared/data`` (or ``--upstream``), applies the
curation written down below, and writes, under ``src/mailbind/data/``:

- ``free_providers.txt``: consumer mailbox domains (RULES 2.2), lower-case IDNA ASCII;
- ``role_addresses.txt``: role and automated local parts (RULES 2.3), normalised the way
  ``mailbind.providers.normalize_role`` normalises a local part;
- ``institutions.txt``: the public suffixes under which universities, schools and public bodies
  register their domains (``edu``, ``ac.uk``, ``gouv.fr``), chosen from the ICANN section of the
  Public Suffix List snapshot that the installed ``tldextract`` distribution ships (its version
  and date are read from the snapshot's own header, so the output depends on that file only).

Each file opens with ``#`` lines naming every source, its version, its snapshot date and its
licence, all read from the upstream README (never from the clock, so the output depends on the
inputs only), then how the list was curated; then one entry a line, sorted and unique.

``--check`` writes nothing and exits with status 1 when a committed file differs from what the
script would write; any run exits with status 2, writing nothing, when the upstream lists and
the curation below do not fit together. ``--report`` also lists the SpamAssassin domains the
output leaves out, for a reviewer looking for providers worth adding.

Curation is explicit: every entry removed from or added to an upstream list is named below with
the reason. The script stops with a message when a curation entry no longer fits the upstream
list (an excluded entry gone upstream, an added one now present), so the lists stay minimal.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_UPSTREAM = REPO.parent / "shared" / "data"
OUT = REPO / "src" / "mailbind" / "data"

FREE_FILE = "free_providers.txt"
ROLE_FILE = "role_addresses.txt"
INSTITUTION_FILE = "institutions.txt"

# The upstream files this script reads, as named in the upstream README's table.
KIKOBEATS = "free-email-domains/domains.json"
SPAMASSASSIN = "free-email-domains/spamassassin_20_freemail_domains.cf"
MIXMAX = "role-addresses/by_category.json"


# --- Free providers: curation ------------------------------------------------------------------
#
# What belongs: a domain where members of the public get a mailbox of their own (webmail,
# ISP and carrier mailboxes, privacy and relay services, throw-away services). An address there
# says nothing about the organisation its owner works for, so such a domain can never be an
# organisation domain and yields no company name.
# What does not: a domain that belongs to one organisation. Listing one would stop that
# organisation from using mailbind at all (its own domain would be refused as a free provider)
# and would hide the company of every contact there.

#: Upstream entries that are one organisation's domain or host, each with the reason.
FREE_EXCLUDED: dict[str, str] = {
    # A company's own sending, notification or bounce host: nobody signs up for a mailbox there.
    "amazonses.com": "Amazon SES sending infrastructure, used for bounce addresses",
    "bounces.amazon.com": "Amazon's bounce host",
    "calendar-server.bounces.google.com": "Google Calendar's bounce host",
    "doclist.bounces.google.com": "Google Docs' bounce host",
    "docs.google.com": "Google Docs' notification host",
    "resource.calendar.google.com": "Google Calendar room resources of Workspace customers",
    "plus.google.com": "Google+ notification host (service closed)",
    "emailer.hubspot.com": "HubSpot's sending host",
    "emails.incisivemedia.com": "Incisive Media's newsletter host",
    "facebookmail.com": "Facebook's notification domain",
    "message.myspace.com": "Myspace's notification host",
    "mlb.bounce.ed10.net": "a bulk-mail bounce host",
    "postmaster.twitter.com": "Twitter's notification host",
    "reply.ticketmaster.com": "Ticketmaster's reply host",
    "playstation.sony.com": "Sony PlayStation's notification host",
    # A company's or institution's own domain: its people are an organisation, not free-mail users.
    "alibaba.com": "Alibaba Group, a company",
    "facebook.com": "Meta/Facebook, a company (its @facebook.com mail ended in 2014)",
    "oath.com": "Oath Inc., Verizon's former media company",
    "cox.com": "Cox Communications' corporate domain (its subscribers are on cox.net)",
    "cable.comcast.com": "Comcast's corporate host (its subscribers are on comcast.net)",
    "mail.sony.jp": "a Sony company host",
    "medscape.com": "Medscape, a medical publisher",
    "cntv.cn": "China Network Television, a broadcaster",
    "eurosport.com": "Eurosport, a broadcaster",
    "techspot.com": "TechSpot, a publisher",
    "tistory.com": "Tistory, a blog platform without mailboxes",
    "toast.com": "NHN Cloud (Toast), a company",
    "joelonsoftware.com": "a company blog",
    "nus.edu.sg": "National University of Singapore",
    "unican.es": "University of Cantabria",
    "arcotronics.bg": "a manufacturer",
    "autoescuelanerja.com": "a driving school",
    "ballyfinance.com": "a finance company",
    "baudoinconsulting.com": "a consultancy",
    "brittonsign.com": "a sign maker",
    "casablancaresort.com": "a resort",
    "collectiblesuperstore.com": "a shop",
    "dfwatson.com": "a company",
    "ecbsolutions.net": "a company",
    "furnitureprovider.com": "a shop",
    "icmsconsultants.com": "a consultancy",
    "immo-gerance.info": "an estate agent",
    "jet-renovation.fr": "a builder",
    "jsrsolutions.com": "a company",
    "liontrucks.com": "a haulier",
    "pacific-re.com": "a reinsurer",
    "rvshop.com": "a shop",
    "toolsource.com": "a shop",
    "used-product.fr": "a shop",
    "viewcastmedia.com": "a media company",
    "viewcastmedia.net": "a media company",
    "wetrainbayarea.com": "a training company",
    # One family's own domain.
    "the-davis-home.com": "a family domain",
    "thezhangs.net": "a family domain",
}

#: Providers missing from the upstream free list, each with the reason.
FREE_ADDED: dict[str, str] = {
    # Known gaps named in the upstream README.
    "hey.com": "HEY (Basecamp)",
    "mailbox.org": "mailbox.org",
    "tutanota.com": "Tuta (Tutanota)",
    "tutanota.de": "Tuta (Tutanota)",
    "tutamail.com": "Tuta (Tutanota)",
    "tuta.com": "Tuta (Tutanota)",
    "tuta.io": "Tuta (Tutanota)",
    "keemail.me": "Tuta (Tutanota)",
    # Plain entries of the SpamAssassin list: national webmail and ISP mailboxes.
    "263.net": "263, China",
    "atlas.cz": "Atlas, Czechia",
    "atlas.sk": "Atlas, Slovakia",
    "azet.sk": "Azet, Slovakia",
    "centurylink.net": "CenturyLink subscribers, US",
    "clix.pt": "Clix, Portugal",
    "fsnet.co.uk": "Freeserve, UK",
    "fusemail.com": "FuseMail",
    "inbox.lv": "Inbox.lv, Latvia",
    "infinito.it": "Infinito, Italy",
    "mail.dk": "Mail.dk, Denmark",
    "msn.co.uk": "MSN, UK",
    "mykolab.com": "Kolab Now",
    "narod.ru": "Narod, Russia",
    "netcabo.pt": "NetCabo, Portugal",
    "o2.pl": "o2, Poland",
    "orange.es": "Orange subscribers, Spain (staff are on orange.com)",
    "orangehome.co.uk": "Orange subscribers, UK",
    "orcon.net.nz": "Orcon subscribers, New Zealand",
    "start.no": "Start, Norway",
    "telusplanet.net": "Telus subscribers, Canada",
    "tim.it": "TIM subscribers, Italy",
    "tin.it": "TIN, Italy",
    "tiscalinet.it": "Tiscali, Italy",
    "tlen.pl": "Tlen, Poland",
    "voila.fr": "Voila, France",
    "walla.co.il": "Walla!, Israel",
    "walla.com": "Walla!, Israel",
    "webtv.net": "MSN TV",
    "yahoomail.com": "Yahoo",
    "zoznam.sk": "Zoznam, Slovakia",
    # Well-known consumer mailboxes that neither upstream list names.
    "btopenworld.com": "BT subscribers, UK",
    "disroot.org": "Disroot",
    "gmx.co.uk": "GMX, UK",
    "hinet.net": "Chunghwa Telecom subscribers, Taiwan (SpamAssassin: ms*.hinet.net)",
    "hushmail.me": "Hushmail",
    "internet.ru": "Mail.ru",
    "kabelmail.de": "Kabel Deutschland subscribers, Germany",
    "neuf.fr": "SFR subscribers, France",
    "riseup.net": "Riseup",
    "sfr.fr": "SFR subscribers, France (staff are on sfr.com)",
    "startmail.com": "StartMail",
    "sympatico.ca": "Bell subscribers, Canada",
    "talktalk.net": "TalkTalk subscribers, UK",
    "telus.net": "Telus subscribers, Canada (staff are on telus.com)",
    "vodafonemail.de": "Vodafone subscribers, Germany",
    "yandex.com.tr": "Yandex, Turkey",
    "zohomail.eu": "Zoho Mail, EU",
    "zohomail.in": "Zoho Mail, India",
}

#: Concrete domains for the SpamAssassin globs (``yahoo.*``), added when upstream lacks them.
#: Only domains the provider itself hands out are named. An empty tuple: the upstream list
#: already names every variant in use that we know of.
SPAMASSASSIN_GLOBS: dict[str, tuple[str, ...]] = {
    "*.rr.com": (),  # rr.com is upstream; its subdomains match through the registrable domain.
    "excite.*": (),
    "excite.co*.*": (),
    "fastmail.*": (),
    "fastmail.co*.*": (),
    "freemail.*": (),
    "freemail.*.*": (),
    "lycos.*": (),
    "lycos.co*.*": (),
    "mail2*.com": (),
    "outlook.*": (),
    "runbox.*": (),
    "strompost.*": (),
    "tiscali.*": (),
    "tiscali.co*.*": (),
    "yahoo.*": (),
    "yahoo.co*.*": (),
    "aol.*": ("aol.de", "aol.fr"),
    "aol.co*.*": ("aol.co.uk",),
    "gmx.*": ("gmx.es", "gmx.fr", "gmx.us"),
    "hotmail.*": (
        "hotmail.be",
        "hotmail.cz",
        "hotmail.dk",
        "hotmail.gr",
        "hotmail.hu",
        "hotmail.lt",
        "hotmail.lv",
        "hotmail.my",
        "hotmail.no",
        "hotmail.ph",
        "hotmail.rs",
        "hotmail.sg",
        "hotmail.sk",
    ),
    "hotmail.co*.*": (
        "hotmail.co.id",
        "hotmail.co.in",
        "hotmail.co.kr",
        "hotmail.co.th",
        "hotmail.com.ar",
        "hotmail.com.hk",
        "hotmail.com.tw",
        "hotmail.com.vn",
    ),
    "live.*": ("live.fi", "live.hk", "live.ph"),
    "ms*.hinet.net": (),  # hinet.net is added among the well-known providers.
    "yandex.*": ("yandex.by", "yandex.kz"),
}

#: SpamAssassin globs deliberately not expanded, each with the reason.
SPAMASSASSIN_GLOBS_SKIPPED: dict[str, str] = {
    "*.onmicrosoft.com": "every tenant is one organisation's Microsoft 365 domain",
    "vodafone.*": "also covers Vodafone's own corporate domains",
    "*.att.ne.jp": "AT&T Japan's business service",
    "*.free.hr": "no concrete domain known to be in use",
    "xemail.*": "no concrete domain known to be in use",
}

# --- Role addresses: curation ------------------------------------------------------------------
#
# What belongs: a local part that names a function, a team or a machine (support@, billing@,
# all-staff@, noreply@), so that mail from it is not mail from one person.
# What does not: a local part that is, or is as likely to be, one person: a post held by one
# person (ceo@ is the CEO), a first name or surname, initials, and noise (numbers, keyboard
# runs). Mail from a person belongs in the CRM, so when in doubt an entry is left out.

#: Upstream entries that are people, each with the reason (compared after normalisation).
ROLE_EXCLUDED: dict[str, str] = {
    # A post held by one person.
    "accountant": "one person's job title",
    "accountmanager": "one person's job title",
    "advisor": "one person's job title",
    "asistente": "one person's job title (assistant)",
    "assistanthead": "one person's post",
    "captain": "one person's post",
    "ceo": "one person's post",
    "ceos": "one person's post (the chief executive)",
    "chef": "one person's post (French: the boss)",
    "coach": "one person's job title",
    "consultant": "one person's job title",
    "contador": "one person's job title (accountant)",
    "contractor": "one person",
    "csm": "one person's job title (customer success manager)",
    "controller": "one person's job title",
    "coordinator": "one person's job title",
    "deputy": "one person's post",
    "deputyhead": "one person's post",
    "designer": "one person's job title",
    "developer": "one person's job title",
    "director": "one person's post",
    "editor": "one person's job title",
    "expert": "one person",
    "founders": "the founders, personally",
    "head": "one person's post",
    "headteacher": "one person's post",
    "innkeeper": "one person's job title",
    "instructor": "one person's job title",
    "intern": "one person",
    "manager": "one person's job title",
    "mayor": "one person's post",
    "mentor": "one person",
    "officemanager": "one person's job title",
    "pastor": "one person's post",
    "president": "one person's post",
    "presidencia": "one person's office (the president)",
    "presidente": "one person's post",
    "principa": "one person's post (misspelt principal)",
    "principal": "one person's post",
    "professor": "one person's post",
    "receptionist": "one person's job title",
    "recruiter": "one person's job title",
    "secretaris": "one person's post (Dutch: secretary)",
    "secretary": "one person's post",
    "superintendent": "one person's post",
    "supervisor": "one person's job title",
    "teacher": "one person's job title",
    "the.principal": "one person's post",
    "treasurer": "one person's post",
    # Found shutting real people out of a CRM (mailbind.providers.NEVER_ROLES).
    "biz": "a one-person business's own address",
    "demo": "a person's address at a demo or trial company",
    "lead": "a sales lead, or a person's first name (Lead)",
    "test": "a person testing their own address; also a surname",
    "user": "a person's generic address at a small provider",
    # A first name or surname.
    "alexa": "a first name",
    "denver": "a first name",
    "france": "a first name",
    "gardner": "a surname",
    "india": "a first name",
    "paris": "a first name",
    "per": "a first name",
    "sem": "a first name (Dutch), or initials",
    "sydney": "a first name",
    # Noise.
    "aaa": "a keyboard run",
    "abc": "a keyboard run",
    "asd": "a keyboard run",
    "asdasd": "a keyboard run",
    "asdf": "a keyboard run",
}

#: Two-letter upstream entries kept although short entries are dropped as possible initials.
ROLE_SHORT_KEPT: frozenset[str] = frozenset({"hi", "hq", "hr", "it", "pr", "qa", "rh"})

#: Role and automated local parts missing from the upstream list, each with the reason.
ROLE_ADDED: dict[str, str] = {
    "auto-reply": "automatic replies",
    "autoresponder": "automatic replies",
    "bounce": "bounce handling",
    "bounces": "bounce handling (mailing lists)",
    "hallo": "German: hello",
}


# --- Institutions: curation -------------------------------------------------------------------
#
# What belongs: a public suffix under which only universities, schools or public bodies register
# (RULES: an institution's people each have their own address, and a user may choose not to
# group them as one company). Chosen by rule from the Public Suffix List's ICANN section, so
# the list follows the PSL; the rules and every exception are named here.
# What does not: a suffix open to anyone (``org.uk``), and a label that only looks institutional
# in one country (named in INSTITUTION_EXCLUDED).

#: Top-level domains only institutions can register under, each with who they are.
INSTITUTION_TLDS: dict[str, str] = {
    "edu": "accredited higher education, mostly in the US",
    "gov": "the US government",
    "int": "organisations founded by international treaty",
    "mil": "the US military",
}

#: Second-level labels that, under a country's two-letter TLD, are reserved for institutions.
INSTITUTION_LABELS: dict[str, str] = {
    "ac": "academic institutions (ac.uk, ac.jp)",
    "edu": "educational institutions (edu.au, edu.cn)",
    "go": "government (go.jp, go.kr, go.th)",
    "gob": "government, Spanish-speaking countries (gob.mx, gob.es)",
    "gouv": "government, French-speaking countries (gouv.fr)",
    "gov": "government (gov.uk, gov.au)",
    "govt": "government (govt.nz)",
    "gub": "government (gub.uy)",
    "gv": "government (gv.at)",
    "k12": "schools (k12.il, k12.tr)",
    "mil": "the military (mil.br)",
    "nhs": "the UK's National Health Service",
    "police": "police forces (police.uk)",
    "sch": "schools (sch.uk, sch.id)",
}

#: Labels that, under a US state (``k12.ca.us``), are reserved for public bodies.
INSTITUTION_US_STATE_LABELS: dict[str, str] = {
    "cc": "community colleges",
    "k12": "school districts",
    "lib": "public libraries",
}

#: Suffixes the rules above choose that are not institutional, each with the reason.
INSTITUTION_EXCLUDED: dict[str, str] = {
    "go.it": "the province of Gorizia, Italy, open to anyone there",
}

#: The snapshot's file name inside the tldextract package folder.
PSL_SNAPSHOT = ".tld_set_snapshot"


def psl_snapshot() -> Path:
    """The Public Suffix List file the installed tldextract ships (not imported, not fetched)."""
    spec = importlib.util.find_spec("tldextract")
    if spec is None or spec.origin is None:
        raise BuildError("tldextract is not installed: its Public Suffix List snapshot is needed.")
    return Path(spec.origin).parent / PSL_SNAPSHOT


def read_psl(text: str) -> tuple[dict[str, str], list[str]]:
    """The header fields (``VERSION``, ``COMMIT``) and the ICANN rules of a PSL text.

    Wildcard rules are kept without their ``*.``; exception rules (``!``) name no suffix and are
    left out. Rules are lower-cased; Unicode rules come as IDNA ASCII.
    """
    fields: dict[str, str] = {}
    rules: list[str] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        match = re.fullmatch(r"// (VERSION|COMMIT): (\S+)", line)
        if match:
            fields[match.group(1)] = match.group(2)
        if line.startswith("// ===BEGIN ICANN DOMAINS==="):
            inside = True
        elif line.startswith("// ===END ICANN DOMAINS==="):
            inside = False
        elif inside and line and not line.startswith(("//", "!")):
            rule = line.removeprefix("*.")
            rules.append(_to_idna(rule) if not rule.isascii() else rule.lower())
    if not rules:
        raise BuildError("The Public Suffix List snapshot holds no ICANN section.")
    return fields, rules


def institution_rule(suffix: str) -> str | None:
    """Which rule makes *suffix* (a public suffix, ASCII) an institution's, or None."""
    labels = suffix.split(".")
    if len(labels) == 1 and labels[0] in INSTITUTION_TLDS:
        return f"the top-level domain {labels[0]}"
    if len(labels) == 2 and len(labels[1]) == 2 and labels[0] in INSTITUTION_LABELS:
        return f"{labels[0]} under a country"
    if (
        len(labels) == 3
        and labels[2] == "us"
        and len(labels[1]) == 2
        and labels[0] in INSTITUTION_US_STATE_LABELS
    ):
        return f"{labels[0]} under a US state"
    return None


def build_institutions(text: str) -> Built:
    """The institutional public suffixes of the PSL *text*."""
    fields, rules = read_psl(text)
    if "VERSION" not in fields:
        raise BuildError("The Public Suffix List snapshot names no VERSION.")
    chosen = {rule for rule in rules if institution_rule(rule)}
    _check_curation(chosen, INSTITUTION_EXCLUDED, (), "institutions")
    entries = tuple(sorted(chosen - set(INSTITUTION_EXCLUDED)))
    date = fields["VERSION"].partition("_")[0]
    header = [
        "# mailbind bundled data: public suffixes of institutions (universities, schools,",
        "# public bodies). One suffix a line, lower-case IDNA ASCII, sorted. A domain is an",
        "# institution's when it or a parent domain is listed (ox.ac.uk under ac.uk).",
        "# Generated by scripts/build_data.py from the Public Suffix List; do not edit by hand.",
        "# Source: the Public Suffix List, ICANN section, as shipped by the tldextract package",
        f"# Version: commit {fields.get('COMMIT', 'not named')}",
        f"# Snapshot: {date} (the list's VERSION {fields['VERSION']})",
        "# Licence: MPL-2.0, https://mozilla.org/MPL/2.0/ (see LICENSES.md)",
        f"# Curation: {len(rules)} ICANN rules; chosen by rule: {len(INSTITUTION_TLDS)} top-level"
        f" domains, {len(INSTITUTION_LABELS)} labels under a country,"
        f" {len(INSTITUTION_US_STATE_LABELS)} under a US state;",
        f"# Curation: {len(INSTITUTION_EXCLUDED)} removed as open to anyone.",
        f"# Entries: {len(entries)}",
    ]
    return Built(tuple(header), entries)


def role_dropped_by_rule(entry: str) -> str | None:
    """Why a normalised upstream role entry is dropped by a general rule, or None."""
    if entry.isdigit():
        return "only digits (a year or a number, not a role)"
    if len(entry) <= 2 and entry not in ROLE_SHORT_KEPT:
        return "one or two letters: as likely a person's initials"
    return None


# --- Reading the upstream folder --------------------------------------------------------------


class BuildError(Exception):
    """The upstream lists and the curation above do not fit together."""


@dataclass(frozen=True)
class Upstream:
    """One upstream file as the upstream README describes it."""

    path: str
    source: str
    licence: str
    version: str
    snapshot: str
    entries: int


def read_readme(upstream: Path) -> dict[str, Upstream]:
    """The README's table, by file path: source, licence, version, snapshot date, entry count."""
    rows: dict[str, Upstream] = {}
    for line in (upstream / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].startswith("`"):
            continue
        path = cells[0].strip("`")
        source = cells[1].replace("`", "")
        version = re.search(r"\bv(\d+(?:\.\d+)+)\b", source)
        date = re.search(r"\((\d{4}-\d{2}(?:-\d{2})?)\)", source)
        count = re.match(r"[\d,]+", cells[3])
        rows[path] = Upstream(
            path=path,
            source=source,
            licence=cells[2],
            version=version.group(1) if version else "",
            snapshot=date.group(1) if date else "",
            entries=int(count.group(0).replace(",", "")) if count else -1,
        )
    for needed in (KIKOBEATS, SPAMASSASSIN, MIXMAX):
        if needed not in rows:
            raise BuildError(f"The upstream README has no row for {needed!r}.")
    return rows


def _to_idna(domain: str) -> str:
    try:
        import idna  # installed with email-validator: IDNA 2008 with UTS 46 mapping
    except ImportError:
        return domain.encode("idna").decode("ascii")  # the standard library's IDNA 2003
    return str(idna.encode(domain, uts46=True).decode("ascii"))


_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def ascii_domain(entry: str) -> str:
    """*entry* as lower-case IDNA ASCII; raises BuildError when it is not a domain name."""
    domain = entry.strip().lower().rstrip(".")
    if not domain.isascii():
        try:
            domain = _to_idna(domain)
        except UnicodeError as err:  # idna.IDNAError is a UnicodeError too
            raise BuildError(f"{entry!r} is not a domain name: {err}.") from err
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise BuildError(f"{entry!r} is not a domain name.")
    return domain


def read_kikobeats(upstream: Path) -> list[str]:
    """The free-email-domains JSON array."""
    data = json.loads((upstream / KIKOBEATS).read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(isinstance(d, str) for d in data):
        raise BuildError(f"{KIKOBEATS} is not a JSON array of strings.")
    return data


def read_spamassassin(upstream: Path) -> tuple[set[str], set[str]]:
    """The ``freemail_domains`` tokens of the SpamAssassin file: (plain domains, globs)."""
    plain: set[str] = set()
    globs: set[str] = set()
    for line in (upstream / SPAMASSASSIN).read_text(encoding="utf-8").splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] == ["freemail_domains"]:
            for token in words[1:]:
                token = token.lower()
                (globs if any(c in token for c in "*?[") else plain).add(token)
    return plain, globs


def spamassassin_glob(glob: str) -> re.Pattern[str]:
    """A SpamAssassin domain glob as a regex: ``*`` is any run within one label, ``?`` one
    character (as SpamAssassin's FreeMail plugin reads them)."""
    parts = {"*": "[^.]*", "?": "[^.]"}
    return re.compile("".join(parts.get(c, re.escape(c)) for c in glob))


def read_mixmax(upstream: Path) -> list[str]:
    """Every role local part of the role-based-email-addresses JSON, all categories."""
    data = json.loads((upstream / MIXMAX).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise BuildError(f"{MIXMAX} is not a JSON object of categories.")
    return [entry for entries in data.values() for entry in entries]


def normalize_role(local: str) -> str:
    """The same normalisation as ``mailbind.providers.normalize_role``.

    Kept here so that the script runs without installing the package; a test checks both
    agree on every bundled entry.
    """
    return local.partition("+")[0].casefold().translate(str.maketrans("", "", ".-_"))


# --- Building ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    """One generated file: its header lines and its entries."""

    header: tuple[str, ...]
    entries: tuple[str, ...]

    def text(self) -> str:
        """The file's text."""
        return "".join(f"{line}\n" for line in (*self.header, *self.entries))


def _check_curation(
    upstream: Iterable[str], excluded: Iterable[str], added: Iterable[str], what: str
) -> None:
    present = set(upstream)
    gone = sorted(set(excluded) - present)
    if gone:
        raise BuildError(
            f"{what}: {', '.join(gone)} no longer upstream; remove from the exclusions."
        )
    already = sorted(set(added) & present)
    if already:
        raise BuildError(f"{what}: {', '.join(already)} now upstream; remove from the additions.")


def _source_lines(row: Upstream, role: str) -> list[str]:
    snapshot = row.snapshot or f"version {row.version}; the upstream README gives no date"
    return [
        f"# Source: {row.source} ({role})",
        f"# Version: {row.version or 'not numbered upstream; see the snapshot date'}",
        f"# Snapshot: {snapshot}",
        f"# Licence: {row.licence} (see LICENSES.md)",
    ]


def build_free(upstream: Path, readme: Mapping[str, Upstream]) -> Built:
    """The curated free-provider domains."""
    raw = read_kikobeats(upstream)
    kiko = {ascii_domain(entry) for entry in raw}
    if len(raw) != readme[KIKOBEATS].entries:
        raise BuildError(
            f"{KIKOBEATS} holds {len(raw)} entries, the README says {readme[KIKOBEATS].entries}."
        )
    plain, globs = read_spamassassin(upstream)
    unknown = sorted(globs - set(SPAMASSASSIN_GLOBS) - set(SPAMASSASSIN_GLOBS_SKIPPED))
    if unknown:
        raise BuildError(f"SpamAssassin globs without a decision: {', '.join(unknown)}.")
    glob_added: dict[str, str] = {}
    for glob, domains in SPAMASSASSIN_GLOBS.items():
        for domain in domains:
            if glob not in globs or not spamassassin_glob(glob).fullmatch(domain):
                raise BuildError(f"{domain!r} is not named by a SpamAssassin glob {glob!r}.")
            glob_added[domain] = f"SpamAssassin {glob}"
    sa_plain_added = {d for d in FREE_ADDED if d in plain}
    added = {**FREE_ADDED, **glob_added}
    if len(added) != len(FREE_ADDED) + len(glob_added):
        raise BuildError("A domain is added twice; keep it in one addition list.")
    _check_curation(kiko, FREE_EXCLUDED, added, "free providers")
    entries = tuple(sorted((kiko - set(FREE_EXCLUDED)) | {ascii_domain(d) for d in added}))
    header = [
        "# mailbind bundled data: free mailbox provider domains (RULES 2.2).",
        "# One domain a line, lower-case IDNA ASCII, sorted. A domain matches itself and every",
        "# address whose domain or registrable domain it is.",
        "# Generated by scripts/build_data.py from the upstream lists; do not edit by hand.",
        *_source_lines(readme[KIKOBEATS], "the list"),
        *_source_lines(readme[SPAMASSASSIN], "cross-check and additions"),
        f"# Curation: {len(kiko)} upstream domains; {len(FREE_EXCLUDED)} removed as one"
        " organisation's domain or host (companies, institutions, sending hosts, family domains);",
        f"# Curation: {len(added)} added: {len(FREE_ADDED) - len(sa_plain_added)} gaps named by"
        f" the upstream README or well known, {len(sa_plain_added)} plain SpamAssassin entries,"
        f" {len(glob_added)} concrete domains for SpamAssassin globs such as yahoo.*.",
        f"# Entries: {len(entries)}",
    ]
    return Built(tuple(header), entries)


def build_roles(upstream: Path, readme: Mapping[str, Upstream]) -> Built:
    """The curated role local parts, normalised."""
    raw = read_mixmax(upstream)
    if len(raw) != readme[MIXMAX].entries:
        raise BuildError(
            f"{MIXMAX} holds {len(raw)} entries, the README says {readme[MIXMAX].entries}."
        )
    mixmax = {normalize_role(entry) for entry in raw}
    excluded = {normalize_role(entry) for entry in ROLE_EXCLUDED}
    added = {normalize_role(entry) for entry in ROLE_ADDED}
    _check_curation(mixmax, excluded, added, "role addresses")
    by_rule = {entry for entry in mixmax if role_dropped_by_rule(entry)}
    overlap = sorted(excluded & by_rule)
    if overlap:
        raise BuildError(f"Dropped by a rule already: {', '.join(overlap)}; remove them.")
    entries = tuple(sorted((mixmax - excluded - by_rule) | added))
    for entry in entries:
        if not re.fullmatch(r"[a-z0-9]+", entry):
            raise BuildError(f"The role entry {entry!r} is not lower-case ASCII letters or digits.")
    header = [
        "# mailbind bundled data: role and automated local parts (RULES 2.3).",
        "# One local part a line, normalised (case-folded, without a +tag, '.', '-' or '_'),"
        " sorted.",
        "# Generated by scripts/build_data.py from the upstream list; do not edit by hand.",
        *_source_lines(readme[MIXMAX], "the list"),
        f"# Curation: {len(raw)} upstream entries, {len(mixmax)} once normalised;"
        f" {len(excluded)} removed as people (one person's post, names, noise),"
        f" {len(by_rule)} removed by rule (numbers, one or two letters but {len(ROLE_SHORT_KEPT)}"
        " kept);",
        f"# Curation: {len(added)} added (bounce handling, automatic replies).",
        f"# Entries: {len(entries)}",
    ]
    return Built(tuple(header), entries)


def build(upstream: Path) -> dict[str, Built]:
    """Every generated file, by file name."""
    readme = read_readme(upstream)
    psl = psl_snapshot().read_text(encoding="utf-8")
    return {
        FREE_FILE: build_free(upstream, readme),
        ROLE_FILE: build_roles(upstream, readme),
        INSTITUTION_FILE: build_institutions(psl),
    }


def report(upstream: Path, built: Mapping[str, Built]) -> str:
    """The SpamAssassin plain domains the free list leaves out, for a reviewer."""
    plain, _ = read_spamassassin(upstream)
    left_out = sorted(plain - set(built[FREE_FILE].entries))
    lines = [f"{len(left_out)} SpamAssassin domains are not in {FREE_FILE}:", *left_out]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the script; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--upstream",
        type=Path,
        default=DEFAULT_UPSTREAM,
        help="the upstream folder (default: ../shared/data next to the repository)",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; fail when a file would change"
    )
    parser.add_argument(
        "--report", action="store_true", help="list the SpamAssassin domains left out"
    )
    args = parser.parse_args(argv)
    try:
        built = build(args.upstream)
    except (BuildError, OSError, ValueError) as err:
        print(f"build_data: {err}", file=sys.stderr)
        return 2
    stale = []
    for name, result in built.items():
        path = OUT / name
        text = result.text()
        current = path.read_text(encoding="ascii") if path.exists() else None
        if current == text:
            print(f"{name}: {len(result.entries)} entries, unchanged")
            continue
        stale.append(name)
        if not args.check:
            path.write_text(text, encoding="ascii", newline="\n")
            print(f"{name}: {len(result.entries)} entries, written")
    if args.report:
        print(report(args.upstream, built))
    if args.check and stale:
        print(f"build_data: out of date: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
