"""How ebsdsim computes each material's dynamical master pattern: the settings (beams, Bethe cutoffs, energy bins,
share of the energy distribution) and the materials that need other settings than the defaults.

Every cached result that can be made from dynamical master patterns (data sets, the sample's map and its phase
boundaries, the randomised acquisition, the ideal observer, the source task) lists this module beside
:mod:`ebsdlib.simulation.dynamical` in what its key depends on, with the shipped files' ``manifest.yml``: a change
of a material's settings, or a master pattern shipped anew, computes them again. The key sees this module's code,
not settings changed while a program runs (:func:`settings_for`).
"""

from __future__ import annotations

import contextlib
import dataclasses

from ebsdlib.crystal.materials import Material

__all__ = [
    "DynamicalSettings",
    "MATERIAL_SETTINGS",
    "DYNAMICAL_MODULES",
    "SHIPPED_MANIFEST",
    "dynamical_settings",
    "settings_for",
]

#: What a cached result made from dynamical master patterns is keyed on besides its arguments: the code that makes
#: and reads them (``depends_on``) and the shipped files' manifest (``data_files``).
DYNAMICAL_MODULES = ("simulation.dynamical", "simulation.dynamical_settings")
SHIPPED_MANIFEST = "master_patterns/manifest.yml"


@dataclasses.dataclass(frozen=True)
class DynamicalSettings:
    """How ebsdsim computes a material's master pattern.

    Parameters
    ----------
    min_dspacing
        Smallest interplanar spacing of the beams in Å (default 0.7, as the kinematical reflector list).
    bethe
        ebsdsim's Bethe-perturbation cutoffs (strong, weak, cutoff); default (20, 40, 200), ebsdsim's own.
        EMsoft's are (4, 8, 50).
    energy_bin
        Width of the energy bins in keV (default 1).
    energy_share
        Share of the backscattered electrons' energy distribution the integration covers, from the beam energy
        down (ebsdsim's ``marginal_coverage``; default 1: every bin until ebsdsim's 1 % stop rule ends it).
    reason
        Why a material departs from the defaults (measured), shown where the master patterns are listed.
    """

    min_dspacing: float = 0.7
    bethe: tuple[float, float, float] = (20.0, 40.0, 200.0)
    energy_bin: float = 1.0
    energy_share: float = 1.0
    reason: str = ""


#: Materials whose master pattern the defaults cannot compute, with the settings that compute it. Al4Ni3 and its
#: isotype Al4CoNi2 (Ia-3d, 112 atoms a cell): at 0.7 Å ebsdsim's CPU solver returned non-finite intensities
#: (with EMsoft's Bethe cutoffs and with its own), at 0.85 and 1.0 Å with its own cutoffs too; 1.0 Å with
#: EMsoft's cutoffs computes. 2-keV energy bins halve the cost: on Ni they changed the detector patterns by
#: nothing that counts (Pearson r 0.9995 with 1-keV bins, 100 random orientations). The price, measured on Ni
#: against EMsoft's dynamical Ni (201 px): r 0.81 at these settings against 0.88 at the defaults and 0.57 for
#: the kinematical master pattern, both on the master patterns and on detector patterns of 100 orientations;
#: chapter 1 measures it in every build (:func:`ebsdlib.studies.physics.nickel_against_emsoft`).
#: Al4Ni3 computed at these settings in 1,740 s (6 energy bins, 20 → 10 kV, on 2 AVX2 EPYC cores, partly beside
#: other work). Al4CoNi2 did not: the image kept changing by more than ebsdsim's 1 % stop rule down to 8 kV, and
#: the bin at 6 kV returned non-finite intensities after 2,868 s. Its integration therefore ends at 90 % of the
#: energy distribution, which ebsdsim reaches with the 8-kV bin (seven bins, 20 → 8 kV, 92.4 % of the weight):
#: computed in 2,344 s (2 AVX2 EPYC cores, partly beside tests); its master pattern keeps the cubic symmetry
#: (r = 1.000 with its transpose and its mirror) and correlates with Al4Ni3's at r = 0.99, with its kinematical
#: one at 0.31 (Al4Ni3: 0.30). On Ni, ending at 90 % changes nothing measurable: the master pattern at these
#: settings is Al4Ni3's to r = 1.000 (largest difference 6e-8 of its range).
_LARGE_CELL = DynamicalSettings(
    min_dspacing=1.0,
    bethe=(4.0, 8.0, 50.0),
    energy_bin=2.0,
    reason="112 atoms a cell: non-finite intensities at 0.7 Å; 1.0 Å with EMsoft's Bethe cutoffs",
)
MATERIAL_SETTINGS = {
    "Al4Ni3": _LARGE_CELL,
    "Al4CoNi2": dataclasses.replace(
        _LARGE_CELL,
        energy_share=0.9,
        reason="Al4Ni3's isotype, whose 6-kV energy bin is non-finite even at those settings",
    ),
}


def dynamical_settings(material: Material) -> DynamicalSettings:
    """The settings ebsdsim computes ``material``'s master pattern with: :data:`MATERIAL_SETTINGS`' entry for
    its name, else the defaults."""
    return MATERIAL_SETTINGS.get(material.name, DynamicalSettings())


@contextlib.contextmanager
def settings_for(materials, settings: DynamicalSettings):
    """Compute the dynamical master patterns of ``materials`` at ``settings`` inside the ``with`` block (a
    user's large cell, for instance: ``ebsdlib simulate --min-dspacing``); a shipped file made at other settings
    is then not used. The settings each material had before are restored on leaving. Cached results are keyed
    on the settings this module gives, not these: inside the block, compute patterns with uncached functions
    (:func:`ebsdlib.simulation.patterns.simulate_patterns`, as ``ebsdlib simulate`` does)."""
    before = dict(MATERIAL_SETTINGS)
    MATERIAL_SETTINGS.update(dict.fromkeys((m.name for m in materials), settings))
    try:
        yield
    finally:  # the same entries in the same order
        MATERIAL_SETTINGS.clear()
        MATERIAL_SETTINGS.update(before)
