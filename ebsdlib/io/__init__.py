"""Files in and out: real patterns (a labelled folder tree, any file kikuchipy reads), scans streamed chunk by
chunk, model bundles, and the simulated patterns and scans written as a microscope would."""

from .bundle import BundleError, ModelBundle, read_bundle, write_bundle
from .export import write_pattern_tree, write_scan
from .readers import load_folder_tree, load_pattern_file
from .scans import Scan, ScanError, open_scan

__all__ = [
    "load_folder_tree",
    "load_pattern_file",
    "Scan",
    "ScanError",
    "open_scan",
    "ModelBundle",
    "BundleError",
    "read_bundle",
    "write_bundle",
    "write_pattern_tree",
    "write_scan",
]
