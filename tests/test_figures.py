"""Figures are glued and shown once, as numbered figures with captions."""

import re

import matplotlib.pyplot as plt
import nbformat

from ebsdlib.paths import BOOK_DIR
from ebsdlib.plotting import glue_figure


def test_glue_figure_closes_the_figure_so_it_shows_only_where_it_is_pasted():
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    glue_figure("fig_test", fig)
    assert fig.number not in plt.get_fignums()


def test_every_figure_of_the_book_is_glued_once_and_pasted_once_with_a_caption():
    for path in sorted(BOOK_DIR.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        glued = re.findall(r'glue_figure\(f?"([^"]+)"', code)
        pasted = re.findall(r"```\{glue:figure\} (\S+)\n:name: (\S+)\n\n(.+?)\n```", text, flags=re.S)
        names = {name for name, _, _ in pasted}
        for name in glued:
            if "{arm}" in name:
                assert {name.replace("{arm}", arm) for arm in ("scratch", "transfer")} <= names, (path.name, name)
            else:
                assert name in names, f"{path.name}: figure {name} is glued but never shown"
        assert len(names) == len(pasted), f"{path.name}: a figure pasted twice"
        assert all(caption.strip() for _, _, caption in pasted), f"{path.name}: a figure without caption"
        plotting_calls = [c for c in re.findall(r"^ *(?:\w+ = )?(\w+_figure|pattern_grid|\w+_heatmaps?)\(", code, flags=re.M) if c != "glue_figure"]
        assert not plotting_calls, f"{path.name}: {plotting_calls} shown in place, without number or caption"
