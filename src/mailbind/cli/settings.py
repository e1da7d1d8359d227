"""What to sync: the policy and the mailboxes, from command-line options or a TOML config file.

Invariants:
- Options and config keys are the parameters of `Policy` and `Mailbox`; a mistake in either is
  reported in one sentence naming the file and the table (`ExitCode.CONFIG`) or the option
  (`ExitCode.USAGE`), before any database is opened or any mail is read.
- Relative ``source`` paths in a config file start at the file's folder; the bundled sample is
  read through `importlib.resources`, so it works from an installed wheel.
- A password never comes from the command line: it is read from an environment variable or,
  on a terminal, from a prompt; it never appears in any output.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import getpass
import inspect
import json
import os
import sys
import tomllib
import typing
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..addresses import Canonicalization
from ..codecs import decode_policy
from ..companies import CompanyError, plan_companies
from ..errors import PolicyError, StoreError
from ..messages import SharingLevel
from ..policy import ContactScope, Mailbox, Policy
from ..providers import (
    bundled_free_providers,
    bundled_institutions,
    bundled_role_addresses,
    is_free_provider,
)
from ..sources import FORMATS, MessageSource, SourceSettingError, open_source
from ..sources._files import source_error
from ..store import DEFAULT_WORKSPACE, Company, CompanyChange, Store
from ..stores.sqlite import SQLiteStore
from .exits import ExitCode, Failure
from .text import choices, not_one_of

__all__ = [
    "DEFAULT_DB",
    "DEFAULT_PASSWORD_ENV",
    "Setup",
    "Target",
    "add_database_option",
    "add_mailbox_options",
    "apply_companies",
    "canonicalization",
    "check_postgres_url",
    "chosen_db",
    "database_name",
    "is_postgres",
    "load_setup",
    "open_mail",
    "open_store",
    "policy_table",
    "read_canonicalization",
    "read_policy_table",
    "recorded_policy",
    "repeatable",
    "settings_text",
]

DEFAULT_DB = "mailbind.sqlite"
DEFAULT_PASSWORD_ENV = "MAILBIND_IMAP_PASSWORD"  # noqa: S105 - a variable's name, not a secret

#: Options that describe one mailbox or the policy; they cannot be mixed with a config file.
_OPTION_NAMES = {
    "owner": "--owner",
    "alias": "--alias",
    "mailbox_id": "--mailbox-id",
    "incoming": "--incoming",
    "outgoing": "--outgoing",
    "no_create_contacts": "--no-create-contacts",
    "contact_scope": "--contact-scope",
    "include_free_providers": "--include-free-providers",
    "format": "--format",
    "recursive": "--recursive",
    "org_domain": "--org-domain",
    "member": "--member",
    "external": "--external",
    "block": "--block",
    "sync_internal": "--sync-internal",
    "include_group_emails": "--include-group-emails",
    "no_institution_companies": "--no-institution-companies",
    "strip_subaddress": "--strip-subaddress",
    "fold_gmail": "--fold-gmail",
}


@dataclass(frozen=True, slots=True)
class Target:
    """One mailbox to sync and where its mail is."""

    mailbox: Mailbox
    #: A file or folder path, or an ``imap://`` URL.
    source: str
    #: The file format, or None to guess it.
    format: str | None
    #: The environment variable holding the IMAP password.
    password_env: str
    #: How the source is shown (as written in the config file or on the command line).
    label: str
    #: Where the mailbox is configured (``mailbind.toml, [[mailbox]] 2``); "" for options.
    where: str = ""
    #: Whether a folder of ``.eml`` files is read with its subfolders.
    recursive: bool = False


@dataclass(frozen=True, slots=True)
class Setup:
    """The policy and the mailboxes one command works on."""

    policy: Policy
    targets: tuple[Target, ...]
    #: True when the bundled sample was asked for.
    sample: bool
    #: What the command chose for the user (a config file without ``[policy]``), for the report.
    notes: tuple[str, ...] = ()
    #: The database the config file's ``[store]`` table names (``db``), or None.
    db: str | None = None
    #: The companies the config file's ``[[company]]`` tables name, with their domains.
    companies: tuple[Company, ...] = ()


# --- Options --------------------------------------------------------------------------------


def add_database_option(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """``--db PATH`` (default ``./mailbind.sqlite``) and ``--workspace NAME``."""
    parser.add_argument(
        "--workspace",
        default=DEFAULT_WORKSPACE,
        metavar="NAME",
        type=_workspace_name,
        help=f"the workspace (one organisation) in the database (default: {DEFAULT_WORKSPACE})",
    )
    if required:
        parser.add_argument(
            "--db",
            default=DEFAULT_DB,
            metavar="PATH|URL",
            type=database_name,
            help=(
                f"the SQLite database file, or a PostgreSQL URL postgresql://user@host/dbname "
                f"(password from PGPASSWORD or ~/.pgpass) (default: ./{DEFAULT_DB})"
            ),
        )
    else:
        parser.add_argument(
            "--db",
            metavar="PATH|URL",
            type=database_name,
            help="take known contacts and suppressions from this database (never written)",
        )


def database_name(text: str) -> str:
    """*text* when it names a database file or a ``postgresql://`` URL; an argparse error when
    it names nothing that lasts (``""``, ``:memory:``, a temporary database)."""
    if is_postgres(text):
        return text
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "must name a database file (or a postgresql:// URL), not ''; an empty name would "
            "sync into a temporary database that vanishes"
        )
    if text == ":memory:" or text.startswith("file:"):
        raise argparse.ArgumentTypeError(
            f"must name a database file (or a postgresql:// URL), not {text!r}, which keeps "
            "nothing after the command ends"
        )
    return text


def _workspace_name(text: str) -> str:
    name = text.strip()
    if not name or any(ord(c) < 32 for c in name):
        raise argparse.ArgumentTypeError(f"not a workspace name: {text!r}")
    return name


def add_mailbox_options(parser: argparse.ArgumentParser) -> None:
    """SOURCE, the mailbox and policy options, and ``--config`` / ``--sample``."""
    parser.add_argument(
        "source",
        nargs="?",
        metavar="SOURCE",
        help="an mbox file, a Maildir or .eml folder, a .jsonl file, or imap://user@host/",
    )
    what = parser.add_argument_group("where the settings come from")
    given = what.add_mutually_exclusive_group()
    given.add_argument(
        "--config",
        metavar="FILE",
        help="a TOML file with a [policy] and one [[mailbox]] per mailbox (`mailbind docs config`)",
    )
    given.add_argument(
        "--sample",
        action="store_true",
        help="the sample organisation and mailboxes that ship with mailbind",
    )
    mailbox = parser.add_argument_group("the mailbox (with SOURCE)")
    mailbox.add_argument("--owner", metavar="ADDRESS", help="the mailbox owner's address")
    repeatable(mailbox, "--alias", "ADDRESS", "another address of the owner")
    mailbox.add_argument(
        "--mailbox-id", metavar="ID", help="the mailbox's id in the database (default: --owner)"
    )
    for direction, mail in (("incoming", "received"), ("outgoing", "sent")):
        mailbox.add_argument(
            f"--{direction}",
            choices=choices(SharingLevel),
            metavar="LEVEL",
            help=f"what colleagues may read of mail the owner {mail}: "
            "metadata (default), subject or everything",
        )
    mailbox.add_argument(
        "--no-create-contacts",
        action="store_true",
        help="never create contacts from this mailbox",
    )
    mailbox.add_argument(
        "--contact-scope",
        choices=choices(ContactScope),
        help="which mail may create contacts (default: sent_and_received)",
    )
    mailbox.add_argument(
        "--include-free-providers",
        action="store_true",
        help="also create contacts on Gmail, GMX, ... addresses",
    )
    mailbox.add_argument(
        "--format",
        choices=[*choices(FORMATS), *CALENDAR_FORMATS],
        help="the source's format (default: recognised from its content; a calendar: caldav "
        "for a CalDAV URL, ics for a folder of .ics files, invitations for the text/calendar "
        "parts of mail)",
    )
    mailbox.add_argument(
        "--recursive",
        action="store_true",
        help="read the .eml files in a folder's subfolders too",
    )
    mailbox.add_argument(
        "--password-env",
        metavar="NAME",
        help=f"the environment variable with the IMAP password (default: {DEFAULT_PASSWORD_ENV})",
    )
    policy = parser.add_argument_group("the organisation's policy (with SOURCE)")
    repeatable(
        policy, "--org-domain", "DOMAIN", "a domain of the organisation (default: the owner's)"
    )
    repeatable(policy, "--member", "ADDRESS", "a colleague on another domain")
    repeatable(
        policy,
        "--external",
        "ADDRESS",
        "an address on the organisation's domain that is not a colleague",
    )
    repeatable(policy, "--block", "ENTRY", "never sync mail with this address or @domain")
    policy.add_argument(
        "--sync-internal", action="store_true", help="sync mail among colleagues too"
    )
    policy.add_argument(
        "--include-group-emails",
        action="store_true",
        help="sync incoming bulk mail and mail from role addresses too",
    )
    policy.add_argument(
        "--no-institution-companies",
        action="store_true",
        help="give new contacts at universities, schools and public bodies (.edu, .ac.uk, "
        ".gov, ...) no company: each person there stands alone",
    )
    add_canonicalization_options(policy)


def repeatable(group: Any, flag: str, metavar: str, meaning: str) -> None:
    """An option that may be given several times; its values collect in a list."""
    group.add_argument(flag, action="append", metavar=metavar, help=f"{meaning} (repeatable)")


def add_canonicalization_options(group: Any) -> None:
    """``--strip-subaddress`` and ``--fold-gmail``."""
    group.add_argument(
        "--strip-subaddress",
        action="store_true",
        help="compare jane+tag@x.com as jane@x.com",
    )
    group.add_argument(
        "--fold-gmail",
        action="store_true",
        help="ignore dots in Gmail addresses and read googlemail.com as gmail.com",
    )


def canonicalization(args: argparse.Namespace) -> Canonicalization:
    """The canonicalisation the switches ask for."""
    return Canonicalization(
        strip_subaddress=bool(getattr(args, "strip_subaddress", False)),
        fold_gmail=bool(getattr(args, "fold_gmail", False)),
    )


def recorded_policy(store: Store, args: argparse.Namespace) -> Policy | None:
    """The policy the workspace last synced under, as the database recorded it, or None."""
    recorded = store.recorded_policy(workspace=args.workspace)
    if recorded is None:
        return None
    try:
        return decode_policy(recorded.settings)
    except (ValueError, KeyError, TypeError):
        raise Failure(
            ExitCode.DATABASE,
            f"The policy recorded in {args.db!r} for the workspace {args.workspace!r} cannot be "
            "read.",
        ) from None


def read_canonicalization(store: Store, args: argparse.Namespace) -> Canonicalization:
    """The canonicalisation to compare addresses with: the switches when any is given, else the
    one the workspace last synced under."""
    if getattr(args, "strip_subaddress", False) or getattr(args, "fold_gmail", False):
        return canonicalization(args)
    policy = recorded_policy(store, args)
    return Canonicalization() if policy is None else policy.canonicalization


# --- The setup ------------------------------------------------------------------------------


def load_setup(args: argparse.Namespace, command: str, stack: ExitStack) -> Setup:
    """The policy and mailboxes *args* describe; bundled files stay readable while *stack* is open.

    Raises `Failure` for a mistake in the options or in the config file.
    """
    given = [flag for name, flag in _OPTION_NAMES.items() if getattr(args, name, None)]
    if args.config is not None or args.sample:
        origin = "--sample" if args.sample else "--config"
        if args.source is not None:
            raise Failure(
                ExitCode.USAGE,
                f"Give a SOURCE or {origin}, not both (see `mailbind {command} --help`).",
            )
        if given:
            raise Failure(
                ExitCode.USAGE,
                f"{given[0]} cannot be combined with {origin}: the file sets the mailboxes "
                "and the policy.",
            )
        if args.sample:
            config: Traversable = files("mailbind").joinpath("data", "sample.toml")
            return _from_config(config, "sample.toml", args, stack, sample=True)
        return _from_config(Path(args.config), args.config, args, stack, sample=False)
    if args.source is None:
        raise Failure(
            ExitCode.USAGE,
            f"Give a SOURCE, --config FILE or --sample (see `mailbind {command} --help`).",
        )
    if not args.owner:
        raise Failure(
            ExitCode.USAGE, "--owner is required with a SOURCE: the address of the mailbox's owner."
        )
    mailbox = Mailbox(
        args.owner,
        args.alias or (),
        args.incoming or "metadata",
        args.outgoing or "metadata",
        create_contacts=not args.no_create_contacts,
        contact_scope=args.contact_scope or ContactScope.SENT_AND_RECEIVED,
        skip_free_providers=not args.include_free_providers,
        id=args.mailbox_id,
    )
    domains = args.org_domain or _owner_domain(mailbox)
    policy = Policy(
        domains,
        args.member or (),
        args.external or (),
        args.block or (),
        sync_internal=args.sync_internal,
        exclude_group_emails=not args.include_group_emails,
        canonicalization=canonicalization(args),
        institutions_as_companies=not args.no_institution_companies,
    )
    source = args.source if _is_url(args.source) else os.path.expanduser(args.source)
    target = Target(
        mailbox,
        source,
        args.format,
        _password_env(args, None),
        args.source,
        recursive=args.recursive,
    )
    return Setup(policy, (target,), sample=False)


def _owner_domain(mailbox: Mailbox) -> tuple[str, ...]:
    """The owner's organisation domain, the default when no --org-domain is given."""
    owner = mailbox.owner
    if owner.registrable is None or is_free_provider(owner):
        return ()
    return (owner.registrable,)


def _password_env(args: argparse.Namespace, configured: object) -> str:
    given = getattr(args, "password_env", None)
    if given:
        return str(given)
    return configured if isinstance(configured, str) and configured else DEFAULT_PASSWORD_ENV


# --- The config file ------------------------------------------------------------------------


def _parameters(cls: type) -> frozenset[str]:
    signature = inspect.signature(cls)
    return frozenset(name for name in signature.parameters if name != "self")


def _settings(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    """The fields of *cls* that make up its value (the compared ones), in declaration order."""
    return tuple(f for f in dataclasses.fields(cls) if f.compare)


def _typed(cls: type, origin: type) -> frozenset[str]:
    """The names of *cls*'s settings declared as *origin* (``bool``) or ``origin[...]``."""
    hints = typing.get_type_hints(cls)
    return frozenset(
        f.name
        for f in _settings(cls)
        if hints[f.name] is origin or typing.get_origin(hints[f.name]) is origin
    )


#: The policy's settings: the keys of ``[policy]`` and of `policy_table`, in its order.
_POLICY_FIELDS = _settings(Policy)
_POLICY_KEYS = frozenset(f.name for f in _POLICY_FIELDS)
_CANONICALIZATION_KEYS = frozenset(f.name for f in _settings(Canonicalization))
_SOURCE_KEYS = ("source", "format", "password_env", "recursive")
_MAILBOX_KEYS = _parameters(Mailbox) | set(_SOURCE_KEYS)
_BOOLEANS = (
    _typed(Policy, bool) | _typed(Canonicalization, bool) | _typed(Mailbox, bool) | {"recursive"}
)
_LISTS = _typed(Policy, frozenset) | _typed(Mailbox, frozenset)
#: Policy settings left out of `policy_table` while they hold the bundled data.
_BUNDLED = {
    "free_providers": bundled_free_providers,
    "role_addresses": bundled_role_addresses,
    "institutions": bundled_institutions,
}


class _Config:
    """Reads one config file's tables, naming the file and the table in every error."""

    def __init__(self, shown: str) -> None:
        self.shown = shown

    def fail(self, where: str, sentence: str) -> Failure:
        return Failure(ExitCode.CONFIG, f"{self.shown}, {where}: {sentence}")

    def table(self, value: object, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"Expected a table, not {type(value).__name__}.")
        return value

    def check(self, table: dict[str, Any], known: frozenset[str], where: str) -> None:
        for key, value in table.items():
            if key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else "."
                raise self.fail(where, f"Unknown key {key!r}{hint}")
            if key in _BOOLEANS and not isinstance(value, bool):
                raise self.fail(where, f"{key} must be true or false, not {value!r}.")
            if key in _LISTS and not (
                isinstance(value, str)
                or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            ):
                raise self.fail(where, f"{key} must be a list of strings, not {value!r}.")

    def policy(self, data: dict[str, Any]) -> Policy:
        table = dict(self.table(data.get("policy", {}), "[policy]"))
        canon = self.table(table.pop("canonicalization", {}), "[policy.canonicalization]")
        self.check(canon, _CANONICALIZATION_KEYS, "[policy.canonicalization]")
        self.check(table, _POLICY_KEYS - {"canonicalization"}, "[policy]")
        try:
            return Policy(**table, canonicalization=Canonicalization(**canon))
        except PolicyError as err:
            raise self.fail("[policy]", str(err)) from None

    def mailbox(self, value: object, number: int) -> tuple[Mailbox, dict[str, Any]]:
        where = f"[[mailbox]] {number}"
        table = dict(self.table(value, where))
        self.check(table, _MAILBOX_KEYS, where)
        extra: dict[str, Any] = {key: table.pop(key) for key in _SOURCE_KEYS if key in table}
        if not isinstance(extra.get("source"), str) or not extra["source"].strip():
            raise self.fail(
                where, "Every mailbox needs a source: a path, an imap:// or a caldav:// URL."
            )
        form = extra.get("format")
        known = (*FORMATS, *CALENDAR_FORMATS)
        if form is not None and (not isinstance(form, str) or form not in known):
            raise self.fail(where, not_one_of("The format", known, form))
        env = extra.get("password_env")
        if env is not None and (not isinstance(env, str) or not env):
            raise self.fail(where, f"password_env must name an environment variable, not {env!r}.")
        if "owner" not in table:
            raise self.fail(where, "Every mailbox needs an owner address.")
        try:
            return Mailbox(**table), extra
        except PolicyError as err:
            raise self.fail(where, str(err)) from None


def policy_table(policy: Policy) -> dict[str, Any]:
    """The ``[policy]`` table of a config file that reads back as *policy*, in a fixed order.

    Lists are sorted; the bundled free-provider, role and institution lists are left out when
    the policy uses them, so that the table stays small and a newer bundled list counts as no
    change.
    """
    table: dict[str, Any] = {}
    for field in _POLICY_FIELDS:
        value = getattr(policy, field.name)
        bundled = _BUNDLED.get(field.name)
        if bundled is None or value != bundled():
            table[field.name] = _table_value(value)
    return table


def _table_value(value: object) -> object:
    """A policy setting as a config file writes it: a sorted list, a table, or a boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, frozenset):
        return sorted(str(v) for v in value)
    if isinstance(value, Canonicalization):
        return {f.name: getattr(value, f.name) for f in _settings(Canonicalization)}
    raise TypeError(f"A policy setting of type {type(value).__name__} has no config form.")


def settings_text(setup: Setup, args: argparse.Namespace) -> str:
    """Every setting *setup* and the running options hold, as a config file that reads back as
    the same settings (the running options as comments)."""
    lines = [
        "# Every setting in effect; this file reads back as the same settings (--config).",
        f"# database: {_toml(args.db)}, workspace: {_toml(args.workspace)}, "
        f"batch size: {args.batch_size}, dry run: {_toml(bool(args.dry_run))}",
        *(f"# {note}" for note in setup.notes),
        "",
        "[policy]",
    ]
    table = policy_table(setup.policy)
    canon = table.pop("canonicalization")
    lines.extend(f"{key} = {_toml(value)}" for key, value in table.items())
    for key, bundled in _BUNDLED.items():
        if key not in table:
            lines.append(f"# {key}: the bundled list ({len(bundled())} entries)")
    lines.extend(["", "[policy.canonicalization]"])
    lines.extend(f"{key} = {_toml(value)}" for key, value in canon.items())
    for target in setup.targets:
        lines.extend(["", "[[mailbox]]"])
        for field in _settings(Mailbox):
            value = getattr(target.mailbox, field.name)
            lines.append(f"{field.name} = {_toml(_mailbox_value(value))}")
        lines.append(f"source = {_toml(target.source)}")
        if target.format is None:
            lines.append("# format: recognised from the content")
        else:
            lines.append(f"format = {_toml(target.format)}")
        lines.append(f"recursive = {_toml(target.recursive)}")
        if _is_url(target.source):
            lines.append(f"password_env = {_toml(target.password_env)}")
    for company in setup.companies:
        lines.extend(["", "[[company]]", f"domain = {_toml(company.domain)}"])
        if company.name:
            lines.append(f"name = {_toml(company.name)}")
        lines.append(f"domains = {_toml(list(company.domains))}")
    return "\n".join(lines) + "\n"


def _mailbox_value(value: object) -> object:
    if isinstance(value, frozenset):
        return sorted(str(v) for v in value)
    if isinstance(value, bool | str):
        return str(value) if not isinstance(value, bool) else value
    return str(value)


def _toml(value: object) -> str:
    """*value* (text, a boolean, a list of text) as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def read_policy_table(table: object, shown: str) -> Policy:
    """The policy a ``[policy]`` table describes; a `Failure` naming *shown* if it cannot."""
    return _Config(shown).policy({"policy": table})


def _from_config(
    config: Traversable, shown: str, args: argparse.Namespace, stack: ExitStack, *, sample: bool
) -> Setup:
    try:
        text = config.read_bytes()
    except OSError as err:
        raise Failure(ExitCode.INPUT, str(source_error("config file", shown, err))) from None
    reader = _Config(shown)
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise Failure(ExitCode.CONFIG, f"{shown} is not a valid TOML file: {err}.") from None
    for key in data:
        if key not in ("policy", "mailbox", "store", "company"):
            raise reader.fail(
                f"[{key}]",
                "Unknown table; the file takes [policy], [[mailbox]], [[company]] and [store].",
            )
    db = _store_table(reader, data.get("store", {}))
    policy = reader.policy(data)
    companies = _company_tables(reader, data.get("company", []), policy)
    notes: tuple[str, ...] = ()
    tables = data.get("mailbox", [])
    if not isinstance(tables, list) or not tables:
        raise Failure(ExitCode.CONFIG, f"{shown} names no [[mailbox]].")
    targets: list[Target] = []
    seen: dict[str, Target] = {}
    for number, table in enumerate(tables, start=1):
        mailbox, extra = reader.mailbox(table, number)
        source = extra["source"]
        if not _is_url(source):
            source = _resolve(config, source, stack, sample=sample)
        target = Target(
            mailbox,
            source,
            extra.get("format"),
            _password_env(args, extra.get("password_env")),
            extra["source"],
            f"{shown}, [[mailbox]] {number}",
            recursive=bool(extra.get("recursive", False)),
        )
        _check_id(reader, seen.get(mailbox.id), target, number)
        seen.setdefault(mailbox.id, target)
        targets.append(target)
    if "policy" not in data:
        policy, notes = _default_policy(shown, targets)
    return Setup(policy, tuple(targets), sample=sample, notes=notes, db=db, companies=companies)


def _check_id(reader: _Config, first: Target | None, target: Target, number: int) -> None:
    """Refuse a mailbox id used twice, but for a calendar of a mailbox configured alike.

    Two mail sources of one id would share one cursor; a calendar keeps its own cursor, so a
    mailbox's calendars may take its id, when their settings are the same as its.
    """
    if first is None:
        return
    where, mailbox_id = f"[[mailbox]] {number}", target.mailbox.id
    if not (calendar_format(target) or calendar_format(first)):
        raise reader.fail(where, f"The mailbox id {mailbox_id!r} is used twice.")
    if first.mailbox != target.mailbox:
        raise reader.fail(
            where,
            f"The mailbox id {mailbox_id!r} is used twice with different settings: a calendar "
            "takes its mailbox's id only with the same owner, aliases and levels.",
        )


def _default_policy(shown: str, targets: list[Target]) -> tuple[Policy, tuple[str, ...]]:
    """The policy the command line would use for *targets*' owners, and the note saying so."""
    domains = sorted({d for t in targets for d in _owner_domain(t.mailbox)})
    policy = Policy(domains)
    if domains:
        held = f"the organisation is {', '.join(domains)} (the owners' domains)"
    else:
        held = "no organisation domain (every owner is on a free provider), so no mail is internal"
    return policy, (
        f"{shown} has no [policy]: using the command line's defaults: {held}; mail among "
        "colleagues, bulk mail and mail from role addresses stay out.",
    )


#: The keys of a ``[[company]]`` table.
_COMPANY_KEYS = frozenset({"domain", "name", "domains"})


def _company_tables(reader: _Config, tables: object, policy: Policy) -> tuple[Company, ...]:
    """The companies of the config file's ``[[company]]`` tables, each checked on its own and
    all together (no domain named for two companies, none a free provider's)."""
    if not isinstance(tables, list):
        raise reader.fail("[[company]]", "Write each company as a [[company]] table.")
    companies: list[Company] = []
    for number, value in enumerate(tables, start=1):
        where = f"[[company]] {number}"
        table = reader.table(value, where)
        reader.check(table, _COMPANY_KEYS, where)
        domain, name = table.get("domain"), table.get("name", "")
        if not isinstance(domain, str) or not domain:
            raise reader.fail(where, "Every company needs a domain.")
        if not isinstance(name, str):
            raise reader.fail(where, f"name must be text, not {name!r}.")
        further = table.get("domains", [])
        further = [further] if isinstance(further, str) else further
        if not isinstance(further, list) or not all(isinstance(d, str) for d in further):
            raise reader.fail(where, f"domains must be a list of domains, not {further!r}.")
        company = Company(domain, name.strip(), tuple(further))
        try:
            (planned,) = plan_companies([], [company], free_providers=policy.free_providers).saved
        except CompanyError as err:
            raise reader.fail(where, f"{str(err)[0].upper()}{str(err)[1:]}") from None
        companies.append(Company(planned.domain, company.name, planned.domains))
    try:
        plan_companies([], companies, free_providers=policy.free_providers)
    except CompanyError as err:
        raise reader.fail("[[company]]", f"{str(err)[0].upper()}{str(err)[1:]}") from None
    return tuple(companies)


def apply_companies(store: Store, setup: Setup, workspace: str, *, dry_run: bool) -> CompanyChange:
    """Bring the companies of *setup* about in *store*; the change (not applied in a dry run).

    Only additions: a company is made when missing, gains its domains, and a stored company
    holding one of them is merged in. Applied again, it changes nothing.
    """
    if not setup.companies:
        return CompanyChange()
    change = plan_companies(
        store.companies(workspace=workspace),
        setup.companies,
        free_providers=setup.policy.free_providers,
    )
    if (change.saved or change.removed) and not dry_run:
        store.apply_company_change(change, workspace=workspace)
    return change


def _store_table(reader: _Config, table: object) -> str | None:
    """The ``db`` of the config file's ``[store]`` table (a path or a PostgreSQL URL)."""
    if not isinstance(table, dict):
        raise reader.fail("[store]", "Must be a table.")
    for key in table:
        if key != "db":
            raise reader.fail(f"[store] {key}", "Unknown key; [store] takes db.")
    db = table.get("db")
    if db is None:
        return None
    if not isinstance(db, str) or not db:
        raise reader.fail("[store] db", "Must be a path or a postgresql:// URL.")
    if is_postgres(db):
        check_postgres_url(db)
    return db


def _resolve(config: Traversable, source: str, stack: ExitStack, *, sample: bool) -> str:
    """*source* as a real path: relative ones start at the config file's folder."""
    if sample:
        return os.fspath(stack.enter_context(as_file(files("mailbind").joinpath("data", source))))
    path = os.path.expanduser(source)
    if os.path.isabs(path):
        return path
    folder = os.path.dirname(os.path.abspath(os.fspath(config)))  # type: ignore[call-overload]
    return os.path.join(folder, path)


# --- Sources and the store ------------------------------------------------------------------


def _is_url(source: str) -> bool:
    return source.lower().startswith(
        ("imap://", "imaps://", "caldav://", "caldav+http://", "https://", "http://")
    )


#: The formats of calendar sources (`mailbind.cli.calendar`).
CALENDAR_FORMATS = ("caldav", "ics", "invitations")


def calendar_format(target: Target) -> str | None:
    """``caldav``, ``ics`` or ``invitations`` when *target* is a calendar, else None."""
    if target.format in CALENDAR_FORMATS:
        return target.format
    lowered = target.source.lower()
    if lowered.startswith(("caldav://", "caldav+http://")):
        return "caldav"
    if target.format is None and lowered.endswith(".ics"):
        return "ics"
    return None


def open_mail(target: Target, stack: ExitStack) -> MessageSource:
    """The source of *target*'s mail, closed when *stack* closes.

    Raises `Failure` for a missing file or a missing password; an IMAP source connects only
    when it is first read.
    """
    if not _is_url(target.source):
        if not os.path.exists(target.source):
            raise Failure(
                ExitCode.INPUT, f"Cannot read the mail source {target.source!r}: it does not exist."
            )
        return open_source(target.source, target.format, recursive=target.recursive)
    try:
        return _open_imap(target, stack)
    except SourceSettingError as err:
        if not target.where:
            raise
        raise Failure(ExitCode.CONFIG, f"{target.where}: {err}") from None


def _open_imap(target: Target, stack: ExitStack) -> MessageSource:
    from ..sources.imap import ImapSource

    parts = urlsplit(target.source)
    if parts.password is not None:
        raise SourceSettingError(
            "An IMAP URL may not hold a password; set the environment variable "
            f"{target.password_env} instead."
        )
    shown = f"{parts.username or ''}@{parts.hostname or ''}"
    password = os.environ.get(target.password_env)
    if password is None:
        if not sys.stdin.isatty():
            raise Failure(
                ExitCode.AUTHENTICATION,
                f"No password for {shown}: set the environment variable {target.password_env}, "
                "or run mailbind in a terminal to be asked for it.",
            )
        password = getpass.getpass(f"IMAP password for {shown}: ")
    source = ImapSource.from_url(target.source, password=password)
    stack.callback(source.close)
    return source


def is_postgres(db: str) -> bool:
    """True when the --db value names a PostgreSQL database rather than an SQLite file."""
    return db.lower().startswith(("postgresql://", "postgres://"))


def check_postgres_url(url: str) -> None:
    """Refuse a PostgreSQL URL that carries a password: it would show in ``ps`` and logs."""
    from urllib.parse import parse_qs, urlsplit

    try:
        parts = urlsplit(url)
        has_password = parts.password is not None or "password" in parse_qs(parts.query)
    except ValueError:
        raise Failure(ExitCode.USAGE, "The --db URL cannot be read.") from None
    if has_password:
        raise Failure(
            ExitCode.USAGE,
            "The --db URL holds a password; give it in the environment variable PGPASSWORD "
            "or in ~/.pgpass instead, never on the command line.",
        )


def chosen_db(args: argparse.Namespace, setup: Setup | None = None) -> str:
    """The database a command uses: --db when given, else the config file's, else the default."""
    if setup is not None and setup.db is not None and args.db == DEFAULT_DB:
        args.db = setup.db
    return str(args.db)


def open_store(path: str, *, create: bool, read_only: bool = False) -> Any:
    """The store a --db value names: a PostgresStore for a ``postgresql://`` URL, else the
    SQLite file at *path* (unless *create*, the file must exist already). A *read_only* SQLite
    store is never written, and opens a file the user may only read."""
    if is_postgres(path):
        check_postgres_url(path)
        try:
            from ..stores.postgres import PostgresStore
        except ImportError:
            raise Failure(
                ExitCode.DATABASE,
                "PostgreSQL support needs mailbind[postgres]: pip install 'mailbind[postgres]', "
                "or give --db a file path.",
            ) from None
        try:
            return PostgresStore(path)
        except StoreError as err:
            raise Failure(ExitCode.DATABASE, str(err)) from None
    if os.path.isdir(path):
        raise Failure(ExitCode.DATABASE, f"The database {path!r} is a folder, not a file.")
    if not create and not os.path.exists(path):
        raise Failure(
            ExitCode.DATABASE,
            f"No database at {path!r}: run `mailbind sync` first, or give --db PATH.",
        )
    return SQLiteStore(path, read_only=read_only and not create)
