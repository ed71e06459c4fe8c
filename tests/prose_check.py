"""Numbers in the book's prose come from outputs: the checks behind tests/test_prose.py.

* :func:`glue_names` / :func:`glue_references`: the names a notebook glues (myst-nb ``glue(name, value)``
  outputs) and the names its markdown uses (``{glue}`name```, ``{glue:text}`name:.1f```, ``{glue:md}``,
  ``{glue:figure}``); every use must be defined in the same notebook.
* :func:`typed_measurements`: measured-looking numbers typed into markdown (decimals, percentages, times,
  ratios such as ``3.3×``) outside maths, code and glue roles, minus a small allow-list of constants.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

GLUE_ROLE = re.compile(r"\{glue(?::(?:text|md|any|math))?\}`([^`]+)`")
GLUE_FIGURE = re.compile(r"^[`:]{3,}\{glue(?::figure|:math)?\}\s+(\S+)", re.M)

# what to remove before looking for typed numbers: display and inline maths, code, roles, links, HTML comments
STRIP = [
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"\\\[.*?\\\]", re.S),
    re.compile(r"\$[^$\n]+\$"),
    re.compile(r"```.*?```", re.S),
    re.compile(r"`[^`\n]*`"),
    re.compile(r"\{[a-z:]+\}`[^`]*`"),
    re.compile(r"\]\([^)]*\)"),
    re.compile(r"<!--.*?-->", re.S),
]

# the forms in which the book states measurements
MEASURED = [
    re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])"),  # a decimal: 0.69, 28.8, 7.97
    re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?%"),  # a percentage: 16 %, 12.6%
    re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:\s?(?:ms|min|minutes|seconds|hours)\b|\s(?:s|h)\b)"),  # 50 s, 25 min
    re.compile(r"(?<![\w.×])\d+(?:\.\d+)?\s?×(?!\s?\d)"),  # a ratio: 30×, 2.5× (not a shape like 28×28)
]

# constants of the maths and settings of the code, not measurements (kept small and explicit)
ALLOWED = {
    "0.02",  # β_T of the linear schedule (Ho et al. §4)
    "0.008",  # s of the cosine schedule (Nichol & Dhariwal Eq. 17)
    "0.999",  # an EMA decay / the cosine schedule's β cap
    "0.995",  # the ladder's EMA decay
    "0.9999",  # an EMA decay
    "0.5",
    "0.1",  # dropout of film_unet_base64
    "1.0",
    "2.0",
    "1.2",  # EDM's P_std
    "0.8",  # a quality target (precision ≥ 0.8)
    "1.6",  # a quality target (FID ≤ 1.6× floor)
    "2×",  # "2× downsampling", "twice"
    "4×",  # "4× the channels"
    "0.5 s",
    "3.10",  # the oldest Python the package supports
}


def cells(path: Path) -> list[dict]:
    return json.loads(Path(path).read_text())["cells"]


def glue_names(path: Path) -> set[str]:
    """Names glued by the code cells' stored outputs (``metadata.scrapbook.name``)."""
    names = set()
    for cell in cells(path):
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            scrapbook = out.get("metadata", {}).get("scrapbook")
            if scrapbook:
                names.add(scrapbook["name"])
    return names


def glue_references(path: Path) -> set[str]:
    """Names the markdown cells ask for (the part of a role before any ``:format``)."""
    refs = set()
    for cell in cells(path):
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"])
            refs |= {m.split(":")[0].strip() for m in GLUE_ROLE.findall(text)}
            refs |= set(GLUE_FIGURE.findall(text))
    return refs


def strip_non_prose(text: str) -> str:
    for pattern in STRIP:
        text = pattern.sub(" ", text)
    return text


def typed_measurements(text: str, allowed: set[str] = ALLOWED) -> list[str]:
    """Measured-looking numbers typed into ``text`` (markdown), in order of appearance."""
    prose = strip_non_prose(text)
    hits = []
    for pattern in MEASURED:
        hits += [(m.start(), m.group().replace(" ", " ").strip()) for m in pattern.finditer(prose)]
    longest: dict[int, str] = {}  # one hit per position: "7.97 ms", not also "7.97"
    for start, hit in hits:
        if len(hit) > len(longest.get(start, "")):
            longest[start] = hit
    return [h for _, h in sorted(longest.items()) if h not in allowed and h.replace(" ", "") not in allowed]


def notebook_offenders(path: Path) -> list[tuple[int, str]]:
    """(markdown cell index, typed number) for every typed measurement in a notebook."""
    out = []
    for i, cell in enumerate(cells(path)):
        if cell["cell_type"] == "markdown":
            out += [(i, hit) for hit in typed_measurements("".join(cell["source"]))]
    return out
