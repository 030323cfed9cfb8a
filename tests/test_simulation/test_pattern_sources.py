import numpy as np
import pytest

from ebsdlib.simulation.pattern_sources import _dynamical_nickel, dynamical_nickel, recorded_nickel
from ebsdlib.simulation.patterns import Detector, DetectorGeometry, DetectorModel


def test_recorded_nickel_are_kikuchipys_patterns_background_corrected():
    import kikuchipy as kp

    data = recorded_nickel()
    raw = kp.data.nickel_ebsd_small().data.reshape(-1, 60, 60)
    assert data.patterns.shape == (9, 60, 60) and len(data) == 9
    assert set(data.table["space_group"]) == {225} and set(data.table["split"]) == {"test"}
    # background removal flattens the raw patterns' bright centre: the corrected ones differ and span the range
    assert not np.array_equal(data.patterns, raw)
    assert data.patterns.min() == 0 and data.patterns.max() == 255
    assert "NORDIF" in data.meta["notes"][0]


def test_dynamical_nickel_projects_emsoft_master_pattern_on_the_given_detector():
    geometry = DetectorGeometry(shape=(24, 24))
    model = DetectorModel.clean()
    data = dynamical_nickel(3, Detector(geometry, model), seed=0)
    assert data.patterns.shape == (3, 24, 24) and data.patterns.dtype == np.uint8
    assert set(data.table["material"]) == {"Ni (dynamical)"} and set(data.table["space_group"]) == {225}
    assert data.patterns.std(axis=(1, 2)).min() > 5  # bands, not a flat image
    assert not np.array_equal(data.patterns[0], data.patterns[1])  # random orientations
    assert "EMsoft" in data.meta["source"]
    from dataclasses import replace

    assert _dynamical_nickel.is_cached(
        3, Detector(replace(geometry, energy=geometry.energy), replace(model, degraded_fraction=0.0, pc_jitter=0.0)), 0
    )
    with pytest.raises(ValueError, match="at least 1"):
        dynamical_nickel(0, Detector(geometry, model))
