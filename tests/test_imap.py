"""The IMAP source, against a real Dovecot server started from a scratch folder."""

from __future__ import annotations

import base64
import contextlib
import imaplib
import itertools
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbind.errors import AuthenticationError, SourceError, TemporaryError
from mailbind.messages import Flag
from mailbind.sources import Listing, SourceItem, SourceSettingError
from mailbind.sources import _imapwire as wire
from mailbind.sources._files import encode_cursor
from mailbind.sources.imap import ImapFolder, ImapSource, Security

from . import factories
from . import test_sources as contract
from .dovecot import CuttingProxy, Dovecot, unavailable_reason
from .test_sources import Layout, Mail, fetch_all, message_id

_users = itertools.count(1)


@pytest.fixture(scope="module")
def server() -> Iterator[Dovecot]:
    """One Dovecot for the module; every test gets its own account on it."""
    reason = unavailable_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{reason} (CI must run the IMAP tests)", pytrace=False)
        pytest.skip(reason)
    dovecot = Dovecot.start()
    yield dovecot
    dovecot.stop()


@dataclass
class Account:
    """An account on the test server, and how to reach it."""

    server: Dovecot
    user: str
    password: str

    def source(self, *, port: int | None = None, **options: object) -> ImapSource:
        """An `ImapSource` for this account over plain loopback, with its password unless told."""
        options.setdefault("security", "plain")
        if "oauth2_token" not in options:
            options.setdefault("password", self.password)
        return ImapSource(
            self.server.host,
            self.user,
            port=port or self.server.port,
            **options,  # type: ignore[arg-type]
        )

    def append(self, folder: str, *messages: bytes, flags: str = "") -> None:
        """Append *messages* to *folder* as another mail client would."""
        self.server.append(self.user, folder, messages, flags)

    def imap(self) -> AbstractContextManager[imaplib.IMAP4]:
        """A logged-in imaplib client, for setting up folders."""
        return self.server.connect(self.user)


@pytest.fixture
def account(server: Dovecot) -> Account:
    """A fresh account with empty INBOX, Sent, Drafts, Junk and Trash folders."""
    user = f"user{next(_users)}"
    server.add_user(user, "secret")
    return Account(server, user, "secret")


mail = factories.tagged_mail


def tags(found: list[SourceItem] | tuple[SourceItem, ...]) -> list[str]:
    """The Message-ID tags (the part before ``@``) of *found*, in order."""
    return [message_id(item).partition("@")[0] for item in found]


# --- The contract every source keeps --------------------------------------------------------------


class ImapLayout(Layout):
    """The contract suite's generated mail, appended over IMAP to one folder of a new account.

    Rewriting deletes the folder and makes it again, which gives it a new UIDVALIDITY.
    """

    kind = "imap"
    folder = "Work"

    def __init__(self, server: Dovecot) -> None:
        super().__init__(server.scratch)
        self.server = server
        self.user = f"contract{next(_users)}"
        server.add_user(self.user, "secret")
        with server.connect(self.user) as conn:
            conn.create(self.folder)

    @property
    def path(self) -> str:  # type: ignore[override]
        """The source's name, which begins every item's location."""
        return self.source().name

    def source(self) -> ImapSource:
        return ImapSource(
            self.server.host,
            self.user,
            password="secret",
            port=self.server.port,
            security="plain",
            folders=[self.folder],
        )

    def append(self, batch: Sequence[Mail]) -> None:
        self.server.append(self.user, self.folder, [m.raw for m in batch])

    def rewrite(self, batch: Sequence[Mail]) -> None:
        with self.server.connect(self.user) as conn:
            assert conn.delete(self.folder)[0] == "OK"
            assert conn.create(self.folder)[0] == "OK"
        self.append(batch)


@pytest.fixture
def layout(server: Dovecot) -> ImapLayout:
    """The contract suite's place for mail, here a folder on the IMAP server."""
    return ImapLayout(server)


# The contract tests every file source passes, run here against IMAP (with `layout` above).
# Left out: those about paths and files, constructing a source from a path, and the exact
# bytes of a message (IMAP hands messages out with CRLF line ends, whatever was appended).
test_every_source_is_a_message_source = contract.test_every_source_is_a_message_source
test_fetches_every_message_once_in_order = contract.test_fetches_every_message_once_in_order
test_fetch_from_the_final_cursor_yields_nothing = (
    contract.test_fetch_from_the_final_cursor_yields_nothing
)
test_a_new_source_object_continues_from_a_stored_cursor = (
    contract.test_a_new_source_object_continues_from_a_stored_cursor
)
test_appended_mail_alone_is_fetched_after_the_cursor = (
    contract.test_appended_mail_alone_is_fetched_after_the_cursor
)
test_a_source_rewritten_underneath_resets_and_yields_everything = (
    contract.test_a_source_rewritten_underneath_resets_and_yields_everything
)
test_an_unreadable_cursor_starts_over_with_reset = (
    contract.test_an_unreadable_cursor_starts_over_with_reset
)
test_items_say_where_they_stand = contract.test_items_say_where_they_stand
test_a_listing_names_what_a_fetch_from_scratch_gives = (
    contract.test_a_listing_names_what_a_fetch_from_scratch_gives
)
test_an_empty_source_is_done_at_once = contract.test_an_empty_source_is_done_at_once
test_a_limit_below_one_is_refused = contract.test_a_limit_below_one_is_refused


# --- Several folders ------------------------------------------------------------------------------


def test_every_folder_once_inbox_first(account: Account) -> None:
    """A full sync reads INBOX first, then each folder, each in UID order, one per batch."""
    account.append("INBOX", *(mail(f"in{i}") for i in range(7)))
    account.append("Sent", mail("sent0"), mail("sent1"))
    with account.source() as source:
        found, cursor, batches = fetch_all(source, (3,))
        assert tags(found) == [f"in{i}" for i in range(7)] + ["sent0", "sent1"]
        assert [(tags(b.items)[:1], b.done, b.reset) for b in batches] == [
            (["in0"], False, False),
            (["in3"], False, False),
            (["in6"], False, False),
            (["sent0"], True, False),
        ]
        assert source.fetch(cursor).items == ()


def test_status_per_folder_without_list_status(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Servers without LIST-STATUS are asked with STATUS, folder by folder, to the same end."""
    monkeypatch.setattr(ImapSource, "_list_status", False)
    account.append("INBOX", mail("i1"), mail("i2"))
    account.append("Sent", mail("s1"))
    with account.source() as source:
        found, cursor, _ = fetch_all(source, (1,))
        assert tags(found) == ["i1", "i2", "s1"]
        account.append("Sent", mail("s2"))
        assert tags(source.fetch(cursor).items) == ["s2"]


def test_appended_mail_arrives_incrementally_in_any_folder(account: Account) -> None:
    """Mail appended after a sync, in any folder, is all the next sync yields."""
    account.append("INBOX", mail("old"))
    with account.source() as source:
        _, cursor, _ = fetch_all(source)
        account.append("INBOX", mail("new1"), mail("new2"))
        account.append("Junk", mail("junk"))
        found, cursor, _ = fetch_all(source, (500,), cursor)
        assert tags(found) == ["new1", "new2", "junk"]
        assert source.fetch(cursor).items == ()


def test_locations_are_imap_urls(account: Account) -> None:
    """Each item's location is an IMAP URL: folder, UIDVALIDITY and UID."""
    with account.imap() as conn:
        conn.create('"Kunden &- Partner"')
    account.append("Kunden &- Partner", mail("a"), mail("b"))
    with account.source() as source:
        found, _, _ = fetch_all(source)
    first, second = (item.location for item in found)
    folder, _, uid = first.partition("/;UID=")
    assert folder.startswith(f"imap://{account.user}@127.0.0.1:{account.server.port}/")
    assert folder.split("/")[-1].startswith("Kunden%20&%20Partner;UIDVALIDITY=")
    assert (uid, second) == ("1", f"{folder}/;UID=2")


@settings(max_examples=5)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["INBOX", "Sent", "Work"]), st.integers(0, 4), st.integers(1, 4)),
        min_size=1,
        max_size=4,
    )
)
def test_interleaved_appends_and_syncs_lose_and_repeat_nothing(
    server: Dovecot, steps: list[tuple[str, int, int]]
) -> None:
    """Property: however appends to several folders and syncs interleave, each comes once."""
    user = f"prop{next(_users)}"
    server.add_user(user, "pw")
    with server.connect(user) as conn:
        conn.create("Work")
    source = ImapSource(server.host, user, password="pw", port=server.port, security="plain")
    appended: list[str] = []
    seen: list[str] = []
    cursor = None
    with source:
        for number, (folder, count, limit) in enumerate(steps):
            new = [f"s{number}m{i}" for i in range(count)]
            server.append(user, folder, [mail(tag) for tag in new])
            appended += new
            found, cursor, _ = fetch_all(source, (limit,), cursor)
            seen += tags(found)
    assert sorted(seen) == sorted(appended)


# --- Changes underneath ---------------------------------------------------------------------------


def test_changed_uidvalidity_resyncs_that_folder_only(account: Account) -> None:
    """A folder deleted and made again is read from its start with reset; others keep place."""
    with account.imap() as conn:
        conn.create("Work")
    account.append("Work", mail("w1"), mail("w2"))
    account.append("INBOX", mail("i1"))
    with account.source() as source:
        _, cursor, _ = fetch_all(source)
        with account.imap() as conn:
            assert conn.delete("Work")[0] == "OK"
            assert conn.create("Work")[0] == "OK"
        account.append("Work", mail("w1"), mail("w3"))
        account.append("INBOX", mail("i2"))
        _, _, batches = fetch_all(source, (500,), cursor)
    assert [(tags(b.items), b.reset) for b in batches] == [
        (["i2"], False),
        (["w1", "w3"], True),
    ]


def test_expunged_mail_is_skipped_for_good(account: Account) -> None:
    """Expunged messages are skipped, and syncs after them do not search for them again."""
    account.append("INBOX", *(mail(f"m{i}") for i in range(5)))
    with account.imap() as conn:
        conn.select("INBOX")
        conn.uid("STORE", "2,5", "+FLAGS.SILENT", "(\\Deleted)")
        conn.expunge()
    with account.source() as source:
        found, cursor, _ = fetch_all(source, (2,))
        assert tags(found) == ["m0", "m2", "m3"]
        assert '"INBOX":[' in cursor
        assert cursor.split('"INBOX":[')[1].split("]")[0].endswith(",5")
        # Two more arrive and go before the next sync: ``UID 6:*`` then answers with UID 4.
        account.append("INBOX", mail("m5"), mail("m6"))
        with account.imap() as conn:
            conn.select("INBOX")
            conn.uid("STORE", "6:7", "+FLAGS.SILENT", "(\\Deleted)")
            conn.expunge()
        batch = source.fetch(cursor)
        assert (batch.items, batch.done) == ((), True)
        assert cursor.split('"INBOX":[')[1].split("]")[0].endswith(",5")
        assert batch.cursor.split('"INBOX":[')[1].split("]")[0].endswith(",7")


# --- Listings: which messages the folders still hold ---------------------------------------------


def locations(found: list[SourceItem] | tuple[SourceItem, ...]) -> dict[str, str]:
    """The location of each item of *found*, by its Message-ID tag."""
    return {tag: item.location for tag, item in zip(tags(found), found, strict=True)}


def expunge(account: Account, folder: str, uids: str) -> None:
    """Delete the messages *uids* of *folder* for good, as a mail client does."""
    with account.imap() as conn:
        conn.select(wire.quote(folder))
        conn.uid("STORE", uids, "+FLAGS.SILENT", "(\\Deleted)")
        conn.expunge()


def held(listing: Listing) -> set[str]:
    """The locations a complete *listing* names."""
    assert listing.present is not None, "a complete listing was expected"
    return set(listing.present)


@pytest.mark.parametrize("qresync", [True, False], ids=["qresync", "search"])
def test_an_expunged_message_is_gone_from_the_listing(account: Account, qresync: bool) -> None:
    """Expunged mail is named gone since the token with QRESYNC, and absent from a complete
    listing without it; a listing without a token is complete either way."""
    account.append("INBOX", *(mail(f"m{i}") for i in range(4)))
    account.append("Sent", mail("s0"))
    with account.source(use_qresync=qresync) as source:
        found, _cursor, _batches = fetch_all(source)
        where = locations(found)
        first = source.listing()
        assert held(first) == set(where.values())
        assert (first.token is not None) is qresync
        expunge(account, "INBOX", "2,4")
        second = source.listing(first.token)
        if qresync:
            assert second.present is None
            assert second.gone == frozenset({where["m1"], where["m3"]})
            third = source.listing(second.token)
            assert (third.present, third.gone) == (None, frozenset())
        else:
            assert held(second) == {where[t] for t in ("m0", "m2", "s0")}
            assert (second.gone, second.token) == (frozenset(), None)


@pytest.mark.parametrize("how", ["move", "copy"])
@pytest.mark.parametrize("qresync", [True, False], ids=["qresync", "search"])
def test_a_moved_message_is_gone_there_and_fetched_here(
    account: Account, qresync: bool, how: str
) -> None:
    """A message moved to another folder (UID MOVE, or COPY and EXPUNGE) is gone at its old
    location and fetched again at the new one."""
    with account.imap() as conn:
        conn.create("Work")
    account.append("INBOX", mail("m0"), mail("m1"))
    with account.source(use_qresync=qresync) as source:
        found, cursor, _batches = fetch_all(source)
        before = source.listing()
        with account.imap() as conn:
            conn.select("INBOX")
            if how == "move":
                assert conn.uid("MOVE", "1", "Work")[0] == "OK"
            else:
                assert conn.uid("COPY", "1", "Work")[0] == "OK"
                conn.uid("STORE", "1", "+FLAGS.SILENT", "(\\Deleted)")
                conn.expunge()
        moved, _cursor, _batches = fetch_all(source, (500,), cursor)
        after = source.listing(before.token)
        fresh, _cursor, _batches = fetch_all(account.source())
    assert tags(moved) == ["m0"]
    assert "/Work;UIDVALIDITY=" in moved[0].location
    old = locations(found)["m0"]
    if qresync:
        assert after.present is None
        assert after.gone == frozenset({old})
    else:
        assert held(after) == {item.location for item in fresh}
        assert old not in held(after)
        assert moved[0].location in held(after)


def test_a_changed_uidvalidity_gives_a_complete_listing(account: Account) -> None:
    """A folder made anew since the token cannot say what vanished: the listing is complete."""
    with account.imap() as conn:
        conn.create("Work")
    account.append("Work", mail("w0"), mail("w1"))
    account.append("INBOX", mail("i0"))
    with account.source() as source:
        fetch_all(source)
        token = source.listing().token
        assert token is not None
        with account.imap() as conn:
            assert conn.delete("Work")[0] == "OK"
            assert conn.create("Work")[0] == "OK"
        account.append("Work", mail("w2"))
        found, _cursor, _batches = fetch_all(source)
        listing = source.listing(token)
        assert held(listing) == {item.location for item in found}
        assert listing.token is not None
        assert listing.token != token
        assert source.listing(listing.token).present is None


@pytest.mark.parametrize(
    "token",
    ["", "not a token", '{"kind": "imap", "v": 1, "folders": {}}', '{"kind": "imap-listing"}'],
)
def test_a_token_the_source_did_not_make_gives_a_complete_listing(
    account: Account, token: str
) -> None:
    """A token that is not a listing's (a fetch cursor, garbage) is no error: a full listing."""
    account.append("INBOX", mail("m0"))
    with account.source() as source:
        found, _cursor, _batches = fetch_all(source)
        assert held(source.listing(token)) == {item.location for item in found}


def test_a_folder_gone_since_the_token_gives_a_complete_listing(account: Account) -> None:
    """When a folder the token knew is no longer there, its mail is gone: a complete listing."""
    with account.imap() as conn:
        conn.create("Work")
    account.append("Work", mail("w0"))
    account.append("INBOX", mail("i0"))
    with account.source() as source:
        found, _cursor, _batches = fetch_all(source)
        token = source.listing().token
        with account.imap() as conn:
            assert conn.delete("Work")[0] == "OK"
        listing = source.listing(token)
    assert held(listing) == {locations(found)["i0"]}


# --- Failures -------------------------------------------------------------------------------------


def test_connection_cut_mid_batch_loses_and_repeats_nothing(account: Account) -> None:
    """A connection cut inside a reply is temporary; retrying the last cursor loses nothing."""
    account.append("INBOX", *(mail(f"m{i}", size=6000) for i in range(6)))
    proxy = CuttingProxy(account.server.host, account.server.port)
    try:
        with account.source(port=proxy.port) as source:
            first = source.fetch(None, limit=2)
            proxy.cut_during(b"BODY.PEEK[]", after_bytes=3000)
            with pytest.raises(TemporaryError) as caught:
                source.fetch(first.cursor, limit=2)
            assert proxy.cuts == 1
            assert str(caught.value) == (
                f"Lost the connection to the IMAP server {source.name} while reading the "
                "folder 'INBOX': the server ended the session."
            )
            assert isinstance(caught.value.__cause__, imaplib.IMAP4.abort | OSError)
            rest, _, _ = fetch_all(source, (2,), first.cursor)
    finally:
        proxy.close()
    assert tags(first.items + tuple(rest)) == [f"m{i}" for i in range(6)]


def test_dropped_idle_connection_is_reopened(account: Account) -> None:
    """A connection the server dropped between syncs is replaced without an error."""
    account.append("INBOX", mail("a"))
    proxy = CuttingProxy(account.server.host, account.server.port)
    try:
        with account.source(port=proxy.port) as source:
            _, cursor, _ = fetch_all(source)
            proxy.drop_all()
            account.append("INBOX", mail("b"))
            assert tags(source.fetch(cursor).items) == ["b"]
    finally:
        proxy.close()


def test_server_down_is_temporary_and_sync_resumes_in_place(account: Account) -> None:
    """While the server is down fetching fails as temporary; afterwards it resumes in place."""
    account.append("INBOX", mail("a"))
    with account.source() as source:
        _, cursor, _ = fetch_all(source)
        account.append("INBOX", mail("b"))
        account.server.kill()
        try:
            with pytest.raises(TemporaryError) as caught:
                source.fetch(cursor)
        finally:
            account.server.launch()
        assert str(caught.value) == (
            f"Cannot connect to the IMAP server {source.name}: connection refused."
        )
        assert isinstance(caught.value.__cause__, ConnectionRefusedError)
        found, _, _ = fetch_all(source, (500,), cursor)
    assert tags(found) == ["b"]


def test_wrong_password_is_an_authentication_failure(account: Account) -> None:
    """A rejected login raises AuthenticationError, without the password anywhere."""
    source = account.source(password="wrong-Pa55")
    with pytest.raises(AuthenticationError) as caught:
        source.fetch(None)
    assert str(caught.value) == (
        f"The IMAP server {source.name} rejected the login of {account.user!r}."
    )
    assert isinstance(caught.value.__cause__, imaplib.IMAP4.error)
    assert "wrong-Pa55" not in f"{caught.value} {caught.value.__cause__!r} {source!r}"


def test_unknown_user_is_an_authentication_failure(server: Dovecot) -> None:
    """A user the server does not know is rejected like a wrong password."""
    source = ImapSource(
        server.host, "nobody-here", password="x", port=server.port, security="plain"
    )
    with pytest.raises(AuthenticationError):
        source.folders()


@pytest.mark.parametrize(
    "password", ['quote"and\\backslash', "pässwört ünïcode", "spaces  and {braces}"]
)
def test_awkward_passwords_log_in(server: Dovecot, password: str) -> None:
    """Passwords with quotes, backslashes, spaces or non-ASCII letters log in."""
    user = f"pw{next(_users)}"
    server.add_user(user, password)
    source = ImapSource(server.host, user, password=password, port=server.port, security="plain")
    with source:
        assert source.folders()[0].name == "INBOX"


def test_xoauth2_refused_by_the_server_is_an_authentication_failure(account: Account) -> None:
    """An OAuth2 token the server does not accept is an authentication failure."""
    source = account.source(oauth2_token="ya29.token")
    with pytest.raises(AuthenticationError):
        source.fetch(None)


def test_tls_with_a_trusted_certificate(account: Account) -> None:
    """TLS (the default) connects to the TLS port when the certificate is trusted."""
    context = ssl.create_default_context(cafile=str(account.server.certificate))
    account.append("INBOX", mail("a"))
    source = ImapSource(
        account.server.host,
        account.user,
        password=account.password,
        port=account.server.tls_port,
        ssl_context=context,
    )
    with source:
        assert tags(source.fetch(None).items) == ["a"]
        assert isinstance(source._conn.sock, ssl.SSLSocket)  # type: ignore[union-attr]


def test_starttls_upgrades_before_logging_in(account: Account) -> None:
    """STARTTLS turns the plain port's connection into TLS before the password is sent."""
    context = ssl.create_default_context(cafile=str(account.server.certificate))
    with account.source(security="starttls", ssl_context=context) as source:
        assert source.folders()[0].name == "INBOX"
        assert isinstance(source._conn.sock, ssl.SSLSocket)  # type: ignore[union-attr]


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_an_untrusted_certificate_is_refused(account: Account, security: str) -> None:
    """A certificate the system does not trust is a setting error, never retried as temporary."""
    port = account.server.tls_port if security == "tls" else account.server.port
    source = account.source(port=port, security=security)
    with pytest.raises(SourceError) as caught:
        source.fetch(None)
    assert type(caught.value) is SourceError
    assert str(caught.value) == (
        f"The IMAP server {source.name} presented a certificate that cannot be verified."
    )
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)


def test_tls_against_a_plain_port_is_temporary(account: Account) -> None:
    """TLS that cannot be set up is reported as a connection failure."""
    source = account.source(security="tls", timeout=5)
    with pytest.raises(TemporaryError) as caught:
        source.fetch(None)
    assert str(caught.value) == f"Cannot connect to the IMAP server {source.name}: TLS failed."


def test_silent_server_times_out() -> None:
    """A server that never greets ends in a temporary time-out."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        source = ImapSource(
            "127.0.0.1", "u", password="p", port=port, security="plain", timeout=0.2
        )
        with pytest.raises(TemporaryError) as caught:
            source.fetch(None)
    assert str(caught.value) == f"Cannot connect to the IMAP server {source.name}: timed out."


# --- What Dovecot will not do: a scripted server --------------------------------------------------


@dataclass(frozen=True)
class Drip:
    """An answer sent a few bytes at a time, *pause* seconds apart, and then, when *forever*,
    one more byte at a time for as long as the client listens (a server that never finishes)."""

    reply: bytes
    pause: float = 0.005
    forever: bool = False


#: A reply; a pair is a continuation (``+ ...``) and the reply after the client's next line; a
#: function gets the command's arguments (the text after its name) and returns the reply.
Answer = bytes | tuple[bytes, bytes] | Callable[[str], bytes] | Drip


class ScriptedServer:
    """A loopback IMAP server that answers each command from a script, for servers unlike Dovecot.

    *answers* maps a command to the reply, with ``{tag}`` standing for the command's tag. A key
    is a command's name (``LOGIN``, ``UID FETCH``...) or a whole command line after the tag
    (``UID FETCH 2 (UID RFC822.SIZE)``), which wins over its name: so one UID FETCH can be
    answered unlike the others. Every line the client sends is kept in ``received``.
    """

    def __init__(self, greeting: bytes, answers: dict[str, Answer]) -> None:
        self.greeting = greeting
        self.answers = {
            "CAPABILITY": b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n",
            "LOGOUT": b"* BYE bye\r\n{tag} OK done\r\n",
            **answers,
        }
        self.received: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with contextlib.suppress(OSError), conn, conn.makefile("rb") as lines:
                conn.sendall(self.greeting)
                for line in lines:
                    self._answer(conn, lines, line)

    def _answer(self, conn: socket.socket, lines: Iterator[bytes], line: bytes) -> None:
        self.received.append(line.rstrip(b"\r\n"))
        tag, _, rest = line.partition(b" ")
        words = rest.split()
        name = b" ".join(words[:2] if words[:1] == [b"UID"] else words[:1]).decode().upper()
        command = rest.strip().decode(errors="replace")
        answer = self.answers.get(command.upper(), self.answers.get(name, b"{tag} BAD unknown\r\n"))
        if callable(answer):
            answer = answer(command[len(name) :].strip())
        if isinstance(answer, Drip):
            reply = answer.reply.replace(b"{tag}", tag)
            for start in range(0, len(reply), 7):
                conn.sendall(reply[start : start + 7])
                time.sleep(answer.pause)
            while answer.forever:
                conn.sendall(b"x")
                time.sleep(answer.pause)
            return
        if isinstance(answer, tuple):
            conn.sendall(answer[0])
            self.received.append(next(lines, b"").rstrip(b"\r\n"))
            answer = answer[1]
        conn.sendall(answer.replace(b"{tag}", tag))

    def source(self, **options: object) -> ImapSource:
        """A source for this server over plain loopback, with a password unless told."""
        options.setdefault("security", "plain")
        if "oauth2_token" not in options:
            options.setdefault("password", "pw")
        options.setdefault("timeout", 5)
        return ImapSource("127.0.0.1", "jane", port=self.port, **options)  # type: ignore[arg-type]

    def close(self) -> None:
        """Stop accepting connections."""
        self.listener.close()


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedServer]]:
    """Start scripted servers; each is closed after the test."""
    made: list[ScriptedServer] = []

    def start(answers: dict[str, Answer], greeting: bytes = b"* OK ready\r\n") -> ScriptedServer:
        made.append(ScriptedServer(greeting, answers))
        return made[-1]

    yield start
    for server in made:
        server.close()


LOGGED_IN = {"LOGIN": b"{tag} OK logged in\r\n"}


def test_starttls_is_required_when_asked(scripted: Callable[..., ScriptedServer]) -> None:
    """With security 'starttls' a server without STARTTLS is refused, never used in plain."""
    server = scripted(LOGGED_IN)
    source = server.source(security="starttls")
    with pytest.raises(SourceError) as caught:
        source.fetch(None)
    assert type(caught.value) is SourceError
    assert str(caught.value) == f"The IMAP server {source.name} does not offer STARTTLS."
    assert not any(line.split()[1:2] == [b"LOGIN"] for line in server.received)


def test_login_disabled_without_tls_is_refused(scripted: Callable[..., ScriptedServer]) -> None:
    """A server that refuses plaintext login is not sent the password."""
    server = scripted({"CAPABILITY": b"* CAPABILITY IMAP4rev1 LOGINDISABLED\r\n{tag} OK done\r\n"})
    source = server.source()
    with pytest.raises(SourceError) as caught:
        source.fetch(None)
    assert str(caught.value) == (
        f"The IMAP server {source.name} refuses to log in without TLS; use security 'tls' or "
        "'starttls'."
    )
    assert not any(b"LOGIN" in line for line in server.received)


@pytest.mark.parametrize(
    ("greeting", "answers", "message"),
    [
        (
            b"* BYE too many connections\r\n",
            {},
            "Cannot connect to the IMAP server {name}: the server ended the session.",
        ),
        (
            b"* OK ready\r\n",
            {"LOGIN": b"{tag} NO [UNAVAILABLE] maintenance\r\n"},
            "The IMAP server {name} cannot log in 'jane' just now.",
        ),
        (
            b"* OK ready\r\n",
            {**LOGGED_IN, "LIST": b"* BYE shutting down\r\n"},
            "Lost the connection to the IMAP server {name} while listing folders: the server "
            "ended the session.",
        ),
        (
            b"* OK ready\r\n",
            {**LOGGED_IN, "LIST": b"{tag} NO [SERVERBUG] oops\r\n"},
            "The IMAP server {name} refused to list folders just now.",
        ),
    ],
    ids=["busy-greeting", "login-unavailable", "bye", "list-refused"],
)
def test_servers_in_trouble_are_temporary(
    scripted: Callable[..., ScriptedServer],
    greeting: bytes,
    answers: dict[str, Answer],
    message: str,
) -> None:
    """A busy or failing server is a temporary failure: the sync backs off and retries."""
    source = scripted(answers, greeting).source()
    with pytest.raises(TemporaryError) as caught:
        source.fetch(None)
    assert str(caught.value) == message.format(name=source.name)


def test_xoauth2_sends_the_bearer_token(scripted: Callable[..., ScriptedServer]) -> None:
    """XOAUTH2 sends the user and token as SASL says, and logs in."""
    server = scripted(
        {
            "AUTHENTICATE": (b"+ \r\n", b"{tag} OK welcome\r\n"),
            "LIST": b'* LIST () "/" INBOX\r\n{tag} OK done\r\n',
        }
    )
    with server.source(oauth2_token="ya29.tok") as source:
        assert [f.name for f in source.folders()] == ["INBOX"]
    command, answer = server.received[1:3]  # after CAPABILITY
    assert command.endswith(b" AUTHENTICATE XOAUTH2")
    assert base64.b64decode(answer) == b"user=jane\x01auth=Bearer ya29.tok\x01\x01"


def test_a_token_function_gives_a_fresh_token_at_every_login(
    scripted: Callable[..., ScriptedServer],
) -> None:
    """A function as the OAuth2 token is called at each login, so tokens can be refreshed."""
    server = scripted(
        {
            "AUTHENTICATE": (b"+ \r\n", b"{tag} OK welcome\r\n"),
            "LIST": b'* LIST () "/" INBOX\r\n{tag} OK done\r\n',
        }
    )
    tokens = iter(["first", "second", ""])
    source = server.source(oauth2_token=lambda: next(tokens))
    for _ in range(2):
        source.folders()
        source.close()
    sent = [base64.b64decode(line) for line in server.received if line.startswith(b"dXNlcj1")]
    assert [token.split(b"Bearer ")[1] for token in sent] == [b"first\x01\x01", b"second\x01\x01"]
    with pytest.raises(SourceSettingError) as caught:
        source.folders()
    assert str(caught.value) == (
        "The OAuth2 token function must return non-empty text without line breaks."
    )


def test_xoauth2_rejected_is_an_authentication_failure(
    scripted: Callable[..., ScriptedServer],
) -> None:
    """A refused token (the server's error challenge, then NO) is an authentication failure."""
    error = base64.b64encode(b'{"status":"401","schemes":"Bearer"}')
    server = scripted(
        {"AUTHENTICATE": (b"+ " + error + b"\r\n", b"{tag} NO [AUTHENTICATIONFAILED] no\r\n")}
    )
    source = server.source(oauth2_token="ya29.tok")
    with pytest.raises(AuthenticationError) as caught:
        source.fetch(None)
    assert str(caught.value) == f"The IMAP server {source.name} rejected the login of 'jane'."
    assert "ya29" not in str(caught.value)


def test_roles_come_from_names_without_special_use(scripted: Callable[..., ScriptedServer]) -> None:
    """Without SPECIAL-USE, well-known names give roles; unselectable and virtual folders go."""
    listing = b"".join(
        [
            b'* LIST (\\HasNoChildren) "." INBOX\r\n',
            b'* LIST (\\Noselect \\HasChildren) "." "[Gmail]"\r\n',
            b'* LIST (\\HasNoChildren \\All) "." "[Gmail].All Mail"\r\n',
            b'* LIST () "." "INBOX.Sent Items"\r\n',
            b'* LIST () "." {13}\r\nDeleted Items\r\n',
            b'* LIST () "." "Entw&APw-rfe"\r\n',
            b'* LIST (\\Marked) "." Spam\r\n',
            b'* LIST () NIL "Say \\"hi\\""\r\n',
            b"{tag} OK done\r\n",
        ]
    )
    server = scripted({**LOGGED_IN, "LIST": listing})
    with server.source() as source:
        folders = source.folders()
    assert [(f.name, set(f.flags), f.separator) for f in folders] == [
        ("INBOX", set(), "."),
        ("Deleted Items", {Flag.TRASH}, "."),
        ("Entwürfe", set(), "."),
        ("INBOX.Sent Items", {Flag.SENT}, "."),
        ('Say "hi"', set(), ""),
        ("Spam", {Flag.SPAM}, "."),
    ]
    assert [line.split(b" ", 1)[1] for line in server.received if b" LIST " in line] == [
        b'LIST "" "*"'
    ]


def test_a_folder_name_in_raw_utf8_is_a_clear_error(
    scripted: Callable[..., ScriptedServer],
) -> None:
    """A name sent in raw UTF-8 (against RFC 3501) cannot be sent back: the error says so."""
    server = scripted(
        {
            **LOGGED_IN,
            "LIST": '* LIST () "/" INBOX\r\n* LIST () "/" "Entwürfe"\r\n{tag} OK done\r\n'.encode(),
            "STATUS": b"* STATUS INBOX (UIDVALIDITY 1 UIDNEXT 1)\r\n{tag} OK done\r\n",
        }
    )
    source = server.source()
    with pytest.raises(SourceError) as caught:
        source.fetch(None)
    assert str(caught.value) == (
        f"The IMAP server {source.name} uses a name that cannot be sent back while reading the "
        "folder 'Entwürfe'; name the folders to read with folders=."
    )


# --- What syncing leaves alone, and what it reports -----------------------------------------------


def test_sync_leaves_seen_flags_alone(account: Account) -> None:
    """Syncing marks nothing as read and clears no flag."""
    account.append("INBOX", mail("read"), flags="\\Seen")
    account.append("INBOX", mail("unread"))
    account.append("INBOX", mail("flagged"), flags="\\Flagged $Label1")
    before = account.server.flags(account.user, "INBOX")
    with account.source() as source:
        fetch_all(source)
    after = account.server.flags(account.user, "INBOX")
    assert after == before
    assert [("\\Seen" in before[uid]) for uid in sorted(before)] == [True, False, False]


def test_roles_and_message_flags_become_flags(account: Account) -> None:
    """SPECIAL-USE roles, \\Draft and \\Deleted become the flags the rules read."""
    account.append("INBOX", mail("plain"))
    account.append("INBOX", mail("draft-flag"), flags="\\Draft")
    account.append("INBOX", mail("deleted-flag"), flags="\\Deleted")
    for folder in ("Sent", "Drafts", "Junk", "Trash"):
        account.append(folder, mail(folder.lower()))
    with account.source() as source:
        found = fetch_all(source)[0]
    assert {tag: item.flags for tag, item in zip(tags(found), found, strict=True)} == {
        "plain": frozenset(),
        "draft-flag": {Flag.DRAFT},
        "deleted-flag": {Flag.TRASH},
        "drafts": {Flag.DRAFT},
        "junk": {Flag.SPAM},
        "sent": {Flag.SENT},
        "trash": {Flag.TRASH},
    }
    assert found[1].message().flags == {Flag.DRAFT}


def test_folders_lists_roles_inbox_first(account: Account) -> None:
    """`folders` shows what a sync reads, INBOX first, with each folder's role."""
    with account.imap() as conn:
        conn.create("Archive/2020")
        conn.create("Entw&APw-rfe")  # "Entwürfe" in IMAP's modified UTF-7
    with account.source() as source:
        folders = source.folders()
    assert [(f.name, set(f.flags)) for f in folders] == [
        ("INBOX", set()),
        ("Archive/2020", set()),
        ("Drafts", {Flag.DRAFT}),
        ("Entwürfe", set()),
        ("Junk", {Flag.SPAM}),
        ("Sent", {Flag.SENT}),
        ("Trash", {Flag.TRASH}),
    ]
    assert folders[3] == ImapFolder("Entwürfe", frozenset(), "Entw&APw-rfe", "/")


def test_non_ascii_folder_is_read(account: Account) -> None:
    """A folder named outside ASCII is read under its decoded name."""
    with account.imap() as conn:
        conn.create('"Kunden &- Partner/M&APw-ller"')
    account.append("Kunden &- Partner/M&APw-ller", mail("m"))
    with account.source(folders=["Kunden & Partner/Müller"]) as source:
        found = fetch_all(source)[0]
    assert tags(found) == ["m"]
    assert "/Kunden%20&%20Partner/M%C3%BCller;UIDVALIDITY=" in found[0].location


def test_chosen_folders_skipped_roles_and_own_roles(account: Account) -> None:
    """Folders can be chosen by name, skipped by role, or given a role by the caller."""
    with account.imap() as conn:
        conn.create("Spam-ish")
    account.append("Spam-ish", mail("s"))
    account.append("Trash", mail("t"))
    with account.source(folders=["Spam-ish", "Sent"], roles={"Spam-ish": "spam"}) as source:
        assert [(f.name, f.flags) for f in source.folders()] == [
            ("Spam-ish", frozenset({Flag.SPAM})),
            ("Sent", frozenset({Flag.SENT})),
        ]
        assert [item.flags for item in fetch_all(source)[0]] == [{Flag.SPAM}]
    with account.source(skip_roles=[Flag.TRASH, "spam"]) as source:
        assert [f.name for f in source.folders()] == ["INBOX", "Drafts", "Sent", "Spam-ish"]


def test_missing_chosen_folder_is_an_error(account: Account) -> None:
    """A chosen folder the server does not have is a setting error, not a temporary one."""
    source = account.source(folders=["INBOX", "Nope"])
    with pytest.raises(SourceError) as caught:
        source.fetch(None)
    assert type(caught.value) is SourceError
    assert str(caught.value) == f"The IMAP server {source.name} has no folder 'Nope'."


# --- Bounds ---------------------------------------------------------------------------------------


def test_batches_are_bounded_in_bytes(account: Account) -> None:
    """A batch stops once it holds batch_bytes, but always holds at least one message."""
    account.append("INBOX", *(mail(f"m{i}", size=10_000) for i in range(5)))
    with account.source(batch_bytes=25_000) as source:
        assert [len(b.items) for b in fetch_all(source)[2]] == [2, 2, 1]
    with account.source(batch_bytes=100) as source:
        assert [len(b.items) for b in fetch_all(source)[2]] == [1, 1, 1, 1, 1]


def test_large_message_keeps_its_first_bytes(account: Account) -> None:
    """A message over max_message_bytes keeps one byte more and is read as too large."""
    big = mail("big", size=20_000)
    account.append("INBOX", big, mail("small"))
    with account.source(max_message_bytes=5_000) as source:
        first, second = fetch_all(source)[0]
    assert first.raw == big[:5_001]
    assert first.truncated
    assert not second.truncated
    assert "too_large" in first.message().defects
    assert first.message().message_id == "big@example.com"


# --- Answers that arrive broken: a scripted folder ------------------------------------------------


def uids_in(text: str, top: int) -> list[int]:
    """The UIDs an IMAP UID set names (``*`` standing for *top*)."""
    found: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition(":")
        low = int(first)
        high = top if last == "*" else int(last or first)
        found += range(min(low, high), max(low, high) + 1)
    return found


class Folder:
    """The answers of a server holding INBOX with *messages* (by UID): search, sizes and bodies
    worked out from each command's arguments, as a real server would."""

    def __init__(self, messages: dict[int, bytes]) -> None:
        self.messages = messages

    def answers(self) -> dict[str, Answer]:
        """The script for `ScriptedServer`: log in, list, open, search and fetch."""
        uidnext = max(self.messages, default=0) + 1
        return {
            **LOGGED_IN,
            "LIST": b'* LIST () "/" INBOX\r\n{tag} OK done\r\n',
            "STATUS": f"* STATUS INBOX (UIDVALIDITY 7 UIDNEXT {uidnext})\r\n".encode()
            + b"{tag} OK done\r\n",
            "EXAMINE": f"* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT {uidnext}] n\r\n".encode()
            + b"{tag} OK [READ-ONLY] done\r\n",
            "CLOSE": b"{tag} OK done\r\n",
            "NOOP": b"{tag} OK done\r\n",
            "UID SEARCH": self.search,
            "UID FETCH": self.fetch,
        }

    def _held(self, uids: str) -> list[int]:
        top = max(self.messages, default=0)
        return sorted(set(uids_in(uids, top)) & self.messages.keys())

    def search(self, arguments: str) -> bytes:
        """``UID SEARCH UID set``: the UIDs held in the set (the last one for ``n:*``)."""
        held = self._held(arguments.split()[1])
        if not held and arguments.endswith(":*") and self.messages:
            held = [max(self.messages)]
        return f"* SEARCH {' '.join(map(str, held))}\r\n".encode() + b"{tag} OK done\r\n"

    def fetch(self, arguments: str) -> bytes:
        """``UID FETCH set (items)``: each held message's UID and size, or its body."""
        uids, _, items = arguments.partition(" ")
        order = sorted(self.messages)
        reply = b""
        for uid in self._held(uids):
            number = order.index(uid) + 1
            raw = self.messages[uid]
            if "RFC822.SIZE" in items:
                reply += f"* {number} FETCH (UID {uid} RFC822.SIZE {len(raw)})\r\n".encode()
            else:
                if "<0." in items:
                    raw = raw[: int(items.split("<0.")[1].split(">")[0])]
                head = f"* {number} FETCH (UID {uid} FLAGS () BODY[] {{{len(raw)}}}\r\n"
                reply += head.encode() + raw + b")\r\n"
        return reply + b"{tag} OK done\r\n"


@pytest.fixture
def folder_of_three(scripted: Callable[..., ScriptedServer]) -> ScriptedServer:
    """A scripted server whose INBOX holds the messages m1, m2 and m3 at UIDs 1 to 3."""
    return scripted(Folder({uid: mail(f"m{uid}") for uid in (1, 2, 3)}).answers())


SIZES = "UID FETCH 1:3 (UID RFC822.SIZE)"
BODIES = "UID FETCH 1:3 (UID FLAGS BODY.PEEK[])"


def fetches(server: ScriptedServer, times: int) -> list[list[str]]:
    """The tags of what each of *times* syncs from the start (each to its end) fetched."""
    seen: list[list[str]] = []
    cursor = None
    with server.source() as source:
        for _ in range(times):
            found, cursor, _ = fetch_all(source, (500,), cursor)
            seen.append(tags(found))
    return seen


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        # No RFC822.SIZE for UID 2.
        (
            SIZES,
            b"* 1 FETCH (UID 1 RFC822.SIZE 10)\r\n* 3 FETCH (UID 3 RFC822.SIZE 10)\r\n"
            b"{tag} OK done\r\n",
        ),
        # A size without a number: as good as none.
        (
            SIZES,
            b"* 1 FETCH (UID 1 RFC822.SIZE 10)\r\n* 2 FETCH (UID 2 RFC822.SIZE NIL)\r\n"
            b"* 3 FETCH (UID 3 RFC822.SIZE 10)\r\n{tag} OK done\r\n",
        ),
        # The body of UID 2 left out of the answer, its flags sent instead.
        (
            BODIES,
            b"* 1 FETCH (UID 1 FLAGS () BODY[] {3}\r\nabc)\r\n* 2 FETCH (UID 2 FLAGS ())\r\n"
            b"* 3 FETCH (UID 3 FLAGS () BODY[] {3}\r\nxyz)\r\n{tag} OK done\r\n",
        ),
        # An answer that stops after UID 1.
        (BODIES, b"* 1 FETCH (UID 1 FLAGS () BODY[] {3}\r\nabc)\r\n{tag} OK done\r\n"),
    ],
    ids=["no-size", "size-nil", "no-body", "cut-short"],
)
def test_a_message_whose_body_did_not_arrive_is_fetched_again(
    folder_of_three: ScriptedServer, command: str, reply: bytes
) -> None:
    """A UID the server still holds but did not send stops the batch below it: the cursor
    stays there and the next sync fetches it (and what follows) once the server sends it."""
    server = folder_of_three
    server.answers[command] = reply
    with server.source() as source:
        first = source.fetch(None)
        assert (len(first.items), first.done) == (1, False)
        assert first.items[0].location.endswith("/;UID=1")
        assert '"INBOX":[7,1,' in first.cursor
        del server.answers[command]
        found, cursor, _ = fetch_all(source, (500,), first.cursor)
    assert tags(found) == ["m2", "m3"]
    assert '"INBOX":[7,3]' in cursor


def test_a_message_expunged_meanwhile_is_stepped_over(folder_of_three: ScriptedServer) -> None:
    """A UID missing from the answers that the folder no longer holds was expunged: the
    cursor moves past it at once."""
    server = folder_of_three
    server.answers[SIZES] = (
        b"* 1 FETCH (UID 1 RFC822.SIZE 10)\r\n* 2 FETCH (UID 3 RFC822.SIZE 10)\r\n{tag} OK done\r\n"
    )
    server.answers["UID SEARCH UID 2"] = b"* SEARCH\r\n{tag} OK done\r\n"
    with server.source() as source:
        found, cursor, batches = fetch_all(source)
    assert (tags(found), len(batches)) == (["m1", "m3"], 1)
    assert '"INBOX":[7,3]' in cursor
    assert b"UID SEARCH UID 2" in b"\n".join(server.received)


def test_a_message_never_sent_is_recorded_after_three_fetches(
    folder_of_three: ScriptedServer,
) -> None:
    """A UID whose body never arrives is asked for by three fetches in a row, then handed out
    with the defect ``not_fetched``; the sync goes on past it and fetches it no more."""
    server = folder_of_three
    server.answers[SIZES] = (
        b"* 1 FETCH (UID 1 RFC822.SIZE 10)\r\n* 3 FETCH (UID 3 RFC822.SIZE 10)\r\n{tag} OK done\r\n"
    )
    # Asked for again, alone.
    server.answers["UID FETCH 2 (UID RFC822.SIZE)"] = b"{tag} OK done\r\n"
    with server.source() as source:
        first = source.fetch(None)
        second = source.fetch(first.cursor)
        assert [tags(first.items), tags(second.items)] == [["m1"], []]
        assert (first.done, second.done) == (False, True)
        # The tries are kept with the UID they were spent on.
        assert '"INBOX":[7,1,2,2]' in second.cursor
        third = source.fetch(second.cursor)
        (lost,) = third.items
        assert (lost.raw, lost.location[-7:]) == (None, "/;UID=2")
        message = lost.message()
        assert message.defects == ("not_fetched",)
        assert message.text == "The IMAP server did not send this message after 3 attempts."
        assert '"INBOX":[7,2]' in third.cursor
        last = source.fetch(third.cursor)
        assert tags(last.items) == ["m3"]
        assert '"INBOX":[7,3]' in last.cursor
        assert source.fetch(last.cursor).items == ()


def test_tries_belong_to_the_uid_they_were_spent_on(
    scripted: Callable[..., ScriptedServer],
) -> None:
    """A UID that fails after another one failed starts its own count: when UID 2 is expunged
    after a vain fetch and UID 3's body then does not arrive, UID 3 has one try, not two."""
    folder = Folder({uid: mail(f"m{uid}") for uid in (1, 2, 3, 4)})
    server = scripted(folder.answers())
    no_body = b"{tag} OK done\r\n"
    server.answers["UID FETCH 1:4 (UID FLAGS BODY.PEEK[])"] = (
        f"* 1 FETCH (UID 1 FLAGS () BODY[] {{{len(folder.messages[1])}}}\r\n".encode()
        + folder.messages[1]
        + b")\r\n{tag} OK done\r\n"
    )
    with server.source() as source:
        first = source.fetch(None)
        assert tags(first.items) == ["m1"]
        assert '"INBOX":[7,1,1,2]' in first.cursor
        del folder.messages[2]
        server.answers["UID FETCH 3 (UID FLAGS BODY.PEEK[])"] = no_body
        server.answers["UID FETCH 3:4 (UID FLAGS BODY.PEEK[])"] = no_body
        second = source.fetch(first.cursor)
        assert second.items == ()
        assert '"INBOX":[7,2,1,3]' in second.cursor
        del server.answers["UID FETCH 3 (UID FLAGS BODY.PEEK[])"]
        found, cursor, _ = fetch_all(source, (500,), second.cursor)
    assert tags(found) == ["m3", "m4"]
    assert '"INBOX":[7,4]' in cursor


def test_a_cursor_of_three_numbers_still_reads(folder_of_three: ScriptedServer) -> None:
    """A cursor written before the tries named their UID (``[uidvalidity, after, tries]``)
    counts the tries for the UID above *after*."""
    server = folder_of_three
    server.answers["UID FETCH 2 (UID RFC822.SIZE)"] = b"{tag} OK done\r\n"
    cursor = encode_cursor("imap", folders={"INBOX": [7, 1, 2]})
    with server.source() as source:
        (lost,) = source.fetch(cursor).items
    assert lost.message().defects == ("not_fetched",)


def test_a_fetch_answered_in_pieces_is_put_together(folder_of_three: ScriptedServer) -> None:
    """A message answered in several FETCH responses, the UID named in only one, arrives whole
    with its flags."""
    server = folder_of_three
    raw = {uid: mail(f"m{uid}") for uid in (1, 2, 3)}
    pieces = b"".join(
        f"* {uid} FETCH (UID {uid} FLAGS (\\Draft))\r\n".encode()
        + f"* {uid} FETCH (BODY[] {{{len(body)}}}\r\n".encode()
        + body
        + b")\r\n"
        for uid, body in raw.items()
    )
    server.answers[BODIES] = pieces + b"{tag} OK done\r\n"
    with server.source() as source:
        found, _, _ = fetch_all(source)
    assert [item.raw for item in found] == list(raw.values())
    assert all(item.flags == {Flag.DRAFT} for item in found)


def test_a_literal_longer_than_asked_for_keeps_only_its_first_bytes(
    scripted: Callable[..., ScriptedServer],
) -> None:
    """A server that sends a message far longer than its size and the limit: the source keeps
    the limit and one byte, marks it cut, and reads the next message rightly."""
    messages = {1: mail("big"), 2: mail("small")}
    server = scripted(Folder(messages).answers())
    huge = messages[1] + b"y" * 300_000
    server.answers["UID FETCH 1:2 (UID FLAGS BODY.PEEK[])"] = (
        f"* 1 FETCH (UID 1 BODY[] {{{len(huge)}}}\r\n".encode()
        + huge
        + f")\r\n* 2 FETCH (UID 2 BODY[] {{{len(messages[2])}}}\r\n".encode()
        + messages[2]
        + b")\r\n{tag} OK done\r\n"
    )
    with server.source(max_message_bytes=1_000) as source:
        big, small = fetch_all(source)[0]
    assert (big.raw, big.truncated) == (huge[:1_001], True)
    assert "too_large" in big.message().defects
    assert (small.raw, small.truncated) == (messages[2], False)


def ticking(step: float) -> Callable[[], float]:
    """A clock that moves on *step* seconds each time it is read."""
    count = itertools.count()
    return lambda: next(count) * step


@pytest.mark.parametrize("forever", [True, False], ids=["never-ends", "slow"])
def test_a_drip_fed_answer_ends_at_the_command_deadline(
    folder_of_three: ScriptedServer, monkeypatch: pytest.MonkeyPatch, forever: bool
) -> None:
    """A server that sends its bodies a few bytes at a time, each well within the socket
    time-out, is stopped by the command's deadline: the batch ends below the first message,
    which is asked for again, alone, on a new connection."""
    monkeypatch.setattr(ImapSource, "_clock", staticmethod(ticking(1.0)))
    server = folder_of_three
    body = b"* 1 FETCH (UID 1 FLAGS () BODY[] {400}\r\n" + b"z" * 400 + b")\r\n{tag} OK done\r\n"
    server.answers[BODIES] = Drip(body, forever=forever)
    with server.source(command_timeout=40) as source:
        first = source.fetch(None)
        assert (first.items, first.done) == ((), False)
        assert '"INBOX":[0' not in first.cursor
        assert '"INBOX":[7,0,1,1]' in first.cursor
        found, cursor, _ = fetch_all(source, (500,), first.cursor)
    assert tags(found) == ["m1", "m2", "m3"]
    assert '"INBOX":[7,3]' in cursor


def test_a_message_whose_answer_never_ends_is_recorded_and_the_rest_synced(
    folder_of_three: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message whose every answer runs past the deadline (an endless or huge literal) is
    asked for alone, recorded as ``not_fetched`` after three tries, and the sync moves past
    it within the same pass: one message never stops a folder."""
    monkeypatch.setattr(ImapSource, "_clock", staticmethod(ticking(1.0)))
    server = folder_of_three
    endless = Drip(b"* 1 FETCH (UID 1 FLAGS () BODY[] {90000000}\r\n", forever=True)
    server.answers[BODIES] = endless
    server.answers["UID FETCH 1 (UID FLAGS BODY.PEEK[])"] = endless
    with server.source(command_timeout=40) as source:
        found, cursor, batches = fetch_all(source)
    lost, *rest = found
    assert (lost.raw, lost.location[-7:]) == (None, "/;UID=1")
    assert lost.message().defects == ("not_fetched",)
    assert tags(rest) == ["m2", "m3"]
    assert '"INBOX":[7,3]' in cursor
    assert len(batches) == 4


def test_a_server_that_stops_answering_times_out(folder_of_three: ScriptedServer) -> None:
    """A server that never answers a FETCH ends in a temporary time-out."""
    server = folder_of_three
    server.answers[BODIES] = b""
    source = server.source(timeout=0.2)
    with pytest.raises(TemporaryError) as caught:
        source.fetch(None)
    assert str(caught.value).endswith("while reading the folder 'INBOX': timed out.")


def test_ordinary_answers_fit_in_the_deadline(
    folder_of_three: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadline is per command, not per session: many commands each well within it pass."""
    monkeypatch.setattr(ImapSource, "_clock", staticmethod(ticking(1.0)))
    with folder_of_three.source(command_timeout=40) as source:
        found, _, batches = fetch_all(source, (1,))
    assert (tags(found), len(batches)) == (["m1", "m2", "m3"], 3)


# --- Settings, names and URLs (no server needed) --------------------------------------------------


def test_credentials_never_show() -> None:
    """repr, str and name never show the password or token."""
    secrets: tuple[dict[str, Any], ...] = (
        {"password": "hunter2-S3cret"},
        {"oauth2_token": "hunter2-S3cret"},
    )
    for secret in secrets:
        source = ImapSource("mail.example.com", "jane@example.com", **secret)
        shown = f"{source!r} {source.name} {source}"
        assert "hunter2" not in shown
        assert repr(source) == (
            "ImapSource('mail.example.com', 'jane@example.com', port=993, security='tls')"
        )


@given(
    secret=st.text(
        # A URL is text that encodes to UTF-8: lone surrogates cannot stand in one.
        st.characters(blacklist_characters="\r\n\x00", blacklist_categories=["Cs"]),
        min_size=1,
        max_size=20,
    )
)
def test_no_password_shows_in_names_reprs_or_url_errors(secret: str) -> None:
    """Property: whatever the password, neither the source nor a URL error shows it."""
    password = "Zq#" + secret
    source = ImapSource("mail.example.com", "jane", password=password)
    assert "Zq#" not in f"{source!r} {source.name}"
    url = f"imap://jane:{quote(password, safe='')}@mail.example.com/"
    raw = f"imap://jane:{password}@mail.example.com/"
    for attempt in (url, url.replace("imap:", "http:"), raw, raw.replace("imap:", "http:")):
        with pytest.raises(SourceSettingError) as caught:
            ImapSource.from_url(attempt, password="x")
        assert "Zq" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("imap://jane@mail.example.com/", ("mail.example.com", "jane", 993, Security.TLS, None)),
        ("imaps://jane@mail.example.com", ("mail.example.com", "jane", 993, Security.TLS, None)),
        (
            "imap://jane%40example.com@mail.example.com:1143/?security=starttls",
            ("mail.example.com", "jane@example.com", 1143, Security.STARTTLS, None),
        ),
        (
            "imap://u@[::1]:143/?security=plain&folders=INBOX,Sent%20Items,a%2Cb",
            ("::1", "u", 143, Security.PLAIN, ["INBOX", "Sent Items", "a,b"]),
        ),
    ],
)
def test_from_url(url: str, expected: tuple[object, ...]) -> None:
    """URLs name the host, user, port, security and folders; the name reads back the same."""
    source = ImapSource.from_url(url, password="pw")
    folders = list(source._folders) if source._folders is not None else None
    assert (source.host, source.username, source.port, source.security, folders) == expected
    again = ImapSource.from_url(source.name, password="pw")
    assert (again.host, again.username, again.port, again.name) == (*expected[:3], source.name)


def test_from_url_names() -> None:
    """The name is a URL without credentials."""
    assert ImapSource.from_url("imap://jane@Mail.Example.com/", password="p").name == (
        "imap://jane@mail.example.com:993/"
    )
    source = ImapSource("::1", "a b@c", password="p", security="plain")
    assert source.name == "imap://a%20b%40c@[::1]:143/"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://jane@host/",
            "An IMAP URL starts with imap:// or imaps://, not 'http://jane@host/'.",
        ),
        (
            "imap://jane:hunter2@host/",
            "An IMAP URL may not hold a password; pass it as password= instead.",
        ),
        ("imap://host/", "An IMAP URL reads imap://user@host:port/, not 'imap://host/'."),
        (
            "imap://jane@host/INBOX",
            "An IMAP URL reads imap://user@host:port/, not 'imap://jane@host/INBOX'.",
        ),
        ("imap://jane@host:99999/", "Not an IMAP URL: 'imap://jane@host:99999/'."),
        ("imap://jane:hunter2/x@host:99999/", "Not an IMAP URL: 'imap://jane:***@host:99999/'."),
        (
            "ftp://jane:hunter2@host/",
            "An IMAP URL starts with imap:// or imaps://, not 'ftp://jane:***@host/'.",
        ),
        ("imap://jane@host/?user=x", "An IMAP URL takes security, folders and skip, not 'user'."),
        ("imaps://jane@host/?security=plain", "An imaps:// URL always uses security 'tls'."),
        (
            "imap://jane@host/?security=ssl",
            "The IMAP security must be one of tls, starttls, plain, not 'ssl'.",
        ),
    ],
)
def test_from_url_mistakes(url: str, message: str) -> None:
    """A malformed URL is a setting error that never shows a password."""
    with pytest.raises(SourceSettingError) as caught:
        ImapSource.from_url(url, password="pw")
    assert str(caught.value) == message
    assert "hunter2" not in str(caught.value)


def test_from_url_and_arguments_do_not_clash() -> None:
    """A setting given in the URL cannot be given again as an argument."""
    with pytest.raises(SourceSettingError) as caught:
        ImapSource.from_url("imap://u@h:143/", password="p", port=144)
    assert str(caught.value) == "The setting 'port' is given both in the URL and as an argument."


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"host": ""}, "The IMAP host must be a host name or address, not ''."),
        ({"host": "a b"}, "The IMAP host must be a host name or address, not 'a b'."),
        (
            {"username": "a\r\nb"},
            "The IMAP user name must be text without line breaks, not 'a\\r\\nb'.",
        ),
        ({"password": None}, "An IMAP source needs a password or an OAuth2 token (exactly one)."),
        (
            {"oauth2_token": "t"},
            "An IMAP source needs a password or an OAuth2 token (exactly one).",
        ),
        (
            {"password": "x\r\nA1 LOGOUT"},
            "An IMAP password or token must be non-empty text without line breaks.",
        ),
        ({"security": "ssl"}, "The IMAP security must be one of tls, starttls, plain, not 'ssl'."),
        ({"port": 0}, "The IMAP port must be from 1 to 65535, not 0."),
        ({"timeout": 0}, "The IMAP timeout must be positive seconds, not 0."),
        (
            {"command_timeout": -1},
            "The IMAP command_timeout must be positive seconds, not -1.",
        ),
        ({"batch_bytes": 0}, "batch_bytes must be a positive whole number, not 0."),
        ({"use_qresync": "no"}, "use_qresync must be True or False, not 'no'."),
        ({"folders": []}, "Give at least one folder, or None for every folder."),
        ({"folders": [""]}, "A folder name must be non-empty text, not ''."),
        ({"skip_roles": ["inbox"]}, "A flag must be one of draft, spam, trash, sent, not 'inbox'."),
        (
            {"roles": {"X": "archive"}},
            "A flag must be one of draft, spam, trash, sent, not 'archive'.",
        ),
    ],
)
def test_setting_mistakes(arguments: dict[str, object], message: str) -> None:
    """Settings that cannot work are refused at once with one sentence."""
    given_arguments = {"host": "h", "username": "u", "password": "p", **arguments}
    with pytest.raises(SourceSettingError) as caught:
        ImapSource(**given_arguments)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_batch_limit_must_be_positive() -> None:
    """A batch limit below one is refused before any connection is made."""
    with pytest.raises(SourceSettingError) as caught:
        ImapSource("h", "u", password="p").fetch(None, limit=0)
    assert str(caught.value) == "The batch limit must be at least 1, not 0."


# --- The protocol text (no server needed) ---------------------------------------------------------


def mutf7(text: str) -> str:
    """*text* in modified UTF-7, written from RFC 3501 as a reference for the decoder."""
    out, run = [], ""
    for ch in [*text, None]:
        if ch is not None and not 0x20 <= ord(ch) <= 0x7E:
            run += ch
            continue
        if run:
            data = base64.b64encode(run.encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + data.replace("/", ",") + "-")
            run = ""
        if ch is not None:
            out.append("&-" if ch == "&" else ch)
    return "".join(out)


@pytest.mark.parametrize(
    ("spelled", "name"),
    [
        ("INBOX", "INBOX"),
        ("Entw&APw-rfe", "Entwürfe"),
        ("~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語"),
        ("Tom &- Jerry", "Tom & Jerry"),
        ("&2D3eAA-", "😀"),
        ("Broken &AB*-", "Broken &AB*-"),
    ],
)
def test_folder_names_decode_from_modified_utf7(spelled: str, name: str) -> None:
    """Folder names decode from modified UTF-7; a name that is not valid stays as it is."""
    assert wire.decode_folder_name(spelled) == name


@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=30))
def test_folder_names_round_trip(name: str) -> None:
    """Property: any name written in modified UTF-7 decodes back to itself."""
    assert wire.decode_folder_name(mutf7(name)) == name


@given(st.sets(st.integers(1, 60)))
def test_uid_sets_name_exactly_the_uids(uids: set[int]) -> None:
    """Property: a UID set expands to exactly the UIDs it was made from."""
    expanded: set[int] = set()
    for part in filter(None, wire.uid_set(sorted(uids)).split(",")):
        first, _, last = part.partition(":")
        expanded |= set(range(int(first), int(last or first) + 1))
    assert expanded == uids


def test_uid_sets_join_runs() -> None:
    """Consecutive UIDs become ranges."""
    assert wire.uid_set([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"


def test_search_drops_uids_already_seen() -> None:
    """``UID 6:*`` past the end answers with the last UID, which is dropped."""
    assert wire.search_uids([b"4"], after=5) == ()
    assert wire.search_uids([b"9 6 7", None], after=5) == (6, 7, 9)


@pytest.mark.parametrize(
    ("data", "records"),
    [
        # FLAGS after the literal, and an unsolicited flag change mixed in.
        (
            [(b"1 (UID 5 BODY[] {3}", b"abc"), b" FLAGS (\\Draft))", b"2 (FLAGS (\\Seen))"],
            [(b"1 (UID 5 BODY[] {3} FLAGS (\\Draft))", b"abc"), (b"2 (FLAGS (\\Seen))", None)],
        ),
        # Two messages, each with its literal.
        (
            [(b"1 (UID 1 BODY[] {1}", b"a"), b")", (b"2 (UID 2 BODY[] {1}", b"b"), b")"],
            [(b"1 (UID 1 BODY[] {1})", b"a"), (b"2 (UID 2 BODY[] {1})", b"b")],
        ),
        ([None], []),
    ],
)
def test_fetch_responses_split_into_records(
    data: list[object], records: list[tuple[bytes, bytes | None]]
) -> None:
    """imaplib's pieces of a FETCH answer become one record per message."""
    assert list(wire.fetch_records(data)) == records


@pytest.mark.parametrize(
    ("head", "literal", "uid", "size", "body", "flags"),
    [
        (
            b'3 (UID 30 RFC822.SIZE 12 FLAGS (\\Seen \\Draft) BODY[] ""',
            None,
            30,
            12,
            b"",
            {Flag.DRAFT},
        ),
        (
            b"3 (FLAGS (\\Deleted $Junk) UID 31 BODY[]<0> {5}",
            b"abcde",
            31,
            None,
            b"abcde",
            {Flag.TRASH},
        ),
        (b"3 (FLAGS (\\Seen))", None, None, None, None, set()),
    ],
)
def test_fetch_records_give_uid_size_body_and_flags(
    head: bytes,
    literal: bytes | None,
    uid: int | None,
    size: int | None,
    body: bytes | None,
    flags: set[Flag],
) -> None:
    """The UID, size, message and flags are read wherever they stand in a response."""
    assert wire.fetched_number(head, "UID") == uid
    assert wire.fetched_number(head, "RFC822.SIZE") == size
    assert wire.fetched_body(head, literal) == body
    assert wire.message_flags(head) == flags


@pytest.mark.parametrize(
    ("part", "entry"),
    [
        (b'(\\HasNoChildren \\Sent) "/" Sent', ("Sent", {"\\hasnochildren", "\\sent"}, "/")),
        (b'() "." "Sent Items"', ("Sent Items", set(), ".")),
        (b'() "\\\\" "a\\\\b"', ("a\\b", set(), "\\")),
        ((b'() "/" {5}', b"Inbox"), ("Inbox", set(), "/")),
        (b"() NIL Flat", ("Flat", set(), "")),
        (b"garbage", None),
        (None, None),
    ],
)
def test_list_responses(part: object, entry: tuple[str, AbstractSet[str], str] | None) -> None:
    """LIST lines give the name, attributes and separator; unreadable lines give None."""
    assert wire.list_entry(part) == entry


def test_list_status_answers() -> None:
    """The STATUS answers LIST-STATUS sends are read by folder, quoted or literal names too."""
    data = [
        b"INBOX (UIDVALIDITY 1 UIDNEXT 5)",
        b'"Sent Items" (UIDVALIDITY 2 UIDNEXT 9)',
        (b"{8}", b"Entw&APw"),
        b" (UIDVALIDITY 3 UIDNEXT 1)",
        None,
    ]
    assert wire.status_entries(data) == {
        "INBOX": {"UIDVALIDITY": 1, "UIDNEXT": 5},
        "Sent Items": {"UIDVALIDITY": 2, "UIDNEXT": 9},
        "Entw&APw": {"UIDVALIDITY": 3, "UIDNEXT": 1},
    }


def test_status_and_response_codes() -> None:
    """STATUS numbers are read by name; only some refusals are temporary."""
    assert wire.status_numbers([b'"Sent Items" (UIDVALIDITY 7 UIDNEXT 42)']) == {
        "UIDVALIDITY": 7,
        "UIDNEXT": 42,
    }
    assert wire.status_numbers([]) == {}
    assert wire.temporary_code("b'[UNAVAILABLE] try later'")
    assert not wire.temporary_code("b'[AUTHENTICATIONFAILED] Authentication failed.'")


@given(st.sets(st.integers(1, 500), max_size=40))
def test_vanished_uid_sets_read_back_whole(uids: set[int]) -> None:
    """Property: a ``VANISHED (EARLIER)`` set, as a server writes it, names exactly its UIDs."""
    text = f"(EARLIER) {wire.uid_set(sorted(uids))}".encode()
    assert list(wire.vanished_uids([text])) == sorted(uids)


@pytest.mark.parametrize(
    ("data", "uids"),
    [
        ([b"(EARLIER) 3:5,9"], [3, 4, 5, 9]),
        ([b"7", b"(EARLIER) 12:10"], [7, 10, 11, 12]),
        ([b"(EARLIER) 1,x,2:*,4"], [1, 4]),
        ([None, b""], []),
    ],
)
def test_vanished_responses_name_their_uids(data: list[object], uids: list[int]) -> None:
    """``VANISHED`` UID sets are read in full, ranges either way round; odd parts are skipped."""
    assert list(wire.vanished_uids(data)) == uids


def test_xoauth2_answers_once_then_empty() -> None:
    """XOAUTH2 sends the token once; after a server's error it answers with an empty line."""
    answer = wire.xoauth2("jane@example.com", "tok")
    assert answer(b"") == b"user=jane@example.com\x01auth=Bearer tok\x01\x01"
    assert answer(b'{"status":"401"}') == b""
