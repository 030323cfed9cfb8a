"""A complete map: the classifier's phase with an orientation for every pattern, and its error against a truth.

A space-group classifier gives each pattern a phase and no orientation; Hough indexing gives orientations but
cannot tell phases apart that share one lattice (the Ni(Al) matrix and its Ni3Al precipitates). Here each
pattern is indexed (PyEBSDIndex's Radon/Hough indexing) for the phase the classifier chose. Phases that differ
only by the ordering of their atoms on one lattice (an L1₂ phase and its fcc parent, B2 and bcc) share one
indexing pass, since their band directions are the same: the cost is one Hough pass over the map plus the
classifier. The rotations follow kikuchipy's convention (PyEBSDIndex's quaternions as kikuchipy reads them,
:func:`kikuchipy.indexing.xmap_from_hough_indexing_data`), the one the simulated patterns are made with.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ebsdlib.cache import cached
from ebsdlib.crystal.materials import Material, disordered
from ebsdlib.simulation.dynamical_settings import DYNAMICAL_MODULES, SHIPPED_MANIFEST
from ebsdlib.simulation.patterns import DetectorGeometry

__all__ = [
    "ORIENTATION_COLUMNS",
    "indexing_groups",
    "index_chosen_phases",
    "complete_map",
    "misorientation_degrees",
    "orientation_scores",
    "grain_boundaries",
    "orientation_colours",
    "refine_orientations",
]

#: The unit quaternion columns of an orientation table (kikuchipy's convention; NaN where not indexed).
ORIENTATION_COLUMNS = ("qa", "qb", "qc", "qd")

#: Largest relative difference of two lattice parameters indexed as one lattice.
SAME_LATTICE = 0.03


def _parent_lattice(material: Material) -> int:
    """The space group of the lattice ``material``'s bands are indexed with: its own, or for an ordered
    superstructure of fcc or bcc (L1₂, B2) the parent's, whose bands run in the same directions."""
    for parent in (225, 229):
        try:
            disordered(material, parent)
        except ValueError:
            continue
        return parent
    return int(material.space_group)


def indexing_groups(phases: list[Material]) -> list[list[int]]:
    """Which of ``phases`` share one indexing pass: those indexed with the same parent lattice (an ordered
    superstructure with its fcc or bcc parent) whose lattice parameters differ by at most 3 %.

    Examples
    --------
    >>> from ebsdlib.crystal.materials import load_materials
    >>> m = load_materials()
    >>> indexing_groups([m["NiAl_gamma"], m["Ni3Al_gamma_prime"]])
    [[0, 1]]
    >>> indexing_groups([m["Ni"], m["FeAl"], m["Fe"], m["Si"]])
    [[0], [1, 2], [3]]
    """
    groups: list[list[int]] = []
    keys: list[tuple[int, float]] = []
    for i, material in enumerate(phases):
        parent, a = _parent_lattice(material), float(material.lattice_parameter)
        for group, (p, b) in zip(groups, keys, strict=True):
            if p == parent and abs(a - b) <= SAME_LATTICE * b:
                group.append(i)
                break
        else:
            groups.append([i])
            keys.append((parent, a))
    return groups


def index_chosen_phases(
    patterns: np.ndarray,
    geometry: DetectorGeometry,
    phases: list[Material],
    chosen: np.ndarray,
    *,
    n_bands: int = 12,
    max_fit: float = 2.0,
    min_bands: int = 6,
) -> pd.DataFrame:
    """Index every pattern for the phase chosen for it (by a classifier): one PyEBSDIndex pass per
    :func:`indexing_groups` group over the patterns given a phase of that group.

    Parameters
    ----------
    patterns
        The patterns (n, rows, cols), (rows, cols) the detector's shape.
    geometry
        The detector they were recorded with: PyEBSDIndex takes its pattern centre (Bruker's convention), sample
        tilt, detector tilt and shape.
    phases
        The phases the classes stand for.
    chosen
        Per pattern, the index into ``phases`` of its phase, or -1 (no phase: not indexed).
    n_bands, max_fit, min_bands
        Bands detected per pattern (default 12); the largest mean angular deviation in degrees (default 2) and
        the fewest matched bands (default 6) of an accepted solution.

    Returns
    -------
    pandas.DataFrame
        One row per pattern: ``qa, qb, qc, qd`` (the orientation, NaN where not indexed), ``fit`` (degrees),
        ``nmatch``, ``pq`` (PyEBSDIndex's pattern quality), ``indexed`` (a phase was chosen and the solution
        accepted).
    """
    from ebsdlib.mapping.hough import pyebsdindex_modules

    patterns = np.asarray(patterns, dtype=np.float32)
    chosen = np.asarray(chosen, dtype=np.int64).ravel()
    n = len(patterns)
    if chosen.shape != (n,):
        raise ValueError(f"index_chosen_phases: {len(chosen)} chosen phases for {n} patterns")
    if chosen.size and (chosen.max() >= len(phases) or chosen.min() < -1):
        raise ValueError(f"index_chosen_phases: a chosen phase outside 0 … {len(phases) - 1} (or -1, none)")
    out = pd.DataFrame(
        {
            **{c: np.full(n, np.nan) for c in ORIENTATION_COLUMNS},
            "fit": np.full(n, np.nan),
            "nmatch": np.zeros(n, dtype=np.int64),
            "pq": np.full(n, np.nan),
            "indexed": np.zeros(n, dtype=bool),
        }
    )
    ebsd_index, tripletvote = pyebsdindex_modules()
    for group in indexing_groups(list(phases)):
        rows = np.flatnonzero(np.isin(chosen, group))
        if not rows.size:
            continue
        first = phases[group[0]]
        library = [
            tripletvote.addphase(
                phasename=first.name,
                spacegroup=_parent_lattice(first),
                latticeparameter=[first.lattice_parameter] * 3 + [90] * 3,
                nband_earlyexit=100,
            )
        ]
        indexer = ebsd_index.EBSDIndexer(
            phaselist=library,
            vendor="KIKUCHIPY",  # the pattern centre as kikuchipy holds it (Bruker's), quaternions in its frame
            PC=geometry.pc,
            sampleTilt=geometry.sample_tilt,
            camElev=geometry.tilt,
            patDim=geometry.shape,
            nBands=int(n_bands),
        )
        data, *_ = indexer.index_pats(patsin=patterns[rows], verbose=0)
        best = data[-1]
        accepted = (best["phase"] >= 0) & (best["nmatch"] >= min_bands) & (best["fit"] <= max_fit)
        quaternions = np.where(accepted[:, None], np.asarray(best["quat"], dtype=np.float64), np.nan)
        for k, column in enumerate(ORIENTATION_COLUMNS):
            out.loc[rows, column] = quaternions[:, k]
        out.loc[rows, "fit"] = np.asarray(best["fit"], dtype=np.float64)
        out.loc[rows, "nmatch"] = np.asarray(best["nmatch"], dtype=np.int64)
        out.loc[rows, "pq"] = np.asarray(best["pq"], dtype=np.float64)
        out.loc[rows, "indexed"] = accepted
    return out


def complete_map(patterns: np.ndarray, geometry: DetectorGeometry, phases: list[Material], labels: np.ndarray) -> pd.DataFrame:
    """A complete map of ``patterns`` from a classifier's ``labels`` (space group per pattern, -1: none): each
    pattern indexed for the phase of its label (:func:`index_chosen_phases`), cached by the patterns, geometry,
    phases and labels.

    Returns
    -------
    pandas.DataFrame
        :func:`index_chosen_phases`' table with ``space_group``: the label where the pattern was indexed, else -1
        ("not indexed" where either step failed).
    """
    from importlib.metadata import version

    return _complete_map(
        np.asarray(patterns), geometry, tuple(phases), np.asarray(labels, dtype=np.int64).ravel(), version("pyebsdindex")
    )


@cached(depends_on=["crystal.materials", "simulation.patterns"])
def _complete_map(patterns, geometry, phases, labels, _pyebsdindex_version) -> pd.DataFrame:
    phase_of = {int(m.space_group): i for i, m in enumerate(phases)}
    chosen = np.array([phase_of.get(int(label), -1) for label in labels], dtype=np.int64)
    table = index_chosen_phases(patterns, geometry, list(phases), chosen)
    table.insert(0, "space_group", np.where(table["indexed"], labels, -1))
    return table


def misorientation_degrees(first: np.ndarray, second: np.ndarray, symmetry=None) -> np.ndarray:
    """The misorientation angle in degrees between two sets of orientations (unit quaternions (n, 4), kikuchipy's
    convention) with the crystal ``symmetry`` taken into account (an orix point group; default ``None``: m-3m,
    every phase of the dual-phase sample); NaN where either is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> turn = np.array([[np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)]])  # 90° about [001]: a cubic symmetry
    >>> float(misorientation_degrees(np.array([[1.0, 0, 0, 0]]), turn)[0])
    0.0
    """
    from orix.quaternion import Orientation
    from orix.quaternion.symmetry import Oh

    first, second = np.atleast_2d(np.asarray(first, dtype=np.float64)), np.atleast_2d(np.asarray(second, dtype=np.float64))
    if first.shape != second.shape or first.shape[-1] != 4:
        raise ValueError(
            f"misorientation_degrees: two (n, 4) quaternion arrays of one shape, not {first.shape} and {second.shape}"
        )
    angles = np.full(len(first), np.nan)
    ok = np.isfinite(first).all(axis=1) & np.isfinite(second).all(axis=1)
    if ok.any():
        group = Oh if symmetry is None else symmetry
        a = Orientation(first[ok], symmetry=group)
        b = Orientation(second[ok], symmetry=group)
        angles[ok] = np.round(np.asarray(a.angle_with(b, degrees=True)).ravel(), 6)
    return angles


def orientation_scores(
    true_phase: np.ndarray, true_quaternions: np.ndarray, orientations: pd.DataFrame, names: dict[int, str], within: float = 2.0
) -> pd.DataFrame:
    """Orientation error of a map against its truth, per true phase: ``patterns``, ``indexed`` (share with an
    orientation), ``median misorientation (°)`` over the indexed ones and the share of all its pixels indexed
    within ``within`` degrees (default 2) of the truth.

    Parameters
    ----------
    true_phase
        The true phase (space group) of every pixel.
    true_quaternions
        The true orientation of every pixel (n, 4), kikuchipy's convention.
    orientations
        The map's orientations (:func:`index_chosen_phases`' table, columns ``qa … qd``).
    names
        How the rows are named, by true phase (e.g. ``{225: "Ni(Al) matrix", 221: "Ni3Al precipitates"}``).
    """
    true_phase = np.asarray(true_phase).ravel()
    error = misorientation_degrees(np.asarray(true_quaternions), orientations[list(ORIENTATION_COLUMNS)].to_numpy())
    rows = []
    for phase, name in names.items():
        mine = true_phase == phase
        found = mine & np.isfinite(error)
        rows.append(
            {
                "phase": name,
                "patterns": int(mine.sum()),
                "indexed": float(found.sum() / mine.sum()) if mine.any() else np.nan,
                "median misorientation (°)": float(np.median(error[found])) if found.any() else np.nan,
                f"within {within:g}°": float((found & (error <= within)).sum() / mine.sum()) if mine.any() else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("phase")


def grain_boundaries(quaternions: np.ndarray, phase: np.ndarray, threshold: float = 5.0, symmetry=None) -> np.ndarray:
    """Pixels on a boundary of a map: where the right or lower neighbour has another phase or an orientation more
    than ``threshold`` degrees away (cubic symmetry unless ``symmetry`` is given); not indexed pixels (NaN
    orientation) only where their phase changes.

    Parameters
    ----------
    quaternions
        Orientations (rows, cols, 4), kikuchipy's convention, NaN where not indexed.
    phase
        Phase (space group) per pixel (rows, cols).

    Returns
    -------
    numpy.ndarray
        bool (rows, cols).

    Examples
    --------
    >>> import numpy as np
    >>> q = np.zeros((2, 3, 4)); q[..., 0] = 1
    >>> q[:, 2] = [np.cos(np.radians(5)), 0, 0, np.sin(np.radians(5))]  # the last column turned 10° about [001]
    >>> grain_boundaries(q, np.full((2, 3), 225)).astype(int)
    array([[0, 1, 0],
           [0, 1, 0]])
    """
    quaternions = np.asarray(quaternions, dtype=np.float64)
    phase = np.asarray(phase)
    rows, cols = phase.shape
    edge = np.zeros((rows, cols), dtype=bool)
    for axis in (0, 1):
        a = quaternions[:-1] if axis == 0 else quaternions[:, :-1]
        b = quaternions[1:] if axis == 0 else quaternions[:, 1:]
        pa = phase[:-1] if axis == 0 else phase[:, :-1]
        pb = phase[1:] if axis == 0 else phase[:, 1:]
        angle = misorientation_degrees(a.reshape(-1, 4), b.reshape(-1, 4), symmetry).reshape(pa.shape)
        differs = (pa != pb) | (np.nan_to_num(angle, nan=0.0) > threshold)
        if axis == 0:
            edge[:-1] |= differs
        else:
            edge[:, :-1] |= differs
    return edge


def orientation_colours(quaternions: np.ndarray, shape, direction: str = "z", symmetry=None) -> np.ndarray:
    """Inverse pole figure colours (orix's TSL key, cubic m-3m unless ``symmetry`` is given) along the sample
    direction ``"x"``, ``"y"`` or ``"z"`` (default), (rows, cols, 3); white where not indexed (NaN)."""
    from orix.plot import IPFColorKeyTSL
    from orix.quaternion import Orientation
    from orix.quaternion.symmetry import Oh
    from orix.vector import Vector3d

    quaternions = np.asarray(quaternions, dtype=np.float64).reshape(-1, 4)
    group = Oh if symmetry is None else symmetry
    vector = {"x": Vector3d.xvector(), "y": Vector3d.yvector(), "z": Vector3d.zvector()}[direction]
    colours = np.ones((len(quaternions), 3))
    ok = np.isfinite(quaternions).all(axis=1)
    if ok.any():
        colours[ok] = IPFColorKeyTSL(group, direction=vector).orientation2color(Orientation(quaternions[ok], symmetry=group))
    return colours.reshape(*shape, 3)


def refine_orientations(
    patterns: np.ndarray,
    geometry: DetectorGeometry,
    phases: list[Material],
    table: pd.DataFrame,
    *,
    trust_region: float = 2.0,
    cache: bool = True,
) -> pd.DataFrame:
    """Refine the indexed orientations of a map against each phase's master pattern (kikuchipy's
    ``EBSD.refine_orientation``: Nelder–Mead on the normalised cross-correlation with patterns projected from
    the master pattern, the pattern centre fixed), phase by phase.

    The patterns' smooth background is removed first (kikuchipy's dynamic background correction); the master
    patterns are those of the geometry's simulator (:func:`ebsdlib.simulation.patterns.detector_master_pattern`).

    Parameters
    ----------
    patterns
        The map's patterns (n, rows, cols).
    geometry
        The detector they were recorded with.
    phases
        The phases, as the table's ``space_group`` names them.
    table
        A map with ``space_group`` (-1: not indexed), ``indexed`` and ``qa … qd``, as :func:`complete_map` gives it.
    trust_region
        How far the search may go from the indexed orientation, in degrees about each Euler angle (default 2).

    With ``cache`` (default) the result is cached by the patterns, geometry, phases, the table's phases and
    orientations and the trust region; ``ebsdlib classify --refine`` refines chunk by chunk without caching.

    Returns
    -------
    pandas.DataFrame
        ``table`` with the refined orientations in ``qa … qd`` and the cross-correlation of each refined pattern
        in ``ncc`` (NaN where not indexed).
    """
    from importlib.metadata import version

    columns = list(ORIENTATION_COLUMNS)
    refined, ncc = (_refined if cache else _refined.__wrapped__)(
        np.asarray(patterns),
        geometry,
        tuple(phases),
        table["space_group"].to_numpy(np.int64),
        table["indexed"].to_numpy(bool),
        table[columns].to_numpy(np.float64),
        float(trust_region),
        version("kikuchipy"),
    )
    out = table.copy()
    out[columns] = refined
    out["ncc"] = ncc
    return out


@cached(
    depends_on=[
        "crystal.materials",
        "simulation.patterns",
        *DYNAMICAL_MODULES,
    ],
    data_files=[SHIPPED_MANIFEST],
)
def _refined(patterns, geometry, phases, space_group, indexed, quaternions, trust_region, _kikuchipy_version):
    import contextlib
    import io

    import kikuchipy as kp
    from orix.crystal_map import CrystalMap
    from orix.quaternion import Rotation

    from ebsdlib.simulation.patterns import detector_master_pattern

    out = pd.DataFrame(quaternions, columns=list(ORIENTATION_COLUMNS))
    out["space_group"], out["indexed"] = space_group, indexed
    out["ncc"] = np.nan
    by_group = {int(m.space_group): m for m in phases}
    columns = list(ORIENTATION_COLUMNS)
    for group, material in by_group.items():
        rows = np.flatnonzero((space_group == group) & indexed)
        if not rows.size:
            continue
        signal = kp.signals.EBSD(np.asarray(patterns, dtype=np.float32)[rows])
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            signal.remove_dynamic_background(show_progressbar=False)
            mp = detector_master_pattern(material, geometry)
            xmap = CrystalMap(rotations=Rotation(out.loc[rows, columns].to_numpy()), phase_list=_phase_list(mp.phase))
            refined = signal.refine_orientation(
                xmap,
                geometry.detector(),
                mp,
                energy=geometry.energy,
                trust_region=[trust_region] * 3,
                method="minimize",
                method_kwargs={"method": "Nelder-Mead"},
            )
        out.loc[rows, columns] = refined.rotations.data
        out.loc[rows, "ncc"] = np.asarray(refined.prop["scores"], dtype=np.float64)
    return out[columns].to_numpy(), out["ncc"].to_numpy()


def _phase_list(phase):
    from orix.crystal_map import PhaseList

    return PhaseList(phase)
