"""The physics study: the bands that separate an ordered phase from its parent in each simulator, and the
kinematical/dynamical/both comparison's bookkeeping (subsets, scores per kind of test, spreads)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ebsdlib.datasets.container import PatternDataset
from ebsdlib.studies import physics
from ebsdlib.studies.physics import PHYSICS, electron_wavelength, physics_comparison, physics_summary


def test_the_electron_wavelength_is_relativistic():
    assert electron_wavelength(20) == pytest.approx(0.08588, abs=2e-5)
    assert electron_wavelength(200) == pytest.approx(0.02508, abs=2e-5)


def test_a_cubic_family_has_its_distinct_normals():
    assert len(physics.family_normals((1, 0, 0))) == 3
    assert len(physics.family_normals((1, 1, 0))) == 6
    assert len(physics.family_normals((1, 1, 1))) == 4
    assert len(physics.family_normals((3, 2, 1))) == 24
    normals = physics.family_normals((2, 2, 1))
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0)
    assert not any(np.allclose(a, -b) for a in normals for b in normals), "± counted once"


def test_a_band_template_covers_the_band_and_its_share_of_the_sphere():
    side = 201
    template = physics.band_template(side, np.array([[0.0, 0.0, 1.0]]), [10.0])
    # the equator band of half-width 10° covers sin(10°) of the hemisphere's area; Lambert pixels have equal area,
    # but the grid's outermost pixels sit on the equator (2 % of them, all inside this band)
    assert template.mean() == pytest.approx(np.sin(np.radians(10)), abs=0.02)
    assert physics.band_template(side, np.array([[0.0, 0.0, 1.0]]), [5.0]).mean() < template.mean() / 1.8
    both = physics.band_template(side, np.array([[0.0, 0.6, 0.8]]), [5.0], hemispheres=2)
    assert both.shape == (2, side, side) and not np.array_equal(both[0], both[1]), "a tilted band differs between hemispheres"


def test_the_separating_families_leave_out_those_on_a_circle_of_the_reference():
    from ebsdlib.crystal.materials import load_materials

    m = load_materials()
    names = physics.separating_families(m["Ni3Al"], m["Ni"])["name"].tolist()
    assert names[:2] == ["{221}", "{310}"], "the first L1₂ superlattice families whose circles Ni has no band on"
    assert "{100}" not in names and "{110}" not in names and "{210}" not in names, "on the circles of 200, 220, 420"
    assert physics.separating_families(m["Ni"], m["Ni3Al"]).empty, "Ni has no family Ni3Al lacks"


def test_the_superlattice_check_sees_bands_put_into_a_difference(monkeypatch):
    """Stand-in master patterns: a smooth random field for the reference, and the material the same field
    plus the separating bands (or, for a control, the same plus the bands turned away)."""
    from ebsdlib.crystal.materials import load_materials

    m = load_materials()
    side = 2 * 40 + 1
    rng = np.random.default_rng(1)
    from scipy.ndimage import gaussian_filter

    field = gaussian_filter(rng.normal(size=(side, side)), 3)
    families = physics.separating_families(m["Ni3Al"], m["Ni"])
    normals = np.concatenate([physics.family_normals(f) for f in families["family"]])
    widths = np.concatenate(
        [[w] * len(physics.family_normals(f)) for f, w in zip(families["family"], families["bragg_angle"], strict=True)]
    )
    bands = physics.band_template(side, normals, widths)
    turned = physics.band_template(
        side, normals[:, [1, 2, 0]] * [1, -1, 1] @ np.array([[0.8, 0.6, 0], [-0.6, 0.8, 0], [0, 0, 1]]), widths
    )
    patterns = {
        ("Ni", "kinematical"): field,
        ("Ni3Al", "kinematical"): field + 0.3 * field.std() * bands,
        ("Ni", "dynamical"): field,
        ("Ni3Al", "dynamical"): field - 0.3 * field.std() * turned,
    }
    monkeypatch.setattr(
        physics,
        "master_pattern",
        lambda material, energy, size, simulator: SimpleNamespace(data=patterns[(material.name, simulator)]),
    )
    table = physics.superlattice_check([("Ni3Al", "Ni")], m, half_size=40, n_null=30).iloc[0]
    assert table["families"].startswith("{221}, {310}") and table["F"] == pytest.approx(families["F"].max())
    assert table["r kinematical"] > table["chance kinematical"] and table["seen kinematical"]
    assert not table["seen dynamical"], "bands drawn elsewhere than kinematical theory says are not these bands"


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


def test_ordering_pairs_join_ordered_phases_to_their_parents():
    from ebsdlib.crystal.materials import dual_phase_materials, load_materials, training_materials

    pairs = dict(physics.ordering_pairs(training_materials()))
    assert pairs["Ni3Al"] == "Ni" and pairs["Fe3Ni"] == "Ni" and pairs["FeAl"] == "Fe" and pairs["NiAl"] == "Fe"
    assert "Si" not in pairs, "no material of another space group has Si's cell within 3 %"
    assert dict(physics.ordering_pairs(dual_phase_materials())) == {
        "NiAl_gamma": "Ni3Al_gamma_prime",
        "Ni3Al_gamma_prime": "NiAl_gamma",
    }
    m = load_materials()
    assert physics.ordering_pairs([m["Ni3Al"], m["Fe3Ni"]]) == [], "one space group: no pair"


def test_against_nickel_the_check_sees_ni3als_superlattice_bands_not_fe3nis():
    """Both are drawn (tests/test_simulation/test_simulate.py), but against Ni the check sees only Ni3Al's
    separating families (8 % of its strongest |F|): Fe3Ni's (0.4 %) are lost in the difference that its 1.7 %
    larger cell makes along every band of Ni."""
    from ebsdlib.crystal.materials import load_materials

    table = physics.superlattice_check(
        [("Ni3Al", "Ni"), ("Fe3Ni", "Ni")], load_materials(), simulators=("kinematical",), n_null=40
    ).set_index("material")
    assert table.loc["Ni3Al", "F"] > 0.05 > table.loc["Fe3Ni", "F"]
    assert table.loc["Ni3Al", "seen kinematical"] and table.loc["Ni3Al", "r kinematical"] > 0
    assert not table.loc["Fe3Ni", "seen kinematical"]


def test_every_physics_is_tested_on_both_splits_the_sources_and_the_dynamical_map_when_its_phases_are_at_hand(monkeypatch):
    from ebsdlib.simulation.patterns import Detector, DetectorGeometry, DetectorModel
    from ebsdlib.simulation.sample import simulate_dual_phase_map

    data = {"kinematical": "K", "dynamical": "D"}  # what the tests hold is passed through
    detector = Detector(DetectorGeometry(shape=(30, 36)), DetectorModel.clean())
    settings = {"map_shape": (2, 3), "n_grains": 1, "precipitate_fraction": 0.3}
    tests, missing = physics.physics_tests(data, {"recorded Ni": "R"}, detector, settings, seed=0)
    assert missing == []  # the map's two phases ship dynamically
    assert list(tests) == ["kinematical test split", "dynamical test split", "recorded Ni", "dual-phase map (dynamical)"]
    assert [kind for kind, _ in tests.values()] == ["test split", "test split", "other source", "map"]
    kinematical = simulate_dual_phase_map((2, 3), 1, 0.3, detector, 0)[1]
    dynamical = tests["dual-phase map (dynamical)"][1]
    np.testing.assert_array_equal(dynamical.labels, kinematical.labels)  # the same sample, recorded through other physics
    assert not np.array_equal(dynamical.patterns, kinematical.patterns)
    monkeypatch.setattr(physics, "dynamical_available", lambda materials: ([], list(materials)))
    tests, missing = physics.physics_tests(data, {}, detector, settings, seed=0)
    assert "dual-phase map (dynamical)" not in tests and [m.name for m in missing] == ["NiAl_gamma", "Ni3Al_gamma_prime"]


def test_nickel_is_measured_at_every_other_dynamical_setting_under_the_name_the_chapter_reads(monkeypatch):
    from ebsdlib.book.prose import settings_findings
    from ebsdlib.simulation import dynamical
    from ebsdlib.studies.physics import nickel_against_emsoft, settings_label

    coarse = dynamical.MATERIAL_SETTINGS["Al4Ni3"]
    short = dynamical.MATERIAL_SETTINGS["Al4CoNi2"]
    assert short != coarse and short.energy_share < 1  # two other settings: two more Ni
    asked = []

    def computed(material, energy, half_size, min_dspacing, energy_bin, bethe, energy_share):  # a stand-in for ebsdsim
        asked.append((material.name, half_size, min_dspacing, energy_bin, bethe, energy_share))
        rows, cols = np.mgrid[: 2 * half_size + 1, : 2 * half_size + 1]
        return (np.cos(rows / (2.0 * min_dspacing)) * np.cos(cols / (2.0 * energy_share))).astype(np.float32)

    computed.is_cached = lambda *args, **kwargs: False
    monkeypatch.setattr(dynamical, "dynamical_master_pattern_array", computed)
    images, correlations = nickel_against_emsoft(half_size=16)
    label, other = settings_label(["Al4Ni3"]), settings_label(["Al4CoNi2"])
    default = dynamical.DynamicalSettings()
    assert asked == [
        ("Ni", 16, default.min_dspacing, default.energy_bin, default.bethe, 1.0),
        ("Ni", 16, coarse.min_dspacing, coarse.energy_bin, coarse.bethe, 1.0),
        ("Ni", 16, short.min_dspacing, short.energy_bin, short.bethe, short.energy_share),
    ]
    assert list(images) == ["EMsoft (dynamical)", "ebsdsim (dynamical)", label, other, "kikuchipy (kinematical)"]
    assert images[label].shape == images["ebsdsim (dynamical)"].shape == (33, 33)
    assert correlations[label] != correlations["ebsdsim (dynamical)"]  # its own image, not the default one renamed
    assert correlations[other] != correlations[label]
    text = settings_findings(correlations, dynamical.MATERIAL_SETTINGS)
    assert f"r = {correlations[label]:.2f}" in text and f"r = {correlations[other]:.2f}" in text
