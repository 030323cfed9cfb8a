"""The paper's reported numbers (``ebsdlib/data/paper.yml``), for tables that show them beside ours."""

from __future__ import annotations

from functools import lru_cache

import yaml

from ebsdlib.paths import DATA_DIR

__all__ = ["paper_values", "paper_substitutions"]


@lru_cache(maxsize=1)
def paper_values() -> dict:
    """Everything Kaufmann et al. (2021) report that the book compares with, as a nested dict."""
    return yaml.safe_load((DATA_DIR / "paper.yml").read_text())


def paper_substitutions() -> dict[str, str]:
    """The paper's protocol and headline numbers as MyST substitutions (``{{ paper_<name> }}`` on the book's
    Markdown pages), so that no page types a number of the paper by hand.

    Examples
    --------
    >>> subs = paper_substitutions()
    >>> subs["paper_train_per_space_group"], subs["paper_materials"], subs["paper_image_size"]
    ('400', '18', '299')
    """
    p = paper_values()
    protocol, epochs = p["protocol"], p["training"]["epochs_to_converge"]
    return {
        "paper_materials": str(protocol["materials"]),
        "paper_space_groups": str(len(protocol["space_groups"])),
        "paper_train_per_space_group": str(protocol["train_per_space_group"]),
        "paper_val_per_space_group": str(protocol["val_per_space_group"]),
        "paper_image_size": str(protocol["image_size"]),
        "paper_trials": str(protocol["trials"]),
        "paper_patience": str(protocol["patience"]),
        "paper_scratch_epochs": f"{epochs['scratch']['mean']} ± {epochs['scratch']['std']}",
        "paper_transfer_epochs": f"{epochs['transfer']['mean']} ± {epochs['transfer']['std']}",
    }
