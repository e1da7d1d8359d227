"""An IMAP mailbox as a message source, read with the standard library's `imaplib`.

Invariants:
- Syncing never changes the mailbox: folders are opened with EXAMINE (read-only) and messages
  are fetched with ``BODY.PEEK[]``, so no ``\\Seen`` flag is set and nothing is expunged.
- The cursor holds, for every synced folder, its UIDVALIDITY and the highest UID handed out.
  A batch holds mail of one folder in UID order; the next fetch continues above that UID, and
  UIDs at or below it are dropped even when the server returns them (``UID n:*`` answers with
  the last message when n is past the end).
- A folder whose UIDVALIDITY changed is read again from its first message and the batch that
  starts it over says ``reset``; other folders keep their place. An unreadable cursor starts
  every folder over the same way.
- A message stands at an IMAP URL of its folder, UIDVALIDITY and UID. A listing with a token
  of an earlier one, from a server with QRESYNC, names the UIDs ``VANISHED`` since each
  folder's HIGHESTMODSEQ; without a usable token, after a UIDVALIDITY change, with a folder
  gone, or without QRESYNC, it is complete (``UID SEARCH ALL`` per synced folder).
- The cursor never moves past a UID the folder still holds whose body did not arrive: the
  batch ends below it and the next fetch asks again; after ``_attempts`` fetches in a row it is
  handed out as an item recording ``not_fetched``. Only an expunged UID is stepped over. The
  tries are counted for that UID (kept in the cursor with it), so a UID that fails once never
  inherits the tries of another.
- Every command has an overall deadline (``command_timeout``), checked before each read from
  the socket; a literal keeps at most ``max_message_bytes`` + 1 bytes. A fetch of bodies that
  runs past its deadline is charged to the first UID asked for, like a body that did not
  arrive: the batch ends below it and the connection is dropped; a UID with tries is asked for
  alone, so after ``_attempts`` fetches of it alone past the deadline it is handed out as
  ``not_fetched``, and one slow message never stops the folder. A deadline anywhere else is a
  `TemporaryError`.
- A batch holds at most ``limit`` messages and ``batch_bytes`` bytes (at least one message);
  a message over ``max_message_bytes`` keeps only its first bytes and is marked ``truncated``.
- Credentials stay private: never in ``repr``, ``name``, a log line or an exception text.
  Network failures, time-outs and a server ending the session become `TemporaryError`; a
  rejected login becomes `AuthenticationError`; settings the server cannot honour become
  `SourceError`; each is raised ``from`` the original error.
"""

from __future__ import annotations

import contextlib
import imaplib
import io
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from .._kinds import Defect, member
from ..codecs import problem_message
from ..errors import AuthenticationError, MailbindError, SourceError, TemporaryError
from ..messages import Flag
from . import Batch, Listing, SourceItem, SourceSettingError, flags_for_folder
from . import _imapwire as wire
from ._files import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_MAX_MESSAGE_BYTES,
    check_limit,
    decode_cursor,
    encode_cursor,
)

__all__ = ["ImapFolder", "ImapSource", "Security"]

_KIND = "imap"
#: The kind of a listing's token.
_LISTING = "imap-listing"


class Security(StrEnum):
    """How the connection to the server is protected."""

    #: TLS from the first byte (port 993): the default.
    TLS = "tls"
    #: A plain connection upgraded with STARTTLS before logging in (port 143).
    STARTTLS = "starttls"
    #: No encryption at all (port 143): only for a server on the same machine.
    PLAIN = "plain"


_DEFAULT_PORTS = {Security.TLS: 993, Security.STARTTLS: 143, Security.PLAIN: 143}


@dataclass(frozen=True, slots=True)
class ImapFolder:
    """A folder the source reads, and the flags its role gives every message in it."""

    #: The name as people read it (decoded from IMAP's modified UTF-7).
    name: str
    #: ``Flag.SENT``, ``DRAFT``, ``SPAM`` or ``TRASH`` from the folder's role; empty for others.
    flags: frozenset[Flag] = frozenset()
    #: The name as the server spells it.
    wire: str = ""
    #: The hierarchy separator the server reported (``/`` or ``.``), or ``""`` when flat.
    separator: str = ""


class _Secret:
    """A credential, or what makes a fresh one, that shows itself to no one but the login."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Callable[[], str]) -> None:
        self._value = value

    def reveal(self) -> str:
        if not callable(self._value):
            return self._value
        token = self._value()
        if not _usable_secret(token):
            raise SourceSettingError(
                "The OAuth2 token function must return non-empty text without line breaks."
            )
        return token

    def __repr__(self) -> str:
        return "<hidden>"


class ImapSource:
    """The messages of an IMAP account, folder by folder, oldest UID first.

    Credentials are either *password* (``LOGIN``, or ``AUTHENTICATE PLAIN`` when it is not
    ASCII) or *oauth2_token* (``AUTHENTICATE XOAUTH2``), exactly one; the token may be a
    function, called for a fresh token at every login. *security* is ``"tls"``
    (default, port 993), ``"starttls"`` or ``"plain"`` (port 143); the connection never falls
    back to a weaker one. *folders* names the folders to read, in order; by default every
    selectable folder is read, INBOX first, except virtual ones (``\\All``, ``\\Flagged``)
    that only show mail held elsewhere. A folder's role comes from its SPECIAL-USE attribute,
    or from its name when the server marks no folder with that role, or from *roles* (a name to
    a flag, or None for no role); folders whose role is in *skip_roles* are not read.

    *timeout* bounds every wait for the server, *command_timeout* each command as a whole
    (a server that drip-feeds its answer): past either, the fetch raises `TemporaryError`,
    except that bodies fetched past *command_timeout* count as a message that did not arrive
    (asked for again, alone, and recorded as ``not_fetched`` after three tries).

    A source keeps one connection open between fetches; `close` (or ``with``) logs out, and a
    source dropped unclosed closes its socket. It is not safe to share one source between
    threads.
    """

    #: Whether to ask for folder numbers with LIST (RFC 5819) when the server can answer.
    _list_status = True
    #: The clock command deadlines are measured by (seconds, never going back).
    _clock: Callable[[], float] = staticmethod(time.monotonic)
    #: How many fetches in a row may ask for a message whose body does not arrive before it is
    #: handed out as an item that records ``not_fetched``.
    _attempts = 3

    __slots__ = (
        "_batch_bytes",
        "_command_timeout",
        "_conn",
        "_context",
        "_folders",
        "_max_message_bytes",
        "_oauth2",
        "_password",
        "_pending",
        "_qresync_conn",
        "_roles",
        "_skip",
        "_statuses",
        "_timeout",
        "_use_qresync",
        "host",
        "name",
        "port",
        "security",
        "username",
    )

    def __init__(
        self,
        host: str,
        username: str,
        *,
        password: str | None = None,
        oauth2_token: str | Callable[[], str] | None = None,
        port: int | None = None,
        security: Security | str = Security.TLS,
        folders: Iterable[str] | None = None,
        roles: Mapping[str, Flag | str | None] | None = None,
        skip_roles: Iterable[Flag | str] = (),
        timeout: float = 60.0,
        command_timeout: float = 600.0,
        ssl_context: ssl.SSLContext | None = None,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        use_qresync: bool = True,
    ) -> None:
        if not isinstance(host, str) or not host or re.search(r"[\s/@]", host):
            raise SourceSettingError(f"The IMAP host must be a host name or address, not {host!r}.")
        if not isinstance(username, str) or not username or _has_breaks(username):
            raise SourceSettingError(
                f"The IMAP user name must be text without line breaks, not {username!r}."
            )
        if (password is None) == (oauth2_token is None):
            raise SourceSettingError(
                "An IMAP source needs a password or an OAuth2 token (exactly one)."
            )
        secret = password if password is not None else oauth2_token
        if not callable(secret) and not _usable_secret(secret):
            # The value is a secret: the message never shows it.
            raise SourceSettingError(
                "An IMAP password or token must be non-empty text without line breaks."
            )
        security = member(Security, security, "The IMAP security", SourceSettingError)
        port = _DEFAULT_PORTS[security] if port is None else port
        if type(port) is not int or not 0 < port < 65536:
            raise SourceSettingError(f"The IMAP port must be from 1 to 65535, not {port!r}.")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise SourceSettingError(f"The IMAP timeout must be positive seconds, not {timeout!r}.")
        if (
            isinstance(command_timeout, bool)
            or not isinstance(command_timeout, int | float)
            or not command_timeout > 0
        ):
            raise SourceSettingError(
                f"The IMAP command_timeout must be positive seconds, not {command_timeout!r}."
            )
        for what, value in (("batch_bytes", batch_bytes), ("max_message_bytes", max_message_bytes)):
            if type(value) is not int or value < 1:
                raise SourceSettingError(f"{what} must be a positive whole number, not {value!r}.")
        if not isinstance(use_qresync, bool):
            raise SourceSettingError(f"use_qresync must be True or False, not {use_qresync!r}.")
        if ssl_context is not None and security is Security.PLAIN:
            raise SourceSettingError("An SSL context has no use with security 'plain'.")
        self.host = host
        self.username = username
        self.port = port
        self.security = security
        self._password = _Secret(password) if password is not None else None
        self._oauth2 = _Secret(oauth2_token) if oauth2_token is not None else None
        self._folders = _folder_names(folders)
        self._roles = {name: _role(flag) for name, flag in (roles or {}).items()}
        self._skip = frozenset(_flag(flag) for flag in skip_roles)
        self._timeout = float(timeout)
        self._command_timeout = float(command_timeout)
        self._context = ssl_context
        self._batch_bytes = batch_bytes
        self._max_message_bytes = max_message_bytes
        self._use_qresync = use_qresync
        self._conn: imaplib.IMAP4 | None = None
        #: The connection on which QRESYNC is enabled, if any.
        self._qresync_conn: imaplib.IMAP4 | None = None
        #: UIDs found by the last search and not handed out yet: (folder, UIDVALIDITY, after, UIDs).
        self._pending: tuple[str, int, int, tuple[int, ...]] | None = None
        #: UIDVALIDITY and UIDNEXT by folder from the last LIST, when the server sends them.
        self._statuses: dict[str, dict[str, int]] = {}
        at = f"[{host}]" if ":" in host else host
        self.name = f"imap://{quote(username, safe='')}@{at}:{port}/"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        password: str | None = None,
        oauth2_token: str | Callable[[], str] | None = None,
        **options: Any,
    ) -> ImapSource:
        """A source for ``imap://user@host:port/?security=starttls&folders=INBOX,Sent``.

        ``imap://`` and ``imaps://`` both default to TLS on port 993. The query may set
        ``security``, ``folders`` (comma-separated, each percent-encoded) and ``skip`` (roles
        not to read: ``skip=trash,spam``). The URL never holds the password: pass *password*
        or *oauth2_token*, read from an environment variable or a prompt. Other keyword
        arguments go to the constructor.
        """
        shown = _without_password(url) if isinstance(url, str) else url
        try:
            parts = urlsplit(url)
            port = parts.port
        except (TypeError, ValueError):
            raise SourceSettingError(f"Not an IMAP URL: {shown!r}.") from None
        if parts.scheme.lower() not in ("imap", "imaps"):
            raise SourceSettingError(f"An IMAP URL starts with imap:// or imaps://, not {shown!r}.")
        if parts.password is not None:
            raise SourceSettingError(
                "An IMAP URL may not hold a password; pass it as password= instead."
            )
        if not parts.username or not parts.hostname or parts.path not in ("", "/"):
            raise SourceSettingError(f"An IMAP URL reads imap://user@host:port/, not {shown!r}.")
        settings: dict[str, Any] = {}
        if port is not None:
            settings["port"] = port
        for pair in filter(None, parts.query.split("&")):
            key, _, value = pair.partition("=")
            if key in ("folders", "skip"):
                settings["folders" if key == "folders" else "skip_roles"] = tuple(
                    unquote(v) for v in value.split(",") if v
                )
            elif key == "security":
                settings["security"] = unquote(value)
            else:
                raise SourceSettingError(
                    f"An IMAP URL takes security, folders and skip, not {unquote(key)!r}."
                )
        if parts.scheme.lower() == "imaps" and settings.get("security", "tls") != "tls":
            raise SourceSettingError("An imaps:// URL always uses security 'tls'.")
        clash = sorted(settings.keys() & options.keys())
        if clash:
            raise SourceSettingError(
                f"The setting {clash[0]!r} is given both in the URL and as an argument."
            )
        return cls(
            parts.hostname,
            unquote(parts.username),
            password=password,
            oauth2_token=oauth2_token,
            **settings,
            **options,
        )

    def __repr__(self) -> str:
        folders = f", folders={list(self._folders)!r}" if self._folders is not None else ""
        return (
            f"ImapSource({self.host!r}, {self.username!r}, port={self.port}, "
            f"security={self.security.value!r}{folders})"
        )

    def __enter__(self) -> ImapSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # The engine knows sources only by `fetch`: a source dropped unclosed closes its socket.
        conn = getattr(self, "_conn", None)
        if conn is not None:
            _shut(conn)

    def close(self) -> None:
        """Log out and close the connection, if one is open. Never raises."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.logout()
            _shut(conn)

    # --- Fetching -----------------------------------------------------------------------------

    def folders(self) -> tuple[ImapFolder, ...]:
        """The folders `fetch` reads, in the order it reads them, with their roles."""
        with self._guard("listing folders"):
            return self._list(self._connection())

    def fetch(self, cursor: str | None, *, limit: int = 500) -> Batch:
        """The next messages after *cursor* (None: from the start of every folder)."""
        check_limit(limit)
        known, restart = _read_cursor(cursor)
        with self._guard("connecting"):
            conn = self._connection()
        with self._guard("listing folders"):
            folders = self._list(conn)
        positions: dict[str, _Place] = {}
        items: tuple[SourceItem, ...] = ()
        reset = False
        done = True
        broken = False
        for folder in folders:
            seen = known.get(folder.name)
            if not done:
                # A fuller batch is already made: later folders keep their place.
                if seen is not None:
                    positions[folder.name] = seen
                continue
            with self._guard(f"reading the folder {folder.name!r}"):
                uidvalidity, uidnext = self._status(conn, folder)
                changed = restart or (seen is not None and seen.uidvalidity != uidvalidity)
                place = _Place(uidvalidity, 0) if changed or seen is None else seen
                if not changed and uidnext - 1 <= place.after:
                    positions[folder.name] = place
                    continue
                if items:
                    # One folder per batch: this one waits for the next fetch.
                    done = False
                    if seen is not None:
                        positions[folder.name] = seen
                    continue
                more = True
                while more and not items and not broken:
                    items, place, more, broken = self._read_folder(conn, folder, place, limit)
                positions[folder.name] = place
                # A folder started over whose first message is retried later starts over still.
                reset = changed and (bool(items) or place.tries > 0)
                done = not more
        if broken:
            # A fetch ran past its deadline: the connection is out of step, open a new one.
            self._discard()
        else:
            with self._guard("closing the folder"):
                self._unselect(conn)
        cursor = encode_cursor(
            _KIND, folders={name: place.saved() for name, place in positions.items()}
        )
        return Batch(items, cursor, reset=reset, done=done)

    def _read_folder(
        self, conn: imaplib.IMAP4, folder: ImapFolder, place: _Place, limit: int
    ) -> tuple[tuple[SourceItem, ...], _Place, bool, bool]:
        """Up to *limit* messages above *place*: (items, the place after them, more, broken).

        The place never moves past a message whose body did not arrive (no size, no body in
        the answer, the answer cut short, the answer past its deadline) while the server still
        holds it: the batch ends just below it, and the next fetch asks for it again, alone.
        After `_attempts` fetches in a row without it, it is handed out as an item whose
        message records ``not_fetched``. *broken* says the connection ran past a deadline and
        must not be used again.
        """
        after = place.after
        uidvalidity = self._examine(conn, folder)
        uidnext = _number(conn, "UIDNEXT")
        # A backfill reads one search result batch by batch instead of searching each time.
        pending = self._pending
        if pending is not None and pending[:3] == (folder.name, uidvalidity, after) and pending[3]:
            uids, fresh = pending[3], False
        else:
            uids, fresh = self._search(conn, after), True
        # A UID asked for in vain before is asked for alone, so a failure is its own.
        chosen = uids[: 1 if place.tries and uids[:1] == (place.stuck,) else limit]
        sizes = self._sizes(conn, chosen) if chosen else {}
        take: list[int] = []
        total = 0
        for uid in chosen:
            cost = min(sizes.get(uid, 0), self._max_message_bytes + 1)
            if take and total + cost > self._batch_bytes:
                break
            take.append(uid)
            total += cost
        found, broken = self._bodies(conn, [uid for uid in take if uid in sizes], sizes)
        absent = [uid for uid in take if uid not in found]
        # A message missing from the answers was expunged meanwhile, or the server failed to
        # send it: only one the server still holds stops the batch. After a deadline nothing
        # more can be asked: the first message asked for is charged with it.
        if broken:
            take = take[:1]
            held: tuple[int, ...] = tuple(take)
        else:
            held = self._held(conn, absent) if absent else ()
        tries = (
            place.tries
            if place.uidvalidity == uidvalidity and held and held[0] == place.stuck
            else 0
        )
        given_up: int | None = None
        if held and held[0] == take[0] and tries + 1 >= self._attempts:
            given_up, held = held[0], held[1:]
        stuck = held[0] if held else None
        if stuck is not None:
            take = [uid for uid in take if uid < stuck]
        highest = take[-1] if take else after
        rest = uids[len(take) :]
        self._pending = (folder.name, uidvalidity, highest, rest)
        prefix = self._location_prefix(folder, uidvalidity)
        items = tuple(
            self._item(folder, prefix, uid, found.get(uid), uid == given_up)
            for uid in take
            if uid in found or uid == given_up
        )
        if stuck is not None:
            # Asked for again by the next fetch; a fetch that got nothing before it leaves the
            # folder for now, so the sync goes on with the other folders (but for a deadline:
            # the next fetch asks again on a new connection).
            again = _Place(uidvalidity, highest, tries + 1, stuck)
            return items, again, bool(take) or broken, broken
        if broken:
            # The one message asked for was given up: go on above it on a new connection.
            return items, _Place(uidvalidity, highest), True, True
        more = bool(rest)
        if not rest and uidnext is not None:
            if fresh:
                # No UID below UIDNEXT can appear later: step over expunged ones for good.
                highest = max(highest, uidnext - 1)
            else:
                more = uidnext - 1 > highest
        return items, _Place(uidvalidity, highest), more, False

    def _item(
        self,
        folder: ImapFolder,
        prefix: str,
        uid: int,
        found: tuple[bytes, frozenset[Flag], bool] | None,
        given_up: bool,
    ) -> SourceItem:
        location = f"{prefix}{uid}"
        if found is None or given_up:
            problem = problem_message(
                f"The IMAP server did not send this message after {self._attempts} attempts.",
                Defect.NOT_FETCHED,
            )
            return SourceItem(location, None, problem, folder.flags)
        raw, flags, truncated = found
        return SourceItem(location, raw, flags=folder.flags | flags, truncated=truncated)

    def _search(self, conn: imaplib.IMAP4, after: int) -> tuple[int, ...]:
        typ, data = conn.uid("SEARCH", "UID", f"{after + 1}:*")
        self._check(typ, "search")
        return wire.search_uids(data, after)

    def _held(self, conn: imaplib.IMAP4, uids: list[int]) -> tuple[int, ...]:
        """Those of *uids* the folder still holds, in order."""
        typ, data = conn.uid("SEARCH", "UID", wire.uid_set(uids))
        self._check(typ, "search")
        wanted = set(uids)
        return tuple(uid for uid in wire.search_uids(data, 0) if uid in wanted)

    def _sizes(self, conn: imaplib.IMAP4, uids: list[int] | tuple[int, ...]) -> dict[int, int]:
        typ, data = conn.uid("FETCH", wire.uid_set(uids), "(UID RFC822.SIZE)")
        self._check(typ, "fetch sizes")
        wanted = set(uids)
        return {
            uid: seen.size
            for uid, seen in wire.fetched_messages(data).items()
            if uid in wanted and seen.size is not None
        }

    def _bodies(
        self, conn: imaplib.IMAP4, uids: list[int], sizes: dict[int, int]
    ) -> tuple[dict[int, tuple[bytes, frozenset[Flag], bool]], bool]:
        """The message, flags and whether it was cut, of each of *uids* the server sent; and
        whether the answer ran past its deadline (nothing of it is then kept)."""
        keep = self._max_message_bytes
        whole = [uid for uid in uids if sizes[uid] <= keep]
        cut = [uid for uid in uids if sizes[uid] > keep]
        found: dict[int, tuple[bytes, frozenset[Flag], bool]] = {}
        for group, section in (
            (whole, "BODY.PEEK[]"),
            # One byte over the limit, so the cut message reads as too large (as files do).
            (cut, f"BODY.PEEK[]<0.{keep + 1}>"),
        ):
            if not group:
                continue
            try:
                typ, data = conn.uid("FETCH", wire.uid_set(group), f"(UID FLAGS {section})")
            except imaplib.IMAP4.abort:
                # imaplib raises its own abort in place of the deadline's: the connection knows.
                if isinstance(conn, _Connection) and conn.overdue:
                    return {}, True
                raise
            self._check(typ, "fetch messages")
            wanted = set(group)
            for uid, seen in wire.fetched_messages(data).items():
                if uid in wanted and seen.body is not None:
                    # A literal longer than asked for was kept only up to the limit (and one
                    # byte), by the connection: such a message is cut too.
                    body = seen.body[: keep + 1]
                    found[uid] = (body, seen.flags, uid in cut or len(body) > keep)
        return found, False

    def _location_prefix(self, folder: ImapFolder, uidvalidity: int) -> str:
        """The location of a message of *folder* but for its UID.

        An IMAP URL (RFC 5092): the source's name, the folder, UIDVALIDITY and the UID.
        """
        return f"{self.name}{quote(folder.name, safe='/&')};UIDVALIDITY={uidvalidity}/;UID="

    # --- Listing ------------------------------------------------------------------------------

    def listing(self, token: str | None = None) -> Listing:
        """Which messages the synced folders hold now, or which vanished since *token*.

        With a server that offers QRESYNC (RFC 7162) and a *token* of an earlier listing that
        still fits every folder (same UIDVALIDITY, no folder gone), the answer names only the
        messages expunged since then, from ``VANISHED (EARLIER)``. Otherwise it is complete:
        ``UID SEARCH ALL`` in every synced folder. No message is read, and nothing is changed.
        """
        with self._guard("connecting"):
            conn = self._connection()
        with self._guard("listing folders"):
            folders = self._list(conn)
            qresync = self._qresync(conn)
        known = _read_listing_token(token) if qresync else None
        found: Listing | None = None
        if known is not None and known.keys() <= {folder.name for folder in folders}:
            with self._guard("asking for the messages gone"):
                found = self._vanished(conn, folders, known)
        if found is None:
            with self._guard("listing the messages"):
                found = self._complete(conn, folders, qresync)
        with self._guard("closing the folder"):
            self._unselect(conn)
        return found

    def _qresync(self, conn: imaplib.IMAP4) -> bool:
        """Whether QRESYNC is on for *conn*: enabled here when the server offers it."""
        if conn is self._qresync_conn:
            return True
        caps = conn.capabilities
        if not self._use_qresync or "QRESYNC" not in caps or "ENABLE" not in caps:
            return False
        typ, _ = conn.enable("QRESYNC")
        if typ != "OK":
            return False
        self._qresync_conn = conn
        return True

    def _complete(
        self, conn: imaplib.IMAP4, folders: tuple[ImapFolder, ...], qresync: bool
    ) -> Listing:
        present: set[str] = set()
        states: dict[str, list[int]] = {}
        for folder in folders:
            uidvalidity = self._examine(conn, folder)
            modseq = _number(conn, "HIGHESTMODSEQ")
            typ, data = conn.uid("SEARCH", "ALL")
            self._check(typ, "search")
            prefix = self._location_prefix(folder, uidvalidity)
            present.update(f"{prefix}{uid}" for uid in wire.search_uids(data, 0))
            if modseq is not None:
                states[folder.name] = [uidvalidity, modseq]
        token = _listing_token(states) if qresync and len(states) == len(folders) else None
        return Listing(frozenset(present), token=token)

    def _vanished(
        self,
        conn: imaplib.IMAP4,
        folders: tuple[ImapFolder, ...],
        known: dict[str, tuple[int, int]],
    ) -> Listing | None:
        """The messages expunged since *known*, or None when a folder no longer fits it."""
        gone: set[str] = set()
        states: dict[str, list[int]] = {}
        for folder in folders:
            prior = known.get(folder.name)
            if prior is None:
                # A folder new since the token: nothing of it can be gone.
                uidvalidity = self._examine(conn, folder)
            else:
                conn.untagged_responses.clear()
                typ, _ = conn.xatom(
                    "EXAMINE", wire.quote(folder.wire), f"(QRESYNC ({prior[0]} {prior[1]}))"
                )
                if typ != "OK":
                    raise TemporaryError(
                        f"The IMAP server {self.name} could not open the folder {folder.name!r}."
                    )
                conn.state = "SELECTED"
                uidvalidity = self._uidvalidity(conn)
                if uidvalidity != prior[0]:
                    return None
                prefix = self._location_prefix(folder, uidvalidity)
                _, vanished = conn.response("VANISHED")
                gone.update(f"{prefix}{uid}" for uid in wire.vanished_uids(vanished))
            modseq = _number(conn, "HIGHESTMODSEQ")
            if modseq is None:
                return None
            states[folder.name] = [uidvalidity, modseq]
            conn.untagged_responses.clear()
        return Listing(None, frozenset(gone), _listing_token(states))

    def _examine(self, conn: imaplib.IMAP4, folder: ImapFolder) -> int:
        """Open *folder* read-only; its UIDVALIDITY."""
        typ, _ = conn.select(wire.quote(folder.wire), readonly=True)
        if typ != "OK":
            raise TemporaryError(
                f"The IMAP server {self.name} could not open the folder {folder.name!r}."
            )
        return self._uidvalidity(conn)

    def _uidvalidity(self, conn: imaplib.IMAP4) -> int:
        uidvalidity = _number(conn, "UIDVALIDITY")
        if uidvalidity is None:
            raise SourceError(f"The IMAP server {self.name} does not report UIDVALIDITY.")
        return uidvalidity

    def _check(self, typ: str, what: str) -> None:
        if typ != "OK":
            raise TemporaryError(f"The IMAP server {self.name} refused to {what} just now.")

    def _status(self, conn: imaplib.IMAP4, folder: ImapFolder) -> tuple[int, int]:
        numbers = self._statuses.pop(folder.wire, {})
        if not numbers:
            typ, data = conn.status(wire.quote(folder.wire), "(UIDVALIDITY UIDNEXT)")
            self._check(typ, f"report on the folder {folder.name!r}")
            numbers = wire.status_numbers(data)
        if "UIDVALIDITY" not in numbers or "UIDNEXT" not in numbers:
            raise SourceError(f"The IMAP server {self.name} does not report UIDVALIDITY.")
        return numbers["UIDVALIDITY"], numbers["UIDNEXT"]

    def _unselect(self, conn: imaplib.IMAP4) -> None:
        if conn.state != "SELECTED":
            return
        # CLOSE expunges nothing in a folder opened with EXAMINE.
        if "UNSELECT" in conn.capabilities:
            conn.unselect()
        else:
            conn.close()

    # --- Folders ------------------------------------------------------------------------------

    def _list(self, conn: imaplib.IMAP4) -> tuple[ImapFolder, ...]:
        caps = conn.capabilities
        returns = []
        if "LIST-EXTENDED" in caps and "SPECIAL-USE" in caps:
            returns.append("SPECIAL-USE")
        status = self._list_status and "LIST-STATUS" in caps
        if status:
            # Every folder's UIDVALIDITY and UIDNEXT in the same answer: no STATUS per folder.
            returns.append("STATUS (UIDVALIDITY UIDNEXT)")
        pattern = '"*"' + (f" RETURN ({' '.join(returns)})" if returns else "")
        typ, data = conn.list('""', pattern)
        self._check(typ, "list folders")
        self._statuses = wire.status_entries(conn.response("STATUS")[1]) if status else {}
        listed = [entry for entry in map(wire.list_entry, data) if entry is not None]
        marked = {flag for _, attrs, _ in listed for flag in wire.role_flags(attrs)}
        folders: dict[str, ImapFolder] = {}
        virtual: set[str] = set()
        for spelled, attrs, separator in listed:
            if attrs & wire.UNSELECTABLE:
                continue
            name = wire.decode_folder_name(spelled)
            name = "INBOX" if name.upper() == "INBOX" else name
            # A role no folder is marked with is found by name (Sent, Junk, Deleted Items...).
            last = name.rsplit(separator, 1)[-1] if separator else name
            flags = wire.role_flags(attrs) | (flags_for_folder(last) - marked)
            if name in self._roles:
                role = self._roles[name]
                flags = frozenset((role,)) if role is not None else frozenset()
            folders[name] = ImapFolder(name, flags, spelled, separator)
            if attrs & wire.VIRTUAL:
                virtual.add(name)
        if self._folders is not None:
            missing = [name for name in self._folders if name not in folders]
            if missing:
                raise SourceError(f"The IMAP server {self.name} has no folder {missing[0]!r}.")
            chosen = [folders[name] for name in self._folders]
        else:
            chosen = sorted(
                (f for f in folders.values() if f.name not in virtual),
                key=lambda f: (f.name != "INBOX", f.name),
            )
        return tuple(f for f in chosen if not f.flags & self._skip)

    # --- Connection ---------------------------------------------------------------------------

    def _connection(self) -> imaplib.IMAP4:
        """The open connection, checked with NOOP, or a new one when it was dropped meanwhile."""
        conn = self._conn
        if conn is not None:
            try:
                if conn.noop()[0] == "OK":
                    return conn
            except (imaplib.IMAP4.error, OSError):
                pass
            self._discard()
        conn = self._open()
        self._conn = conn
        return conn

    def _open(self) -> imaplib.IMAP4:
        context = self._context or ssl.create_default_context()
        try:
            bounds = _Bounds(
                self._command_timeout, self._timeout, self._max_message_bytes + 1, self._clock
            )
            if self.security is Security.TLS:
                conn: imaplib.IMAP4 = _TLSConnection(
                    bounds, self.host, self.port, ssl_context=context, timeout=self._timeout
                )
            else:
                conn = _Connection(bounds, self.host, self.port, timeout=self._timeout)
        except (imaplib.IMAP4.error, OSError) as err:
            if isinstance(err, ssl.SSLCertVerificationError):
                raise
            raise TemporaryError(
                f"Cannot connect to the IMAP server {self.name}: {_reason(err)}."
            ) from err
        try:
            if self.security is Security.STARTTLS:
                if "STARTTLS" not in conn.capabilities:
                    raise SourceError(f"The IMAP server {self.name} does not offer STARTTLS.")
                conn.starttls(ssl_context=context)
            self._login(conn)
            # Servers announce more after login (LIST-STATUS, SPECIAL-USE); imaplib keeps the
            # list from the greeting.
            typ, data = conn.capability()
            if typ == "OK" and data and isinstance(data[-1], bytes):
                conn.capabilities = tuple(data[-1].decode("ascii", "replace").upper().split())
        except BaseException:
            _shut(conn)
            raise
        return conn

    def _login(self, conn: imaplib.IMAP4) -> None:
        if "LOGINDISABLED" in conn.capabilities and self._oauth2 is None:
            raise SourceError(
                f"The IMAP server {self.name} refuses to log in without TLS; use security "
                "'tls' or 'starttls'."
            )
        try:
            if self._oauth2 is not None:
                conn.authenticate("XOAUTH2", wire.xoauth2(self.username, self._oauth2.reveal()))
            elif self._password is not None:
                password = self._password.reveal()
                if password.isascii() and self.username.isascii():
                    conn.login(wire.quote(self.username), password)
                else:
                    plain = f"\0{self.username}\0{password}".encode()
                    conn.authenticate("PLAIN", lambda _: plain)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as err:
            if wire.temporary_code(str(err)):
                raise TemporaryError(
                    f"The IMAP server {self.name} cannot log in {self.username!r} just now."
                ) from err
            raise AuthenticationError(
                f"The IMAP server {self.name} rejected the login of {self.username!r}."
            ) from err
        finally:
            # imaplib remembers its last commands for debugging, the LOGIN line among them.
            log = getattr(conn, "_cmd_log", None)
            if isinstance(log, dict):
                log.clear()

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            _shut(conn)

    @contextlib.contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Turn the I/O failures inside into mailbind's errors; a failed connection is dropped."""
        try:
            yield
        except MailbindError:
            self._discard()
            raise
        except ssl.SSLCertVerificationError as err:
            self._discard()
            raise SourceError(
                f"The IMAP server {self.name} presented a certificate that cannot be verified."
            ) from err
        except (imaplib.IMAP4.abort, OSError) as err:
            # imaplib raises its own abort again in place of the deadline's: the connection knows.
            overdue = isinstance(self._conn, _Connection) and self._conn.overdue
            reason = "the server took too long to answer" if overdue else _reason(err)
            self._discard()
            raise TemporaryError(
                f"Lost the connection to the IMAP server {self.name} while {doing}: {reason}."
            ) from err
        except imaplib.IMAP4.error as err:
            self._discard()
            raise SourceError(
                f"The IMAP server {self.name} refused a command while {doing}."
            ) from err
        except UnicodeEncodeError as err:
            # A folder name in raw UTF-8 (not modified UTF-7) cannot be sent back by imaplib.
            self._discard()
            raise SourceError(
                f"The IMAP server {self.name} uses a name that cannot be sent back while {doing}; "
                "name the folders to read with folders=."
            ) from err


# --- The connection: an overall deadline per command ------------------------------------------


#: The longest line `imaplib` reads from a server (its own limit).
_MAXLINE = 1_000_000


class _Overdue(imaplib.IMAP4.abort):
    """A command whose answer did not end before its deadline."""


@dataclass(frozen=True, slots=True)
class _Bounds:
    """What one command may take: seconds in all, seconds per read, bytes per literal."""

    command: float
    read: float
    literal: int
    clock: Callable[[], float]


class _Connection(imaplib.IMAP4):
    """`imaplib.IMAP4` whose every command has a deadline, and whose literals have a size cap.

    The socket time-out bounds one wait for the server; the deadline bounds a whole answer, so
    a server that drip-feeds its answer a byte at a time, or keeps sending untagged lines, ends
    in `_Overdue` too. The deadline is set when a line is sent and checked before every read
    from the socket, whose time-out never runs past it. A literal longer than the cap is read to
    its end (the connection stays in step) but only its first bytes are kept.
    """

    def __init__(self, bounds: _Bounds, *args: Any, **kwargs: Any) -> None:
        self._bounds = bounds
        #: Whether a command ran past its deadline (the connection is then out of step).
        self.overdue = False
        # The greeting is read inside the constructor: it has a deadline too.
        self._deadline = bounds.clock() + bounds.command
        super().__init__(*args, **kwargs)

    def send(self, data: Any) -> None:
        self._deadline = self._bounds.clock() + self._bounds.command
        super().send(data)

    def _arm(self) -> None:
        """Refuse to wait past the deadline; else wait no longer than it for the next bytes."""
        left = self._deadline - self._bounds.clock()
        if left <= 0:
            self.overdue = True
            raise _Overdue("the server took too long to answer")
        self.sock.settimeout(min(self._bounds.read, left))

    def readline(self) -> bytes:
        reader = self.file
        if not isinstance(reader, io.BufferedReader):
            return super().readline()
        pieces: list[bytes] = []
        size = 0
        while True:
            self._arm()
            # At most one read from the socket, and only when nothing is buffered.
            buffered = reader.peek(1)
            if not buffered:
                break
            end = buffered.find(b"\n")
            piece = reader.read(end + 1 if end >= 0 else len(buffered))
            pieces.append(piece)
            size += len(piece)
            if size > _MAXLINE:
                raise self.error(f"got more than {_MAXLINE} bytes")
            if end >= 0:
                break
        return b"".join(pieces)

    def read(self, size: int) -> bytes:
        reader = self.file
        if not isinstance(reader, io.BufferedReader):
            return super().read(size)
        keep = self._bounds.literal
        pieces: list[bytes] = []
        got = kept = 0
        while got < size:
            self._arm()
            piece = reader.read1(min(size - got, 1 << 16))
            if not piece:
                break
            got += len(piece)
            if kept < keep:
                pieces.append(piece[: keep - kept])
                kept += len(pieces[-1])
        return b"".join(pieces)


class _TLSConnection(_Connection, imaplib.IMAP4_SSL):
    """`_Connection` over TLS from the first byte."""


# --- Helpers ----------------------------------------------------------------------------------


def _has_breaks(text: str) -> bool:
    return any(ch in text for ch in "\r\n\0")


def _usable_secret(secret: object) -> bool:
    return isinstance(secret, str) and bool(secret) and not _has_breaks(secret)


def _flag(value: Flag | str) -> Flag:
    return member(Flag, value, "A flag", SourceSettingError)


def _role(value: Flag | str | None) -> Flag | None:
    return None if value is None else _flag(value)


def _folder_names(folders: Iterable[str] | None) -> tuple[str, ...] | None:
    if folders is None:
        return None
    names = (folders,) if isinstance(folders, str) else tuple(folders)
    for name in names:
        if not isinstance(name, str) or not name or _has_breaks(name):
            raise SourceSettingError(f"A folder name must be non-empty text, not {name!r}.")
    if not names:
        raise SourceSettingError("Give at least one folder, or None for every folder.")
    return tuple("INBOX" if name.upper() == "INBOX" else name for name in names)


def _without_password(url: str) -> str:
    """*url* with anything after a colon in its user part hidden, for error messages."""
    scheme, slashes, rest = url.partition("//")
    if not slashes or "@" not in rest:
        return url
    user, _, host = rest.rpartition("@")
    name, colon, _ = user.partition(":")
    return f"{scheme}//{name}{':***' if colon else ''}@{host}"


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a folder stands: its UIDVALIDITY, the highest UID handed out, and how many fetches
    in a row asked in vain for the message *stuck* above it."""

    uidvalidity: int
    after: int
    tries: int = 0
    #: The UID the tries were spent on (a cursor of an earlier version: the first one above).
    stuck: int | None = None

    def saved(self) -> list[int]:
        """The place as the cursor holds it: ``[uidvalidity, after]``, then the tries and the
        UID they were spent on, when any."""
        tried = (self.tries, self.stuck) if self.tries and self.stuck is not None else ()
        return [self.uidvalidity, self.after, *tried]


def _read_cursor(cursor: str | None) -> tuple[dict[str, _Place], bool]:
    """The folders' places in *cursor*, and whether every folder starts over (unreadable)."""
    if cursor is None:
        return {}, False
    data = decode_cursor(cursor, _KIND)
    folders = data.get("folders") if data is not None else None
    if not isinstance(folders, dict):
        return {}, True
    known: dict[str, _Place] = {}
    for name, place in folders.items():
        if (
            not isinstance(place, list)
            or len(place) not in (2, 3, 4)
            or not all(type(n) is int and n >= 0 for n in place)
        ):
            return {}, True
        uidvalidity, after, *tried = place
        tries = tried[0] if tried else 0
        # Three numbers: an earlier version's cursor, whose tries were spent on the UID above.
        stuck = tried[1] if len(tried) == 2 else after + 1
        known[name] = _Place(uidvalidity, after, tries, stuck)
    return known, False


def _listing_token(states: dict[str, list[int]]) -> str:
    """A listing's token: every folder's UIDVALIDITY and HIGHESTMODSEQ when it was made."""
    return encode_cursor(_LISTING, folders=states)


def _read_listing_token(token: str | None) -> dict[str, tuple[int, int]] | None:
    """The folders' UIDVALIDITY and HIGHESTMODSEQ in *token*, or None when it is not one."""
    if token is None:
        return None
    data = decode_cursor(token, _LISTING)
    folders = data.get("folders") if data is not None else None
    if not isinstance(folders, dict):
        return None
    known: dict[str, tuple[int, int]] = {}
    for name, state in folders.items():
        if (
            not isinstance(state, list)
            or len(state) != 2
            or not all(type(n) is int and n > 0 for n in state)
        ):
            return None
        known[name] = (state[0], state[1])
    return known


def _number(conn: imaplib.IMAP4, code: str) -> int | None:
    _, data = conn.response(code)
    value = data[-1] if data else None
    if isinstance(value, bytes) and value.strip().isdigit():
        return int(value)
    return None


def _reason(err: BaseException) -> str:
    """A short, data-free reason for a network failure."""
    if isinstance(err, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(err, socket.gaierror):
        return "the host name could not be resolved"
    if isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if isinstance(err, ConnectionResetError | BrokenPipeError):
        return "connection reset"
    if isinstance(err, ssl.SSLError):
        return "TLS failed"
    if isinstance(err, _Overdue):
        return "the server took too long to answer"
    if isinstance(err, imaplib.IMAP4.abort):
        return "the server ended the session"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    return "the server ended the session"


def _shut(conn: imaplib.IMAP4) -> None:
    with contextlib.suppress(Exception):
        conn.shutdown()
