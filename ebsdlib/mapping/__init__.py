"""A user's own data: train a model bundle on their labelled patterns, classify the patterns of their scan
(streaming, ensembles, dask.distributed), and index the dual-phase map with Hough (PyEBSDIndex)."""

from .classify import ScanResult, classify_scan, score_against_truth
from .hough import hough_phase_map, index_with_hough, map_scores
from .usermodel import train_bundle

__all__ = [
    "train_bundle",
    "classify_scan",
    "ScanResult",
    "score_against_truth",
    "hough_phase_map",
    "index_with_hough",
    "map_scores",
]
