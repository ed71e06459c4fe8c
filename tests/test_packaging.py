"""Packaging: environment.yml (conda users) lists exactly what pyproject.toml installs (dependencies + book +
test extras), and the package installs and imports outside the checkout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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


@pytest.mark.slow
def test_the_package_installs_and_imports_outside_the_checkout(tmp_path):
    """What Colab does (`pip install "tinydiff @ git+<repository>"`), with the working tree as the source:
    a plain (not editable) install into a folder of its own, imported from another folder. Catches a module,
    subpackage or data file that the packaging leaves out, and code that only works inside a checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--deduplicate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    wanted = [p for p in listed if (ROOT / p).is_file() and ("/" not in p or p.startswith("tinydiff_lib/"))]
    src = tmp_path / "src"
    for rel in wanted:  # the top-level files (pyproject.toml, README.md, ...) and the package
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    result = subprocess.run([*pip, "--target", str(target), str(src)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    package_files = {p.removeprefix("tinydiff_lib/") for p in wanted if p.startswith("tinydiff_lib/")}
    installed = {p.relative_to(target / "tinydiff_lib").as_posix() for p in (target / "tinydiff_lib").rglob("*")}
    missing = sorted(package_files - installed)
    assert not missing, f"files of tinydiff_lib/ that an install leaves out (packaging in pyproject.toml): {missing}"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = f"""
import importlib, pkgutil
import tinydiff_lib as td
from tinydiff_lib import hub
assert td.__file__.startswith({str(target)!r}), td.__file__
for mod in pkgutil.walk_packages(td.__path__, "tinydiff_lib."):
    if mod.name.endswith("__main__"):
        continue  # runs the command line
    try:
        importlib.import_module(mod.name)
    except ImportError as exc:  # an optional extra (diffusers) may be absent; our own modules may not
        assert not (exc.name or "").startswith("tinydiff_lib"), (mod.name, exc)
assert hub.shipped_checkpoints_dir() is None, hub.shipped_checkpoints_dir()
print("ok", len(td.__all__))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("TINYDIFF_CHECKPOINTS", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)
    result = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stdout + result.stderr[-3000:]
    result = subprocess.run(
        [sys.executable, "-m", "tinydiff_lib", "params"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0 and "tiny_conv" in result.stdout, result.stderr[-3000:]
    assert (target / "bin" / "tinydiff").is_file(), "the `tinydiff` entry point is not installed"
