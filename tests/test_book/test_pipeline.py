from pathlib import Path

import nbformat
import pytest

from ebsdlib.book.pipeline import ChapterError, chapter_parameters, execute_chapter
from ebsdlib.paths import BOOK_DIR, REPO_ROOT
from ebsdlib.settings import chapter_notebooks, load_profile, read_toc


def _notebook(path, parameters: str, *bodies: str):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell] + [nbformat.v4.new_code_cell(body) for body in bodies]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_toc_lists_intro_then_chapters():
    files = read_toc(REPO_ROOT)
    assert files[0] == "book/intro"
    assert "book/01_data" in files
    for f in files[1:]:
        assert (REPO_ROOT / f"{f}.ipynb").is_file() or (REPO_ROOT / f"{f}.md").is_file(), f
    chapters = chapter_notebooks(REPO_ROOT)
    assert chapters[0] == "book/01_data" and "book/claims" not in chapters
    assert chapters == sorted(chapters), "the chapters are executed in their numbered order"


def test_committed_notebooks_have_no_outputs_and_one_parameters_cell():
    for path in BOOK_DIR.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, path
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), path


@pytest.mark.parametrize("name", ["smoke", "default", "paper"])
def test_profiles_only_set_declared_parameters(name):
    profile = load_profile(name)
    for rel in chapter_notebooks(REPO_ROOT):
        params = chapter_parameters(profile, REPO_ROOT / f"{rel}.ipynb")
        assert params["profile"] == name


def test_unknown_profile():
    with pytest.raises(ValueError, match="unknown profile 'fast'.*smoke"):
        load_profile("fast")


def test_override_of_an_undeclared_parameter_is_an_error(tmp_path):
    nb = _notebook(tmp_path / "01_x.ipynb", "alpha = 1", "pass")
    profile = {"name": "t", "shared": {"alpha": 2, "beta": 3}, "chapters": {"01_x": {"gamma": 4}}}
    with pytest.raises(ValueError, match="gamma"):
        chapter_parameters(profile, nb)
    profile["chapters"] = {"01_x": {"alpha": 5}}
    assert chapter_parameters(profile, nb) == {"alpha": 5}


def test_failing_chapter_names_the_chapter_and_cell(tmp_path):
    nb = _notebook(tmp_path / "07_broken.ipynb", "size = 1", "raise ValueError(f'bad size {size}')")
    with pytest.raises(ChapterError, match=r"07_broken failed in cell \[3\] `raise ValueError.*`: ValueError: bad size 3"):
        execute_chapter(nb, tmp_path / "out.ipynb", {"size": 3})


def test_build_info_names_the_profile_parameters_and_source(tmp_path):
    from ebsdlib.book.pipeline import _build_info_markdown, glued_values

    nb = _notebook(
        tmp_path / "02_x.ipynb",
        "x = 1",
        "from myst_nb import glue\nglue('source_kind', 'source-task', display=False)\nglue('source_note', 'fallback because offline', display=False)",
    )
    execute_chapter(nb, tmp_path / "02_x.out.ipynb", {})
    facts = glued_values(tmp_path / "02_x.out.ipynb")
    assert facts == {"source_kind": "source-task", "source_note": "fallback because offline"}
    text = _build_info_markdown(load_profile("smoke"), {"02_x": 3.0}, facts)
    assert "**smoke** profile" in text and "| `image_size` | `72` |" in text
    assert "**source-task** source: fallback because offline" in text
    home = _build_info_markdown(
        load_profile("smoke"), {}, {"source_kind": "source-task", "source_note": f"put it into {Path.home()}/.keras"}
    )
    assert f"{Path.home()}/" not in home and "put it into ~/.keras" in home
    assert "| 02_x | 3 | in this build |" in text
    assert "| 02_x | 3 | earlier" in _build_info_markdown(load_profile("smoke"), {"02_x": 3.0}, facts, ["02_x"])


def test_chapters_declare_only_the_profile_and_their_own_settings():
    """One source of truth: the shared settings live in ebsdlib/data/settings.yml and the profiles, never copied
    into a parameters cell; a chapter's own settings default to the default profile's values for it, so a
    chapter run on its own (e.g. in Jupyter) shares the cache with `make book`."""
    from ebsdlib.book.pipeline import _declared_parameters
    from ebsdlib.settings import setting_defaults

    profile = load_profile("default")
    shared = set(setting_defaults())
    for rel in chapter_notebooks(REPO_ROOT):
        declared = _declared_parameters(REPO_ROOT / f"{rel}.ipynb")
        assert "profile" in declared and eval(declared["profile"]["default"]) == "default"  # noqa: S307
        assert not shared & set(declared), (rel, sorted(shared & set(declared)))
        for name, value in (profile["chapters"].get(Path(rel).stem) or {}).items():
            default = eval(declared[name]["default"])  # noqa: S307 - our own notebook's literal
            assert (list(default) if isinstance(value, list) else default) == value, (rel, name)


def test_a_profile_is_checked_before_anything_runs(tmp_path):
    from ebsdlib.book.pipeline import build_book

    (tmp_path / "book" / "profiles").mkdir(parents=True)
    _notebook(tmp_path / "book" / "01_x.ipynb", "profile = 't'", "pass")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/01_x\n")
    (tmp_path / "_config.yml").write_text("title: t\n")
    (tmp_path / "book" / "intro.md").write_text("# t\n")
    staged = tmp_path / "_build" / "staging" / "t"
    staged.mkdir(parents=True)
    (staged / "last-good.txt").write_text("kept")
    for text, message in [
        ("shared:\n  image_size: 72\n  imgae_size: 96\n", "imgae_size"),
        ("shared:\n  image_size: big\n", "image_size: 'big'"),
        ("shared:\n  image_size: 72.5\n", "image_size: 72.5"),
        ("shared:\n  detector_shape: [60]\n", "detector_shape"),
        ("shared:\n  bn_recalibration: 1\n", "bn_recalibration"),
    ]:
        (tmp_path / "book" / "profiles" / "t.yml").write_text(text)
        with pytest.raises(ValueError, match=message):
            build_book("t", root=tmp_path, build_dir=tmp_path / "_build", html=False)
        assert (staged / "last-good.txt").is_file(), "nothing deleted before the profile was checked"
    (tmp_path / "book" / "profiles" / "t.yml").write_text("shared:\n  image_size: 96\n")
    with pytest.raises(ValueError, match=r"no chapter \['02_y'\]"):
        build_book("t", root=tmp_path, build_dir=tmp_path / "_build", html=False, chapters=["02_y"])
    timings = build_book("t", root=tmp_path, build_dir=tmp_path / "_build", html=False)
    assert list(timings) == ["01_x"]


def test_shared_settings_are_the_defaults_under_the_profile():
    from ebsdlib.settings import setting_defaults, shared_settings

    smoke = shared_settings("smoke")
    assert set(smoke) == set(setting_defaults())
    assert smoke["image_size"] == load_profile("smoke")["shared"]["image_size"]
    assert smoke["learning_rate"] == setting_defaults()["learning_rate"], "not in the profile: the default"
    assert shared_settings("default") == {**setting_defaults(), **load_profile("default")["shared"]}


def test_an_unchanged_chapter_is_reused_with_the_files_it_wrote(tmp_path, monkeypatch):
    from ebsdlib.book import pipeline

    nb = _notebook(tmp_path / "03_x.ipynb", "n = 1", "open('table.csv', 'w').write(str(n))\nprint(n)")
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir(), second_dir.mkdir()
    seconds, reused = pipeline.run_chapter(nb, first_dir / "03_x.ipynb", {"n": 7})
    assert not reused and (first_dir / "table.csv").read_text() == "7"

    def no_kernel(*args, **kwargs):
        raise AssertionError("an unchanged chapter must not be executed again")

    monkeypatch.setattr(pipeline, "execute_chapter", no_kernel)
    again, reused = pipeline.run_chapter(nb, second_dir / "03_x.ipynb", {"n": 7})
    assert reused and again == seconds
    assert (second_dir / "table.csv").read_text() == "7"
    assert (second_dir / "03_x.ipynb").read_bytes() == (first_dir / "03_x.ipynb").read_bytes()
    with pytest.raises(AssertionError, match="must not be executed"):
        pipeline.run_chapter(nb, second_dir / "03_x.ipynb", {"n": 8})  # a changed parameter executes
    with pytest.raises(AssertionError, match="must not be executed"):
        pipeline.run_chapter(nb, second_dir / "03_x.ipynb", {"n": 7}, reuse=False)
    # a damaged stored chapter (a truncated file it wrote) is reported and executed again
    from ebsdlib.cache import DamagedEntry, cache_file

    entry = cache_file("chapters", f"03_x-{pipeline.chapter_key(nb, {'n': 7})}")
    (entry / "files" / "table.csv").write_text("")
    with pytest.warns(DamagedEntry, match="table.csv differs"), pytest.raises(AssertionError, match="must not be executed"):
        pipeline.run_chapter(nb, second_dir / "03_x.ipynb", {"n": 7})


def test_chapter_key_follows_code_data_notebook_and_weights(tmp_path, monkeypatch):
    from ebsdlib.book import pipeline

    weights = tmp_path / "keras" / "models"
    weights.mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    nb = _notebook(tmp_path / "01_x.ipynb", "n = 1", "print(n)")
    key = pipeline.chapter_key(nb, {"n": 1})
    assert pipeline.chapter_key(nb, {"n": 1}) == key and pipeline.chapter_key(nb, {"n": 2}) != key
    (weights / "xception_weights_tf_dim_ordering_tf_kernels_notop.h5").write_bytes(b"weights")
    assert pipeline.chapter_key(nb, {"n": 1}) != key, "ImageNet weights change the pretrained source"
    (weights / "xception_weights_tf_dim_ordering_tf_kernels_notop.h5").unlink()
    _notebook(nb, "n = 1", "print(n + 1)")
    assert pipeline.chapter_key(nb, {"n": 1}) != key
    source = tmp_path / "weights.h5"
    source.write_bytes(b"a")
    with_file = pipeline.chapter_key(nb, {"pretrained_source": str(source)})
    source.write_bytes(b"b")
    assert pipeline.chapter_key(nb, {"pretrained_source": str(source)}) != with_file


def test_executed_chapter_reads_as_a_page_with_its_settings_beside_the_papers(tmp_path):
    import nbformat
    import papermill as pm

    from ebsdlib.book.pipeline import prepare_for_reading

    nb = _notebook(
        tmp_path / "05_x.ipynb",
        "image_size = 96  # CNN input size in pixels (the paper: 299)\nlearning_rate = 0.001  # Adam learning rate\n"
        "shap_count = 3  # patterns explained",
        "import numpy as np\nfrom myst_nb import glue",
        "glue('n', 3, display=False)",
        "print('epoch 1')",
    )
    out = tmp_path / "05_x.out.ipynb"
    execute_chapter(nb, out, {"image_size": 72, "shap_count": 5})
    declared = pm.inspect_notebook(str(nb))
    prepare_for_reading(out, {"image_size": 72, "shap_count": 5}, declared, own={"shap_count"})
    prepare_for_reading(out, {"image_size": 72, "shap_count": 5}, declared, own={"shap_count"})  # idempotent
    cells = nbformat.read(str(out), as_version=4).cells
    tags = {c.source.splitlines()[0]: c.metadata.get("tags", []) for c in cells if c.cell_type == "code"}
    assert "remove-cell" in tags["image_size = 96  # CNN input size in pixels (the paper: 299)"], (
        "defaults did not build the page"
    )
    assert "hide-cell" in tags["# Parameters"], "the values that built it stay one click away"
    assert tags["import numpy as np"] == ["remove-cell"]
    assert tags["glue('n', 3, display=False)"] == ["hide-cell"], "nothing visible: hidden whole"
    assert tags["print('epoch 1')"] == ["hide-input"], "its output shows"
    tables = [c for c in cells if c.cell_type == "markdown" and "beside the paper's" in c.source]
    assert len(tables) == 1
    injected = next(i for i, c in enumerate(cells) if "injected-parameters" in c.metadata.get("tags", []))
    assert cells[injected + 1] is tables[0]
    text = tables[0].source
    assert "| CNN input size in pixels (`image_size`) | 72 | 299 px |" in text
    assert "As the paper: `learning_rate` 0.001." in text
    assert "| patterns explained (`shap_count`) | 5 |" in text


def test_source_note_for_readers_drops_the_raw_exception_and_the_home_folder():
    from pathlib import Path

    from ebsdlib.book.chapters import reader_note

    note = (
        f"ImageNet weights could not be had (Exception: URL fetch failure on https://x/y.h5: None -- [Errno -3] "
        f"Temporary failure in name resolution). Without network access, put the file y.h5 into "
        f"{Path.home()}/.keras/models (Keras checks its md5)."
    )
    text = reader_note(note)
    assert (
        text
        == "ImageNet weights could not be had. Without network access, put the file y.h5 into ~/.keras/models (Keras checks its md5)."
    )
    assert reader_note("weights file w.h5") == "weights file w.h5"


def test_book_models_keeps_keras_download_chatter_off_the_page(monkeypatch, capsys):
    from types import SimpleNamespace

    from ebsdlib.book import chapters as book

    def noisy_resolve(requested, architecture="xception"):
        print("Downloading data from https://storage.googleapis.com/tensorflow/keras-applications/xception/...")
        return SimpleNamespace(kind="source-task", note="offline")

    monkeypatch.setattr(book, "simulated_book_dataset", lambda *a: ("data", "detector"))
    monkeypatch.setattr(book, "resolve_source", noisy_resolve)
    monkeypatch.setattr(book, "ensure_source", lambda source, *a, **k: source)
    monkeypatch.setattr(book, "run_trials", lambda *a, **k: ["trial"])
    from ebsdlib.settings import shared_settings

    trained = book.book_models(shared_settings("smoke"))
    assert trained.source.kind == "source-task" and trained.results == ["trial"]
    assert "Downloading" not in capsys.readouterr().out


def test_the_site_serves_its_own_mathjax():
    """Math must render with no network: the MathJax the pages load is copied into the site."""
    import importlib
    from pathlib import Path

    import yaml

    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
    assert "sphinx-mathjax-offline" in config["sphinx"]["extra_extensions"]
    extension = importlib.import_module("sphinx-mathjax-offline")
    assert (Path(extension.__file__).parent / "static" / "mathjax" / "tex-chtml.js").stat().st_size > 500_000
    assert "mathjax_path" not in config["sphinx"]["config"], "a CDN path here would override the local copy"


def test_a_chapter_can_stream_its_progress_to_the_terminal(tmp_path, capfd):
    nb = _notebook(
        tmp_path / "02_x.ipynb", "n = 1", "for epoch in range(n):\n    print(f'trial 0 epoch {epoch + 1}/{n}', flush=True)"
    )
    execute_chapter(nb, tmp_path / "quiet.ipynb", {"n": 2})
    assert "epoch 2/2" not in capfd.readouterr().out
    execute_chapter(nb, tmp_path / "loud.ipynb", {"n": 2}, echo=True)
    out, err = capfd.readouterr()
    assert "trial 0 epoch 1/2" in out and "trial 0 epoch 2/2" in out
    assert "IPKernelApp" not in out + err, "the kernel's start-up warning is not progress"
    page = "".join(o.get("text", "") for o in nbformat.read(str(tmp_path / "loud.ipynb"), as_version=4).cells[-1].outputs)
    assert "trial 0 epoch 2/2" in page, "the page keeps the output too"


def test_show_table_writes_the_csv_it_links_and_numbers_the_table(tmp_path, monkeypatch):
    import pandas as pd
    from IPython.display import Markdown

    from ebsdlib.book import chapters as book

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    table = pd.DataFrame(
        {("scratch", "precision"): [0.59, 0.69], ("scratch", "note"): ["a|b", "{x}"]},
        index=pd.Index(["221", "225"], name="space group"),
    )
    assert book.show_table(table, "table_s1", "Per space group.", tmp_path) is None
    again = pd.read_csv(tmp_path / "table_s1.csv", header=[0, 1], index_col=0)
    assert again.shape == table.shape and again.iloc[1, 0] == 0.69
    (text,) = [s.data for s in shown if isinstance(s, Markdown)]
    assert text.startswith(":::{table} Per space group.\n:name: tab-table-s1\n")
    assert "scratch · precision" in text and "a\\|b" in text and "\\{x}" in text
    assert "{download}`table_s1.csv`" in text
    with pytest.raises(ValueError, match="names the CSV file"):
        book.show_table(table, "../table 1", "c", tmp_path)


def test_the_pages_read_the_papers_numbers_from_paper_yml(tmp_path, monkeypatch):
    """Every ``{{ name }}`` on a Markdown page of the book is a substitution the staged config defines, and
    its value is ebsdlib/data/paper.yml's (changing the file changes the page)."""
    import re

    import yaml

    from ebsdlib.book import paper
    from ebsdlib.book.pipeline import staged_config

    config = yaml.safe_load(staged_config((REPO_ROOT / "_config.yml").read_text()))
    subs = config["parse"]["myst_substitutions"]
    assert "substitution" in config["parse"]["myst_enable_extensions"]
    used = {name for page in BOOK_DIR.glob("*.md") for name in re.findall(r"\{\{\s*(\w+)\s*\}\}", page.read_text())}
    assert used, "the intro reads the paper's numbers through substitutions"
    assert used <= set(subs), f"undefined on the pages: {sorted(used - set(subs))}"
    assert subs["paper_train_per_space_group"] == "400" and subs["paper_transfer_epochs"] == "26 ± 3"
    intro = (BOOK_DIR / "intro.md").read_text()
    assert " 400 patterns" not in intro and "half the" not in intro, "no number of the paper typed by hand"

    values = paper.paper_values()
    changed = {**values, "protocol": {**values["protocol"], "train_per_space_group": 123}}
    monkeypatch.setattr(paper, "paper_values", lambda: changed)
    assert (
        yaml.safe_load(staged_config((REPO_ROOT / "_config.yml").read_text()))["parse"]["myst_substitutions"][
            "paper_train_per_space_group"
        ]
        == "123"
    )


def test_every_reference_is_cited_and_every_citation_has_a_reference():
    import re

    keys = set(re.findall(r"^@\w+\{([^,]+),", (BOOK_DIR / "references.bib").read_text(), flags=re.M))
    pages = "\n".join(p.read_text() for p in [*BOOK_DIR.glob("*.md"), *BOOK_DIR.glob("*.ipynb")])
    cited = {k.strip() for group in re.findall(r"\{cite[pt]?\}`([^`]+)`", pages) for k in group.split(",")}
    assert keys - cited == set(), "references no page cites"
    assert cited - keys == set(), "citations without a reference"


def test_a_site_is_rendered_once_for_the_same_staged_files(tmp_path, monkeypatch):
    """The second build of unchanged staged files (CI's smoke build after the site test's) reuses the
    rendered site; a changed page renders again."""
    import subprocess

    from ebsdlib.book import pipeline

    staging = tmp_path / "_build" / "staging" / "smoke"
    (staging / "book").mkdir(parents=True)
    (staging / "book" / "intro.md").write_text("# Intro\n")
    calls = []

    def fake_jupyter_book(cmd, cwd=None):
        calls.append(cmd)
        html = Path(cmd[cmd.index("--path-output") + 1]) / "_build" / "html"
        html.mkdir(parents=True, exist_ok=True)
        (html / "index.html").write_text(f"rendered {len(calls)}")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(pipeline.subprocess, "run", fake_jupyter_book)
    build = tmp_path / "_build"
    assert pipeline.render_site(staging, build) is False
    (build / "html" / "index.html").write_text("overwritten by something else")
    assert pipeline.render_site(staging, build) is True and len(calls) == 1
    assert (build / "html" / "index.html").read_text() == "rendered 1"
    (staging / "book" / "intro.md").write_text("# Intro, changed\n")
    assert pipeline.render_site(staging, build) is False and len(calls) == 2


def test_tensorflows_native_log_lines_never_reach_a_page():
    from ebsdlib.book.pipeline import _without_native_log

    log = "E0000 00:00:1796164971.985831   25847 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n"
    assert _without_native_log({"output_type": "stream", "name": "stderr", "text": log}) is None
    kept = _without_native_log({"output_type": "stream", "name": "stderr", "text": log + "a real warning\n"})
    assert kept["text"] == "a real warning\n"
    stdout = {"output_type": "stream", "name": "stdout", "text": log}
    assert _without_native_log(stdout) is stdout


def test_each_test_worker_and_the_processes_it_starts_train_on_one_thread(worker_id):
    """Two pytest-xdist workers share two cores: each keeps TensorFlow's and OpenMP's pools to one thread,
    and a chapter kernel it starts inherits that (conftest.WORKER_THREADS)."""
    import subprocess
    import sys

    from conftest import WORKER_THREADS

    if worker_id == "master":
        pytest.skip("not run by a pytest-xdist worker: the thread pools keep their defaults")
    child = "import os, sys; print(' '.join(os.environ.get(n, '-') for n in sys.argv[1:]))"
    seen = subprocess.run([sys.executable, "-c", child, *WORKER_THREADS], capture_output=True, text=True, check=True)
    assert seen.stdout.split() == ["1"] * len(WORKER_THREADS)
