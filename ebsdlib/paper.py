"""The paper's reported numbers (``data/paper.yml``), for tables that show them beside ours."""

from __future__ import annotations

from functools import lru_cache

import yaml

from .paths import DATA_DIR

__all__ = ["paper_values"]


@lru_cache(maxsize=1)
def paper_values() -> dict:
    """Everything Kaufmann et al. (2021) report that the book compares with, as a nested dict."""
    return yaml.safe_load((DATA_DIR / "paper.yml").read_text())
