"""Tests for the Spark recipe of docs/scale.md: ``mapPartitions`` over the same functions.

Runs only where ``pyspark`` and a Java runtime are installed; default CI has neither (pyspark is
a 450 MB download), so there these tests are skipped with that reason.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailbind.etl import read_results, run_local

from .test_etl import corpus, corpus_snapshot

pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (not in default CI).")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs a Java runtime, and none is installed.", allow_module_level=True)

ITEMS = [item for item in corpus(2000, seed=17) if isinstance(item, str)]
SNAPSHOT = corpus_snapshot()


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local Spark session of two cores, bound to loopback, without its web UI.

    Its Python workers run this interpreter (``PYSPARK_PYTHON``), which has mailbind installed.
    """
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYSPARK_PYTHON", sys.executable)
        patch.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
        session = (
            SparkSession.builder.master("local[2]")
            .appName("mailbind-etl-test")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.local.dir", str(tmp_path_factory.mktemp("spark")))
            .getOrCreate()
        )
        yield session
        session.stop()


def test_map_partitions_gives_the_single_process_results(spark: Any) -> None:
    """The documented recipe: broadcast the snapshot, map each partition with `run_local`."""
    context = spark.sparkContext
    snapshot = context.broadcast(SNAPSHOT)
    lines = context.parallelize(ITEMS, 7)
    results = lines.mapPartitions(lambda part: run_local(part, snapshot.value)).collect()
    assert results == list(run_local(ITEMS, SNAPSHOT))


def test_results_saved_as_text_read_back_equal(spark: Any, tmp_path: Path) -> None:
    """Results written by Spark as JSON lines read back as the single-process results."""
    context = spark.sparkContext
    snapshot = context.broadcast(SNAPSHOT)
    out = tmp_path / "out"
    (
        context.parallelize(ITEMS, 5)
        .mapPartitions(lambda part: run_local(part, snapshot.value))
        .map(lambda result: json.dumps(result, ensure_ascii=False))
        .saveAsTextFile(str(out))
    )
    got = [r for part in sorted(out.glob("part-*")) for r in read_results(part)]
    assert got == list(run_local(ITEMS, SNAPSHOT))
