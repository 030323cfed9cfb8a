"""The command line as a microscopist meets it: the README's walkthrough, run as written, and bad input."""

import json
import re
import shlex

import numpy as np
import pandas as pd
import pytest

from ebsdlib.cli import main
from ebsdlib.paths import REPO_ROOT


def walkthrough_commands() -> list[str]:
    """The commands of the README's "Classify your own scan" walkthrough, in order."""
    text = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"<!-- walkthrough -->\s*```bash\n(.*?)```\s*<!-- /walkthrough -->", text, flags=re.S)
    assert block, "the README has a walkthrough block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def run(line: str, capsys) -> tuple[int, str, str]:
    args = shlex.split(line)
    assert args[0] == "ebsdlib"
    code = main(args[1:])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_the_readme_walkthrough_runs_as_written(tmp_path, monkeypatch, capsys):
    from orix import io

    monkeypatch.chdir(tmp_path)
    commands = walkthrough_commands()
    assert [c.split()[1] for c in commands] == ["simulate", "train", "simulate", "train", "simulate", "classify"]
    outputs = []
    for line in commands:
        code, out, err = run(line, capsys)
        assert code == 0, f"{line}\n{err}"
        outputs.append(out)
    bundle = json.loads((tmp_path / "my_model" / "bundle.json").read_text())
    assert bundle["classes"] == [221, 223, 225, 227, 229, 230] and bundle["channels"] == 3
    assert bundle["pretrained_source"]["kind"] in {"imagenet", "source-task"}
    assert bundle["training"]["split_counts"]["train"] == 6 * 8
    assert {"precision", "recall", "accuracy"} <= set(bundle["test_metrics"])
    for name in ("report.md", "confusion.png", "loss_curves.png", "predictions.csv"):
        assert (tmp_path / "my_model" / name).stat().st_size > 0
    # the few-shot step: the second model started from the first, trained on the sample's two phases
    tuned = json.loads((tmp_path / "my_sample_model" / "bundle.json").read_text())
    from ebsdlib.cache import file_digest

    assert tuned["training"]["fine_tuned_from"]["model_sha256"] == file_digest(tmp_path / "my_model" / "model.keras")
    assert tuned["approach"] == bundle["approach"] and tuned["image_size"] == bundle["image_size"]
    assert tuned["pretrained_source"] == bundle["pretrained_source"]
    assert tuned["training"]["split_counts"]["train"] == 2 * 8 and tuned["training"]["epochs"] <= 3
    assert "Fine-tuned from the model bundle" in (tmp_path / "my_sample_model" / "report.md").read_text()
    table = pd.read_csv(tmp_path / "scan_phases" / "phases.csv")
    assert len(table) == 12 * 15 and table[["row", "col"]].max().tolist() == [11, 14]
    xmap = io.load(tmp_path / "scan_phases" / "phase_map.h5")
    by_id = {i: phase.space_group.number for i, phase in xmap.phases if i != -1}
    expected = table["space_group"].where(table["oriented"], -1)  # not indexed where either step failed
    assert [by_id.get(int(i), -1) for i in xmap.get_map_data("phase_id").ravel()] == expected.tolist()
    truth = pd.read_csv(tmp_path / "scan_truth.csv")
    accuracy = float(re.search(r"([\d.]+) % of the patterns right", outputs[-1]).group(1)) / 100
    both = table.merge(truth, on=["row", "col"], suffixes=("", "_true"))
    assert accuracy == pytest.approx((both["space_group"] == both["space_group_true"]).mean(), abs=1e-3)
    # the complete map: orientations where a phase of the sample was given, and their error against the truth
    indexed = table["oriented"] & table["space_group"].isin([221, 225])
    assert indexed.any() and not np.allclose(xmap.rotations.data[indexed.to_numpy()], [1, 0, 0, 0])
    assert re.search(r"median misorientation [\d.]+°, [\d.]+ % of the patterns within 2°", outputs[-1])
    # the README's orix lines open it, as a user would
    block = re.search(r"<!-- walkthrough-orix -->\s*```python\n(.*?)```", (REPO_ROOT / "README.md").read_text(), flags=re.S)
    exec(compile(block.group(1), "README.md", "exec"), {})  # noqa: S102 - the README's own code, run as written
    assert (tmp_path / "phase_map_orix.png").stat().st_size > 0 and (tmp_path / "ipf_z.png").stat().st_size > 0


@pytest.fixture
def scan(tmp_path):
    path = tmp_path / "scan.npy"
    np.save(path, np.random.default_rng(0).integers(0, 255, (2, 3, 30, 36), dtype=np.uint8))
    return path


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("not a bundle", "is not a model bundle"),
        ("other aspect", "another aspect"),
        ("unreadable scan", "kikuchipy cannot read"),
        ("wrong layout", "is not named after a space group"),
        ("other space group", "not among the six the classifier learns"),
        ("unknown material", "no material ['Unobtainium']"),
        ("out overwrites the patterns", "would hold or overwrite the training patterns"),
        ("out holds other files", "did not write (notes.txt); name a new or empty folder"),
        ("no model", "name a model bundle with --model"),
        ("fast without a built book", "holds none: build the book first"),
        ("fast and a model", "not both"),
        ("no phases", "name the scan's phases with --phases"),
        ("phases and no orientations", "not both"),
        ("a stack without a detector", "holds no detector geometry: give its pattern centre with --pc"),
        ("a phase the model never gives", "is not among the model's classes"),
        ("two phases of one class", "two phases of space group 225"),
        ("start from no bundle", "nothing does not exist"),
        ("start from another approach", "--approach transfer contradicts --start-from"),
        ("start from another input size", "--image-size 72 contradicts --start-from"),
        ("beam settings without the dynamical simulator", "set the dynamical simulator; add --simulator dynamical"),
        ("Bethe cutoffs out of order", "--bethe must be three positive numbers STRONG ≤ WEAK ≤ CUTOFF, not 8 4 50"),
        ("a spacing no simulator takes", "--min-dspacing must lie between 0.3 and 3 Å, not 0.01"),
        (
            "an energy share above all of it",
            "--energy-share must lie between 0.5 and 1 (a share of the energy distribution), not 1.5",
        ),
        ("beam settings for the scan", "apply to --material and --cif; the scan's two phases use the master patterns"),
    ],
)
def test_bad_input_gets_one_error_line_and_exit_code_1(case, says, tmp_path, scan, capsys, make_bundle):
    import tifffile

    if case == "not a bundle":
        line = f"ebsdlib classify {scan} --model {tmp_path} --no-orientations"
    elif case == "other aspect":
        bundle = make_bundle(tmp_path, pattern_shape=(40, 40))
        line = f"ebsdlib classify {scan} --model {bundle.folder} --no-orientations"
    elif case == "unreadable scan":
        (tmp_path / "scan.h5").write_bytes(b"\x00" * 64)
        line = f"ebsdlib classify {tmp_path / 'scan.h5'} --model {make_bundle(tmp_path).folder}"
    elif case in ("wrong layout", "other space group"):
        folder = tmp_path / "tree" / ("metals" if case == "wrong layout" else "194") / "Mg"
        folder.mkdir(parents=True)
        for k in range(3):
            tifffile.imwrite(folder / f"{k}.tif", np.eye(30, 36, dtype=np.uint8) * 200)
        line = f"ebsdlib train {tmp_path / 'tree'} --out {tmp_path / 'model'} --profile smoke"
    elif case == "no model":
        line = f"ebsdlib classify {scan} --no-orientations"
    elif case == "fast without a built book":
        line = f"ebsdlib classify {scan} --fast --profile no-such-build --no-orientations"
    elif case == "fast and a model":
        line = f"ebsdlib classify {scan} --fast --model {make_bundle(tmp_path).folder} --no-orientations"
    elif case == "no phases":
        line = f"ebsdlib classify {scan} --model {make_bundle(tmp_path, pattern_shape=(30, 36)).folder}"
    elif case == "phases and no orientations":
        line = f"ebsdlib classify {scan} --model {make_bundle(tmp_path, pattern_shape=(30, 36)).folder} --phases Ni --no-orientations"
    elif case == "a stack without a detector":
        line = f"ebsdlib classify {scan} --model {make_bundle(tmp_path, pattern_shape=(30, 36)).folder} --phases Ni"
    elif case in ("a phase the model never gives", "two phases of one class"):
        phases = "Ni Al" if case == "two phases of one class" else "Ni3Al GaAs"
        bundle = make_bundle(tmp_path, pattern_shape=(30, 36))
        line = f"ebsdlib classify {scan} --model {bundle.folder} --phases {phases} --pc 0.5 0.3 0.6"
    elif case.startswith("start from"):
        tree = tmp_path / "tree" / "225" / "Ni"
        tree.mkdir(parents=True)
        tifffile.imwrite(tree / "0.tif", np.eye(30, 36, dtype=np.uint8) * 200)
        start = tmp_path / "nothing" if case == "start from no bundle" else make_bundle(tmp_path).folder  # scratch, 32 px
        extra = {"start from another approach": "--approach transfer", "start from another input size": "--image-size 72"}
        line = f"ebsdlib train {tmp_path / 'tree'} --start-from {start} --out {tmp_path / 'model'} --profile smoke {extra.get(case, '')}"
    elif case == "unknown material":
        line = f"ebsdlib simulate --material Unobtainium --out {tmp_path / 'x'}"
    elif case == "beam settings without the dynamical simulator":
        line = f"ebsdlib simulate --material Ni --min-dspacing 1.0 --simulator kinematical --out {tmp_path / 'x'}"
    elif case == "Bethe cutoffs out of order":
        line = f"ebsdlib simulate --material Ni --simulator dynamical --bethe 8 4 50 --out {tmp_path / 'x'}"
    elif case == "beam settings for the scan":
        line = f"ebsdlib simulate --scan {tmp_path / 'scan.h5'} --simulator dynamical --bethe 4 8 50"
    elif case == "a spacing no simulator takes":
        line = f"ebsdlib simulate --material Ni --simulator dynamical --min-dspacing 0.01 --out {tmp_path / 'x'}"
    elif case == "an energy share above all of it":
        line = f"ebsdlib simulate --material Ni --simulator dynamical --energy-share 1.5 --out {tmp_path / 'x'}"
    else:
        tree = tmp_path / "tree" / "225" / "Ni"
        tree.mkdir(parents=True)
        tifffile.imwrite(tree / "0.tif", np.eye(30, 36, dtype=np.uint8) * 200)
        out = tmp_path / "tree" if case == "out overwrites the patterns" else tmp_path / "other"
        (tmp_path / "other").mkdir()
        (tmp_path / "other" / "notes.txt").write_text("mine")
        line = f"ebsdlib train {tmp_path / 'tree'} --out {out} --profile smoke"
    code, out, err = run(line, capsys)
    assert code == 1
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], err
    assert "Traceback" not in err + out


@pytest.mark.parametrize("command", ["train", "classify", "simulate"])
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"ebsdlib {command} " in capsys.readouterr().out.split("example")[1]


def test_fast_classifies_with_the_student_of_a_built_book(tmp_path, scan, capsys, make_bundle, monkeypatch):
    import shutil

    import ebsdlib.paths

    build = tmp_path / "_build"
    student = make_bundle(tmp_path, name="student", pattern_shape=(30, 36))
    shutil.copytree(student.folder, build / "bundles" / "mine" / "student")
    monkeypatch.setattr(ebsdlib.paths, "BUILD_DIR", build)
    code, out, err = run(f"ebsdlib classify {scan} --fast --profile mine --out {tmp_path / 'fast'} --no-orientations", capsys)
    assert code == 0, err
    table = pd.read_csv(tmp_path / "fast" / "phases.csv")
    assert len(table) == 6
    used = json.loads((tmp_path / "fast" / "classification.json").read_text())["models"]
    assert used == [str((build / "bundles" / "mine" / "student").resolve())]


@pytest.mark.slow
def test_bench_times_every_contender_and_writes_the_tables(smoke_models, tmp_path, capsys):
    code, out, err = run(f"ebsdlib bench --profile smoke --out {tmp_path / 'bench'}", capsys)
    assert code == 0, err
    assert "Hough indexing (PyEBSDIndex)" in out and "student, float32" in out and "logical cores" in out
    table = pd.read_csv(tmp_path / "bench_mapping.csv", comment="#", index_col=0)
    assert table.index[0] == "Hough indexing (PyEBSDIndex)" and table["× Hough"].iloc[0] == 1.0
    # the verdict printed follows the table written: Hough's speed or more, the teacher's test accuracy within a
    # point, its map accuracy or more (the teacher: the ensemble of the two smoke trials)
    student = table.loc[next(n for n in table.index if n.startswith("student, float32"))]
    teacher = table.loc[next(n for n in table.index if n.startswith("teacher"))]
    met = (
        student["× Hough"] >= 1.0
        and 100 * (student["test accuracy"] - teacher["test accuracy"]) >= -1.0
        and student["map accuracy"] >= teacher["map accuracy"]
    )
    assert ("The student meets its goal" if met else "The student falls short of its goal") in out
    assert (tmp_path / "bench_mapping.csv").read_text().startswith("# ") and (tmp_path / "bench_other.csv").is_file()


def test_the_processes_a_command_starts_keep_tensorflows_native_errors_off_the_terminal():
    """The chapter kernels of ``ebsdlib build`` inherit the command's environment: TensorFlow's C++ error lines
    (on a machine without a GPU, "failed call to cuInit" at every kernel start) stay out of the progress."""
    import os
    import subprocess
    import sys

    from ebsdlib.book.pipeline import NATIVE_LOG_LINE

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    child = "import os, tensorflow as tf; tf.config.list_physical_devices(); print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    command = f"import ebsdlib.cli, subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}], check=True)"
    done = subprocess.run([sys.executable, "-c", command], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["3"], "the processes a command starts inherit level 3 (errors hidden)"
    errors = [line for line in done.stderr.splitlines() if NATIVE_LOG_LINE.match(line) and line.startswith(("E", "F"))]
    assert errors == []


def test_an_error_is_one_line_on_the_terminal_after_tensorflow_started(tmp_path):
    """Read from file descriptor 2 of a real process: TensorFlow's native start-up lines are not Python's stderr,
    and a test that captures ``sys.stderr`` cannot see them. The error comes after TensorFlow loaded a model."""
    import os
    import subprocess
    import sys

    from conftest import tiny_bundle
    from ebsdlib.io.bundle import write_bundle

    honest = tiny_bundle(tmp_path, pattern_shape=(30, 36))
    lying = write_bundle(
        honest.model_path,
        tmp_path / "lying",
        classes=[221, 225, 227],
        image_size=32,
        channels=1,
        preprocessing=honest.preprocessing,
        approach="scratch",
        source=None,
        training={},
        metrics={},
    )
    np.save(tmp_path / "scan.npy", np.zeros((2, 2, 30, 36), dtype=np.uint8))
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    command = [
        sys.executable,
        "-m",
        "ebsdlib",
        "classify",
        str(tmp_path / "scan.npy"),
        "--model",
        str(lying.folder),
        "--no-orientations",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = done.stderr.splitlines()
    assert done.returncode == 1 and len(lines) == 1 and "does not match its model" in lines[0], done.stderr
    # the premise: TensorFlow does write to file descriptor 2 here when it starts
    plain = subprocess.run([sys.executable, "-c", "import tensorflow"], env=env, capture_output=True, text=True)
    assert plain.stderr.strip(), "TensorFlow starts silently now: the guard in ebsdlib.cli is no longer needed"


def test_simulate_computes_a_large_cell_at_the_beam_settings_given(tmp_path, capsys, monkeypatch):
    """--min-dspacing, --bethe and --energy-share replace those settings of each material of the command (the others
    stay the material's own), in place of the shipped master pattern made at other settings, and are forgotten
    afterwards."""
    from ebsdlib.simulation import dynamical

    asked = []
    before = dict(dynamical.MATERIAL_SETTINGS)

    def computed(material, energy, half_size, min_dspacing, energy_bin, bethe, energy_share):
        asked.append((material.name, min_dspacing, energy_bin, bethe, energy_share))
        side = 2 * half_size + 1
        rows, cols = np.mgrid[:side, :side]
        return (np.sin(rows / 3.0) + np.cos(cols / 5.0)).astype(np.float32)  # bands enough for a pattern

    computed.is_cached = lambda *args, **kwargs: False
    monkeypatch.setattr(dynamical, "dynamical_master_pattern_array", computed)
    out = tmp_path / "big"
    line = f"ebsdlib simulate --material Al4Ni3 Ni --simulator dynamical --min-dspacing 1.2 --n 2 --out {out} --profile smoke"
    code, _, err = run(line, capsys)
    assert code == 0, err
    # Al4Ni3 keeps its own Bethe cutoffs and energy bins, Ni its own: only the spacing is the command's
    assert sorted(asked) == [("Al4Ni3", 1.2, 2.0, (4.0, 8.0, 50.0), 1.0), ("Ni", 1.2, 1.0, (20.0, 40.0, 200.0), 1.0)]
    assert len(list((out / "230" / "Al4Ni3").glob("*.tif"))) == 2 and len(list((out / "225" / "Ni").glob("*.tif"))) == 2
    assert list(before.items()) == list(dynamical.MATERIAL_SETTINGS.items())  # the same entries, in the same order
    asked.clear()
    code, _, err = run(
        f"ebsdlib simulate --material Ni --simulator dynamical --bethe 4 8 50 --energy-share 0.8 --n 1 "
        f"--out {tmp_path / 'ni'} --profile smoke",
        capsys,
    )
    assert code == 0, err
    assert asked == [("Ni", 0.7, 1.0, (4.0, 8.0, 50.0), 0.8)]
    assert before == dynamical.MATERIAL_SETTINGS
