"""The package's logger: long work reports its progress as lines on ``logging.getLogger("ebsdlib")``.

Every module logs to its own child logger (``ebsdlib.learn.training``, ``ebsdlib.book.pipeline``, ...), at
INFO for a progress line; bars are tqdm's. As a library, ebsdlib shows nothing until its user asks: the
command line and the book's chapters call :func:`show_progress`; a program that uses ebsdlib calls it too, or
configures :mod:`logging` as usual (for example ``logging.basicConfig(level=logging.INFO)``).
"""

from __future__ import annotations

import contextlib
import logging
import sys

__all__ = ["LOGGER_NAME", "show_progress", "progress_lines"]

#: The package logger's name; modules log to its children, ``ebsdlib.<module>``.
LOGGER_NAME = "ebsdlib"


class _StdoutHandler(logging.StreamHandler):
    """A handler that writes to whatever ``sys.stdout`` is when a line is logged (a notebook's, a test's
    captured output), not to the stream that was current when it was made."""

    def __init__(self):
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):  # StreamHandler.__init__ sets it; the property always answers sys.stdout
        pass


def show_progress(level: int = logging.INFO) -> logging.Handler:
    """Print the package's progress lines (``level`` and above) as plain lines on standard output.

    Calling it again changes the level and adds no second handler.

    Parameters
    ----------
    level
        The least important lines shown (default ``logging.INFO``: progress lines and warnings).

    Returns
    -------
    logging.Handler
        The handler on the ``ebsdlib`` logger.

    For a while only (a command, a test), use :func:`progress_lines`.
    """
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    for handler in logger.handlers:
        if isinstance(handler, _StdoutHandler):
            return handler
    handler = _StdoutHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    return handler


@contextlib.contextmanager
def progress_lines(level: int = logging.INFO):
    """Show the package's progress lines on standard output while the ``with`` block runs, then as before.

    Parameters
    ----------
    level
        The least important lines shown (default ``logging.INFO``).

    Examples
    --------
    >>> import logging
    >>> with progress_lines():
    ...     logging.getLogger("ebsdlib.example").info("epoch 1: loss 0.50")
    epoch 1: loss 0.50
    >>> logging.getLogger("ebsdlib.example").info("not shown")
    """
    logger = logging.getLogger(LOGGER_NAME)
    before = logger.level
    had = any(isinstance(h, _StdoutHandler) for h in logger.handlers)
    handler = show_progress(level)
    try:
        yield handler
    finally:
        logger.setLevel(before)
        if not had:
            logger.removeHandler(handler)
