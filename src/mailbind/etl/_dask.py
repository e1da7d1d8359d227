"""Backfills on Dask: one task per partition, the snapshot sent once to every worker.

Invariants:
- Dask is imported when a Dask backfill starts, never when `mailbind.etl` is imported.
- The snapshot is scattered to every worker once (or is one shared task without a cluster);
  tasks refer to it, so it is never pickled into each task.
- Each partition's results are written by the worker that made them; only a small
  `PartReport` per partition comes back to the client.
"""

from __future__ import annotations

import importlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ._files import _FORMATS, MANIFEST, _format, _optional, write_results
from ._partition import Item, Result, run_local
from ._snapshot import Snapshot

if TYPE_CHECKING:
    from dask.bag import Bag

__all__ = ["DEFAULT_BLOCKSIZE", "BackfillReport", "PartReport", "backfill_dask", "to_dask_bag"]

#: The Dask partition size used for JSON lines files when none is given.
DEFAULT_BLOCKSIZE = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class PartReport:
    """What one partition of a backfill wrote."""

    #: The file's name inside the output folder.
    path: str
    results: int
    synced: int
    #: Results with a `Problem` (no mailbox, an unknown one).
    problems: int


@dataclass(frozen=True, slots=True)
class BackfillReport:
    """What a backfill wrote: one part per partition, in order."""

    out_dir: str
    format: str
    parts: tuple[PartReport, ...]

    @property
    def results(self) -> int:
        """Results written, one per message and mailbox."""
        return sum(part.results for part in self.parts)

    @property
    def synced(self) -> int:
        """Results whose message syncs into its mailbox."""
        return sum(part.synced for part in self.parts)

    @property
    def problems(self) -> int:
        """Results with a `Problem`."""
        return sum(part.problems for part in self.parts)


def _write_part(items: Iterable[Item], snapshot: Snapshot, path: str, fmt: str) -> PartReport:
    """Process one partition and write its results to *path*: the task each worker runs."""
    synced = problems = 0

    def counted() -> Iterator[Result]:
        nonlocal synced, problems
        for result in run_local(items, snapshot):
            synced += result["synced"]
            problems += result["problem"] is not None
            yield result

    count = write_results(counted(), path, fmt)
    return PartReport(Path(path).name, count, synced, problems)


def _dask() -> Any:
    return _optional("dask", "bag", "Backfills on Dask need", "'mailbind[dask]'")


def to_dask_bag(
    source: Bag | str | os.PathLike[str] | Iterable[Any],
    *,
    blocksize: int | str | None = DEFAULT_BLOCKSIZE,
    npartitions: int | None = None,
) -> Bag:
    """A Dask bag of backfill items from *source*.

    A path, or a list of paths and glob patterns, reads JSON lines files in blocks of
    *blocksize* bytes, each line one item naming its mailboxes. A bag is returned as it is.
    Any other iterable of items (`RawMessage` values, records) is split into *npartitions*
    partitions (about 100 items each when not given); JSON lines held in memory go in a bag
    made by the caller (``dask.bag.from_sequence(lines)``), since a list of strings is read as
    a list of paths.
    """
    dask = _dask()
    bag_module = dask.bag
    if isinstance(source, bag_module.Bag):
        return cast("Bag", source)
    if isinstance(source, str | os.PathLike):
        source = [source]
    items = list(source)
    if items and all(isinstance(item, str | os.PathLike) for item in items):
        paths = [os.fspath(item) for item in items]
        bag = bag_module.read_text(paths, blocksize=blocksize, encoding="utf-8")
    elif npartitions is None:
        bag = bag_module.from_sequence(items, partition_size=100)
    else:
        bag = bag_module.from_sequence(items, npartitions=npartitions)
    return cast("Bag", bag)


def _snapshot_handle(dask: Any, snapshot: Snapshot, client: Any) -> Any:
    """*snapshot* as tasks refer to it: sent once to every worker, never once per task."""
    if client is not None:
        return client.scatter(snapshot, broadcast=True, hash=False)
    # One key in the graph that every task depends on; named, so Dask does not hash it.
    return dask.delayed(snapshot, name=f"mailbind-snapshot-{uuid.uuid4().hex}", traverse=False)


def _default_client() -> Any:
    """The current `distributed` client, or None."""
    try:
        distributed = importlib.import_module("distributed")
    except ImportError:
        return None
    try:
        return distributed.default_client()
    except ValueError:
        return None


def backfill_dask(
    source: Bag | str | os.PathLike[str] | Iterable[Any],
    snapshot: Snapshot,
    out_dir: str | os.PathLike[str],
    *,
    client: Any = None,
    format: str = "jsonl",
    blocksize: int | str | None = DEFAULT_BLOCKSIZE,
) -> BackfillReport:
    """Run a backfill on Dask: every partition of *source* to one result file in *out_dir*.

    *source* is what `to_dask_bag` takes. The snapshot is scattered to every worker once
    (*client*, or the current `distributed` client; without one, Dask's default scheduler runs
    it as one shared task). Each worker writes its partitions' results to
    ``part-NNNNN.jsonl`` (or ``.parquet``); only the small `PartReport` of each comes back.
    The manifest is written last, so `read_results` reads only a finished backfill, in the
    order of the input. Results of an earlier backfill in *out_dir* are replaced.
    """
    fmt = _format(format)
    dask = _dask()
    bag = to_dask_bag(source, blocksize=blocksize)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)
    if client is None:
        client = _default_client()
    handle = _snapshot_handle(dask, snapshot, client)
    write = dask.delayed(_write_part, pure=False)
    tasks = [
        write(part, handle, str(folder / f"part-{number:05d}{_FORMATS[fmt]}"), fmt)
        for number, part in enumerate(cast(Any, bag).to_delayed())
    ]
    if client is None:
        parts = dask.compute(*tasks)
    else:
        try:
            parts = client.gather(client.compute(tasks))
        finally:
            handle.release()
    report = BackfillReport(str(folder), fmt, tuple(parts))
    written = {part.path for part in report.parts}
    for stale in folder.glob("part-*"):
        if stale.name not in written:
            stale.unlink()
    manifest = {
        "format": fmt,
        "snapshot": snapshot.version,
        "parts": [
            {"path": p.path, "results": p.results, "synced": p.synced, "problems": p.problems}
            for p in report.parts
        ],
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return report
