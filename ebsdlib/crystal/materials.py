"""Crystal structures of the paper's materials, from ``ebsdlib/data/materials.yml``.

Each material is given as its space group, cubic lattice parameter (Å) and asymmetric-unit Wyckoff
sites (element, fractional coordinates, occupancy); :meth:`Material.phase` expands the sites to the full
conventional cell with the space group's operations (orix/diffpy.structure). Structure factors come
from diffsims' ``ReciprocalLatticeVector`` with X-ray atomic scattering factors, which are what the
kinematical master patterns of :mod:`ebsdlib.simulation.patterns` are built from.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ebsdlib.paths import DATA_DIR

__all__ = [
    "SPACE_GROUPS",
    "Site",
    "Material",
    "load_materials",
    "training_materials",
    "dual_phase_materials",
    "materials_by_space_group",
    "disordered",
    "source_task_materials",
    "parse_space_group",
    "space_group_symbol",
    "hkl_families",
    "structure_factors",
    "reflection_table",
    "atomic_number",
    "material_from_cif",
    "has_partial_occupancies",
]

#: The six target space groups of the paper, in the paper's order.
SPACE_GROUPS: tuple[int, ...] = (221, 223, 225, 227, 229, 230)

MATERIALS_FILE = DATA_DIR / "materials.yml"


def parse_space_group(value: int | str) -> int:
    """Space-group number from a number (``225``, ``"225"``) or a Hermann–Mauguin symbol (``"Fm-3m"``).

    Parameters
    ----------
    value
        A space-group number from 1 to 230, as a number or as text, or a Hermann–Mauguin symbol that
        diffpy.structure knows (``"Fm-3m"``, ``"Pm-3m"``). Surrounding spaces are ignored and underscores
        dropped (``"P4_2/mnm"`` reads as ``"P42/mnm"``).

    Returns
    -------
    int
        The space-group number, 1 to 230.

    Raises
    ------
    ValueError
        If ``value`` names no space group; the message says which forms are accepted.
    """
    from diffpy.structure.spacegroups import get_space_group

    text = str(value).strip()
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is not None:
        if not 1 <= number <= 230:
            raise ValueError(f"{value!r} is not a space group: numbers run from 1 to 230.")
        return number
    try:
        return int(get_space_group(text.replace("_", "")).number)
    except (ValueError, KeyError):
        raise ValueError(
            f"{value!r} is not a space group. Use its number (e.g. 225) or its Hermann–Mauguin symbol (e.g. Fm-3m)."
        ) from None


def space_group_symbol(number: int) -> str:
    """Short Hermann–Mauguin symbol of a space group, e.g. ``225 -> "Fm-3m"``.

    Parameters
    ----------
    number
        Space-group number, 1 to 230 (anything ``int()`` takes, e.g. ``"225"``).

    Returns
    -------
    str
        diffpy.structure's short symbol, with ``-`` before a digit for an overbar (``"Ia-3d"``).
    """
    from diffpy.structure.spacegroups import get_space_group

    return get_space_group(int(number)).short_name


def space_group_latex(number: int) -> str:
    r"""Symbol with overbars for figures, e.g. ``225 -> "$Fm\bar{3}m$"``."""
    symbol = space_group_symbol(number)
    out, i = "", 0
    while i < len(symbol):
        if symbol[i] == "-" and i + 1 < len(symbol):
            out += r"\bar{" + symbol[i + 1] + "}"
            i += 2
        else:
            out += symbol[i]
            i += 1
    return f"${out}$"


@dataclass(frozen=True)
class Site:
    """One asymmetric-unit site: element, fractional coordinates and occupancy.

    Parameters
    ----------
    element
        Element symbol, e.g. ``"Ni"``.
    xyz
        Fractional coordinates (x, y, z) in the conventional cell, in the setting diffpy.structure uses for the
        space group (227 Fd-3m: origin choice 1).
    occupancy
        Share of the site this element fills, 0 to 1 (default 1). A mixed site is listed once per element; a
        partly filled site is simulated as the average crystal.
    wyckoff
        Wyckoff multiplicity and letter, e.g. ``"4a"`` (default ``""``: not given). Descriptive only: the cell is
        expanded with the space group's operations, not from this label.
    """

    element: str
    xyz: tuple[float, float, float]
    occupancy: float = 1.0
    wyckoff: str = ""


@dataclass(frozen=True)
class Material:
    """A crystalline phase: name, space group, cubic lattice parameter (Å) and Wyckoff sites.

    Parameters
    ----------
    name
        The material's name, e.g. ``"Ni"`` (its key in ``materials.yml``). It fills the ``material`` column of
        the patterns' tables and, with the seed, seeds their simulation
        (:func:`ebsdlib.simulation.patterns.material_seed`).
    space_group
        Space-group number, 1 to 230.
    lattice_parameter
        Cubic lattice parameter a in Å. For a cell that is not cubic (``lattice`` given), its a edge, which
        tables show.
    sites
        The asymmetric unit as :class:`Site` entries, expanded to the full cell by :meth:`phase`.
    structure_type
        Structure type for tables, e.g. ``"B2 (CsCl)"`` (default ``""``).
    role
        What the material is for: ``"training"`` (default; the paper's 18 materials), ``"dual_phase"``,
        ``"source_task"`` (the sections of ``materials.yml``), ``"cif"`` (:func:`material_from_cif`) or
        ``"generated"`` (:mod:`ebsdlib.simulation.phases`).
    source
        Where the structure comes from: a literature reference, a CIF path or a note (default ``""``).
    formula
        Chemical formula for tables (default ``""``; :func:`load_materials` uses the name when the file gives
        none).
    lattice
        The full cell (a, b, c, α, β, γ) in Å and degrees for a cell that is not cubic; default ``None``: cubic
        with ``lattice_parameter``.
    label
        What a reader sees instead of the name (:attr:`shown`), e.g. ``"Ni(Al) matrix"`` (default ``""``: the
        name).
    """

    name: str
    space_group: int
    lattice_parameter: float
    sites: tuple[Site, ...]
    structure_type: str = ""
    role: str = "training"
    source: str = ""
    formula: str = field(default="")
    lattice: tuple[float, float, float, float, float, float] | None = None
    label: str = ""

    @property
    def shown(self) -> str:
        """What a reader sees: the ``label`` of ``materials.yml`` (the dual-phase map's phases: their formula
        and role, since Ni3Al is a training material too), else the name."""
        return self.label or self.name

    @property
    def symbol(self) -> str:
        """Hermann–Mauguin symbol of the space group."""
        return space_group_symbol(self.space_group)

    def structure(self):
        """The asymmetric unit as a ``diffpy.structure.Structure``."""
        from diffpy.structure import Atom, Lattice, Structure

        a = self.lattice_parameter
        lattice = Lattice(*self.lattice) if self.lattice is not None else Lattice(a, a, a, 90, 90, 90)
        atoms = [Atom(s.element, list(s.xyz), occupancy=s.occupancy) for s in self.sites]
        return Structure(atoms=atoms, lattice=lattice, title=self.name)

    def phase(self):
        """Orix ``Phase`` with the asymmetric unit expanded to the full conventional cell."""
        from orix.crystal_map import Phase

        phase = Phase(name=self.name, space_group=self.space_group, structure=self.structure())
        return phase.expand_asymmetric_unit()

    def atoms_per_cell(self) -> float:
        """Sum of occupancies in the expanded conventional cell (e.g. 8 for Si)."""
        return float(sum(atom.occupancy for atom in self.phase().structure))


def _material_from_dict(name: str, entry: dict, role: str) -> Material:
    try:
        sites = tuple(
            Site(
                element=s["element"],
                xyz=tuple(float(c) for c in s["xyz"]),
                occupancy=float(s.get("occupancy", 1.0)),
                wyckoff=str(s.get("wyckoff", "")),
            )
            for s in entry["sites"]
        )
        return Material(
            name=name,
            space_group=parse_space_group(entry["space_group"]),
            lattice_parameter=float(entry["lattice_parameter"]),
            sites=sites,
            structure_type=str(entry.get("structure_type", "")),
            role=role,
            source=str(entry.get("source", "")),
            formula=str(entry.get("formula", name)),
            lattice=tuple(float(v) for v in entry["lattice"]) if "lattice" in entry else None,
            label=str(entry.get("label", "")),
        )
    except KeyError as err:
        raise ValueError(f"material {name!r} in materials.yml lacks the field {err.args[0]!r}") from None


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Material]:
    raw = yaml.safe_load(Path(path).read_text())
    out: dict[str, Material] = {}
    for role in ("training", "dual_phase", "source_task"):
        for name, entry in (raw.get(role) or {}).items():
            out[name] = _material_from_dict(name, entry, role)
    return out


def load_materials(path: str | Path | None = None) -> dict[str, Material]:
    """All materials of ``ebsdlib/data/materials.yml`` (or ``path``), by name, training materials first.

    Parameters
    ----------
    path
        A materials file laid out as ``ebsdlib/data/materials.yml`` (sections ``training``, ``dual_phase`` and
        ``source_task``); default ``None``: the package's own. Each file is read once per process.

    Returns
    -------
    dict[str, Material]
        The materials by name: the training materials, then the dual-phase and the source-task materials, each
        section in file order.

    Examples
    --------
    >>> ni = load_materials()["Ni"]
    >>> ni.space_group, round(ni.lattice_parameter, 3)
    (225, 3.524)
    """
    return dict(_load(str(path or MATERIALS_FILE)))


def training_materials(path: str | Path | None = None) -> list[Material]:
    """The paper's 18 training materials, ordered by space group then as listed in the file.

    Parameters
    ----------
    path
        A materials file as :func:`load_materials` takes it; default ``None``: the package's own.

    Returns
    -------
    list[Material]
        The materials of the ``training`` section, in the order of :data:`SPACE_GROUPS` (221 ... 230).
    """
    mats = [m for m in load_materials(path).values() if m.role == "training"]
    return sorted(mats, key=lambda m: SPACE_GROUPS.index(m.space_group))


def dual_phase_materials(path: str | Path | None = None) -> list[Material]:
    """The two phases of the dual-phase Ni90Al10 sample (matrix, then precipitate).

    Parameters
    ----------
    path
        A materials file as :func:`load_materials` takes it; default ``None``: the package's own.

    Returns
    -------
    list[Material]
        The materials of the ``dual_phase`` section in file order: the Ni(Al) matrix (225), then the Ni3Al
        precipitate (221).
    """
    return [m for m in load_materials(path).values() if m.role == "dual_phase"]


def source_task_materials(path: str | Path | None = None) -> list[Material]:
    """Materials of the disjoint pretraining task (space groups outside the six target groups)."""
    return [m for m in load_materials(path).values() if m.role == "source_task"]


def materials_by_space_group(materials: list[Material] | None = None) -> dict[int, list[Material]]:
    """Training materials grouped by space group, in the paper's order."""
    materials = training_materials() if materials is None else materials
    groups: dict[int, list[Material]] = {}
    for m in materials:
        groups.setdefault(m.space_group, []).append(m)
    return {sg: groups[sg] for sg in sorted(groups, key=lambda s: (s not in SPACE_GROUPS, s))}


#: The disordered parent lattices :func:`disordered` builds: space group, and the sites of its conventional cell.
_PARENT_LATTICES = {225: ("A1 (fcc)", 4), 229: ("A2 (bcc)", 2)}


def disordered(material: Material, space_group: int) -> Material:
    """The disordered counterpart of an ordered cubic phase: the same cell and composition with every element
    spread over the sites of the parent lattice at its share of the cell (Fe3Ni → fcc with 0.75 Fe and 0.25 Ni
    on each site; FeAl → bcc with 0.5 each). Its fundamental reflections are those of ``material``; its
    superlattice reflections vanish, so the difference of the two is what the ordering adds.

    Parameters
    ----------
    material
        An ordered superstructure of an fcc or bcc lattice (L1₂, B2, …): its expanded cell holds as many atoms
        as the parent's conventional cell.
    space_group
        The parent: 225 (fcc, 4 sites) or 229 (bcc, 2 sites).

    Raises
    ------
    ValueError
        When the parent is neither, or the material's cell does not hold the parent's number of atoms (not a
        superstructure of that lattice).

    Examples
    --------
    >>> fe3ni = disordered(load_materials()["Fe3Ni"], 225)
    >>> fe3ni.name, fe3ni.space_group, [(s.element, s.occupancy) for s in fe3ni.sites]
    ('Fe3Ni (disordered)', 225, [('Fe', 0.75), ('Ni', 0.25)])
    """
    if space_group not in _PARENT_LATTICES:
        raise ValueError(f"disordered: parent space group {space_group} is not one of {sorted(_PARENT_LATTICES)} (fcc, bcc)")
    kind, sites = _PARENT_LATTICES[space_group]
    counts: dict[str, float] = {}
    for atom in material.phase().structure:
        counts[atom.element] = counts.get(atom.element, 0.0) + float(atom.occupancy)
    total = sum(counts.values())
    if not np.isclose(total, sites):
        raise ValueError(
            f"disordered: {material.name}'s cell holds {total:g} atoms, an {kind} cell holds {sites}; it is not an ordered "
            f"superstructure of space group {space_group}"
        )
    return Material(
        name=f"{material.name} (disordered)",
        space_group=space_group,
        lattice_parameter=material.lattice_parameter,
        sites=tuple(
            Site(element=e, xyz=(0.0, 0.0, 0.0), occupancy=round(n / total, 6), wyckoff="4a" if space_group == 225 else "2a")
            for e, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
        structure_type=f"{kind}, disordered {material.structure_type or material.name}",
        role="generated",
        source=f"disordered from {material.name}",
        formula=material.formula,
    )


def hkl_families(max_sum_of_squares: int = 20) -> list[tuple[int, int, int]]:
    """Representatives ``h >= k >= l >= 0`` of the cubic {hkl} families up to h²+k²+l², in order."""
    fams = [
        (h, k, l)
        for h, k, l in itertools.product(range(int(np.sqrt(max_sum_of_squares)) + 1), repeat=3)
        if h >= k >= l >= 0 and 0 < h * h + k * k + l * l <= max_sum_of_squares
    ]
    return sorted(fams, key=lambda f: (f[0] ** 2 + f[1] ** 2 + f[2] ** 2, f))


def structure_factors(material: Material, hkl) -> np.ndarray:
    """Magnitudes of the structure factors |F_hkl| of ``material`` (X-ray scattering factors).

    Parameters
    ----------
    hkl
        Array-like of shape (n, 3) of Miller indices.

    Returns
    -------
    numpy.ndarray
        ``|F_hkl|`` for each row of ``hkl``, from diffsims' default (X-ray) atomic scattering factors.
    """
    from diffsims.crystallography import ReciprocalLatticeVector

    ref = ReciprocalLatticeVector(material.phase(), hkl=np.atleast_2d(np.asarray(hkl, dtype=float)))
    ref.calculate_structure_factor()
    return np.abs(np.asarray(ref.structure_factor, dtype=complex))


def reflection_table(
    materials: list[Material] | None = None,
    max_sum_of_squares: int = 20,
    extinct_below: float = 1e-3,
) -> pd.DataFrame:
    """Relative |F| of each {hkl} family for every material, and which families are extinct.

    Returns a long table with the columns ``material``, ``space_group``, ``family`` (e.g. "{110}"),
    ``hkl``, ``F`` (|F| relative to the material's strongest listed family) and ``present``
    (``F >= extinct_below``).
    """
    materials = training_materials() if materials is None else materials
    families = hkl_families(max_sum_of_squares)
    rows = []
    for m in materials:
        F = structure_factors(m, families)
        F = F / F.max()
        for fam, f in zip(families, F, strict=False):
            rows.append(
                {
                    "material": m.name,
                    "space_group": m.space_group,
                    "family": "{" + "".join(map(str, fam)) + "}",
                    "hkl": fam,
                    "F": float(f),
                    "present": bool(f >= extinct_below),
                }
            )
    return pd.DataFrame(rows)


def materials_table(materials: list[Material] | None = None) -> pd.DataFrame:
    """One row per material: name, space group number and symbol, lattice parameter, structure type,
    atoms per conventional cell."""
    materials = training_materials() if materials is None else materials
    return pd.DataFrame(
        [
            {
                "material": m.formula or m.name,
                "space group": m.space_group,
                "symbol": m.symbol,
                "a (Å)": m.lattice_parameter,
                "structure type": m.structure_type,
                "atoms per cell": round(m.atoms_per_cell(), 3),
            }
            for m in materials
        ]
    )


def space_group_reflections(table: pd.DataFrame) -> pd.DataFrame:
    """Per space group (rows) and {hkl} family (columns): the largest relative |F| over the group's
    materials; 0 where every material of the group has the family extinct (a systematic absence)."""
    pivot = table.pivot_table(index="space_group", columns="family", values="F", aggfunc="max")
    present = table.pivot_table(index="space_group", columns="family", values="present", aggfunc="max")
    families = list(dict.fromkeys(table["family"]))
    return pivot.where(present.astype(bool), 0.0)[families]


def distinguishing_families(table: pd.DataFrame) -> pd.DataFrame:
    """The {hkl} families whose presence differs between the space groups: one row per family, one
    column per space group, ``True`` where the family is present in (some material of) the group."""
    present = table.pivot_table(index="family", columns="space_group", values="present", aggfunc="max").astype(bool)
    present = present.loc[list(dict.fromkeys(table["family"]))]
    return present[present.nunique(axis=1) > 1]


#: Element symbols by atomic number (1 to 83), for spglib's atom types.
_SYMBOLS = [
    "H",
    "He",
    "Li",
    "Be",
    "B",
    "C",
    "N",
    "O",
    "F",
    "Ne",
    "Na",
    "Mg",
    "Al",
    "Si",
    "P",
    "S",
    "Cl",
    "Ar",
    "K",
    "Ca",
    "Sc",
    "Ti",
    "V",
    "Cr",
    "Mn",
    "Fe",
    "Co",
    "Ni",
    "Cu",
    "Zn",
    "Ga",
    "Ge",
    "As",
    "Se",
    "Br",
    "Kr",
    "Rb",
    "Sr",
    "Y",
    "Zr",
    "Nb",
    "Mo",
    "Tc",
    "Ru",
    "Rh",
    "Pd",
    "Ag",
    "Cd",
    "In",
    "Sn",
    "Sb",
    "Te",
    "I",
    "Xe",
    "Cs",
    "Ba",
    "La",
    "Ce",
    "Pr",
    "Nd",
    "Pm",
    "Sm",
    "Eu",
    "Gd",
    "Tb",
    "Dy",
    "Ho",
    "Er",
    "Tm",
    "Yb",
    "Lu",
    "Hf",
    "Ta",
    "W",
    "Re",
    "Os",
    "Ir",
    "Pt",
    "Au",
    "Hg",
    "Tl",
    "Pb",
    "Bi",
]


def atomic_number(element: str) -> int:
    """Atomic number of an element symbol (H to Bi), as spglib takes atom types."""
    try:
        return _SYMBOLS.index(element) + 1
    except ValueError:
        raise ValueError(f"{element!r} is not an element symbol known here (H to Bi).") from None


#: Cell edges a CIF may give, in Å: the crystals EBSD indexes have cells of a few Å to a few tens.
CIF_CELL_RANGE = (1.0, 50.0)


def _check_cif_text(path: Path) -> None:
    """Refuse what the CIF reader would pass over without a word: several data blocks (it reads the first), and
    a space-group symbol and number that name different groups."""
    import re

    text = path.read_text(errors="replace")
    blocks = re.findall(r"^\s*data_(\S*)", text, flags=re.M | re.I)
    if len(blocks) > 1:
        raise ValueError(f"{path} holds {len(blocks)} data blocks ({', '.join(blocks[:4])}); give one phase per CIF file")

    def value(*tags):
        for tag in tags:
            found = re.search(rf"^\s*{re.escape(tag)}\s+(?:'([^']*)'|\"([^\"]*)\"|(\S+))", text, flags=re.M | re.I)
            if found:
                return next(g for g in found.groups() if g is not None).strip()
        return None

    symbol = value("_space_group_name_H-M_alt", "_symmetry_space_group_name_H-M")
    number = value("_space_group_IT_number", "_symmetry_Int_Tables_number")
    if symbol and number and symbol not in ("?", ".") and number not in ("?", "."):
        try:
            by_symbol, by_number = parse_space_group(symbol.replace(" ", "")), parse_space_group(number)
        except ValueError:
            return  # an unusual setting symbol: the reader and spglib decide
        if by_symbol != by_number:
            raise ValueError(
                f"{path}: its space-group symbol {symbol!r} is group {by_symbol}, its number is {by_number}; correct one"
            )


def has_partial_occupancies(material: Material) -> bool:
    """Whether a site of ``material`` is partly occupied (a disordered phase, simulated as the average crystal)."""
    return any(site.occupancy < 1 for site in material.sites)


def material_from_cif(path: str | Path, name: str | None = None) -> Material:
    """A material from a CIF file, for simulating a user's phase.

    The cell the CIF describes (expanded by its own symmetry, or a full cell in P1 as many programs write)
    is symmetrised with spglib, which finds its space group and, in the standard setting (the origin
    choice kikuchipy and orix expect), its asymmetric unit. A CIF with partial occupancies keeps its own
    space group, setting and asymmetric unit (spglib knows no occupancies), and is simulated as the average
    crystal: each site scatters with its occupancy-weighted scattering factor (:func:`has_partial_occupancies`
    tells; ``ebsdlib simulate --cif`` says so).

    Parameters
    ----------
    path
        The CIF file: one data block (one phase), cell edges within :data:`CIF_CELL_RANGE` (Å).
    name
        The material's name, also used as its formula; default ``None``: the file's stem.

    Returns
    -------
    Material
        The phase with ``role="cif"`` and ``source`` the path: its space group and asymmetric unit (every site
        fully occupied, or the CIF's own occupancies), ``lattice_parameter`` the a edge in Å, and ``lattice``
        (a, b, c, α, β, γ) when the cell is not cubic (``None`` when it is).

    Raises
    ------
    ValueError
        For a missing or unreadable file, a cell without atoms, several data blocks, a space-group symbol and
        number that disagree, a cell edge outside :data:`CIF_CELL_RANGE`, partial occupancies in a cell without
        its space group, or occupancies of one site that sum to more than 1, naming the file.
    """
    import spglib
    from diffpy.structure.parsers import get_parser

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"the CIF file {path} does not exist")
    _check_cif_text(path)
    parser = get_parser("cif")
    try:
        full = parser.parse_file(str(path))
    except Exception as err:  # noqa: BLE001 - the CIF reader's errors vary
        raise ValueError(f"cannot read {path} as a CIF file ({type(err).__name__}: {err})") from None
    if full is None or len(full) == 0:
        raise ValueError(f"{path} holds no atoms")
    name = name or path.stem
    lat = full.lattice
    number = int(getattr(parser.spacegroup, "number", 1) or 1)
    partial = any(float(a.occupancy) < 1 for a in full)
    if partial and (number <= 1 or getattr(parser, "asymmetric_unit", None) is None):
        raise ValueError(
            f"{path} has partial occupancies in a cell without its space group (P1 or none given): spglib, which finds "
            "the symmetry, knows no occupancies. Write the CIF with its space group and asymmetric unit"
        )
    if partial:
        # spglib knows no occupancies: a disordered phase keeps the CIF's own asymmetric unit and setting
        atoms = [(a.element, tuple(float(c) for c in a.xyz), float(a.occupancy)) for a in parser.asymmetric_unit]
        at_site: dict[tuple, float] = {}
        for _, xyz, occupancy in atoms:
            key = tuple(round(c % 1.0, 4) for c in xyz)
            at_site[key] = at_site.get(key, 0.0) + occupancy
        full_sites = [f"({', '.join(f'{c:g}' for c in xyz)}): {total:g}" for xyz, total in at_site.items() if total > 1.001]
        if full_sites:
            raise ValueError(f"{path}: the occupancies of one site sum to more than 1 at {'; '.join(full_sites)}; correct them")
        lengths = (lat.a, lat.b, lat.c, lat.alpha, lat.beta, lat.gamma)
    else:
        # the expanded cell symmetrised by spglib: its space group and, in the standard setting (the origin
        # choice kikuchipy and orix expect), its asymmetric unit
        elements = sorted({a.element for a in full})
        cell = (lat.base, [a.xyz for a in full], [atomic_number(a.element) for a in full])
        data = spglib.get_symmetry_dataset(cell, symprec=1e-3)
        if data is None:
            raise ValueError(f"spglib finds no symmetry in {path}: {spglib.get_error_message()}")
        std = (data.std_lattice, data.std_positions, data.std_types)
        again = spglib.get_symmetry_dataset(std, symprec=1e-3)
        number = int(again.number)
        by_z = {atomic_number(e): e for e in elements}
        seen, atoms = set(), []
        for k, (xyz, z) in enumerate(zip(std[1], std[2], strict=False)):
            if again.equivalent_atoms[k] not in seen:
                seen.add(again.equivalent_atoms[k])
                atoms.append((by_z[int(z)], tuple(float(c) % 1.0 for c in xyz), 1.0))
        vectors = np.asarray(data.std_lattice, dtype=float)
        a, b, c = np.linalg.norm(vectors, axis=1)

        def angle(u, v):
            return float(np.degrees(np.arccos(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))))

        lengths = (a, b, c, angle(vectors[1], vectors[2]), angle(vectors[0], vectors[2]), angle(vectors[0], vectors[1]))
    outside = [
        f"{axis} = {length:g} Å"
        for axis, length in zip("abc", lengths[:3], strict=False)
        if not CIF_CELL_RANGE[0] <= length <= CIF_CELL_RANGE[1]
    ]
    if outside:
        raise ValueError(
            f"{path}: the cell has {', '.join(outside)}, outside {CIF_CELL_RANGE[0]:g}–{CIF_CELL_RANGE[1]:g} Å "
            "(a typo in _cell_length?); such a cell would need more reflectors than memory holds"
        )
    cubic = np.allclose(lengths[:3], lengths[0], rtol=1e-4) and np.allclose(lengths[3:], 90.0, atol=1e-3)
    return Material(
        name=name,
        space_group=number,
        lattice_parameter=float(lengths[0]),
        sites=tuple(Site(e, xyz, occ) for e, xyz, occ in atoms),
        role="cif",
        source=str(path),
        formula=name,
        lattice=None if cubic else tuple(float(v) for v in lengths),
    )
