"""A complete map: the chosen phase's orientation for every pattern, scored against the simulated truth."""

import numpy as np
import pandas as pd
import pytest

from ebsdlib.crystal.materials import dual_phase_materials
from ebsdlib.mapping.orientations import index_chosen_phases, misorientation_degrees, orientation_scores
from ebsdlib.simulation.patterns import Detector, DetectorGeometry
from ebsdlib.simulation.sample import simulate_dual_phase_map

GEOMETRY = DetectorGeometry(shape=(60, 73))


@pytest.fixture(scope="module")
def small_map():
    return simulate_dual_phase_map((6, 8), n_grains=2, precipitate_fraction=0.3, detector=Detector(GEOMETRY), seed=0)


def test_each_pattern_gets_the_orientation_the_truth_holds_for_the_phase_chosen(small_map):
    """Given each pattern's true phase, the orientations agree with the simulated ones within a degree or two: the
    indexer's frame and the simulator's are one (a wrong vendor convention put them 40° apart)."""
    micro, scan = small_map
    truth = micro.space_group.ravel()
    chosen = np.where(truth == 225, 0, 1)  # dual_phase_materials(): the matrix (225), then the precipitate (221)
    orientations = index_chosen_phases(scan.patterns, GEOMETRY, dual_phase_materials(), chosen)
    scores = orientation_scores(truth, micro.quaternions, orientations, {225: "matrix", 221: "precipitates"})
    assert scores["patterns"].sum() == 48
    assert (scores["indexed"] >= 0.9).all()
    assert (scores["median misorientation (°)"] < 1.5).all()
    assert (scores["within 2°"] >= 0.8).all()
    # what was not indexed has no orientation, and is counted as not within 2°
    assert orientations.loc[~orientations["indexed"], ["qa", "qb", "qc", "qd"]].isna().all().all()


def test_a_pattern_without_a_phase_is_not_indexed_and_bad_choices_are_refused(small_map):
    micro, scan = small_map
    chosen = np.full(48, -1)
    chosen[:5] = 0
    orientations = index_chosen_phases(scan.patterns, GEOMETRY, dual_phase_materials(), chosen)
    assert not orientations["indexed"].iloc[5:].any() and orientations[["qa", "qb", "qc", "qd"]].iloc[5:].isna().all().all()
    assert orientations["indexed"].iloc[:5].sum() >= 4
    with pytest.raises(ValueError, match="47 chosen phases for 48 patterns"):
        index_chosen_phases(scan.patterns, GEOMETRY, dual_phase_materials(), chosen[:47])
    with pytest.raises(ValueError, match="outside 0 … 1"):
        index_chosen_phases(scan.patterns, GEOMETRY, dual_phase_materials(), np.full(48, 2))


def test_misorientation_takes_the_cubic_symmetry_into_account():
    def about_001(degrees):
        half = np.radians(degrees) / 2
        return np.array([[np.cos(half), 0.0, 0.0, np.sin(half)]])

    identity = np.array([[1.0, 0.0, 0.0, 0.0]])
    assert misorientation_degrees(identity, about_001(10))[0] == pytest.approx(10)
    assert misorientation_degrees(identity, about_001(80))[0] == pytest.approx(10)  # 90° about [001] is a symmetry
    assert np.isnan(misorientation_degrees(identity, np.full((1, 4), np.nan))[0])
    with pytest.raises(ValueError, match="one shape"):
        misorientation_degrees(identity, np.ones((2, 4)))


def test_the_complete_map_keeps_a_label_only_where_its_pattern_was_indexed_and_is_cached(small_map):
    from importlib.metadata import version

    from ebsdlib.mapping.orientations import _complete_map, complete_map, orientation_colours

    micro, scan = small_map
    labels = micro.space_group.ravel().copy()
    labels[:6] = 229  # a class the sample has no phase for: no orientation, not indexed
    table = complete_map(scan.patterns, GEOMETRY, dual_phase_materials(), labels)
    assert (table["space_group"].iloc[:6] == -1).all() and not table["indexed"].iloc[:6].any()
    rest = table.iloc[6:]
    assert rest["indexed"].mean() >= 0.9
    assert (rest.loc[rest["indexed"], "space_group"] == labels[6:][rest["indexed"].to_numpy()]).all()
    assert (rest.loc[~rest["indexed"], "space_group"] == -1).all()
    args = (np.asarray(scan.patterns), GEOMETRY, tuple(dual_phase_materials()), labels, version("pyebsdindex"))
    assert _complete_map.is_cached(*args)
    colours = orientation_colours(table[["qa", "qb", "qc", "qd"]].to_numpy(), micro.shape)
    assert colours.shape == (6, 8, 3) and np.allclose(colours.reshape(-1, 3)[:6], 1.0)  # not indexed: white
    assert not np.allclose(colours.reshape(-1, 3)[6:][rest["indexed"].to_numpy()], 1.0)


def test_refinement_against_the_master_pattern_brings_the_orientations_closer_to_the_truth(small_map):
    from ebsdlib.mapping.orientations import complete_map, refine_orientations

    micro, scan = small_map
    truth = micro.space_group.ravel()
    names = {225: "matrix", 221: "precipitates"}
    indexed = complete_map(scan.patterns, GEOMETRY, dual_phase_materials(), truth)
    refined = refine_orientations(scan.patterns, GEOMETRY, dual_phase_materials(), indexed)
    before = orientation_scores(truth, micro.quaternions, indexed, names)["median misorientation (°)"]
    after = orientation_scores(truth, micro.quaternions, refined, names)["median misorientation (°)"]
    assert (after < before - 0.2).all(), (before, after)
    assert refined.loc[refined["indexed"], "ncc"].between(0.3, 1).all() and refined.loc[~refined["indexed"], "ncc"].isna().all()
    pd.testing.assert_frame_equal(
        refined.drop(columns=["qa", "qb", "qc", "qd", "ncc"]), indexed.drop(columns=["qa", "qb", "qc", "qd"])
    )
