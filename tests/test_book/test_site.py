"""The smoke book as a reader meets it: every page opened in headless Chromium.

The chapters are those the chapter tests executed (the build reuses them from the test cache), so this
costs the jupyter-book step and a browser. It needs a Chromium: ``chromium`` (Debian), ``chromium-browser``
or ``google-chrome`` on the PATH, or ``$EBSDLIB_CHROMIUM``. Without one it is skipped, except in CI
(``$CI`` set), where that is an error. Screenshots of every page go to ``_build/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ebsdlib.book.pipeline import build_book
from ebsdlib.paths import REPO_ROOT
from ebsdlib.settings import read_toc

pytestmark = pytest.mark.slow


def _chromium() -> str | None:
    named = os.environ.get("EBSDLIB_CHROMIUM")
    if named:
        return named
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def wait_for_chapter_tests(session, timeout: float = 1800, poll: float = 5) -> None:
    """With pytest-xdist, the chapter tests of this run may still be executing in another worker: wait until
    each has left its executed chapter in the run's cache (or failed), so that the book below reuses them
    instead of executing them a second time."""
    import time

    from conftest import CHAPTER_TEST_PREFIX, chapter_test_marker, is_chapter_test
    from ebsdlib.book.pipeline import chapter_key, chapter_parameters
    from ebsdlib.cache import cache_file, folder_problem
    from ebsdlib.settings import load_profile

    profile = load_profile("smoke")
    stems = [i.name[len(CHAPTER_TEST_PREFIX) :] for i in session.items if is_chapter_test(i)]
    waiting = {}
    for stem in stems:
        notebook = REPO_ROOT / "book" / f"{stem}.ipynb"
        waiting[stem] = cache_file("chapters", f"{stem}-{chapter_key(notebook, chapter_parameters(profile, notebook))}")
    deadline = time.monotonic() + timeout
    while waiting:
        waiting = {
            s: e for s, e in waiting.items() if not chapter_test_marker(s).exists() and (not e.is_dir() or folder_problem(e))
        }
        if waiting and time.monotonic() > deadline:
            pytest.fail(f"the chapter tests {sorted(waiting)} did not finish within {timeout:.0f} s")
        if waiting:
            time.sleep(poll)


@pytest.fixture(scope="module")
def site(tmp_path_factory, request):
    chromium = _chromium()
    if chromium is None:
        message = (
            "no Chromium found: install Debian's `chromium` (apt install chromium) or name one with "
            "EBSDLIB_CHROMIUM=/path/to/chrome"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    wait_for_chapter_tests(request.session)
    build = tmp_path_factory.mktemp("site") / "_build"
    build_book("smoke", build_dir=build, execution_timeout=900)
    return build / "html", chromium, build


JS_BROKEN_IMAGES = "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"


def check_pages(html: Path, chromium: str, shots: Path) -> list[str]:
    """Open every page of the table of contents; return what a reader would find wrong, page by page."""
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    pages = [html / f"{rel}.html" for rel in read_toc()]
    problems = [f"{p.relative_to(html)}: missing" for p in pages if not p.is_file()]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for path in (p for p in pages if p.is_file()):
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            errors, requests = [], []
            page.on("console", lambda m, errors=errors: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.on("request", lambda r, requests=requests: r.url.startswith("http") and requests.append(r.url))
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_timeout(300)
            name = path.relative_to(html).with_suffix("").as_posix().replace("/", "_")
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            text = page.inner_text("article") if page.query_selector("article") else page.inner_text("body")
            for what, found in [
                ("broken images", page.evaluate(JS_BROKEN_IMAGES)),
                ("console errors", errors),
                ("requests to the network", requests),
                ("unresolved glue", [s for s in ("{glue", "glue:text") if s in text]),
                ("unresolved references", page.query_selector_all(".problematic")),
                ("error output", page.query_selector_all(".output.traceback, .output.error, .cell_output .stderr")),
                ("tracebacks", ["Traceback"] if "Traceback (most recent call last)" in text else []),
                ("download chatter", ["Downloading data from"] if "Downloading data from" in text else []),
                ("the build machine's home folder", [str(Path.home())] if f"{Path.home()}/" in text else []),
            ]:
                if found:
                    problems.append(f"{path.relative_to(html)}: {what}: {found}")
            page.close()
        browser.close()
    return problems


def test_every_page_reads_cleanly_in_a_browser(site):
    html, chromium, _ = site
    shots = REPO_ROOT / "_build" / "screenshots"
    problems = check_pages(html, chromium, shots)
    assert not problems, "\n".join(problems)
    assert len(list(shots.glob("*.png"))) >= len(read_toc())


def test_the_build_writes_the_bundles_of_its_best_models_and_the_intro_says_where(site):
    from ebsdlib.io.bundle import read_bundle

    html, _, build = site
    for approach, channels in (("scratch", 1), ("transfer", 3), ("student", 1)):
        bundle = read_bundle(build / "bundles" / "smoke" / approach, channels=channels)
        assert bundle.info["training"]["profile"] == "smoke" and "precision" in bundle.info["test_metrics"]
        assert bundle.approach == approach
    import re

    intro = re.sub(r"<[^>]+>", "", (html / "book" / "intro.html").read_text())  # the page's text, without the highlighting's tags
    assert "ebsdlib classify scan.h5 --model _build/bundles/smoke/transfer --phases NiAl_gamma Ni3Al_gamma_prime" in intro
    assert "ebsdlib classify scan.h5 --fast --profile smoke --phases NiAl_gamma Ni3Al_gamma_prime" in intro
