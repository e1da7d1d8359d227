"""Automated senders: the header signals that say a machine sent a message, each its own reason.

Invariants:
- Pure and total: header names and values in, bits out; nothing here raises on any text.
- Each signal is one bit of `mailbind.judge` (``AUTO_SUBMITTED`` ... ``ESP_DOMAIN``) and one
  `Reason` code, so a user is told which signal kept a message out.
- Cheap: `header_signal` is asked only of headers whose lower-case name is in `SIGNAL_HEADERS`
  (one set look-up a header in the judge's one pass over a message's headers), and answers
  with set look-ups and a few string tests on at most `_MAX_VALUE` characters.
- Tables are data, written down here with what each entry is (the ESP infrastructure domains,
  header names and mailer names); callers never need to change them, and a policy's switch
  (``exclude_group_emails``) turns every signal off at once.
"""

from __future__ import annotations

__all__ = [
    "ESP_DOMAINS",
    "ESP_HEADERS",
    "ESP_MAILERS",
    "is_bounce_path",
    "is_esp_domain",
    "is_list_address",
]

#: ``Auto-Submitted`` with any value but ``no`` (RFC 3834).
AUTO_SUBMITTED = 1 << 13
#: A bounce or VERP ``Return-Path`` (``bounce-…@``, ``…+…=…@``).
BOUNCE_PATH = 1 << 14
#: An ``Errors-To`` header (kept only by list and bulk software).
ERRORS_TO = 1 << 15
#: A list's own address as sender (``owner-…@``, ``…-request@``).
LIST_ADDRESS = 1 << 16
#: A list manager's or an email service provider's ``X-Mailer`` or own ``X-`` header.
BULK_MAILER = 1 << 17
#: A ``Feedback-ID`` header (RFC 8058 era bulk senders: Gmail's feedback loop).
FEEDBACK_ID = 1 << 18
#: ``X-Auto-Response-Suppress`` (Exchange's mark on automatic and bulk mail).
AUTO_RESPONSE_SUPPRESS = 1 << 19
#: A From, Sender or Return-Path on a domain that exists only to send (ESP infrastructure).
ESP_DOMAIN = 1 << 20

#: Longest part of a header value looked at: a marker is near the start.
_MAX_VALUE = 256

#: Registrable domains that exist only to send mail for others: an email service provider's
#: sending and bounce infrastructure, never a person's mailbox.
ESP_DOMAINS: frozenset[str] = frozenset(
    {
        "amazonses.com",  # Amazon SES
        "bnc3.mailjet.com",  # Mailjet bounces (a host: mailjet.com has people)
        "ccsend.com",  # Constant Contact
        "cmail19.com",  # Campaign Monitor
        "cmail20.com",  # Campaign Monitor
        "createsend.com",  # Campaign Monitor
        "exacttarget.com",  # Salesforce Marketing Cloud
        "hubspotemail.net",  # HubSpot
        "klaviyomail.com",  # Klaviyo
        "mailchimpapp.net",  # Mailchimp
        "mailgun.org",  # Mailgun
        "mandrillapp.com",  # Mailchimp Transactional (Mandrill)
        "mcdlv.net",  # Mailchimp
        "mcsv.net",  # Mailchimp
        "mktomail.com",  # Marketo
        "mlsend.com",  # MailerLite
        "mlsend2.com",  # MailerLite
        "rsgsv.net",  # Mailchimp
        "rsys2.net",  # Oracle Responsys
        "rsys5.net",  # Oracle Responsys
        "sendgrid.net",  # SendGrid
        "sendinblue.com",  # Brevo (Sendinblue)
        "sparkpostmail.com",  # SparkPost
        "mtasv.net",  # Postmark
        "pmbounces.postmarkapp.com",  # Postmark bounces (a host: postmarkapp.com has people)
    }
)

#: Header names (lower-case) that only list managers and email service providers write.
ESP_HEADERS: frozenset[str] = frozenset(
    {
        "x-listmember",  # Lyris ListManager
        "x-lyris-message-id",  # Lyris ListManager
        "x-mc-user",  # Mailchimp
        "x-mailchimp-campaign",  # Mailchimp
        "x-campaignid",  # Mailchimp and others
        "x-sg-eid",  # SendGrid
        "x-sg-id",  # SendGrid
        "x-ses-outgoing",  # Amazon SES
        "x-ses-configuration-set",  # Amazon SES
        "x-sfmc-stack",  # Salesforce Marketing Cloud
        "x-mailgun-sid",  # Mailgun
        "x-mandrill-user",  # Mandrill
        "x-pm-message-id",  # Postmark
        "x-msfbl",  # SparkPost
        "x-roving-id",  # Constant Contact
        "x-marketoid",  # Marketo
        "x-hs-cid",  # HubSpot
        "x-kmail-relay",  # Klaviyo
        "x-mailjet-campaign",  # Mailjet
        "x-csa-complaints",  # Certified Senders Alliance members (bulk senders)
    }
)

#: Words of an ``X-Mailer`` value (lower-case) that name list-manager or bulk software.
ESP_MAILERS: tuple[str, ...] = (
    "listmanager",
    "mailchimp",
    "sendgrid",
    "amazon ses",
    "marketing cloud",
    "exacttarget",
    "mailgun",
    "campaign monitor",
    "constant contact",
    "hubspot",
    "marketo",
    "sendinblue",
    "mailjet",
    "klaviyo",
    "mailerlite",
    "lyris",
    "mailman",
    "sympa",
    "phplist",
)

#: The headers `header_signal` reads (lower-case); every other header costs one look-up.
SIGNAL_HEADERS: frozenset[str] = ESP_HEADERS | {
    "auto-submitted",
    "return-path",
    "errors-to",
    "x-mailer",
    "feedback-id",
    "x-auto-response-suppress",
}


def _bare_address(value: str) -> tuple[str, str]:
    """(local part, domain), lower-case, of an address header value such as ``<a@b.c>``."""
    text = value[:_MAX_VALUE].strip()
    if "<" in text:
        text = text.partition("<")[2].partition(">")[0]
    local, _, domain = text.strip().rpartition("@")
    return local.lower(), domain.strip().rstrip(".").lower()


def is_bounce_path(local: str) -> bool:
    """True when a Return-Path's local part (lower-case) is a bounce or VERP address.

    ``bounce-123@``, ``bounces+jane=example.com@``, ``msg-4711+jane=example.com@`` are; the
    Sender Rewriting Scheme of forwarders (``SRS0=…``) and BATV tags (``prvs=…``) are not,
    since ordinary mail carries them.
    """
    if local.startswith("bounce"):
        return True
    plus = local.find("+")
    return plus > 0 and "=" in local[plus:]


def is_list_address(local: str) -> bool:
    """True when a local part (lower-case) is a mailing list's own: ``owner-…``, ``…-request``."""
    return local.startswith("owner-") or local.endswith("-request")


def is_esp_domain(domain: str) -> bool:
    """True when *domain* (lower-case ASCII), or a domain it is under, exists only to send."""
    while domain:
        if domain in ESP_DOMAINS:
            return True
        dot = domain.find(".")
        if dot < 0:
            return False
        domain = domain[dot + 1 :]
    return False


def strip_comments(value: str) -> str:
    """*value* without RFC 5322 comments (nested, escaped); quoted strings are kept."""
    if "(" not in value:
        return value
    out: list[str] = []
    depth = 0
    quoted = escaped = False
    for ch in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
        elif ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
        elif quoted:
            quoted = ch != '"'
            out.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif depth == 0:
            quoted = ch == '"'
            out.append(ch)
    return "".join(out)


def _token(value: str) -> str:
    """The first token of a structured header value: comments, parameters and quotes gone."""
    text = strip_comments(value[:_MAX_VALUE]).split(";", 1)[0]
    return text.strip().strip('"').strip().lower()


def header_signal(name: str, value: str) -> int:
    """The signal bits of one header, *name* lower-case and in `SIGNAL_HEADERS`."""
    if name in ESP_HEADERS:
        return BULK_MAILER if value.strip() else 0
    if name == "auto-submitted":
        word = _token(value)
        return AUTO_SUBMITTED if word and word != "no" else 0
    if name == "return-path":
        local, domain = _bare_address(value)
        bits = BOUNCE_PATH if local and is_bounce_path(local) else 0
        if local and is_list_address(local):
            bits |= LIST_ADDRESS
        if domain and is_esp_domain(domain):
            bits |= ESP_DOMAIN
        return bits
    if name == "errors-to":
        return ERRORS_TO if value.strip() else 0
    if name == "x-mailer":
        mailer = value[:_MAX_VALUE].lower()
        return BULK_MAILER if any(word in mailer for word in ESP_MAILERS) else 0
    if name == "feedback-id":
        return FEEDBACK_ID if value.strip() else 0
    if name == "x-auto-response-suppress":
        return AUTO_RESPONSE_SUPPRESS if value.strip() else 0
    return 0
