"""Physically simulated EBSD patterns: master patterns, detector geometry, detector model.

The chain is that of a real acquisition:

1. a Kikuchi master pattern per material, cached: kinematical from its structure factors (kikuchipy
   ``KikuchiPatternSimulator``; X-ray scattering factors, Bragg angles at the beam energy), or dynamical from
   the Bloch waves of the electrons at each energy (ebsdsim, :mod:`ebsdlib.simulation.dynamical`), as the
   geometry's ``simulator`` says;
2. projection onto a detector in the paper's geometry (70° sample tilt, −3.1° detector tilt) for
   uniformly random orientations (the paper's samples had low texture), each pattern with its own
   slightly jittered pattern centre;
3. a detector model: a smooth background, Kikuchi contrast on top of it, optical blur, shot (Poisson)
   noise at a given dose, flat-field background correction, 8-bit export (the paper exported TIFFs), and a
   share of degraded patterns — low contrast, partial (part of the detector without a pattern) or an
   overlap of two orientations (a grain-boundary pattern) — because the paper's test data were not filtered.
"""

from __future__ import annotations

import contextlib
import io
import zlib
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from ebsdlib.cache import cached
from ebsdlib.crystal.materials import Material
from ebsdlib.simulation.dynamical import DYNAMICAL_HALF_SIZE, SIMULATORS, dynamical_master_pattern, hemisphere_of

__all__ = [
    "DetectorGeometry",
    "DetectorModel",
    "QUALITY_KINDS",
    "SIMULATORS",
    "EXTINCT_F",
    "kinematical_reflectors",
    "master_pattern",
    "detector_master_pattern",
    "simulated_detector",
    "random_rotations",
    "project_patterns",
    "apply_detector_model",
    "simulate_patterns",
    "Detector",
    "material_seed",
]

#: Half the side of a kinematical master pattern when none is given: 501 × 501 px.
KINEMATICAL_HALF_SIZE = 250
#: Reflectors whose |F| is below this share of the strongest are extinct (zero up to rounding) and left out of
#: the kinematical master pattern; every other reflector is drawn with its kinematical |F|, however weak, so that
#: an ordered phase keeps its superlattice bands (Fe3Ni's are 0.13-1.5 % of its strongest, Ni3Al's 4-8 %).
EXTINCT_F = 1e-6

#: Pattern-quality flags of the detector model.
QUALITY_KINDS = ("good", "low_contrast", "partial", "overlap")


@dataclass(frozen=True)
class DetectorGeometry:
    """Detector geometry of the simulated acquisition.

    Parameters
    ----------
    shape
        Detector (rows, columns) in pixels. The paper's Oxford Symmetry detector read 1024 × 1244 pixels;
        the default (120, 146) keeps that aspect ratio, binned, which is enough for the CNN input sizes.
    pc
        Pattern centre (PCx, PCy, PCz) in Bruker's convention (fractions of detector width/height). The
        paper does not report its PC; the default is a typical value for a 70°-tilted sample at a working
        distance of about 18 mm.
    sample_tilt
        Sample tilt about the detector's horizontal axis in degrees (default 70, as the paper).
    tilt
        Detector tilt in degrees (default −3.1, as the paper).
    energy
        Beam energy in kV (default 20, as the paper).
    master_pattern_half_size
        Half the side of the master patterns the patterns are projected from (square Lambert projection);
        default ``None``: the simulator's, 250 (501 × 501 px) kinematical, 100 dynamical
        (:data:`~ebsdlib.simulation.dynamical.DYNAMICAL_HALF_SIZE`). Not a property of the detector, but of
        every simulation that takes one. A smaller one is faster (kinematical Ni3Al: 2.6 s at 250, 0.3 s at 100)
        and differs: patterns of 135 correlate with those of 250 at 0.98, of 45 at 0.93 (Ni3Al, on 20- and 60-row
        detectors alike).
    simulator
        The physics of the master patterns: ``"kinematical"`` (default; kikuchipy) or ``"dynamical"`` (Bloch
        waves; ebsdsim, :mod:`ebsdlib.simulation.dynamical`). Like the size, a property of the simulation.
    """

    shape: tuple[int, int] = (120, 146)
    pc: tuple[float, float, float] = (0.50, 0.27, 0.60)
    sample_tilt: float = 70.0
    tilt: float = -3.1
    energy: float = 20.0
    master_pattern_half_size: int | None = None
    simulator: str = "kinematical"

    def __post_init__(self):
        if self.simulator not in SIMULATORS:
            raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not {self.simulator!r}")

    @property
    def half_size(self) -> int:
        """Half the side of the master patterns: ``master_pattern_half_size``, else the simulator's default."""
        if self.master_pattern_half_size is not None:
            return int(self.master_pattern_half_size)
        return DYNAMICAL_HALF_SIZE if self.simulator == "dynamical" else KINEMATICAL_HALF_SIZE

    def detector(self, pc=None):
        """Kikuchipy ``EBSDDetector`` with this geometry; ``pc`` may be an (n, 3) array, one per pattern."""
        import kikuchipy as kp

        return kp.detectors.EBSDDetector(
            shape=tuple(int(s) for s in self.shape),
            pc=self.pc if pc is None else pc,
            sample_tilt=self.sample_tilt,
            tilt=self.tilt,
            convention="bruker",
        )


@dataclass(frozen=True)
class DetectorModel:
    """How the detector turns a clean Kikuchi pattern into a recorded one. Every part is a parameter.

    Parameters
    ----------
    dose
        Mean electron counts per pixel at the background maximum; sets the shot (Poisson) noise.
    contrast
        Kikuchi contrast: relative modulation of the background by the (zero-mean, unit-std) pattern.
    background_width
        Width (standard deviation) of the smooth Gaussian background as a fraction of the detector width.
    background_floor
        Background level far from its maximum, relative to the maximum.
    blur_sigma
        Gaussian blur (scintillator and optics) in detector pixels.
    pc_jitter
        Standard deviation of the pattern centre between patterns, in PC units (beam scanning, surface
        height).
    background_correction
        Divide by the static background before export, as acquisition software does (default True).
    degraded_fraction
        Share of patterns that are degraded; each gets one kind from ``degraded_kinds`` at random.
    degraded_kinds
        Which degradations to draw from: ``"low_contrast"``, ``"partial"``, ``"overlap"``.
    low_contrast_range
        Contrast multiplier range of a low-contrast pattern.
    partial_range
        Range of the share of the detector without a pattern in a partial pattern.
    overlap_range
        Range of the weight of the second orientation in an overlap pattern.
    """

    dose: float = 150.0
    contrast: float = 0.2
    background_width: float = 0.45
    background_floor: float = 0.3
    blur_sigma: float = 0.7
    pc_jitter: float = 0.004
    background_correction: bool = True
    degraded_fraction: float = 0.1
    degraded_kinds: tuple[str, ...] = ("low_contrast", "partial", "overlap")
    low_contrast_range: tuple[float, float] = (0.15, 0.4)
    partial_range: tuple[float, float] = (0.25, 0.6)
    overlap_range: tuple[float, float] = (0.3, 0.5)

    def __post_init__(self):
        unknown = set(self.degraded_kinds) - set(QUALITY_KINDS[1:])
        if unknown:
            raise ValueError(f"unknown degraded kinds {sorted(unknown)}; choose from {QUALITY_KINDS[1:]}")
        if not 0 <= self.degraded_fraction <= 1:
            raise ValueError("degraded_fraction must lie between 0 and 1")
        if self.dose <= 0:
            raise ValueError("dose must be positive (counts per pixel)")

    @classmethod
    def clean(cls) -> DetectorModel:
        """A model without noise, blur, jitter or degradation (for figures and tests)."""
        return cls(dose=np.inf, blur_sigma=0.0, pc_jitter=0.0, degraded_fraction=0.0)

    def as_dict(self) -> dict:
        """The fields as a plain dict (for JSON and cache keys)."""
        return asdict(self)


@dataclass(frozen=True)
class Detector:
    """A simulated detector: where it sits and what it sees (:class:`DetectorGeometry`) and how it records
    (:class:`DetectorModel`). The two travel together through every function that simulates patterns.

    Parameters
    ----------
    geometry
        Shape, pattern centre, tilts, beam energy and master-pattern size; default ``DetectorGeometry()``, the
        book's 120 × 146 px detector at 20 kV.
    detector_model
        Dose, contrast, background, blur, pattern-centre jitter, background correction and degraded patterns;
        default ``DetectorModel()``, the book's.

    Examples
    --------
    >>> detector = Detector(DetectorGeometry(shape=(60, 73)), DetectorModel.clean())
    >>> detector.geometry.shape, detector.detector_model.dose
    ((60, 73), inf)
    """

    geometry: DetectorGeometry = DetectorGeometry()
    detector_model: DetectorModel = DetectorModel()


def material_seed(seed: int, material: Material | str) -> np.random.SeedSequence:
    """A seed sequence for one material: the same (seed, material) gives the same patterns."""
    name = material if isinstance(material, str) else material.name
    return np.random.SeedSequence([int(seed), zlib.crc32(name.encode())])


@contextlib.contextmanager
def numba_threads(n: int):
    """Run numba's parallel kernels with ``n`` threads inside the block (the number before it afterwards)."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(min(int(n), numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def kinematical_reflectors(
    material: Material, energy: float = 20.0, min_dspacing: float = 0.7, min_relative_f: float = EXTINCT_F
):
    """The reflectors the kinematical master pattern of ``material`` draws: diffsims'
    ``ReciprocalLatticeVector`` of every (hkl) with d ≥ ``min_dspacing`` Å and |F| at least ``min_relative_f`` of
    the strongest (default :data:`EXTINCT_F`: all that are not extinct), with structure factors and Bragg angles
    at ``energy`` kV.

    Examples
    --------
    >>> from ebsdlib.crystal.materials import load_materials
    >>> fe3ni = load_materials()["Fe3Ni"]
    >>> kinematical_reflectors(fe3ni).size, kinematical_reflectors(fe3ni, min_relative_f=0.05).size
    (586, 136)
    """
    from diffsims.crystallography import ReciprocalLatticeVector

    ref = ReciprocalLatticeVector.from_min_dspacing(material.phase(), min_dspacing=min_dspacing)
    ref.calculate_structure_factor()
    F = np.abs(ref.structure_factor)
    ref = ref[min_relative_f * F.max() <= F]
    ref.calculate_theta(energy * 1e3)
    return ref


@cached(depends_on=["crystal.materials"])
def _master_pattern_array(
    material: Material, energy: float, half_size: int, min_dspacing: float, min_relative_f: float
) -> np.ndarray:
    import kikuchipy as kp

    simulator = kp.simulations.KikuchiPatternSimulator(kinematical_reflectors(material, energy, min_dspacing, min_relative_f))
    # kikuchipy's kernel (``get_pattern``) adds each reflector's band to the shared pattern from parallel
    # numba threads, so that two threads adding to one pixel lose a band now and then: a few hundred
    # pixels differ from run to run. One thread makes it exact and reproducible (about 1 s a pattern).
    with contextlib.redirect_stderr(io.StringIO()), numba_threads(1):  # and kikuchipy's progress bar, quiet
        mp = simulator.calculate_master_pattern(half_size=half_size, hemisphere=hemisphere_of(material), scaling="linear")
    return np.asarray(mp.as_lambert(show_progressbar=False).data, dtype=np.float32)


def master_pattern(
    material: Material,
    energy: float = 20.0,
    half_size: int = KINEMATICAL_HALF_SIZE,
    min_dspacing: float = 0.7,
    min_relative_f: float = EXTINCT_F,
    simulator: str = "kinematical",
):
    """Master pattern of ``material`` in the Lambert projection, kinematical or dynamical, cached.

    The upper hemisphere suffices for centrosymmetric point groups (all six target space groups); both
    hemispheres are computed otherwise.

    Parameters
    ----------
    material
        The crystal (its structure factors and point group: one hemisphere for centrosymmetric ones, both otherwise).
    energy
        Beam energy in kV (default 20).
    half_size
        Half the side of the square Lambert projection in pixels (default 250: 501 × 501).
    min_dspacing
        Smallest interplanar spacing of the reflectors in Å (default 0.7; kinematical only: the dynamical
        simulator's beams reach 0.7 Å too, except for the materials whose
        :func:`~ebsdlib.simulation.dynamical_settings.dynamical_settings` say otherwise).
    min_relative_f
        Reflectors with |F| below this share of the strongest are left out (default :data:`EXTINCT_F`: only the
        extinct ones, whose |F| is zero up to rounding; kinematical only). A larger cut removes weak reflectors
        that define a class: at 0.05 Fe3Ni loses all its superlattice bands and becomes an fcc metal.
    simulator
        ``"kinematical"`` (default; kikuchipy's simulator) or ``"dynamical"`` (Bloch waves, energy-weighted: the
        shipped file where the package has one, else computed; :func:`ebsdlib.simulation.dynamical.dynamical_master_pattern`).
    """
    import kikuchipy as kp

    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    if simulator == "dynamical":
        data = dynamical_master_pattern(material, float(energy), int(half_size))
    else:
        data = _master_pattern_array(material, float(energy), int(half_size), float(min_dspacing), float(min_relative_f))
    mp = kp.signals.EBSDMasterPattern(data, projection="lambert", hemisphere=hemisphere_of(material), phase=material.phase())
    mp._energy = energy
    return mp


def detector_master_pattern(material: Material, geometry: DetectorGeometry):
    """The master pattern of ``material`` at ``geometry``'s beam energy, master-pattern size and simulator, cached."""
    return master_pattern(material, energy=geometry.energy, half_size=geometry.half_size, simulator=geometry.simulator)


def random_rotations(n: int, rng: np.random.Generator):
    """``n`` orientations uniformly distributed over SO(3) (normalised 4-D Gaussian quaternions)."""
    from orix.quaternion import Rotation

    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[q[:, 0] < 0] *= -1
    return Rotation(q)


def project_patterns(mp, rotations, geometry: DetectorGeometry, pcs: np.ndarray | None = None, chunk: int = 500) -> np.ndarray:
    """Clean kinematical patterns (float32, (n, rows, cols)) of ``rotations`` on the detector."""
    n = rotations.size
    out = np.empty((n, *geometry.shape), dtype=np.float32)
    # One dask block per call (kikuchipy fails when it splits the patterns of a large detector into
    # several blocks), with at most about 200 MB of float32 patterns per call.
    chunk = max(1, min(chunk, int(5e7 // (geometry.shape[0] * geometry.shape[1]))))
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        pc = None if pcs is None else pcs[start:stop]
        detector = geometry.detector(pc=pc)
        sim = mp.get_patterns(
            rotations[start:stop],
            detector,
            energy=geometry.energy,
            compute=True,
            dtype_out=np.float32,
            show_progressbar=False,
            chunk_shape=stop - start,
        )
        out[start:stop] = np.asarray(sim.data).reshape(stop - start, *geometry.shape)
    return out


def _standardise(p: np.ndarray) -> np.ndarray:
    mean = p.mean(axis=(-2, -1), keepdims=True)
    std = p.std(axis=(-2, -1), keepdims=True)
    return (p - mean) / np.where(std > 0, std, 1)


def smooth_background(geometry: DetectorGeometry, detector_model: DetectorModel) -> np.ndarray:
    """The static background (max 1) on the detector: a broad Gaussian below the pattern centre."""
    rows, cols = geometry.shape
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cx, cy = geometry.pc[0] * cols, 0.6 * rows
    sigma = detector_model.background_width * cols
    g = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
    return (detector_model.background_floor + (1 - detector_model.background_floor) * g).astype(np.float32)


def _partial_masks(n: int, shape: tuple[int, int], shares: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Masks (1 = pattern, 0 = no pattern) cut by a random straight edge, ``shares`` of area removed."""
    rows, cols = shape
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    masks = np.empty((n, rows, cols), dtype=np.float32)
    for i in range(n):
        angle = rng.uniform(0, 2 * np.pi)
        d = x * np.cos(angle) + y * np.sin(angle)
        threshold = np.quantile(d, shares[i])
        masks[i] = ndimage.gaussian_filter((d >= threshold).astype(np.float32), 1.5)
    return masks


def apply_detector_model(
    clean: np.ndarray,
    geometry: DetectorGeometry,
    detector_model: DetectorModel,
    rng: np.random.Generator,
    quality: np.ndarray | None = None,
    second: np.ndarray | None = None,
) -> np.ndarray:
    """Record clean patterns with the detector model; returns 8-bit patterns (uint8, same shape).

    Parameters
    ----------
    clean
        Clean kinematical patterns, (n, rows, cols).
    quality
        Per-pattern quality flag (one of :data:`QUALITY_KINDS`); default all ``"good"``.
    second
        Clean patterns of a second orientation, used where ``quality == "overlap"``.
    """
    n = clean.shape[0]
    quality = np.full(n, "good") if quality is None else np.asarray(quality)
    kikuchi = _standardise(clean.astype(np.float32))
    contrast = np.full(n, detector_model.contrast, dtype=np.float32)

    low = quality == "low_contrast"
    contrast[low] *= rng.uniform(*detector_model.low_contrast_range, size=low.sum())
    over = quality == "overlap"
    if over.any():
        if second is None:
            raise ValueError("overlap patterns need the clean patterns of a second orientation")
        w = rng.uniform(*detector_model.overlap_range, size=over.sum())[:, None, None].astype(np.float32)
        kikuchi[over] = _standardise((1 - w) * kikuchi[over] + w * _standardise(second[over]))
    part = quality == "partial"
    if part.any():
        shares = rng.uniform(*detector_model.partial_range, size=part.sum())
        kikuchi[part] *= _partial_masks(part.sum(), clean.shape[1:], shares, rng)

    background = smooth_background(geometry, detector_model)
    signal = background * (1 + contrast[:, None, None] * kikuchi)
    signal = np.clip(signal, 0, None)
    if detector_model.blur_sigma > 0:
        signal = ndimage.gaussian_filter(signal, sigma=(0, detector_model.blur_sigma, detector_model.blur_sigma))
    if np.isfinite(detector_model.dose):
        counts = rng.poisson(signal * detector_model.dose).astype(np.float32)
        recorded = counts / detector_model.dose
    else:
        recorded = signal
    if detector_model.background_correction:
        recorded = recorded / background
    lo = np.percentile(recorded, 0.5, axis=(1, 2), keepdims=True)
    hi = np.percentile(recorded, 99.5, axis=(1, 2), keepdims=True)
    scaled = (recorded - lo) / np.where(hi > lo, hi - lo, 1)
    return np.round(np.clip(scaled, 0, 1) * 255).astype(np.uint8)


def simulate_patterns(
    material: Material,
    n: int,
    detector: Detector = Detector(),
    seed: int = 0,
    master_pattern_kwargs: dict | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Simulate ``n`` recorded patterns of ``material`` at uniformly random orientations.

    Parameters
    ----------
    material
        The phase to simulate (:class:`~ebsdlib.crystal.materials.Material`).
    n
        Number of patterns.
    detector
        The simulated detector: its geometry (shape, pattern centre, tilts, beam energy, master-pattern size)
        and its detector model (dose, contrast, background, blur, pattern-centre jitter, background
        correction, degraded patterns), a :class:`Detector`; default ``Detector()``, the book's.
    seed
        Seed of the orientations, pattern centres, quality flags and noise, combined with the material's name
        (:func:`material_seed`): the same seed and material give the same patterns (default 0).
    master_pattern_kwargs
        Keyword arguments of :func:`master_pattern` (``energy``, ``half_size``, ``min_dspacing``,
        ``min_relative_f``) that replace those taken from ``detector.geometry`` or the function's defaults; default
        ``None``: none.

    Returns
    -------
    patterns
        uint8 array (n, rows, cols).
    table
        One row per pattern: ``material``, ``space_group``, orientation as a unit quaternion
        (``qa, qb, qc, qd``) and Bunge Euler angles in degrees (``phi1, Phi, phi2``), the pattern centre
        (``pcx, pcy, pcz``) and the ``quality`` flag.

    Examples
    --------
    >>> from ebsdlib.crystal.materials import load_materials
    >>> patterns, table = simulate_patterns(load_materials()["Ni"], 2, Detector(DetectorGeometry(shape=(60, 73))), seed=1)
    >>> patterns.shape, patterns.dtype.name, table["space_group"].tolist()
    ((2, 60, 73), 'uint8', [225, 225])
    """
    geometry, detector_model = detector.geometry, detector.detector_model
    rng = np.random.default_rng(material_seed(seed, material))
    rotations = random_rotations(n, rng)
    pcs = np.asarray(geometry.pc, dtype=float) + rng.normal(0, detector_model.pc_jitter, size=(n, 3))
    quality = np.full(n, "good", dtype=object)
    degraded = rng.random(n) < detector_model.degraded_fraction
    if degraded.any() and detector_model.degraded_kinds:
        quality[degraded] = rng.choice(list(detector_model.degraded_kinds), size=degraded.sum())
    mp = master_pattern(
        material,
        **{
            "energy": geometry.energy,
            "half_size": geometry.half_size,
            "simulator": geometry.simulator,
            **(master_pattern_kwargs or {}),
        },
    )
    clean = project_patterns(mp, rotations, geometry, pcs)
    second = None
    over = quality == "overlap"
    if over.any():
        second = np.zeros_like(clean)
        second[over] = project_patterns(mp, random_rotations(int(over.sum()), rng), geometry, pcs[over])
    patterns = apply_detector_model(clean, geometry, detector_model, rng, quality=quality.astype(str), second=second)
    euler = np.rad2deg(rotations.to_euler())
    q = rotations.data
    table = pd.DataFrame(
        {
            "material": material.name,
            "space_group": material.space_group,
            "qa": q[:, 0],
            "qb": q[:, 1],
            "qc": q[:, 2],
            "qd": q[:, 3],
            "phi1": euler[:, 0],
            "Phi": euler[:, 1],
            "phi2": euler[:, 2],
            "pcx": pcs[:, 0],
            "pcy": pcs[:, 1],
            "pcz": pcs[:, 2],
            "quality": quality.astype(str),
        }
    )
    return patterns, table


def detector_model_examples(material: Material, detector: Detector = Detector(), seed: int = 0) -> dict[str, np.ndarray]:
    """One orientation of ``material`` as the clean kinematical pattern and as recorded by ``detector``'s
    detector model, good and with each degradation: ``{"clean", "good", "low_contrast", "partial", "overlap"}``."""
    geometry, detector_model = detector.geometry, detector.detector_model
    rng = np.random.default_rng(material_seed(seed, material))
    rotations = random_rotations(2, rng)
    mp = detector_master_pattern(material, geometry)
    clean = project_patterns(mp, rotations, geometry)
    kinds = list(QUALITY_KINDS)
    first = np.repeat(clean[:1], len(kinds), axis=0)
    second = np.repeat(clean[1:], len(kinds), axis=0)
    recorded = apply_detector_model(first, geometry, detector_model, rng, quality=np.array(kinds), second=second)
    out = {"clean": apply_detector_model(clean[:1], geometry, DetectorModel.clean(), rng)[0]}
    out.update({kind: recorded[i] for i, kind in enumerate(kinds)})
    return out


def simulated_detector(settings: dict, detector_shape=None) -> Detector:
    """The simulated detector of a profile's shared settings: its geometry (``detector_shape`` overrides
    the profile's) and its detector model.

    Parameters
    ----------
    settings
        A profile's shared settings (:func:`ebsdlib.settings.shared_settings`), of which ``detector_shape``
        (rows, cols in pixels), ``pattern_center`` (PCx, PCy, PCz, Bruker's convention), ``simulator``
        (``settings.yml``'s default, kinematical, where a hand-made dict has none), ``dose``, ``contrast``,
        ``blur_sigma``, ``pc_jitter`` and ``degraded_fraction`` are read.
    detector_shape
        Detector (rows, cols) in pixels in place of the profile's; default ``None``: the profile's.

    Returns
    -------
    Detector
        Its :class:`DetectorGeometry` has that shape, pattern centre and simulator; tilts, beam energy and
        master-pattern size keep their defaults (70°, −3.1°, 20 kV, the simulator's size). Its :class:`DetectorModel` has those five settings;
        the others keep their defaults.
    """
    geometry = DetectorGeometry(
        shape=tuple(int(s) for s in (detector_shape or settings["detector_shape"])),
        pc=tuple(float(p) for p in settings["pattern_center"]),
        simulator=str(settings.get("simulator", "kinematical")),
    )
    detector_model = DetectorModel(
        dose=float(settings["dose"]),
        contrast=float(settings["contrast"]),
        blur_sigma=float(settings["blur_sigma"]),
        pc_jitter=float(settings["pc_jitter"]),
        degraded_fraction=float(settings["degraded_fraction"]),
    )
    return Detector(geometry, detector_model)
