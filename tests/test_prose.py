"""Every number in the prose comes from an output: glued names exist, no measurement is typed by hand.

A chapter states a measured value with myst-nb's glue ({glue:text}`name:.1f` in markdown, ``glue("name",
value)`` in the cell that measured it): the book then shows what the committed outputs say, and the build
(with -W) fails on a missing name. These tests keep it so (see tests/prose_check.py for the rules).
"""

import json
from pathlib import Path

import pytest

from .prose_check import glue_names, glue_references, notebook_offenders, typed_measurements

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
PAGES = [REPO / "book" / "intro.md", REPO / "book" / "notation.md"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_glued_name_is_defined_in_its_notebook(path):
    missing = glue_references(path) - glue_names(path)
    assert not missing, f"{path.name} uses glue names no cell glues: {sorted(missing)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_measured_number_is_typed_into_a_notebooks_prose(path):
    offenders = notebook_offenders(path)
    assert not offenders, f"{path.name}: typed numbers (cell, value) — glue them from the output: {offenders}"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_no_measured_number_is_typed_into_a_book_page(path):
    assert not typed_measurements(path.read_text()), path.name


def test_the_checks_catch_a_planted_number_and_a_missing_name(tmp_path):
    nb = json.loads(NOTEBOOKS[0].read_text())
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ["Attention took 7.97 ms, 16 % of it."]})
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ["FID {glue:text}`no_such_name:.1f`."]})
    planted = tmp_path / "planted.ipynb"
    planted.write_text(json.dumps(nb))
    assert [hit for _, hit in notebook_offenders(planted)][-2:] == ["7.97 ms", "16 %"]
    assert "no_such_name" in glue_references(planted) - glue_names(planted)


def test_maths_code_and_shapes_are_not_measurements():
    text = "Eq. 4: $\\sqrt{0.9}\\,x_0$, `lr=3e-4`, a 28×28 image, β from 10⁻⁴ to 0.02, the 1s and 7s."
    assert typed_measurements(text) == []


def test_the_results_page_types_no_number_outside_its_generated_blocks():
    """book/results.md: numbers live between the markers scripts/render_results.py fills, not in the prose."""
    import re

    page = (REPO / "book" / "results.md").read_text()
    prose = re.sub(r"<!-- (\w+):BEGIN.*?<!-- \1:END -->", " ", page, flags=re.S)
    assert not typed_measurements(prose)
