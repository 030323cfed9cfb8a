"""The physics study: band contrast along great circles of a Lambert master pattern, and the
kinematical/dynamical/both comparison's bookkeeping (subsets, scores per kind of test, spreads)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ebsdlib.datasets.container import PatternDataset
from ebsdlib.studies import physics
from ebsdlib.studies.physics import (
    PHYSICS,
    band_contrast,
    electron_wavelength,
    physics_comparison,
    physics_summary,
)


def lambert_sphere(half: int = 100) -> np.ndarray:
    """Unit vectors of the upper hemisphere at every pixel of a (2·half + 1)² square Lambert grid."""
    from kikuchipy.signals.util._master_pattern import _lambert2vector

    grid = np.linspace(-1, 1, 2 * half + 1)
    cols, rows = np.meshgrid(grid, grid)
    v = _lambert2vector(cols.ravel().astype(np.float64), rows.ravel().astype(np.float64))
    return (v / np.linalg.norm(v, axis=1)[:, None]).reshape(2 * half + 1, 2 * half + 1, 3)


def banded(normal, half_width_deg: float, height: float = 1.0, half: int = 100, seed: int = 0) -> np.ndarray:
    """A master pattern: noise and one band of ``half_width_deg`` along the great circle normal to ``normal``."""
    v = lambert_sphere(half)
    n = np.asarray(normal, dtype=float) / np.linalg.norm(normal)
    angle = np.degrees(np.abs(np.arcsin(np.clip(v @ n, -1, 1))))
    rng = np.random.default_rng(seed)
    return (angle < half_width_deg) * height + rng.normal(0, 0.3, angle.shape)


def test_the_electron_wavelength_is_relativistic():
    assert electron_wavelength(20) == pytest.approx(0.08588, abs=2e-5)
    assert electron_wavelength(200) == pytest.approx(0.02508, abs=2e-5)


def test_a_band_has_contrast_where_it_lies_and_none_elsewhere():
    mp = banded((1, 1, 0), 1.5)
    on = band_contrast(mp, (1, 1, 0), 1.5)
    assert on > 1.0, "the band is 1 above a noise of 0.3"
    assert band_contrast(mp, (-1, -1, 0), 1.5) == pytest.approx(on, rel=1e-2), "a normal and its opposite are one band"
    for other in [(1, 0, 0), (1, 1, 1), (3, 1, 0)]:
        assert abs(band_contrast(mp, other, 1.5)) < 0.2 * on, other
    dark = banded((1, 1, 0), 1.5, height=-1.0)
    assert band_contrast(dark, (1, 1, 0), 1.5) < -1.0, "a dark band has negative contrast"


def test_the_lower_hemisphere_is_read_from_its_own_half_or_by_friedel():
    mp = banded((0, 0, 1), 20.0)  # bright within 20° of the equator
    both = np.stack([mp, np.zeros_like(mp)])  # a non-centrosymmetric stand-in: the lower half is dark
    low = np.array([[0.9, 0.1, -0.3]]) / np.linalg.norm([0.9, 0.1, -0.3])
    assert physics._sample(mp, low)[0] > 0.5, "one hemisphere: −v is read"
    assert physics._sample(both, low)[0] == 0.0, "two hemispheres: the lower one"


def test_separating_reflections_are_seen_from_their_difference_to_the_reference():
    rows = pd.DataFrame(
        {
            "material": ["A"] * 4 + ["B"] * 4,
            "space_group": [221] * 4 + [225] * 4,
            "family": ["{100}", "{110}", "{111}", "{210}"] * 2,
            "F": [0.1, 0.1, 1.0, 0.1, 0.0, 0.0, 1.0, 0.0],
            "present": [True, True, True, True, False, False, True, False],
            # the fit leaks 0.2 into every family alike; A's superlattice bands add 0.1 ± 0.01 dynamically only
            "contrast_kinematical": [0.2, 0.21, 1.3, 0.19, 0.2, 0.2, 1.3, 0.2],
            "contrast_dynamical": [0.31, 0.29, 1.2, 0.3, 0.2, 0.2, 1.25, 0.2],
        }
    )
    table = physics.separating_reflections(rows, [("A", "B"), ("B", "A")]).set_index("material")
    assert list(table.index) == ["A"], "B has no family that A lacks"
    assert table.loc["A", "families"] == "{100}, {110}, {210}" and table.loc["A", "F"] == 0.1
    assert table.loc["A", "dynamical"] == pytest.approx(0.1) and bool(table.loc["A", "dynamical seen"])
    assert table.loc["A", "kinematical"] == pytest.approx(0.0, abs=1e-12) and not table.loc["A", "kinematical seen"]

    extinct = physics.extinct_bands(rows.assign(contrast_dynamical=[0.3, 0.3, 1.2, 0.3, 0.5, 0.1, 1.2, 0.15]))
    assert extinct["family"].tolist() == ["{100}", "{110}", "{210}"] and set(extinct["material"]) == {"B"}
    assert extinct["level"].tolist() == [0.2] * 3 and extinct["band"].tolist() == [True, False, False]


def test_ordering_pairs_join_ordered_phases_to_their_parents():
    from ebsdlib.crystal.materials import load_materials, training_materials

    pairs = dict(physics.ordering_pairs(training_materials()))
    assert pairs["Ni3Al"] == "Ni" and pairs["Fe3Ni"] == "Ni" and pairs["FeAl"] == "Fe" and pairs["NiAl"] == "Fe"
    assert "Si" not in pairs, "no material of another space group has Si's cell within 3 %"
    m = load_materials()
    assert physics.ordering_pairs([m["Ni3Al"], m["Fe3Ni"]]) == [], "one space group: no pair"


def fake_dataset(physics_name: str, n_per_material: int = 8) -> PatternDataset:
    """Two materials of two space groups, a train/validation/test split, patterns marked by their physics."""
    rows = []
    for material, sg in (("Ni", 225), ("FeAl", 221)):
        for split in ("train", "validation", "test"):
            rows += [{"material": material, "space_group": sg, "split": split}] * n_per_material
    table = pd.DataFrame(rows)
    value = {"kinematical": 1, "dynamical": 2}[physics_name]
    return PatternDataset(np.full((len(table), 4, 4), value, np.uint8), table, {"physics": physics_name})


def test_the_comparison_trains_each_physics_per_trial_and_scores_each_kind(monkeypatch):
    from ebsdlib.studies.generalise import merge_datasets

    kin, dyn = fake_dataset("kinematical"), fake_dataset("dynamical")
    both = merge_datasets(kin, dyn.subset(dyn.table["split"].isin(["train", "validation"]).to_numpy()))
    datasets = {"kinematical": kin, "dynamical": dyn, "both": both}
    trained = []

    def train(approach, subset, image_size, config, source, *, trial, seed):
        train_rows = subset.table["split"] == "train"
        physics_seen = set(subset.patterns[train_rows.to_numpy(), 0, 0].tolist())
        trained.append((trial, tuple(sorted(physics_seen)), int(train_rows.sum())))
        # a model that is right on kinematical patterns and answers 225 on everything else
        return SimpleNamespace(history=pd.DataFrame({"loss": range(3 + trial)}), seen=physics_seen)

    def predict(result, dataset, split, seed):
        part = dataset if split is None else dataset.subset(split)
        truth = part.table["space_group"].to_numpy()
        kinematical = part.patterns[:, 0, 0] == 1
        predicted = np.where(kinematical & (1 in result.seen), truth, 225)
        order = np.arange(len(part))[::-1]  # classified in another order than the map's
        return pd.DataFrame(
            {
                "pattern_id": part.table["pattern_id"].to_numpy()[order],
                "material": part.table["material"].to_numpy()[order],
                "true_space_group": truth[order],
                "predicted_space_group": predicted[order],
            }
        )

    monkeypatch.setattr(physics, "train_trial", train)
    monkeypatch.setattr(physics, "predict_trial", predict)
    map_rows = pd.DataFrame({"material": ["Ni", "FeAl", "FeAl", "Ni"], "space_group": [225, 221, 221, 225], "split": "test"})
    map_data = PatternDataset(np.array([1, 2, 1, 2], np.uint8)[:, None, None] * np.ones((1, 4, 4), np.uint8), map_rows, {})
    tests = {
        "kinematical test split": ("test split", kin),
        "dynamical test split": ("test split", dyn),
        "map": ("map", map_data),
    }
    rows = physics_comparison(datasets, 4, 72, None, None, tests, trials=2, seed=3)

    assert len(trained) == 6 and [t for t, _, _ in trained] == [0, 1] * 3
    assert all(n == 8 for _, _, n in trained), "4 training patterns per space group, two groups"
    assert [seen for _, seen, _ in trained[:4]] == [(1,), (1,), (2,), (2,)]
    assert all(seen == (1, 2) for _, seen, _ in trained[4:]), "both: drawn from the two simulators"
    kin_rows = rows[(rows["physics"] == "kinematical") & (rows["test"] == "kinematical test split")]
    assert kin_rows["accuracy"].tolist() == [1.0, 1.0] and kin_rows["precision"].tolist() == [1.0, 1.0]
    dyn_rows = rows[(rows["physics"] == "kinematical") & (rows["test"] == "dynamical test split")]
    assert dyn_rows["accuracy"].tolist() == [0.5, 0.5] and dyn_rows["most_predicted"].iloc[0] == "225 (100 %)"
    map_row = rows[(rows["physics"] == "kinematical") & (rows["kind"] == "map")].iloc[0]
    # pixels 0 and 2 are kinematical (right), 1 (FeAl, dynamical) is called 225, 3 (Ni) is right: in map order
    assert map_row["accuracy"] == 0.75 and map_row["Ni3Al recall"] == 0.5 and map_row["Ni(Al) recall"] == 1.0
    assert map_row["balanced accuracy"] == 0.75 and np.isnan(map_row["precision"])
    assert rows.loc[rows["physics"] == "dynamical", "epochs"].tolist()[:: len(tests)] == [3, 4]

    summary = physics_summary(rows)
    assert summary.loc["dynamical test split", "dynamical"] == 0.5
    assert summary.loc["kinematical test split", "kinematical ±"] == 0.0
    assert summary.loc["kinematical test split", "both trials"] == 2
    assert summary.loc["map", "patterns"] == 4
    assert list(physics_summary(rows, "precision").index) == ["kinematical test split", "dynamical test split"]

    with pytest.raises(ValueError, match="trials must be at least 2"):
        physics_comparison(datasets, 4, 72, None, None, tests, trials=1)
    with pytest.raises(ValueError, match="unknown test kinds"):
        physics_comparison(datasets, 4, 72, None, None, {"x": ("recorded", kin)})
    with pytest.raises(ValueError, match="no data set for 'both'"):
        physics_comparison({"kinematical": kin, "dynamical": dyn}, 4, 72, None, None, tests)


def test_every_trial_is_within_the_spread():
    rows = pd.DataFrame(
        {
            "physics": ["kinematical"] * 3,
            "trial": [0, 1, 2],
            "test": "t",
            "patterns": 10,
            "accuracy": [0.2, 0.5, 0.6],
        }
    )
    summary = physics_summary(rows)
    mean, spread = summary.loc["t", "kinematical"], summary.loc["t", "kinematical ±"]
    assert mean == pytest.approx(13 / 30) and spread == pytest.approx(13 / 30 - 0.2), "the farthest trial's distance"
    assert all(abs(a - mean) <= spread + 1e-12 for a in rows["accuracy"])
    assert set(PHYSICS) >= {c for c in summary.columns if c in PHYSICS}


def test_the_kinematical_simulator_drops_fe3nis_superlattice_bands_and_keeps_ni3als():
    """The reflector cut at 5 % of the strongest |F| keeps Ni3Al's {100} (|F| about 15 %) and erases Fe3Ni's
    (about 1.5 %): the defect that makes Fe3Ni an fcc pattern in the kinematical data."""
    from ebsdlib.crystal.materials import load_materials

    materials = load_materials()
    table = pd.concat(
        [physics.reflection_visibility(materials[name], simulators=("kinematical",)) for name in ("Ni3Al", "Fe3Ni", "Ni")]
    )
    rows = {name: part.set_index("family") for name, part in table.groupby("material")}
    for name in ("Ni3Al", "Fe3Ni"):
        assert rows[name].loc["{100}", "present"] and rows[name].loc["{110}", "present"], "L1₂ superlattice families"
    assert not rows["Ni"].loc["{100}", "present"]
    for name in rows:
        assert rows[name].loc["{111}", "contrast_kinematical"] > 1.0 and rows[name].loc["{200}", "contrast_kinematical"] > 0.5
    pairs = physics.separating_reflections(table, [("Ni3Al", "Ni"), ("Fe3Ni", "Ni")], simulators=("kinematical",))
    pairs = pairs.set_index("material")
    assert pairs.loc["Ni3Al", "families"] == pairs.loc["Fe3Ni", "families"] == "{100}, {110}, {210}, {211}, {221}, {300}, {310}"
    assert pairs.loc["Ni3Al", "kinematical seen"] and pairs.loc["Ni3Al", "kinematical"] > 0.05
    assert not pairs.loc["Fe3Ni", "kinematical seen"] and abs(pairs.loc["Fe3Ni", "kinematical"]) < 0.03
    assert rows["Ni"].loc["{111}", "bragg_angle"] == pytest.approx(
        np.degrees(np.arcsin(0.08588 / (2 * 3.524 / np.sqrt(3)))), abs=0.01
    )


def test_pyebsdindex_ships_one_dynamical_al_pattern():
    from PIL import Image

    from ebsdlib.simulation.pattern_sources import dynamical_aluminium, other_pattern_sources

    al = dynamical_aluminium()
    assert al.patterns.shape == (1, 100, 120) and al.patterns.dtype == np.uint8
    assert al.table.loc[0, "space_group"] == 225 and al.table.loc[0, "split"] == "test"
    from pathlib import Path

    import pyebsdindex

    png = Path(pyebsdindex.__file__).parent / "tests" / "data" / "al_sim_20kv" / "al_sim_20kv.png"
    np.testing.assert_array_equal(al.patterns[0], np.asarray(Image.open(png).convert("L")))
    assert al.patterns.std() > 20, "a pattern with bands, not a blank image"
    assert set(other_pattern_sources(2)) == {"recorded Ni", "dynamical Ni", "dynamical Al"}


def test_a_band_is_told_from_its_higher_order_on_the_same_circle():
    """{100} and {200} share a centre line: a pattern with only the wide 200 band has no 100 band."""
    second_only = banded((1, 0, 0), 1.4)
    assert abs(band_contrast(second_only, (1, 0, 0), 0.7, other_orders=[1.4])) < 0.3
    assert band_contrast(second_only, (1, 0, 0), 1.4) > 1.0
    first_too = second_only + banded((1, 0, 0), 0.7, height=1.0, seed=1)
    assert band_contrast(first_too, (1, 0, 0), 0.7, other_orders=[1.4]) > 1.0
