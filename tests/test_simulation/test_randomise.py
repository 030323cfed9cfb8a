import numpy as np
import pytest

from ebsdlib.crystal.materials import load_materials
from ebsdlib.datasets.container import SplitCounts
from ebsdlib.preprocess import canonical_view
from ebsdlib.simulation.patterns import Detector, DetectorGeometry, DetectorModel
from ebsdlib.simulation.randomise import (
    AcquisitionRanges,
    as_canonical,
    condition_datasets,
    dynamic_background_correction,
    out_of_range_conditions,
    randomised_dataset,
    simulate_randomised,
)

SMALL = AcquisitionRanges(shapes=((30, 36), (32, 32), (24, 32)), energies=(20.0,), chunk=5)


def test_canonical_view_crops_the_centred_square_without_squeezing():
    patterns = np.zeros((2, 30, 50), np.float32)
    patterns[:, :, :10] = 255  # the left margin lies outside the centred 30 x 30 square
    patterns[:, 10:20, 20:30] = 100  # a square in the middle stays a square
    view = canonical_view(patterns, 30)
    assert view.shape == (2, 30, 30)
    assert view.max() == pytest.approx(100)
    rows, cols = np.nonzero(view[0] > 50)
    assert np.ptp(rows) == np.ptp(cols) == 9
    square = np.random.default_rng(0).random((1, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(canonical_view(square, 16), square)
    with pytest.raises(ValueError, match="rows, cols"):
        canonical_view(np.zeros((16, 16)), 8)


def test_ranges_are_checked():
    with pytest.raises(ValueError, match="dose: the lower end"):
        AcquisitionRanges(dose=(500.0, 40.0))
    with pytest.raises(ValueError, match="share"):
        AcquisitionRanges(dynamic_background=1.5)
    with pytest.raises(ValueError, match="at least 16 pixels"):
        AcquisitionRanges(shapes=((8, 8),))


def test_dynamic_correction_removes_a_smooth_background():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:48, 0:48]
    pattern = (100 + 2 * x + 5 * rng.standard_normal((48, 48))).astype(np.float32)[None]
    before = (pattern[0] - pattern[0].min()) / np.ptp(pattern[0]) * 255
    flat = dynamic_background_correction(pattern)
    assert flat.dtype == np.uint8
    flat = flat.astype(float)[0]
    assert before[:, 32:40].mean() - before[:, 8:16].mean() > 60, "the input has a strong gradient"
    assert abs(flat[:, 32:40].mean() - flat[:, 8:16].mean()) < 10, "the correction removes it"


def test_randomised_patterns_vary_their_acquisition_within_the_ranges():
    ni = load_materials()["Ni"]
    patterns, table = simulate_randomised(ni, 40, SMALL, 24, seed=2)
    assert patterns.shape == (40, 24, 24) and patterns.dtype == np.uint8
    assert len(table) == 40 and (table["material"] == "Ni").all()
    assert table[["detector_rows", "detector_cols"]].drop_duplicates().shape[0] >= 2
    assert table["dose"].nunique() == 8, "one draw per chunk of 5"
    assert table["dose"].between(*SMALL.dose).all() and table["band_gamma"].between(*SMALL.band_gamma).all()
    assert ((table["pcx"] - SMALL.pc[0]).abs() <= SMALL.pc_shift).all() and table["pcx"].nunique() == 40
    again, _ = simulate_randomised(ni, 40, SMALL, 24, seed=2)
    np.testing.assert_array_equal(patterns, again)


def test_fixed_ranges_reproduce_one_acquisition():
    geometry, model = DetectorGeometry(shape=(30, 36)), DetectorModel()
    fixed = AcquisitionRanges.fixed(Detector(geometry, model))
    _, table = simulate_randomised(load_materials()["Fe"], 12, fixed, 24, seed=0)
    for column, value in (
        ("detector_rows", 30),
        ("detector_cols", 36),
        ("dose", model.dose),
        ("band_gamma", 1.0),
        ("sample_tilt", geometry.sample_tilt),
        ("energy", geometry.energy),
    ):
        assert (table[column] == value).all(), column
    assert not table["dynamic_correction"].any() and table["static_correction"].all()


def test_randomised_dataset_follows_the_papers_split():
    materials = [m for m in load_materials().values() if m.name in ("Ni", "Al", "Fe")]
    data = randomised_dataset(materials, SplitCounts(8, 4, 3), SMALL, 24, seed=0)
    counts = data.table.groupby(["space_group", "split"]).size()
    assert counts[(225, "train")] == 8 and counts[(229, "validation")] == 4 and counts[(229, "test")] == 3
    assert data.pattern_shape == (24, 24) and data.meta["canonical_view"] == 24


def _outside(ranges: AcquisitionRanges, condition: AcquisitionRanges) -> list[str]:
    """The settings of a single-valued ``condition`` that lie outside ``ranges``."""
    out = []
    if condition.shapes[0] not in ranges.shapes:
        out.append("shapes")
    if abs(condition.pc[1] - ranges.pc[1]) > ranges.pc_shift or abs(condition.pc[2] - ranges.pc[2]) > ranges.pc_shift:
        out.append("pc")
    for name in ("sample_tilt", "detector_tilt", "dose", "contrast", "blur_sigma", "band_gamma"):
        lo, hi = getattr(ranges, name)
        if not lo <= getattr(condition, name)[0] <= hi:
            out.append(name)
    if condition.energies[0] not in ranges.energies:
        out.append("energies")
    return out


def test_each_out_of_range_condition_moves_exactly_one_setting_outside_training():
    training = AcquisitionRanges()
    conditions = out_of_range_conditions(training)
    moved = [_outside(training, c) for c in conditions.values()]
    assert all(len(m) == 1 for m in moved), moved
    assert sorted(m[0] for m in moved) == sorted(
        ["shapes", "pc", "sample_tilt", "detector_tilt", "energies", "dose", "contrast", "blur_sigma", "band_gamma"]
    )
    # the names say how far: the detector condition names its side, the energy its kV
    assert any(name.startswith("48 × 48 px") for name in conditions)
    assert any(name.startswith("10 kV") for name in conditions)
    # and they follow the training ranges when those are widened
    wider = AcquisitionRanges(dose=(10.0, 600.0))
    assert any(name.startswith("dose 5 counts") for name in out_of_range_conditions(wider))


def test_native_view_keeps_the_detector_and_needs_one_shape():
    ni = load_materials()["Ni"]
    one = AcquisitionRanges(shapes=((20, 28),), energies=(20.0,), chunk=5)
    patterns, _ = simulate_randomised(ni, 4, one, 16, seed=0, view="native")
    assert patterns.shape == (4, 20, 28) and patterns.dtype == np.uint8
    with pytest.raises(ValueError, match="one detector shape"):
        simulate_randomised(ni, 4, SMALL, 16, seed=0, view="native")
    with pytest.raises(ValueError, match="canonical' or 'native"):
        simulate_randomised(ni, 4, one, 16, seed=0, view="squeezed")
    tests = condition_datasets([ni], 3, {"narrow": one}, 16, seed=0)
    assert tests["narrow"].patterns.shape == (3, 20, 28) and set(tests["narrow"].table["split"]) == {"test"}
    canonical = as_canonical(tests["narrow"], 12)
    assert canonical.patterns.shape == (3, 12, 12) and canonical.patterns.dtype == np.uint8
    assert canonical.table["pattern_id"].tolist() == tests["narrow"].table["pattern_id"].tolist()
