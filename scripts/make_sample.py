"""Write the sample mailboxes that ship with mailbind: ``src/mailbind/data/sample*.mbox``.

The sample is the mailbox of María López (``maria.lopez@acme.example``), who sells for Acme,
and a small one of her colleague Tom Baker, who holds one of her customer messages too. It is
made to show every rule at work: customers on work domains (several people each, Unicode names,
an internationalised domain in both spellings), prospects on Gmail and GMX, colleagues on the
organisation's domains and a subdomain, newsletters with list headers, ``noreply@``
notifications, a blocked domain, drafts, spam and trash as Google Takeout labels them, a few
malformed headers, mail sent from the owner and from her alias, threads, and attachments.

The output is the same on every run (a fixed seed and fixed dates), so the files are committed
and a change to this script shows as a reviewable diff. Run from the project's root:

    python scripts/make_sample.py            # rewrite the files
    python scripts/make_sample.py --check    # exit 1 when the files are not up to date
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "src" / "mailbind" / "data"
SEED = 20250106
START = datetime(2025, 1, 6, 8, 30, tzinfo=timezone(timedelta(hours=1)))


@dataclass(frozen=True)
class Person:
    """Someone in the sample: a display name, an address, and the time zone they write from."""

    name: str
    address: str
    offset: int = 1  # hours east of UTC
    #: How a letter greets them, when not by the first word of their name.
    greeting: str = ""

    @property
    def header(self) -> str:
        """The address as an address header shows it (display names RFC 2047-encoded)."""
        if not self.name:
            return self.address
        if not self.name.isascii():
            name = Header(self.name, "utf-8").encode()
        elif any(c in self.name for c in '(),.:;<>@[]"\\'):
            name = '"' + self.name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        else:
            name = self.name
        return f"{name} <{self.address}>"

    @property
    def zone(self) -> timezone:
        return timezone(timedelta(hours=self.offset))


# --- The people ------------------------------------------------------------------------------

MARIA = Person("María López", "maria.lopez@acme.example")
MARIA_ALIAS = Person("María López", "maria@acme-labs.example")
TOM = Person("Tom Baker", "tom.baker@acme.example")
PRIYA = Person("Priya Natarajan", "priya.natarajan@acme.example")
LUKAS = Person("Lukas Meier", "lukas.meier@eu.acme.example")
SOPHIE = Person("Sophie Martin", "sophie.martin@eu.acme.example")
KENJI = Person("Kenji Watanabe", "kenji@acme-labs.example", 9)
ACME_TEAM = Person("Acme Sales Team", "team@acme.example")
COLLEAGUES = (TOM, PRIYA, LUKAS, SOPHIE, KENJI)

# Customers on work domains: several people at each company.
HANK = Person("Hank Rearden", "hank.rearden@globex.example", -5)
ZOE = Person("Zoë Brontë", "zoe.bronte@globex.example", -5)
FRANK = Person("Frank O'Connor", "frank.oconnor@globex.example", -5)
GLOBEX_SUPPORT = Person("Globex Support", "support@globex.example", -5)
PETER = Person("Peter Novak", "peter.novak@initech.example", -6)
SAMIRA = Person("Samira Haddad", "samira.haddad@initech.example", -6)
MILAN = Person("Milan Horvat", "milan.horvat@initech.example", -6)
JUERGEN = Person("Jürgen Groß", "juergen.gross@bücher.example")
# The same company's domain in its ASCII (punycode) spelling: one organisation, two spellings.
ANNA = Person("Anna Schäfer", "anna.schaefer@xn--bcher-kva.example")
NAOKO = Person("高橋 直子", "naoko.takahashi@sakura-trading.example", 9, "Naoko")
HIROSHI = Person("佐藤 博", "hiroshi.sato@sakura-trading.example", 9, "Hiroshi")
JANE = Person("Doe, Jane", "jane.doe@umbrella.example", 0, "Jane")
JOERG = Person("Jörg Weiß", "jörg@café.example")
CUSTOMERS = (HANK, ZOE, FRANK, PETER, SAMIRA, MILAN, JUERGEN, ANNA, NAOKO, HIROSHI, JANE, JOERG)

# Prospects on free providers.
CARLOS = Person("Carlos Mendes", "carlos.mendes84@gmail.com", -3)
EMMA = Person("Emma Wilson", "emma.wilson.design@gmail.com", 0)
KLAUS = Person("Klaus Becker", "klaus.becker@gmx.de")
INES = Person("Ines Wolf", "ines.wolf@gmx.de")
PROSPECTS = (CARLOS, EMMA, KLAUS, INES)

# Bulk senders, notifications and the blocked domain.
SAAS_WEEKLY = Person("SaaS Weekly", "newsletter@saasweekly.example", 0)
GLOBEX_NEWS = Person("Globex News", "news@globex.example", -5)
TRACKER = Person("Tracker", "noreply@tracker.example", 0)
CLOUDHOST = Person("CloudHost Billing", "no-reply@cloudhost.example", 0)
CALENDAR = Person("Calendar", "notifications@calendar.example", 0)
DEALS = Person("Best Deals", "deals@spammy.example", 0)
PAT = Person("Pat Quick", "pat.quick@spammy.example", 0)


# --- Building messages -----------------------------------------------------------------------


@dataclass
class Mail:
    """One message as it will be written: header lines in order, then the body lines."""

    headers: list[tuple[str, str]]
    body: list[str]
    envelope: str
    sent_at: datetime
    parts: list[tuple[str, str, bytes]] = field(default_factory=list)  # name, type, content

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    def render(self, number: int) -> bytes:
        """The RFC 5322 bytes, with fixed MIME boundaries so the output never changes."""
        lines = [f"{name}: {value}" for name, value in self.headers]
        lines.append("MIME-Version: 1.0")
        text = "\n".join(self.body)
        if not self.parts:
            lines += _text_part_headers(text)
            lines += ["", text]
        else:
            boundary = f"=_sample_{number:04d}"
            lines += [f'Content-Type: multipart/mixed; boundary="{boundary}"', ""]
            lines += ["This is a multi-part message in MIME format.", f"--{boundary}"]
            lines += [*_text_part_headers(text), "", text]
            for name, ctype, content in self.parts:
                encoded = base64.encodebytes(content).decode("ascii").rstrip("\n")
                lines += [
                    f"--{boundary}",
                    f'Content-Type: {ctype}; name="{name}"',
                    f'Content-Disposition: attachment; filename="{name}"',
                    "Content-Transfer-Encoding: base64",
                    "",
                    encoded,
                ]
            lines.append(f"--{boundary}--")
        return ("\n".join(lines) + "\n").encode("utf-8")


def _text_part_headers(text: str) -> list[str]:
    if text.isascii():
        return ["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7bit"]
    return ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]


def subject_header(subject: str) -> str:
    """A subject as a header holds it: RFC 2047-encoded when it is not ASCII."""
    return subject if subject.isascii() else Header(subject, "utf-8").encode()


class Clock:
    """Fixed, increasing send times: working hours on weekdays, from `START` on."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.now = START

    def tick(self, low: int = 20, high: int = 240) -> datetime:
        self.now += timedelta(minutes=self.rng.randint(low, high))
        if self.now.hour >= 19:
            minute = self.rng.randint(0, 59)
            self.now = (self.now + timedelta(days=1)).replace(hour=8, minute=minute)
        while self.now.weekday() >= 5:
            self.now += timedelta(days=1)
        return self.now


class Sample:
    """Collects the messages of one mailbox, numbering their Message-IDs."""

    def __init__(self, rng: random.Random, clock: Clock) -> None:
        self.rng = rng
        self.clock = clock
        self.mails: list[Mail] = []
        self.count = 0

    def message_id(self, domain: str) -> str:
        self.count += 1
        token = "".join(self.rng.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(10))
        return f"<{self.count:04d}.{token}@{domain.encode('idna').decode('ascii')}>"

    def add(
        self,
        sender: Person,
        to: Sequence[Person],
        subject: str,
        body: Sequence[str],
        *,
        cc: Sequence[Person] = (),
        bcc: Sequence[Person] = (),
        labels: str = "Inbox",
        extra: Sequence[tuple[str, str]] = (),
        reply_to: Mail | None = None,
        parts: Sequence[tuple[str, str, bytes]] = (),
        when: datetime | None = None,
        message_id: str | None = None,
    ) -> Mail:
        sent_at = (when or self.clock.tick()).astimezone(sender.zone)
        headers: list[tuple[str, str]] = [
            ("From", sender.header),
            ("To", ", ".join(p.header for p in to)),
        ]
        if cc:
            headers.append(("Cc", ", ".join(p.header for p in cc)))
        if bcc:
            headers.append(("Bcc", ", ".join(p.header for p in bcc)))
        headers.append(("Subject", subject_header(subject)))
        headers.append(("Date", format_datetime(sent_at)))
        mid = message_id or self.message_id(sender.address.rpartition("@")[2])
        headers.append(("Message-ID", mid))
        if reply_to is not None:
            parent = reply_to.header("Message-ID") or ""
            refs = reply_to.header("References")
            headers.append(("In-Reply-To", parent))
            headers.append(("References", f"{refs} {parent}" if refs else parent))
        headers += list(extra)
        headers.append(("X-Gmail-Labels", labels))
        mail = Mail(headers, list(body), sender.address, sent_at, list(parts))
        self.mails.append(mail)
        return mail


# --- The stories -----------------------------------------------------------------------------

GREETINGS = ("Hi {first},", "Hello {first},", "Dear {first},", "{first},")
CLOSINGS = ("Best regards,", "Kind regards,", "Thanks,", "Cheers,", "Best,")


def first_name(person: Person) -> str:
    return person.greeting or person.name.split()[0]


def letter(rng: random.Random, to: Person, sender: Person, paragraphs: Sequence[str]) -> list[str]:
    lines = [rng.choice(GREETINGS).format(first=first_name(to)), ""]
    for paragraph in paragraphs:
        lines += [paragraph, ""]
    lines += [rng.choice(CLOSINGS), sender.name.split(",")[0] if sender.name else sender.address]
    return lines


DEAL_TOPICS = (
    ("Renewal of the Globex support contract", "the renewal of your support contract"),
    ("Initech rollout: next steps", "the rollout to your second site"),
    ("Angebot Lagerverwaltung Q2", "our offer for the warehouse module"),
    ("Pilot project – Osaka office", "the pilot in your Osaka office"),
    ("Umbrella: pricing question", "the pricing of the enterprise plan"),
    ("Globex analytics add-on", "the analytics add-on"),
    ("Initech: invoice 2025-014", "invoice 2025-014"),
    ("Café Weiß – Kassensystem", "the point-of-sale integration"),
)

CUSTOMER_LINES = (
    "Thanks for the call this morning. Could you send me the updated figures for {topic}?",
    "We discussed {topic} internally and have a few questions before we sign.",
    "Our procurement team needs a formal quote for {topic} by the end of the month.",
    "Quick follow-up on {topic}: are the dates we agreed still realistic on your side?",
    "I've looped in a colleague who will handle {topic} from now on.",
    "From what I understand, {topic} can start as soon as the paperwork is done.",
)
REPLY_LINES = (
    "Thanks for your message. Here are my notes from our discussion of {topic}.",
    "Good news: we can confirm the schedule for {topic}.",
    "I checked with our engineers; {topic} needs one more workshop, ideally next week.",
    "Here is a summary of {topic} for your procurement team.",
    "Happy to help. Let's set up a call about {topic} on Thursday.",
)


ROUNDS = ("", "follow-up", "terms", "final terms")


def customer_threads(sample: Sample) -> Mail:
    """Threads with customers; returns the message Tom's mailbox holds too."""
    rng = sample.rng
    accounts = [
        ((HANK, ZOE, FRANK), DEAL_TOPICS[0]),
        ((PETER, SAMIRA, MILAN), DEAL_TOPICS[1]),
        ((JUERGEN, ANNA), DEAL_TOPICS[2]),
        ((NAOKO, HIROSHI), DEAL_TOPICS[3]),
        ((JANE,), DEAL_TOPICS[4]),
        ((ZOE, HANK), DEAL_TOPICS[5]),
        ((SAMIRA, PETER), DEAL_TOPICS[6]),
        ((JOERG,), DEAL_TOPICS[7]),
    ]
    shared: Mail | None = None
    for round_ in range(4):
        for index, (people, (subject, topic)) in enumerate(accounts):
            lead = people[round_ % len(people)]
            others = [p for p in people if p is not lead]
            title = subject if round_ == 0 else f"{subject} – {ROUNDS[round_]}"
            first = sample.add(
                lead,
                [MARIA],
                title,
                letter(rng, MARIA, lead, [rng.choice(CUSTOMER_LINES).format(topic=topic)]),
                cc=others[:1],
            )
            if round_ == 1 and index == 0:
                # The message Tom's mailbox holds too: Hank writes to both of them.
                first.headers[1] = ("To", f"{MARIA.header}, {TOM.header}")
                shared = first
            parent = first
            for step in range(rng.randint(1, 4)):
                if step % 2 == 0:
                    me = MARIA_ALIAS if (index + step + round_) % 5 == 0 else MARIA
                    parts = []
                    if round_ == 0 and index in (0, 2) and step == 0:
                        parts = [attachment(index)]
                    colleague = COLLEAGUES[(index + step) % len(COLLEAGUES)]
                    parent = sample.add(
                        me,
                        [lead],
                        f"Re: {title}",
                        letter(rng, lead, MARIA, [rng.choice(REPLY_LINES).format(topic=topic)]),
                        cc=[*others[:1], colleague] if step == 0 else others[:1],
                        labels="Sent",
                        reply_to=parent,
                        parts=parts,
                    )
                else:
                    writer = others[0] if others and step == 3 else lead
                    line = rng.choice(CUSTOMER_LINES).format(topic=topic)
                    parent = sample.add(
                        writer,
                        [MARIA],
                        f"Re: {title}",
                        letter(rng, MARIA, writer, [line]),
                        cc=[p for p in people if p is not writer][:1],
                        reply_to=parent,
                    )
    # A customer's shared support address writes too: impersonal, so it creates no contact.
    sample.add(
        GLOBEX_SUPPORT,
        [MARIA],
        "[Globex Support] Ticket 48213 has been updated",
        ["Your ticket 48213 was updated by our support team.", "", "Globex Support"],
    )
    assert shared is not None
    return shared


def attachment(index: int) -> tuple[str, str, bytes]:
    if index == 0:
        content = b"%PDF-1.4\n% Globex support contract, renewal quote (sample)\n%%EOF\n"
        return ("Globex renewal quote.pdf", "application/pdf", content)
    content = "Artikel;Menge;Preis\nLagerverwaltung;1;12.000 €\nSchulung;2;1.500 €\n"
    return ("Angebot Lagerverwaltung – Übersicht.csv", "text/csv", content.encode("utf-8"))


PROSPECT_LINES = (
    "I found your product through a friend. Do you offer a plan for a small design studio?",
    "Is there a free trial? I'd like to test it with my team of three.",
    "Wir überlegen, eure Lösung für unseren kleinen Betrieb zu nutzen. Gibt es eine Demo?",
    "Could you tell me more about pricing for freelancers?",
)


def exchange(
    sample: Sample, asker: Person, owner: Person, subject: str, question: str, answer: str
) -> tuple[Mail, Mail]:
    """A question to the mailbox's *owner* and the owner's answer (ASCII subjects)."""
    rng = sample.rng
    ask = sample.add(asker, [owner], subject, letter(rng, owner, asker, [question]))
    reply = sample.add(
        owner,
        [asker],
        f"Re: {subject}",
        letter(rng, asker, owner, [answer]),
        labels="Sent",
        reply_to=ask,
    )
    return ask, reply


PROSPECT_SUBJECTS = (
    "Question about your plans",
    "Trial?",
    "Anfrage Demo",
    "Pricing for freelancers",
)


def prospect_threads(sample: Sample) -> None:
    rng = sample.rng
    for index, person in enumerate(PROSPECTS):
        subject = PROSPECT_SUBJECTS[index]
        thanks = "Thanks for reaching out! I'll send you the details."
        _ask, answer = exchange(sample, person, MARIA, subject, PROSPECT_LINES[index], thanks)
        if index % 2 == 0:
            sample.add(
                person,
                [MARIA],
                f"Re: {subject}",
                letter(rng, MARIA, person, ["Great, that helps a lot. Talk soon!"]),
                reply_to=answer,
            )
    # Mail sent to a prospect from the alias, with Bcc to the CRM-minded colleague.
    sample.add(
        MARIA_ALIAS,
        [EMMA],
        "Your trial account",
        letter(rng, EMMA, MARIA, ["Your trial account is ready; the login link follows."]),
        bcc=[TOM],
        labels="Sent",
    )


INTERNAL_SUBJECTS = (
    "Pipeline review on Monday",
    "Forecast Q1",
    "Can you cover the Globex call?",
    "Travel to Munich",
    "Lunch?",
    "Slides for the kick-off",
    "Holiday plan",
    "Customer workshop debrief",
)


def internal_mail(sample: Sample) -> None:
    """Mail among colleagues only: internal, so it is not synced by default."""
    rng = sample.rng
    for number in range(32):
        colleague = COLLEAGUES[number % len(COLLEAGUES)]
        subject = INTERNAL_SUBJECTS[number % len(INTERNAL_SUBJECTS)]
        if number % 3 == 0:
            sample.add(
                MARIA,
                [colleague],
                subject,
                letter(rng, colleague, MARIA, ["Let me know what you think."]),
                cc=[COLLEAGUES[(number + 1) % len(COLLEAGUES)]] if number % 2 else [],
                labels="Sent",
            )
        else:
            sample.add(
                colleague,
                [MARIA],
                subject,
                letter(rng, MARIA, colleague, ["Quick note before the weekly meeting."]),
                cc=[ACME_TEAM] if number % 4 == 1 else [],
            )


def bulk_mail(sample: Sample) -> None:
    """Newsletters with list headers, and automated notifications from noreply addresses."""
    for week in range(1, 13):
        sample.add(
            SAAS_WEEKLY,
            [MARIA],
            f"SaaS Weekly #{120 + week}: pricing pages that convert",
            ["This week: pricing pages, churn, and a word from our sponsor.", "", "Unsubscribe"],
            extra=[
                ("List-Id", "SaaS Weekly <weekly.saasweekly.example>"),
                ("List-Unsubscribe", "<https://saasweekly.example/u/maria>"),
                ("Precedence", "bulk"),
            ],
            labels="Inbox,Category Promotions",
        )
    for month in ("January", "February", "March"):
        sample.add(
            GLOBEX_NEWS,
            [MARIA],
            f"Globex News – {month}",
            ["What's new at Globex this month.", "", "You receive this as a Globex partner."],
            extra=[
                ("List-Id", "<partners.globex.example>"),
                ("List-Unsubscribe", "<mailto:unsubscribe@globex.example>"),
            ],
            labels="Inbox,Category Updates",
        )
    for number in range(10):
        sample.add(
            TRACKER,
            [MARIA],
            f"[Tracker] Issue SALES-{300 + number} assigned to you",
            [f"SALES-{300 + number} was assigned to you.", "", "Do not reply to this email."],
            extra=[("Auto-Submitted", "auto-generated")],
            labels="Inbox,Category Updates",
        )
    for number in range(4):
        sample.add(
            CLOUDHOST,
            [MARIA],
            f"Your invoice for {['January', 'February', 'March', 'April'][number]} is ready",
            ["Your monthly invoice is attached to your account.", "", "CloudHost"],
            labels="Inbox",
        )
    for number in range(4):
        sample.add(
            CALENDAR,
            [MARIA],
            f"Reminder: Customer call at {9 + number}:00",
            ["This is an automatic reminder."],
            extra=[("Auto-Submitted", "auto-generated")],
            labels="Inbox",
        )
    # The blocked domain: a sender the organisation never wants in the CRM.
    for number in range(8):
        sample.add(
            DEALS if number % 2 == 0 else PAT,
            [MARIA],
            ["Limited offer just for you", "Re: our meeting", "Last chance!!!", "Quick question"][
                number % 4
            ],
            ["Click here to claim your prize."],
            labels="Spam" if number < 2 else "Inbox",
        )


def drafts_and_trash(sample: Sample) -> None:
    rng = sample.rng
    for person in (HANK, NAOKO, KLAUS, SAMIRA):
        sample.add(
            MARIA,
            [person],
            "Draft: proposal",
            letter(rng, person, MARIA, ["(unfinished) Here is my proposal for"]),
            labels="Draft",
        )
    for person in (FRANK, INES):
        sample.add(
            person,
            [MARIA],
            "Old thread",
            letter(rng, MARIA, person, ["Just checking in."]),
            labels="Trash",
        )


def malformed_mail(sample: Sample) -> None:
    """Real mailboxes hold broken headers; each of these must still be read."""
    # A broken encoded word in the subject and in a display name.
    mail = sample.add(PETER, [MARIA], "x", ["The subject of this message is mangled."])
    mail.headers[0] = ("From", "=?utf-8?q?Peter_N=C3=B?= <peter.novak@initech.example>")
    mail.headers[2] = ("Subject", "=?utf-8?B?QnJva2VuIGJhc2U2NA?= =?unknown-8bit?Q?=E9t=E9?=")
    # An unreadable address next to a readable one.
    mail = sample.add(SAMIRA, [MARIA], "Contacts for the rollout", ["See the list in Cc."])
    mail.headers.insert(2, ("Cc", "Milan <milan.horvat at initech dot example>, " + PETER.header))
    # No Date header.
    mail = sample.add(JANE, [MARIA], "No date on this one", ["Sent from an old client."])
    mail.headers = [h for h in mail.headers if h[0] != "Date"]
    # No Message-ID header, and one whose Message-ID is blank.
    mail = sample.add(HIROSHI, [MARIA], "議事録", ["会議の議事録を添付します。"])
    mail.headers = [h for h in mail.headers if h[0] != "Message-ID"]
    mail = sample.add(ZOE, [MARIA], "Blank id", ["This message has an empty Message-ID."])
    mail.headers = [(n, "" if n == "Message-ID" else v) for n, v in mail.headers]
    # Raw 8-bit text in a header, as some old mailers write it.
    mail = sample.add(JUERGEN, [MARIA], "Rückfrage", ["Kurze Rückfrage zum Angebot."])
    mail.headers[0] = ("From", "Jürgen Groß <juergen.gross@bücher.example>")
    mail.headers[2] = ("Subject", "Rückfrage zur Lieferung")
    # Undisclosed recipients: a group with no members.
    mail = sample.add(KLAUS, [MARIA], "Einladung Messe", ["Einladung zu unserem Messestand."])
    mail.headers[1] = ("To", "undisclosed-recipients:;")


def build_maria(rng: random.Random) -> tuple[list[Mail], Mail]:
    sample = Sample(rng, Clock(rng))
    shared = customer_threads(sample)
    prospect_threads(sample)
    internal_mail(sample)
    bulk_mail(sample)
    drafts_and_trash(sample)
    malformed_mail(sample)
    sample.mails.sort(key=lambda mail: mail.sent_at.astimezone(UTC))
    return sample.mails, shared


def build_tom(rng: random.Random, shared: Mail) -> list[Mail]:
    sample = Sample(rng, Clock(rng))
    sample.count = 9000
    sample.mails.append(shared)
    for person in (PETER, MILAN, HANK):
        company = person.address.split("@")[1].split(".")[0].title()
        question = "Could you confirm our support hours?"
        answer = "Confirmed: 8:00 to 18:00 on weekdays."
        exchange(sample, person, TOM, f"Support hours for {company}", question, answer)
    sample.add(PRIYA, [TOM], "Forecast Q1", letter(rng, TOM, PRIYA, ["Numbers attached."]))
    sample.add(
        SAAS_WEEKLY,
        [TOM],
        "SaaS Weekly #121: pricing pages that convert",
        ["This week: pricing pages."],
        extra=[("List-Id", "SaaS Weekly <weekly.saasweekly.example>")],
    )
    sample.mails.sort(key=lambda mail: mail.sent_at.astimezone(UTC))
    return sample.mails


# --- Writing mbox files ----------------------------------------------------------------------


def mbox_bytes(mails: Sequence[Mail]) -> bytes:
    """The mails as an mbox file (mboxrd: body lines that start with ``>*From `` get a ``>``)."""
    out: list[bytes] = []
    for number, mail in enumerate(mails, 1):
        when = mail.sent_at.astimezone(UTC)
        stamp = f"{when:%a %b} {when.day:2d} {when:%H:%M:%S %Y}"
        out.append(f"From {mail.envelope} {stamp}\n".encode())
        for line in mail.render(number).split(b"\n")[:-1]:
            if line.lstrip(b">").startswith(b"From "):
                line = b">" + line
            out.append(line + b"\n")
        out.append(b"\n")
    return b"".join(out)


def outputs() -> dict[str, bytes]:
    """Every sample file by name, as this script writes it."""
    rng = random.Random(SEED)
    maria, shared = build_maria(rng)
    tom = build_tom(rng, shared)
    return {"sample.mbox": mbox_bytes(maria), "sample-tom.mbox": mbox_bytes(tom)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the files are current")
    args = parser.parse_args(argv)
    stale = []
    for name, data in outputs().items():
        path = DATA / name
        count = data.count(b"\nFrom ") + data.startswith(b"From ")
        if args.check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(name)
            continue
        path.write_bytes(data)
        print(f"wrote {path.relative_to(DATA.parent.parent.parent)}: {count} messages")
    if stale:
        names = ", ".join(stale)
        print(f"out of date: {names}; run python scripts/make_sample.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
