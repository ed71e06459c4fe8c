"""environment.yml (conda users) lists exactly what pyproject.toml installs: dependencies + book + test extras."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: pytest depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def normalise(requirement: str) -> str:
    """'Jupyter_Book == 1.0' -> 'jupyter-book==1.0' (PEP 503 name, no spaces)."""
    req = requirement.replace(" ", "")
    m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(.*)$", req)
    assert m, f"cannot parse requirement {requirement!r}"
    return re.sub(r"[-_.]+", "-", m.group(1)).lower() + m.group(2)


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_environment_yml_matches_pyproject():
    project = pyproject()["project"]
    extras = project["optional-dependencies"]
    wanted = {normalise(r) for r in project["dependencies"] + extras["book"] + extras["test"]}

    pip_section = next(d["pip"] for d in environment()["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = [normalise(r) for r in pip_section if not r.startswith("-e")]
    assert len(listed) == len(set(listed)), "environment.yml lists a package twice"
    assert set(listed) == wanted, (
        f"only in pyproject.toml: {sorted(wanted - set(listed))}; "
        f"only in environment.yml: {sorted(set(listed) - wanted)}"
    )
    assert "-e ." in pip_section, "environment.yml must install the project itself (`-e .`)"


def test_environment_yml_python_matches_requires_python():
    requires = pyproject()["project"]["requires-python"].replace(" ", "")
    conda = [d for d in environment()["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert conda == [f"python{requires}"], f"environment.yml has {conda}, pyproject wants python{requires}"
