import json

import pytest

from ebsdlib.cache import atomic_folder, atomic_write, cache_file, content_key


def test_content_key_ignores_order_and_sees_values():
    assert content_key({"a": 1, "b": [2, 3]}) == content_key({"b": [2, 3], "a": 1})
    assert content_key({"a": 1}) != content_key({"a": 2})


def test_atomic_write_publishes_only_complete_files():
    path = cache_file("test-atomic", "result.txt")
    atomic_write(path, lambda tmp: tmp.write_text("done"))
    assert path.read_text() == "done"

    def interrupted(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    target = cache_file("test-atomic", "other.txt")
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, interrupted)
    assert not target.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["result.txt", "result.txt.sha256"], "no temporary file left behind"


def test_atomic_folder_replaces_only_when_complete(tmp_path):
    target = tmp_path / "entry"
    with atomic_folder(target) as folder:
        (folder / "a.txt").write_text("first")
    assert (target / "a.txt").read_text() == "first"
    with atomic_folder(target) as folder:
        (folder / "b.txt").write_text("second")
    assert sorted(p.name for p in target.iterdir()) == ["MANIFEST.json", "b.txt"], "a finished write replaces the old folder"
    with pytest.raises(KeyboardInterrupt), atomic_folder(target) as folder:  # noqa: PT012 - interrupted inside the write
        (folder / "c.txt").write_text("half")
        raise KeyboardInterrupt
    assert sorted(p.name for p in target.iterdir()) == ["MANIFEST.json", "b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"], "no temporary folder left behind"


def test_code_fingerprint_sees_code_not_prose_or_layout():
    from ebsdlib.cache import code_fingerprint

    base = 'def f(x):\n    """Doc."""\n    return x + 1\n'
    same = '# a comment\ndef f(x):\n    """Another docstring,\n    longer."""\n\n    return (x\n            + 1)\n'
    other = 'def f(x):\n    """Doc."""\n    return x + 2\n'
    assert code_fingerprint(base) == code_fingerprint(same)
    assert code_fingerprint(base) != code_fingerprint(other)
    assert code_fingerprint('"""Module doc."""\nA = 1\n') == code_fingerprint("A = 1\n")
    assert code_fingerprint('def g():\n    """Only a docstring."""\n') == code_fingerprint("def g():\n    pass\n")


def test_a_damaged_file_or_folder_is_reported_removed_and_not_trusted(tmp_path):
    import warnings

    from ebsdlib.cache import MANIFEST, DamagedEntry, verified_file, verified_folder

    path = tmp_path / "predictions.csv"
    assert not verified_file(path), "missing: recompute, no warning"
    atomic_write(path, lambda tmp: tmp.write_text("a,b\n1,2\n3,4\n"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert verified_file(path)
    path.write_text("a,b\n1,2\n")  # truncated after it was written
    with pytest.warns(DamagedEntry, match="predictions.csv is damaged"):
        assert not verified_file(path)
    assert not path.exists(), "a damaged entry is removed so that it is computed again"

    folder = tmp_path / "trial"
    with atomic_folder(folder) as tmp:
        (tmp / "model.keras").write_bytes(b"x" * 100)
        (tmp / "info.json").write_text("{}")
    assert set(json.loads((folder / MANIFEST).read_text())) == {"model.keras", "info.json"}
    assert verified_folder(folder)
    (folder / "model.keras").write_bytes(b"x" * 10)
    with pytest.warns(DamagedEntry, match="model.keras differs"):
        assert not verified_folder(folder)
    assert not folder.exists()
    folder.mkdir()
    (folder / "info.json").write_text("{}")  # written by an older version: no manifest
    with pytest.warns(DamagedEntry, match="MANIFEST.json is missing"):
        assert not verified_folder(folder)


def test_a_cached_result_is_checked_when_read_and_a_damaged_one_computed_again(tmp_path, monkeypatch):
    """joblib-stored results (master patterns, simulated data sets) keep the promise the other entries keep:
    bytes zeroed inside a stored array are found, reported in one warning, and the result is computed again."""
    import numpy as np

    from ebsdlib.cache import DamagedEntry, cached

    monkeypatch.setenv("EBSDLIB_CACHE", str(tmp_path))
    calls = []

    def pattern(size, seed=0):
        calls.append(size)
        return np.random.default_rng(seed).random((size, size))

    pattern.__module__ = "ebsdlib.simulation.patterns"  # the code a result depends on is ebsdlib's
    pattern = cached(depends_on=[])(pattern)

    first = pattern(256)
    assert pattern.is_cached(256) and pattern.is_cached(size=256, seed=0) and not pattern.is_cached(256, seed=1)
    np.testing.assert_array_equal(pattern(size=256), first)
    assert calls == [256], "a positional or keyword call, defaults bound: one entry"
    (stored,) = (tmp_path / "results").rglob("result.joblib")
    data = bytearray(stored.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 65536] = bytes(65536)
    stored.write_bytes(bytes(data))
    assert not pattern.is_cached(256)
    with pytest.warns(DamagedEntry, match=r"result.joblib differs from what was written\); it is computed again") as seen:
        again = pattern(256)
    # one report of the damage (warnings of other kinds, from other threads of a busy test worker, are not counted)
    assert len([w for w in seen if issubclass(w.category, DamagedEntry)]) == 1 and calls == [256, 256]
    np.testing.assert_array_equal(again, first)


def test_a_cached_result_is_computed_again_when_a_data_file_it_names_changes(tmp_path, monkeypatch):
    """A result keyed on a file of ``ebsdlib/data`` (the shipped master patterns' manifest, for instance) is
    computed again when that file changes, and read from the cache while it does not."""
    from ebsdlib import cache

    monkeypatch.setenv("EBSDLIB_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    (data / "master_patterns").mkdir(parents=True)
    manifest = data / "master_patterns" / "manifest.yml"
    manifest.write_text("Ni_20kV_201px.npz: {sha256: aaaa}\n")
    monkeypatch.setattr(cache, "DATA_DIR", data)
    calls = []

    def patterns(n):
        calls.append(n)
        return list(range(n))

    patterns.__module__ = "ebsdlib.simulation.datasets"
    patterns = cache.cached(depends_on=[], data_files=["master_patterns/manifest.yml"])(patterns)
    assert patterns(3) == patterns(3) == [0, 1, 2] and calls == [3]
    manifest.write_text("Ni_20kV_201px.npz: {sha256: bbbb}\n")  # a master pattern shipped anew
    assert not patterns.is_cached(3)
    assert patterns(3) == [0, 1, 2] and calls == [3, 3]
    manifest.unlink()  # none shipped (yet): a key of its own, not an error
    assert not patterns.is_cached(3) and patterns(3) == [0, 1, 2] and calls == [3, 3, 3]


#: Cached functions whose results are not made from the dynamical master patterns of ebsdlib's materials, and why.
NOT_FROM_DYNAMICAL = {
    "_master_pattern_array": "the kinematical master pattern",
    "dynamical_master_pattern_array": "computes one: keyed on the material and every setting as arguments",
    "_hough_index": "indexes the patterns it is given, keyed on their content",
    "_complete_map": "indexes the patterns it is given, keyed on their content",
    "_dynamical_nickel": "projects kikuchipy's EMsoft Ni master pattern, not one of ebsdlib's",
}


def test_what_is_cached_from_dynamical_master_patterns_is_keyed_on_their_settings_and_shipped_files():
    """Every cached result of the library that can be made from dynamical master patterns (data sets, the
    sample's map and its phase boundaries, the refined orientations, the randomised acquisition, the ideal
    observer) is computed again when a material's dynamical settings or a shipped master pattern change; a cached
    function added anywhere is either keyed so or says here why it need not be."""
    import importlib
    import pkgutil

    import ebsdlib

    functions = {}
    for info in pkgutil.walk_packages(ebsdlib.__path__, "ebsdlib."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, f in vars(module).items():
            if callable(f) and hasattr(f, "depends_on") and getattr(f, "__module__", None) == info.name:
                functions[name] = f
    assert set(NOT_FROM_DYNAMICAL) < set(functions)  # the allowed ones still exist
    keyed = {name: f for name, f in functions.items() if name not in NOT_FROM_DYNAMICAL}
    assert {"_simulate_dataset", "_phase_boundary_patterns", "_simulate_map", "_randomised_dataset"} <= set(keyed)
    for name, f in keyed.items():
        assert {"simulation.dynamical", "simulation.dynamical_settings"} <= set(f.depends_on), name
        assert "master_patterns/manifest.yml" in f.data_files, name


WRITER = """
import sys, time
from pathlib import Path
from ebsdlib.cache import atomic_folder
entry, tag = Path(sys.argv[1]), sys.argv[2]
failures = 0
for i in range(200):
    try:
        with atomic_folder(entry) as tmp:
            (tmp / "a.bin").write_bytes(b"x" * 4096)
            (tmp / "b.txt").write_text("same result from every writer")
    except Exception as err:
        failures += 1
        print(type(err).__name__, err, file=sys.stderr)
print(failures)
"""

READER = """
import sys, warnings
from pathlib import Path
from ebsdlib.cache import verified_folder
entry = Path(sys.argv[1])
damaged = 0
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    for i in range(400):
        verified_folder(entry)
print(len(seen))
"""


def test_two_writers_and_a_reader_of_one_entry_at_once(tmp_path):
    """Two processes publishing the same entry again and again while a third reads it: no writer fails and the
    reader never declares a good entry damaged (nor deletes it)."""
    import subprocess
    import sys

    entry = tmp_path / "entry"
    with atomic_folder(entry) as tmp:
        (tmp / "a.bin").write_bytes(b"x" * 4096)
        (tmp / "b.txt").write_text("same result from every writer")
    runs = [subprocess.Popen([sys.executable, "-c", WRITER, str(entry), w], stdout=subprocess.PIPE, text=True) for w in "ab"]
    runs.append(subprocess.Popen([sys.executable, "-c", READER, str(entry)], stdout=subprocess.PIPE, text=True))
    counts = [int(run.communicate(timeout=300)[0].split()[-1]) for run in runs]
    assert counts == [0, 0, 0], "writer failures, writer failures, entries the reader found damaged"
    assert sorted(p.name for p in entry.iterdir()) == ["MANIFEST.json", "a.bin", "b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"], "no temporary folder left behind"
