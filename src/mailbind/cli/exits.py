"""How the command line ends: its exit codes, and the one line it prints for each failure.

Invariants:
- Every failure a user can cause or meet (a typo, a missing file, a bad setting, a refused
  login, a server that is away) ends with one line on stderr, ``mailbind: error: ...``, and
  the documented exit code of its kind; no traceback.
- Library errors keep their own sentence (it names the file, the setting or the server); the
  command line only chooses the code.
"""

from __future__ import annotations

from enum import IntEnum

from ..engine import ConfirmationNeeded
from ..errors import AuthenticationError, MailbindError, SourceError, StoreError, TemporaryError

__all__ = ["ExitCode", "Failure", "code_for"]


class ExitCode(IntEnum):
    """The exit codes of ``mailbind``, documented in ``docs/cli.md``."""

    OK = 0
    #: The command line is wrong: an unknown option, a missing argument, a value that cannot be
    #: read (an address, a level, a free-provider organisation domain).
    USAGE = 2
    #: A mail source or a config file is missing or cannot be read.
    INPUT = 3
    #: The database cannot be opened, read or written, or is not a mailbind database.
    DATABASE = 4
    #: The config file is wrong: not TOML, an unknown key, a value of the wrong kind.
    CONFIG = 5
    #: The mail server refused the login, or no password was given.
    AUTHENTICATION = 6
    #: The mail server could not be reached or failed for now; trying later may work.
    TEMPORARY = 7
    #: No contact or company matches what was asked for.
    NOT_FOUND = 8
    #: A change was not confirmed (no ``--yes``, or "no" at the prompt): changed settings that
    #: would remove stored mail or let someone read more, or ``contacts destroy``. Nothing was
    #: changed.
    NOT_CONFIRMED = 9
    #: The ``--viewer`` is not a member of the workspace: nothing is shown.
    NOT_A_MEMBER = 10
    #: Some mailboxes of a run failed and the others synced; the report names each outcome.
    SOME_FAILED = 11
    #: Stopped with Ctrl-C while working; every batch stored before is kept.
    INTERRUPTED = 130


class Failure(Exception):
    """A failure the command line reports in one line and ends with *code*."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def code_for(error: MailbindError) -> ExitCode:
    """The exit code for a library error that reached the command line."""
    if isinstance(error, ConfirmationNeeded):
        return ExitCode.NOT_CONFIRMED
    if isinstance(error, AuthenticationError):
        return ExitCode.AUTHENTICATION
    if isinstance(error, TemporaryError):
        return ExitCode.TEMPORARY
    if isinstance(error, SourceError):
        return ExitCode.INPUT
    if isinstance(error, StoreError):
        return ExitCode.DATABASE
    return ExitCode.USAGE
