"""The automated-sender rules read plainly, for the property tests to hold the judge against.

Written from the rules' words (docs/rules.md) with nothing remembered; the tables of what
counts (ESP domains, header names, mailer words) are `mailbind.automated`'s own.
"""

from __future__ import annotations

from mailbind import Message, Reason, Role
from mailbind.automated import ESP_DOMAINS, ESP_HEADERS, ESP_MAILERS, strip_comments
from mailbind.events import Event


def _first_word(value: str) -> str:
    return value.split(";")[0].split("(")[0].strip().strip('"').lower()


def bulk_plainly(message: Message | Event) -> bool:
    """List-Id or List-Unsubscribe with a value, or Precedence bulk, list or junk."""
    for name, value in message.headers:
        lower = name.lower()
        if lower in ("list-id", "list-unsubscribe") and value.strip():
            return True
        if lower == "precedence" and _first_word(_uncommented(value)) in ("bulk", "list", "junk"):
            return True
    return False


def _uncommented(value: str) -> str:
    """*value* without its comments (the stripping is tested on its own)."""
    return strip_comments(value[:998])


def _esp(domain: str) -> bool:
    labels = domain.split(".")
    return any(".".join(labels[n:]) in ESP_DOMAINS for n in range(len(labels)))


def _list_local(local: str) -> bool:
    return local.startswith("owner-") or local.endswith("-request")


def _return_path(value: str) -> tuple[str, str]:
    text = value[:256].strip()
    if "<" in text:
        text = text.partition("<")[2].partition(">")[0]
    local, _, domain = text.strip().rpartition("@")
    return local.lower(), domain.strip().rstrip(".").lower()


def signals_plainly(message: Message | Event) -> set[Reason]:
    """Every automated-sender reason the message's headers, From and Sender give."""
    found: set[Reason] = set()
    for name, value in message.headers:
        lower = name.lower()
        if lower in ESP_HEADERS and value.strip():
            found.add(Reason.BULK_MAILER)
        elif lower == "auto-submitted" and _first_word(_uncommented(value[:256])) not in ("", "no"):
            found.add(Reason.AUTO_SUBMITTED)
        elif lower == "return-path":
            local, domain = _return_path(value)
            if local.startswith("bounce") or (
                "+" in local[1:] and "=" in local[local.find("+", 1) :]
            ):
                found.add(Reason.BOUNCE_RETURN_PATH)
            if _list_local(local):
                found.add(Reason.LIST_ADDRESS)
            if domain and _esp(domain):
                found.add(Reason.ESP_SENDER_DOMAIN)
        elif lower == "errors-to" and value.strip():
            found.add(Reason.ERRORS_TO)
        elif lower == "x-mailer" and any(w in value[:256].lower() for w in ESP_MAILERS):
            found.add(Reason.BULK_MAILER)
        elif lower == "feedback-id" and value.strip():
            found.add(Reason.FEEDBACK_ID)
        elif lower == "x-auto-response-suppress" and value.strip():
            found.add(Reason.AUTO_RESPONSE_SUPPRESS)
    for p in message.participants:
        if p.address is not None and p.role in (Role.FROM, Role.SENDER):
            if _list_local(p.address.local.lower()):
                found.add(Reason.LIST_ADDRESS)
            if _esp(p.address.ascii_domain):
                found.add(Reason.ESP_SENDER_DOMAIN)
    return found
