"""The paper's protocol on a user's own labelled patterns: split, train, test, and a model bundle with a
short report (``ebsdlib train``).

The patterns are a folder tree ``<space group>/<material>/*.tif`` (:func:`ebsdlib.io.readers.load_folder_tree`);
the split, the optimiser, early stopping, the BatchNorm recalibration (both approaches alike) and the cache
are those of the book, with the counts and the protocol of a profile (``--profile``) unless given.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace
from pathlib import Path

import pandas as pd

from ebsdlib.cache import file_digest
from ebsdlib.crystal.materials import SPACE_GROUPS
from ebsdlib.datasets.container import DatasetError, SplitCounts, assign_split
from ebsdlib.evaluate.metrics import confusion, per_material_accuracy, predict_trial, weighted_scores
from ebsdlib.evaluate.plotting import confusion_heatmaps, history_figure
from ebsdlib.io.bundle import ModelBundle, read_bundle, write_bundle
from ebsdlib.io.readers import load_folder_tree
from ebsdlib.learn.finetune import fine_tune
from ebsdlib.learn.models import PretrainedSource, resolve_source
from ebsdlib.learn.sourcetask import ensure_source
from ebsdlib.learn.training import (
    APPROACH_CHANNELS,
    APPROACHES,
    TrainingConfig,
    TrialResult,
    dataset_fingerprint,
    train_trial,
    training_config,
)
from ebsdlib.outputs import check_output_folder, publish_folder
from ebsdlib.settings import check_memory, check_setting, shared_settings
from ebsdlib.simulation.patterns import simulated_detector

__all__ = ["train_bundle"]


def train_bundle(
    patterns: str | Path,
    out: str | Path,
    approach: str | None = None,
    profile: str = "default",
    settings: dict | None = None,
    *,
    view: str = "native",
    canonical_size: int | None = None,
    start_from: str | Path | None = None,
) -> tuple[ModelBundle, dict]:
    """Train one model of ``approach`` on a folder tree of labelled patterns and write its bundle to ``out``.

    Parameters
    ----------
    patterns
        Root of ``<space group>/<material>/*.tif|tiff|png|bmp``; the space groups must be among the six
        the classifier learns (221, 223, 225, 227, 229, 230).
    out
        The bundle folder (``model.keras``, ``bundle.json``) with the report: ``report.md``,
        ``metrics.json``, ``predictions.csv``, ``confusion.png``, ``loss_curves.png``.
    approach
        ``"transfer"`` or ``"scratch"``; default ``None``: ``"transfer"``, or the approach of ``start_from``.
    profile
        The profile whose protocol and counts are used where ``settings`` does not give them (default
        ``"default"``).
    settings
        Shared settings that replace the profile's (``ebsdlib/data/settings.yml`` names them), for example
        ``{"pretrained_source": "source-task", "train_per_space_group": 40, "image_size": 72, "max_epochs": 5,
        "seed": 1}``; each is checked against its kind and range. Default ``None``: the profile's.
    view, canonical_size
        ``"native"`` (the patterns as recorded) or ``"canonical"`` (the centred square of each pattern,
        resized to ``canonical_size``): the classifier of a canonical-view bundle classifies scans of
        any detector aspect.
    start_from
        A model bundle (of ``ebsdlib train``, or one ``make book`` writes) to fine-tune instead of training a new
        model: few-shot fine-tuning on, say, the phases of your sample (:func:`ebsdlib.learn.finetune.fine_tune`).
        Its approach, input size and view are kept; the learning rate is the profile's ``sample_learning_rate``
        and the epochs its ``sample_epochs`` (or ``max_epochs`` where given). Default ``None``: a new model.

    Returns
    -------
    (ModelBundle, dict)
        The bundle and its test metrics (class-weighted precision and recall, accuracy, test patterns).

    Raises
    ------
    DatasetError
        For a folder that is not a labelled tree, space groups the classifier does not learn, or too few
        patterns for the split.

    Examples
    --------
    Simulate a small labelled tree of Ni (225) and Fe (229) patterns, then train the smoke profile's small
    network on it for one epoch:

    >>> import os, tempfile
    >>> from ebsdlib.io.export import find_materials, write_pattern_tree
    >>> from ebsdlib.simulation.patterns import Detector, DetectorGeometry
    >>> root = tempfile.mkdtemp()
    >>> detector = Detector(DetectorGeometry(shape=(30, 36), master_pattern_half_size=68))
    >>> _ = write_pattern_tree(find_materials(["Ni", "Fe"]), 8, os.path.join(root, "patterns"), detector, progress=False)
    >>> bundle, metrics = train_bundle(
    ...     os.path.join(root, "patterns"), os.path.join(root, "model"), "scratch", profile="smoke",
    ...     settings={"train_per_space_group": 4, "val_per_space_group": 2, "test_per_material": 2, "max_epochs": 1},
    ... )
    >>> bundle.approach, bundle.image_size, metrics["test_patterns"], {"model.keras", "report.md"} <= set(os.listdir(bundle.folder))
    ('scratch', 72, 4, True)
    """
    import matplotlib

    matplotlib.use("agg", force=False)
    import matplotlib.pyplot as plt

    given = {k: v for k, v in (settings or {}).items() if v is not None}
    start = None
    if start_from is not None:
        start = _start_bundle(start_from, approach, given.get("image_size"), view, canonical_size)
        approach, canonical_size = start.approach, start.preprocessing.get("canonical_size", canonical_size)
        given["image_size"] = start.image_size
    approach = "transfer" if approach is None else approach
    if approach not in APPROACHES:
        raise ValueError(f"unknown approach {approach!r}; choose from {APPROACHES}")
    known = shared_settings(profile)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; ebsdlib/data/settings.yml names the shared settings")
    for name, value in given.items():
        check_setting(name, value)
    s = {**known, **given}
    _check_out(Path(out), Path(patterns))
    dataset = load_folder_tree(patterns, view=view, size=canonical_size)
    unknown = sorted({int(g) for g in dataset.labels} - set(SPACE_GROUPS))
    if unknown:
        folders = (
            sorted({f for f, g in zip(dataset.table["file"], dataset.labels, strict=False) if int(g) in unknown})
            if "file" in dataset.table
            else []
        )
        where = f" (first: {folders[0]})" if folders else ""
        raise DatasetError(
            f"{patterns}: space group(s) {unknown}{where} are not among the six the classifier learns "
            f"{list(SPACE_GROUPS)}; remove those folders"
        )
    dataset.table["split"] = assign_split(dataset.table, SplitCounts.from_settings(s), int(s["seed"]))
    if not (dataset.table["split"] == "test").any():
        raise DatasetError(
            f"{patterns}: no pattern is left for the test split after {s['train_per_space_group']} training and "
            f"{s['val_per_space_group']} validation patterns per space group; add patterns or lower the counts"
        )
    size = int(s["image_size"])  # float32 inputs of every pattern, at once
    check_memory(
        4 * len(dataset) * APPROACH_CHANNELS[approach] * size**2,
        f"{len(dataset)} patterns at image size {size} px",
        "use a smaller image size",
    )
    config = training_config(s)
    source = None
    if approach == "transfer" and start is None:
        with contextlib.redirect_stdout(io.StringIO()):  # Keras' download line; the source's note says what happened
            resolved = resolve_source(s["pretrained_source"], config.architecture)
        source = ensure_source(
            resolved,
            int(s["image_size"]),
            patterns_per_class=int(s["source_patterns_per_class"]),
            epochs=int(s["source_epochs"]),
            detector=simulated_detector(s),
            seed=int(s["seed"]),
            config=TrainingConfig(architecture=config.architecture),
        )
    if start is None:
        result = train_trial(approach, dataset, int(s["image_size"]), config, source, trial=0, seed=int(s["seed"]))
    else:
        origin = TrialResult(
            approach,
            0,
            pd.DataFrame(),
            start.model_path,
            {
                "key": file_digest(start.model_path),
                "image_size": start.image_size,
                "approach": approach,
                "source": start.info.get("pretrained_source"),
            },
        )
        config = replace(
            config, learning_rate=float(s["sample_learning_rate"]), max_epochs=int(given.get("max_epochs", s["sample_epochs"]))
        )
        result = fine_tune(origin, dataset, config, seed=int(s["seed"]))
        recorded = origin.info["source"]  # the start's own source, as its bundle records it
        source = PretrainedSource(**recorded) if recorded else None
    if start is not None:  # what simulated the source task's patterns, where the model started from it
        simulator = (start.info.get("training") or {}).get("simulator")
    elif source is not None and source.kind == "source-task":
        simulator = str(s["simulator"])
    else:
        simulator = None
    predictions = predict_trial(result, dataset, "test", int(s["seed"]))
    metrics = {**weighted_scores(predictions), "test_patterns": int(len(predictions))}
    counts = dataset.table.groupby("split").size().to_dict()
    training = {
        "data": str(Path(patterns).resolve()),
        "data_fingerprint": dataset_fingerprint(dataset),
        "profile": profile,
        "split_counts": {k: int(v) for k, v in counts.items()},
        "protocol": config.as_dict(),
        "seed": int(s["seed"]),
        "epochs": int(result.info["epochs"]),
        "seconds": float(result.info["seconds"]),
        "simulator": simulator,
        "notes": list(dataset.meta.get("notes", [])),
        # the bundle the model was fine-tuned from, where it was
        "fine_tuned_from": None if start is None else {"bundle": str(start.folder.resolve()), "model_sha256": origin.info["key"]},
    }
    preprocessing = {
        "view": view,
        "canonical_size": dataset.meta.get("canonical_view"),
        "normalization": "minmax",
        "resize": "scikit-image resize, anti-aliased",
        "pattern_shape": list(dataset.pattern_shape),
    }
    out = Path(out)
    # the bundle and its report are written beside ``out`` and take its place when complete; ``out`` may hold
    # nothing but an earlier bundle of this command (checked before training, and again before the rename)
    with publish_folder(out, "train") as staging:
        bundle = write_bundle(
            result.model_path,
            staging,
            classes=SPACE_GROUPS,
            image_size=int(s["image_size"]),
            channels=APPROACH_CHANNELS[approach],
            preprocessing=preprocessing,
            approach=approach,
            source=None if source is None else source.as_dict(),
            training=training,
            metrics=metrics,
        )
        predictions.to_csv(staging / "predictions.csv", index=False)
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2))
        fig = confusion_heatmaps({f"{approach} model, test split": confusion(predictions, normalize="true")})
        fig.savefig(staging / "confusion.png", dpi=130)
        plt.close(fig)
        fig = history_figure(result.history, f"{approach} model")
        fig.savefig(staging / "loss_curves.png", dpi=130)
        plt.close(fig)
        accuracy = per_material_accuracy(predictions)
        lines = [
            f"# Model bundle: {approach}",
            "",
            f"Trained on `{training['data']}` with the {profile!r} profile's protocol "
            f"({int(s['image_size'])} px, patience {config.patience}, at most {config.max_epochs} epochs), "
            f"{training['epochs']} epochs in {training['seconds']:.0f} s."
            + (
                ""
                if start is None
                else f" Fine-tuned from the model bundle `{start.folder}` at learning rate {config.learning_rate:g}."
            ),
            "",
            f"Split: {training['split_counts']}.",
            "",
            f"Test split: precision {metrics['precision']:.3f}, recall {metrics['recall']:.3f}, "
            f"accuracy {metrics['accuracy']:.3f} on {metrics['test_patterns']} patterns (class-weighted, as the paper's Table 1).",
            "",
            "Pretrained source: " + ("none (trained from scratch)" if source is None else f"{source.kind}: {source.note}"),
            "",
            "| material | space group | accuracy | patterns |",
            "|---|---|---|---|",
            *[f"| {r.material} | {r.space_group} | {r.accuracy:.2f} | {r.patterns} |" for r in accuracy.itertuples()],
            "",
            "Figures: `confusion.png`, `loss_curves.png`; every test prediction: `predictions.csv`.",
            f"Classify a scan: `ebsdlib classify SCAN --model {out} --phases PHASE …` (its phases: one per class it may "
            "hold; `--no-orientations` for phases only).",
        ]
        (staging / "report.md").write_text("\n".join(lines) + "\n")
    bundle = read_bundle(out)
    return bundle, metrics


def _start_bundle(folder, approach: str | None, image_size, view: str, canonical_size) -> ModelBundle:
    """The bundle a fine-tuning starts from, checked against what was asked: one clear error where they disagree."""
    start = read_bundle(folder, classes=SPACE_GROUPS)
    if start.approach not in APPROACHES:
        raise ValueError(
            f"--start-from {folder}: a {start.approach} bundle; fine-tuning starts from a bundle of {' or '.join(APPROACHES)}"
        )
    if approach is not None and approach != start.approach:
        raise ValueError(
            f"--approach {approach} contradicts --start-from {folder}, a {start.approach} model; leave --approach out"
        )
    if image_size is not None and int(image_size) != start.image_size:
        raise ValueError(
            f"--image-size {image_size} contradicts --start-from {folder}, a model of {start.image_size} px inputs; "
            "leave --image-size out"
        )
    trained_view = start.preprocessing.get("view", "native")
    if view != trained_view:
        raise ValueError(
            f"--view {view} contradicts --start-from {folder}, trained on the {trained_view} view; use --view {trained_view}"
        )
    size = start.preprocessing.get("canonical_size")
    if canonical_size is not None and size is not None and int(canonical_size) != int(size):
        raise ValueError(
            f"--canonical-size {canonical_size} contradicts --start-from {folder} (canonical size {size}); leave it out"
        )
    return start


def _check_out(out: Path, patterns: Path) -> None:
    """Refuse a bundle folder that would overwrite something else: the patterns, a folder holding them,
    or a folder with anything but an earlier bundle of this command (which is replaced when trained again)."""
    o, p = out.resolve(), patterns.resolve()
    if o == p or p in o.parents or o in p.parents:
        raise ValueError(f"--out {out} would hold or overwrite the training patterns {patterns}; choose a new folder")
    if o.exists() and not o.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder for the model bundle")
    check_output_folder(out, "train")  # nothing but an earlier bundle of `ebsdlib train`, unchanged
