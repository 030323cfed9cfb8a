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
    with pytest.raises(KeyboardInterrupt):
        with atomic_folder(target) as folder:
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
