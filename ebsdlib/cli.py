"""The command line, ``python -m ebsdlib`` or ``ebsdlib``.

Its commands:

``build``     execute the chapters for a profile and build the website (what ``make book`` runs);
``train``     the paper's protocol on your labelled patterns: a model bundle and a short report;
``classify``  classify a scan (any file kikuchipy reads, a folder of images, a .npy stack) with one or
              more bundles: per-pattern CSV, phase-map PNG, orix CrystalMap (.h5 and .ang);
``simulate``  simulated patterns as a labelled TIFF tree, or a dual-phase scan file with its ground truth;
``bench``     mapping speed on this machine: Hough indexing, the Xceptions and the distilled student on the
              same patterns (what ``make bench`` runs); ``--training`` times training instead;
``same-seed`` two builds of a profile from empty caches, compared cell by cell (what ``make same-seed`` runs);
``compare``   two folders of executed chapters compared cell by cell.

Bad input gets one line starting with ``error:`` and a non-zero exit code."""

from __future__ import annotations

import argparse
import os
import sys
import time

# TensorFlow's start-up chatter (here and in the chapter kernels, which inherit it) is not the user's business
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from ebsdlib.book.pipeline import ChapterError, build_book

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: the process's arguments); returns the exit status."""
    from ebsdlib.logs import progress_lines

    with progress_lines():  # the library's progress lines (build, training epochs, benchmarks) on standard output
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="ebsdlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="execute every chapter for a profile and build the website")
    build.add_argument("--profile", default="default", help="book/profiles/<name>.yml: smoke, default, paper or your own")
    build.add_argument("--chapter", action="append", help="only this chapter stem (repeatable)")
    build.add_argument("--execution-timeout", type=int, default=None, help="per-cell timeout in seconds")
    build.add_argument("--no-html", action="store_true", help="execute the chapters only")
    build.add_argument(
        "--rerun",
        action="store_true",
        help="execute every chapter again, even those whose inputs have not changed since their last execution",
    )
    bench = sub.add_parser(
        "bench",
        help="mapping speed: Hough indexing, Xception and the distilled student on the same patterns",
        description="Time every contender on the same simulated map patterns of a profile and print the table "
        "(patterns/s, ratio to Hough indexing, accuracy), then simulation and training throughput; the "
        "profile's models come from the cache when its book was built (else they are trained first). "
        "Example: ebsdlib bench --profile smoke",
    )
    bench.add_argument("--profile", default="default", help="data, models and student from this profile (default: default)")
    bench.add_argument(
        "--training",
        action="store_true",
        help="instead: time training (precision, input pipeline, batch size, per-epoch costs)",
    )
    bench.add_argument("--image-size", type=int, default=None, help="--training: input size in px (default: the profile's)")
    bench.add_argument("--patterns", type=int, default=128, help="--training: patterns timed per contender (default 128)")
    bench.add_argument(
        "--out", default=None, help="write the tables as CSV files with this stem (default: _build/bench/<profile>)"
    )
    bench.add_argument(
        "--streaming",
        nargs="*",
        type=int,
        metavar="N",
        default=None,
        help="instead: peak memory and patterns/s of `ebsdlib classify` on simulated scans of N patterns "
        "(default 10000 100000), with the --model bundles",
    )
    bench.add_argument(
        "--model",
        action="append",
        default=None,
        metavar="MODEL_DIR",
        help="bundle(s) for --streaming (default: the profile's transfer bundle under _build/bundles)",
    )
    same = sub.add_parser(
        "same-seed",
        help="two builds of a profile from empty caches, compared cell by cell",
        description="Build the chapters of a profile twice, each time from an empty cache (everything simulated and "
        "trained again), and compare the pages cell by cell: tables, figures, Markdown and glued values. Only what "
        "ebsdlib.book.samepages.MAY_DIFFER names (wall times, speeds) may differ. Exit code 1 when anything else does. "
        "Example: ebsdlib same-seed --profile smoke",
    )
    same.add_argument("--profile", default="smoke", help="the profile built twice (default: smoke)")
    same.add_argument("--folder", default=None, help="keep the executed chapters in FOLDER/first and FOLDER/second")
    compare = sub.add_parser(
        "compare",
        help="two folders of executed chapters compared cell by cell",
        description="Compare the executed chapters of two builds (their _build/staging/<profile>/book folders) cell "
        "by cell, allowing only what ebsdlib.book.samepages.MAY_DIFFER names. "
        "Example: ebsdlib compare first/_build/staging/smoke/book second/_build/staging/smoke/book",
    )
    compare.add_argument("first", metavar="BOOK_A")
    compare.add_argument("second", metavar="BOOK_B")
    _user_commands(sub)
    args = parser.parse_args(argv)
    if args.command in ("bench", *USER_COMMANDS):
        # TensorFlow's C++ start-up lines (oneDNN, CUDA probing) reach file descriptor 2 before any log level
        # applies: imported now, with that descriptor closed for the moment, so that an error is one line
        from ebsdlib.quiet import import_tensorflow_quietly

        import_tensorflow_quietly()
    if args.command in ("same-seed", "compare"):
        return _same_pages(args)
    if args.command == "bench":
        try:
            return _bench(args)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    if args.command in USER_COMMANDS:
        return _run_user_command(args)
    if args.command == "build":
        start = time.perf_counter()
        try:
            build_book(
                args.profile,
                chapters=args.chapter,
                execution_timeout=args.execution_timeout,
                html=not args.no_html,
                reuse=not args.rerun,
            )
        except (ChapterError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        where = "_build/staging/" + args.profile if args.no_html else "_build/html/index.html"
        what = "chapters executed" if args.no_html else "book built"
        print(f"{what} with profile {args.profile} in {time.perf_counter() - start:.0f} s: {where}")
    return 0


USER_COMMANDS = ("train", "classify", "simulate")

TRAIN_EXAMPLE = """example:
  ebsdlib simulate --material Ni Fe NiAl --n 40 --out my_patterns
  ebsdlib train my_patterns --out my_model --profile smoke --train-per-space-group 20 --val-per-space-group 10
  ebsdlib simulate --material NiAl_gamma Ni3Al_gamma_prime --n 40 --out my_phases --seed 1
  ebsdlib train my_phases --start-from my_model --out my_sample_model --profile smoke --train-per-space-group 20 --val-per-space-group 10

PATTERNS is a folder tree <space group>/<material>/*.tif (space groups by number or symbol, e.g. 225 or
Fm-3m), split as the paper: per space group, training and validation patterns divided evenly over its
materials, the rest for the test. The bundle (MODEL_DIR) holds model.keras, bundle.json and a report
(report.md, metrics.json, predictions.csv, confusion.png, loss_curves.png). --start-from fine-tunes a bundle
on PATTERNS (the few-shot step: say, simulated patterns of your sample's phases) with the profile's
sample_learning_rate and sample_epochs."""

CLASSIFY_EXAMPLE = """example:
  ebsdlib simulate --scan scan.h5 --map-shape 20 30
  ebsdlib classify scan.h5 --model my_model --phases NiAl_gamma Ni3Al_gamma_prime --out scan_phases

SCAN is any file kikuchipy reads (h5ebsd, h5oina, up1/up2, ebsp, NORDIF .dat), a folder of pattern
images (natural name order fills the map row by row; give --map-shape) or a .npy stack. Patterns are
read in chunks: only a chunk of patterns is in memory, whatever the map size. Several --model bundles form an ensemble (averaged
probabilities, votes and disagreement in the CSV). Each pattern is then indexed (PyEBSDIndex's Hough indexing) for the
phase of its class, named with --phases; the map holds its orientation. --no-orientations gives phases only."""

SIMULATE_EXAMPLE = """examples:
  ebsdlib simulate --material Ni Fe NiAl --n 40 --out my_patterns     # labelled TIFF tree to train on
  ebsdlib simulate --scan scan.h5 --map-shape 20 30                  # dual-phase Ni-Al scan + ground truth
  ebsdlib simulate --cif my_phase.cif --n 40 --out my_patterns        # your phase from its CIF
  ebsdlib simulate --cif big_cell.cif --simulator dynamical --min-dspacing 1.0 --bethe 4 8 50 --n 40 --out my_patterns
                                                                      # a large cell from Bloch waves, fewer beams

Materials are those of ebsdlib/data/materials.yml (the paper's 18, the dual-phase sample's Ni(Al) and Ni3Al,
the source task's)."""


#: ``train``'s options that override a profile's shared setting of the same name (checked against its range).
TRAIN_NUMBERS = ("train-per-space-group", "val-per-space-group", "test-per-material", "image-size", "max-epochs", "seed")


def _user_commands(sub) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    train = sub.add_parser(
        "train",
        help="train the paper's classifier on your labelled patterns",
        epilog=TRAIN_EXAMPLE,
        formatter_class=fmt,
        description="Train one model on a labelled folder tree and write a model bundle.",
    )
    train.add_argument("patterns", metavar="PATTERNS", help="folder tree <space group>/<material>/*.tif")
    train.add_argument("--out", required=True, metavar="MODEL_DIR", help="folder of the model bundle")
    train.add_argument(
        "--approach", choices=("transfer", "scratch"), default=None, help="default: transfer, or that of --start-from"
    )
    train.add_argument(
        "--start-from",
        default=None,
        metavar="MODEL_DIR",
        help="fine-tune this model bundle on PATTERNS (e.g. your sample's phases) instead of training a new model",
    )
    train.add_argument(
        "--source", default=None, help="pretrained source: imagenet, source-task, auto or a weights file (default: the profile's)"
    )
    train.add_argument(
        "--simulator",
        choices=("kinematical", "dynamical"),
        default=None,
        help="physics of simulated patterns the training uses (the source task's; default: the profile's)",
    )
    train.add_argument("--profile", default="default", help="protocol and counts (default: default)")
    train.add_argument(
        "--view",
        choices=("native", "canonical"),
        default="native",
        help="canonical: train on the centred square of each pattern (for scans of any detector aspect)",
    )
    train.add_argument("--canonical-size", type=int, default=None, help="side of the canonical view in px")
    for name in TRAIN_NUMBERS:
        train.add_argument(f"--{name}", type=int, default=None, help="default: the profile's")

    classify = sub.add_parser(
        "classify",
        help="classify a scan with model bundles: CSV, phase map, CrystalMap",
        epilog=CLASSIFY_EXAMPLE,
        formatter_class=fmt,
        description="Classify every pattern of a scan, streaming, and write the phase map.",
    )
    classify.add_argument("scan", metavar="SCAN", help="a file kikuchipy reads, a folder of images or a .npy stack")
    classify.add_argument(
        "--model", action="append", default=None, metavar="MODEL_DIR", help="a model bundle (repeat for an ensemble)"
    )
    classify.add_argument(
        "--fast",
        action="store_true",
        help="use the distilled student of a built book (_build/bundles/<profile>/student): Hough-indexing speed",
    )
    classify.add_argument(
        "--profile", default="default", help="--fast: the profile whose book's student to use (default: default)"
    )
    classify.add_argument("--out", default=None, help="results folder (default: <scan stem>_phases beside the scan)")
    classify.add_argument(
        "--threshold", type=float, default=0.5, help="patterns whose confidence is below it are 'not indexed' (default 0.5)"
    )
    classify.add_argument(
        "--map-shape",
        type=int,
        nargs=2,
        default=None,
        metavar=("ROWS", "COLS"),
        help="map rows and columns of a folder of images or a flat stack",
    )
    classify.add_argument("--chunk-size", type=int, default=1024, help="patterns read at a time (default 1024)")
    classify.add_argument("--scheduler", default=None, metavar="ADDRESS", help="a dask.distributed scheduler to classify on")
    classify.add_argument(
        "--truth",
        default=None,
        metavar="CSV",
        help="ground truth (row, col, space_group[, qa, qb, qc, qd]; e.g. the one `ebsdlib simulate --scan` writes): "
        "report accuracy and orientation error",
    )
    classify.add_argument(
        "--phases",
        nargs="+",
        default=None,
        metavar="PHASE",
        help="the scan's phases, one per class it may hold: names of ebsdlib/data/materials.yml or CIF files; each "
        "pattern is indexed (Hough) for the phase of its class and the map holds its orientation",
    )
    classify.add_argument("--no-orientations", action="store_true", help="phases only: every rotation in the map is the identity")
    classify.add_argument(
        "--refine",
        action="store_true",
        help="refine each orientation against its phase's simulated master pattern (kikuchipy; slower)",
    )
    classify.add_argument("--energy", type=float, default=20.0, help="beam energy in kV, for --refine (default 20)")
    classify.add_argument(
        "--pc",
        type=float,
        nargs=3,
        default=None,
        metavar=("PCX", "PCY", "PCZ"),
        help="pattern centre (Bruker's convention) for indexing; default: the one the scan file holds",
    )
    classify.add_argument("--sample-tilt", type=float, default=None, help="sample tilt in degrees (default: the file's, else 70)")
    classify.add_argument(
        "--detector-tilt", type=float, default=None, help="detector tilt in degrees (default: the file's, else 0)"
    )

    simulate = sub.add_parser(
        "simulate",
        help="simulated patterns: a labelled TIFF tree or a scan file",
        epilog=SIMULATE_EXAMPLE,
        formatter_class=fmt,
        description="Simulate patterns of known materials or your CIFs with the book's detector model, from kinematical "
        "or dynamical (Bloch-wave) master patterns.",
    )
    what = simulate.add_mutually_exclusive_group(required=True)
    what.add_argument("--material", nargs="+", help="materials of ebsdlib/data/materials.yml (with --n and --out)")
    what.add_argument("--cif", nargs="+", metavar="FILE", help="your phases as CIF files (with --n and --out)")
    what.add_argument("--scan", metavar="FILE.h5", help="write the dual-phase Ni-Al sample as a kikuchipy h5ebsd scan")
    simulate.add_argument("--n", type=int, default=20, help="patterns per material (default 20)")
    simulate.add_argument(
        "--out", default=None, help="root of the TIFF tree (with --material); new, empty, or an earlier tree of this command"
    )
    simulate.add_argument(
        "--overwrite", action="store_true", help="with --scan: replace an existing scan file and its ground truth"
    )
    simulate.add_argument("--map-shape", type=int, nargs=2, default=(20, 30), metavar=("ROWS", "COLS"), help="default 20 30")
    simulate.add_argument(
        "--detector-shape",
        type=int,
        nargs=2,
        default=None,
        metavar=("ROWS", "COLS"),
        help="pattern size in px (default: the profile's)",
    )
    simulate.add_argument(
        "--simulator",
        choices=("kinematical", "dynamical"),
        default=None,
        help="physics of the master patterns (default: the profile's); dynamical: ebsdsim's Bloch waves, minutes a material",
    )
    simulate.add_argument(
        "--min-dspacing",
        type=float,
        default=None,
        metavar="ANGSTROM",
        help="dynamical: smallest interplanar spacing of the beams (default: the material's, 0.7 Å for most; larger for "
        "a large cell: fewer beams)",
    )
    simulate.add_argument(
        "--bethe",
        type=float,
        nargs=3,
        default=None,
        metavar=("STRONG", "WEAK", "CUTOFF"),
        help="dynamical: ebsdsim's Bethe cutoffs (default: the material's, 20 40 200 for most; EMsoft's: 4 8 50)",
    )
    simulate.add_argument(
        "--energy-share",
        type=float,
        default=None,
        metavar="SHARE",
        help="dynamical: share of the backscattered electrons' energy distribution integrated, from the beam energy "
        "down (default: the material's, 1 for most; less ends before a low-energy bin that fails)",
    )
    simulate.add_argument("--profile", default="default", help="detector and noise model (default: default)")
    simulate.add_argument("--seed", type=int, default=0)


def _run_user_command(args) -> int:
    from ebsdlib.datasets.container import DatasetError
    from ebsdlib.io.bundle import BundleError
    from ebsdlib.learn.models import SourceUnavailable
    from ebsdlib.simulation.dynamical import DynamicalUnavailable

    try:
        if args.command == "train":
            return _train(args)
        if args.command == "classify":
            return _classify(args)
        return _simulate(args)
    except (DatasetError, BundleError, SourceUnavailable, DynamicalUnavailable, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _train(args) -> int:
    from ebsdlib.mapping.usermodel import train_bundle
    from ebsdlib.settings import check_setting

    for name in TRAIN_NUMBERS:
        value = getattr(args, name.replace("-", "_"))
        if value is not None:
            check_setting(name.replace("-", "_"), value, f"--{name}")

    bundle, metrics = train_bundle(
        args.patterns,
        args.out,
        approach=args.approach,
        profile=args.profile,
        settings={
            "pretrained_source": args.source,
            "simulator": args.simulator,
            **{name.replace("-", "_"): getattr(args, name.replace("-", "_")) for name in TRAIN_NUMBERS},
        },
        view=args.view,
        canonical_size=args.canonical_size,
        start_from=args.start_from,
    )
    print(f"model bundle written: {bundle.folder} ({bundle.approach}, {bundle.image_size} px)")
    print(
        f"test split: precision {metrics['precision']:.3f}, recall {metrics['recall']:.3f}, "
        f"accuracy {metrics['accuracy']:.3f} on {metrics['test_patterns']} patterns; report: {bundle.folder / 'report.md'}"
    )
    return 0


def _classify(args) -> int:
    from pathlib import Path

    from ebsdlib.io.scans import open_scan
    from ebsdlib.mapping.classify import classify_scan

    models = _classify_models(args)
    scan = open_scan(args.scan, args.map_shape)
    scan_path = Path(args.scan).resolve()
    out = Path(args.out) if args.out else scan_path.with_name(f"{scan_path.stem}_phases")
    phases, geometry = _classify_phases(args, scan)
    result = classify_scan(
        scan,
        models,
        out,
        threshold=args.threshold,
        chunk_size=args.chunk_size,
        scheduler=args.scheduler,
        phases=phases,
        geometry=geometry,
        refine=args.refine,
    )
    shares = ", ".join(f"{k} {100 * v:.1f} %" for k, v in result.fractions.items() if v > 0)
    print(
        f"{result.n} patterns ({result.map_shape[0]} × {result.map_shape[1]}) in {result.seconds:.0f} s "
        f"({result.patterns_per_second:.0f} patterns/s): {shares}"
    )
    if result.indexed is not None:
        print(
            f"orientations: {result.indexed} of {result.n} patterns indexed for their phase "
            f"({', '.join(f'{m.space_group} {m.name}' for m in phases)}; pattern centre {', '.join(f'{v:g}' for v in geometry.pc)})"
        )
    if result.non_finite:
        print(f"{result.non_finite} pattern(s) with NaN or infinite intensities: not indexed (classification.json counts them)")
    print("written: " + ", ".join(str(p) for p in result.files.values()))
    if args.truth:
        from ebsdlib.mapping.classify import score_against_truth

        score = score_against_truth(result.files["csv"], args.truth)
        print(
            f"against the ground truth {args.truth}: {100 * score['accuracy']:.1f} % of the patterns right "
            f"({100 * score['not_indexed']:.1f} % not indexed)"
        )
        if "median_misorientation" in score:
            print(
                f"orientations against the ground truth: median misorientation {score['median_misorientation']:.2f}°, "
                f"{100 * score['within_2']:.1f} % of the patterns within 2°"
            )
    return 0


def _classify_phases(args, scan):
    """The phases and detector ``classify`` indexes orientations with, or (None, None) with --no-orientations."""
    from pathlib import Path

    from ebsdlib.crystal.materials import material_from_cif
    from ebsdlib.io.bundle import BundleError
    from ebsdlib.io.export import find_materials
    from ebsdlib.io.scans import scan_geometry

    if args.no_orientations:
        if args.phases or args.refine:
            raise BundleError("give either --phases (a complete map, with orientations) or --no-orientations, not both")
        return None, None
    if not args.phases:
        raise BundleError(
            "classify indexes each pattern's orientation for the phase it is given: name the scan's phases with --phases "
            "(materials of ebsdlib/data/materials.yml or CIF files, one per class), or pass --no-orientations for phases only"
        )
    phases = [
        material_from_cif(entry) if Path(entry).suffix.lower() == ".cif" else find_materials([entry])[0] for entry in args.phases
    ]
    return phases, scan_geometry(scan, args.pc, args.sample_tilt, args.detector_tilt, args.energy)


def _classify_models(args) -> list[str]:
    """The bundles to classify with: ``--model`` folders, or with ``--fast`` the student of a built book."""
    from ebsdlib.io.bundle import BundleError
    from ebsdlib.paths import BUILD_DIR

    if args.fast and args.model:
        raise BundleError("give either --model bundles or --fast (the student of a built book), not both")
    if not args.fast:
        if not args.model:
            raise BundleError("name a model bundle with --model MODEL_DIR, or use --fast for the student of a built book")
        return args.model
    student = BUILD_DIR / "bundles" / args.profile / "student"
    if not (student / "bundle.json").is_file():
        raise BundleError(
            f"--fast uses the distilled student of the {args.profile!r} book, and {student} holds none: build the book "
            f"first (make book PROFILE={args.profile}) or give a bundle with --model"
        )
    return [str(student)]


def _check_simulation_request(args) -> None:
    """Refuse, before any work, numbers that cannot make patterns or that would not fit in memory: each option
    is named with what it may be. A simulation holds every pattern of one material (or of the whole scan) in
    float64 at once, so that, with room to spare, must fit in the memory free now."""
    from ebsdlib.settings import check_memory, shared_settings

    if args.seed < 0:
        raise ValueError(f"--seed must be 0 or more, not {args.seed}")
    if args.detector_shape is not None and min(args.detector_shape) < 16:
        raise ValueError(f"--detector-shape must be at least 16 × 16 px, not {args.detector_shape[0]} × {args.detector_shape[1]}")
    rows, cols = args.detector_shape or shared_settings(args.profile)["detector_shape"]
    if args.scan:
        if min(args.map_shape) < 1:
            raise ValueError(f"--map-shape must be at least 1 × 1 patterns, not {args.map_shape[0]} × {args.map_shape[1]}")
        count, what = args.map_shape[0] * args.map_shape[1], f"--map-shape {args.map_shape[0]} {args.map_shape[1]}"
    else:
        if args.n < 1:
            raise ValueError(f"--n must be at least 1 pattern per material, not {args.n}")
        count, what = args.n, f"--n {args.n}"
    check_memory(
        8 * count * rows * cols,
        f"{what} patterns of {rows} × {cols} px",
        "ask for fewer patterns or smaller ones (--detector-shape)",
    )


def _dynamical_settings(args, simulator: str):
    """``--min-dspacing``, ``--bethe`` and ``--energy-share``, checked: a function giving each material its own
    dynamical settings with those replaced; ``None`` when none is given."""
    import dataclasses

    from ebsdlib.simulation.dynamical import dynamical_settings

    if args.min_dspacing is None and args.bethe is None and args.energy_share is None:
        return None
    if simulator != "dynamical":
        raise ValueError("--min-dspacing, --bethe and --energy-share set the dynamical simulator; add --simulator dynamical")
    if args.scan:
        raise ValueError(
            "--min-dspacing, --bethe and --energy-share apply to --material and --cif; the scan's two phases use the "
            "master patterns that ship at their own settings"
        )
    changed = {"reason": "set on the command line"}
    if args.min_dspacing is not None:
        if not 0.3 <= args.min_dspacing <= 3.0:
            raise ValueError(f"--min-dspacing must lie between 0.3 and 3 Å, not {args.min_dspacing:g}")
        changed["min_dspacing"] = float(args.min_dspacing)
    if args.bethe is not None:
        bethe = tuple(float(b) for b in args.bethe)
        if not 0 < bethe[0] <= bethe[1] <= bethe[2]:
            raise ValueError(
                f"--bethe must be three positive numbers STRONG ≤ WEAK ≤ CUTOFF, not {' '.join(f'{b:g}' for b in bethe)}"
            )
        changed["bethe"] = bethe
    if args.energy_share is not None:
        if not 0.5 <= args.energy_share <= 1.0:
            raise ValueError(
                f"--energy-share must lie between 0.5 and 1 (a share of the energy distribution), not {args.energy_share:g}"
            )
        changed["energy_share"] = float(args.energy_share)
    return lambda material: dataclasses.replace(dynamical_settings(material), **changed)


def _simulate(args) -> int:
    import contextlib

    from ebsdlib.settings import shared_settings
    from ebsdlib.simulation.dynamical import settings_for

    _check_simulation_request(args)
    settings = shared_settings(args.profile)
    if args.simulator:
        settings["simulator"] = args.simulator
    dynamical = _dynamical_settings(args, settings["simulator"])
    if args.scan:
        return _simulate_scan(args, settings)
    if not args.out:
        raise ValueError("--material and --cif need --out, the root of the TIFF tree to write")
    materials = _requested_materials(args)
    with contextlib.ExitStack() as stack:
        for material in materials if dynamical is not None else ():  # each its own settings, changed by the command line
            stack.enter_context(settings_for([material], dynamical(material)))
        return _simulate_tree(args, settings, materials)


def _requested_materials(args) -> list:
    """The materials of ``--cif`` (a note for each with partly occupied sites) or ``--material``."""
    if not args.cif:
        from ebsdlib.io.export import find_materials

        return find_materials(args.material)
    from ebsdlib.crystal.materials import has_partial_occupancies, material_from_cif

    materials = [material_from_cif(path) for path in args.cif]
    for path, material in zip(args.cif, materials, strict=True):
        if has_partial_occupancies(material):
            print(
                f"note: {path} has partly occupied sites; {material.name} is simulated as the average crystal "
                "(each site scatters with its occupancy-weighted scattering factor), without the superlattice "
                "reflections an ordered arrangement would add"
            )
    return materials


def _simulate_scan(args, settings: dict) -> int:
    from ebsdlib.io.export import write_scan
    from ebsdlib.simulation.patterns import simulated_detector

    detector = simulated_detector(settings, args.detector_shape)
    geometry = detector.geometry
    path = write_scan(args.scan, tuple(args.map_shape), detector=detector, seed=args.seed, overwrite=args.overwrite)
    print(
        f"scan written: {path} ({args.map_shape[0]} × {args.map_shape[1]} patterns of {geometry.shape[0]}×{geometry.shape[1]} px); "
        f"ground truth: {path.with_name(path.stem + '_truth.csv')}"
    )
    return 0


def _simulate_tree(args, settings: dict, materials: list) -> int:
    from ebsdlib.io.export import write_pattern_tree
    from ebsdlib.simulation.patterns import simulated_detector

    detector = simulated_detector(settings, args.detector_shape)
    table = write_pattern_tree(materials, args.n, args.out, detector, args.seed)
    print(f"{len(table)} patterns written under {args.out} (<space group>/<material>/*.tif); index: {args.out}/patterns.csv")
    return 0


def _same_pages(args) -> int:
    from ebsdlib.book.samepages import book_differences, same_seed_builds

    start = time.perf_counter()
    try:
        if args.command == "compare":
            differences = book_differences(args.first, args.second)
        else:
            differences = same_seed_builds(args.profile, args.folder)
    except (ValueError, RuntimeError, ChapterError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for chapter, found in differences.items():
        print(f"{chapter}: {'the same pages' if not found else f'{len(found)} difference(s)'}")
        for difference in found:
            print(f"  {difference}")
    different = [chapter for chapter, found in differences.items() if found]
    verdict = f"{len(different)} of {len(differences)} chapters differ" if different else "every chapter shows the same"
    print(f"{verdict} ({time.perf_counter() - start:.0f} s)")
    return 1 if different else 0


def _bench(args) -> int:
    import pandas as pd

    if args.streaming is not None:
        return _bench_streaming(args)
    if not args.training:
        return _bench_speed(args)

    from ebsdlib.bench.benchmarks import cpu_description, run_training_benchmark
    from ebsdlib.settings import shared_settings

    shared = shared_settings(args.profile)
    size = int(args.image_size or shared["image_size"])
    print(f"training benchmark, {args.profile} profile ({size} px); {cpu_description()}", flush=True)
    throughput, epochs = run_training_benchmark(
        size,
        6 * int(shared["train_per_space_group"]),
        6 * int(shared["val_per_space_group"]),
        patterns=args.patterns,
    )
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.2f}".format):
        print("\nTraining throughput (patterns/s)")
        print(throughput.to_string(index=False))
        print("\nWhole epochs of the profile, estimated (training + validation + BatchNorm recalibration)")
        print(epochs.T.to_string(header=False))
    if args.out:
        throughput.to_csv(f"{args.out}_throughput.csv", index=False)
        epochs.to_csv(f"{args.out}_epochs.csv", index=False)
        print(f"written: {args.out}_throughput.csv, {args.out}_epochs.csv")
    return 0


def _bench_speed(args) -> int:
    import pandas as pd

    from ebsdlib.bench.benchmarks import book_speed_benchmark, machine_header, student_verdict
    from ebsdlib.book.pipeline import SPEED_CHAPTER, chapter_values
    from ebsdlib.book.prose import student_sentence
    from ebsdlib.learn.student import StudentConfig
    from ebsdlib.paths import BOOK_DIR, BUILD_DIR
    from ebsdlib.settings import load_profile, shared_settings

    profile = load_profile(args.profile)
    settings = shared_settings(profile)
    speed = BOOK_DIR / f"{SPEED_CHAPTER}.ipynb"
    values = chapter_values(profile, speed)  # the speed chapter's student and counts
    student = StudentConfig.from_parameters(values)
    print(f"mapping speed benchmark, {args.profile} profile; {machine_header()}", flush=True)
    report = book_speed_benchmark(
        settings, student, int(values.get("bench_train_patterns", 256)), progress=lambda line: print(line, flush=True)
    )
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60):
        print("\nMapping speed (same map patterns for every contender; ratios to Hough indexing in this run)")
        print(report.table.to_string(formatters=_float_formatters(report.table)))
        print("\nSimulation and training")
        print(report.other.to_string())
    print("\n" + student_sentence(student_verdict(report.table)))
    written = report.write(args.out or BUILD_DIR / "bench" / args.profile)
    print("written: " + ", ".join(str(p) for p in written))
    return 0


def _float_formatters(table):
    """Column formats of the mapping table for the terminal."""
    formats = {
        "patterns/s": "{:.0f}",
        "× Hough": "{:.2f}",
        "map accuracy": "{:.3f}",
        "test accuracy": "{:.3f}",
        "first call (s)": "{:.1f}",
    }
    return {c: (lambda f: lambda v: f.format(v) if v == v else "—")(formats[c]) for c in table.columns if c in formats}


def _bench_streaming(args) -> int:
    from ebsdlib.bench.benchmarks import cpu_description, streaming_benchmark
    from ebsdlib.io.bundle import BundleError, read_bundle
    from ebsdlib.paths import BUILD_DIR

    models = args.model or [str(BUILD_DIR / "bundles" / args.profile / "transfer")]
    try:
        for m in models:
            read_bundle(m)
    except BundleError as err:
        print(f"error: {err} (build the book first, or name bundles with --model)", file=sys.stderr)
        return 1
    sizes = args.streaming or [10_000, 100_000]
    print(f"streaming classification benchmark; {cpu_description()}", flush=True)
    try:
        table = streaming_benchmark(models, sizes)
    except (RuntimeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    if args.out:
        table.to_csv(f"{args.out}_streaming.csv", index=False)
        print(f"written: {args.out}_streaming.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
