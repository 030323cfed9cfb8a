"""No command deletes or overwrites a file the user had, and a failed run leaves the earlier result as it was:
the five ways the command line once destroyed a user's files, each tried again (``ebsdlib.outputs``)."""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_bundle
from ebsdlib.cli import main
from ebsdlib.outputs import RECORD, OutputError, check_output_folder, publish_files, publish_folder

SHAPE = (30, 36)


def run(line: str, capsys) -> tuple[int, str, str]:
    code = main(shlex.split(line))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the SHA-256 of its bytes."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def users_tree(root: Path) -> dict[str, str]:
    """A user's own recorded patterns in the layout `simulate` writes: 8 TIFFs of Ni and their index."""
    import tifffile

    folder = root / "225" / "Ni"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(8):
        tifffile.imwrite(folder / f"{k:05d}.tif", rng.integers(0, 255, SHAPE, dtype=np.uint8))
    (root / "patterns.csv").write_text("file,material,space_group\n225/Ni/00000.tif,Ni,225\n")
    return snapshot(root)


class TestTheFolderRule:
    def test_a_folder_of_the_commands_own_files_may_be_replaced_and_nothing_else(self, tmp_path):
        out = tmp_path / "out"
        with publish_folder(out, "classify") as staging:
            (staging / "phases.csv").write_text("a\n")
            (staging / "sub").mkdir()
            (staging / "sub" / "x.txt").write_text("x")
        assert (out / RECORD).is_file() and not list(tmp_path.glob(".out.*")), "published by a rename, nothing left"
        check_output_folder(out, "classify")  # its own files: fine
        with pytest.raises(OutputError, match="`ebsdlib train` did not write"):
            check_output_folder(out, "train")  # another command's
        (out / "sub" / "x.txt").write_text("changed by the user")
        with pytest.raises(OutputError, match=r"did not write \(sub/x.txt\)"):
            check_output_folder(out, "classify")

    def test_a_failure_while_writing_leaves_the_earlier_result(self, tmp_path):
        out = tmp_path / "out"
        with publish_folder(out, "classify") as staging:
            (staging / "phases.csv").write_text("earlier\n")
        before = snapshot(out)
        with pytest.raises(OSError, match="No space left"), publish_folder(out, "classify") as staging:  # noqa: PT012 - fails inside
            (staging / "phases.csv").write_text("")
            raise OSError(28, "No space left on device")
        assert snapshot(out) == before and not list(tmp_path.glob(".out.*"))

    def test_files_are_replaced_only_when_asked_and_only_when_complete(self, tmp_path):
        scan, truth = tmp_path / "scan.h5", tmp_path / "scan_truth.csv"
        scan.write_text("old scan")
        truth.write_text("old truth")
        with pytest.raises(OutputError, match="scan.h5 exists; name a new file, or add --overwrite"):
            publish_files({"scan": scan, "truth": truth}, lambda paths: None)

        def half(paths):
            paths["scan"].write_text("new sc")
            raise OSError(28, "No space left on device")

        with pytest.raises(OSError, match="No space left"):
            publish_files({"scan": scan, "truth": truth}, half, replace=True)
        assert scan.read_text() == "old scan" and truth.read_text() == "old truth"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.h5", "scan_truth.csv"], "no temporary file left"
        publish_files({"scan": scan, "truth": truth}, lambda p: [p["scan"].write_text("new"), p["truth"].write_text("t")], True)
        assert scan.read_text() == "new" and truth.read_text() == "t"


class TestTheCommands:
    def test_simulate_refuses_a_tree_of_recorded_patterns_and_replaces_its_own(self, tmp_path, capsys):
        mine = users_tree(tmp_path / "my_patterns")
        code, _, err = run(f"simulate --material Ni --n 2 --out {tmp_path / 'my_patterns'} --detector-shape 30 36", capsys)
        assert code == 1 and err.startswith("error: --out") and "did not write (225/Ni/00000.tif" in err
        assert snapshot(tmp_path / "my_patterns") == mine, "the user's patterns are untouched"

        simulated = tmp_path / "simulated"
        assert run(f"simulate --material Ni --n 2 --out {simulated} --detector-shape 30 36", capsys)[0] == 0
        assert run(f"simulate --material Ni Fe --n 2 --out {simulated} --detector-shape 30 36 --seed 1", capsys)[0] == 0
        assert sorted(p.parent.parent.name for p in simulated.rglob("*.tif")) == ["225", "225", "229", "229"]

    def test_train_refuses_a_bundle_folder_holding_the_users_notes(self, tmp_path, capsys):
        folder = tmp_path / "my_model"
        with publish_folder(folder, "train") as staging:  # a bundle as `ebsdlib train` leaves it
            tiny_bundle(staging.parent, name=staging.name)
        check_output_folder(folder, "train")  # trained again, it would be replaced
        (folder / "notes.md").write_text("my notes on this model")
        (folder / "scan_phases").mkdir()
        (folder / "scan_phases" / "phases.csv").write_text("row,col\n")
        before = snapshot(folder)
        users_tree(tmp_path / "patterns")
        code, _, err = run(f"train {tmp_path / 'patterns'} --out {folder} --profile smoke", capsys)
        assert code == 1 and "--out" in err and "did not write (notes.md, scan_phases/phases.csv)" in err
        assert snapshot(folder) == before

    def test_classify_keeps_the_earlier_results_when_a_run_fails(self, tmp_path, capsys, monkeypatch):
        from ebsdlib.mapping import classify as classify

        np.save(tmp_path / "scan.npy", np.random.default_rng(0).integers(0, 255, (2, 3, *SHAPE), dtype=np.uint8))
        bundle = tiny_bundle(tmp_path, pattern_shape=SHAPE).folder
        results = tmp_path / "results"
        code, _, err = run(f"classify {tmp_path / 'scan.npy'} --model {bundle} --out {results} --no-orientations", capsys)
        assert code == 0, err
        before = snapshot(results)
        assert "phases.csv" in before

        def disk_full(*args, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(classify, "_phase_map_png", disk_full)
        code, _, err = run(f"classify {tmp_path / 'scan.npy'} --model {bundle} --out {results} --no-orientations", capsys)
        assert code == 1 and "No space left on device" in err
        assert snapshot(results) == before, "the earlier results survive, no empty phases.csv"
        code, _, err = run(
            f"classify {tmp_path / 'scan.npy'} --model {tmp_path / 'missing'} --out {results} --no-orientations", capsys
        )
        assert code == 1 and snapshot(results) == before

        (results / "notes.txt").write_text("mine")
        monkeypatch.undo()
        code, _, err = run(f"classify {tmp_path / 'scan.npy'} --model {bundle} --out {results} --no-orientations", capsys)
        assert code == 1 and "notes.txt" in err and (results / "notes.txt").read_text() == "mine"

    def test_same_seed_checks_the_profile_before_touching_the_folder(self, tmp_path, capsys):
        builds = tmp_path / "builds"
        (builds / "first").mkdir(parents=True)
        (builds / "first" / "01_data.ipynb").write_text("{}")
        (builds / "second").mkdir()
        before = snapshot(builds)
        code, _, err = run(f"same-seed --profile typo --folder {builds}", capsys)
        assert code == 1 and "typo" in err and snapshot(builds) == before
        code, _, err = run(f"same-seed --profile smoke --folder {builds}", capsys)
        assert code == 1 and "did not write (first/01_data.ipynb)" in err and snapshot(builds) == before

    def test_simulate_scan_never_replaces_a_scan_unasked_nor_half(self, tmp_path, capsys, monkeypatch):
        scan = tmp_path / "scan.h5"
        scan.write_bytes(b"the user's scan")
        (tmp_path / "scan_truth.csv").write_text("row,col,space_group\n")
        before = snapshot(tmp_path)
        line = f"simulate --scan {scan} --map-shape 1 2 --detector-shape 30 36 --profile smoke"
        code, _, err = run(line, capsys)
        assert code == 1 and "scan.h5 exists" in err and "--overwrite" in err and snapshot(tmp_path) == before

        import kikuchipy as kp

        def disk_full(self, filename, *args, **kwargs):
            Path(filename).write_bytes(b"trunc")
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(kp.signals.EBSD, "save", disk_full)
        code, _, err = run(line + " --overwrite", capsys)
        assert code == 1 and "No space left" in err and snapshot(tmp_path) == before, "old scan and truth as they were"
        monkeypatch.undo()
        assert run(line + " --overwrite", capsys)[0] == 0
        assert (tmp_path / "scan_truth.csv").read_text().count("\n") == 3 and scan.stat().st_size > 1000


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ("--material Ni --n 0 --out x", "--n must be at least 1 pattern per material, not 0"),
        ("--material Ni --n 5 --out x --detector-shape 0 0", "--detector-shape must be at least 16 × 16 px, not 0 × 0"),
        ("--material Ni --n 5 --out x --seed -1", "--seed must be 0 or more, not -1"),
        ("--scan s.h5 --map-shape 0 5", "--map-shape must be at least 1 × 1 patterns, not 0 × 5"),
        ("--material Ni --n 1000000000000 --out x", "--n 1000000000000 patterns of 120 × 146 px need about"),
        ("--scan s.h5 --map-shape 10 10 --detector-shape 100000 100000", "--map-shape 10 10 patterns of 100000 × 100000 px"),
    ],
)
def test_simulate_refuses_numbers_it_cannot_do_before_any_work(tmp_path, capsys, monkeypatch, options, says):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(f"simulate {options}", capsys)
    assert code == 1 and err.startswith("error: ") and says in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == [], "nothing written"


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ("train pats --out m --seed -3", "--seed must be at least 0, not -3"),
        ("train pats --out m --image-size 10", "--image-size must be at least 71 and at most 1024, not 10"),
        ("train pats --out m --max-epochs 0", "--max-epochs must be at least 1, not 0"),
        ("train pats --out m --view canonical --canonical-size 100000", "8 canonical views of 100000 × 100000 px need about"),
        (
            "classify scan.npy --model m --no-orientations --map-shape 3 -1",
            "--map-shape must be at least 1 × 1 patterns, not 3 × -1",
        ),
        ("classify scan.npy --model m --no-orientations --threshold nan", "threshold is a probability between 0 and 1, not nan"),
        ("classify scan.npy --model m --no-orientations --chunk-size 0", "the chunk size must be at least 1, not 0"),
    ],
)
def test_train_and_classify_refuse_numbers_they_cannot_do_before_any_work(tmp_path, capsys, monkeypatch, options, says):
    monkeypatch.chdir(tmp_path)
    users_tree(tmp_path / "pats")
    np.save(tmp_path / "scan.npy", np.zeros((2, *SHAPE), np.uint8))
    before = snapshot(tmp_path)
    code, _, err = run(options, capsys)
    assert code == 1 and err.startswith("error: ") and says in err and len(err.splitlines()) == 1
    assert snapshot(tmp_path) == before, "nothing written, nothing changed"


def test_an_output_folder_that_is_a_symbolic_link_loop_is_named(tmp_path, capsys):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    code, _, err = run(f"simulate --material Ni --n 2 --out {loop} --detector-shape 30 36", capsys)
    assert code == 1 and err == f"error: --out {loop} is a symbolic link that leads nowhere (broken, or a loop); name a folder\n"
