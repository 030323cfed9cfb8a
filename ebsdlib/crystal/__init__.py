"""Crystals: the materials the book simulates (``ebsdlib/data/materials.yml``), their space groups, Wyckoff sites and
structure factors, and a user's phase read from a CIF."""

from .materials import (
    SPACE_GROUPS,
    Material,
    Site,
    dual_phase_materials,
    load_materials,
    material_from_cif,
    parse_space_group,
    space_group_symbol,
    training_materials,
)

__all__ = [
    "SPACE_GROUPS",
    "Material",
    "Site",
    "load_materials",
    "training_materials",
    "dual_phase_materials",
    "material_from_cif",
    "parse_space_group",
    "space_group_symbol",
]
