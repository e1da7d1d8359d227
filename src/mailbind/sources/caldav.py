"""A calendar source over one CalDAV calendar collection, on the standard library alone.

Invariants:
- Reads only: ``REPORT`` requests (RFC 6578 ``sync-collection``, RFC 4791 ``calendar-multiget``
  and ``calendar-query``) and nothing that writes. Each response body is read up to
  ``max_bytes``; XML with a DOCTYPE is refused (no entity can be declared or expanded).
- With ``sync-collection`` (the default) a fetch asks what changed since the cursor's sync token,
  reading only ETags and URLs, then fetches the calendar data of at most ``limit`` changed
  objects with one ``calendar-multiget``. A round that needs several fetches continues after
  the last URL read, in URL order, and ends with the token of its *first* request, so a change
  made while it ran is read again by the next round rather than missed. A token the server no
  longer accepts (``valid-sync-token``) starts over with ``reset`` set.
- Servers without ``sync-collection`` (``mode="query"``): the cursor holds each object's ETag
  and a fetch reads the data of the objects whose ETag changed (a ``calendar-query`` for ETags,
  then a multiget).
- Each calendar object is one resource, located by its absolute URL (never with credentials).
  Its listing is a change since the token (``sync-collection``: the objects reported deleted)
  or complete (every object's URL).
- A refused login (401, 403 on the first request) is `AuthenticationError`; time-outs, refused
  connections, 429 and 5xx are `TemporaryError`; anything else is `SourceError`. No event text
  and no password is ever in an error.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, tzinfo
from urllib.parse import unquote, urljoin, urlsplit
from xml.parsers import expat

from .._kinds import Defect
from ..calendars import EventBatch, EventItem
from ..errors import (
    AuthenticationError,
    EventError,
    SourceError,
    SourceSettingError,
    TemporaryError,
)
from ..events import Event
from ..source import Listing

__all__ = ["CalDavSource"]

_DAV = "DAV:"
_CAL = "urn:ietf:params:xml:ns:caldav"
#: The most bytes of one response read (a multiget of ``limit`` objects).
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_MODES = ("sync", "query")


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


class CalDavSource:
    """The events of one CalDAV calendar collection (``https://host/dav/anna/work/``).

    *url* is the collection's URL: ``https``, ``http`` (for a server on this machine), or
    ``caldav://`` (HTTPS) and ``caldav+http://`` (HTTP). It may name the user
    (``caldav://anna@host/...``) but never a password: pass *password* (with *username*) for
    HTTP Basic authentication. *mode* is ``"sync"`` (RFC 6578, the default) or ``"query"``.
    """

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        mode: str = "sync",
        timeout: float = 60.0,
        timezone: tzinfo = UTC,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not isinstance(url, str):
            raise SourceSettingError(f"A CalDAV URL must be text, not {type(url).__name__}.")
        parts = urlsplit(url)
        scheme = {"caldav": "https", "caldav+http": "http", "caldavs": "https"}.get(
            parts.scheme.lower(), parts.scheme.lower()
        )
        if scheme not in ("http", "https") or not parts.hostname:
            raise SourceSettingError(
                "A CalDAV URL starts with https://, http://, caldav:// or caldav+http:// and "
                f"names a host, not {_shown(url)!r}."
            )
        if parts.password is not None:
            raise SourceSettingError(
                "A CalDAV URL may not hold a password; pass it as password= instead."
            )
        if mode not in _MODES:
            raise SourceSettingError(f"The CalDAV mode must be 'sync' or 'query', not {mode!r}.")
        if password is not None and not (username or parts.username):
            raise SourceSettingError("A CalDAV password needs a user name.")
        self.scheme = scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if scheme == "https" else 80)
        path = parts.path or "/"
        self.path = path if path.endswith("/") else path + "/"
        self.username = (
            username if username is not None else (unquote(parts.username or "") or None)
        )
        self._auth = (
            "Basic " + base64.b64encode(f"{self.username}:{password}".encode()).decode("ascii")
            if password is not None
            else None
        )
        self.mode = mode
        self.timeout = timeout
        self.timezone = timezone
        self.max_bytes = max_bytes
        self._ssl = ssl_context
        default = 443 if scheme == "https" else 80
        shown_port = "" if self.port == default else f":{self.port}"
        self.base = f"{scheme}://{self.host}{shown_port}"
        self.name = f"{self.base}{self.path}"

    def __repr__(self) -> str:
        return f"CalDavSource({self.name!r})"

    # --- HTTP ---------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: bytes, depth: str) -> tuple[int, bytes]:
        connection: http.client.HTTPConnection
        if self.scheme == "https":
            connection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self._ssl
            )
        else:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        headers = {
            "Content-Type": 'application/xml; charset="utf-8"',
            "Depth": depth,
            "Accept": "application/xml, text/xml",
        }
        if self._auth is not None:
            headers["Authorization"] = self._auth
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read(self.max_bytes + 1)
            status = response.status
        except (TimeoutError, ConnectionError) as err:
            raise TemporaryError(f"The CalDAV server {self.base} did not answer: {err}.") from err
        except (OSError, http.client.HTTPException) as err:
            raise TemporaryError(f"The CalDAV server {self.base} failed: {err}.") from err
        finally:
            connection.close()
        if len(data) > self.max_bytes:
            raise SourceError(
                f"The CalDAV server {self.base} answered with more than {self.max_bytes:,} "
                "bytes: fetch with a smaller limit or raise max_bytes."
            )
        if status == 401:
            raise AuthenticationError(f"The CalDAV server {self.base} refused the login.")
        if status == 429 or status >= 500:
            raise TemporaryError(f"The CalDAV server {self.base} answered {status}: try later.")
        return status, data

    def _report(self, body: str, depth: str = "1") -> ET.Element:
        status, data = self._request("REPORT", self.path, body.encode("utf-8"), depth)
        if status == 403 and self._auth is not None and b"valid-sync-token" not in data:
            raise AuthenticationError(f"The CalDAV server {self.base} refused the calendar.")
        if status in (403, 409) and b"valid-sync-token" in data:
            raise _StaleToken()
        if status == 404:
            raise SourceError(f"The CalDAV calendar {self.name!r} does not exist.")
        if status != 207:
            raise SourceError(f"The CalDAV server {self.base} answered {status} to a REPORT.")
        return _xml(data, self.base)

    # --- Reading ------------------------------------------------------------------------------

    def _changes(self, token: str) -> tuple[list[tuple[str, str | None]], str]:
        """(URL path, ETag or None when deleted) of every change since *token*, and the new
        token."""
        root = self._report(
            '<?xml version="1.0" encoding="utf-8"?>'
            '<d:sync-collection xmlns:d="DAV:">'
            f"<d:sync-token>{_escape(token)}</d:sync-token>"
            "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop>"
            "</d:sync-collection>",
            depth="0",
        )
        changes: list[tuple[str, str | None]] = []
        for href, etag, status in _responses(root):
            if href.rstrip("/") == self.path.rstrip("/"):
                continue
            changes.append((href, None if status == 404 else (etag or "")))
        new_token = root.findtext(_q(_DAV, "sync-token")) or ""
        return changes, new_token

    def _etags(self) -> dict[str, str]:
        root = self._report(
            '<?xml version="1.0" encoding="utf-8"?>'
            '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
            "<d:prop><d:getetag/></d:prop>"
            '<c:filter><c:comp-filter name="VCALENDAR"/></c:filter>'
            "</c:calendar-query>"
        )
        return {
            href: etag or ""
            for href, etag, status in _responses(root)
            if status != 404 and href.rstrip("/") != self.path.rstrip("/")
        }

    def _multiget(self, hrefs: Iterable[str]) -> list[EventItem]:
        wanted = list(hrefs)
        if not wanted:
            return []
        root = self._report(
            '<?xml version="1.0" encoding="utf-8"?>'
            '<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
            "<d:prop><d:getetag/><c:calendar-data/></d:prop>"
            + "".join(f"<d:href>{_escape(h)}</d:href>" for h in wanted)
            + "</c:calendar-multiget>"
        )
        data: dict[str, str | None] = {}
        for response in root.findall(_q(_DAV, "response")):
            href = _href(response)
            if href is None:
                continue
            text = None
            for propstat in response.findall(_q(_DAV, "propstat")):
                found = propstat.find(f"{_q(_DAV, 'prop')}/{_q(_CAL, 'calendar-data')}")
                if found is not None and found.text:
                    text = found.text
            data[href] = text
        items = []
        for href in wanted:
            if href not in data:
                continue  # deleted between the two requests: the listing says so
            items.append(EventItem(self._location(href), self._events(href, data[href])))
        return items

    def _events(self, href: str, text: str | None) -> tuple[Event, ...]:
        if text is None:
            return (_problem(self._location(href)),)
        try:
            return Event.from_ical(text, timezone=self.timezone)
        except EventError:
            return (_problem(self._location(href)),)

    def _location(self, href: str) -> str:
        return urljoin(self.base + self.path, href)

    def fetch(self, cursor: str | None, *, limit: int = 100) -> EventBatch:
        """The calendar objects changed since *cursor*, at most *limit* of them."""
        if limit < 1:
            raise SourceSettingError(f"The batch limit must be at least 1, not {limit!r}.")
        state = _decode(cursor)
        reset = cursor is not None and (state is None or state.get("mode") != self.mode)
        if reset or state is None:
            state = {"mode": self.mode}
        if self.mode == "query":
            return self._fetch_query(state, limit, reset)
        token = str(state.get("token", ""))
        after = state.get("after")
        after = after if isinstance(after, str) else None
        try:
            changes, new_token = self._changes(token)
        except _StaleToken:
            reset, token, after = True, "", None
            changes, new_token = self._changes("")
        first = str(state.get("next") or new_token)
        pending = sorted(
            h for h, etag in changes if etag is not None and (after is None or h > after)
        )
        page = pending[:limit]
        items = self._multiget(page)
        if len(pending) > limit:
            next_state = {"mode": "sync", "token": token, "after": page[-1], "next": first}
            done = False
        else:
            next_state = {"mode": "sync", "token": first}
            done = True
        return EventBatch(tuple(items), json.dumps(next_state), reset=reset, done=done)

    def _fetch_query(self, state: dict[str, object], limit: int, reset: bool) -> EventBatch:
        known = state.get("etags")
        seen = dict(known) if isinstance(known, dict) else {}
        current = self._etags()
        changed = sorted(h for h, etag in current.items() if seen.get(h) != etag)
        page = changed[:limit]
        items = self._multiget(page)
        kept = {h: e for h, e in seen.items() if current.get(h) == e}
        kept.update((h, current[h]) for h in page)
        next_state = {"mode": "query", "etags": dict(sorted(kept.items()))}
        return EventBatch(
            tuple(items), json.dumps(next_state), reset=reset, done=len(changed) <= limit
        )

    def listing(self, token: str | None = None) -> Listing:
        """The objects deleted since *token* (``sync`` mode with a token), else every object."""
        if self.mode == "sync":
            if token:
                try:
                    changes, new_token = self._changes(token)
                except _StaleToken:
                    pass
                else:
                    gone = frozenset(self._location(h) for h, etag in changes if etag is None)
                    return Listing(None, gone, new_token or None)
            changes, new_token = self._changes("")
            present = frozenset(self._location(h) for h, etag in changes if etag is not None)
            return Listing(present, frozenset(), new_token or None)
        return Listing(frozenset(self._location(h) for h in self._etags()))


class _StaleToken(Exception):
    """The server no longer accepts the sync token."""


def _refuse_doctype(*_: object) -> None:
    raise _Doctype


class _Doctype(Exception):
    """The XML declared a document type (and so could declare entities)."""


def _xml(data: bytes, base: str) -> ET.Element:
    """The parsed multistatus; a DOCTYPE (the door to entity attacks) is refused by expat itself."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")

    def name(tag: str) -> str:
        return "{" + tag if "}" in tag else tag

    parser.StartElementHandler = lambda tag, attrs: builder.start(name(tag), attrs)
    parser.EndElementHandler = lambda tag: builder.end(name(tag))
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    try:
        parser.Parse(data, True)
        root = builder.close()
    except _Doctype:
        raise SourceError(f"The CalDAV server {base} answered with a DOCTYPE: refused.") from None
    except (expat.ExpatError, ET.ParseError) as err:
        raise SourceError(f"The CalDAV server {base} answered with unreadable XML.") from err
    return root


def _href(response: ET.Element) -> str | None:
    text = response.findtext(_q(_DAV, "href"))
    if text is None:
        return None
    path = urlsplit(text.strip()).path
    return path or None


def _responses(root: ET.Element) -> Iterable[tuple[str, str | None, int]]:
    """(URL path, ETag, status) of each response of a multistatus."""
    for response in root.findall(_q(_DAV, "response")):
        href = _href(response)
        if href is None:
            continue
        status = _status(response.findtext(_q(_DAV, "status")))
        etag = None
        for propstat in response.findall(_q(_DAV, "propstat")):
            value = propstat.findtext(f"{_q(_DAV, 'prop')}/{_q(_DAV, 'getetag')}")
            if value:
                etag = value.strip()
            if status == 0:
                status = _status(propstat.findtext(_q(_DAV, "status")))
        yield href, etag, status or 200


def _status(line: str | None) -> int:
    parts = (line or "").split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _decode(cursor: str | None) -> dict[str, object] | None:
    if cursor is None:
        return None
    try:
        state = json.loads(cursor)
    except ValueError:
        return None
    return state if isinstance(state, dict) and state.get("mode") in _MODES else None


def _problem(location: str) -> Event:
    return Event(
        uid="",
        organizer=None,
        attendees=(),
        start=None,
        end=None,
        title=location,
        defects=(Defect.BAD_ICAL,),
    )


def _shown(url: str) -> str:
    """*url* without a password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = (parts.username or "") + "@" + (parts.hostname or "")
    return parts._replace(netloc=netloc).geturl()
