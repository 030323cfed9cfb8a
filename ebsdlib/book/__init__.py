"""The book: the chapters' shared helpers (:mod:`.chapters`), their execution with papermill and the site
(:mod:`.pipeline`), the claims page, the paper's numbers and the comparison of two builds. Nothing is re-exported
here: Sphinx loads :mod:`.sphinxext` during a build, which must not import the rest."""
