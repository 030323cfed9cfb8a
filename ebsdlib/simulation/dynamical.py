"""Dynamical (Bloch-wave) master patterns, computed with ebsdsim and read through kikuchipy.

The kinematical master patterns of :mod:`ebsdlib.simulation.patterns` sum each reflector's band with its
structure factor; kikuchipy's documentation warns that such intensities are not realistic. ebsdsim solves the
Bloch-wave equations for the electrons backscattered at each energy and weights the energies by a model of
their distribution, as EMsoft does. It runs on a GPU through WebGPU, or on the CPU through Mesa's llvmpipe,
where only its ``lu_smith`` solver works (the others need the ``shader-f16`` feature).

The crystal is the one :class:`~ebsdlib.crystal.materials.Material` describes, handed to ebsdsim as its
asymmetric unit with the space group. ebsdsim expands the sites in origin choice 2 of the groups that have two
origins, ``materials.yml`` gives them in origin choice 1 (diffpy.structure's setting), so such sites are shifted
(:data:`ORIGIN_SHIFT`); every expanded cell is then checked against the material's own (the atoms per cell, and
the space group spglib finds) before anything is computed. ebsdsim's own Debye–Waller default (0.5 Å²) applies
to every site: ``materials.yml`` gives none.

The master pattern is written by ebsdsim as a ``.npz`` file, read back with kikuchipy's ebsdsim reader (one
Lambert image per energy bin) and summed over the bins with ebsdsim's weights: the energy-weighted master
pattern a detector sees. It is cached like every master pattern.

ebsdsim 0.2.4 computes the northern hemisphere only, also for point groups without inversion, and kikuchipy's
reader repeats it as the southern one: for those phases (none of the six target space groups; the source task's
zinc blendes) the difference between the two hemispheres that dynamical diffraction makes is not simulated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ebsdlib.cache import cached, content_key, file_digest
from ebsdlib.crystal.materials import Material, atomic_number, dual_phase_materials, training_materials
from ebsdlib.paths import DATA_DIR
from ebsdlib.simulation.dynamical_settings import MATERIAL_SETTINGS, DynamicalSettings, dynamical_settings, settings_for

__all__ = [
    "SIMULATORS",
    "DYNAMICAL_HALF_SIZE",
    "ORIGIN_SHIFT",
    "DynamicalUnavailable",
    "DynamicalSettings",
    "MATERIAL_SETTINGS",
    "dynamical_settings",
    "settings_for",
    "read_ebsdsim_master_pattern",
    "dynamical_at_hand",
    "ebsdsim_material",
    "check_ebsdsim_cell",
    "hemisphere_of",
    "dynamical_master_pattern_array",
    "run_ebsdsim",
    "SHIPPED_DIR",
    "shipped_master_pattern",
    "write_shipped_master_patterns",
    "ship_master_pattern",
    "dynamical_master_pattern",
    "shipped_table",
]

log = logging.getLogger(__name__)


def _installed(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


#: The installed ebsdsim's version: part of every dynamical master pattern's cache key.
EBSDSIM_VERSION = _installed("ebsdsim")

#: Where the dynamical master patterns the project ships lie (package data), beside their ``manifest.yml``.
SHIPPED_DIR = DATA_DIR / "master_patterns"

#: The physics a master pattern can be computed with: kikuchipy's kinematical simulator, or ebsdsim's Bloch waves.
SIMULATORS = ("kinematical", "dynamical")

#: Half the side of a dynamical master pattern when none is given: 201 × 201 px per hemisphere, about 0.9° a
#: pixel at the equator of the Lambert square, finer than a pixel of the CNN's 72–128 px inputs sees.
DYNAMICAL_HALF_SIZE = 100

#: Space groups with two origin choices: ebsdsim expands sites in origin choice 2, ``materials.yml`` (and
#: diffpy.structure) in origin choice 1.
DUAL_ORIGIN = frozenset(
    {48, 50, 59, 68, 70, 85, 86, 88, 125, 126, 129, 130, 133, 134, 137, 138, 141, 142, 201, 203, 222, 224, 227, 228}
)

#: Shift from origin choice 1 to origin choice 2 (x₂ = x₁ + shift), International Tables vol. A; the groups of
#: ``materials.yml`` that have two origins. Others are refused until their shift is added and checked.
ORIGIN_SHIFT = {227: (0.125, 0.125, 0.125), 224: (0.25, 0.25, 0.25), 141: (0.0, 0.25, -0.125)}


class DynamicalUnavailable(RuntimeError):
    """ebsdsim cannot compute here (no WebGPU adapter); the message says what to install."""


def hemisphere_of(material: Material) -> str:
    """The hemispheres a master pattern of ``material`` needs: ``"upper"`` for a point group with inversion (all
    six target space groups), ``"both"`` otherwise (e.g. zinc blende)."""
    return "upper" if material.phase().point_group.contains_inversion else "both"


def ebsdsim_material(material: Material):
    """``material`` as ebsdsim's ``Material``: its cell and asymmetric unit, in origin choice 2 where its space
    group has two origins.

    Raises
    ------
    ValueError
        For a space group with two origins whose shift :data:`ORIGIN_SHIFT` does not know.
    """
    import ebsdsim as es

    sg = int(material.space_group)
    shift = np.zeros(3)
    if sg in DUAL_ORIGIN:
        if sg not in ORIGIN_SHIFT:
            raise ValueError(
                f"{material.name}: space group {sg} has two origin choices and ebsdlib does not know the shift from the "
                "one materials.yml uses (1) to ebsdsim's (2); use the kinematical simulator for it"
            )
        shift = np.asarray(ORIGIN_SHIFT[sg])
    a = float(material.lattice_parameter)
    lattice = material.lattice if material.lattice is not None else (a, a, a, 90.0, 90.0, 90.0)
    atoms = [
        es.Atom(site.element, *((np.asarray(site.xyz, dtype=float) + shift) % 1.0), occupancy=float(site.occupancy))
        for site in material.sites
    ]
    return es.Material(es.Cell(*lattice, space_group=sg), atoms, name=material.name)


def _spglib_space_group(lattice: np.ndarray, positions: np.ndarray, kinds: list) -> int | None:
    import spglib

    labels = {kind: i + 1 for i, kind in enumerate(sorted(set(kinds)))}
    dataset = spglib.get_symmetry_dataset((lattice, positions, [labels[k] for k in kinds]), symprec=1e-3)
    return None if dataset is None else int(dataset.number)


def _cell_sites(positions: np.ndarray, kinds: list) -> tuple[np.ndarray, list]:
    """Atoms at one position merged into one site whose kind is its composition (a mixed site of a disordered phase)."""
    merged: dict[tuple, list] = {}
    for xyz, kind in zip(np.round(np.mod(positions, 1.0), 5) % 1.0, kinds, strict=True):
        merged.setdefault(tuple(xyz), []).append(kind)
    return np.array(list(merged), dtype=float), [tuple(sorted(v)) for v in merged.values()]


def check_ebsdsim_cell(material: Material, es_material=None) -> None:
    """Refuse a cell that ebsdsim would expand otherwise than ebsdlib does: the number of atoms per cell and the
    space group spglib finds for ebsdsim's expanded cell must be the material's.

    Raises
    ------
    ValueError
        Naming the material, both counts or both space groups.
    """
    es_material = ebsdsim_material(material) if es_material is None else es_material
    cell = es_material.to_simulation_cell()
    ours = material.phase().structure
    expected = len(ours)
    found = int(np.sum(cell.multiplicities))
    if found != expected:
        raise ValueError(
            f"{material.name}: ebsdsim expands the asymmetric unit to {found} atoms per cell, ebsdlib to {expected}; "
            "the two read the sites in different settings"
        )
    positions, kinds = [], []
    for atom, orbit in zip(es_material.atoms, cell.positions, strict=True):
        for xyz in orbit:
            positions.append(xyz)
            kinds.append((atomic_number(atom.element), round(float(atom.occupancy), 4)))
    positions, kinds = _cell_sites(np.asarray(positions, dtype=float), kinds)
    lattice = np.asarray(material.phase().structure.lattice.base, dtype=float)
    sg = _spglib_space_group(lattice, positions, kinds)
    if sg != material.space_group:
        raise ValueError(
            f"{material.name}: spglib finds space group {sg} in the cell ebsdsim expands, not {material.space_group}"
        )


@contextlib.contextmanager
def _named(material: Material, min_dspacing: float):
    """Numerical failures of ebsdsim, with the material and what to change."""
    try:
        yield
    except ValueError as err:
        if "non-finite" not in str(err):
            raise
        raise ValueError(
            f"{material.name}: the dynamical simulator returned {err}; try a larger min_dspacing than {min_dspacing} Å "
            "(fewer beams; `ebsdlib simulate --min-dspacing`, with EMsoft's Bethe cutoffs `--bethe 4 8 50`), a smaller "
            "share of the energy distribution where a low-energy bin fails (`--energy-share 0.9`) or the kinematical "
            "simulator"
        ) from None


#: The script that runs ebsdsim in a process of its own (Mesa's LLVM and TensorFlow's do not share one process).
_RUNNER = Path(__file__).with_name("_ebsdsim_run.py")


def run_ebsdsim(es_material, out: Path, **parameters) -> Path:
    """Compute one master pattern with ebsdsim in a separate Python process and return the ``.npz`` file it wrote.

    ``parameters`` are :func:`ebsdsim.master_pattern`'s. The process imports ebsdsim and wgpu only: Mesa's
    llvmpipe (WebGPU on a CPU) loads its own LLVM, and TensorFlow imported after it into the same process crashes.

    Raises
    ------
    DynamicalUnavailable
        When no WebGPU adapter can be had; the message says which system packages give one.
    ValueError
        When ebsdsim returns non-finite intensities (the material is named by the caller).
    """
    import json
    import subprocess
    import sys

    cell = es_material.cell
    spec = {
        "name": es_material.name,
        "lattice": [cell.a, cell.b, cell.c, cell.alpha, cell.beta, cell.gamma],
        "space_group": cell.space_group,
        "atoms": [{"element": a.element, "xyz": [a.x, a.y, a.z], "occupancy": a.occupancy} for a in es_material.atoms],
        "parameters": parameters,
    }
    out = Path(out)
    spec_path = out.with_suffix(".json")
    spec_path.write_text(json.dumps(spec))
    done = subprocess.run([sys.executable, str(_RUNNER), str(spec_path), str(out)], capture_output=True, text=True)
    if done.returncode == 3:
        raise DynamicalUnavailable(
            f"the dynamical simulator (ebsdsim) found {done.stderr.strip()}. On a machine without a GPU it runs on "
            "Mesa's llvmpipe: install the system packages libegl1, libegl-mesa0 and libgl1-mesa-dri (Debian/Ubuntu), "
            "or use simulator 'kinematical'"
        )
    if done.returncode == 4:
        raise ValueError(done.stderr.strip())
    if done.returncode != 0 or not out.is_file():
        raise RuntimeError(f"ebsdsim failed (exit code {done.returncode}): {done.stderr.strip()[-2000:]}")
    return out


@cached(depends_on=["crystal.materials"])
def dynamical_master_pattern_array(
    material: Material,
    energy: float = 20.0,
    half_size: int = DYNAMICAL_HALF_SIZE,
    min_dspacing: float = 0.7,
    energy_bin: float = 1.0,
    sample_tilt: float = 70.0,
    ebsdsim_version: str | None = EBSDSIM_VERSION,
    bethe: tuple[float, float, float] = (20.0, 40.0, 200.0),
    energy_share: float = 1.0,
) -> np.ndarray:
    """Energy-weighted dynamical master pattern of ``material`` in the square Lambert projection, cached.

    Parameters
    ----------
    material
        The crystal; its expanded cell is checked against ebsdsim's first (:func:`check_ebsdsim_cell`).
    energy
        Beam energy in kV (default 20); the energy bins reach from it down in steps of ``energy_bin``.
    half_size
        Half the side of the Lambert square in pixels (default :data:`DYNAMICAL_HALF_SIZE`).
    min_dspacing
        Smallest interplanar spacing of the beams in Å (default 0.7, as the kinematical reflector list). With
        ebsdsim's own 0.5, its CPU solver returned non-finite intensities for Ni3Al (at 15 kV), and took 2–5×
        longer for Ni, Si and FeAl.
    energy_bin
        Width of the energy bins in keV (default 1).
    sample_tilt
        Sample tilt in degrees, for the model of the backscattered energies and depths (default 70).
    ebsdsim_version
        ebsdsim's version (default: the installed one); not read, but part of the cache key, so that another
        version computes anew.
    bethe
        ebsdsim's Bethe cutoffs (strong, weak, cutoff); default ebsdsim's own (20, 40, 200).
    energy_share
        Share of the energy distribution integrated, from ``energy`` down (ebsdsim's ``marginal_coverage``;
        default 1).

    Returns
    -------
    numpy.ndarray
        float32, (2·half_size + 1)² for a centrosymmetric point group (upper hemisphere), else
        (2, 2·half_size + 1, 2·half_size + 1) (upper, lower).
    """
    es_material = ebsdsim_material(material)
    check_ebsdsim_cell(material, es_material)
    strong, weak, cutoff = (float(b) for b in bethe)
    with tempfile.TemporaryDirectory() as folder, _named(material, min_dspacing):
        path = run_ebsdsim(
            es_material,
            Path(folder) / f"{material.name}.npz",
            voltage_kv=float(energy),
            halfw=int(half_size),
            dmin=float(min_dspacing) / 10.0,  # ebsdsim takes nm
            energy_binwidth_keV=float(energy_bin),
            sigma_deg=float(sample_tilt),
            solver="lu_smith",  # the one solver that needs no shader-f16, so runs on a CPU (llvmpipe) too
            bethe_c_strong=strong,
            bethe_c_weak=weak,
            bethe_c_cutoff=cutoff,
            marginal_coverage=float(energy_share),
        )
        return read_ebsdsim_master_pattern(path, material)


def read_ebsdsim_master_pattern(path: Path, material: Material) -> np.ndarray:
    """The energy-weighted master pattern in an ebsdsim ``.npz`` file, read through kikuchipy (one Lambert image
    per energy bin) and summed over the bins with ebsdsim's weights.

    Returns
    -------
    numpy.ndarray
        float32, as :func:`dynamical_master_pattern_array` returns it.
    """
    import kikuchipy as kp

    with np.load(path) as stored:
        weights = np.asarray(stored["bin_weights"], dtype=np.float64)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        signal = kp.load(path, hemisphere=hemisphere_of(material))
    data = np.asarray(signal.data, dtype=np.float64)  # (bins, n, n), or (2, bins, n, n) for both hemispheres
    if data.shape[-3] != len(weights):
        raise RuntimeError(f"{material.name}: kikuchipy read {data.shape[-3]} energy bins, ebsdsim weighted {len(weights)}")
    weighted = np.tensordot(weights / weights.sum(), data, axes=([0], [data.ndim - 3]))
    return np.asarray(weighted, dtype=np.float32)


def _computed_with(material: Material, energy: float, half_size: int, settings: DynamicalSettings | None = None) -> tuple:
    """:func:`dynamical_master_pattern_array`'s arguments for ``material`` at ``settings`` (default: its
    :func:`dynamical_settings`)."""
    settings = dynamical_settings(material) if settings is None else settings
    return (material, float(energy), int(half_size), float(settings.min_dspacing), float(settings.energy_bin)), {
        "bethe": tuple(float(b) for b in settings.bethe),
        "energy_share": float(settings.energy_share),
    }


def _material_digest(material: Material) -> str:
    return content_key(dataclasses.asdict(material))


def _shipped_name(material: Material, energy: float, half_size: int) -> str:
    return f"{material.name}_{float(energy):g}kV_{2 * int(half_size) + 1}px.npz"


def _read_manifest(folder: Path) -> dict:
    import yaml

    path = folder / "manifest.yml"
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def shipped_master_pattern(material: Material, energy: float, half_size: int, *, folder: Path | None = None):
    """The shipped dynamical master pattern of ``material`` at ``energy`` kV and ``half_size``, checked by its
    SHA-256; ``None`` when none is shipped for exactly this crystal (``materials.yml`` entry), energy, size and
    the material's :func:`dynamical_settings`.

    Raises
    ------
    ValueError
        When the file the manifest lists is missing or its SHA-256 is not the manifest's (damaged or changed):
        ``make master-patterns`` writes them again.
    """
    folder = SHIPPED_DIR if folder is None else Path(folder)
    name = _shipped_name(material, energy, half_size)
    entry = _read_manifest(folder).get(name)
    if entry is None or entry.get("material_digest") != _material_digest(material):
        return None
    settings = dynamical_settings(material)
    if (
        entry.get("min_dspacing") != settings.min_dspacing
        or entry.get("energy_bin") != settings.energy_bin
        or tuple(entry.get("bethe", ())) != tuple(settings.bethe)
        or entry.get("energy_share", 1.0) != settings.energy_share  # ebsdsim's default where none is recorded
        or entry.get("sample_tilt") != 70.0
    ):
        return None
    path = folder / name
    if not path.is_file():
        raise ValueError(f"{path} is listed in {folder / 'manifest.yml'} but missing; run `make master-patterns` to write it")
    if file_digest(path) != entry["sha256"]:
        raise ValueError(
            f"{path}: its SHA-256 is not the one {folder / 'manifest.yml'} records; the file is damaged or was changed. "
            "Run `make master-patterns` to compute it again"
        )
    with np.load(path) as stored:
        data = stored["data"].astype(np.float64)
    low, high = float(entry["low"]), float(entry["high"])
    return np.asarray(low + (high - low) * data / 65535.0, dtype=np.float32)


def dynamical_master_pattern(material: Material, energy: float = 20.0, half_size: int = DYNAMICAL_HALF_SIZE) -> np.ndarray:
    """The dynamical master pattern of ``material``: the shipped one where the package has it for exactly this
    crystal, energy and size (:func:`shipped_master_pattern`), else computed (:func:`dynamical_master_pattern_array`,
    cached), which the log says."""
    shipped = shipped_master_pattern(material, energy, half_size)
    if shipped is not None:
        return shipped
    args, kwargs = _computed_with(material, energy, half_size)
    if not dynamical_master_pattern_array.is_cached(*args, **kwargs):
        log.info(
            "computing the dynamical master pattern of %s (%d px, %g kV; none shipped): minutes on a CPU",
            material.name,
            2 * int(half_size) + 1,
            float(energy),
        )
    return dynamical_master_pattern_array(*args, **kwargs)


def dynamical_at_hand(material: Material, energy: float = 20.0, half_size: int = DYNAMICAL_HALF_SIZE) -> bool:
    """Whether ``material``'s dynamical master pattern can be had without computing it: shipped, or cached at
    its :func:`dynamical_settings`.

    Raises
    ------
    ValueError
        When the shipped file is damaged (:func:`shipped_master_pattern`).
    """
    args, kwargs = _computed_with(material, energy, half_size)
    if dynamical_master_pattern_array.is_cached(*args, **kwargs):
        return True
    return shipped_master_pattern(material, energy, half_size) is not None


def write_shipped_master_patterns(
    materials=None, energy: float = 20.0, half_size: int = DYNAMICAL_HALF_SIZE, *, folder: Path | None = None, progress=log.info
) -> Path:
    """Compute (or read from the cache) the dynamical master patterns of ``materials`` (default: the 18 training
    materials and the dual-phase sample's two phases), each at its :func:`dynamical_settings`, and write them as
    the project ships them (:func:`ship_master_pattern`). ``make master-patterns`` runs it. A material whose
    computation fails numerically does not stop the others.

    Raises
    ------
    ValueError
        After the others are written, naming each material that was not and why.

    Returns
    -------
    pathlib.Path
        The manifest.
    """
    folder = SHIPPED_DIR if folder is None else Path(folder)
    materials = list(training_materials()) + list(dual_phase_materials()) if materials is None else list(materials)
    manifest = folder / "manifest.yml"
    failed = []
    for i, material in enumerate(materials, 1):
        if progress:
            progress(f"[{i}/{len(materials)}] dynamical master pattern of {material.name} ({2 * int(half_size) + 1} px)")
        start = time.time()
        args, kwargs = _computed_with(material, energy, half_size)
        try:
            array = dynamical_master_pattern_array(*args, **kwargs)
        except ValueError as err:  # non-finite intensities, named: the other materials are still written
            failed.append(str(err))
            if progress:
                progress(f"  not written: {err}")
            continue
        manifest = ship_master_pattern(material, array, energy, half_size, seconds=time.time() - start, folder=folder)
    if failed:
        raise ValueError(
            f"{len(failed)} of {len(materials)} master patterns were not written (the others were): " + "; ".join(failed)
        )
    return manifest


def ship_master_pattern(
    material: Material, array: np.ndarray, energy: float, half_size: int, *, seconds: float, folder: Path | None = None
) -> Path:
    """Write ``material``'s dynamical master pattern ``array`` (computed at its :func:`dynamical_settings`) as the
    project ships it: a 16-bit ``.npz`` file scaled to the pattern's range, and its entry in ``manifest.yml``
    (the file's SHA-256, the crystal's digest, the settings, the range, ebsdsim's version and the ``seconds``
    computing it took; a cache hit, under a second, keeps the seconds recorded before). Each file is written
    whole or not at all.

    Raises
    ------
    ValueError
        When ``array`` is not a (2·half_size + 1)² pattern, or is flat or not finite.

    Returns
    -------
    pathlib.Path
        The manifest.
    """
    import ebsdsim
    import yaml

    folder = SHIPPED_DIR if folder is None else Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    array = np.asarray(array, dtype=np.float64)
    side = 2 * int(half_size) + 1
    if array.shape[-2:] != (side, side) or not np.all(np.isfinite(array)) or np.ptp(array) == 0:
        raise ValueError(
            f"{material.name}: a master pattern to ship must be finite, not flat and {side} × {side} px; got {array.shape}"
        )
    settings = dynamical_settings(material)
    manifest = _read_manifest(folder)
    low, high = float(array.min()), float(array.max())
    encoded = np.round((array - low) / (high - low) * 65535.0).astype(np.uint16)
    name = _shipped_name(material, energy, half_size)
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".npz", dir=folder)
    os.close(fd)
    with open(tmp, "wb") as f:
        np.savez_compressed(f, data=encoded)
    os.chmod(tmp, 0o644)
    os.replace(tmp, folder / name)
    previous = manifest.get(name, {})
    manifest[name] = {
        "material": material.name,
        "material_digest": _material_digest(material),
        "energy": float(energy),
        "half_size": int(half_size),
        "min_dspacing": float(settings.min_dspacing),
        "energy_bin": float(settings.energy_bin),
        "bethe": [float(b) for b in settings.bethe],
        "energy_share": float(settings.energy_share),
        "sample_tilt": 70.0,
        "ebsdsim": ebsdsim.__version__,
        "low": low,
        "high": high,
        "sha256": file_digest(folder / name),
        # a cache hit costs nothing: keep the seconds the computation took
        "seconds": round(seconds, 1) if seconds > 1 or "seconds" not in previous else previous["seconds"],
    }
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".yml", dir=folder)
    os.close(fd)
    Path(tmp).write_text(
        "# Dynamical master patterns shipped with ebsdlib (ebsdlib.simulation.dynamical); `make master-patterns`\n"
        "# writes them again. Each file: 16-bit data scaled to [low, high], checked by its SHA-256 when read.\n"
        + yaml.safe_dump(manifest, sort_keys=True)
    )
    os.replace(tmp, folder / "manifest.yml")
    return folder / "manifest.yml"


def shipped_table(folder: Path | None = None) -> pd.DataFrame:
    """The shipped dynamical master patterns as ``manifest.yml`` lists them: one row per file with
    ``material``, ``energy`` (kV), ``pixels`` (side), ``min_dspacing`` (Å), ``Bethe cutoffs`` (strong/weak/cutoff),
    ``energy_bin`` (keV), ``energy_share`` (of the energy distribution), ``ebsdsim`` (version), ``seconds``
    (what computing it took, on the machine that wrote it) and ``kB`` (the file's size); empty when none is shipped."""
    folder = SHIPPED_DIR if folder is None else Path(folder)
    rows = [
        {
            "material": entry["material"],
            "energy": entry["energy"],
            "pixels": 2 * int(entry["half_size"]) + 1,
            "min_dspacing": entry["min_dspacing"],
            "Bethe cutoffs": "/".join(f"{b:g}" for b in entry.get("bethe", DynamicalSettings().bethe)),
            "energy_bin": entry["energy_bin"],
            "energy_share": entry.get("energy_share", 1.0),
            "ebsdsim": entry["ebsdsim"],
            "seconds": entry["seconds"],
            "kB": round((folder / name).stat().st_size / 1024, 1) if (folder / name).is_file() else float("nan"),
        }
        for name, entry in sorted(_read_manifest(folder).items())
    ]
    columns = [
        "material",
        "energy",
        "pixels",
        "min_dspacing",
        "Bethe cutoffs",
        "energy_bin",
        "energy_share",
        "ebsdsim",
        "seconds",
        "kB",
    ]
    return pd.DataFrame(rows, columns=columns)
