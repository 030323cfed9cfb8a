"""Two executions of a chapter compared as a reader sees them: what may differ is named, nothing else may."""

import nbformat
import numpy as np
import pandas as pd
import pytest

from ebsdlib.book.chapters import show_table
from ebsdlib.book.samepages import MAY_DIFFER, book_differences, page_differences, unused_exemptions
from ebsdlib.cli import main
from ebsdlib.paths import REPO_ROOT


def _table(accuracy: float, seconds: float) -> pd.DataFrame:
    """A pandas table with a two-level index (cells spanning rows in its HTML) and a timing column."""
    index = pd.MultiIndex.from_product([["scratch", "transfer"], [25, 100]], names=["approach", "patterns"])
    return pd.DataFrame(
        {"precision_mean": np.linspace(0.5, 0.8, 4) + accuracy, "cpu_seconds": [seconds, 2 * seconds, 3.5, 4.25]},
        index=index,
    )


def _display(data: dict, name: str | None = None):
    data = {f"application/papermill.record/{k}" if name else k: v for k, v in data.items()}
    return nbformat.v4.new_output("display_data", data, metadata={"scrapbook": {"name": name}} if name else {})


def _notebook(path, *outputs, source="show()"):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = list(outputs)
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), str(path))
    return path


def _pandas(table: pd.DataFrame):
    return _display({"text/html": table.to_html(), "text/plain": table.to_string()})


def _markdown(table: pd.DataFrame, tmp_path):
    """The output of ``show_table`` (a MyST table directive around a pipe table)."""
    shown = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("IPython.display.display", shown.append)
        show_table(table, "curve", "A curve.", tmp_path)
    return _display({"text/markdown": shown[0].data, "text/plain": "<IPython.core.display.Markdown object>"})


TIMINGS = {"columns": {"cpu_seconds": "wall time"}}


def test_a_timing_column_may_differ_in_an_html_table_with_a_multilevel_index(tmp_path):
    a = _notebook(tmp_path / "a.ipynb", _pandas(_table(0.0, 12.5)))
    b = _notebook(tmp_path / "b.ipynb", _pandas(_table(0.0, 131.0)))
    assert page_differences(a, b, **TIMINGS) == []
    assert [d.split("  ")[0].rstrip() for d in page_differences(a, b)] == ["cell 0 (show()): output 0 text/html differs:"]
    # the accuracy of one row differs: found, though the timing column differs as well
    c = _table(0.0, 131.0)
    c.iloc[3, 0] += 0.001
    found = page_differences(a, _notebook(tmp_path / "c.ipynb", _pandas(c)), **TIMINGS)
    assert len(found) == 1 and "precision" not in found[0] and "<td>0.5" in found[0], found


def test_a_timing_column_may_differ_in_a_shown_table_even_when_its_width_changes(tmp_path):
    a = _notebook(tmp_path / "a.ipynb", _markdown(_table(0.0, 1.5), tmp_path))
    b = _notebook(tmp_path / "b.ipynb", _markdown(_table(0.0, 123456.75), tmp_path))
    assert page_differences(a, b, **TIMINGS) == []
    assert len(page_differences(a, b)) == 1
    c = _notebook(tmp_path / "c.ipynb", _markdown(_table(0.1, 1.5), tmp_path))
    assert len(page_differences(a, c, **TIMINGS)) == 1


def test_only_the_kind_a_page_renders_is_compared(tmp_path):
    """A DataFrame's plain-text repr is not on the page when it has HTML; a glued value's plain text is
    ({glue:text} shows it)."""
    a = _notebook(tmp_path / "a.ipynb", _display({"text/html": "<b>0.5</b>", "text/plain": "0.5 at 12 s"}))
    b = _notebook(tmp_path / "b.ipynb", _display({"text/html": "<b>0.5</b>", "text/plain": "0.5 at 14 s"}))
    assert page_differences(a, b) == []
    a = _notebook(tmp_path / "a.ipynb", _display({"text/html": "<b>0.5</b>", "text/plain": "0.5"}, name="x"))
    b = _notebook(tmp_path / "b.ipynb", _display({"text/html": "<b>0.5</b>", "text/plain": "0.50001"}, name="x"))
    assert page_differences(a, b) == ["cell 0 (show()): glued 'x' text/plain differs: 0.5 | 0.50001"]
    assert page_differences(a, b, glued={"x": "wall time"}) == []


def test_rows_and_spans_are_masked_and_nothing_else(tmp_path):
    sentence = "The student is {}× Hough indexing's patterns per second; test accuracy {} %."
    a = _notebook(tmp_path / "a.ipynb", _display({"text/markdown": sentence.format(13.6, 17.6)}))
    b = _notebook(tmp_path / "b.ipynb", _display({"text/markdown": sentence.format(17.3, 17.6)}))
    c = _notebook(tmp_path / "c.ipynb", _display({"text/markdown": sentence.format(17.3, 18.0)}))
    spans = {"spans": MAY_DIFFER["09_speed"]["spans"]}
    assert page_differences(a, b, **spans) == [] and len(page_differences(a, c, **spans)) == 1
    lines = "s per epoch 12\nfirst-epoch loss 1.7"
    d = _notebook(tmp_path / "d.ipynb", _display({"text/plain": lines}))
    e = _notebook(tmp_path / "e.ipynb", _display({"text/plain": lines.replace("12", "19")}))
    f = _notebook(tmp_path / "f.ipynb", _display({"text/plain": lines.replace("1.7", "1.8")}))
    rows = {"rows": MAY_DIFFER["02_training"]["rows"]}
    assert page_differences(d, e, **rows) == [] and len(page_differences(d, f, **rows)) == 1


def test_a_stale_exemption_is_reported(tmp_path):
    live = _notebook(
        tmp_path / "09_speed.ipynb",
        _display({"text/plain": "0.5"}, name="student_speed"),
        _display({"text/markdown": "| contender | patterns/s |\n|---|---|\n| student | 12 |"}),
    )
    unused = unused_exemptions(live, "09_speed")
    assert "glued 'student_speed'" not in unused and "column 'patterns/s'" not in unused
    assert "glued 'distil_minutes'" in unused and "column '× Hough'" in unused
    assert any(u.startswith("span") for u in unused)
    assert unused_exemptions(live, "04_filters") == []  # a chapter with nothing that may differ


def test_every_exemption_names_a_chapter_of_the_book():
    chapters = {p.stem for p in (REPO_ROOT / "book").glob("[0-9][0-9]_*.ipynb")}
    assert set(MAY_DIFFER) <= chapters
    for chapter, kinds in MAY_DIFFER.items():
        assert set(kinds) <= {"glued", "columns", "rows", "spans"}, chapter
        assert all(reason for names in kinds.values() for reason in names.values()), f"{chapter}: every exemption says why"


def test_two_books_are_compared_chapter_by_chapter(tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, seconds in ((first, 1.0), (second, 9.0)):
        folder.mkdir()
        _notebook(folder / "01_data.ipynb", _display({"text/plain": "18 materials"}))
        _notebook(folder / "07_few_shot.ipynb", _display({"text/plain": f"{seconds}"}, name="curve_cpu_minutes"))
    assert book_differences(first, second) == {"01_data": [], "07_few_shot": []}
    assert main(["compare", str(first), str(second)]) == 0
    assert "every chapter shows the same" in capsys.readouterr().out
    _notebook(second / "01_data.ipynb", _display({"text/plain": "17 materials"}))
    _notebook(second / "02_training.ipynb", _display({"text/plain": "trained"}))
    found = book_differences(first, second)
    assert found["01_data"] == ["cell 0 (show()): output 0 text/plain differs: 18 materials | 17 materials"]
    assert found["02_training"] == [f"only one build has it (not {first})"]
    assert main(["compare", str(first), str(second)]) == 1
    assert "2 of 3 chapters differ" in capsys.readouterr().out
    assert main(["compare", str(first), str(tmp_path / "nowhere")]) == 1
    assert capsys.readouterr().err.startswith(f"error: no folder {tmp_path / 'nowhere'}")


def test_a_header_over_several_columns_masks_them_all_and_equal_values_elsewhere_stay(tmp_path):
    """A timing column under a two-level header (pandas' colspan) is masked whole; a result cell that happens to
    hold the same value as the timing cell beside it is compared still."""
    columns = pd.MultiIndex.from_tuples([("accuracy", "mean"), ("patterns/s", "mean"), ("patterns/s", "std")])

    def table(accuracy, speed):
        return pd.DataFrame([[accuracy, speed, speed / 10]], index=["student"], columns=columns)

    speed = {"columns": {"patterns/s": "speed"}}
    a = _notebook(tmp_path / "a.ipynb", _pandas(table(12.0, 12.0)))
    assert page_differences(a, _notebook(tmp_path / "b.ipynb", _pandas(table(12.0, 40.0))), **speed) == []
    assert len(page_differences(a, _notebook(tmp_path / "c.ipynb", _pandas(table(13.0, 12.0))), **speed)) == 1


def test_a_row_marker_keeps_the_header_so_a_renamed_column_is_seen(tmp_path):
    def shown(header):
        return _display(
            {"text/markdown": f"| contender | {header} in patterns/s |\n|---|---|\n| student | 12 |\n| teacher | 3 |"}
        )

    rows = {"rows": {"patterns/s": "speed"}}
    a = _notebook(tmp_path / "a.ipynb", shown("accuracy"))
    assert page_differences(a, _notebook(tmp_path / "b.ipynb", shown("accuracy")), **rows) == []
    assert len(page_differences(a, _notebook(tmp_path / "c.ipynb", shown("recall")), **rows)) == 1


def test_when_one_same_seed_build_fails_the_other_is_stopped_not_awaited(tmp_path, monkeypatch):
    from ebsdlib.book import samepages

    # the first build fails at once; the second would run for two minutes (a default build: an hour)
    monkeypatch.setattr(
        samepages, "_BUILD", "import sys, time; sys.exit(3) if sys.argv[3].endswith('first') else time.sleep(120)"
    )
    started = []
    popen = samepages.subprocess.Popen
    monkeypatch.setattr(samepages.subprocess, "Popen", lambda *a, **k: started.append(popen(*a, **k)) or started[-1])
    with pytest.raises(RuntimeError) as failure:
        samepages.same_seed_builds("smoke", folder=tmp_path)
    message = str(failure.value)
    assert "the first build of profile smoke failed (exit 3)" in message
    assert "the second build was stopped" in message
    assert [p.returncode for p in started] == [3, -9], "the second build is killed, not left running or awaited"
