import numpy as np
import pandas as pd
import pytest

from ebsdlib.crystal.materials import dual_phase_materials
from ebsdlib.mapping.hough import counts_table, ensemble, ensemble_note, hough_phase_map, ipf_colors, map_scores, rejection_curve
from ebsdlib.simulation.patterns import Detector, DetectorGeometry
from ebsdlib.simulation.sample import eds_al_map, make_microstructure, simulate_dual_phase_map


class TestMicrostructure:
    def test_phase_fraction_and_boundaries(self):
        micro = make_microstructure((69, 100), n_grains=10, precipitate_fraction=0.2, seed=1)
        assert micro.grain.size == 6900
        assert micro.precipitate_fraction() == pytest.approx(0.2, abs=0.02)
        assert set(np.unique(micro.space_group)) == {221, 225}
        # a boundary pixel has a 4-neighbour of another grain or phase; an interior one does not
        g = micro.grain * 2 + (micro.space_group == 221)
        r, c = np.argwhere(~micro.boundary)[len(np.argwhere(~micro.boundary)) // 2]
        neighbours = [
            g[r + dr, c + dc] for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)) if 0 <= r + dr < 69 and 0 <= c + dc < 100
        ]
        assert all(n == g[r, c] for n in neighbours)

    def test_cube_on_cube_orientation_relationship(self):
        from orix.quaternion import Orientation
        from orix.quaternion.symmetry import Oh

        micro = make_microstructure((40, 60), n_grains=6, precipitate_fraction=0.25, seed=2)
        flat_grain = micro.grain.ravel()
        precipitates = np.flatnonzero(micro.space_group.ravel() == 221)
        host = Orientation(micro.host_quaternions[flat_grain[precipitates]], symmetry=Oh)
        own = Orientation(micro.quaternions[precipitates], symmetry=Oh)
        assert np.rad2deg(own.angle_with(host)).max() < 1e-6
        # the precipitates cover the requested share of the map, no more than one disc beyond it
        assert 0.25 <= (micro.space_group == 221).mean() < 0.25 + np.pi * 4.0**2 / (40 * 60)


def test_eds_map_tells_the_phases_apart():
    micro = make_microstructure((40, 60), n_grains=5, precipitate_fraction=0.3, seed=3)
    counts = eds_al_map(micro, counts=400, seed=0)
    inner_p = (micro.space_group == 221) & ~micro.boundary
    inner_m = (micro.space_group == 225) & ~micro.boundary
    ratio = counts[inner_p].mean() / counts[inner_m].mean()
    assert ratio == pytest.approx(25.7 / 19.7, rel=0.08)


def test_ipf_colours():
    q = np.array([[1, 0, 0, 0], [np.cos(np.pi / 8), 0, 0, np.sin(np.pi / 8)]])
    rgb = ipf_colors(q, (1, 2))
    assert rgb.shape == (1, 2, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert not np.allclose(rgb[0, 0], rgb[0, 1])


def test_counts_table_on_fixed_predictions():
    scratch = np.array([221] * 3 + [225] * 5 + [229])
    transfer = np.array([221] * 5 + [225] * 4)
    paper = {"dual_phase": {"counts": {"scratch": {221: 984, 223: 0, 225: 5822, 227: 10, 229: 72, 230: 12}}}}
    table = counts_table({"scratch": scratch, "transfer": transfer}, paper)
    assert table.loc["scratch"].tolist() == [3, 0, 5, 0, 1, 0]
    assert table.loc["difference"].tolist() == [2, 0, -1, 0, -1, 0]
    assert table.loc["paper: scratch", 225] == 5822 and "paper: transfer" not in table.index


def test_map_scores():
    true = np.array([225, 225, 221, 221])
    scores = map_scores(true, np.array([225, 221, 221, -1]))
    assert scores["accuracy"] == 0.5 and scores["no answer"] == 0.25
    assert scores["Ni3Al fraction (true)"] == 0.5 and scores["Ni3Al fraction (predicted)"] == 0.5
    assert map_scores(true, np.array([227, 225, 221, 221]))["absent space groups"] == 0.25
    assert scores["Ni(Al) recall"] == 0.5 and scores["Ni3Al recall"] == 0.5 and scores["balanced accuracy"] == 0.5


def test_a_map_of_one_phase_everywhere_scores_half_balanced_however_large_that_phase():
    true = np.array([225] * 8 + [221] * 2)
    one_phase = map_scores(true, np.full(10, 225))
    assert one_phase["accuracy"] == 0.8 and one_phase["balanced accuracy"] == 0.5
    assert one_phase["Ni(Al) recall"] == 1.0 and one_phase["Ni3Al recall"] == 0.0
    both = map_scores(true, np.array([225] * 6 + [221] * 2 + [221, 221]))
    assert both["accuracy"] == 0.8 and both["balanced accuracy"] == pytest.approx((0.75 + 1.0) / 2)


def test_single_model_ensemble_has_no_disagreement_and_says_so():
    p = np.random.default_rng(0).dirichlet(np.ones(6), size=(1, 20))
    e = ensemble(p)
    assert np.all(e["disagreement"] == 0)
    assert np.allclose(e["mean"], p[0])
    assert "one model" in ensemble_note(1) and "zero by construction" in ensemble_note(1)
    assert "3 trained models" in ensemble_note(3)
    with pytest.raises(ValueError, match="at least one trial"):
        ensemble_note(0)


def test_ensemble_uncertainty_and_rejection():
    # two models, three pixels: agree and certain; agree but unsure; disagree
    p = np.zeros((2, 3, 6))
    p[:, 0, 2] = 1.0
    p[:, 1] = 1 / 6
    p[:, 1, 0] += 0.01
    p[0, 2, 0], p[0, 2, 2] = 0.9, 0.1
    p[1, 2, 0], p[1, 2, 2] = 0.2, 0.8
    e = ensemble(p)
    assert e["label"].tolist()[0] == 225 and e["confidence"][0] == 1.0
    assert e["entropy"][0] == pytest.approx(0, abs=1e-9) and e["entropy"][1] > 0.99
    assert e["disagreement"].tolist() == [0, 0, 0.5]
    assert e["label"].tolist() == [225, 221, 221]
    curve = rejection_curve(np.array([225, 225, 221]), e["label"], e["confidence"], thresholds=[0, 0.5, 0.99])
    assert curve["rejected"].tolist() == pytest.approx([0, 1 / 3, 2 / 3])
    assert curve["accuracy of accepted"].tolist()[0] == pytest.approx(2 / 3)
    assert curve["accuracy of accepted"].tolist()[1:] == [1.0, 1.0]  # the unsure, wrong pixel is rejected first


@pytest.mark.slow
def test_simulated_map_and_hough_baseline():
    geometry = DetectorGeometry(shape=(60, 73))
    micro, data = simulate_dual_phase_map((10, 12), n_grains=2, precipitate_fraction=0.3, detector=Detector(geometry), seed=0)
    assert data.map_shape == (10, 12) and len(data) == 120
    np.testing.assert_array_equal(data.labels.reshape(10, 12), micro.space_group)
    assert set(data.table.loc[micro.boundary.ravel(), "quality"]) == {"overlap"}
    hough = hough_phase_map(data, geometry)
    indexed = hough["space_group"] != -1
    assert indexed.mean() > 0.8
    # Ni and Ni3Al have the same band angles: the Hough method cannot tell them apart
    assert hough.loc[indexed, "tie"].mean() > 0.8
    assert set(hough.loc[indexed, "space_group"]) == {225}
    # a second call reads the cache; another setting indexes again
    from importlib.metadata import version

    from ebsdlib.mapping.hough import _hough_index

    args = (data.patterns, geometry, tuple(dual_phase_materials()), 12, 2.0, 6, 0.05, version("pyebsdindex"))
    assert _hough_index.is_cached(*args) and not _hough_index.is_cached(*args[:3], 10, *args[4:])
    pd.testing.assert_frame_equal(hough_phase_map(data, geometry), hough)


def test_importing_pyebsdindex_leaves_numbas_cache_folder_where_it_was(tmp_path):
    """PyEBSDIndex points NUMBA_CACHE_DIR at a folder of its own when imported; ebsdlib puts it back, so that the
    other kernels of the process, and the processes it starts, keep the cache they were given."""
    import os
    import subprocess
    import sys

    show = "import os; from numba.core import config; print(os.environ.get('NUMBA_CACHE_DIR')); print(config.CACHE_DIR)"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "mine")}
    plain = subprocess.run(
        [sys.executable, "-c", f"import pyebsdindex.ebsd_index; {show}"], env=env, capture_output=True, text=True, check=True
    )
    assert plain.stdout.split()[0] != str(tmp_path / "mine"), "PyEBSDIndex no longer moves numba's cache: drop the guard"
    guarded = subprocess.run(
        [sys.executable, "-c", f"from ebsdlib.mapping.hough import pyebsdindex_modules; pyebsdindex_modules(); {show}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert guarded.stdout.split() == [str(tmp_path / "mine")] * 2


def test_phase_boundary_patterns_overlap_two_phases_at_one_orientation():
    """Each pattern is its own phase's with a weaker second phase at the same orientation (Ni with Si here: unlike
    Ni(Al) and Ni3Al, their patterns differ enough to tell whose bands are where)."""
    from orix.quaternion import Rotation

    from ebsdlib.crystal.materials import load_materials
    from ebsdlib.simulation.patterns import detector_master_pattern, project_patterns, random_rotations
    from ebsdlib.simulation.sample import simulate_phase_boundary_patterns

    nickel, silicon = load_materials()["Ni"], load_materials()["Si"]
    geometry = DetectorGeometry(shape=(60, 73))
    detector = Detector(geometry)
    data = simulate_phase_boundary_patterns([nickel, silicon], 12, detector, seed=4)
    assert data.table.groupby("material")["second_material"].first().to_dict() == {"Ni": "Si", "Si": "Ni"}
    assert set(data.table["quality"]) == {"phase overlap"}

    def correlation(recorded, clean):
        a, b = recorded.reshape(len(recorded), -1).astype(float), clean.reshape(len(clean), -1)
        a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
        return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

    rotations = Rotation(data.table[["qa", "qb", "qc", "qd"]].to_numpy())
    elsewhere = random_rotations(len(data), np.random.default_rng(0))
    clean = {m.name: detector_master_pattern(m, geometry) for m in (nickel, silicon)}
    for own, other in (("Ni", "Si"), ("Si", "Ni")):
        rows = (data.table["material"] == own).to_numpy()
        recorded = data.patterns[rows]
        mine = correlation(recorded, project_patterns(clean[own], rotations[rows], geometry))
        second = correlation(recorded, project_patterns(clean[other], rotations[rows], geometry))
        chance = correlation(recorded, project_patterns(clean[other], elsewhere[rows], geometry))
        # the second's weight is drawn below one half, up to 0.5: nearly all, not all, correlate better with their own
        assert (mine > second).mean() >= 0.75 and np.median(mine - second) > 0.03, "the labelled phase is the stronger"
        assert np.median(second) > np.median(chance) + 0.05, "the second phase is there, at the same orientation"
    with pytest.raises(ValueError, match="two phases or more"):
        simulate_phase_boundary_patterns([nickel], 2, detector)
