"""Simulated data sets: the training materials' patterns, split by the paper's protocol, cached."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from tqdm import tqdm

from ebsdlib.cache import cached
from ebsdlib.crystal.materials import Material, training_materials
from ebsdlib.datasets.container import PatternDataset, assign_split, patterns_per_material
from ebsdlib.simulation.patterns import DetectorGeometry, DetectorModel, simulate_patterns

__all__ = ["simulate_dataset", "simulated_book_dataset"]


@cached(depends_on=["crystal.materials", "simulation.patterns"])
def _simulate_dataset(
    materials: tuple[Material, ...],
    train_per_space_group: int,
    val_per_space_group: int,
    test_per_material: int,
    geometry: DetectorGeometry,
    detector_model: DetectorModel,
    seed: int,
) -> PatternDataset:
    per_material = patterns_per_material(materials, train_per_space_group, val_per_space_group, test_per_material)
    patterns, tables = [], []
    start = time.perf_counter()
    for m in tqdm(materials, desc="simulating materials", unit="material", leave=False, disable=None):
        p, t = simulate_patterns(m, per_material[m.name], geometry, detector_model, seed=seed)
        patterns.append(p)
        tables.append(t)
    seconds = time.perf_counter() - start
    table = pd.concat(tables, ignore_index=True)
    table["split"] = assign_split(table, train_per_space_group, val_per_space_group, test_per_material, seed)
    meta = {
        "source": "simulated",
        "seed": seed,
        "geometry": geometry.__dict__.copy(),
        "detector_model": detector_model.as_dict(),
        "simulation_seconds": seconds,
        "patterns_per_second": len(table) / seconds,
    }
    return PatternDataset(np.concatenate(patterns), table, meta)


def simulate_dataset(
    train_per_space_group: int = 400,
    val_per_space_group: int = 100,
    test_per_material: int = 100,
    geometry: DetectorGeometry = DetectorGeometry(),
    detector_model: DetectorModel = DetectorModel(),
    seed: int = 0,
    materials: list[Material] | None = None,
) -> PatternDataset:
    """The simulated training data set, split by the paper's protocol; cached by its parameters.

    For each material, its share of ``train_per_space_group`` and ``val_per_space_group`` plus
    ``test_per_material`` patterns are simulated. A second call with the same parameters reads the cache.

    Parameters
    ----------
    train_per_space_group
        Training patterns per space group, divided evenly over the group's materials (default 400, the
        paper's).
    val_per_space_group
        Validation patterns per space group, divided in the same way (default 100, the paper's).
    test_per_material
        Test patterns per material (default 100).
    geometry
        The simulated detector (shape, pattern centre, tilts, beam energy, master-pattern size), a
        :class:`~ebsdlib.simulation.patterns.DetectorGeometry`; default ``DetectorGeometry()``, the book's
        120 × 146 px detector at 20 kV.
    detector_model
        How the detector records the patterns (dose, contrast, background, blur, pattern-centre jitter,
        background correction, share and kinds of degraded patterns), a
        :class:`~ebsdlib.simulation.patterns.DetectorModel`; default ``DetectorModel()``, the book's.
    seed
        Seed of every material's patterns (combined with its name,
        :func:`~ebsdlib.simulation.patterns.material_seed`) and of the split (default 0).
    materials
        The materials to simulate; default ``None``: the paper's 18 training materials
        (:func:`~ebsdlib.crystal.materials.training_materials`).

    Returns
    -------
    PatternDataset
        uint8 patterns (n, rows, cols), material by material; the table of
        :func:`~ebsdlib.simulation.patterns.simulate_patterns` (orientation, pattern centre, quality) with
        ``split`` and ``pattern_id``; ``meta`` records the seed, geometry, detector model and simulation time.
    """
    materials = tuple(training_materials() if materials is None else materials)
    return _simulate_dataset(
        materials,
        int(train_per_space_group),
        int(val_per_space_group),
        int(test_per_material),
        geometry,
        detector_model,
        int(seed),
    )


simulate_dataset.is_cached = lambda *a, **k: _simulate_dataset.is_cached(
    tuple(k.pop("materials", None) or training_materials()), *a, **k
)


def simulated_book_dataset(
    seed: int = 0,
    detector_shape=(120, 146),
    pattern_center=(0.50, 0.27, 0.60),
    train_per_space_group: int = 400,
    val_per_space_group: int = 100,
    test_per_material: int = 100,
    dose: float = 150.0,
    contrast: float = 0.2,
    blur_sigma: float = 0.7,
    pc_jitter: float = 0.004,
    degraded_fraction: float = 0.1,
) -> tuple[PatternDataset, DetectorGeometry, DetectorModel]:
    """The book's data set from a chapter's parameters: (data set, detector geometry, detector model).

    Every chapter calls this with the profile's shared parameters, so all chapters share one cached
    data set.
    """
    geometry = DetectorGeometry(shape=tuple(int(s) for s in detector_shape), pc=tuple(float(p) for p in pattern_center))
    model = DetectorModel(
        dose=float(dose),
        contrast=float(contrast),
        blur_sigma=float(blur_sigma),
        pc_jitter=float(pc_jitter),
        degraded_fraction=float(degraded_fraction),
    )
    dataset = simulate_dataset(train_per_space_group, val_per_space_group, test_per_material, geometry, model, seed)
    return dataset, geometry, model
