"""A database written by an earlier release opens, migrates and reads as before."""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

from mailbind.cli import main
from mailbind.stores.sqlite import SCHEMA_VERSION, SQLiteStore
from mailbind.testing.store_contract import reads

FIXTURES = Path(__file__).parent / "fixtures"


def test_a_schema_3_database_migrates_and_reads_as_a_fresh_sync(tmp_path: Path) -> None:
    """The committed schema-3 database (the sample, synced by release 0.1.0.dev0) opens at the
    current schema, keeps every message, copy, contact and state, and reads exactly as the same
    sample synced into a new database."""
    old = tmp_path / "old.sqlite"
    shutil.copyfile(FIXTURES / "schema-v3-sample.sqlite", old)
    with SQLiteStore(old) as store:
        versions = store._db.execute("SELECT version FROM mailbind_schema ORDER BY 1").fetchall()
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
        assert store.workspaces() == ("default",)
        assert [m.id for m in store.mailboxes()] == [
            "maria.lopez@acme.example",
            "tom.baker@acme.example",
        ]
        assert len(store.contact_index()) == 12
        assert store.load_state("maria.lopez@acme.example").cursor is not None
        migrated = reads(store)
    new = tmp_path / "new.sqlite"
    sample = files("mailbind") / "data"
    assert sample.is_dir()
    assert main(["sync", "--sample", "--db", str(new), "--quiet"]) == 0
    with SQLiteStore(new) as store:
        assert reads(store) == migrated


def test_a_migrated_database_syncs_on_with_nothing_new(tmp_path: Path) -> None:
    """After the migration, the next sync of the same mail finds nothing new and records the
    settings it runs under."""
    old = tmp_path / "old.sqlite"
    shutil.copyfile(FIXTURES / "schema-v3-sample.sqlite", old)
    assert main(["sync", "--sample", "--db", str(old), "--quiet"]) == 0
    with SQLiteStore(old) as store:
        assert store.recorded_policy() is not None
        assert len(store.contact_index()) == 12
