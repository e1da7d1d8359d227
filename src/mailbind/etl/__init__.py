"""Backfills beyond one machine: the rules over partitions of archived mail, on Dask or Spark.

A backfill maps partitions of raw messages (RFC 5322 bytes, JSON lines or their decoded
records) to results: per message and mailbox, the decision, the message key, the participant
links and the redacted view. `process_partition` is that map; `run_local` runs it in one
process, `backfill_dask` on a Dask cluster, and a Spark job runs it with ``mapPartitions``
(docs/scale.md).

Invariants:
- One function serves every engine, so a cluster gives exactly the results of one process.
- The functions read no clock, no environment and no file; what they need travels in a
  `Snapshot`, which pickles compactly so an engine ships it to each worker once.
- Results are plain JSON values, written per partition as JSON lines or Parquet, each file
  whole or not at all, with a manifest written last.
- Importing this package imports neither Dask nor pyarrow.
"""

from __future__ import annotations

from ._dask import DEFAULT_BLOCKSIZE, BackfillReport, PartReport, backfill_dask, to_dask_bag
from ._files import MANIFEST, read_results, write_results
from ._partition import (
    RESULT_FIELDS,
    Item,
    Problem,
    RawMessage,
    Result,
    batch_item,
    process_partition,
    run_local,
)
from ._snapshot import BackfillError, Snapshot, View

__all__ = [
    "DEFAULT_BLOCKSIZE",
    "MANIFEST",
    "RESULT_FIELDS",
    "BackfillError",
    "BackfillReport",
    "Item",
    "PartReport",
    "Problem",
    "RawMessage",
    "Result",
    "Snapshot",
    "View",
    "backfill_dask",
    "batch_item",
    "process_partition",
    "read_results",
    "run_local",
    "to_dask_bag",
    "write_results",
]
