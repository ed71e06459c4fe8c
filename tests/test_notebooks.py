"""Hygiene of the committed notebooks (fast: nothing is executed; `make test-notebooks` executes them).

The conventions checked here are written down in notebooks/README.md.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
IDS = [p.stem for p in NOTEBOOKS]


def repo_url() -> str:
    """The repository URL; _config.yml is the one place it is written."""
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    return url.rstrip("/")


def toc_files(node) -> list[str]:
    """Every `file:` entry of _toc.yml, in order."""
    found = []
    if isinstance(node, dict):
        if "file" in node:
            found.append(str(node["file"]))
        if "root" in node:
            found.append(str(node["root"]))
        for value in node.values():
            if isinstance(value, (list, dict)):
                found += toc_files(value)
    elif isinstance(node, list):
        for item in node:
            found += toc_files(item)
    return found


def toc_notebooks() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [f.removesuffix(".ipynb") for f in toc_files(toc) if f.startswith("notebooks/")]


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def python_source(cell_source: str) -> str:
    """A code cell's source as plain Python: IPython magics and shell escapes become `pass`."""
    if cell_source.lstrip().startswith("%%"):
        return ""  # a cell magic: not Python
    lines = []
    for line in cell_source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            indent = line[: len(line) - len(stripped)]
            lines.append(indent + "pass")
        else:
            lines.append(line)
    return "\n".join(lines)


def public_api() -> tuple[set[str], set[str]]:
    """(names in tinydiff_lib.__all__, public modules = tinydiff_lib plus the subpackages named in __all__)."""
    lib = importlib.import_module("tinydiff_lib")
    names = set(lib.__all__)
    modules = {"tinydiff_lib"}
    for name in names:
        if importlib.util.find_spec(f"tinydiff_lib.{name}") is not None:
            modules.add(f"tinydiff_lib.{name}")
    return names, modules


# --- the set of notebooks agrees with the book ---------------------------------------------------------


def test_every_notebook_is_in_the_toc_and_back():
    on_disk = {f"notebooks/{p.stem}" for p in NOTEBOOKS}
    listed = toc_notebooks()
    assert len(listed) == len(set(listed)), "a notebook is listed twice in _toc.yml"
    missing = sorted(on_disk - set(listed))
    assert not missing, f"add to _toc.yml (one `- file: notebooks/<name>` line each): {missing}"
    gone = sorted(set(listed) - on_disk)
    assert not gone, f"_toc.yml lists notebooks that do not exist: {gone}"
    assert listed == sorted(listed), "list the notebooks in _toc.yml in reading (file name) order"


def test_every_notebook_is_linked_from_the_learning_path():
    intro = (ROOT / "book" / "intro.md").read_text()
    unlinked = [p.name for p in NOTEBOOKS if f"](../notebooks/{p.name})" not in intro]
    assert not unlinked, f"link these from the learning-path table in book/intro.md: {unlinked}"


def test_config_repository_url_is_an_https_github_url():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repo_url())


# --- each notebook -------------------------------------------------------------------------------------


@pytest.fixture(params=NOTEBOOKS, ids=IDS)
def nb_path(request) -> Path:
    return request.param


@pytest.fixture
def nb(nb_path) -> dict:
    return load(nb_path)


def test_valid_notebook(nb_path):
    nbformat = pytest.importorskip("nbformat")
    nbformat.validate(nbformat.read(nb_path, as_version=4))


def test_kernel_is_python3(nb):
    assert nb.get("metadata", {}).get("kernelspec", {}).get("name") == "python3"


def test_no_error_outputs(nb):
    errors = [
        (i, out.get("ename"))
        for i, cell in enumerate(nb["cells"])
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, f"cells with error outputs (index, exception): {errors}"


def test_executed_top_to_bottom_in_a_fresh_kernel(nb):
    """Every non-empty code cell ran, once, in order: execution counts 1, 2, 3, ..."""
    counts = [c.get("execution_count") for c in code_cells(nb) if source(c).strip()]
    assert None not in counts, "some code cells were not executed; run the notebook with papermill"
    assert counts == list(range(1, len(counts) + 1)), f"execution counts {counts} are not 1..N in order"


def test_checked_cells_glue_nothing(nb):
    """nbval compares every output of a ``# NBVAL_CHECK_OUTPUT`` cell, glue records included, and a glued float's
    last digits change from one CPU to another: such a cell prints what is checked, and the next cell glues."""
    checked = [c for c in code_cells(nb) if source(c).lstrip().startswith("# NBVAL_CHECK_OUTPUT")]
    gluing = [source(c).splitlines()[1] for c in checked if "td.glue(" in source(c)]
    assert not gluing, f"checked cells that glue (their second lines): {gluing}"


# The book's text column is 688 px and its code font about 8 px a character (check_book measures the pages in a
# browser); a longer printed line is cut off on the page. This catches it before the book is built.
PRINTED_LINE_LIMIT = 85


def test_printed_lines_fit_the_book_column(nb):
    long = []
    for i, cell in enumerate(code_cells(nb)):
        for out in cell.get("outputs", []):
            if out.get("output_type") != "stream":
                continue
            text = "".join(out.get("text", ""))
            long += [
                f"code cell {i}: {len(line)} characters: {line[:50]!r}"
                for line in text.splitlines()
                if len(line) > PRINTED_LINE_LIMIT
            ]
    assert not long, f"printed lines longer than {PRINTED_LINE_LIMIT} characters (split the print): {long}"


def test_code_lines_fit_the_book_column(nb):
    long = [
        f"code cell {i}: {len(line)} characters: {line[:50]!r}"
        for i, cell in enumerate(code_cells(nb))
        for line in source(cell).splitlines()
        if len(line) > PRINTED_LINE_LIMIT
    ]
    assert not long, f"code lines longer than {PRINTED_LINE_LIMIT} characters (shorten them): {long}"


def test_exactly_one_parameters_cell(nb):
    tagged = [i for i, c in enumerate(nb["cells"]) if "parameters" in tags(c)]
    assert len(tagged) == 1, f"cells tagged `parameters`: {tagged} (want exactly one)"
    assert nb["cells"][tagged[0]]["cell_type"] == "code"


def test_no_injected_parameters_cell(nb):
    """The book shows the defaults: commit notebooks run without `-p` (papermill then injects nothing)."""
    injected = [i for i, c in enumerate(nb["cells"]) if "injected-parameters" in tags(c)]
    assert not injected, f"cells tagged `injected-parameters`: {injected}; re-run without -p"


def test_first_cell_is_markdown_with_title_and_colab_badge(nb, nb_path):
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown", "the first cell must be markdown (title, what you'll learn, badge)"
    text = source(first)
    assert text.lstrip().startswith("# "), "the first cell starts with the notebook's title (`# ...`)"
    badge = re.sub(r"^https://github\.com/", "https://colab.research.google.com/github/", repo_url())
    expected = f"{badge}/blob/main/notebooks/{nb_path.name}"
    assert expected in text, f"the first cell must link the Colab badge to {expected}"


def test_colab_install_cell_uses_the_repository_url(nb):
    first_code = next((source(c) for c in code_cells(nb) if source(c).strip()), "")
    assert '"google.colab" in sys.modules' in first_code or "'google.colab' in sys.modules" in first_code, (
        "the first code cell installs the project only in Colab: "
        'if "google.colab" in sys.modules: %pip install -q "tinydiff @ git+<repository url>"'
    )
    assert f"git+{repo_url()}" in first_code, f"the Colab install line must use git+{repo_url()} (_config.yml)"


def test_imports_only_the_public_api(nb):
    names, modules = public_api()
    problems = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse(python_source(source(cell)))
        except SyntaxError as exc:
            problems.append(f"cell {i}: not valid Python ({exc.msg})")
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tinydiff_lib":
                if node.level or node.module not in modules:
                    problems.append(f"cell {i}: from {node.module} import ... (not a public module)")
                    continue
                allowed = names if node.module == "tinydiff_lib" else _module_all(node.module)
                for alias in node.names:
                    if alias.name == "*":
                        problems.append(f"cell {i}: from {node.module} import * (name what you use)")
                    elif alias.name not in allowed:
                        problems.append(f"cell {i}: {alias.name} is not in {node.module}.__all__")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "tinydiff_lib" and alias.name not in modules:
                        problems.append(f"cell {i}: import {alias.name} (not a public module)")
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                base = node.value
                if isinstance(base, ast.Name) and base.id in {"tinydiff_lib", "td", "tdl"}:
                    problems.append(f"cell {i}: {base.id}.{node.attr} is private")
    assert not problems, "notebooks may only use tinydiff_lib's public API:\n" + "\n".join(problems)


def _module_all(module: str) -> set[str]:
    mod = importlib.import_module(module)
    return set(getattr(mod, "__all__", [n for n in dir(mod) if not n.startswith("_")]))
