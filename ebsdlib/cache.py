"""Content-addressed cache of expensive results (joblib.Memory).

A cached function is keyed by its arguments, its own source code, and a hash of the ebsdlib modules
and data files it depends on (``depends_on``), so that a rerun with nothing changed recomputes nothing,
while a changed parameter, input file or upstream module recomputes. joblib writes each result to a
temporary name and renames it into place, so an interrupted run never leaves a half-written entry.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import importlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import joblib

from .paths import DATA_DIR, cache_dir

__all__ = ["memory", "code_fingerprint", "source_hash", "cached", "content_key", "cache_file", "atomic_write", "atomic_folder", "file_digest"]


def memory() -> joblib.Memory:
    """The joblib ``Memory`` rooted at :func:`ebsdlib.paths.cache_dir` (read at call time)."""
    return joblib.Memory(cache_dir() / "joblib", verbose=0)


def code_fingerprint(source: str) -> str:
    """A module's code as Python sees it: its syntax tree without docstrings, comments, line numbers or
    layout, so that editing prose or formatting a module leaves the cached results it made valid."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


def source_hash(modules: Iterable[str], data_files: Iterable[str] = ()) -> str:
    """SHA-256 over the ebsdlib version, the code of ebsdlib ``modules`` (e.g. ``"simulate"``; see
    :func:`code_fingerprint`) and files in ``data/``."""
    from . import __version__

    h = hashlib.sha256(__version__.encode())
    for name in sorted(modules):
        module = importlib.import_module(f"ebsdlib.{name}")
        h.update(name.encode())
        h.update(code_fingerprint(Path(module.__file__).read_text()).encode())
    for name in sorted(data_files):
        h.update(name.encode())
        h.update((DATA_DIR / name).read_bytes())
    return h.hexdigest()[:16]


def cached(depends_on: Iterable[str], data_files: Iterable[str] = ()) -> Callable:
    """Decorator: cache ``func`` on disk, keyed also by the source of its own module and of the modules
    it depends on.

    The decorated function gains the attributes ``is_cached(*args, **kwargs)`` (whether a call would be
    a cache hit) and ``uncached`` (the plain function).
    """
    depends_on = tuple(depends_on)
    data_files = tuple(data_files)

    def decorate(func: Callable) -> Callable:
        modules = tuple(sorted(set(depends_on) | {func.__module__.rsplit(".", 1)[-1]}))

        def keyed(_code_version: str, *args, **kwargs):
            return func(*args, **kwargs)

        keyed.__name__ = func.__name__
        keyed.__qualname__ = func.__qualname__
        keyed.__module__ = func.__module__

        def _memoized():
            return memory().cache(keyed)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            return _memoized()(source_hash(modules, data_files), *args, **kwargs)

        def is_cached(*args, **kwargs) -> bool:
            return _memoized().check_call_in_cache(source_hash(modules, data_files), *args, **kwargs)

        wrapper.is_cached = is_cached
        wrapper.uncached = func
        return wrapper

    return decorate


def content_key(payload: dict) -> str:
    """Short SHA-256 of a JSON-serialisable description of everything that determines a result."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def cache_file(kind: str, name: str) -> Path:
    """Path of a cached file ``<cache>/<kind>/<name>`` (the folder is created)."""
    folder = cache_dir() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary path)`` and rename the result to ``path``: an interrupted write never
    leaves a file that a later run would trust."""
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def atomic_folder(path: Path):
    """Yield a temporary folder beside ``path`` to fill; when the block ends without error it replaces
    ``path`` by a rename, otherwise it is removed: an interrupted write never leaves a folder that a later
    run would trust."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def file_digest(path: Path) -> str:
    """SHA-256 of a file's content, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
