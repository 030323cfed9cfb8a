"""Acquisition randomisation: patterns from many microscopes, and one canonical view of any pattern.

A user's detector differs from the paper's: pattern size and aspect (square binned detectors are
common), pattern centre, detector and sample tilt, beam energy, dose, contrast and blur, static or
dynamic background correction, and the band profile of real (dynamical) diffraction against our
kinematical one. :class:`AcquisitionRanges` draws each of these per chunk of patterns (pattern centre per
pattern) over ranges wider than any one microscope; :func:`simulate_randomised` records patterns with
them through :mod:`ebsdlib.simulation.patterns`'s projection and detector model.

Patterns of different shapes meet in one canonical view (:func:`canonical_view`): the largest centred
square of the detector, resized to a fixed side. A user's patterns, of whatever aspect, take the same
path, so no pattern is squeezed into another detector's aspect.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from scipy import ndimage
from tqdm import tqdm

from ebsdlib.cache import cached
from ebsdlib.crystal.materials import Material
from ebsdlib.datasets.container import PatternDataset, SplitCounts, assign_split, patterns_per_material
from ebsdlib.preprocess import canonical_view
from ebsdlib.simulation.dynamical_settings import DYNAMICAL_MODULES, SHIPPED_MANIFEST
from ebsdlib.simulation.patterns import (
    Detector,
    DetectorGeometry,
    DetectorModel,
    apply_detector_model,
    detector_master_pattern,
    material_seed,
    project_patterns,
    random_rotations,
)

__all__ = [
    "AcquisitionRanges",
    "dynamic_background_correction",
    "band_profile",
    "simulate_randomised",
    "randomised_dataset",
    "out_of_range_conditions",
    "condition_datasets",
    "as_canonical",
]


@dataclass(frozen=True)
class AcquisitionRanges:
    """Ranges of acquisition settings; each is drawn uniformly (or from the listed choices).

    Parameters
    ----------
    shapes
        Detector (rows, columns) choices: the paper's 1024 × 1244 aspect binned, square binned detectors,
        a 4:3 camera.
    pc
        Pattern centre (PCx, PCy, PCz) about which each pattern's centre is drawn, ± ``pc_shift``.
    pc_shift
        Half-width of the uniform range of each pattern-centre coordinate about ``pc``, in PC units (default 0.1).
    sample_tilt, detector_tilt
        Degrees.
    energies
        Beam energies (kV) to choose from; each costs one master pattern per material.
    dose, contrast, blur_sigma
        As :class:`ebsdlib.simulation.patterns.DetectorModel`.
    dynamic_background
        Share of chunks that get a dynamic background correction after the static one.
    no_static_correction
        Share of chunks exported without the static (flat-field) background correction.
    band_gamma
        Exponent applied to the clean pattern scaled to [0, 1]: below 1 widens bright bands, above 1
        sharpens them (a crude stand-in for the band profiles of dynamical diffraction).
    degraded_fraction
        As :class:`ebsdlib.simulation.patterns.DetectorModel`.
    chunk
        Patterns that share one draw of the chunk-level settings (the projection runs per chunk).
    simulator
        The physics of the master patterns, ``"kinematical"`` (default) or ``"dynamical"``, for every acquisition.
    """

    shapes: tuple[tuple[int, int], ...] = ((120, 146), (120, 120), (96, 96), (120, 160))
    pc: tuple[float, float, float] = (0.50, 0.27, 0.60)
    pc_shift: float = 0.1
    sample_tilt: tuple[float, float] = (65.0, 75.0)
    detector_tilt: tuple[float, float] = (-10.0, 10.0)
    energies: tuple[float, ...] = (15.0, 20.0, 30.0)
    dose: tuple[float, float] = (40.0, 600.0)
    contrast: tuple[float, float] = (0.08, 0.35)
    blur_sigma: tuple[float, float] = (0.3, 1.5)
    dynamic_background: float = 0.5
    no_static_correction: float = 0.2
    band_gamma: tuple[float, float] = (0.6, 1.6)
    degraded_fraction: float = 0.1
    chunk: int = 20
    simulator: str = "kinematical"

    def __post_init__(self):
        if not self.shapes or any(len(s) != 2 or min(s) < 16 for s in self.shapes):
            raise ValueError("shapes must list (rows, columns) detector shapes of at least 16 pixels")
        for name in ("sample_tilt", "detector_tilt", "dose", "contrast", "blur_sigma", "band_gamma"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"{name}: the lower end {lo} lies above the upper end {hi}")
        for name in ("dynamic_background", "no_static_correction", "degraded_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} is a share and must lie between 0 and 1")
        if self.dose[0] <= 0 or self.band_gamma[0] <= 0:
            raise ValueError("dose and band_gamma must be positive")

    @classmethod
    def fixed(cls, detector: Detector = Detector()) -> AcquisitionRanges:
        """No randomisation: one detector, geometry and detector model (the book's default acquisition)."""
        geometry, detector_model = detector.geometry, detector.detector_model
        return cls(
            shapes=(tuple(geometry.shape),),
            pc=tuple(geometry.pc),
            pc_shift=0.0,
            sample_tilt=(geometry.sample_tilt,) * 2,
            detector_tilt=(geometry.tilt,) * 2,
            energies=(geometry.energy,),
            simulator=geometry.simulator,
            dose=(detector_model.dose,) * 2,
            contrast=(detector_model.contrast,) * 2,
            blur_sigma=(detector_model.blur_sigma,) * 2,
            dynamic_background=0.0,
            no_static_correction=0.0 if detector_model.background_correction else 1.0,
            band_gamma=(1.0, 1.0),
            degraded_fraction=detector_model.degraded_fraction,
        )

    def as_dict(self) -> dict:
        """The fields as a plain dict (for JSON and cache keys)."""
        return asdict(self)


def dynamic_background_correction(patterns: np.ndarray, sigma_fraction: float = 0.08) -> np.ndarray:
    """Subtract a Gaussian-blurred copy of each pattern (sigma a share of the pattern width), as
    acquisition software and kikuchipy's ``remove_dynamic_background`` do; rescaled to uint8."""
    x = np.asarray(patterns, dtype=np.float32)
    sigma = max(1.0, sigma_fraction * x.shape[-1])
    flat = x - ndimage.gaussian_filter(x, sigma=(0, sigma, sigma))
    lo = np.percentile(flat, 0.5, axis=(1, 2), keepdims=True)
    hi = np.percentile(flat, 99.5, axis=(1, 2), keepdims=True)
    return np.round(np.clip((flat - lo) / np.where(hi > lo, hi - lo, 1), 0, 1) * 255).astype(np.uint8)


def band_profile(clean: np.ndarray, gamma: float) -> np.ndarray:
    """Clean patterns scaled to [0, 1] per pattern and raised to ``gamma``."""
    x = np.asarray(clean, dtype=np.float32)
    lo = x.min(axis=(1, 2), keepdims=True)
    hi = x.max(axis=(1, 2), keepdims=True)
    return ((x - lo) / np.where(hi > lo, hi - lo, 1)) ** float(gamma)


def simulate_randomised(
    material: Material, n: int, ranges: AcquisitionRanges, size: int, seed: int = 0, view: str = "canonical"
) -> tuple[np.ndarray, pd.DataFrame]:
    """``n`` patterns of ``material`` under acquisition settings drawn from ``ranges``, and one table row
    per pattern with its orientation and settings.

    ``view="canonical"``: uint8 (n, size, size) in the canonical view. ``view="native"``: the patterns as
    the detector recorded them, uint8 (n, rows, cols); needs ranges with a single detector shape (``size``
    is then unused).
    """
    if view not in ("canonical", "native"):
        raise ValueError(f"view must be 'canonical' or 'native', not {view!r}")
    if view == "native" and len(set(ranges.shapes)) != 1:
        raise ValueError(
            "view='native' needs ranges with one detector shape; patterns of several shapes only meet in the canonical view"
        )
    rng = np.random.default_rng(material_seed(seed, material))
    rotations = random_rotations(n, rng)
    out_shape = tuple(ranges.shapes[0]) if view == "native" else (size, size)
    out = np.empty((n, *out_shape), dtype=np.uint8)
    rows = []
    for start in range(0, n, ranges.chunk):
        stop = min(start + ranges.chunk, n)
        m = stop - start
        shape = tuple(ranges.shapes[rng.integers(len(ranges.shapes))])
        geometry = DetectorGeometry(
            shape=shape,
            pc=ranges.pc,
            sample_tilt=float(rng.uniform(*ranges.sample_tilt)),
            tilt=float(rng.uniform(*ranges.detector_tilt)),
            energy=float(rng.choice(ranges.energies)),
            simulator=ranges.simulator,
        )
        detector_model = DetectorModel(
            dose=float(rng.uniform(*ranges.dose)),
            contrast=float(rng.uniform(*ranges.contrast)),
            blur_sigma=float(rng.uniform(*ranges.blur_sigma)),
            pc_jitter=0.0,
            background_correction=bool(rng.random() >= ranges.no_static_correction),
            degraded_fraction=ranges.degraded_fraction,
        )
        dynamic = bool(rng.random() < ranges.dynamic_background)
        gamma = float(rng.uniform(*ranges.band_gamma))
        pcs = np.asarray(ranges.pc) + rng.uniform(-ranges.pc_shift, ranges.pc_shift, size=(m, 3))
        quality = np.full(m, "good", dtype=object)
        degraded = rng.random(m) < detector_model.degraded_fraction
        quality[degraded] = rng.choice(list(detector_model.degraded_kinds), size=int(degraded.sum()))
        mp = detector_master_pattern(material, geometry)
        clean = band_profile(project_patterns(mp, rotations[start:stop], geometry, pcs), gamma)
        second = None
        if (quality == "overlap").any():
            second = band_profile(project_patterns(mp, random_rotations(m, rng), geometry, pcs), gamma)
        recorded = apply_detector_model(clean, geometry, detector_model, rng, quality=quality.astype(str), second=second)
        if dynamic:
            recorded = dynamic_background_correction(recorded)
        view_of = canonical_view(recorded, size) if view == "canonical" else recorded
        out[start:stop] = np.round(np.clip(view_of, 0, 255)).astype(np.uint8)
        q = rotations[start:stop].data
        rows.append(
            pd.DataFrame(
                {
                    "material": material.name,
                    "space_group": material.space_group,
                    "qa": q[:, 0],
                    "qb": q[:, 1],
                    "qc": q[:, 2],
                    "qd": q[:, 3],
                    "pcx": pcs[:, 0],
                    "pcy": pcs[:, 1],
                    "pcz": pcs[:, 2],
                    "detector_rows": shape[0],
                    "detector_cols": shape[1],
                    "sample_tilt": geometry.sample_tilt,
                    "detector_tilt": geometry.tilt,
                    "energy": geometry.energy,
                    "dose": detector_model.dose,
                    "contrast": detector_model.contrast,
                    "blur_sigma": detector_model.blur_sigma,
                    "static_correction": detector_model.background_correction,
                    "dynamic_correction": dynamic,
                    "band_gamma": gamma,
                    "quality": quality.astype(str),
                }
            )
        )
    return out, pd.concat(rows, ignore_index=True)


@cached(
    depends_on=[
        "crystal.materials",
        "datasets.container",
        "preprocess",
        "simulation.patterns",
        *DYNAMICAL_MODULES,
    ],
    data_files=[SHIPPED_MANIFEST],
)
def _randomised_dataset(
    materials: tuple[Material, ...],
    counts: SplitCounts,
    ranges: AcquisitionRanges,
    size: int,
    seed: int,
    view: str = "canonical",
) -> PatternDataset:
    per_material = patterns_per_material(materials, counts)
    patterns, tables = [], []
    start = time.perf_counter()
    for m in tqdm(materials, desc="simulating (randomised acquisition)", unit="material", leave=False, disable=None):
        p, t = simulate_randomised(m, per_material[m.name], ranges, size, seed, view)
        patterns.append(p)
        tables.append(t)
    table = pd.concat(tables, ignore_index=True)
    table["split"] = assign_split(table, counts, seed)
    meta = {
        "source": "simulated, randomised acquisition",
        "seed": seed,
        "ranges": ranges.as_dict(),
        "view": view,
        "canonical_view": int(size) if view == "canonical" else None,
        "simulation_seconds": time.perf_counter() - start,
    }
    return PatternDataset(np.concatenate(patterns), table, meta)


def randomised_dataset(
    materials: list[Material],
    counts: SplitCounts,
    ranges: AcquisitionRanges = AcquisitionRanges(),
    size: int = 96,
    seed: int = 0,
    view: str = "canonical",
) -> PatternDataset:
    """A data set split by the paper's protocol whose patterns come from randomised acquisitions, in the
    canonical view of side ``size`` (the CNN resizes from there) or, for ranges with one detector shape,
    as recorded (``view="native"``); cached by its parameters.

    Parameters
    ----------
    materials
        The materials to simulate, e.g. :func:`~ebsdlib.crystal.materials.training_materials`.
    counts
        Training and validation patterns per space group, divided evenly over the group's materials, and test
        patterns per material (:class:`~ebsdlib.datasets.container.SplitCounts`).
    ranges
        The acquisition settings to draw from (:class:`AcquisitionRanges`): detector shape, tilts, beam energy,
        dose, contrast, blur, band profile and background correction once per chunk of ``ranges.chunk``
        patterns, pattern centre once per pattern; default ``AcquisitionRanges()``, ranges wider than any one
        microscope.
    size
        Side of the canonical view in pixels (default 96); unused with ``view="native"``.
    seed
        Seed of every material's orientations and acquisition draws (combined with its name) and of the split
        (default 0).
    view
        ``"canonical"`` (default): the largest centred square of each pattern resized to ``size`` × ``size``
        (:func:`~ebsdlib.preprocess.canonical_view`), where patterns of different detector shapes meet;
        ``"native"``: the patterns as recorded, which needs ``ranges`` with a single detector shape.

    Returns
    -------
    PatternDataset
        uint8 patterns; one table row per pattern with its orientation, pattern centre, acquisition settings
        (``detector_rows``, ``detector_cols``, ``sample_tilt``, ``detector_tilt``, ``energy``, ``dose``,
        ``contrast``, ``blur_sigma``, ``static_correction``, ``dynamic_correction``, ``band_gamma``),
        ``quality`` and ``split``; ``meta`` records the ranges and the view.
    """
    if view == "native" and len(set(ranges.shapes)) != 1:
        raise ValueError("view='native' needs ranges with one detector shape")
    return _randomised_dataset(
        tuple(materials),
        counts,
        ranges,
        int(size),
        int(seed),
        view,
    )


def as_canonical(dataset: PatternDataset, size: int) -> PatternDataset:
    """The data set with its patterns in the canonical view of side ``size`` (rows unchanged)."""
    view = np.round(np.clip(canonical_view(dataset.patterns, size), 0, 255)).astype(np.uint8)
    out = PatternDataset(
        view, dataset.table.copy(), {**dataset.meta, "view": "canonical", "canonical_view": int(size)}, dataset.map_shape
    )
    return out


def out_of_range_conditions(
    training: AcquisitionRanges = AcquisitionRanges(), detector: Detector = Detector()
) -> dict[str, AcquisitionRanges]:
    """Test acquisitions, each with one setting outside ``training``'s ranges and the rest at the book's
    fixed settings (``detector``'s geometry and detector model), by a name that says which setting and how far.

    Raises ``ValueError`` if a condition would fall inside the training ranges (the ranges were widened
    past the conditions; choose conditions further out).
    """
    base = AcquisitionRanges.fixed(detector)
    smallest = min(min(s) for s in training.shapes)
    side = max(16, smallest // 2)
    pc_out = training.pc_shift + 0.05
    lo_tilt, hi_tilt = training.sample_tilt
    conditions = {
        f"{side} × {side} px detector (training: {smallest} px and up)": replace(base, shapes=((side, side),)),
        f"pattern centre shifted by {pc_out:.2f} (training: ± {training.pc_shift:.2f})": replace(
            base, pc=(base.pc[0], base.pc[1] + pc_out, base.pc[2] + pc_out)
        ),
        f"sample tilt {lo_tilt - 5:.0f}° (training: {lo_tilt:.0f}–{hi_tilt:.0f}°)": replace(base, sample_tilt=(lo_tilt - 5,) * 2),
        f"detector tilt {training.detector_tilt[1] + 5:.0f}° (training: {training.detector_tilt[0]:.0f} to {training.detector_tilt[1]:.0f}°)": replace(
            base, detector_tilt=(training.detector_tilt[1] + 5,) * 2
        ),
        f"{min(training.energies) - 5:.0f} kV (training: {', '.join(f'{e:.0f}' for e in training.energies)} kV)": replace(
            base, energies=(min(training.energies) - 5,)
        ),
        f"dose {training.dose[0] / 2:.0f} counts (training: {training.dose[0]:.0f}–{training.dose[1]:.0f})": replace(
            base, dose=(training.dose[0] / 2,) * 2
        ),
        f"contrast {training.contrast[0] / 2:.2f} (training: {training.contrast[0]:.2f}–{training.contrast[1]:.2f})": replace(
            base, contrast=(training.contrast[0] / 2,) * 2
        ),
        f"blur {training.blur_sigma[1] + 1:.1f} px (training: {training.blur_sigma[0]:.1f}–{training.blur_sigma[1]:.1f})": replace(
            base, blur_sigma=(training.blur_sigma[1] + 1,) * 2
        ),
        f"band exponent {training.band_gamma[1] + 0.6:.1f} (training: {training.band_gamma[0]:.1f}–{training.band_gamma[1]:.1f})": replace(
            base, band_gamma=(training.band_gamma[1] + 0.6,) * 2
        ),
    }
    for name, c in conditions.items():
        inside = (
            (c.shapes[0] in training.shapes)
            and abs(c.pc[1] - training.pc[1]) <= training.pc_shift
            and training.sample_tilt[0] <= c.sample_tilt[0] <= training.sample_tilt[1]
            and training.detector_tilt[0] <= c.detector_tilt[0] <= training.detector_tilt[1]
            and c.energies[0] in training.energies
            and training.dose[0] <= c.dose[0] <= training.dose[1]
            and training.contrast[0] <= c.contrast[0] <= training.contrast[1]
            and training.blur_sigma[0] <= c.blur_sigma[0] <= training.blur_sigma[1]
            and training.band_gamma[0] <= c.band_gamma[0] <= training.band_gamma[1]
        )
        if inside:
            raise ValueError(f"the test condition {name!r} lies inside the training ranges; choose it further out")
    return conditions


def condition_datasets(
    materials: list[Material],
    per_material: int,
    conditions: dict[str, AcquisitionRanges],
    size: int = 96,
    seed: int = 0,
    view: str = "native",
) -> dict[str, PatternDataset]:
    """Test patterns (``per_material`` of each material) for every condition, as recorded by default
    (each condition has one detector shape); :func:`as_canonical` gives the canonical view."""
    return {
        name: randomised_dataset(materials, SplitCounts(0, 0, per_material), ranges, size, seed, view)
        for name, ranges in tqdm(conditions.items(), desc="test acquisitions", unit="condition", leave=False, disable=None)
    }
