"""The exceptions mailbind raises.

Invariants:
- Every exception is a `MailbindError`.
- Mistakes by the *caller* (a contradictory policy, an unreadable address given to a
  constructor) are `ValueError` subclasses raised at once, with a one-sentence message.
- Messy *mail* never raises from a rule: it becomes a participant, a defect or a reason.
- Failures of adapters (files, databases, servers) are `AdapterError`s, raised ``from`` the
  original error.
- No message text carries a body, a subject, or more than one address.
"""

from __future__ import annotations

__all__ = [
    "AdapterError",
    "AuthenticationError",
    "ContactError",
    "InvalidAddressError",
    "MailbindError",
    "MessageError",
    "PolicyError",
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
