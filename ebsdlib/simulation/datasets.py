"""Simulated data sets: the training materials' patterns, split by the paper's protocol, cached."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from tqdm import tqdm

from ebsdlib.cache import cached
from ebsdlib.crystal.materials import Material, training_materials
from ebsdlib.datasets.container import PatternDataset, SplitCounts, assign_split, patterns_per_material
from ebsdlib.simulation.dynamical_settings import DYNAMICAL_MODULES, SHIPPED_MANIFEST
from ebsdlib.simulation.patterns import Detector, simulate_patterns, simulated_detector

__all__ = ["simulate_dataset", "simulated_book_dataset"]


@cached(
    depends_on=[
        "crystal.materials",
        "simulation.patterns",
        "datasets.container",
        *DYNAMICAL_MODULES,
    ],
    data_files=[SHIPPED_MANIFEST],
)
def _simulate_dataset(materials: tuple[Material, ...], counts: SplitCounts, detector: Detector, seed: int) -> PatternDataset:
    per_material = patterns_per_material(materials, counts)
    patterns, tables = [], []
    start = time.perf_counter()
    for m in tqdm(materials, desc="simulating materials", unit="material", leave=False, disable=None):
        p, t = simulate_patterns(m, per_material[m.name], detector, seed=seed)
        patterns.append(p)
        tables.append(t)
    seconds = time.perf_counter() - start
    table = pd.concat(tables, ignore_index=True)
    table["split"] = assign_split(table, counts, seed)
    meta = {
        "source": "simulated",
        "seed": seed,
        "geometry": detector.geometry.__dict__.copy(),
        "detector_model": detector.detector_model.as_dict(),
        "simulation_seconds": seconds,
        "patterns_per_second": len(table) / seconds,
    }
    return PatternDataset(np.concatenate(patterns), table, meta)


def simulate_dataset(
    counts: SplitCounts = SplitCounts(),
    detector: Detector = Detector(),
    seed: int = 0,
    materials: list[Material] | None = None,
) -> PatternDataset:
    """The simulated training data set, split by the paper's protocol; cached by its parameters.

    For each material, its share of ``counts.train_per_space_group`` and ``counts.val_per_space_group`` plus
    ``counts.test_per_material`` patterns are simulated. A second call with the same parameters reads the cache.

    Parameters
    ----------
    counts
        Patterns per split (:class:`~ebsdlib.datasets.container.SplitCounts`); default ``SplitCounts()``, the
        paper's 400 training and 100 validation patterns per space group, and 100 test patterns per material.
    detector
        The simulated detector, geometry and detector model (:class:`~ebsdlib.simulation.patterns.Detector`);
        default ``Detector()``, the book's 120 × 146 px detector at 20 kV.
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

    Examples
    --------
    >>> from ebsdlib.crystal.materials import load_materials
    >>> from ebsdlib.simulation.patterns import DetectorGeometry
    >>> data = simulate_dataset(
    ...     SplitCounts(2, 1, 1), Detector(DetectorGeometry(shape=(20, 24), master_pattern_half_size=30)),
    ...     materials=[load_materials()["Ni"], load_materials()["Si"]],
    ... )
    >>> data.table.groupby(["material", "split"]).size().to_dict()
    {('Ni', 'test'): 1, ('Ni', 'train'): 2, ('Ni', 'validation'): 1, ('Si', 'test'): 1, ('Si', 'train'): 2, ('Si', 'validation'): 1}
    """
    materials = tuple(training_materials() if materials is None else materials)
    return _simulate_dataset(materials, counts, detector, int(seed))


simulate_dataset.is_cached = lambda counts=SplitCounts(), detector=Detector(), seed=0, materials=None: (
    _simulate_dataset.is_cached(tuple(materials or training_materials()), counts, detector, int(seed))
)


def simulated_book_dataset(settings: dict) -> tuple[PatternDataset, Detector]:
    """The book's data set of a profile: simulated on the profile's detector with its split counts.

    Every chapter calls this with the profile's shared settings, so all chapters share one cached data set.

    Parameters
    ----------
    settings
        A profile's shared settings (:func:`ebsdlib.settings.shared_settings`), of which ``seed``, the
        detector's (:func:`~ebsdlib.simulation.patterns.simulated_detector`) and the split counts
        (:meth:`~ebsdlib.datasets.container.SplitCounts.from_settings`) are read.

    Returns
    -------
    dataset
        The simulated data set of the 18 training materials (:func:`simulate_dataset`).
    detector
        The detector it was simulated on.
    """
    detector = simulated_detector(settings)
    dataset = simulate_dataset(SplitCounts.from_settings(settings), detector, int(settings["seed"]))
    return dataset, detector
