"""Sentences the chapters glue from measured values."""

from dataclasses import replace

import pandas as pd

from ebsdlib.book.prose import settings_findings
from ebsdlib.simulation.dynamical import DynamicalSettings


def test_settings_findings_names_the_materials_their_settings_and_the_measured_price():
    coarse = DynamicalSettings(min_dspacing=1.0, bethe=(4.0, 8.0, 50.0), energy_bin=2.0, reason="too many atoms")
    settings = {"Al4Ni3": coarse, "Al4CoNi2": coarse}
    correlations = pd.Series({"ebsdsim (dynamical)": 0.878, "ebsdsim at Al4CoNi2 and Al4Ni3's settings": 0.806})
    text = settings_findings(correlations, settings)
    assert text.startswith("Al4CoNi2 and Al4Ni3 are computed at other settings than the rest: beams down to 1 Å")
    assert "Bethe cutoffs 4/8/50, 2-keV energy bins (too many atoms)" in text
    assert "r = 0.81, against 0.88 at the defaults: a coarser likeness" in text and "these materials" in text
    better = pd.Series({"ebsdsim (dynamical)": 0.8, "ebsdsim at Al4Ni3's settings": 0.85})
    alone = settings_findings(better, {"Al4Ni3": coarse})
    assert alone.startswith("Al4Ni3 is computed") and "no worse a likeness" in alone and "this material" in alone
    assert settings_findings(correlations, {}) == "Every master pattern is computed at the same settings."
    # where ebsdsim could not run, the sentence says it was not measured instead of giving a number
    unmeasured = settings_findings(correlations.drop("ebsdsim at Al4CoNi2 and Al4Ni3's settings"), settings)
    assert "not measured in this build: the dynamical simulator cannot run on this machine" in unmeasured
    assert "r = " not in unmeasured
    # a material integrated over part of the energy distribution says so, in its own group, with its own price
    short = replace(coarse, energy_share=0.9, reason="its low energies fail")
    both = pd.Series(
        {"ebsdsim (dynamical)": 0.878, "ebsdsim at Al4Ni3's settings": 0.806, "ebsdsim at Al4CoNi2's settings": 0.754}
    )
    two = settings_findings(both, {"Al4Ni3": coarse, "Al4CoNi2": short})
    assert "Al4Ni3 is computed at other settings than the rest" in two
    assert "Al4CoNi2 is computed at Al4Ni3's settings with energies down to 90% of their distribution only (its low" in two
    assert two.count("energies down to") == 1 and two.count("Bethe cutoffs") == 1
    assert "r = 0.81" in two and "r = 0.75" in two
    # alone, or beside settings that differ in more than the share, a short integration lists every setting
    other = replace(short, min_dspacing=1.2)
    apart = settings_findings(both, {"Al4Ni3": coarse, "Al4CoNi2": other})
    assert apart.count("Bethe cutoffs") == 2 and "2-keV energy bins, energies down to 90% of their distribution" in apart
    # neither measured: said once
    neither = settings_findings(both[["ebsdsim (dynamical)"]], {"Al4Ni3": coarse, "Al4CoNi2": short})
    assert neither.count("not measured in this build") == 1 and "r = " not in neither
