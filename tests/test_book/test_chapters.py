"""Every chapter runs through papermill in the smoke profile and produces its figures and numbers."""

import json
import re

import nbformat
import pytest

from ebsdlib.book.pipeline import chapter_parameters, run_chapter
from ebsdlib.book.samepages import unused_exemptions
from ebsdlib.paths import REPO_ROOT
from ebsdlib.settings import load_profile


@pytest.fixture(autouse=True)
def _trained(smoke_models):
    """The smoke data set and models exist before a chapter runs (made once for the run, see conftest)."""


def _run(stem, tmp_path):
    """Execute a chapter as the smoke build does; the executed notebook is kept in the session's cache,
    so a smoke build from that cache (CI) reuses it."""
    source = REPO_ROOT / "book" / f"{stem}.ipynb"
    output = tmp_path / f"{stem}.ipynb"
    _, reused = run_chapter(source, output, chapter_parameters(load_profile("smoke"), source), execution_timeout=600)
    assert not reused, "each test session starts from an empty cache"
    # what two builds may show differently (samepages.MAY_DIFFER) names only what this chapter shows
    assert unused_exemptions(output, stem) == [], f"{stem}: stale exemptions in samepages.MAY_DIFFER"
    return nbformat.read(output, as_version=4)


def _glued(nb):
    values = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            key = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if key:
                values[key] = out["data"].get("application/papermill.record/text/plain")
    return values


def _images(nb):
    """Figures of a chapter: shown in place, or glued for a numbered figure (``glue:figure``)."""
    return sum(any(k.endswith("image/png") for k in out.get("data", {})) for c in nb.cells for out in c.get("outputs", []))


@pytest.mark.slow
def test_chapter_01_data(tmp_path):
    nb = _run("01_data", tmp_path)
    glued = _glued(nb)
    profile = load_profile("smoke")["shared"]
    assert glued["n_materials"] == "18" and glued["n_space_groups"] == "6"
    assert int(glued["n_test"]) == 18 * profile["test_per_material"]
    assert int(glued["n_patterns"]) == 6 * (profile["train_per_space_group"] + profile["val_per_space_group"]) + int(
        glued["n_test"]
    )
    assert int(glued["n_separating"]) >= 10
    assert _images(nb) >= 6
    html = "".join("".join(o.get("data", {}).get("text/html", "")) for c in nb.cells for o in c.get("outputs", []))
    assert '<table id="T_materials">' in html, "the materials table's HTML is the same in every build (no random id)"


@pytest.mark.slow
def test_chapter_02_training(tmp_path):
    nb = _run("02_training", tmp_path)
    glued = _glued(nb)
    profile = load_profile("smoke")["shared"]
    assert glued["trials"] == str(profile["trials"])
    assert glued["source_kind"].strip("'") in {"imagenet", "source-task", "file"}
    assert 1 <= float(glued["scratch_epochs"]) <= profile["max_epochs"]
    assert _images(nb) == 1
    markdown = [
        o["data"]["text/markdown"] for c in nb.cells for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})
    ]
    assert any("Pretrained source" in "".join(m) for m in markdown), "the page must say which source was used"
    text = json.dumps(nb, ensure_ascii=False)
    assert "paper: epochs to converge" in text and "50 ± 12" in text


@pytest.mark.slow
def test_chapter_03_holdout(tmp_path):
    nb = _run("03_holdout", tmp_path)
    glued = _glued(nb)
    profile = load_profile("smoke")["shared"]
    assert int(glued["n_test"]) == 18 * profile["test_per_material"]
    from sklearn.metrics import precision_score, recall_score

    for approach in ("scratch", "transfer"):
        csv = tmp_path / f"predictions_{approach}.csv"
        table = __import__("pandas").read_csv(csv)
        assert len(table) == int(glued["n_test"])
        assert list(table.columns[:4]) == ["pattern_id", "material", "true_space_group", "predicted_space_group"]
        true, predicted = table["true_space_group"], table["predicted_space_group"]
        # Table 1's numbers are those of the predictions the page offers for download
        assert float(glued[f"{approach}_precision"]) == pytest.approx(
            precision_score(true, predicted, average="weighted", zero_division=0), abs=1e-3
        )
        assert float(glued[f"{approach}_recall"]) == pytest.approx(
            recall_score(true, predicted, average="weighted", zero_division=0), abs=1e-3
        )
    assert glued["paper_scratch_precision"] == "0.93"
    assert _images(nb) == 2  # confusion matrices, per-material accuracy
    # what the patterns can tell apart: the most alike pairs of two space groups, the CNNs' share from the predictions
    observed = __import__("pandas").read_csv(tmp_path / "separability.csv")
    overrides = load_profile("smoke")["chapters"]["03_holdout"]
    assert len(observed) == overrides["separability_pairs"]
    assert {"Fe3Ni", "Ni"} == {observed.loc[0, "first"], observed.loc[0, "second"]}, "the most alike pair"
    assert all(len(set(groups.split(" / "))) == 2 for groups in observed["space groups"])
    for approach in ("scratch", "transfer"):
        table = __import__("pandas").read_csv(tmp_path / f"predictions_{approach}.csv")
        for _, row in observed.iterrows():
            both = table[table["material"].isin([row["first"], row["second"]])]
            mean = (both["true_space_group"] == both["predicted_space_group"]).mean()
            assert row[f"{approach} CNN"] == pytest.approx(mean, abs=1e-3)
    shown = nb.cells[[i for i, c in enumerate(nb.cells) if "predictions_{approach}.csv" in c.source][0]].outputs[-1]
    probabilities = re.findall(r"<td>(\d+\.\d+)</td>", shown["data"]["text/html"])
    assert probabilities and max(len(p.split(".")[1]) for p in probabilities) <= 3, "the page rounds the probabilities"


@pytest.mark.slow
def test_chapter_04_filters(tmp_path):
    nb = _run("04_filters", tmp_path)
    glued = _glued(nb)
    assert glued["n_kernels"] == "32"
    assert float(glued["closest_distance"]) <= float(glued["median_distance"])
    # the transfer model's kernels are compared with those it started from: a fine-tuning of at most two epochs
    # of a few steps moves them little (kernels of another start would be about as alike as random ones, |cos| ~ 0.3)
    assert float(glued["median_similarity"]) > 0.9 and float(glued["median_relative_change"]) < 0.3
    assert _images(nb) == 4  # Fig. 2, distance heatmap, Fig. 3, kernel movement
    text = json.dumps(nb, ensure_ascii=False)
    assert "Sobel x" in text and "Gabor 135°" in text


@pytest.mark.slow
def test_chapter_05_shap(tmp_path):
    nb = _run("05_shap", tmp_path)
    glued = _glued(nb)
    for approach in ("scratch", "transfer"):
        assert glued[f"{approach}_method"].strip("'") in {"DeepExplainer", "GradientExplainer"}
        assert float(glued[f"{approach}_additivity"]) < 1e-2
    # the ratios the page states are the medians of the table it offers, whose ratio column is one share over the other
    zone = __import__("pandas").read_csv(tmp_path / "zone_axes.csv", index_col=[0, 1])
    assert (zone["ratio"] - zone["shap_share"] / zone["area_share"]).abs().max() < 0.01 * zone["ratio"].abs().max() + 1e-3
    for approach in ("scratch", "transfer"):
        assert float(glued[f"{approach}_zone_ratio"]) == pytest.approx(zone.loc[approach, "ratio"].median(), abs=1e-3)
    assert _images(nb) == 4  # Fig. 4 for both models, Supp. Fig. S3 for both models
    stderr = [o for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not stderr, "warnings on the page"


@pytest.mark.slow
def test_chapter_06_dual_phase(tmp_path):
    nb = _run("06_dual_phase", tmp_path)
    glued = _glued(nb)
    rows, cols = load_profile("smoke")["shared"]["map_shape"]
    assert int(glued["n_pixels"]) == rows * cols
    assert float(glued["hough_tie"]) > 50, "Hough cannot tell Ni(Al) from Ni3Al"
    true_share = float(glued["true_fraction"])
    assert true_share + float(glued["first_phase_share"]) == pytest.approx(100), "two phases in the truth"
    assert float(glued["hough_accuracy"]) <= float(glued["hough_indexed"]) + 1e-9, "right only where indexed"
    for approach in ("scratch", "transfer"):
        # a map whose Ni3Al share is off by d points mislabels at least d % of the pixels
        off = abs(float(glued[f"{approach}_map_fraction"]) - true_share)
        assert float(glued[f"{approach}_map_accuracy"]) <= 100 - off + 1e-9
    assert _images(nb) == 4  # the Fig. 5 panel, the fine-tuned maps, the uncertainty figure, the complete map
    # every map scored on all pixels and on interior and boundary pixels apart, the fine-tuned CNNs among them
    regions = __import__("pandas").read_csv(tmp_path / "table_regions.csv", index_col=[0, 1])  # (region, score) x map
    maps = ["Hough", "CNN scratch", "CNN transfer", "CNN scratch fine-tuned", "CNN transfer fine-tuned"]
    assert list(regions.columns) == maps
    for name in maps:
        whole, inner, edge = (regions.xs(region)[name] for region in ("all pixels", "interior", "boundary"))
        assert whole["pixels"] == inner["pixels"] + edge["pixels"] == rows * cols
        assert inner["pixels"] == pytest.approx(rows * cols * (1 - float(glued["boundary_share"]) / 100), abs=0.5)
        # the accuracy on all pixels is the pixel-weighted mean of the two regions'
        mean = (inner["accuracy"] * inner["pixels"] + edge["accuracy"] * edge["pixels"]) / whole["pixels"]
        assert whole["accuracy"] == pytest.approx(mean, abs=2e-3)
    tuned = f"CNN {glued['tuned_approach'].strip(chr(39))} fine-tuned"
    for region, key in (("all pixels", "all"), ("interior", "interior")):
        assert float(glued[f"tuned_{key}_accuracy"]) == pytest.approx(100 * regions.loc[(region, "accuracy"), tuned], abs=0.1)
    assert float(glued["hough_all_accuracy"]) == pytest.approx(float(glued["hough_accuracy"]))
    # the share of a map's wrong pixels on a boundary, from the table: boundary errors over all errors
    errors = {
        region: (1 - regions.loc[(region, "accuracy"), tuned]) * regions.loc[(region, "pixels"), tuned]
        for region in ("all pixels", "boundary")
    }
    if errors["all pixels"] > 0:
        assert float(glued["tuned_wrong_on_boundary"]) == pytest.approx(100 * errors["boundary"] / errors["all pixels"], abs=1.0)
    text = json.dumps(nb, ensure_ascii=False)
    assert "paper: scratch" in text and "5822" in text
    # accuracy is the recalls weighted by the phases' shares, balanced accuracy their plain mean: the two agree
    # within the recalls' spread times the shares' imbalance
    # |accuracy - balanced| = |share - 50| x |recall difference| <= |share - 50|
    assert abs(float(glued["hough_accuracy"]) - float(glued["hough_balanced"])) <= abs(50 - true_share) + 1e-6
    # the matrix beside its precipitate and its most alike training material(s) of another space group
    observed = __import__("pandas").read_csv(tmp_path / "matrix_separability.csv")
    overrides = load_profile("smoke")["chapters"]["06_dual_phase"]
    assert len(observed) == 1 + overrides["matrix_alike_pairs"]
    # the map's phases by formula and role (Ni3Al is a training material too), the training materials by name
    assert (observed["first"] == "Ni(Al) matrix").all() and observed.loc[0, "second"] == "Ni3Al precipitate"
    # the most alike first: Fe3Ni, nearly an fcc pattern (its superlattice bands are at most 1.5 % of its strongest)
    assert glued["matrix_nearest"].strip("'") == "Fe3Ni" == observed.loc[1, "second"]
    assert observed.loc[1, "similarity"] > observed.loc[2, "similarity"]
    assert all(groups.startswith("225 / ") and not groups.endswith("225") for groups in observed["space groups"])


@pytest.mark.slow
def test_chapter_07_few_shot(tmp_path):
    nb = _run("07_few_shot", tmp_path)
    glued = _glued(nb)
    overrides = load_profile("smoke")["chapters"]["07_few_shot"]
    approaches = 2
    assert int(glued["n_points"]) == approaches * len(overrides["curve_counts"]) * overrides["curve_trials"]
    # the CPU minutes the page states are those the trained models recorded: every point of the curve is a model of
    # the cache, trained in this run (a fresh cache), so at least the time of its traced first epoch
    assert float(glued["curve_cpu_minutes"]) * 60 > int(glued["n_points"]) * 0.5
    assert glued["target"] == "0.97"
    assert _images(nb) == 2  # the few-shot curve, the input-size curve
    markdown = "".join(
        "".join(o["data"]["text/markdown"])
        for c in nb.cells
        for o in c.get("outputs", [])
        if "text/markdown" in o.get("data", {})
    )
    # the smoke profile's stand-in network transfers from the source task, so chapter 7 has no second source to compare
    assert "**scratch**" in markdown and "**transfer (source task)**" in markdown and "patterns per space group" in markdown
    assert int(glued["sources_compared"]) == 0 and "the sources are not compared" in markdown
    stderr = [o for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not stderr


@pytest.mark.slow
def test_chapter_08_generalisation(tmp_path):
    nb = _run("08_generalisation", tmp_path)
    glued = _glued(nb)
    overrides = load_profile("smoke")["chapters"]["08_generalisation"]
    assert int(glued["n_folds"]) == 1 and int(glued["n_held_out"]) == len(overrides["lomo_materials"])
    assert int(glued["n_generated"]) == 6 * overrides["generated_per_space_group"]
    # the map's numbers on the page are those of the table it offers (rounded to 3 decimals there)
    maps = __import__("pandas").read_csv(tmp_path / "map_by_model.csv", index_col=0)
    assert float(glued["map_generated_accuracy"]) == pytest.approx(100 * maps.iloc[-1]["accuracy"], abs=0.06)
    assert float(glued["map_hough_balanced"]) == pytest.approx(100 * maps.loc["Hough", "balanced accuracy"], abs=0.06)
    assert maps.index[-1].endswith("generated phases only")
    assert _images(nb) == 3  # generated phases, accuracy per test acquisition, per-material heatmap
    markdown = "".join(
        "".join(o["data"]["text/markdown"])
        for c in nb.cells
        for o in c.get("outputs", [])
        if "text/markdown" in o.get("data", {})
    )
    assert "**transfer**" in markdown and "leave-one-out" in markdown and "generated only" in markdown
    assert "Outside the training ranges" in markdown and "recorded Ni" in markdown and "dynamical Ni" in markdown
    stderr = [o for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not stderr


@pytest.mark.slow
def test_chapter_09_speed(tmp_path):
    nb = _run("09_speed", tmp_path)
    glued = _glued(nb)
    overrides = load_profile("smoke")["chapters"]["09_speed"]
    assert int(glued["student_epochs"]) <= overrides["student_max_epochs"]
    assert glued["student_patterns"].strip("'") == f"{6 * overrides['student_patterns_per_space_group']:,}"
    table = __import__("pandas").read_csv(tmp_path / "speed_mapping.csv", index_col=0)
    assert table.index[0] == "Hough indexing (PyEBSDIndex)" and float(table["× Hough"].iloc[0]) == 1.0
    student = table.loc[next(name for name in table.index if name.startswith("student, float32"))]
    assert float(glued["student_speed"]) == pytest.approx(float(student["× Hough"]), abs=0.006)
    assert any(name.startswith("student, float32") for name in table.index)
    assert any("bfloat16" in name for name in table.index)
    assert _images(nb) == 1
    markdown = "".join(
        "".join(o["data"]["text/markdown"])
        for c in nb.cells
        for o in c.get("outputs", [])
        if "text/markdown" in o.get("data", {})
    )
    # the verdict on the page follows the table's numbers: the speed of Hough or more, the teacher's test accuracy
    # within a point, its map accuracy or more
    teachers = [n for n in table.index if n.startswith("teacher")] or [n for n in table.index if " transfer, float32" in n]
    assert all(not n.startswith("Xception") for n in table.index), "the smoke book's network is the stand-in mini"
    teacher = table.loc[teachers[0]]
    met = (
        float(student["× Hough"]) >= 1.0 - 0.005
        and float(student["test accuracy (%)"]) - float(teacher["test accuracy (%)"]) >= -1.0 - 0.1
        and float(student["map accuracy (%)"]) >= float(teacher["map accuracy (%)"]) - 0.1
    )
    assert ("The student meets its goal" if met else "The student falls short of its goal") in markdown
    stderr = [o for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert not stderr, stderr
