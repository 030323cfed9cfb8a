"""The simulated dual-phase sample: a Voronoi microstructure of Ni(Al) grains with Ni3Al precipitates, its
patterns with the ground truth of every pixel, and the BSE and EDS images a microscopist would record beside them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import ndimage

from ebsdlib.cache import cached
from ebsdlib.crystal.materials import Material, dual_phase_materials
from ebsdlib.datasets.container import PatternDataset
from ebsdlib.simulation.dynamical_settings import DYNAMICAL_MODULES, SHIPPED_MANIFEST
from ebsdlib.simulation.patterns import (
    Detector,
    apply_detector_model,
    detector_master_pattern,
    material_seed,
    project_patterns,
    random_rotations,
)

__all__ = [
    "Microstructure",
    "make_microstructure",
    "simulate_dual_phase_map",
    "simulate_phase_boundary_patterns",
    "bse_image",
    "eds_al_map",
]


@dataclass
class Microstructure:
    """Ground truth of a map: grain id, space group and orientation (unit quaternion) of every pixel."""

    grain: np.ndarray  # (rows, cols) int
    space_group: np.ndarray  # (rows, cols) int: 225 matrix, 221 precipitate
    quaternions: np.ndarray  # (rows * cols, 4)
    host_quaternions: np.ndarray  # (n_grains, 4) orientation of each matrix grain
    boundary: np.ndarray = field(default=None)  # (rows, cols) bool: a 4-neighbour differs in grain or phase

    @property
    def shape(self) -> tuple[int, int]:
        """Map (rows, cols) in pixels."""
        return self.grain.shape

    def precipitate_fraction(self) -> float:
        """Share of the map's pixels that are Ni3Al precipitate (space group 221)."""
        return float((self.space_group == 221).mean())


def make_microstructure(
    shape=(69, 100),
    n_grains: int = 12,
    precipitate_fraction: float = 0.2,
    precipitate_radius=(1.5, 4.0),
    seed: int = 0,
) -> Microstructure:
    """Voronoi grains of the matrix with round precipitates placed at random until their area share
    reaches ``precipitate_fraction``; precipitates take the orientation of their host grain
    (cube-on-cube)."""
    rng = np.random.default_rng(seed)
    rows, cols = shape
    y, x = np.mgrid[0:rows, 0:cols]
    seeds = rng.uniform([0, 0], [rows, cols], size=(n_grains, 2))
    distance = (y[..., None] - seeds[:, 0]) ** 2 + (x[..., None] - seeds[:, 1]) ** 2
    grain = distance.argmin(axis=-1)
    precipitate = np.zeros(shape, dtype=bool)
    for _ in range(100000):
        if precipitate.mean() >= precipitate_fraction:
            break
        cy, cx = rng.uniform([0, 0], [rows, cols])
        r = rng.uniform(*precipitate_radius)
        disc = (y - cy) ** 2 + (x - cx) ** 2 <= r**2
        host = grain[int(min(cy, rows - 1)), int(min(cx, cols - 1))]
        precipitate |= disc & (grain == host)  # precipitates stay inside their host grain
    if precipitate.mean() < precipitate_fraction - 0.01:
        import warnings

        warnings.warn(
            f"the precipitates cover {precipitate.mean():.3f} of the map, less than the requested "
            f"{precipitate_fraction}: use larger precipitates or a larger map",
            stacklevel=2,
        )
    space_group = np.where(precipitate, 221, 225)
    host = random_rotations(n_grains, rng).data
    quaternions = host[grain.ravel()]
    phase_or_grain = grain * 2 + precipitate
    boundary = np.zeros(shape, dtype=bool)
    boundary[:-1, :] |= phase_or_grain[:-1, :] != phase_or_grain[1:, :]
    boundary[1:, :] |= phase_or_grain[1:, :] != phase_or_grain[:-1, :]
    boundary[:, :-1] |= phase_or_grain[:, :-1] != phase_or_grain[:, 1:]
    boundary[:, 1:] |= phase_or_grain[:, 1:] != phase_or_grain[:, :-1]
    return Microstructure(grain, space_group, quaternions, host, boundary)


def _neighbour_index(micro: Microstructure) -> np.ndarray:
    """For every pixel, the flat index of a 4-neighbour in another grain or phase (itself if none)."""
    rows, cols = micro.shape
    key = micro.grain * 2 + (micro.space_group == 221)
    index = np.arange(rows * cols).reshape(rows, cols)
    out = index.copy()
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        shifted_key = np.roll(key, (dy, dx), axis=(0, 1))
        shifted_index = np.roll(index, (dy, dx), axis=(0, 1))
        valid = np.ones_like(key, dtype=bool)
        if dy == 1:
            valid[0, :] = False
        if dy == -1:
            valid[-1, :] = False
        if dx == 1:
            valid[:, 0] = False
        if dx == -1:
            valid[:, -1] = False
        take = valid & (shifted_key != key) & (out == index)
        out[take] = shifted_index[take]
    return out.ravel()


@cached(
    depends_on=[
        "crystal.materials",
        "datasets.container",
        "simulation.patterns",
        *DYNAMICAL_MODULES,
    ],
    data_files=[SHIPPED_MANIFEST],
)
def _simulate_map(shape, n_grains, precipitate_fraction, detector: Detector, seed) -> tuple[Microstructure, PatternDataset]:
    geometry, detector_model = detector.geometry, detector.detector_model
    matrix, precipitate = dual_phase_materials()
    micro = make_microstructure(tuple(shape), n_grains, precipitate_fraction, seed=seed)
    n = micro.grain.size
    rng = np.random.default_rng(material_seed(seed, "dual-phase map"))
    pcs = np.asarray(geometry.pc) + rng.normal(0, detector_model.pc_jitter, size=(n, 3))
    from orix.quaternion import Rotation

    clean = np.empty((n, *geometry.shape), dtype=np.float32)
    phases = micro.space_group.ravel()
    for material in (matrix, precipitate):
        where = np.flatnonzero(phases == material.space_group)
        mp = detector_master_pattern(material, geometry)
        clean[where] = project_patterns(mp, Rotation(micro.quaternions[where]), geometry, pcs[where])
    quality = np.full(n, "good", dtype=object)
    quality[micro.boundary.ravel()] = "overlap"
    interior = np.flatnonzero(~micro.boundary.ravel())
    low = interior[rng.random(len(interior)) < detector_model.degraded_fraction / 2]
    quality[low] = "low_contrast"
    second = clean[_neighbour_index(micro)]
    patterns = apply_detector_model(clean, geometry, detector_model, rng, quality=quality.astype(str), second=second)
    rows, cols = np.unravel_index(np.arange(n), micro.shape)
    material_name = np.where(phases == 221, precipitate.name, matrix.name)
    table = pd.DataFrame(
        {
            "space_group": phases,
            "material": material_name,
            "row": rows,
            "col": cols,
            "grain": micro.grain.ravel(),
            "quality": quality.astype(str),
        }
    )
    dataset = PatternDataset(patterns, table, {"source": "simulated dual-phase map", "seed": seed}, map_shape=micro.shape)
    return micro, dataset


def simulate_dual_phase_map(
    shape=(69, 100),
    n_grains: int = 12,
    precipitate_fraction: float = 0.2,
    detector: Detector = Detector(),
    seed: int = 0,
) -> tuple[Microstructure, PatternDataset]:
    """The simulated Ni90Al10 map (default 69 × 100 = 6900 pixels, as the paper's) and its patterns,
    labelled with the true space group of every pixel; cached.

    Parameters
    ----------
    shape
        Map (rows, cols) in pixels, one pattern each (default (69, 100)).
    n_grains
        Voronoi grains of the Ni(Al) matrix, each at a random orientation (default 12).
    precipitate_fraction
        Area share of the map covered by round Ni3Al precipitates (radius 1.5 to 4 pixels), each inside its
        host grain and in its orientation (default 0.2); a warning says when the map cannot hold that share.
    detector
        The simulated detector (:class:`~ebsdlib.simulation.patterns.Detector`): its geometry (shape, pattern
        centre, tilts, beam energy, master-pattern size) and its detector model (dose, contrast, background,
        blur, pattern-centre jitter, background correction); default ``Detector()``, the book's. Here the degraded patterns follow the map: every pixel on a grain or
        phase boundary records an overlap with a neighbour's pattern, and half of ``degraded_fraction`` of
        the other pixels have low contrast (``degraded_kinds`` is not used).
    seed
        Seed of the microstructure (grains, orientations, precipitates) and of the patterns' pattern centres,
        quality flags and noise (default 0).

    Returns
    -------
    micro
        The ground truth, a :class:`Microstructure`: grain, space group (225 matrix, 221 precipitate) and
        orientation of every pixel, and the boundaries.
    dataset
        A :class:`~ebsdlib.datasets.container.PatternDataset` of uint8 patterns in map order (row by row) with
        the columns ``space_group``, ``material``, ``row``, ``col``, ``grain`` and ``quality``, and
        ``map_shape`` set to ``shape``.
    """
    return _simulate_map(tuple(int(s) for s in shape), int(n_grains), float(precipitate_fraction), detector, int(seed))


@cached(
    depends_on=[
        "crystal.materials",
        "simulation.patterns",
        *DYNAMICAL_MODULES,
    ],
    data_files=[SHIPPED_MANIFEST],
)
def _phase_boundary_patterns(phases: tuple[Material, ...], n: int, detector: Detector, seed: int) -> PatternDataset:
    geometry, detector_model = detector.geometry, detector.detector_model
    masters = {m.name: detector_master_pattern(m, geometry) for m in phases}
    patterns, tables = [], []
    for own in phases:
        rng = np.random.default_rng(material_seed(seed, f"phase boundary {own.name}"))
        others = [m for m in phases if m.name != own.name]
        partner = [others[i] for i in rng.integers(0, len(others), size=n)]
        rotations = random_rotations(n, rng)
        pcs = np.asarray(geometry.pc, dtype=float) + rng.normal(0, detector_model.pc_jitter, size=(n, 3))
        clean = project_patterns(masters[own.name], rotations, geometry, pcs)
        second = np.empty_like(clean)
        for other in others:
            where = np.flatnonzero([p.name == other.name for p in partner])
            if len(where):
                second[where] = project_patterns(masters[other.name], rotations[where], geometry, pcs[where])
        quality = np.full(n, "overlap")
        patterns.append(apply_detector_model(clean, geometry, detector_model, rng, quality=quality, second=second))
        q = rotations.data
        tables.append(
            pd.DataFrame(
                {
                    "material": own.name,
                    "space_group": own.space_group,
                    "second_material": [p.name for p in partner],
                    "qa": q[:, 0],
                    "qb": q[:, 1],
                    "qc": q[:, 2],
                    "qd": q[:, 3],
                    "quality": "phase overlap",
                }
            )
        )
    return PatternDataset(
        np.concatenate(patterns), pd.concat(tables, ignore_index=True), {"source": "simulated phase boundaries"}
    )


def simulate_phase_boundary_patterns(
    phases: list[Material], n: int, detector: Detector = Detector(), seed: int = 0
) -> PatternDataset:
    """Patterns of phase boundaries between coherent phases, as the dual-phase map records them; cached.

    A pattern recorded where a precipitate meets its host overlaps the two phases' patterns at one orientation (the
    precipitates are cube-on-cube with their host, as Ni3Al in Ni(Al)). For each phase, ``n`` patterns: the phase
    at a random orientation, overlapped with another of ``phases`` (drawn at random) at the same orientation and
    pattern centre, with the second's weight drawn from the detector model's ``overlap_range`` (below one half, so
    the labelled phase is the stronger), then recorded through the detector model.

    Parameters
    ----------
    phases
        Two or more phases (e.g. :func:`~ebsdlib.crystal.materials.dual_phase_materials`).
    n
        Patterns per phase.
    detector
        The simulated detector (geometry and detector model); default ``Detector()``, the book's.
    seed
        Seed of the orientations, pattern centres, partners, weights and noise (default 0).

    Returns
    -------
    PatternDataset
        uint8 patterns phase by phase; the table gives each pattern's ``material`` and ``space_group`` (the stronger
        phase), the ``second_material``, the orientation (``qa`` … ``qd``) and ``quality`` ``"phase overlap"``.

    Examples
    --------
    >>> from ebsdlib.crystal.materials import dual_phase_materials
    >>> from ebsdlib.simulation.patterns import DetectorGeometry
    >>> data = simulate_phase_boundary_patterns(
    ...     dual_phase_materials(), 2, Detector(DetectorGeometry(shape=(20, 24), master_pattern_half_size=30))
    ... )
    >>> data.table[["space_group", "second_material"]].values.tolist()
    [[225, 'Ni3Al_gamma_prime'], [225, 'Ni3Al_gamma_prime'], [221, 'NiAl_gamma'], [221, 'NiAl_gamma']]
    """
    if len({m.name for m in phases}) < 2:
        raise ValueError(f"phase boundaries need two phases or more, got {[m.name for m in phases]}")
    if int(n) < 1:
        raise ValueError(f"n must be 1 or more patterns per phase, got {n!r}")
    return _phase_boundary_patterns(tuple(phases), int(n), detector, int(seed))


def bse_image(micro: Microstructure, seed: int = 0, noise: float = 0.03) -> np.ndarray:
    """A backscattered-electron-like image: orientation (channelling) contrast per grain, the
    precipitates standing slightly proud of the surface (shaded edges, as in the paper's image), noise."""
    rng = np.random.default_rng(seed)
    channelling = rng.uniform(0.75, 1.0, size=micro.grain.max() + 1)[micro.grain]
    height = ndimage.gaussian_filter((micro.space_group == 221).astype(float), 1.0)
    shading = np.gradient(height, axis=1) + 0.5 * np.gradient(height, axis=0)
    image = 0.55 * channelling + 0.6 * shading + 0.05 * height
    return np.clip(image + rng.normal(0, noise, image.shape), 0, None)


def eds_al_map(micro: Microstructure, counts: float = 60.0, seed: int = 0) -> np.ndarray:
    """Al Kα counts per pixel: Poisson counts of the local Al content (matrix 19.7 at.%, precipitates
    25.7 at.%, from ``ebsdlib/data/materials.yml``) blurred by the X-ray interaction volume."""
    matrix, precipitate = dual_phase_materials()

    def al_share(m: Material) -> float:
        atoms = m.phase().structure
        return sum(a.occupancy for a in atoms if a.element == "Al") / sum(a.occupancy for a in atoms)

    share = np.where(micro.space_group == 221, al_share(precipitate), al_share(matrix))
    expected = ndimage.gaussian_filter(share * counts, 1.0)
    return np.random.default_rng(seed).poisson(expected).astype(float)
