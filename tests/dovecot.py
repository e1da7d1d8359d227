"""A real Dovecot IMAP server for tests, started from a scratch folder on a loopback port.

Invariants:
- Nothing outside the scratch folder is read or written: the server runs from its own
  configuration (``-c``), with its own password file, sockets, state, log and Maildir storage.
- The server listens on 127.0.0.1 only: plain IMAP (with STARTTLS) on ``port`` and IMAP over
  TLS on ``tls_port``, with a self-signed certificate made at start; plaintext login is allowed
  and a failed login is answered without delay.
- ``start`` returns only once the port has greeted with ``* OK``; ``stop`` kills the server's
  process group (the master and every child) and removes the scratch folder.

Facts this relies on (Debian's Dovecot 2.3): the mail user's uid may not be 0 or below
``first_valid_uid`` (as root the mail runs as ``nobody``); ``imap-login`` and ``anvil`` need
``chroot =`` or the port accepts connections but never greets; socket names must stay short,
so the scratch folder sits directly under ``/tmp``; ``/usr/sbin`` is not on every PATH.
"""

from __future__ import annotations

import contextlib
import ctypes
import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DOVECOT", "CuttingProxy", "Dovecot", "unavailable_reason"]

DOVECOT = Path("/usr/sbin/dovecot")

#: Folders every account has, with their SPECIAL-USE attribute. Junk has none, as on servers
#: that do not mark every role: its role must come from its name.
SPECIAL_FOLDERS = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Junk": None, "Trash": "\\Trash"}


def unavailable_reason() -> str | None:
    """Why a Dovecot server cannot be started here, or None when it can."""
    if not DOVECOT.exists():
        how = (
            "apt-get install dovecot-imapd"
            if shutil.which("apt-get")
            else "no Debian package manager here"
        )
        return f"Dovecot is not installed at {DOVECOT} ({how}); the IMAP tests need a real server"
    if version() is None:
        return f"{DOVECOT} --version did not answer"
    return None


def version() -> tuple[int, int] | None:
    """The installed Dovecot's (major, minor) version, or None when it cannot be run."""
    try:
        out = subprocess.run(
            [str(DOVECOT), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"(\d+)\.(\d+)", out.strip())
    return (int(match[1]), int(match[2])) if match else None


def _load_prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


#: Linux's prctl, loaded before any fork: the child only calls it.
_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the server's process before it starts: die when the test process does.

    A test run killed half way (a time-out, Ctrl-C twice) then leaves no server behind; its
    children end when the master does.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mail_user() -> tuple[str, str, int, int]:
    """(user, group, uid, gid) the mail processes run as: ``nobody`` as root, else ourselves."""
    uid = os.getuid()
    entry = pwd.getpwnam("nobody") if uid == 0 else pwd.getpwuid(uid)
    group = grp.getgrgid(entry.pw_gid).gr_name
    return entry.pw_name, group, entry.pw_uid, entry.pw_gid


def _make_certificate(scratch: Path) -> None:
    """A self-signed certificate for 127.0.0.1 and localhost (``cert.pem``, ``key.pem``)."""
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=localhost"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
            *("-keyout", str(scratch / "key.pem"), "-out", str(scratch / "cert.pem")),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _config(scratch: Path, port: int, tls_port: int, major_minor: tuple[int, int]) -> str:
    user, group, uid, gid = _mail_user()
    mailboxes = "\n".join(
        f"  mailbox {name} {{\n"
        + (f"    special_use = {use}\n" if use else "")
        + "    auto = create\n  }"
        for name, use in SPECIAL_FOLDERS.items()
    )
    common = f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {scratch}/run
state_dir = {scratch}/state
log_path = {scratch}/log
ssl = yes
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
last_valid_uid = 0
# Test mail need not survive a power cut: no fsync keeps appends fast.
mail_fsync = never
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # No growing delay after failed logins (the tests fail some on purpose).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}
}}
"""
    if major_minor >= (2, 4):
        # Dovecot 2.4 renamed the storage, authentication and variable settings.
        return f"""\
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
{common}
auth_allow_cleartext = yes
ssl_server_cert_file = {scratch}/cert.pem
ssl_server_key_file = {scratch}/key.pem
mail_driver = maildir
mail_home = {scratch}/mail/%{{user}}
mail_path = ~/Maildir
passdb passwd-file {{
  passwd_file_path = {scratch}/users/%{{user}}
}}
userdb static {{
  fields {{
    uid = {uid}
    gid = {gid}
    home = {scratch}/mail/%{{user}}
  }}
}}
"""
    return f"""\
{common}
disable_plaintext_auth = no
ssl_cert = <{scratch}/cert.pem
ssl_key = <{scratch}/key.pem
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = {scratch}/users/%u
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={scratch}/mail/%u
}}
"""


@dataclass
class Dovecot:
    """One running Dovecot; ``add_user`` makes accounts, ``connect`` logs in to set mail up."""

    scratch: Path
    #: Plain IMAP, with STARTTLS offered.
    port: int
    #: IMAP over TLS, with the self-signed certificate ``scratch / "cert.pem"``.
    tls_port: int = 0
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = None
    users: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, *, timeout: float = 10.0) -> Dovecot:
        """Start a server in a new scratch folder; RuntimeError (with the log) if it fails."""
        reason = unavailable_reason()
        if reason is not None:
            raise RuntimeError(reason)
        # A short path: Dovecot's socket names do not fit under a long one.
        scratch = Path(tempfile.mkdtemp(prefix="dc", dir="/tmp" if Path("/tmp").is_dir() else None))
        scratch.chmod(0o755)
        _, _, uid, gid = _mail_user()
        (scratch / "mail").mkdir()
        os.chown(scratch / "mail", uid, gid)
        (scratch / "users").mkdir()
        _make_certificate(scratch)
        server = cls(scratch=scratch, port=0)
        last_error = ""
        for _attempt in range(3):
            server.port, server.tls_port = _free_port(), _free_port()
            if server.port == server.tls_port:
                continue
            try:
                server.launch(timeout)
            except RuntimeError as err:
                last_error = str(err)
                server.kill()
                continue
            return server
        shutil.rmtree(scratch, ignore_errors=True)
        raise RuntimeError(last_error)

    def launch(self, timeout: float = 10.0) -> None:
        """Start the master process on ``port`` and wait for the greeting."""
        major_minor = version() or (2, 3)
        conf = self.scratch / "dovecot.conf"
        conf.write_text(_config(self.scratch, self.port, self.tls_port, major_minor))
        self.process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # Its own process group, so `kill` ends the master and every child at once.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (
                    self.process.stderr.read().decode(errors="replace")
                    if self.process.stderr
                    else ""
                )
                raise RuntimeError(f"Dovecot exited at start: {err.strip()} {self.log()}")
            if self._greets():
                return
            time.sleep(0.02)
        raise RuntimeError(f"Dovecot did not greet on port {self.port} in {timeout}s: {self.log()}")

    def _greets(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                return s.recv(4096).startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        """End the server and remove its scratch folder (in the background: deleting is slow)."""
        self.kill()
        # The shell starts rm in the background and returns at once; rm finishes on its own.
        subprocess.run(
            ["sh", "-c", 'rm -rf -- "$1" >/dev/null 2>&1 &', "sh", str(self.scratch)], check=True
        )

    def kill(self) -> None:
        """End the server and every child at once, as a crash would; the mail stays for `launch`."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        if process.stderr:
            process.stderr.close()

    @property
    def certificate(self) -> Path:
        """The server's self-signed certificate, for an SSL context that trusts it."""
        return self.scratch / "cert.pem"

    def log(self) -> str:
        """The server's log so far (for failure messages)."""
        path = self.scratch / "log"
        return path.read_text(errors="replace") if path.exists() else ""

    def add_user(self, name: str, password: str) -> None:
        """Create an account (a password file of its own, so no file is reread too soon)."""
        assert re.fullmatch(r"[a-z0-9]+", name), name
        self.users[name] = password
        (self.scratch / "users" / name).write_text(f"{name}:{{PLAIN}}{password}::::::\n")

    @contextlib.contextmanager
    def connect(self, user: str) -> Iterator[imaplib.IMAP4]:
        """A logged-in client for *user*, to set up mail the way another mail client would."""
        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            conn.login(user, self.users[user])
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.logout()

    def append(self, user: str, folder: str, messages: Iterable[bytes], flags: str = "") -> None:
        """Append each raw message to *folder* (an ASCII name) with *flags* such as ``\\Seen``."""
        with self.connect(user) as conn:
            for raw in messages:
                typ, data = conn.append(_quote(folder), f"({flags})" if flags else None, None, raw)
                assert typ == "OK", data

    def flags(self, user: str, folder: str) -> dict[int, frozenset[str]]:
        """Every message's flags in *folder*, by UID, as another client would see them."""
        with self.connect(user) as conn:
            conn.select(_quote(folder), readonly=True)
            typ, data = conn.uid("FETCH", "1:*", "(UID FLAGS)")
            assert typ == "OK", data
        result: dict[int, frozenset[str]] = {}
        for line in data:
            if not isinstance(line, bytes):
                continue
            match = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)|FLAGS \(([^)]*)\) UID (\d+)", line)
            assert match, line
            uid = int(match[1] or match[4])
            result[uid] = frozenset((match[2] or match[3] or b"").decode().split())
        return result


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class CuttingProxy:
    """A loopback TCP proxy in front of a server that can drop its connections on demand.

    ``cut_during(marker, after_bytes)`` arms it: once a client sends a command containing
    *marker*, the connection is closed after *after_bytes* more bytes of the server's answer,
    which is how a network failure in the middle of a reply looks to the client.
    ``drop_all()`` closes every open connection at once, like a server restart.
    """

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.host = "127.0.0.1"
        self.port = int(self.listener.getsockname()[1])
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._marker: bytes | None = None
        self._after = 0
        self.cuts = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_during(self, marker: bytes, after_bytes: int) -> None:
        """Cut the next connection that sends *marker*, *after_bytes* into the reply."""
        with self._lock:
            self._marker, self._after = marker, after_bytes

    def drop_all(self) -> None:
        """Close every connection passing through now."""
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            _close(conn)

    def close(self) -> None:
        """Stop accepting and drop every connection."""
        self._closed = True
        _close(self.listener)
        self.drop_all()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._open += [client, server]
            cut = threading.Event()
            for ends in ((client, server, cut, True), (server, client, cut, False)):
                threading.Thread(target=self._pump, args=ends, daemon=True).start()

    def _pump(
        self, source: socket.socket, target: socket.socket, cut: threading.Event, up: bool
    ) -> None:
        """Copy one direction; upwards watch for the marker, downwards spend the budget."""
        budget: int | None = None
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            if up:
                with self._lock:
                    if self._marker is not None and self._marker in data:
                        self._marker = None
                        cut.set()
            elif cut.is_set():
                budget = self._after if budget is None else budget
                data = data[:budget]
                budget -= len(data)
            try:
                target.sendall(data)
            except OSError:
                break
            if budget is not None and budget <= 0:
                self.cuts += 1
                break
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
