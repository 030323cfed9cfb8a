"""TensorFlow without its noise: its native start-up lines kept off the terminal and the book's pages, its
Python logger quiet where a retrace is expected. Every module that needs TensorFlow quiet takes it from here."""

from __future__ import annotations

import contextlib
import os
import sys

__all__ = ["import_tensorflow_quietly", "quiet_tensorflow"]


def import_tensorflow_quietly() -> None:
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


@contextlib.contextmanager
def quiet_tensorflow():
    """TensorFlow's Python warnings (e.g. "triggered tf.function retracing", which a benchmark does on
    purpose before timing) silenced for the block."""
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)
