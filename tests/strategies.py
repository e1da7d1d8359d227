"""Hypothesis strategies shared by the test modules.

Each section belongs to one area; add to the section of the area you test.
"""

from __future__ import annotations

from hypothesis import strategies as st

# --- Addresses -----------------------------------------------------------------------------

# --- Messages ------------------------------------------------------------------------------

# --- Policies and mailboxes ----------------------------------------------------------------

# --- Contacts ------------------------------------------------------------------------------

__all__ = ["st"]
