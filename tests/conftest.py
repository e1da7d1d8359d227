"""Test-wide settings: deterministic Hypothesis, no network for any test, and each store kind."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.vendor import pretty
from hypothesis.vendor.pretty import RepresentationPrinter

from mailbind import Policy
from mailbind.providers import bundled_free_providers, bundled_role_addresses
from mailbind.stores import Store
from mailbind.stores.sqlite import SQLiteStore
from mailbind.testing import InMemoryStore

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    parent=settings.get_profile("default"),
    derandomize=True,
    print_blob=True,
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


def _pretty_policy(policy: Policy, printer: RepresentationPrinter, cycle: bool) -> None:
    """Print a policy as its repr does, without the bundled free-provider and role lists.

    Those lists are most of a policy's repr (about 50 kB), so a failing example holding a policy
    would print a page of domains that no reader needs, and Hypothesis warns of the size
    (the suite turns warnings into errors). A list that differs from the bundled one is shown.
    """
    bundled = {
        "free_providers": bundled_free_providers(),
        "role_addresses": bundled_role_addresses(),
    }
    shown = [
        f"{f.name}={getattr(policy, f.name)!r}"
        for f in dataclasses.fields(policy)
        if f.repr and bundled.get(f.name) != getattr(policy, f.name)
    ]
    printer.text(f"Policy({', '.join(shown)})")


pretty.for_type_by_name(Policy.__module__, Policy.__qualname__, _pretty_policy)


def _is_loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    # Unix sockets are local.
    return isinstance(address, str | bytes)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every connection that leaves the machine: no test may use the network."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise OSError(f"tests may not use the network (tried {address!r})")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise OSError(f"tests may not use the network (tried {address!r})")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each store kind, empty."""
    if request.param == "memory":
        yield InMemoryStore()
        return
    db = SQLiteStore(tmp_path / "mail.sqlite")
    yield db
    db.close()


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A real PostgreSQL server for the session, on a loopback port in a scratch folder.

    Skips (naming what is missing and how to install it) when it cannot be started; under
    CI=true that skip is a failure, since CI must run the PostgreSQL tests.
    """
    from .postgres import Postgres, unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        if _in_ci():
            pytest.fail(f"{reason} (CI must run the PostgreSQL tests)", pytrace=False)
        pytest.skip(reason)
    server = Postgres.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def radicale() -> Iterator[Any]:
    """A real Radicale CalDAV server for the session, on a loopback port in a scratch folder.

    Skips (naming what is missing and how to install it) when it cannot be started; under
    CI=true that skip is a failure, since CI must run the CalDAV tests.
    """
    from .radicale import Radicale, unavailable_reason

    reason = unavailable_reason()
    if reason is not None:
        if _in_ci():
            pytest.fail(f"{reason} (CI must run the CalDAV tests)", pytrace=False)
        pytest.skip(reason)
    server = Radicale.start()
    try:
        yield server
    finally:
        server.stop()
