"""Reading RFC 5322 / MIME bytes into plain values, within limits, without ever raising.

Invariants:
- `read` never raises on any bytes: whatever it cannot read becomes a `Defect` code.
- Work and memory are bounded by the input size and the `Limits`: every scan moves forward
  through one buffer (parts are offsets into it, never copies of copies), MIME nesting is walked
  with an explicit stack (no recursion), and parsing stops at the part and header limits.
- Header bytes that are not UTF-8 are read as Windows-1252, then Latin-1, so every byte becomes
  a character; RFC 2047 encoded words and RFC 2231 parameters are decoded here.
- Nothing read here becomes a path or a command: attachment names are returned as text.

The standard ``email`` parser is not used for the body: it recurses once per nesting level
(a thousand nested parts raise `RecursionError`) and builds every part of a MIME bomb before a
caller could count them.
"""

from __future__ import annotations

import binascii
import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote_to_bytes

from ._kinds import Defect
from ._limits import Limits

__all__ = ["Defect", "ParsedMail", "decode_words", "read"]


#: Flags named by Google Takeout's ``X-Gmail-Labels`` header, by lower-case label.
GMAIL_LABELS = {"draft": "draft", "spam": "spam", "trash": "trash", "sent": "sent"}

#: Headers naming participants, by lower-case name, with the role value they give.
ADDRESS_HEADERS = {
    "from": "from",
    "to": "to",
    "cc": "cc",
    "bcc": "bcc",
    "sender": "sender",
    "reply-to": "reply_to",
}

#: MIME parameter headers are cut to this length before they are read (real ones are far
#: shorter), so that reading their parameters stays cheap.
_MAX_PARAMETER_HEADER = 4096
#: The most parameters read from one MIME header.
_MAX_PARAMETERS = 100
#: The most RFC 2231 continuation sections of one parameter that are joined.
_MAX_SECTIONS = 64


@dataclass(slots=True)
class ParsedMail:
    """The values read from one message, before they become a `Message`."""

    message_id: str | None = None
    sent_at: datetime | None = None
    #: Every address header value with its role value, in header order.
    address_headers: list[tuple[str, str]] = field(default_factory=list)
    subject: str = ""
    text: str | None = None
    html: str | None = None
    #: (filename, content type, decoded content)
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    defects: list[Defect] = field(default_factory=list)


def read(raw: bytes, limits: Limits) -> ParsedMail:
    """Read *raw* within *limits*. Never raises."""
    mail = ParsedMail()
    try:
        _read(raw, limits, mail)
    except Exception:  # a fault here must not lose the message; tests keep this path unused
        mail.defects.append(Defect.UNREADABLE)
    return mail


def _read(raw: bytes, limits: Limits, mail: ParsedMail) -> None:
    defects = mail.defects
    if _cr_line_endings(raw):
        # Old Mac style: read as if each lone carriage return were a line feed.
        defects.append(Defect.CR_LINE_ENDINGS)
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    end = len(raw)
    too_large = end > limits.max_bytes
    if too_large:
        defects.append(Defect.TOO_LARGE)
        end = limits.max_bytes
    fields, body_start = _read_headers(raw, 0, end, limits, defects, top=True)
    seen_message_id = seen_subject = False
    for name, value in fields:
        lower = name.lower()
        role = ADDRESS_HEADERS.get(lower)
        decoded = decode_words(value, defects) if "=?" in value else value
        mail.headers.append((name, decoded))
        if role is not None:
            mail.address_headers.append((value, role))  # the parser decodes names itself
        elif lower == "message-id":
            if seen_message_id:
                defects.append(Defect.DUPLICATE_MESSAGE_ID)
            else:
                seen_message_id = True
                mail.message_id = value
        elif lower == "date":
            if mail.sent_at is None:
                mail.sent_at = _date(value, defects)
        elif lower == "subject":
            if not seen_subject:
                seen_subject = True
                mail.subject = decoded
        elif lower == "x-gmail-labels":
            for label in decoded.split(","):
                flag = GMAIL_LABELS.get(label.strip().strip('"').lower())
                if flag is not None:
                    mail.flags.add(flag)
    if too_large:
        return
    _read_body(raw, body_start, end, _content_headers(fields), limits, mail)


def _cr_line_endings(raw: bytes) -> bool:
    """True when *raw* ends its lines with a carriage return alone.

    So it does when its first line ends with a carriage return that no line feed follows:
    read as it stands, the whole message would be one header line.
    """
    cr = raw.find(b"\r", 0, _FIRST_LINE)
    if cr < 0:
        return False
    lf = raw.find(b"\n", 0, cr + 2)
    return lf < 0 or lf > cr + 1


#: How far into a message its first line end is looked for.
_FIRST_LINE = 64 * 1024


# --- Headers -------------------------------------------------------------------------------

#: A field name: no white space, control character or colon (8-bit bytes are tolerated).
_FIELD_NAME = re.compile(rb"[^\x00-\x20\x7f:]+")


def _read_headers(
    raw: bytes, pos: int, end: int, limits: Limits, defects: list[Defect], *, top: bool
) -> tuple[list[tuple[str, str]], int]:
    """The header fields in ``raw[pos:end]`` (unfolded, bytes decoded) and where the body starts.

    The header block ends at a blank line, or (with a defect) at a line that is neither a field
    nor a continuation. Python code runs once per field, at most ``max_headers`` times; the
    lines in between are scanned by regular expressions, and no value is copied beyond
    ``max_header_length``. This finds each field's name; `_field_value` reads its value.
    """
    fields: list[tuple[str, str]] = []
    max_length = limits.max_header_length
    max_headers = limits.max_headers
    names = _NAMES
    find = raw.find
    if top and raw.startswith(b"From ", pos, end):  # an mbox separator line
        newline = find(b"\n", pos, end)
        pos = end if newline < 0 else newline + 1
    while pos < end:
        newline = find(b"\n", pos, end)
        stop = end if newline < 0 else newline
        if stop > pos and raw[stop - 1] == 13:  # CR of CRLF
            stop -= 1
        if stop == pos:  # the blank line
            return fields, (end if newline < 0 else newline + 1)
        if raw[pos] in (32, 9):  # a continuation with no field before it
            defects.append(Defect.BAD_HEADER_LINE)
            pos = _continued_end(raw, pos, end)
            continue
        colon = find(b":", pos, min(stop, pos + 256))
        name = raw[pos:colon].rstrip(b" \t") if colon > pos else b""
        name_text = names.get(name) or _new_name(name)
        if name_text is None:
            defects.append(Defect.MISSING_HEADER_BODY_SEPARATOR)
            return fields, pos
        if len(fields) >= max_headers:
            defects.append(Defect.TOO_MANY_HEADERS)
            blank = _BLANK_LINE.search(raw, pos - 1, end)
            return fields, (end if blank is None else blank.end())
        if newline < 0:
            pos = value_end = end
        elif newline + 1 < end and raw[newline + 1] in (32, 9):
            pos, value_end = _continued_field(raw, colon, newline, end)
        else:  # the common case: no continuation line
            pos, value_end = newline + 1, stop
        fields.append((name_text, _field_value(raw, colon, stop, value_end, max_length, defects)))
    return fields, end


def _new_name(name: bytes) -> str | None:
    """*name* as text, remembered in `_NAMES`; None when it is no field name."""
    if not name or not _FIELD_NAME.fullmatch(name):
        return None
    text = _bytes_text(name)
    if len(_NAMES) >= _NAMES_KEPT:
        _NAMES.clear()
    _NAMES[name] = text
    return text


def _continued_field(raw: bytes, colon: int, newline: int, end: int) -> tuple[int, int]:
    """Where a field with continuation lines ends, and where its value ends (no line break)."""
    field_end = _continued_end(raw, newline + 1, end)
    value_end = field_end
    if value_end > colon and raw[value_end - 1] == 10:
        value_end -= 1
        if value_end > colon and raw[value_end - 1] == 13:
            value_end -= 1
    return field_end, value_end


def _field_value(
    raw: bytes, colon: int, stop: int, value_end: int, max_length: int, defects: list[Defect]
) -> str:
    """The value of the field whose colon is at *colon*, as text: ``raw[colon + 1:value_end]``.

    *stop* ends the field's first line. Continuation lines are joined and the value is
    stripped; a value longer than *max_length* bytes after the blanks that follow the colon is
    cut (``header_too_long``).
    """
    start = colon + 1
    if value_end - start > max_length:
        # Only a cut value needs its start exactly; any other loses its blanks to strip().
        if start < stop and raw[start] in (32, 9):
            blanks = _BLANKS.match(raw, start, stop)
            start = stop if blanks is None else blanks.end()
        if value_end - start > max_length:
            defects.append(Defect.HEADER_TOO_LONG)
            value_end = start + max_length
    value = raw[start:value_end]
    if b"\n" in value:
        # Not a regular expression: its list of pieces, one per line, costs dozens of times
        # the value's size for a value folded over thousands of lines.
        value = value.replace(b"\r\n", b"").replace(b"\n", b"")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = _bytes_text(value)
    return text.strip()


#: Field names read so far (bytes as written -> text); past `_NAMES_KEPT` it starts afresh.
#: Mail uses few names, so most fields skip checking and decoding theirs.
_NAMES: dict[bytes, str] = {}
_NAMES_KEPT = 512


#: The line break after the last of a field's continuation lines (each starts with a blank):
#: searched for, not matched line by line, since a repeated group keeps memory per line.
_LAST_CONTINUATION = re.compile(rb"\n(?![ \t])")
_BLANKS = re.compile(rb"[ \t]*")
_BLANK_LINE = re.compile(rb"\n\r?\n")


def _continued_end(raw: bytes, pos: int, end: int) -> int:
    """Where the continuation lines starting at *pos* end (*pos* when none starts there)."""
    if pos >= end or raw[pos] not in (32, 9):
        return pos
    match = _LAST_CONTINUATION.search(raw, pos, end)
    return end if match is None else match.end()


def _bytes_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _date(value: str, defects: list[Defect]) -> datetime | None:
    try:
        sent_at = parsedate_to_datetime(value)
    except Exception:  # the email package raises several kinds on bad dates
        defects.append(Defect.BAD_DATE)
        return None
    if " 00" in value and _SMALL_YEAR.search(value):
        # ``01 Jan 0001`` is a four-digit year the email package takes for ``01`` (2001).
        defects.append(Defect.BAD_DATE)
        return None
    if sent_at.tzinfo is None:  # "-0000": the time is UTC, the sender's zone is unknown
        sent_at = sent_at.replace(tzinfo=UTC)
    elif not in_utc_range(sent_at):
        defects.append(Defect.BAD_DATE)
        return None
    return sent_at


#: A year written with four digits below 100, before the time of day.
_SMALL_YEAR = re.compile(r"\s00\d\d\s+\d{1,2}:\d")


def in_utc_range(moment: datetime) -> bool:
    """True when the aware *moment* can be told in UTC (years 1 to 9999 there too).

    ``31 Dec 9999 23:00 -1200`` is a valid time that no `datetime` in UTC can hold: sorting
    or fingerprinting it would raise `OverflowError`.
    """
    if 1 < moment.year < 9999:
        return True
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True


# --- Encoded words (RFC 2047) ----------------------------------------------------------------

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?]*)\?=")


def decode_words(value: str, defects: list[Defect]) -> str:
    """*value* with its RFC 2047 encoded words decoded; a broken word stays as written.

    Adjacent words in one charset are decoded together (clients split a character across
    words), and white space between encoded words is dropped, as RFC 2047 says.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending = b""
    pending_charset = ""
    pos = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[pos : match.start()]
        charset = match.group(1).split("*", 1)[0].lower()
        data = _word_bytes(match.group(2), match.group(3))
        if data is None:
            defects.append(Defect.BAD_ENCODED_WORD)
            if pending:
                out.append(_charset_text(pending, pending_charset, defects))
                pending = b""
            out.append(between + match.group(0))
            pos = match.end()
            continue
        if pending and (not between or between.isspace()) and charset == pending_charset:
            pending += data
        else:
            if pending:
                out.append(_charset_text(pending, pending_charset, defects))
                if not between.isspace():
                    out.append(between)
            else:
                out.append(between)
            pending = data
            pending_charset = charset
        pos = match.end()
    if pending:
        out.append(_charset_text(pending, pending_charset, defects))
    out.append(value[pos:])
    return "".join(out)


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    """The bytes of one encoded word; None when its base64 is broken (missing padding is not)."""
    data = payload.encode("utf-8", "surrogatepass")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    try:
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4), strict_mode=True)
    except binascii.Error:
        return None


def _base64(data: bytes) -> bytes | None:
    """Base64 decoded, tolerating missing padding and stray characters; None if hopeless."""
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        pass
    clean = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    clean = clean[: len(clean) - len(clean) % 4 if len(clean) % 4 == 1 else len(clean)]
    try:
        return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))
    except binascii.Error:
        return None


def _charset_text(data: bytes, charset: str, defects: list[Defect]) -> str:
    """*data* in *charset*; else UTF-8, Windows-1252 or Latin-1, with a defect."""
    if charset and charset not in ("us-ascii", "ascii", "utf-8", "utf8"):
        try:
            codecs.lookup(charset)
        except Exception:  # LookupError, or worse for names with odd characters
            defects.append(Defect.UNKNOWN_CHARSET)
        else:
            try:
                text = data.decode(charset)
            except Exception:  # UnicodeError, or LookupError for codecs that are not text
                defects.append(Defect.BAD_CHARSET)
                return _bytes_text(data)
            # Some codecs (UTF-7, unicode-escape) decode to lone surrogates.
            return text if text.isascii() else scrub_surrogates(text, defects)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if charset in ("utf-8", "utf8"):
            defects.append(Defect.BAD_CHARSET)
    return _bytes_text(data)


_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub_surrogates(text: str, defects: list[Defect]) -> str:
    """*text* with each lone surrogate replaced by U+FFFD (``lone_surrogate``), else as it is."""
    if _SURROGATE.search(text) is None:
        return text
    defects.append(Defect.LONE_SURROGATE)
    return _SURROGATE.sub("\ufffd", text)


# --- MIME parameters (RFC 2045, RFC 2231) ---------------------------------------------------

_PARAMETER = re.compile(r';\s*([^=;\s]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"?|[^;]*))?')


def _parameters(value: str, defects: list[Defect]) -> tuple[str, dict[str, str]]:
    """The lower-case main value and the parameters of a MIME header (RFC 2231 decoded)."""
    if len(value) > _MAX_PARAMETER_HEADER:
        value = value[:_MAX_PARAMETER_HEADER]
        defects.append(Defect.HEADER_TOO_LONG)
    semicolon = value.find(";")
    main = (value if semicolon < 0 else value[:semicolon]).strip().lower()
    params: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    if semicolon < 0:
        return main, params
    for count, match in enumerate(_PARAMETER.finditer(value, semicolon)):
        if count >= _MAX_PARAMETERS:
            break
        name = match.group(1).lower()
        raw_value = (match.group(2) or "").strip()
        if raw_value.startswith('"'):
            raw_value = re.sub(r"\\(.)", r"\1", raw_value[1:].removesuffix('"'))
        if "*" not in name:
            params.setdefault(name, raw_value)
            continue
        base, _, rest = name.partition("*")
        extended = rest.endswith("*") or rest == ""
        number = rest.rstrip("*")
        index = int(number) if number.isdigit() and len(number) <= 3 else 0
        if index < _MAX_SECTIONS:
            sections.setdefault(base, {}).setdefault(index, (raw_value, extended))
    for base, parts in sections.items():
        params[base] = _rfc2231(parts, defects)
    return main, params


def _rfc2231(parts: dict[int, tuple[str, bool]], defects: list[Defect]) -> str:
    """Join RFC 2231 sections and decode ``charset'language'%xx`` text."""
    charset = ""
    data = bytearray()
    for index in sorted(parts):
        text, extended = parts[index]
        if extended:
            if index == 0 and text.count("'") >= 2:
                charset, _, text = text.split("'", 2)
            data += unquote_to_bytes(text)
        else:
            data += text.encode("utf-8", "surrogatepass")
    return _charset_text(bytes(data), charset.lower(), defects)


# --- The body ------------------------------------------------------------------------------


def _read_body(
    raw: bytes,
    start: int,
    end: int,
    top_headers: tuple[str, str, str],
    limits: Limits,
    mail: ParsedMail,
) -> None:
    """Walk the MIME tree of ``raw[start:end]`` with an explicit stack, within the limits."""
    defects = mail.defects
    #: Parts found so far (the message itself is the first); never more than max_parts.
    found = 1
    # (body start, body end, depth, content type, disposition, transfer encoding, default type)
    stack = [(start, end, 0, *top_headers, "text/plain")]
    while stack:
        start, end, depth, ctype_header, disposition, encoding, default = stack.pop()
        ctype, params = _parameters(ctype_header, defects) if ctype_header else (default, {})
        if "/" not in ctype:
            ctype = "text/plain"
        if ctype.startswith("multipart/"):
            if depth >= limits.max_depth:
                defects.append(Defect.TOO_DEEP)
                continue
            boundary = params.get("boundary", "").rstrip()
            room = limits.max_parts - found
            children = _split(raw, start, end, boundary, room, defects) if boundary else None
            if children is not None:
                found += len(children)
                child_default = "message/rfc822" if ctype == "multipart/digest" else "text/plain"
                entries = []
                for child_start, child_end in children:
                    headers, body = _read_headers(
                        raw, child_start, child_end, limits, defects, top=False
                    )
                    entries.append(
                        (body, child_end, depth + 1, *_content_headers(headers), child_default)
                    )
                stack.extend(reversed(entries))
                continue
            if not boundary:
                defects.append(Defect.NO_BOUNDARY)
            ctype, params = "text/plain", {}
        _leaf(raw[start:end], ctype, params, disposition, encoding, mail)


def _content_headers(headers: list[tuple[str, str]]) -> tuple[str, str, str]:
    ctype = disposition = encoding = ""
    for name, value in headers:
        lower = name.lower()
        if lower == "content-type":
            ctype = ctype or value
        elif lower == "content-disposition":
            disposition = disposition or value
        elif lower == "content-transfer-encoding":
            encoding = encoding or value
    return ctype, disposition, encoding


def _split(
    raw: bytes, start: int, end: int, boundary: str, room: int, defects: list[Defect]
) -> list[tuple[int, int]] | None:
    """The (start, end) of each part between the boundary lines; None if none is found.

    A delimiter is a line holding ``--boundary`` (and perhaps white space); the line break
    before it belongs to it. The closing ``--boundary--`` ends the list; without it the last
    part runs to *end*. At most *room* parts are returned (``too_many_parts`` beyond).
    """
    spans: list[tuple[int, int]] = []
    part_start = -1
    for found, line_end, closing in _delimiters(raw, start, end, boundary):
        if part_start >= 0:
            if len(spans) >= room:
                defects.append(Defect.TOO_MANY_PARTS)
                return spans
            part_end = found
            if part_end > part_start and raw[part_end - 1] == 10:
                part_end -= 1
                if part_end > part_start and raw[part_end - 1] == 13:
                    part_end -= 1
            spans.append((part_start, part_end))
        if closing:
            return spans
        part_start = min(line_end + 1, end)
    if part_start < 0:
        defects.append(Defect.START_BOUNDARY_NOT_FOUND)
        return None
    defects.append(Defect.CLOSE_BOUNDARY_NOT_FOUND)
    if len(spans) >= room:
        defects.append(Defect.TOO_MANY_PARTS)
    else:
        spans.append((part_start, end))
    return spans


def _delimiters(raw: bytes, start: int, end: int, boundary: str) -> Iterator[tuple[int, int, bool]]:
    """Each delimiter line of *boundary* in ``raw[start:end]``: (start, end, closing).

    A delimiter line starts a line (at *start* only when a line starts there) with
    ``--boundary``, then perhaps ``--`` (closing), blanks and a carriage return, and nothing
    else. Found with ``bytes.find`` rather than a regular expression compiled per message:
    every message has its own boundary, and compiling costs more than the rest of the scan.
    """
    needle = b"--" + boundary.encode("utf-8", "surrogatepass")
    after = len(needle)
    pos = start
    if not (start == 0 or raw[start - 1] == 10) or not raw.startswith(needle, start, end):
        pos = raw.find(b"\n" + needle, start, end) + 1
        if not pos:
            return
    while True:
        rest_start = pos + after
        newline = raw.find(b"\n", rest_start, end)
        line_end = end if newline < 0 else newline
        rest = raw[rest_start:line_end]
        closing = rest[:2] == b"--"
        if closing:
            rest = rest[2:]
        if rest[-1:] == b"\r":
            rest = rest[:-1]
        if not rest.strip(b" \t"):
            yield pos, line_end, closing
            if newline < 0:
                return
            pos = raw.find(b"\n" + needle, line_end, end) + 1
        else:
            pos = raw.find(b"\n" + needle, pos, end) + 1
        if not pos:
            return


def _leaf(
    body: bytes,
    ctype: str,
    params: dict[str, str],
    disposition_header: str,
    encoding: str,
    mail: ParsedMail,
) -> None:
    """One non-multipart part: the first text and HTML bodies, every other part an attachment."""
    defects = mail.defects
    disposition, disposition_params = (
        _parameters(disposition_header, defects) if disposition_header else ("", {})
    )
    filename = disposition_params.get("filename") or params.get("name") or ""
    if "=?" in filename:
        filename = decode_words(filename, defects)
    data = _transfer_decode(body, encoding.strip().lower(), defects)
    if disposition != "attachment" and not filename:
        if ctype == "text/plain" and mail.text is None:
            mail.text = lines(_charset_text(data, _charset(params), defects))
            return
        if ctype == "text/html" and mail.html is None:
            mail.html = lines(_charset_text(data, _charset(params), defects))
            return
    mail.attachments.append((filename, ctype, data))


def lines(text: str) -> str:
    """*text* with every line ending (CRLF, or CR alone) written as LF.

    A body reads alike whatever the source's line endings: an mbox holds LF, IMAP and .eml
    files CRLF, so the same message must give the same text from each.
    """
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _charset(params: dict[str, str]) -> str:
    return params.get("charset", "").strip().strip('"').lower()


def _transfer_decode(body: bytes, encoding: str, defects: list[Defect]) -> bytes:
    if encoding == "base64":
        try:
            return binascii.a2b_base64(body)
        except binascii.Error:
            defects.append(Defect.BAD_BASE64)
            return _base64(body) or b""
    if encoding == "quoted-printable":
        return binascii.a2b_qp(body)
    return body
