"""Simulated patterns written as a user's data would arrive (``ebsdlib simulate``): a labelled TIFF folder
tree to train on, or a scan file kikuchipy reads, with its ground truth beside it, to classify.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ebsdlib.crystal.materials import Material, load_materials
from ebsdlib.outputs import check_output_files, publish_files, publish_folder
from ebsdlib.simulation.patterns import Detector, simulate_patterns
from ebsdlib.simulation.sample import simulate_dual_phase_map

__all__ = ["find_materials", "write_pattern_tree", "write_scan"]


def find_materials(names: list[str]) -> list[Material]:
    """Materials of ``ebsdlib/data/materials.yml`` by name (case-insensitive).

    Raises
    ------
    ValueError
        For a name that is not there; the message lists the names that are.
    """
    known = load_materials()
    lower = {k.lower(): v for k, v in known.items()}
    unknown = [n for n in names if n.lower() not in lower]
    if unknown:
        raise ValueError(f"no material {unknown} in ebsdlib/data/materials.yml; the materials are: {', '.join(sorted(known))}")
    return [lower[n.lower()] for n in names]


def write_pattern_tree(
    materials: list[Material],
    n: int,
    out: str | Path,
    detector: Detector = Detector(),
    seed: int = 0,
    progress: bool = True,
) -> pd.DataFrame:
    """Simulate ``n`` patterns of every material and write them as ``<out>/<space group>/<material>/<k>.tif``
    (8-bit TIFF, the layout :func:`ebsdlib.io.readers.load_folder_tree` reads). Returns one row per file
    with its orientation (Euler angles in degrees).

    Parameters
    ----------
    materials
        The materials to simulate, e.g. from :func:`find_materials`.
    n
        Patterns per material (at least 1).
    out
        The tree's folder. It is written beside its place and renamed into it when complete, and it must be
        missing, empty or hold only an earlier tree of ``ebsdlib simulate`` (:mod:`ebsdlib.outputs`).
    detector
        The simulated detector, geometry and detector model (:class:`~ebsdlib.simulation.patterns.Detector`);
        default ``Detector()``, the book's 120 × 146 px detector at 20 kV.
    seed
        Seed of every material's patterns, combined with its name (default 0).
    progress
        Show a progress bar over the materials (default ``True``).

    Returns
    -------
    pandas.DataFrame
        One row per file: ``file`` (``<space group>/<material>/<k>.tif``, relative to ``out``), ``material``,
        ``space_group`` and the Bunge Euler angles ``phi1``, ``Phi``, ``phi2`` in degrees; also written as
        ``<out>/patterns.csv``.

    Examples
    --------
    >>> import tempfile
    >>> from ebsdlib.io.readers import load_folder_tree
    >>> from ebsdlib.simulation.patterns import Detector, DetectorGeometry
    >>> root = tempfile.mkdtemp()
    >>> table = write_pattern_tree(find_materials(["Ni", "Fe"]), 2, root, Detector(DetectorGeometry(shape=(30, 36))), progress=False)
    >>> sorted(set(table["file"].str.split("/").str[0]))
    ['225', '229']
    >>> load_folder_tree(root).patterns.shape
    (4, 30, 36)
    """
    import tifffile
    from tqdm.auto import tqdm

    if int(n) < 1:
        raise ValueError(f"n must be at least 1 pattern per material, not {n}")
    rows = []
    # written beside ``out`` and renamed into place when complete; ``out`` may hold nothing but an earlier tree
    # of this command (ebsdlib.outputs), so a user's own patterns are never overwritten or mixed with these
    with publish_folder(out, "simulate") as tree:
        for material in tqdm(materials, desc="simulating", unit="material", disable=not progress or None):
            patterns, table = simulate_patterns(material, int(n), detector, seed=seed)
            folder = tree / str(material.space_group) / material.name
            folder.mkdir(parents=True, exist_ok=True)
            for k, (pattern, row) in enumerate(zip(patterns, table.itertuples(index=False), strict=False)):
                name = folder / f"{k:05d}.tif"
                tifffile.imwrite(name, np.asarray(pattern, dtype=np.uint8))
                rows.append(
                    {
                        "file": name.relative_to(tree).as_posix(),
                        "material": material.name,
                        "space_group": material.space_group,
                        **{c: getattr(row, c) for c in ("phi1", "Phi", "phi2") if hasattr(row, c)},
                    }
                )
        index = pd.DataFrame(rows)
        index.to_csv(tree / "patterns.csv", index=False)
    return index


def write_scan(
    out: str | Path,
    map_shape: tuple[int, int] = (20, 30),
    n_grains: int = 6,
    precipitate_fraction: float = 0.2,
    detector: Detector = Detector(),
    *,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """The book's simulated dual-phase Ni–Al sample (Ni(Al) matrix, Ni3Al precipitates) as a scan file that
    kikuchipy reads (``.h5``: kikuchipy's h5ebsd, with the detector's pattern centre and tilts), with its ground
    truth as ``<stem>_truth.csv`` (row, col, true space group and orientation ``qa, qb, qc, qd`` in kikuchipy's
    convention). Returns the scan's path.

    Parameters
    ----------
    out
        Path of the scan file, ending in ``.h5``, ``.hdf5`` or ``.h5ebsd``; the truth goes beside it as
        ``<stem>_truth.csv``. Both files are written beside their place and renamed into it when both are
        complete.
    map_shape
        Map (rows, cols) in patterns (default (20, 30)).
    n_grains
        Grains of the Ni(Al) matrix (default 6).
    precipitate_fraction
        Area share of the map covered by Ni3Al precipitates (default 0.2).
    detector
        The simulated detector, geometry and detector model (:class:`~ebsdlib.simulation.patterns.Detector`);
        default ``Detector()``, the book's 120 × 146 px detector at 20 kV. As in
        :func:`~ebsdlib.simulation.sample.simulate_dual_phase_map`, boundary pixels record overlaps.
    seed
        Seed of the microstructure and of the patterns (default 0).
    overwrite
        Replace an existing scan or truth file (default ``False``: refuse, before any work). When anything
        fails, the existing files stay as they were.

    Returns
    -------
    pathlib.Path
        The scan's path, ``out``.

    Examples
    --------
    >>> import tempfile, os
    >>> from ebsdlib.io.readers import load_pattern_file
    >>> from ebsdlib.simulation.patterns import Detector, DetectorGeometry
    >>> path = write_scan(os.path.join(tempfile.mkdtemp(), "scan.h5"), (2, 3), 1, 0.3, Detector(DetectorGeometry(shape=(30, 36))))
    >>> scan = load_pattern_file(path)
    >>> scan.map_shape, scan.pattern_shape
    ((2, 3), (30, 36))
    """
    import kikuchipy as kp

    out = Path(out)
    if out.suffix.lower() not in (".h5", ".hdf5", ".h5ebsd"):
        raise ValueError(f"{out}: a scan is written as kikuchipy's h5ebsd; name it *.h5")
    rows, cols = (int(s) for s in map_shape)
    if rows < 1 or cols < 1:
        raise ValueError(f"the map shape must be at least 1 × 1 patterns, not {rows} × {cols}")
    targets = {"scan": out, "truth": out.with_name(f"{out.stem}_truth.csv")}
    check_output_files(targets.values(), replace=overwrite)  # refused before the work, not after it
    micro, scan = simulate_dual_phase_map((rows, cols), n_grains, precipitate_fraction, detector, seed)
    signal = kp.signals.EBSD(np.asarray(scan.patterns, dtype=np.uint8).reshape(rows, cols, *scan.pattern_shape))
    signal.detector = detector.geometry.detector()  # the file carries its pattern centre and tilts, as a microscope's
    truth = pd.DataFrame(
        {
            "row": np.repeat(np.arange(rows), cols),
            "col": np.tile(np.arange(cols), rows),
            "space_group": micro.space_group.ravel(),
            **{c: micro.quaternions[:, i] for i, c in enumerate(("qa", "qb", "qc", "qd"))},
        }
    )

    def write(paths):
        signal.save(paths["scan"])
        truth.to_csv(paths["truth"], index=False)

    publish_files(targets, write, replace=overwrite)
    return out
