"""A real Radicale CalDAV server for tests, started from a scratch folder on a loopback port.

Invariants:
- Nothing outside the scratch folder is read or written: Radicale keeps its collections there,
  with no configuration file read (``--config ''``), and ``stop`` removes it all.
- The server listens on 127.0.0.1 only, on a free port, with no authentication (any user name
  is accepted; each user owns the collections under its name).
- ``start`` returns once the server answers; ``stop`` ends the process and waits for it.
- The helpers here write to the server (MKCALENDAR, PUT, DELETE) as a calendar program would;
  the source under test only reads.
"""

from __future__ import annotations

import base64
import http.client
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Radicale", "unavailable_reason"]


def unavailable_reason() -> str | None:
    """Why a Radicale server cannot be started here, or None when it can."""
    try:
        import radicale  # noqa: F401
    except ImportError:
        return (
            "Radicale is not installed (pip install 'mailbind[test]' or pip install radicale); "
            "the CalDAV tests need a real server"
        )
    try:
        import icalendar  # noqa: F401
    except ImportError:
        return "icalendar is not installed (pip install 'mailbind[ical]'); the CalDAV tests need it"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Radicale:
    """A running Radicale server in a scratch folder."""

    scratch: Path
    port: int
    process: subprocess.Popen[bytes]
    host: str = "127.0.0.1"

    @classmethod
    def start(cls) -> Radicale:
        """Start a server on a new scratch folder and wait until it answers."""
        scratch = Path(tempfile.mkdtemp(prefix="mbradicale-"))
        port = _free_port()
        with (scratch / "log").open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    *("-m", "radicale", "--config", ""),
                    *("--server-hosts", f"127.0.0.1:{port}"),
                    *("--storage-filesystem-folder", str(scratch / "collections")),
                    *("--auth-type", "none", "--rights-type", "owner_only"),
                    *("--logging-level", "warning"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        server = cls(scratch, port, process)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                text = (scratch / "log").read_text(errors="replace")[-2000:]
                shutil.rmtree(scratch, ignore_errors=True)
                raise RuntimeError(f"Radicale exited at start: {text}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return server
            except OSError:
                time.sleep(0.1)
        server.stop()
        raise RuntimeError("Radicale did not answer within 30 seconds")

    def stop(self) -> None:
        """Stop the server and remove its scratch folder."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.scratch, ignore_errors=True)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def request(
        self, method: str, path: str, body: bytes = b"", user: str = "anna", **headers: str
    ) -> tuple[int, bytes]:
        """One request as *user*; (status, body)."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        token = base64.b64encode(f"{user}:x".encode()).decode("ascii")
        try:
            connection.request(
                method, path, body=body, headers={"Authorization": f"Basic {token}", **headers}
            )
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def calendar(self, path: str, user: str = "anna") -> str:
        """Make the calendar collection *path* (``/anna/work/``); its URL."""
        status, _ = self.request("MKCALENDAR", path, user=user)
        if status not in (201, 405):
            raise RuntimeError(f"MKCALENDAR {path} answered {status}")
        return self.base + path

    def put(self, path: str, text: str, user: str = "anna") -> None:
        """Store one calendar object at *path*."""
        status, body = self.request(
            "PUT", path, text.encode("utf-8"), user=user, **{"Content-Type": "text/calendar"}
        )
        if status not in (201, 204):
            raise RuntimeError(f"PUT {path} answered {status}: {body[:200]!r}")

    def delete(self, path: str, user: str = "anna") -> None:
        """Delete one calendar object."""
        status, _ = self.request("DELETE", path, user=user)
        if status not in (200, 204):
            raise RuntimeError(f"DELETE {path} answered {status}")
