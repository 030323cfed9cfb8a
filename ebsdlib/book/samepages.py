"""Same seed, same pages: two executions of the book's chapters compared cell by cell.

A page shows tables, figures, Markdown and glued values; two builds of one profile and seed must show the
same ones, except what is measured on the clock (wall times, patterns per second). :data:`MAY_DIFFER`
names those for every chapter, each with the reason; :func:`page_differences` compares one chapter,
:func:`book_differences` two folders of executed chapters, and :func:`same_seed_builds` makes two fresh
builds (empty caches) and compares them (``make same-seed``).
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ebsdlib.book.pipeline import check_book_tools
from ebsdlib.outputs import check_output_folder, publish_folder
from ebsdlib.paths import REPO_ROOT
from ebsdlib.settings import shared_settings

__all__ = ["MAY_DIFFER", "RENDERED_KINDS", "page_differences", "unused_exemptions", "book_differences", "same_seed_builds"]

log = logging.getLogger(__name__)

#: The environment variables that keep TensorFlow's pools and OpenMP to one thread (two pools of spinning
#: threads on two cores slow each other down): the same-seed builds and the test workers set them.
ONE_THREAD = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")

WALL = "wall time on this machine"
SPEED = "measured speed on this machine"

#: What two builds of one profile and seed may show differently, by chapter, each with the reason. ``glued``:
#: glued values by name (a glued figure by its name); ``columns``: table columns whose header contains the
#: text; ``rows``: table rows (and lines of text) that contain the text; ``spans``: regular expressions,
#: what they match is masked. Everything else on a page must be the same.
MAY_DIFFER: dict[str, dict[str, dict[str, str]]] = {
    "01_data": {"glued": {"simulation_seconds": WALL, "patterns_per_second": SPEED}},
    "02_training": {"rows": {"s per epoch": WALL}},
    "06_dual_phase": {"glued": {"sample_seconds": WALL}},
    "07_few_shot": {
        "glued": {
            "curve_cpu_minutes": WALL,
            "fig_few_shot": "its right panel is training time; the accuracies it plots are compared in the table",
        },
        "columns": {"cpu_seconds": WALL, "train_seconds": WALL, "seconds to ": WALL},
        "rows": {"seconds to ": WALL},  # the convergence means, one row per measure
    },
    "09_speed": {
        "glued": {
            "student_speed": SPEED,
            "distil_minutes": WALL,
            "fig_speed": "patterns per second of every contender",
        },
        "columns": {"patterns/s": SPEED, "× Hough": SPEED, "first call (s)": WALL},
        "rows": {"patterns/s": SPEED},
        "spans": {r"[\d.]+× Hough indexing's patterns per second": SPEED},
    },
}

#: The output kinds a page can show, in the order jupyter-book (myst-nb) picks one of an output's kinds for
#: HTML; a page shows only the first an output has. SVG is not among them (matplotlib writes a date and random
#: ids into every SVG): a figure is compared on its PNG. Printed streams are not compared at all: a chapter that
#: finds its models in the cache does not print the training's lines.
RENDERED_KINDS = ("text/html", "image/png", "text/markdown", "text/latex", "text/plain", "application/json")

_CELL = re.compile(r"<(t[hd])\b([^>]*)>(.*?)</\1>", re.S)
_SPAN = re.compile(r'\b(row|col)span="?(\d+)')
_PIPE_RULE = re.compile(r"\|(\s*:?-+:?\s*\|)+")  # the line under a pipe table's header


def _html_columns_masked(text: str, markers) -> str:
    """``text`` with every cell of an HTML table column whose header contains a marker emptied (``…``).
    Cells spanning rows or columns are laid on a grid first, so the columns of a pandas table with a
    multi-level index or header are found; a header spanning several columns masks all of them."""

    def table(match: re.Match) -> str:
        rows = re.findall(r"<tr\b[^>]*>.*?</tr>", match.group(0), re.S)
        grid: list[list[tuple[int, int, str]]] = []  # per row and cell: first column, columns spanned, kind
        taken: set[tuple[int, int]] = set()
        for r, row in enumerate(rows):
            placed, c = [], 0
            for cell in _CELL.finditer(row):
                while (r, c) in taken:
                    c += 1
                spans = {kind: int(n) for kind, n in _SPAN.findall(cell.group(2))}
                width = spans.get("col", 1)
                taken |= {(r + dr, c + dc) for dr in range(spans.get("row", 1)) for dc in range(width)}
                matched = cell.group(1) == "th" and any(m in cell.group(3) or html.escape(m) in cell.group(3) for m in markers)
                placed.append((c, width, "marker" if matched else cell.group(1)))
                c += width
            grid.append(placed)
        masked = {c + k for placed in grid for c, width, kind in placed if kind == "marker" for k in range(width)}
        if not masked:
            return match.group(0)

        def masked_row(row: str, placed) -> str:
            cells = iter(placed)

            def cell(m: re.Match) -> str:
                c, _, kind = next(cells)
                return f"<td{m.group(2)}>…</td>" if kind == "td" and c in masked else m.group(0)

            return _CELL.sub(cell, row)

        rebuilt = iter(masked_row(row, placed) for row, placed in zip(rows, grid, strict=False))
        return re.sub(r"<tr\b[^>]*>.*?</tr>", lambda _: next(rebuilt), match.group(0), flags=re.S)

    return re.sub(r"<table\b.*?</table>", table, text, flags=re.S)


def _markdown_columns_masked(text: str, markers) -> str:
    """``text`` with the pipe tables' cells of every column whose header contains a marker emptied, and every
    pipe table's cells without their padding (the padding follows the widest cell, a masked one too)."""
    lines, out, masked = text.split("\n"), [], set()
    for i, line in enumerate(lines):
        if not line.lstrip().startswith("|"):
            out.append(line)
            masked = set()
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        header = i == 0 or not lines[i - 1].lstrip().startswith("|")
        if header:
            masked = {c for c, cell in enumerate(cells) if any(m in cell for m in markers)}
        elif not set("".join(cells)) <= set(":-"):
            cells = ["…" if c in masked else cell for c, cell in enumerate(cells)]
        out.append("|" + "|".join(cells) + "|")
    return "\n".join(out)


def _shown(output: dict, glued: bool, columns=(), rows=(), spans=()) -> dict[str, str]:
    """What a page shows of an output, as text by kind: the kind it renders (:data:`RENDERED_KINDS`), and for a
    glued value its plain text too (``{glue:text}`` shows that); an error as its name and message. Masked:
    ``columns``, ``rows`` and ``spans`` (see :data:`MAY_DIFFER`) and object addresses in reprs."""
    if output.get("output_type") == "error":
        return {"error": f"{output.get('ename')}: {output.get('evalue')}"}
    data = {key.removeprefix("application/papermill.record/"): value for key, value in output.get("data", {}).items()}
    kinds = [kind for kind in RENDERED_KINDS if kind in data][:1]
    if glued and "text/plain" in data and "text/plain" not in kinds:
        kinds.append("text/plain")
    shown = {}
    for kind in kinds:
        value = data[kind]
        text = (
            "".join(value) if isinstance(value, list) else value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        )
        if not kind.startswith("image/"):
            text = re.sub(r" at 0x[0-9a-f]+>", " at 0x…>", text)  # an object's address in its repr is not a result
            text = _html_columns_masked(text, columns) if kind == "text/html" else _markdown_columns_masked(text, columns)
            for pattern in spans:
                text = re.sub(pattern, "…", text)
            for marker in rows:  # a table's header row stays, so a renamed column is still seen
                if kind == "text/html":
                    either = "|".join(re.escape(m) for m in {marker, html.escape(marker)})
                    text = re.sub(
                        rf"<tr\b[^>]*>(?=(?:(?!</tr>).)*<td\b)(?:(?!</tr>).)*?(?:{either}).*?</tr>", "", text, flags=re.S
                    )
                else:
                    lines = text.splitlines()
                    text = "\n".join(
                        line
                        for i, line in enumerate(lines)
                        if marker not in line or (i + 1 < len(lines) and _PIPE_RULE.fullmatch(lines[i + 1].strip()))
                    )
        shown[kind] = text
    return shown


def _code_cells(path: Path) -> list:
    import nbformat

    return [c for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code"]


def _glued_name(output: dict) -> str | None:
    return output.get("metadata", {}).get("scrapbook", {}).get("name")


def page_differences(
    a: Path,
    b: Path,
    glued: dict[str, str] | None = None,
    rows: dict[str, str] | None = None,
    columns: dict[str, str] | None = None,
    spans: dict[str, str] | None = None,
) -> list[str]:
    r"""What two executions of one chapter show differently, cell by cell: tables, figures, Markdown, errors
    and glued values, each difference named by its cell and the glued value or output.

    What may differ is named, each with the reason (the keys of :data:`MAY_DIFFER`): ``glued`` by the glued
    values' names, ``columns`` by a text in the header of table columns, ``rows`` by a text that table rows
    (and lines of other text) contain, ``spans`` by regular expressions. Anything else that differs is listed,
    as is a cell or output that only one of the two has.

    Examples
    --------
    >>> import nbformat, tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> def executed(name, accuracy, seconds):
    ...     cell = nbformat.v4.new_code_cell("show(accuracy, seconds)")
    ...     table = f"| approach | accuracy | seconds |\n|---|---|---|\n| transfer | {accuracy} | {seconds} |"
    ...     cell.outputs = [
    ...         nbformat.v4.new_output("display_data", {"text/markdown": table, "text/plain": "<Markdown>"}),
    ...         nbformat.v4.new_output("display_data", {"application/papermill.record/text/plain": str(seconds)},
    ...                                metadata={"scrapbook": {"name": "seconds"}}),
    ...     ]
    ...     nbformat.write(nbformat.v4.new_notebook(cells=[cell]), str(folder / name))
    ...     return folder / name
    >>> a, b = executed("a.ipynb", 0.5, 12.0), executed("b.ipynb", 0.5, 14.25)
    >>> timings = {"glued": {"seconds": "wall time"}, "columns": {"seconds": "wall time"}}
    >>> page_differences(a, b, **timings)
    []
    >>> for difference in page_differences(a, b):
    ...     print(difference)
    cell 0 (show(accuracy, seconds)): output 0 text/markdown differs: |transfer|0.5|12.0| | |transfer|0.5|14.25|
    cell 0 (show(accuracy, seconds)): glued 'seconds' text/plain differs: 12.0 | 14.25
    >>> page_differences(a, executed("c.ipynb", 0.75, 12.0), **timings)
    ['cell 0 (show(accuracy, seconds)): output 0 text/markdown differs: |transfer|0.5|…| | |transfer|0.75|…|']
    """
    glued, masks = glued or {}, {"columns": columns or {}, "rows": rows or {}, "spans": spans or {}}
    cells = [_code_cells(Path(a)), _code_cells(Path(b))]
    problems = []
    if len(cells[0]) != len(cells[1]):
        problems.append(f"{len(cells[0])} code cells against {len(cells[1])}")
    for index, (first, second) in enumerate(zip(*cells, strict=False)):
        where = f"cell {index} ({first.source.strip().splitlines()[0][:60] if first.source.strip() else ''})"
        outputs = [[o for o in cell.get("outputs", []) if o.get("output_type") != "stream"] for cell in (first, second)]
        if len(outputs[0]) != len(outputs[1]):
            problems.append(f"{where}: {len(outputs[0])} outputs against {len(outputs[1])}")
            continue
        for number, (x, y) in enumerate(zip(*outputs, strict=False)):
            names = [_glued_name(o) for o in (x, y)]
            if names[0] != names[1] or x.get("output_type") != y.get("output_type"):
                problems.append(
                    f"{where}: output {number} is {names[0] or x.get('output_type')} against {names[1] or y.get('output_type')}"
                )
                continue
            if names[0] in glued:
                continue
            shown_x, shown_y = (_shown(o, bool(names[0]), **masks) for o in (x, y))
            what = f"glued {names[0]!r}" if names[0] else f"output {number}"
            for kind in sorted(set(shown_x) | set(shown_y)):
                one, other = shown_x.get(kind, "(none)"), shown_y.get(kind, "(none)")
                if one != other:
                    first_diff = next(
                        (i for i, (c, d) in enumerate(zip(one, other, strict=False)) if c != d), min(len(one), len(other))
                    )
                    start = max(0, one.rfind("\n", 0, first_diff) + 1)
                    detail = (
                        ""
                        if kind.startswith("image/")
                        else f": {one[start : first_diff + 40].splitlines()[0] if one[start:] else ''} | "
                        f"{other[start : first_diff + 40].splitlines()[0] if other[start:] else ''}"
                    )
                    problems.append(f"{where}: {what} {kind} differs{detail}")
    return problems


def unused_exemptions(notebook: Path, chapter: str) -> list[str]:
    """The exemptions of ``chapter`` in :data:`MAY_DIFFER` that match nothing on its executed ``notebook``: a
    glued name it does not glue, a column, row or span no output shows (a stale exemption would hide a
    difference that a renamed value brings back)."""
    exemptions = MAY_DIFFER.get(chapter, {})
    outputs = [o for cell in _code_cells(Path(notebook)) for o in cell.get("outputs", []) if o.get("output_type") != "stream"]
    names = {_glued_name(o) for o in outputs}
    texts = "\n".join(text for o in outputs for kind, text in _shown(o, True).items() if not kind.startswith("image/"))
    lines = texts.splitlines()
    headers = "\n".join(
        [m.group(3) for m in _CELL.finditer(texts) if m.group(1) == "th"]
        + [line for i, line in enumerate(lines[:-1]) if _PIPE_RULE.fullmatch(lines[i + 1].strip())]
    )
    unused = [f"glued {name!r}" for name in exemptions.get("glued", {}) if name not in names]
    for kind, where in (("columns", headers), ("rows", texts)):
        unused += [f"{kind[:-1]} {m!r}" for m in exemptions.get(kind, {}) if m not in where and html.escape(m) not in where]
    unused += [f"span {p!r}" for p in exemptions.get("spans", {}) if not re.search(p, texts)]
    return unused


def book_differences(a: Path, b: Path) -> dict[str, list[str]]:
    """Two folders of executed chapters (``_build/staging/<profile>/book`` of two builds) compared chapter by
    chapter with :func:`page_differences` and the chapter's :data:`MAY_DIFFER`; the differences of every
    chapter (an empty list: the same pages). A chapter in only one of the folders is a difference."""
    a, b = Path(a), Path(b)
    for folder in (a, b):
        if not folder.is_dir():
            raise ValueError(f"no folder {folder}; give the book folders of two builds (_build/staging/<profile>/book)")
    stems = sorted({p.stem for p in a.glob("[0-9][0-9]_*.ipynb")} | {p.stem for p in b.glob("[0-9][0-9]_*.ipynb")})
    if not stems:
        raise ValueError(f"no executed chapters (NN_name.ipynb) in {a} or {b}; give the book folders of two builds")
    differences = {}
    for stem in stems:
        missing = [str(folder) for folder in (a, b) if not (folder / f"{stem}.ipynb").is_file()]
        differences[stem] = (
            [f"only one build has it (not {missing[0]})"]
            if missing
            else page_differences(a / f"{stem}.ipynb", b / f"{stem}.ipynb", **MAY_DIFFER.get(stem, {}))
        )
    return differences


#: The command line each same-seed build runs (``python -c``): a build of the profile without the website.
_BUILD = (
    "import sys; from pathlib import Path; from ebsdlib.book.pipeline import build_book; "
    "from ebsdlib.logs import show_progress; show_progress(); "
    "build_book(sys.argv[1], root=Path(sys.argv[2]), build_dir=Path(sys.argv[3]), html=False)"
)


def _wait_or_stop(builds: dict[str, subprocess.Popen], profile: str) -> list[str]:
    """Wait for the builds; when one fails, stop the others at once (they and their kernels: nothing can be
    compared any more, and a default build still runs for an hour). The failures and stops, in words."""
    failed, pending = [], dict(builds)
    while pending:
        for name, process in list(pending.items()):
            code = process.poll()
            if code is not None:
                del pending[name]
                if code:
                    failed.append(f"the {name} build of profile {profile} failed (exit {code}); its output is above")
        if failed and pending:
            import psutil  # ipykernel's dependency: the chapter kernels are not in the build's process group

            for name, process in pending.items():
                try:
                    kernels = psutil.Process(process.pid).children(recursive=True)
                except psutil.NoSuchProcess:
                    kernels = []
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                for kernel in kernels:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        kernel.kill()
                process.wait()
                failed.append(f"the {name} build was stopped, since there is nothing left to compare it with")
            pending.clear()
        time.sleep(0.2)
    return failed


def same_seed_builds(profile: str, folder: Path | None = None, root: Path = REPO_ROOT) -> dict[str, list[str]]:
    """Two builds of ``profile``, each from an empty cache of its own (everything simulated and trained again,
    without the website), compared with :func:`book_differences`. The two run at once, each on one TensorFlow
    and OpenMP thread (two pools that spin while they wait would slow each other down), their output in the
    terminal line by line behind ``[first]`` and ``[second]``. The executed chapters are kept in
    ``folder/first`` and ``folder/second`` (default: a new temporary folder), the caches are removed. Returns
    the differences by chapter.

    The profile is checked and ``folder`` must be new, empty or an earlier result of this command
    (:func:`ebsdlib.outputs.check_output_folder`) before anything runs; the builds work in a temporary folder of
    their own, and ``folder`` is replaced only when both have finished."""
    check_book_tools(html=False)
    shared_settings(profile)  # an unknown or broken profile is refused before anything runs
    folder = Path(folder or tempfile.mkdtemp(prefix=f"same-seed-{profile}-"))
    check_output_folder(folder, "same-seed", "--folder")
    work = Path(tempfile.mkdtemp(prefix=f".same-seed-{profile}-", dir=folder.parent if folder.parent.is_dir() else None))
    try:
        return _same_seed_builds(profile, folder, work, root)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _same_seed_builds(profile: str, folder: Path, work: Path, root: Path) -> dict[str, list[str]]:

    names = ("first", "second")
    builds = {}
    start = time.perf_counter()
    for name in names:
        cache, build = work / f"cache-{name}", work / f"build-{name}"
        log.info(f"same seed: {name} build of profile {profile} from an empty cache ({cache}) ...")
        env = {**os.environ, "EBSDLIB_CACHE": str(cache), "NUMBA_CACHE_DIR": str(cache / "numba")}
        env.update(dict.fromkeys(ONE_THREAD, "1"))
        builds[name] = subprocess.Popen(
            [sys.executable, "-u", "-c", _BUILD, profile, str(root), str(build)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group (its chapter kernels start sessions of their own)
        )

    def echo(name: str) -> None:
        for line in builds[name].stdout:
            log.info(f"[{name}] {line.rstrip()}")

    readers = [threading.Thread(target=echo, args=(name,), daemon=True) for name in names]
    for reader in readers:
        reader.start()
    failed = _wait_or_stop(builds, profile)
    for reader in readers:
        reader.join()
    if failed:
        raise RuntimeError("; ".join(failed))
    log.info(f"same seed: both builds done in {time.perf_counter() - start:.0f} s")
    with publish_folder(folder, "same-seed", "--folder") as staging:
        for name in names:
            shutil.copytree(
                work / f"build-{name}" / "staging" / profile / "book", staging / name, ignore=shutil.ignore_patterns("profiles")
            )
    return book_differences(folder / "first", folder / "second")
