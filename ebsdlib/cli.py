"""Command line: ``python -m ebsdlib build --profile smoke`` (what ``make book`` runs) and
``python -m ebsdlib bench`` (what ``make bench`` runs)."""

from __future__ import annotations

import argparse
import sys
import time

from .pipeline import PROFILES, ChapterError, build_book

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ebsdlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="execute every chapter for a profile and build the website")
    build.add_argument("--profile", default="default", choices=PROFILES)
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
        help="time training (precision, input pipeline, batch size, per-epoch costs) and print a table",
        description="Time both approaches' training at a profile's input size and print a table; "
        "example: ebsdlib bench --profile default --out bench_training.csv",
    )
    bench.add_argument("--profile", default="default", choices=PROFILES, help="input size and per-epoch counts from this profile")
    bench.add_argument("--image-size", type=int, default=None, help="input size in px (default: the profile's)")
    bench.add_argument("--patterns", type=int, default=128, help="patterns timed per contender (default 128)")
    bench.add_argument("--out", default=None, help="also write the tables as CSV files with this stem")
    args = parser.parse_args(argv)
    if args.command == "bench":
        return _bench(args)
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
        print(f"book built with profile {args.profile} in {time.perf_counter() - start:.0f} s: _build/html/index.html")
    return 0


def _bench(args) -> int:
    import pandas as pd

    from .bench import cpu_description, run_training_benchmark
    from .settings import shared_settings

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


if __name__ == "__main__":
    sys.exit(main())
