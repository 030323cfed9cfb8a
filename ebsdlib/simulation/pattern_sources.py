"""Pattern sources other than this project's kinematical simulator, for honest tests of generalisation.

A *pattern source* is where patterns come from (a simulator, a detector); it is not the *pretrained source*
of a transfer model's starting weights (:class:`ebsdlib.learn.models.PretrainedSource`). kikuchipy ships two
such pattern sources inside its package (no download):

``recorded_nickel``
    Nickel patterns recorded on a NORDIF detector (``kikuchipy.data.nickel_ebsd_small``: a 3 × 3 map of
    60 × 60 px patterns), with kikuchipy's static and dynamic background removal, as a user would export
    them.
``dynamical_nickel``
    Nickel patterns projected from a master pattern computed with dynamical diffraction theory by EMsoft
    (``kikuchipy.data.nickel_ebsd_master_pattern_small``, 20 kV), recorded through this project's
    detector model on a detector of the caller's choice.

PyEBSDIndex ships a third inside its tests (no download):

``dynamical_aluminium``
    One aluminium pattern (100 × 120 px, 20 kV, identity orientation, no noise) projected by kikuchipy from
    an EMsoft 4.3 dynamical master pattern (``pyebsdindex/tests/data/al_sim_20kv``).

All are face-centred cubic (space group 225): the share of patterns a classifier labels 225 is its
accuracy there, and the page shows what it answers instead, since a classifier that answers 225 for
everything would score 1.0.
"""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pandas as pd

from ebsdlib.cache import cached
from ebsdlib.datasets.container import PatternDataset
from ebsdlib.simulation.patterns import (
    Detector,
    DetectorGeometry,
    DetectorModel,
    apply_detector_model,
    material_seed,
    project_patterns,
    random_rotations,
)

__all__ = ["recorded_nickel", "dynamical_nickel", "dynamical_aluminium", "other_pattern_sources", "SOURCE_NOTES"]

SOURCE_NOTES = {
    "recorded Ni": "recorded on a NORDIF detector, 60 × 60 px, static and dynamic background removed (kikuchipy)",
    "dynamical Ni": "EMsoft dynamical master pattern (20 kV) projected on a square detector, this book's noise model",
    "dynamical Al": "one EMsoft 4.3 dynamical pattern (20 kV, 100 × 120 px, no noise) from PyEBSDIndex's tests",
}


def _kikuchipy():
    """kikuchipy, with its data module's downloader imported quietly: pooch imports ``tqdm.auto``, which
    warns on stderr inside a notebook without ipywidgets (nothing is downloaded here)."""
    import warnings

    from tqdm import TqdmWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        import kikuchipy as kp
        import pooch.downloaders  # noqa: F401
    return kp


def recorded_nickel() -> PatternDataset:
    """Kikuchipy's recorded Ni patterns, background-corrected as kikuchipy's tutorials do; labelled 225."""
    kp = _kikuchipy()

    signal = kp.data.nickel_ebsd_small()
    signal.remove_static_background(show_progressbar=False)
    signal.remove_dynamic_background(show_progressbar=False)
    data = np.asarray(signal.data).reshape(-1, *signal.axes_manager.signal_shape[::-1])
    table = pd.DataFrame(
        {"material": "Ni (recorded)", "space_group": 225, "split": "test", "source": "recorded Ni"}, index=range(len(data))
    )
    meta = {"source": "kikuchipy.data.nickel_ebsd_small", "notes": [SOURCE_NOTES["recorded Ni"]]}
    return PatternDataset(data, table, meta)


def dynamical_aluminium() -> PatternDataset:
    """PyEBSDIndex's dynamical Al pattern (EMsoft 4.3, 20 kV, 100 × 120 px, identity orientation, no noise),
    as the 8-bit image it ships; labelled 225.

    Raises
    ------
    FileNotFoundError
        When the installed PyEBSDIndex does not ship the pattern (its tests' data), naming the path looked for.
    """
    from importlib.resources import files

    from PIL import Image

    path = files("pyebsdindex") / "tests" / "data" / "al_sim_20kv" / "al_sim_20kv.png"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: PyEBSDIndex's dynamical Al pattern is not installed; install pyebsdindex as pinned in requirements.lock"
        )
    with Image.open(path) as image:
        data = np.asarray(image.convert("L"), dtype=np.uint8)[None]
    table = pd.DataFrame({"material": "Al (dynamical)", "space_group": 225, "split": "test", "source": "dynamical Al"}, index=[0])
    meta = {"source": "pyebsdindex/tests/data/al_sim_20kv/al_sim_20kv.png (EMsoft 4.3)", "notes": [SOURCE_NOTES["dynamical Al"]]}
    return PatternDataset(data, table, meta)


@cached(depends_on=["simulation.patterns", "simulation.dynamical"])
def _dynamical_nickel(n: int, detector: Detector, seed: int) -> PatternDataset:
    kp = _kikuchipy()
    detector_model = detector.detector_model

    mp = kp.data.nickel_ebsd_master_pattern_small(projection="lambert", hemisphere="both")
    geometry = replace(detector.geometry, energy=20.0)
    rng = np.random.default_rng(material_seed(seed, "Ni (dynamical)"))
    rotations = random_rotations(n, rng)
    clean = project_patterns(mp, rotations, geometry)
    recorded = apply_detector_model(clean, geometry, detector_model, rng)
    table = pd.DataFrame(
        {"material": "Ni (dynamical)", "space_group": 225, "split": "test", "source": "dynamical Ni"}, index=range(n)
    )
    meta = {
        "source": "kikuchipy.data.nickel_ebsd_master_pattern_small (EMsoft, dynamical)",
        "geometry": asdict(geometry),
        "detector_model": asdict(detector_model),
        "notes": [SOURCE_NOTES["dynamical Ni"]],
    }
    return PatternDataset(recorded, table, meta)


def dynamical_nickel(
    n: int,
    detector: Detector = Detector(DetectorGeometry(shape=(96, 96))),
    seed: int = 0,
) -> PatternDataset:
    """``n`` Ni patterns of random orientation from EMsoft's dynamical master pattern (20 kV, whatever
    ``detector.geometry.energy`` says) on ``detector``, recorded through its detector model without degraded
    patterns or pattern-centre jitter; cached."""
    if n < 1:
        raise ValueError(f"dynamical_nickel: n must be at least 1, got {n}")
    detector_model = replace(detector.detector_model, degraded_fraction=0.0, pc_jitter=0.0)
    return _dynamical_nickel(int(n), replace(detector, detector_model=detector_model), int(seed))


def other_pattern_sources(
    n_dynamical: int, detector_model: DetectorModel = DetectorModel(), seed: int = 0, shape: tuple[int, int] = (96, 96)
) -> dict[str, PatternDataset]:
    """The pattern sources this module offers, by name (see :data:`SOURCE_NOTES`).

    Parameters
    ----------
    n_dynamical
        Number of dynamical Ni patterns (at least 1).
    detector_model
        How the detector records the dynamical patterns (dose, contrast, background, blur, background
        correction), a :class:`~ebsdlib.simulation.patterns.DetectorModel`; default ``DetectorModel()``, the
        book's, used without degraded patterns or pattern-centre jitter. The recorded patterns are kikuchipy's
        as they are.
    seed
        Seed of the dynamical patterns' orientations and noise (default 0).
    shape
        Detector (rows, cols) in pixels of the dynamical patterns (default (96, 96)); the rest of the geometry
        is :class:`~ebsdlib.simulation.patterns.DetectorGeometry`'s default, at 20 kV.

    Returns
    -------
    dict[str, PatternDataset]
        ``"recorded Ni"`` (kikuchipy's nine recorded 60 × 60 px patterns), ``"dynamical Ni"``
        (``n_dynamical`` patterns) and ``"dynamical Al"`` (PyEBSDIndex's one pattern), every pattern labelled
        225 in the ``"test"`` split.
    """
    return {
        "recorded Ni": recorded_nickel(),
        "dynamical Ni": dynamical_nickel(n_dynamical, Detector(DetectorGeometry(shape=tuple(shape)), detector_model), seed),
        "dynamical Al": dynamical_aluminium(),
    }
