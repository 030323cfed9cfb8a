"""ebsdlib: few-shot classification of EBSD patterns to space groups (Kaufmann et al., Sci. Rep. 2021).

The subpackages stack in the order the data flows, each importing only those before it:

``crystal`` (materials, space groups, CIFs) -> ``datasets`` (the container and the paper's split) ->
``simulation`` (master patterns, detector, data sets, the dual-phase sample) -> ``io`` (readers, scans,
bundles, writers) -> ``learn`` (networks, training, source task, student) -> ``evaluate`` (metrics, filters,
SHAP, figures) -> ``mapping`` (a user's model and scan, Hough) -> ``studies`` (few-shot, generalisation,
separability) -> ``book`` (chapters, pipeline, claims) -> ``bench`` -> ``cli``.

Beside them, what every layer may use: ``paths``, ``cache``, ``outputs`` (files a command may replace),
``settings`` (shared settings, profiles, the table of contents), ``preprocess`` (resize, normalise, the canonical
view) and ``quiet`` (TensorFlow without its noise).
"""

import os
import sys

__version__ = "0.1.0"

from ebsdlib.quiet import import_tensorflow_quietly  # noqa: E402

if "ipykernel" in sys.modules:  # executed chapters: keep TensorFlow's start-up noise off the pages
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import_tensorflow_quietly()
