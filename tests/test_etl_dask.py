"""Tests for mailbind.etl on Dask: a two-worker cluster gives exactly the single-process results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailbind.etl import MANIFEST, RawMessage, backfill_dask, read_results, run_local, to_dask_bag

from .test_etl import corpus, corpus_snapshot

dask = pytest.importorskip(
    "dask", reason="Dask is not installed (pip install 'mailbind[dask]'); CI installs it."
)
distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed.")

ITEMS = corpus(3000, seed=11)
SNAPSHOT = corpus_snapshot()
EXPECTED = list(run_local(ITEMS, SNAPSHOT))


def ordered(results: list[dict[str, Any]]) -> list[str]:
    """The results as sorted JSON text: equal for equal results, whatever their order."""
    return sorted(json.dumps(r, sort_keys=True) for r in results)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A client of a local cluster: two worker processes of one thread, loopback only.

    The dashboard is off; the scheduler's remaining HTTP endpoint takes a free loopback port
    rather than 8787, which another cluster on the machine may hold.
    """
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        local_directory=str(tmp_path_factory.mktemp("dask")),
    )
    with cluster, distributed.Client(cluster, set_as_default=False) as connected:
        yield connected


def test_two_workers_give_the_single_process_results(client: Any, tmp_path: Path) -> None:
    """Items of every shape, over two worker processes, give exactly the one-process results."""
    bag = to_dask_bag(ITEMS, npartitions=9)
    report = backfill_dask(bag, SNAPSHOT, tmp_path, client=client)
    got = list(read_results(tmp_path))
    assert ordered(got) == ordered(EXPECTED)
    assert got == EXPECTED  # and in the same order: partitions keep the order of the input
    assert (len(report.parts), report.results) == (bag.npartitions, len(EXPECTED))
    assert report.synced == sum(r["synced"] for r in EXPECTED)
    assert report.problems == sum(r["problem"] is not None for r in EXPECTED)


def test_json_lines_files_are_read_in_blocks(client: Any, tmp_path: Path) -> None:
    """JSON lines files split into blocks on the workers give the one-process results."""
    lines = [item for item in ITEMS if isinstance(item, str)]
    archive = tmp_path / "archive"
    archive.mkdir()
    for n in range(3):
        chunk = lines[n::3]
        (archive / f"mail-{n}.jsonl").write_text("\n".join(chunk) + "\n", encoding="utf-8")
    expected = [
        result
        for n in range(3)
        for result in run_local(
            (archive / f"mail-{n}.jsonl").read_text(encoding="utf-8").splitlines(), SNAPSHOT
        )
    ]
    out = tmp_path / "out"
    report = backfill_dask(
        str(archive / "mail-*.jsonl"), SNAPSHOT, out, client=client, blocksize=64 * 1024
    )
    assert len(report.parts) > 3
    assert list(read_results(out)) == expected


def test_a_second_backfill_replaces_the_first(client: Any, tmp_path: Path) -> None:
    """Back-filling into a used folder leaves only the new parts, named in the manifest."""
    backfill_dask(to_dask_bag(ITEMS, npartitions=6), SNAPSHOT, tmp_path, client=client)
    backfill_dask(to_dask_bag(ITEMS[:500], npartitions=2), SNAPSHOT, tmp_path, client=client)
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert [part["path"] for part in manifest["parts"]] == ["part-00000.jsonl", "part-00001.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [MANIFEST, "part-00000.jsonl", "part-00001.jsonl"]
    )
    assert list(read_results(tmp_path)) == list(run_local(ITEMS[:500], SNAPSHOT))


def test_parquet_parts_give_the_same_results(client: Any, tmp_path: Path) -> None:
    """With pyarrow installed, Parquet parts read back as the one-process results."""
    pytest.importorskip("pyarrow")
    report = backfill_dask(
        to_dask_bag(ITEMS, npartitions=4), SNAPSHOT, tmp_path, client=client, format="parquet"
    )
    assert report.parts[0].path == "part-00000.parquet"
    assert list(read_results(tmp_path)) == EXPECTED


def test_without_a_cluster_the_default_scheduler_runs_it(tmp_path: Path) -> None:
    """With no distributed client, Dask's own scheduler runs the same tasks to the same files."""
    with dask.config.set(scheduler="threads"):
        backfill_dask(to_dask_bag(ITEMS[:800], npartitions=3), SNAPSHOT, tmp_path)
    assert list(read_results(tmp_path)) == list(run_local(ITEMS[:800], SNAPSHOT))


def test_one_bad_item_is_reported_and_the_rest_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An item of no known kind, and one whose reading fails, each give one result with its
    problem; every other item of the backfill gives its results."""
    import mailbind.etl._partition as partition

    reading = partition._read

    def failing(item: Any, limits: Any) -> Any:
        if isinstance(item, RawMessage) and item.location == "boom":
            raise RuntimeError("a fault")
        return reading(item, limits)

    monkeypatch.setattr(partition, "_read", failing)
    good = ITEMS[:40]
    odd: list[Any] = [*good[:20], 7, RawMessage("anna@acme.com", b"x", "boom"), *good[20:]]
    with dask.config.set(scheduler="threads"):
        report = backfill_dask(to_dask_bag(odd, npartitions=3), SNAPSHOT, tmp_path)
    got = list(read_results(tmp_path))
    bad = ("bad_item", "failed")
    problems = [(r["problem"], r["location"]) for r in got if r["problem"] in bad]
    assert problems == [("bad_item", ""), ("failed", "boom")]
    assert [r for r in got if r["problem"] not in bad] == list(run_local(good, SNAPSHOT))
    assert report.results == len(got)
