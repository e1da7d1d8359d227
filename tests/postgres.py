"""A real PostgreSQL server for tests, started from a scratch folder on a loopback port.

Invariants:
- Nothing outside the scratch folder is read or written: ``initdb`` makes a new cluster there,
  the server keeps its socket, its log and its data there, and ``stop`` removes it all.
- The server listens on 127.0.0.1 only, on a free port, trusting local connections (the test
  user has no password); fsync is off, since test data need not survive a power cut.
- PostgreSQL refuses to run as root: as root the cluster belongs to ``nobody`` and the
  commands run through ``runuser``; the scratch folder is handed to that user.
- ``start`` returns once the server accepts connections; ``stop`` stops it (``immediate``) and
  removes the scratch folder. (pg_ctl detaches the server, so a test run killed half way can
  leave one behind in ``/tmp/mbpg-*``; ``pg_ctl -D /tmp/mbpg-*/data stop`` ends it.)

The binaries are found by ``pg_config --bindir``, then Debian's ``/usr/lib/postgresql/*/bin``,
then PATH.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Postgres", "bindir", "unavailable_reason"]


def bindir() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    candidates: list[Path] = []
    config = shutil.which("pg_config")
    if config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            candidates.append(Path(out))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def unavailable_reason() -> str | None:
    """Why a PostgreSQL server cannot be started here, or None when it can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return (
            "psycopg is not installed (pip install 'mailbind[postgres]'); "
            "the PostgreSQL tests need it"
        )
    if bindir() is None:
        how = (
            "apt-get install postgresql"
            if shutil.which("apt-get")
            else "no Debian package manager here"
        )
        return (
            "PostgreSQL's initdb, pg_ctl and postgres were not found (pg_config --bindir, "
            f"/usr/lib/postgresql/*/bin, PATH) ({how}); the PostgreSQL tests need a real server"
        )
    if os.getuid() == 0 and not shutil.which("runuser"):
        return "running as root without runuser: PostgreSQL refuses to run as root"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    """*command* run as the user who owns the cluster: ``nobody`` as root, else ourselves."""
    if os.getuid() == 0:
        return ["runuser", "-u", "nobody", "--", *command]
    return command


@dataclass
class Postgres:
    """A running PostgreSQL server in a scratch folder."""

    scratch: Path
    bindir: Path
    port: int
    user: str = "mailbind"
    host: str = "127.0.0.1"

    @classmethod
    def start(cls) -> Postgres:
        """Make a cluster in a new scratch folder and start a server on it."""
        tools = bindir()
        if tools is None:
            raise RuntimeError(unavailable_reason())
        scratch = Path(tempfile.mkdtemp(prefix="mbpg-"))
        if os.getuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(scratch, nobody.pw_uid, nobody.pw_gid)
        scratch.chmod(0o700)
        server = cls(scratch, tools, _free_port())
        data = scratch / "data"
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        env.pop("PGPASSWORD", None)
        subprocess.run(
            _as_server_user(
                [
                    str(tools / "initdb"),
                    *("-D", str(data), "-U", server.user, "-A", "trust", "-E", "UTF8"),
                    *("--locale=C", "--no-sync", "--no-instructions"),
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
            env=env,
            cwd=scratch,
        )
        options = (
            f"-p {server.port} -k {scratch} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        subprocess.run(
            _as_server_user(
                [
                    str(tools / "pg_ctl"),
                    *("-D", str(data), "-l", str(scratch / "log"), "-o", options),
                    *("-w", "-t", "60", "start"),
                ]
            ),
            check=True,
            capture_output=True,
            timeout=90,
            env=env,
            cwd=scratch,
        )
        return server

    @property
    def conninfo(self) -> str:
        """A connection string for the server's ``postgres`` database."""
        return self.conninfo_for("postgres")

    def conninfo_for(self, dbname: str) -> str:
        """A connection string for *dbname* on this server."""
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def url(self, dbname: str) -> str:
        """A ``postgresql://`` URL for *dbname* (no password: the server trusts local users)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create an empty database *name*; its connection string."""
        import psycopg

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.conninfo_for(name)

    def stop(self) -> None:
        """Stop the server and remove its scratch folder."""
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(
                _as_server_user(
                    [
                        str(self.bindir / "pg_ctl"),
                        "-D",
                        str(self.scratch / "data"),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ]
                ),
                capture_output=True,
                timeout=60,
                cwd=self.scratch,
            )
        for _ in range(50):
            if not (self.scratch / "data" / "postmaster.pid").exists():
                break
            time.sleep(0.1)
        with contextlib.suppress(OSError):
            shutil.copy(self.scratch / "log", "/tmp/h2-pglog-last")
        shutil.rmtree(self.scratch, ignore_errors=True)
