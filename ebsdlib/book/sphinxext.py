"""A Sphinx extension for the book's site (listed in ``_config.yml``).

Links to chapters a build did not execute: a build of some chapters (``ebsdlib build --chapter``, or a profile
of fewer chapters) renders a site without the others, and a chapter's link to one of them (``{doc}`Chapter 1
<01_data>```) reads as its text instead of failing the build; a link to any other missing page still fails it.

Scripts: sphinx-thebe 0.3.1 adds its configuration script each time Sphinx reads the sources, and a Jupyter Book
build reads them twice: every page declared ``const THEBE_JS_URL`` twice, which browsers report as an
error. Each page keeps one copy of every script here.
"""

from __future__ import annotations

import re

__all__ = ["CHAPTER_NAME", "unique_scripts", "chapter_not_built", "setup"]

#: A chapter's file name: two digits, an underscore and a stem (``02_training``).
CHAPTER_NAME = re.compile(r"\d\d_[a-z0-9_]+")


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


def chapter_not_built(app, env, node, contnode):
    """Sphinx's ``missing-reference`` handler: a ``doc`` link to a chapter (:data:`CHAPTER_NAME`) that is not in
    this build resolves to its text; anything else is left to Sphinx (and fails the build, as it should)."""
    target = str(node.get("reftarget", "")).rsplit("/", 1)[-1]
    if node.get("reftype") == "doc" and CHAPTER_NAME.fullmatch(target):
        return contnode
    return None


def setup(app):
    """Register the extension with Sphinx (``_config.yml`` lists it under ``extra_extensions``)."""
    app.connect("html-page-context", _dedupe, priority=900)
    app.connect("missing-reference", chapter_not_built)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
