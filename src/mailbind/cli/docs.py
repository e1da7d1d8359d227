"""``mailbind docs [PAGE]``: a page of the documentation as installed with the package.

Invariants:
- Pages are read through `importlib.resources` from ``mailbind/docs`` (the wheel holds the
  ``docs/`` folder there); from a source checkout, the checkout's ``docs/`` is read instead.
- An unknown page is a usage mistake naming the pages there are.
"""

from __future__ import annotations

import argparse
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TextIO

from .exits import ExitCode, Failure

__all__ = ["pages", "run"]


def _folder() -> Traversable | None:
    installed = files("mailbind").joinpath("docs")
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parents[3] / "docs"
    return checkout if checkout.is_dir() else None


def pages() -> dict[str, Traversable]:
    """Each installed page by its name (``cli`` for ``cli.md``)."""
    folder = _folder()
    if folder is None:
        return {}
    return {
        entry.name.removesuffix(".md"): entry
        for entry in folder.iterdir()
        if entry.name.endswith(".md")
    }


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Print the page; the exit code."""
    found = pages()
    page = found.get(args.page.removesuffix(".md"))
    if page is None:
        names = ", ".join(sorted(found)) or "none (this installation has no docs)"
        raise Failure(ExitCode.USAGE, f"No page {args.page!r}; the pages are: {names}.")
    out.write(page.read_text(encoding="utf-8"))
    return ExitCode.OK
