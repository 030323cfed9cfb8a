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
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import joblib

from .paths import DATA_DIR, cache_dir

__all__ = [
    "memory",
    "code_fingerprint",
    "source_hash",
    "cached",
    "content_key",
    "cache_file",
    "atomic_write",
    "atomic_folder",
    "file_digest",
    "verified_file",
    "verified_folder",
    "folder_problem",
    "DamagedEntry",
    "MANIFEST",
]


def memory() -> joblib.Memory:
    """The joblib ``Memory`` rooted at :func:`ebsdlib.paths.cache_dir` (read at call time)."""
    return joblib.Memory(cache_dir() / "joblib", verbose=0)


def code_fingerprint(source: str) -> str:
    """A module's code as Python sees it: its syntax tree without docstrings, comments, line numbers or
    layout, so that editing prose or formatting a module leaves the cached results it made valid."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
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
    a cache hit) and ``__wrapped__`` (the plain function, as :func:`functools.wraps` sets it).
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


MANIFEST = "MANIFEST.json"


class DamagedEntry(UserWarning):
    """A cache entry whose files do not match what was recorded when it was written (recomputed)."""


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _record(path: Path) -> dict:
    return {"size": path.stat().st_size, "sha256": file_digest(path)}


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(temporary path)``, flush it to disk and rename it to ``path``, recording its size and
    SHA-256 in ``<path>.sha256`` (written the same way, last): an interrupted write never leaves a file
    that a later run would trust, and :func:`verified_file` detects a file damaged afterwards."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    record = path.with_name(path.name + ".sha256")
    try:
        write(Path(tmp))
        _fsync(Path(tmp))
        entry = _record(Path(tmp))
        os.replace(tmp, path)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".sha256", dir=path.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(entry, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, record)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def verified_file(path: Path) -> bool:
    """Whether ``path`` exists as :func:`atomic_write` left it. A file that differs from its record (or
    lacks one) is reported with a :class:`DamagedEntry` warning naming it and removed, so that the caller
    recomputes it; a missing file is simply ``False``."""
    path = Path(path)
    record = path.with_name(path.name + ".sha256")
    if not path.is_file():
        return False
    try:
        expected = json.loads(record.read_text())
        ok = expected == _record(path)
    except (OSError, ValueError):
        ok = False
    if not ok:
        warnings.warn(
            f"cache entry {path} is damaged (it does not match what was written); it is computed again",
            DamagedEntry,
            stacklevel=2,
        )
        path.unlink(missing_ok=True)
        record.unlink(missing_ok=True)
    return ok


@contextlib.contextmanager
def atomic_folder(path: Path):
    """Yield a temporary folder beside ``path`` to fill; when the block ends without error its files are
    flushed to disk, their sizes and SHA-256 recorded in ``MANIFEST.json``, and the folder replaces
    ``path`` by a rename; otherwise it is removed. An interrupted write never leaves a folder that a later
    run would trust, and :func:`verified_folder` detects one damaged afterwards."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".", dir=path.parent))
    try:
        yield tmp
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        for p in files:
            _fsync(p)
        manifest = {p.relative_to(tmp).as_posix(): _record(p) for p in files}
        with open(tmp / MANIFEST, "w") as f:
            json.dump(manifest, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def folder_problem(path: Path) -> str | None:
    """What is wrong with a folder written by :func:`atomic_folder` (a missing or changed file, no
    manifest), or ``None`` when every file is as written. Nothing is removed."""
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return f"{MANIFEST} is missing or unreadable"
    for name, expected in manifest.items():
        f = path / name
        if not f.is_file():
            return f"{name} is missing"
        if _record(f) != expected:
            return f"{name} differs from what was written"
    return None


def verified_folder(path: Path) -> bool:
    """Whether ``path`` holds every file its ``MANIFEST.json`` records, unchanged. A folder that does not
    (a truncated or missing file, no manifest) is reported with a :class:`DamagedEntry` warning naming
    the file and removed, so that the caller recomputes it; a missing folder is simply ``False``."""
    path = Path(path)
    if not path.is_dir():
        return False
    problem = folder_problem(path)
    if problem:
        warnings.warn(f"cache entry {path} is damaged ({problem}); it is computed again", DamagedEntry, stacklevel=2)
        shutil.rmtree(path, ignore_errors=True)
        return False
    return True


def file_digest(path: Path) -> str:
    """SHA-256 of a file's content, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
