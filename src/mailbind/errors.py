"""The exceptions mailbind raises.

Invariants:
- Every exception is a `MailbindError`.
- Mistakes by the *caller* (a contradictory policy, an unreadable address given to a
  constructor) are `ValueError` subclasses raised at once, with a one-sentence message.
- An argument of the wrong type (a dict given as a sender, arguments swapped) is an
  `ArgumentTypeError`, also a `TypeError`, whose message names the parameter and the type
  received; given to a constructor whose family has an error of its own, it is that error too
  (`MessageTypeError` is a `MessageError`).
- Messy *mail* never raises from a rule: it becomes a participant, a defect or a reason.
- Failures of adapters (files, databases, servers) are `AdapterError`s, raised ``from`` the
  original error.
- No message text carries a body, a subject, or more than one address.
"""

from __future__ import annotations

__all__ = [
    "AdapterError",
    "AddressTypeError",
    "ArgumentTypeError",
    "AuthenticationError",
    "ContactError",
    "ContactTypeError",
    "EventError",
    "EventTypeError",
    "InvalidAddressError",
    "JSONFormError",
    "MailbindError",
    "MessageError",
    "MessageTypeError",
    "PolicyError",
    "PolicyTypeError",
    "SourceError",
    "SourceSettingError",
    "StoreError",
    "TemporaryError",
]


class MailbindError(Exception):
    """The base of every exception raised by mailbind."""


class InvalidAddressError(MailbindError, ValueError):
    """An address given by the caller cannot be read as an email address."""


class PolicyError(MailbindError, ValueError):
    """A policy or mailbox setting is contradictory or malformed."""


class MessageError(MailbindError, ValueError):
    """A value given to `Message.build` has the wrong shape (a naive time, an unknown flag)."""


class ContactError(MailbindError, ValueError):
    """A contact or a contact operation given by the caller is not valid."""


class EventError(MailbindError, ValueError):
    """An event given by the caller, or iCalendar text, cannot be read."""


class JSONFormError(MailbindError, ValueError):
    """Text given to a `mailbind.json` decoder is not the stable JSON form it reads."""


class ArgumentTypeError(MailbindError, TypeError):
    """An argument given by the caller is of the wrong type; the message names the parameter."""


class AddressTypeError(InvalidAddressError, ArgumentTypeError):
    """An argument that should hold an address or a role is of the wrong type."""


class PolicyTypeError(PolicyError, ArgumentTypeError):
    """A policy or mailbox setting is of the wrong type."""


class MessageTypeError(MessageError, ArgumentTypeError):
    """A value given to build or read a message is of the wrong type."""


class ContactTypeError(ContactError, ArgumentTypeError):
    """A contact, or a value given to make or look up one, is of the wrong type."""


class EventTypeError(EventError, ArgumentTypeError):
    """A value given to make an event is of the wrong type."""


def wrong_type(
    call: str, param: str, expected: str, value: object, error: type[ArgumentTypeError]
) -> ArgumentTypeError:
    """The error for *value* given as *param* of *call*, which takes *expected*.

    >>> str(wrong_type("decide()", "message", "a Message or an Event", {}, ArgumentTypeError))
    'decide() takes a Message or an Event as message, not a dict.'
    """
    return error(f"{call} takes {expected} as {param}, not {_described(value)}.")


def _described(value: object) -> str:
    """``None``, or the type of *value* with its article (``a dict``, ``an int``)."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


class SourceSettingError(MailbindError, ValueError):
    """A source was given a setting it cannot use (a batch limit below one, a negative size)."""


class AdapterError(MailbindError):
    """A source or a store failed to do its I/O."""


class SourceError(AdapterError):
    """A message source could not be read."""


class StoreError(AdapterError):
    """A store could not be read or written."""


class TemporaryError(SourceError):
    """A failure that may pass by itself (network, time-out): the sync backs off and retries."""


class AuthenticationError(SourceError):
    """The source rejected the credentials: the mailbox stops until it is reconnected."""
