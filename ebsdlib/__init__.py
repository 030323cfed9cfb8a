"""ebsdlib: few-shot classification of EBSD patterns to space groups (Kaufmann et al., Sci. Rep. 2021).

One module per stage; data flows one way:
materials -> simulate -> datasets -> preprocess -> models -> training -> evaluation.
"""

import os
import sys

__version__ = "0.1.0"


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with file descriptor 2 closed for the moment.

    TensorFlow writes start-up lines from C++ (oneDNN, CUDA probing) to standard error before its log
    level applies; in a notebook kernel they would land on the book's pages. Python warnings and errors
    are unaffected after the import.
    """
    if "tensorflow" in sys.modules:
        return
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow

        tensorflow.get_logger().setLevel("ERROR")  # e.g. retracing notices when many models predict
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


if "ipykernel" in sys.modules:  # executed chapters: keep TensorFlow's start-up noise off the pages
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _import_tensorflow_quietly()
