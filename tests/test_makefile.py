"""The Makefile: the order of `make test`, the CPU-only torch option, and one clear line (non-zero exit)
for each missing prerequisite. Everything here is a dry run (`make -n`) or stops at the first recipe line."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(*args: str, user: list[str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "TINYDIFF_CHECKPOINTS")}
    return subprocess.run([*(user or []), "make", *args], cwd=REPO, env=env, capture_output=True, text=True)


def test_make_test_runs_cheapest_first():
    dry = make("-n", "test")
    assert dry.returncode == 0, dry.stderr
    out = dry.stdout
    steps = [
        "ruff check tinydiff_lib tests scripts",
        "ruff format --check --line-length 80 notebooks",  # notebook code fits the book's code boxes
        "-m pytest tests -q",
        "--nbval-lax",
        "jupyter-book build . -W --keep-going",
        "scripts/check_book.py",
    ]
    where = [out.find(step) for step in steps]
    assert all(i >= 0 for i in where), dict(zip(steps, where))
    assert where == sorted(where), f"make test runs these out of order: {dict(zip(steps, where))}"


def test_torch_index_installs_the_cpu_wheels_first():
    index = "https://download.pytorch.org/whl/cpu"
    with_index = make("-n", "-B", "setup", f"TORCH_INDEX={index}").stdout.splitlines()
    torch_line = next(i for i, line in enumerate(with_index) if f"--index-url {index} torch torchvision" in line)
    project_line = next(i for i, line in enumerate(with_index) if '-e ".[book,test]"' in line)
    assert torch_line < project_line
    assert "-c constraints.txt" in with_index[torch_line], "the CPU wheels must be the pinned versions"
    assert "--index-url" not in make("-n", "-B", "setup").stdout


def one_line_failure(result: subprocess.CompletedProcess, *words: str) -> str:
    out = (result.stdout + result.stderr).strip()
    assert result.returncode != 0, out
    assert "Traceback" not in out
    message = [line for line in out.splitlines() if not line.startswith("make: ***")]
    assert len(message) == 1, f"expected one line saying what to do, got: {out}"
    for word in words:
        assert word in message[0], message[0]
    return message[0]


def test_missing_npm_is_one_clear_line():
    result = make("-s", "-B", ".book-assets/.installed", "NPM=/nonexistent/npm")
    one_line_failure(result, "npm", "apt-get install -y npm")


def test_missing_python_is_one_clear_line():
    result = make("-s", "-B", ".venv/.installed", "PYTHON=/nonexistent/python3")
    one_line_failure(result, "Python 3.10", "PYTHON=")


def test_missing_chromium_for_a_non_root_user_is_one_clear_line():
    user: list[str] = []
    if os.geteuid() == 0:  # root would install it; run the rule as `nobody` instead
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("needs setpriv to run make as a non-root user")
        user = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    result = make("-s", "/nonexistent/chromium", "CHROMIUM=/nonexistent/chromium", user=user)
    if "Permission denied" in result.stderr:
        pytest.skip("the checkout is not readable by user nobody")
    one_line_failure(result, "Chromium", "sudo apt-get install -y chromium")


def test_a_relative_checkpoints_folder_is_made_absolute_too():
    env_paths = make("-s", "env-paths", "TINYDIFF_CHECKPOINTS=../ckpts").stdout.splitlines()
    assert f"TINYDIFF_CHECKPOINTS={os.path.abspath(REPO / '..' / 'ckpts')}" in env_paths
    assert "TINYDIFF_CHECKPOINTS=(not set)" in make("-s", "env-paths").stdout.splitlines()
