"""Figures of the book (matplotlib/seaborn). Functions return the figure; notebooks display it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .materials import space_group_latex

__all__ = ["pattern_grid", "reflection_heatmap", "detector_geometry_figure"]


def pattern_grid(patterns, titles=None, ncols: int = 6, size: float = 1.9, suptitle: str | None = None):
    """Patterns in a grid, grayscale, with titles."""
    patterns = np.asarray(patterns)
    n = len(patterns)
    nrows = int(np.ceil(n / ncols))
    aspect = patterns.shape[1] / patterns.shape[2]
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * aspect * nrows + 0.35 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[:n]):
        ax.imshow(patterns[i], cmap="gray")
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def reflection_heatmap(space_group_table: pd.DataFrame):
    """Heatmap of relative |F| per space group (rows) and {hkl} family (columns); absences marked 0."""
    fig, ax = plt.subplots(figsize=(0.5 * space_group_table.shape[1] + 2, 3.2))
    labels = [f"{sg} {space_group_latex(sg)}" for sg in space_group_table.index]
    sns.heatmap(
        space_group_table, ax=ax, cmap="viridis", vmin=0, vmax=1, annot=space_group_table.round(1),
        fmt="", annot_kws={"fontsize": 6}, cbar_kws={"label": "largest relative |F|"},
        yticklabels=labels, linewidths=0.3, linecolor="white",
    )
    ax.set_xlabel("{hkl} family")
    ax.set_ylabel("space group")
    fig.tight_layout()
    return fig


def detector_geometry_figure(geometry, pattern=None):
    """Side view of the acquisition geometry and the detector plane with the pattern centre."""
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
    # Side view: beam down the z axis, sample tilted by sample_tilt towards the detector.
    tilt = np.deg2rad(geometry.sample_tilt)
    ax0.plot([0, 0], [2.5, 0], color="tab:blue", lw=2, label="electron beam")
    ax0.plot([-1.2 * np.cos(tilt), 1.2 * np.cos(tilt)], [1.2 * np.sin(tilt), -1.2 * np.sin(tilt)], color="k", lw=4,
             label=f"sample, tilted {geometry.sample_tilt:g}°")
    dd = 2.0
    det_tilt = np.deg2rad(geometry.tilt)
    cx, cy = -dd, 0.3
    half = 1.3
    ax0.plot([cx - half * np.sin(det_tilt), cx + half * np.sin(det_tilt)], [cy - half * np.cos(det_tilt), cy + half * np.cos(det_tilt)],
             color="tab:green", lw=4, label=f"detector, tilted {geometry.tilt:g}°")
    ax0.annotate("", xy=(cx + 0.05, cy), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="tab:red"))
    ax0.text(-dd / 2, cy + 0.15, "to pattern centre", color="tab:red", ha="center", fontsize=8)
    ax0.set_aspect("equal")
    ax0.set_xlim(-3, 1.8)
    ax0.set_ylim(-1.6, 2.7)
    ax0.axis("off")
    ax0.legend(loc="lower right", fontsize=8)
    ax0.set_title("acquisition geometry (side view, schematic)")
    rows, cols = geometry.shape
    if pattern is not None:
        ax1.imshow(pattern, cmap="gray")
    ax1.plot(geometry.pc[0] * cols, geometry.pc[1] * rows, "r+", ms=14, mew=2, label="pattern centre")
    ax1.set_xlim(-0.5, cols - 0.5)
    ax1.set_ylim(rows - 0.5, -0.5)
    ax1.set_title(f"detector {rows} × {cols} px, PC = ({geometry.pc[0]:.2f}, {geometry.pc[1]:.2f}, {geometry.pc[2]:.2f})")
    ax1.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig
