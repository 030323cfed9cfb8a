"""Command line: ``python -m ebsdlib build --profile smoke`` (what ``make book`` runs)."""

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
    args = parser.parse_args(argv)
    if args.command == "build":
        start = time.perf_counter()
        try:
            build_book(args.profile, chapters=args.chapter, execution_timeout=args.execution_timeout, html=not args.no_html)
        except (ChapterError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"book built with profile {args.profile} in {time.perf_counter() - start:.0f} s: _build/html/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
