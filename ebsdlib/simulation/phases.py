"""Generated cubic phases: many crystal structures for each of the six target space groups.

The paper trains on 18 materials, three per space group on average; a classifier trained on so few can
learn the materials rather than their symmetry. This module makes more: a phase is a decoration of some
Wyckoff positions of the space group with elements, at the lattice parameter where the closest atoms
touch (sums of atomic radii). Every candidate is checked before it is used, and rejected with a reason
otherwise:

``sites overlap``
    Two decorated positions put atoms at the same place (a free coordinate at a special value).
``lattice parameter out of range``
    The closest contact forces a cubic cell outside ``A_RANGE`` Å.
``isolated atom``
    An atom has no neighbour within ``MAX_GAP`` times the bonding distance (a rattler in an empty cage).
``low packing``
    The atoms fill less than ``MIN_PACKING`` of the cell (isolated clusters in an empty lattice; the
    diamond structure, the emptiest of the paper's materials, fills 0.34).
``symmetry raised to N``
    spglib, given the expanded cell, finds another space group than the one intended: a decoration can
    add symmetry (B2 with the same element on both sites is bcc, 229).
``weak band contrast``
    The kinematical master pattern has less than half the band contrast of the weakest of the paper's
    materials (``MIN_CONTRAST``; optional, it costs a master pattern).

Positions are those of the International Tables in the settings ``diffpy.structure`` uses (227
Fd-3m: origin choice 1), as in ``ebsdlib/data/materials.yml``.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from functools import reduce

import numpy as np

from ebsdlib.crystal.materials import SPACE_GROUPS, Material, Site, atomic_number, space_group_symbol
from ebsdlib.simulation.patterns import master_pattern

__all__ = [
    "WYCKOFF",
    "RADII",
    "Rejection",
    "PhaseCandidate",
    "decorate",
    "check_phase",
    "spglib_space_group",
    "band_contrast",
    "generate_phases",
]

#: Wyckoff positions used for decoration: space group -> letter -> (multiplicity, representative
#: coordinates as a function of one free parameter ``x``, whether ``x`` is free).
WYCKOFF: dict[int, dict[str, tuple[int, object, bool]]] = {
    221: {
        "1a": (1, lambda x: (0, 0, 0), False),
        "1b": (1, lambda x: (0.5, 0.5, 0.5), False),
        "3c": (3, lambda x: (0, 0.5, 0.5), False),
        "3d": (3, lambda x: (0.5, 0, 0), False),
        "6e": (6, lambda x: (x, 0, 0), True),
        "6f": (6, lambda x: (x, 0.5, 0.5), True),
        "8g": (8, lambda x: (x, x, x), True),
    },
    223: {
        "2a": (2, lambda x: (0, 0, 0), False),
        "6b": (6, lambda x: (0, 0.5, 0.5), False),
        "6c": (6, lambda x: (0.25, 0, 0.5), False),
        "6d": (6, lambda x: (0.25, 0.5, 0), False),
        "8e": (8, lambda x: (0.25, 0.25, 0.25), False),
        "12f": (12, lambda x: (x, 0, 0), True),
        "16i": (16, lambda x: (x, x, x), True),
    },
    225: {
        "4a": (4, lambda x: (0, 0, 0), False),
        "4b": (4, lambda x: (0.5, 0.5, 0.5), False),
        "8c": (8, lambda x: (0.25, 0.25, 0.25), False),
        "24d": (24, lambda x: (0, 0.25, 0.25), False),
        "24e": (24, lambda x: (x, 0, 0), True),
        "32f": (32, lambda x: (x, x, x), True),
    },
    227: {
        "8a": (8, lambda x: (0, 0, 0), False),
        "8b": (8, lambda x: (0.5, 0.5, 0.5), False),
        "16c": (16, lambda x: (0.125, 0.125, 0.125), False),
        "16d": (16, lambda x: (0.625, 0.625, 0.625), False),
        "32e": (32, lambda x: (x, x, x), True),
        "48f": (48, lambda x: (x, 0, 0), True),
    },
    229: {
        "2a": (2, lambda x: (0, 0, 0), False),
        "6b": (6, lambda x: (0, 0.5, 0.5), False),
        "8c": (8, lambda x: (0.25, 0.25, 0.25), False),
        "12d": (12, lambda x: (0.25, 0, 0.5), False),
        "12e": (12, lambda x: (x, 0, 0), True),
        "16f": (16, lambda x: (x, x, x), True),
    },
    230: {
        "16a": (16, lambda x: (0, 0, 0), False),
        "16b": (16, lambda x: (0.125, 0.125, 0.125), False),
        "24c": (24, lambda x: (0.125, 0, 0.25), False),
        "24d": (24, lambda x: (0.375, 0, 0.25), False),
        "32e": (32, lambda x: (x, x, x), True),
        "48f": (48, lambda x: (x, 0, 0.25), True),
        "48g": (48, lambda x: (0.125, x, 0.25 - x), True),
    },
}

#: Atomic radii in Å: metallic radii for 12-fold coordination for the metals (Teatum, Gschneidner &
#: Waber, LA-4003, 1968, as tabulated in Pearson's Handbook), covalent radii for B, C, N, O, S (Cordero
#: et al., Dalton Trans. 2008, 2832) and half the bond length of diamond-structure Si and Ge. Closest
#: contacts are set to the sum of two radii.
RADII: dict[str, float] = {
    "B": 0.84,
    "C": 0.76,
    "N": 0.71,
    "O": 0.66,
    "Si": 1.17,
    "S": 1.05,
    "Mg": 1.60,
    "Al": 1.43,
    "Sc": 1.64,
    "Ti": 1.47,
    "V": 1.35,
    "Cr": 1.29,
    "Mn": 1.27,
    "Fe": 1.26,
    "Co": 1.25,
    "Ni": 1.25,
    "Cu": 1.28,
    "Zn": 1.37,
    "Ga": 1.41,
    "Ge": 1.22,
    "Y": 1.80,
    "Zr": 1.60,
    "Nb": 1.47,
    "Mo": 1.40,
    "Ru": 1.34,
    "Rh": 1.34,
    "Pd": 1.37,
    "Ag": 1.44,
    "Sn": 1.62,
    "Hf": 1.59,
    "Ta": 1.47,
    "W": 1.41,
    "Re": 1.37,
    "Ir": 1.36,
    "Pt": 1.39,
    "Au": 1.44,
    "Pb": 1.75,
}

#: Cubic lattice parameters accepted, in Å (the paper's materials span 2.87 Å (Fe) to 11.4 Å (Al4Ni3)).
A_RANGE = (2.5, 14.0)
#: An atom whose nearest neighbour is farther than this many times the sum of their radii is isolated.
MAX_GAP = 1.5
#: Smallest accepted packing fraction (volume of the atoms' spheres over the cell's volume).
MIN_PACKING = 0.3
#: Smallest accepted band contrast of the master pattern (:func:`band_contrast`, standard deviation over
#: mean): half that of the weakest of the paper's 18 materials (Al4Ni3 and Al4CoNi2 0.16, Mo3Si 0.23, the
#: others 0.25 to 0.56, with every reflector above ``EXTINCT_F`` drawn). Generated phases of 223 and 230
#: reach down to 0.069 and 0.094 (seed 0, ten per group; the other four groups to 0.107).
MIN_CONTRAST = 0.08
#: Free coordinates are drawn from this interval; the symmetry check catches special values.
FREE_RANGE = (0.03, 0.47)


@dataclass(frozen=True)
class Rejection:
    """Why a candidate phase was rejected: a short ``reason`` (the key of the rejection counts) and
    a ``detail`` for the reader."""

    reason: str
    detail: str = ""


@dataclass
class PhaseCandidate:
    """A decoration of Wyckoff positions before and after the checks."""

    space_group: int
    decoration: tuple[tuple[str, str, float], ...]  # (Wyckoff letter, element, free coordinate)
    lattice_parameter: float = math.nan
    positions: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # fractional, expanded cell
    elements: tuple[str, ...] = ()
    found_space_group: int | None = None
    rejection: Rejection | None = None

    @property
    def formula(self) -> str:
        """The sum formula of the cell's atoms, reduced (``Ni3Al``)."""
        counts = Counter(self.elements)
        divisor = reduce(math.gcd, counts.values()) if counts else 1
        return "".join(f"{el}{n // divisor if n // divisor > 1 else ''}" for el, n in sorted(counts.items()))

    def material(self, name: str) -> Material:
        """The candidate as a :class:`~ebsdlib.crystal.materials.Material` (asymmetric unit and lattice parameter)."""
        sites = tuple(
            Site(element, tuple(float(c) for c in WYCKOFF[self.space_group][letter][1](x)), 1.0, letter)
            for letter, element, x in self.decoration
        )
        structure = ", ".join(f"{element} {letter}" for letter, element, _ in self.decoration)
        return Material(
            name=name,
            space_group=self.space_group,
            lattice_parameter=round(float(self.lattice_parameter), 4),
            sites=sites,
            structure_type=f"generated ({structure})",
            role="generated",
            formula=self.formula,
            source="generated by ebsdlib.simulation.phases",
        )


def _check_space_group(space_group: int) -> None:
    if space_group not in WYCKOFF:
        raise ValueError(
            f"space group {space_group!r} has no Wyckoff table here; phases are generated for "
            f"{', '.join(map(str, SPACE_GROUPS))} only."
        )


def _expand(space_group: int, xyz, tol: float = 1e-4) -> np.ndarray:
    """The orbit of ``xyz`` under the space group's operations, in [0, 1), without duplicates."""
    from diffpy.structure.spacegroups import get_space_group

    points = []
    for op in get_space_group(space_group).iter_symops():
        p = np.mod(op(np.asarray(xyz, dtype=float)), 1.0)
        p[np.isclose(p, 1.0, atol=tol)] = 0.0
        if not any(np.all(np.abs(_wrap(p - q)) < tol) for q in points):
            points.append(p)
    return np.array(points)


def _wrap(d: np.ndarray) -> np.ndarray:
    return d - np.round(d)


def _distances(positions: np.ndarray) -> np.ndarray:
    """Pairwise minimum-image distances in a cubic cell of side 1 (diagonal: inf)."""
    d = _wrap(positions[:, None, :] - positions[None, :, :])
    dist = np.sqrt((d**2).sum(-1))
    np.fill_diagonal(dist, np.inf)
    return dist


def spglib_space_group(positions: np.ndarray, elements, lattice_parameter: float = 1.0, symprec: float = 1e-3) -> int:
    """Space-group number that spglib finds for a cubic cell with atoms at fractional ``positions``."""
    import spglib

    cell = (np.eye(3) * lattice_parameter, np.asarray(positions, dtype=float), [atomic_number(e) for e in elements])
    dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if dataset is None:
        raise RuntimeError(f"spglib found no symmetry for the cell: {spglib.get_error_message()}")
    return int(dataset.number)


def decorate(space_group: int, decoration, jitter: float = 1.0) -> PhaseCandidate:
    """Expand a decoration ``[(Wyckoff letter, element, free coordinate), ...]`` of ``space_group`` to
    the full cell, set the lattice parameter from the atomic radii (times ``jitter``) and run the
    structural checks (overlap, lattice range, isolated atoms, spglib). The master-pattern check is
    :func:`band_contrast`.

    Returns the candidate; ``candidate.rejection`` is ``None`` when it passed.
    """
    _check_space_group(space_group)
    table = WYCKOFF[space_group]
    decoration = tuple((str(letter), str(element), float(x)) for letter, element, x in decoration)
    if not decoration:
        raise ValueError("a decoration needs at least one (Wyckoff letter, element, x) site.")
    positions, elements = [], []
    for letter, element, x in decoration:
        if letter not in table:
            raise ValueError(f"space group {space_group} has no Wyckoff position {letter!r} here; use one of {', '.join(table)}.")
        if element not in RADII:
            raise ValueError(f"no atomic radius for {element!r}; use one of {', '.join(RADII)}.")
        orbit = _expand(space_group, table[letter][1](x))
        positions.append(orbit)
        elements += [element] * len(orbit)
    candidate = PhaseCandidate(space_group, decoration, positions=np.vstack(positions), elements=tuple(elements))
    dist = _distances(candidate.positions)
    if dist.min() < 1e-3:
        candidate.rejection = Rejection("sites overlap", "two decorated positions share atoms")
        return candidate
    radii = np.array([RADII[e] for e in elements])
    contact = radii[:, None] + radii[None, :]
    candidate.lattice_parameter = float((contact / dist).max() * jitter)
    a = candidate.lattice_parameter
    if not A_RANGE[0] <= a <= A_RANGE[1]:
        candidate.rejection = Rejection("lattice parameter out of range", f"a = {a:.2f} Å")
        return candidate
    gap = (dist * a / contact).min(axis=1)
    if gap.max() > MAX_GAP:
        lonely = elements[int(gap.argmax())]
        candidate.rejection = Rejection("isolated atom", f"{lonely} is {gap.max():.1f}x its bonding distance from any atom")
        return candidate
    packing = float((4 / 3 * np.pi * radii**3).sum() / a**3)
    if packing < MIN_PACKING:
        candidate.rejection = Rejection("low packing", f"the atoms fill {packing:.2f} of the cell")
        return candidate
    found = spglib_space_group(candidate.positions, elements, a)
    candidate.found_space_group = found
    if found != space_group:
        candidate.rejection = Rejection(f"symmetry raised to {found}", f"spglib finds {found} ({space_group_symbol(found)})")
    return candidate


def band_contrast(material: Material, half_size: int = 100) -> float:
    """Contrast of the kinematical master pattern of ``material`` (standard deviation over mean, upper
    hemisphere, Lambert projection): near 0 when the reflectors are too weak to draw bands."""
    data = np.asarray(master_pattern(material, half_size=half_size).data, dtype=float)
    upper = data[0] if data.ndim == 3 else data
    return float(upper.std() / upper.mean()) if upper.mean() > 0 else 0.0


def check_phase(candidate: PhaseCandidate, name: str, master_pattern_check: bool = True) -> PhaseCandidate:
    """Run the master-pattern check on a candidate that passed the structural checks."""
    if candidate.rejection is None and master_pattern_check:
        contrast = band_contrast(candidate.material(name))
        if contrast < MIN_CONTRAST:
            candidate.rejection = Rejection("weak band contrast", f"contrast {contrast:.3f}")
    return candidate


def _random_decoration(space_group: int, rng: np.random.Generator):
    table = WYCKOFF[space_group]
    letters = list(table)
    n_sites = int(rng.choice([1, 2, 3], p=[0.25, 0.5, 0.25]))
    chosen = rng.choice(letters, size=min(n_sites, len(letters)), replace=False)
    elements = list(RADII)
    out = []
    for letter in chosen:
        x = float(rng.uniform(*FREE_RANGE)) if table[letter][2] else 0.0
        out.append((str(letter), str(rng.choice(elements)), round(x, 4)))
    return sorted(out, key=lambda site: letters.index(site[0]))


def generate_phases(
    space_group: int,
    n: int,
    seed: int = 0,
    master_pattern_check: bool = True,
    max_tries: int = 2000,
) -> tuple[list[Material], Counter]:
    """``n`` checked phases of ``space_group`` (seeded), and the counts of rejected candidates by reason.

    Candidates are drawn until ``n`` pass; raises if ``max_tries`` candidates give fewer.
    """
    _check_space_group(space_group)
    if n < 0:
        raise ValueError(f"n must be 0 or more, not {n}.")
    rng = np.random.default_rng([int(seed), int(space_group)])
    phases: list[Material] = []
    rejected: Counter = Counter()
    seen: set = set()
    for _ in range(int(max_tries)):
        if len(phases) >= n:
            break
        decoration = tuple(_random_decoration(space_group, rng))
        if decoration in seen:
            continue
        seen.add(decoration)
        name = f"gen{space_group}-{len(phases):03d}"
        candidate = decorate(space_group, decoration, jitter=float(rng.uniform(0.97, 1.03)))
        candidate = check_phase(candidate, name, master_pattern_check)
        if candidate.rejection is None:
            phases.append(candidate.material(f"{name} {candidate.formula}"))
        else:
            rejected[candidate.rejection.reason] += 1
    if len(phases) < n:
        raise RuntimeError(
            f"only {len(phases)} of {n} phases of space group {space_group} passed the checks in {max_tries} "
            f"candidates (rejections: {dict(rejected)}); ask for fewer or raise max_tries."
        )
    return phases, rejected
