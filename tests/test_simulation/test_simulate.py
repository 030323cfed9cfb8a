import numpy as np
import pytest

from ebsdlib.crystal.materials import disordered
from ebsdlib.simulation.patterns import (
    EXTINCT_F,
    Detector,
    DetectorGeometry,
    DetectorModel,
    apply_detector_model,
    kinematical_reflectors,
    master_pattern,
    project_patterns,
    random_rotations,
    simulate_patterns,
)


@pytest.fixture(scope="module")
def ni(materials):
    return materials["Ni"]


class TestMasterPattern:
    def test_lambert_projection_is_cached(self, ni):
        from ebsdlib.simulation.patterns import _master_pattern_array

        mp = master_pattern(ni, half_size=60)
        assert mp.projection == "lambert" and mp.hemisphere == "upper"
        assert mp.data.shape == (121, 121)
        assert _master_pattern_array.is_cached(ni, 20.0, 60, 0.7, EXTINCT_F)
        assert not _master_pattern_array.is_cached(ni, 20.0, 61, 0.7, EXTINCT_F)

    @staticmethod
    def superlattice(material):
        """Which of ``material``'s reflectors are superlattice ones: extinct in its disordered fcc counterpart
        (the same cell and composition, every site mixed)."""
        drawn = kinematical_reflectors(material, min_relative_f=0.0)
        parent = np.abs(kinematical_reflectors(disordered(material, 225), min_relative_f=0.0).structure_factor)
        assert np.array_equal(drawn.hkl, kinematical_reflectors(disordered(material, 225), min_relative_f=0.0).hkl)
        return drawn, parent < EXTINCT_F * parent.max()

    @pytest.mark.parametrize(("name", "kept_by_a_5_percent_cut"), [("Fe3Ni", 0), ("Ni3Al", 276)])
    def test_an_ordered_phase_keeps_all_its_superlattice_reflectors(self, materials, name, kept_by_a_5_percent_cut):
        """The kinematical master pattern draws every reflector that is not extinct. A cut at 5 % of the
        strongest |F| kept none of Fe3Ni's superlattice reflectors (Fe and Ni scatter almost alike) and only
        some of Ni3Al's, so that Fe3Ni was an fcc metal to the simulator."""
        reflectors, superlattice = self.superlattice(materials[name])
        hkl = {tuple(v) for v in np.round(reflectors.hkl[superlattice]).astype(int)}
        drawn = {tuple(v) for v in np.round(kinematical_reflectors(materials[name]).hkl).astype(int)}
        cut = {tuple(v) for v in np.round(kinematical_reflectors(materials[name], min_relative_f=0.05).hkl).astype(int)}
        assert len(hkl) > 300 and hkl <= drawn
        assert (1, 0, 0) in hkl and (1, 1, 0) in hkl and (2, 0, 0) not in hkl  # L1₂: mixed parity only
        assert len(hkl & cut) == kept_by_a_5_percent_cut

    def test_fe3nis_superlattice_bands_lie_where_kinematical_theory_puts_them(self, materials):
        """What the superlattice reflectors add to Fe3Ni's master pattern (2 % of its brightest pixel) is their
        bands, each 2θ_B wide and as strong as its |F|: the image of those bands matches it, turned it does not."""
        from scipy.spatial.transform import Rotation

        from ebsdlib.studies.physics import band_template

        fe3ni = materials["Fe3Ni"]
        reflectors, superlattice = self.superlattice(fe3ni)
        full = np.asarray(master_pattern(fe3ni, half_size=60).data, dtype=np.float64)
        added = full - np.asarray(master_pattern(fe3ni, half_size=60, min_relative_f=0.05).data, dtype=np.float64)
        normals, widths = reflectors.unit.data[superlattice], np.degrees(reflectors.theta[superlattice])
        weights = np.abs(reflectors.structure_factor[superlattice])

        def r(rotation):
            image = band_template(121, normals @ rotation.T, widths, 1, weights=weights)
            return float(np.corrcoef(image.ravel(), added.ravel())[0, 1])

        assert 0.01 < added.max() / full.max() < 0.05
        assert r(np.eye(3)) > 0.9
        assert max(abs(r(m)) for m in Rotation.random(10, random_state=0).as_matrix()) < 0.3

    def test_the_geometry_says_how_fine(self, ni):
        from ebsdlib.simulation.patterns import _master_pattern_array

        coarse, fine = (DetectorGeometry(shape=(20, 24), master_pattern_half_size=size) for size in (45, 60))
        a, _ = simulate_patterns(ni, 2, Detector(coarse, DetectorModel.clean()), seed=0)
        assert _master_pattern_array.is_cached(ni, 20.0, 45, 0.7, EXTINCT_F)
        b, _ = simulate_patterns(ni, 2, Detector(fine, DetectorModel.clean()), seed=0)
        assert not np.array_equal(a, b)
        c, _ = simulate_patterns(ni, 2, Detector(fine, DetectorModel.clean()), seed=0, master_pattern_kwargs={"half_size": 45})
        np.testing.assert_array_equal(a, c)

    def test_the_same_in_every_run_whatever_numbas_threads(self, materials):
        """kikuchipy adds the bands from parallel threads into one shared pattern and loses some of them
        (a few hundred pixels of a 501 x 501 Ni3Al pattern differed between runs on two threads); the
        master pattern is computed on one thread, and numba's thread count is given back afterwards."""
        import numba

        from ebsdlib.simulation.patterns import _master_pattern_array, numba_threads

        if numba.config.NUMBA_NUM_THREADS < 2:
            pytest.skip("numba has a single thread here: the race cannot happen")
        with numba_threads(2):
            runs = [_master_pattern_array.__wrapped__(materials["Ni3Al"], 20.0, 250, 0.7, 0.05) for _ in range(3)]
            assert numba.get_num_threads() == 2
        for other in runs[1:]:
            assert np.array_equal(runs[0], other), f"{int((runs[0] != other).sum())} pixels differ between two runs"


class TestSimulatePatterns:
    def test_shape_dtype_and_table(self, ni, tiny_geometry):
        patterns, table = simulate_patterns(ni, 12, Detector(tiny_geometry, DetectorModel()), seed=1)
        assert patterns.shape == (12, 30, 36) and patterns.dtype == np.uint8
        assert patterns.min() == 0 and patterns.max() == 255
        assert len(table) == 12 and set(table["material"]) == {"Ni"} and set(table["space_group"]) == {225}
        q = table[["qa", "qb", "qc", "qd"]].to_numpy()
        np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1, atol=1e-6)

    def test_same_seed_same_patterns(self, ni, tiny_geometry):
        a, ta = simulate_patterns(ni, 5, Detector(tiny_geometry), seed=3)
        b, tb = simulate_patterns(ni, 5, Detector(tiny_geometry), seed=3)
        c, _ = simulate_patterns(ni, 5, Detector(tiny_geometry), seed=4)
        np.testing.assert_array_equal(a, b)
        assert ta.equals(tb)
        assert not np.array_equal(a, c)

    def test_pattern_centre_jitter(self, ni, tiny_geometry):
        _, table = simulate_patterns(ni, 200, Detector(tiny_geometry, DetectorModel(pc_jitter=0.01, degraded_fraction=0)), seed=0)
        assert table["pcx"].std() == pytest.approx(0.01, rel=0.2)
        assert table["pcz"].mean() == pytest.approx(tiny_geometry.pc[2], abs=0.003)

    def test_degraded_share(self, ni, tiny_geometry):
        _, table = simulate_patterns(ni, 300, Detector(tiny_geometry, DetectorModel(degraded_fraction=0.3)), seed=0)
        assert (table["quality"] != "good").mean() == pytest.approx(0.3, abs=0.08)
        assert set(table["quality"]) == {"good", "low_contrast", "partial", "overlap"}

    def test_rotations_are_uniform(self):
        rot = random_rotations(20000, np.random.default_rng(0))
        # For uniform SO(3), the rotation angle has density (1 - cos w) / pi: mean angle pi/2 + 2/pi.
        assert rot.angle.mean() == pytest.approx(np.pi / 2 + 2 / np.pi, abs=0.02)


@pytest.fixture(scope="module")
def clean(materials):
    """Four clean Ni patterns on a 40 × 48 px detector, with the detector."""
    geometry = DetectorGeometry(shape=(40, 48))
    mp = master_pattern(materials["Ni"], half_size=60)
    return geometry, project_patterns(mp, random_rotations(4, np.random.default_rng(0)), geometry)


class TestDetectorModel:
    def _corr(self, a, b):
        return np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1]

    def test_higher_dose_is_closer_to_clean(self, clean):
        geometry, patterns = clean
        rng = np.random.default_rng(0)
        low = apply_detector_model(patterns, geometry, DetectorModel(dose=5, blur_sigma=0), rng)
        high = apply_detector_model(patterns, geometry, DetectorModel(dose=5000, blur_sigma=0), rng)
        assert self._corr(high, patterns) > self._corr(low, patterns) + 0.2

    def test_low_contrast_pattern_is_noisier(self, clean):
        geometry, patterns = clean
        rng = np.random.default_rng(0)
        out = apply_detector_model(patterns[:2], geometry, DetectorModel(), rng, quality=np.array(["good", "low_contrast"]))
        assert self._corr(out[0], patterns[0]) > self._corr(out[1], patterns[1]) + 0.2

    def test_partial_pattern_loses_its_bands_on_one_side(self, clean):
        geometry, patterns = clean
        model = DetectorModel(dose=np.inf, blur_sigma=0, partial_range=(0.5, 0.5))
        out = apply_detector_model(patterns[:1], geometry, model, np.random.default_rng(0), quality=np.array(["partial"]))
        # Without noise, the region without pattern is flat: many pixels share one grey level.
        values, counts = np.unique(out[0], return_counts=True)
        assert counts.max() > 0.3 * out[0].size

    def test_overlap_needs_a_second_pattern(self, clean):
        geometry, patterns = clean
        with pytest.raises(ValueError, match="second orientation"):
            apply_detector_model(patterns[:1], geometry, DetectorModel(), np.random.default_rng(0), quality=np.array(["overlap"]))

    def test_bad_parameters(self):
        with pytest.raises(ValueError, match="degraded kinds"):
            DetectorModel(degraded_kinds=("scratched",))
        with pytest.raises(ValueError, match="dose"):
            DetectorModel(dose=0)


def test_large_detector_in_one_call(materials):
    """The paper profile's detector (320 × 389 px): many patterns at once must not trip kikuchipy's chunking."""
    geometry = DetectorGeometry(shape=(320, 389))
    rng = np.random.default_rng(0)
    clean = project_patterns(
        master_pattern(materials["Ni"], half_size=60),
        random_rotations(450, rng),
        geometry,
        pcs=np.tile(geometry.pc, (450, 1)) + rng.normal(0, 0.003, (450, 3)),
    )
    assert clean.shape == (450, 320, 389) and np.isfinite(clean).all()
