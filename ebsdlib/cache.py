"""Content-addressed cache of expensive results, one discipline for every entry.

A cached function (:func:`cached`) is keyed by its arguments, its own source code, and a hash of the ebsdlib
modules and data files it depends on (``depends_on``), so that a rerun with nothing changed recomputes
nothing, while a changed parameter, input file or upstream module recomputes. Every entry, a function's
result (stored with joblib) as much as a trained model or a prediction file, is written under a temporary
name and renamed into place with the sizes and SHA-256 of its files recorded (:func:`atomic_folder`,
:func:`atomic_write`), checked against that record when read (a damaged entry is reported in one line and
computed again), and guarded by a lock per entry (:func:`entry_lock`): two processes never write one entry
at once, and a reader never sees one half replaced.
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
import threading
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import joblib

from ebsdlib import __version__
from ebsdlib.paths import DATA_DIR, cache_dir

__all__ = [
    "entry_lock",
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


_HELD = threading.local()  # the entry locks this thread holds, with their depth (an entry's lock is re-entrant)


def _lock_file(path: Path) -> Path:
    folder = Path(tempfile.gettempdir()) / "ebsdlib-locks"
    folder.mkdir(exist_ok=True)
    return folder / (hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:32] + ".lock")


@contextlib.contextmanager
def entry_lock(path: Path):
    """Hold the lock of the cache entry ``path`` (a file or folder) against every other process and thread of
    the machine; re-entrant within one thread. The lock files live in ``<tmp>/ebsdlib-locks``, not beside the
    entries, so that a cache folder holds only its entries."""
    lock = _lock_file(path)
    held = getattr(_HELD, "locks", None)
    if held is None:
        held = _HELD.locks = {}
    if held.get(lock):
        held[lock] += 1
        try:
            yield
        finally:
            held[lock] -= 1
        return
    import fcntl

    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        held[lock] = 1
        try:
            yield
        finally:
            del held[lock]
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    """SHA-256 over the ebsdlib version, the code of ebsdlib ``modules`` (e.g. ``"simulation.patterns"``; see
    :func:`code_fingerprint`) and files in ``ebsdlib/data/`` (one that is missing counts as such)."""
    h = hashlib.sha256(__version__.encode())
    for name in sorted(modules):
        module = importlib.import_module(f"ebsdlib.{name}")
        h.update(name.encode())
        h.update(code_fingerprint(Path(module.__file__).read_text()).encode())
    for name in sorted(data_files):
        h.update(name.encode())
        path = DATA_DIR / name
        h.update(path.read_bytes() if path.is_file() else b"\0missing")  # e.g. no master pattern shipped yet
    return h.hexdigest()[:16]


def cached(depends_on: Iterable[str], data_files: Iterable[str] = ()) -> Callable:
    """Decorator: cache ``func`` on disk, keyed by its arguments (bound to its signature, defaults included,
    hashed with joblib) and by the source of its own module and of the modules it depends on.

    The result is stored with joblib in a folder of ``<cache>/results/<function>/`` written by
    :func:`atomic_folder` and read back after :func:`verified_folder` (a damaged entry is reported and computed
    again), all under the entry's lock: a second process asking for the same result waits for the first and
    reads it. The decorated function gains ``is_cached(*args, **kwargs)`` (whether a call would be a cache hit),
    ``depends_on`` and ``data_files`` (what its key is computed from, besides its arguments) and ``__wrapped__``
    (the plain function, as :func:`functools.wraps` sets it).
    """
    import inspect

    depends_on = tuple(depends_on)
    data_files = tuple(data_files)

    def decorate(func: Callable) -> Callable:
        modules = tuple(sorted(set(depends_on) | {func.__module__.removeprefix("ebsdlib.")}))
        signature = inspect.signature(func)

        def entry(args, kwargs) -> Path:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            key = content_key(
                {
                    "function": f"{func.__module__}.{func.__qualname__}",
                    "code": source_hash(modules, data_files),
                    "arguments": joblib.hash(dict(bound.arguments)),
                }
            )
            return cache_dir() / "results" / func.__qualname__ / key

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            folder = entry(args, kwargs)
            with entry_lock(folder):
                if verified_folder(folder):
                    return joblib.load(folder / "result.joblib")
                result = func(*args, **kwargs)
                with atomic_folder(folder) as tmp:
                    joblib.dump(result, tmp / "result.joblib")
            return result

        def is_cached(*args, **kwargs) -> bool:
            folder = entry(args, kwargs)
            with entry_lock(folder):
                return folder.is_dir() and folder_problem(folder) is None

        wrapper.is_cached = is_cached
        wrapper.depends_on = modules
        wrapper.data_files = data_files
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
        with entry_lock(path):  # a reader never sees the new file beside the old record
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
    with entry_lock(path):
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
        with entry_lock(path):  # another writer or a reader of the entry waits for the swap
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
    with entry_lock(path):
        if not path.is_dir():
            return False
        problem = folder_problem(path)
        if problem:
            warnings.warn(f"cache entry {path} is damaged ({problem}); it is computed again", DamagedEntry, stacklevel=2)
            shutil.rmtree(path, ignore_errors=True)
            return False
    return True


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's content, read in blocks: SHA-256, or another of :mod:`hashlib`'s ``algorithm``
    (``"md5"`` for Keras' own file checks)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
