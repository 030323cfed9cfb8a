"""Bad input, damaged caches and wrong settings: each gets one clear message naming the file, folder or key,
or is accepted on purpose and said so. One test (or parametrised case) per row of the table."""

import warnings

import numpy as np
import pandas as pd
import pytest
import tifffile

from ebsdlib.datasets.container import DatasetError
from ebsdlib.io.readers import load_folder_tree, read_pattern_image

SHAPE = (30, 36)


def pattern(seed=0, dtype=np.uint8):
    return np.random.default_rng(seed).integers(1, 250, SHAPE).astype(dtype)


def tree(root, images: dict[str, np.ndarray]):
    """``{"225/Ni/a.tif": array}`` written as image files under ``root``."""
    for rel, image in images.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".png":
            from PIL import Image

            Image.fromarray(image).save(path)
        else:
            tifffile.imwrite(path, image)
    return root


class TestImages:
    @pytest.mark.parametrize(
        ("write", "says"),
        [
            (lambda p: tifffile.imwrite(p, np.stack([pattern(k) for k in range(3)]), photometric="minisblack"), "holds 3 pages"),
            (lambda p: tifffile.imwrite(p, np.stack([pattern(k) for k in range(4)]), photometric="minisblack"), "holds 4 pages"),
            (lambda p: tifffile.imwrite(p, np.stack([pattern(k) for k in range(3)])), "3 separate planes"),
        ],
    )
    @pytest.mark.filterwarnings("ignore:.*stored as RGB with separate component planes:DeprecationWarning")  # on purpose
    def test_a_grayscale_stack_is_not_blended_into_one_pattern(self, tmp_path, write, says):
        write(tmp_path / "stack.tif")
        with pytest.raises(DatasetError, match=f"stack.tif holds.*{says.split()[-1]}.*a stack rather than one pattern"):
            read_pattern_image(tmp_path / "stack.tif")

    @pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
    def test_a_float_tiff_with_non_finite_values_is_refused_at_the_loader(self, tmp_path, value):
        image = pattern(dtype=np.float32)
        image[4, 5] = value
        root = tree(tmp_path, {"225/Ni/bad.tif": image, "225/Ni/good.tif": pattern(1, np.float32)})
        with pytest.raises(DatasetError, match=r"225/Ni/bad.tif holds 1 non-finite pixel"):
            load_folder_tree(root)

    def test_a_transparent_png_is_refused_not_blended_onto_white(self, tmp_path):
        rgba = np.zeros((*SHAPE, 4), np.uint8)
        rgba[..., :3] = pattern()[..., None]
        tree(tmp_path, {"225/Ni/clear.png": rgba})
        with pytest.raises(DatasetError, match="clear.png has transparent pixels"):
            read_pattern_image(tmp_path / "225/Ni/clear.png")

    def test_a_zero_byte_png_is_called_empty_without_a_plugin_hint(self, tmp_path):
        (tmp_path / "empty.png").write_bytes(b"")
        with pytest.raises(DatasetError, match=r"empty.png is empty \(0 bytes\)") as err:
            read_pattern_image(tmp_path / "empty.png")
        assert "plugin" not in str(err.value)

    def test_16_bit_and_rgb_images_are_accepted_and_said_so(self, tmp_path):
        rgb = np.repeat(pattern()[..., None], 3, axis=2)
        root = tree(tmp_path, {"225/Ni/a.tif": pattern(0, np.uint16) * 200, "225/Ni/b.png": rgb, "225/Ni/c.tif": pattern(2)})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = load_folder_tree(root)
        note = next(n for n in data.meta["notes"] if n.startswith("images read"))
        assert (
            "1 16-bit grayscale (intensities kept)" in note
            and "1 RGB 8-bit turned to gray" in note
            and "1 8-bit grayscale" in note
        )
        assert data.patterns.max() > 255, "16-bit intensities are kept, not scaled to 8 bits"


class TestLabels:
    def test_a_space_group_outside_the_classes_stops_training_naming_the_folder(self, tmp_path):
        from ebsdlib.datasets.container import SplitCounts, assign_split
        from ebsdlib.learn.training import TrainingConfig, train_trial

        root = tree(tmp_path, {f"{sg}/{m}/{k}.tif": pattern(k) for sg, m in ((225, "Ni"), (194, "Mg")) for k in range(4)})
        data = load_folder_tree(root)
        data.table["split"] = assign_split(data.table, SplitCounts(2, 1, 1))
        with pytest.raises(ValueError, match=r"space group\(s\) \[194\] \(first: 194/Mg/"):
            train_trial("scratch", data, 72, TrainingConfig(max_epochs=1))

    def test_scores_and_confusion_refuse_the_same_rows(self):
        from ebsdlib.evaluate.metrics import confusion, per_space_group_report, weighted_scores

        predictions = pd.DataFrame(
            {"material": ["Ni", "Mg"], "true_space_group": [225, 194], "predicted_space_group": [225, 225]}
        )
        for score in (weighted_scores, confusion, per_space_group_report):
            with pytest.raises(ValueError, match=r"\[194\] \(materials: Mg\)"):
                score(predictions)


class TestTraining:
    def test_a_non_finite_loss_stops_training_at_once_naming_the_trial_and_caches_nothing(self, tmp_path, monkeypatch):
        import keras

        from ebsdlib.datasets.container import PatternDataset
        from ebsdlib.learn import training as training
        from ebsdlib.paths import cache_dir

        def exploding_model(approach, image_size, config, source, seed):  # a tiny model, compiled by fit_model
            keras.utils.set_random_seed(seed)
            return keras.Sequential(
                [keras.Input((image_size, image_size, 1)), keras.layers.Flatten(), keras.layers.Dense(6, activation="softmax")]
            )

        monkeypatch.setattr(training, "training_model", exploding_model)
        n = 24
        table = pd.DataFrame(
            {
                "space_group": np.tile([221, 223, 225, 227, 229, 230], n // 6),
                "material": "m",
                "split": ["train"] * 18 + ["validation"] * 6,
            }
        )
        rng = np.random.default_rng(0)
        data = PatternDataset(rng.random((n, *SHAPE)).astype(np.float32), table)
        config = training.TrainingConfig(
            learning_rate=1e30, max_epochs=3, batch_size=4, recalibration_patterns=4, bn_recalibration=False
        )
        before = set((cache_dir() / "models").glob("*")) if (cache_dir() / "models").exists() else set()
        with pytest.raises(
            training.NonFiniteLoss,
            match=r"scratch trial 0: the loss became (nan|inf) at epoch 1, step \d+; training stopped and nothing was cached",
        ):
            training.train_trial("scratch", data, 32, config)
        after = set((cache_dir() / "models").glob("*")) if (cache_dir() / "models").exists() else set()
        assert after == before, "nothing half-trained is cached"

    def test_too_small_an_input_for_the_transfer_model_is_not_blamed_on_the_weights(self, tmp_path):
        from ebsdlib.learn.models import PretrainedSource, SourceUnavailable, build_transfer_model

        weights = tmp_path / "w.weights.h5"
        weights.write_bytes(b"x")
        with pytest.raises(ValueError, match="got image_size=40") as err:
            build_transfer_model(40, PretrainedSource(str(weights), "file", str(weights), ""))
        assert not isinstance(err.value, SourceUnavailable)


class TestProfiles:
    @pytest.mark.parametrize(
        ("text", "says"),
        [
            (b"shared: [1, 2\n", "is not valid YAML at line 2"),
            (b"- a\n- b\n", "must be a mapping with `description:`, `shared:` and `chapters:`, not a list"),
            (b"\x7fELF\x02\x01\x01\x00\x00\xff\xfe", "is not a text file"),
            (b"sharde: {seed: 1}\n", "unknown top-level key(s) ['sharde']"),
            (b"shared: {image_size: big}\n", "image_size: 'big' (expected like 72)"),
            (b"shared: {image_size: 72.5}\n", "image_size: 72.5 (expected like 72)"),
            (b"shared: {train_per_space_group: -5}\n", "train_per_space_group: -5 (must be at least 1)"),
            (b"shared: {image_size: 40}\n", "image_size: 40 (must be at least 71 and at most 1024)"),
            (b"shared: {imagesize: 72}\n", "['imagesize'] under `shared:`, which is no shared setting"),
            (b"chapters: {09_nothing: {}}\n", "sets chapter(s) ['09_nothing'], which the book does not have"),
            (b"chapters: {02_training: {no_such: 1}}\n", "sets ['no_such'] for chapter 02_training"),
            (b"shared: {architecture: resnet}\n", "architecture: 'resnet' (must be one of ['xception', 'mini'])"),
            (b"shared: {dose: .nan}\n", "sets shared: dose to NaN or an infinity; give a finite number"),
            (b"shared: {learning_rate: .inf}\n", "sets shared: learning_rate to NaN or an infinity"),
            (b"shared: {detector_shape: [60, -.inf]}\n", "sets shared: detector_shape[1] to NaN or an infinity"),
            (b"shared: {seed: 1, seed: 2}\n", "at line 1, column 19: sets 'seed' twice in one mapping; keep one"),
            (
                b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nshared: {map_shape: [*b, *b]}\n",
                "at line 2, column 8: uses the alias *a; write the value out (profiles allow no aliases)",
            ),
        ],
    )
    def test_a_bad_profile_is_named_before_anything_runs_or_is_deleted(self, tmp_path, text, says):
        import shutil

        from ebsdlib.book.pipeline import build_book
        from ebsdlib.paths import REPO_ROOT

        root = tmp_path / "repo"
        shutil.copytree(REPO_ROOT / "book", root / "book", ignore=shutil.ignore_patterns("*.csv"))
        for name in ("_toc.yml", "_config.yml"):
            shutil.copy2(REPO_ROOT / name, root / name)
        (root / "book" / "profiles" / "mine.yml").write_bytes(text)
        staging = tmp_path / "_build" / "staging" / "mine"
        staging.mkdir(parents=True)
        (staging / "last-good-build.txt").write_text("kept")
        with pytest.raises(ValueError, match="mine") as err:
            build_book("mine", root=root, build_dir=tmp_path / "_build", html=False)
        assert says in str(err.value) and "mine" in str(err.value)
        assert (staging / "last-good-build.txt").is_file(), "the last build's staging folder is left alone"

    def test_an_empty_shared_section_means_the_defaults(self, tmp_path):
        from ebsdlib.settings import load_profile, setting_defaults, shared_settings

        (tmp_path / "empty.yml").write_text("shared:\nchapters:\n")
        assert shared_settings(load_profile("empty", tmp_path)) == setting_defaults()


class TestCache:
    @pytest.mark.parametrize("name", ["history.csv", "predictions.csv", "info.json", "model.keras"])
    def test_a_truncated_entry_is_reported_and_not_trusted(self, tmp_path, name):
        from ebsdlib.cache import DamagedEntry, atomic_folder, verified_folder

        entry = tmp_path / "entry"
        with atomic_folder(entry) as tmp:
            (tmp / name).write_bytes(b"0123456789" * 20)
        with open(entry / name, "r+b") as f:
            f.truncate(57)
        with pytest.warns(DamagedEntry, match=f"{name} differs from what was written"):
            assert verified_folder(entry) is False
        assert not entry.exists(), "a damaged entry is removed, so it is computed again"
