"""The ideal observer: what the simulated patterns of two materials hold, apart from any CNN."""

import numpy as np
import pandas as pd
import pytest

from ebsdlib.crystal.materials import load_materials
from ebsdlib.simulation.patterns import Detector, DetectorGeometry, DetectorModel
from ebsdlib.studies.separability import (
    alike_pairs,
    ideal_observer,
    nearest_materials,
    pair_accuracy,
    pattern_similarity,
    separability_table,
)

GEOMETRY = DetectorGeometry(shape=(60, 73))
MATERIALS = load_materials()


def test_similarity_is_one_for_the_same_pattern_and_refuses_mismatched_stacks():
    a = np.random.default_rng(1).random((3, 10, 12))
    assert np.allclose(pattern_similarity(a, 2 * a - 5), 1)
    assert np.allclose(pattern_similarity(a, -a), -1)
    with pytest.raises(ValueError, match=r"one shape .*\(3, 10, 12\) and \(3, 12, 10\)"):
        pattern_similarity(a, a.transpose(0, 2, 1))


def test_fe3ni_looks_like_fcc_nickel_and_ni3al_does_not():
    """Fe and Ni scatter almost alike, so Fe3Ni's superlattice bands are at most 1.5 % of its strongest |F|: its
    clean patterns are nearly those of an fcc metal with a 1.7 % larger cell. Ni3Al's superlattice bands are
    strong enough to set it apart."""
    fcc = [MATERIALS[name] for name in ("Ni", "Fe3Ni", "Ni3Al", "Al")]
    pairs = alike_pairs(fcc, GEOMETRY, 72, n=6, seed=0)
    assert {frozenset(p) for p in zip(pairs["first space group"], pairs["second space group"], strict=False)} == {
        frozenset((221, 225))
    }
    assert pairs["similarity"].is_monotonic_decreasing
    similarity = {frozenset((f, s)): v for f, s, v in zip(pairs["first"], pairs["second"], pairs["similarity"], strict=False)}
    assert similarity[frozenset(("Fe3Ni", "Ni"))] > 0.99
    assert similarity[frozenset(("Ni3Al", "Ni"))] < similarity[frozenset(("Fe3Ni", "Ni"))] - 0.005
    assert ("Ni", "Al") not in set(zip(pairs["first"], pairs["second"], strict=False))  # one space group: not a pair


def test_the_ideal_observer_sees_superlattice_bands_and_cannot_split_a_material_from_itself():
    clean = DetectorModel.clean()
    seen = ideal_observer(MATERIALS["Ni3Al"], MATERIALS["Ni"], Detector(GEOMETRY, clean), None, n=6, seed=0, pcz_steps=3)
    assert seen["accuracy"] == 1.0 and seen["first accuracy"] == 1.0 and seen["second accuracy"] == 1.0
    same = ideal_observer(MATERIALS["Ni"], MATERIALS["Ni"], Detector(GEOMETRY, clean), None, n=6, seed=0, pcz_steps=3)
    assert same["accuracy"] == 0.5 and same["similarity"] == pytest.approx(1.0)


def test_what_the_patterns_hold_depends_on_pixels_and_dose():
    """The 1.7 % lattice-parameter difference of Fe3Ni and Ni shows on the default detector (120 x 146) at the
    default dose, not on a detector of half its pixels, and drowns at half a count per pixel."""
    pair = (MATERIALS["Fe3Ni"], MATERIALS["Ni"])
    default = DetectorGeometry()

    def accuracy(geometry, dose):
        return ideal_observer(
            *pair, Detector(geometry, DetectorModel(dose=dose, pc_jitter=0.0)), None, n=10, seed=0, pcz_steps=3
        )["accuracy"]

    assert accuracy(default, 150.0) >= 0.9
    assert accuracy(GEOMETRY, 150.0) <= 0.8
    assert accuracy(default, 0.5) <= 0.6
    with pytest.raises(ValueError, match="at least 1"):
        ideal_observer(*pair, Detector(GEOMETRY), None, n=0)


def test_the_table_has_a_column_per_input_size_and_the_pair_accuracy_counts_both_materials():
    pairs = [(MATERIALS["Ni3Al"], MATERIALS["Ni"])]
    table = separability_table(pairs, Detector(GEOMETRY, DetectorModel.clean()), (72, None), n=4, seed=0)
    assert list(table.columns) == [
        "first",
        "second",
        "space groups",
        "a (Å)",
        "similarity",
        "ideal observer, 72 px",
        "ideal observer, detector",
    ]
    assert table.loc[0, "space groups"] == "221 / 225" and table.loc[0, "a (Å)"] == "3.567 / 3.524"
    predictions = pd.DataFrame(
        {
            "material": ["Ni3Al", "Ni", "Ni", "Fe"],
            "true_space_group": [221, 225, 225, 229],
            "predicted_space_group": [225, 225, 225, 221],
        }
    )
    assert pair_accuracy(predictions, "Ni3Al", "Ni") == pytest.approx(2 / 3)
    assert np.isnan(pair_accuracy(predictions, "W", "Ta"))


def test_the_nearest_materials_come_most_alike_first_and_from_other_space_groups():
    """The map's fcc matrix: Fe3Ni (an fcc pattern to the simulator) before Ni3Al, and never Ni (also 225)."""
    matrix = MATERIALS["NiAl_gamma"]
    candidates = [MATERIALS[name] for name in ("Ni", "Ni3Al", "Fe3Ni", "W")]
    nearest = nearest_materials(matrix, candidates, GEOMETRY, 72, k=2, n=6, seed=0)
    assert [m.name for m in nearest] == ["Fe3Ni", "Ni3Al"]
