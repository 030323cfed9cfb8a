import numpy as np
import pytest

from ebsdlib.materials import load_materials
from ebsdlib.randomise import (
    AcquisitionRanges,
    canonical_view,
    dynamic_background_correction,
    randomised_dataset,
    simulate_randomised,
)
from ebsdlib.simulate import DetectorGeometry, DetectorModel

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
    fixed = AcquisitionRanges.fixed(geometry, model)
    _, table = simulate_randomised(load_materials()["Fe"], 12, fixed, 24, seed=0)
    for column, value in (("detector_rows", 30), ("detector_cols", 36), ("dose", model.dose), ("band_gamma", 1.0),
                          ("sample_tilt", geometry.sample_tilt), ("energy", geometry.energy)):
        assert (table[column] == value).all(), column
    assert not table["dynamic_correction"].any() and table["static_correction"].all()


def test_randomised_dataset_follows_the_papers_split():
    materials = [m for m in load_materials().values() if m.name in ("Ni", "Al", "Fe")]
    data = randomised_dataset(materials, 8, 4, 3, SMALL, 24, seed=0)
    counts = data.table.groupby(["space_group", "split"]).size()
    assert counts[(225, "train")] == 8 and counts[(229, "validation")] == 4 and counts[(229, "test")] == 3
    assert data.pattern_shape == (24, 24) and data.meta["canonical_view"] == 24
