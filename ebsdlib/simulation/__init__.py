"""Simulated EBSD patterns: kinematical master patterns projected onto a detector and recorded through a
detector model; the training data sets, acquisition-randomised data, generated phases, the dual-phase sample
and other pattern sources (kikuchipy's recorded and EMsoft's dynamical nickel)."""

from .datasets import simulate_dataset
from .pattern_sources import other_pattern_sources
from .patterns import Detector, DetectorGeometry, DetectorModel, master_pattern, simulate_patterns, simulated_detector
from .randomise import AcquisitionRanges, randomised_dataset
from .sample import simulate_dual_phase_map

__all__ = [
    "Detector",
    "DetectorGeometry",
    "DetectorModel",
    "master_pattern",
    "simulate_patterns",
    "simulated_detector",
    "simulate_dataset",
    "AcquisitionRanges",
    "randomised_dataset",
    "simulate_dual_phase_map",
    "other_pattern_sources",
]
