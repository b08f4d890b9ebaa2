"""Sphinx configuration for the Baton site.

Pages that come from the code (lifecycle diagram, check order, assumptions,
one page per invariant, proof report, CLI and trace-format references) are
generated into ``_gen/`` by ``_ext/baton_docs.py`` when this file is loaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import baton_docs  # noqa: E402

baton_docs.generate_all()

project = "Baton"
author = "the Baton authors"
copyright = "2026, the Baton authors"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_data", "_ext", "_gen/*.rst"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "description"
html_theme = "furo"
html_theme_options = {"navigation_with_keys": True, "top_of_page_buttons": []}
html_title = "Baton"
html_static_path = ["_static"]
html_css_files = ["baton.css"]
nitpicky = False
suppress_warnings = ["myst.xref_missing"]


def setup(app: object) -> None:
    app.connect("autodoc-process-docstring", baton_docs.plain_docstring)  # type: ignore[attr-defined]
