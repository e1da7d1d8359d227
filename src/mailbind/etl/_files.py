"""Result files: JSON lines or Parquet, each written whole or not at all, and read back.

Invariants:
- A result file appears whole or not at all: it is written beside its name and renamed into
  place, so an engine that retries a task leaves one complete file.
- A backfill's folder is finished when its manifest exists; the manifest, written last, names
  the parts in the order of the input.
- Results read back equal the results written, in both formats.
- pyarrow is imported only when Parquet is asked for.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ._partition import RESULT_FIELDS, Result
from ._snapshot import BackfillError

__all__ = ["MANIFEST", "read_results", "write_results"]

#: The file a finished backfill writes last into its output folder, naming its parts in order.
MANIFEST = "_manifest.json"

_FORMATS = {"jsonl": ".jsonl", "parquet": ".parquet"}


def _format(value: str) -> str:
    if value not in _FORMATS:
        raise BackfillError(f"The result format must be 'jsonl' or 'parquet', not {value!r}.")
    if value == "parquet":
        _pyarrow()
    return value


def _optional(name: str, submodule: str, needs: str, install: str) -> Any:
    """The optional package *name*, with its *submodule* loaded; else what installs it."""
    try:
        module = importlib.import_module(name)
        importlib.import_module(f"{name}.{submodule}")
    except ImportError as err:
        raise ImportError(f"{needs} the optional {name!r} package: pip install {install}.") from err
    return module


def _pyarrow() -> Any:
    return _optional("pyarrow", "parquet", "Writing Parquet needs", "pyarrow")


def _arrow_schema(pa: Any) -> Any:
    text, texts = pa.string(), pa.list_(pa.string())
    link = pa.struct([("position", pa.int32()), ("key", pa.string()), ("contact_id", pa.string())])
    types = {"synced": pa.bool_(), "reasons": texts, "defects": texts, "links": pa.list_(link)}
    return pa.schema([(name, types.get(name, text)) for name in RESULT_FIELDS])


_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _utf8(chunk: list[Result]) -> list[Result]:
    """*chunk* with every lone surrogate (text that is not Unicode) written as its escape.

    Parquet holds UTF-8 only. In the view, which is JSON text, the escape means the same
    character, so nothing changes; elsewhere the escape stands in its place as text.
    """
    fixed = []
    for result in chunk:
        result = dict(result)
        for name in ("mailbox", "key", "message_id", "location"):
            value = result[name]
            if isinstance(value, str):
                result[name] = _SURROGATE.sub(_escape, value)
        if result["view"] is not None:
            result["view"] = _SURROGATE.sub(_escape, result["view"])
        fixed.append(result)
    return fixed


def _chunks(results: Iterable[Result], size: int) -> Iterator[list[Result]]:
    chunk: list[Result] = []
    for result in results:
        chunk.append(result)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def write_results(
    results: Iterable[Result], path: str | os.PathLike[str], fmt: str = "jsonl"
) -> int:
    """Write *results* to the file *path* as JSON lines or Parquet (*fmt*); returns how many.

    The file appears whole or not at all: it is written beside *path* and renamed into place.
    JSON lines are UTF-8; a lone surrogate in mail text is written as its ``\\uXXXX`` escape.
    Parquet needs the optional ``pyarrow`` package.
    """
    fmt = _format(fmt)
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    count = 0
    try:
        if fmt == "jsonl":
            dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
            with open(temporary, "w", encoding="utf-8", errors="backslashreplace") as file:
                for result in results:
                    file.write(dumps(result))
                    file.write("\n")
                    count += 1
        else:
            pa = _pyarrow()
            schema = _arrow_schema(pa)
            with pa.parquet.ParquetWriter(temporary, schema) as writer:
                for chunk in _chunks(results, 10_000):
                    try:
                        table = pa.Table.from_pylist(chunk, schema=schema)
                    except UnicodeEncodeError:
                        table = pa.Table.from_pylist(_utf8(chunk), schema=schema)
                    writer.write_table(table)
                    count += len(chunk)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return count


def _read_file(path: Path) -> Iterator[Result]:
    if path.suffix == ".parquet":
        pa = _pyarrow()
        for batch in pa.parquet.ParquetFile(path).iter_batches():
            yield from batch.to_pylist()
        return
    with open(path, encoding="utf-8") as file:
        for line in file:
            if line.strip():
                yield json.loads(line)


def read_results(path: str | os.PathLike[str]) -> Iterator[Result]:
    """The results in a file `write_results` wrote, or in a finished backfill's folder.

    A folder is read part by part in the order of its manifest, so the results come in the
    order of the input. A folder without a manifest (a backfill that did not finish) is a
    `BackfillError`.
    """
    where = Path(path)
    if not where.is_dir():
        yield from _read_file(where)
        return
    try:
        manifest = json.loads((where / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackfillError(
            f"The folder {str(where)!r} holds no {MANIFEST}: its backfill did not finish."
        ) from None
    for part in manifest["parts"]:
        yield from _read_file(where / part["path"])
