"""A Sphinx extension for the book's site (listed in ``_config.yml``).

sphinx-thebe 0.3.1 adds its configuration script each time Sphinx reads the sources, and a Jupyter Book
build reads them twice: every page declared ``const THEBE_JS_URL`` twice, which browsers report as an
error. Each page keeps one copy of every script here.
"""

from __future__ import annotations

__all__ = ["unique_scripts", "setup"]


def unique_scripts(scripts: list) -> list:
    """``scripts`` without repeats (the same file or the same inline body), in their first order."""
    seen, kept = set(), []
    for script in scripts:
        # an inline script's filename is None or "" depending on who added it: the same script either way
        key = (getattr(script, "filename", None) or "", tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    return kept


def _dedupe(app, pagename, templatename, context, doctree):
    if "script_files" in context:
        context["script_files"] = unique_scripts(context["script_files"])


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
