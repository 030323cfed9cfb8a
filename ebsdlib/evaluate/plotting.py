"""Figures of the book (matplotlib/seaborn). Functions return the figure; notebooks glue it
(:func:`glue_figure`) and show it as a numbered figure with a caption (MyST-NB's ``glue:figure``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ebsdlib.crystal.materials import space_group_latex

__all__ = [
    "phase_maps_figure",
    "pattern_grid",
    "reflection_heatmap",
    "detector_geometry_figure",
    "training_curves_figure",
    "history_figure",
    "confusion_heatmaps",
    "per_material_figure",
    "kernel_pairs_figure",
    "distance_heatmap",
    "feature_maps_figure",
    "shap_figure",
    "shap_all_classes_figure",
    "phase_map_axes",
    "dual_phase_figure",
    "complete_map_figure",
    "uncertainty_figure",
    "kernel_movement_figure",
    "few_shot_figure",
    "input_size_figure",
    "generalisation_heatmap",
    "phase_examples_figure",
    "conditions_figure",
    "speed_figure",
    "glue_figure",
]


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
        space_group_table,
        ax=ax,
        cmap="viridis",
        vmin=0,
        vmax=1,
        annot=space_group_table.round(1),
        fmt="",
        annot_kws={"fontsize": 6},
        cbar_kws={"label": "largest relative |F|"},
        yticklabels=labels,
        linewidths=0.3,
        linecolor="white",
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
    ax0.plot(
        [-1.2 * np.cos(tilt), 1.2 * np.cos(tilt)],
        [1.2 * np.sin(tilt), -1.2 * np.sin(tilt)],
        color="k",
        lw=4,
        label=f"sample, tilted {geometry.sample_tilt:g}°",
    )
    dd = 2.0
    det_tilt = np.deg2rad(geometry.tilt)
    cx, cy = -dd, 0.3
    half = 1.3
    ax0.plot(
        [cx - half * np.sin(det_tilt), cx + half * np.sin(det_tilt)],
        [cy - half * np.cos(det_tilt), cy + half * np.cos(det_tilt)],
        color="tab:green",
        lw=4,
        label=f"detector, tilted {geometry.tilt:g}°",
    )
    ax0.annotate("", xy=(cx + 0.05, cy), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": "tab:red"})
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


def training_curves_figure(stats: pd.DataFrame):
    """The paper's Fig. 1: (a) scratch training and validation loss per epoch, mean ± 1 std over trials;
    (b) transfer on the same y axis as (a); (c) transfer on its own scale. The validation loss with Keras'
    own BatchNorm statistics (before recalibration) is drawn dotted where it differs."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    colours = {"loss": "tab:blue", "val_loss": "tab:orange", "val_loss_keras": "tab:gray"}
    labels = {"loss": "training", "val_loss": "validation", "val_loss_keras": "validation, Keras BN statistics"}

    def draw(ax, approach, with_keras):
        part = stats[stats["approach"] == approach]
        for col in ("loss", "val_loss") + (("val_loss_keras",) if with_keras else ()):
            if f"{col}_mean" not in part:
                continue
            mean, std = part[f"{col}_mean"], part[f"{col}_std"].fillna(0)
            ax.errorbar(
                part["epoch"],
                mean,
                yerr=std,
                color=colours[col],
                label=labels[col],
                capsize=2,
                marker="o",
                ms=3,
                lw=1,
                ls=":" if col == "val_loss_keras" else "-",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel("categorical cross-entropy")
        ax.legend(fontsize=8)

    draw(axes[0], "scratch", True)
    axes[0].set_title("(a) trained from scratch (grayscale)")
    draw(axes[1], "transfer", True)
    axes[1].set_ylim(axes[0].get_ylim())
    axes[1].set_title("(b) transfer learning (stacked), same scale as (a)")
    draw(axes[2], "transfer", False)
    axes[2].set_title("(c) transfer learning, own scale")
    fig.tight_layout()
    return fig


def history_figure(history: pd.DataFrame, title: str = ""):
    """Training and validation loss (and accuracy) per epoch of one trained model."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    for column, label in (("loss", "training"), ("val_loss", "validation")):
        left.plot(history["epoch"], history[column], marker="o", ms=3, label=label)
    left.set_xlabel("epoch")
    left.set_ylabel("categorical cross-entropy")
    left.legend(fontsize=8)
    for column, label in (("accuracy", "training"), ("val_accuracy", "validation")):
        right.plot(history["epoch"], history[column], marker="o", ms=3, label=label)
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy")
    right.set_ylim(0, 1.02)
    right.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def confusion_heatmaps(matrices: dict[str, pd.DataFrame]):
    """Row-normalised confusion matrices side by side (seaborn), space-group symbols on the axes."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(5.2 * len(matrices), 4.4), squeeze=False)
    for ax, (title, matrix) in zip(axes[0], matrices.items(), strict=False):
        labels = [space_group_latex(sg) for sg in matrix.index]
        sns.heatmap(
            matrix,
            ax=ax,
            annot=True,
            fmt=".2f",
            cmap="Blues",
            vmin=0,
            vmax=1,
            cbar=False,
            xticklabels=labels,
            yticklabels=labels,
            annot_kws={"fontsize": 8},
        )
        ax.set_xlabel("predicted space group")
        ax.set_ylabel("true space group")
        ax.set_title(title)
    fig.tight_layout()
    return fig


def per_material_figure(accuracy: pd.DataFrame):
    """Per-material test accuracy of each approach (columns of ``accuracy``), grouped by space group."""
    fig, ax = plt.subplots(figsize=(12, 3.6))
    accuracy.plot.bar(ax=ax, width=0.8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy")
    ax.set_xlabel("")
    ax.legend(title="approach", fontsize=8)
    fig.tight_layout()
    return fig


def _kernel_axes(ax, kernel, title=None):
    lim = np.abs(kernel).max() or 1
    ax.imshow(kernel, cmap="gray", vmin=-lim, vmax=lim)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def kernel_pairs_figure(scratch_kernels, transfer_kernels, pairs: pd.DataFrame, n: int = 4):
    """The paper's Fig. 2: the ``n`` most similar kernel pairs, scratch above transfer, most similar left."""
    fig, axes = plt.subplots(2, n, figsize=(2.2 * n, 4.6), squeeze=False)
    for col, (_, pair) in enumerate(pairs.head(n).iterrows()):
        _kernel_axes(
            axes[0, col], scratch_kernels[int(pair["scratch"])], f"scratch #{int(pair['scratch'])}\nd = {pair['distance']:.3f}"
        )
        _kernel_axes(axes[1, col], transfer_kernels[int(pair["transfer"])], f"transfer #{int(pair['transfer'])}")
    axes[0, 0].set_ylabel("scratch")
    axes[1, 0].set_ylabel("transfer\n(summed over channels)")
    fig.tight_layout()
    return fig


def distance_heatmap(distances: np.ndarray):
    """Euclidean distance between every scratch (rows) and transfer (columns) first-layer kernel."""
    fig, ax = plt.subplots(figsize=(7, 6))
    sns.heatmap(distances, ax=ax, cmap="viridis_r", cbar_kws={"label": "Euclidean distance"}, square=True)
    ax.set_xlabel("transfer kernel")
    ax.set_ylabel("scratch kernel")
    fig.tight_layout()
    return fig


def feature_maps_figure(inputs, maps, row_labels, kernel_labels):
    """The paper's Fig. 3: one input pattern per row with the feature maps of the chosen kernels."""
    n_rows, n_maps = maps.shape[0], maps.shape[-1]
    fig, axes = plt.subplots(n_rows, n_maps + 1, figsize=(1.9 * (n_maps + 1), 1.9 * n_rows), squeeze=False)
    for r in range(n_rows):
        axes[r, 0].imshow(inputs[r], cmap="gray")
        axes[r, 0].set_ylabel(row_labels[r], fontsize=9)
        for c in range(n_maps):
            axes[r, c + 1].imshow(maps[r, :, :, c], cmap="gray")
            if r == 0:
                axes[r, c + 1].set_title(kernel_labels[c], fontsize=9)
        if r == 0:
            axes[r, 0].set_title("input", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def _shap_axes(ax, pattern, values, vmax):
    import warnings

    with warnings.catch_warnings():  # shap imports tqdm.auto, which warns where no widgets are installed
        warnings.filterwarnings("ignore", message="IProgress not found")
        from shap.plots.colors import red_transparent_blue

    ax.imshow(pattern, cmap="gray", alpha=0.3)
    image = ax.imshow(values, cmap=red_transparent_blue, vmin=-vmax, vmax=vmax)
    ax.set_xticks([])
    ax.set_yticks([])
    return image


def shap_figure(inputs, values, outputs, true_labels, classes, title: str = ""):
    """The paper's Fig. 4: columns are the inputs (one per space group); rows: the input, the SHAP values
    for the correct class, and for the next most likely class; red raises, blue lowers the class
    probability; one symmetric colour scale over the semi-transparent pattern."""
    n = len(inputs)
    vmax = np.percentile(np.abs(values), 99.9)
    fig, axes = plt.subplots(3, n, figsize=(2.0 * n + 1, 6.6), squeeze=False, layout="constrained")
    image = None
    for j in range(n):
        true = classes.index(true_labels[j])
        ranked = [c for c in np.argsort(outputs[j])[::-1] if c != true]
        axes[0, j].imshow(inputs[j], cmap="gray")
        axes[0, j].set_xticks([])
        axes[0, j].set_yticks([])
        axes[0, j].set_title(space_group_latex(classes[true]), fontsize=10)
        image = _shap_axes(axes[1, j], inputs[j], values[j, :, :, true], vmax)
        axes[1, j].set_xlabel(f"{classes[true]}: p = {outputs[j, true]:.2f}", fontsize=8)
        image = _shap_axes(axes[2, j], inputs[j], values[j, :, :, ranked[0]], vmax)
        axes[2, j].set_xlabel(f"{classes[ranked[0]]}: p = {outputs[j, ranked[0]]:.2f}", fontsize=8)
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("correct class")
    axes[2, 0].set_ylabel("next most likely")
    fig.colorbar(image, ax=axes[1:, -1].tolist(), shrink=0.8, label="SHAP value")
    if title:
        fig.suptitle(title)
    return fig


def shap_all_classes_figure(inputs, values, outputs, classes, title: str = ""):
    """Supp. Fig. S3: for every input (rows), the SHAP values of all classes ordered from most to least
    likely."""
    n, k = len(inputs), len(classes)
    vmax = np.percentile(np.abs(values), 99.9)
    fig, axes = plt.subplots(n, k + 1, figsize=(1.7 * (k + 1) + 1, 1.8 * n), squeeze=False, layout="constrained")
    image = None
    for i in range(n):
        axes[i, 0].imshow(inputs[i], cmap="gray")
        axes[i, 0].set_xticks([])
        axes[i, 0].set_yticks([])
        for rank, c in enumerate(np.argsort(outputs[i])[::-1]):
            image = _shap_axes(axes[i, rank + 1], inputs[i], values[i, :, :, c], vmax)
            axes[i, rank + 1].set_title(f"{classes[c]} ({outputs[i, c]:.2f})", fontsize=8)
    fig.colorbar(image, ax=axes[:, -1].tolist(), shrink=0.6, label="SHAP value")
    if title:
        fig.suptitle(title)
    return fig


PHASE_COLOURS = {
    221: "tab:red",
    223: "tab:orange",
    225: "tab:blue",
    227: "tab:green",
    229: "tab:purple",
    230: "tab:brown",
    -1: "black",
    0: "gold",
}


def phase_map_axes(ax, labels, title: str, tie_label: str = "tie", none_label: str = "no answer"):
    """A categorical phase map: one colour per space group, black for no answer, gold for a tie."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    keys = [k for k in PHASE_COLOURS if (labels == k).any()]
    index = np.zeros(labels.shape, dtype=int)
    for i, k in enumerate(keys):
        index[labels == k] = i
    ax.imshow(
        index, cmap=ListedColormap([PHASE_COLOURS[k] for k in keys]), vmin=-0.5, vmax=len(keys) - 0.5, interpolation="nearest"
    )
    names = {-1: none_label, 0: tie_label}
    handles = [Patch(color=PHASE_COLOURS[k], label=names.get(k, str(k))) for k in keys]
    ax.legend(handles=handles, fontsize=7, loc="lower right", framealpha=0.8)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def complete_map_figure(panels: dict, direction: str = "z"):
    """Phase maps (top) and IPF maps (bottom) side by side, grain boundaries drawn in black on the IPF maps:
    ``panels`` maps a title to (labels (rows, cols), IPF colours (rows, cols, 3), boundaries (rows, cols) bool)."""
    n = len(panels)
    fig, axes = plt.subplots(2, n, figsize=(4.4 * n, 6.8), squeeze=False)
    for k, (title, (labels, colours, edges)) in enumerate(panels.items()):
        phase_map_axes(axes[0, k], labels, title, none_label="not indexed")
        shown = np.array(colours, dtype=float)
        shown[np.asarray(edges, dtype=bool)] = 0.0
        axes[1, k].imshow(shown, interpolation="nearest")
        axes[1, k].set_title(f"IPF-{direction.upper()}, grain boundaries (> 5°) black", fontsize=9)
        axes[1, k].set_xticks([])
        axes[1, k].set_yticks([])
    fig.tight_layout()
    return fig


def phase_maps_figure(maps: dict, truth, boundary):
    """Phase maps side by side (top) and, below each, its wrong pixels: red on the interior, orange on a grain or
    phase boundary, grey where right. ``maps`` maps a title to labels (rows, cols); ``truth`` and ``boundary``
    (bool) have the same shape; the first panel is the truth."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    truth, boundary = np.asarray(truth), np.asarray(boundary, dtype=bool)
    n = len(maps) + 1
    fig, axes = plt.subplots(2, n, figsize=(4.0 * n, 6.4), squeeze=False)
    phase_map_axes(axes[0, 0], truth, "ground truth")
    axes[1, 0].imshow(boundary, cmap=ListedColormap(["#f2f2f2", "#444444"]), vmin=0, vmax=1, interpolation="nearest")
    axes[1, 0].set_title("boundary pixels (dark)", fontsize=10)
    colours = ListedColormap(["#d9d9d9", "#d62728", "#ff9f1c"])
    for k, (title, labels) in enumerate(maps.items(), start=1):
        labels = np.asarray(labels).reshape(truth.shape)
        phase_map_axes(axes[0, k], labels, title)
        wrong = labels != truth
        code = np.where(wrong & ~boundary, 1, np.where(wrong & boundary, 2, 0))
        axes[1, k].imshow(code, cmap=colours, vmin=-0.5, vmax=2.5, interpolation="nearest")
        axes[1, k].set_title(f"wrong: {100 * wrong[~boundary].mean():.1f} % of interior pixels", fontsize=9)
    handles = [
        Patch(color=c, label=t) for c, t in zip(colours.colors, ("right", "wrong, interior", "wrong, boundary"), strict=True)
    ]
    axes[1, -1].legend(handles=handles, fontsize=7, loc="lower right", framealpha=0.8)
    for ax in axes[1]:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def dual_phase_figure(bse, hough_labels, ipf_rgb, truth, *, scratch_labels, eds, transfer_labels):
    """The paper's Fig. 5 panel plus the ground truth: BSE image, Hough phase map, IPF-Y / ground truth,
    scratch CNN map, Al EDS map, transfer CNN map."""
    fig, axes = plt.subplots(2, 4, figsize=(17, 6.6))
    axes[0, 0].imshow(bse, cmap="gray")
    axes[0, 0].set_title("backscattered electrons (simulated)", fontsize=10)
    phase_map_axes(axes[0, 1], hough_labels, "Hough (PyEBSDIndex)", tie_label="Ni or Ni3Al (tie)")
    axes[0, 2].imshow(ipf_rgb)
    axes[0, 2].set_title("IPF-Y (ground truth orientations)", fontsize=10)
    phase_map_axes(axes[0, 3], truth, "ground truth")
    phase_map_axes(axes[1, 0], scratch_labels, "CNN, trained from scratch")
    image = axes[1, 1].imshow(eds, cmap="magma")
    axes[1, 1].set_title("Al Kα counts (simulated EDS)", fontsize=10)
    fig.colorbar(image, ax=axes[1, 1], shrink=0.8)
    phase_map_axes(axes[1, 2], transfer_labels, "CNN, transfer learning")
    axes[1, 3].axis("off")
    for ax in (axes[0, 0], axes[0, 2], axes[1, 1]):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def uncertainty_figure(entropy, disagreement, curves: dict[str, pd.DataFrame]):
    """Ensemble uncertainty maps (entropy, vote disagreement) and accuracy against rejected share."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4))
    for ax, values, title in (
        (axes[0], entropy, "predictive entropy (transfer ensemble)"),
        (axes[1], disagreement, "vote disagreement (transfer ensemble)"),
    ):
        image = ax.imshow(values, cmap="viridis", vmin=0, vmax=1)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, shrink=0.8)
    for name, curve in curves.items():
        axes[2].plot(curve["rejected"], curve["accuracy of accepted"], marker="o", ms=3, label=name)
    axes[2].set_xlabel("share of pixels answered 'no solution'")
    axes[2].set_ylabel("accuracy of the answered pixels")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def kernel_movement_figure(movement: pd.DataFrame):
    """Histogram of how far fine-tuning moved each first-layer kernel, relative to its pretrained norm."""
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(movement["relative change"], bins=16)
    ax.set_xlabel("|after − before| / |before| per kernel")
    ax.set_ylabel("kernels")
    fig.tight_layout()
    return fig


APPROACH_COLOURS = {"scratch": "tab:blue", "transfer": "tab:red"}
#: Colours of the curves of chapter 7 (:func:`ebsdlib.studies.fewshot.curve_label`): transfer from ImageNet keeps
#: the transfer colour of every other figure; transfer from another pretrained source gets its own.
CURVE_COLOURS = {
    **APPROACH_COLOURS,
    "transfer (ImageNet)": "tab:red",
    "transfer (source task)": "tab:green",
    "transfer (weights file)": "tab:purple",
}


def _curves(summary: pd.DataFrame):
    """(label, rows) per curve of a curve summary: by ``curve`` where the summary has it, else by ``approach``."""
    return summary.groupby("curve" if "curve" in summary else "approach", sort=False)


def _curve_axes(ax, summary, by, metric, paper=None, mark=None):
    for approach, part in _curves(summary):
        part = part.sort_values(by)
        ax.errorbar(
            part[by],
            part[f"{metric}_mean"],
            yerr=part[f"{metric}_std"].fillna(0),
            marker="o",
            ms=4,
            capsize=3,
            color=CURVE_COLOURS.get(approach),
            label=f"{approach} (this build)",
        )
        if paper and approach in paper:
            ax.plot(
                [paper[approach][0]],
                [paper[approach][1]],
                marker="*",
                ms=13,
                ls="none",
                color=CURVE_COLOURS.get(approach),
                markeredgecolor="k",
                label=f"{approach} (the paper)",
            )
    if mark is not None:
        ax.axvline(mark, color="0.5", ls=":", lw=1, label="this build's setting")
    ax.set_ylabel(f"test {metric} (class-weighted)" if metric != "accuracy" else "test accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def few_shot_figure(summary: pd.DataFrame, metric: str = "precision", paper: dict | None = None, mark: int | None = None):
    """Test ``metric`` against training patterns per space group (log axis), mean ± 1 std over trials,
    per curve (approach and pretrained source); ``paper`` maps a curve's label -> (patterns per space group,
    value) drawn as stars; ``mark``
    the build's own count. Right: the cost of one trained model, CPU time (solid; all cores summed) and
    wall time (dashed; what counts on a GPU, where CPU time says little)."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    _curve_axes(axes[0], summary, "patterns_per_space_group", metric, paper, mark)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("training patterns per space group")
    for approach, part in _curves(summary):
        part = part.sort_values("patterns_per_space_group")
        x = part["patterns_per_space_group"]
        axes[1].plot(
            x,
            part["cpu_seconds"] / 60 / part["trials"],
            marker="o",
            color=CURVE_COLOURS.get(approach),
            label=f"{approach}, CPU",
        )
        axes[1].plot(
            x,
            part["train_seconds"] / 60 / part["trials"],
            marker="s",
            linestyle="--",
            color=CURVE_COLOURS.get(approach),
            label=f"{approach}, wall",
        )
    axes[1].set_xscale("log")
    axes[1].set_xlabel("training patterns per space group")
    axes[1].set_ylabel("minutes per trained model")
    axes[1].grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def input_size_figure(summary: pd.DataFrame, metric: str = "precision", paper: dict | None = None, mark: int | None = None):
    """Test ``metric`` against the CNN input size in pixels, mean ± 1 std over trials, per curve."""
    fig, ax = plt.subplots(figsize=(7, 4))
    _curve_axes(ax, summary, "image_size", metric, paper, mark)
    ax.set_xlabel("CNN input size (px)")
    fig.tight_layout()
    return fig


def generalisation_heatmap(rows: pd.DataFrame):
    """Accuracy per material (rows, by space group) and regime/approach (columns); blank where a regime
    did not test that material."""
    table = rows.assign(column=rows["regime"] + "\n" + rows["approach"]).pivot_table(
        index=["space_group", "material"], columns="column", values="accuracy", sort=False
    )
    table = table.sort_index(level=[0, 1])
    order = list(dict.fromkeys(rows["regime"] + "\n" + rows["approach"]))
    table = table[[c for c in order if c in table.columns]]
    fig, ax = plt.subplots(figsize=(1.15 * table.shape[1] + 3, 0.32 * table.shape[0] + 1.6))
    sns.heatmap(
        table,
        annot=True,
        fmt=".2f",
        vmin=0,
        vmax=1,
        cmap="viridis",
        cbar_kws={"label": "accuracy"},
        annot_kws={"fontsize": 7},
        ax=ax,
    )
    ax.set_yticklabels([f"{m} ({sg})" for sg, m in table.index], fontsize=8)
    ax.set_ylabel("")
    ax.set_xlabel("")
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return fig


def phase_examples_figure(examples: pd.DataFrame):
    """Generated phases: master pattern (upper hemisphere, Lambert projection) above one simulated pattern."""
    n = len(examples)
    fig, axes = plt.subplots(2, n, figsize=(2.1 * n, 4.4), squeeze=False)
    for i, row in enumerate(examples.itertuples()):
        axes[0, i].imshow(row.master_pattern, cmap="gray")
        axes[0, i].set_title(f"{row.formula} ({row.space_group})", fontsize=9)
        axes[1, i].imshow(row.pattern, cmap="gray")
        for ax in axes[:, i]:
            ax.axis("off")
    axes[0, 0].text(-0.08, 0.5, "master pattern", transform=axes[0, 0].transAxes, rotation=90, va="center", ha="right")
    axes[1, 0].text(-0.08, 0.5, "pattern", transform=axes[1, 0].transAxes, rotation=90, va="center", ha="right")
    fig.tight_layout()
    return fig


def conditions_figure(table: pd.DataFrame):
    """Accuracy per test acquisition (rows of ``table``: ``condition``, ``model``, ``accuracy``)."""
    fig, ax = plt.subplots(figsize=(8, 0.45 * table["condition"].nunique() + 1.4))
    sns.barplot(data=table, y="condition", x="accuracy", hue="model", ax=ax, orient="h")
    ax.axvline(1 / 6, color="k", ls=":", lw=1, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylabel("")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def speed_figure(table: pd.DataFrame):
    """Accuracy against patterns per second for every contender of the speed benchmark (log speed axis):
    map accuracy for all, test-split accuracy for the classifiers (Hough indexing has none), Hough's
    speed as a vertical line; one colour per contender, named in the legend."""
    fig, ax = plt.subplots(figsize=(9.5, 4.2))
    markers = {"map accuracy": "o", "test accuracy": "s"}
    colors = sns.color_palette("colorblind", len(table))
    handles = []
    for (name, row), color in zip(table.iterrows(), colors, strict=False):
        for metric, marker in markers.items():
            if np.isfinite(row[metric]):
                ax.scatter(row["patterns/s"], 100 * row[metric], color=color, marker=marker, s=60, edgecolor="k", zorder=3)
        handles.append(plt.Line2D([], [], marker="o", color=color, markeredgecolor="k", ls="", label=name))
    ax.axvline(table["patterns/s"].iloc[0], color="0.5", ls="--", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("patterns per second (this machine, preprocessing included)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    handles += [plt.Line2D([], [], marker=m, color="0.3", ls="", label=k) for k, m in markers.items()]
    handles.append(plt.Line2D([], [], color="0.5", ls="--", label="Hough indexing's speed"))
    ax.legend(handles=handles, fontsize=7.5, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return fig


def glue_figure(name: str, fig) -> None:
    """Glue ``fig`` under ``name`` for a ``{glue:figure}`` directive (a numbered figure with a caption)
    and close it, so that the notebook's inline backend does not show it a second time in place."""
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)
