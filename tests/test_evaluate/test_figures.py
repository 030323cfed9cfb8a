"""Figures are glued and shown once, as numbered figures with captions."""

import re

import matplotlib.pyplot as plt
import nbformat

from ebsdlib.evaluate.plotting import glue_figure
from ebsdlib.paths import BOOK_DIR

PLOTTING = re.compile(r"\w+_figure|pattern_grid|\w+_heatmaps?")


def _shown_in_place(code: str) -> list[str]:
    """Plotting calls whose figure a cell shows where it stands: a statement that is the call itself (or
    assigns its result), not an argument of ``glue_figure``."""
    import ast

    calls = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, (ast.Expr, ast.Assign)) and isinstance(node.value, ast.Call):
            func = node.value.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name != "glue_figure" and PLOTTING.fullmatch(name):
                calls.append(name)
    return calls


def test_a_figure_shown_in_place_is_found_however_the_call_is_laid_out():
    assert _shown_in_place("fig = pattern_grid(x)\nconfusion_heatmaps(\n    a,\n)") == ["pattern_grid", "confusion_heatmaps"]
    assert _shown_in_place('glue_figure(\n    "fig_x",\n    confusion_heatmaps(a, b),\n)') == []


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
        glued = re.findall(r'glue_figure\(\s*f?"([^"]+)"', code)
        pasted = re.findall(r"```\{glue:figure\} (\S+)\n:name: (\S+)\n\n(.+?)\n```", text, flags=re.S)
        names = {name for name, _, _ in pasted}
        for name in glued:
            if "{approach}" in name:
                assert {name.replace("{approach}", approach) for approach in ("scratch", "transfer")} <= names, (path.name, name)
            else:
                assert name in names, f"{path.name}: figure {name} is glued but never shown"
        assert len(names) == len(pasted), f"{path.name}: a figure pasted twice"
        assert all(caption.strip() for _, _, caption in pasted), f"{path.name}: a figure without caption"
        plotting_calls = _shown_in_place(code)
        assert not plotting_calls, f"{path.name}: {plotting_calls} shown in place, without number or caption"
