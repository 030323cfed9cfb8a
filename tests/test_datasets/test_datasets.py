import numpy as np
import pandas as pd
import pytest
import tifffile

import ebsdlib.simulation.datasets as datasets_module
from ebsdlib.datasets.container import DatasetError, PatternDataset, SplitCounts, assign_split, divide_evenly
from ebsdlib.io.readers import load_folder_tree, load_pattern_file
from ebsdlib.simulation.datasets import simulate_dataset
from ebsdlib.simulation.patterns import Detector, DetectorGeometry, DetectorModel


class TestSplitProtocol:
    def test_divide_evenly(self):
        assert divide_evenly(400, 3) == [134, 133, 133]
        assert divide_evenly(400, 2) == [200, 200]
        assert sum(divide_evenly(100, 5)) == 100

    @pytest.fixture
    def table(self):
        rows = [("A", 1, 50), ("B", 1, 50), ("C", 1, 50), ("D", 2, 80)]
        return pd.DataFrame([{"material": m, "space_group": sg} for m, sg, n in rows for _ in range(n)])

    def test_counts_per_space_group_and_material(self, table):
        split = assign_split(table, SplitCounts(train_per_space_group=40, val_per_space_group=10, test_per_material=5), seed=0)
        counts = pd.crosstab(table["material"], split)
        assert counts.loc[["A", "B", "C"], "train"].tolist() == [14, 13, 13]
        assert counts.loc[["A", "B", "C"], "validation"].tolist() == [4, 3, 3]
        assert counts.loc["D", "train"] == 40 and counts.loc["D", "validation"] == 10
        assert (counts["test"] == 5).all()
        assert counts.loc["A", "unused"] == 50 - 14 - 4 - 5

    def test_rest_is_test_without_a_cap(self, table):
        split = assign_split(table, SplitCounts(40, 10, None), seed=0)
        assert (split == "test").sum() == len(table) - 80 - 20

    def test_same_seed_same_split(self, table):
        a = assign_split(table, SplitCounts(40, 10, 5), seed=1)
        assert a.equals(assign_split(table, SplitCounts(40, 10, 5), seed=1))
        assert not a.equals(assign_split(table, SplitCounts(40, 10, 5), seed=2))

    def test_too_few_patterns(self, table):
        with pytest.raises(DatasetError, match="'D'.*fewer than"):
            assign_split(table, SplitCounts(80, 10, None), seed=0)


class TestSimulateDataset:
    def test_protocol_counts_and_cache_hit(self, monkeypatch):
        calls = []
        real = datasets_module.simulate_patterns

        def counting(*args, **kwargs):
            calls.append(args[0].name)
            return real(*args, **kwargs)

        monkeypatch.setattr(datasets_module, "simulate_patterns", counting)
        args = {
            "counts": SplitCounts(6, 3, 2),
            "detector": Detector(DetectorGeometry(shape=(20, 24), master_pattern_half_size=68), DetectorModel()),
            "seed": 17,  # a data set no other test simulates: the first call here computes it
        }
        ds = simulate_dataset(**args)
        assert len(calls) == 18
        counts = ds.counts().groupby(level="space_group").sum()
        assert (counts["train"] == 6).all() and (counts["validation"] == 3).all()
        assert (ds.counts()["test"] == 2).all()
        assert ds.patterns.shape == (len(ds), 20, 24)
        assert {"quality", "phi1", "pcx"} <= set(ds.table.columns)
        assert ds.meta["patterns_per_second"] * ds.meta["simulation_seconds"] == pytest.approx(len(ds)), "speed of all patterns"

        again = simulate_dataset(**args)
        assert len(calls) == 18, "a second call with the same parameters must read the cache"
        np.testing.assert_array_equal(again.patterns, ds.patterns)

        simulate_dataset(**{**args, "seed": 8})
        assert len(calls) == 36, "a changed parameter must simulate again"

    def test_subset_and_examples(self):
        ds = simulate_dataset(SplitCounts(6, 3, 2), Detector(DetectorGeometry(shape=(20, 24), master_pattern_half_size=68)), 7)
        train = ds.subset("train")
        assert len(train) == 36 and set(train.table["split"]) == {"train"}
        picks = ds.examples(by="space_group")
        assert list(picks.index) == [221, 223, 225, 227, 229, 230]
        assert (ds.table.loc[picks.to_numpy(), "space_group"].to_numpy() == picks.index).all()


def _write_tree(root, layout, shape=(20, 24)):
    rng = np.random.default_rng(0)
    for sg, materials in layout.items():
        for material, n in materials.items():
            folder = root / sg / material
            folder.mkdir(parents=True)
            for i in range(n):
                tifffile.imwrite(folder / f"p{i:03d}.tif", rng.integers(0, 255, shape, dtype=np.uint8))


class TestFolderTree:
    def test_numbers_and_symbols_label_the_patterns(self, tmp_path):
        _write_tree(tmp_path, {"225": {"Ni": 3, "Al": 2}, "Im-3m": {"W": 4}})
        ds = load_folder_tree(tmp_path)
        assert len(ds) == 9 and ds.patterns.shape == (9, 20, 24)
        assert ds.table.groupby("material")["space_group"].first().to_dict() == {"Al": 225, "Ni": 225, "W": 229}
        assert ds.table["file"].iloc[0].endswith(".tif")

    def test_missing_root(self, tmp_path):
        with pytest.raises(DatasetError, match="does not exist"):
            load_folder_tree(tmp_path / "nowhere")

    def test_folder_that_is_not_a_space_group(self, tmp_path):
        _write_tree(tmp_path, {"nickel": {"Ni": 1}})
        with pytest.raises(DatasetError, match="nickel.*not named after a space group"):
            load_folder_tree(tmp_path)

    def test_empty_material_folder(self, tmp_path):
        (tmp_path / "225" / "Ni").mkdir(parents=True)
        with pytest.raises(DatasetError, match="Ni holds no images"):
            load_folder_tree(tmp_path)

    def test_corrupt_image_is_named(self, tmp_path):
        _write_tree(tmp_path, {"225": {"Ni": 2}})
        (tmp_path / "225" / "Ni" / "broken.tif").write_bytes(b"not a tiff at all")
        with pytest.raises(DatasetError, match="broken.tif"):
            load_folder_tree(tmp_path)

    def test_different_sizes_are_resized_and_said_so(self, tmp_path):
        _write_tree(tmp_path, {"225": {"Ni": 3}})
        big = np.full((40, 48), 100, np.uint8)
        big[::2] = 110  # stripes: not constant, mean 105 whatever the resizing
        tifffile.imwrite(tmp_path / "225" / "Ni" / "big.tif", big)
        with pytest.warns(UserWarning, match="resized"):
            ds = load_folder_tree(tmp_path)
        assert ds.patterns.shape == (4, 20, 24)
        assert any("resized" in note for note in ds.meta["notes"])
        assert ds.patterns[ds.table["file"].str.endswith("big.tif").to_numpy()].mean() == pytest.approx(105, abs=0.5)

    def test_another_aspect_stops_the_native_view(self, tmp_path):
        _write_tree(tmp_path, {"225": {"Ni": 3}})
        tifffile.imwrite(tmp_path / "225" / "Ni" / "square.tif", np.eye(20, dtype=np.uint8) * 100)
        with pytest.raises(DatasetError, match=r"1 of 4 images.*square.tif, 20×20.*view='canonical'"):
            load_folder_tree(tmp_path)

    def test_canonical_view_takes_the_centred_square_of_every_detector(self, tmp_path):
        _write_tree(tmp_path, {"225": {"Ni": 2}})
        wide = np.zeros((20, 24), np.uint8)
        wide[:, 2:22] = np.arange(20, dtype=np.uint8)[None, :] * 10  # the centred square holds a ramp
        tifffile.imwrite(tmp_path / "225" / "Ni" / "wide.tif", wide)
        square = np.full((40, 40), 100, np.uint8)
        square[::2] = 110  # stripes: not constant, mean 105 whatever the resizing
        tifffile.imwrite(tmp_path / "225" / "Ni" / "square.tif", square)
        ds = load_folder_tree(tmp_path, view="canonical")
        assert ds.patterns.shape == (4, 20, 20) and ds.meta["view"] == "canonical" and ds.meta["canonical_view"] == 20
        files = ds.table["file"].to_numpy()
        np.testing.assert_allclose(
            ds.patterns[np.char.endswith(files.astype(str), "wide.tif")][0], np.tile(np.arange(20) * 10.0, (20, 1))
        )
        assert ds.patterns[np.char.endswith(files.astype(str), "square.tif")].mean() == pytest.approx(105, abs=0.5)
        assert "20×24" in ds.meta["notes"][-1] and "40×40" in ds.meta["notes"][-1]
        assert load_folder_tree(tmp_path, view="canonical", size=16).patterns.shape == (4, 16, 16)

    def test_unknown_view_or_size_without_canonical(self, tmp_path):
        _write_tree(tmp_path, {"225": {"Ni": 1}})
        with pytest.raises(DatasetError, match="view must be one of"):
            load_folder_tree(tmp_path, view="square")
        with pytest.raises(DatasetError, match="size applies to view='canonical'"):
            load_folder_tree(tmp_path, size=64)


class TestPatternFile:
    @pytest.fixture
    def h5_file(self, tmp_path):
        import kikuchipy as kp

        data = np.random.default_rng(0).integers(0, 255, (3, 4, 20, 24), dtype=np.uint8)
        path = tmp_path / "scan.h5"
        kp.signals.EBSD(data).save(path)
        return path, data

    def test_labelled_map(self, h5_file):
        path, data = h5_file
        ds = load_pattern_file(path, space_group="Fm-3m", material="Ni")
        assert ds.map_shape == (3, 4) and len(ds) == 12
        np.testing.assert_array_equal(ds.patterns, data.reshape(12, 20, 24))
        assert set(ds.labels) == {225} and ds.table.loc[5, ["row", "col"]].tolist() == [1, 1]

    def test_canonical_view_of_a_scan(self, h5_file):
        path, data = h5_file
        ds = load_pattern_file(path, view="canonical")
        assert ds.patterns.shape == (12, 20, 20) and ds.map_shape == (3, 4)
        np.testing.assert_allclose(ds.patterns, data.reshape(12, 20, 24)[:, :, 2:22])
        assert ds.meta["view"] == "canonical" and "20×24" in ds.meta["notes"][0]

    def test_unlabelled(self, h5_file):
        ds = load_pattern_file(h5_file[0])
        assert set(ds.labels) == {-1}

    def test_corrupt_file(self, tmp_path):
        path = tmp_path / "broken.h5"
        path.write_bytes(b"\x89HDF\r\n garbage")
        with pytest.raises(DatasetError, match="kikuchipy cannot read .*broken.h5"):
            load_pattern_file(path)

    def test_missing_file(self, tmp_path):
        with pytest.raises(DatasetError, match="does not exist"):
            load_pattern_file(tmp_path / "none.h5")


def test_dataset_rejects_mismatched_table():
    with pytest.raises(DatasetError, match="must match"):
        PatternDataset(np.zeros((3, 4, 4)), pd.DataFrame({"space_group": [225, 225]}))


def test_other_files_are_skipped_and_said_so(tmp_path):
    _write_tree(tmp_path, {"225": {"Ni": 2}})
    (tmp_path / "225" / "Ni" / "notes.txt").write_text("beam 20 kV")
    with pytest.warns(UserWarning, match="notes.txt"):
        ds = load_folder_tree(tmp_path)
    assert len(ds) == 2 and "skipped" in ds.meta["notes"][0]
