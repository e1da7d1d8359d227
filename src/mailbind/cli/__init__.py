"""The ``mailbind`` command: sync mailboxes, preview decisions, read mail as a colleague would.

Invariants:
- `main` returns the exit code and never raises for a user's mistake: every failure ends with
  one line on stderr, ``mailbind: error: ...``, and a code from `ExitCode` (docs/cli.md).
- Built on the standard library alone (``argparse``); the progress bar, colour and tables are
  its own.
- Every command's ``--help`` ends with real examples, and points to the docs as installed
  (``mailbind docs cli``), never to a path in a checkout.
- The command line is an adapter: it reads the clock, the environment and files, and passes
  values to the pure core. ``import mailbind`` never loads it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import NoReturn, TextIO

from ..errors import MailbindError
from . import style
from .exits import ExitCode, Failure, code_for
from .settings import (
    add_canonicalization_options,
    add_database_option,
    add_mailbox_options,
    repeatable,
)
from .text import clean

__all__ = ["ExitCode", "main"]

_Command = Callable[[argparse.Namespace, TextIO, TextIO], int]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes end in one line and `ExitCode.USAGE`."""

    def error(self, message: str) -> NoReturn:
        raise Failure(ExitCode.USAGE, f"{message} (see `{self.prog} --help`).")


def _time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO time: {text!r}") from None
    if moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"the time needs a UTC offset: {text!r}")
    return moment


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _only(text: str) -> str:
    from .explain import only_choice

    return only_choice(text)


def _common(parser: argparse.ArgumentParser) -> None:
    """Options every command takes: ``--no-color``, and the hidden ``--now`` that tests use."""
    parser.add_argument(
        "--no-color", action="store_true", help="no colour, even on a terminal (also NO_COLOR=1)"
    )
    parser.add_argument("--now", type=_time, help=argparse.SUPPRESS)


def _version() -> str:
    try:
        return version("mailbind")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The parser for every command."""
    parser = _Parser(
        prog="mailbind",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Sync email into a CRM by mailbind's rules, preview every decision, and "
        "read a contact's mail as a colleague may.",
        epilog="Start with `mailbind sync --sample`. Every command, option and exit code: "
        "`mailbind docs cli`.",
    )
    parser.add_argument("--version", action="version", version=f"mailbind {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sync = commands.add_parser(
        "sync",
        help="sync mailboxes into the database",
        description="Sync a mailbox (SOURCE with --owner) or every mailbox of a config file "
        "into the database, then print what was synced and why the rest was skipped.",
    )
    add_mailbox_options(sync)
    add_database_option(sync)
    run = sync.add_argument_group("running")
    run.add_argument(
        "--watch", action="store_true", help="keep syncing on the schedule until Ctrl-C"
    )
    run.add_argument(
        "--interval",
        type=_positive,
        default=10,
        metavar="MINUTES",
        help="minutes between passes with --watch (default: 10)",
    )
    run.add_argument(
        "--batch-size",
        type=_positive,
        default=500,
        metavar="N",
        help="messages stored per transaction (default: 500)",
    )
    run.add_argument(
        "--max-attendees",
        type=_positive,
        default=50,
        metavar="N",
        help="calendar events with more attendees create no contacts (default: 50)",
    )
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")
    run.add_argument(
        "--show-settings",
        action="store_true",
        help="print every setting in effect, as a config file, and sync nothing",
    )
    run.add_argument(
        "--strict",
        action="store_true",
        help="make a likely mistake in the settings (an owner absent from the mail) an error",
    )
    run.add_argument("--json", action="store_true", help="print each report as a JSON line")
    run.add_argument("--progress-after", type=float, default=1.0, help=argparse.SUPPRESS)
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print what the sync would change (with --json, one line per message) and write "
        "nothing",
    )
    run.add_argument(
        "--yes",
        action="store_true",
        help="apply changed settings that remove stored mail or let colleagues read more, "
        "without asking",
    )
    _common(sync)
    sync.set_defaults(run=_load("sync"))

    explain = commands.add_parser(
        "explain",
        help="preview every decision without writing anything",
        description="A dry run: for every message (or calendar event), whether it would sync "
        "and why, its direction and sharing level, and for every participant the contact it "
        "would be linked to or why none would be created. Nothing is written.",
    )
    add_mailbox_options(explain)
    add_database_option(explain, required=False)
    shown = explain.add_argument_group("what is shown")
    shown.add_argument(
        "--only",
        type=_only,
        metavar="WHAT",
        help="only messages that would be synced, skipped, or skipped for a reason (internal, "
        "bulk, ...)",
    )
    shown.add_argument("--contact", metavar="ADDRESS", help="only messages with this participant")
    form = shown.add_mutually_exclusive_group()
    form.add_argument("--summary", action="store_true", help="counts by reason, no messages")
    form.add_argument("--json", action="store_true", help="one JSON object per message")
    form.add_argument("--csv", action="store_true", help="one CSV row per message")
    explain.add_argument(
        "--as-given",
        action="store_true",
        help="with --db, explain under the options given, not the settings the database recorded",
    )
    explain.add_argument(
        "--max-attendees",
        type=_positive,
        default=50,
        metavar="N",
        help="calendar events with more attendees create no contacts (default: 50)",
    )
    explain.add_argument("--batch-size", type=_positive, default=500, help=argparse.SUPPRESS)
    _common(explain)
    explain.set_defaults(run=_load("explain"))

    report = commands.add_parser(
        "report",
        help="one page per mailbox: what syncs, what is kept out and why, what colleagues read",
        description="Why isn't this email in the CRM? For every mailbox: how many messages "
        "would be synced, how many are kept out by each reason (with examples), and what "
        "colleagues can read of the rest. Read like explain: nothing is written.",
    )
    add_mailbox_options(report)
    add_database_option(report, required=False)
    report.add_argument(
        "--examples",
        type=_positive,
        default=3,
        metavar="N",
        help="examples shown per reason (default: 3)",
    )
    report.add_argument("--batch-size", type=_positive, default=500, help=argparse.SUPPRESS)
    _common(report)
    report.set_defaults(run=_load("report"))

    emails = commands.add_parser(
        "emails",
        help="a contact's or company's messages as a viewer may read them",
        description="The messages linked to a contact or a company, redacted to what the "
        "viewer may read, one table row each: withheld fields show as (withheld).",
    )
    whose = emails.add_mutually_exclusive_group(required=True)
    whose.add_argument("--contact", metavar="ADDRESS", help="an address of the contact (or its id)")
    whose.add_argument("--company", metavar="DOMAIN", help="the company's domain")
    emails.add_argument(
        "--viewer", required=True, metavar="ADDRESS", help="who is reading (a user's address)"
    )
    emails.add_argument(
        "--full",
        action="store_true",
        help="show each message whole (participants, body, attachments) instead of a table",
    )
    emails.add_argument("--threads", action="store_true", help="show the messages by conversation")
    form = emails.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="one JSON object per message")
    form.add_argument("--csv", action="store_true", help="one CSV row per message")
    add_database_option(emails)
    add_canonicalization_options(emails)
    _common(emails)
    emails.set_defaults(run=_load("emails"))

    events = commands.add_parser(
        "events",
        help="a contact's or company's calendar events as a viewer may see them",
        description="The calendar events linked to a contact or a company, as the viewer may "
        "see them: withheld fields show as (withheld); another user's private events are "
        "not listed.",
    )
    whose = events.add_mutually_exclusive_group(required=True)
    whose.add_argument("--contact", metavar="ADDRESS", help="an address of the contact (or its id)")
    whose.add_argument("--company", metavar="DOMAIN", help="the company's domain")
    events.add_argument(
        "--viewer", required=True, metavar="ADDRESS", help="who is reading (a user's address)"
    )
    events.add_argument("--json", action="store_true", help="one JSON object per event")
    add_database_option(events)
    add_canonicalization_options(events)
    _common(events)
    events.set_defaults(run=_load("events"))

    _contacts(commands)
    _companies(commands)

    completion = commands.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or fish)",
        description="Print a completion script for SHELL; see the examples for where it goes.",
    )
    completion.add_argument("shell", choices=["bash", "zsh", "fish"], metavar="SHELL")
    completion.set_defaults(run=_load("completion"))

    docs = commands.add_parser(
        "docs",
        help="print a page of the documentation installed with mailbind",
        description="Print a documentation page as installed with the package (Markdown).",
    )
    docs.add_argument("page", nargs="?", default="index", metavar="PAGE", help="default: index")
    docs.set_defaults(run=_load("docs"))
    for name, sub in _subparsers(parser).items():
        sub.formatter_class = argparse.RawDescriptionHelpFormatter
        sub.epilog = _EXAMPLES.get(name)
    return parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


#: The examples each command's --help ends with.
_EXAMPLES = {
    "sync": """examples:
  mailbind sync --sample
  mailbind sync ~/Mail/inbox.mbox --owner maria@acme.example --incoming subject
  mailbind sync caldav+http://anna@localhost:5232/anna/work/ --owner anna@acme.example

Options, settings changes and exit codes: `mailbind docs cli`.""",
    "explain": """examples:
  mailbind explain --sample --summary
  mailbind explain ~/Mail/inbox.mbox --owner maria@acme.example --only bulk
  mailbind explain --sample --contact frank.oconnor@globex.example --json

Every reason code: `mailbind docs rules`.""",
    "report": """examples:
  mailbind report --sample
  mailbind report ~/Mail/inbox.mbox --owner maria@acme.example --examples 5

More: `mailbind docs cli`.""",
    "emails": """examples:
  mailbind emails --contact frank.oconnor@globex.example --viewer tom.baker@acme.example
  mailbind emails --company globex.example --viewer tom.baker@acme.example --json
  mailbind emails --company globex.example --viewer tom.baker@acme.example --threads

More: `mailbind docs cli`.""",
    "events": """examples:
  mailbind events --contact kim@client.example --viewer carl@acme.example
  mailbind events --company client.example --viewer anna@acme.example --json

More: `mailbind docs calendar`.""",
    "contacts": """examples:
  mailbind contacts list
  mailbind contacts delete frank.oconnor@globex.example
  mailbind contacts add --primary kim@client.example --first Kim --company client.example

More: `mailbind docs contacts`.""",
    "companies": """examples:
  mailbind companies list
  mailbind companies add-domain globex.example globex.co.uk
  mailbind companies merge globex.example globex-corp.example

More: `mailbind docs cli`.""",
    "completion": """examples:
  mailbind completion bash > ~/.local/share/bash-completion/completions/mailbind
  mailbind completion fish > ~/.config/fish/completions/mailbind.fish""",
    "docs": """examples:
  mailbind docs
  mailbind docs cli
  mailbind docs troubleshooting""",
}


def _contacts(commands: argparse._SubParsersAction[_Parser]) -> None:
    contacts = commands.add_parser(
        "contacts",
        help="list, add, edit, delete, restore and destroy contacts",
        description="Manage contacts by hand. Deleting suppresses the contact's addresses, so "
        "they are never created automatically again; messages follow every change.",
    )
    actions = contacts.add_subparsers(dest="action", metavar="ACTION", required=True)
    parsers = {
        "list": actions.add_parser("list", help="every contact, deleted ones marked"),
        "add": actions.add_parser("add", help="create a contact by hand"),
        "edit": actions.add_parser("edit", help="change a contact's addresses or names"),
        "delete": actions.add_parser(
            "delete", help="soft-delete: it keeps its messages and is never re-created"
        ),
        "restore": actions.add_parser("restore", help="undo a delete"),
        "destroy": actions.add_parser(
            "destroy", help="delete for good: its messages pass to the next contact or nobody"
        ),
        "suppressed": actions.add_parser(
            "suppressed", help="addresses never created automatically"
        ),
        "suppress": actions.add_parser(
            "suppress", help="never create a contact for an address automatically"
        ),
    }
    for name in ("list", "suppressed"):
        parsers[name].add_argument("--json", action="store_true", help="one JSON object a line")
    parsers["list"].add_argument("--csv", action="store_true", help="one CSV row per contact")
    for name in ("edit", "delete", "restore", "destroy"):
        parsers[name].add_argument(
            "contact", metavar="CONTACT", help="the contact's id or one of its addresses"
        )
    parsers["suppress"].add_argument("address", metavar="ADDRESS")
    parsers["destroy"].add_argument(
        "--yes", action="store_true", help="do not ask for confirmation"
    )
    add, edit = parsers["add"], parsers["edit"]
    add.add_argument("--primary", required=True, metavar="ADDRESS", help="the primary address")
    repeatable(add, "--additional", "ADDRESS", "another address")
    add.add_argument("--id", help="the contact's id (default: made from the address)")
    edit.add_argument("--primary", metavar="ADDRESS", help="a new primary address")
    repeatable(edit, "--add-address", "ADDRESS", "add an address")
    repeatable(edit, "--remove-address", "ADDRESS", "remove an additional address")
    for parser in (add, edit):
        parser.add_argument("--first", metavar="NAME", help="the first name")
        parser.add_argument("--last", metavar="NAME", help="the last name")
        parser.add_argument(
            "--company",
            metavar="DOMAIN",
            help="the company's domain (default for add: the work domain of the address)",
        )
    for parser in parsers.values():
        add_database_option(parser)
        add_canonicalization_options(parser)
        _common(parser)
    contacts.set_defaults(run=_load("contacts"))


def _companies(commands: argparse._SubParsersAction[_Parser]) -> None:
    companies = commands.add_parser(
        "companies",
        help="list companies with their counts, add a domain, merge two",
        description="Companies and their domains. A company's timeline (mailbind emails "
        "--company) is every stored message with a participant on one of its domains.",
    )
    actions = companies.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every company, its domains, contacts and messages")
    form = listing.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="one JSON object a line")
    form.add_argument("--csv", action="store_true", help="one CSV row per company")
    add = actions.add_parser("add-domain", help="give a company a further domain")
    add.add_argument("company", metavar="COMPANY", help="a domain of the company")
    add.add_argument("domain", metavar="DOMAIN", help="the domain to add")
    merge = actions.add_parser("merge", help="merge a company into another, with its domains")
    merge.add_argument("into", metavar="INTO", help="a domain of the company that stays")
    merge.add_argument("other", metavar="OTHER", help="a domain of the company merged into it")
    for parser in (listing, add, merge):
        add_database_option(parser)
        _common(parser)
    companies.set_defaults(run=_load("companies"))


def _load(name: str) -> _Command:
    """The ``run`` function of command *name*, imported when the command runs."""

    def command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        from importlib import import_module

        run: _Command = import_module(f"{__name__}.{name}").run
        return run(args, out, err)

    return command


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mailbind`` command with *argv* (default: ``sys.argv[1:]``); the exit code."""
    out, err = sys.stdout, sys.stderr
    words = sys.argv[1:] if argv is None else list(argv)
    colour = style.enabled(err, no_color="--no-color" in words)
    for stream in (out, err):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")
    try:
        args = build_parser().parse_args(_listing_by_default(words))
        code = int(args.run(args, out, err))
    except SystemExit as stop:  # --help and --version
        return stop.code if isinstance(stop.code, int) else 0
    except Failure as failure:
        return _fail(err, failure.code, failure.message, colour=colour)
    except MailbindError as error:
        return _fail(err, code_for(error), str(error), colour=colour)
    except KeyboardInterrupt:
        print("\nmailbind: interrupted; everything stored before is kept.", file=err)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (``mailbind emails ... | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        return 0
    return code


#: Commands whose ACTION is ``list`` when none is given (``mailbind contacts --db crm.sqlite``).
_LISTING_COMMANDS = frozenset({"contacts", "companies"})


def _listing_by_default(words: list[str]) -> list[str]:
    """*words* with ``list`` after ``contacts`` or ``companies`` when no ACTION follows."""
    if len(words) >= 1 and words[0] in _LISTING_COMMANDS:
        rest = words[1:]
        if not rest or (rest[0].startswith("-") and rest[0] not in ("-h", "--help")):
            return [words[0], "list", *rest]
    return words


def _fail(err: TextIO, code: ExitCode, message: str, *, colour: bool = False) -> int:
    print(
        f"{style.paint('mailbind: error:', style.BOLD_RED, on=colour)} {clean(message)}", file=err
    )
    return int(code)
