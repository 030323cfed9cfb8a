"""ebsdlib: few-shot classification of EBSD patterns to space groups (Kaufmann et al., Sci. Rep. 2021).

One module per stage; data flows one way:
materials -> simulate -> datasets -> preprocess -> models -> training -> evaluation.
"""

import os
import sys

__version__ = "0.1.0"

from .quiet import import_tensorflow_quietly  # noqa: E402

if "ipykernel" in sys.modules:  # executed chapters: keep TensorFlow's start-up noise off the pages
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import_tensorflow_quietly()
