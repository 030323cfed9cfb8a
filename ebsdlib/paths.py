"""Every path of the project: the package's own data (installed with it, read through ``importlib.resources``),
and the book's folders resolved from the repository root (no ``os.chdir``, no ``../``)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["REPO_ROOT", "DATA_DIR", "BOOK_DIR", "PROFILES_DIR", "BUILD_DIR", "cache_dir"]

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(str(resources.files("ebsdlib") / "data"))  # materials.yml, paper.yml, settings.yml
BOOK_DIR = REPO_ROOT / "book"
PROFILES_DIR = Path(os.environ.get("EBSDLIB_PROFILES") or BOOK_DIR / "profiles")  # $EBSDLIB_PROFILES: a folder of your own
BUILD_DIR = REPO_ROOT / "_build"


def cache_dir() -> Path:
    """Folder of the generated-data cache.

    ``$EBSDLIB_CACHE`` when set, else ``<repository>/.cache/ebsdlib`` (gitignored). Created on first use.
    """
    path = Path(os.environ.get("EBSDLIB_CACHE", REPO_ROOT / ".cache" / "ebsdlib"))
    path.mkdir(parents=True, exist_ok=True)
    return path
