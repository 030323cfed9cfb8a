"""The dynamical simulator (ebsdsim behind simulate): cells expanded as ebsdlib expands them, tiny master
patterns read through kikuchipy and weighted over the energies, and patterns projected from them."""

import numpy as np
import pytest

from ebsdlib.crystal.materials import load_materials
from ebsdlib.simulation import dynamical
from ebsdlib.simulation.dynamical import (
    DynamicalUnavailable,
    check_ebsdsim_cell,
    dynamical_master_pattern_array,
    ebsdsim_material,
)
from ebsdlib.simulation.patterns import Detector, DetectorGeometry, DetectorModel, master_pattern, simulate_patterns

TINY = 16  # 33 × 33 px per hemisphere: seconds on a CPU


@pytest.fixture(scope="module")
def ni():
    return load_materials()["Ni"]


def test_every_material_expands_in_ebsdsim_as_in_ebsdlib():
    for material in load_materials().values():
        check_ebsdsim_cell(material)  # the atoms per cell and spglib's space group of ebsdsim's cell


def test_a_wrong_origin_shift_is_refused_before_computing(monkeypatch):
    sn = load_materials()["Sn"]  # I4_1/amd, two origins
    monkeypatch.setitem(dynamical.ORIGIN_SHIFT, 141, (0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="Sn: ebsdsim expands the asymmetric unit to 8 atoms per cell, ebsdlib to 4"):
        check_ebsdsim_cell(sn)
    monkeypatch.delitem(dynamical.ORIGIN_SHIFT, 141)
    with pytest.raises(ValueError, match="Sn: space group 141 has two origin choices"):
        ebsdsim_material(sn)


def test_the_energy_weighted_pattern_read_through_kikuchipy_is_ebsdsims_own(ni, tmp_path):
    import ebsdsim as es

    from ebsdlib.simulation.dynamical import run_ebsdsim

    mine = dynamical_master_pattern_array(ni, 20.0, TINY)
    path = run_ebsdsim(
        ebsdsim_material(ni), tmp_path / "ni.npz", voltage_kv=20.0, halfw=TINY, dmin=0.07, sigma_deg=70.0, solver="lu_smith"
    )
    mp = es.load_master_pattern(path)  # numpy only: ebsdsim's own reading of its file
    own = np.asarray(mp.data[0, 0, 0], dtype=np.float64)  # ebsdsim's energy-integrated slice, upper hemisphere
    assert mine.shape == own.shape == (2 * TINY + 1, 2 * TINY + 1) and mine.dtype == np.float32
    assert np.corrcoef(mine.ravel(), own.ravel())[0, 1] > 0.9999
    # one bin alone is another pattern: the weighting over the energies is what makes the two agree
    lowest = np.asarray(mp.data[mp.axes["bin_to_energy_index"][-1], 0, 0], dtype=np.float64)
    assert np.corrcoef(mine.ravel(), lowest.ravel())[0, 1] < np.corrcoef(mine.ravel(), own.ravel())[0, 1] - 1e-4
    # WebGPU's native library (and with it Mesa's LLVM, which TensorFlow crashes beside) stays out of this process
    assert "wgpu.backends.wgpu_native" not in __import__("sys").modules


def test_the_dynamical_master_pattern_keeps_the_cubic_symmetry_and_differs_from_the_kinematical(ni):
    dyn = dynamical_master_pattern_array(ni, 20.0, TINY)
    assert np.isfinite(dyn).all() and dyn.min() > 0
    # the centre of the Lambert square is [001], a fourfold axis of m-3m with mirrors through it
    np.testing.assert_allclose(np.rot90(dyn), dyn, rtol=1e-3)
    np.testing.assert_allclose(dyn[:, ::-1], dyn, rtol=1e-3)
    kin = np.asarray(master_pattern(ni, half_size=TINY).data, dtype=np.float64)
    assert np.corrcoef(dyn.ravel(), kin.ravel())[0, 1] < 0.95, "dynamical intensities are not the kinematical ones"
    assert dynamical_master_pattern_array.is_cached(ni, 20.0, TINY)


def test_both_hemispheres_for_a_point_group_without_inversion():
    zns = load_materials()["ZnS"]  # F-43m (a source-task phase; the six target groups are centrosymmetric)
    both = master_pattern(zns, half_size=TINY, simulator="dynamical")
    assert both.hemisphere == "both" and both.data.shape == (2, 2 * TINY + 1, 2 * TINY + 1)
    # ebsdsim 0.2.4 computes the northern hemisphere only, so kikuchipy's reader repeats it as the southern one:
    # the dynamical break of Friedel's law between the two is not simulated (the module says so)
    np.testing.assert_array_equal(both.data[0], both.data[1])


def test_simulate_projects_dynamical_patterns_through_the_same_detector(ni):
    geometry = DetectorGeometry(shape=(20, 24), master_pattern_half_size=TINY, simulator="dynamical")
    detector = Detector(geometry, DetectorModel.clean())
    dyn, table = simulate_patterns(ni, 3, detector, seed=2)
    kin, same = simulate_patterns(
        ni, 3, Detector(DetectorGeometry(shape=(20, 24), master_pattern_half_size=TINY), DetectorModel.clean()), seed=2
    )
    assert dyn.shape == kin.shape == (3, 20, 24) and dyn.dtype == np.uint8
    assert table[["qa", "qb", "qc", "qd"]].equals(same[["qa", "qb", "qc", "qd"]]), "the physics does not move the orientations"
    assert not np.array_equal(dyn, kin)


def test_the_profiles_simulator_reaches_the_detector_and_is_checked():
    from ebsdlib.settings import check_setting, shared_settings
    from ebsdlib.simulation.patterns import simulated_detector

    settings = shared_settings("smoke")
    assert simulated_detector(settings).geometry.simulator == "kinematical"
    assert simulated_detector({**settings, "simulator": "dynamical"}).geometry.half_size == 100
    with pytest.raises(ValueError, match="--simulator must be one of kinematical, dynamical, not 'quantum'"):
        check_setting("simulator", "quantum", "--simulator")


def test_the_simulator_is_checked_where_it_is_named():
    with pytest.raises(ValueError, match="simulator must be one of kinematical, dynamical, not 'quantum'"):
        DetectorGeometry(simulator="quantum")
    assert DetectorGeometry().half_size == 250 and DetectorGeometry(simulator="dynamical").half_size == 100
    assert DetectorGeometry(master_pattern_half_size=30, simulator="dynamical").half_size == 30


def test_no_webgpu_adapter_says_what_to_install(ni, monkeypatch, tmp_path):
    runner = tmp_path / "runner.py"  # the runner's answer where wgpu finds no adapter (exit code 3)
    runner.write_text("import sys\nsys.stderr.write('no WebGPU adapter (RuntimeError: none)')\nsys.exit(3)\n")
    monkeypatch.setattr(dynamical, "_RUNNER", runner)
    with pytest.raises(DynamicalUnavailable, match=r"found no WebGPU adapter .*libegl1, libegl-mesa0 and libgl1-mesa-dri"):
        dynamical_master_pattern_array(ni, 20.0, TINY - 1)  # not cached: the simulator is asked


@pytest.mark.slow
def test_the_dynamical_nickel_is_closer_to_emsofts_than_the_kinematical(ni):
    import kikuchipy as kp

    # EMsoft's dynamical Ni master pattern (kikuchipy's data, offline): 401 px, every fifth pixel is the 81-px grid
    emsoft = np.asarray(kp.data.nickel_ebsd_master_pattern_small(projection="lambert", hemisphere="upper").data, float)
    emsoft = emsoft[::5, ::5]
    dyn = dynamical_master_pattern_array(ni, 20.0, 40)
    kin = np.asarray(master_pattern(ni, half_size=40).data, dtype=np.float64)
    assert dyn.shape == kin.shape == emsoft.shape == (81, 81)
    r_dyn, r_kin = (np.corrcoef(x.ravel(), emsoft.ravel())[0, 1] for x in (dyn, kin))
    # measured: 0.88 against 0.57 at 201 px
    assert r_dyn > 0.8 and r_dyn > r_kin + 0.2


def test_shipped_master_patterns_are_read_back_checked_and_matched_to_their_crystal(ni, tmp_path):
    from dataclasses import replace

    from ebsdlib.simulation.dynamical import shipped_master_pattern, write_shipped_master_patterns

    manifest = write_shipped_master_patterns([ni], 20.0, TINY, folder=tmp_path, progress=None)
    computed = dynamical_master_pattern_array(ni, 20.0, TINY)
    shipped = shipped_master_pattern(ni, 20.0, TINY, folder=tmp_path)
    step = (computed.max() - computed.min()) / 65535
    assert shipped.dtype == np.float32 and np.abs(shipped - computed).max() <= step  # 16 bits over its range
    assert "sha256" in manifest.read_text() and "ebsdsim: 0.2.4" in manifest.read_text()
    # another crystal, energy or size is not served by this file
    assert shipped_master_pattern(replace(ni, lattice_parameter=3.6), 20.0, TINY, folder=tmp_path) is None
    assert shipped_master_pattern(ni, 15.0, TINY, folder=tmp_path) is None
    assert shipped_master_pattern(ni, 20.0, TINY + 1, folder=tmp_path) is None
    # a changed file is refused with the command that writes it again
    path = tmp_path / f"Ni_20kV_{2 * TINY + 1}px.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"SHA-256 is not the one .*manifest.yml records.*make master-patterns"):
        shipped_master_pattern(ni, 20.0, TINY, folder=tmp_path)
    path.unlink()
    with pytest.raises(ValueError, match="missing; run `make master-patterns`"):
        shipped_master_pattern(ni, 20.0, TINY, folder=tmp_path)


def test_every_shipped_master_pattern_is_read_back_for_its_crystal():
    """The files in the package: each checked by its SHA-256 and served for its material at 20 kV, 201 px."""
    from ebsdlib.crystal.materials import dual_phase_materials
    from ebsdlib.simulation.dynamical import DYNAMICAL_HALF_SIZE, shipped_master_pattern, shipped_table

    table = shipped_table()
    assert len(table) >= 18 and (table["pixels"] == 201).all() and (table["seconds"] > 0).all()
    everyone = {**load_materials(), **{m.name: m for m in dual_phase_materials()}}
    for name in table["material"]:
        data = shipped_master_pattern(everyone[name], 20.0, DYNAMICAL_HALF_SIZE)
        assert data is not None and data.shape == (201, 201) and np.isfinite(data).all() and data.std() > 0, name


def test_a_material_with_its_own_settings_is_computed_and_shipped_with_them(ni, monkeypatch, tmp_path):
    """Al4Ni3's 112-atom cell is computed at 1.0 Å, EMsoft's Bethe cutoffs and 2-keV bins, Al4CoNi2's also on 90 %
    of the energy distribution only; the settings reach ebsdsim, the manifest records them, and a file written at
    other settings is not served for the material."""
    from dataclasses import replace

    from ebsdlib.simulation.dynamical import (
        DynamicalSettings,
        dynamical_master_pattern,
        dynamical_settings,
        ship_master_pattern,
        shipped_master_pattern,
        shipped_table,
    )

    al4ni3 = load_materials()["Al4Ni3"]
    assert dynamical_settings(al4ni3) == dynamical.MATERIAL_SETTINGS["Al4Ni3"]
    assert dynamical_settings(al4ni3).min_dspacing == 1.0 and dynamical_settings(al4ni3).bethe == (4.0, 8.0, 50.0)
    assert dynamical_settings(ni) == DynamicalSettings()

    asked = {}

    def runner(es_material, out, **parameters):
        asked.update(parameters)
        raise RuntimeError("stop before computing")

    monkeypatch.setattr(dynamical, "SHIPPED_DIR", tmp_path)  # nothing shipped: the simulator is asked
    monkeypatch.setattr(dynamical, "run_ebsdsim", runner)
    with pytest.raises(RuntimeError, match="stop before computing"):
        dynamical_master_pattern(al4ni3, 20.0, TINY - 2)
    assert asked["dmin"] == pytest.approx(0.1) and asked["energy_binwidth_keV"] == 2.0
    assert (asked["bethe_c_strong"], asked["bethe_c_weak"], asked["bethe_c_cutoff"]) == (4.0, 8.0, 50.0)
    assert asked["marginal_coverage"] == 1.0
    asked.clear()
    with pytest.raises(RuntimeError, match="stop before computing"):
        dynamical_master_pattern(load_materials()["Al4CoNi2"], 20.0, TINY - 2)
    assert asked["marginal_coverage"] == 0.9 and asked["dmin"] == pytest.approx(0.1) and asked["bethe_c_cutoff"] == 50.0
    asked.clear()
    with pytest.raises(RuntimeError, match="stop before computing"):
        dynamical_master_pattern(ni, 20.0, TINY - 2)
    assert asked["dmin"] == pytest.approx(0.07) and asked["bethe_c_strong"] == 20.0 and asked["energy_binwidth_keV"] == 1.0
    assert asked["marginal_coverage"] == 1.0

    # shipped at its settings it is served; the same file recorded at the defaults is not
    side = 2 * TINY + 1
    pattern = np.random.default_rng(0).random((side, side)).astype(np.float32)
    manifest = ship_master_pattern(al4ni3, pattern, 20.0, TINY, seconds=12.0, folder=tmp_path)
    assert np.abs(shipped_master_pattern(al4ni3, 20.0, TINY, folder=tmp_path) - pattern).max() <= 1 / 65535
    row = shipped_table(tmp_path).iloc[0]
    assert (row["min_dspacing"], row["Bethe cutoffs"], row["energy_bin"], row["energy_share"]) == (1.0, "4/8/50", 2.0, 1.0)
    own = dynamical.MATERIAL_SETTINGS["Al4Ni3"]
    for other in (
        replace(own, min_dspacing=0.7),
        replace(own, bethe=(20.0, 40.0, 200.0)),
        replace(own, energy_bin=1.0),
        replace(own, energy_share=0.9),
    ):
        monkeypatch.setitem(dynamical.MATERIAL_SETTINGS, "Al4Ni3", other)  # each setting alone makes it another file
        assert shipped_master_pattern(al4ni3, 20.0, TINY, folder=tmp_path) is None, other
    monkeypatch.setitem(dynamical.MATERIAL_SETTINGS, "Al4Ni3", own)
    # a pattern that is not one is refused before anything is written
    before = manifest.read_text()
    pattern[3, 3] = np.nan
    with pytest.raises(ValueError, match=r"Al4Ni3: a master pattern to ship must be finite"):
        ship_master_pattern(al4ni3, pattern, 20.0, TINY, seconds=1.0, folder=tmp_path)
    with pytest.raises(ValueError, match=r"must be finite, not flat and 35 × 35 px; got \(33, 33\)"):
        ship_master_pattern(al4ni3, np.ones((33, 33)), 20.0, TINY + 1, seconds=1.0, folder=tmp_path)
    assert manifest.read_text() == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "Al4Ni3_20kV_33px.npz",
        "manifest.yml",
    ]


def test_a_material_that_fails_numerically_does_not_stop_the_others_from_shipping(ni, monkeypatch, tmp_path):
    from ebsdlib.simulation.dynamical import shipped_table, write_shipped_master_patterns

    al4coni2 = load_materials()["Al4CoNi2"]
    side = 2 * TINY + 1

    def computed(material, *args, **kwargs):
        if material.name == "Al4CoNi2":
            raise ValueError("Al4CoNi2: the dynamical simulator returned non-finite intensities at bin 7 (6.00 kV)")
        return np.random.default_rng(1).random((side, side)).astype(np.float32)

    monkeypatch.setattr(dynamical, "dynamical_master_pattern_array", computed)
    with pytest.raises(ValueError, match=r"1 of 2 master patterns were not written \(the others were\): Al4CoNi2: .*6.00 kV"):
        write_shipped_master_patterns([al4coni2, ni], 20.0, TINY, folder=tmp_path, progress=None)
    assert list(shipped_table(tmp_path)["material"]) == ["Ni"]
