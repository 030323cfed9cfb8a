"""Few-shot fine-tuning on a sample's phases: starts from the trained model, learns the phases, is cached."""

from dataclasses import replace

import numpy as np
import pytest

import ebsdlib.learn.finetune as finetune
from ebsdlib.crystal.materials import dual_phase_materials, load_materials
from ebsdlib.datasets.container import SplitCounts
from ebsdlib.learn.finetune import PhaseTuning, fine_tune, fine_tune_on_phases
from ebsdlib.learn.training import TrainingConfig, train_trial
from ebsdlib.simulation.datasets import simulate_dataset
from ebsdlib.simulation.patterns import Detector, DetectorGeometry

DETECTOR = Detector(DetectorGeometry(shape=(30, 36), master_pattern_half_size=68))
CONFIG = TrainingConfig(architecture="mini", max_epochs=1, patience=1)


@pytest.fixture(scope="module")
def base():
    """A stand-in network trained one epoch on four materials of four space groups (221, 225, 227, 229)."""
    materials = [load_materials()[name] for name in ("NiAl", "Ni", "Si", "Fe")]
    data = simulate_dataset(SplitCounts(8, 4, 0), DETECTOR, seed=0, materials=materials)
    return train_trial("scratch", data, 72, CONFIG, seed=0)


def _probabilities(result, data):
    import keras

    from ebsdlib.preprocess import prepare_patterns

    model = keras.models.load_model(result.model_path)
    return model.predict(prepare_patterns(data.subset("validation").patterns, 72, 1), verbose=0)


def test_fine_tuning_starts_from_the_model_and_learns_the_phases(base):
    phases = dual_phase_materials()
    tuning = PhaseTuning(train_per_phase=24, val_per_phase=8, max_epochs=3, learning_rate=3e-3)
    tuned = fine_tune_on_phases(base, phases, DETECTOR, tuning, CONFIG, seed=1)
    assert tuned.info["fine_tuned_from"] == base.info["key"] != tuned.info["key"]
    assert tuned.approach == base.approach and tuned.info["train_space_groups"] == [221, 225]
    assert tuned.info["config"]["learning_rate"] == 3e-3 and tuned.info["train_patterns"] == 48
    data = simulate_dataset(SplitCounts(24, 8, 0), DETECTOR, seed=1, materials=phases)
    columns = [0, 2]  # 221, 225 among SPACE_GROUPS
    before = _probabilities(base, data)[:, columns].sum(axis=1).mean()
    after = _probabilities(tuned, data)[:, columns].sum(axis=1).mean()
    assert after > before + 0.1, "after fine-tuning on two phases, the model answers more with those two"

    # a learning rate too small to move anything: the fine-tuned weights are the starting model's, not a new model's
    frozen = replace(CONFIG, bn_recalibration=False)
    still = fine_tune_on_phases(base, phases, DETECTOR, PhaseTuning(24, 8, 1, 1e-9), frozen, seed=1)
    import keras

    for mine, start in zip(
        keras.models.load_model(still.model_path).get_layer("block1_conv1").get_weights(),
        keras.models.load_model(base.model_path).get_layer("block1_conv1").get_weights(),
        strict=True,
    ):
        np.testing.assert_allclose(mine, start, atol=1e-5)


def test_fine_tuning_is_cached(base, monkeypatch):
    phases = dual_phase_materials()
    tuning = PhaseTuning(train_per_phase=6, val_per_phase=2, max_epochs=1)
    first = fine_tune_on_phases(base, phases, DETECTOR, tuning, CONFIG, seed=2)
    monkeypatch.setattr(finetune, "fit_model", lambda *a, **k: pytest.fail("a cached fine-tuning was trained again"))
    again = fine_tune_on_phases(base, phases, DETECTOR, tuning, CONFIG, seed=2)
    assert again.model_path == first.model_path
    # another seed is another model
    monkeypatch.undo()
    other = fine_tune_on_phases(base, phases, DETECTOR, tuning, CONFIG, seed=3)
    assert other.model_path != first.model_path


def test_phases_need_classes_of_their_own(base):
    matrix, precipitate = dual_phase_materials()
    nickel = load_materials()["Ni"]
    with pytest.raises(ValueError, match="share a space group"):
        fine_tune_on_phases(base, [matrix, nickel], DETECTOR, PhaseTuning(2, 1, 1), CONFIG)
    outside = [m for m in load_materials().values() if m.space_group not in (221, 223, 225, 227, 229, 230)][0]
    with pytest.raises(ValueError, match=outside.name):
        fine_tune_on_phases(base, [precipitate, outside], DETECTOR, PhaseTuning(2, 1, 1), CONFIG)
    data = simulate_dataset(SplitCounts(2, 1, 0), DETECTOR, seed=0, materials=[outside])
    with pytest.raises(ValueError, match=str(outside.space_group)):
        fine_tune(base, data, CONFIG)


@pytest.mark.parametrize(("field", "value"), [("train_per_phase", 0), ("max_epochs", 1.5), ("learning_rate", 0.0)])
def test_phase_tuning_refuses_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        PhaseTuning(**{field: value})
