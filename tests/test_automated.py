"""Automated senders: each header signal its own reason, on real-looking mail, and the roles
that are people.

The cases are written by hand from what real receipts, newsletters and alerts carry; each
names the one signal it shows (other signals are left out, so the reason is that one alone).
"""

from __future__ import annotations

import pytest

from mailbind import Mailbox, Message, Policy, Reason, decide, is_impersonal
from mailbind.automated import header_signal, is_bounce_path
from mailbind.providers import NEVER_ROLES, bundled_role_addresses

POLICY = Policy(org_domains="acme.com")
ANNA = Mailbox("anna@acme.com")
R = Reason


def _mail(sender: str, headers: list[tuple[str, str]], *, to: str = "anna@acme.com") -> Message:
    return Message.build(sender=sender, to=to, subject="Your order", headers=headers)


#: (what the mail is, From, headers, the one reason it gets besides ``external``).
CASES = [
    (
        "a receipt bounced through a VERP Return-Path",
        "Shop <mia.shop@shop.example>",
        [("Return-Path", "<shop+anna=acme.com@bounce-handler.shop.example>")],
        R.BOUNCE_RETURN_PATH,
    ),
    (
        "an alert with a bounce- Return-Path",
        "Cloud Status <status@cloud.example>",
        [("Return-Path", "<bounce-a1b2c3@mail.cloud.example>")],
        R.BOUNCE_RETURN_PATH,
    ),
    (
        "an old list server's Errors-To",
        "Jane Doe <jane@uni.example>",
        [("Errors-To", "owner-physics-l@lists.uni.example")],
        R.ERRORS_TO,
    ),
    (
        "a list's owner address as sender",
        "owner-physics-l@lists.uni.example",
        [],
        R.LIST_ADDRESS,
    ),
    (
        "a list's request address as sender",
        "Physics List <physics-l-request@lists.uni.example>",
        [],
        R.LIST_ADDRESS,
    ),
    (
        "a Lyris ListManager digest",
        "Trade News <tom.editor@trade.example>",
        [("X-Mailer", "ListManager Web Interface"), ("X-ListMember", "anna@acme.com")],
        R.BULK_MAILER,
    ),
    (
        "a Mailchimp newsletter",
        "Bakery <lisa@bakery.example>",
        [("X-Mailer", "MailChimp Mailer - **CID4f2a9c1e3b**"), ("X-MC-User", "4f2a9c1e3b")],
        R.BULK_MAILER,
    ),
    (
        "a SendGrid receipt",
        "Venue <jo.venue@venue.example>",
        [("X-SG-EID", "u001.aBcDeF")],
        R.BULK_MAILER,
    ),
    (
        "an Amazon SES notification",
        "SaaS <dana@saas.example>",
        [("X-SES-Outgoing", "2024.03.01-54.240.8.1")],
        R.BULK_MAILER,
    ),
    (
        "a Salesforce Marketing Cloud campaign",
        "Airline <ava.air@airline.example>",
        [("X-SFMC-Stack", "7")],
        R.BULK_MAILER,
    ),
    (
        "a large sender's Feedback-ID",
        "Sam at Social <sam@social.example>",
        [("Feedback-ID", "1234:5678:social:social.example")],
        R.FEEDBACK_ID,
    ),
    (
        "an Exchange system message",
        "IT Desk <itdesk@corp.example>",
        [("X-Auto-Response-Suppress", "All")],
        R.AUTO_RESPONSE_SUPPRESS,
    ),
    (
        "an out-of-office reply",
        "Jane Doe <jane@corp.example>",
        [("Auto-Submitted", "auto-replied")],
        R.AUTO_SUBMITTED,
    ),
    (
        "a From on SendGrid's own domain",
        "Deals <mike@em1234.sendgrid.net>",
        [],
        R.ESP_SENDER_DOMAIN,
    ),
    (
        "a Return-Path on Amazon SES's infrastructure",
        "SaaS <dana@saas.example>",
        [("Return-Path", "<0100018e0a@us-west-2.amazonses.com>")],
        R.ESP_SENDER_DOMAIN,
    ),
    (
        "a Return-Path on Salesforce Marketing Cloud's infrastructure",
        "Airline <ava.air@airline.example>",
        [("Return-Path", "<reply@s7.exacttarget.com>")],
        R.ESP_SENDER_DOMAIN,
    ),
]


@pytest.mark.parametrize(("what", "sender", "headers", "reason"), CASES, ids=[c[0] for c in CASES])
def test_each_signal_keeps_automated_mail_out_with_its_own_reason(
    what: str, sender: str, headers: list[tuple[str, str]], reason: Reason
) -> None:
    """Each automated-sender signal is a reason of its own that keeps the message out."""
    decision = decide(_mail(sender, headers), ANNA, POLICY)
    assert decision.reasons == (reason, R.EXTERNAL)
    assert not decision.synced
    assert reason.excludes


@pytest.mark.parametrize(("what", "sender", "headers", "reason"), CASES, ids=[c[0] for c in CASES])
def test_the_owners_own_sent_mail_is_exempt(
    what: str, sender: str, headers: list[tuple[str, str]], reason: Reason
) -> None:
    """Mail the owner sent passes every signal, as it passes the group-sender rule."""
    sent = Message.build(sender="anna@acme.com", to="kim@client.example", headers=headers)
    assert decide(sent, ANNA, POLICY).reasons == (R.EXTERNAL,)


def test_the_switch_turns_every_signal_off() -> None:
    """``exclude_group_emails=False`` lets every automated sender through."""
    policy = Policy(org_domains="acme.com", exclude_group_emails=False)
    for _, sender, headers, _ in CASES:
        assert decide(_mail(sender, headers), ANNA, policy).synced


#: Mail from people that carries none of the signals, however it looks.
PEOPLE = [
    ("Kim <kim@client.example>", [("Return-Path", "<kim@client.example>")]),
    (
        "Kim <kim@client.example>",
        [("Return-Path", "<SRS0=ab12=XY=client.example=kim@fwd.example>")],
    ),
    ("Kim <kim@client.example>", [("Return-Path", "<prvs=1234abcd5e=kim@client.example>")]),
    ("Kim <kim@client.example>", [("X-Mailer", "Microsoft Outlook 16.0")]),
    ("Kim <kim@client.example>", [("X-Mailer", "Apple Mail (2.3731)")]),
    ("Kim <kim@client.example>", [("Auto-Submitted", "no")]),
    ("Owner Smith <owner@client.example>", []),
    ("Kim <kim@mailjet.com>", []),
    ("Kim <kim+crm@client.example>", [("Return-Path", "<kim+crm@client.example>")]),
]


@pytest.mark.parametrize(("sender", "headers"), PEOPLE)
def test_people_carry_no_signal(sender: str, headers: list[tuple[str, str]]) -> None:
    """Forwarders' SRS, BATV tags, mail programs and sub-addresses are not automated."""
    assert decide(_mail(sender, headers), ANNA, POLICY).reasons == (R.EXTERNAL,)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("bounce-123", True),
        ("bounces+jane=example.com", True),
        ("msg-4711+jane=example.com", True),
        ("srs0=ab=cd=x.com=kim", False),
        ("prvs=1234=kim", False),
        ("kim+crm", False),
        ("kim", False),
    ],
)
def test_is_bounce_path(local: str, expected: bool) -> None:
    """Bounce and VERP local parts are bounces; SRS and BATV are not."""
    assert is_bounce_path(local) is expected


def test_a_huge_signal_header_costs_its_prefix_only() -> None:
    """Only the first characters of a signal header are read (sizes, not wall time)."""
    assert header_signal("x-mailer", "a" * 1_000_000 + "mailchimp") == 0
    assert header_signal("return-path", "<" + "a" * 1_000_000) == 0


# --- Roles that are people -------------------------------------------------------------------


@pytest.mark.parametrize("local", NEVER_ROLES)
def test_never_a_role(local: str) -> None:
    """``lead@``, ``test@``, ``user@``, ``demo@``, ``biz@`` are people, never roles."""
    assert local not in bundled_role_addresses()
    assert not is_impersonal(f"{local}@client.example")
    decision = decide(_mail(f"{local}@client.example", []), ANNA, POLICY)
    assert decision.synced


def test_the_never_a_role_list_is_the_issue_list() -> None:
    """The list names at least the five addresses known to shut real people out."""
    assert {"lead", "test", "user", "demo", "biz"} <= set(NEVER_ROLES)
