"""Model bundles and streaming classification of scans, with tiny Keras models (fast; the Xception path is
the walkthrough's, in test_cli.py)."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from conftest import tiny_bundle  # the root conftest: a tiny Keras model as a bundle
from ebsdlib.crystal.materials import SPACE_GROUPS
from ebsdlib.io.bundle import BundleError, read_bundle
from ebsdlib.io.scans import ScanError, open_scan
from ebsdlib.mapping.classify import class_entropy, classify_scan

SHAPE = (30, 36)


@pytest.fixture
def scan_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "scan.npy"
    np.save(path, rng.integers(0, 255, size=(3, 5, *SHAPE), dtype=np.uint8))
    return path


class TestBundle:
    def test_a_bundle_says_what_the_model_expects_and_loads_in_safe_mode(self, tmp_path):
        bundle = tiny_bundle(tmp_path)
        info = json.loads((bundle.folder / "bundle.json").read_text())
        assert info["classes"] == list(SPACE_GROUPS) and info["image_size"] == 32 and info["channels"] == 1
        assert set(info["versions"]) == {"ebsdlib", "keras", "tensorflow"}
        again = read_bundle(bundle.folder, classes=SPACE_GROUPS, image_size=32, channels=1)
        assert again.load_model().output_shape == (None, 6)

    @pytest.mark.parametrize(
        ("ask", "says"),
        [
            ({"classes": [221, 225]}, "classes"),
            ({"image_size": 72}, "input size 32 px (asked for 72 px)"),
            ({"channels": 3}, "1 input channel(s) (asked for 3)"),
        ],
    )
    def test_a_bundle_that_does_not_fit_is_refused_saying_what_differs(self, tmp_path, ask, says):
        bundle = tiny_bundle(tmp_path)
        with pytest.raises(BundleError, match=says.replace("(", r"\(").replace(")", r"\)")):
            read_bundle(bundle.folder, **ask)

    @pytest.mark.parametrize(
        ("write", "says"),
        [
            ({"classes": [221, 225, 227]}, "states 3 classes [221, 225, 227], but the model has 6 outputs"),
            ({"channels": 3}, "states image_size 32 and channels 3, but the model takes inputs of 32 × 32 × 1"),
        ],
    )
    def test_a_bundle_that_contradicts_its_model_is_refused_naming_the_field(self, tmp_path, write, says):
        from ebsdlib.io.bundle import write_bundle

        honest = tiny_bundle(tmp_path)  # 32 px, one channel, six classes
        fields = {"classes": SPACE_GROUPS, "image_size": 32, "channels": 1, **write}
        bundle = write_bundle(
            honest.model_path,
            tmp_path / "lying",
            **fields,
            preprocessing=honest.preprocessing,
            approach="scratch",
            source=None,
            training={},
            metrics={},
        )
        with pytest.raises(BundleError, match=re.escape(f"{bundle.folder} does not match its model: bundle.json {says}")):
            bundle.load_model()

    def test_the_class_order_the_model_was_trained_on_travels_with_it(self, tmp_path):
        from ebsdlib.cache import MANIFEST, _record
        from ebsdlib.io.bundle import model_classes, stamp_classes, write_bundle

        honest = tiny_bundle(tmp_path)
        trained = tmp_path / "trained.keras"
        trained.write_bytes(honest.model_path.read_bytes())
        stamp_classes(trained, SPACE_GROUPS)  # as train_trial saves every model
        assert model_classes(trained) == tuple(SPACE_GROUPS) and model_classes(honest.model_path) is None
        fields = {"image_size": 32, "channels": 1, "preprocessing": honest.preprocessing, "approach": "scratch", "source": None}
        with pytest.raises(BundleError, match=r"was trained on the classes \[221, 223, 225, 227, 229, 230\], in that order"):
            write_bundle(trained, tmp_path / "permuted", classes=SPACE_GROUPS[::-1], training={}, metrics={}, **fields)
        bundle = write_bundle(trained, tmp_path / "right", classes=SPACE_GROUPS, training={}, metrics={}, **fields)
        assert bundle.load_model().output_shape == (None, 6)
        # bundle.json edited to another order, its record forged to match: the model still says which order it knows
        info = json.loads((bundle.folder / "bundle.json").read_text())
        info["classes"] = list(SPACE_GROUPS[::-1])
        (bundle.folder / "bundle.json").write_text(json.dumps(info))
        manifest = json.loads((bundle.folder / MANIFEST).read_text())
        manifest["bundle.json"] = _record(bundle.folder / "bundle.json")
        (bundle.folder / MANIFEST).write_text(json.dumps(manifest))
        with pytest.raises(BundleError, match="states the classes .230, 229.* but the model was trained on .221, 223"):
            read_bundle(bundle.folder).load_model()

    def test_missing_and_damaged_bundles_are_named(self, tmp_path):
        with pytest.raises(BundleError, match="does not exist"):
            read_bundle(tmp_path / "nowhere")
        (tmp_path / "empty").mkdir()
        with pytest.raises(BundleError, match="is not a model bundle"):
            read_bundle(tmp_path / "empty")
        bundle = tiny_bundle(tmp_path)
        data = (bundle.folder / "model.keras").read_bytes()
        (bundle.folder / "model.keras").write_bytes(data[: len(data) // 2])
        with pytest.raises(BundleError, match="damaged .model.keras differs"):
            read_bundle(bundle.folder)


class TestScan:
    def test_a_stack_keeps_its_map_shape_and_reads_chunks(self, scan_file):
        scan = open_scan(scan_file)
        assert (scan.n, scan.map_shape, scan.pattern_shape) == (15, (3, 5), SHAPE)
        whole = np.load(scan_file).reshape(15, *SHAPE)
        assert np.array_equal(scan.read(4, 11), whole[4:11])

    def test_a_folder_of_images_needs_a_map_shape_that_holds_it(self, tmp_path):
        import tifffile

        for k in range(6):
            tifffile.imwrite(tmp_path / f"{k:03d}.tif", np.full(SHAPE, k, dtype=np.uint8))
        scan = open_scan(tmp_path, (2, 3))
        assert scan.kind == "images" and scan.read(2, 4)[:, 0, 0].tolist() == [2, 3]
        with pytest.raises(ScanError, match="a 4 × 4 map holds 16 patterns"):
            open_scan(tmp_path, (4, 4))

    def test_images_fill_the_map_in_natural_name_order_and_need_its_shape(self, tmp_path):
        import tifffile

        for k in (1, 2, 10):
            tifffile.imwrite(tmp_path / f"p_{k}.tif", np.full(SHAPE, k, dtype=np.uint8))
        assert open_scan(tmp_path, (1, 3)).read(0, 3)[:, 0, 0].tolist() == [1, 2, 10]
        with pytest.raises(ScanError, match="give the map's shape with --map-shape"):
            open_scan(tmp_path)

    @pytest.mark.parametrize("size", [0, -1])
    def test_a_chunk_size_below_one_is_refused(self, tmp_path, scan_file, size):
        with pytest.raises(ValueError, match="chunk size must be at least 1"):
            classify_scan(scan_file, [tiny_bundle(tmp_path)], tmp_path / "out", chunk_size=size, progress=False)

    @pytest.mark.parametrize(
        ("content", "says"),
        [(b"not a scan", "kikuchipy cannot read"), (None, "does not exist")],
    )
    def test_an_unreadable_scan_is_named(self, tmp_path, content, says):
        path = tmp_path / "scan.h5"
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(ScanError, match=says):
            open_scan(path)

    def test_an_array_of_the_wrong_dimensions_is_refused(self, tmp_path):
        np.save(tmp_path / "flat.npy", np.zeros((10, 10)))
        with pytest.raises(ScanError, match=r"\(n, rows, cols\)"):
            open_scan(tmp_path / "flat.npy")


class TestClassify:
    def test_results_do_not_depend_on_the_chunk_size_and_memory_is_bounded_by_it(self, tmp_path, scan_file, monkeypatch):
        from ebsdlib.mapping import classify as classify

        bundle = tiny_bundle(tmp_path)
        read = []
        original = classify.Scan.read
        monkeypatch.setattr(classify.Scan, "read", lambda self, a, b: read.append(b - a) or original(self, a, b))
        small = classify_scan(scan_file, [bundle], tmp_path / "small", chunk_size=4, progress=False)
        assert max(read) <= 4 and sum(read) == 15
        large = classify_scan(scan_file, [bundle], tmp_path / "large", chunk_size=1000, progress=False)
        a, b = pd.read_csv(small.files["csv"]), pd.read_csv(large.files["csv"])
        pd.testing.assert_frame_equal(a, b, atol=1e-6)
        assert len(a) == 15 and a["index"].tolist() == list(range(15))
        assert (a["row"] == a["index"] // 5).all() and (a["col"] == a["index"] % 5).all()

    def test_the_csv_the_png_and_the_crystal_map_agree(self, tmp_path, scan_file):
        from orix import io

        result = classify_scan(scan_file, [tiny_bundle(tmp_path)], tmp_path / "out", threshold=0.3, progress=False)
        table = pd.read_csv(result.files["csv"])
        p = table[[f"p_{c}" for c in SPACE_GROUPS]].to_numpy()
        assert np.allclose(p.sum(axis=1), 1, atol=1e-5)
        assert np.allclose(table["confidence"], p.max(axis=1)) and np.allclose(table["entropy"], class_entropy(p), atol=1e-5)
        below = table["confidence"] < 0.3
        assert (table.loc[below, "space_group"] == -1).all()
        assert (table.loc[~below, "space_group"] == np.asarray(SPACE_GROUPS)[p[~below].argmax(axis=1)]).all()
        assert result.files["png"].stat().st_size > 1000
        xmap = io.load(result.files["h5"])
        assert xmap.shape == (3, 5)
        ids = xmap.get_map_data("phase_id").ravel()
        by_id = {i: phase.space_group.number for i, phase in xmap.phases if i != -1}
        assert [by_id.get(int(i), -1) for i in ids] == table["space_group"].tolist()
        assert np.allclose(xmap.get_map_data("confidence").ravel(), table["confidence"], atol=1e-6)
        ang = io.load(result.files["ang"])
        assert ang.size == 15

    def test_an_ensemble_reports_votes_and_disagreement(self, tmp_path, scan_file):
        bundles = [tiny_bundle(tmp_path, "a", seed=0), tiny_bundle(tmp_path, "b", seed=1)]
        table = pd.read_csv(classify_scan(scan_file, bundles, tmp_path / "out", progress=False).files["csv"])
        assert {"vote_0", "vote_1", "disagreement"} <= set(table.columns)
        assert set(table["disagreement"]) <= {0.0, 0.5}

    def test_a_scan_of_another_aspect_is_not_squeezed_into_the_models(self, tmp_path):
        path = tmp_path / "square.npy"
        np.save(path, np.zeros((4, 40, 40), dtype=np.uint8))
        with pytest.raises(BundleError, match="another aspect"):
            classify_scan(path, [tiny_bundle(tmp_path)], tmp_path / "out", progress=False)
        canonical = tiny_bundle(tmp_path, "canonical", view="canonical")
        result = classify_scan(path, [canonical], tmp_path / "out", progress=False)
        assert result.n == 4

    def test_bundles_of_different_classes_do_not_form_an_ensemble(self, tmp_path, scan_file):
        a = tiny_bundle(tmp_path, "a")
        b = tiny_bundle(tmp_path, "b", classes=(221, 223, 225, 227, 229, 194))
        with pytest.raises(BundleError, match="classes"):
            classify_scan(scan_file, [a, b.folder], tmp_path / "out", progress=False)

    @pytest.mark.slow
    def test_a_dask_cluster_gives_the_same_results(self, tmp_path, scan_file):
        from distributed import LocalCluster

        bundle = tiny_bundle(tmp_path)
        local = classify_scan(scan_file, [bundle], tmp_path / "local", chunk_size=4, progress=False)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            remote = classify_scan(
                scan_file, [bundle], tmp_path / "remote", chunk_size=4, scheduler=cluster.scheduler_address, progress=False
            )
        pd.testing.assert_frame_equal(pd.read_csv(local.files["csv"]), pd.read_csv(remote.files["csv"]), atol=1e-6)


class TestTruth:
    @pytest.fixture
    def phases(self, tmp_path):
        path = tmp_path / "phases.csv"
        pd.DataFrame({"row": [0, 0, 1, 1], "col": [0, 1, 0, 1], "space_group": [225, 221, -1, 225]}).to_csv(path, index=False)
        return path

    def test_symbols_and_numbers_score_alike(self, tmp_path, phases):
        from ebsdlib.mapping.classify import score_against_truth

        scores = []
        for groups in ([225, 225, 225, 221], ["Fm-3m", "Fm-3m", "Fm-3m", "Pm-3m"]):
            truth = tmp_path / "truth.csv"
            pd.DataFrame({"row": [0, 0, 1, 1], "col": [0, 1, 0, 1], "space_group": groups}).to_csv(truth, index=False)
            scores.append(score_against_truth(phases, truth))
        assert scores[0] == scores[1] == {"accuracy": 0.25, "not_indexed": 0.25}

    @pytest.mark.parametrize(
        ("rows", "says"),
        [
            ({"row": [0, 0, 1, 1, 1], "col": [0, 1, 0, 1, 1], "space_group": [225] * 5}, r"\(row 1, col 1\) more than once"),
            ({"row": [0, 0, 1, 1], "col": [0, 1, 0, 1], "space_group": [225, 225, "Fq-3m", 225]}, "'Fq-3m' is not a space group"),
        ],
    )
    def test_a_truth_that_is_not_one_is_refused(self, tmp_path, phases, rows, says):
        from ebsdlib.mapping.classify import score_against_truth

        truth = tmp_path / "truth.csv"
        pd.DataFrame(rows).to_csv(truth, index=False)
        with pytest.raises(ScanError, match=says):
            score_against_truth(phases, truth)


def test_patterns_with_nan_or_infinite_intensities_are_not_indexed_and_counted(tmp_path):
    scan = np.random.default_rng(0).random((2, 3, *SHAPE)).astype(np.float32)
    scan[0, 1, 4, 5] = np.nan
    scan[1, 2, 0, 0] = np.inf
    np.save(tmp_path / "scan.npy", scan)
    result = classify_scan(tmp_path / "scan.npy", [tiny_bundle(tmp_path, pattern_shape=SHAPE)], tmp_path / "out", progress=False)
    table = pd.read_csv(result.files["csv"])
    assert (
        result.non_finite == 2 and json.loads((tmp_path / "out" / "classification.json").read_text())["non_finite_patterns"] == 2
    )
    broken = (table["row"] == 0) & (table["col"] == 1) | (table["row"] == 1) & (table["col"] == 2)
    assert (table.loc[broken, "space_group"] == -1).all() and table.loc[broken, "confidence"].isna().all()
    assert table.loc[~broken, "confidence"].notna().all(), "the other patterns of the chunk are classified"


def test_image_names_give_the_map_order_and_names_that_sort_alike_are_refused(tmp_path):
    from ebsdlib.io.scans import image_files

    for name in ("p10.tif", "p2.tif", "P1.tif"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in image_files(tmp_path)] == ["P1.tif", "p2.tif", "p10.tif"]
    (tmp_path / "p01.tif").write_bytes(b"")
    with pytest.raises(ScanError, match=r"(P1.tif and p01.tif|p01.tif and P1.tif) in .* take the same place"):
        image_files(tmp_path)


@pytest.mark.parametrize(
    ("array", "says"),
    [
        (np.ones((2, 30, 36), dtype=np.complex64), "complex64 values; pattern intensities are real numbers"),
        (np.ones((2, 0, 36), dtype=np.uint8), r"an empty array of shape \(2, 0, 36\)"),
    ],
)
def test_a_stack_that_holds_no_intensities_is_refused(tmp_path, array, says):
    np.save(tmp_path / "scan.npy", array)
    with pytest.raises(ScanError, match=says):
        open_scan(tmp_path / "scan.npy")


def test_a_scan_of_one_pattern_is_classified_and_mapped(tmp_path):
    np.save(tmp_path / "one.npy", np.random.default_rng(0).integers(0, 255, (1, 1, *SHAPE), dtype=np.uint8))
    result = classify_scan(tmp_path / "one.npy", [tiny_bundle(tmp_path, pattern_shape=SHAPE)], tmp_path / "out", progress=False)
    assert result.n == 1 and len(pd.read_csv(result.files["csv"])) == 1 and result.files["h5"].is_file()
    # orix writes no .ang of a single point: none is listed, and the record says which files there are
    assert "ang" not in result.files and not (tmp_path / "out" / "phase_map.ang").exists()
    listed = json.loads((tmp_path / "out" / "classification.json").read_text())["files"]
    assert listed == ["classification.json", "phase_map.h5", "phase_map.png", "phases.csv"]


def test_a_model_keras_refuses_in_safe_mode_is_one_line_naming_it(tmp_path):
    """A Lambda layer carries Python code: Keras' safe mode refuses it, and the bundle says so in one line."""
    import keras

    from ebsdlib.io.bundle import write_bundle

    honest = tiny_bundle(tmp_path)
    model = keras.Sequential(
        [keras.Input((32, 32, 1)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Flatten(), keras.layers.Dense(6)]
    )
    model.save(tmp_path / "lambda.keras")
    bundle = write_bundle(
        tmp_path / "lambda.keras",
        tmp_path / "lambda",
        classes=SPACE_GROUPS,
        image_size=32,
        channels=1,
        preprocessing=honest.preprocessing,
        approach="scratch",
        source=None,
        training={},
        metrics={},
    )
    with pytest.raises(BundleError, match="Keras refuses to load the model .*lambda.*model.keras") as err:
        bundle.load_model()
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)


def always_matrix_bundle(tmp_path, pattern_shape):
    """A bundle whose model calls every pattern 225 (the Ni(Al) matrix), whatever it shows."""
    import keras

    from ebsdlib.io.bundle import write_bundle

    model = keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(6, activation="softmax", kernel_initializer="zeros", bias_initializer="zeros"),
        ]
    )
    bias = np.zeros(6, dtype=np.float32)
    bias[SPACE_GROUPS.index(225)] = 5.0
    model.layers[-1].set_weights([np.zeros((32 * 32, 6), dtype=np.float32), bias])
    path = tmp_path / "matrix.keras"
    model.save(path)
    return write_bundle(
        path,
        tmp_path / "matrix",
        classes=SPACE_GROUPS,
        image_size=32,
        channels=1,
        preprocessing={"view": "native", "canonical_size": None, "normalization": "minmax", "pattern_shape": list(pattern_shape)},
        approach="scratch",
        source=None,
        training={"data_fingerprint": "test"},
        metrics={"precision": 0.5},
    )


def test_given_the_phases_the_map_holds_each_patterns_orientation_for_its_class(tmp_path):
    """The precipitates share their host grain's orientation, so a map that calls everything matrix and indexes
    it as the matrix finds every true orientation: the file's detector is used, the rotations are not the identity
    and agree with the truth, the CrystalMap and phases.csv agree."""
    from orix import io

    from ebsdlib.crystal.materials import dual_phase_materials
    from ebsdlib.io.export import write_scan
    from ebsdlib.mapping.classify import score_against_truth
    from ebsdlib.simulation.patterns import Detector, DetectorGeometry

    geometry = DetectorGeometry(shape=(60, 73))
    scan = write_scan(tmp_path / "scan.h5", (4, 5), 2, 0.3, Detector(geometry), seed=0)
    bundle = always_matrix_bundle(tmp_path, geometry.shape)
    result = classify_scan(scan, [bundle], tmp_path / "map", progress=False, phases=dual_phase_materials())
    table = pd.read_csv(result.files["csv"])
    assert (table["space_group"] == 225).all() and result.indexed == table["oriented"].sum() >= 18
    score = score_against_truth(result.files["csv"], tmp_path / "scan_truth.csv")
    assert score["median_misorientation"] < 1.5 and score["within_2"] >= 0.8
    xmap = io.load(result.files["h5"])
    rotations = xmap.rotations.data  # orix keeps the map's points in order, "not indexed" ones included
    oriented = table["oriented"].to_numpy()
    np.testing.assert_allclose(rotations[oriented], table.loc[oriented, ["qa", "qb", "qc", "qd"]].to_numpy(), atol=1e-6)
    assert not np.allclose(rotations[oriented], [1, 0, 0, 0])
    assert (xmap.get_map_data("phase_id").ravel()[~oriented] == -1).all()
    assert {"fit", "nmatch", "pq"} <= set(xmap.prop)
    note = json.loads((tmp_path / "map" / "classification.json").read_text())["orientations"]
    assert note["phases"] == {"225": "NiAl_gamma", "221": "Ni3Al_gamma_prime"}
    assert note["pattern_centre"] == pytest.approx(list(geometry.pc)) and note["detector_tilt"] == pytest.approx(geometry.tilt)


def test_refined_orientations_are_closer_to_the_truth_and_refining_needs_the_phases(tmp_path):
    from ebsdlib.crystal.materials import dual_phase_materials
    from ebsdlib.io.export import write_scan
    from ebsdlib.mapping.classify import score_against_truth
    from ebsdlib.simulation.patterns import Detector, DetectorGeometry

    geometry = DetectorGeometry(shape=(60, 73))
    scan = write_scan(tmp_path / "scan.h5", (4, 5), 2, 0.3, Detector(geometry), seed=0)
    bundle = always_matrix_bundle(tmp_path, geometry.shape)
    scores = {}
    for refine in (False, True):
        out = tmp_path / f"map_{refine}"
        result = classify_scan(scan, [bundle], out, progress=False, phases=dual_phase_materials(), refine=refine)
        scores[refine] = score_against_truth(result.files["csv"], tmp_path / "scan_truth.csv")
    table = pd.read_csv(tmp_path / "map_True" / "phases.csv")
    assert table.loc[table["oriented"], "ncc"].notna().all()
    assert scores[True]["median_misorientation"] < scores[False]["median_misorientation"] - 0.2
    note = json.loads((tmp_path / "map_True" / "classification.json").read_text())["orientations"]
    assert note["refined"] == "against each phase's kinematical master pattern at 20 kV (kikuchipy)"
    with pytest.raises(BundleError, match="needs the scan's phases"):
        classify_scan(scan, [bundle], tmp_path / "no", progress=False, refine=True)


@pytest.mark.slow
def test_a_dask_cluster_indexes_the_orientations_too(tmp_path):
    from distributed import LocalCluster

    from ebsdlib.crystal.materials import dual_phase_materials
    from ebsdlib.io.export import write_scan
    from ebsdlib.simulation.patterns import Detector, DetectorGeometry

    geometry = DetectorGeometry(shape=(60, 73))
    scan = write_scan(tmp_path / "scan.h5", (3, 4), 2, 0.3, Detector(geometry), seed=0)
    bundle = always_matrix_bundle(tmp_path, geometry.shape)
    phases = dual_phase_materials()
    local = classify_scan(scan, [bundle], tmp_path / "local", chunk_size=5, progress=False, phases=phases)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = classify_scan(
            scan, [bundle], tmp_path / "remote", chunk_size=5, scheduler=cluster.scheduler_address, progress=False, phases=phases
        )
    table = pd.read_csv(remote.files["csv"])
    assert table["oriented"].sum() == remote.indexed >= 10
    pd.testing.assert_frame_equal(pd.read_csv(local.files["csv"]), table, atol=1e-6)
